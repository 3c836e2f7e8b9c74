//! Who may take how much of the relay: connections per IP and per device, long-poll sessions
//! per IP, rooms created per IP, frames per second per device and per IP, and bytes of
//! history per device. One client (or one laptop with many connections) can use its share and
//! no more, so it cannot take a room or the relay away from everyone else.
//!
//! Counts are held by guards: a connection holds its IP's and device's slots until it ends,
//! whatever way it ends. Entries with no holder left are dropped, so memory follows the
//! clients that are connected, not the ones that ever were.

mod budget;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use festival_proto::{DeviceId, TokenBucket};

pub(crate) use self::budget::ByteBudget;
use crate::Config;

/// The per-IP and per-device caps, from [`Config`].
#[derive(Debug, Clone, Copy)]
struct Caps {
    conns_per_ip: usize,
    conns_per_device: usize,
    polls_per_ip: usize,
    ip_rate_per_sec: u32,
    ip_rate_burst: u32,
    device_rate_per_sec: u32,
    device_rate_burst: u32,
    room_creations_per_ip_per_sec: u32,
    room_creations_per_ip_burst: u32,
    history_bytes_per_sec: usize,
    history_bytes_burst: usize,
    ip_history_bytes_per_sec: usize,
    ip_history_bytes_burst: usize,
}

/// The shared books of who holds what.
#[derive(Debug)]
pub(crate) struct Admission {
    caps: Caps,
    ips: Mutex<HashMap<IpAddr, PerIp>>,
    devices: Mutex<HashMap<DeviceId, PerDevice>>,
}

#[derive(Debug)]
struct PerIp {
    conns: usize,
    polls: usize,
    rate: TokenBucket,
    room_creations: TokenBucket,
    history: ByteBudget,
}

#[derive(Debug)]
struct PerDevice {
    conns: usize,
    rate: TokenBucket,
    history: ByteBudget,
}

/// Which cap refused something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The IP holds `conns_per_ip` connections.
    IpConnections(usize),
    /// The device holds `conns_per_device` connections.
    DeviceConnections(usize),
    /// The IP holds `polls_per_ip` long-poll sessions.
    IpPolls(usize),
}

impl Refused {
    /// The sentence an error frame carries.
    pub(crate) fn message(self) -> String {
        match self {
            Self::IpConnections(n) => {
                format!("this address already holds {n} connections to the relay; close one first")
            }
            Self::DeviceConnections(n) => {
                format!("this device already holds {n} connections to the relay; close one first")
            }
            Self::IpPolls(n) => format!(
                "this address already holds {n} long-poll sessions; close one or let it expire"
            ),
        }
    }
}

/// A TCP connection's slot in its IP's count; given back on drop.
#[derive(Debug)]
pub(crate) struct IpConn {
    admission: Arc<Admission>,
    ip: IpAddr,
}

/// A connection's slot in its device's count; given back on drop.
#[derive(Debug)]
pub(crate) struct DeviceConn {
    admission: Arc<Admission>,
    device: DeviceId,
}

/// A long-poll session's slot in its IP's count; given back on drop.
#[derive(Debug)]
pub(crate) struct IpPoll {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Admission {
    /// Books following `config`'s caps.
    pub(crate) fn new(config: &Config) -> Arc<Self> {
        let caps = Caps {
            conns_per_ip: config.max_conns_per_ip,
            conns_per_device: config.max_conns_per_device,
            polls_per_ip: config.max_polls_per_ip,
            // An address gets at least one connection's worth: the per-IP rate is not
            // announced, and a lone client pacing itself to `welcome` must never meet it.
            ip_rate_per_sec: config.ip_rate_per_sec.max(config.limits.rate_per_sec),
            ip_rate_burst: config.ip_rate_burst.max(config.limits.rate_burst),
            device_rate_per_sec: config.limits.rate_per_sec,
            device_rate_burst: config.limits.rate_burst,
            room_creations_per_ip_per_sec: config.room_creations_per_ip_per_sec,
            room_creations_per_ip_burst: config.room_creations_per_ip_burst,
            history_bytes_per_sec: config.history_bytes_per_sec,
            history_bytes_burst: config.history_bytes_burst,
            ip_history_bytes_per_sec: config
                .ip_history_bytes_per_sec
                .max(config.history_bytes_per_sec),
            ip_history_bytes_burst: config
                .ip_history_bytes_burst
                .max(config.history_bytes_burst),
        };
        Arc::new(Self {
            caps,
            ips: Mutex::new(HashMap::new()),
            devices: Mutex::new(HashMap::new()),
        })
    }

