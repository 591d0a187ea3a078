//! The pages in Debian's headless Chromium, against the real hub, broker and database: a store
//! ops user logs in, sees an alert from their store arrive (and not another store's), acknowledges
//! and resolves it; the fleet page is refused to them and shown to a fleet admin.

mod support;

use std::time::Duration;

use serde_json::json;
use support::browser::Browser;
use support::{
    Hub, add_user, free_port, hub_toml, log_in, now_ms, publish_one, setup, text, wait_until,
};

/// The `ts_ms` a body was given, as written in it.
fn now_ms_text(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).expect("JSON");
    v["ts_ms"].to_string()
}

/// gw-9's till camera now: a queue of 6 at the kiosk, about 4 minutes' wait.
fn kiosk_summary() -> String {
    format!(
        r#"{{"schema_version":3,"event_id":"gw-9:2","device_id":"gw-9","site":"store-9","seq":2,"camera":"till","ts_ms":{},"payload":{{"type":"summary","window_start_ms":0,"window_end_ms":1,"frames":5,"zones":[{{"zone":"kiosk","kind":"queue","length_mean":5.2,"length_max":7,"length_last":6,"wait_p50_s":null,"wait_p90_s":null,"served":0,"abandoned":0,"service_rate_per_min":1.5,"estimated_wait_s":240.0}}],"health":{{"connected":true,"fps_in":5.0,"fps_out":5.0,"dropped":0,"reconnects":0}}}}}}"#,
        now_ms()
    )
}

fn alert(site: &str, device: &str, seq: u64, id: &str, severity: &str) -> String {
    format!(
        r#"{{"schema_version":3,"event_id":"{device}:{seq}","device_id":"{device}","site":"{site}","seq":{seq},"camera":"till","ts_ms":{},"payload":{{"type":"alert","alert_id":"{id}","rule":"kiosk-queue","severity":"{severity}","state":"raised","zone":"kiosk","metric":"length","value":6.0,"threshold":5.0}}}}"#,
        now_ms() - 300_000
    )
}

