use std::path::PathBuf;

use aisle_hub::config::HubConfig;
use aisle_hub::web::{self, App, auth, auth::Role};
use aisle_hub::{db, ingest, notify};
use anyhow::Context;
use clap::{Parser, Subcommand};

/// The fleet hub: stores every gateway's events once, in PostgreSQL.
#[derive(Parser)]
#[command(name = "aisle-hub", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest from the broker until SIGINT/SIGTERM (migrates the schema first).
    Serve {
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Bring the database schema to this version and exit.
    Migrate {
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Report every problem in a config file and exit.
    CheckConfig {
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Add a user who may log in to the pages (or change one); the password is read from the
    /// first line of standard input, so it stays out of the shell's history and `ps`.
    UserAdd {
        #[arg(short, long)]
        config: PathBuf,
        name: String,
        /// `fleet-admin` (every site) or `store-ops` (the sites given).
        #[arg(long)]
        role: String,
        /// A site the user may see; repeat for several. Required for store-ops.
        #[arg(long = "site")]
        sites: Vec<String>,
    },
}

async fn connect(cfg: &HubConfig) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(&cfg.database.url, tokio_postgres::NoTls)
        .await
        .context("database.url: cannot connect")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::error!(error = %e, "database connection lost");
        }
    });
    Ok(client)
}

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Resolves once `serve` has told its tasks to stop.
async fn when_stopped(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.changed().await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::CheckConfig { config } => {
            HubConfig::load(&config)?;
            println!("{}: ok", config.display());
        }
        Command::Migrate { config } => {
            let cfg = HubConfig::load(&config)?;
            let mut client = connect(&cfg).await?;
            let was = db::migrate(&mut client).await?;
            println!("schema_version {was} -> {}", db::known_version());
        }
        Command::UserAdd {
            config,
            name,
            role,
            sites,
        } => {
            let cfg = HubConfig::load(&config)?;
            let role = Role::parse(&role)
                .with_context(|| format!("--role {role}: must be fleet-admin or store-ops"))?;
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            let mut client = connect(&cfg).await?;
            db::migrate(&mut client).await?;
            auth::put_user(
                &client,
                &name,
                password.trim_end_matches(['\r', '\n']),
                role,
                &sites,
            )
            .await
            .map_err(|e| anyhow::anyhow!("user {name}: {e}"))?;
            println!("user {name} ({}) saved", role.as_str());
        }
        Command::Serve { config } => {
            let cfg = HubConfig::load(&config)?;
            let mut client = connect(&cfg).await?;
            let was = db::migrate(&mut client).await?;
            tracing::info!(from = was, to = db::known_version(), "schema ready");
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let web = match &cfg.web {
                Some(w) => {
                    let app = App::new(connect(&cfg).await?, w.session_hours);
                    let server = web::Server::bind(w, app).await?;
                    Some(tokio::spawn(server.run(when_stopped(stopped.clone()))))
                }
                None => None,
            };
            let notifier = if cfg.webhooks.is_empty() {
                None
            } else {
                let db = connect(&cfg).await?;
                Some(tokio::spawn(notify::run(
                    db,
                    cfg.webhooks.clone(),
                    when_stopped(stopped),
                )))
            };
            // The ingest ends on a signal (or an error) and then stops the other tasks.
            let totals = ingest::run(&cfg, &mut client, shutdown()).await;
            let _ = stop.send(true);
            for task in [web, notifier].into_iter().flatten() {
                task.await.context("web or notification task")?;
            }
            let totals = totals?;
            tracing::info!(
                events = totals.events,
                duplicates = totals.duplicates,
                statuses = totals.statuses,
                refused = totals.refused,
                "stopped"
            );
        }
    }
    Ok(())
}
