//! Cooldowns that keep P2P from becoming a connection storm: peer discovery at most every
//! 2 s, an attempt to one peer at most every 5 s, and exponential backoff (up to 30 s) for a
//! peer whose attempts keep failing. Time is passed in.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Least time between two peer discoveries.
pub const DISCOVERY_EVERY: Duration = Duration::from_secs(2);
/// Least time between two connection attempts to one peer.
pub const ATTEMPT_EVERY: Duration = Duration::from_secs(5);
/// Longest wait before trying a failing peer again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How long the cooldowns are: the defaults are the constants above; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Least time between two peer discoveries.
    pub discovery_every: Duration,
    /// Least time between two connection attempts to one peer.
    pub attempt_every: Duration,
    /// Longest wait before trying a failing peer again.
    pub max_backoff: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            discovery_every: DISCOVERY_EVERY,
            attempt_every: ATTEMPT_EVERY,
            max_backoff: MAX_BACKOFF,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct PeerCooldown {
    next_allowed: Instant,
    failures: u32,
}

/// The cooldown state of one device's P2P attempts, keyed by peer.
#[derive(Debug)]
pub struct Cooldowns<P> {
    timings: Timings,
    next_discovery: Option<Instant>,
    peers: HashMap<P, PeerCooldown>,
}

impl<P: Eq + Hash + Clone> Default for Cooldowns<P> {
    fn default() -> Self {
        Self::new(Timings::default())
    }
}

impl<P: Eq + Hash + Clone> Cooldowns<P> {
    /// Cooldowns of these lengths.
    pub fn new(timings: Timings) -> Self {
        Self {
            timings,
            next_discovery: None,
            peers: HashMap::new(),
        }
    }

    /// Takes new lengths (a change of power mode), keeping each peer's failures and the time
    /// already set for its next attempt.
    pub fn set_timings(&mut self, timings: Timings) {
        self.timings = timings;
    }

    /// Whether a discovery may run at `now`; if so, it is recorded.
    pub fn try_discover(&mut self, now: Instant) -> bool {
        if self.next_discovery.is_some_and(|at| now < at) {
            return false;
        }
        self.next_discovery = Some(now + self.timings.discovery_every);
        true
    }

    /// Lets the next discovery run at once (the user asked for P2P now).
    pub fn allow_discovery(&mut self) {
        self.next_discovery = None;
    }

    /// Whether an attempt to `peer` may start at `now`; if so, it is recorded.
    pub fn try_attempt(&mut self, peer: &P, now: Instant) -> bool {
        if let Some(cooldown) = self.peers.get(peer) {
            if now < cooldown.next_allowed {
                return false;
            }
        }
        let failures = self.peers.get(peer).map_or(0, |c| c.failures);
        self.peers.insert(
            peer.clone(),
            PeerCooldown {
                next_allowed: now + self.timings.attempt_every,
                failures,
            },
        );
        true
    }

    /// The attempt to `peer` failed at `now`: wait longer before the next one.
    pub fn on_failed(&mut self, peer: &P, now: Instant) {
        let failures = self.peers.get(peer).map_or(0, |c| c.failures) + 1;
        let backoff = self
            .timings
            .attempt_every
            .saturating_mul(1 << (failures - 1).min(8))
            .min(self.timings.max_backoff);
        self.peers.insert(
            peer.clone(),
            PeerCooldown {
                next_allowed: now + backoff,
                failures,
            },
        );
    }

    /// The link to `peer` is up: its failures are forgotten.
    pub fn on_connected(&mut self, peer: &P) {
        self.peers.remove(peer);
    }

    /// When `peer` may be tried again, if it is cooling down.
    pub fn next_attempt(&self, peer: &P) -> Option<Instant> {
        self.peers.get(peer).map(|c| c.next_allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn discovery_runs_at_most_every_two_seconds() {
        let t0 = Instant::now();
        let mut cooldowns = Cooldowns::<u8>::default();
        assert!(cooldowns.try_discover(t0));
        assert!(!cooldowns.try_discover(t0 + Duration::from_millis(1999)));
        assert!(cooldowns.try_discover(t0 + DISCOVERY_EVERY));
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn one_peer_is_tried_at_most_every_five_seconds_others_are_independent() {
        let t0 = Instant::now();
        let mut cooldowns = Cooldowns::default();
        assert!(cooldowns.try_attempt(&"ann", t0));
        assert!(!cooldowns.try_attempt(&"ann", t0 + Duration::from_secs(4)));
        assert!(cooldowns.try_attempt(&"bo", t0 + Duration::from_secs(4)));
        assert!(cooldowns.try_attempt(&"ann", t0 + ATTEMPT_EVERY));
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn repeated_failures_back_off_up_to_thirty_seconds() {
        let t0 = Instant::now();
        let mut cooldowns = Cooldowns::default();
        let waits: Vec<_> = (0..6)
            .map(|_| {
                cooldowns.on_failed(&"ann", t0);
                cooldowns.next_attempt(&"ann").unwrap() - t0
            })
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(waits, [5, 10, 20, 30, 30, 30]);
        cooldowns.on_connected(&"ann");
        assert!(cooldowns.try_attempt(&"ann", t0));
    }
}