    // The relay reads the clock here, where it handles I/O.
    #[allow(clippy::disallowed_methods)]
    fn with_ip<T>(&self, ip: IpAddr, f: impl FnOnce(&mut PerIp) -> T) -> T {
        let caps = self.caps;
        let mut ips = self.ips.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = ips.entry(ip).or_insert_with(|| {
            let now = Instant::now();
            PerIp {
                conns: 0,
                polls: 0,
                rate: TokenBucket::new(caps.ip_rate_per_sec, caps.ip_rate_burst, now),
                room_creations: TokenBucket::new(
                    caps.room_creations_per_ip_per_sec,
                    caps.room_creations_per_ip_burst,
                    now,
                ),
                history: ByteBudget::new(
                    caps.ip_history_bytes_per_sec,
                    caps.ip_history_bytes_burst,
                    now,
                ),
            }
        });
        let out = f(entry);
        if entry.conns == 0 && entry.polls == 0 {
            ips.remove(&ip);
        }
        out
    }

    /// Takes a connection slot of `ip`, or says why not.
    pub(crate) fn connect(self: &Arc<Self>, ip: IpAddr) -> Result<IpConn, Refused> {
        let cap = self.caps.conns_per_ip;
        self.with_ip(ip, |e| {
            if e.conns >= cap {
                return Err(Refused::IpConnections(cap));
            }
            e.conns += 1;
            Ok(IpConn {
                admission: Arc::clone(self),
                ip,
            })
        })
    }

    /// Takes a long-poll slot of `ip`, or says why not.
    pub(crate) fn poll(self: &Arc<Self>, ip: IpAddr) -> Result<IpPoll, Refused> {
        let cap = self.caps.polls_per_ip;
        self.with_ip(ip, |e| {
            if e.polls >= cap {
                return Err(Refused::IpPolls(cap));
            }
            e.polls += 1;
            Ok(IpPoll {
                admission: Arc::clone(self),
                ip,
            })
        })
    }

    /// Takes a connection slot of `device`, or says why not.
    // The relay reads the clock here, where it handles I/O.
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn device(self: &Arc<Self>, device: DeviceId) -> Result<DeviceConn, Refused> {
        let caps = self.caps;
        let mut devices = self.devices.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = devices.entry(device).or_insert_with(|| {
            let now = Instant::now();
            PerDevice {
                conns: 0,
                rate: TokenBucket::new(caps.device_rate_per_sec, caps.device_rate_burst, now),
                history: ByteBudget::new(caps.history_bytes_per_sec, caps.history_bytes_burst, now),
            }
        });
        if entry.conns >= caps.conns_per_device {
            if entry.conns == 0 {
                devices.remove(&device);
            }
            return Err(Refused::DeviceConnections(caps.conns_per_device));
        }
        entry.conns += 1;
        Ok(DeviceConn {
            admission: Arc::clone(self),
            device,
        })
    }

    /// Takes one frame from `ip`'s rate; false when the IP sends too fast.
    pub(crate) fn ip_frame(&self, ip: IpAddr, now: Instant) -> bool {
        let mut ips = self.ips.lock().unwrap_or_else(PoisonError::into_inner);
        ips.get_mut(&ip).is_none_or(|e| e.rate.try_take(now))
    }

    /// Takes one room creation from `ip`'s allowance; false when it creates rooms too fast.
    pub(crate) fn create_room(&self, ip: IpAddr, now: Instant) -> bool {
        let mut ips = self.ips.lock().unwrap_or_else(PoisonError::into_inner);
        ips.get_mut(&ip)
            .is_none_or(|e| e.room_creations.try_take(now))
    }

    fn with_device<T>(&self, device: DeviceId, f: impl FnOnce(&mut PerDevice) -> T) -> Option<T> {
        let mut devices = self.devices.lock().unwrap_or_else(PoisonError::into_inner);
        devices.get_mut(&device).map(f)
    }

    /// Takes one frame from `device`'s rate (all its connections together).
    pub(crate) fn device_frame(&self, device: DeviceId, now: Instant) -> bool {
        self.with_device(device, |e| e.rate.try_take(now))
            .unwrap_or(true)
    }

