//! A minimal W3C WebDriver client for the e2e test: what it needs, no more.
//!
//! The session is opened through tauri-driver (which launches the app and WebKitWebDriver),
//! then every request goes straight to WebKitWebDriver: tauri-driver 2.1.0's proxy was seen to
//! drop requests ("connection reset by peer") where WebKitWebDriver itself lost none. Controls
//! are found by role and accessible name, computed by axe-core (the same engine that audits
//! the page), as a screen reader user would find them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

pub(crate) const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);
/// WebDriver errors that only mean the page changed under the request.
const TRANSIENT: [&str; 2] = ["no such element", "stale element reference"];
/// The key W3C WebDriver gives an element reference under.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A control as a screen reader sees it: its ARIA role and accessible name.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Control<'a> {
    pub(crate) role: &'a str,
    pub(crate) name: &'a str,
}

pub(crate) const fn control<'a>(role: &'a str, name: &'a str) -> Control<'a> {
    Control { role, name }
}

/// Finds the first control on screen with the role and accessible name in `arguments`.
const FIND_CONTROL: &str = r#"
const [role, name] = arguments;
try { axe.teardown(); } catch (_) {}
axe.setup(document);
try {
  for (const el of document.querySelectorAll("body *")) {
    if (el.getClientRects().length === 0) continue;
    if (axe.commons.aria.getRole(el) !== role) continue;
    if (axe.commons.text.accessibleText(el).trim() === name) return el;
  }
  return null;
} finally {
  axe.teardown();
}
"#;

/// Runs axe-core on the whole page; answers the serious and critical violations.
const AUDIT: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ["violations"] })
  .then((r) => done({
    violations: r.violations.map((v) => ({
      id: v.id, impact: v.impact,
      nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
    })),
    passes: r.passes.length,
  }))
  .catch((e) => done({ error: String(e) }));
"#;

/// One axe-core run on one screen.
pub(crate) struct Audit {
    pub(crate) screen: String,
    /// Violations rated serious or critical: `id impact: nodes`.
    pub(crate) blocking: Vec<String>,
    /// Violations rated minor or moderate.
    pub(crate) other: Vec<String>,
    pub(crate) passes: u64,
}

pub(crate) struct Browser {
    http: reqwest::Client,
    base: String,
    /// The session on tauri-driver, to end it there (which closes the app).
    session: String,
}

impl Browser {
    /// Opens a session on tauri-driver at `port` (launching the app), then talks to the
    /// WebKitWebDriver it started on `native_port`.
    pub(crate) async fn launch(port: u16, native_port: u16, app: &str) -> Browser {
        Self::launch_with(port, native_port, app, &[]).await
    }

