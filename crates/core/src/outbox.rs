//! Messages sent but not yet acked, in the order they were sent.
//!
//! A message keeps its id from the first attempt to the ack, whatever happens in between, so
//! resending after a reconnect is safe: the relay recognises the id and neither stores nor
//! delivers it twice. This is the in-memory view for the link; the store holds the same
//! messages on disk (state `queued`), so that a restart takes them up again.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use festival_proto::{ChatSend, DeviceId, MessageId};

struct Item {
    position: u64,
    chat: ChatSend,
    retry_at: Option<Instant>,
}

/// Pending sends, oldest first. Every operation is O(log n), so ten thousand messages queued
/// offline flush without the outbox itself becoming the bottleneck.
#[derive(Default)]
pub(crate) struct Outbox {
    items: HashMap<MessageId, Item>,
    /// Messages not on the wire, by the order they were queued.
    unsent: BTreeMap<u64, MessageId>,
    next: u64,
}

impl Outbox {
    /// Queues a message (unsent).
    pub(crate) fn push(&mut self, chat: ChatSend) {
        let position = self.next;
        self.next += 1;
        self.unsent.insert(position, chat.id);
        let item = Item {
            position,
            chat,
            retry_at: None,
        };
        self.items.insert(item.chat.id, item);
    }

    /// The oldest unsent message, if it is due at `now`. A message waiting for its retry
    /// holds back the ones after it, so that the relay receives them in the order typed.
    pub(crate) fn next_due(&self, now: Instant) -> Option<&ChatSend> {
        let item = self.first_unsent()?;
        item.retry_at
            .is_none_or(|at| at <= now)
            .then_some(&item.chat)
    }

    /// When the oldest unsent message becomes due, if it waits for a retry.
    pub(crate) fn next_retry(&self) -> Option<Instant> {
        self.first_unsent()?.retry_at
    }

    fn first_unsent(&self) -> Option<&Item> {
        let (_, id) = self.unsent.first_key_value()?;
        self.items.get(id)
    }

    /// Records that `id` went out on the current connection.
    pub(crate) fn mark_sent(&mut self, id: MessageId) {
        if let Some(item) = self.items.get(&id) {
            self.unsent.remove(&item.position);
        }
    }

    /// The connection dropped: everything not acked goes out again on the next one.
    pub(crate) fn mark_all_unsent(&mut self) {
        self.unsent = self
            .items
            .values()
            .map(|item| (item.position, item.chat.id))
            .collect();
    }

    /// The relay could not take `id` now (rate limit, a store hiccup): send it again at `at`.
    pub(crate) fn retry_at(&mut self, id: MessageId, at: Instant) {
        if let Some(item) = self.items.get_mut(&id) {
            item.retry_at = Some(at);
            self.unsent.insert(item.position, id);
        }
    }

    /// Settles `id` (acked, refused for good or expired); false if it was not waiting, so
    /// that its sender is told once.
    pub(crate) fn settle(&mut self, id: MessageId) -> bool {
        let Some(item) = self.items.remove(&id) else {
            return false;
        };
        self.unsent.remove(&item.position);
        true
    }

    /// `id` reached `peer` over a direct link: the relay sends that member only its number.
    pub(crate) fn sent_directly(&mut self, id: MessageId, peer: DeviceId) {
        if let Some(item) = self.items.get_mut(&id) {
            item.chat.direct.push(peer);
        }
    }

    /// Messages not yet acked.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use festival_proto::RoomName;

    use super::*;

    fn chat(body: &str) -> ChatSend {
        ChatSend {
            id: MessageId::new(),
            room: RoomName::parse("Camp").unwrap(),
            body: body.into(),
            sealed: None,
            sent_at: 0,
            prev: None,
            sig: festival_proto::Signature::from_bytes([0; 64]),
            direct: Vec::new(),
        }
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn messages_go_out_in_order_and_again_after_a_reconnect() {
        let now = Instant::now();
        let mut outbox = Outbox::default();
        let (a, b) = (chat("a"), chat("b"));
        outbox.push(a.clone());
        outbox.push(b.clone());
        assert_eq!(outbox.next_due(now).map(|c| c.id), Some(a.id));
        outbox.mark_sent(a.id);
        assert_eq!(outbox.next_due(now).map(|c| c.id), Some(b.id));
        outbox.mark_sent(b.id);
        assert!(outbox.next_due(now).is_none());
        outbox.mark_all_unsent();
        assert_eq!(
            outbox.next_due(now).map(|c| c.id),
            Some(a.id),
            "same id, same order"
        );
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn an_ack_settles_once() {
        let mut outbox = Outbox::default();
        let a = chat("a");
        outbox.push(a.clone());
        assert!(outbox.settle(a.id));
        assert!(!outbox.settle(a.id), "a duplicate ack settles nothing");
        assert!(outbox.next_due(Instant::now()).is_none());
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn a_rate_limited_message_waits_and_holds_back_the_ones_after_it() {
        let now = Instant::now();
        let mut outbox = Outbox::default();
        let (a, b) = (chat("a"), chat("b"));
        outbox.push(a.clone());
        outbox.push(b.clone());
        outbox.mark_sent(a.id);
        outbox.mark_sent(b.id);
        outbox.retry_at(a.id, now + Duration::from_secs(1));
        outbox.retry_at(b.id, now);
        assert!(
            outbox.next_due(now).is_none(),
            "b waits for a, to keep the typed order"
        );
        assert_eq!(outbox.next_retry(), Some(now + Duration::from_secs(1)));
        assert_eq!(
            outbox.next_due(now + Duration::from_secs(1)).map(|c| c.id),
            Some(a.id)
        );
    }
}
