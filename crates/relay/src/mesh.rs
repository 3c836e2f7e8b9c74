//! The mesh as the organisers see it: every connected device's latest `report`, and the
//! aggregates drawn from them (users, direct links, success rate, latency and share of
//! messages per route, nodes and edges), overall and per room. Pure: no I/O, no clock; the
//! admin sampler ([`crate::admin`]) drives it and keeps the history ring.
//!
//! Memory is bounded by what the relay already bounds: one entry per connection and per
//! device (the connection caps), one report per device (at most
//! [`Limits::MAX_REPORT_LINKS`](festival_proto::Limits::MAX_REPORT_LINKS) links). A device is
//! forgotten, report and all, when its last connection ends.

mod aggregate;
pub(crate) mod ring;

use std::collections::{BTreeSet, HashMap};

use festival_proto::{DeviceId, DisplayName, Report, RoomName};

use crate::room::ConnId;

pub(crate) use self::aggregate::{Aggregate, Snapshot};

/// Every connected device, what it last reported, and which rooms its connections are in.
#[derive(Debug, Default)]
pub(crate) struct Mesh {
    conns: HashMap<ConnId, Conn>,
    devices: HashMap<DeviceId, Device>,
}

#[derive(Debug)]
struct Conn {
    device: DeviceId,
    rooms: Vec<RoomName>,
}

#[derive(Debug)]
struct Device {
    name: DisplayName,
    conns: usize,
    report: Option<Report>,
}

impl Mesh {
    /// Connection `conn` of `device` (shown as `name`) is now in `rooms`. Called after hello
    /// and after each join or leave.
    pub(crate) fn connection(
        &mut self,
        conn: ConnId,
        device: DeviceId,
        name: &DisplayName,
        rooms: Vec<RoomName>,
    ) {
        if let Some(known) = self.conns.get_mut(&conn) {
            known.rooms = rooms;
            return;
        }
        self.conns.insert(conn, Conn { device, rooms });
        let entry = self.devices.entry(device).or_insert_with(|| Device {
            name: name.clone(),
            conns: 0,
            report: None,
        });
        entry.conns += 1;
    }

    /// Connection `conn` ended. A device whose last connection ended is forgotten.
    pub(crate) fn gone(&mut self, conn: ConnId) {
        let Some(gone) = self.conns.remove(&conn) else {
            return;
        };
        if let Some(device) = self.devices.get_mut(&gone.device) {
            device.conns = device.conns.saturating_sub(1);
            if device.conns == 0 {
                self.devices.remove(&gone.device);
            }
        }
    }

    /// Keeps `report` as `device`'s latest, in place of the one before. A device that is not
    /// connected (its connection ended meanwhile) is not kept.
    pub(crate) fn report(&mut self, device: DeviceId, report: Report) {
        if let Some(entry) = self.devices.get_mut(&device) {
            entry.report = Some(report);
        }
    }

    /// Each device's rooms, from its connections'.
    fn rooms_by_device(&self) -> HashMap<DeviceId, BTreeSet<&RoomName>> {
        let mut rooms: HashMap<DeviceId, BTreeSet<&RoomName>> = HashMap::new();
        for conn in self.conns.values() {
            rooms.entry(conn.device).or_default().extend(&conn.rooms);
        }
        rooms
    }
}

#[cfg(test)]
mod tests {
    use festival_proto::{LinkReport, LinkReportState};

    use super::*;

    fn name(text: &str) -> DisplayName {
        DisplayName::parse(text).unwrap()
    }

    fn room(text: &str) -> RoomName {
        RoomName::parse(text).unwrap()
    }

    #[test]
    fn a_device_is_forgotten_with_its_last_connection() {
        let mut mesh = Mesh::default();
        let device = DeviceId::random();
        mesh.connection(1, device, &name("Ann"), vec![room("Camp")]);
        mesh.connection(2, device, &name("Ann"), vec![]);
        mesh.report(
            device,
            Report {
                links: vec![LinkReport {
                    peer: DeviceId::random(),
                    state: LinkReportState::Open,
                    rtt_ms: Some(3),
                }],
                ..Report::default()
            },
        );
        mesh.gone(1);
        assert_eq!(mesh.devices.len(), 1, "one connection is left");
        assert!(mesh.devices[&device].report.is_some());
        mesh.gone(2);
        assert_eq!(mesh.devices.len(), 0);
        assert!(mesh.conns.is_empty());
        mesh.report(device, Report::default());
        assert_eq!(mesh.devices.len(), 0, "a report after leaving is not kept");
    }
}
