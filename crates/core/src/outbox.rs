//! Messages sent but not yet acked, in the order they were sent.
//!
//! A message keeps its id from the first attempt to the ack, whatever happens in between, so
//! resending after a reconnect is safe: the relay recognises the id and neither stores nor
//! delivers it twice. This one lives in memory; the persisted outbox (which survives a crash)
//! replaces it behind the same operations.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use festival_proto::{ChatSend, MessageId, Seq};
use tokio::sync::oneshot;

use crate::EngineError;

/// Resolves when the relay acked a message (to its sequence number) or refused it.
pub(crate) type AckWaiter = oneshot::Sender<Result<Seq, EngineError>>;

struct Item {
    chat: ChatSend,
    sent: bool,
    retry_at: Option<Instant>,
    waiter: Option<AckWaiter>,
}

/// Pending sends, oldest first.
#[derive(Default)]
pub(crate) struct Outbox {
    order: BTreeMap<u64, MessageId>,
    items: HashMap<MessageId, (u64, Item)>,
    next: u64,
}

impl Outbox {
    /// Queues a message (unsent).
    pub(crate) fn push(&mut self, chat: ChatSend, waiter: Option<AckWaiter>) {
        let position = self.next;
        self.next += 1;
        self.order.insert(position, chat.id);
        let item = Item {
            chat,
            sent: false,
            retry_at: None,
            waiter,
        };
        self.items.insert(item.chat.id, (position, item));
    }

    /// The oldest message that is due to be sent at `now`, if any.
    pub(crate) fn next_due(&self, now: Instant) -> Option<&ChatSend> {
        self.order.values().find_map(|id| {
            let (_, item) = self.items.get(id)?;
            let due = !item.sent && item.retry_at.is_none_or(|at| at <= now);
            due.then_some(&item.chat)
        })
    }

    /// The earliest time a message waiting for a retry becomes due.
    pub(crate) fn next_retry(&self) -> Option<Instant> {
        self.items
            .values()
            .filter(|(_, item)| !item.sent)
            .filter_map(|(_, item)| item.retry_at)
            .min()
    }

    /// Records that `id` went out on the current connection.
    pub(crate) fn mark_sent(&mut self, id: MessageId) {
        if let Some((_, item)) = self.items.get_mut(&id) {
            item.sent = true;
        }
    }

    /// The connection dropped: everything not acked goes out again on the next one.
    pub(crate) fn mark_all_unsent(&mut self) {
        for (_, item) in self.items.values_mut() {
            item.sent = false;
        }
    }

    /// The relay could not take `id` now (rate limit, a store hiccup): send it again at `at`.
    pub(crate) fn retry_at(&mut self, id: MessageId, at: Instant) {
        if let Some((_, item)) = self.items.get_mut(&id) {
            item.sent = false;
            item.retry_at = Some(at);
        }
    }

    /// Settles `id`: acked with a sequence number, or refused for good.
    pub(crate) fn settle(&mut self, id: MessageId, result: Result<Seq, EngineError>) -> bool {
        let Some((position, item)) = self.items.remove(&id) else {
            return false;
        };
        self.order.remove(&position);
        if let Some(waiter) = item.waiter {
            let _ = waiter.send(result);
        }
        true
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
            sent_at: 0,
        }
    }

    #[test]
    fn messages_go_out_in_order_and_again_after_a_reconnect() {
        let now = Instant::now();
        let mut outbox = Outbox::default();
        let (a, b) = (chat("a"), chat("b"));
        outbox.push(a.clone(), None);
        outbox.push(b.clone(), None);
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
    fn an_ack_settles_once_and_wakes_the_sender() {
        let mut outbox = Outbox::default();
        let a = chat("a");
        let (tx, mut rx) = oneshot::channel();
        outbox.push(a.clone(), Some(tx));
        assert!(outbox.settle(a.id, Ok(7)));
        assert!(
            !outbox.settle(a.id, Ok(7)),
            "a duplicate ack settles nothing"
        );
        assert_eq!(rx.try_recv().unwrap().unwrap(), 7);
        assert!(outbox.next_due(Instant::now()).is_none());
    }

    #[test]
    fn a_rate_limited_message_waits_for_its_retry_time() {
        let now = Instant::now();
        let mut outbox = Outbox::default();
        let a = chat("a");
        outbox.push(a.clone(), None);
        outbox.mark_sent(a.id);
        outbox.retry_at(a.id, now + Duration::from_secs(1));
        assert!(outbox.next_due(now).is_none());
        assert_eq!(outbox.next_retry(), Some(now + Duration::from_secs(1)));
        assert!(outbox.next_due(now + Duration::from_secs(1)).is_some());
    }
}
