//! The mesh over time: a fixed number of samples at a fixed interval, the oldest dropped as a
//! new one comes. Nothing in it grows with the number of devices or with time.

use std::collections::VecDeque;

use serde::Serialize;

use super::{Aggregate, Snapshot};

/// One moment of the mesh and of the relay, for the dashboard's charts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Sample {
    /// When, Unix milliseconds.
    pub(crate) at: i64,
    /// Devices connected.
    pub(crate) users: usize,
    /// Devices with an open direct link.
    pub(crate) p2p_active_users: usize,
    /// Open direct links.
    pub(crate) p2p_links: usize,
    /// Direct link success rate, 0 to 1.
    pub(crate) link_success_rate: Option<f64>,
    /// Mean round trip to the relay, ms.
    pub(crate) relay_avg_ms: Option<f64>,
    /// 95th percentile round trip to the relay, ms.
    pub(crate) relay_p95_ms: Option<f64>,
    /// Mean round trip over direct links, ms.
    pub(crate) p2p_avg_ms: Option<f64>,
    /// 95th percentile round trip over direct links, ms.
    pub(crate) p2p_p95_ms: Option<f64>,
    /// Share of messages that came directly, 0 to 1.
    pub(crate) p2p_share: Option<f64>,
    /// The relay's own: open WebSocket connections.
    pub(crate) connections: i64,
    /// The relay's own: messages stored since it started.
    pub(crate) messages_stored: u64,
}

impl Sample {
    /// The sample of `snapshot`, with the relay's own counters.
    pub(crate) fn of(snapshot: &Snapshot, connections: i64, messages_stored: u64) -> Self {
        let Aggregate {
            users,
            p2p_active_users,
            p2p_links,
            link_success_rate,
            relay_latency,
            p2p_latency,
            route_share,
            ..
        } = &snapshot.overall;
        Self {
            at: snapshot.at,
            users: *users,
            p2p_active_users: *p2p_active_users,
            p2p_links: *p2p_links,
            link_success_rate: *link_success_rate,
            relay_avg_ms: relay_latency.avg,
            relay_p95_ms: relay_latency.p95,
            p2p_avg_ms: p2p_latency.avg,
            p2p_p95_ms: p2p_latency.p95,
            p2p_share: route_share.map(|s| s.p2p),
            connections,
            messages_stored,
        }
    }
}

/// The last `capacity` samples, oldest first.
#[derive(Debug)]
pub(crate) struct Ring {
    samples: VecDeque<Sample>,
    capacity: usize,
}

impl Ring {
    /// An empty ring holding at most `capacity` samples (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            samples: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Adds `sample`, dropping the oldest when full.
    pub(crate) fn push(&mut self, sample: Sample) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// Every sample, oldest first.
    pub(crate) fn samples(&self) -> Vec<Sample> {
        self.samples.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_and_never_grows() {
        let mut ring = Ring::new(3);
        for at in 0..10 {
            let snapshot = Snapshot {
                at,
                ..Snapshot::default()
            };
            ring.push(Sample::of(&snapshot, 0, 0));
        }
        let kept: Vec<i64> = ring.samples().iter().map(|s| s.at).collect();
        assert_eq!(kept, [7, 8, 9]);
        assert!(ring.samples.len() <= 3);
    }
}
