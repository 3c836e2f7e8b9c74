//! P2P against the relay, side by side in one run on loopback (release build, real WebRTC, a
//! real relay, real SQLite stores):
//!
//! - P2P connect time: from the second member's join to an open data channel, p50 and p99;
//! - message round trip through two engines (one sends, the other answers when it sees it,
//!   the first times until it sees the answer), p50 and p99, over P2P and over the relay;
//! - relay outbound traffic for the same chat in a room whose members are all linked
//!   directly, against one where they are not.
//!
//! `cargo bench -p festival-core --bench p2p`

// A benchmark measures wall-clock time.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::path::Path;
use std::time::{Duration, Instant};

use festival_core::router::PreferredRoute;
use festival_core::{Engine, EngineConfig, Event, Route};
use festival_relay::{Config, RelayHandle};
use tokio::sync::mpsc;

const CONNECTS: usize = 30;
const ROUND_TRIPS: usize = 500;
const ROOM_MEMBERS: usize = 6;
const ROOM_MESSAGES: usize = 96;
const WAIT: Duration = Duration::from_secs(30);

/// An engine whose events are read by a task; chat messages and link openings come out on
/// channels.
struct Member {
    engine: Engine,
    messages: mpsc::Receiver<(String, Route)>,
    links: mpsc::Receiver<()>,
}

