//! Which room a click on a notification opens: the decision, apart from the D-Bus that
//! reports the click.
//!
//! The freedesktop service names each notification by a number and broadcasts every click as
//! `ActionInvoked(id, action)` to every listener on the bus, other applications' clicks
//! included. So a click opens a room only when the number is one this app was given for a
//! notification still remembered, and the action is the notification's own `default` (a
//! click on its body), not a button some other application defined.

use std::collections::VecDeque;

use festival_proto::RoomName;

/// The action key the freedesktop specification gives a click on the notification itself.
pub(crate) const DEFAULT_ACTION: &str = "default";
/// Shown notifications remembered for a click. Each room raises at most a few in a burst, so
/// this is well beyond what a desktop keeps on screen; a click on an older one opens nothing.
pub(crate) const REMEMBERED: usize = 64;
/// Clicks on numbers not (yet) known remembered, for the one whose `Notify` answer is still
/// on its way: the answer and the click travel on one connection, in order, but the app reads
/// them in two tasks, so the click can be read first.
const EARLY_KEPT: usize = 16;

/// The notifications shown and not yet clicked or closed, oldest first, at most
/// [`REMEMBERED`].
#[derive(Debug, Default)]
pub(crate) struct Clicks {
    shown: VecDeque<(u32, RoomName)>,
    /// Clicks on numbers not shown by this app as far as it knows, newest last, at most
    /// [`EARLY_KEPT`]: other applications' (the service numbers every notification once, so
    /// none of them is ever this app's) or one read before its `Notify` answer.
    early: VecDeque<u32>,
}

impl Clicks {
    /// The service showed the notification about `room` under `id` (a service may reuse an
    /// id once its notification is gone: the newest room wins). Returns the room to open
    /// when the click on it was read before this answer.
    pub(crate) fn shown(&mut self, id: u32, room: RoomName) -> Option<RoomName> {
        self.closed(id);
        if let Some(at) = self.early.iter().position(|&early| early == id) {
            self.early.remove(at);
            return Some(room);
        }
        if self.shown.len() == REMEMBERED {
            self.shown.pop_front();
        }
        self.shown.push_back((id, room));
        None
    }

    /// The service reports `action` invoked on notification `id`: the room to open, when it
    /// is a click on one of this app's notifications. A clicked notification is gone.
    pub(crate) fn invoked(&mut self, id: u32, action: &str) -> Option<RoomName> {
        if action != DEFAULT_ACTION {
            return None;
        }
        let Some(at) = self.shown.iter().position(|(shown, _)| *shown == id) else {
            if self.early.len() == EARLY_KEPT {
                self.early.pop_front();
            }
            self.early.push_back(id);
            return None;
        };
        self.shown.remove(at).map(|(_, room)| room)
    }

    /// The service closed notification `id` (expired or dismissed): nothing to open later.
    pub(crate) fn closed(&mut self, id: u32) {
        self.shown.retain(|(shown, _)| *shown != id);
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
    fn a_click_on_a_notification_opens_its_room_once() {
        let mut clicks = Clicks::default();
        clicks.shown(7, room("Camp"));
        clicks.shown(8, room("Main Stage"));
        assert_eq!(clicks.invoked(8, DEFAULT_ACTION), Some(room("Main Stage")));
        assert_eq!(clicks.invoked(8, DEFAULT_ACTION), None, "clicked: gone");
        assert_eq!(clicks.invoked(7, DEFAULT_ACTION), Some(room("Camp")));
    }

    #[test]
    fn other_applications_clicks_and_other_actions_open_nothing() {
        let mut clicks = Clicks::default();
        clicks.shown(7, room("Camp"));
        assert_eq!(clicks.invoked(9, DEFAULT_ACTION), None, "not ours");
        assert_eq!(clicks.invoked(7, "reply"), None, "not a click on it");
        clicks.closed(7);
        assert_eq!(clicks.invoked(7, DEFAULT_ACTION), None, "closed before");
    }

    #[test]
    fn a_reused_id_opens_the_newest_room() {
        let mut clicks = Clicks::default();
        clicks.shown(7, room("Camp"));
        clicks.shown(7, room("Main Stage"));
        assert_eq!(clicks.invoked(7, DEFAULT_ACTION), Some(room("Main Stage")));
        assert_eq!(clicks.invoked(7, DEFAULT_ACTION), None);
    }

    #[test]
    fn a_click_read_before_its_notify_answer_opens_the_room_once_the_answer_comes() {
        let mut clicks = Clicks::default();
        assert_eq!(clicks.invoked(7, DEFAULT_ACTION), None, "not known yet");
        assert_eq!(clicks.shown(7, room("Camp")), Some(room("Camp")));
        assert_eq!(clicks.invoked(7, DEFAULT_ACTION), None, "opened once");
        // Only clicks on the default action wait, and only the newest few.
        assert_eq!(clicks.invoked(8, "reply"), None);
        assert_eq!(clicks.shown(8, room("Camp")), None);
        for id in 100..100 + u32::try_from(EARLY_KEPT).unwrap() + 1 {
            assert_eq!(clicks.invoked(id, DEFAULT_ACTION), None);
        }
        assert_eq!(clicks.shown(100, room("Camp")), None, "forgotten");
        assert_eq!(
            clicks.shown(101, room("Main Stage")),
            Some(room("Main Stage"))
        );
    }

    #[test]
    fn only_the_newest_notifications_are_remembered() {
        let mut clicks = Clicks::default();
        let count = u32::try_from(REMEMBERED).unwrap() + 10;
        for id in 0..count {
            assert_eq!(clicks.shown(id, room(&format!("room {id}"))), None);
        }
        assert_eq!(clicks.shown.len(), REMEMBERED);
        assert_eq!(clicks.invoked(9, DEFAULT_ACTION), None, "forgotten");
        assert_eq!(
            clicks.invoked(10, DEFAULT_ACTION),
            Some(room("room 10")),
            "the oldest kept"
        );
    }
}
