//! One conformance suite for every [`EngineStore`]: each test is a generic function, and
//! `conformance_suite!` runs all of them against one backend. The SQLite store and the
//! memory store both run it below, so the two cannot drift apart.

use festival_proto::{ChatSend, DeviceId, DisplayName, MessageId, RoomName, Seq};

use super::{DeliveryState, EngineStore, MemoryStore, Store};
use crate::{Delivered, EngineError, Route};

/// Emits one `#[tokio::test]` per conformance test, each on a fresh store from `$open` (an
/// async fn returning a guard to keep alive and the store).
macro_rules! conformance_suite {
    ($open:path) => {
        conformance_suite!(@tests $open;
            a_queued_message_becomes_sent_once_with_its_number,
            a_failed_message_stays_failed_and_is_not_given_out,
            a_message_is_read_back_by_id_with_its_outcome,
            expiry_fails_only_what_was_queued_before_the_cutoff,
            ids_are_idempotent,
            the_cursor_moves_only_forward_and_only_on_numbered_messages,
            history_is_in_room_order_with_unnumbered_last,
            older_history_comes_in_pages_below_a_number,
            retention_drops_only_old_delivered_messages,
            a_cancelled_write_records_all_or_nothing,
            own_message_carries_the_prev_and_signature_it_was_typed_with,
            recent_ids_and_unsequenced_are_bounded_and_newest_last,
            settings_and_identity_are_kept,
            known_keys_are_one_per_name_and_read_back_whole,
            unread_counts_what_others_said_after_the_room_was_last_read,
        );
    };
    (@tests $open:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (_guard, store) = $open().await;
                super::$name(store).await;
            }
        )*
    };
}

mod known_keys;
mod sqlite;

use known_keys::known_keys_are_one_per_name_and_read_back_whole;

mod memory {
    use super::*;

    async fn open() -> ((), MemoryStore) {
        ((), MemoryStore::new())
    }

    conformance_suite!(open);
}

fn room(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

fn name(name: &str) -> DisplayName {
    DisplayName::parse(name).unwrap()
}

/// A message typed here; the store keeps its signature as it is (it checks none).
fn typed(room: &RoomName, body: &str, sent_at: i64) -> ChatSend {
    ChatSend {
        id: MessageId::new(),
        room: room.clone(),
        body: body.into(),
        sealed: None,
        sent_at,
        prev: None,
        sig: festival_proto::Signature::from_bytes([sent_at.to_le_bytes()[0]; 64]),
        direct: Vec::new(),
    }
}

/// `chat` as the relay (numbered `seq`) or its sender directly (no `seq`) delivers it.
fn delivered(chat: &ChatSend, seq: Option<Seq>, sender: DeviceId) -> Delivered {
    Delivered {
        room: chat.room.clone(),
        id: chat.id,
        seq,
        sender,
        from: name("Sender"),
        body: chat.body.clone(),
        sealed: None,
        sent_at: chat.sent_at,
        stored_at: seq.map(|seq| 5_000 + seq as i64),
        prev: chat.prev,
        key: None,
        sig: Some(chat.sig),
    }
}

/// `count` messages from `sender` numbered `first..`, in `room`.
fn numbered(room: &RoomName, first: Seq, count: u64, sender: DeviceId) -> Vec<Delivered> {
    (first..first + count)
        .map(|seq| delivered(&typed(room, &format!("r{seq}"), 1_000), Some(seq), sender))
        .collect()
}

/// The history of `room` as (body, seq, state).
async fn shown(
    store: &impl EngineStore,
    room: &RoomName,
) -> Vec<(String, Option<Seq>, DeliveryState)> {
    store
        .history(room, 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.body, m.seq, m.state))
        .collect()
}

fn row(body: &str, seq: Option<Seq>, state: DeliveryState) -> (String, Option<Seq>, DeliveryState) {
    (body.into(), seq, state)
}

