//! Debian's headless Chromium driven through chromedriver over the WebDriver protocol, and the
//! plain HTTP calls the page tests make beside it. Shared by the agent's and the hub's tests.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use super::{free_port, root};

pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build()
}

/// One request; the status and the body.
pub fn call(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, String) {
    let mut request = agent().request(method, url);
    for (k, v) in headers {
        request = request.set(k, v);
    }
    let result = match body {
        Some(b) => request
            .set("Content-Type", "application/json")
            .send_string(&b.to_string()),
        None if method == "POST" => request.send_string("{}"),
        None => request.call(),
    };
    match result {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

/// Chromium under chromedriver, spoken to over the WebDriver protocol; both end when dropped.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
}

pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    pub fn start() -> Self {
        let port = free_port();
        let driver = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (scripts/setup.sh installs chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while agent().get(&format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        // The hub's tests serve HTTPS with a certificate from their own test CA.
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1300,800", "--force-device-scale-factor=1"]
            }
        }}});
        let mut browser = Self {
            driver,
            base,
            session: String::new(),
        };
        let v = browser.send("POST", "/session", Some(&caps));
        browser.session = v["sessionId"].as_str().expect("a session").to_string();
        browser
    }

    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let (status, text) = call(method, &url, &[], body);
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(status, 200, "{method} {path}: {text}");
        v["value"].clone()
    }

    pub fn run(&self, script: &str) -> Value {
        self.send(
            "POST",
            "/execute/sync",
            Some(&json!({"script": script, "args": []})),
        )
    }

    pub fn wait_for(&self, script: &str, what: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let v = self.run(script);
            if !v.is_null() && v != json!(false) {
                return v;
            }
            assert!(Instant::now() < deadline, "waited for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn find(&self, css: &str) -> String {
        let v = self.send(
            "POST",
            "/element",
            Some(&json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    /// Clicks the element `css` names. A page that keeps itself current may swap its content
    /// between finding the element and clicking it: then the element is found again.
    pub fn click(&self, css: &str) {
        for _ in 0..5 {
            let el = self.find(css);
            let url = format!("{}/session/{}/element/{el}/click", self.base, self.session);
            let (status, text) = call("POST", &url, &[], Some(&json!({})));
            if status == 200 {
                return;
            }
            assert!(text.contains("stale element"), "click {css}: {text}");
        }
        panic!("click {css}: the element kept going stale");
    }

    /// Sets the window to `width` × `height` CSS pixels, as a phone or a laptop screen.
    pub fn resize(&self, width: u32, height: u32) {
        self.send(
            "POST",
            "/window/rect",
            Some(&json!({"width": width, "height": height})),
        );
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.send("POST", &format!("/element/{el}/clear"), Some(&json!({})));
        self.send(
            "POST",
            &format!("/element/{el}/value"),
            Some(&json!({"text": text})),
        );
    }

    /// Presses on the element and lets go `dx`, `dy` CSS pixels away.
    pub fn drag(&self, css: &str, dx: i64, dy: i64) {
        let el = self.find(css);
        let actions = json!({"actions": [{"type": "pointer", "id": "mouse",
        "parameters": {"pointerType": "mouse"},
        "actions": [
            {"type": "pointerMove", "duration": 0, "origin": {ELEMENT: el}, "x": 0, "y": 0},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerMove", "duration": 150, "origin": "pointer", "x": dx / 2, "y": dy / 2},
            {"type": "pointerMove", "duration": 150, "origin": "pointer", "x": dx - dx / 2, "y": dy - dy / 2},
            {"type": "pointerUp", "button": 0}
        ]}]});
        self.send("POST", "/actions", Some(&actions));
    }

    /// Saves the screenshot under target/ui-screenshots/`name` and returns it.
    pub fn screenshot(&self, name: &str) -> image::RgbaImage {
        let b64 = self.send("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        let dir = root().join("target/ui-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), &png).unwrap();
        image::load_from_memory(&png).unwrap().to_rgba8()
    }

    /// The centre of an element in CSS pixels (the screenshot's, at scale factor 1).
    pub fn centre(&self, css: &str) -> (u32, u32) {
        let v = self.run(&format!(
            "const r = document.querySelector({}).getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2];",
            json!(css)
        ));
        (
            v[0].as_f64().unwrap().round() as u32,
            v[1].as_f64().unwrap().round() as u32,
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = agent()
                .delete(&format!("{}/session/{}", self.base, self.session))
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
