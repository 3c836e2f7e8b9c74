//! A WebSocket's liveness, shared by its reader and its writer: when the relay pings it and
//! when its silence ends it. By default the relay pings every `ping_interval` and closes after
//! `idle_timeout` of silence. A client that said hello may ask (`keepalive_s` in `ping`) for
//! the relay to follow its own keepalive instead, within `max_keepalive`: then the relay pings
//! only after two of its intervals of silence (a client that pings on time is never pinged,
//! and a phone's radio is not woken for nothing) and closes after three.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// The shortest keepalive the relay grants (unless its bound is shorter): a client cannot
/// make it ping more often than every 10 s of silence.
pub(crate) const MIN_KEEPALIVE: Duration = Duration::from_secs(5);
/// Granted intervals of silence after which the relay pings.
const PING_AFTER: u32 = 2;
/// Granted intervals of silence after which the relay closes.
const CLOSE_AFTER: u32 = 3;

/// One WebSocket's liveness.
#[derive(Debug)]
pub(crate) struct Keepalive {
    ping_every: Duration,
    idle: Duration,
    max: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy)]
struct State {
    /// When the client was last heard from.
    heard: Instant,
    /// The keepalive the client asked for and was granted, if any.
    granted: Option<Duration>,
}

impl Keepalive {
    /// The relay's defaults for a connection opened at `now`, and the longest keepalive it
    /// grants.
    pub(crate) fn new(ping_every: Duration, idle: Duration, max: Duration, now: Instant) -> Self {
        Self {
            ping_every,
            idle,
            max,
            state: Mutex::new(State {
                heard: now,
                granted: None,
            }),
        }
    }

    fn state(&self) -> State {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The client asked for a keepalive of `asked_s` seconds: what is granted, in seconds.
    pub(crate) fn grant(&self, asked_s: u32) -> u32 {
        let granted = Duration::from_secs(asked_s.into())
            .max(MIN_KEEPALIVE)
            .min(self.max);
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .granted = Some(granted);
        u32::try_from(granted.as_secs()).unwrap_or(u32::MAX)
    }

    /// Something came from the client.
    pub(crate) fn heard(&self, now: Instant) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .heard = now;
    }

    /// When the connection is over if nothing more is heard: never sooner than the relay's
    /// default silence limit.
    pub(crate) fn silent_until(&self) -> Instant {
        let state = self.state();
        let idle = state
            .granted
            .map_or(self.idle, |g| self.idle.max(g * CLOSE_AFTER));
        state.heard + idle
    }

    /// When the next ping is due, the last one having gone at `last_ping` (or the connection
    /// having opened then): on the relay's own schedule, or, for a client that keeps the link
    /// alive itself, after two of its intervals in which neither was heard nor pinged.
    pub(crate) fn ping_at(&self, last_ping: Instant) -> Instant {
        let state = self.state();
        match state.granted {
            None => last_ping + self.ping_every,
            Some(g) => state.heard.max(last_ping) + g * PING_AFTER,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn relay_defaults(now: Instant) -> Keepalive {
        Keepalive::new(S(20), S(60), S(300), now)
    }

    #[allow(clippy::disallowed_methods)] // A test's one real instant; the rest are offsets.
    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn a_client_that_asks_nothing_gets_the_relays_defaults() {
        let t0 = t0();
        let k = relay_defaults(t0);
        k.heard(t0 + S(5));
        assert_eq!(k.ping_at(t0), t0 + S(20));
        assert_eq!(k.ping_at(t0 + S(20)), t0 + S(40));
        assert_eq!(k.silent_until(), t0 + S(65));
    }

    #[test]
    fn a_granted_keepalive_moves_the_pings_and_the_silence_limit_within_the_bound() {
        let t0 = t0();
        let k = relay_defaults(t0);
        assert_eq!(k.grant(120), 120);
        // A client that pings every 2 minutes is never pinged: each ping pushes ours away.
        for minute in [2, 4, 6] {
            k.heard(t0 + S(60 * minute));
            assert_eq!(k.ping_at(t0), t0 + S(60 * minute + 240));
        }
        assert_eq!(k.silent_until(), t0 + S(360 + 360));
        // Silent since: pinged after 4 minutes, then every 4 minutes until closed.
        assert_eq!(k.ping_at(t0 + S(600)), t0 + S(840));
        // The bound, and the floor.
        assert_eq!(k.grant(86_400), 300);
        assert_eq!(k.silent_until(), t0 + S(360 + 900));
        assert_eq!(k.grant(0), 5);
        assert_eq!(
            k.silent_until(),
            t0 + S(360 + 60),
            "never closed sooner than a client that asked nothing"
        );
        assert_eq!(k.ping_at(t0 + S(360)), t0 + S(370));
    }
}
