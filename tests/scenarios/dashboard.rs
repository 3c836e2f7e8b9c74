//! The organisers' dashboard in a real browser: headless Chromium loads `/admin` from a real
//! relay with three real engines connected, two of them linked directly. The page shows 3
//! users, 2 P2P-active, 1 link and an edge between the right two devices; a message sent
//! directly moves the route distribution; a wrong token gets 401 and the page says so.
//! Screenshots (phone and desktop) land in `target/dashboard-screenshots/`.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use festival_core::router::PreferredRoute;
use festival_core::{EngineConfig, Route};
use festival_tests::{Browser, Member, TestRelay, WAIT};
use serde_json::{Value, json};

const PHONE: (u32, u32) = (412, 915);
const DESKTOP: (u32, u32) = (1280, 1000);

fn reporting(config: &mut EngineConfig) {
    config.mesh_report = Some(Duration::from_millis(200));
}

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/dashboard-screenshots")
}

/// The text of element `id` once it is `want`.
async fn shows(browser: &Browser, id: &str, want: &str) {
    browser
        .until(
            &format!("#{id} = {want}"),
            "const e = document.getElementById(args[0]); \
             return e && e.textContent.trim() === args[1];",
            json!([id, want]),
        )
        .await;
}

/// Waits until the page shows `share` as the P2P share of messages.
async fn p2p_share_is(browser: &Browser, share: f64) {
    browser
        .until(
            &format!("a P2P share of {share}"),
            "const e = document.getElementById('share-p2p'); \
             return e && Math.abs(Number(e.dataset.share) - args[0]) < 1e-9;",
            json!([share]),
        )
        .await;
}

/// The share of messages shown by the engines that came directly, from their own counters.
async fn measured_p2p_share(members: &[&Member]) -> f64 {
    let (mut p2p, mut total) = (0, 0);
    for member in members {
        let shown = member.engine.stats().await.unwrap().delivered;
        p2p += shown.p2p;
        total += shown.p2p + shown.relay + shown.poll;
    }
    p2p as f64 / total as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_mesh_of_three_engines_live() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start_on("127.0.0.1:0".parse().unwrap(), dir.path(), |config| {
        config.mesh_tick = Duration::from_millis(100);
    })
    .await;
    let url = relay.url();
    let ann = Member::start_with(&url, dir.path(), "Ann", reporting).await;
    let bo = Member::start_with(&url, dir.path(), "Bo", reporting).await;
    // Cy never links directly: everything reaches Cy through the relay.
    let cy = Member::start_with(&url, dir.path(), "Cy", |config| {
        reporting(config);
        config.p2p.preferred = PreferredRoute::Relay;
    })
    .await;
    for member in [&ann, &bo, &cy] {
        member.engine.join("Camp").await.unwrap();
    }
    ann.wait_link_to(bo.device()).await;
    bo.wait_link_to(ann.device()).await;
    // Before any direct message: Cy's message reaches Ann and Bo through the relay.
    let sent = cy
        .engine
        .send("Camp", "meet at the info tent")
        .await
        .unwrap();
    tokio::time::timeout(WAIT, sent.acked())
        .await
        .unwrap()
        .unwrap();
    for member in [&ann, &bo] {
        member.wait_cursor("Camp", 1).await;
    }

    let browser = Browser::start(dir.path()).await;
    browser.resize(PHONE.0, PHONE.1).await;
    let page = format!("http://{}/admin", relay.addr());
    browser
        .goto(&format!("{page}#token={}", relay.admin_token()))
        .await;
    shows(&browser, "users", "3").await;
    shows(&browser, "p2p-active", "2").await;
    shows(&browser, "links", "1").await;
    // The one link opened at its first attempt: no attempt failed.
    shows(&browser, "success", "100 %").await;
    let edges = browser
        .until(
            "one edge",
            "const lines = [...document.querySelectorAll('#topology line')]; \
             return lines.length ? lines.map((l) => [l.dataset.a, l.dataset.b, l.dataset.state]) : null;",
            json!([]),
        )
        .await;
    let mut ends = [ann.device().to_string(), bo.device().to_string()];
    ends.sort();
    assert_eq!(
        edges,
        json!([[ends[0], ends[1], "open"]]),
        "the edge joins Ann and Bo"
    );
    let nodes = browser
        .call(
            "return [...document.querySelectorAll('#topology circle')].length;",
            json!([]),
        )
        .await;
    assert_eq!(nodes, 3);
    let before = browser
        .until(
            "the relay's share",
            "const e = document.getElementById('share-relay'); \
             return e && Number(e.dataset.share) > 0 ? Number(document.getElementById('share-p2p').dataset.share) : null;",
            json!([]),
        )
        .await
        .as_f64()
        .unwrap();
    assert_eq!(before, 0.0, "nothing came directly yet");
    browser.screenshot(&shots(), "dashboard-phone-before").await;

    // A direct message: Bo gets it over the link, Cy through the relay.
    let sent = ann.engine.send("Camp", "stage two in five").await.unwrap();
    let id = sent.id;
    tokio::time::timeout(WAIT, sent.acked())
        .await
        .unwrap()
        .unwrap();
    let route = bo
        .until("Ann's message", |events| {
            Member::routes_of(events, id).first().copied()
        })
        .await;
    assert_eq!(route, Route::P2p);
    for member in [&bo, &cy] {
        member.wait_cursor("Camp", 2).await;
    }
    let after = measured_p2p_share(&[&ann, &bo, &cy]).await;
    assert!(after > 0.0, "Bo's copy came directly");
    p2p_share_is(&browser, after).await;
    browser.screenshot(&shots(), "dashboard-phone-after").await;
    for section in [
        "topology-title",
        "routes-title",
        "charts-title",
        "rooms-title",
        "actions-title",
    ] {
        browser
            .call(
                "document.getElementById(args[0]).scrollIntoView(); return null;",
                json!([section]),
            )
            .await;
        browser
            .screenshot(&shots(), &format!("dashboard-phone-{section}"))
            .await;
    }
    browser.resize(DESKTOP.0, DESKTOP.1).await;
    browser.screenshot(&shots(), "dashboard-desktop").await;
    let wide = browser
        .call(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            json!([]),
        )
        .await;
    assert_eq!(wide, true, "no sideways scrolling");
    browser.resize(PHONE.0, PHONE.1).await;
    let narrow = browser
        .call(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            json!([]),
        )
        .await;
    assert_eq!(narrow, true, "no sideways scrolling on a phone");

    // A wrong token: the API answers 401 and nothing else, and the page asks again.
    let wrong = reqwest::Client::new()
        .get(format!("http://{}/admin/api/mesh", relay.addr()))
        .header("authorization", "Bearer fca_00000000_not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.text().await.unwrap(), "");
    browser
        .call("sessionStorage.clear(); return null;", json!([]))
        .await;
    browser.goto(&format!("{page}#token=wrong")).await;
    browser
        .call("location.reload(); return null;", json!([]))
        .await;
    shows(&browser, "status", "Wrong or missing token").await;
    let hidden: Value = browser
        .call(
            "return [document.getElementById('dashboard').hidden, document.getElementById('users').textContent];",
            json!([]),
        )
        .await;
    assert_eq!(
        hidden,
        json!([true, "–"]),
        "no figure reaches a page without the token"
    );
    browser.screenshot(&shots(), "dashboard-wrong-token").await;
    browser.quit().await;
    for member in [ann, bo, cy] {
        member.engine.shutdown().await;
    }
}
