//! What the engine tells the app: every change a user could see, as serialisable events, so
//! that the CLI prints them as JSON lines and the Tauri app forwards them to its UI.

use festival_proto::{
    DeviceId, DisplayName, ErrorCode, Member, MessageId, PeerId, PresenceChange, RoomName, Seq,
};
use serde::Serialize;

use crate::trust::KeyChange;
use crate::{Authenticity, Delivered, Privacy};

/// The path a message took. Stored by its name (TEXT), which the table checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Route {
    /// A direct WebRTC data channel to the peer.
    P2p,
    /// Through the relay's WebSocket.
    Relay,
    /// Through the relay's HTTP long-poll endpoints, the last resort.
    Poll,
}

impl Route {
    /// The route's name on the wire and in the store: `p2p`, `relay` or `poll`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::P2p => "p2p",
            Self::Relay => "relay",
            Self::Poll => "poll",
        }
    }
}

/// Something the user can see happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
// Most events are messages: boxing them would cost an allocation each to save a few bytes on
// the rarer ones.
#[allow(clippy::large_enum_variant)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The relay accepted this device.
    Connected {
        /// This connection's number at the relay.
        peer_id: PeerId,
        /// This device.
        device: DeviceId,
        /// The name it is known by.
        name: DisplayName,
    },
    /// The link to the relay is down; the engine retries by itself.
    Disconnected {
        /// Why, in words.
        reason: String,
        /// When the next attempt starts, in milliseconds.
        retry_in_ms: u64,
    },
    /// The route messages take changed (`None`: no route is up).
    RouteChanged {
        /// The route now in use.
        route: Option<Route>,
    },
    /// A room was joined (or joined again after a reconnect).
    Joined {
        /// The room.
        room: RoomName,
        /// How this device is shown there.
        name: DisplayName,
        /// Everyone there now.
        members: Vec<Member>,
    },
    /// A room was left.
    Left {
        /// The room.
        room: RoomName,
    },
    /// A chat message, delivered once. Messages that come by the relay are in the room's
    /// order; one that comes directly from its sender (`route` p2p) is shown at once, before
    /// the relay numbered it: its `seq` and `stored_at` are then `None`.
    Message {
        /// The message.
        #[serde(flatten)]
        message: Delivered,
        /// How it arrived.
        route: Route,
        /// Whether its signature shows it is from the device it names. Anything but
        /// `verified` must not be shown as from that person.
        authenticity: Authenticity,
        /// Who can read it: public, private (sealed and opened here), or a sealed message
        /// shown by its notice instead of its text (no key, unreadable, a key change).
        privacy: Privacy,
    },
    /// A direct link to a device opened or closed, or an attempt to open one failed (then
    /// `open` is false and `reason` says why, e.g. it timed out).
    Peer {
        /// The device.
        device: DeviceId,
        /// Whether the link is open now.
        open: bool,
        /// Why it closed or failed, in words.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Someone came or went.
    Presence {
        /// The room.
        room: RoomName,
        /// Came or went.
        change: PresenceChange,
        /// Who.
        member: Member,
        /// Members now.
        online: u32,
    },
    /// A message typed here is safely in the outbox (on disk) and will be sent.
    Queued {
        /// Its id.
        id: MessageId,
        /// Its room.
        room: RoomName,
    },
    /// A message typed here will not be delivered (expired or refused); it stays in the
    /// history, marked failed.
    Failed {
        /// Its id.
        id: MessageId,
        /// Its room.
        room: RoomName,
        /// Why, in words.
        reason: String,
    },
    /// The local store could not be written; what is shown may not survive a restart.
    StorageFailed {
        /// What went wrong.
        reason: String,
    },
    /// A message this device sent is stored by the relay.
    Acked {
        /// Its id.
        id: MessageId,
        /// Its room.
        room: RoomName,
        /// Its sequence number.
        seq: Seq,
        /// The relay already had it (a retry).
        duplicate: bool,
    },
    /// The app read events more slowly than they came, and `missed` of them were not queued
    /// rather than make the engine wait. Everything they reported is in the store: reload
    /// the rooms named here ([`Engine::reload`](crate::Engine::reload) for their messages,
    /// members and stats from the engine).
    Lagged {
        /// How many events were not queued.
        missed: u64,
        /// Each room a missed event was about.
        rooms: Vec<Missed>,
    },
    /// The relay refused something.
    Error {
        /// The stable code.
        code: ErrorCode,
        /// The relay's words.
        message: String,
        /// The message it is about, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
        /// The room it is about, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
    },
    /// Another key than the one remembered under a name this device talked with or verified
    /// ("Alice's key changed: verify again"): a new phone, or someone else using the name.
    /// Said once per run and key; the new key is not verified, whatever the old one was.
    KeyChanged {
        /// The room where the new key showed.
        room: RoomName,
        /// The new key's device, its name and key, and whether the old key was verified.
        #[serde(flatten)]
        change: KeyChange,
    },
}

/// What an app that lagged missed in one room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Missed {
    /// The room.
    pub room: RoomName,
    /// The numbered messages not shown, first to last (with, in between, ones that were
    /// shown before the relay numbered them: they came directly).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seqs: Option<SeqRange>,
    /// A message that came directly, not numbered yet, was not shown.
    pub direct: bool,
}

/// Sequence numbers from `first` to `last`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SeqRange {
    /// The lowest.
    pub first: Seq,
    /// The highest.
    pub last: Seq,
}
