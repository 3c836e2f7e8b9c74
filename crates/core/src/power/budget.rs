//! What each mode lets the engine spend: direct links, how often it looks for peers and
//! pings, how outgoing work is batched, and whether the relay socket may sleep.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How freely the engine spends battery and data, most generous first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Battery above 70 % (or charging, or mains) on a free network: direct links to every
    /// member of rooms of up to 8, looked for often.
    AggressiveP2p,
    /// Battery above 40 %: direct links in rooms of up to 6, at most 4 (2 on a phone),
    /// looked for less often.
    SelectiveP2p,
    /// Battery above 20 %, or a cellular or metered network: the relay only; a direct link
    /// only when the user asks for one.
    RelayOnly,
    /// Battery at 20 % or below, or the battery saver on: the relay, pinged every two minutes
    /// (the relay follows that keepalive instead of pinging on its own), work batched, no
    /// direct links.
    Minimal,
    /// No network: messages wait in the outbox; nothing is retried until a network is back.
    Offline,
}

impl Mode {
    /// Every mode, most generous first.
    pub const ALL: [Mode; 5] = [
        Mode::AggressiveP2p,
        Mode::SelectiveP2p,
        Mode::RelayOnly,
        Mode::Minimal,
        Mode::Offline,
    ];

    /// The mode's name as typed and printed (`relay-only`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::AggressiveP2p => "aggressive-p2p",
            Mode::SelectiveP2p => "selective-p2p",
            Mode::RelayOnly => "relay-only",
            Mode::Minimal => "minimal",
            Mode::Offline => "offline",
        }
    }

    /// What the mode lets the engine spend.
    pub fn budget(self) -> PowerBudget {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        match self {
            Mode::AggressiveP2p => PowerBudget {
                mode: self,
                auto_group: 8,
                max_links: 8,
                max_links_mobile: 3,
                discovery_every: s(2),
                attempt_every: s(5),
                keepalive: s(15),
                peer_keepalive: s(5),
                tick: ms(500),
                maintain_every: s(60),
                retry_after: s(1),
                relay_may_sleep: false,
            },
            Mode::SelectiveP2p => PowerBudget {
                mode: self,
                auto_group: 6,
                max_links: 4,
                max_links_mobile: 2,
                discovery_every: s(10),
                attempt_every: s(20),
                keepalive: s(15),
                peer_keepalive: s(15),
                tick: s(1),
                maintain_every: s(60),
                retry_after: s(2),
                relay_may_sleep: false,
            },
            Mode::RelayOnly => PowerBudget {
                mode: self,
                auto_group: 0,
                max_links: 2,
                max_links_mobile: 1,
                discovery_every: s(30),
                attempt_every: s(60),
                keepalive: s(30),
                peer_keepalive: s(30),
                tick: s(5),
                maintain_every: s(120),
                retry_after: s(5),
                relay_may_sleep: false,
            },
            Mode::Minimal => PowerBudget {
                mode: self,
                auto_group: 0,
                max_links: 0,
                max_links_mobile: 0,
                discovery_every: s(120),
                attempt_every: s(300),
                keepalive: s(120),
                peer_keepalive: s(60),
                tick: s(600),
                maintain_every: s(600),
                retry_after: s(30),
                relay_may_sleep: true,
            },
            Mode::Offline => PowerBudget {
                mode: self,
                auto_group: 0,
                max_links: 0,
                max_links_mobile: 0,
                discovery_every: s(120),
                attempt_every: s(300),
                keepalive: s(120),
                peer_keepalive: s(60),
                tick: s(600),
                maintain_every: s(600),
                retry_after: s(60),
                relay_may_sleep: true,
            },
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one mode lets the engine spend, applied live by [`crate::Engine::set_power_budget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerBudget {
    /// The mode this budget is for.
    pub mode: Mode,
    /// Largest room (members, this device included) in which direct links open by
    /// themselves; 0: never, only when the user asks ([`crate::Engine::p2p_upgrade`]) or
    /// prefers P2P.
    pub auto_group: usize,
    /// Most direct links kept at once on a desktop.
    pub max_links: usize,
    /// The same on a phone.
    pub max_links_mobile: usize,
    /// Least time between two looks for peers to link to.
    #[serde(with = "millis", rename = "discovery_every_ms")]
    pub discovery_every: Duration,
    /// Least time between two attempts to link to one peer.
    #[serde(with = "millis", rename = "attempt_every_ms")]
    pub attempt_every: Duration,
    /// How often the relay is pinged while nothing else is said (its silence limit is three
    /// of these).
    #[serde(with = "millis", rename = "keepalive_ms")]
    pub keepalive: Duration,
    /// How often an open direct link is pinged.
    #[serde(with = "millis", rename = "peer_keepalive_ms")]
    pub peer_keepalive: Duration,
    /// How often direct-link bookkeeping runs (attempt timeouts, a held-back message's
    /// wait, link pings): the engine's most frequent timer.
    #[serde(with = "millis", rename = "tick_ms")]
    pub tick: Duration,
    /// How often expired outbox messages are marked failed and old history is pruned.
    #[serde(with = "millis", rename = "maintain_every_ms")]
    pub maintain_every: Duration,
    /// How long a message the relay could not take right now waits before it is sent again.
    #[serde(with = "millis", rename = "retry_after_ms")]
    pub retry_after: Duration,
    /// Between bursts the relay socket is left alone for the OS to park the radio: traffic
    /// counts as liveness, so a ping goes out only after a full keepalive with nothing heard.
    pub relay_may_sleep: bool,
}

/// Durations as whole milliseconds in JSON, as the rest of the engine's stats give times.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

impl PowerBudget {
    /// The link cap for this device.
    pub fn link_cap(&self, mobile: bool) -> usize {
        if mobile {
            self.max_links_mobile
        } else {
            self.max_links
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lower_mode_never_spends_more_than_a_higher_one() {
        for pair in Mode::ALL.windows(2) {
            let (more, less) = (pair[0].budget(), pair[1].budget());
            assert!(less.max_links <= more.max_links, "{pair:?}");
            assert!(less.max_links_mobile <= more.max_links_mobile, "{pair:?}");
            assert!(less.discovery_every >= more.discovery_every, "{pair:?}");
            assert!(less.attempt_every >= more.attempt_every, "{pair:?}");
            assert!(less.keepalive >= more.keepalive, "{pair:?}");
            assert!(less.peer_keepalive >= more.peer_keepalive, "{pair:?}");
            assert!(less.tick >= more.tick, "{pair:?}");
            assert!(less.maintain_every >= more.maintain_every, "{pair:?}");
            assert!(less.retry_after >= more.retry_after, "{pair:?}");
            assert!(!more.relay_may_sleep || less.relay_may_sleep, "{pair:?}");
            assert!(less.auto_group <= more.auto_group, "{pair:?}");
        }
    }

    #[test]
    fn the_seeds_keepalive_of_15_s_with_battery_to_spare_and_two_minutes_when_low() {
        assert_eq!(
            Mode::AggressiveP2p.budget().keepalive,
            Duration::from_secs(15)
        );
        assert_eq!(
            Mode::SelectiveP2p.budget().keepalive,
            Duration::from_secs(15)
        );
        // The seed's 60 s would be 60 wake-ups an hour for the pings alone: minimal's target
        // for everything.
        assert_eq!(Mode::Minimal.budget().keepalive, Duration::from_secs(120));
        assert_eq!(Mode::AggressiveP2p.budget().link_cap(true), 3);
        assert_eq!(Mode::AggressiveP2p.budget().link_cap(false), 8);
        assert_eq!(Mode::Minimal.budget().link_cap(false), 0);
    }
}