    /// Whether `device` at `ip` may ask for history now: neither was sent more than its byte
    /// budget (the address's budget bounds many devices behind one laptop).
    pub(crate) fn history_allowed(&self, device: DeviceId, ip: IpAddr, now: Instant) -> bool {
        let device_ok = self
            .with_device(device, |e| e.history.available(now))
            .unwrap_or(true);
        let mut ips = self.ips.lock().unwrap_or_else(PoisonError::into_inner);
        let ip_ok = ips.get_mut(&ip).is_none_or(|e| e.history.available(now));
        device_ok && ip_ok
    }

    /// Charges `bytes` of history sent to `device` at `ip`.
    pub(crate) fn history_sent(&self, device: DeviceId, ip: IpAddr, bytes: usize, now: Instant) {
        self.with_device(device, |e| e.history.charge(bytes, now));
        let mut ips = self.ips.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = ips.get_mut(&ip) {
            e.history.charge(bytes, now);
        }
    }

    /// Whether `ip` may be sent history now over HTTP (`GET /rooms/history`), which no device
    /// asks for: the address's budget alone, the same one its devices' joins draw on.
    pub(crate) fn ip_history_allowed(&self, ip: IpAddr, now: Instant) -> bool {
        let mut ips = self.ips.lock().unwrap_or_else(PoisonError::into_inner);
        ips.get_mut(&ip).is_none_or(|e| e.history.available(now))
    }

    /// Charges `bytes` of history sent over HTTP to `ip`.
    pub(crate) fn ip_history_sent(&self, ip: IpAddr, bytes: usize, now: Instant) {
        let mut ips = self.ips.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = ips.get_mut(&ip) {
            e.history.charge(bytes, now);
        }
    }

    /// The history budget's refill rate, for error messages.
    pub(crate) fn history_bytes_per_sec(&self) -> usize {
        self.caps.history_bytes_per_sec
    }
}

impl Drop for IpConn {
    fn drop(&mut self) {
        self.admission
            .with_ip(self.ip, |e| e.conns = e.conns.saturating_sub(1));
    }
}

impl Drop for IpPoll {
    fn drop(&mut self) {
        self.admission
            .with_ip(self.ip, |e| e.polls = e.polls.saturating_sub(1));
    }
}

impl Drop for DeviceConn {
    fn drop(&mut self) {
        let mut devices = self
            .admission
            .devices
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Entry::Occupied(mut entry) = devices.entry(self.device) {
            entry.get_mut().conns = entry.get().conns.saturating_sub(1);
            if entry.get().conns == 0 {
                entry.remove();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(adjust: impl FnOnce(&mut Config)) -> Arc<Admission> {
        let mut config = Config::new("127.0.0.1:0".parse().unwrap(), "x.db".into());
        adjust(&mut config);
        Admission::new(&config)
    }

    #[test]
    fn slots_are_counted_per_ip_and_given_back_on_drop() {
        let books = admission(|c| c.max_conns_per_ip = 2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let one = books.connect(a).unwrap();
        let _two = books.connect(a).unwrap();
        assert_eq!(books.connect(a).unwrap_err(), Refused::IpConnections(2));
        assert!(
            books.connect(b).is_ok(),
            "another address has its own count"
        );
        drop(one);
        assert!(books.connect(a).is_ok(), "a slot given back is free again");
    }

    #[test]
    // An origin for the time passed in; the test moves it by hand.
    #[allow(clippy::disallowed_methods)]
    fn a_device_has_one_rate_across_its_connections_and_forgotten_when_gone() {
        let books = admission(|c| {
            c.max_conns_per_device = 3;
            c.limits.rate_per_sec = 1;
            c.limits.rate_burst = 2;
        });
        let device = DeviceId::random();
        let now = Instant::now();
        let slots: Vec<_> = (0..3).map(|_| books.device(device).unwrap()).collect();
        assert_eq!(
            books.device(device).unwrap_err(),
            Refused::DeviceConnections(3)
        );
        assert!(books.device_frame(device, now));
        assert!(books.device_frame(device, now));
        assert!(
            !books.device_frame(device, now),
            "the burst is the device's, not each socket's"
        );
        drop(slots);
        assert!(
            books.devices.lock().unwrap().is_empty(),
            "no entry outlives its device"
        );
    }
}
