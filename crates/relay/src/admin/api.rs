//! The dashboard's data, behind the token: the live view, one room, the history ring, the
//! activity feed, and the live view again as server-sent events.

use std::convert::Infallible;
use std::sync::PoisonError;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use festival_proto::RoomName;
use futures_util::Stream;
use serde_json::json;

use crate::server::AppState;

/// `GET /admin/api/mesh`: the mesh and the relay now.
pub(super) async fn mesh(State(state): State<AppState>) -> Response {
    let live = state.admin.live.borrow().clone();
    Json(&*live).into_response()
}

/// `GET /admin/api/rooms/{room}`: one room's figures and topology; 404 when nobody is in it.
pub(super) async fn room(State(state): State<AppState>, Path(room): Path<String>) -> Response {
    let Ok(room) = RoomName::parse(&room) else {
        return (StatusCode::BAD_REQUEST, "not a room name").into_response();
    };
    let found = state
        .hub
        .mesh
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .room(&room);
    match found {
        Some((figures, graph)) => {
            Json(json!({"room": room, "figures": figures, "graph": graph})).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /admin/api/history`: the ring's samples, oldest first.
pub(super) async fn history(State(state): State<AppState>) -> Response {
    let samples = state
        .admin
        .ring
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .samples();
    Json(samples).into_response()
}

/// `GET /admin/api/audit`: the latest admin actions, newest first.
pub(super) async fn audit(State(state): State<AppState>) -> Response {
    Json(state.admin.audit.recent()).into_response()
}

/// `GET /admin/api/events`: the live view now and after every change, as `live` events.
pub(super) async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let updates = state.admin.live.subscribe();
    let stop = state.stop.clone();
    let stream = futures_util::stream::unfold(
        (updates, stop, true),
        |(mut updates, stop, first)| async move {
            if !first {
                tokio::select! {
                    () = stop.cancelled() => return None,
                    changed = updates.changed() => changed.ok()?,
                }
            }
            let live = updates.borrow_and_update().clone();
            let event = Event::default().event("live").json_data(&*live).ok()?;
            Some((Ok(event), (updates, stop, false)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}
