//! The desktop's own readings: the battery through `starship-battery` (a machine with none
//! reports mains), the network from the interfaces `netwatcher` lists and watches, and, on
//! Linux with the `networkmanager` feature, the kind and the metered flag NetworkManager
//! gives over D-Bus when it runs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use super::source::{NetworkSource, PowerSource, SourceError};
use super::state::{NetworkKind, NetworkState, PowerState};

/// The machine's batteries, through `starship-battery`.
#[derive(Debug, Default)]
pub struct SystemPower;

impl PowerSource for SystemPower {
    fn read(&mut self) -> Result<PowerState, SourceError> {
        let unavailable = |e: starship_battery::Error| SourceError::Unavailable {
            source_name: "battery",
            reason: e.to_string(),
        };
        let manager = starship_battery::Manager::new().map_err(unavailable)?;
        let mut level = None::<(f32, bool)>;
        for battery in manager.batteries().map_err(unavailable)? {
            let battery = battery.map_err(unavailable)?;
            let charge = battery.state_of_charge().value.clamp(0.0, 1.0);
            let plugged = matches!(
                battery.state(),
                starship_battery::State::Charging | starship_battery::State::Full
            );
            // Several batteries (some laptops have two): the emptiest one sets the pace.
            let (least, any_plugged) = level.unwrap_or((1.0, false));
            level = Some((least.min(charge), any_plugged || plugged));
        }
        Ok(match level {
            None => PowerState::MAINS,
            Some((charge, plugged)) => {
                // `charge` is within 0..=1, so the rounded percentage fits a u8.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let percent = (charge * 100.0).round() as u8;
                let state = PowerState::battery(percent);
                if plugged { state.charging() } else { state }
            }
        })
    }
}

/// The network, from the machine's interfaces: told of every change by `netwatcher`, with
/// the kind of the interface that carries traffic read from the OS (and NetworkManager's
/// view, kind and metered, when it runs).
pub struct SystemNetwork {
    latest: Arc<Mutex<NetworkState>>,
    changed: Arc<Notify>,
    /// Keeps the watch alive.
    _watch: netwatcher::WatchHandle,
}

impl std::fmt::Debug for SystemNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemNetwork")
            .field("latest", &self.latest)
            .finish_non_exhaustive()
    }
}

impl SystemNetwork {
    /// Starts watching the interfaces (the first reading is taken before this returns).
    pub fn watch() -> Result<Self, SourceError> {
        let first = classify(&list()?);
        let latest = Arc::new(Mutex::new(first));
        let changed = Arc::new(Notify::new());
        let (store, wake) = (Arc::clone(&latest), Arc::clone(&changed));
        let watch = netwatcher::watch_interfaces_with_callback(move |update| {
            let state = classify(&update.interfaces);
            *store.lock().unwrap_or_else(PoisonError::into_inner) = state;
            wake.notify_one();
        })
        .map_err(|e| SourceError::Unavailable {
            source_name: "network interfaces",
            reason: e.to_string(),
        })?;
        Ok(Self {
            latest,
            changed,
            _watch: watch,
        })
    }
}

impl NetworkSource for SystemNetwork {
    fn read(&mut self) -> Result<NetworkState, SourceError> {
        let from_interfaces = *self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        if from_interfaces.kind == NetworkKind::None {
            return Ok(from_interfaces);
        }
        Ok(network_manager::read().unwrap_or(from_interfaces))
    }

    fn changes(&self) -> Option<Arc<Notify>> {
        Some(Arc::clone(&self.changed))
    }
}

fn list() -> Result<HashMap<u32, netwatcher::Interface>, SourceError> {
    netwatcher::list_interfaces().map_err(|e| SourceError::Unavailable {
        source_name: "network interfaces",
        reason: e.to_string(),
    })
}

/// The network the interfaces add up to: none without a routable address; otherwise the
/// cheapest kind among the interfaces that have one (Ethernet, then Wi-Fi, then cellular),
/// since the OS routes over the cheapest one it has.
fn classify(interfaces: &HashMap<u32, netwatcher::Interface>) -> NetworkState {
    let kinds = interfaces.values().filter_map(|interface| {
        let routable = interface.ips.iter().any(|record| routable(record.ip));
        routable.then(|| kind_of(&interface.name))
    });
    let rank = |kind: &NetworkKind| match kind {
        NetworkKind::Ethernet => 0,
        NetworkKind::Wifi => 1,
        NetworkKind::Unknown => 2,
        NetworkKind::Cellular => 3,
        NetworkKind::None => 4,
    };
    let kind = kinds.min_by_key(rank).unwrap_or(NetworkKind::None);
    NetworkState {
        kind,
        metered: kind == NetworkKind::Cellular,
    }
}

/// An address that can reach beyond this machine.
fn routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()),
        IpAddr::V6(v6) => !(v6.is_loopback() || v6.is_unspecified() || v6.is_unicast_link_local()),
    }
}

