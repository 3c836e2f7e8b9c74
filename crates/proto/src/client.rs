//! Frames a client sends to the relay.

use serde::{Deserialize, Serialize};

use crate::{
    DeviceId, DisplayName, MessageId, PublicKey, Report, RoomName, Sealed, Seq, Signature,
    SignedChat,
};

/// A frame from a client to the relay. A [`ClientFrame`] returned by
/// [`decode_client`](crate::decode_client) has been validated and normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// First frame on every connection: who this is and which protocol it speaks.
    Hello(Hello),
    /// Join a room (creating it if new) or, when already joined, fetch history again.
    Join(Join),
    /// Leave a room.
    Leave(Leave),
    /// Send a chat message to a joined room.
    Chat(ChatSend),
    /// Pass an opaque WebRTC signaling payload to another device in a joined room.
    Signal(SignalSend),
    /// Ask for a `pong`, to measure round-trip time and keep the connection alive.
    Ping(Ping),
    /// This device's direct links and route counters, for the organisers' mesh dashboard.
    Report(Report),
}

/// `hello`: the protocol version, the device's identity and its proof, and the name it wants
/// to be shown as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Protocol version the client speaks; must equal [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION).
    pub v: u32,
    /// The device's stable identity.
    pub device: DeviceId,
    /// The display name the person chose (normalised by the relay).
    pub name: DisplayName,
    /// The device's public key; `device` must be derived from it.
    pub key: PublicKey,
    /// The key's signature of the relay's `challenge` nonce and `device`.
    pub proof: Signature,
}

/// `join`: enter a room. With `since`, only messages after that sequence number are replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    /// The room; created on first join.
    pub room: RoomName,
    /// The last sequence number the client already has, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Seq>,
}

/// `leave`: stop being a member of a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leave {
    /// The room to leave.
    pub room: RoomName,
}

/// `chat`: a message to a joined room. Sending the same `id` again is safe: the relay acks it
/// with the original sequence number and neither stores nor delivers it twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSend {
    /// Client-made unique id, kept across retries and routes.
    pub id: MessageId,
    /// The room it is for.
    pub room: RoomName,
    /// The text, at most `max_body_bytes` UTF-8 bytes; empty (`""`) when `sealed` carries it.
    #[serde(default)]
    pub body: String,
    /// In a private room, the text sealed with the room's key: signed in place of `body`, so
    /// that the relay and any hop check who wrote it without reading it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<Sealed>,
    /// When the person sent it, by the client's clock, in Unix milliseconds.
    pub sent_at: i64,
    /// The sender's message typed before this one in the room, if any: signed with it, so
    /// that a receiver can keep one sender's messages in the order they were typed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<MessageId>,
    /// The sender's signature of (room, id, body, sent_at, prev), made when it was typed.
    pub sig: Signature,
    /// Devices the sender already delivered it to over a direct (P2P) link. The relay stores
    /// it as usual but sends these devices only a `sequenced` notice instead of the whole
    /// message, so that a room whose members are all linked directly costs the relay little.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub direct: Vec<DeviceId>,
}

impl ChatSend {
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
}

/// `signal`: an opaque payload (SDP offer or answer, ICE candidate) for one device in a room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalSend {
    /// The room both devices are in.
    pub room: RoomName,
    /// The device it is for.
    pub to: DeviceId,
    /// Any JSON value; the relay passes it on unread.
    pub payload: serde_json::Value,
}

/// `ping`: the relay answers with a `pong` carrying the same nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Any number; echoed back.
    pub nonce: u64,
    /// The keepalive this client means to follow from now on, in seconds: it pings at least
    /// this often. A relay that follows it (the WebSocket, after `hello`) pings this
    /// connection only after two such intervals of silence and closes it after three, within
    /// its own bound, and answers the interval it granted in `pong`. A phone saving its
    /// battery asks for a long one; absent, the relay's defaults apply (or the last grant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_s: Option<u32>,
}
