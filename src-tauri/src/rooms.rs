//! The person's rooms as the app keeps them across restarts: the rooms joined (several at
//! once), the one on screen, favourites, the recently opened ones and the muted ones. A
//! small JSON file in the app's data directory; the messages themselves are the engine's.

use std::collections::BTreeSet;
use std::path::Path;

use festival_proto::RoomName;
use serde::{Deserialize, Serialize};

const FILE: &str = "rooms.json";
/// Rooms kept in the recent list.
const RECENT_KEPT: usize = 8;
/// Rooms one device may be in at once through the app (each costs a join on every reconnect).
pub(crate) const MAX_JOINED: usize = 32;

/// The app's rooms; every change is saved by the caller with [`Rooms::save`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Rooms {
    /// The rooms joined, in the order they were first opened.
    pub(crate) joined: Vec<RoomName>,
    /// The room on screen; `None` when the room list is.
    pub(crate) current: Option<RoomName>,
    /// Rooms marked as favourites (listed first).
    pub(crate) favourites: BTreeSet<RoomName>,
    /// Rooms opened lately, newest first, joined or not.
    pub(crate) recent: Vec<RoomName>,
    /// Rooms that raise no notification.
    pub(crate) muted: BTreeSet<RoomName>,
}

impl Rooms {
    /// Reads the saved rooms; a missing or unreadable file is no rooms (the app still starts).
    pub(crate) fn load(dir: &Path) -> Self {
        std::fs::read(dir.join(FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Writes the rooms (to a new file, then renamed over the old: a crash leaves either).
    pub(crate) fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let temporary = dir.join(format!("{FILE}.new"));
        std::fs::write(&temporary, json)?;
        std::fs::rename(temporary, dir.join(FILE))
    }

    /// Whether `room` is joined.
    pub(crate) fn is_joined(&self, room: &RoomName) -> bool {
        self.joined.contains(room)
    }

    /// `room` is on screen now: joined, current, first in the recent list. False when the
    /// room would be one too many.
    pub(crate) fn open(&mut self, room: &RoomName) -> bool {
        if !self.is_joined(room) {
            if self.joined.len() >= MAX_JOINED {
                return false;
            }
            self.joined.push(room.clone());
        }
        self.current = Some(room.clone());
        self.recent.retain(|r| r != room);
        self.recent.insert(0, room.clone());
        self.recent.truncate(RECENT_KEPT);
        true
    }

    /// The room list is on screen: no room is current.
    pub(crate) fn show_list(&mut self) {
        self.current = None;
    }

    /// `room` is left: no longer joined nor current (it stays in the recent list, to come
    /// back in one tap, and keeps its favourite and mute marks).
    pub(crate) fn leave(&mut self, room: &RoomName) {
        self.joined.retain(|r| r != room);
        if self.current.as_ref() == Some(room) {
            self.current = None;
        }
    }

    /// Marks or unmarks `room` as a favourite.
    pub(crate) fn set_favourite(&mut self, room: &RoomName, on: bool) {
        set(&mut self.favourites, room, on);
    }

    /// Mutes or unmutes `room`'s notifications.
    pub(crate) fn set_muted(&mut self, room: &RoomName, on: bool) {
        set(&mut self.muted, room, on);
    }
}

fn set(marks: &mut BTreeSet<RoomName>, room: &RoomName, on: bool) {
    if on {
        marks.insert(room.clone());
    } else {
        marks.remove(room);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    #[test]
    fn rooms_come_back_after_a_restart_where_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let mut rooms = Rooms::load(dir.path());
        assert_eq!(rooms, Rooms::default());
        assert!(rooms.open(&room("Main Stage")));
        assert!(rooms.open(&room("Sunny Tent 42")));
        rooms.set_favourite(&room("Main Stage"), true);
        rooms.set_muted(&room("Main Stage"), true);
        rooms.save(dir.path()).unwrap();
        let again = Rooms::load(dir.path());
        assert_eq!(again, rooms);
        assert_eq!(again.current, Some(room("sunny-tent-42")));
        assert_eq!(again.joined, [room("Main Stage"), room("sunny-tent-42")]);
        assert_eq!(again.recent, [room("sunny-tent-42"), room("Main Stage")]);
    }

    #[test]
    fn leaving_keeps_the_room_in_recent_and_the_list_on_screen() {
        let mut rooms = Rooms::default();
        rooms.open(&room("a"));
        rooms.open(&room("b"));
        rooms.leave(&room("b"));
        assert_eq!(rooms.joined, [room("a")]);
        assert_eq!(rooms.current, None);
        assert_eq!(rooms.recent, [room("b"), room("a")]);
        rooms.open(&room("a"));
        rooms.show_list();
        assert_eq!(rooms.current, None);
        assert!(rooms.is_joined(&room("a")));
    }

    #[test]
    fn recent_and_joined_are_bounded() {
        let mut rooms = Rooms::default();
        for n in 0..MAX_JOINED {
            assert!(rooms.open(&room(&format!("room {n}"))));
        }
        assert!(!rooms.open(&room("one too many")));
        assert_eq!(rooms.joined.len(), MAX_JOINED);
        assert_eq!(rooms.recent.len(), RECENT_KEPT);
        assert_eq!(rooms.recent[0], room(&format!("room {}", MAX_JOINED - 1)));
    }

    #[test]
    fn a_damaged_file_is_no_rooms() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{not json").unwrap();
        assert_eq!(Rooms::load(dir.path()), Rooms::default());
    }
}
