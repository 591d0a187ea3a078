//! The rollouts page (fleet admins): every rollout with its waves, a form to start one from a
//! bundle in `rollouts.bundles_dir`, and a Halt button. While a rollout runs the page reloads
//! itself every few seconds (a meta refresh, no script), so an admin watches the waves move.

use std::path::{Path, PathBuf};

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::{Role, Viewer};
use super::pages::layout;
use super::{App, internal, page, viewer};
use crate::rollout::store::{self, Request, RolloutView};

/// Seconds between reloads of the page while a rollout runs.
const REFRESH_S: u32 = 3;

/// The viewer if a fleet admin, or the response that turns anyone else away.
async fn admin(app: &App, headers: &HeaderMap) -> Result<Viewer, Response> {
    let v = viewer(app, headers).await?;
    if v.role == Role::FleetAdmin {
        Ok(v)
    } else {
        Err((
            StatusCode::FORBIDDEN,
            page(super::pages::forbidden(
                &v,
                "Rollouts are for fleet admins.",
            )),
        )
            .into_response())
    }
}

/// The bundles an admin may pick: directories holding an `update.toml`, by name.
fn bundles(dir: Option<&Path>) -> Vec<String> {
    let Some(dir) = dir else { return Vec::new() };
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().join("update.toml").is_file())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn render(app: &App, v: &Viewer, error: Option<&str>) -> Response {
    match store::list(&app.db, 50).await {
        Ok(rollouts) => {
            let choices = bundles(app.bundles_dir.as_deref());
            page(view(v, &rollouts, &choices, error))
        }
        Err(e) => internal(e),
    }
}

pub async fn rollouts_page(State(app): State<App>, headers: HeaderMap) -> Response {
    match admin(&app, &headers).await {
        Ok(v) => render(&app, &v, None).await,
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct StartForm {
    bundle: String,
    waves: String,
    halt_above_percent: f64,
    wave_timeout_min: i64,
}

/// A bundle's directory from the form: a plain name inside `bundles_dir`, nothing else.
fn bundle_path(dir: Option<&Path>, name: &str) -> Option<PathBuf> {
    let plain = !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\']);
    dir.filter(|_| plain).map(|d| d.join(name))
}

pub async fn start(
    State(app): State<App>,
    headers: HeaderMap,
    Form(f): Form<StartForm>,
) -> Response {
    let v = match admin(&app, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(path) = bundle_path(app.bundles_dir.as_deref(), &f.bundle) else {
        let why = format!("bundle {:?}: not one of the bundles offered here", f.bundle);
        return (StatusCode::BAD_REQUEST, render(&app, &v, Some(&why)).await).into_response();
    };
    let request = Request {
        bundle: &path,
        waves: &f.waves,
        halt_above: f.halt_above_percent / 100.0,
        wave_timeout_s: f.wave_timeout_min.saturating_mul(60),
        sites: &[],
        by: &v.name,
    };
    let started = {
        let mut db = app.writer.lock().await;
        store::start(&mut db, &request).await
    };
    match started {
        Ok(_) => Redirect::to("/rollouts").into_response(),
        Err(e) => {
            let why = e.to_string();
            (StatusCode::BAD_REQUEST, render(&app, &v, Some(&why)).await).into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct HaltForm {
    id: i64,
}

pub async fn halt(State(app): State<App>, headers: HeaderMap, Form(f): Form<HaltForm>) -> Response {
    let v = match admin(&app, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match store::halt(&app.db, f.id, &v.name).await {
        Ok(changed) => {
            tracing::info!(user = %v.name, id = f.id, changed, "rollout halt asked");
            Redirect::to("/rollouts").into_response()
        }
        Err(e) => internal(e),
    }
}

fn view(v: &Viewer, rollouts: &[RolloutView], bundles: &[String], error: Option<&str>) -> Markup {
    let running = rollouts.iter().any(|r| r.state == "running");
    layout(
        "Rollouts",
        Some(v),
        html! {
            @if running { meta http-equiv="refresh" content=(REFRESH_S); }
            @if let Some(e) = error { p id="rollout-error" { (e) } }
            @if bundles.is_empty() {
                p.empty { "No bundles to offer here (rollouts.bundles_dir); start one with "
                    code { "aisle-hub rollout start" } "." }
            } @else {
                form method="post" action="/rollouts" id="start" {
                    label { "Bundle " select name="bundle" id="bundle" {
                        @for b in bundles { option value=(b) { (b) } }
                    } }
                    " " label { "Waves " input name="waves" id="waves" value="1,10%,100%" size="12"; }
                    " " label { "Halt above " input name="halt_above_percent" id="halt-above" type="number" min="0" max="99" value="20" class="num"; " % failed" }
                    " " label { "Silent after " input name="wave_timeout_min" type="number" min="1" value="60" class="num"; " min counts as failed" }
                    " " button type="submit" id="start-rollout" { "Start rollout" }
                }
            }
            @if rollouts.is_empty() { p.empty { "No rollouts yet." } }
            @for r in rollouts {
                section.rollout data-rollout=(r.id) data-state=(r.state) {
                    h2 {
                        "#" (r.id) " " (r.model) " v" (r.version) " "
                        span class={ "sev state " (state_class(&r.state)) } { (r.state) }
                    }
                    p {
                        "bundle " code { (r.bundle) } ", waves " code { (r.waves_text) }
                        ", halts above " (format!("{:.0}%", r.halt_above * 100.0)) " failed; started by "
                        (r.created_by) " at " (r.created) " UTC"
                    }
                    @if let Some(reason) = &r.reason { p.reason { (reason) } }
                    @if r.state == "running" {
                        form.inline method="post" action="/rollouts/halt" {
                            input type="hidden" name="id" value=(r.id);
                            button type="submit" class="halt" { "Halt" }
                        }
                    }
                    table.waves {
                        tr { th { "wave" } th { "gateways" } th { "offered (UTC)" } th { "committed" } th { "failed" } th { "waiting" } th { "failures" } }
                        @for w in &r.waves {
                            tr.wave data-wave=(w.wave) {
                                td data-label="wave" { (w.wave) @if w.wave == r.wave && r.state == "running" { " ◀" } }
                                td data-label="gateways" { (w.gateways) }
                                td data-label="offered (UTC)" { (w.offered.as_deref().unwrap_or("not yet")) }
                                @if w.offered.is_some() {
                                    td.committed data-label="committed" { (w.committed) }
                                    td.failed data-label="failed" { (w.failed) }
                                    td.pending data-label="waiting" { (w.pending) }
                                } @else {
                                    td.committed { "–" } td.failed { "–" } td.pending { "–" }
                                }
                                td data-label="failures" { (w.failures.join(", ")) }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn state_class(state: &str) -> &'static str {
    match state {
        "halted" => "critical",
        "done" => "done",
        _ => "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_inside_the_bundles_dir() {
        let dir = Path::new("/srv/bundles");
        assert_eq!(
            bundle_path(Some(dir), "nanodet-v8"),
            Some(dir.join("nanodet-v8"))
        );
        for bad in ["", "..", "../etc", "a/b", ".hidden"] {
            assert_eq!(bundle_path(Some(dir), bad), None, "{bad}");
        }
        assert_eq!(bundle_path(None, "nanodet-v8"), None);
    }
}
