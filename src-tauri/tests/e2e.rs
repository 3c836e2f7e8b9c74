//! The real app in a real webview (WebKitGTK under Xvfb, driven over W3C WebDriver), against
//! a real relay, with a second participant on the engine: messages both ways with the sender
//! shown, the exact member count, a burst of messages arriving while the user types (the
//! composer never leaves the screen, the list stays windowed, reading up is not yanked down),
//! and a message typed while the relay is down shown as queued, then delivered when it
//! returns. Names bound to keys and private rooms are in `e2e/keys.rs`; a clicked
//! notification opening its room (Linux) in `e2e/clicks.rs`. axe-core audits
//! every screen in both themes; screenshots of each screen at phone
//! and desktop size, in both themes, land in `target/e2e-screenshots/`.
//!
//! Needs `Xvfb`, `tauri-driver` and `WebKitWebDriver` (see `scripts/test-app`, which installs
//! them and runs this test by name). `FESTIVAL_E2E_BURST` sets the burst's size (1,000).

// An end-to-end test times a real app's startup and waits by the wall clock.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

#[path = "e2e/browser.rs"]
mod browser;
#[cfg(target_os = "linux")]
#[path = "e2e/clicks.rs"]
mod clicks;
#[path = "e2e/keys.rs"]
mod keys;
// Shared with the notifier's unit test, which also closes notifications; this test only
// clicks one.
#[cfg(target_os = "linux")]
#[allow(dead_code)]
#[path = "e2e/notification_service.rs"]
mod notification_service;

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
fn messages_of(mut events: Events) -> mpsc::Receiver<festival_core::Delivered> {
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
    messages: &mut mpsc::Receiver<festival_core::Delivered>,
    body: &str,
) -> festival_core::Delivered {
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
#[derive(Default)]
struct Shots {
    audits: Vec<Audit>,
    shots: Vec<std::path::PathBuf>,
}

impl Shots {
    /// Prints every audit and screenshot taken, and fails on any serious or critical axe
    /// violation.
    fn assert_accessible(&self) {
        for audit in &self.audits {
            println!(
                "axe {}: {} passed rules, serious/critical {:?}, minor/moderate {:?}",
                audit.screen, audit.passes, audit.blocking, audit.other
            );
        }
        for shot in &self.shots {
            println!("screenshot: {}", shot.display());
        }
        let blocking: Vec<_> = self
            .audits
            .iter()
            .filter(|a| !a.blocking.is_empty())
            .map(|a| (&a.screen, &a.blocking))
            .collect();
        assert!(blocking.is_empty(), "axe: {blocking:?}");
    }

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

/// The app under tauri-driver on a virtual display of its own, its data in `dir/app`, its
/// relay `relay_url`, with `env` added to the app's environment. The processes stop when the
/// returned guards are dropped.
async fn launch_app(
    dir: &std::path::Path,
    relay_url: &str,
    env: &[(&str, &str)],
) -> (Browser, [Process; 2]) {
    let (display_process, display) = virtual_display();
    let port = free_port();
    let native_port = free_port();
    let driver = Command::new("tauri-driver")
        .args(["--port", &port.to_string()])
        .args(["--native-port", &native_port.to_string()])
        .env("DISPLAY", &display)
        .env("FESTIVAL_RELAY_URL", relay_url)
        .env("FESTIVAL_DATA_DIR", dir.join("app"))
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tauri-driver is installed (scripts/test-app installs it)");
    let driver = Process(driver);
    let app = Browser::launch(port, native_port, env!("CARGO_BIN_EXE_festival-app")).await;
    (app, [driver, display_process])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_chats_stays_usable_under_a_burst_and_queues_while_offline() {
    let _one = ONE_APP_AT_A_TIME.lock().await;
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

    let (app, _processes) = launch_app(dir.path(), &relay.ws_url(), &[]).await;
    let mut shots = Shots::default();

    app.type_into(control("textbox", "Your name"), "Alice")
        .await;
    app.type_into(control("textbox", "Room or code"), "Camp")
        .await;
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

    shots.assert_accessible();
}

/// The two tests each run a whole app under their own display: one at a time on a small
/// machine, so that neither times out waiting for the other's work.
static ONE_APP_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A private D-Bus session bus, for the single-instance plugin (a second launch finds the
/// first through it), at `dir/bus`.
fn session_bus(dir: &Path) -> (Process, String) {
    let socket = dir.join("bus");
    let child = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--nopidfile"])
        .arg(format!("--address=unix:path={}", socket.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-daemon is installed");
    let bus = Process(child);
    let deadline = std::time::Instant::now() + WAIT;
    while !socket.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "dbus-daemon did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (bus, format!("unix:path={}", socket.display()))
}

/// Waits until no app holds its single-instance name on the session bus `bus`: the app that
/// was closed is gone, and a new launch will be the one instance, not hand over to it.
fn wait_app_gone(bus: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let names = Command::new("dbus-send")
            .arg(format!("--bus={bus}"))
            .args([
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.ListNames",
            ])
            .output()
            .unwrap();
        assert!(names.status.success(), "dbus-send: {names:?}");
        if !String::from_utf8_lossy(&names.stdout).contains("chat.festival.app") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the closed app still holds its single-instance name"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The app launched again with `link`, as the system does for a clicked invite: it must hand
/// the link to the running app and exit.
fn second_launch(link: &str, env: &[(&str, String)]) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_festival-app"));
    command
        .arg(link)
        .env_remove("FESTIVAL_RELAY_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the second launch failed: {status}");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second launch did not hand over and exit: two instances on one data directory"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The notifications the app raised so far (its test double's file).
fn notifications(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_codes_switching_notifications_invites_and_restart() {
    let _one = ONE_APP_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().join("relay.db"));
    config.public_rooms = ["Main Stage", "Lost & Found"]
        .map(|r| festival_proto::RoomName::parse(r).unwrap())
        .to_vec();
    config.limits.rate_per_sec = 100_000;
    config.limits.rate_burst = 100_000;
    let relay = RelayHandle::start(config).await.unwrap();
    let far = relay_at("127.0.0.1:0".parse().unwrap(), &dir.path().join("far")).await;

    let engine = async |name: &str, url: String| {
        let mut config = EngineConfig::new(url, dir.path().join(name)).with_name(name);
        config.p2p.preferred = PreferredRoute::Relay;
        let (engine, events) = Engine::start(config).await.unwrap();
        (engine, messages_of(events))
    };
    let (bob, _bob_events) = engine("Bob", relay.ws_url()).await;
    bob.join("Main Stage").await.unwrap();

    // The app's relay is its saved setting (not fixed by the environment), so that an invite
    // for another relay can switch it.
    let data = dir.path().join("app");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("settings.json"),
        json!({ "relay_url": relay.ws_url() }).to_string(),
    )
    .unwrap();
    let notify_log = dir.path().join("notifications.jsonl");
    let (_display, display) = virtual_display();
    let (_bus, bus) = session_bus(dir.path());
    let env = [
        ("DISPLAY", display.clone()),
        ("DBUS_SESSION_BUS_ADDRESS", bus.clone()),
        ("FESTIVAL_DATA_DIR", data.display().to_string()),
        ("FESTIVAL_NOTIFY_LOG", notify_log.display().to_string()),
    ];
    let port = free_port();
    let native_port = free_port();
    let mut driver = Command::new("tauri-driver");
    driver
        .args(["--port", &port.to_string()])
        .args(["--native-port", &native_port.to_string()])
        .env_remove("FESTIVAL_RELAY_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in &env {
        driver.env(key, value);
    }
    let _driver = Process(driver.spawn().unwrap());
    let bin = env!("CARGO_BIN_EXE_festival-app");
    let app = Browser::launch(port, native_port, bin).await;
    let mut shots = Shots::default();

    // Errors reach the page as codes it acts on, not as words: a public room tapped before a
    // name is chosen marks the name field; a room name with nothing in it marks the room's.
    let main_stage = control("button", "Main Stage 1 online");
    let your_name = control("textbox", "Your name");
    let error_code = "return document.getElementById('join-error').dataset.code || false;";
    app.click(main_stage).await;
    assert_eq!(
        app.until_script("the no-name error", error_code).await,
        "no_name"
    );
    assert_eq!(
        app.attribute(your_name, "aria-invalid").await.as_deref(),
        Some("true")
    );
    app.type_into(your_name, "Alice").await;
    let room_field = control("textbox", "Room or code");
    app.type_into(room_field, "   ").await;
    app.click(control("button", "Join")).await;
    assert_eq!(
        app.until_script("the invalid-room error", error_code).await,
        "invalid_room"
    );
    assert_eq!(
        app.attribute(room_field, "aria-invalid").await.as_deref(),
        Some("true")
    );
    assert_eq!(app.attribute(your_name, "aria-invalid").await, None);
    app.script("document.getElementById('room').value = '';", json!([]))
        .await;

    // Public rooms with live counts, one tap to join.
    app.wait_for(main_stage).await;
    app.wait_for(control("button", "Lost & Found 0 online"))
        .await;
    shots.take(&app, "6-public-rooms").await;
    app.click(main_stage).await;
    app.wait_for(control("heading", "Main Stage")).await;
    app.wait_for(control("button", "2 online")).await;

    // A new room gets a code from the relay, shown large beside the QR.
    app.click(control("button", "Rooms")).await;
    app.click(control("button", "New room")).await;
    let code = app
        .until_script(
            "a room with a code",
            "const t = document.getElementById('room-title').textContent; \
             return t !== 'Main Stage' && t;",
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        festival_proto::canonical_code(&code).as_deref(),
        Some(code.as_str()),
        "{code}"
    );
    app.wait_for(control("region", "Invite")).await;
    let shown = app
        .script(
            "return document.getElementById('invite-code').textContent;",
            json!([]),
        )
        .await;
    assert_eq!(shown, code.as_str());
    shots.take(&app, "7-new-room-code").await;
    app.click(control("button", "Invite")).await;

    // Carol types the code as she heard it: other case, spaces. Same room.
    let typed = code.replace('-', "  ").to_uppercase();
    let (carol, _carol_events) = engine("Carol", relay.ws_url()).await;
    carol.join(&typed).await.unwrap();
    carol
        .send(&typed, "found you by the code")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    app.until("Carol's message in the code's room", async || {
        let last = app.script(LAST_MESSAGE, json!([])).await;
        last.as_str()?
            .contains("found you by the code")
            .then_some(())
    })
    .await;

    // Messages arrive in Main Stage while the code's room is on screen: unread rises (in the
    // switcher beside the chat on a desktop), a notification is raised for each, and one for
    // Dave joining; none for the room on screen.
    app.resize(DESKTOP.0, DESKTOP.1).await;
    let (dave, _dave_events) = engine("Dave", relay.ws_url()).await;
    dave.join("Main Stage").await.unwrap();
    for n in 1..=2 {
        bob.send("Main Stage", &format!("busy here {n}"))
            .await
            .unwrap();
    }
    let unread = control("button", "Main Stage 2 unread Bob: busy here 2");
    app.wait_for(unread).await;
    shots.take(&app, "8-switcher-unread").await;
    app.resize(DESKTOP.0, DESKTOP.1).await;
    let raised = notifications(&notify_log);
    let about = |n: &serde_json::Value| {
        (
            n["room"].as_str().unwrap().to_owned(),
            n["body"].as_str().unwrap().to_owned(),
        )
    };
    let raised: Vec<_> = raised.iter().map(about).collect();
    for expected in ["busy here 1", "busy here 2", "Dave joined"] {
        assert!(
            raised.contains(&("Main Stage".to_owned(), expected.to_owned())),
            "no notification {expected:?}: {raised:?}"
        );
    }
    assert!(
        raised.iter().all(|(room, _)| room != &code),
        "a notification for the room on screen: {raised:?}"
    );
    app.click(unread).await;
    app.wait_for(control("heading", "Main Stage")).await;
    app.wait_for(control("button", "Main Stage Bob: busy here 2"))
        .await;

    // Muted: a message in Main Stage while another room is on screen counts as unread but
    // raises nothing.
    let mute = control("button", "Mute");
    app.click(mute).await;
    assert_eq!(
        app.attribute(mute, "aria-pressed").await.as_deref(),
        Some("true")
    );
    let code_room = format!("{code} Carol: found you by the code");
    app.click(control("button", &code_room)).await;
    app.wait_for(control("heading", &code)).await;
    bob.send("Main Stage", "while muted").await.unwrap();
    app.wait_for(control(
        "button",
        "Main Stage muted 1 unread Bob: while muted",
    ))
    .await;
    let raised = notifications(&notify_log);
    assert!(
        raised.iter().all(|n| n["body"] != "while muted"),
        "a muted room notified: {raised:?}"
    );

    // Older history: Main Stage fills while another room is on screen, then opens with its
    // newest 200; scrolling to the top reads older pages from this phone's store and puts
    // them above without moving what is being read, down to the room's first message.
    for n in 1..=300 {
        bob.send("Main Stage", &format!("older {n}")).await.unwrap();
    }
    let filled = control("button", "Main Stage muted 301 unread Bob: older 300");
    app.wait_for(filled).await;
    app.click(filled).await;
    app.wait_for(control("heading", "Main Stage")).await;
    let first_body = "const b = document.querySelector('#messages li .body'); \
                      return b && b.textContent;";
    let first = app.until_script("Main Stage's history", first_body).await;
    assert_eq!(first, "older 101", "a room opens with its newest 200");
    let reading = app
        .script(
            "const s = document.getElementById('scroller'); s.scrollTop = 0; \
             return document.querySelector('#messages li').dataset.id;",
            json!([]),
        )
        .await;
    app.until_script(
        "the older page drawn above",
        "return [...document.querySelectorAll('#messages li .body')] \
           .some((b) => b.textContent === 'older 100');",
    )
    .await;
    let top = app.script(TOP_MESSAGE, json!([])).await;
    assert_eq!(
        top["id"], reading,
        "loading older history moved what was read"
    );
    app.until("the room's first message, scrolling up", async || {
        let first = app
            .script(
                &format!("document.getElementById('scroller').scrollTop = 0; {first_body}"),
                json!([]),
            )
            .await;
        (first == "busy here 1").then_some(())
    })
    .await;
    app.wait_for(control("region", "Messages")).await;
    let note = app
        .script(
            "return !document.getElementById('history-start').hidden;",
            json!([]),
        )
        .await;
    assert_eq!(note, true, "the start of the history is said");
    shots.take(&app, "10-older-history").await;
    app.resize(PHONE.0, PHONE.1).await;

    // A festival:// link clicked while the app runs: the second launch hands it over.
    let same_relay = festival_proto::Invite {
        room: festival_proto::RoomName::parse("Lost & Found").unwrap(),
        relay: Some(relay.ws_url()),
        private: None,
    }
    .to_link();
    second_launch(&same_relay, &env);
    app.wait_for(control("heading", "Lost & Found")).await;

    // An invite for another relay: asked first, then that relay is used.
    let (erin, _erin_events) = engine("Erin", far.ws_url()).await;
    erin.join("Far Field").await.unwrap();
    let other_relay = festival_proto::Invite {
        room: festival_proto::RoomName::parse("Far Field").unwrap(),
        relay: Some(far.ws_url()),
        private: None,
    }
    .to_link();
    second_launch(&other_relay, &env);
    app.wait_for(control("alertdialog", "Another relay")).await;
    shots.take(&app, "9-other-relay").await;
    app.click(control("button", "Switch relay and join")).await;
    app.wait_for(control("heading", "Far Field")).await;
    app.wait_for(control("button", "2 online")).await;
    erin.send("Far Field", "over here on the far relay")
        .await
        .unwrap();
    app.until("Erin's message from the other relay", async || {
        let last = app.script(LAST_MESSAGE, json!([])).await;
        last.as_str()?
            .contains("over here on the far relay")
            .then_some(())
    })
    .await;

    // Restart: back in the room it was in, and the switcher shows the unread counts it showed
    // before (counted in the engine's store, not kept by the page): one in Lost & Found, none
    // in the rooms that were read.
    erin.join("Lost & Found").await.unwrap();
    erin.send("Lost & Found", "a phone by the bar")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    let lost_unread = control("button", "Lost & Found 1 unread Erin: a phone by the bar");
    let main_stage_read = control("button", "Main Stage muted Bob: older 300");
    app.resize(DESKTOP.0, DESKTOP.1).await;
    app.wait_for(lost_unread).await;
    app.wait_for(main_stage_read).await;
    app.quit().await;
    wait_app_gone(&bus);
    let app = Browser::launch(port, native_port, bin).await;
    app.wait_for(control("heading", "Far Field")).await;
    app.resize(DESKTOP.0, DESKTOP.1).await;
    app.wait_for(lost_unread).await;
    app.wait_for(main_stage_read).await;
    app.resize(PHONE.0, PHONE.1).await;
    app.until("the room's history after the restart", async || {
        let last = app.script(LAST_MESSAGE, json!([])).await;
        last.as_str()?
            .contains("over here on the far relay")
            .then_some(())
    })
    .await;

    // A link clicked while the app is not running: it starts in the invite's room.
    app.quit().await;
    wait_app_gone(&bus);
    let link = festival_proto::Invite {
        room: festival_proto::RoomName::parse("Near Gate").unwrap(),
        relay: Some(far.ws_url()),
        private: None,
    }
    .to_link();
    let app = Browser::launch_with(port, native_port, bin, &[&link]).await;
    app.wait_for(control("heading", "Near Gate")).await;

    // The page may call the app's own commands, and nothing else: not a plugin's.
    let call = |command: &str| {
        format!(
            "return window.__TAURI__.core.invoke('{command}') \
               .then(() => 'allowed', (e) => 'refused: ' + String(e));"
        )
    };
    assert_eq!(app.script(&call("rooms"), json!([])).await, "allowed");
    // A desktop has no camera scanner: no button for it, and the plugin's scan is refused.
    let scan_button = "return document.getElementById('scan-invite').hidden;";
    assert_eq!(app.script(scan_button, json!([])).await, true);
    for command in [
        "plugin:deep-link|get_current",
        "plugin:notification|is_permission_granted",
        "plugin:barcode-scanner|scan",
    ] {
        let answer = app.script(&call(command), json!([])).await;
        assert!(
            answer.as_str().is_some_and(|a| a.starts_with("refused")),
            "{command}: {answer}"
        );
    }

    shots.assert_accessible();
    app.quit().await;
    for engine in [bob, carol, dave, erin] {
        engine.shutdown().await;
    }
}

/// The text of the power line in the status bar.
const POWER_LINE: &str = "return document.getElementById('power-label').textContent;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_shows_the_power_mode_and_the_persons_choice_changes_it() {
    let _one = ONE_APP_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let relay = relay_at("127.0.0.1:0".parse().unwrap(), dir.path()).await;
    // An engine in the room (which also installs the TLS provider the WebDriver client needs).
    let mut config = EngineConfig::new(relay.ws_url(), dir.path().join("bob")).with_name("Bob");
    config.p2p.preferred = PreferredRoute::Relay;
    let (bob, bob_events) = Engine::start(config).await.unwrap();
    let _bob_events = messages_of(bob_events);
    bob.join("Camp").await.unwrap();

    // The power source: a battery at 55 %, whatever this machine has.
    let (app, _processes) = launch_app(
        dir.path(),
        &relay.ws_url(),
        &[("FESTIVAL_POWER", "battery:55")],
    )
    .await;
    app.type_into(control("textbox", "Your name"), "Alice")
        .await;
    app.type_into(control("textbox", "Room or code"), "Camp")
        .await;
    app.click(control("button", "Join")).await;
    app.wait_for(control("heading", "Camp")).await;
    let line_starting = async |start: &str| {
        app.until(&format!("the power line {start:?}"), async || {
            let line = app.script(POWER_LINE, json!([])).await;
            let line = line.as_str()?;
            line.starts_with(start).then(|| line.to_owned())
        })
        .await
    };
    // The policy's mode for the override's reading (this machine's network is not cellular).
    line_starting("Selective P2P: battery 55 %").await;

    // The person chooses minimal: shown, with what it limits, and applied to the engine.
    app.click(control("button", "Debug")).await;
    app.click(control("radio", "Minimal")).await;
    let line = line_starting("Minimal: battery 55 %").await;
    assert!(line.ends_with("(your choice)"), "{line}");
    app.until_script(
        "what minimal limits",
        "return document.getElementById('power-limits').textContent.includes('no direct links');",
    )
    .await;
    app.until_script(
        "the engine in minimal mode",
        "return document.getElementById('debug-info').textContent.includes('\"mode\": \"minimal\"');",
    )
    .await;
    app.until_script(
        "Minimal checked",
        "return document.querySelector('#power-choice input[value=minimal]').checked;",
    )
    .await;
    let mut shots = Shots::default();
    shots.take(&app, "7-power-mode").await;
    shots.assert_accessible();

    // Auto gives the choice back to the policy.
    app.click(control("radio", "Auto")).await;
    let line = line_starting("Selective P2P: battery 55 %").await;
    assert!(!line.contains("your choice"), "{line}");
    app.until_script(
        "the engine back in selective mode",
        "return document.getElementById('debug-info').textContent.includes('\"mode\": \"selective-p2p\"');",
    )
    .await;
    app.quit().await;
    bob.shutdown().await;
}
