//! Keeping one sender's direct messages in the order they were typed.
//!
//! A sender's messages do not all take the same route: one typed while its link was down goes
//! only through the relay, the next one straight over the link, and the second can arrive
//! first. Each direct message names the sender's previous one (`prev`); a receiver that has
//! not shown that one holds the new message back, asks the sender for the missing one, and
//! lets it go when the gap is filled or after a short grace, whichever comes first. Nothing
//! is ever dropped here: the worst case is a message shown a second late, out of order.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use festival_proto::{DeviceId, MessageId, PeerChat, RoomName};

/// Longest a message is held for the one before it.
pub(crate) const HOLD_GRACE: Duration = Duration::from_secs(1);
/// Messages held at once; past it, new ones are shown at once (order before memory).
const MAX_HELD: usize = 1024;
/// How far back a chain of asks may go: a sender's older messages are the relay's job.
const MAX_CHAIN: u8 = 16;

/// What to do with a direct message that just arrived.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Its predecessor was shown (or it has none, or holding is not possible): show it.
    Show(PeerChat),
    /// Held back; ask the sender for this message of this room, if set.
    Held(Option<(RoomName, MessageId)>),
}

#[derive(Debug)]
struct Held {
    peer: DeviceId,
    chat: PeerChat,
    until: Instant,
}

/// Direct messages waiting for their predecessor, keyed by the predecessor's id.
#[derive(Debug, Default)]
pub(crate) struct Holdback {
    waiting: HashMap<MessageId, Held>,
    /// Predecessors asked for: how deep the chain of asks is there, and until when the
    /// answer counts as part of it.
    asked: HashMap<MessageId, (u8, Instant)>,
    released: VecDeque<(DeviceId, PeerChat)>,
}

impl Holdback {
    /// Decides about `chat` from `peer`; `prev_shown` says whether its predecessor (if it
    /// names one) was already shown.
    pub(crate) fn admit(
        &mut self,
        peer: DeviceId,
        chat: PeerChat,
        prev_shown: bool,
        now: Instant,
    ) -> Admit {
        let depth = self.asked.remove(&chat.id).map_or(0, |(depth, _)| depth);
        let Some(prev) = chat.prev else {
            return Admit::Show(chat);
        };
        if prev_shown
            || depth >= MAX_CHAIN
            || self.waiting.len() >= MAX_HELD
            || self.waiting.contains_key(&prev)
        {
            return Admit::Show(chat);
        }
        let room = chat.room.clone();
        self.waiting.insert(
            prev,
            Held {
                peer,
                chat,
                until: now + HOLD_GRACE,
            },
        );
        if self.asked.contains_key(&prev) || self.asked.len() >= MAX_HELD {
            return Admit::Held(None);
        }
        self.asked.insert(prev, (depth + 1, now + HOLD_GRACE));
        Admit::Held(Some((room, prev)))
    }

    /// `id` was shown (by any route): the message held for it can go.
    pub(crate) fn shown(&mut self, id: MessageId) {
        if let Some(held) = self.waiting.remove(&id) {
            self.released.push_back((held.peer, held.chat));
        }
    }

    /// Lets go of every message held past its grace, oldest first, and forgets asks that
    /// were never answered.
    pub(crate) fn expire(&mut self, now: Instant) {
        let mut late: Vec<(MessageId, Instant)> = self
            .waiting
            .iter()
            .filter(|(_, held)| held.until <= now)
            .map(|(prev, held)| (*prev, held.until))
            .collect();
        late.sort_by_key(|(_, until)| *until);
        for (prev, _) in late {
            self.shown(prev);
        }
        self.asked.retain(|_, (_, until)| *until > now);
    }

    /// The next message let go, to be shown now.
    pub(crate) fn next_released(&mut self) -> Option<(DeviceId, PeerChat)> {
        self.released.pop_front()
    }

    /// Whether a message was let go and waits to be shown.
    pub(crate) fn has_released(&self) -> bool {
        !self.released.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(prev: Option<MessageId>) -> PeerChat {
        PeerChat {
            id: MessageId::new(),
            room: RoomName::parse("Camp").unwrap(),
            body: "hi".into(),
            sent_at: 0,
            prev,
        }
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn a_message_whose_predecessor_was_shown_or_that_has_none_is_shown_at_once() {
        let mut holdback = Holdback::default();
        let peer = DeviceId::random();
        let now = Instant::now();
        let first = chat(None);
        assert_eq!(
            holdback.admit(peer, first.clone(), false, now),
            Admit::Show(first.clone())
        );
        let second = chat(Some(first.id));
        assert_eq!(
            holdback.admit(peer, second.clone(), true, now),
            Admit::Show(second)
        );
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn a_message_is_held_until_its_predecessor_is_shown_and_the_gap_is_asked_for_once() {
        let mut holdback = Holdback::default();
        let peer = DeviceId::random();
        let now = Instant::now();
        let missing = MessageId::new();
        let third = chat(Some(missing));
        let room = third.room.clone();
        assert_eq!(
            holdback.admit(peer, third.clone(), false, now),
            Admit::Held(Some((room, missing)))
        );
        assert!(holdback.next_released().is_none());
        holdback.shown(missing);
        assert_eq!(holdback.next_released(), Some((peer, third)));
        assert!(!holdback.has_released());
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn a_held_message_goes_after_the_grace_even_if_the_gap_stays() {
        let mut holdback = Holdback::default();
        let peer = DeviceId::random();
        let now = Instant::now();
        let late = chat(Some(MessageId::new()));
        assert!(matches!(
            holdback.admit(peer, late.clone(), false, now),
            Admit::Held(_)
        ));
        holdback.expire(now + HOLD_GRACE / 2);
        assert!(!holdback.has_released());
        holdback.expire(now + HOLD_GRACE);
        assert_eq!(holdback.next_released(), Some((peer, late)));
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn a_chain_of_asks_stops_at_its_bound() {
        let mut holdback = Holdback::default();
        let peer = DeviceId::random();
        let now = Instant::now();
        // Every answer names another unseen predecessor: the asks stop after MAX_CHAIN.
        let mut next = chat(Some(MessageId::new()));
        let mut asks = 0;
        loop {
            match holdback.admit(peer, next.clone(), false, now) {
                Admit::Held(Some((_, wanted))) => {
                    asks += 1;
                    next = PeerChat {
                        id: wanted,
                        ..chat(Some(MessageId::new()))
                    };
                }
                Admit::Show(_) => break,
                Admit::Held(None) => panic!("every hold here asks"),
            }
        }
        assert_eq!(asks, usize::from(MAX_CHAIN));
    }
}
