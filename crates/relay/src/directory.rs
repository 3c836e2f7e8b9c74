//! The room directory over HTTP: `GET /rooms` lists the public rooms the operator configured
//! (`--public-room`) with their member counts now, and `POST /rooms` hands out a room code
//! that no room on this relay uses, for someone starting a room of their own.
//!
//! A code is drawn at random (the next room someone creates cannot be guessed) and charged
//! to the caller's room-creation budget, the one joins of new rooms use: one address cannot
//! use up the codes, nor make the relay search for free ones without end.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::Response;
use festival_proto::{CODE_SPACE, ErrorCode, NewRoom, PublicRoom, PublicRooms, RoomName, nth_code};
use rand::Rng;

use crate::poll;
use crate::server::AppState;

/// Codes handed out and remembered, so that two people asking at once never get the same
/// one before either has joined (a joined room is known by its history or its members).
const RECENT_CODES: usize = 4096;
/// Random draws before the relay says it has no free code (a nearly full code space).
const DRAWS: usize = 32;

/// The codes handed out lately, oldest first.
#[derive(Debug, Default)]
pub(crate) struct HandedOut {
    recent: Mutex<(VecDeque<String>, HashSet<String>)>,
}

impl HandedOut {
    /// Takes `code` if it was not handed out lately.
    fn take(&self, code: &str) -> bool {
        let mut guard = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let (order, set) = &mut *guard;
        if !set.insert(code.to_owned()) {
            return false;
        }
        order.push_back(code.to_owned());
        if order.len() > RECENT_CODES
            && let Some(oldest) = order.pop_front()
        {
            set.remove(&oldest);
        }
        true
    }
}

/// `GET /rooms`: the public rooms and how many are in each now.
pub(crate) async fn public(State(state): State<AppState>) -> Response {
    let rooms = state
        .hub
        .config
        .public_rooms
        .iter()
        .map(|room| PublicRoom {
            room: room.clone(),
            online: u32::try_from(state.hub.online(room)).unwrap_or(u32::MAX),
        })
        .collect();
    poll::json(StatusCode::OK, json(&PublicRooms { rooms }))
}

/// `POST /rooms`: a room code no room here uses, charged to the caller's room creations.
// The relay reads the clock here, where it handles I/O.
#[allow(clippy::disallowed_methods)]
pub(crate) async fn create(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    let hub = &state.hub;
    if !hub.admission.create_room(peer.ip(), Instant::now()) {
        return poll::refused(
            hub,
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RoomLimit,
            "this address creates rooms too fast; retry in a few seconds",
        );
    }
    for _ in 0..DRAWS {
        let n = rand::rng().random_range(0..CODE_SPACE);
        let Ok(room) = RoomName::parse(&nth_code(n)) else {
            continue;
        };
        if hub.online(&room) > 0 || !state.codes.take(room.as_str()) {
            continue;
        }
        match hub.store.last_seq(&room).await {
            Ok(0) => return poll::json(StatusCode::OK, json(&NewRoom { room })),
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!("checking a new room code: {e}");
                break;
            }
        }
    }
    poll::refused(
        hub,
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Overloaded,
        "no free room code was found; retry later",
    )
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_handed_out_once_while_remembered() {
        let handed = HandedOut::default();
        assert!(handed.take("sunny-tent-42"));
        assert!(!handed.take("sunny-tent-42"));
        for n in 0..RECENT_CODES {
            assert!(handed.take(&nth_code(n + 1)));
        }
        // Forgotten once RECENT_CODES newer ones were handed out: bounded memory.
        assert!(handed.take("sunny-tent-42"));
        let guard = handed.recent.lock().unwrap();
        assert!(guard.0.len() <= RECENT_CODES && guard.1.len() <= RECENT_CODES);
    }
}
