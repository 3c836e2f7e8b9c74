//! Identifiers carried by frames.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A device's stable identity: made once by the client (random UUID), kept in its data
/// directory. Presence is keyed by it, so two connections of one device are one member and two
/// devices with the same display name are two members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceId(Uuid);

impl DeviceId {
    /// The all-zero id, which no real device may use (`hello` refuses it); the relay sends
    /// organisers' announcements under it.
    pub const NIL: Self = Self(Uuid::nil());

    /// A fresh random device id.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// Whether this is the all-zero UUID, which no real device may use.
    pub fn is_nil(&self) -> bool {
        self.0.is_nil()
    }
}

impl From<Uuid> for DeviceId {
    fn from(value: Uuid) -> Self {
        Self(value)
    }
}

impl FromStr for DeviceId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A chat message's identity, made by the sending client before the first attempt and kept
/// across every retry and every route, so that the relay and receivers can drop duplicates.
/// It belongs to its sender: made by [`MessageId::of_device`] (a UUIDv7 whose last six bytes
/// hash the sender's device id), so that nobody else can store a message under it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(Uuid);

impl MessageId {
    /// A fresh time-ordered (UUIDv7) id that belongs to no device: for the relay's own
    /// announcements and for tests. A device's message takes [`MessageId::of_device`].
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// Whether this is the all-zero UUID, which the relay refuses.
    pub fn is_nil(&self) -> bool {
        self.0.is_nil()
    }
}

impl Default for MessageId {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Uuid> for MessageId {
    fn from(value: Uuid) -> Self {
        Self(value)
    }
}

impl FromStr for MessageId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One connection to the relay, numbered by the relay. A device may hold several over time (or
/// at once); the peer id names the connection in logs and diagnostics, the device id names the
/// member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerId(pub u64);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// One attempt to open a WebRTC link between two devices, numbered by the device that makes
/// it (from 1, never reused while it runs): an answer, a decline or a data channel names the
/// attempt it belongs to, so that one for an abandoned attempt is recognised and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub u64);

impl SessionId {
    /// What a `decline` of a `request` names: no attempt was made yet.
    pub const NONE: Self = Self(0);

    /// The attempt after this one.
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// A message's position in its room, assigned by the relay when it stores the message.
///
/// Invariant: within one room, sequence numbers start at 1 and strictly increase with no gaps
/// among stored messages; only retention removes old ones. A client resumes with "since seq".
pub type Seq = u64;