async fn a_queued_message_becomes_sent_once_with_its_number(store: impl EngineStore) {
    let camp = room("Camp");
    let me = DeviceId::random();
    let (first, second) = (typed(&camp, "one", 1_000), typed(&camp, "two", 1_001));
    store.enqueue(&first, me, &name("Me")).await.unwrap();
    store.enqueue(&second, me, &name("Me")).await.unwrap();
    assert_eq!(
        store.queued().await.unwrap(),
        [first.clone(), second.clone()],
        "typed order"
    );

    store.mark_sent(&[(first.id, 4)]).await.unwrap();
    assert_eq!(store.queued().await.unwrap(), std::slice::from_ref(&second));
    // The ack again (a resend acked as a duplicate), then the relay's echo: same message.
    store.mark_sent(&[(first.id, 4)]).await.unwrap();
    store
        .record_delivered(&[delivered(&first, Some(4), me)], me, Route::Relay, 100)
        .await
        .unwrap();
    let history = store.history(&camp, 10).await.unwrap();
    assert_eq!(history.len(), 2, "no message twice");
    let sent = &history[0];
    assert_eq!(
        (
            sent.id,
            sent.seq,
            sent.state,
            sent.route,
            sent.stored_at,
            sent.sender
        ),
        (
            first.id,
            Some(4),
            DeliveryState::Sent,
            Some(Route::Relay),
            Some(5_004),
            me
        )
    );
    assert_eq!(sent.error, None);
    assert_eq!(
        (history[1].id, history[1].state, history[1].seq),
        (second.id, DeliveryState::Queued, None)
    );
    assert_eq!(store.cursor(&camp).await.unwrap(), Some(4));

    // An ack for an id that is not ours, or not here, changes nothing.
    store.mark_sent(&[(MessageId::new(), 9)]).await.unwrap();
    store.mark_sent(&[]).await.unwrap();
    assert_eq!(store.history(&camp, 10).await.unwrap(), history);
}

async fn a_message_is_read_back_by_id_with_its_outcome(store: impl EngineStore) {
    let camp = room("Camp");
    let me = DeviceId::random();
    let (sent, refused) = (typed(&camp, "one", 1_000), typed(&camp, "two", 1_001));
    for c in [&sent, &refused] {
        store.enqueue(c, me, &name("Me")).await.unwrap();
    }
    store.mark_sent(&[(sent.id, 1)]).await.unwrap();
    store.mark_failed(refused.id, "too old").await.unwrap();
    let outcome = |m: Option<crate::store::LocalMessage>| m.map(|m| (m.state, m.error));
    assert_eq!(
        outcome(store.message(sent.id).await.unwrap()),
        Some((DeliveryState::Sent, None))
    );
    assert_eq!(
        outcome(store.message(refused.id).await.unwrap()),
        Some((DeliveryState::Failed, Some("too old".to_owned())))
    );
    assert_eq!(store.message(MessageId::new()).await.unwrap(), None);
}

async fn a_failed_message_stays_failed_and_is_not_given_out(store: impl EngineStore) {
    let camp = room("Camp");
    let me = DeviceId::random();
    let refused = typed(&camp, "refused", 1_000);
    store.enqueue(&refused, me, &name("Me")).await.unwrap();
    store.mark_failed(refused.id, "too long").await.unwrap();
    // Nothing revives it or changes why: a late ack, another failure, the relay's copy.
    store.mark_sent(&[(refused.id, 3)]).await.unwrap();
    store
        .mark_failed(refused.id, "another reason")
        .await
        .unwrap();
    store.expire_queued(i64::MAX, "expired").await.unwrap();
    store
        .record_delivered(&[delivered(&refused, Some(3), me)], me, Route::Relay, 100)
        .await
        .unwrap();
    let history = store.history(&camp, 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].state, DeliveryState::Failed);
    assert_eq!(history[0].error.as_deref(), Some("too long"));
    assert!(store.queued().await.unwrap().is_empty());
    assert_eq!(store.own_message(&camp, refused.id).await.unwrap(), None);

    // A sent message cannot fail.
    let sent = typed(&camp, "sent", 1_001);
    store.enqueue(&sent, me, &name("Me")).await.unwrap();
    store.mark_sent(&[(sent.id, 4)]).await.unwrap();
    store.mark_failed(sent.id, "late").await.unwrap();
    let history = store.history(&camp, 10).await.unwrap();
    assert_eq!(
        history
            .iter()
            .find(|m| m.id == sent.id)
            .map(|m| (m.state, m.error.clone())),
        Some((DeliveryState::Sent, None))
    );
}