    /// As [`Browser::launch`], the app launched with `args` (an invite link, as the system
    /// passes a clicked one).
    pub(crate) async fn launch_with(
        port: u16,
        native_port: u16,
        app: &str,
        args: &[&str],
    ) -> Browser {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "wry",
            "tauri:options": {"application": app, "args": args},
        }}});
        loop {
            // Bounded: an app that never comes up fails the test instead of hanging it.
            let response = http
                .post(format!("http://127.0.0.1:{port}/session"))
                .header("content-type", "application/json")
                .body(capabilities.to_string())
                .timeout(WAIT * 2)
                .send()
                .await;
            if let Ok(response) = response {
                let value: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
                let id = value["value"]["sessionId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no WebDriver session: {value}"));
                let browser = Browser {
                    http,
                    base: format!("http://127.0.0.1:{native_port}/session/{id}"),
                    session: format!("http://127.0.0.1:{port}/session/{id}"),
                };
                browser.inject_axe().await;
                return browser;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "tauri-driver did not answer on port {port}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Ends the session, which closes the app (as a person quitting it).
    pub(crate) async fn quit(self) {
        let response = self.http.delete(&self.session).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "ending the session: {response:?}"
        );
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let value: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        if let Some(error) = value["value"]["error"].as_str() {
            // These two are answers while the page is still changing (the callers look
            // again); the rest are the test's own mistakes.
            assert!(TRANSIENT.contains(&error), "{path}: {value}");
        }
        value["value"].clone()
    }

    /// Runs `script` (a function body reading `arguments`) in the page; answers its result.
    pub(crate) async fn script(&self, script: &str, args: Value) -> Value {
        let body = json!({"script": script, "args": args});
        self.call(reqwest::Method::POST, "/execute/sync", Some(body))
            .await
    }

    async fn inject_axe(&self) {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run npm --prefix ui ci)", path.display()));
        self.until("the page to load", async || {
            let ready = self.script("return document.readyState", json!([])).await;
            (ready == "complete").then_some(())
        })
        .await;
        self.script(&format!("{source}\nreturn typeof axe;"), json!([]))
            .await;
        self.call(
            reqwest::Method::POST,
            "/timeouts",
            Some(json!({"script": 120_000})),
        )
        .await;
    }

    /// The element reference of the control, if it is on screen.
    pub(crate) async fn find(&self, control: Control<'_>) -> Option<String> {
        let found = self
            .script(FIND_CONTROL, json!([control.role, control.name]))
            .await;
        found[ELEMENT].as_str().map(str::to_owned)
    }

    /// Waits for the control to be on screen; answers its element reference.
    pub(crate) async fn wait_for(&self, control: Control<'_>) -> String {
        let what = format!("the {} {:?}", control.role, control.name);
        self.until(&what, async || self.find(control).await).await
    }

    pub(crate) async fn click(&self, control: Control<'_>) {
        self.until(&format!("the {control:?} to click"), async || {
            let id = self.find(control).await?;
            // As a person scrolls a control into view before tapping it: WebKitWebDriver
            // does not always scroll a control inside a scrolled panel.
            self.script(
                "arguments[0].scrollIntoView({ block: 'center' });",
                json!([{ ELEMENT: id }]),
            )
            .await;
            let path = format!("/element/{id}/click");
            let answer = self
                .call(reqwest::Method::POST, &path, Some(json!({})))
                .await;
            answer["error"].as_str().is_none().then_some(())
        })
        .await;
    }

    /// Replaces the text of the control with `text`, as typed.
    pub(crate) async fn type_into(&self, control: Control<'_>, text: &str) {
        let id = self.wait_for(control).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
        self.keys(&id, text).await;
    }

    /// Types `text` at the end of the element `id`.
    pub(crate) async fn keys(&self, id: &str, text: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// A property of the element `id` (`textContent`, `value`, ...).
    pub(crate) async fn property(&self, id: &str, name: &str) -> Value {
        let path = format!("/element/{id}/property/{name}");
        self.call(reqwest::Method::GET, &path, None).await
    }

    /// An attribute of the control, if it is on screen.
    pub(crate) async fn attribute(&self, control: Control<'_>, name: &str) -> Option<String> {
        let id = self.find(control).await?;
        let path = format!("/element/{id}/attribute/{name}");
        let value = self.call(reqwest::Method::GET, &path, None).await;
        value.as_str().map(str::to_owned)
    }

    /// Polls `probe` until it finds something (the page changes when events arrive).
    pub(crate) async fn until<T>(&self, what: &str, probe: impl AsyncFn() -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(found) = probe().await {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the app never showed {what}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until `script` answers something other than null or false.
    pub(crate) async fn until_script(&self, what: &str, script: &str) -> Value {
        self.until(what, async || {
            let value = self.script(script, json!([])).await;
            (!value.is_null() && value != false).then_some(value)
        })
        .await
    }

    /// Runs axe-core on the page as it is now.
    pub(crate) async fn audit(&self, screen: &str) -> Audit {
        let body = json!({"script": AUDIT, "args": []});
        let result = self
            .call(reqwest::Method::POST, "/execute/async", Some(body))
            .await;
        assert!(result["error"].is_null(), "axe on {screen}: {result}");
        let mut audit = Audit {
            screen: screen.to_owned(),
            blocking: Vec::new(),
            other: Vec::new(),
            passes: result["passes"].as_u64().unwrap_or(0),
        };
        for violation in result["violations"].as_array().unwrap() {
            let impact = violation["impact"].as_str().unwrap_or("unknown");
            let line = format!("{} {impact}: {}", violation["id"], violation["nodes"]);
            match impact {
                "serious" | "critical" => audit.blocking.push(line),
                _ => audit.other.push(line),
            }
        }
        audit
    }

    /// Resizes the app's window (the layout changes above a width breakpoint).
    pub(crate) async fn resize(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
        self.until(&format!("a {width}x{height} window"), async || {
            let size = self
                .script("return [window.innerWidth, window.innerHeight]", json!([]))
                .await;
            // The window's decorations may take a few pixels of the width.
            let inner = size[0].as_u64().unwrap_or(0);
            (inner <= u64::from(width) && inner + 60 >= u64::from(width)).then_some(())
        })
        .await;
    }

    pub(crate) async fn screenshot(&self, name: &str) -> PathBuf {
        let encoded = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap())
            .unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}
