//! One room's membership, as a pure state machine: who is in it, under which name, through
//! which connections. No I/O; the hub's room task drives it.
//!
//! Presence is keyed by device. A device's first connection makes it a member, its last one
//! leaving ends that; connections in between change nothing anyone sees. Names are told apart
//! per room: the second device showing "John" is shown as "John (2)", and so is a device whose
//! name only looks like "John" (Cyrillic "Јohn"): names count as one when their TR39 skeletons
//! are equal.

use std::collections::{BTreeMap, HashSet};

use festival_proto::{DeviceId, DisplayName, Member, PublicKey};

/// Numbers one connection inside the relay (the wire's peer id).
pub(crate) type ConnId = u64;

/// A room's members.
#[derive(Debug, Default)]
pub(crate) struct Room {
    members: BTreeMap<DeviceId, Entry>,
    /// The skeleton of every shown name: no two members show look-alike names.
    shown_skeletons: HashSet<String>,
}

#[derive(Debug)]
struct Entry {
    key: PublicKey,
    shown: DisplayName,
    skeleton: String,
    conns: Vec<ConnId>,
}

/// What a join changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Joined {
    /// The device as shown in the room.
    pub(crate) member: Member,
    /// True when the device was not a member before (others should hear of it).
    pub(crate) is_new: bool,
}

impl Room {
    /// Adds connection `conn` of `device` (which proved `key`), which wants to be shown as
    /// `name`.
    pub(crate) fn join(
        &mut self,
        device: DeviceId,
        key: PublicKey,
        name: &DisplayName,
        conn: ConnId,
    ) -> Joined {
        if let Some(entry) = self.members.get_mut(&device) {
            if !entry.conns.contains(&conn) {
                entry.conns.push(conn);
            }
            return Joined {
                member: Member {
                    device,
                    name: entry.shown.clone(),
                    key: entry.key,
                },
                is_new: false,
            };
        }
        let (shown, skeleton) = self.free_name(name);
        self.shown_skeletons.insert(skeleton.clone());
        self.members.insert(
            device,
            Entry {
                key,
                shown: shown.clone(),
                skeleton,
                conns: vec![conn],
            },
        );
        Joined {
            member: Member {
                device,
                name: shown,
                key,
            },
            is_new: true,
        }
    }

    /// Removes connection `conn` of `device`. Returns the member if this was its last
    /// connection, so that it has now left.
    pub(crate) fn leave(&mut self, device: DeviceId, conn: ConnId) -> Option<Member> {
        let entry = self.members.get_mut(&device)?;
        entry.conns.retain(|&c| c != conn);
        if !entry.conns.is_empty() {
            return None;
        }
        let entry = self.members.remove(&device)?;
        self.shown_skeletons.remove(&entry.skeleton);
        Some(Member {
            device,
            name: entry.shown,
            key: entry.key,
        })
    }

    /// Everyone in the room, ordered by device id.
    pub(crate) fn members(&self) -> Vec<Member> {
        self.members
            .iter()
            .map(|(device, entry)| Member {
                device: *device,
                name: entry.shown.clone(),
                key: entry.key,
            })
            .collect()
    }

    /// The exact number of members (devices).
    pub(crate) fn online(&self) -> u32 {
        u32::try_from(self.members.len()).unwrap_or(u32::MAX)
    }

    /// The number of members (devices).
    pub(crate) fn members_count(&self) -> usize {
        self.members.len()
    }

    /// How `device` is shown, if it is a member.
    pub(crate) fn shown_name(&self, device: DeviceId) -> Option<&DisplayName> {
        self.members.get(&device).map(|e| &e.shown)
    }

    /// The connections of `device` in this room.
    pub(crate) fn conns_of(&self, device: DeviceId) -> &[ConnId] {
        self.members
            .get(&device)
            .map(|e| e.conns.as_slice())
            .unwrap_or_default()
    }

    /// Every connection of every member.
    pub(crate) fn all_conns(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.members.values().flat_map(|e| e.conns.iter().copied())
    }