async fn expiry_fails_only_what_was_queued_before_the_cutoff(store: impl EngineStore) {
    let (camp, stage) = (room("Camp"), room("Stage"));
    let me = DeviceId::random();
    let old_camp = typed(&camp, "old camp", 1_000);
    let old_stage = typed(&stage, "old stage", 1_500);
    let old_sent = typed(&camp, "old sent", 1_200);
    let new = typed(&camp, "new", 2_000);
    for chat in [&old_camp, &old_stage, &old_sent, &new] {
        store.enqueue(chat, me, &name("Me")).await.unwrap();
    }
    store.mark_sent(&[(old_sent.id, 1)]).await.unwrap();

    let mut expired = store.expire_queued(2_000, "expired").await.unwrap();
    expired.sort();
    let mut expected = vec![(old_camp.id, camp.clone()), (old_stage.id, stage.clone())];
    expected.sort();
    assert_eq!(
        expired, expected,
        "the cutoff is exclusive; a sent one is not queued"
    );
    assert_eq!(store.queued().await.unwrap(), [new]);
    assert!(
        store
            .expire_queued(2_000, "again")
            .await
            .unwrap()
            .is_empty()
    );
    let failed = store.history(&stage, 10).await.unwrap();
    assert_eq!(
        (failed[0].state, failed[0].error.as_deref()),
        (DeliveryState::Failed, Some("expired"))
    );
}

async fn ids_are_idempotent(store: impl EngineStore) {
    let camp = room("Camp");
    let (me, alice) = (DeviceId::random(), DeviceId::random());
    let chat = typed(&camp, "hi", 1_000);

    // First directly from its sender (not numbered yet), then twice by the relay, by two
    // routes: one message, which gains its number and keeps the route it first came by.
    store
        .record_delivered(&[delivered(&chat, None, alice)], me, Route::P2p, 100)
        .await
        .unwrap();
    assert_eq!(
        store.unsequenced(10).await.unwrap(),
        [delivered(&chat, None, alice)]
    );
    let mut renamed = delivered(&chat, Some(7), alice);
    renamed.from = name("Alice Two");
    store
        .record_delivered(&[renamed.clone(), renamed.clone()], me, Route::Relay, 100)
        .await
        .unwrap();
    store
        .record_delivered(&[delivered(&chat, Some(7), alice)], me, Route::Poll, 100)
        .await
        .unwrap();
    let history = store.history(&camp, 10).await.unwrap();
    assert_eq!(history.len(), 1, "one message per id");
    let m = &history[0];
    assert_eq!(
        (
            m.seq,
            m.stored_at,
            m.route,
            m.state,
            m.sender,
            m.body.as_str()
        ),
        (
            Some(7),
            Some(5_007),
            Some(Route::P2p),
            DeliveryState::Received,
            alice,
            "hi"
        )
    );
    assert_eq!(m.from.as_str(), "Sender", "the newest name it is shown by");
    assert!(store.unsequenced(10).await.unwrap().is_empty());
    assert!(store.contains(chat.id).await.unwrap());
    assert_eq!(store.recent_ids(10).await.unwrap(), [chat.id]);

    // A numbered copy never loses its number to a later unnumbered one.
    store
        .record_delivered(&[delivered(&chat, None, alice)], me, Route::P2p, 100)
        .await
        .unwrap();
    assert_eq!(store.history(&camp, 10).await.unwrap()[0].seq, Some(7));

    // Typing an id twice is refused, and the outbox holds it once.
    let mine = typed(&camp, "mine", 1_001);
    store.enqueue(&mine, me, &name("Me")).await.unwrap();
    let again = store.enqueue(&mine, me, &name("Me")).await;
    assert!(matches!(again, Err(EngineError::Store { .. })), "{again:?}");
    assert_eq!(store.queued().await.unwrap(), std::slice::from_ref(&mine));
    assert!(!store.contains(MessageId::new()).await.unwrap());
}

