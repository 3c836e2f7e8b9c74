//! A chat message as the engine delivers it: the relay's copy, numbered, or its sender's
//! direct copy, shown before the relay numbered it.

use festival_proto::{
    ChatMessage, DeviceId, DisplayName, MessageId, PublicKey, RoomName, Sealed, Seq, Signature,
    SignedChat,
};
use serde::Serialize;

use crate::LocalMessage;

/// A message shown to the user and recorded in the store. The relay's `chat` always carries
/// its number; a copy that came straight from its sender over a data channel has none yet
/// (`seq` and `stored_at` are `None`, `null` in JSON) until the relay's notice or copy gives
/// it one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivered {
    /// The room.
    pub room: RoomName,
    /// The sender's message id.
    pub id: MessageId,
    /// The room sequence number the relay assigned, once it did.
    pub seq: Option<Seq>,
    /// The sending device.
    pub sender: DeviceId,
    /// The sender's name as shown in the room when it sent the message.
    pub from: DisplayName,
    /// The text: in a private room, as opened here (empty when it could not be).
    pub body: String,
    /// In a private room, the sealed form the sender signed and the relay stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed: Option<Sealed>,
    /// The sender's clock when it was sent, in Unix milliseconds.
    pub sent_at: i64,
    /// The relay's clock when it stored the message, in Unix milliseconds, once it did.
    pub stored_at: Option<i64>,
    /// The sender's message typed before this one in the room, as signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev: Option<MessageId>,
    /// The sender's public key (`sender` is derived from it), when it came with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PublicKey>,
    /// The sender's signature of (room, id, body, sent_at, prev); absent with `key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sig: Option<Signature>,
}

impl Delivered {
    /// The fields its signature covers.
    pub fn signed(&self) -> SignedChat<'_> {
        SignedChat {
            room: &self.room,
            id: self.id,
            body: &self.body,
            sent_at: self.sent_at,
            prev: self.prev,
            sealed: self.sealed.as_ref(),
        }
    }

    /// Whether this is an announcement from the organisers rather than a member's message.
    pub fn is_announcement(&self) -> bool {
        self.sender == ChatMessage::ANNOUNCER
    }
}

impl From<ChatMessage> for Delivered {
    fn from(message: ChatMessage) -> Self {
        Self {
            room: message.room,
            id: message.id,
            seq: Some(message.seq),
            sender: message.sender,
            from: message.from,
            body: message.body,
            sealed: message.sealed,
            sent_at: message.sent_at,
            stored_at: Some(message.stored_at),
            prev: message.prev,
            key: message.key,
            sig: message.sig,
        }
    }
}

impl From<LocalMessage> for Delivered {
    /// The message as it was delivered, read back from the store.
    fn from(message: LocalMessage) -> Self {
        Self {
            room: message.room,
            id: message.id,
            seq: message.seq,
            sender: message.sender,
            from: message.from,
            body: message.body,
            sealed: message.sealed,
            sent_at: message.sent_at,
            stored_at: message.stored_at,
            prev: message.prev,
            key: message.key,
            sig: message.sig,
        }
    }
}
