//! The hub to PostgreSQL over TLS: Debian's PostgreSQL serving TLS only (a connection without it
//! is refused), with a certificate from the test CA. The hub verifies it against
//! `database.ca_file` and stores a gateway's summary; given another CA it refuses to start; a
//! connection string that asks for TLS without a CA is a config error naming the field.

mod support;

use std::process::Command;
use std::time::Duration;

use support::broker::{Broker, Pki};
use support::{Hub, Postgres, publish_one, summary, wait_until};

fn config(
    dir: &std::path::Path,
    pki: &Pki,
    broker: &Broker,
    db: &str,
    name: &str,
) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "[mqtt]\nhost = \"localhost\"\nport = {}\nca_file = {:?}\nclient_cert = {:?}\n\
         client_key = {:?}\nclient_id = {name:?}\n\n[database]\n{db}\n",
        broker.port, pki.ca, pki.client_cert, pki.client_key
    );
    std::fs::write(&path, text).expect("hub config");
    path
}

#[test]
fn the_hub_speaks_tls_to_the_database_and_refuses_a_certificate_it_cannot_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::generate(&dir.path().join("pki"));
    let broker = Broker::start_with(dir.path(), &pki, "");
    let pg = Postgres::start_tls(&pki.server_cert, &pki.server_key);
    let url = format!(
        "url = \"host=localhost hostaddr=127.0.0.1 port={} user=aisle dbname=postgres sslmode=require\"",
        pg.port
    );

    let good = config(
        dir.path(),
        &pki,
        &broker,
        &format!("{url}\nca_file = {:?}", pki.ca),
        "hub-tls",
    );
    let _hub = Hub::start(&good);
    publish_one(
        &broker,
        &pki,
        "aisle/store-9/gw-1/summary/cam0",
        &summary("store-9", "gw-1", 1),
    );
    wait_until(
        Duration::from_secs(20),
        "the summary stored over TLS",
        || pg.count("SELECT count(*) FROM events") == 1,
    );
    // The hub's own connections (not psql's) are encrypted.
    assert!(
        pg.count(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE s.ssl AND a.backend_type = 'client backend' AND a.application_name <> 'psql'"
        ) >= 2
    );

    let wrong = config(
        dir.path(),
        &pki,
        &broker,
        &format!("{url}\nca_file = {:?}", pki.other_ca),
        "hub-wrong-ca",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_aisle-hub"))
        .args(["serve", "--config"])
        .arg(&wrong)
        .output()
        .expect("aisle-hub");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("aisle-hub: database.url: cannot connect") && err.contains("UnknownIssuer"),
        "{err}"
    );

    let no_ca = config(dir.path(), &pki, &broker, &url, "hub-no-ca");
    let out = Command::new(env!("CARGO_BIN_EXE_aisle-hub"))
        .args(["check-config", "--config"])
        .arg(&no_ca)
        .output()
        .expect("aisle-hub");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("database.ca_file: database.url asks for TLS"),
        "{err}"
    );
}
