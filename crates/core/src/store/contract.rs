//! The contract every engine store keeps, and the SQLite store's part in it.

use std::future::Future;
use std::path::Path;
use std::str::FromStr;

use festival_proto::{
    ChatSend, DeviceId, DeviceKey, DisplayName, MessageId, PeerChat, RoomName, Seq,
};

use super::{Identity, LocalMessage, Store};
use crate::trust::KnownKey;
use crate::{Delivered, EngineError, Route};

/// Where the engine keeps what must outlive it: the device's identity and settings, the
/// local history, the outbox, each room's sync cursor and the key remembered per name.
///
/// The engine tells the user "queued" only once its store returned, and resumes each room
/// from the store's cursor, so a store must keep these promises (the conformance suite in
/// `store/conformance.rs` checks each, for every implementation):
/// - **Ids are idempotent.** One message per id: a second delivery of an id (the echo of
///   our own message, a copy by another route, a page fetched twice) updates the message,
///   never adds one; a second `enqueue` of an id fails and changes nothing.
/// - **Queued, then sent or failed, once.** A queued message becomes sent (with its
///   sequence number) or failed (with a reason), and a failed one stays failed.
/// - **The cursor and the deliveries move in one commit**, so that a cursor never points
///   past a message that is not stored. The cursor only moves forward.
/// - **Retention drops only delivered messages**: never a queued or failed one, and never
///   the cursor.
///
/// Methods return `Send` futures so that a store can be used from spawned tasks through a
/// generic parameter.
pub trait EngineStore: Clone + Send + Sync + 'static {
    /// Where the store keeps its data, for error messages.
    fn location(&self) -> &Path;

    /// A saved setting.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<String>, EngineError>> + Send;

    /// Saves a setting.
    fn set(&self, key: &str, value: &str) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// The saved identity, completed and saved: a new device key on first use (the device id
    /// is derived from it, and saved too for whoever reads settings), and `name` (when given)
    /// replacing the saved name. An invalid name is refused and not saved. A store from
    /// before keys holds a random device id that nothing can prove: it is replaced.
    fn identity(
        &self,
        name: Option<&str>,
    ) -> impl Future<Output = Result<Identity, EngineError>> + Send {
        async move {
            let key = match self.get(DEVICE_KEY).await? {
                Some(saved) => DeviceKey::from_secret_text(&saved).ok_or_else(|| {
                    EngineError::store(self.location(), "the saved device key is invalid")
                })?,
                None => {
                    let key = DeviceKey::generate();
                    self.set(DEVICE_KEY, &key.secret_text()).await?;
                    key
                }
            };
            let device = key.device();
            let saved = self.get(DEVICE_ID).await?;
            if saved.and_then(|s| DeviceId::from_str(&s).ok()) != Some(device) {
                self.set(DEVICE_ID, &device.to_string()).await?;
            }
            let name = match name {
                Some(raw) => {
                    let name = DisplayName::parse(raw)?;
                    self.set(DISPLAY_NAME, name.as_str()).await?;
                    name
                }
                None => match self.get(DISPLAY_NAME).await? {
                    Some(saved) => DisplayName::parse(&saved)?,
                    None => return Err(EngineError::NoName),
                },
            };
            Ok(Identity { device, name, key })
        }
    }

    /// The last message typed here in `room`, queued or sent: the `prev` the next one signs.
    fn last_typed(
        &self,
        room: &RoomName,
    ) -> impl Future<Output = Result<Option<MessageId>, EngineError>> + Send;

    /// Puts a message typed by `sender` into the outbox, with its `prev` and signature, so
    /// that every resend carries the same bytes. When this returns, it is kept.
    fn enqueue(
        &self,
        chat: &ChatSend,
        sender: DeviceId,
        from: &DisplayName,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Every queued message, in the order it was typed.
    fn queued(&self) -> impl Future<Output = Result<Vec<ChatSend>, EngineError>> + Send;

    /// The relay stored these queued messages under these sequence numbers.
    fn mark_sent(
        &self,
        acks: &[(MessageId, Seq)],
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// A queued message will not be sent; `reason` says why, for the user.
    fn mark_failed(
        &self,
        id: MessageId,
        reason: &str,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Marks every message queued before `cutoff` (Unix ms) as failed; returns them.
    fn expire_queued(
        &self,
        cutoff: i64,
        reason: &str,
    ) -> impl Future<Output = Result<Vec<(MessageId, RoomName)>, EngineError>> + Send;

    /// Records delivered messages and moves each room's cursor, in one commit, then keeps
    /// only the newest `keep` delivered messages of each room. A message already here is
    /// updated, not added again. A message without a `seq` came directly from its sender and
    /// is not numbered yet; it does not move the cursor.
    fn record_delivered(
        &self,
        messages: &[Delivered],
        me: DeviceId,
        route: Route,
        keep: usize,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Drops delivered messages stored before `cutoff` (Unix ms). Queued and failed ones stay.
    fn prune_older_than(
        &self,
        cutoff: i64,
    ) -> impl Future<Output = Result<u64, EngineError>> + Send;

    /// The last sequence number delivered from `room`, if any.
    fn cursor(
        &self,
        room: &RoomName,
    ) -> impl Future<Output = Result<Option<Seq>, EngineError>> + Send;

    /// Messages received directly from their senders that the relay has not numbered yet,
    /// newest last (at most `limit`), with no `seq` or `stored_at`.
    fn unsequenced(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Delivered>, EngineError>> + Send;

    /// Whether a message with this id is in the store (received, or typed here).
    fn contains(&self, id: MessageId) -> impl Future<Output = Result<bool, EngineError>> + Send;

    /// The ids of the newest `limit` messages received from others, newest last.
    fn recent_ids(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<MessageId>, EngineError>> + Send;

    /// One of this device's messages in `room`, queued or sent, as a direct frame with the
    /// `prev` and signature it was typed with. Failed ones are not given out.
    fn own_message(
        &self,
        room: &RoomName,
        id: MessageId,
    ) -> impl Future<Output = Result<Option<PeerChat>, EngineError>> + Send;

    /// The message with this id, whatever its state (and why it failed), if the store has it.
    fn message(
        &self,
        id: MessageId,
    ) -> impl Future<Output = Result<Option<LocalMessage>, EngineError>> + Send;

    /// The newest `limit` messages of `room`, oldest first: numbered ones by number, then the
    /// unnumbered ones (queued, failed before sending, direct copies) in the order they came.
    fn history(
        &self,
        room: &RoomName,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LocalMessage>, EngineError>> + Send;

    /// The newest `limit` numbered messages of `room` numbered below `before`, oldest first:
    /// the page of older history a reader scrolling up asks for next.
    fn history_before(
        &self,
        room: &RoomName,
        before: Seq,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LocalMessage>, EngineError>> + Send;

    /// Every name's remembered key ([`crate::trust`]), in no particular order.
    fn known_keys(&self) -> impl Future<Output = Result<Vec<KnownKey>, EngineError>> + Send;

    /// Remembers `known` for its name (`known.canonical`), in place of the key remembered
    /// before: one key per name.
    fn remember_key(
        &self,
        known: &KnownKey,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Everything in `room` now counts as read: the person has it on screen, or just left it.
    /// The mark only moves forward.
    fn mark_read(&self, room: &RoomName) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// How many messages from others (received, not typed here) came to `room` after its read
    /// mark: the room's unread count, the same after a restart. A room never marked counts
    /// every message received in it.
    fn unread(&self, room: &RoomName) -> impl Future<Output = Result<u64, EngineError>> + Send;

    /// Closes the store, waiting for writes.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// The setting that holds the device id, derived from the key.
const DEVICE_ID: &str = "device_id";
/// The setting that holds the device key's secret, made once.
const DEVICE_KEY: &str = "device_key";
/// The setting that holds the user's display name.
const DISPLAY_NAME: &str = "display_name";

impl EngineStore for Store {
    fn location(&self) -> &Path {
        &self.path
    }

    async fn get(&self, key: &str) -> Result<Option<String>, EngineError> {
        Store::get(self, key).await
    }

    async fn set(&self, key: &str, value: &str) -> Result<(), EngineError> {
        Store::set(self, key, value).await
    }

    async fn last_typed(&self, room: &RoomName) -> Result<Option<MessageId>, EngineError> {
        Store::last_typed(self, room).await
    }

    async fn enqueue(
        &self,
        chat: &ChatSend,
        sender: DeviceId,
        from: &DisplayName,
    ) -> Result<(), EngineError> {
        Store::enqueue(self, chat, sender, from).await
    }

    async fn queued(&self) -> Result<Vec<ChatSend>, EngineError> {
        Store::queued(self).await
    }

    async fn mark_sent(&self, acks: &[(MessageId, Seq)]) -> Result<(), EngineError> {
        Store::mark_sent(self, acks).await
    }

    async fn mark_failed(&self, id: MessageId, reason: &str) -> Result<(), EngineError> {
        Store::mark_failed(self, id, reason).await
    }

    async fn expire_queued(
        &self,
        cutoff: i64,
        reason: &str,
    ) -> Result<Vec<(MessageId, RoomName)>, EngineError> {
        Store::expire_queued(self, cutoff, reason).await
    }

    async fn record_delivered(
        &self,
        messages: &[Delivered],
        me: DeviceId,
        route: Route,
        keep: usize,
    ) -> Result<(), EngineError> {
        Store::record_delivered(self, messages, me, route, keep).await
    }

    async fn prune_older_than(&self, cutoff: i64) -> Result<u64, EngineError> {
        Store::prune_older_than(self, cutoff).await
    }

    async fn cursor(&self, room: &RoomName) -> Result<Option<Seq>, EngineError> {
        Store::cursor(self, room).await
    }

    async fn unsequenced(&self, limit: usize) -> Result<Vec<Delivered>, EngineError> {
        Store::unsequenced(self, limit).await
    }

    async fn contains(&self, id: MessageId) -> Result<bool, EngineError> {
        Store::contains(self, id).await
    }

    async fn recent_ids(&self, limit: usize) -> Result<Vec<MessageId>, EngineError> {
        Store::recent_ids(self, limit).await
    }

    async fn own_message(
        &self,
        room: &RoomName,
        id: MessageId,
    ) -> Result<Option<PeerChat>, EngineError> {
        Store::own_message(self, room, id).await
    }

    async fn message(&self, id: MessageId) -> Result<Option<LocalMessage>, EngineError> {
        Store::message(self, id).await
    }

    async fn history(
        &self,
        room: &RoomName,
        limit: usize,
    ) -> Result<Vec<LocalMessage>, EngineError> {
        Store::history(self, room, limit).await
    }

    async fn history_before(
        &self,
        room: &RoomName,
        before: Seq,
        limit: usize,
    ) -> Result<Vec<LocalMessage>, EngineError> {
        Store::history_before(self, room, before, limit).await
    }

    async fn known_keys(&self) -> Result<Vec<KnownKey>, EngineError> {
        Store::known_keys(self).await
    }

    async fn remember_key(&self, known: &KnownKey) -> Result<(), EngineError> {
        Store::remember_key(self, known).await
    }

    async fn mark_read(&self, room: &RoomName) -> Result<(), EngineError> {
        Store::mark_read(self, room).await
    }

    async fn unread(&self, room: &RoomName) -> Result<u64, EngineError> {
        Store::unread(self, room).await
    }

    async fn close(&self) {
        Store::close(self).await;
    }
}