async fn the_cursor_moves_only_forward_and_only_on_numbered_messages(store: impl EngineStore) {
    let (camp, stage) = (room("Camp"), room("Stage"));
    let (me, alice) = (DeviceId::random(), DeviceId::random());
    assert_eq!(store.cursor(&camp).await.unwrap(), None);
    let direct = delivered(&typed(&camp, "direct", 1_000), None, alice);
    store
        .record_delivered(&[direct], me, Route::P2p, 100)
        .await
        .unwrap();
    assert_eq!(
        store.cursor(&camp).await.unwrap(),
        None,
        "an unnumbered message moves no cursor"
    );

    // One batch, two rooms, out of order: each room's cursor is its highest number.
    let mut batch = numbered(&camp, 3, 3, alice);
    batch.reverse();
    batch.extend(numbered(&stage, 1, 2, alice));
    store
        .record_delivered(&batch, me, Route::Relay, 100)
        .await
        .unwrap();
    assert_eq!(store.cursor(&camp).await.unwrap(), Some(5));
    assert_eq!(store.cursor(&stage).await.unwrap(), Some(2));

    // A late page of older messages fills the gap but does not move the cursor back.
    store
        .record_delivered(&numbered(&camp, 1, 2, alice), me, Route::Poll, 100)
        .await
        .unwrap();
    assert_eq!(store.cursor(&camp).await.unwrap(), Some(5));
    store
        .record_delivered(&[], me, Route::Relay, 100)
        .await
        .unwrap();
    assert_eq!(store.cursor(&camp).await.unwrap(), Some(5));
    let seqs: Vec<_> = shown(&store, &camp)
        .await
        .into_iter()
        .map(|(_, s, _)| s)
        .collect();
    assert_eq!(seqs, [Some(1), Some(2), Some(3), Some(4), Some(5), None]);
}

