//! One conformance suite for every [`RelayStore`]: each test is a generic function, and
//! `conformance_suite!` runs all of them against one backend. The SQLite store and the
//! memory store both run it below, so the two cannot drift apart.

use std::collections::BTreeSet;

use festival_proto::{DeviceId, DisplayName, MessageId, RoomName};

use super::{MemoryStore, NewMessage, RelayStore, Store, Stored};

/// Emits one `#[tokio::test]` per conformance test, each on a fresh store from `$open` (an
/// async fn returning a guard to keep alive and the store).
macro_rules! conformance_suite {
    ($open:path) => {
        conformance_suite!(@tests $open;
            a_retried_id_is_stored_once_in_any_room,
            each_room_numbers_from_one_without_gaps,
            concurrent_writers_never_share_or_skip_a_number,
            retention_never_reuses_a_number,
            pruning_drops_only_older_messages,
            since_pages_and_latest_are_oldest_first,
            older_pages_come_below_a_number,
            an_unknown_room_is_empty,
            a_cancelled_batch_is_stored_whole_or_not_at_all,
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

mod sqlite {
    use super::*;

    async fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("relay.db")).await.unwrap();
        (dir, store)
    }

    conformance_suite!(open);

    /// A batch is stored whole or not at all: a fault on its second message (an injected
    /// SQLite error) leaves neither the first message nor a number behind.
    #[tokio::test]
    async fn a_batch_that_fails_midway_stores_nothing() {
        let (_dir, store) = open().await;
        sqlx::query(
            "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.body = 'poison' \
             BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        let camp = room("Camp");
        store
            .insert_batch(&camp, &[message("before")], 1, 100)
            .await
            .unwrap();
        let failed = store
            .insert_batch(
                &camp,
                &[message("a"), message("poison"), message("c")],
                2,
                1,
            )
            .await;
        assert!(failed.is_err());
        assert_eq!(store.last_seq(&camp).await.unwrap(), 1);
        let (left, _) = store.since(&camp, 0, 100).await.unwrap();
        assert_eq!(
            left.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
            ["before"],
            "nothing of the failed batch, and its retention did not run"
        );
        let next = store
            .insert_batch(&camp, &[message("after")], 3, 100)
            .await
            .unwrap();
        assert_eq!(seqs(&next), [2]);
    }

    /// A client that retries after the relay restarted gets its original number back, and
    /// the room goes on from where it was.
    #[tokio::test]
    async fn a_retry_after_a_restart_is_recognised() {
        let (dir, store) = open().await;
        let path = dir.path().join("relay.db");
        let (camp, first) = (room("Camp"), message("before the restart"));
        store
            .insert_batch(&camp, std::slice::from_ref(&first), 1, 100)
            .await
            .unwrap();
        store.close().await;

        let store = Store::open(&path).await.unwrap();
        let retried = store
            .insert_batch(&camp, &[first.clone(), message("after")], 2, 100)
            .await
            .unwrap();
        assert_eq!(
            retried[0],
            Stored::Existing {
                room: camp.clone(),
                seq: 1,
                sender: first.sender
            }
        );
        assert_eq!(seqs(&retried), [1, 2]);
    }
}

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

fn message(body: &str) -> NewMessage {
    NewMessage {
        id: MessageId::new(),
        sender: DeviceId::random(),
        from: DisplayName::parse("Alice").unwrap(),
        body: body.into(),
        sealed: None,
        sent_at: 7,
        prev: Some(MessageId::new()),
        key: Some(festival_proto::PublicKey::from_bytes([1; 32])),
        sig: Some(festival_proto::Signature::from_bytes([2; 64])),
    }
}

fn seqs(outcomes: &[Stored]) -> Vec<u64> {
    outcomes
        .iter()
        .map(|o| match o {
            Stored::New(m) => m.seq,
            Stored::Existing { seq, .. } => *seq,
        })
        .collect()
}

async fn a_retried_id_is_stored_once_in_any_room(store: impl RelayStore) {
    let (camp, stage) = (room("Camp"), room("Main Stage"));
    let first = message("hello");
    let stored = store
        .insert_batch(&camp, std::slice::from_ref(&first), 10, 100)
        .await
        .unwrap();
    assert!(matches!(&stored[..], [Stored::New(m)] if m.seq == 1 && m.id == first.id));
    let original = Stored::Existing {
        room: camp.clone(),
        seq: 1,
        sender: first.sender,
    };
    // Retried in the same room, in another room, and twice within one batch.
    let again = store
        .insert_batch(&camp, std::slice::from_ref(&first), 11, 100)
        .await
        .unwrap();
    assert_eq!(again, std::slice::from_ref(&original));
    let elsewhere = store
        .insert_batch(&stage, std::slice::from_ref(&first), 12, 100)
        .await
        .unwrap();
    assert_eq!(elsewhere, std::slice::from_ref(&original));
    let second = message("second");
    let twice = store
        .insert_batch(&camp, &[second.clone(), second.clone()], 13, 100)
        .await
        .unwrap();
    assert!(matches!(&twice[0], Stored::New(m) if m.seq == 2));
    assert_eq!(
        twice[1],
        Stored::Existing {
            room: camp.clone(),
            seq: 2,
            sender: second.sender
        }
    );

    assert_eq!(store.last_seq(&camp).await.unwrap(), 2);
    assert_eq!(store.last_seq(&stage).await.unwrap(), 0);
    let (all, _) = store.since(&camp, 0, 100).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|m| (m.seq, m.body.as_str(), m.stored_at))
            .collect::<Vec<_>>(),
        [(1, "hello", 10), (2, "second", 13)],
        "a retry changes nothing stored"
    );
    assert!(store.since(&stage, 0, 100).await.unwrap().0.is_empty());
}

