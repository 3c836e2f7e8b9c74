//! The machine's one seam with the power policy: a budget from [`crate::power`] applied live
//! to what spends (the link cap and cooldowns, the relay's keepalive, the machine's own
//! timers and the retry delay).

use std::time::{Duration, Instant};

use super::EngineState;
use crate::power::PowerBudget;
use crate::router::cooldown::{MAX_BACKOFF, Timings};

impl EngineState {
    /// Applies a power budget. Links over the new cap close at the reconcile below, between
    /// two messages (the machine handles one input at a time, so no send is cut in half);
    /// the timers take their new periods from now.
    pub(crate) fn set_power_budget(&mut self, now: Instant, budget: PowerBudget) {
        let cap = budget.link_cap(self.config.p2p.mobile);
        let cooldowns = Timings {
            discovery_every: budget.discovery_every,
            attempt_every: budget.attempt_every,
            max_backoff: MAX_BACKOFF.max(budget.attempt_every),
        };
        self.p2p.links.set_policy(cap, cooldowns);
        self.config.p2p.links.max_links = cap;
        self.config.p2p.links.timings = cooldowns;
        self.config.p2p.max_group = budget.auto_group;
        self.relay
            .set_keepalive(budget.keepalive, budget.relay_may_sleep);
        let timings = &mut self.config.timings;
        timings.relay_ping_every = budget.keepalive;
        timings.p2p_tick = budget.tick.max(Duration::from_millis(100));
        timings.maintain_every = budget.maintain_every.max(Duration::from_secs(1));
        timings.retry_after = budget.retry_after;
        timings.peer_ping_every = budget.peer_keepalive;
        // A mesh report is bookkeeping too: minimal sends one in ten minutes at most.
        self.reporter.slow_to(budget.tick);
        self.next_p2p_tick = self.next_p2p_tick.min(now + timings.p2p_tick);
        self.next_maintain = self.next_maintain.min(now + timings.maintain_every);
        self.stats.mode = Some(budget.mode);
        self.reconcile(now);
        self.update_route(now);
    }
}
