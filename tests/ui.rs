//! `aisle ui`, the real binary: its HTTP surface (token, host check, loopback only, Save judged
//! by check-config's rules with comments kept), and the page driven in Debian's headless
//! Chromium through chromedriver: a zone's corner dragged and saved, a bad zone refused with its
//! field, each step checked on a screenshot.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::browser::{Browser, call};
use common::*;
use serde_json::{Value, json};

const CONFIG: &str = r#"# a test store: every comment here must survive a Save
[agent]
device_id = "t"
site = "s"

[detector]
model = "MODEL"

[runtime]
threads = 2

[outbox]
path = "OUTBOX"

[[cameras]]
id = "plaza"
uri = "VIDEO"

# the middle of the square
[[cameras.zones]]
name = "floor"
kind = "area"
polygon = [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6], [0.2, 0.6]] # corners, clockwise

[[cameras.zones]]
name = "door"
kind = "line"
line = [[0.8, 0.85], [0.8, 0.15]]
"#;

fn config(dir: &Path) -> PathBuf {
    let text = CONFIG
        .replace("MODEL", &default_manifest().display().to_string())
        .replace("OUTBOX", &dir.join("outbox").display().to_string())
        .replace("VIDEO", &vtest().display().to_string());
    write(dir, "aisle.toml", text)
}

/// `aisle ui` on a free loopback port, killed when dropped.
struct Ui {
    child: Child,
    base: String,
    token: String,
}

impl Ui {
    fn start(cfg: &Path) -> Self {
        Self::start_with(cfg, &["--frames", "3"])
    }

    fn start_with(cfg: &Path, args: &[&str]) -> Self {
        Self::listening(cfg, "127.0.0.1:0", args)
    }

    fn listening(cfg: &Path, listen: &str, args: &[&str]) -> Self {
        let mut child = aisle()
            .args(["ui", "-c", cfg.to_str().unwrap(), "--listen", listen])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("aisle ui: open ")
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        let (base, token) = url.split_once("/?token=").unwrap();
        Self {
            child,
            base: base.to_string(),
            token: token.to_string(),
        }
    }