async fn each_room_numbers_from_one_without_gaps(store: impl RelayStore) {
    let (a, b) = (room("A"), room("B"));
    let mut expected_a = Vec::new();
    for (round, size) in [3usize, 1, 5, 2].into_iter().enumerate() {
        let batch: Vec<_> = (0..size)
            .map(|i| message(&format!("a{round}.{i}")))
            .collect();
        let outcomes = store.insert_batch(&a, &batch, 100, 1_000).await.unwrap();
        let first = expected_a.len() as u64 + 1;
        assert_eq!(
            seqs(&outcomes),
            (first..first + size as u64).collect::<Vec<_>>()
        );
        expected_a.extend(batch);
        // Another room's numbers are its own.
        let b_out = store
            .insert_batch(&b, &[message("b")], 100, 1_000)
            .await
            .unwrap();
        assert_eq!(seqs(&b_out), [round as u64 + 1]);
    }
    assert_eq!(store.last_seq(&a).await.unwrap(), 11);
    let (stored, more) = store.since(&a, 0, 100).await.unwrap();
    assert!(!more);
    assert_eq!(stored.len(), expected_a.len());
    for (seq, (got, sent)) in (1..).zip(stored.iter().zip(&expected_a)) {
        assert_eq!(got.seq, seq);
        assert_eq!(got.room, a);
        assert_eq!(
            (
                got.id,
                got.sender,
                &got.from,
                &got.body,
                got.sent_at,
                got.stored_at
            ),
            (
                sent.id,
                sent.sender,
                &sent.from,
                &sent.body,
                sent.sent_at,
                100
            ),
            "stored as sent"
        );
        assert_eq!(
            (got.prev, got.key, got.sig),
            (sent.prev, sent.key, sent.sig),
            "served with the signature it was stored with"
        );
    }
}

