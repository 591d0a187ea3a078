//! The pages over HTTPS: log in, a store's open alerts and figures, the fleet. Each request
//! reads PostgreSQL directly; nothing is cached, so every replica shows the same thing.

pub mod auth;
pub mod chart;
mod guard;
mod live;
pub mod pages;
pub mod rollouts;
mod throttle;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use maud::Markup;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio_postgres::Client;
use tokio_rustls::TlsAcceptor;

use crate::config::WebConfig;
use auth::{COOKIE, Role, Viewer};

#[derive(Debug, Error)]
pub enum WebError {
    #[error("web.cert_file/key_file: {0}")]
    Tls(String),
    #[error("web.listen {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

#[derive(Clone)]
pub struct App {
    /// Reads and single-statement writes, shared by every request.
    db: Arc<Client>,
    /// A second connection for writes that need a transaction (starting a rollout), one at a time.
    writer: Arc<tokio::sync::Mutex<Client>>,
    session_hours: u32,
    bundles_dir: Option<std::path::PathBuf>,
    throttle: Arc<throttle::Throttle>,
    /// Password checks under way at most ([`auth::VERIFIERS`]).
    verifiers: Arc<tokio::sync::Semaphore>,
}

/// The address a request came from, set on each connection.
#[derive(Debug, Clone, Copy)]
struct Peer(std::net::IpAddr);

impl App {
    pub fn new(
        db: Client,
        writer: Client,
        session_hours: u32,
        bundles_dir: Option<std::path::PathBuf>,
    ) -> Self {
        Self {
            db: Arc::new(db),
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
            session_hours,
            bundles_dir,
            throttle: Arc::default(),
            verifiers: Arc::new(tokio::sync::Semaphore::new(auth::VERIFIERS)),
        }
    }
}

fn tls_config(cfg: &WebConfig) -> Result<Arc<ServerConfig>, WebError> {
    let err = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        WebError::Tls(format!("{what} {}: {e}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(&cfg.cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| err("cert_file", &cfg.cert_file, &e))?;
    let key = PrivateKeyDer::from_pem_file(&cfg.key_file)
        .map_err(|e| err("key_file", &cfg.key_file, &e))?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| WebError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| WebError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

pub fn routes(app: App) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/alerts") }))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/alerts", get(alerts_page))
        .route("/alerts/ack", post(acknowledge))
        .route("/alerts/resolve", post(resolve))
        .route("/fleet", get(fleet_page))
        .route(
            "/rollouts",
            get(rollouts::rollouts_page).post(rollouts::start),
        )
        .route("/rollouts/halt", post(rollouts::halt))
        .route("/live.js", get(live::script))
        .layer(axum::middleware::from_fn(live::conditional))
        .layer(axum::middleware::from_fn(guard::guard))
        .with_state(app)
}

/// The pages' listener, bound and with its certificate loaded, so a bad address or certificate
/// stops the hub at start rather than later.
pub struct Server {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
}

impl Server {
    pub async fn bind(cfg: &WebConfig, app: App) -> Result<Self, WebError> {
        let acceptor = TlsAcceptor::from(tls_config(cfg)?);
        let listener = TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| WebError::Bind {
                addr: cfg.listen,
                source,
            })?;
        tracing::info!(url = %format!("https://{}/", cfg.listen), "pages served");
        Ok(Self {
            listener,
            acceptor,
            router: routes(app),
        })
    }

    /// Serves until `shutdown` resolves; each connection on its own task.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                _ = &mut shutdown => return,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                },
            };
            let (acceptor, router) = (self.acceptor.clone(), self.router.clone());
            tokio::spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                };
                let service =
                    TowerToHyperService::new(router.layer(axum::Extension(Peer(peer.ip()))));
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await
                {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
    }
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "page failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

/// The viewer of a request, or the redirect to the login page.
async fn viewer(app: &App, headers: &HeaderMap) -> Result<Viewer, Response> {
    let token = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(auth::token_from_cookies);
    let Some(token) = token else {
        return Err(Redirect::to("/login").into_response());
    };
    match auth::viewer(&app.db, token).await {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(Redirect::to("/login").into_response()),
        Err(e) => Err(internal(e)),
    }
}

fn page(m: Markup) -> Response {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        m,
    )
        .into_response()
}

#[derive(Deserialize)]
struct LoginQuery {
    failed: Option<u8>,
    /// Seconds the name or address must wait after too many failures.
    wait_s: Option<u64>,
}

async fn login_page(Query(q): Query<LoginQuery>) -> Response {
    page(pages::login(q.failed.is_some(), q.wait_s))
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
}