async fn history_is_in_room_order_with_unnumbered_last(store: impl EngineStore) {
    let (camp, stage) = (room("Camp"), room("Stage"));
    let (me, alice) = (DeviceId::random(), DeviceId::random());
    let offline = typed(&camp, "typed offline", 1_000);
    store.enqueue(&offline, me, &name("Me")).await.unwrap();
    let direct = typed(&camp, "direct", 1_000);
    store
        .record_delivered(&[delivered(&direct, None, alice)], me, Route::P2p, 100)
        .await
        .unwrap();
    let mut relayed = numbered(&camp, 1, 3, alice);
    relayed.swap(0, 2);
    store
        .record_delivered(&relayed, me, Route::Relay, 100)
        .await
        .unwrap();
    store
        .record_delivered(&numbered(&stage, 1, 1, alice), me, Route::Relay, 100)
        .await
        .unwrap();
    use DeliveryState::{Queued, Received};
    assert_eq!(
        shown(&store, &camp).await,
        [
            row("r1", Some(1), Received),
            row("r2", Some(2), Received),
            row("r3", Some(3), Received),
            row("typed offline", None, Queued),
            row("direct", None, Received),
        ]
    );
    let newest: Vec<_> = store
        .history(&camp, 3)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(
        newest,
        ["r3", "typed offline", "direct"],
        "the newest, oldest first"
    );
    assert!(store.history(&camp, 0).await.unwrap().is_empty());
    assert!(
        store
            .history(&room("Nowhere"), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Once the direct message is numbered, it takes its place among the numbered ones.
    store
        .record_delivered(&[delivered(&direct, Some(4), alice)], me, Route::Relay, 100)
        .await
        .unwrap();
    let bodies: Vec<_> = shown(&store, &camp)
        .await
        .into_iter()
        .map(|(b, _, _)| b)
        .collect();
    assert_eq!(bodies, ["r1", "r2", "r3", "direct", "typed offline"]);
}

async fn older_history_comes_in_pages_below_a_number(store: impl EngineStore) {
    let (camp, stage) = (room("Camp"), room("Stage"));
    let (me, alice) = (DeviceId::random(), DeviceId::random());
    store
        .record_delivered(&numbered(&camp, 1, 10, alice), me, Route::Relay, 100)
        .await
        .unwrap();
    store
        .record_delivered(&numbered(&stage, 1, 10, alice), me, Route::Relay, 100)
        .await
        .unwrap();
    let direct = typed(&camp, "direct", 1_000);
    store
        .record_delivered(&[delivered(&direct, None, alice)], me, Route::P2p, 100)
        .await
        .unwrap();
    let page = async |before, limit| -> Vec<Seq> {
        store
            .history_before(&camp, before, limit)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.seq.unwrap())
            .collect()
    };
    assert_eq!(
        page(8, 3).await,
        [5, 6, 7],
        "the newest below 8, oldest first"
    );
    assert_eq!(page(5, 3).await, [2, 3, 4]);
    assert_eq!(page(2, 3).await, [1], "the last page is short");
    assert!(page(1, 3).await.is_empty());
    assert_eq!(
        page(Seq::MAX, 2).await,
        [9, 10],
        "unnumbered ones are not history"
    );
    assert!(page(5, 0).await.is_empty());
}

async fn retention_drops_only_old_delivered_messages(store: impl EngineStore) {
    let camp = room("Camp");
    let (me, alice) = (DeviceId::random(), DeviceId::random());
    let failed = typed(&camp, "failed", 1_000);
    let queued = typed(&camp, "queued", 1_000);
    store.enqueue(&failed, me, &name("Me")).await.unwrap();
    store.enqueue(&queued, me, &name("Me")).await.unwrap();
    store.mark_failed(failed.id, "refused").await.unwrap();
    let direct = typed(&camp, "direct", 1_000);
    store
        .record_delivered(&[delivered(&direct, None, alice)], me, Route::P2p, 100)
        .await
        .unwrap();

    // Keep 3 of 10: the newest three numbers stay, with everything not delivered.
    store
        .record_delivered(&numbered(&camp, 1, 10, alice), me, Route::Relay, 3)
        .await
        .unwrap();
    use DeliveryState::{Failed, Queued, Received};
    assert_eq!(
        shown(&store, &camp).await,
        [
            row("r8", Some(8), Received),
            row("r9", Some(9), Received),
            row("r10", Some(10), Received),
            row("failed", None, Failed),
            row("queued", None, Queued),
            row("direct", None, Received),
        ]
    );
    assert_eq!(store.cursor(&camp).await.unwrap(), Some(10));

    // By age: stored_at of seq n is 5000 + n; the cutoff is exclusive. Messages without a
    // relay's time (queued, failed, direct) stay.
    assert_eq!(store.prune_older_than(5_009).await.unwrap(), 1);
    assert_eq!(store.prune_older_than(i64::MAX).await.unwrap(), 2);
    assert_eq!(
        shown(&store, &camp).await,
        [
            row("failed", None, Failed),
            row("queued", None, Queued),
            row("direct", None, Received),
        ]
    );
    assert_eq!(
        store.cursor(&camp).await.unwrap(),
        Some(10),
        "retention keeps the cursor"
    );
    assert_eq!(store.queued().await.unwrap(), [queued]);
}

/// A write cancelled at any point (the app closing, the driver's task aborted) leaves the
/// cursor and the messages it counts either both moved or both as they were, and the store
/// usable: a cursor never points past a message that is not stored.
async fn a_cancelled_write_records_all_or_nothing(store: impl EngineStore) {
    let camp = room("Camp");
    let (me, alice) = (DeviceId::random(), DeviceId::random());
    let mut next = 1;
    for polls in (1..=12).chain([20, 50, 100]) {
        let batch = numbered(&camp, next, 5, alice);
        let write = store.record_delivered(&batch, me, Route::Relay, 10_000);
        let finished = cancel_after(write, polls).await.is_some();
        let cursor = store.cursor(&camp).await.unwrap().unwrap_or(0);
        let stored: Vec<_> = store
            .history(&camp, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|m| m.seq)
            .collect();
        assert_eq!(
            stored,
            (1..=cursor).collect::<Vec<_>>(),
            "after {polls} polls"
        );
        assert!(
            cursor == next - 1 || cursor == next + 4,
            "all or nothing after {polls} polls: cursor {cursor}"
        );
        assert!(!finished || cursor == next + 4, "a finished write is kept");
        next = cursor + 1;
    }
    let last = numbered(&camp, next, 1, alice);
    store
        .record_delivered(&last, me, Route::Relay, 10_000)
        .await
        .unwrap();
    assert_eq!(store.cursor(&camp).await.unwrap(), Some(next));
}

/// Polls `future` at most `polls` times, each time after it was woken (a database
/// worker's step), then drops it: its output if it finished.
async fn cancel_after<F: std::future::Future>(future: F, polls: usize) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut left = polls;
    std::future::poll_fn(|cx| {
        if left == 0 {
            return std::task::Poll::Ready(None);
        }
        left -= 1;
        future.as_mut().poll(cx).map(Some)
    })
    .await
}

