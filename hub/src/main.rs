use std::path::PathBuf;

use aisle_hub::config::HubConfig;
use aisle_hub::rollout::{driver, store as rollouts};
use aisle_hub::web::{self, App, auth, auth::Role};
use aisle_hub::{db, ingest, notify, retention, silence};
use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};

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
    /// Staged model rollouts (the serving hub offers the waves).
    Rollout {
        #[command(subcommand)]
        command: RolloutCommand,
    },
    /// Print the shell completions (what the .deb installs), from the same command tree as
    /// `--help`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages: aisle-hub.1 and one per command.
    Man {
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum RolloutCommand {
    /// Offer a signed bundle to the fleet wave by wave: each wave once the previous one has
    /// committed, halting when too many of a wave reject or roll back.
    Start {
        #[arg(short, long)]
        config: PathBuf,
        /// The bundle's directory, as `aisle model pack` wrote it.
        bundle: PathBuf,
        /// Cumulative wave sizes, gateways or shares of the targets, the last 100%.
        #[arg(long, default_value = "1,10%,100%")]
        waves: String,
        /// A wave whose failed share passes this halts the rollout (0: any failure).
        #[arg(long, default_value_t = 0.2)]
        halt_above: f64,
        /// Seconds a gateway may stay silent after its offer before it counts as failed.
        #[arg(long, default_value_t = 3600)]
        wave_timeout_s: i64,
        /// Only this site's gateways; repeat for several (default: every site the manifest admits).
        #[arg(long = "site")]
        sites: Vec<String>,
        /// Who started it, for the page.
        #[arg(long, default_value = "cli")]
        by: String,
    },
    /// Stop a running rollout: no further wave, unanswered offers withdrawn.
    Halt {
        #[arg(short, long)]
        config: PathBuf,
        id: i64,
        #[arg(long, default_value = "cli")]
        by: String,
    },
    /// Every rollout, newest first, with its waves.
    List {
        #[arg(short, long)]
        config: PathBuf,
    },
}

async fn connect(cfg: &HubConfig) -> anyhow::Result<tokio_postgres::Client> {
    db::connect(&cfg.database)
        .await
        .context("database.url: cannot connect")
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

/// Every error is one `aisle-hub: …` line with its causes and exit code 1, whatever
/// `RUST_BACKTRACE` says: an operator reads the reason, not a stack.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aisle-hub: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
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
        Command::Rollout { command } => rollout(command).await?,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "aisle-hub",
                &mut std::io::stdout(),
            );
        }
        Command::Man { out } => {
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            clap_mangen::generate_to(Cli::command(), &out)
                .with_context(|| format!("cannot write man pages to {}", out.display()))?;
        }
        Command::Serve { config } => {
            let cfg = HubConfig::load(&config)?;
            let mut client = connect(&cfg).await?;
            let was = db::migrate(&mut client).await?;
            tracing::info!(from = was, to = db::known_version(), "schema ready");
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let web = match &cfg.web {
                Some(w) => {
                    let app = App::new(
                        connect(&cfg).await?,
                        connect(&cfg).await?,
                        w.session_hours,
                        cfg.rollouts.bundles_dir.clone(),
                    );
                    let server = web::Server::bind(w, app).await?;
                    Some(tokio::spawn(server.run(when_stopped(stopped.clone()))))
                }
                None => None,
            };
            let driver = tokio::spawn(driver::run(
                cfg.clone(),
                connect(&cfg).await?,
                when_stopped(stopped.clone()),
            ));
            let retention = tokio::spawn(retention::run(
                connect(&cfg).await?,
                cfg.retention.clone(),
                when_stopped(stopped.clone()),
            ));
            let silence = tokio::spawn(silence::run(
                connect(&cfg).await?,
                cfg.alerts.clone(),
                cfg.webhooks.clone(),
                when_stopped(stopped.clone()),
            ));
            let notifier = if cfg.webhooks.is_empty() {
                None
            } else {
                let db = connect(&cfg).await?;
                Some(tokio::spawn(notify::run(
                    db,
                    cfg.webhooks.clone(),
                    cfg.alerts.page_url.clone(),
                    when_stopped(stopped),
                )))
            };
            // The ingest ends on a signal (or an error) and then stops the other tasks.
            let totals = ingest::run(&cfg, &mut client, shutdown()).await;
            let _ = stop.send(true);
            for task in [web, notifier, Some(driver), Some(silence), Some(retention)]
                .into_iter()
                .flatten()
            {
                task.await
                    .context("web, notification, rollout, silence or retention task")?;
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

async fn rollout(command: RolloutCommand) -> anyhow::Result<()> {
    match command {
        RolloutCommand::Start {
            config,
            bundle,
            waves,
            halt_above,
            wave_timeout_s,
            sites,
            by,
        } => {
            let cfg = HubConfig::load(&config)?;
            let mut client = connect(&cfg).await?;
            db::migrate(&mut client).await?;
            let started = rollouts::start(
                &mut client,
                &rollouts::Request {
                    bundle: &bundle,
                    waves: &waves,
                    halt_above,
                    wave_timeout_s,
                    sites: &sites,
                    by: &by,
                },
            )
            .await?;
            let sizes: Vec<String> = started.waves.iter().map(usize::to_string).collect();
            println!(
                "rollout #{} of {} v{}: waves of {} gateways; the serving hub offers wave 1 now",
                started.id,
                started.model,
                started.version,
                sizes.join(", ")
            );
        }
        RolloutCommand::Halt { config, id, by } => {
            let cfg = HubConfig::load(&config)?;
            let client = connect(&cfg).await?;
            if rollouts::halt(&client, id, &by).await? {
                println!("rollout #{id} halted");
            } else {
                anyhow::bail!("rollout #{id} is not running");
            }
        }
        RolloutCommand::List { config } => {
            let cfg = HubConfig::load(&config)?;
            let client = connect(&cfg).await?;
            for r in rollouts::list(&client, 100).await? {
                println!(
                    "#{} {} v{} ({}) {} at wave {} of {}{}",
                    r.id,
                    r.model,
                    r.version,
                    r.bundle,
                    r.state,
                    r.wave,
                    r.waves.len(),
                    r.reason.map(|x| format!(": {x}")).unwrap_or_default()
                );
                for w in &r.waves {
                    println!(
                        "  wave {}: {} gateways, {} committed, {} failed, {} pending{}",
                        w.wave,
                        w.gateways,
                        w.committed,
                        w.failed,
                        w.pending,
                        if w.failures.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", w.failures.join(", "))
                        }
                    );
                }
            }
        }
    }
    Ok(())
}