async fn login(
    State(app): State<App>,
    peer: Option<axum::Extension<Peer>>,
    Form(f): Form<LoginForm>,
) -> Response {
    let addr = peer.map(|p| p.0.0);
    let now = std::time::Instant::now();
    if let Err(wait) = app.throttle.check(&f.name, addr, now) {
        tracing::warn!(user = %auth::shown(&f.name), addr = ?addr, wait_s = wait.as_secs(), "login refused: too many failures");
        return Redirect::to(&format!("/login?failed=1&wait_s={}", wait.as_secs().max(1)))
            .into_response();
    }
    match auth::log_in(
        &app.db,
        &f.name,
        &f.password,
        app.session_hours,
        &app.verifiers,
    )
    .await
    {
        Ok(Some(token)) => {
            app.throttle.succeeded(&f.name);
            tracing::info!(user = %auth::shown(&f.name), "logged in");
            let cookie = format!(
                "{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
                u64::from(app.session_hours) * 3600
            );
            ([(header::SET_COOKIE, cookie)], Redirect::to("/alerts")).into_response()
        }
        Ok(None) => {
            app.throttle.failed(&f.name, addr, now);
            tracing::warn!(user = %auth::shown(&f.name), addr = ?addr, "login refused");
            Redirect::to("/login?failed=1").into_response()
        }
        Err(e) => internal(e),
    }
}

async fn logout(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(token) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(auth::token_from_cookies)
        && let Err(e) = auth::log_out(&app.db, token).await
    {
        return internal(e);
    }
    let gone = format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, gone)], Redirect::to("/login")).into_response()
}

#[derive(Deserialize)]
struct AlertsQuery {
    site: Option<String>,
}

/// The sites a page shows: the viewer's, narrowed to `site` when one is asked for (`None`: all).
fn narrowed(v: &Viewer, site: Option<String>) -> Option<Vec<String>> {
    match (v.scope(), site.filter(|s| !s.is_empty())) {
        (None, None) => None,
        (None, Some(s)) => Some(vec![s]),
        (Some(scope), None) => Some(scope.to_vec()),
        (Some(scope), Some(s)) => Some(scope.iter().filter(|x| **x == s).cloned().collect()),
    }
}

/// Each zone's last 24 hours in 15-minute buckets, for the sites in `scope` (never all: a fleet's
/// day is millions of summaries, so fleet admins pick a store first).
async fn day_charts(
    db: &Client,
    scope: &[String],
    now: i64,
) -> Result<Vec<pages::DayChart>, tokio_postgres::Error> {
    let bucket_ms = chart::BUCKET_MIN * 60_000;
    let start = (now / bucket_ms + 1) * bucket_ms - chart::BUCKETS * bucket_ms;
    // Each figure is clamped to the bound ingest holds new messages to (±2^53), in `numeric`, so
    // rows a hub stored before it had that bound cannot overflow an average or a sum.
    let rows = db
        .query(
            "SELECT e.site, e.camera, z ->> 'zone', z ->> 'kind', (e.ts_ms - $2) / $3, \
             avg(CASE WHEN jsonb_typeof(z -> 'occupancy_mean') = 'number' THEN least(greatest((z ->> 'occupancy_mean')::numeric, -9e15), 9e15)::float8 END), \
             avg(CASE WHEN jsonb_typeof(z -> 'length_mean') = 'number' THEN least(greatest((z ->> 'length_mean')::numeric, -9e15), 9e15)::float8 END), \
             min(CASE WHEN jsonb_typeof(z -> 'fill_min') = 'number' THEN least(greatest((z ->> 'fill_min')::numeric, -9e15), 9e15)::float8 * 100 END), \
             sum(CASE WHEN jsonb_typeof(z -> 'in') = 'number' THEN least(greatest((z ->> 'in')::numeric, -9e15), 9e15)::float8 ELSE 0 END \
               + CASE WHEN jsonb_typeof(z -> 'out') = 'number' THEN least(greatest((z ->> 'out')::numeric, -9e15), 9e15)::float8 ELSE 0 END) \
             FROM events e CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN \
               jsonb_typeof(e.payload -> 'zones') = 'array' THEN e.payload -> 'zones' ELSE '[]' END) z \
             WHERE e.kind = 'summary' AND e.site = ANY($1) AND e.ts_ms >= $2 AND e.ts_ms < $2 + $3 * $4 \
             AND e.camera IS NOT NULL AND jsonb_typeof(z) = 'object' \
             GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 5",
            &[&scope, &start, &bucket_ms, &chart::BUCKETS],
        )
        .await?;
    let mut charts: Vec<pages::DayChart> = Vec::new();
    for r in &rows {
        let (site, camera): (String, String) = (r.get(0), r.get(1));
        let (Some(zone), Some(kind)) =
            (r.get::<_, Option<String>>(2), r.get::<_, Option<String>>(3))
        else {
            continue;
        };
        let value: Option<f64> = match kind.as_str() {
            "area" => r.get(5),
            "queue" => r.get(6),
            "shelf" => r.get(7),
            "line" => r.get(8),
            _ => None,
        };
        let Some(value) = value else { continue };
        let bar = (r.get::<_, i64>(4), value);
        match charts.last_mut() {
            Some(c) if c.site == site && c.camera == camera && c.zone == zone => c.bars.push(bar),
            _ => charts.push(pages::DayChart {
                site,
                camera,
                zone,
                kind,
                bars: vec![bar],
            }),
        }
    }
    Ok(charts)
}

