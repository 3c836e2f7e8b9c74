//! The relay route's policy, with no I/O: which of the relay's two routes to open (the
//! WebSocket, or the long-poll while the WebSocket's breaker is open), when to ping it, when
//! its silence means the link is dead, and how long a ping took. The driver opens, sends and
//! times out as this says; every decision is a method taking `now`.

use std::time::{Duration, Instant};

use crate::router::breaker::{Breaker, BreakerState};

/// How often the relay is pinged, unless a power budget says otherwise.
pub(super) const PING_EVERY: Duration = Duration::from_secs(15);
/// How long the relay may stay silent before the link counts as dead: a phone that lost its
/// tower often sees no error at all. Always this many pings' worth.
pub(super) const SILENCE_PINGS: u32 = 3;
/// The silence limit at the default ping interval.
#[cfg(test)]
pub(super) const SILENCE_LIMIT: Duration = Duration::from_secs(45);

/// Which relay route to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RelayRoute {
    /// The WebSocket (the breaker is closed, or half-open and lets this one attempt through).
    Socket,
    /// The long-poll: the WebSocket failed too often lately.
    Poll,
}

/// What keeping a WebSocket alive asks for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keepalive {
    /// Send a ping with this nonce, asking the relay to follow this keepalive (in seconds)
    /// when it is not the one it granted.
    Ping {
        /// The ping's nonce.
        nonce: u64,
        /// The keepalive to ask for.
        ask: Option<u32>,
    },
    /// The relay has been silent too long: give the link up.
    Dead,
    /// Nothing until this instant.
    Wait(Instant),
}

/// The relay route's state: its breaker and the liveness of the link that is up.
#[derive(Debug)]
pub(super) struct RelayPolicy {
    breaker: Breaker,
    /// When the relay was last heard from, while a link is up.
    heard: Option<Instant>,
    next_ping: Option<Instant>,
    /// The ping in flight: its nonce and when it went.
    ping: Option<(u64, Instant)>,
    nonce: u64,
    /// How often this device wants to ping.
    ping_every: Duration,
    /// The keepalive the relay granted on this link, if it answered one: pings go at least
    /// this often, or it closes the link.
    granted: Option<Duration>,
    /// The keepalive last asked for on this link.
    asked: Option<Duration>,
    /// Traffic from the relay counts as liveness: the next ping waits a full interval after
    /// the last frame heard, so a busy link is never pinged and an idle one rarely.
    quiet: bool,
}

impl RelayPolicy {
    /// A policy pinging every `ping_every` and giving a link up after three such intervals
    /// of silence.
    pub(super) fn new(ping_every: Duration) -> Self {
        Self {
            breaker: Breaker::new(),
            heard: None,
            next_ping: None,
            ping: None,
            nonce: 0,
            ping_every,
            granted: None,
            asked: None,
            quiet: false,
        }
    }

    /// How often to ping: as wanted, never less often than the relay granted.
    fn every(&self) -> Duration {
        self.granted
            .map_or(self.ping_every, |granted| self.ping_every.min(granted))
    }

    /// Pings every `every` (the silence limit follows: three intervals), and with `quiet`
    /// only after an interval with nothing heard. Applies from the next ping on, which asks
    /// the relay to follow it; until the relay grants a longer one, pings keep the pace it
    /// granted before.
    pub(super) fn set_keepalive(&mut self, every: Duration, quiet: bool) {
        self.ping_every = every.max(Duration::from_secs(1));
        self.quiet = quiet;
        if let (Some(next), Some(heard)) = (self.next_ping, self.heard) {
            self.next_ping = Some(next.min(heard + self.every()));
        }
    }

    /// The route to try first now.
    pub(super) fn route_to_try(&mut self, now: Instant) -> RelayRoute {
        if self.breaker.try_use(now) {
            RelayRoute::Socket
        } else {
            RelayRoute::Poll
        }
    }

    /// The WebSocket opened.
    pub(super) fn socket_opened(&mut self) {
        self.breaker.on_success();
    }

    /// The WebSocket failed to open; true when the long-poll should be tried at once (the
    /// breaker is no longer closed), false to wait and retry the WebSocket.
    pub(super) fn socket_failed(&mut self, now: Instant) -> bool {
        self.breaker.on_failure(now);
        !matches!(self.breaker.state(now), BreakerState::Closed { .. })
    }

    /// Neither route opened: the relay is down or out of reach, which says nothing against
    /// the WebSocket, so it is tried first again when the relay is back.
    pub(super) fn neither_opened(&mut self) {
        self.breaker.reset();
    }

    /// Forgets the WebSocket's failures (the user's reset).
    pub(super) fn reset(&mut self) {
        self.breaker.reset();
    }

