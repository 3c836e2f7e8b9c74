//! The battery- and network-aware policy, as a pure state machine: given what the power and
//! network sources report and the time, which [`Mode`] the engine runs in.
//!
//! The battery picks a tier (above 70 %, 40 %, 20 %, or below) with hysteresis: a tier is
//! left downwards as soon as the level reaches its threshold, but entered upwards only once
//! the level is [`HYSTERESIS`] points above it, so a level wobbling around a threshold changes
//! the mode once. Charging (or mains) counts as plenty; the battery saver means minimal; a
//! cellular or metered network caps the mode at relay-only; no network means offline. A
//! change to a mode that spends less applies at once; one to a mode that spends more waits
//! until the better condition has held for [`SETTLE`] (a loose charger cable, Wi-Fi that
//! comes and goes), except leaving offline, which applies at once so that the outbox drains.

use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::budget::Mode;
use super::state::{NetworkKind, NetworkState, PowerState, Supply};

/// Battery levels (percent) above which each tier holds: aggressive-p2p, selective-p2p,
/// relay-only. At or below the last one: minimal.
pub const THRESHOLDS: [(u8, Mode); 3] = [
    (70, Mode::AggressiveP2p),
    (40, Mode::SelectiveP2p),
    (20, Mode::RelayOnly),
];
/// Percentage points above a threshold the level must climb to before its tier is entered
/// again from below.
pub const HYSTERESIS: u8 = 5;
/// How long a condition that allows spending more must hold before the mode follows it.
pub const SETTLE: Duration = Duration::from_secs(30);

/// The tier a battery level falls in, with no memory.
fn tier_of(percent: u8) -> Mode {
    THRESHOLDS
        .iter()
        .find(|(threshold, _)| percent > *threshold)
        .map_or(Mode::Minimal, |(_, mode)| *mode)
}

/// A change of mode, and what it was decided on: what the app and `festival chat` show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ModeChange {
    /// The mode before.
    pub from: Mode,
    /// The mode now.
    pub to: Mode,
    /// Why: the inputs the new mode was decided on.
    pub why: Why,
}

impl fmt::Display for ModeChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {} ({})", self.from, self.to, self.why)
    }
}

/// The inputs a mode was decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Why {
    /// The power side.
    pub power: PowerState,
    /// The network side.
    pub network: NetworkState,
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {}", self.power, self.network)
    }
}

/// The policy's state: the battery tier (with its hysteresis), the mode, and an upgrade
/// waiting to settle.
#[derive(Debug, Clone)]
pub struct Policy {
    tier: Mode,
    mode: Mode,
    why: Why,
    /// Since when the inputs have allowed a more generous mode than the current one.
    better_since: Option<Instant>,
}

impl Policy {
    /// The policy for these first readings: the mode they call for, at once.
    pub fn new(power: PowerState, network: NetworkState) -> Self {
        let tier = match power.supply {
            Supply::Battery { percent, .. } => tier_of(percent),
            Supply::Mains => Mode::AggressiveP2p,
        };
        let why = Why { power, network };
        let mut policy = Self {
            tier,
            mode: Mode::Minimal,
            why,
            better_since: None,
        };
        policy.mode = policy.target(&why);
        policy
    }

    /// The mode now.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// What the current mode was decided on (the last readings).
    pub fn why(&self) -> Why {
        self.why
    }

    /// Takes new readings at `now`; the change of mode they cause, if any.
    pub fn update(
        &mut self,
        power: PowerState,
        network: NetworkState,
        now: Instant,
    ) -> Option<ModeChange> {
        if let Supply::Battery { percent, .. } = power.supply {
            self.tier = self.next_tier(percent);
        }
        self.why = Why { power, network };
        let target = self.target(&self.why);
        let from = self.mode;
        if target == from {
            self.better_since = None;
            return None;
        }
        // `Mode` is ordered most generous first: a greater target spends less.
        let at_once = target > from || from == Mode::Offline;
        if !at_once {
            let since = *self.better_since.get_or_insert(now);
            if now.saturating_duration_since(since) < SETTLE {
                return None;
            }
        }
        self.better_since = None;
        self.mode = target;
        Some(ModeChange {
            from,
            to: target,
            why: self.why,
        })
    }

    /// When [`Policy::update`] should be called again with the same readings: a more
    /// generous mode waiting for its condition to settle.
    pub fn wake_at(&self) -> Option<Instant> {
        self.better_since.map(|since| since + SETTLE)
    }

