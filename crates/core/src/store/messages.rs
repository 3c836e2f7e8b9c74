//! Local history and the outbox, one table: what this device typed (queued, sent, failed) and
//! what it received, with the sync cursor of each room.

use std::collections::BTreeMap;
use std::str::FromStr;

use festival_proto::{
    ChatSend, DeviceId, DisplayName, MessageId, PeerChat, PublicKey, RoomName, Sealed, Seq,
    Signature, SignedChat,
};
use serde::Serialize;
use sqlx::FromRow;

use super::Store;
use crate::{Authenticity, Delivered, EngineError, Privacy, Route};

/// Where a message stands, as the user sees it. Stored as its name in TEXT, which the
/// table's CHECK limits to these four.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Typed here, kept in the outbox, not yet confirmed by the relay.
    Queued,
    /// Typed here and stored by the relay.
    Sent,
    /// Typed here but expired or refused; it will not be sent.
    Failed,
    /// From someone else.
    Received,
}

/// A message in the local history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalMessage {
    /// The message id.
    pub id: MessageId,
    /// Its room.
    pub room: RoomName,
    /// Its sequence number, once the relay stored it.
    pub seq: Option<Seq>,
    /// The sending device.
    pub sender: DeviceId,
    /// The sender's name as shown in the room.
    pub from: DisplayName,
    /// The text: typed here, or opened with the room's key; empty for a sealed message this
    /// device has no key for (`privacy` says so).
    pub body: String,
    /// In a private room, the sealed form its signature covers and every copy carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed: Option<Sealed>,
    /// Who can read it: public, private, or sealed without a key here.
    pub privacy: Privacy,
    /// The sender's clock when it was sent, Unix milliseconds.
    pub sent_at: i64,
    /// The relay's clock when it stored it, once it did.
    pub stored_at: Option<i64>,
    /// How it arrived, once it did.
    pub route: Option<Route>,
    /// Queued, sent, failed or received.
    pub state: DeliveryState,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The sender's message typed before it in the room, as signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev: Option<MessageId>,
    /// The sender's public key, for a received message that carried one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PublicKey>,
    /// The sender's signature (for one typed here: this device's, sent with every copy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sig: Option<Signature>,
    /// Whether it is from the device it names: typed here, or its signature checked.
    pub authenticity: Authenticity,
}

impl LocalMessage {
    /// The body as it goes on the wire: empty when the sealed form carries it, so that the
    /// text never leaves this device.
    pub(crate) fn wire_body(&self) -> String {
        match self.sealed {
            Some(_) => String::new(),
            None => self.body.clone(),
        }
    }

    /// What the store knows of a message's signature, checked: this device's own messages
    /// are its own; a received one is checked against the key it came with.
    pub(crate) fn authenticity_of(
        state: DeliveryState,
        sender: DeviceId,
        key: Option<&PublicKey>,
        sig: Option<&Signature>,
        signed: &SignedChat<'_>,
    ) -> Authenticity {
        match state {
            DeliveryState::Received => Authenticity::check(sender, key, sig, signed),
            DeliveryState::Queued | DeliveryState::Sent | DeliveryState::Failed => {
                Authenticity::Verified
            }
        }
    }

    /// A message as the relay's history has it (read from the relay, not stored here):
    /// received, or sent when `me` sent it; its signature checked like any received one.
    pub fn from_relay(message: Delivered, me: DeviceId) -> Self {
        let state = if message.sender == me {
            DeliveryState::Sent
        } else {
            DeliveryState::Received
        };
        let authenticity = match state {
            DeliveryState::Received => Authenticity::of(&message),
            _ => Authenticity::Verified,
        };
        Self {
            state,
            authenticity,
            privacy: Privacy::stored(
                &message.body,
                message.sealed.as_ref(),
                state != DeliveryState::Received,
            ),
            sealed: message.sealed,
            prev: message.prev,
            key: message.key,
            sig: message.sig,
            id: message.id,
            room: message.room,
            seq: message.seq,
            sender: message.sender,
            from: message.from,
            body: message.body,
            sent_at: message.sent_at,
            stored_at: message.stored_at,
            route: Some(Route::Relay),
            error: None,
        }
    }
}