async fn concurrent_writers_never_share_or_skip_a_number(store: impl RelayStore) {
    const WRITERS: usize = 8;
    const BATCHES: usize = 20;
    const BATCH: usize = 3;
    let camp = room("Camp");
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, camp) = (store.clone(), camp.clone());
            tokio::spawn(async move {
                let mut numbers = Vec::new();
                for b in 0..BATCHES {
                    let batch: Vec<_> = (0..BATCH)
                        .map(|i| message(&format!("{w}.{b}.{i}")))
                        .collect();
                    let outcomes = store
                        .insert_batch(&camp, &batch, 1, usize::MAX)
                        .await
                        .unwrap();
                    let got = seqs(&outcomes);
                    assert!(
                        got.windows(2).all(|w| w[1] == w[0] + 1),
                        "a batch is numbered in one run: {got:?}"
                    );
                    numbers.extend(got);
                }
                numbers
            })
        })
        .collect();
    let mut all = Vec::new();
    for writer in writers {
        all.extend(writer.await.unwrap());
    }
    let total = (WRITERS * BATCHES * BATCH) as u64;
    let unique: BTreeSet<_> = all.iter().copied().collect();
    assert_eq!(all.len() as u64, total, "one number per message");
    assert_eq!(unique, (1..=total).collect(), "no number shared or skipped");
    assert_eq!(store.last_seq(&camp).await.unwrap(), total);
    let (stored, more) = store.since(&camp, 0, usize::MAX / 2).await.unwrap();
    assert!(!more);
    assert_eq!(
        stored.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
}

async fn retention_never_reuses_a_number(store: impl RelayStore) {
    let camp = room("Camp");
    let batch: Vec<_> = (0..10).map(|i| message(&format!("m{i}"))).collect();
    store.insert_batch(&camp, &batch, 10, 4).await.unwrap();
    let (kept, _) = store.since(&camp, 0, 100).await.unwrap();
    assert_eq!(
        kept.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [7, 8, 9, 10],
        "the newest 4 of 10 are kept"
    );
    // A retry of a kept message changes nothing and trims nothing.
    let retry = store
        .insert_batch(&camp, std::slice::from_ref(&batch[9]), 11, 1)
        .await
        .unwrap();
    assert_eq!(seqs(&retry), [10]);
    assert_eq!(store.since(&camp, 0, 100).await.unwrap().0.len(), 4);

    assert_eq!(store.prune_older_than(11).await.unwrap(), 4);
    assert!(store.since(&camp, 0, 100).await.unwrap().0.is_empty());
    assert_eq!(
        store.last_seq(&camp).await.unwrap(),
        10,
        "an emptied room keeps its number"
    );
    let next = store
        .insert_batch(&camp, &[message("after")], 20, 4)
        .await
        .unwrap();
    assert_eq!(seqs(&next), [11]);
}

async fn pruning_drops_only_older_messages(store: impl RelayStore) {
    let (a, b) = (room("A"), room("B"));
    store
        .insert_batch(&a, &[message("old a"), message("old a")], 100, 100)
        .await
        .unwrap();
    store
        .insert_batch(&b, &[message("old b")], 100, 100)
        .await
        .unwrap();
    store
        .insert_batch(&a, &[message("new a")], 200, 100)
        .await
        .unwrap();
    assert_eq!(
        store.prune_older_than(100).await.unwrap(),
        0,
        "the cutoff is exclusive"
    );
    assert_eq!(store.prune_older_than(200).await.unwrap(), 3);
    let (left, _) = store.since(&a, 0, 100).await.unwrap();
    assert_eq!(
        left.iter()
            .map(|m| (m.seq, m.body.as_str()))
            .collect::<Vec<_>>(),
        [(3, "new a")]
    );
    assert!(store.since(&b, 0, 100).await.unwrap().0.is_empty());
    assert_eq!(store.last_seq(&b).await.unwrap(), 1);
}

async fn since_pages_and_latest_are_oldest_first(store: impl RelayStore) {
    let camp = room("Camp");
    let batch: Vec<_> = (1..=7).map(|i| message(&format!("m{i}"))).collect();
    store.insert_batch(&camp, &batch, 1, 100).await.unwrap();
    let page = |since, limit| {
        let store = store.clone();
        let camp = camp.clone();
        async move {
            let (messages, more) = store.since(&camp, since, limit).await.unwrap();
            (messages.iter().map(|m| m.seq).collect::<Vec<_>>(), more)
        }
    };
    assert_eq!(page(0, 3).await, (vec![1, 2, 3], true));
    assert_eq!(page(3, 3).await, (vec![4, 5, 6], true));
    assert_eq!(page(6, 3).await, (vec![7], false));
    assert_eq!(
        page(4, 3).await,
        (vec![5, 6, 7], false),
        "an exact fit has no more"
    );
    assert_eq!(page(7, 3).await, (vec![], false));
    assert_eq!(page(1_000, 3).await, (vec![], false));
    assert_eq!(page(0, 0).await, (vec![], true));

    let bodies = |messages: Vec<festival_proto::ChatMessage>| {
        messages.into_iter().map(|m| m.body).collect::<Vec<_>>()
    };
    assert_eq!(bodies(store.latest(&camp, 2).await.unwrap()), ["m6", "m7"]);
    assert_eq!(bodies(store.latest(&camp, 100).await.unwrap()).len(), 7);
    assert!(store.latest(&camp, 0).await.unwrap().is_empty());
}

