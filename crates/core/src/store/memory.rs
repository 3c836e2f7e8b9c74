//! An engine store in memory: the same contract as the SQLite store, gone when the process
//! ends. For tests of the engine's driver on a paused tokio clock: a paused clock jumps to
//! the next timer whenever every task waits, and a task waiting on SQLite's worker thread
//! counts as waiting, so timers would fire in the middle of a store write. A memory store
//! never waits.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use festival_proto::{
    ChatSend, DeviceId, DisplayName, MessageId, PeerChat, RoomName, Seq, Signature,
};

use super::{DeliveryState, EngineStore, LocalMessage};
use crate::trust::KnownKey;
use crate::{Authenticity, Delivered, EngineError, Privacy, Route};

/// What [`EngineStore::location`] names for a memory store.
const LOCATION: &str = ":memory:";

/// An engine store in memory; cheap to clone (clones share the data).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Data>>,
}

#[derive(Debug, Default)]
struct Data {
    settings: HashMap<String, String>,
    /// Every message by the order it came in (typed or received): the SQLite store's
    /// `local_order`. Numbers are never reused, so later always sorts after.
    messages: BTreeMap<u64, LocalMessage>,
    next_order: u64,
    by_id: HashMap<MessageId, u64>,
    cursors: HashMap<RoomName, Seq>,
    known_keys: HashMap<String, KnownKey>,
    /// Per room, the order of the newest message read.
    read_marks: HashMap<RoomName, u64>,
}

impl Data {
    fn add(&mut self, message: LocalMessage) {
        self.next_order += 1;
        self.by_id.insert(message.id, self.next_order);
        self.messages.insert(self.next_order, message);
    }

    fn get_mut(&mut self, id: MessageId) -> Option<&mut LocalMessage> {
        let order = self.by_id.get(&id)?;
        self.messages.get_mut(order)
    }

    /// Removes the messages `doomed` picks; returns how many.
    fn remove(&mut self, doomed: impl Fn(&LocalMessage) -> bool) -> u64 {
        let mut removed = 0;
        self.messages.retain(|_, m| {
            let drop = doomed(m);
            if drop {
                self.by_id.remove(&m.id);
                removed += 1;
            }
            !drop
        });
        removed
    }
}

fn delivered(m: &LocalMessage) -> bool {
    matches!(m.state, DeliveryState::Sent | DeliveryState::Received)
}

