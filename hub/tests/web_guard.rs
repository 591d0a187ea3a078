//! The pages against the open web, over real HTTPS: security headers on every answer, forms
//! refused when another site sends them, password guessing slowed per name and per address with
//! the hub's memory flat under a guessing flood, and log lines no user name can forge.

mod support;

use std::time::Duration;

use support::web::WebClient as Client;
use support::{add_user, free_port, setup, start_hub, wait_until};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn headers_cross_site_forms_guessing_and_forged_log_lines() {
    let s = setup();
    let port = free_port();
    let (config, hub) = start_hub(&s, "hub-web", Some(port));
    add_user(&config, "ops9", "till-rolls-9", "store-ops", &["store-9"]);
    let c = Client::new(&s.pki.ca, port);

    // Every answer carries the headers a browser enforces.
    let page = c
        .agent
        .get(&format!("{}/login", c.base))
        .call()
        .expect("GET /login");
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("style-src 'sha256-"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(
        page.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));

    // A form sent by another site is refused, even with the right password (login CSRF).
    let (status, _) = c.login(
        "ops9",
        "till-rolls-9",
        &[("Origin", "https://evil.example")],
    );
    assert_eq!(status, 403);
    let (status, _) = c.login("ops9", "till-rolls-9", &[("Sec-Fetch-Site", "cross-site")]);
    assert_eq!(status, 403);
    let (status, at) = c.login("ops9", "till-rolls-9", &[("Origin", &c.base)]);
    assert_eq!((status, at.as_str()), (303, "/alerts"));

    // Guessing: a few mistakes are free, then the name waits, whatever the password.
    for _ in 0..5 {
        let (status, at) = c.login("ops9", "guess", &[]);
        assert_eq!((status, at.as_str()), (303, "/login?failed=1"));
    }
    let (_, at) = c.login("ops9", "till-rolls-9", &[]);
    assert!(at.starts_with("/login?failed=1&wait_s="), "{at}");
    let wait_page = c
        .agent
        .get(&format!("{}{at}", c.base))
        .call()
        .expect("the login page")
        .into_string()
        .expect("text");
    assert!(wait_page.contains("Too many failed logins"), "{wait_page}");

    // A user name that would forge a log line, a NUL, a megabyte: refused, escaped, cut.
    let forged = "admin\n2026-12-07T00:00:00Z  INFO aisle_hub::web: logged in user=admin";
    let (status, _) = c.login(forged, "x", &[]);
    assert_eq!(status, 303);
    // The hub's log is read from its stderr as it comes: wait for the escaped line.
    wait_until(Duration::from_secs(10), "the refusal logged", || {
        hub.lines_with(r#"user="admin\n2026-12-07"#) == 1
    });
    assert!(
        !hub.log
            .lock()
            .expect("log")
            .iter()
            .any(|l| l.starts_with("2026-12-07T00:00:00Z")),
        "a forged line was written"
    );
    let (status, _) = c.login("a\0b", "x", &[]);
    assert_eq!(status, 303);
    let (status, _) = c.login(&"n".repeat(1 << 20), "x", &[]);
    assert_eq!(status, 303);
    let cut = format!("user=\"{}\"…", "n".repeat(64));
    wait_until(Duration::from_secs(10), "the long name logged", || {
        hub.lines_with(&cut) == 1
    });
    let longest = hub
        .log
        .lock()
        .expect("log")
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0);
    assert!(longest < 2000, "a log line of {longest} bytes");

    // A guessing flood from 16 clients: refused cheaply once the address waits, memory flat.
    let rss_before = rss_kib(hub.pid());
    let start = std::time::Instant::now();
    std::thread::scope(|scope| {
        for t in 0..16 {
            let c = &c;
            scope.spawn(move || {
                for i in 0..25 {
                    c.login(&format!("user-{t}-{i}"), "guess", &[]);
                }
            });
        }
    });
    let took = start.elapsed();
    let rss_after = rss_kib(hub.pid());
    println!(
        "guessing flood: 400 logins in {:.1} s; hub RSS {} -> {} MiB",
        took.as_secs_f64(),
        rss_before / 1024,
        rss_after / 1024
    );
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    wait_until(Duration::from_secs(10), "the refusals logged", || {
        hub.lines_with("too many failures") > 300
    });
}
