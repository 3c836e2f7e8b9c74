//! The relay's SQLite store: every chat message, by room and sequence number.
//!
//! Messages are written before they are acked or fanned out, so an ack means "durable". Ids
//! are unique across rooms, so a retried send is recognised even after a restart. Each room's
//! last sequence number is kept apart from the messages, so that retention never makes a room
//! hand out a number twice.
//!
//! [`RelayStore`] is the contract; this SQLite `Store` and the [`MemoryStore`] keep it, and
//! one conformance suite checks both.

#[cfg(test)]
mod conformance;
mod contract;
mod memory;

pub use contract::RelayStore;
pub use memory::MemoryStore;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use festival_proto::{
    ChatMessage, DeviceId, DisplayName, MessageId, PublicKey, RoomName, Sealed, Seq, Signature,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, SqlitePool};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened, read or written.
    #[error("relay database: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema migration failed.
    #[error("relay database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row no longer parses (the file was edited or corrupted).
    #[error("relay database holds an invalid row: {0}")]
    Corrupt(String),
    /// The integrity check at start found damage: the relay refuses to serve from this file.
    #[error(
        "the relay database {path} is damaged ({detail}); the relay will not serve from it. \
         Restore the latest backup (made with `festival-relay backup`), or salvage what is \
         readable with `sqlite3 {path} .recover | sqlite3 recovered.db` and start with \
         `--data recovered.db` (see the README, \"Backup and recovery\")"
    )]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// What SQLite's check reported first.
        detail: String,
    },
}

/// Whether the store can write, as `/healthz` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreState {
    /// The last write succeeded.
    Ok,
    /// The last write failed with this error (a full disk, an I/O error); writes are retried
    /// on every message and by a probe, and the state returns to `Ok` by itself.
    Failing(String),
}

/// A message to store, as a client sent it, with the name its sender is shown as.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The id the client gave it: the key that makes a retry harmless.
    pub id: MessageId,
    /// The sending device.
    pub sender: DeviceId,
    /// The name the sender is shown as in the room.
    pub from: DisplayName,
    /// The text; empty when `sealed` carries it.
    pub body: String,
    /// In a private room, the text sealed with the room's key, which the relay cannot read.
    pub sealed: Option<Sealed>,
    /// The sender's clock when it was sent, Unix milliseconds.
    pub sent_at: i64,
    /// The sender's message typed before it in the room, as signed.
    pub prev: Option<MessageId>,
    /// The sender's public key, which the relay checked `sig` against; `None` only for an
    /// organisers' announcement, which the relay writes itself under the nil device.
    pub key: Option<PublicKey>,
    /// The sender's signature of (room, id, body, sent_at, prev); `None` as `key` is.
    pub sig: Option<Signature>,
}

/// What storing one message did.
#[derive(Debug, Clone, PartialEq, Eq)]
// Nearly every outcome is `New`, and a batch's outcomes live only until they are sent: boxing
// the message would cost an allocation each for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Stored {
    /// Stored now under a new sequence number.
    New(ChatMessage),
    /// Already stored (a retry): its original room, sequence number and sender.
    Existing {
        /// The room it was stored in first.
        room: RoomName,
        /// Its number there.
        seq: Seq,
        /// The device that sent it first.
        sender: DeviceId,
    },
}

/// Handle to the relay database; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pool: SqlitePool,
    state: Arc<Mutex<StoreState>>,
}

#[derive(FromRow)]
struct Row {
    room: String,
    seq: i64,
    id: String,
    sender: String,
    sender_name: String,
    body: String,
    sent_at: i64,
    stored_at: i64,
    prev: Option<String>,
    sender_key: Option<String>,
    sig: Option<String>,
    sealed: Option<String>,
}