    fn url(&self) -> String {
        format!("{}/?token={}", self.base, self.token)
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_server_wants_its_token_its_host_and_a_valid_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let ui = Ui::start(&cfg);
    let token = [("X-Aisle-Token", ui.token.as_str())];
    assert_eq!(call("GET", &format!("{}/", ui.base), &[], None).0, 401);
    let other = if ui.token.starts_with('0') { '1' } else { '0' };
    let wrong = format!("{}/?token={other}{}", ui.base, &ui.token[1..]);
    assert_eq!(call("GET", &wrong, &[], None).0, 401);
    // A page on another site that resolves its own name to 127.0.0.1 arrives with its Host.
    let rebound = [
        ("X-Aisle-Token", ui.token.as_str()),
        ("Host", "evil.example:80"),
    ];
    assert_eq!(
        call("GET", &format!("{}/api/state", ui.base), &rebound, None).0,
        403
    );
    let (status, page) = call("GET", &ui.url(), &[], None);
    assert_eq!(status, 200);
    assert!(page.contains("aisle zones"));
    let (status, state) = call("GET", &format!("{}/api/state", ui.base), &token, None);
    assert_eq!(status, 200);
    let state: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(
        state["cameras"][0]["zones"][0]["polygon"][2],
        json!([0.6, 0.6])
    );
    let (status, live) = call(
        "GET",
        &format!("{}/api/cameras/plaza/live", ui.base),
        &token,
        None,
    );
    assert_eq!(status, 200, "{live}");
    let live: Value = serde_json::from_str(&live).unwrap();
    assert_eq!(
        (live["width"].as_u64(), live["height"].as_u64()),
        (Some(768), Some(576))
    );
    assert_eq!(live["zones"][1]["name"], "door");

    // A bow-tie and a name with a space: refused with check-config's fields, file untouched.
    let before = std::fs::read_to_string(&cfg).unwrap();
    let bad = json!({"cameras": [{"id": "plaza", "zones": [
        {"origin": 0, "name": "floor", "kind": "area", "polygon": [[0.2, 0.2], [0.6, 0.6], [0.6, 0.2], [0.2, 0.6]]},
        {"origin": null, "name": "new door", "kind": "line", "line": [[0.1, 0.1], [0.3, 0.1]]}
    ]}]});
    let (status, body) = call("POST", &format!("{}/api/save", ui.base), &token, Some(&bad));
    assert_eq!(status, 422, "{body}");
    let problems: Value = serde_json::from_str(&body).unwrap();
    let fields: Vec<&str> = problems["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["cameras[0].zones[0].polygon", "cameras[0].zones[1].name"]
    );
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), before);
    let check = aisle()
        .args(["check-config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(check.status.success());

    // A good edit: one value rewritten, a queue added, every comment kept, check-config agrees.
    let good = json!({"cameras": [{"id": "plaza", "zones": [
        {"origin": 0, "name": "floor", "kind": "area", "polygon": [[0.2, 0.2], [0.6, 0.2], [0.65, 0.7], [0.2, 0.6]]},
        {"origin": 1, "name": "door", "kind": "line", "line": [[0.8, 0.85], [0.8, 0.15]]},
        {"origin": null, "name": "till", "kind": "queue", "polygon": [[0.7, 0.2], [0.9, 0.2], [0.9, 0.5]], "service_line": [[0.9, 0.2], [0.9, 0.5]]}
    ]}]});
    let (status, body) = call(
        "POST",
        &format!("{}/api/save", ui.base),
        &token,
        Some(&good),
    );
    assert_eq!(status, 200, "{body}");
    let after = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        after.contains(
            "polygon = [[0.2, 0.2], [0.6, 0.2], [0.65, 0.7], [0.2, 0.6]] # corners, clockwise"
        ),
        "{after}"
    );
    for comment in before.lines().filter(|l| l.trim_start().starts_with('#')) {
        assert!(after.contains(comment), "{comment} lost:\n{after}");
    }
    assert!(after.contains("name = \"till\""), "{after}");
    let check = aisle()
        .args(["check-config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stderr(&check));
}

#[test]
fn a_camera_that_does_not_answer_is_said_so_without_hanging_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let text = std::fs::read_to_string(config(dir.path()))
        .unwrap()
        .replace(
            &vtest().display().to_string(),
            &format!("rtsp://127.0.0.1:{closed}/cam"),
        );
    let cfg = write(dir.path(), "dead.toml", text);
    let ui = Ui::start_with(&cfg, &["--picture-timeout-s", "2"]);
    let base = &ui.base;
    let headers = [("X-Aisle-Token", ui.token.as_str())];
    let started = Instant::now();
    let (status, body) = call(
        "GET",
        &format!("{base}/api/cameras/plaza/live"),
        &headers,
        None,
    );
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("plaza"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(30));
    // The page still answers.
    assert_eq!(
        call("GET", &format!("{base}/api/state"), &headers, None).0,
        200
    );
}

#[test]
fn it_serves_loopback_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    // Refused before it binds: nothing listens on any other address.
    let o = aisle()
        .args(["ui", "-c", cfg.to_str().unwrap(), "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("0.0.0.0:0 is not a loopback address") && stderr(&o).contains("ssh -L"),
        "{}",
        stderr(&o)
    );
}

/// A drag handle is drawn white with a black ring.
fn white(img: &image::RgbaImage, (x, y): (u32, u32)) -> bool {
    let p = img.get_pixel(x, y);
    p[0] > 230 && p[1] > 230 && p[2] > 230
}

#[test]
fn in_chromium_a_corner_is_dragged_and_saved_and_a_bad_zone_is_refused_by_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let ui = Ui::start(&cfg);
    let browser = Browser::start();
    browser.send("POST", "/url", Some(&json!({"url": ui.url()})));
    browser.wait_for(
        "return document.body.dataset.ready === '1'",
        "the camera's picture",
    );
    let size = browser.run("const i = document.getElementById('frame'); return [i.naturalWidth, i.naturalHeight, i.width];");
    assert_eq!(size, json!([768, 576, 768]), "the picture at 1:1");
    let corner = "circle[data-zone='0'][data-key='polygon'][data-point='2']";
    let before = browser.centre(corner);
    let shot = browser.screenshot("1-loaded.png");
    assert!(
        white(&shot, before),
        "the corner's handle is drawn at {before:?}"
    );
    // The picture is the camera's, not a blank: its pixels vary.
    let (fx, fy) = browser.centre("#frame");
    let lum: Vec<u32> = (0..40)
        .map(|i| {
            let p = shot.get_pixel(fx - 200 + i * 10, fy);
            u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2])
        })
        .collect();
    assert!(
        lum.iter().max().unwrap() - lum.iter().min().unwrap() > 60,
        "{lum:?}"
    );

    browser.drag(corner, 60, 48);
    let after = browser.centre(corner);
    let shot = browser.screenshot("2-dragged.png");
    assert!(
        after.0.abs_diff(before.0 + 60) <= 2 && after.1.abs_diff(before.1 + 48) <= 2,
        "{before:?} → {after:?}"
    );
    assert!(
        white(&shot, after) && !white(&shot, before),
        "the handle moved on screen"
    );
    browser.click("#save");
    browser.wait_for(
        "return document.getElementById('status').className === 'good'",
        "saved",
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    let polygon = text
        .lines()
        .find(|l| l.starts_with("polygon = "))
        .unwrap()
        .to_string();
    let parsed: toml::Table = toml::from_str(&polygon).unwrap();
    let corner_now = &parsed["polygon"].as_array().unwrap()[2];
    let (x, y) = (
        corner_now[0].as_float().unwrap(),
        corner_now[1].as_float().unwrap(),
    );
    assert!(
        (x - (0.6 + 60.0 / 768.0)).abs() < 0.005 && (y - (0.6 + 48.0 / 576.0)).abs() < 0.005,
        "{polygon}"
    );
    assert!(polygon.ends_with("# corners, clockwise"), "{polygon}");
    assert!(text.contains("# the middle of the square"));

    // A new line zone named with a space: refused by its field, the file as it was.
    let saved = text;
    browser.click("button[data-add='line']");
    browser.type_into("#name", "back door");
    browser.click("#save");
    let status = browser.wait_for(
        "const s = document.getElementById('status'); return s.className === 'bad' && s.textContent;",
        "the refusal",
    );
    let status = status.as_str().unwrap();
    assert!(
        status.contains("cameras[0].zones[2].name") && status.contains("back door"),
        "{status}"
    );
    browser.screenshot("3-refused.png");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), saved);
}