async fn own_message_carries_the_prev_and_signature_it_was_typed_with(store: impl EngineStore) {
    let (camp, stage) = (room("Camp"), room("Stage"));
    let (me, alice) = (DeviceId::random(), DeviceId::random());
    assert_eq!(store.last_typed(&camp).await.unwrap(), None);
    let first = typed(&camp, "first", 1_000);
    store.enqueue(&first, me, &name("Me")).await.unwrap();
    store.mark_sent(&[(first.id, 1)]).await.unwrap();
    let elsewhere = typed(&stage, "elsewhere", 1_001);
    store.enqueue(&elsewhere, me, &name("Me")).await.unwrap();
    let theirs = typed(&camp, "theirs", 1_004);
    store
        .record_delivered(&[delivered(&theirs, Some(2), alice)], me, Route::Relay, 100)
        .await
        .unwrap();
    assert_eq!(
        store.last_typed(&camp).await.unwrap(),
        Some(first.id),
        "sent counts; another room's and someone else's do not"
    );
    let refused = typed(&camp, "refused", 1_002);
    store.enqueue(&refused, me, &name("Me")).await.unwrap();
    assert_eq!(store.last_typed(&camp).await.unwrap(), Some(refused.id));
    store.mark_failed(refused.id, "refused").await.unwrap();
    assert_eq!(
        store.last_typed(&camp).await.unwrap(),
        Some(first.id),
        "a failed one is no one's prev"
    );
    let third = ChatSend {
        prev: store.last_typed(&camp).await.unwrap(),
        ..typed(&camp, "third", 1_003)
    };
    store.enqueue(&third, me, &name("Me")).await.unwrap();
    assert_eq!(
        store.queued().await.unwrap().last(),
        Some(&third),
        "queued as signed"
    );

    let frame = store.own_message(&camp, third.id).await.unwrap().unwrap();
    assert_eq!(
        (
            frame.id,
            &frame.room,
            frame.body.as_str(),
            frame.sent_at,
            frame.prev,
            frame.sig
        ),
        (third.id, &camp, "third", 1_003, Some(first.id), third.sig),
        "the prev and signature it was typed with"
    );
    let frame = store.own_message(&camp, first.id).await.unwrap().unwrap();
    assert_eq!(frame.prev, None);
    assert_eq!(
        store.own_message(&stage, first.id).await.unwrap(),
        None,
        "another room"
    );
    assert_eq!(
        store.own_message(&camp, theirs.id).await.unwrap(),
        None,
        "not ours"
    );
    assert_eq!(
        store.own_message(&camp, MessageId::new()).await.unwrap(),
        None
    );
}

async fn recent_ids_and_unsequenced_are_bounded_and_newest_last(store: impl EngineStore) {
    let camp = room("Camp");
    let (me, alice) = (DeviceId::random(), DeviceId::random());
    let mine = typed(&camp, "mine", 1_000);
    store.enqueue(&mine, me, &name("Me")).await.unwrap();
    let direct: Vec<_> = (0..4)
        .map(|i| delivered(&typed(&camp, &format!("d{i}"), 1_000), None, alice))
        .collect();
    for m in &direct {
        store
            .record_delivered(std::slice::from_ref(m), me, Route::P2p, 100)
            .await
            .unwrap();
    }
    let relayed = numbered(&camp, 1, 2, alice);
    store
        .record_delivered(&relayed, me, Route::Relay, 100)
        .await
        .unwrap();
    // Our own message's echo is not among those received from others.
    store
        .record_delivered(&[delivered(&mine, Some(3), me)], me, Route::Relay, 100)
        .await
        .unwrap();

    assert_eq!(store.unsequenced(2).await.unwrap(), direct[2..]);
    assert_eq!(store.unsequenced(100).await.unwrap(), direct);
    assert!(store.unsequenced(0).await.unwrap().is_empty());
    assert_eq!(
        store.recent_ids(3).await.unwrap(),
        [direct[3].id, relayed[0].id, relayed[1].id]
    );
    assert_eq!(store.recent_ids(100).await.unwrap().len(), 6);
}

