//! The contract every relay store keeps, and the SQLite store's part in it.

use std::future::Future;

use festival_proto::{ChatMessage, RoomName, Seq};

use super::{NewMessage, Store, StoreError, Stored};

/// Where the relay keeps chat messages, by room and sequence number.
///
/// The relay acks a message only once its store returned, so a store must keep these
/// promises (the conformance suite in `store/conformance.rs` checks each, for every
/// implementation):
/// - **Ids are idempotent.** A message whose id is already stored, in any room, is not stored
///   again: [`Stored::Existing`] names its original room, number and sender.
/// - **Numbers have no gaps.** Each room numbers its new messages 1, 2, 3... in the order
///   they were stored, also when several tasks store into one room at once.
/// - **Retention never reuses a number.** Dropping old messages (`keep`, `prune_older_than`)
///   leaves a room's last number where it was.
/// - **A batch is stored whole or not at all.**
///
/// Methods return `Send` futures so that a store can be used from spawned tasks through a
/// generic parameter.
pub trait RelayStore: Clone + Send + Sync + 'static {
    /// The last sequence number `room` handed out (0 for a new room).
    fn last_seq(&self, room: &RoomName) -> impl Future<Output = Result<Seq, StoreError>> + Send;

    /// Stores `batch` in `room`, numbering the new messages after the room's last number,
    /// then keeps only the newest `keep` messages of the room. One outcome per message, in
    /// order.
    fn insert_batch(
        &self,
        room: &RoomName,
        batch: &[NewMessage],
        stored_at: i64,
        keep: usize,
    ) -> impl Future<Output = Result<Vec<Stored>, StoreError>> + Send;

    /// Up to `limit` messages of `room` after `since`, oldest first, and whether more follow.
    fn since(
        &self,
        room: &RoomName,
        since: Seq,
        limit: usize,
    ) -> impl Future<Output = Result<(Vec<ChatMessage>, bool), StoreError>> + Send;

    /// The newest `limit` messages of `room`, oldest first.
    fn latest(
        &self,
        room: &RoomName,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ChatMessage>, StoreError>> + Send;

    /// Up to `limit` messages of `room` numbered below `before` (the newest of them), oldest
    /// first, and whether older ones remain: a page of older history.
    fn before(
        &self,
        room: &RoomName,
        before: Seq,
        limit: usize,
    ) -> impl Future<Output = Result<(Vec<ChatMessage>, bool), StoreError>> + Send;

    /// Deletes every message stored before `cutoff` (Unix milliseconds); returns how many.
    fn prune_older_than(&self, cutoff: i64)
    -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Waits for open writes and closes the store.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

impl RelayStore for Store {
    async fn last_seq(&self, room: &RoomName) -> Result<Seq, StoreError> {
        Store::last_seq(self, room).await
    }

    async fn insert_batch(
        &self,
        room: &RoomName,
        batch: &[NewMessage],
        stored_at: i64,
        keep: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        Store::insert_batch(self, room, batch, stored_at, keep).await
    }

    async fn since(
        &self,
        room: &RoomName,
        since: Seq,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        Store::since(self, room, since, limit).await
    }

    async fn latest(&self, room: &RoomName, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        Store::latest(self, room, limit).await
    }

    async fn before(
        &self,
        room: &RoomName,
        before: Seq,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        Store::before(self, room, before, limit).await
    }

    async fn prune_older_than(&self, cutoff: i64) -> Result<u64, StoreError> {
        Store::prune_older_than(self, cutoff).await
    }

    async fn close(&self) {
        Store::close(self).await;
    }
}