/// Two pages open on one config, a symlinked config and a read-only one: nothing is lost or
/// replaced behind anyone's back.
#[test]
fn a_stale_page_a_symlink_and_a_read_only_file_are_each_respected() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let real = config(dir.path());
    let link = dir.path().join("aisle-link.toml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let ui = Ui::start(&link);
    let token = [("X-Aisle-Token", ui.token.as_str())];
    let state = |ui: &Ui| -> Value {
        let (status, body) = call("GET", &format!("{}/api/state", ui.base), &token, None);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let loaded = state(&ui)["version"].clone();
    let edit = |version: &Value, door_x: f64| {
        json!({"version": version, "cameras": [{"id": "plaza", "zones": [
            {"origin": 0, "name": "floor", "kind": "area", "polygon": [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6], [0.2, 0.6]]},
            {"origin": 1, "name": "door", "kind": "line", "line": [[door_x, 0.85], [door_x, 0.15]]}
        ]}]})
    };
    // Page A saves; page B, loaded before, is refused instead of undoing A's change.
    let (status, body) = call(
        "POST",
        &format!("{}/api/save", ui.base),
        &token,
        Some(&edit(&loaded, 0.7)),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        "POST",
        &format!("{}/api/save", ui.base),
        &token,
        Some(&edit(&loaded, 0.3)),
    );
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("changed since this page loaded it"), "{body}");
    let text = std::fs::read_to_string(&real).unwrap();
    assert!(text.contains("0.7, 0.85"), "{text}");
    // The symlink is still one, pointing at the file that was edited.
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // A read-only config is not replaced.
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o444)).unwrap();
    let fresh = state(&ui)["version"].clone();
    let (status, body) = call(
        "POST",
        &format!("{}/api/save", ui.base),
        &token,
        Some(&edit(&fresh, 0.4)),
    );
    // Root may write anyway: then the save goes through and the mode stays.
    if status == 200 {
        assert_eq!(
            std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o444
        );
    } else {
        assert_eq!(status, 409, "{body}");
        assert!(body.contains("Permission denied"), "{body}");
        assert!(
            std::fs::read_to_string(&real)
                .unwrap()
                .contains("0.7, 0.85")
        );
    }
}

/// `--allow-remote` on every address: the way in printed is one that works (not 0.0.0.0), and a
/// browser that names this machine by an address is let in, while a DNS name still is not.
#[test]
fn a_remote_editor_takes_this_machines_addresses_and_still_refuses_names() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let ui = Ui::listening(&cfg, "0.0.0.0:0", &["--frames", "3", "--allow-remote"]);
    assert!(ui.base.starts_with("http://127.0.0.1:"), "{}", ui.base);
    let (base, token) = (ui.base.as_str(), ui.token.as_str());
    let port = base
        .rsplit_once(':')
        .map(|(_, p)| p.to_string())
        .unwrap_or_default();
    let api = format!("{base}/api/state");
    // Sent to 127.0.0.1 whatever the Host says: only the header differs.
    let as_address = format!("192.0.2.7:{port}");
    let by_address = [("X-Aisle-Token", token), ("Host", as_address.as_str())];
    assert_eq!(call("GET", &api, &by_address, None).0, 200);
    let as_name = format!("evil.example:{port}");
    let by_name = [("X-Aisle-Token", token), ("Host", as_name.as_str())];
    assert_eq!(call("GET", &api, &by_name, None).0, 403);
    let wrong_port = [("X-Aisle-Token", token), ("Host", "192.0.2.7:1")];
    assert_eq!(call("GET", &api, &wrong_port, None).0, 403);
}