async fn member(url: &str, dir: &Path, name: &str, preferred: PreferredRoute) -> Member {
    let mut config = EngineConfig::new(url, dir.join(name)).with_name(name);
    config.p2p.loopback_only = true;
    config.p2p.preferred = preferred;
    let (engine, mut events) = Engine::start(config).await.unwrap();
    let (message_tx, messages) = mpsc::channel(4096);
    let (link_tx, links) = mpsc::channel(64);
    let me = engine.identity().device;
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                Event::Message { message, route, .. } if message.sender != me => {
                    let _ = message_tx.send((message.body, route)).await;
                }
                Event::Peer { open: true, .. } => {
                    let _ = link_tx.send(()).await;
                }
                _ => {}
            }
        }
    });
    Member {
        engine,
        messages,
        links,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn summary(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

/// Join of the second member to the first open link, in milliseconds, `CONNECTS` times.
async fn connect_times(url: &str, dir: &Path) -> Vec<f64> {
    let mut times = Vec::with_capacity(CONNECTS);
    for i in 0..CONNECTS {
        let room = format!("Connect {i}");
        let mut a = member(url, dir, &format!("a{i}"), PreferredRoute::Auto).await;
        let b = member(url, dir, &format!("b{i}"), PreferredRoute::Auto).await;
        a.engine.join(&room).await.unwrap();
        // Let A's join land first, as when a friend arrives.
        a.engine.members(&room).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let start = Instant::now();
        b.engine.join(&room).await.unwrap();
        tokio::time::timeout(WAIT, a.links.recv())
            .await
            .unwrap()
            .unwrap();
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        a.engine.shutdown().await;
        b.engine.shutdown().await;
    }
    times
}

/// Round trips between two members preferring `preferred`, in milliseconds.
async fn round_trips(
    url: &str,
    dir: &Path,
    tag: &str,
    preferred: PreferredRoute,
    expect: Route,
) -> Vec<f64> {
    let room = format!("Echo {tag}");
    let mut a = member(url, dir, &format!("echo-a-{tag}"), preferred).await;
    let mut b = member(url, dir, &format!("echo-b-{tag}"), preferred).await;
    a.engine.join(&room).await.unwrap();
    b.engine.join(&room).await.unwrap();
    if expect == Route::P2p {
        tokio::time::timeout(WAIT, a.links.recv())
            .await
            .unwrap()
            .unwrap();
    }
    // Warm up (and let B's join reach A) before timing.
    a.engine
        .send(&room, "warm")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    tokio::time::timeout(WAIT, b.messages.recv()).await.unwrap();
    let mut times = Vec::with_capacity(ROUND_TRIPS);
    for i in 0..ROUND_TRIPS {
        let ping = format!("ping {i}");
        let start = Instant::now();
        a.engine.send(&room, &ping).await.unwrap();
        let (body, route) = tokio::time::timeout(WAIT, b.messages.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((body.as_str(), route), (ping.as_str(), expect));
        b.engine.send(&room, &format!("pong {i}")).await.unwrap();
        let (body, route) = tokio::time::timeout(WAIT, a.messages.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((body, route), (format!("pong {i}"), expect));
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        // Stay inside the relay's rate limit (20 frames/s sustained, 100 burst) over the run.
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    a.engine.shutdown().await;
    b.engine.shutdown().await;
    times
}

/// Relay fan-out bytes for `ROOM_MESSAGES` messages in a room of `ROOM_MEMBERS`.
async fn fanout_bytes(
    relay: &RelayHandle,
    dir: &Path,
    tag: &str,
    preferred: PreferredRoute,
) -> u64 {
    let url = relay.ws_url();
    let room = format!("Fan-out {tag}");
    let mut members = Vec::new();
    for i in 0..ROOM_MEMBERS {
        let m = member(&url, dir, &format!("fan-{tag}-{i}"), preferred).await;
        m.engine.join(&room).await.unwrap();
        members.push(m);
    }
    if preferred != PreferredRoute::Relay {
        for m in &mut members {
            for _ in 1..ROOM_MEMBERS {
                tokio::time::timeout(WAIT, m.links.recv())
                    .await
                    .unwrap()
                    .unwrap();
            }
        }
    }
    let before = metric(relay, "festival_fanout_bytes_total").await;
    let body = "x".repeat(200);
    for i in 0..ROOM_MESSAGES {
        let sender = &members[i % ROOM_MEMBERS];
        sender
            .engine
            .send(&room, &body)
            .await
            .unwrap()
            .acked()
            .await
            .unwrap();
    }
    for m in &mut members {
        for _ in 0..ROOM_MESSAGES - ROOM_MESSAGES / ROOM_MEMBERS {
            tokio::time::timeout(WAIT, m.messages.recv())
                .await
                .unwrap()
                .unwrap();
        }
    }
    // Every frame is queued before the sender's ack goes out: nothing more is coming.
    let after = metric(relay, "festival_fanout_bytes_total").await;
    for m in members {
        m.engine.shutdown().await;
    }
    after - before
}

async fn metric(relay: &RelayHandle, name: &str) -> u64 {
    let text = reqwest::get(format!("http://{}/metrics", relay.local_addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().join("relay.db"));
        // The benchmark's echo runs faster than a person types; the relay's default rate
        // limit would measure the pacing instead of the route.
        config.limits.rate_per_sec = 100_000;
        config.limits.rate_burst = 100_000;
        let relay = RelayHandle::start(config).await.unwrap();
        let url = relay.ws_url();

        let (connect_p50, connect_p99) = summary(connect_times(&url, dir.path()).await);
        let (p2p_p50, p2p_p99) =
            summary(round_trips(&url, dir.path(), "p2p", PreferredRoute::Auto, Route::P2p).await);
        let (relay_p50, relay_p99) = summary(
            round_trips(
                &url,
                dir.path(),
                "relay",
                PreferredRoute::Relay,
                Route::Relay,
            )
            .await,
        );
        let direct = fanout_bytes(&relay, dir.path(), "p2p", PreferredRoute::Auto).await;
        let relayed = fanout_bytes(&relay, dir.path(), "relay", PreferredRoute::Relay).await;

        println!(
            "P2P vs relay on loopback, {} cores, release",
            std::thread::available_parallelism().map_or(0, usize::from)
        );
        println!(
            "{:<44} {:>10} {:>10} {:>8}",
            "figure", "p2p", "relay", "ratio"
        );
        println!(
            "{:<44} {:>10.2} {:>10} {:>8}",
            format!("connect, join to open channel p50 (ms, n={CONNECTS})"),
            connect_p50,
            "-",
            "-"
        );
        println!(
            "{:<44} {:>10.2} {:>10} {:>8}",
            "connect, join to open channel p99 (ms)", connect_p99, "-", "-"
        );
        println!(
            "{:<44} {:>10.3} {:>10.3} {:>8.2}",
            format!("round trip p50 (ms, n={ROUND_TRIPS})"),
            p2p_p50,
            relay_p50,
            relay_p50 / p2p_p50
        );
        println!(
            "{:<44} {:>10.3} {:>10.3} {:>8.2}",
            "round trip p99 (ms)",
            p2p_p99,
            relay_p99,
            relay_p99 / p2p_p99
        );
        println!(
            "{:<44} {:>10} {:>10} {:>8.2}",
            format!("relay fan-out bytes, {ROOM_MEMBERS} members x {ROOM_MESSAGES} msgs"),
            direct,
            relayed,
            relayed as f64 / direct as f64
        );
        println!(
            "relay outbound traffic with every member linked directly: {:.0} % less",
            100.0 * (1.0 - direct as f64 / relayed as f64)
        );
        relay.shutdown().await.unwrap();
    });
}