    /// The battery tier after a reading of `percent`: down at once, up past the hysteresis.
    fn next_tier(&self, percent: u8) -> Mode {
        let plain = tier_of(percent);
        if plain >= self.tier {
            return plain;
        }
        tier_of(percent.saturating_sub(HYSTERESIS)).min(self.tier)
    }

    /// The mode the inputs call for, given the battery tier.
    fn target(&self, why: &Why) -> Mode {
        if why.network.kind == NetworkKind::None {
            return Mode::Offline;
        }
        let by_power = if why.power.saver {
            Mode::Minimal
        } else {
            match why.power.supply {
                Supply::Mains | Supply::Battery { charging: true, .. } => Mode::AggressiveP2p,
                Supply::Battery { .. } => self.tier,
            }
        };
        if why.network.costly() {
            by_power.max(Mode::RelayOnly)
        } else {
            by_power
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[allow(clippy::disallowed_methods)] // A test's one real instant; the rest are offsets.
    fn t0() -> Instant {
        Instant::now()
    }

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    #[test]
    fn the_seeds_four_modes_by_battery_level() {
        for (percent, mode) in [
            (100, Mode::AggressiveP2p),
            (71, Mode::AggressiveP2p),
            (70, Mode::SelectiveP2p),
            (41, Mode::SelectiveP2p),
            (40, Mode::RelayOnly),
            (21, Mode::RelayOnly),
            (20, Mode::Minimal),
            (0, Mode::Minimal),
        ] {
            let policy = Policy::new(PowerState::battery(percent), NetworkState::WIFI);
            assert_eq!(policy.mode(), mode, "{percent} %");
        }
        let mains = Policy::new(PowerState::MAINS, NetworkState::UNKNOWN);
        assert_eq!(mains.mode(), Mode::AggressiveP2p);
    }

    #[test]
    fn a_level_wobbling_around_a_threshold_changes_the_mode_once() {
        let t0 = t0();
        let mut policy = Policy::new(PowerState::battery(72), NetworkState::WIFI);
        let mut changes = Vec::new();
        for (i, percent) in [71, 70, 71, 69, 72, 70, 74, 71, 75, 70]
            .into_iter()
            .enumerate()
        {
            let now = at(t0, 60 * (i as u64 + 1));
            changes.extend(policy.update(PowerState::battery(percent), NetworkState::WIFI, now));
        }
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].to, Mode::SelectiveP2p);
        // Past the hysteresis, and held for the settle time, it climbs back.
        let up = PowerState::battery(76);
        assert_eq!(policy.update(up, NetworkState::WIFI, at(t0, 1000)), None);
        let change = policy.update(up, NetworkState::WIFI, at(t0, 1000) + SETTLE);
        assert_eq!(change.map(|c| c.to), Some(Mode::AggressiveP2p));
    }

    #[test]
    fn charging_counts_as_plenty_once_it_has_held_for_the_settle_time() {
        let t0 = t0();
        let low = PowerState::battery(15);
        let mut policy = Policy::new(low, NetworkState::WIFI);
        assert_eq!(policy.mode(), Mode::Minimal);
        // A cable that touches for ten seconds changes nothing.
        assert_eq!(policy.update(low.charging(), NetworkState::WIFI, t0), None);
        assert_eq!(policy.wake_at(), Some(t0 + SETTLE));
        assert_eq!(policy.update(low, NetworkState::WIFI, at(t0, 10)), None);
        assert_eq!(policy.wake_at(), None);
        assert_eq!(
            policy.update(low.charging(), NetworkState::WIFI, at(t0, 20)),
            None
        );
        let change = policy
            .update(low.charging(), NetworkState::WIFI, at(t0, 20) + SETTLE)
            .expect("charging settled");
        assert_eq!(
            (change.from, change.to),
            (Mode::Minimal, Mode::AggressiveP2p)
        );
        assert_eq!(
            change.to_string(),
            "minimal -> aggressive-p2p (battery 15 %, charging, Wi-Fi)"
        );
        // Unplugged: back down at once.
        let change = policy.update(low, NetworkState::WIFI, at(t0, 100));
        assert_eq!(change.map(|c| c.to), Some(Mode::Minimal));
    }

    #[test]
    fn the_battery_saver_means_minimal_at_once_whatever_the_level() {
        let t0 = t0();
        let mut policy = Policy::new(PowerState::battery(90), NetworkState::WIFI);
        let change = policy.update(PowerState::battery(90).saver(), NetworkState::WIFI, t0);
        assert_eq!(change.map(|c| c.to), Some(Mode::Minimal));
        let plugged = PowerState::battery(90).charging().saver();
        assert_eq!(
            policy.update(plugged, NetworkState::WIFI, at(t0, 100)),
            None
        );
    }

