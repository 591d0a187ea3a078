//! The agent as systemd runs it: the notify protocol against a real `NOTIFY_SOCKET`, the unit's
//! sandbox score, and ONNX Runtime and GStreamer under the unit's `MemoryDenyWriteExecute`.

mod common;

use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use common::*;

/// Datagrams from the agent until `within` passes with nothing new.
fn next_message(sock: &UnixDatagram, within: Duration) -> Option<String> {
    sock.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs the fault-injection feature (scripts/test.sh turns it on)"
)]
fn ready_then_watchdog_from_the_pipeline_and_silence_once_it_stalls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let cfg = live_config(dir.path(), "test://ball?width=160&height=120&fps=5", "");
    let agent = Daemon::start(
        &cfg,
        &[
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
            (aisle::fault::STALL_ENV, "6"),
        ],
    );
    let first = next_message(&sock, Duration::from_secs(60)).expect("READY");
    assert!(first.contains("READY=1"), "{first:?}");
    let started = Instant::now();
    let mut beats = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let m = next_message(&sock, Duration::from_secs(1)).expect("watchdog keeps coming");
        beats += usize::from(m.contains("WATCHDOG=1"));
    }
    assert!(
        beats >= 8,
        "{beats} watchdog beats in 3 s at a 0.4 s watchdog"
    );
    // After the injected stall the beats stop while the process lives on: systemd would kill it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while next_message(&sock, Duration::from_secs(2)).is_some() {
        assert!(Instant::now() < deadline, "the watchdog never went quiet");
    }
    let mut agent = agent;
    assert!(agent.is_running(), "stalled, not exited");
}

#[test]
fn the_unit_scores_two_or_better_on_systemd_analyze_security() {
    let o = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "systemd/aisle.service"])
        .current_dir(root())
        .output()
        .expect("systemd-analyze (scripts/setup.sh installs systemd)");
    let text = stdout(&o) + &stderr(&o);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for aisle.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no score in:\n{text}"));
    println!("exposure score {score}");
    assert!(score <= 2.0, "exposure {score}:\n{text}");
}

#[test]
fn onnx_runtime_and_gstreamer_work_under_memory_deny_write_execute() {
    let run = |mdwe: bool| {
        let mut cmd = aisle();
        cmd.args([
            "detect",
            vtest().to_str().unwrap(),
            "--every",
            "200",
            "--threads",
            "1",
        ]);
        if mdwe {
            // SAFETY: prctl(2) in the child before exec; the same refusal of writable+executable
            // memory that systemd's MemoryDenyWriteExecute= applies, inherited across exec.
            unsafe {
                cmd.pre_exec(|| {
                    const PR_SET_MDWE: libc::c_int = 65;
                    const PR_MDWE_REFUSE_EXEC_GAIN: libc::c_ulong = 1;
                    if libc::prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "mdwe={mdwe}: {}", stderr(&o));
        stdout(&o)
    };
    let plain = run(false);
    assert_eq!(plain.lines().count(), 4, "{plain}");
    assert_eq!(run(true), plain);
}
