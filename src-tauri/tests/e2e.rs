//! The real app in a real webview (WebKitGTK under Xvfb, driven over W3C WebDriver), against
//! a real relay, with a second participant on the engine: messages both ways with the sender
//! shown, the exact member count, a burst of messages arriving while the user types (the
//! composer never leaves the screen, the list stays windowed, reading up is not yanked down),
//! and a message typed while the relay is down shown as queued, then delivered when it
//! returns. axe-core audits every screen in both themes; screenshots of each screen at phone
//! and desktop size, in both themes, land in `target/e2e-screenshots/`.
//!
//! Needs `Xvfb`, `tauri-driver` and `WebKitWebDriver` (see `scripts/test-app`, which installs
//! them and runs this test by name). `FESTIVAL_E2E_BURST` sets the burst's size (1,000).

// An end-to-end test times a real app's startup and waits by the wall clock.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

#[path = "e2e/browser.rs"]
mod browser;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use browser::{Audit, Browser, Control, WAIT, control};
use festival_core::router::PreferredRoute;
use festival_core::{Engine, EngineConfig, Event, Events};
use festival_relay::{Config, RelayHandle};
use serde_json::json;
use tokio::sync::mpsc;

/// The most message nodes the list may keep in the DOM (the UI's window).
const MAX_NODES: u64 = 200;
const PHONE: (u32, u32) = (412, 860);
/// Time between two keys typed while the burst arrives.
const TYPING: std::time::Duration = std::time::Duration::from_millis(100);
const DESKTOP: (u32, u32) = (1280, 860);

const MESSAGE: Control = control("textbox", "Message");
const SEND: Control = control("button", "Send");
const THEME: Control = control("button", "Bright light");

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

/// Starts Xvfb on a free display number, wide enough for the desktop layout.
fn virtual_display() -> (Process, String) {
    for n in 90..200 {
        if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
            continue;
        }
        let child = Command::new("Xvfb")
            .arg(format!(":{n}"))
            .args(["-screen", "0", "1280x915x24", "-nolisten", "tcp"])
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
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        return (display, format!(":{n}"));
    }
    panic!("no free X display number");
}

/// Reads every event of Bob's engine as it comes (an engine whose events are not read stops
/// once their queue is full), keeping the messages for `wait_message`.
fn messages_of(mut events: Events) -> mpsc::Receiver<festival_proto::ChatMessage> {
    let (tx, rx) = mpsc::channel(100_000);
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let Event::Message { message, .. } = event {
                if tx.send(message).await.is_err() {
                    return;
                }
            }
        }
    });
    rx
}

