//! What an installer meets first: completions and man pages generated from the command tree, as
//! the agent's.

use std::process::Command;

fn hub(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aisle-hub"))
        .args(args)
        .output()
        .expect("aisle-hub")
}

#[test]
fn completions_and_man_pages_cover_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let out = hub(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("aisle-hub") && text.contains("rollout"),
            "{shell}"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = hub(&["man", "--out", &dir.path().display().to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for page in [
        "aisle-hub.1",
        "aisle-hub-serve.1",
        "aisle-hub-rollout-start.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page}");
    }
    // An error is one line naming the problem, whatever RUST_BACKTRACE says.
    let out = Command::new(env!("CARGO_BIN_EXE_aisle-hub"))
        .args(["check-config", "--config", "/nonexistent/hub.toml"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("aisle-hub");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("aisle-hub: /nonexistent/hub.toml"), "{err}");
}
