//! A token bucket: the relay enforces [`Limits::rate_per_sec`](crate::Limits) and
//! [`Limits::rate_burst`](crate::Limits) with it, and a client paces itself with the same one.

use std::time::{Duration, Instant};

/// Allows `burst` frames at once and `per_sec` frames per second sustained. Time is passed
/// in, so tests move the clock by hand.
#[derive(Debug)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(per_sec: u32, burst: u32, now: Instant) -> Self {
        let capacity = f64::from(burst.max(1));
        Self {
            capacity,
            per_sec: f64::from(per_sec),
            tokens: capacity,
            last: now,
        }
    }

    /// Takes one token if there is one; false means the frame must wait (or is refused).
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until a token is available, `Duration::ZERO` if one is now.
    pub fn wait(&self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        let tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        if tokens >= 1.0 || self.per_sec <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - tokens) / self.per_sec)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn a_burst_passes_then_the_rate_holds() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10, 5, t0);
        assert_eq!((0..8).filter(|_| bucket.try_take(t0)).count(), 5);
        // 10 per second: one more token every 100 ms.
        assert!(bucket.try_take(t0 + Duration::from_millis(100)));
        assert!(!bucket.try_take(t0 + Duration::from_millis(150)));
        // A long pause refills only up to the burst size.
        assert_eq!(
            bucket.wait(t0 + Duration::from_millis(150)),
            Duration::from_millis(50)
        );
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..8).filter(|_| bucket.try_take(later)).count(), 5);
    }
}