fn own(m: &LocalMessage) -> bool {
    matches!(m.state, DeliveryState::Queued | DeliveryState::Sent)
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every method holds the lock for its whole change and never across an await, so each
    /// change is one commit and a panic elsewhere cannot leave half of one behind.
    fn lock(&self) -> MutexGuard<'_, Data> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl EngineStore for MemoryStore {
    fn location(&self) -> &Path {
        Path::new(LOCATION)
    }

    async fn get(&self, key: &str) -> Result<Option<String>, EngineError> {
        Ok(self.lock().settings.get(key).cloned())
    }

    async fn set(&self, key: &str, value: &str) -> Result<(), EngineError> {
        self.lock().settings.insert(key.into(), value.into());
        Ok(())
    }

    async fn last_typed(&self, room: &RoomName) -> Result<Option<MessageId>, EngineError> {
        Ok(self
            .lock()
            .messages
            .values()
            .rev()
            .find(|m| &m.room == room && own(m))
            .map(|m| m.id))
    }

    async fn enqueue(
        &self,
        chat: &ChatSend,
        sender: DeviceId,
        from: &DisplayName,
    ) -> Result<(), EngineError> {
        let mut data = self.lock();
        if data.by_id.contains_key(&chat.id) {
            return Err(EngineError::store(
                self.location(),
                format!("message {} is already stored", chat.id),
            ));
        }
        data.add(LocalMessage {
            id: chat.id,
            room: chat.room.clone(),
            seq: None,
            sender,
            from: from.clone(),
            body: chat.body.clone(),
            privacy: Privacy::stored(&chat.body, chat.sealed.as_ref(), true),
            sealed: chat.sealed.clone(),
            sent_at: chat.sent_at,
            stored_at: None,
            route: None,
            state: DeliveryState::Queued,
            error: None,
            prev: chat.prev,
            key: None,
            sig: Some(chat.sig),
            authenticity: Authenticity::Verified,
        });
        Ok(())
    }

    async fn queued(&self) -> Result<Vec<ChatSend>, EngineError> {
        Ok(self
            .lock()
            .messages
            .values()
            .filter(|m| m.state == DeliveryState::Queued)
            .map(|m| ChatSend {
                id: m.id,
                room: m.room.clone(),
                body: m.wire_body(),
                sealed: m.sealed.clone(),
                sent_at: m.sent_at,
                prev: m.prev,
                sig: m.sig.unwrap_or(Signature::from_bytes([0; 64])),
                direct: Vec::new(),
            })
            .collect())
    }

    async fn mark_sent(&self, acks: &[(MessageId, Seq)]) -> Result<(), EngineError> {
        let mut data = self.lock();
        for (id, seq) in acks {
            if let Some(m) = data.get_mut(*id).filter(|m| own(m)) {
                m.state = DeliveryState::Sent;
                m.seq = Some(*seq);
            }
        }
        Ok(())
    }

    async fn mark_failed(&self, id: MessageId, reason: &str) -> Result<(), EngineError> {
        let mut data = self.lock();
        if let Some(m) = data
            .get_mut(id)
            .filter(|m| m.state == DeliveryState::Queued)
        {
            m.state = DeliveryState::Failed;
            m.error = Some(reason.into());
        }
        Ok(())
    }

    async fn expire_queued(
        &self,
        cutoff: i64,
        reason: &str,
    ) -> Result<Vec<(MessageId, RoomName)>, EngineError> {
        let mut data = self.lock();
        let mut expired = Vec::new();
        for m in data.messages.values_mut() {
            if m.state == DeliveryState::Queued && m.sent_at < cutoff {
                m.state = DeliveryState::Failed;
                m.error = Some(reason.into());
                expired.push((m.id, m.room.clone()));
            }
        }
        Ok(expired)
    }

    async fn record_delivered(
        &self,
        messages: &[Delivered],
        me: DeviceId,
        route: Route,
        keep: usize,
    ) -> Result<(), EngineError> {
        let mut data = self.lock();
        let mut last: BTreeMap<&RoomName, Seq> = BTreeMap::new();
        for m in messages {
            if let Some(seq) = m.seq {
                let entry = last.entry(&m.room).or_default();
                *entry = (*entry).max(seq);
            }
        }
        for m in messages {
            let state = if m.sender == me {
                DeliveryState::Sent
            } else {
                DeliveryState::Received
            };
            if let Some(known) = data.get_mut(m.id) {
                known.seq = m.seq.or(known.seq);
                known.stored_at = m.stored_at.or(known.stored_at);
                known.route = known.route.or(Some(route));
                known.key = known.key.or(m.key);
                known.from = m.from.clone();
                if known.state != DeliveryState::Failed {
                    known.state = state;
                }
                continue;
            }
            data.add(LocalMessage {
                id: m.id,
                room: m.room.clone(),
                seq: m.seq,
                sender: m.sender,
                from: m.from.clone(),
                body: m.body.clone(),
                privacy: Privacy::stored(
                    &m.body,
                    m.sealed.as_ref(),
                    state != DeliveryState::Received,
                ),
                sealed: m.sealed.clone(),
                sent_at: m.sent_at,
                stored_at: m.stored_at,
                route: Some(route),
                state,
                error: None,
                prev: m.prev,
                key: m.key,
                sig: m.sig,
                authenticity: LocalMessage::authenticity_of(
                    state,
                    m.sender,
                    m.key.as_ref(),
                    m.sig.as_ref(),
                    &m.signed(),
                ),
            });
        }
        let keep = u64::try_from(keep).unwrap_or(u64::MAX);
        for (room, last) in last {
            let cursor = data.cursors.entry(room.clone()).or_default();
            *cursor = (*cursor).max(last);
            if last > keep {
                let oldest_kept = last - keep;
                data.remove(|m| {
                    &m.room == room && delivered(m) && m.seq.is_some_and(|s| s <= oldest_kept)
                });
            }
        }
        Ok(())
    }

    async fn prune_older_than(&self, cutoff: i64) -> Result<u64, EngineError> {
        Ok(self
            .lock()
            .remove(|m| delivered(m) && m.stored_at.is_some_and(|t| t < cutoff)))
    }

    async fn cursor(&self, room: &RoomName) -> Result<Option<Seq>, EngineError> {
        Ok(self.lock().cursors.get(room).copied())
    }

    async fn unsequenced(&self, limit: usize) -> Result<Vec<Delivered>, EngineError> {
        let data = self.lock();
        let mut newest: Vec<_> = data
            .messages
            .values()
            .rev()
            .filter(|m| m.state == DeliveryState::Received && m.seq.is_none())
            .take(limit)
            .cloned()
            .map(Delivered::from)
            .collect();
        newest.reverse();
        Ok(newest)
    }

    async fn contains(&self, id: MessageId) -> Result<bool, EngineError> {
        Ok(self.lock().by_id.contains_key(&id))
    }

    async fn recent_ids(&self, limit: usize) -> Result<Vec<MessageId>, EngineError> {
        let data = self.lock();
        let mut newest: Vec<_> = data
            .messages
            .values()
            .rev()
            .filter(|m| m.state == DeliveryState::Received)
            .take(limit)
            .map(|m| m.id)
            .collect();
        newest.reverse();
        Ok(newest)
    }

    async fn own_message(
        &self,
        room: &RoomName,
        id: MessageId,
    ) -> Result<Option<PeerChat>, EngineError> {
        let data = self.lock();
        let Some(&order) = data.by_id.get(&id) else {
            return Ok(None);
        };
        let Some(m) = data
            .messages
            .get(&order)
            .filter(|m| &m.room == room && own(m))
        else {
            return Ok(None);
        };
        Ok(m.sig.map(|sig| PeerChat {
            id,
            room: room.clone(),
            body: m.wire_body(),
            sealed: m.sealed.clone(),
            sent_at: m.sent_at,
            prev: m.prev,
            sig,
        }))
    }

    async fn message(&self, id: MessageId) -> Result<Option<LocalMessage>, EngineError> {
        Ok(self.lock().messages.values().find(|m| m.id == id).cloned())
    }

    async fn history(
        &self,
        room: &RoomName,
        limit: usize,
    ) -> Result<Vec<LocalMessage>, EngineError> {
        let data = self.lock();
        let mut in_room: Vec<_> = data
            .messages
            .iter()
            .filter(|(_, m)| &m.room == room)
            .collect();
        // Numbered messages by number, then the unnumbered ones in the order they came.
        in_room.sort_by_key(|(order, m)| (m.seq.is_none(), m.seq, **order));
        let skip = in_room.len().saturating_sub(limit);
        Ok(in_room
            .into_iter()
            .skip(skip)
            .map(|(_, m)| m.clone())
            .collect())
    }

    async fn history_before(
        &self,
        room: &RoomName,
        before: Seq,
        limit: usize,
    ) -> Result<Vec<LocalMessage>, EngineError> {
        let data = self.lock();
        let mut older: Vec<_> = data
            .messages
            .values()
            .filter(|m| &m.room == room && m.seq.is_some_and(|seq| seq < before))
            .collect();
        older.sort_by_key(|m| m.seq);
        let skip = older.len().saturating_sub(limit);
        Ok(older.into_iter().skip(skip).cloned().collect())
    }

    async fn known_keys(&self) -> Result<Vec<KnownKey>, EngineError> {
        Ok(self.lock().known_keys.values().cloned().collect())
    }

    async fn remember_key(&self, known: &KnownKey) -> Result<(), EngineError> {
        self.lock()
            .known_keys
            .insert(known.canonical.clone(), known.clone());
        Ok(())
    }

    async fn mark_read(&self, room: &RoomName) -> Result<(), EngineError> {
        let mut data = self.lock();
        let newest = data
            .messages
            .iter()
            .rev()
            .find(|(_, m)| &m.room == room)
            .map_or(0, |(order, _)| *order);
        let mark = data.read_marks.entry(room.clone()).or_default();
        *mark = (*mark).max(newest);
        Ok(())
    }

    async fn unread(&self, room: &RoomName) -> Result<u64, EngineError> {
        let data = self.lock();
        let mark = data.read_marks.get(room).copied().unwrap_or(0);
        let count = data
            .messages
            .range(mark + 1..)
            .filter(|(_, m)| &m.room == room && m.state == DeliveryState::Received)
            .count();
        Ok(u64::try_from(count).unwrap_or(u64::MAX))
    }

    async fn close(&self) {}
}
