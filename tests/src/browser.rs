//! Headless Chromium behind chromedriver, spoken to in plain W3C WebDriver over HTTP: for the
//! scenarios that put a real browser in front of the relay (a third-party peer page, the admin
//! dashboard).

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::WAIT;

/// One browser session; the driver process ends with it.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    _driver: tokio::process::Child,
}

impl Browser {
    /// Starts chromedriver and headless Chromium with a profile in `dir`.
    pub async fn start(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver runs: scripts/setup installs chromium and chromium-driver");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        tokio::time::timeout(WAIT, async {
            loop {
                let ready = http.get(format!("{base}/status")).send().await;
                if let Ok(answer) = ready {
                    let status: Value =
                        serde_json::from_str(&answer.text().await.unwrap()).unwrap();
                    if status["value"]["ready"] == true {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("chromedriver answers");
        let profile = dir.join("chromium-profile");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/lib/chromium/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let created = post(&http, &format!("{base}/session"), &capabilities).await;
        let session = format!(
            "{base}/session/{}",
            created["value"]["sessionId"].as_str().unwrap()
        );
        post(
            &http,
            &format!("{session}/timeouts"),
            &json!({"script": 60_000}),
        )
        .await;
        Self {
            http,
            session,
            _driver: driver,
        }
    }

    /// Loads `url`.
    pub async fn goto(&self, url: &str) {
        post(
            &self.http,
            &format!("{}/url", self.session),
            &json!({"url": url}),
        )
        .await;
    }

    /// Sets the window's outer size, in CSS pixels.
    pub async fn resize(&self, width: u32, height: u32) {
        post(
            &self.http,
            &format!("{}/window/rect", self.session),
            &json!({"width": width, "height": height}),
        )
        .await;
    }

    /// Runs `body` in the page with `args` bound, and returns what it returns.
    pub async fn call(&self, body: &str, args: Value) -> Value {
        let script = format!("const args = arguments; {body}");
        let answer = post(
            &self.http,
            &format!("{}/execute/sync", self.session),
            &json!({"script": script, "args": args}),
        )
        .await;
        answer["value"].clone()
    }

    /// Runs an asynchronous `script` (its last argument is the callback) with `args`.
    pub async fn call_async(&self, script: &str, args: Value) -> Value {
        let answer = post(
            &self.http,
            &format!("{}/execute/async", self.session),
            &json!({"script": script, "args": args}),
        )
        .await;
        answer["value"].clone()
    }

    /// Waits until `body` (run in the page, as [`Browser::call`]) returns something other
    /// than null or false, and returns that, within [`WAIT`].
    pub async fn until(&self, what: &str, body: &str, args: Value) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let value = self.call(body, args.clone()).await;
            if !value.is_null() && value != false {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the page never showed {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a PNG of the viewport as `dir/name.png` and returns its path.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> PathBuf {
        let answer = self
            .http
            .get(format!("{}/screenshot", self.session))
            .send()
            .await
            .unwrap();
        let value: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(value["value"].as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Ends the session.
    pub async fn quit(&self) {
        self.http.delete(&self.session).send().await.unwrap();
    }
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> Value {
    let answer = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let text = answer.text().await.unwrap();
    assert!(status.is_success(), "WebDriver {url}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}