    /// The WebSocket's breaker, for diagnostics.
    pub(super) fn breaker(&self, now: Instant) -> BreakerState {
        self.breaker.state(now)
    }

    /// A link is up: the first ping goes out at once, so the round trip is known from the
    /// start.
    pub(super) fn link_up(&mut self, now: Instant) {
        self.heard = Some(now);
        self.next_ping = Some(now);
        self.ping = None;
        self.granted = None;
        self.asked = None;
    }

    /// Something came from the relay.
    pub(super) fn heard(&mut self, now: Instant) {
        self.heard = Some(now);
        if self.quiet && self.ping.is_none() {
            self.next_ping = Some(now + self.every());
        }
    }

    /// What keeping the link alive asks for at `now`.
    pub(super) fn keepalive(&mut self, now: Instant) -> Keepalive {
        let (Some(heard), Some(next_ping)) = (self.heard, self.next_ping) else {
            return Keepalive::Wait(now + self.every());
        };
        let dead_at = heard + self.every() * SILENCE_PINGS;
        if now >= dead_at {
            return Keepalive::Dead;
        }
        if now < next_ping {
            return Keepalive::Wait(next_ping.min(dead_at));
        }
        self.nonce += 1;
        self.ping = Some((self.nonce, now));
        self.next_ping = Some(now + self.every());
        let ask = (self.asked != Some(self.ping_every)).then(|| {
            self.asked = Some(self.ping_every);
            u32::try_from(self.ping_every.as_secs()).unwrap_or(u32::MAX)
        });
        Keepalive::Ping {
            nonce: self.nonce,
            ask,
        }
    }

