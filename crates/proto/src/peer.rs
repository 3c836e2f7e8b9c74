//! What two devices say to each other directly: the signaling payloads they pass through the
//! relay to open a WebRTC data channel, and the frames they then send on it.
//!
//! Both are as untrusted as anything from the relay: a peer frame is size-checked and
//! validated like a client frame before the engine acts on it.

use serde::{Deserialize, Serialize};

use crate::{
    ErrorCode, Limits, MessageId, ProtoError, RoomName, Sealed, SessionId, Signature, SignedChat,
};

/// A signaling payload, carried opaquely by the relay's `signal` frames.
///
/// The device with the lower id always offers, so two devices never offer to each other at
/// once; the other one asks it to with `request`. Every attempt has a `session` number so
/// that an answer to an abandoned attempt is recognised and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PeerSignal {
    /// "Please offer me a link": sent by the higher id.
    Request,
    /// A session description offer with every ICE candidate gathered (no trickle: two
    /// signaling frames per link instead of dozens, which matters on a rate-limited relay).
    Offer {
        /// The attempt.
        session: SessionId,
        /// The SDP.
        sdp: String,
        /// The offerer's signature of the SDP's DTLS fingerprints, so that whoever passes
        /// the offer on (the relay) cannot put its own end into the link.
        sig: Signature,
    },
    /// The answer to `offer`.
    Answer {
        /// The attempt answered.
        session: SessionId,
        /// The SDP.
        sdp: String,
        /// The answerer's signature of the SDP's DTLS fingerprints.
        sig: Signature,
    },
    /// "No link now" (P2P is off here, or this device has as many links as it keeps). The
    /// offerer backs off as after a failure.
    Decline {
        /// The attempt declined ([`SessionId::NONE`], 0, for a request).
        session: SessionId,
    },
}

/// A frame on a data channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PeerFrame {
    /// A chat message, sent directly to a member of the room.
    Chat(PeerChat),
    /// Asks for a `pong` with the same nonce, to time the link.
    Ping {
        /// Any number; echoed back.
        nonce: u64,
    },
    /// Answer to `ping`.
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
    /// "Send me your message `id` again": the receiver holds a direct message whose `prev`
    /// it never got, so that it shows a sender's messages in the order they were typed.
    Want {
        /// The room of the message.
        room: RoomName,
        /// The message wanted.
        id: MessageId,
    },
}

/// A chat message sent over a data channel. The sender is the device at the other end of
/// the channel (whose DTLS fingerprint it signed when the link was set up), so the frame does
/// not name it; its signature is checked against that device's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerChat {
    /// The sender's message id, the same on every route.
    pub id: MessageId,
    /// The room.
    pub room: RoomName,
    /// The text, at most `max_body_bytes` UTF-8 bytes; empty (`""`) when `sealed` carries it.
    #[serde(default)]
    pub body: String,
    /// In a private room, the text sealed with the room's key: signed in place of `body`, so
    /// that the relay and any hop check who wrote it without reading it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<Sealed>,
    /// The sender's clock when it was sent, in Unix milliseconds.
    pub sent_at: i64,
    /// The sender's message typed before this one in the room, whatever route it took: a
    /// receiver that has not seen it holds this one back for a moment and asks for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<MessageId>,
    /// The sender's signature of (room, id, body, sent_at, prev), the same on every route.
    pub sig: Signature,
}

impl PeerChat {
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

/// Decodes and validates a frame from a peer.
pub fn decode_peer(text: &str, limits: &Limits) -> Result<PeerFrame, ProtoError> {
    if text.len() > limits.max_frame_bytes {
        return Err(ProtoError::new(
            ErrorCode::FrameTooLarge,
            format!(
                "peer frame is {} bytes; the limit is {} bytes",
                text.len(),
                limits.max_frame_bytes
            ),
        ));
    }
    let mut frame: PeerFrame = serde_json::from_str(text)
        .map_err(|e| ProtoError::new(ErrorCode::Malformed, format!("invalid peer frame: {e}")))?;
    let nil = || ProtoError::new(ErrorCode::InvalidId, "message id is the nil UUID");
    match &mut frame {
        PeerFrame::Chat(chat) => {
            if chat.id.is_nil() || chat.prev.is_some_and(|prev| prev.is_nil()) {
                return Err(nil());
            }
            chat.room = RoomName::parse(chat.room.as_str())?;
            crate::text::validate_content(&chat.body, chat.sealed.as_ref(), limits)?;
        }
        PeerFrame::Want { room, id } => {
            if id.is_nil() {
                return Err(nil());
            }
            *room = RoomName::parse(room.as_str())?;
        }
        PeerFrame::Ping { .. } | PeerFrame::Pong { .. } => {}
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode;

    #[test]
    fn a_chat_round_trips_and_its_room_is_normalised() {
        let chat = PeerChat {
            id: MessageId::new(),
            room: RoomName::parse("Camp").unwrap(),
            body: "over here".into(),
            sealed: None,
            sent_at: 1,
            prev: Some(MessageId::new()),
            sig: crate::Signature::from_bytes([7; 64]),
        };
        let text = encode(&PeerFrame::Chat(chat.clone())).replace("Camp", "  Camp ");
        let decoded = decode_peer(&text, &Limits::default()).unwrap();
        assert_eq!(decoded, PeerFrame::Chat(chat));
    }

    #[test]
    fn bad_peer_frames_get_their_codes() {
        let limits = Limits::default();
        let code = |text: &str| decode_peer(text, &limits).unwrap_err().code;
        assert_eq!(code("not json"), ErrorCode::Malformed);
        assert_eq!(code(r#"{"type":"shout"}"#), ErrorCode::Malformed);
        let nil = r#"{"type":"chat","id":"00000000-0000-0000-0000-000000000000","room":"Camp","body":"x","sent_at":0,"sig":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
        assert_eq!(code(nil), ErrorCode::InvalidId);
        let nil_prev = format!(
            r#"{{"type":"chat","id":"{}","room":"Camp","body":"x","sent_at":0,"sig":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","prev":"00000000-0000-0000-0000-000000000000"}}"#,
            MessageId::new()
        );
        assert_eq!(code(&nil_prev), ErrorCode::InvalidId);
        let bad_room = format!(r#"{{"type":"want","room":"","id":"{}"}}"#, MessageId::new());
        assert_eq!(code(&bad_room), ErrorCode::InvalidRoom);
        let big = encode(&PeerFrame::Chat(PeerChat {
            id: MessageId::new(),
            room: RoomName::parse("Camp").unwrap(),
            body: "x".repeat(limits.max_body_bytes + 1),
            sealed: None,
            sent_at: 0,
            prev: None,
            sig: crate::Signature::from_bytes([7; 64]),
        }));
        assert_eq!(code(&big), ErrorCode::BodyTooLarge);
        assert_eq!(
            code(&"x".repeat(limits.max_frame_bytes + 1)),
            ErrorCode::FrameTooLarge
        );
    }

    #[test]
    fn signals_are_tagged_by_kind() {
        let offer = PeerSignal::Offer {
            session: SessionId(7),
            sdp: "v=0".into(),
            sig: crate::Signature::from_bytes([7; 64]),
        };
        let value = serde_json::to_value(&offer).unwrap();
        assert_eq!(value["kind"], "offer");
        assert_eq!(serde_json::from_value::<PeerSignal>(value).unwrap(), offer);
    }
}