async fn wait_message(
    messages: &mut mpsc::Receiver<festival_proto::ChatMessage>,
    body: &str,
) -> festival_proto::ChatMessage {
    tokio::time::timeout(WAIT, async {
        loop {
            let message = messages.recv().await.expect("Bob's engine stopped");
            if message.body == body {
                return message;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("Bob never got {body:?}"))
}

/// A relay that lets Bob send a burst as fast as his engine can.
async fn relay_at(addr: SocketAddr, dir: &Path) -> RelayHandle {
    let mut config = Config::new(addr, dir.join("relay.db"));
    config.limits.rate_per_sec = 100_000;
    config.limits.rate_burst = 100_000;
    RelayHandle::start(config).await.unwrap()
}

/// The text of the last message in the list.
const LAST_MESSAGE: &str = "const li = document.querySelector('#messages li:last-child'); \
                            return li ? li.textContent : null;";

/// Where the composer is, and whether all of it is inside the window.
const COMPOSER_ON_SCREEN: &str = "const r = document.getElementById('composer').getBoundingClientRect(); \
     return { top: r.top, bottom: r.bottom, height: window.innerHeight, \
              inside: r.top >= 0 && r.bottom <= window.innerHeight };";

/// Counts frames and the longest gap between two of them from now on.
const FRAME_METER: &str = "const m = { max: 0, frames: 0, last: performance.now(), on: true }; \
     window.__frames = m; \
     const tick = (t) => { m.max = Math.max(m.max, t - m.last); m.last = t; m.frames += 1; \
                           if (m.on) requestAnimationFrame(tick); }; \
     requestAnimationFrame(tick);";

/// What the reader sees at the top of the message list: which message, and where.
const TOP_MESSAGE: &str = "const s = document.getElementById('scroller').getBoundingClientRect(); \
     const li = [...document.querySelectorAll('#messages li')] \
       .find((li) => li.getBoundingClientRect().bottom > s.top); \
     return li ? { id: li.dataset.id, top: li.getBoundingClientRect().top } : null;";

/// The app as it is now, per theme and size: an axe-core audit (at phone size) and two
/// screenshots. Leaves the app in the theme it found it in, at phone size.
struct Shots {
    audits: Vec<Audit>,
    shots: Vec<std::path::PathBuf>,
}

impl Shots {
    async fn take(&mut self, app: &Browser, screen: &str) {
        for _ in 0..2 {
            let theme = match app.attribute(THEME, "aria-pressed").await.as_deref() {
                Some("true") => "light",
                _ => "dark",
            };
            self.audits
                .push(app.audit(&format!("{screen} ({theme})")).await);
            self.shots
                .push(app.screenshot(&format!("{screen}-phone-{theme}")).await);
            app.resize(DESKTOP.0, DESKTOP.1).await;
            self.shots
                .push(app.screenshot(&format!("{screen}-desktop-{theme}")).await);
            app.resize(PHONE.0, PHONE.1).await;
            app.click(THEME).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_chats_stays_usable_under_a_burst_and_queues_while_offline() {
    let burst: u32 = std::env::var("FESTIVAL_E2E_BURST")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let relay = relay_at("127.0.0.1:0".parse().unwrap(), dir.path()).await;
    let addr = relay.local_addr();

    // Bob is on the engine, relay only: the app's offline state must not be covered by a
    // direct link. (Starting an engine also installs the TLS provider the WebDriver client
    // needs.)
    let mut config = EngineConfig::new(relay.ws_url(), dir.path().join("bob")).with_name("Bob");
    config.p2p.preferred = PreferredRoute::Relay;
    let (bob, bob_events) = Engine::start(config).await.unwrap();
    let mut bob_events = messages_of(bob_events);
    let bob = Arc::new(bob);
    bob.join("Camp").await.unwrap();

    let (_display, display) = virtual_display();
    let port = free_port();
    let native_port = free_port();
    let driver = Command::new("tauri-driver")
        .args(["--port", &port.to_string()])
        .args(["--native-port", &native_port.to_string()])
        .env("DISPLAY", &display)
        .env("FESTIVAL_RELAY_URL", relay.ws_url())
        .env("FESTIVAL_DATA_DIR", dir.path().join("app"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tauri-driver is installed (scripts/test-app installs it)");
    let _driver = Process(driver);
    let app = Browser::launch(port, native_port, env!("CARGO_BIN_EXE_festival-app")).await;
    let mut shots = Shots {
        audits: Vec::new(),
        shots: Vec::new(),
    };

    app.type_into(control("textbox", "Your name"), "Alice")
        .await;
    app.type_into(control("textbox", "Room"), "Camp").await;
    shots.take(&app, "1-join").await;
    app.click(control("button", "Join")).await;
    app.wait_for(control("heading", "Camp")).await;
    app.wait_for(control("button", "2 online")).await;

    app.type_into(MESSAGE, "hello from the app").await;
    app.click(SEND).await;
    let got = wait_message(&mut bob_events, "hello from the app").await;
    assert_eq!(got.from.as_str(), "Alice");

    bob.send("Camp", "hello from Bob").await.unwrap();
    app.until("Bob's message with his name", async || {
        let last = app.script(LAST_MESSAGE, json!([])).await;
        let text = last.as_str()?;
        (text.contains("Bob") && text.contains("hello from Bob")).then_some(())
    })
    .await;
    shots.take(&app, "2-chat").await;
    for (button, panel) in [
        ("2 online", "Members list"),
        ("Invite", "Invite"),
        ("Mesh", "Mesh"),
        ("Debug", "Debug"),
    ] {
        let button = control("button", button);
        assert_eq!(
            app.attribute(button, "aria-expanded").await.as_deref(),
            Some("false")
        );
        app.click(button).await;
        app.wait_for(control("region", panel)).await;
        assert_eq!(
            app.attribute(button, "aria-expanded").await.as_deref(),
            Some("true")
        );
        shots
            .take(
                &app,
                &format!("3-{}", panel.to_lowercase().replace(' ', "-")),
            )
            .await;
        app.click(button).await;
        assert_eq!(
            app.attribute(button, "aria-expanded").await.as_deref(),
            Some("false")
        );
    }

    // A burst arrives while the user types: the composer stays on screen the whole time, what
    // is typed is kept, and the list keeps a bounded number of nodes.
    app.script(FRAME_METER, json!([])).await;
    let sent = Arc::new(AtomicU32::new(0));
    let sender = tokio::spawn({
        let bob = Arc::clone(&bob);
        let sent = Arc::clone(&sent);
        async move {
            for n in 1..=burst {
                bob.send("Camp", &format!("burst {n}")).await.unwrap();
                sent.store(n, Ordering::Relaxed);
            }
        }
    });
    let composer = app.wait_for(MESSAGE).await;
    let started = std::time::Instant::now();
    let mut typed = String::new();
    let mut checks = 0;
    let last = format!("burst {burst}");
    loop {
        let place = app.script(COMPOSER_ON_SCREEN, json!([])).await;
        assert_eq!(
            place["inside"], true,
            "the composer left the screen: {place}"
        );
        checks += 1;
        let text = app.script(LAST_MESSAGE, json!([])).await;
        if text.as_str().is_some_and(|t| t.contains(&last)) {
            break;
        }
        assert!(
            started.elapsed() < WAIT + std::time::Duration::from_millis(200) * burst,
            "the burst did not arrive: last shown {text}, {} sent by Bob, pill {}",
            sent.load(Ordering::Relaxed),
            app.script(
                "return [document.getElementById('new-messages').textContent, document.hidden, \
                 window.__frames.frames, document.querySelectorAll('#messages li').length, \
                 document.getElementById('scroller').scrollTop, document.getElementById('scroller').scrollHeight]",
                json!([])
            )
            .await
        );
        // Typing at about a person's pace, not flooding the webview with requests.
        app.keys(&composer, "a").await;
        typed.push('a');
        tokio::time::sleep(TYPING).await;
    }
    sender.await.unwrap();
    let arrival = started.elapsed();
    assert_eq!(app.property(&composer, "value").await, typed.as_str());
    let figures = app
        .script(
            "window.__frames.on = false; return { max: window.__frames.max, \
             frames: window.__frames.frames, items: document.querySelectorAll('#messages li').length, \
             nodes: document.getElementsByTagName('*').length };",
            json!([]),
        )
        .await;
    println!(
        "burst of {burst}: shown in {arrival:?}, composer inside the window in {checks} checks, \
         {} frames, longest frame gap {:.0} ms, {} message nodes, {} DOM elements",
        figures["frames"],
        figures["max"].as_f64().unwrap_or(0.0),
        figures["items"],
        figures["nodes"]
    );
    assert!(figures["items"].as_u64().unwrap() <= MAX_NODES, "{figures}");

    // Reading up: new messages do not move what is read; a pill counts them and jumps down.
    app.script(
        "const s = document.getElementById('scroller'); s.scrollTop -= 3 * s.clientHeight;",
        json!([]),
    )
    .await;
    let before = app.until_script("the list scrolled up", TOP_MESSAGE).await;
    for n in 1..=5 {
        bob.send("Camp", &format!("while reading {n}"))
            .await
            .unwrap();
    }
    let pill = control("button", "5 new messages");
    app.wait_for(pill).await;
    let after = app.script(TOP_MESSAGE, json!([])).await;
    assert_eq!(before, after, "new messages moved what was being read");
    shots.take(&app, "4-reading-up").await;
    app.click(pill).await;
    app.until("the newest message after the pill", async || {
        let last = app.script(LAST_MESSAGE, json!([])).await;
        last.as_str()?.contains("while reading 5").then_some(())
    })
    .await;
    assert!(
        app.find(pill).await.is_none(),
        "the pill stayed after jumping down"
    );

    // The relay goes away: the app says so, and what is typed now waits, marked queued.
    relay.shutdown().await.unwrap();
    let banner = app
        .until_script(
            "the offline banner",
            "const b = document.getElementById('offline'); return !b.hidden && b.textContent;",
        )
        .await;
    assert!(banner.as_str().unwrap().starts_with("Offline"), "{banner}");
    app.type_into(MESSAGE, "typed while offline").await;
    app.click(SEND).await;
    app.until("the message marked queued", async || {
        let item = app.script(LAST_MESSAGE, json!([])).await;
        let item = item.as_str()?;
        (item.contains("typed while offline") && item.contains("queued")).then_some(())
    })
    .await;
    shots.take(&app, "5-offline").await;

    // The relay is back: the queued message is delivered, once, and marked sent.
    let _relay = relay_at(addr, dir.path()).await;
    let got = wait_message(&mut bob_events, "typed while offline").await;
    assert_eq!(got.from.as_str(), "Alice");
    app.until("the message marked sent", async || {
        let item = app.script(LAST_MESSAGE, json!([])).await;
        let item = item.as_str()?;
        (item.contains("typed while offline") && item.contains("sent")).then_some(())
    })
    .await;
    app.until_script(
        "the offline banner to go",
        "return document.getElementById('offline').hidden;",
    )
    .await;

    // Leaving puts focus where the next step is: the room field.
    app.click(control("button", "Leave")).await;
    app.wait_for(control("heading", "Festival Chat")).await;
    let focused = app
        .script("return document.activeElement.id;", json!([]))
        .await;
    assert_eq!(focused, "room", "focus after Leave");
    Arc::try_unwrap(bob).unwrap().shutdown().await;

    for audit in &shots.audits {
        println!(
            "axe {}: {} passed rules, serious/critical {:?}, minor/moderate {:?}",
            audit.screen, audit.passes, audit.blocking, audit.other
        );
    }
    let blocking: Vec<_> = shots
        .audits
        .iter()
        .filter(|a| !a.blocking.is_empty())
        .map(|a| (&a.screen, &a.blocking))
        .collect();
    assert!(blocking.is_empty(), "axe: {blocking:?}");
    for shot in &shots.shots {
        println!("screenshot: {}", shot.display());
    }
}
