//! The hybrid transport with real WebRTC peers on loopback and a real relay: direct links in
//! small rooms, each message shown once whatever route it took, fallback to the relay when a
//! link goes, the breaker, members chatting directly while the relay is down, and the relay's
//! history complete afterwards.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use festival_core::router::PreferredRoute;
use festival_core::router::breaker::BreakerState;
use festival_core::router::cooldown::Timings;
use festival_core::router::links::LinkState;
use festival_core::{EngineConfig, Event, Route};
use festival_tests::{Line, Member, TestRelay, WAIT};

/// Short cooldowns and breaker recovery, so that a test sees several attempts.
fn fast(config: &mut EngineConfig) {
    config.p2p.links.timings = Timings {
        discovery_every: Duration::from_millis(100),
        attempt_every: Duration::from_millis(100),
        max_backoff: Duration::from_millis(200),
    };
    config.p2p.links.recovery = Duration::from_millis(1500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_link_directly_and_each_message_arrives_once_over_p2p() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path()).await;
    let url = relay.url();
    let ann = Member::start(&url, dir.path(), "Ann").await;
    let bo = Member::start(&url, dir.path(), "Bo").await;
    let cy = Member::start(&url, dir.path(), "Cy").await;
    for m in [&ann, &bo, &cy] {
        m.engine.join("Camp").await.unwrap();
    }
    // Every pair links (how fast is the P2P bench's figure, not a bound a test asserts on a
    // shared machine).
    ann.wait_links(&[&bo, &cy], WAIT).await;
    bo.wait_links(&[&ann, &cy], WAIT).await;
    cy.wait_links(&[&ann, &bo], WAIT).await;

    const EACH: usize = 20;
    let mut pending = Vec::new();
    for i in 0..EACH {
        for (m, name) in [(&ann, "ann"), (&bo, "bo"), (&cy, "cy")] {
            pending.push(m.engine.send("Camp", &format!("{name} {i}")).await.unwrap());
        }
    }
    for p in pending {
        tokio::time::timeout(WAIT, p.acked())
            .await
            .unwrap()
            .unwrap();
    }
    let total = 3 * EACH as u64;
    for m in [&ann, &bo, &cy] {
        // Every relay notice has been handled once the cursor reached the last number.
        m.wait_cursor("Camp", total).await;
        let events = m.events();
        let others: Vec<_> = Member::messages(&events)
            .into_iter()
            .filter(|(sender, ..)| *sender != m.device())
            .collect();
        assert_eq!(others.len(), 2 * EACH, "each message exactly once");
        assert!(
            others.iter().all(|(.., route, _)| *route == Route::P2p),
            "all came directly: {others:?}"
        );
        for sender in [&ann, &bo, &cy].iter().filter(|s| s.device() != m.device()) {
            let bodies: Vec<_> = others
                .iter()
                .filter(|(s, ..)| *s == sender.device())
                .map(|(_, body, ..)| body.split(' ').nth(1).unwrap().parse::<usize>().unwrap())
                .collect();
            assert_eq!(
                bodies,
                (0..EACH).collect::<Vec<_>>(),
                "in the sender's order"
            );
        }
        let stats = m.engine.stats().await.unwrap();
        assert_eq!(stats.delivered.p2p, 2 * EACH as u64, "{stats:?}");
        assert_eq!(stats.route, Some(Route::P2p));
        assert_eq!(stats.p2p_links, 2);
        assert!(stats.p2p_rtt_ms.is_some(), "links are timed: {stats:?}");
        let diagnostics = m.engine.diagnostics().await.unwrap();
        let routes = diagnostics.routes;
        assert!(
            routes.p2p.available && routes.p2p.rtt_ms.is_some() && routes.relay.available,
            "{routes:?}"
        );
        for ratio in [routes.p2p.success_ratio, routes.relay.success_ratio] {
            assert!(ratio.is_some_and(|r| r > 0.0 && r <= 1.0), "{routes:?}");
        }
        assert_eq!(diagnostics.peers.len(), 2);
        assert!(
            diagnostics
                .peers
                .iter()
                .all(|p| p.ice.as_deref() == Some("connected")),
            "{:?}",
            diagnostics.peers
        );
    }
    // The relay has every message once, and sent the members only their numbers.
    assert_eq!(
        relay.metric("festival_messages_stored_total").await,
        total as f64
    );
    assert_eq!(
        relay.metric("festival_messages_sequenced_total").await,
        2.0 * total as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_link_falls_back_to_the_relay_and_p2p_returns_when_the_peer_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path()).await;
    let url = relay.url();
    let ann = Member::start_with(&url, dir.path(), "Ann", fast).await;
    let bo = Member::start_with(&url, dir.path(), "Bo", fast).await;
    ann.engine.join("Camp").await.unwrap();
    bo.engine.join("Camp").await.unwrap();
    ann.wait_links(&[&bo], WAIT).await;

    const N: usize = 60;
    let mut pending = Vec::new();
    for i in 0..N {
        if i == N / 3 {
            // Bo turns P2P off mid-stream: the link goes, and Bo declines every new attempt.
            bo.engine
                .set_preferred_route(PreferredRoute::Relay)
                .await
                .unwrap();
        }
        pending.push(ann.engine.send("Camp", &format!("m{i}")).await.unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for p in pending {
        tokio::time::timeout(WAIT, p.acked())
            .await
            .unwrap()
            .unwrap();
    }
    bo.wait_cursor("Camp", N as u64).await;
    let shown = Member::messages(&bo.events());
    let bodies: Vec<_> = shown.iter().map(|(_, b, ..)| b.clone()).collect();
    let expected: Vec<_> = (0..N).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, expected, "none lost, none twice, in order");
    // Before the teardown Ann sent over the link; which copy Bo showed first is a race the
    // relay may win on a busy machine (the engine waits a moment for the direct copy, then
    // takes the relay's), so the route Bo shows for those is not asserted.
    assert!(ann.engine.stats().await.unwrap().sent.p2p > 0);
    let routes: Vec<_> = shown.iter().map(|(.., r, _)| *r).collect();
    assert_eq!(routes[N - 1], Route::Relay, "{routes:?}");

    // Ann keeps asking; Bo declines each time. A decline cools Bo down (Ann asks again
    // later, not at once) and is counted as such, but it is no failure of Ann's network: her
    // breaker (three failures open it) stays closed, so her links with anyone else are not
    // held back by Bo's choice. The link's teardown itself may count as one failure.
    tokio::time::timeout(WAIT, async {
        loop {
            let d = ann.engine.diagnostics().await.unwrap();
            if d.stats.p2p.declined >= 3 {
                assert!(
                    matches!(d.breakers.p2p, BreakerState::Closed { failures } if failures <= 1),
                    "{:?}",
                    d.breakers.p2p
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("Bo declines Ann's attempts, again after each cooldown");

    // Bo allows P2P again: the link is back at Ann's next attempt.
    bo.engine
        .set_preferred_route(PreferredRoute::Auto)
        .await
        .unwrap();
    // The link that opens closes the breaker. A link can still drop later on a starved
    // machine, and that failure counts; the next link closes the breaker again, so this
    // waits for a state rather than reading it once.
    let opened_before = ann.engine.stats().await.unwrap().p2p.opened;
    tokio::time::timeout(WAIT, async {
        loop {
            let d = ann.engine.diagnostics().await.unwrap();
            let linked = d.peers.iter().any(|p| p.link == Some(LinkState::Open));
            if d.stats.p2p.opened > opened_before
                && linked
                && d.breakers.p2p == (BreakerState::Closed { failures: 0 })
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("P2P comes back and the breaker stays closed");
    let sent_before = ann.engine.stats().await.unwrap().sent.p2p;
    ann.engine.send("Camp", "direct again").await.unwrap();
    assert!(
        ann.engine.stats().await.unwrap().sent.p2p > sent_before,
        "sent over the link again"
    );
    bo.until("the message after recovery", |events| {
        Member::messages(events)
            .iter()
            .any(|(_, b, ..)| b == "direct again")
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_relay_down_linked_members_keep_chatting_and_its_history_is_complete_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = TestRelay::start(dir.path()).await;
    let url = relay.url();
    let ann = Member::start(&url, dir.path(), "Ann").await;
    let bo = Member::start(&url, dir.path(), "Bo").await;
    ann.engine.join("Camp").await.unwrap();
    bo.engine.join("Camp").await.unwrap();
    ann.wait_links(&[&bo], WAIT).await;
    ann.engine
        .send("Camp", "before")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();

    relay.stop().await;
    for m in [&ann, &bo] {
        m.until("the relay link to drop", |events| {
            events
                .iter()
                .any(|e| matches!(e, Event::Disconnected { .. }))
                .then_some(())
        })
        .await;
    }
    const N: usize = 10;
    for i in 0..N {
        ann.engine.send("Camp", &format!("ann {i}")).await.unwrap();
        bo.engine.send("Camp", &format!("bo {i}")).await.unwrap();
    }
    for (reader, writer) in [(&ann, "bo"), (&bo, "ann")] {
        let got = reader
            .until("the other's messages over P2P", |events| {
                let bodies: Vec<_> = Member::messages(events)
                    .into_iter()
                    .filter(|(_, b, r, _)| b.starts_with(writer) && *r == Route::P2p)
                    .map(|(_, b, ..)| b)
                    .collect();
                (bodies.len() >= N).then_some(bodies)
            })
            .await;
        let expected: Vec<_> = (0..N).map(|i| format!("{writer} {i}")).collect();
        assert_eq!(got, expected, "exactly once, in order, with the relay down");
        assert_eq!(reader.engine.stats().await.unwrap().route, Some(Route::P2p));
    }

    // The relay comes back on the same address and store: both outboxes drain into it.
    relay.start_again().await;
    let total = 1 + 2 * N as u64;
    ann.wait_cursor("Camp", total).await;
    bo.wait_cursor("Camp", total).await;
    for m in [&ann, &bo] {
        let shown = Member::messages(&m.events());
        let mut ids: Vec<_> = shown.iter().map(|(.., id)| *id).collect();
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(
            ids.len(),
            count,
            "nothing shown twice after the relay returned"
        );
    }

    // A newcomer reads the relay's history: every message once, each sender's in order.
    let cy = Member::start(&relay.url(), dir.path(), "Cy").await;
    cy.engine.join("Camp").await.unwrap();
    let history = cy
        .until("the room's history", |events| {
            let shown = Member::messages(events);
            (shown.len() as u64 >= total).then_some(shown)
        })
        .await;
    assert_eq!(history.len() as u64, total, "each message once");
    for writer in ["ann", "bo"] {
        let order: Vec<_> = history
            .iter()
            .filter(|(_, b, ..)| b.starts_with(writer))
            .map(|(_, b, ..)| b.clone())
            .collect();
        let expected: Vec<_> = (0..N).map(|i| format!("{writer} {i}")).collect();
        assert_eq!(order, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferring_the_relay_attempts_no_direct_link_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path()).await;
    let url = relay.url();
    let relay_only = |config: &mut EngineConfig| config.p2p.preferred = PreferredRoute::Relay;
    let ann = Member::start_with(&url, dir.path(), "Ann", relay_only).await;
    let bo = Member::start_with(&url, dir.path(), "Bo", relay_only).await;
    ann.engine.join("Camp").await.unwrap();
    bo.engine.join("Camp").await.unwrap();
    bo.wait_online(2).await;
    ann.engine
        .send("Camp", "relay only")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    let route = bo
        .until("Ann's message", |events| {
            Member::messages(events).first().map(|(.., r, _)| *r)
        })
        .await;
    assert_eq!(route, Route::Relay);
    for m in [&ann, &bo] {
        let stats = m.engine.stats().await.unwrap();
        assert_eq!((stats.p2p.attempts, stats.p2p_links), (0, 0), "{stats:?}");
    }
    assert_eq!(
        relay.metric("festival_signals_relayed_total").await,
        0.0,
        "no signaling at all"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_too_large_for_auto_p2p_links_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path()).await;
    let url = relay.url();
    // Automatic P2P only for a room of one: every room here is too large for it.
    let small_groups = |config: &mut EngineConfig| config.p2p.max_group = 1;
    let ann = Member::start_with(&url, dir.path(), "Ann", small_groups).await;
    let bo = Member::start_with(&url, dir.path(), "Bo", small_groups).await;
    let cy = Member::start_with(&url, dir.path(), "Cy", small_groups).await;
    for m in [&ann, &bo, &cy] {
        m.engine.join("Camp").await.unwrap();
    }
    // Joins are processed in any order: wait until each member sees all three.
    for m in [&ann, &bo, &cy] {
        m.wait_online(3).await;
    }
    ann.engine
        .send("Camp", "too many of us")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    cy.until("Ann's message", |e| Member::messages(e).first().cloned())
        .await;
    for m in [&ann, &bo, &cy] {
        assert_eq!(m.engine.stats().await.unwrap().p2p.attempts, 0, "too large");
    }

    // Ann asks for P2P: she links to both; they accept, but do not link to each other.
    ann.engine.p2p_upgrade("Camp").await.unwrap();
    ann.wait_links(&[&bo, &cy], WAIT).await;
    ann.engine.send("Camp", "now directly").await.unwrap();
    let route = bo
        .until("Ann's direct message", |events| {
            Member::messages(events)
                .into_iter()
                .find(|(_, b, ..)| b == "now directly")
                .map(|(.., r, _)| r)
        })
        .await;
    assert_eq!(route, Route::P2p);
    for m in [&bo, &cy] {
        // Each end hears of its link on its own time.
        m.wait_links(&[&ann], WAIT).await;
        assert_eq!(m.engine.stats().await.unwrap().p2p_links, 1, "Ann's only");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_missed_the_link_is_fetched_over_it_so_the_senders_order_holds() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path()).await;
    let line = Line::start(relay.addr()).await;
    // Rooms of two are too large for automatic links here: Bo links on demand, and Ann's
    // messages go directly only once she asks for it too.
    let on_demand = |config: &mut EngineConfig| config.p2p.max_group = 1;
    let ann = Member::start_with(&relay.url(), dir.path(), "Ann", on_demand).await;
    let bo = Member::start_with(&line.url(), dir.path(), "Bo", on_demand).await;
    ann.engine.join("Camp").await.unwrap();
    bo.engine.join("Camp").await.unwrap();
    bo.wait_online(2).await;
    bo.engine.p2p_upgrade("Camp").await.unwrap();
    ann.wait_links(&[&bo], WAIT).await;

    // Bo's relay line stalls. "two" goes through the relay only and sits in the stalled
    // line; "three" goes straight over the link and arrives first.
    line.hold(true);
    ann.engine
        .send("Camp", "two")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    ann.engine.p2p_upgrade("Camp").await.unwrap();
    ann.engine.send("Camp", "three").await.unwrap();
    let shown = bo
        .until("both of Ann's messages", |events| {
            let bodies: Vec<_> = Member::messages(events)
                .into_iter()
                .map(|(_, body, route, _)| (body, route))
                .collect();
            (bodies.len() >= 2).then_some(bodies)
        })
        .await;
    assert_eq!(
        shown,
        [("two".into(), Route::P2p), ("three".into(), Route::P2p)],
        "Bo asked Ann over the link for the message before the one that came directly"
    );

    // The line recovers: the relay's copy of "two" is recognised, nothing is shown twice.
    line.hold(false);
    bo.wait_cursor("Camp", 2).await;
    let bodies: Vec<_> = Member::messages(&bo.events())
        .into_iter()
        .map(|(_, body, ..)| body)
        .collect();
    assert_eq!(bodies, ["two", "three"]);
}

/// A member whose client says hello, joins, and then ignores every signal (a browser tab that
/// froze, or a client that lies about speaking P2P): the attempt to link to it times out, and
/// the app hears of it instead of the attempt ending in silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_attempt_to_a_peer_that_never_answers_times_out_with_an_event() {
    use festival_proto::{
        ClientFrame, DeviceKey, DisplayName, Hello, Join, PROTOCOL_VERSION, RoomName, ServerFrame,
        decode_server, encode,
    };
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path()).await;
    let url = relay.url();
    let (mut silent, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let key = DeviceKey::generate();
    let mute = key.device();
    let Some(Ok(Message::Text(first))) = silent.next().await else {
        panic!("the relay's challenge");
    };
    let Ok(ServerFrame::Challenge(challenge)) = decode_server(&first) else {
        panic!("the relay's first frame is its challenge: {first}");
    };
    for frame in [
        ClientFrame::Hello(Hello {
            v: PROTOCOL_VERSION,
            device: mute,
            name: DisplayName::parse("Mute").unwrap(),
            key: key.public(),
            proof: key.prove(&challenge.nonce),
        }),
        ClientFrame::Join(Join {
            room: RoomName::parse("Camp").unwrap(),
            since: None,
        }),
    ] {
        silent.send(Message::text(encode(&frame))).await.unwrap();
    }
    // It reads what comes (so the relay keeps it) and answers nothing.
    let reader = tokio::spawn(async move { while silent.next().await.is_some() {} });

    let alice = Member::start_with(&url, dir.path(), "Alice", |config| {
        fast(config);
        config.p2p.links.connect_timeout = Duration::from_millis(500);
    })
    .await;
    alice.engine.join("Camp").await.unwrap();
    let reason = alice
        .until(
            "the attempt to reach the silent member timing out",
            |events| {
                events.iter().find_map(|event| match event {
                    Event::Peer {
                        device,
                        open: false,
                        reason: Some(reason),
                    } if *device == mute => Some(reason.clone()),
                    _ => None,
                })
            },
        )
        .await;
    assert!(reason.contains("did not open within 0.5 s"), "{reason}");
    let stats = alice.engine.stats().await.unwrap();
    assert!(stats.p2p.failures >= 1, "{stats:?}");
    reader.abort();
    alice.engine.shutdown().await;
}