#[derive(FromRow)]
struct Row {
    id: String,
    room: String,
    seq: Option<i64>,
    sender: String,
    sender_name: String,
    body: String,
    sent_at: i64,
    stored_at: Option<i64>,
    route: Option<Route>,
    state: DeliveryState,
    error: Option<String>,
    prev: Option<String>,
    sender_key: Option<String>,
    sig: Option<String>,
    sealed: Option<String>,
}

/// `SELECT` of the columns a [`Row`] reads, then the rest of the query.
macro_rules! select_row {
    ($rest:literal) => {
        concat!(
            "SELECT id, room, seq, sender, sender_name, body, sent_at, stored_at, route, state, \
             error, prev, sender_key, sig, sealed ",
            $rest
        )
    };
}

impl Row {
    fn into_message(self) -> Option<LocalMessage> {
        let id = MessageId::from_str(&self.id).ok()?;
        let room = RoomName::parse(&self.room).ok()?;
        let sender = DeviceId::from_str(&self.sender).ok()?;
        let prev = self.prev.and_then(|p| MessageId::from_str(&p).ok());
        let key = self.sender_key.and_then(|k| k.parse().ok());
        let sig = self.sig.and_then(|s| s.parse().ok());
        let sealed: Option<Sealed> = self
            .sealed
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        let signed = SignedChat {
            room: &room,
            id,
            body: &self.body,
            sent_at: self.sent_at,
            prev,
            sealed: sealed.as_ref(),
        };
        let authenticity =
            LocalMessage::authenticity_of(self.state, sender, key.as_ref(), sig.as_ref(), &signed);
        Some(LocalMessage {
            id,
            room,
            seq: self.seq.and_then(|s| u64::try_from(s).ok()),
            sender,
            from: DisplayName::from_trusted(self.sender_name),
            privacy: Privacy::stored(
                &self.body,
                sealed.as_ref(),
                self.state != DeliveryState::Received,
            ),
            body: self.body,
            sealed,
            sent_at: self.sent_at,
            stored_at: self.stored_at,
            route: self.route,
            state: self.state,
            error: self.error,
            prev,
            key,
            sig,
            authenticity,
        })
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Store {
    /// The last message typed here in `room`, queued or sent.
    pub(crate) async fn last_typed(
        &self,
        room: &RoomName,
    ) -> Result<Option<MessageId>, EngineError> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT id FROM messages WHERE room = ? AND state IN ('queued', 'sent') \
             ORDER BY local_order DESC LIMIT 1",
        )
        .bind(room.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(id.and_then(|id| MessageId::from_str(&id).ok()))
    }

    /// Puts a message typed by `sender` into the outbox. When this returns, it is on disk. A
    /// private room's message comes with its text and its sealed form: both are kept, and
    /// only the sealed form is given back to be sent.
    pub(crate) async fn enqueue(
        &self,
        chat: &ChatSend,
        sender: DeviceId,
        from: &DisplayName,
    ) -> Result<(), EngineError> {
        sqlx::query(
            "INSERT INTO messages (id, room, sender, sender_name, body, sent_at, state, prev, sig, \
             sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(chat.id.to_string())
        .bind(chat.room.as_str())
        .bind(sender.to_string())
        .bind(from.as_str())
        .bind(&chat.body)
        .bind(chat.sent_at)
        .bind(DeliveryState::Queued)
        .bind(chat.prev.map(|p| p.to_string()))
        .bind(chat.sig.to_string())
        .bind(chat.sealed.as_ref().map(festival_proto::encode))
        .execute(&self.pool)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Every queued message, in the order it was typed. One queued before keys has no
    /// signature: it goes out with an empty one, the relay refuses it, and it is marked
    /// failed (shown, never dropped silently).
    pub(crate) async fn queued(&self) -> Result<Vec<ChatSend>, EngineError> {
        let rows: Vec<Row> = sqlx::query_as(select_row!(
            "FROM messages WHERE state = 'queued' ORDER BY local_order"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(rows
            .into_iter()
            .filter_map(Row::into_message)
            .map(|m| ChatSend {
                body: m.wire_body(),
                id: m.id,
                room: m.room,
                sealed: m.sealed,
                sent_at: m.sent_at,
                prev: m.prev,
                sig: m.sig.unwrap_or(Signature::from_bytes([0; 64])),
                direct: Vec::new(),
            })
            .collect())
    }

    /// The relay stored these queued messages under these sequence numbers.
    pub(crate) async fn mark_sent(&self, acks: &[(MessageId, Seq)]) -> Result<(), EngineError> {
        if acks.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(|e| self.fail(e))?;
        for (id, seq) in acks {
            sqlx::query(
                "UPDATE messages SET state = ?, seq = ? \
                 WHERE id = ? AND state IN ('queued', 'sent')",
            )
            .bind(DeliveryState::Sent)
            .bind(to_i64(*seq))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.fail(e))?;
        }
        tx.commit().await.map_err(|e| self.fail(e))
    }

    /// A queued message will not be sent; `reason` says why, for the user.
    pub(crate) async fn mark_failed(&self, id: MessageId, reason: &str) -> Result<(), EngineError> {
        sqlx::query("UPDATE messages SET state = ?, error = ? WHERE id = ? AND state = 'queued'")
            .bind(DeliveryState::Failed)
            .bind(reason)
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Marks every message queued before `cutoff` (Unix ms) as failed; returns them.
    pub(crate) async fn expire_queued(
        &self,
        cutoff: i64,
        reason: &str,
    ) -> Result<Vec<(MessageId, RoomName)>, EngineError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "UPDATE messages SET state = ?, error = ? \
             WHERE state = 'queued' AND sent_at < ? RETURNING id, room",
        )
        .bind(DeliveryState::Failed)
        .bind(reason)
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, room)| {
                Some((MessageId::from_str(&id).ok()?, RoomName::parse(&room).ok()?))
            })
            .collect())
    }

