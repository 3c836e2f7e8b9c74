//! A relay store in memory: the same contract as the SQLite store, gone when the process
//! ends. For tests of the parts above the store, and for a relay that must not touch a disk.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use festival_proto::{ChatMessage, MessageId, RoomName, Seq};

use super::{NewMessage, RelayStore, StoreError, Stored};

/// A relay store in memory; cheap to clone (clones share the messages).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Rooms>>,
}

#[derive(Debug, Default)]
struct Rooms {
    rooms: HashMap<RoomName, RoomLog>,
    /// Where each stored message is, by id: ids are unique across rooms.
    ids: HashMap<MessageId, (RoomName, Seq)>,
}

#[derive(Debug, Default)]
struct RoomLog {
    /// Kept when retention empties `messages`, so that numbers are never handed out twice.
    last_seq: Seq,
    messages: BTreeMap<Seq, ChatMessage>,
}

impl Rooms {
    fn remove(&mut self, room: &RoomName, doomed: impl Fn(&ChatMessage) -> bool) -> u64 {
        let Some(log) = self.rooms.get_mut(room) else {
            return 0;
        };
        let mut removed = 0;
        log.messages.retain(|_, m| {
            let drop = doomed(m);
            if drop {
                self.ids.remove(&m.id);
                removed += 1;
            }
            !drop
        });
        removed
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every method holds the lock for its whole change and never across an await, so each
    /// change is atomic and a panic elsewhere cannot leave half of one behind.
    fn lock(&self) -> MutexGuard<'_, Rooms> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RelayStore for MemoryStore {
    async fn last_seq(&self, room: &RoomName) -> Result<Seq, StoreError> {
        Ok(self.lock().rooms.get(room).map_or(0, |log| log.last_seq))
    }

    async fn insert_batch(
        &self,
        room: &RoomName,
        batch: &[NewMessage],
        stored_at: i64,
        keep: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let mut rooms = self.lock();
        let rooms = &mut *rooms;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut stored_any = false;
        for message in batch {
            if let Some((old_room, old_seq)) = rooms.ids.get(&message.id) {
                let original = rooms
                    .rooms
                    .get(old_room)
                    .and_then(|log| log.messages.get(old_seq))
                    .ok_or_else(|| StoreError::Corrupt(format!("message {}", message.id)))?;
                outcomes.push(Stored::Existing {
                    room: old_room.clone(),
                    seq: *old_seq,
                    sender: original.sender,
                });
                continue;
            }
            let log = rooms.rooms.entry(room.clone()).or_default();
            log.last_seq += 1;
            let stored = ChatMessage {
                room: room.clone(),
                id: message.id,
                seq: log.last_seq,
                sender: message.sender,
                from: message.from.clone(),
                body: message.body.clone(),
                sealed: message.sealed.clone(),
                sent_at: message.sent_at,
                stored_at,
                prev: message.prev,
                key: message.key,
                sig: message.sig,
            };
            log.messages.insert(stored.seq, stored.clone());
            rooms.ids.insert(stored.id, (room.clone(), stored.seq));
            outcomes.push(Stored::New(stored));
            stored_any = true;
        }
        if stored_any {
            let last = rooms.rooms.get(room).map_or(0, |log| log.last_seq);
            let keep = u64::try_from(keep).unwrap_or(u64::MAX);
            if last > keep {
                rooms.remove(room, |m| m.seq <= last - keep);
            }
        }
        Ok(outcomes)
    }

    async fn since(
        &self,
        room: &RoomName,
        since: Seq,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        let rooms = self.lock();
        let Some(log) = rooms.rooms.get(room) else {
            return Ok((Vec::new(), false));
        };
        let mut after = log
            .messages
            .range(since.saturating_add(1)..)
            .map(|(_, m)| m);
        let page: Vec<_> = after.by_ref().take(limit).cloned().collect();
        Ok((page, after.next().is_some()))
    }

    async fn latest(&self, room: &RoomName, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        let rooms = self.lock();
        let Some(log) = rooms.rooms.get(room) else {
            return Ok(Vec::new());
        };
        let mut newest: Vec<_> = log.messages.values().rev().take(limit).cloned().collect();
        newest.reverse();
        Ok(newest)
    }

    async fn before(
        &self,
        room: &RoomName,
        before: Seq,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        let rooms = self.lock();
        let Some(log) = rooms.rooms.get(room) else {
            return Ok((Vec::new(), false));
        };
        let older = log.messages.range(..before);
        let more = older.clone().count() > limit;
        let mut page: Vec<_> = older.rev().take(limit).map(|(_, m)| m.clone()).collect();
        page.reverse();
        Ok((page, more))
    }

    async fn prune_older_than(&self, cutoff: i64) -> Result<u64, StoreError> {
        let mut rooms = self.lock();
        let names: Vec<RoomName> = rooms.rooms.keys().cloned().collect();
        Ok(names
            .iter()
            .map(|room| rooms.remove(room, |m| m.stored_at < cutoff))
            .sum())
    }

    async fn close(&self) {}
}
