//! The real app in a real webview (WebKitGTK under Xvfb, driven by tauri-driver over the W3C
//! WebDriver protocol), against a real relay, with a second participant on the engine:
//! messages both ways with the sender shown, the exact member count, and a message typed
//! while the relay is down shown as queued, then delivered when it returns. Saves a
//! screenshot of each main screen under `target/e2e-screenshots/`.
//!
//! Needs `Xvfb`, `tauri-driver` and `WebKitWebDriver` (see `scripts/test-app`, which installs
//! them and runs this test by name).

// An end-to-end test times a real app's startup and waits by the wall clock.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use festival_core::router::PreferredRoute;
use festival_core::{Engine, EngineConfig, Event, Events};
use festival_relay::{Config, RelayHandle};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);
/// WebDriver errors that only mean the page changed under the request.
const TRANSIENT: [&str; 2] = ["no such element", "stale element reference"];

/// A child process stopped with SIGTERM when dropped (tauri-driver must not be SIGKILLed, or
/// WebKitWebDriver stays behind on its port).
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts Xvfb on a free display number, phone-sized.
fn virtual_display() -> (Process, String) {
    for n in 90..200 {
        if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
            continue;
        }
        let child = Command::new("Xvfb")
            .arg(format!(":{n}"))
            .args(["-screen", "0", "412x915x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is installed (scripts/test-app installs it)");
        let display = Process(child);
        let socket = format!("/tmp/.X11-unix/X{n}");
        let deadline = std::time::Instant::now() + WAIT;
        while !Path::new(&socket).exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "Xvfb :{n} did not start"
            );
            std::thread::sleep(POLL);
        }
        return (display, format!(":{n}"));
    }
    panic!("no free X display number");
}

/// A minimal W3C WebDriver client: what this test needs, no more.
struct Browser {
    http: reqwest::Client,
    base: String,
}

impl Browser {
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

    async fn find(&self, css: &str) -> Option<String> {
        let found = self
            .call(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found
            .as_array()?
            .first()?
            .as_object()?
            .values()
            .next()?
            .as_str()
            .map(str::to_owned)
    }

    /// Calls `path` on the element `css` matches, again if the page replaced the element
    /// in the meantime.
    async fn on_element(&self, css: &str, what: &str, path: &str, body: Value) {
        self.until(what, async || {
            let id = self.find(css).await?;
            let answer = self
                .call(
                    reqwest::Method::POST,
                    &format!("/element/{id}/{path}"),
                    Some(body.clone()),
                )
                .await;
            answer["error"].as_str().is_none().then_some(())
        })
        .await;
    }

    async fn click(&self, css: &str) {
        self.on_element(css, &format!("{css} to click"), "click", json!({}))
            .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let what = format!("{css} to type into");
        self.on_element(css, &what, "clear", json!({})).await;
        self.on_element(css, &what, "value", json!({ "text": text }))
            .await;
    }

    /// Reads `path` of the element `css` matches, if there is one.
    async fn read(&self, css: &str, path: &str) -> Option<Value> {
        let id = self.find(css).await?;
        let url = format!("/element/{id}/{path}");
        Some(self.call(reqwest::Method::GET, &url, None).await)
    }

    /// The element's `textContent` (WebKitWebDriver's rendered-text endpoint answers "" for
    /// text set by script until the next layout).
    async fn text(&self, css: &str) -> Option<String> {
        let text = self.read(css, "property/textContent").await?;
        text.as_str().map(str::to_owned)
    }

    async fn displayed(&self, css: &str) -> bool {
        let shown = self.read(css, "displayed").await;
        shown.and_then(|v| v.as_bool()).unwrap_or(false)
    }

    /// Polls `probe` until it finds something (the page changes when events arrive).
    async fn until<T>(&self, what: &str, probe: impl AsyncFn() -> Option<T>) -> T {
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

    /// Waits until the text of `css` satisfies `want`.
    async fn until_text(&self, css: &str, what: &str, want: impl Fn(&str) -> bool) -> String {
        self.until(what, async || self.text(css).await.filter(|t| want(t)))
            .await
    }

    async fn screenshot(&self, name: &str) {
        let encoded = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap())
            .unwrap();
        let dir = screenshots();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-screenshots")
}

/// Opens a WebDriver session on tauri-driver at `port`, launching the app.
async fn launch(port: u16) -> (Browser, String) {
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "wry",
            "tauri:options": {"application": env!("CARGO_BIN_EXE_festival-app")},
        }}});
        let response = http
            .post(format!("{base}/session"))
            .header("content-type", "application/json")
            .body(capabilities.to_string())
            .send()
            .await;
        if let Ok(response) = response {
            let value: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
            if let Some(id) = value["value"]["sessionId"].as_str() {
                let browser = Browser {
                    http: http.clone(),
                    base: format!("{base}/session/{id}"),
                };
                return (browser, id.to_owned());
            }
            panic!("no WebDriver session: {value}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "tauri-driver did not answer on port {port}"
        );
        tokio::time::sleep(POLL).await;
    }
}

