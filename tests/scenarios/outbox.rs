//! The outbox under load: ten thousand messages typed with the relay down are all delivered,
//! once each and in the order they were typed, when it comes up.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use festival_core::{Engine, EngineConfig, Event};
use festival_tests::{TestRelay, free_addr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_queued_offline_are_flushed_in_order() {
    const N: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let url = format!("ws://{addr}/ws");

    let (alice, mut alice_events) =
        Engine::start(EngineConfig::new(&url, dir.path().join("alice")).with_name("Alice"))
            .await
            .unwrap();
    // An app keeps reading its events; the engine waits for it when it does not.
    tokio::spawn(async move { while alice_events.next().await.is_some() {} });
    alice.join("Camp").await.unwrap();
    let mut pending = Vec::with_capacity(N);
    for i in 0..N {
        pending.push(alice.send("Camp", &format!("m{i}")).await.unwrap());
    }
    assert_eq!(alice.pending().await.unwrap(), N);

    let _relay = TestRelay::start_on(addr, dir.path(), |config| {
        config.limits.rate_per_sec = 100_000;
        config.limits.rate_burst = 100_000;
    })
    .await;

    let mut last = 0;
    for (i, p) in pending.into_iter().enumerate() {
        let seq = tokio::time::timeout(Duration::from_secs(120), p.acked())
            .await
            .unwrap()
            .unwrap();
        assert!(
            seq > last,
            "message {i} got seq {seq} after {last}: out of order"
        );
        last = seq;
    }
    assert_eq!(last, N as u64, "each stored once: seqs 1..={N}");

    // A reader joining afterwards sees them in typed order.
    let (bob, mut events) =
        Engine::start(EngineConfig::new(&url, dir.path().join("bob")).with_name("Bob"))
            .await
            .unwrap();
    bob.join("Camp").await.unwrap();
    let mut next = N - 500; // without `since`, a first join replays the newest page (500)
    while next < N {
        let event = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .unwrap()
            .unwrap();
        if let Event::Message { message, .. } = event {
            assert_eq!(message.body, format!("m{next}"));
            next += 1;
        }
    }
}
