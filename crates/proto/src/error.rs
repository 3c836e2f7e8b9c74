//! Stable error codes, and the error every validation returns.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{MessageId, RoomName};

/// A stable, machine-readable error code carried in `error` frames. Codes never change meaning;
/// new ones may be added, so clients must accept codes they do not know ([`ErrorCode::Unknown`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// `hello` named a protocol version this relay does not speak.
    UnsupportedVersion,
    /// A frame larger than `max_frame_bytes`.
    FrameTooLarge,
    /// A chat body larger than `max_body_bytes`.
    BodyTooLarge,
    /// The frame is not JSON, not a JSON object, not text, or has no string `type`.
    Malformed,
    /// The frame's `type` is not one this protocol version defines.
    UnknownType,
    /// A field is missing or has the wrong type or value.
    InvalidField,
    /// A frame other than `hello` arrived before `hello`.
    HelloRequired,
    /// A second `hello` on the same connection.
    DuplicateHello,
    /// The display name is empty after trimming, too long, contains control characters, or
    /// ends in a number in brackets (the relay's own `(2)`).
    InvalidName,
    /// The room name is empty, too long, or contains characters rooms may not have.
    InvalidRoom,
    /// A display name or room name holds an invisible or text-direction character (zero-width
    /// space or joiner, bidi control, byte order mark, ...), or nothing visible at all.
    InvisibleCharacter,
    /// The chat body is empty or contains control characters other than newline and tab.
    InvalidBody,
    /// A nil device or message id.
    InvalidId,
    /// A chat or signal for a room this connection has not joined.
    NotJoined,
    /// Joining one more room would exceed `max_rooms`.
    TooManyRooms,
    /// The connection sends faster than the rate limit; the frame was dropped, retry later.
    RateLimited,
    /// A message id already used for a different room or by a different device.
    IdConflict,
    /// A signal addressed to a device that is not in the room.
    UnknownPeer,
    /// A long-poll request named a session the relay does not have (expired or never made).
    UnknownSession,
    /// The relay could not do it (for example its store failed); the frame may be retried.
    Internal,
    /// The client's IP address or device already holds as many connections (or long-poll
    /// sessions) as the relay allows one; close one first.
    TooManyConnections,
    /// The relay is near its capacity (open files, sessions); retry later, or another relay.
    Overloaded,
    /// The room holds as many members as the relay allows in one room.
    RoomFull,
    /// No new room now: the relay holds as many rooms as it allows, or this address created
    /// rooms too fast. Joining a room that exists still works.
    RoomLimit,
    /// An organiser removed this device from the room for a while; joining again is refused
    /// until then (the message says until when).
    Removed,
    /// A signature does not hold: `hello`'s proof (the device id is not derived from the key,
    /// or the key did not sign this connection's challenge), or a chat not signed by the
    /// key of the device that sends it.
    InvalidSignature,
    /// Any code this build does not know, so that newer relays do not break older clients.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnsupportedVersion => "unsupported_version",
            Self::FrameTooLarge => "frame_too_large",
            Self::BodyTooLarge => "body_too_large",
            Self::Malformed => "malformed",
            Self::UnknownType => "unknown_type",
            Self::InvalidField => "invalid_field",
            Self::HelloRequired => "hello_required",
            Self::DuplicateHello => "duplicate_hello",
            Self::InvalidName => "invalid_name",
            Self::InvalidRoom => "invalid_room",
            Self::InvisibleCharacter => "invisible_character",
            Self::InvalidBody => "invalid_body",
            Self::InvalidId => "invalid_id",
            Self::NotJoined => "not_joined",
            Self::TooManyRooms => "too_many_rooms",
            Self::RateLimited => "rate_limited",
            Self::IdConflict => "id_conflict",
            Self::UnknownPeer => "unknown_peer",
            Self::UnknownSession => "unknown_session",
            Self::Internal => "internal",
            Self::TooManyConnections => "too_many_connections",
            Self::Overloaded => "overloaded",
            Self::RoomFull => "room_full",
            Self::RoomLimit => "room_limit",
            Self::Removed => "removed",
            Self::InvalidSignature => "invalid_signature",
            Self::Unknown => "unknown",
        }
    }

    /// Whether a message refused with this code may be sent again as it is (with the same
    /// id) a moment later: the relay was busy or pacing this client, not refusing the
    /// message. Every other code is final for that message.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::RateLimited | Self::Internal)
    }

    /// Every code the relay can send, for metrics and documentation.
    pub const ALL: [ErrorCode; 26] = [
        Self::UnsupportedVersion,
        Self::FrameTooLarge,
        Self::BodyTooLarge,
        Self::Malformed,
        Self::UnknownType,
        Self::InvalidField,
        Self::HelloRequired,
        Self::DuplicateHello,
        Self::InvalidName,
        Self::InvalidRoom,
        Self::InvisibleCharacter,
        Self::InvalidBody,
        Self::InvalidId,
        Self::NotJoined,
        Self::TooManyRooms,
        Self::RateLimited,
        Self::IdConflict,
        Self::UnknownPeer,
        Self::UnknownSession,
        Self::Internal,
        Self::TooManyConnections,
        Self::Overloaded,
        Self::RoomFull,
        Self::RoomLimit,
        Self::Removed,
        Self::InvalidSignature,
    ];
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected input: a stable code for machines and a sentence for people, and the message
/// and room it is about when the input named them, so that the `error` frame can say which of
/// a client's messages was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProtoError {
    /// What kind of problem it is.
    pub code: ErrorCode,
    /// What exactly was wrong, in words a person can act on.
    pub message: String,
    /// The chat message the input was, when it named one.
    pub id: Option<MessageId>,
    /// The room the input was for, when it named a valid one.
    pub room: Option<RoomName>,
}

impl ProtoError {
    /// An error with a code and a sentence.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            id: None,
            room: None,
        }
    }

    /// The same error, about message `id` in `room`.
    pub fn about(mut self, id: Option<MessageId>, room: Option<&RoomName>) -> Self {
        self.id = id;
        self.room = room.cloned();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_busy_or_pacing_relay_asks_for_the_same_message_again() {
        let retryable: Vec<_> = ErrorCode::ALL
            .into_iter()
            .filter(|code| code.is_retryable())
            .collect();
        assert_eq!(retryable, [ErrorCode::RateLimited, ErrorCode::Internal]);
        assert!(!ErrorCode::Unknown.is_retryable());
    }
}
