//! When no WebSocket can be opened (a proxy that blocks upgrades), the engine chats over the
//! relay's HTTP long-poll, and moves back to the WebSocket once it can.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use festival_core::router::PreferredRoute;
use festival_core::{Engine, EngineConfig, Event, Route};
use festival_tests::{Line, TestRelay, WAIT, wait_for};

#[tokio::test]
async fn with_websockets_blocked_the_engine_chats_over_long_poll_and_returns_to_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path()).await;
    let line = Line::start(relay.addr()).await;
    line.refuse_upgrades(true);

    // Bob is on the relay directly; Alice only reaches it through the proxy. Both stay off
    // P2P, which would otherwise carry their messages around the relay.
    let mut config = EngineConfig::new(relay.url(), dir.path().join("bob")).with_name("Bob");
    config.p2p.preferred = PreferredRoute::Relay;
    let (bob, mut bob_events) = Engine::start(config).await.unwrap();
    bob.join("Camp").await.unwrap();
    let mut config = EngineConfig::new(line.url(), dir.path().join("alice")).with_name("Alice");
    config.socket_retry_while_polling = Duration::from_millis(300);
    config.p2p.preferred = PreferredRoute::Relay;
    let (alice, mut alice_events) = Engine::start(config).await.unwrap();
    alice.join("Camp").await.unwrap();

    wait_for(&mut alice_events, |e| {
        (e == Event::RouteChanged {
            route: Some(Route::Poll),
        })
        .then_some(())
    })
    .await;
    let seq = tokio::time::timeout(
        WAIT,
        alice.send("Camp", "over long-poll").await.unwrap().acked(),
    )
    .await
    .unwrap()
    .unwrap();
    let got = wait_for(&mut bob_events, |e| match e {
        Event::Message { message, .. } if message.body == "over long-poll" => Some(message),
        _ => None,
    })
    .await;
    assert_eq!((got.seq, got.from.as_str()), (Some(seq), "Alice"));

    bob.send("Camp", "to the poller")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    let route = wait_for(&mut alice_events, |e| match e {
        Event::Message { message, route, .. } if message.body == "to the poller" => Some(route),
        _ => None,
    })
    .await;
    assert_eq!(route, Route::Poll);
    let stats = alice.stats().await.unwrap();
    assert_eq!((stats.route, stats.fallbacks), (Some(Route::Poll), 1));
    assert!(
        stats.delivered.poll >= 2 && stats.delivered.relay == 0,
        "{stats:?}"
    );
    // Its traffic is counted like the socket's: hello, join and the chat out; the welcome,
    // joined, ack and both chats in (the challenge came before the session did).
    let traffic = stats.traffic;
    assert!(
        traffic.sent.frames.poll >= 3 && traffic.received.frames.poll >= 5,
        "{traffic:?}"
    );
    assert!(
        traffic.sent.bytes.poll >= 10 * traffic.sent.frames.poll
            && traffic.received.bytes.poll >= 10 * traffic.received.frames.poll,
        "{traffic:?}"
    );
    assert_eq!(
        (traffic.sent.frames.relay, traffic.received.frames.relay),
        (0, 0),
        "{traffic:?}"
    );
    let routes = alice.diagnostics().await.unwrap().routes;
    assert!(
        routes.poll.available && !routes.relay.available,
        "{routes:?}"
    );
    assert!(
        routes.poll.success_ratio.is_some_and(|r| r > 0.0),
        "Alice's message was confirmed over long-poll: {routes:?}"
    );

    // The proxy lets WebSockets through again: Alice moves back to the socket by herself.
    line.refuse_upgrades(false);
    wait_for(&mut alice_events, |e| {
        (e == Event::RouteChanged {
            route: Some(Route::Relay),
        })
        .then_some(())
    })
    .await;
    bob.send("Camp", "back on the socket")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    let (route, body) = wait_for(&mut alice_events, |e| match e {
        Event::Message { message, route, .. } if message.body != "over long-poll" => {
            Some((route, message.body))
        }
        _ => None,
    })
    .await;
    assert_eq!(
        (route, body.as_str()),
        (Route::Relay, "back on the socket"),
        "nothing replayed twice"
    );
}