    /// Records delivered messages and moves each room's cursor, in one transaction, then keeps
    /// only the newest `keep` delivered messages of each room. A message already here (our
    /// own, or one fetched twice) is updated, not added again.
    pub(crate) async fn record_delivered(
        &self,
        messages: &[Delivered],
        me: DeviceId,
        route: Route,
        keep: usize,
    ) -> Result<(), EngineError> {
        if messages.is_empty() {
            return Ok(());
        }
        // No seq: a message that came directly from its sender and is not numbered yet. It
        // gets its number (and moves the cursor) when the relay's notice or copy arrives.
        let mut last: BTreeMap<&RoomName, Seq> = BTreeMap::new();
        for m in messages {
            if let Some(seq) = m.seq {
                let entry = last.entry(&m.room).or_default();
                *entry = (*entry).max(seq);
            }
        }
        let mut tx = self.pool.begin().await.map_err(|e| self.fail(e))?;
        for m in messages {
            let state = if m.sender == me {
                DeliveryState::Sent
            } else {
                DeliveryState::Received
            };
            sqlx::query(
                "INSERT INTO messages (id, room, seq, sender, sender_name, body, sent_at, stored_at, route, state, prev, sender_key, sig, sealed) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT(id) DO UPDATE SET seq = coalesce(excluded.seq, messages.seq), \
                 sender_key = coalesce(messages.sender_key, excluded.sender_key), \
                 stored_at = coalesce(excluded.stored_at, messages.stored_at), \
                 route = coalesce(messages.route, excluded.route), sender_name = excluded.sender_name, \
                 state = CASE WHEN messages.state = 'failed' THEN 'failed' ELSE excluded.state END",
            )
            .bind(m.id.to_string())
            .bind(m.room.as_str())
            .bind(m.seq.map(to_i64))
            .bind(m.sender.to_string())
            .bind(m.from.as_str())
            .bind(&m.body)
            .bind(m.sent_at)
            .bind(m.stored_at)
            .bind(route)
            .bind(state)
            .bind(m.prev.map(|p| p.to_string()))
            .bind(m.key.map(|k| k.to_string()))
            .bind(m.sig.map(|s| s.to_string()))
            .bind(m.sealed.as_ref().map(festival_proto::encode))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.fail(e))?;
        }
        let keep = u64::try_from(keep).unwrap_or(u64::MAX);
        for (room, last) in last {
            sqlx::query(
                "INSERT INTO cursors (room, last_seq) VALUES (?, ?) \
                 ON CONFLICT(room) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)",
            )
            .bind(room.as_str())
            .bind(to_i64(last))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.fail(e))?;
            if last > keep {
                sqlx::query(
                    "DELETE FROM messages WHERE room = ? AND state IN ('sent', 'received') AND seq <= ?",
                )
                .bind(room.as_str())
                .bind(to_i64(last - keep))
                .execute(&mut *tx)
                .await
                .map_err(|e| self.fail(e))?;
            }
        }
        tx.commit().await.map_err(|e| self.fail(e))
    }

    /// Drops delivered messages stored before `cutoff` (Unix ms). Queued and failed ones stay.
    pub(crate) async fn prune_older_than(&self, cutoff: i64) -> Result<u64, EngineError> {
        let done = sqlx::query(
            "DELETE FROM messages WHERE state IN ('sent', 'received') AND stored_at < ?",
        )
        .bind(cutoff)
        .execute(&self.pool)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(done.rows_affected())
    }

    /// The last sequence number delivered from `room`, if any.
    pub(crate) async fn cursor(&self, room: &RoomName) -> Result<Option<Seq>, EngineError> {
        let last: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM cursors WHERE room = ?")
            .bind(room.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(last.and_then(|s| u64::try_from(s).ok()))
    }

    /// Messages received directly from their senders that the relay has not numbered yet,
    /// newest last (at most `limit`): the engine matches them with the relay's notices.
    pub(crate) async fn unsequenced(&self, limit: usize) -> Result<Vec<Delivered>, EngineError> {
        let rows: Vec<Row> = sqlx::query_as(select_row!(
            "FROM messages WHERE state = 'received' AND seq IS NULL \
             ORDER BY local_order DESC LIMIT ?"
        ))
        .bind(to_i64(limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.fail(e))?;
        let mut messages: Vec<_> = rows
            .into_iter()
            .filter_map(Row::into_message)
            .map(Delivered::from)
            .collect();
        messages.reverse();
        Ok(messages)
    }

    /// Whether a message with this id is in the store (received, or typed here).
    pub(crate) async fn contains(&self, id: MessageId) -> Result<bool, EngineError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM messages WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(found.is_some())
    }

    /// The ids of the newest `limit` messages received from others: a restarted engine
    /// recognises a second copy of one of them without a query per message. (This device's
    /// own messages come back only through the relay, whose numbers catch repeats.)
    pub(crate) async fn recent_ids(&self, limit: usize) -> Result<Vec<MessageId>, EngineError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM messages WHERE state = 'received' ORDER BY local_order DESC LIMIT ?",
        )
        .bind(to_i64(limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(ids
            .iter()
            .rev()
            .filter_map(|id| MessageId::from_str(id).ok())
            .collect())
    }

    /// One of this device's messages in `room`, queued or sent, as a direct frame naming the
    /// message typed before it: the answer to a peer's `want`. Failed ones are not given out.
    pub(crate) async fn own_message(
        &self,
        room: &RoomName,
        id: MessageId,
    ) -> Result<Option<PeerChat>, EngineError> {
        let row: Option<Row> = sqlx::query_as(select_row!(
            "FROM messages WHERE id = ? AND room = ? AND state IN ('queued', 'sent')"
        ))
        .bind(id.to_string())
        .bind(room.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(row.and_then(Row::into_message).and_then(|m| {
            Some(PeerChat {
                id,
                room: room.clone(),
                body: m.wire_body(),
                sealed: m.sealed,
                sent_at: m.sent_at,
                prev: m.prev,
                sig: m.sig?,
            })
        }))
    }

    /// The message with this id, whatever its state, if the store has it.
    pub(crate) async fn message(&self, id: MessageId) -> Result<Option<LocalMessage>, EngineError> {
        let row: Option<Row> = sqlx::query_as(select_row!("FROM messages WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(row.and_then(Row::into_message))
    }

    /// Writes the text of the received sealed message `id`, opened after it was stored (its
    /// room's key came later). Only while its text is still empty: a text is never replaced.
    pub(crate) async fn set_opened(&self, id: MessageId, text: &str) -> Result<(), EngineError> {
        sqlx::query(
            "UPDATE messages SET body = ? \
             WHERE id = ? AND state = 'received' AND sealed IS NOT NULL AND body = ''",
        )
        .bind(text)
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// The newest `limit` messages of `room`, oldest first; queued ones last.
    pub(crate) async fn history(
        &self,
        room: &RoomName,
        limit: usize,
    ) -> Result<Vec<LocalMessage>, EngineError> {
        let rows: Vec<Row> = sqlx::query_as(select_row!(
            "FROM messages WHERE room = ? \
             ORDER BY seq IS NULL DESC, seq DESC, local_order DESC LIMIT ?"
        ))
        .bind(room.as_str())
        .bind(to_i64(limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.fail(e))?;
        let mut messages: Vec<_> = rows.into_iter().filter_map(Row::into_message).collect();
        messages.reverse();
        Ok(messages)
    }

    /// See [`crate::store::EngineStore::history_before`].
    pub(crate) async fn history_before(
        &self,
        room: &RoomName,
        before: Seq,
        limit: usize,
    ) -> Result<Vec<LocalMessage>, EngineError> {
        let rows: Vec<Row> = sqlx::query_as(select_row!(
            "FROM messages WHERE room = ? AND seq IS NOT NULL AND seq < ? \
             ORDER BY seq DESC LIMIT ?"
        ))
        .bind(room.as_str())
        .bind(to_i64(before))
        .bind(to_i64(limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.fail(e))?;
        let mut messages: Vec<_> = rows.into_iter().filter_map(Row::into_message).collect();
        messages.reverse();
        Ok(messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(room: &RoomName, body: &str) -> ChatSend {
        ChatSend {
            id: MessageId::new(),
            room: room.clone(),
            body: body.into(),
            sealed: None,
            sent_at: 1_000,
            prev: None,
            sig: Signature::from_bytes([3; 64]),
            direct: Vec::new(),
        }
    }

    fn delivered(chat: &ChatSend, seq: Seq, sender: DeviceId) -> Delivered {
        Delivered {
            room: chat.room.clone(),
            id: chat.id,
            seq: Some(seq),
            sender,
            from: DisplayName::parse("Me").unwrap(),
            body: chat.body.clone(),
            sealed: None,
            sent_at: chat.sent_at,
            stored_at: Some(2_000),
            prev: chat.prev,
            key: None,
            sig: Some(chat.sig),
        }
    }

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_queued_message_survives_a_reopen_and_becomes_sent_once() {
        let (dir, store) = store().await;
        let room = RoomName::parse("Camp").unwrap();
        let me = DeviceId::random();
        let name = DisplayName::parse("Me").unwrap();
        let first = chat(&room, "one");
        store.enqueue(&first, me, &name).await.unwrap();
        store.close().await;

        let store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.queued().await.unwrap(), std::slice::from_ref(&first));
        store.mark_sent(&[(first.id, 4)]).await.unwrap();
        // The echo arrives: same row, no duplicate.
        store
            .record_delivered(&[delivered(&first, 4, me)], me, Route::Relay, 100)
            .await
            .unwrap();
        let history = store.history(&room, 10).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(
            (history[0].seq, history[0].state),
            (Some(4), DeliveryState::Sent)
        );
        assert!(store.queued().await.unwrap().is_empty());
        assert_eq!(store.cursor(&room).await.unwrap(), Some(4));
    }
}
