//! The room directory over HTTP: `GET /rooms` lists the public rooms the operator configured
//! (`--public-room`) with their member counts now, `POST /rooms` hands out a room code that no
//! room on this relay uses, for someone starting a room of their own, and
//! `GET /rooms/history` gives a page of a room's older history, for a reader scrolling up past
//! what their phone keeps (charged to the address's history budget, bounded in bytes).
//!
//! A code is drawn at random (the next room someone creates cannot be guessed) and charged
//! to the caller's room-creation budget, the one joins of new rooms use: one address cannot
//! use up the codes, nor make the relay search for free ones without end.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use festival_proto::{
    CODE_SPACE, ErrorCode, HistoryPage, NewRoom, PublicRoom, PublicRooms, RoomName, nth_code,
};
use rand::Rng;

use crate::hub::weight;
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

/// `GET /rooms/history?room=ROOM&before=SEQ`: the newest messages below `before`, oldest
/// first, at most [`HistoryPage::MAX_MESSAGES`] and the relay's page size in bytes.
// The relay reads the clock here, where it handles I/O.
#[allow(clippy::disallowed_methods)]
pub(crate) async fn older(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let hub = &state.hub;
    let invalid = |code, message: &str| poll::refused(hub, StatusCode::BAD_REQUEST, code, message);
    let room = match query.get("room").map(|room| RoomName::parse(room)) {
        Some(Ok(room)) => room,
        Some(Err(e)) => return invalid(e.code, &e.message),
        None => return invalid(ErrorCode::InvalidField, "room is required"),
    };
    let Some(before) = query.get("before").and_then(|b| b.parse::<u64>().ok()) else {
        return invalid(ErrorCode::InvalidField, "before must be a message number");
    };
    if !hub.admission.ip_history_allowed(peer.ip(), Instant::now()) {
        let message = format!(
            "history is sent at most {} bytes per second to one address; retry later",
            hub.admission.history_bytes_per_sec()
        );
        return poll::refused(
            hub,
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            &message,
        );
    }
    let (mut messages, mut has_more) = match hub
        .store
        .before(&room, before, HistoryPage::MAX_MESSAGES)
        .await
    {
        Ok(page) => page,
        Err(e) => {
            tracing::warn!("reading older history: {e}");
            return poll::refused(
                hub,
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Internal,
                "the history could not be read; retry later",
            );
        }
    };
    // Bounded in bytes as a join's page is: the newest messages that fit.
    let cap = hub.config.history_page_bytes;
    let mut bytes = 0;
    let keep = messages
        .iter()
        .rev()
        .take_while(|m| {
            bytes += weight(m);
            bytes <= cap
        })
        .count();
    if keep < messages.len() {
        messages.drain(..messages.len() - keep);
        has_more = true;
    }
    let body = json(&HistoryPage { messages, has_more });
    hub.admission
        .ip_history_sent(peer.ip(), body.len(), Instant::now());
    poll::json(StatusCode::OK, body)
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
