//! A browser as a third-party peer: `tests/browser/peer.html`, a page written from
//! docs/protocol.md alone, runs in headless Chromium (driven over WebDriver) and links with a
//! real engine through a real relay, once offering and once answering. Each message crosses
//! exactly once, the channel opens soon after joining (the figures are printed), the page's
//! host candidates are mDNS names and the engine's include no loopback one, and the engine's
//! default log filter prints nothing for a normal link.
//!
//! The test runs in a network namespace of its own (`unshare`), with loopback and one veth
//! interface: the engine runs as in production (every interface but loopback), mDNS queries
//! stay inside, and nothing reaches the machine's network.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use festival_core::Route;
use festival_proto::{DeviceId, MessageId};
use festival_tests::{Browser, Member, TestRelay, WAIT, netns};
use serde_json::{Value, json};

const TEST: &str = "chromium_links_with_the_engine_in_both_roles_and_each_message_crosses_once";

#[test]
fn chromium_links_with_the_engine_in_both_roles_and_each_message_crosses_once() {
    if !netns::inside() {
        netns::run_test_inside(TEST);
        return;
    }
    set_up_network();
    let logs = capture_default_logs();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(scenario());
    let printed = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        printed.is_empty(),
        "the default log filter printed lines for normal links:\n{printed}"
    );
}

/// Loopback, and a veth interface with an address and the default route, as on a LAN (a
/// browser that may not list interfaces uses the default route's); no name server, so that
/// Chromium's lookups fail at once instead of timing out (10 s) on one it cannot reach.
fn set_up_network() {
    for (program, args) in [
        ("ip", "link set lo up"),
        ("ip", "link add festival0 type veth peer name festival1"),
        ("ip", "addr add 10.77.0.1/24 dev festival0"),
        ("ip", "link set festival0 up"),
        ("ip", "link set festival1 up"),
        ("ip", "route add default dev festival0"),
        ("mount", "--bind /dev/null /etc/resolv.conf"),
    ] {
        netns::run(program, args);
    }
}

/// Installs a subscriber with the engine's default filter, as the CLI and the app do, that
/// keeps what it would print.
fn capture_default_logs() -> Arc<Mutex<Vec<u8>>> {
    #[derive(Clone)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured(Arc::default());
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            festival_core::LOG_FILTER,
        ))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    captured.0
}

async fn scenario() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path()).await;
    // As in production: every interface but loopback, mDNS lookups on.
    let member = Member::start_with(&relay.url(), dir.path(), "Eve", |config| {
        config.p2p.loopback_only = false;
    })
    .await;
    let browser = Browser::start(dir.path()).await;

    let mut figures = Vec::new();
    // The page makes keys until its device id is below (then above) the engine's, so that
    // each role is chosen.
    for (role, below) in [("browser offers", true), ("engine offers", false)] {
        let room = format!("Role {}", figures.len() + 1);
        member.engine.join(&room).await.unwrap();
        browser.goto(&peer_page()).await;
        let device = browser
            .call(
                "return festival.start(args[0], args[1], args[2], args[3], args[4]);",
                json!([relay.url(), member.device(), below, "Chromium", room]),
            )
            .await;
        let device: DeviceId = device.as_str().unwrap().parse().unwrap();
        let browser_offers = device < member.device();
        assert_eq!(browser_offers, role == "browser offers");
        let open = wait_for(&browser, "open", None).await;
        let ms = open["ms"].as_f64().unwrap();
        member.wait_link_to(device).await;
        figures.push(format!("{role}: join to open channel {ms:.0} ms"));

        // The browser gathers mDNS host candidates; the engine offers no loopback one.
        if browser_offers {
            let offered = wait_for(&browser, "offered", None).await;
            let events = browser.call("return festival.events;", json!([])).await;
            assert!(
                offered["sdp"].as_str().unwrap().contains(".local"),
                "{offered} {events:#}"
            );
        } else {
            let offer = wait_for(&browser, "offer", None).await;
            let sdp = offer["sdp"].as_str().unwrap();
            assert!(sdp.contains("a=candidate"), "{sdp}");
            assert!(
                !sdp.contains(" 127.0.0.1 ") && !sdp.contains(" ::1 "),
                "a loopback candidate: {sdp}"
            );
        }

        // Browser to engine: directly, numbered by the relay, shown once.
        let said = browser
            .call(
                "return festival.say(args[0]);",
                json!(["hello from Chromium"]),
            )
            .await;
        assert_eq!(said["direct"], json!([member.device()]), "{said}");
        let from_browser: MessageId = said["id"].as_str().unwrap().parse().unwrap();
        wait_for(&browser, "ack", Some(from_browser)).await;
        let route = member
            .until("the browser's message", |events| {
                Member::routes_of(events, from_browser).first().copied()
            })
            .await;
        assert_eq!(route, Route::P2p);

        // Engine to browser: the same.
        let sent = member
            .engine
            .send(&room, "hello from the engine")
            .await
            .unwrap();
        let from_engine = sent.id;
        tokio::time::timeout(WAIT, sent.acked())
            .await
            .unwrap()
            .unwrap();
        let shown = wait_for(&browser, "message", Some(from_engine)).await;
        assert_eq!(shown["route"], "p2p", "{shown}");
        // The relay sends the browser the number instead of a second copy.
        wait_for(&browser, "sequenced", Some(from_engine)).await;

        // Once the engine has both numbers, no copy is on its way any more.
        member.wait_cursor(&room, 2).await;
        let events = member.events();
        assert_eq!(Member::routes_of(&events, from_browser), vec![Route::P2p]);
        assert_eq!(
            Member::routes_of(&events, from_engine).len(),
            1,
            "its own, once"
        );
        let events = browser.call("return festival.events;", json!([])).await;
        let count = |kind: &str, id: MessageId| {
            events
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["kind"] == kind && e["id"] == json!(id))
                .count()
        };
        assert_eq!(
            (
                count("message", from_engine),
                count("direct_copy", from_engine),
                count("relay_copy", from_engine),
            ),
            (1, 1, 0),
            "{events:#}"
        );
    }
    browser.quit().await;
    member.engine.shutdown().await;
    println!("chromium, {}", figures.join("; "));
}

/// The peer page, from this crate's folder.
fn peer_page() -> String {
    format!(
        "file://{}/scenarios/browser/peer.html",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The page's first event of `kind` (about message `id`, if given), waiting for it.
async fn wait_for(browser: &Browser, kind: &str, id: Option<MessageId>) -> Value {
    let script = "const [kind, id, ms, done] = arguments; \
         festival.waitFor(kind, id ? (e) => e.id === id : null, ms).then(done);";
    let event = browser
        .call_async(script, json!([kind, id, WAIT.as_millis() as u64]))
        .await;
    if event.is_null() {
        let events = browser.call("return festival.events;", json!([])).await;
        panic!("the page saw no {kind} event ({id:?}); its events: {events:#}");
    }
    event
}