async fn alerts_page(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<AlertsQuery>,
) -> Response {
    let v = match viewer(&app, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let scope = narrowed(&v, q.site);
    let open = app
        .db
        .query(
            "SELECT site, device_id, alert_id, camera, rule, severity, zone, metric, value, threshold, \
             raised_ts_ms, acked_by, to_char(acked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') \
             FROM alerts WHERE cleared_ts_ms IS NULL AND resolved_at IS NULL \
             AND ($1::text[] IS NULL OR site = ANY($1)) ORDER BY site, raised_ts_ms DESC NULLS LAST",
            &[&scope],
        )
        .await;
    let latest = app
        .db
        .query(
            "SELECT site, camera, ts_ms, zones FROM latest_summaries \
             WHERE ($1::text[] IS NULL OR site = ANY($1)) ORDER BY site, camera",
            &[&scope],
        )
        .await;
    let now = crate::now_ms();
    let ended = app
        .db
        .query(
            "SELECT site, rule, severity, zone, cleared_ts_ms - raised_ts_ms, \
             coalesce($2 - cleared_ts_ms, (extract(epoch FROM now() - resolved_at) * 1000)::bigint), \
             resolved_by FROM alerts \
             WHERE (cleared_ts_ms > $2 - 86400000 OR resolved_at > now() - interval '24 hours') \
             AND ($1::text[] IS NULL OR site = ANY($1)) \
             ORDER BY coalesce(cleared_ts_ms, raised_ts_ms) DESC LIMIT 100",
            &[&scope, &now],
        )
        .await;
    let dead = app
        .db
        .query(
            "SELECT site, webhook, body #>> '{alert,rule}', body #>> '{alert,state}', attempts, \
             coalesce(last_error, '') FROM notifications WHERE state = 'dead' \
             AND ($1::text[] IS NULL OR site = ANY($1)) ORDER BY id DESC LIMIT 50",
            &[&scope],
        )
        .await;
    let charts = match &scope {
        Some(sites) => day_charts(&app.db, sites, now).await.map(Some),
        None => Ok(None),
    };
    let (open, ended, latest, dead, charts) = match (open, ended, latest, dead, charts) {
        (Ok(o), Ok(n), Ok(l), Ok(d), Ok(c)) => (o, n, l, d, c),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), ..) | (.., Err(e), _) | (.., Err(e)) => {
            return internal(e);
        }
    };
    let ended: Vec<pages::Ended> = ended
        .iter()
        .map(|r| pages::Ended {
            site: r.get(0),
            rule: r.get(1),
            severity: r.get(2),
            zone: r.get(3),
            lasted_s: r.get::<_, Option<i64>>(4).map(|ms| ms / 1000),
            ended_s_ago: r.get::<_, Option<i64>>(5).unwrap_or(0) / 1000,
            by: r.get(6),
        })
        .collect();
    let dead: Vec<pages::DeadLetter> = dead
        .iter()
        .map(|r| pages::DeadLetter {
            site: r.get(0),
            webhook: r.get(1),
            rule: r.get::<_, Option<String>>(2).unwrap_or_default(),
            state: r.get::<_, Option<String>>(3).unwrap_or_default(),
            attempts: r.get(4),
            last_error: r.get(5),
        })
        .collect();
    let open: Vec<pages::OpenAlert> = open
        .iter()
        .map(|r| pages::OpenAlert {
            site: r.get(0),
            device_id: r.get(1),
            alert_id: r.get(2),
            camera: r.get(3),
            rule: r.get(4),
            severity: r.get(5),
            zone: r.get(6),
            metric: r.get(7),
            value: r.get(8),
            threshold: r.get(9),
            age_s: r.get::<_, Option<i64>>(10).map(|t| (now - t) / 1000),
            acked: r
                .get::<_, Option<String>>(11)
                .zip(r.get::<_, Option<String>>(12)),
        })
        .collect();
    let latest: Vec<pages::Latest> = latest
        .iter()
        .map(|r| pages::Latest {
            site: r.get(0),
            camera: r.get(1),
            age_s: (now - r.get::<_, i64>(2)) / 1000,
            zones: r.get(3),
        })
        .collect();
    page(pages::alerts(
        &v,
        &open,
        &ended,
        &latest,
        &dead,
        charts.as_deref(),
    ))
}