/// An interface's kind as the OS tells it (Linux: sysfs), else from its name.
fn kind_of(name: &str) -> NetworkKind {
    #[cfg(target_os = "linux")]
    {
        let dir = std::path::Path::new("/sys/class/net").join(name);
        if dir.join("wireless").exists() || dir.join("phy80211").exists() {
            return NetworkKind::Wifi;
        }
        let uevent = std::fs::read_to_string(dir.join("uevent")).unwrap_or_default();
        if uevent.lines().any(|line| line == "DEVTYPE=wwan") {
            return NetworkKind::Cellular;
        }
        if uevent.lines().any(|line| line == "DEVTYPE=wlan") {
            return NetworkKind::Wifi;
        }
        if uevent.lines().any(|line| line.starts_with("DEVTYPE=")) {
            // A bridge, a VPN, a veth: something in between; the name may still tell.
            return kind_by_name(name);
        }
        // A physical device with no DEVTYPE is an Ethernet card on Linux.
        if dir.join("device").exists() || name.starts_with("eth") || name.starts_with("en") {
            return NetworkKind::Ethernet;
        }
    }
    kind_by_name(name)
}

fn kind_by_name(name: &str) -> NetworkKind {
    let prefixed = |prefixes: &[&str]| prefixes.iter().any(|p| name.starts_with(p));
    if prefixed(&["wl", "ath"]) {
        NetworkKind::Wifi
    } else if prefixed(&["ww", "rmnet", "ccmni", "pdp_ip"]) {
        NetworkKind::Cellular
    } else if prefixed(&["eth", "en"]) {
        NetworkKind::Ethernet
    } else {
        NetworkKind::Unknown
    }
}

#[cfg(all(target_os = "linux", feature = "networkmanager"))]
mod network_manager {
    //! NetworkManager's view over the system D-Bus: the primary connection's type and the
    //! `Metered` property (NMMetered: 1 yes, 3 guessed yes).

    use super::{NetworkKind, NetworkState};

    /// NetworkManager's reading, or `None` when it does not run or answer.
    pub(super) fn read() -> Option<NetworkState> {
        let connection = zbus::blocking::Connection::system().ok()?;
        let proxy = zbus::blocking::Proxy::new(
            &connection,
            "org.freedesktop.NetworkManager",
            "/org/freedesktop/NetworkManager",
            "org.freedesktop.NetworkManager",
        )
        .ok()?;
        let metered: u32 = proxy.get_property("Metered").ok()?;
        let kind: String = proxy.get_property("PrimaryConnectionType").ok()?;
        let kind = match kind.as_str() {
            "" => NetworkKind::None,
            "802-11-wireless" | "wifi-p2p" => NetworkKind::Wifi,
            "802-3-ethernet" => NetworkKind::Ethernet,
            "gsm" | "cdma" | "bluetooth" => NetworkKind::Cellular,
            _ => NetworkKind::Unknown,
        };
        Some(NetworkState {
            kind,
            metered: matches!(metered, 1 | 3) || kind == NetworkKind::Cellular,
        })
    }
}

#[cfg(not(all(target_os = "linux", feature = "networkmanager")))]
mod network_manager {
    use super::NetworkState;

    /// Without the `networkmanager` feature (or off Linux) the interfaces alone decide.
    pub(super) fn read() -> Option<NetworkState> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine has no battery: the honest reading is mains, not a made-up level.
    #[test]
    fn a_machine_without_a_battery_reports_mains() {
        let has_battery = std::fs::read_dir("/sys/class/power_supply")
            .map(|dir| {
                dir.flatten().any(|entry| {
                    std::fs::read_to_string(entry.path().join("type"))
                        .is_ok_and(|t| t.trim() == "Battery")
                })
            })
            .unwrap_or(false);
        let reading = SystemPower.read().expect("the battery API answers");
        if has_battery {
            assert!(matches!(
                reading.supply,
                super::super::Supply::Battery { .. }
            ));
        } else {
            assert_eq!(reading, PowerState::MAINS);
        }
    }

    /// The machine's interfaces read as some network (this one has a routable address);
    /// loopback alone would read as none.
    #[test]
    fn the_interfaces_are_read_and_loopback_alone_is_no_network() {
        let interfaces = list().expect("interfaces listed");
        let reading = classify(&interfaces);
        let any_routable = interfaces
            .values()
            .any(|i| i.ips.iter().any(|r| routable(r.ip)));
        assert_eq!(
            reading.kind == NetworkKind::None,
            !any_routable,
            "{reading:?}"
        );
        let only_loopback: HashMap<_, _> = interfaces
            .into_iter()
            .filter(|(_, i)| i.name == "lo")
            .collect();
        assert_eq!(classify(&only_loopback), NetworkState::NONE);
        let mut network = SystemNetwork::watch().expect("watch");
        assert_eq!(
            network.read().map(|n| n.kind == NetworkKind::None),
            Ok(!any_routable)
        );
    }

    #[test]
    fn interface_names_tell_the_kind_when_the_os_does_not() {
        assert_eq!(kind_by_name("wlp3s0"), NetworkKind::Wifi);
        assert_eq!(kind_by_name("wwan0"), NetworkKind::Cellular);
        assert_eq!(kind_by_name("rmnet_data0"), NetworkKind::Cellular);
        assert_eq!(kind_by_name("enp0s31f6"), NetworkKind::Ethernet);
        assert_eq!(kind_by_name("tun0"), NetworkKind::Unknown);
    }
}
