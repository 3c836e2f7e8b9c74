//! Battery- and network-aware policy: the engine spends what the phone can afford.
//!
//! Readings come from sources behind two traits ([`PowerSource`], [`NetworkSource`]): the
//! desktop's own (`desktop` feature), a phone's plugin, the `FESTIVAL_POWER` override
//! ([`env_override`]) or a test's [`Scripted`] values. The pure [`Policy`] turns them into a
//! [`Mode`] with hysteresis, and each mode's [`PowerBudget`] is what the engine applies live
//! ([`crate::Engine::set_power_budget`]). [`Monitor`] joins the three for a program: it reads
//! the sources when asked, and says when to ask again.

mod budget;
#[cfg(feature = "desktop")]
mod desktop;
pub mod env_override;
mod policy;
mod source;
mod state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

pub use budget::{Mode, PowerBudget};
#[cfg(feature = "desktop")]
pub use desktop::{SystemNetwork, SystemPower};
pub use policy::{HYSTERESIS, ModeChange, Policy, SETTLE, THRESHOLDS, Why};
pub use source::{NetworkSource, PowerSource, Scripted, SourceError};
pub use state::{NetworkKind, NetworkState, PowerState, Supply};

/// How often the sources are read when nothing wakes the monitor sooner: a battery loses a
/// percent in minutes, and network changes wake it at once where the source can tell.
pub const POLL_EVERY: Duration = Duration::from_secs(60);

/// The sources and the policy together: what a program around the engine runs.
pub struct Monitor {
    power: Box<dyn PowerSource>,
    network: Box<dyn NetworkSource>,
    /// The user's override of the power reading (an app setting, `/power`, `FESTIVAL_POWER`).
    power_override: Option<PowerState>,
    policy: Policy,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("power_override", &self.power_override)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Monitor {
    /// Takes the first readings and decides the first mode. `power_override` stands in for
    /// the power source while set.
    pub fn start(
        mut power: Box<dyn PowerSource>,
        mut network: Box<dyn NetworkSource>,
        power_override: Option<PowerState>,
    ) -> Result<Self, SourceError> {
        let first = match power_override {
            Some(reading) => reading,
            None => power.read()?,
        };
        let policy = Policy::new(first, network.read()?);
        Ok(Self {
            power,
            network,
            power_override,
            policy,
        })
    }

    /// The policy: its mode and what the mode was decided on.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The budget of the current mode.
    pub fn budget(&self) -> PowerBudget {
        self.policy.mode().budget()
    }

    /// Sets (or with `None`, clears) the override of the power reading. The user chose it,
    /// so it applies at once, without settling: the change it makes, if any.
    pub fn set_override(
        &mut self,
        power: Option<PowerState>,
    ) -> Result<Option<ModeChange>, SourceError> {
        self.power_override = power;
        let (power, network) = self.read()?;
        let from = self.policy.mode();
        self.policy = Policy::new(power, network);
        let to = self.policy.mode();
        Ok((from != to).then(|| ModeChange {
            from,
            to,
            why: self.policy.why(),
        }))
    }

    /// Reads the sources at `now`: the mode change they cause, if any.
    pub fn poll(&mut self, now: Instant) -> Result<Option<ModeChange>, SourceError> {
        let (power, network) = self.read()?;
        Ok(self.policy.update(power, network, now))
    }

    fn read(&mut self) -> Result<(PowerState, NetworkState), SourceError> {
        let power = match self.power_override {
            Some(reading) => reading,
            None => self.power.read()?,
        };
        Ok((power, self.network.read()?))
    }

    /// When to poll next, if nothing wakes the monitor before: after [`POLL_EVERY`], or
    /// sooner when a more generous mode is settling.
    pub fn next_poll(&self, now: Instant) -> Instant {
        let regular = now + POLL_EVERY;
        self.policy.wake_at().map_or(regular, |at| at.min(regular))
    }

    /// Woken when the network source reports a change.
    pub fn network_changes(&self) -> Option<Arc<Notify>> {
        self.network.changes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // A test's one real instant; the rest are offsets.
    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn the_override_stands_in_for_the_power_source_until_cleared() {
        let battery = Scripted::new(PowerState::battery(90));
        let network = Scripted::new(NetworkState::WIFI);
        let mut monitor = Monitor::start(
            Box::new(battery.clone()),
            Box::new(network.clone()),
            Some(PowerState::battery(15)),
        )
        .expect("scripted sources read");
        assert_eq!(monitor.policy().mode(), Mode::Minimal);
        let t0 = t0();
        // The user's choice applies at once.
        let change = monitor.set_override(None).expect("read").expect("a change");
        assert_eq!(
            (change.from, change.to),
            (Mode::Minimal, Mode::AggressiveP2p)
        );
        battery.set(PowerState::battery(15));
        let change = monitor.poll(t0).expect("read").expect("down at once");
        assert_eq!(change.to, Mode::Minimal);
        battery.set(PowerState::battery(90).charging());
        assert_eq!(
            monitor.poll(t0),
            Ok(None),
            "an upgrade the source reports waits to settle"
        );
        assert_eq!(monitor.next_poll(t0), t0 + SETTLE);
        let change = monitor.poll(t0 + SETTLE).expect("read").expect("settled");
        assert_eq!(change.to, Mode::AggressiveP2p);
        network.set(NetworkState::CELLULAR);
        let change = monitor.poll(t0 + SETTLE).expect("read").expect("cellular");
        assert_eq!(change.to, Mode::RelayOnly);
        assert_eq!(monitor.budget(), Mode::RelayOnly.budget());
        assert_eq!(monitor.next_poll(t0), t0 + POLL_EVERY);
    }
}
