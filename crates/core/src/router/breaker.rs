//! A circuit breaker per route: after repeated failures a route is left alone for a while,
//! then tried once; one success closes it again. Time is passed in.

use std::time::{Duration, Instant};

use serde::Serialize;

/// Consecutive failures that open the breaker.
pub const FAILURES_TO_OPEN: u32 = 3;
/// How long an open breaker keeps the route out of use before one probe is allowed.
pub const RECOVERY: Duration = Duration::from_secs(30);

/// Where a breaker stands, as diagnostics show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// The route is used; `failures` in a row so far.
    Closed {
        /// Consecutive failures.
        failures: u32,
    },
    /// The route is not used until the recovery time has passed.
    Open,
    /// One probe is allowed (or under way); its outcome closes or reopens the breaker.
    HalfOpen,
}

/// One route's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    recovery: Duration,
    failures: u32,
    opened_at: Option<Instant>,
    probing: bool,
}

impl Default for Breaker {
    fn default() -> Self {
        Self::new()
    }
}

impl Breaker {
    /// A closed breaker that recovers after [`RECOVERY`].
    pub fn new() -> Self {
        Self::with_recovery(RECOVERY)
    }

    /// A closed breaker that recovers after `recovery` (tests shorten it).
    pub fn with_recovery(recovery: Duration) -> Self {
        Self {
            recovery,
            failures: 0,
            opened_at: None,
            probing: false,
        }
    }

    /// The state at `now`.
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.opened_at {
            None => BreakerState::Closed {
                failures: self.failures,
            },
            Some(at) if now.saturating_duration_since(at) >= self.recovery => {
                BreakerState::HalfOpen
            }
            Some(_) => BreakerState::Open,
        }
    }

    /// Whether a message may use the route at `now`. In half-open state this admits exactly
    /// one probe until its outcome is reported.
    pub fn try_use(&mut self, now: Instant) -> bool {
        match self.state(now) {
            BreakerState::Closed { .. } => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen if self.probing => false,
            BreakerState::HalfOpen => {
                self.probing = true;
                true
            }
        }
    }

    /// The route delivered: the breaker closes.
    pub fn on_success(&mut self) {
        self.reset();
    }

    /// The route failed at `now`: count it, and open (or reopen after a failed probe).
    pub fn on_failure(&mut self, now: Instant) {
        self.probing = false;
        if self.opened_at.is_some() {
            self.opened_at = Some(now);
            return;
        }
        self.failures += 1;
        if self.failures >= FAILURES_TO_OPEN {
            self.opened_at = Some(now);
        }
    }

    /// Closes the breaker by hand (the debug panel's reset).
    pub fn reset(&mut self) {
        *self = Self::with_recovery(self.recovery);
    }

    /// When an open breaker lets a probe through.
    pub fn reopens_at(&self) -> Option<Instant> {
        self.opened_at.map(|at| at + self.recovery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn opens_after_three_failures_and_half_opens_after_thirty_seconds() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new();
        breaker.on_failure(t0);
        breaker.on_failure(t0);
        assert_eq!(breaker.state(t0), BreakerState::Closed { failures: 2 });
        assert!(breaker.try_use(t0));
        breaker.on_failure(t0);
        assert_eq!(breaker.state(t0), BreakerState::Open);
        assert!(!breaker.try_use(t0 + Duration::from_secs(29)));
        let later = t0 + RECOVERY;
        assert_eq!(breaker.state(later), BreakerState::HalfOpen);
        assert!(breaker.try_use(later), "one probe");
        assert!(!breaker.try_use(later), "and only one");
        breaker.on_success();
        assert_eq!(breaker.state(later), BreakerState::Closed { failures: 0 });
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn a_failed_probe_reopens_for_another_recovery_period() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new();
        for _ in 0..3 {
            breaker.on_failure(t0);
        }
        let probe = t0 + RECOVERY;
        assert!(breaker.try_use(probe));
        breaker.on_failure(probe);
        assert_eq!(
            breaker.state(probe + Duration::from_secs(29)),
            BreakerState::Open
        );
        assert_eq!(breaker.state(probe + RECOVERY), BreakerState::HalfOpen);
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn a_success_in_between_resets_the_count_and_reset_closes() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new();
        breaker.on_failure(t0);
        breaker.on_failure(t0);
        breaker.on_success();
        breaker.on_failure(t0);
        assert_eq!(breaker.state(t0), BreakerState::Closed { failures: 1 });
        for _ in 0..3 {
            breaker.on_failure(t0);
        }
        breaker.reset();
        assert!(breaker.try_use(t0));
    }
}
