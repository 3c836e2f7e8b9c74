//! The conformance suite on the SQLite store, and what only the SQLite store promises: a
//! fault mid-write leaves nothing, the names states and routes are stored by, and data files
//! from earlier versions.

use super::*;

async fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    (dir, store)
}

conformance_suite!(open);

/// Deliveries and the cursor are one commit: a fault on the second message of a batch
/// (an injected SQLite error) leaves neither the first message nor a moved cursor.
#[tokio::test]
async fn a_batch_that_fails_midway_records_nothing() {
    let (_dir, store) = open().await;
    sqlx::query(
        "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.body = 'poison' \
         BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    let camp = room("Camp");
    let (me, alice) = (DeviceId::random(), DeviceId::random());
    let mut batch = numbered(&camp, 1, 3, alice);
    batch[1].body = "poison".into();
    let failed = store.record_delivered(&batch, me, Route::Relay, 1).await;
    assert!(
        matches!(failed, Err(EngineError::Store { .. })),
        "{failed:?}"
    );
    assert_eq!(store.cursor(&camp).await.unwrap(), None);
    assert!(store.history(&camp, 10).await.unwrap().is_empty());

    batch[1].body = "fine".into();
    store
        .record_delivered(&batch, me, Route::Relay, 100)
        .await
        .unwrap();
    assert_eq!(store.cursor(&camp).await.unwrap(), Some(3));
    assert_eq!(store.history(&camp, 10).await.unwrap().len(), 3);
}

/// States and routes are stored by the names the app sees (`as_str`, serde), and the
/// table refuses any other name.
#[tokio::test]
async fn states_and_routes_are_stored_by_their_names() {
    let (_dir, store) = open().await;
    let camp = room("Camp");
    let (me, alice) = (DeviceId::random(), DeviceId::random());
    let queued = typed(&camp, "queued", 1);
    store.enqueue(&queued, me, &name("Me")).await.unwrap();
    for (seq, route) in [(1, Route::P2p), (2, Route::Relay), (3, Route::Poll)] {
        let batch = numbered(&camp, seq, 1, if seq == 3 { me } else { alice });
        store
            .record_delivered(&batch, me, route, 100)
            .await
            .unwrap();
    }
    let failed = typed(&camp, "failed", 1);
    store.enqueue(&failed, me, &name("Me")).await.unwrap();
    store.mark_failed(failed.id, "refused").await.unwrap();

    let stored: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT id, state, route FROM messages")
            .fetch_all(&store.pool)
            .await
            .unwrap();
    let history = store.history(&camp, 10).await.unwrap();
    assert_eq!(stored.len(), 5);
    for (id, state, route) in &stored {
        let m = history.iter().find(|m| &m.id.to_string() == id).unwrap();
        assert_eq!(serde_json::to_value(m.state).unwrap(), state.as_str());
        assert_eq!(route.as_deref(), m.route.map(Route::as_str));
    }
    let names: std::collections::BTreeSet<_> = stored
        .iter()
        .flat_map(|(_, state, route)| [Some(state.as_str()), route.as_deref()])
        .flatten()
        .collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "failed", "p2p", "poll", "queued", "received", "relay", "sent"
        ]
    );
    for bad in [
        "UPDATE messages SET state = 'delivered'",
        "UPDATE messages SET route = 'bluetooth'",
    ] {
        assert!(
            sqlx::query(bad).execute(&store.pool).await.is_err(),
            "{bad}"
        );
    }
    assert_eq!(store.history(&camp, 10).await.unwrap(), history);
}

/// A data file written before migration 0003 opens with every message, in its order, an
/// unknown route cleared, and local order numbers that are never handed out again.
#[tokio::test]
async fn a_data_file_from_before_the_route_check_keeps_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join(super::super::DB_FILE))
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::migrate!("./migrations")
        .run_to(2, &pool)
        .await
        .unwrap();
    let camp = room("Camp");
    let (me, alice) = (DeviceId::random(), DeviceId::random());
    let rows = [
        (1, Some(1), "relay", "received", alice, "by relay"),
        (2, Some(2), "carrier pigeon", "received", alice, "by pigeon"),
        (3, None, "", "queued", me, "queued"),
        (4, Some(3), "p2p", "sent", me, "deleted by retention"),
    ];
    for (order, seq, route, state, sender, body) in rows {
        sqlx::query(
            "INSERT INTO messages (local_order, id, room, seq, sender, sender_name, body, \
             sent_at, stored_at, route, state) VALUES (?, ?, ?, ?, ?, 'Someone', ?, 1, 2, \
             nullif(?, ''), ?)",
        )
        .bind(order)
        .bind(MessageId::new().to_string())
        .bind(camp.as_str())
        .bind(seq)
        .bind(sender.to_string())
        .bind(body)
        .bind(route)
        .bind(state)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query("DELETE FROM messages WHERE local_order = 4")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(
        store.unread(&camp).await.unwrap(),
        0,
        "what was stored before read marks counts as read"
    );
    let history = store.history(&camp, 10).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|m| (m.body.as_str(), m.route, m.state))
            .collect::<Vec<_>>(),
        [
            ("by relay", Some(Route::Relay), DeliveryState::Received),
            ("by pigeon", None, DeliveryState::Received),
            ("queued", None, DeliveryState::Queued),
        ]
    );
    let next = typed(&camp, "typed after the upgrade", 3);
    store.enqueue(&next, me, &name("Me")).await.unwrap();
    let order: i64 = sqlx::query_scalar("SELECT local_order FROM messages WHERE id = ?")
        .bind(next.id.to_string())
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(order, 5, "number 4 was handed out before the upgrade");
    let bad_route = sqlx::query("UPDATE messages SET route = 'carrier pigeon'")
        .execute(&store.pool)
        .await;
    assert!(
        bad_route.is_err(),
        "the table refuses a route the engine cannot read"
    );
}

/// Unread counts are kept in the file: the same after the store is closed and opened again.
#[tokio::test]
async fn unread_counts_are_the_same_after_a_reopen() {
    let (dir, store) = open().await;
    let (camp, stage) = (room("Camp"), room("Stage"));
    let (me, alice) = (DeviceId::random(), DeviceId::random());
    store
        .record_delivered(&numbered(&camp, 1, 4, alice), me, Route::Relay, 100)
        .await
        .unwrap();
    store.mark_read(&camp).await.unwrap();
    let mut batch = numbered(&camp, 5, 2, alice);
    batch.extend(numbered(&stage, 1, 3, alice));
    store
        .record_delivered(&batch, me, Route::Relay, 100)
        .await
        .unwrap();
    store.close().await;

    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(store.unread(&camp).await.unwrap(), 2);
    assert_eq!(store.unread(&stage).await.unwrap(), 3);
}
