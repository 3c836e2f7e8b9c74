//! The driver's one seam with the power policy: a budget from [`crate::power`] applied live
//! to the parts that spend (the link cap and cooldowns, the relay's keepalive, the engine's
//! own timers), and the count of the task's wake-ups that the budget is measured by.

use std::time::Duration;

use tokio::time::{Instant, Interval};

use super::{Driver, MAINTAIN_EVERY, P2P_TICK, RETRY_AFTER};
use crate::engine::link::Link;
use crate::power::{Mode, PowerBudget};
use crate::router::cooldown::{MAX_BACKOFF, Timings};
use crate::transport::TransportError;

/// How often an open link is pinged to time it, before any budget is set.
const PEER_PING_EVERY: Duration = Duration::from_secs(5);

/// The timers and delays the budget sets (before one is set: the engine's defaults).
#[derive(Debug, Clone, Copy)]
pub(super) struct Spending {
    /// The mode of the budget applied, if one was.
    pub(super) mode: Option<Mode>,
    /// The direct-link bookkeeping tick.
    pub(super) tick: Duration,
    /// The outbox's expiry and the history's pruning.
    pub(super) maintain_every: Duration,
    /// The wait before a message the relay could not take is sent again.
    pub(super) retry_after: Duration,
    /// How often an open direct link is pinged.
    pub(super) peer_keepalive: Duration,
}

impl Default for Spending {
    fn default() -> Self {
        Self {
            mode: None,
            tick: P2P_TICK,
            maintain_every: MAINTAIN_EVERY,
            retry_after: RETRY_AFTER,
            peer_keepalive: PEER_PING_EVERY,
        }
    }
}

impl Driver {
    /// Applies a power budget. Links over the new cap close at the next reconcile, between
    /// two messages; the timers take their new periods at the task's next wake-up.
    pub(super) async fn set_budget(
        &mut self,
        budget: PowerBudget,
        link: Option<&mut Link>,
    ) -> Result<(), TransportError> {
        let cap = budget.link_cap(self.p2p.config.mobile);
        let timings = Timings {
            discovery_every: budget.discovery_every,
            attempt_every: budget.attempt_every,
            max_backoff: MAX_BACKOFF.max(budget.attempt_every),
        };
        self.p2p.links.set_policy(cap, timings);
        self.p2p.config.links.max_links = cap;
        self.p2p.config.links.timings = timings;
        self.p2p.config.max_group = budget.auto_group;
        self.relay
            .set_keepalive(budget.keepalive, budget.relay_may_sleep);
        self.spending = Spending {
            mode: Some(budget.mode),
            tick: budget.tick.max(Duration::from_millis(100)),
            maintain_every: budget.maintain_every.max(Duration::from_secs(1)),
            retry_after: budget.retry_after,
            peer_keepalive: budget.peer_keepalive,
        };
        self.reconcile(link).await?;
        self.update_route().await;
        Ok(())
    }

    /// Called each time the task wakes: counts the wake-up, and restarts the periodic
    /// timers whose period the budget changed.
    pub(super) fn woke(&mut self, tick: &mut Interval, maintain: &mut Interval) {
        self.stats.wakeups += 1;
        let spending = self.spending;
        for (timer, period) in [(tick, spending.tick), (maintain, spending.maintain_every)] {
            if timer.period() != period {
                *timer = tokio::time::interval_at(Instant::now() + period, period);
            }
        }
    }
}
