//! The relay as an operator runs it: health and metrics endpoints, and the real binary
//! stopping on SIGTERM with "going away" and its data intact.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use festival_proto::{ClientFrame, Ping, ServerFrame};
use support::{Client, Ended, http_get, metrics_show, spawn_relay, spawn_relay_with};

#[tokio::test]
async fn healthz_answers_and_metrics_count_what_happened() {
    let relay = spawn_relay().await;
    let addr = relay.config.listen;
    assert_eq!(http_get(addr, "/healthz").await.0, 200);

    let (mut alice, _) = Client::hello(&relay.url(), "Alice").await;
    alice.join("Camp").await;
    alice.chat("Camp", "counted").await;
    alice.send_text("garbage").await;
    alice.error().await;

    let (status, text) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    for series in [
        "festival_connections 1",
        "festival_rooms 1",
        "festival_members 1",
        "festival_messages_relayed_total 1",
        "festival_messages_stored_total 1",
        "festival_messages_delivered_total 1",
        "festival_errors_total{code=\"malformed\"} 1",
    ] {
        assert!(text.contains(series), "metrics lack {series:?}:\n{text}");
    }
}

#[tokio::test]
async fn the_binary_stops_on_sigterm_with_going_away_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let start = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_festival-relay"))
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("relay binary starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the relay prints its address");
        let url = line.trim().rsplit(' ').next().unwrap().to_owned();
        assert!(url.starts_with("ws://127.0.0.1:"), "{line}");
        (child, url)
    };

    let (mut relay, url) = start();
    let (mut alice, _) = Client::hello(&url, "Alice").await;
    alice.join("Camp").await;
    alice.chat("Camp", "kept across the restart").await;

    let term = Command::new("kill")
        .args(["-TERM", &relay.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert_eq!(alice.until_closed().await.0, Ended::Closed(1001));
    let status = tokio::task::spawn_blocking(move || relay.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status}");

    let (mut relay, url) = start();
    let (mut bob, _) = Client::hello(&url, "Bob").await;
    let joined = bob.join("Camp").await;
    assert_eq!(joined.history.len(), 1);
    assert_eq!(joined.history[0].body, "kept across the restart");
    relay.kill().unwrap();
    relay.wait().unwrap();
}

#[tokio::test]
async fn a_silent_connection_is_dropped_while_one_that_answers_pings_stays() {
    let relay = spawn_relay_with(|c| {
        c.ping_interval = Duration::from_millis(50);
        c.idle_timeout = Duration::from_millis(300);
    })
    .await;
    let (mut silent, _) = Client::hello(&relay.url(), "Silent").await;
    let (mut awake, _) = Client::hello(&relay.url(), "Awake").await;

    // The awake client only reads (its WebSocket answers the relay's pings); the silent one
    // does not even do that. Silence for several idle timeouts is what is under test here.
    let awake_reads = tokio::spawn(async move {
        let silence = tokio::time::sleep(Duration::from_millis(1200));
        tokio::pin!(silence);
        tokio::select! {
            () = &mut silence => {}
            frame = awake.next() => panic!("nothing was sent to the awake client, got {frame:?}"),
        }
        awake
    });
    let mut awake = awake_reads.await.expect("the awake client kept reading");
    // The close frame is in the silent client's buffer, but its socket may fail first on the
    // pongs it owes: either way the relay ended it (until_closed fails if nothing ends).
    let ended = silent.until_closed().await.0;
    assert!(
        matches!(ended, Ended::Closed(1000) | Ended::Dropped),
        "{ended:?}"
    );
    metrics_show(relay.config.listen, "festival_idle_disconnects_total 1").await;

    awake
        .send(&ClientFrame::Ping(Ping {
            nonce: 7,
            keepalive_s: None,
        }))
        .await;
    match awake.next().await {
        ServerFrame::Pong(pong) => assert_eq!(pong.nonce, 7),
        other => panic!("expected a pong, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_keeping_itself_alive_is_pinged_and_dropped_on_its_own_schedule_within_the_bound()
{
    let relay = spawn_relay_with(|c| {
        c.ping_interval = Duration::from_millis(50);
        c.idle_timeout = Duration::from_millis(300);
        c.max_keepalive = Duration::from_secs(1);
    })
    .await;
    let ask = |nonce| {
        ClientFrame::Ping(Ping {
            nonce,
            keepalive_s: Some(3600),
        })
    };
    let granted = |pong: ServerFrame| match pong {
        ServerFrame::Pong(pong) => pong.keepalive_s,
        other => panic!("expected a pong, got {other:?}"),
    };
    let (mut awake, _) = Client::hello(&relay.url(), "Awake").await;
    let (mut silent, _) = Client::hello(&relay.url(), "Silent").await;
    let asked = tokio::time::Instant::now();
    awake.send(&ask(1)).await;
    silent.send(&ask(2)).await;
    assert_eq!(
        granted(awake.next().await),
        Some(1),
        "an hour asked, the bound granted"
    );
    assert_eq!(granted(silent.next().await), Some(1));

    // Pinged only after two granted seconds of silence (not every 50 ms), and again two
    // seconds after it answered; open all along, far past the 300 ms default limit.
    let awake_reads = tokio::spawn(async move {
        assert!(awake.relay_ping().await, "open until the first ping");
        let first = asked.elapsed();
        assert!(awake.relay_ping().await, "open until the second ping");
        (first, asked.elapsed())
    });
    // Silent but for its ask: still open after 1.5 s (nothing came, not even a ping), closed
    // three granted seconds after it was last heard.
    assert!(!silent.ended_within(Duration::from_millis(1500)).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ended = silent.until_closed().await.0;
    assert!(
        matches!(ended, Ended::Closed(1000) | Ended::Dropped),
        "{ended:?}"
    );
    let (first, second) = awake_reads
        .await
        .expect("the awake client was pinged twice");
    assert!(
        first >= Duration::from_secs(2),
        "first ping after {first:?}"
    );
    assert!(
        second >= first + Duration::from_secs(2),
        "second after {second:?}"
    );
    metrics_show(relay.config.listen, "festival_idle_disconnects_total 1").await;
}