#[derive(Deserialize)]
struct AlertForm {
    site: String,
    device_id: String,
    alert_id: String,
}

async fn acknowledge(
    State(app): State<App>,
    headers: HeaderMap,
    Form(f): Form<AlertForm>,
) -> Response {
    mark(&app, &headers, &f, "acked").await
}

async fn resolve(State(app): State<App>, headers: HeaderMap, Form(f): Form<AlertForm>) -> Response {
    mark(&app, &headers, &f, "resolved").await
}

/// Records who acknowledged or resolved an alert, and when; only within the viewer's sites.
async fn mark(app: &App, headers: &HeaderMap, f: &AlertForm, what: &str) -> Response {
    let v = match viewer(app, headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let scope: Option<Vec<String>> = v.scope().map(<[String]>::to_vec);
    let sql = if what == "acked" {
        "UPDATE alerts SET acked_by = $3, acked_at = now() WHERE device_id = $1 AND alert_id = $2 \
         AND site = $5 AND acked_at IS NULL AND ($4::text[] IS NULL OR site = ANY($4))"
    } else {
        "UPDATE alerts SET resolved_by = $3, resolved_at = now() WHERE device_id = $1 \
         AND alert_id = $2 AND site = $5 AND resolved_at IS NULL AND ($4::text[] IS NULL OR site = ANY($4))"
    };
    match app
        .db
        .execute(sql, &[&f.device_id, &f.alert_id, &v.name, &scope, &f.site])
        .await
    {
        Ok(n) => {
            tracing::info!(user = %v.name, site = %f.site, device = %f.device_id, alert = %f.alert_id, what, changed = n, "alert marked");
            Redirect::to("/alerts").into_response()
        }
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct FleetQuery {
    site: Option<String>,
}

async fn fleet_page(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<FleetQuery>,
) -> Response {
    let v = match viewer(&app, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if v.role != Role::FleetAdmin {
        return (
            StatusCode::FORBIDDEN,
            page(pages::forbidden(&v, "The fleet page is for fleet admins.")),
        )
            .into_response();
    }
    let site = q.site.filter(|s| !s.is_empty());
    let rows = app
        .db
        .query(
            "SELECT d.site, d.device_id, d.online, d.version, d.model, d.model_version, d.cameras, \
             d.outbox_error, (SELECT max(ts_ms) FROM events e WHERE e.site = d.site AND e.device_id = d.device_id), \
             (SELECT least(t, 9e15)::bigint FROM (SELECT sum(CASE WHEN jsonb_typeof(n) = 'number' \
                   THEN (n #>> '{}')::numeric END) AS t \
              FROM (SELECT payload -> 'outbox' AS o FROM events e WHERE e.site = d.site AND e.device_id = d.device_id \
                    AND kind = 'health' ORDER BY ts_ms DESC LIMIT 1) h, \
                   LATERAL (VALUES (o -> 'dropped_summaries'), (o -> 'dropped_alerts'), \
                                   (o -> 'lost_unstored')) v(n)) x WHERE t IS NOT NULL), \
             (SELECT least(t, 9e15)::bigint FROM (SELECT sum(last_seq::numeric - first_seq + 1 - stored) AS t \
              FROM event_sequences q WHERE q.site = d.site AND q.device_id = d.device_id) x \
              WHERE t IS NOT NULL) \
             FROM devices d WHERE ($1::text IS NULL OR d.site = $1) ORDER BY d.site, d.device_id",
            &[&site],
        )
        .await;
    let sites = app
        .db
        .query("SELECT DISTINCT site FROM devices ORDER BY site", &[])
        .await;
    let (rows, sites) = match (rows, sites) {
        (Ok(r), Ok(s)) => (r, s),
        (Err(e), _) | (_, Err(e)) => return internal(e),
    };
    let now = crate::now_ms();
    let devices: Vec<pages::Device> = rows
        .iter()
        .map(|r| {
            let cameras: serde_json::Value = r.get(6);
            let cams = cameras.as_array().map(Vec::as_slice).unwrap_or_default();
            pages::Device {
                site: r.get(0),
                device_id: r.get(1),
                online: r.get(2),
                version: r.get(3),
                model: r.get(4),
                model_version: r.get(5),
                cameras: cams.len(),
                cameras_down: cams
                    .iter()
                    .filter(|c| c.get("connected") != Some(&serde_json::Value::Bool(true)))
                    .count(),
                outbox_error: r.get(7),
                last_event_age_s: r.get::<_, Option<i64>>(8).map(|t| (now - t) / 1000),
                drops: r.get(9),
                missing: r.get(10),
            }
        })
        .collect();
    let sites: Vec<String> = sites.iter().map(|r| r.get(0)).collect();
    page(pages::fleet(&v, &devices, site.as_deref(), &sites))
}
