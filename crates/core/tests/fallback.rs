//! When no WebSocket can be opened (a proxy that blocks upgrades), the engine chats over the
//! relay's HTTP long-poll, and moves back to the WebSocket once it can.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use festival_core::router::PreferredRoute;
use festival_core::{Engine, EngineConfig, Event, Events, Route};
use festival_relay::{Config, RelayHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(20);

/// A TCP proxy to `upstream` that answers 403 to any request asking for a WebSocket upgrade
/// while `block` is set, and passes everything else through untouched.
async fn upgrade_blocking_proxy(upstream: SocketAddr, block: Arc<AtomicBool>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let block = Arc::clone(&block);
            tokio::spawn(async move {
                let mut head = vec![0u8; 16 * 1024];
                let Ok(n) = client.read(&mut head).await else {
                    return;
                };
                let text = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
                if block.load(Ordering::SeqCst) && text.contains("upgrade: websocket") {
                    let _ = client
                        .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    return;
                }
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                if server.write_all(&head[..n]).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    addr
}

async fn wait_for<T>(events: &mut Events, mut want: impl FnMut(Event) -> Option<T>) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(found) = want(events.next().await.expect("engine running")) {
                return found;
            }
        }
    })
    .await
    .expect("the expected event in time")
}

#[tokio::test]
async fn with_websockets_blocked_the_engine_chats_over_long_poll_and_returns_to_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayHandle::start(Config::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join("relay.db"),
    ))
    .await
    .unwrap();
    let block = Arc::new(AtomicBool::new(true));
    let proxy = upgrade_blocking_proxy(relay.local_addr(), Arc::clone(&block)).await;

    // Bob is on the relay directly; Alice only reaches it through the proxy. Both stay off
    // P2P, which would otherwise carry their messages around the relay.
    let mut config = EngineConfig::new(relay.ws_url(), dir.path().join("bob")).with_name("Bob");
    config.p2p.preferred = PreferredRoute::Relay;
    let (bob, mut bob_events) = Engine::start(config).await.unwrap();
    bob.join("Camp").await.unwrap();
    let mut config =
        EngineConfig::new(format!("ws://{proxy}/ws"), dir.path().join("alice")).with_name("Alice");
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
    assert_eq!((got.seq, got.from.as_str()), (seq, "Alice"));

    bob.send("Camp", "to the poller")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    let route = wait_for(&mut alice_events, |e| match e {
        Event::Message { message, route } if message.body == "to the poller" => Some(route),
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
    block.store(false, Ordering::SeqCst);
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
        Event::Message { message, route } if message.body != "over long-poll" => {
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
