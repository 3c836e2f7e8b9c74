//! Keeping one sender's direct messages in the order they were typed.
//!
//! A sender's messages do not all take the same route: one typed while its link was down goes
//! only through the relay, the next one straight over the link, and the second can arrive
//! first. Each direct message names the sender's previous one (`prev`); a receiver that has
//! not shown that one holds the new message back, asks the sender for the missing one, and
//! lets it go when the gap is filled or after a short grace, whichever comes first. Nothing
//! is ever dropped here: the worst case is a message shown a second late, out of order.

use std::collections::{HashMap, HashSet, VecDeque};
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
#[derive(Debug)]
pub(crate) struct Holdback {
    waiting: HashMap<MessageId, Held>,
    /// Predecessors asked for: how deep the chain of asks is there, and until when the
    /// answer counts as part of it.
    asked: HashMap<MessageId, (u8, Instant)>,
    released: VecDeque<(DeviceId, PeerChat)>,
    /// How long a message waits for its predecessor.
    grace: Duration,
}

impl Default for Holdback {
    fn default() -> Self {
        Self::new(HOLD_GRACE)
    }
}

impl Holdback {
    /// Nothing held; a message waits at most `grace` for its predecessor.
    pub(crate) fn new(grace: Duration) -> Self {
        Self {
            waiting: HashMap::new(),
            asked: HashMap::new(),
            released: VecDeque::new(),
            grace,
        }
    }

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
        if self
            .waiting
            .get(&prev)
            .is_some_and(|held| held.chat.id == chat.id)
        {
            // A second copy of a message held already: it waits with the first.
            return Admit::Held(None);
        }
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
                until: now + self.grace,
            },
        );
        if self.asked.contains_key(&prev) || self.asked.len() >= MAX_HELD {
            return Admit::Held(None);
        }
        self.asked.insert(prev, (depth + 1, now + self.grace));
        Admit::Held(Some((room, prev)))
    }

    /// `id` was shown (by any route): the message held for it can go.
    pub(crate) fn shown(&mut self, id: MessageId) {
        if let Some(held) = self.waiting.remove(&id) {
            self.released.push_back((held.peer, held.chat));
        }
    }

    /// Lets go of every message held past its grace, oldest first, and forgets asks that
    /// were never answered. One held behind another held message is not let go before it:
    /// showing that one lets it go ([`Holdback::shown`]), so a chain leaves in its order.
    pub(crate) fn expire(&mut self, now: Instant) {
        let held: HashSet<MessageId> = self.waiting.values().map(|h| h.chat.id).collect();
        let mut late: Vec<(MessageId, Instant)> = self
            .waiting
            .iter()
            .filter(|(prev, h)| h.until <= now && !held.contains(prev))
            .map(|(prev, h)| (*prev, h.until))
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
    use proptest::strategy::{Just, Strategy};

    use super::*;

    fn chat(prev: Option<MessageId>) -> PeerChat {
        PeerChat {
            id: MessageId::new(),
            room: RoomName::parse("Camp").unwrap(),
            body: "hi".into(),
            sealed: None,
            sent_at: 0,
            prev,
            sig: festival_proto::Signature::from_bytes([0; 64]),
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

    /// What a receiver does with direct messages, as the driver does it: skip what was
    /// shown, admit the rest, show what is let go (whose own showing may let go the next).
    struct Receiver {
        holdback: Holdback,
        shown: Vec<MessageId>,
    }

    impl Receiver {
        fn arrive(&mut self, peer: DeviceId, chat: PeerChat, now: Instant) {
            if self.shown.contains(&chat.id) {
                return;
            }
            let prev_shown = chat.prev.is_none_or(|prev| self.shown.contains(&prev));
            if let Admit::Show(chat) = self.holdback.admit(peer, chat, prev_shown, now) {
                self.show(chat.id);
            }
            self.show_released();
        }

        fn show(&mut self, id: MessageId) {
            self.shown.push(id);
            self.holdback.shown(id);
        }

        fn show_released(&mut self) {
            while let Some((_, chat)) = self.holdback.next_released() {
                if !self.shown.contains(&chat.id) {
                    self.show(chat.id);
                }
            }
        }
    }

    /// A chain of `typed` messages from one sender, each naming the one before.
    fn typed_chain(typed: usize) -> Vec<PeerChat> {
        let mut chain: Vec<PeerChat> = Vec::new();
        for _ in 0..typed {
            let prev = chain.last().map(|c| c.id);
            chain.push(chat(prev));
        }
        chain
    }

    /// Delivers `chain[index]` at each offset in turn, then lets the grace run out; the
    /// ids shown, and the ids that arrived.
    #[allow(clippy::disallowed_methods)] // The one real instant; the rest are offsets.
    fn deliver(chain: &[PeerChat], arrivals: &[(usize, u64)]) -> (Vec<MessageId>, Vec<MessageId>) {
        let peer = DeviceId::random();
        let mut receiver = Receiver {
            holdback: Holdback::default(),
            shown: Vec::new(),
        };
        let mut arrived = Vec::new();
        let mut at = Instant::now();
        for &(index, gap_ms) in arrivals {
            let chat = chain[index % chain.len()].clone();
            at += Duration::from_millis(gap_ms);
            receiver.holdback.expire(at);
            receiver.show_released();
            arrived.push(chat.id);
            receiver.arrive(peer, chat, at);
        }
        receiver
            .holdback
            .expire(at + HOLD_GRACE * u32::from(MAX_CHAIN));
        receiver.show_released();
        (receiver.shown, arrived)
    }

    #[test]
    fn a_chain_held_behind_a_lost_message_leaves_in_the_order_typed() {
        // The first message never arrives; the next three arrive newest first.
        let chain = typed_chain(4);
        let (shown, _) = deliver(&chain, &[(3, 0), (2, 1), (1, 1)]);
        let expected: Vec<MessageId> = chain[1..].iter().map(|c| c.id).collect();
        assert_eq!(shown, expected);
    }

    /// A chain's indices, each at least once, in any order, some twice.
    fn every_one_in_any_order(typed: usize) -> impl Strategy<Value = Vec<usize>> {
        proptest::collection::vec(0..typed, 0..typed)
            .prop_map(move |again| (0..typed).chain(again).collect::<Vec<_>>())
            .prop_shuffle()
    }

    proptest::proptest! {
        /// One sender types a chain; every message arrives, in any order, some twice, all
        /// within the grace (gaps of up to 20 ms). Each is shown once, in the order typed.
        #[test]
        fn every_message_arriving_in_any_order_is_shown_once_in_the_order_typed(
            (typed, order) in (1..=usize::from(MAX_CHAIN))
                .prop_flat_map(|typed| (Just(typed), every_one_in_any_order(typed))),
            gaps in proptest::collection::vec(0..=20_u64, 2 * usize::from(MAX_CHAIN)),
        ) {
            let chain = typed_chain(typed);
            let arrivals: Vec<(usize, u64)> = order.into_iter().zip(gaps).collect();
            let (shown, _) = deliver(&chain, &arrivals);
            let expected: Vec<MessageId> = chain.iter().map(|c| c.id).collect();
            proptest::prop_assert_eq!(shown, expected);
        }

        /// Some messages never arrive, others twice, at any pace: once the grace is over,
        /// each one that arrived was shown exactly once (late, maybe, but never lost).
        #[test]
        fn with_gaps_each_message_that_arrived_is_shown_exactly_once(
            typed in 1..=usize::from(MAX_CHAIN),
            arrivals in proptest::collection::vec((0..usize::from(MAX_CHAIN), 0..1500_u64), 0..40),
        ) {
            let chain = typed_chain(typed);
            let (shown, arrived) = deliver(&chain, &arrivals);
            let mut expected: Vec<MessageId> = chain
                .iter()
                .map(|c| c.id)
                .filter(|id| arrived.contains(id))
                .collect();
            let mut shown_sorted = shown.clone();
            shown_sorted.sort();
            expected.sort();
            proptest::prop_assert_eq!(shown_sorted, expected, "shown: {:?}", shown);
        }
    }
}
