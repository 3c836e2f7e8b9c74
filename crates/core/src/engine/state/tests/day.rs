//! A day of engine time on a hand-moved clock: the relay's breaker and fallback, direct
//! links' cooldowns and backoff, holdback, the keepalive and the outbox's expiry.

use std::time::{Duration, Instant};

use festival_proto::{DeviceKey, MessageId, PeerFrame, ServerFrame, SessionId};

use super::{DAY, FakeRelay, Sim, identity, key_device, member, message, peer_chat, room};
use crate::engine::relay_policy::RelayRoute;
use crate::store::EngineStore;
use crate::{EngineError, Event, Route};

#[tokio::test]
async fn a_day_of_engine_time_breakers_backoff_keepalive_holdback_and_expiry() {
    // This device has the lower id, so it offers to Ann.
    let (a, b) = (DeviceKey::generate(), DeviceKey::generate());
    let (mine, other) = if a.device() < b.device() {
        (a, b)
    } else {
        (b, a)
    };
    let me = identity(mine);
    let ann = key_device(other);
    let relay = FakeRelay {
        socket_ok: false,
        poll_ok: true,
        answers_pings: true,
        answers_joins: true,
    };
    let mut sim = Sim::with_identity(me, Sim::config(), relay);
    let start = sim.now;

    // The WebSocket fails three times (with backoff between), then the long-poll serves.
    sim.run_for(Duration::from_secs(5)).await;
    let routes: Vec<_> = sim.dials.iter().map(|(_, r)| *r).collect();
    assert_eq!(
        routes,
        [
            RelayRoute::Socket,
            RelayRoute::Socket,
            RelayRoute::Socket,
            RelayRoute::Poll
        ]
    );
    assert_eq!(sim.state.stats().fallbacks, 1);
    // The WebSocket is tried again every 30 s while polling; it comes back at 60 s.
    sim.relay.socket_ok = true;
    let polled_at = sim.dials[3].0;
    sim.run_until(polled_at + Duration::from_secs(29)).await;
    assert_eq!(sim.state.relay_route, Some(Route::Poll));
    sim.run_until(polled_at + Duration::from_secs(31)).await;
    assert_eq!(sim.state.relay_route, Some(Route::Relay));

    // Ann is in the room: this device offers; the attempt times out, and is tried again
    // after a cooldown that backs off up to 30 s.
    sim.state.join(sim.now, room());
    sim.settle().await;
    let presence = festival_proto::Presence {
        room: room(),
        change: festival_proto::PresenceChange::Joined,
        member: member(ann, "Ann"),
        online: 2,
    };
    sim.frames(vec![ServerFrame::Presence(presence)]).await;
    sim.run_for(Duration::from_secs(300)).await;
    let offers: Vec<Instant> = sim
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Peer { open: false, .. }))
        .map(|(at, _)| *at)
        .collect();
    assert!(offers.len() >= 4, "attempts time out and are retried");
    let gaps: Vec<Duration> = offers.windows(2).map(|w| w[1] - w[0]).collect();
    // Each gap is the attempt's 10 s plus its cooldown (5 s, doubling to 30 s), rounded up
    // to the next discovery round (every 2 s) and tick.
    let timeout = Sim::config().p2p.links.connect_timeout;
    let slack = crate::router::cooldown::DISCOVERY_EVERY + Duration::from_millis(500);
    let cap = crate::router::cooldown::MAX_BACKOFF + timeout;
    assert!(gaps[0] < cap, "the first retry is quick: {gaps:?}");
    assert!(gaps.iter().all(|g| *g <= cap + slack), "capped: {gaps:?}");
    assert!(
        *gaps.last().unwrap() >= cap,
        "backed off to the cap: {gaps:?}"
    );

    // A link opens (Ann offers now); a direct message whose predecessor never comes waits a
    // second, then shows.
    sim.link_to(ann, SessionId(99)).await;
    let lost = MessageId::new();
    let held = message(ann, "Ann", 0, "after the lost one");
    sim.direct(ann, SessionId(99), peer_chat(&held, Some(lost)))
        .await;
    assert!(
        sim.to_peers
            .iter()
            .any(|(_, f)| matches!(f, PeerFrame::Want { id, .. } if *id == lost)),
        "the sender is asked for the missing one"
    );
    sim.run_for(Duration::from_millis(900)).await;
    assert!(!sim.shown().contains(&held.id), "held back");
    sim.run_for(Duration::from_millis(700)).await;
    assert!(sim.shown().contains(&held.id), "shown after a second");

    // A message typed now; the relay falls silent: 45 s later the link is given up.
    let typed_at = sim.now;
    let typed = sim.type_message("anyone?").await;
    sim.frames(Vec::new()).await; // The relay's last word.
    sim.relay.answers_pings = false;
    sim.relay.socket_ok = false;
    sim.relay.poll_ok = false;
    let silent_from = sim.now;
    let before = sim.dials.len();
    sim.run_for(Duration::from_secs(44)).await;
    assert_eq!(sim.state.relay_route, Some(Route::Relay), "not yet");
    sim.run_for(Duration::from_secs(2)).await;
    assert_eq!(
        sim.state.relay_route, None,
        "given up after 45 s of silence"
    );
    let disconnected = sim
        .events
        .iter()
        .find(|(at, e)| *at > silent_from && matches!(e, Event::Disconnected { .. }));
    assert!(disconnected.is_some());

    // The rest of the day offline: dials back off to at most 30 s apart; the message waits.
    sim.run_until(start + DAY - Duration::from_secs(60)).await;
    assert!(
        !sim.settled.iter().any(|(id, _)| *id == typed),
        "still waiting"
    );
    let dials: Vec<Instant> = sim.dials[before..].iter().map(|(at, _)| *at).collect();
    assert!(dials.len() > 2000, "it kept trying: {}", dials.len());
    let longest = dials.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(longest <= Duration::from_secs(30), "{longest:?}");
    // A day after it was typed (at the next sweep, once a minute) it is failed, not dropped.
    let expiry = typed_at + DAY;
    sim.run_until(expiry + Duration::from_secs(61)).await;
    assert!(matches!(
        sim.settled.iter().find(|(id, _)| *id == typed),
        Some((_, Err(EngineError::Failed(_))))
    ));
    assert!(
        sim.events
            .iter()
            .any(|(at, e)| matches!(e, Event::Failed { id, .. } if *id == typed) && *at >= expiry)
    );
    let stored = sim.store.message(typed).await.unwrap().unwrap();
    assert_eq!(stored.state, crate::DeliveryState::Failed);
}
