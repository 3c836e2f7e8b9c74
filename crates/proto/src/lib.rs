//! The Festival Chat wire protocol.
//!
//! Every message that crosses a process boundary is defined here: the frames a client sends
//! ([`ClientFrame`]), the frames the relay sends ([`ServerFrame`]), the identifiers they carry,
//! how untrusted input is validated ([`decode_client`]), the invite links people pass on
//! ([`Invite`]), and the limits both sides agree on.
//! This crate does no I/O, so the relay, the engine, tests and fuzzers all share one definition.
//!
//! Frames are JSON text frames over a WebSocket, tagged by `"type"`. `docs/protocol.md` in the
//! repository is the contract for other clients, with an example of every frame.

mod client;
mod close;
mod code;
mod decode;
mod directory;
mod error;
mod ids;
mod invite;
mod limits;
mod names;
mod peer;
mod rate;
mod report;
mod safety;
mod sealing;
mod server;
mod signing;
mod text;

pub use client::{ChatSend, ClientFrame, Hello, Join, Leave, Ping, SignalSend};
pub use close::CloseCode;
pub use code::{CODE_SPACE, canonical_code, nth_code};
pub use decode::{decode_client, decode_server, encode};
pub use directory::{HistoryPage, NewRoom, PublicRoom, PublicRooms};
pub use error::{ErrorCode, ProtoError};
pub use ids::{DeviceId, MessageId, PeerId, Seq, SessionId};
pub use invite::{Invite, InviteError};
pub use limits::Limits;
pub use names::{DisplayName, RoomName};
pub use peer::{PeerChat, PeerFrame, PeerSignal, decode_peer};
pub use rate::TokenBucket;
pub use report::{
    AttemptCounts, LinkReport, LinkReportState, MAX_REPORT_RTT_MS, Report, RouteCounts,
};
pub use safety::{Fingerprint, SafetyNumber};
pub use sealing::{
    Ciphertext, OpenError, Opened, PrivateRoom, Rekey, RoomKey, SealNonce, Sealed, SealedFor,
};
pub use server::{
    Ack, Challenge, ChatMessage, ErrorFrame, IceServer, Joined, Left, Member, Pong, Presence,
    PresenceChange, Sequenced, ServerFrame, SignalRelayed, Welcome,
};
pub use signing::{DeviceKey, Nonce, PublicKey, Signature, SignedChat, sdp_fingerprints};
pub use text::{validate_body, validate_content};

/// The protocol version this crate speaks. A peer sending any other version in `hello` gets
/// [`ErrorCode::UnsupportedVersion`] naming both versions. Version 2 added device keys: the
/// relay's `challenge`, the proof in `hello`, and signatures on chats and offers.
pub const PROTOCOL_VERSION: u32 = 2;