async fn wait_message(events: &mut Events, body: &str) -> festival_proto::ChatMessage {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(Event::Message { message, .. }) = events.next().await {
                if message.body == body {
                    return message;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("Bob never got {body:?}"))
}

async fn relay_at(addr: SocketAddr, dir: &Path) -> RelayHandle {
    RelayHandle::start(Config::new(addr, dir.join("relay.db")))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_chats_with_a_second_participant_and_queues_while_offline() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay_at("127.0.0.1:0".parse().unwrap(), dir.path()).await;
    let addr = relay.local_addr();

    // Bob is on the engine, relay only: the app's offline state must not be covered by a
    // direct link. (Starting an engine also installs the TLS provider the WebDriver client
    // needs.)
    let mut config = EngineConfig::new(relay.ws_url(), dir.path().join("bob")).with_name("Bob");
    config.p2p.preferred = PreferredRoute::Relay;
    let (bob, mut bob_events) = Engine::start(config).await.unwrap();
    bob.join("Camp").await.unwrap();

    let (_display, display) = virtual_display();
    let port = free_port();
    let driver = Command::new("tauri-driver")
        .args(["--port", &port.to_string()])
        .args(["--native-port", &free_port().to_string()])
        .env("DISPLAY", &display)
        .env("FESTIVAL_RELAY_URL", relay.ws_url())
        .env("FESTIVAL_DATA_DIR", dir.path().join("app"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tauri-driver is installed (scripts/test-app installs it)");
    let _driver = Process(driver);
    let (app, _session) = launch(port).await;

    app.type_into("#name", "Alice").await;
    app.type_into("#room", "Camp").await;
    app.screenshot("1-join").await;
    app.click("#join").await;
    app.until_text("#room-title", "the room's title", |t| t == "Camp")
        .await;
    app.until_text("#online", "2 members online", |t| t == "2")
        .await;

    app.type_into("#message", "hello from the app").await;
    app.click("#send").await;
    let got = wait_message(&mut bob_events, "hello from the app").await;
    assert_eq!(got.from.as_str(), "Alice");

    bob.send("Camp", "hello from Bob").await.unwrap();
    app.until_text("#messages", "Bob's message with his name", |t| {
        t.contains("Bob") && t.contains("hello from Bob")
    })
    .await;
    app.screenshot("2-chat").await;
    for (button, name) in [
        ("#members-button", "3-members"),
        ("#invite-button", "4-invite"),
        ("#mesh-button", "5-mesh"),
        ("#debug-button", "6-debug"),
    ] {
        app.click(button).await;
        // The panel is drawn by the click handler; the diagnostics it shows arrive async.
        app.until(&format!("the {name} panel"), async || {
            let panel = format!(
                "#{}-panel",
                button.trim_start_matches('#').trim_end_matches("-button")
            );
            app.displayed(&panel).await.then_some(())
        })
        .await;
        app.screenshot(name).await;
        app.click(button).await;
    }

    // The relay goes away: the app says so, and what is typed now waits, marked queued.
    relay.shutdown().await.unwrap();
    app.until("the offline banner", async || {
        app.displayed("#offline").await.then_some(())
    })
    .await;
    app.type_into("#message", "typed while offline").await;
    app.click("#send").await;
    app.until("the message marked queued", async || {
        let item = app.text("#messages li:last-child").await?;
        (item.contains("typed while offline") && item.contains("queued")).then_some(())
    })
    .await;
    app.screenshot("7-offline").await;

    // The relay is back: the queued message is delivered, once, and marked sent.
    let _relay = relay_at(addr, dir.path()).await;
    let got = wait_message(&mut bob_events, "typed while offline").await;
    assert_eq!(got.from.as_str(), "Alice");
    app.until("the message marked sent", async || {
        let item = app.text("#messages li:last-child").await?;
        (item.contains("typed while offline") && item.contains("sent")).then_some(())
    })
    .await;
    app.until("the offline banner to go", async || {
        (!app.displayed("#offline").await).then_some(())
    })
    .await;
    app.screenshot("8-back-online").await;
    bob.shutdown().await;
}
