//! The relay's room directory, served over HTTP beside the WebSocket: `GET /rooms` lists the
//! public rooms the relay's operator configured, with how many are in each now, and
//! `POST /rooms` hands out a room code nobody uses yet, and `GET /rooms/history` gives a page
//! of a room's older history. Errors are `error` frames ([`crate::ErrorFrame`]) with an HTTP
//! status.

use serde::{Deserialize, Serialize};

use crate::{ChatMessage, RoomName};

/// The answer to `GET /rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicRooms {
    /// The public rooms, in the order the operator listed them.
    pub rooms: Vec<PublicRoom>,
}

/// A room anyone at the event may join in one tap (Main Stage, Lost & Found, Ride Share...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicRoom {
    /// The room.
    pub room: RoomName,
    /// Members (devices) in it now.
    pub online: u32,
}

/// The answer to `POST /rooms`: a new room, named by a code ([`crate::nth_code`]) that no
/// room on this relay has used or been handed out recently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRoom {
    /// The room, whose name is its code (`sunny-tent-42`).
    pub room: RoomName,
}

/// The answer to `GET /rooms/history?room=ROOM&before=SEQ`: the newest messages of the room
/// numbered below `before`, oldest first (at most [`HistoryPage::MAX_MESSAGES`], and at most
/// the relay's history page in bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    /// The messages, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Older messages remain: ask again with `before` set to the first one's number.
    pub has_more: bool,
}

impl HistoryPage {
    /// Most messages in one page.
    pub const MAX_MESSAGES: usize = 100;
}