    /// A pong came, with the keepalive the relay granted if the ping asked for one: the
    /// round trip of the ping it answers, if it answers the one in flight.
    pub(super) fn pong(
        &mut self,
        nonce: u64,
        granted_s: Option<u32>,
        now: Instant,
    ) -> Option<Duration> {
        if let Some(granted) = granted_s {
            self.granted = Some(Duration::from_secs(granted.into()).max(Duration::from_secs(1)));
        }
        match self.ping {
            Some((sent_nonce, sent)) if sent_nonce == nonce => {
                self.ping = None;
                Some(now.saturating_duration_since(sent))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::breaker::{FAILURES_TO_OPEN, RECOVERY};

    #[allow(clippy::disallowed_methods)] // A test's one real instant; the rest are offsets.
    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn a_websocket_failing_three_times_moves_to_long_poll_and_is_tried_again_after_30_s() {
        let mut policy = RelayPolicy::new(PING_EVERY);
        let t0 = t0();
        for _ in 1..FAILURES_TO_OPEN {
            assert_eq!(policy.route_to_try(t0), RelayRoute::Socket);
            assert!(
                !policy.socket_failed(t0),
                "retry the WebSocket after a backoff"
            );
        }
        assert_eq!(policy.route_to_try(t0), RelayRoute::Socket);
        assert!(
            policy.socket_failed(t0),
            "the third failure falls back at once"
        );
        assert_eq!(policy.route_to_try(t0 + RECOVERY / 2), RelayRoute::Poll);
        assert_eq!(policy.route_to_try(t0 + RECOVERY), RelayRoute::Socket);
        policy.socket_opened();
        assert_eq!(
            policy.breaker(t0 + RECOVERY),
            BreakerState::Closed { failures: 0 }
        );
    }

    #[test]
    fn when_neither_route_opens_the_websocket_is_first_again() {
        let mut policy = RelayPolicy::new(PING_EVERY);
        let t0 = t0();
        for _ in 0..FAILURES_TO_OPEN {
            policy.route_to_try(t0);
            policy.socket_failed(t0);
        }
        policy.neither_opened();
        assert_eq!(policy.route_to_try(t0), RelayRoute::Socket);
    }

    fn ping(nonce: u64, ask: Option<u32>) -> Keepalive {
        Keepalive::Ping { nonce, ask }
    }

    #[test]
    fn a_link_is_pinged_at_once_then_every_15_s_and_given_up_after_45_s_of_silence() {
        let mut policy = RelayPolicy::new(PING_EVERY);
        let t0 = t0();
        policy.link_up(t0);
        assert_eq!(
            policy.keepalive(t0),
            ping(1, Some(15)),
            "asks the relay to follow"
        );
        assert_eq!(policy.keepalive(t0), Keepalive::Wait(t0 + PING_EVERY));
        let rtt = Duration::from_millis(40);
        assert_eq!(
            policy.pong(2, None, t0 + rtt),
            None,
            "not the ping in flight"
        );
        assert_eq!(policy.pong(1, None, t0 + rtt), Some(rtt));
        policy.heard(t0 + rtt);
        assert_eq!(policy.keepalive(t0 + PING_EVERY), ping(2, None));
        assert_eq!(policy.keepalive(t0 + 2 * PING_EVERY), ping(3, None));
        // Silence since the pong: at 45 s it is over, not a moment before.
        let dead = t0 + rtt + SILENCE_LIMIT;
        assert_eq!(
            policy.keepalive(t0 + 2 * PING_EVERY + Duration::from_secs(1)),
            Keepalive::Wait(t0 + 3 * PING_EVERY)
        );
        assert_eq!(policy.keepalive(t0 + 3 * PING_EVERY), ping(4, None));
        assert_eq!(
            policy.keepalive(t0 + 3 * PING_EVERY + Duration::from_millis(1)),
            Keepalive::Wait(dead)
        );
        assert_eq!(policy.keepalive(dead), Keepalive::Dead);
    }

    #[test]
    fn a_slower_keepalive_stretches_the_silence_limit_and_a_quiet_one_skips_busy_links() {
        let mut policy = RelayPolicy::new(PING_EVERY);
        let t0 = t0();
        let minute = Duration::from_secs(60);
        policy.link_up(t0);
        assert_eq!(policy.keepalive(t0), ping(1, Some(15)));
        policy.set_keepalive(minute, true);
        policy.pong(1, None, t0);
        policy.heard(t0);
        assert_eq!(policy.keepalive(t0), Keepalive::Wait(t0 + minute));
        // Frames keep coming: no ping is needed while they do.
        policy.heard(t0 + Duration::from_secs(50));
        assert_eq!(
            policy.keepalive(t0 + minute),
            Keepalive::Wait(t0 + Duration::from_secs(110))
        );
        assert_eq!(
            policy.keepalive(t0 + Duration::from_secs(110)),
            ping(2, Some(60))
        );
        // No pong, nothing heard since 50 s: pinged again a minute later, and dead three
        // minutes after the last frame, not 45 s after.
        assert_eq!(
            policy.keepalive(t0 + Duration::from_secs(170)),
            ping(3, None)
        );
        let dead = t0 + Duration::from_secs(50) + 3 * minute;
        assert_eq!(
            policy.keepalive(dead - Duration::from_secs(1)),
            Keepalive::Wait(dead)
        );
        assert_eq!(policy.keepalive(dead), Keepalive::Dead);
        // Back to 15 s on a fresh link: the next ping comes 15 s after the last frame heard,
        // not at the end of the minute set before.
        policy.link_up(dead);
        assert_eq!(policy.keepalive(dead), ping(4, Some(60)));
        policy.pong(4, None, dead);
        policy.heard(dead);
        policy.set_keepalive(PING_EVERY, false);
        assert_eq!(policy.keepalive(dead), Keepalive::Wait(dead + PING_EVERY));
    }

    #[test]
    fn pings_keep_the_pace_the_relay_granted_until_it_grants_a_slower_one() {
        let mut policy = RelayPolicy::new(PING_EVERY);
        let t0 = t0();
        let s = Duration::from_secs;
        policy.set_keepalive(s(120), true);
        policy.link_up(t0);
        assert_eq!(policy.keepalive(t0), ping(1, Some(120)));
        // The relay's bound is 60 s: pinged every minute, dead after three silent ones.
        policy.pong(1, Some(60), t0);
        policy.heard(t0);
        assert_eq!(policy.keepalive(t0), Keepalive::Wait(t0 + s(60)));
        assert_eq!(policy.keepalive(t0 + s(60)), ping(2, None), "asked once");
        assert_eq!(
            policy.keepalive(t0 + s(61)),
            Keepalive::Wait(t0 + s(120)),
            "no answer: the next ping a minute later"
        );
        assert_eq!(policy.keepalive(t0 + s(120)), ping(3, None));
        assert_eq!(policy.keepalive(t0 + s(180)), Keepalive::Dead);
        // Another relay grants what is asked; a slower budget then asks again and keeps the
        // granted pace until the answer.
        let t1 = t0 + s(180);
        policy.link_up(t1);
        assert_eq!(policy.keepalive(t1), ping(4, Some(120)));
        policy.pong(4, Some(120), t1);
        policy.heard(t1);
        assert_eq!(policy.keepalive(t1), Keepalive::Wait(t1 + s(120)));
        policy.set_keepalive(s(240), true);
        assert_eq!(policy.keepalive(t1 + s(120)), ping(5, Some(240)));
        assert_eq!(policy.keepalive(t1 + s(121)), Keepalive::Wait(t1 + s(240)));
        policy.pong(5, Some(240), t1 + s(121));
        policy.heard(t1 + s(121));
        assert_eq!(
            policy.keepalive(t1 + s(122)),
            Keepalive::Wait(t1 + s(121 + 240))
        );
    }
}
