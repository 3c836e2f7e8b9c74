//! The limits a relay enforces and announces in `welcome`.

use serde::{Deserialize, Serialize};

/// Limits the relay enforces on every connection, announced in `welcome` so that a client can
/// stay inside them (for example pace a queue flush to the rate limit) instead of discovering
/// them through errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest text frame the relay reads, in bytes. Larger frames get `frame_too_large`.
    pub max_frame_bytes: usize,
    /// Largest chat body, in UTF-8 bytes. Larger bodies get `body_too_large`.
    pub max_body_bytes: usize,
    /// Most rooms one connection may have joined at once.
    pub max_rooms: usize,
    /// Sustained frames per second one connection may send (token bucket refill rate).
    pub rate_per_sec: u32,
    /// Frames one connection may send in a burst (token bucket size).
    pub rate_burst: u32,
    /// Most history messages in one `joined` frame; more are fetched by joining again with
    /// `since` the last one received.
    pub history_page: usize,
}

impl Limits {
    /// Longest display name, in characters, after normalisation.
    pub const MAX_NAME_CHARS: usize = 32;
    /// Longest room name, in characters, after normalisation.
    pub const MAX_ROOM_CHARS: usize = 64;
    /// Most devices a chat may name as already reached directly (`direct`): more than any
    /// device keeps P2P links to.
    pub const MAX_DIRECT: usize = 32;
    /// Most links one `report` may name: as many as `direct` may.
    pub const MAX_REPORT_LINKS: usize = 32;
    /// Longest announcement, in UTF-8 bytes.
    pub const MAX_ANNOUNCEMENT_BYTES: usize = 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 64 * 1024,
            max_body_bytes: 4 * 1024,
            max_rooms: 32,
            rate_per_sec: 20,
            rate_burst: 100,
            history_page: 500,
        }
    }
}