async fn settings_and_identity_are_kept(store: impl EngineStore) {
    assert_eq!(store.get("relay_url").await.unwrap(), None);
    store.set("relay_url", "ws://one").await.unwrap();
    store.set("relay_url", "ws://two").await.unwrap();
    assert_eq!(
        store.get("relay_url").await.unwrap().as_deref(),
        Some("ws://two")
    );

    // A store from before keys: a random id nothing can prove, replaced by the key's.
    let legacy = DeviceId::random();
    store.set("device_id", &legacy.to_string()).await.unwrap();
    assert!(matches!(
        store.identity(None).await,
        Err(EngineError::NoName)
    ));
    assert!(matches!(
        store.identity(Some("\u{7}")).await,
        Err(EngineError::Invalid(_))
    ));
    assert!(
        matches!(store.identity(None).await, Err(EngineError::NoName)),
        "not saved"
    );
    let first = store.identity(Some("  Alice ")).await.unwrap();
    assert_eq!(first.name.as_str(), "Alice");
    assert_eq!(store.identity(None).await.unwrap(), first);
    let renamed = store.identity(Some("Ally")).await.unwrap();
    assert_eq!(
        (renamed.device, renamed.name.as_str()),
        (first.device, "Ally")
    );

    assert_eq!(first.key.device(), first.device, "the id is the key's");
    assert_ne!(first.device, legacy);
    assert_eq!(
        store.get("device_id").await.unwrap(),
        Some(first.device.to_string())
    );

    store.set("device_key", "not a key").await.unwrap();
    assert!(matches!(
        store.identity(None).await,
        Err(EngineError::Store { .. })
    ));
}

async fn unread_counts_what_others_said_after_the_room_was_last_read(store: impl EngineStore) {
    let (camp, stage, empty) = (room("Camp"), room("Stage"), room("Empty"));
    let (me, alice) = (DeviceId::random(), DeviceId::random());
    let unread = async |room: &RoomName| store.unread(room).await.unwrap();

    // Never read: every message received counts; this device's own never do.
    store
        .record_delivered(&numbered(&camp, 1, 3, alice), me, Route::Relay, 100)
        .await
        .unwrap();
    let mine = typed(&camp, "mine", 1_000);
    store.enqueue(&mine, me, &name("Me")).await.unwrap();
    store
        .record_delivered(&[delivered(&mine, Some(4), me)], me, Route::Relay, 100)
        .await
        .unwrap();
    assert_eq!((unread(&camp).await, unread(&stage).await), (3, 0));

    store.mark_read(&camp).await.unwrap();
    assert_eq!(unread(&camp).await, 0);
    // A direct copy, then the relay's copy of the same message: one unread message.
    let direct = typed(&camp, "direct", 1_000);
    store
        .record_delivered(&[delivered(&direct, None, alice)], me, Route::P2p, 100)
        .await
        .unwrap();
    store
        .record_delivered(&[delivered(&direct, Some(5), alice)], me, Route::Relay, 100)
        .await
        .unwrap();
    store
        .record_delivered(&numbered(&stage, 1, 2, alice), me, Route::Relay, 100)
        .await
        .unwrap();
    assert_eq!((unread(&camp).await, unread(&stage).await), (1, 2));

    // Each room has its own mark; marking again changes nothing.
    store.mark_read(&stage).await.unwrap();
    store.mark_read(&stage).await.unwrap();
    assert_eq!((unread(&camp).await, unread(&stage).await), (1, 0));

    // A room read while it was empty counts what comes later.
    store.mark_read(&empty).await.unwrap();
    store
        .record_delivered(&numbered(&empty, 1, 2, alice), me, Route::Relay, 100)
        .await
        .unwrap();
    assert_eq!(unread(&empty).await, 2);

    // Retention drops the oldest: the count is of what is still there after the mark.
    store
        .record_delivered(&numbered(&stage, 3, 4, alice), me, Route::Relay, 3)
        .await
        .unwrap();
    assert_eq!(unread(&stage).await, 3);
}
