//! What the device reports about its power and its network: the inputs of the policy,
//! whichever source (the OS, a phone's plugin, `FESTIVAL_POWER`, a test's script) read them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where the device's power comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "supply")]
pub enum Supply {
    /// No battery, or none in use (a desktop on mains): power is not a constraint.
    Mains,
    /// Running on a battery.
    Battery {
        /// Charge left, 0 to 100.
        percent: u8,
        /// Plugged in and charging: treated as plenty, whatever the level.
        charging: bool,
    },
}

/// The power side of the device at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerState {
    /// Mains or battery.
    #[serde(flatten)]
    pub supply: Supply,
    /// The OS's battery saver (Android) or Low Power Mode (iOS) is on: the user asked every
    /// app to spend as little as it can.
    pub saver: bool,
}

impl PowerState {
    /// On mains, no battery saver.
    pub const MAINS: PowerState = PowerState {
        supply: Supply::Mains,
        saver: false,
    };

    /// On a battery at `percent` (clamped to 100), not charging, no battery saver.
    pub fn battery(percent: u8) -> Self {
        Self {
            supply: Supply::Battery {
                percent: percent.min(100),
                charging: false,
            },
            saver: false,
        }
    }

    /// The same, charging.
    pub fn charging(mut self) -> Self {
        if let Supply::Battery { charging, .. } = &mut self.supply {
            *charging = true;
        }
        self
    }

    /// The same, with the battery saver on.
    pub fn saver(mut self) -> Self {
        self.saver = true;
        self
    }
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.supply {
            Supply::Mains => f.write_str("mains")?,
            Supply::Battery { percent, charging } => {
                write!(f, "battery {percent} %")?;
                if charging {
                    f.write_str(", charging")?;
                }
            }
        }
        if self.saver {
            f.write_str(", battery saver")?;
        }
        Ok(())
    }
}

/// The kind of network the device's traffic goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkKind {
    /// Wi-Fi.
    Wifi,
    /// A wired link.
    Ethernet,
    /// A cellular modem: every byte costs battery (the radio's tail time) and often money.
    Cellular,
    /// No network at all: messages wait in the outbox.
    None,
    /// Up, but of a kind the source cannot tell (a VPN, a desktop without NetworkManager).
    Unknown,
}

impl fmt::Display for NetworkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetworkKind::Wifi => "Wi-Fi",
            NetworkKind::Ethernet => "ethernet",
            NetworkKind::Cellular => "cellular",
            NetworkKind::None => "no network",
            NetworkKind::Unknown => "network",
        })
    }
}

/// The network side of the device at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkState {
    /// What carries the traffic.
    pub kind: NetworkKind,
    /// The OS says the network is metered (a phone's hotspot, a data plan): prefer the relay,
    /// whose one socket costs far less than links to every member.
    pub metered: bool,
}

impl NetworkState {
    /// Wi-Fi, not metered.
    pub const WIFI: NetworkState = NetworkState {
        kind: NetworkKind::Wifi,
        metered: false,
    };
    /// Cellular, metered.
    pub const CELLULAR: NetworkState = NetworkState {
        kind: NetworkKind::Cellular,
        metered: true,
    };
    /// No network.
    pub const NONE: NetworkState = NetworkState {
        kind: NetworkKind::None,
        metered: false,
    };
    /// Up, kind unknown, not known to be metered: what a desktop that cannot tell reports.
    pub const UNKNOWN: NetworkState = NetworkState {
        kind: NetworkKind::Unknown,
        metered: false,
    };

    /// Whether the relay should be preferred for cost: cellular, or metered.
    pub fn costly(&self) -> bool {
        self.kind == NetworkKind::Cellular || self.metered
    }
}

impl fmt::Display for NetworkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if self.metered && self.kind != NetworkKind::Cellular {
            f.write_str(", metered")?;
        }
        Ok(())
    }
}