    /// Every connection of every member, with its device.
    pub(crate) fn conns_by_device(&self) -> impl Iterator<Item = (DeviceId, ConnId)> + '_ {
        self.members
            .iter()
            .flat_map(|(device, e)| e.conns.iter().map(move |&conn| (*device, conn)))
    }

    /// `name` if no member shows it or a look-alike of it, else the first free `name (n)`
    /// from 2 on; with its skeleton.
    fn free_name(&self, name: &DisplayName) -> (DisplayName, String) {
        std::iter::once(name.clone())
            .chain((2..).map(|n| name.with_suffix(n)))
            .map(|candidate| {
                let skeleton = candidate.skeleton();
                (candidate, skeleton)
            })
            .find(|(_, skeleton)| !self.shown_skeletons.contains(skeleton))
            .unwrap_or_else(|| (name.clone(), name.skeleton()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Membership does not look at keys; signatures are checked before a room sees a frame.
    const KEY: PublicKey = PublicKey::from_bytes([1; 32]);

    fn name(s: &str) -> DisplayName {
        DisplayName::parse(s).unwrap()
    }

    #[test]
    fn two_devices_called_john_are_told_apart_and_counted_twice() {
        let mut room = Room::default();
        let (a, b) = (DeviceId::random(), DeviceId::random());
        assert_eq!(
            room.join(a, KEY, &name("John"), 1).member.name.as_str(),
            "John"
        );
        assert_eq!(
            room.join(b, KEY, &name("John "), 2).member.name.as_str(),
            "John (2)"
        );
        assert_eq!(room.online(), 2);
    }

    #[test]
    fn one_device_with_two_connections_is_one_member() {
        let mut room = Room::default();
        let a = DeviceId::random();
        assert!(room.join(a, KEY, &name("Ann"), 1).is_new);
        assert!(!room.join(a, KEY, &name("Ann"), 2).is_new);
        assert_eq!(room.online(), 1);
        assert_eq!(room.leave(a, 1), None, "still connected through 2");
        assert_eq!(room.online(), 1);
        assert_eq!(room.leave(a, 2).unwrap().name.as_str(), "Ann");
        assert_eq!(room.online(), 0);
    }

    #[test]
    fn suffixes_are_stable_and_reused_when_free() {
        let mut room = Room::default();
        let (a, b, c) = (DeviceId::random(), DeviceId::random(), DeviceId::random());
        room.join(a, KEY, &name("Jo"), 1);
        room.join(b, KEY, &name("Jo"), 2);
        room.join(c, KEY, &name("Jo"), 3);
        assert_eq!(room.shown_name(c).unwrap().as_str(), "Jo (3)");
        room.leave(a, 1);
        assert_eq!(
            room.shown_name(b).unwrap().as_str(),
            "Jo (2)",
            "others keep their names"
        );
        let d = DeviceId::random();
        assert_eq!(room.join(d, KEY, &name("Jo"), 4).member.name.as_str(), "Jo");
    }

    #[test]
    fn look_alike_names_get_suffixes_as_if_they_were_one() {
        let mut room = Room::default();
        let shown: Vec<String> = [
            "Alice",
            "\u{410}lice",
            "\u{ff21}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}",
            "AIice",
            "Alice",
        ]
        .into_iter()
        .enumerate()
        .map(|(conn, raw)| {
            let joined = room.join(DeviceId::random(), KEY, &name(raw), conn as ConnId);
            joined.member.name.as_str().to_owned()
        })
        .collect();
        assert_eq!(
            shown,
            [
                "Alice",
                "\u{410}lice (2)",
                "\u{ff21}\u{ff4c}\u{ff49}\u{ff43}\u{ff45} (3)",
                "AIice (4)",
                "Alice (5)"
            ]
        );
    }

    #[test]
    fn a_freed_look_alike_name_is_free_again() {
        let mut room = Room::default();
        let (a, b, c) = (DeviceId::random(), DeviceId::random(), DeviceId::random());
        room.join(a, KEY, &name("\u{410}lice"), 1);
        assert_eq!(
            room.join(b, KEY, &name("Alice"), 2).member.name.as_str(),
            "Alice (2)"
        );
        room.leave(a, 1);
        assert_eq!(
            room.join(c, KEY, &name("Alice"), 3).member.name.as_str(),
            "Alice"
        );
    }

    #[test]
    fn leaving_with_an_unknown_connection_changes_nothing() {
        let mut room = Room::default();
        let a = DeviceId::random();
        room.join(a, KEY, &name("Ann"), 1);
        assert_eq!(room.leave(a, 99), None);
        assert_eq!(room.leave(DeviceId::random(), 1), None);
        assert_eq!(room.online(), 1);
    }
}