#[test]
fn store_ops_see_acknowledge_and_resolve_their_alerts_and_only_admins_see_the_fleet() {
    let s = setup();
    let port = free_port();
    // A webhook nobody answers: its notifications are dead-lettered and shown with the alerts.
    let pager = format!(
        "\n[[webhooks]]\nname = \"pager\"\nurl = \"http://127.0.0.1:{}/\"\nmax_attempts = 1\n",
        free_port()
    );
    let config = hub_toml(
        s.dir.path(),
        &s.pki,
        &s.broker,
        &s.pg,
        "hub-web",
        Some(port),
        &pager,
    );
    let _hub = Hub::start(&config);
    add_user(&config, "ops9", "till-rolls-9", "store-ops", &["store-9"]);
    add_user(&config, "admin", "fleet-of-many", "fleet-admin", &[]);
    let base = format!("https://localhost:{port}");
    let b = Browser::start();

    // Nothing is readable without logging in, and a wrong password is said so.
    log_in(&b, &base, "ops9", "wrong password");
    b.wait_for(
        "return document.querySelector('#login-failed') !== null",
        "the refusal",
    );
    log_in(&b, &base, "ops9", "till-rolls-9");
    b.wait_for("return location.pathname === '/alerts'", "the alerts page");
    assert!(
        text(&b).contains("Nothing from your stores yet"),
        "{}",
        text(&b)
    );

    // An alert from the user's store and one from another store arrive over MQTT.
    publish_one(
        &s.broker,
        &s.pki,
        "aisle/store-9/gw-9/alert",
        &alert("store-9", "gw-9", 1, "q-9", "warning"),
    );
    publish_one(
        &s.broker,
        &s.pki,
        "aisle/store-1/gw-1/alert",
        &alert("store-1", "gw-1", 1, "q-1", "critical"),
    );
    let summary = kiosk_summary();
    publish_one(
        &s.broker,
        &s.pki,
        "aisle/store-9/gw-9/summary/till",
        &summary,
    );
    // Earlier in the day the queue was shorter: the day's chart has a bar for each.
    for (seq, hours_ago, mean) in [(3, 3, "1.0"), (4, 2, "2.6")] {
        let earlier = summary
            .replace("\"gw-9:2\"", &format!("\"gw-9:{seq}\""))
            .replace("\"seq\":2", &format!("\"seq\":{seq}"))
            .replace(
                &now_ms_text(&summary),
                &(now_ms() - hours_ago * 3_600_000).to_string(),
            )
            .replace("\"length_mean\":5.2", &format!("\"length_mean\":{mean}"));
        publish_one(
            &s.broker,
            &s.pki,
            "aisle/store-9/gw-9/summary/till",
            &earlier,
        );
    }
    wait_until(Duration::from_secs(20), "both alerts stored", || {
        s.pg.count("SELECT count(*) FROM alerts") == 2
            && s.pg.count("SELECT count(*) FROM latest_summaries") == 1
            && s.pg
                .count("SELECT count(*) FROM events WHERE kind = 'summary'")
                == 3
    });
    wait_until(
        Duration::from_secs(20),
        "the pager's notifications given up",
        || {
            s.pg.count("SELECT count(*) FROM notifications WHERE state = 'dead'") == 2
        },
    );
    b.send("POST", "/refresh", Some(&json!({})));
    b.wait_for(
        "return document.querySelector('tr.alert[data-alert=\"q-9\"]') !== null",
        "store-9's alert on the page",
    );
    assert!(
        text(&b).contains("Notifications that failed")
            && text(&b).contains("pager\tkiosk-queue raised\t1"),
        "{}",
        text(&b)
    );
    let page = text(&b);
    assert!(
        page.contains("kiosk-queue") && page.contains("5 min"),
        "{page}"
    );
    assert!(page.contains("queue 6 (max 7), wait ≈ 4 min"), "{page}");
    assert!(
        page.contains("till / kiosk: queue length, mean per 15 min"),
        "{page}"
    );
    assert_eq!(
        b.run(
            "return [...document.querySelectorAll('figure.day[data-zone=\"kiosk\"] rect.bar')]\
             .map(r => [r.dataset.value, Math.round(r.getBBox().height)])"
        ),
        json!([["1", 9], ["2.6", 24], ["5.2", 48]]),
        "one bar per summary's 15 minutes, on a scale to 10 drawn 92 px high"
    );
    assert!(
        !page.contains("store-1"),
        "another store's alert is shown: {page}"
    );
    // The warning badge is drawn in its colour.
    let shot = b.screenshot("hub-alerts.png");
    let rect = b.run(
        "const r = document.querySelector('tr.alert .sev').getBoundingClientRect(); return [r.x, r.y + r.height / 2];",
    );
    // Inside the badge's left padding, clear of its letters.
    let (x, y) = (
        rect[0].as_f64().unwrap_or_default() as u32 + 3,
        rect[1].as_f64().unwrap_or_default() as u32,
    );
    let p = shot.get_pixel(x, y);
    assert!(
        p[0] > 240 && (200..240).contains(&p[1]) && p[2] < 200,
        "the warning badge is not orange at ({x}, {y}): {p:?}"
    );

    b.click("tr.alert button.ack");
    b.wait_for(
        "return document.body.innerText.includes('acknowledged by ops9')",
        "the acknowledgement",
    );
    assert_eq!(
        s.pg.query("SELECT acked_by FROM alerts WHERE alert_id = 'q-9'"),
        "ops9"
    );
    b.click("tr.alert button.resolve");
    b.wait_for(
        "return document.querySelector('tr.alert') === null",
        "the alert resolved away",
    );
    assert_eq!(
        s.pg.query("SELECT resolved_by FROM alerts WHERE alert_id = 'q-9'"),
        "ops9"
    );
    let page = text(&b);
    assert!(
        page.contains("Ended in the last 24 h") && page.contains("ago\tops9"),
        "{page}"
    );
    assert_eq!(
        s.pg.query("SELECT acked_by IS NULL FROM alerts WHERE alert_id = 'q-1'"),
        "t"
    );

    // Store ops cannot open the fleet page; a fleet admin can, and sees every gateway.
    b.send(
        "POST",
        "/url",
        Some(&json!({"url": format!("{base}/fleet")})),
    );
    assert!(text(&b).contains("for fleet admins"), "{}", text(&b));
    b.click("form.who button");
    b.wait_for("return location.pathname === '/login'", "logged out");
    let status = format!(
        r#"{{"state":"online","device_id":"gw-9","site":"store-9","version":"0.1.0","model":"nanodet-m-416-int8","model_version":4,"ts_ms":{},"cameras":[{{"camera":"till","connected":false,"fps_in":0.0,"fps_out":0.0,"dropped":0,"reconnects":3}}],"outbox_error":null}}"#,
        now_ms()
    );
    publish_one(&s.broker, &s.pki, "aisle/store-9/gw-9/status", &status);
    wait_until(Duration::from_secs(20), "the status stored", || {
        s.pg.count("SELECT count(*) FROM devices") == 1
    });
    log_in(&b, &base, "admin", "fleet-of-many");
    b.wait_for(
        "return location.pathname === '/alerts'",
        "the admin's alerts",
    );
    assert!(text(&b).contains("store-1"), "an admin sees every store");
    // Every store's day at once would read the whole fleet's summaries: one store at a time.
    assert!(
        text(&b).contains("Open the store (its name above) for each zone's last 24 hours."),
        "{}",
        text(&b)
    );
    b.click("section.site[data-site=\"store-9\"] h2 a");
    b.wait_for(
        "return document.querySelectorAll('figure.day rect.bar').length === 3",
        "store-9's day for the admin",
    );
    assert!(!text(&b).contains("store-1"), "{}", text(&b));
    b.run("document.querySelector('figure.day').scrollIntoView(); return null");
    let shot = b.screenshot("hub-store-day.png");
    let (x, y) = b.centre("figure.day rect.bar[data-value=\"5.2\"]");
    let p = shot.get_pixel(x, y);
    assert!(
        p[2] > 130 && p[0] < 100,
        "the 5.2 bar is not drawn at ({x}, {y}): {p:?}"
    );
    b.send(
        "POST",
        "/url",
        Some(&json!({"url": format!("{base}/fleet")})),
    );
    b.wait_for(
        "return document.querySelector('tr.device[data-device=\"gw-9\"]') !== null",
        "gw-9 on the fleet page",
    );
    let fleet = text(&b);
    assert!(
        fleet.contains("nanodet-m-416-int8 v4") && fleet.contains("1 of 1"),
        "{fleet}"
    );
    // gw-9's events 1 to 4 all arrived.
    assert_eq!(
        b.run(
            "return document.querySelector('tr.device[data-device=\"gw-9\"] td.missing').innerText"
        ),
        json!("0")
    );
    b.screenshot("hub-fleet.png");
}

