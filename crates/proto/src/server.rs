//! Frames the relay sends to a client.

use serde::{Deserialize, Serialize};

use crate::{
    DeviceId, DisplayName, ErrorCode, Limits, MessageId, Nonce, PeerId, PublicKey, RoomName,
    Sealed, Seq, Signature, SignedChat,
};

/// A frame from the relay to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Answer to `hello`: the connection is ready.
    Welcome(Welcome),
    /// Answer to `join`: the members and the history the client is missing.
    Joined(Joined),
    /// Answer to `leave`.
    Left(Left),
    /// A member came or went.
    Presence(Presence),
    /// A stored chat message, with the sequence number the relay assigned.
    Chat(ChatMessage),
    /// A message this device already got directly from its sender, now numbered: it takes
    /// its place in the room's sequence without being sent again.
    Sequenced(Sequenced),
    /// The sender's confirmation that its message is stored.
    Ack(Ack),
    /// A signaling payload from another device.
    Signal(SignalRelayed),
    /// A frame was refused.
    Error(ErrorFrame),
    /// Answer to `ping`.
    Pong(Pong),
    /// An announcement from the organisers, numbered in the room's sequence like a chat
    /// message and kept in its history, where it comes back as a `chat` whose sender is the
    /// nil device ([`ChatMessage::is_announcement`]). Never a member's message: no device can
    /// say hello with the nil id.
    Announcement(ChatMessage),
    /// The first frame on every connection: what `hello` must sign.
    Challenge(Challenge),
}

/// `challenge`: sent as soon as a connection opens, before anything else. The client's
/// `hello` signs this nonce with its device key, so that a proof works on one connection only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Random bytes, new for each connection.
    pub nonce: Nonce,
}

/// `welcome`: sent once after a valid `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The protocol version the relay speaks.
    pub v: u32,
    /// This connection's number.
    pub peer_id: PeerId,
    /// The device id from `hello`.
    pub device: DeviceId,
    /// The display name after normalisation (a room may still add a suffix; see `joined`).
    pub name: DisplayName,
    /// The relay's clock, in Unix milliseconds.
    pub server_time: i64,
    /// What the relay enforces on this connection.
    pub limits: Limits,
    /// STUN/TURN servers for WebRTC; empty when none are configured.
    pub ice_servers: Vec<IceServer>,
}

/// One STUN or TURN server, in the shape WebRTC stacks take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `stun:` or `turn:` URLs.
    pub urls: Vec<String>,
    /// TURN user name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN credential, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// A member of a room: one device, however many connections it has.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Member {
    /// The device.
    pub device: DeviceId,
    /// The name shown in this room: the display name, with a suffix such as ` (2)` when
    /// another device in the room already shows that name.
    pub name: DisplayName,
    /// The device's public key, proven to the relay: what its chats and offers are checked
    /// against.
    pub key: PublicKey,
}

/// `joined`: the answer to `join`. Sent before any live message of the room, so history and
/// live messages meet without a gap or an overlap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    /// The room.
    pub room: RoomName,
    /// The name this device is shown as in this room.
    pub name: DisplayName,
    /// Everyone in the room now, this device included.
    pub members: Vec<Member>,
    /// With `since`: the messages after it, oldest first, at most `history_page` of them.
    /// Without: the room's most recent `history_page` messages, oldest first.
    pub history: Vec<ChatMessage>,
    /// The room's newest sequence number (0 when it has no message yet).
    pub latest_seq: Seq,
    /// More messages follow the last one in `history`: join again with `since` set to it.
    pub has_more: bool,
    /// Some messages after `since` were dropped by the relay's retention and cannot be replayed.
    pub truncated: bool,
}

/// `left`: the answer to `leave`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Left {
    /// The room left.
    pub room: RoomName,
}

/// Whether a member came or went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceChange {
    /// The device's first connection joined the room.
    Joined,
    /// The device's last connection left the room or went away.
    Left,
}

/// `presence`: one member came or went; `online` is the exact member count afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The room.
    pub room: RoomName,
    /// Came or went.
    pub change: PresenceChange,
    /// Who.
    pub member: Member,
    /// Members in the room after the change.
    pub online: u32,
}

/// `chat`: a message as the relay stored it. Also the element type of `joined.history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The room.
    pub room: RoomName,
    /// The sender's message id.
    pub id: MessageId,
    /// The room sequence number the relay assigned.
    pub seq: Seq,
    /// The sending device.
    pub sender: DeviceId,
    /// The sender's name as shown in the room when it sent the message.
    pub from: DisplayName,
    /// The text, at most `max_body_bytes` UTF-8 bytes; empty (`""`) when `sealed` carries it.
    #[serde(default)]
    pub body: String,
    /// In a private room, the text sealed with the room's key: signed in place of `body`, so
    /// that the relay and any hop check who wrote it without reading it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<Sealed>,
    /// The sender's clock when it was sent, in Unix milliseconds.
    pub sent_at: i64,
    /// The relay's clock when it was stored, in Unix milliseconds.
    pub stored_at: i64,
    /// The sender's message typed before this one in the room, as signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<MessageId>,
    /// The sender's public key (`sender` is derived from it). Absent only on messages
    /// stored before protocol version 2, which nobody can check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PublicKey>,
    /// The sender's signature of (room, id, body, sent_at, prev); absent with `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<Signature>,
}

impl ChatMessage {
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

impl ChatMessage {
    /// The device id announcements are sent under: the nil UUID, which `hello` refuses, so
    /// that no member can send as the organisers.
    pub const ANNOUNCER: DeviceId = DeviceId::NIL;

    /// Whether this is an announcement from the organisers rather than a member's message.
    pub fn is_announcement(&self) -> bool {
        self.sender.is_nil()
    }
}

/// `sequenced`: the relay stored a message whose sender said it reached this device directly
/// (`chat.direct`). A client that has it records its sequence number; one that does not (the
/// direct copy was lost) fetches it by joining again with `since`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequenced {
    /// The room.
    pub room: RoomName,
    /// The message id.
    pub id: MessageId,
    /// Its sequence number in the room.
    pub seq: Seq,
}

/// `ack`: the message with this id is stored under this sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The message id the client sent.
    pub id: MessageId,
    /// The room.
    pub room: RoomName,
    /// Its sequence number.
    pub seq: Seq,
    /// The relay already had this message (a retry); it was not stored or delivered again.
    pub duplicate: bool,
}

/// `signal` from the relay: a payload another device addressed to this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalRelayed {
    /// The room both devices are in.
    pub room: RoomName,
    /// The device that sent it.
    pub from: DeviceId,
    /// The payload, unread by the relay.
    pub payload: serde_json::Value,
}

/// `error`: a frame was refused. The connection stays open unless a close frame follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// A sentence for people.
    pub message: String,
    /// The chat message the error is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<MessageId>,
    /// The room the error is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<RoomName>,
}

/// `pong`: the answer to `ping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    /// The nonce from the ping.
    pub nonce: u64,
    /// The relay's clock, in Unix milliseconds.
    pub server_time: i64,
    /// The keepalive the relay follows for this connection, in seconds: the one the ping
    /// asked for, bounded by the relay. Present when the ping asked and the relay follows it
    /// (not on a long-poll, whose polls are its liveness). The client pings at least this
    /// often from now on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_s: Option<u32>,
}
