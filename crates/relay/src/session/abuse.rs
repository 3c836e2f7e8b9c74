//! Counting refused frames: one mistake is answered, a stream of them ends the connection.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Remembers when a connection's recent frames were refused. More than `max` within `window`
/// is abuse. Holds at most `max + 1` instants, whatever the client sends.
#[derive(Debug)]
pub(crate) struct AbuseCounter {
    max: usize,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl AbuseCounter {
    /// A counter allowing `max` refused frames per `window`.
    pub(crate) fn new(max: usize, window: Duration) -> Self {
        Self {
            max,
            window,
            recent: VecDeque::with_capacity(max + 1),
        }
    }

    /// Records a refused frame; true when the connection should now be closed.
    pub(crate) fn record(&mut self, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) > self.window)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        if self.recent.len() > self.max + 1 {
            self.recent.pop_front();
        }
        self.recent.len() > self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn mistakes_spread_out_are_forgiven_a_burst_is_not() {
        let t0 = Instant::now();
        let mut counter = AbuseCounter::new(3, Duration::from_secs(10));
        for i in 0..10 {
            assert!(
                !counter.record(t0 + Duration::from_secs(4 * i)),
                "error {i}"
            );
        }
        let t1 = t0 + Duration::from_secs(100);
        assert!(!counter.record(t1));
        assert!(!counter.record(t1));
        assert!(!counter.record(t1));
        assert!(counter.record(t1), "the fourth within 10 s is abuse");
    }
}