impl Row {
    fn into_message(self) -> Result<ChatMessage, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("{what} in message {}", self.id));
        Ok(ChatMessage {
            room: RoomName::parse(&self.room).map_err(|_| corrupt("room name"))?,
            id: MessageId::from_str(&self.id).map_err(|_| corrupt("message id"))?,
            seq: u64::try_from(self.seq).map_err(|_| corrupt("sequence number"))?,
            sender: DeviceId::from_str(&self.sender).map_err(|_| corrupt("sender id"))?,
            from: DisplayName::from_trusted(self.sender_name),
            body: self.body,
            sealed: self
                .sealed
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|_| corrupt("sealed body"))?,
            sent_at: self.sent_at,
            stored_at: self.stored_at,
            prev: parse_optional(self.prev.as_deref()).map_err(|_| corrupt("prev"))?,
            key: parse_optional(self.sender_key.as_deref()).map_err(|_| corrupt("sender key"))?,
            sig: parse_optional(self.sig.as_deref()).map_err(|_| corrupt("signature"))?,
        })
    }
}

/// A column that may be NULL (messages stored before protocol version 2 have no signature).
fn parse_optional<T: FromStr>(text: Option<&str>) -> Result<Option<T>, T::Err> {
    text.map(str::parse).transpose()
}

const SINCE: &str = "SELECT room, seq, id, sender, sender_name, body, sent_at, stored_at, \
    prev, sender_key, sig, sealed FROM messages WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?";
const LATEST: &str = "SELECT room, seq, id, sender, sender_name, body, sent_at, stored_at, \
    prev, sender_key, sig, sealed FROM messages WHERE room = ? ORDER BY seq DESC LIMIT ?";
