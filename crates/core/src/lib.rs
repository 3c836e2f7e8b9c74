//! The Festival Chat client engine: everything a device does, with no UI.
//!
//! The app and the `festival` CLI are thin shells over [`Engine`]: they call it and render its
//! [`Event`]s. The engine keeps the device's identity in its data directory, holds one link to
//! the relay, and never gives up on it: it reconnects with backoff and jitter, rejoins each
//! room from the last message it delivered, and resends unacknowledged messages with their
//! original ids, so that every message arrives once and in order.
//!
//! Decisions are pure state machines ([`sync::RoomSync`], [`transport::backoff::Backoff`], the
//! outbox) that take time as an input; the async driver only moves bytes.

mod authenticity;
mod dedup;
mod delivered;
mod directory;
mod engine;
mod error;
mod event;
mod holdback;
mod outbox;
pub mod power;
mod privacy;
pub mod router;
mod stats;
pub mod store;
pub mod sync;
pub mod transport;
pub mod trust;

pub use authenticity::Authenticity;
pub use delivered::Delivered;
pub use directory::Directory;
pub use engine::{
    Engine, EngineConfig, Events, OlderHistory, P2pConfig, PendingSend, local_history,
};
pub use error::EngineError;
pub use event::{Event, Missed, Route, SeqRange};
pub use privacy::Privacy;
pub use stats::{
    Breakers, ByRoute, Diagnostics, PeerDiagnostics, RoomDiagnostics, RouteHealth, Routes, Stats,
    Traffic, TrafficStats,
};
pub use store::{DB_FILE, DeliveryState, Identity, LocalMessage};

/// The log filter for a program around the engine when `RUST_LOG` is not set: warnings, but
/// webrtc-rs only on errors. Its crates warn about every candidate pair they cannot use while
/// a link is set up, and about every TLS extension a browser offers that they do not know (42
/// lines per link from Chromium); the engine reports what failed in its own events. A target
/// matches every target it begins with: `webrtc` covers `webrtc_ice`, `webrtc_sctp`,
/// `webrtc_mdns` and the others; the rest of webrtc-rs's crates are named one by one.
pub const LOG_FILTER: &str = "warn,webrtc=error,dtls=error,stun=error,turn=error,interceptor=error,rtp=error,rtcp=error,sdp=error";
