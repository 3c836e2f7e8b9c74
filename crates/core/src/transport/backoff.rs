//! When to try the relay again: exponential backoff with jitter, so that thousands of phones
//! losing the same cell tower do not all come back in the same second.

use std::time::Duration;

/// Delays double from `base` up to `max`; each is drawn at random between half and all of
/// that, so that clients spread out. A successful connection resets it.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempts: u32,
}

impl Backoff {
    /// A backoff starting at `base` and never waiting longer than `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempts: 0,
        }
    }

    /// The delay before the next attempt. `unit` is a random number in [0, 1), passed in so
    /// that tests are deterministic.
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << self.attempts.min(16))
            .min(self.max);
        self.attempts = self.attempts.saturating_add(1);
        ceiling.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
    }

    /// The link is up again: the next failure starts from `base`.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(250), Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_ceiling_and_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let full: Vec<_> = (0..6)
            .map(|_| backoff.next_delay(1.0).as_millis())
            .collect();
        assert_eq!(full, [100, 200, 400, 800, 1000, 1000]);
        backoff.reset();
        assert_eq!(
            backoff.next_delay(0.0),
            Duration::from_millis(50),
            "half, with jitter 0"
        );
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_delay() {
        let mut backoff = Backoff::new(Duration::from_secs(8), Duration::from_secs(30));
        for unit in [0.0, 0.25, 0.999] {
            backoff.reset();
            let delay = backoff.next_delay(unit);
            assert!(delay >= Duration::from_secs(4) && delay <= Duration::from_secs(8));
        }
    }
}