    #[test]
    fn cellular_or_metered_prefers_the_relay_and_no_network_is_offline() {
        let t0 = t0();
        let full = PowerState::battery(95);
        let mut policy = Policy::new(full, NetworkState::CELLULAR);
        assert_eq!(policy.mode(), Mode::RelayOnly);
        assert_eq!(
            policy.why().to_string(),
            "battery 95 %, cellular",
            "what the app shows beside the mode"
        );
        let hotspot = NetworkState {
            kind: NetworkKind::Wifi,
            metered: true,
        };
        assert_eq!(policy.update(full, hotspot, at(t0, 1)), None);
        assert_eq!(
            policy
                .update(PowerState::battery(15), hotspot, at(t0, 2))
                .map(|c| c.to),
            Some(Mode::Minimal),
            "a low battery on cellular is still minimal"
        );
        let change = policy.update(full, NetworkState::NONE, at(t0, 3));
        assert_eq!(change.map(|c| c.to), Some(Mode::Offline));
        // Leaving offline applies at once: the outbox is waiting.
        let change = policy.update(full, NetworkState::WIFI, at(t0, 4));
        assert_eq!(change.map(|c| c.to), Some(Mode::AggressiveP2p));
    }

    /// Counts the mode changes of a trace of battery levels on Wi-Fi, one reading a minute.
    fn changes(start: u8, levels: &[u8]) -> Vec<ModeChange> {
        let t0 = t0();
        let mut policy = Policy::new(PowerState::battery(start), NetworkState::WIFI);
        levels
            .iter()
            .enumerate()
            .filter_map(|(i, &percent)| {
                let now = at(t0, 60 * (i as u64 + 1));
                policy.update(PowerState::battery(percent), NetworkState::WIFI, now)
            })
            .collect()
    }

    proptest! {
        /// However a level wobbles, if it stays within a band narrower than the hysteresis
        /// it changes the mode at most once.
        #[test]
        fn no_flapping_within_the_hysteresis(
            low in 0u8..=100,
            wobble in proptest::collection::vec(0u8..HYSTERESIS, 1..200),
        ) {
            let levels: Vec<u8> = wobble.iter().map(|w| low.saturating_add(*w).min(100)).collect();
            let changes = changes(levels[0], &levels);
            prop_assert!(changes.len() <= 1, "{:?}", changes);
        }

        /// A battery running down changes the mode at most once per threshold it crosses
        /// (a jump across several is one change), always downwards, and ends in the tier of
        /// its last level.
        #[test]
        fn a_falling_battery_steps_down_once_per_threshold(
            mut levels in proptest::collection::vec(0u8..=100, 1..300),
        ) {
            levels.sort_unstable_by(|a, b| b.cmp(a));
            let (start, last) = (levels[0], levels[levels.len() - 1]);
            let crossed = THRESHOLDS
                .iter()
                .filter(|(t, _)| start > *t && last <= *t)
                .count();
            let changes = changes(start, &levels);
            prop_assert!(changes.len() <= crossed, "{:?}", changes);
            prop_assert_eq!(changes.is_empty(), crossed == 0);
            for change in &changes {
                prop_assert!(change.to > change.from);
            }
            let end = changes.last().map_or(tier_of(start), |c| c.to);
            prop_assert_eq!(end, tier_of(last));
        }

        /// Outside the hysteresis bands the mode is the level's tier: the memory never
        /// sticks.
        #[test]
        fn away_from_thresholds_the_mode_is_the_levels_tier(
            levels in proptest::collection::vec(0u8..=100, 2..100),
        ) {
            let t0 = t0();
            let mut policy = Policy::new(PowerState::battery(levels[0]), NetworkState::WIFI);
            for (i, &percent) in levels.iter().enumerate() {
                // Each reading held past the settle time.
                let now = at(t0, 60 * (i as u64 + 1));
                policy.update(PowerState::battery(percent), NetworkState::WIFI, now);
                policy.update(PowerState::battery(percent), NetworkState::WIFI, now + SETTLE);
                let in_band = THRESHOLDS
                    .iter()
                    .any(|(t, _)| percent > *t && percent <= t + HYSTERESIS);
                if !in_band {
                    prop_assert_eq!(policy.mode(), tier_of(percent), "{} %", percent);
                }
            }
        }
    }
}