/// Whether the page fits `width`: no sideways scrolling, and every button (Acknowledge, Resolve,
/// Log out, Filter) and chart inside the viewport's width.
fn fits(b: &Browser, width: u32) -> serde_json::Value {
    b.run(&format!(
        "const w = window.innerWidth;
         const out = [...document.querySelectorAll('button, svg.day')]
           .map(e => e.getBoundingClientRect())
           .filter(r => r.width > 0 && (r.left < 0 || r.right > w + 0.5)).length;
         return [w === {width}, document.documentElement.scrollWidth <= w, out];"
    ))
}

/// A store page open in the browser shows a new alert without navigating, and every page fits a
/// phone (390 × 844) and a laptop (1366 × 768) without sideways scrolling.
#[test]
fn alerts_arrive_on_an_open_page_and_every_page_fits_a_phone() {
    let s = setup();
    let port = free_port();
    let config = hub_toml(
        s.dir.path(),
        &s.pki,
        &s.broker,
        &s.pg,
        "hub-live",
        Some(port),
        "",
    );
    let _hub = Hub::start(&config);
    add_user(&config, "ops9", "till-rolls-9", "store-ops", &["store-9"]);
    add_user(&config, "admin", "fleet-of-many", "fleet-admin", &[]);
    let base = format!("https://localhost:{port}");
    publish_one(
        &s.broker,
        &s.pki,
        "aisle/store-9/gw-9/alert",
        &alert("store-9", "gw-9", 1, "q-9", "warning"),
    );
    publish_one(
        &s.broker,
        &s.pki,
        "aisle/store-9/gw-9/status",
        &support::status("store-9", "gw-9", "nanodet-m-416-int8", 4),
    );
    let summary = kiosk_summary();
    publish_one(
        &s.broker,
        &s.pki,
        "aisle/store-9/gw-9/summary/till",
        &summary,
    );
    wait_until(
        Duration::from_secs(20),
        "the alert, status and summary",
        || {
            s.pg.count("SELECT count(*) FROM alerts") == 1
                && s.pg.count("SELECT count(*) FROM devices") == 1
                && s.pg.count("SELECT count(*) FROM latest_summaries") == 1
        },
    );

    let b = Browser::start();
    b.resize(390, 844);
    log_in(&b, &base, "ops9", "till-rolls-9");
    b.wait_for("return location.pathname === '/alerts'", "the alerts page");
    b.send(
        "POST",
        "/url",
        Some(&json!({"url": format!("{base}/alerts?site=store-9")})),
    );
    b.wait_for(
        "return document.querySelector('figure.day rect.bar') !== null",
        "the store's page with its chart",
    );
    // Marks this document: a navigation would lose the mark.
    b.run("window.stillHere = true; return null");
    publish_one(
        &s.broker,
        &s.pki,
        "aisle/store-9/gw-9/alert",
        &alert("store-9", "gw-9", 3, "q-new", "critical"),
    );
    wait_until(Duration::from_secs(20), "the new alert stored", || {
        s.pg.count("SELECT count(*) FROM alerts WHERE alert_id = 'q-new'") == 1
    });
    let stored = std::time::Instant::now();
    b.wait_for(
        "return document.querySelector('tr.alert[data-alert=\"q-new\"]') !== null",
        "the new alert on the open page",
    );
    eprintln!(
        "the new alert showed {} ms after the hub stored it",
        stored.elapsed().as_millis()
    );
    assert_eq!(b.run("return window.stillHere === true"), json!(true));
    // The phone: rows are cards, both buttons of each alert within reach, the chart scaled.
    assert_eq!(fits(&b, 390), json!([true, true, 0]), "/alerts at 390 px");
    b.screenshot("hub-alerts-phone.png");
    b.click("tr.alert[data-alert=\"q-new\"] button.ack");
    b.wait_for(
        "return document.body.innerText.includes('acknowledged by ops9')",
        "the acknowledgement from the phone",
    );
    b.click("form.who button");
    b.wait_for("return location.pathname === '/login'", "logged out");
    assert_eq!(fits(&b, 390), json!([true, true, 0]), "/login at 390 px");

    log_in(&b, &base, "admin", "fleet-of-many");
    b.wait_for(
        "return location.pathname === '/alerts'",
        "the admin's alerts",
    );
    for (w, h) in [(390, 844), (1366, 768)] {
        b.resize(w, h);
        for path in ["/alerts?site=store-9", "/fleet", "/rollouts"] {
            b.send(
                "POST",
                "/url",
                Some(&json!({"url": format!("{base}{path}")})),
            );
            b.wait_for("return document.readyState === 'complete'", path);
            assert_eq!(fits(&b, w), json!([true, true, 0]), "{path} at {w} px");
        }
    }
    // The fleet page updates itself too: the gateway's status changes while it is open.
    b.resize(390, 844);
    b.send(
        "POST",
        "/url",
        Some(&json!({"url": format!("{base}/fleet")})),
    );
    b.wait_for(
        "return document.querySelector('tr.device[data-device=\"gw-9\"] td.online') !== null",
        "gw-9 online on the fleet page",
    );
    // No health event from gw-9 yet: its drops are unknown, not a clamp's bound.
    assert_eq!(
        b.run("return document.querySelector('tr.device[data-device=\"gw-9\"] td[data-label=\"events dropped\"]').innerText"),
        json!("–")
    );
    b.run("window.stillHere = true; return null");
    let offline = support::status("store-9", "gw-9", "nanodet-m-416-int8", 4)
        .replace(r#""state":"online""#, r#""state":"offline""#);
    publish_one(&s.broker, &s.pki, "aisle/store-9/gw-9/status", &offline);
    b.wait_for(
        "return document.querySelector('tr.device[data-device=\"gw-9\"] td.offline') !== null",
        "gw-9 offline without a reload",
    );
    assert_eq!(b.run("return window.stillHere === true"), json!(true));
    b.screenshot("hub-fleet-phone.png");
}
