//! The pages, rendered on the server with maud (escaped by construction): they work in any
//! browser a store has, every action is a plain form POST, and the one script (`live.js`) only
//! keeps /alerts and /fleet current. Narrow screens get each table row as a card with its
//! labels, so a phone needs no sideways scrolling.

use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use crate::words::age;

use super::auth::{Role, Viewer};

pub fn layout(title: &str, viewer: Option<&Viewer>, body: Markup) -> Markup {
    page(title, viewer, body, false)
}

/// A page that keeps itself current (`live.js`).
pub fn live_layout(title: &str, viewer: &Viewer, body: Markup) -> Markup {
    page(title, Some(viewer), body, true)
}

fn page(title: &str, viewer: Option<&Viewer>, body: Markup, live: bool) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · aisle hub" }
                style { (CSS) }
                @if live { script src="/live.js" defer {} }
            }
            body {
                header {
                    strong { "aisle hub" }
                    @if let Some(v) = viewer {
                        nav {
                            a href="/alerts" { "Alerts" }
                            @if v.role == Role::FleetAdmin {
                                a href="/fleet" { "Fleet" }
                                a href="/rollouts" { "Rollouts" }
                            }
                        }
                        form method="post" action="/logout" class="who" {
                            span { (v.name) " · " (v.role.as_str()) }
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

pub(super) const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222}\
header{display:flex;gap:2em;align-items:center;background:#1d3557;color:#fff;padding:.6em 1.2em}\
header a{color:#fff;margin-right:1em}.who{margin-left:auto}.who button{margin-left:.6em}main{padding:1em 1.2em}\
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border-bottom:1px solid #ddd;padding:.35em .7em;text-align:left}\
.sev{font-weight:bold;padding:.2em .6em;border-radius:.3em}.sev.critical{background:#ffcdd2;color:#b00020}\
.sev.warning{background:#ffe0b2;color:#8a4500}.sev.info{background:#e3f2fd}#login-failed{color:#b00020}.offline{color:#b00020}\
form.inline{display:inline}.empty{color:#777}.sev.done{background:#c8e6c9;color:#1b5e20}\
#rollout-error,.reason{color:#b00020}section.rollout{margin-bottom:1.5em}input.num{width:4em}\
h2 a{color:inherit;text-decoration:none}div.days{display:flex;flex-wrap:wrap;gap:1em}figure.day{margin:0;max-width:100%}figcaption{font-size:.85em;color:#555}\
svg.day{max-width:100%;height:auto}td.actions{white-space:nowrap}button{min-height:2.4em}\
@media (max-width:700px){header{flex-wrap:wrap;gap:.5em;padding:.5em .8em}header a{margin-right:.6em}.who{margin-left:0}\
main{padding:.6em .8em}table,tbody,tr,td{display:block}table{width:100%}tr:first-child{display:none}\
tr{border:1px solid #ddd;border-radius:.4em;margin:.6em 0;padding:.4em .2em}td{border:0;padding:.2em .5em}\
td[data-label]::before{content:attr(data-label) ': ';color:#666}td.actions{white-space:normal}\
td.actions button{margin:.3em .3em 0 0}}";

pub fn forbidden(viewer: &Viewer, why: &str) -> Markup {
    layout("Not for this account", Some(viewer), html! { p { (why) } })
}

pub fn login(failed: bool, wait_s: Option<u64>) -> Markup {
    layout(
        "Log in",
        None,
        html! {
            @if let Some(w) = wait_s {
                p id="login-failed" { "Too many failed logins for this name or from this address: try again in " (age(i64::try_from(w).unwrap_or(i64::MAX))) "." }
            } @else if failed { p id="login-failed" { "Wrong name or password." } }
            form method="post" action="/login" {
                p { label { "Name " input name="name" id="name" autocomplete="username"; } }
                p { label { "Password " input name="password" id="password" type="password" autocomplete="current-password"; } }
                button type="submit" id="login" { "Log in" }
            }
        },
    )
}

/// One open alert as the store page shows it.
pub struct OpenAlert {
    pub site: String,
    pub device_id: String,
    pub alert_id: String,
    pub camera: Option<String>,
    pub rule: String,
    pub severity: String,
    pub zone: Option<String>,
    pub metric: Option<String>,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub age_s: Option<i64>,
    pub acked: Option<(String, String)>,
}

/// One camera's newest summary.
pub struct Latest {
    pub site: String,
    pub camera: String,
    pub age_s: i64,
    pub zones: Value,
}

fn number(v: Option<&Value>) -> String {
    crate::words::number(v.and_then(Value::as_f64))
}

/// A zone's headline figure for store ops: people now, queue and wait, shelf fill, crossings.
fn headline(zone: &Value) -> String {
    let g = |k: &str| zone.get(k);
    match zone.get("kind").and_then(Value::as_str) {
        Some("area") => format!(
            "{} people (max {}){}",
            number(g("occupancy_last")),
            number(g("occupancy_max")),
            g("congestion")
                .and_then(Value::as_str)
                .map(|c| format!(", congestion {c}"))
                .unwrap_or_default()
        ),
        Some("queue") => format!(
            "queue {} (max {}){}",
            number(g("length_last")),
            number(g("length_max")),
            g("estimated_wait_s")
                .and_then(Value::as_f64)
                .map(|w| format!(", wait ≈ {}", crate::words::age(w.round() as i64)))
                .unwrap_or_default()
        ),
        Some("shelf") => match g("fill").and_then(Value::as_f64) {
            Some(f) => format!("{:.0} % stocked", f * 100.0),
            None => "not read yet".into(),
        },
        Some("line") => format!("in {}, out {}", number(g("in")), number(g("out"))),
        _ => "–".into(),
    }
}

/// A notification that was given up on: someone must pass the alert on by hand.
pub struct DeadLetter {
    pub site: String,
    pub webhook: String,
    pub rule: String,
    pub state: String,
    pub attempts: i32,
    pub last_error: String,
}

/// An alert that ended in the last day: what happened while nobody was looking.
pub struct Ended {
    pub site: String,
    pub rule: String,
    pub severity: String,
    pub zone: Option<String>,
    pub lasted_s: Option<i64>,
    pub ended_s_ago: i64,
    pub by: Option<String>,
}

/// One zone's last 24 hours, bucketed (see [`super::chart`]).
pub struct DayChart {
    pub site: String,
    pub camera: String,
    pub zone: String,
    pub kind: String,
    pub bars: Vec<(i64, f64)>,
}

pub fn alerts(
    viewer: &Viewer,
    open: &[OpenAlert],
    ended: &[Ended],
    latest: &[Latest],
    dead: &[DeadLetter],
    // `None` when not drawn: a fleet admin looking at every store.
    charts: Option<&[DayChart]>,
) -> Markup {
    let mut sites: Vec<&str> = open
        .iter()
        .map(|a| a.site.as_str())
        .chain(ended.iter().map(|e| e.site.as_str()))
        .chain(latest.iter().map(|l| l.site.as_str()))
        .chain(dead.iter().map(|d| d.site.as_str()))
        .collect();
    sites.sort_unstable();
    sites.dedup();
    live_layout(
        "Alerts",
        viewer,
        html! {
            @if sites.is_empty() { p.empty { "Nothing from your stores yet." } }
            @for site in &sites {
                section.site data-site=(site) {
                    h2 { a href={ "/alerts?site=" (site) } { (site) } }
                    @let here: Vec<&OpenAlert> = open.iter().filter(|a| a.site == *site).collect();
                    @if here.is_empty() {
                        p.empty { "No open alerts." }
                    } @else {
                        table.alerts {
                            tr { th { "severity" } th { "alert" } th { "zone" } th { "value" } th { "open for" } th { "" } }
                            @for a in &here {
                                tr.alert data-alert=(a.alert_id) {
                                    td data-label="severity" { span class={"sev " (a.severity)} { (a.severity) } }
                                    td data-label="alert" { (a.rule) " · " (a.camera.as_deref().unwrap_or(&a.device_id)) }
                                    td data-label="zone" { (a.zone.as_deref().unwrap_or("–")) }
                                    td data-label="value" { (a.metric.as_deref().unwrap_or("")) " " (crate::words::number(a.value)) " / " (crate::words::number(a.threshold)) }
                                    td data-label="open for" { (a.age_s.map(age).unwrap_or_else(|| "–".into())) }
                                    td.actions {
                                        @match &a.acked {
                                            Some((who, when)) => span.acked { "acknowledged by " (who) " at " (when) " UTC" }
                                            None => form.inline method="post" action="/alerts/ack" {
                                                input type="hidden" name="site" value=(a.site);
                                                input type="hidden" name="device_id" value=(a.device_id);
                                                input type="hidden" name="alert_id" value=(a.alert_id);
                                                button.ack type="submit" { "Acknowledge" }
                                            }
                                        }
                                        " "
                                        form.inline method="post" action="/alerts/resolve" {
                                            input type="hidden" name="site" value=(a.site);
                                            input type="hidden" name="device_id" value=(a.device_id);
                                            input type="hidden" name="alert_id" value=(a.alert_id);
                                            button.resolve type="submit" { "Resolve" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @let done: Vec<&Ended> = ended.iter().filter(|e| e.site == *site).collect();
                    @if !done.is_empty() {
                        h3 { "Ended in the last 24 h" }
                        table.ended {
                            tr { th { "severity" } th { "alert" } th { "zone" } th { "lasted" } th { "ended" } th { "resolved by" } }
                            @for e in &done {
                                tr {
                                    td data-label="severity" { span class={"sev " (e.severity)} { (e.severity) } }
                                    td data-label="alert" { (e.rule) }
                                    td data-label="zone" { (e.zone.as_deref().unwrap_or("–")) }
                                    td data-label="lasted" { (e.lasted_s.map(age).unwrap_or_else(|| "–".into())) }
                                    td data-label="ended" { (age(e.ended_s_ago)) " ago" }
                                    td data-label="resolved by" { (e.by.as_deref().unwrap_or("cleared by the agent")) }
                                }
                            }
                        }
                    }
                    @let failed: Vec<&DeadLetter> = dead.iter().filter(|d| d.site == *site).collect();
                    @if !failed.is_empty() {
                        h3 { "Notifications that failed" }
                        table.dead {
                            tr { th { "webhook" } th { "alert" } th { "attempts" } th { "last error" } }
                            @for d in &failed {
                                tr { td data-label="webhook" { (d.webhook) } td data-label="alert" { (d.rule) " " (d.state) } td data-label="attempts" { (d.attempts) } td data-label="last error" { (d.last_error) } }
                            }
                        }
                    }
                    @let cams: Vec<&Latest> = latest.iter().filter(|l| l.site == *site).collect();
                    @if !cams.is_empty() {
                        h3 { "Now" }
                        table.now {
                            tr { th { "camera" } th { "zone" } th { "figure" } th { "as of" } }
                            @for l in &cams {
                                @for z in l.zones.as_array().map(Vec::as_slice).unwrap_or_default() {
                                    tr {
                                        td data-label="camera" { (l.camera) }
                                        td data-label="zone" { (z.get("zone").and_then(Value::as_str).unwrap_or("?")) }
                                        td data-label="figure" { (headline(z)) }
                                        td data-label="as of" { (age(l.age_s)) " ago" }
                                    }
                                }
                            }
                        }
                    }
                    @let days: Vec<&DayChart> = charts.unwrap_or_default().iter().filter(|c| c.site == *site).collect();
                    @if !days.is_empty() {
                        h3 { "Last 24 hours" }
                        div.days {
                            @for c in &days {
                                @let label = format!("{} / {}: {}", c.camera, c.zone, super::chart::measure(&c.kind));
                                figure.day data-zone=(c.zone) {
                                    figcaption { (label) }
                                    (super::chart::day(&c.bars, &label))
                                }
                            }
                        }
                    } @else if charts.is_none() && !cams.is_empty() {
                        p.empty { "Open the store (its name above) for each zone's last 24 hours." }
                    }
                }
            }
        },
    )
}

/// One gateway on the fleet page.
pub struct Device {
    pub site: String,
    pub device_id: String,
    pub online: bool,
    pub version: String,
    pub model: String,
    pub model_version: i64,
    pub cameras: usize,
    pub cameras_down: usize,
    pub last_event_age_s: Option<i64>,
    pub drops: Option<i64>,
    /// Gaps in the events' `seq` the hub holds: dropped by the outbox, or lost on the way when
    /// more are missing than the outbox says it dropped.
    pub missing: Option<i64>,
    pub outbox_error: Option<String>,
}

pub fn fleet(viewer: &Viewer, devices: &[Device], site: Option<&str>, sites: &[String]) -> Markup {
    live_layout(
        "Fleet",
        viewer,
        html! {
            form method="get" action="/fleet" {
                label { "Site " select name="site" {
                    option value="" selected[site.is_none()] { "all" }
                    @for s in sites { option value=(s) selected[site == Some(s.as_str())] { (s) } }
                } }
                " " button type="submit" { "Filter" }
            }
            p { "gateways: " (devices.len()) ", online: " (devices.iter().filter(|d| d.online).count()) }
            table.devices {
                tr { th { "site" } th { "gateway" } th { "state" } th { "model" } th { "agent" } th { "cameras down" } th { "last event" } th { "events dropped" } th title="gaps in the event numbers the hub holds" { "missing here" } th { "outbox" } }
                @for d in devices {
                    tr.device data-device=(d.device_id) {
                        td data-label="site" { (d.site) }
                        td data-label="gateway" { (d.device_id) }
                        td data-label="state" class=(if d.online { "online" } else { "offline" }) { (if d.online { "online" } else { "offline" }) }
                        td data-label="model" { (d.model) " v" (d.model_version) }
                        td data-label="agent" { (d.version) }
                        td data-label="cameras down" { (d.cameras_down) " of " (d.cameras) }
                        td data-label="last event" { (d.last_event_age_s.map(|s| age(s) + " ago").unwrap_or_else(|| "never".into())) }
                        td data-label="events dropped" { (d.drops.map(|n| n.to_string()).unwrap_or_else(|| "–".into())) }
                        @let missing = d.missing.unwrap_or(0);
                        td.missing data-label="missing here" class=[(missing > d.drops.unwrap_or(0)).then_some("offline")] { (missing) }
                        td data-label="outbox" { (d.outbox_error.as_deref().unwrap_or("ok")) }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headlines_name_the_figure_store_ops_act_on() {
        let q = serde_json::json!({"zone":"till","kind":"queue","length_last":4,"length_max":6,"estimated_wait_s":95.5});
        assert_eq!(headline(&q), "queue 4 (max 6), wait ≈ 96 s");
        let idle = serde_json::json!({"zone":"till","kind":"queue","length_last":0,"length_max":0,"estimated_wait_s":null});
        assert_eq!(
            headline(&idle),
            "queue 0 (max 0)",
            "no wait to show: none shown"
        );
        let s = serde_json::json!({"zone":"cereal","kind":"shelf","fill":0.625});
        assert_eq!(headline(&s), "62 % stocked");
        assert_eq!(age(59), "59 s");
        assert_eq!(age(3600), "60 min");
    }

    #[test]
    fn names_are_escaped() {
        let v = Viewer {
            name: "<script>x</script>".into(),
            role: Role::StoreOps,
            sites: vec![],
        };
        let page = alerts(&v, &[], &[], &[], &[], Some(&[])).into_string();
        assert!(!page.contains("<script>x"));
        assert!(page.contains("&lt;script&gt;x"));
    }
}
