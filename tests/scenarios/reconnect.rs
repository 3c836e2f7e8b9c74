//! The engine against a real relay that goes away and comes back: every message arrives once,
//! in order, and what was sent while the relay was down is delivered when it returns.

#![allow(clippy::unwrap_used)]

use festival_core::{Engine, EngineConfig, Event, Events};
use festival_tests::{TestRelay, WAIT, wait_for};

async fn engine(relay: &TestRelay, dir: &tempfile::TempDir, name: &str) -> (Engine, Events) {
    let config = EngineConfig::new(relay.url(), dir.path().join(name)).with_name(name);
    Engine::start(config).await.unwrap()
}

async fn bodies(events: &mut Events, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        got.push(
            wait_for(events, |e| match e {
                Event::Message { message, .. } => Some(message.body),
                _ => None,
            })
            .await,
        );
    }
    got
}

fn joined(room: &str) -> impl FnMut(Event) -> Option<usize> + '_ {
    move |e| match e {
        Event::Joined {
            room: r, members, ..
        } if r.as_str() == room => Some(members.len()),
        _ => None,
    }
}

#[tokio::test]
async fn messages_sent_while_the_relay_was_down_arrive_once_and_in_order() {
    let relay_dir = tempfile::tempdir().unwrap();
    let mut relay = TestRelay::start(relay_dir.path()).await;
    let dirs = tempfile::tempdir().unwrap();
    let (alice, mut alice_events) = engine(&relay, &dirs, "alice").await;
    let (bob, mut bob_events) = engine(&relay, &dirs, "bob").await;
    alice.join("Camp").await.unwrap();
    bob.join("Camp").await.unwrap();
    wait_for(&mut alice_events, joined("Camp")).await;
    wait_for(&mut bob_events, joined("Camp")).await;

    alice
        .send("Camp", "before")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    assert_eq!(bodies(&mut bob_events, 1).await, ["before"]);

    relay.stop().await;
    wait_for(&mut alice_events, |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    })
    .await;
    let mut pending = Vec::new();
    for body in ["while", "the relay", "was down"] {
        pending.push(alice.send("Camp", body).await.unwrap());
    }
    relay.start_again().await;

    let mut seqs = Vec::new();
    for p in pending {
        seqs.push(
            tokio::time::timeout(WAIT, p.acked())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "in order: {seqs:?}"
    );
    assert_eq!(
        bodies(&mut bob_events, 3).await,
        ["while", "the relay", "was down"]
    );

    // Nothing arrives twice: the next message Bob sees is the next one sent.
    alice
        .send("Camp", "after")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    assert_eq!(bodies(&mut bob_events, 1).await, ["after"]);
    alice.shutdown().await;
    bob.shutdown().await;
}

#[tokio::test]
async fn a_reader_that_was_offline_catches_up_from_where_it_stopped() {
    let relay_dir = tempfile::tempdir().unwrap();
    let mut relay = TestRelay::start(relay_dir.path()).await;
    let dirs = tempfile::tempdir().unwrap();
    let (alice, mut alice_events) = engine(&relay, &dirs, "alice").await;
    alice.join("Camp").await.unwrap();
    wait_for(&mut alice_events, joined("Camp")).await;
    let (bob, mut bob_events) = engine(&relay, &dirs, "bob").await;
    bob.join("Camp").await.unwrap();
    wait_for(&mut bob_events, joined("Camp")).await;
    alice
        .send("Camp", "one")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    assert_eq!(bodies(&mut bob_events, 1).await, ["one"]);

    // The relay restarts; Alice's engine reconnects first and sends two more. Bob's engine
    // reconnects on its own backoff and asks for what followed "one".
    relay.stop().await;
    relay.start_again().await;
    for body in ["two", "three"] {
        let pending = alice.send("Camp", body).await.unwrap();
        tokio::time::timeout(WAIT, pending.acked())
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(bodies(&mut bob_events, 2).await, ["two", "three"]);
    alice
        .send("Camp", "four")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    assert_eq!(
        bodies(&mut bob_events, 1).await,
        ["four"],
        "no replays of older messages"
    );
}

#[tokio::test]
async fn the_device_id_survives_a_restart_of_the_engine() {
    let relay_dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(relay_dir.path()).await;
    let dirs = tempfile::tempdir().unwrap();
    let (first, _) = engine(&relay, &dirs, "alice").await;
    let device = first.identity().device;
    first.shutdown().await;
    let config = EngineConfig::new(relay.url(), dirs.path().join("alice"));
    let (again, _) = Engine::start(config).await.unwrap();
    assert_eq!(again.identity().device, device);
    assert_eq!(
        again.identity().name.as_str(),
        "alice",
        "the name was saved too"
    );
}

#[tokio::test]
async fn a_refused_message_fails_its_sender_with_the_relay_code() {
    let relay_dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(relay_dir.path()).await;
    let dirs = tempfile::tempdir().unwrap();
    let (alice, mut events) = engine(&relay, &dirs, "alice").await;
    alice.join("Camp").await.unwrap();
    wait_for(&mut events, joined("Camp")).await;
    let error = alice.send("Camp", "\u{1b}[2J").await.unwrap_err();
    assert!(
        matches!(error, festival_core::EngineError::Invalid(ref e) if e.code == festival_proto::ErrorCode::InvalidBody),
        "{error}"
    );
    let error = alice
        .send("Backstage", "hi")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap_err();
    assert!(
        matches!(error, festival_core::EngineError::NotJoined(_)),
        "{error}"
    );
}

#[tokio::test]
async fn a_wss_url_to_a_server_without_tls_fails_cleanly_and_keeps_retrying() {
    // Something that accepts TCP and speaks no TLS: the handshake fails, nothing panics.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = socket.write_all(b"HTTP/1.1 400 no\r\n\r\n").await;
        }
    });
    let dirs = tempfile::tempdir().unwrap();
    let config =
        EngineConfig::new(format!("wss://{addr}/ws"), dirs.path().join("a")).with_name("A");
    let (_engine, mut events) = Engine::start(config).await.unwrap();
    for _ in 0..2 {
        let reason = wait_for(&mut events, |e| match e {
            Event::Disconnected { reason, .. } => Some(reason),
            _ => None,
        })
        .await;
        assert!(reason.contains("cannot reach the relay"), "{reason}");
    }
}