async fn older_pages_come_below_a_number(store: impl RelayStore) {
    let camp = room("Camp");
    let batch: Vec<_> = (1..=7).map(|i| message(&format!("m{i}"))).collect();
    store.insert_batch(&camp, &batch, 1, 100).await.unwrap();
    let page = async |before, limit| {
        let (messages, more) = store.before(&camp, before, limit).await.unwrap();
        (messages.iter().map(|m| m.seq).collect::<Vec<_>>(), more)
    };
    assert_eq!(page(8, 3).await, (vec![5, 6, 7], true));
    assert_eq!(page(5, 3).await, (vec![2, 3, 4], true));
    assert_eq!(
        page(4, 3).await,
        (vec![1, 2, 3], false),
        "an exact fit has no more"
    );
    assert_eq!(page(2, 3).await, (vec![1], false));
    assert_eq!(page(1, 3).await, (vec![], false));
    assert_eq!(page(u64::MAX, 2).await, (vec![6, 7], true));
    assert_eq!(
        store.before(&room("Nowhere"), 10, 3).await.unwrap(),
        (vec![], false)
    );
}

async fn an_unknown_room_is_empty(store: impl RelayStore) {
    let nowhere = room("Nowhere");
    store
        .insert_batch(&room("Camp"), &[message("x")], 1, 10)
        .await
        .unwrap();
    assert_eq!(store.last_seq(&nowhere).await.unwrap(), 0);
    assert_eq!(
        store.since(&nowhere, 0, 10).await.unwrap(),
        (Vec::new(), false)
    );
    assert!(store.latest(&nowhere, 10).await.unwrap().is_empty());
    assert_eq!(
        store.insert_batch(&nowhere, &[], 1, 10).await.unwrap(),
        Vec::new(),
        "an empty batch stores nothing"
    );
    assert_eq!(store.last_seq(&nowhere).await.unwrap(), 0);
}

/// A batch whose write is cancelled at any point (a room task aborted at shutdown) is stored
/// whole or not at all, and the room's numbers go on without a gap.
async fn a_cancelled_batch_is_stored_whole_or_not_at_all(store: impl RelayStore) {
    let camp = room("Camp");
    let mut last = 0;
    for polls in (1..=12).chain([20, 50, 100]) {
        let batch: Vec<_> = (0..4).map(|i| message(&format!("{polls}.{i}"))).collect();
        let write = store.insert_batch(&camp, &batch, 1, 10_000);
        let finished = cancel_after(write, polls).await.is_some();
        let now = store.last_seq(&camp).await.unwrap();
        assert!(
            now == last || now == last + 4,
            "all or nothing after {polls} polls: last {last}, now {now}"
        );
        assert!(!finished || now == last + 4, "a finished batch is kept");
        let (stored, _) = store.since(&camp, 0, 10_000).await.unwrap();
        assert_eq!(
            stored.iter().map(|m| m.seq).collect::<Vec<_>>(),
            (1..=now).collect::<Vec<_>>(),
            "after {polls} polls"
        );
        if now > last {
            let bodies: Vec<_> = stored[stored.len() - 4..].iter().map(|m| &m.body).collect();
            assert_eq!(bodies, batch.iter().map(|m| &m.body).collect::<Vec<_>>());
        }
        last = now;
    }
    let next = store
        .insert_batch(&camp, &[message("after")], 2, 10_000)
        .await
        .unwrap();
    assert_eq!(seqs(&next), [last + 1]);
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