const BEFORE: &str = "SELECT room, seq, id, sender, sender_name, body, sent_at, stored_at, \
    prev, sender_key, sig, sealed FROM messages WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?";

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub(crate) async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Database(e.into()))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let damaged = |e: &dyn std::fmt::Display| StoreError::Damaged {
            path: path.to_owned(),
            detail: e.to_string(),
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(ref db) if is_damage(db.message()) => damaged(&e),
                e => e.into(),
            })?;
        // A damaged file served anyway answers `internal` on some rooms forever, and every
        // write can spread the damage: check before serving (quick_check reads every page
        // but skips the index cross-checks, seconds for a large history).
        let problems: Vec<String> = sqlx::query_scalar("PRAGMA quick_check(5)")
            .fetch_all(&pool)
            .await
            .map_err(|e| damaged(&e))?;
        if problems != ["ok"] {
            pool.close().await;
            return Err(damaged(&problems.join("; ")));
        }
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self {
            pool,
            state: Arc::new(Mutex::new(StoreState::Ok)),
        })
    }

    /// Whether the store can write, as far as the last write or probe saw.
    pub(crate) fn state(&self) -> StoreState {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Writes a one-row heartbeat, so that a store that failed notices by itself that its disk
    /// is back (and `/healthz` says so) even when no client writes.
    pub(crate) async fn probe(&self, now: i64) -> Result<(), StoreError> {
        let written = sqlx::query(
            "INSERT INTO heartbeat (id, written_at) VALUES (1, ?) \
             ON CONFLICT(id) DO UPDATE SET written_at = excluded.written_at",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(StoreError::from);
        self.record(&written);
        written
    }

    /// Copies the whole database, what the write-ahead log holds included, into a new file
    /// at `to`, consistently, while the relay keeps writing (`VACUUM INTO`).
    pub(crate) async fn backup_to(&self, to: &Path) -> Result<(), StoreError> {
        let to = to.to_str().ok_or_else(|| {
            StoreError::Database(sqlx::Error::Configuration(
                format!("the backup path {} is not UTF-8", to.display()).into(),
            ))
        })?;
        sqlx::query("VACUUM INTO ?")
            .bind(to)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn record<T>(&self, outcome: &Result<T, StoreError>) {
        let next = match outcome {
            Ok(_) => StoreState::Ok,
            Err(e) => StoreState::Failing(e.to_string()),
        };
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if *state != next {
            match &next {
                StoreState::Ok => tracing::info!("the store writes again"),
                StoreState::Failing(e) => tracing::error!("the store cannot write: {e}"),
            }
            *state = next;
        }
    }

    /// The last sequence number `room` handed out (0 for a new room).
    pub(crate) async fn last_seq(&self, room: &RoomName) -> Result<Seq, StoreError> {
        let last: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM rooms WHERE room = ?")
            .bind(room.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(last.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
    }

    /// Stores a batch of messages for `room` in one transaction, numbering the new ones after
    /// the room's last sequence number, then drops all but the newest `keep` messages of the
    /// room. Messages whose id is already stored are not stored again. Nothing is stored if
    /// this fails. The transaction takes SQLite's write lock first, so the numbering reads
    /// the true last number even if another task wrote to the same room a moment before.
    pub(crate) async fn insert_batch(
        &self,
        room: &RoomName,
        batch: &[NewMessage],
        stored_at: i64,
        keep: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let outcome = Self::insert_batch_on(&mut conn, room, batch, stored_at, keep).await;
        if outcome.is_err() {
            // SQLite rolls a transaction back by itself on some errors (a full disk), and then
            // the connection's own count of open transactions is wrong: every later
            // `begin_with` on it would fail ("non-zero transaction depth") although the disk
            // is back. A fresh connection has no such memory.
            conn.close_on_drop();
        }
        self.record(&outcome);
        outcome
    }

    async fn insert_batch_on(
        conn: &mut sqlx::pool::PoolConnection<sqlx::Sqlite>,
        room: &RoomName,
        batch: &[NewMessage],
        stored_at: i64,
        keep: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        use sqlx::Connection;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let last: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM rooms WHERE room = ?")
            .bind(room.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let last_seq = last.and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
        let mut seq = last_seq;
        let mut outcomes = Vec::with_capacity(batch.len());
        for message in batch {
            let id = message.id.to_string();
            let existing: Option<(String, i64, String)> =
                sqlx::query_as("SELECT room, seq, sender FROM messages WHERE id = ?")
                    .bind(&id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some((old_room, old_seq, old_sender)) = existing {
                let corrupt = || StoreError::Corrupt(format!("message {id}"));
                outcomes.push(Stored::Existing {
                    room: RoomName::parse(&old_room).map_err(|_| corrupt())?,
                    seq: u64::try_from(old_seq).map_err(|_| corrupt())?,
                    sender: DeviceId::from_str(&old_sender).map_err(|_| corrupt())?,
                });
                continue;
            }
            seq += 1;
            sqlx::query(
                "INSERT INTO messages (room, seq, id, sender, sender_name, body, sent_at, \
                 stored_at, prev, sender_key, sig, sealed) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(room.as_str())
            .bind(to_i64(seq))
            .bind(&id)
            .bind(message.sender.to_string())
            .bind(message.from.as_str())
            .bind(&message.body)
            .bind(message.sent_at)
            .bind(stored_at)
            .bind(message.prev.map(|p| p.to_string()))
            .bind(message.key.as_ref().map(ToString::to_string))
            .bind(message.sig.as_ref().map(ToString::to_string))
            .bind(message.sealed.as_ref().map(festival_proto::encode))
            .execute(&mut *tx)
            .await?;
            outcomes.push(Stored::New(ChatMessage {
                room: room.clone(),
                id: message.id,
                seq,
                sender: message.sender,
                from: message.from.clone(),
                body: message.body.clone(),
                sealed: message.sealed.clone(),
                sent_at: message.sent_at,
                stored_at,
                prev: message.prev,
                key: message.key,
                sig: message.sig,
            }));
        }
        if seq > last_seq {
            sqlx::query(
                "INSERT INTO rooms (room, last_seq) VALUES (?, ?) \
                 ON CONFLICT(room) DO UPDATE SET last_seq = excluded.last_seq",
            )
            .bind(room.as_str())
            .bind(to_i64(seq))
            .execute(&mut *tx)
            .await?;
            let keep = u64::try_from(keep).unwrap_or(u64::MAX);
            if seq > keep {
                sqlx::query("DELETE FROM messages WHERE room = ? AND seq <= ?")
                    .bind(room.as_str())
                    .bind(to_i64(seq - keep))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Up to `limit` messages of `room` after `since`, oldest first, and whether more follow.
    pub(crate) async fn since(
        &self,
        room: &RoomName,
        since: Seq,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        let rows: Vec<Row> = sqlx::query_as(SINCE)
            .bind(room.as_str())
            .bind(to_i64(since))
            .bind(to_i64(limit as u64 + 1))
            .fetch_all(&self.pool)
            .await?;
        let has_more = rows.len() > limit;
        let messages = rows
            .into_iter()
            .take(limit)
            .map(Row::into_message)
            .collect::<Result<_, _>>()?;
        Ok((messages, has_more))
    }

    /// The newest `limit` messages of `room`, oldest first.
    pub(crate) async fn latest(
        &self,
        room: &RoomName,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(LATEST)
            .bind(room.as_str())
            .bind(to_i64(limit as u64))
            .fetch_all(&self.pool)
            .await?;
        let mut messages = rows
            .into_iter()
            .map(Row::into_message)
            .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok(messages)
    }

    /// See [`RelayStore::before`].
    pub(crate) async fn before(
        &self,
        room: &RoomName,
        before: Seq,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        let rows: Vec<Row> = sqlx::query_as(BEFORE)
            .bind(room.as_str())
            .bind(to_i64(before))
            .bind(to_i64(limit as u64 + 1))
            .fetch_all(&self.pool)
            .await?;
        let mut messages = rows
            .into_iter()
            .map(Row::into_message)
            .collect::<Result<Vec<_>, _>>()?;
        let more = messages.len() > limit;
        messages.truncate(limit);
        messages.reverse();
        Ok((messages, more))
    }

    /// Deletes every message stored before `cutoff` (Unix milliseconds); returns how many.
    pub(crate) async fn prune_older_than(&self, cutoff: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM messages WHERE stored_at < ?")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Every room that ever stored a message (retention keeps a room's row, for its numbers).
    pub(crate) async fn rooms(&self) -> Result<Vec<RoomName>, StoreError> {
        let names: Vec<String> = sqlx::query_scalar("SELECT room FROM rooms ORDER BY room")
            .fetch_all(&self.pool)
            .await?;
        names
            .into_iter()
            .map(|name| {
                RoomName::parse(&name).map_err(|_| StoreError::Corrupt(format!("room {name:?}")))
            })
            .collect()
    }

    /// Deletes every message of `room` (an organiser cleared it); returns how many. Its
    /// numbers go on where they were, so clients' cursors stay valid.
    pub(crate) async fn clear_room(&self, room: &RoomName) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM messages WHERE room = ?")
            .bind(room.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Waits for open writes and closes the database.
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// Whether SQLite's message says the file itself is damaged (not merely busy or full).
fn is_damage(message: &str) -> bool {
    message.contains("malformed") || message.contains("not a database")
}

/// Sequence numbers and limits stay far below `i64::MAX`; saturate rather than wrap if not.
fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> NewMessage {
        NewMessage {
            id: MessageId::new(),
            sender: DeviceId::random(),
            from: DisplayName::parse("Alice").unwrap(),
            body: body.into(),
            sealed: None,
            sent_at: 1,
            prev: None,
            key: Some(PublicKey::from_bytes([1; 32])),
            sig: Some(Signature::from_bytes([2; 64])),
        }
    }

    #[tokio::test]
    async fn the_file_and_its_folders_are_created_on_first_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new").join("folder").join("relay.db");
        let store = Store::open(&path).await.unwrap();
        assert!(path.exists());
        assert_eq!(
            store
                .last_seq(&RoomName::parse("Camp").unwrap())
                .await
                .unwrap(),
            0
        );
        store.close().await;
    }

    #[tokio::test]
    async fn sequence_survives_retention_emptying_a_room_and_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        let room = RoomName::parse("Lost & Found").unwrap();
        let store = Store::open(&path).await.unwrap();
        store
            .insert_batch(&room, &[message("a"), message("b")], 10, 100)
            .await
            .unwrap();
        assert_eq!(store.prune_older_than(11).await.unwrap(), 2);
        store.close().await;
        let store = Store::open(&path).await.unwrap();
        assert_eq!(store.last_seq(&room).await.unwrap(), 2);
        assert!(store.since(&room, 0, 100).await.unwrap().0.is_empty());
    }
}
