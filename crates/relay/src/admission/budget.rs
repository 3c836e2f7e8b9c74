//! A budget in bytes that may go into debt: the relay cannot know how large an answer is before
//! it reads it, so it sends the answer and charges it, and refuses the next request until the
//! debt is paid back by time.

use std::time::Instant;

/// `per_sec` bytes a second, at most `burst` saved up. Time is passed in.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    per_sec: f64,
    burst: f64,
    balance: f64,
    last: Instant,
}

impl ByteBudget {
    /// A full budget.
    pub(crate) fn new(per_sec: usize, burst: usize, now: Instant) -> Self {
        let burst = burst.max(1) as f64;
        Self {
            per_sec: per_sec as f64,
            burst,
            balance: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.balance = (self.balance + elapsed * self.per_sec).min(self.burst);
        self.last = now;
    }

    /// Whether anything is left (the balance is above zero).
    pub(crate) fn available(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.balance > 0.0
    }

    /// Takes `bytes`, into debt if need be.
    pub(crate) fn charge(&mut self, bytes: usize, now: Instant) {
        self.refill(now);
        self.balance -= bytes as f64;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    // An origin for the time passed in; the test moves it by hand.
    #[allow(clippy::disallowed_methods)]
    fn a_large_answer_is_paid_back_by_time_before_the_next() {
        let t0 = Instant::now();
        let mut budget = ByteBudget::new(1000, 2000, t0);
        assert!(budget.available(t0));
        budget.charge(5000, t0);
        assert!(!budget.available(t0), "3000 bytes in debt");
        assert!(!budget.available(t0 + Duration::from_millis(2900)));
        assert!(budget.available(t0 + Duration::from_millis(3100)));
    }
}
