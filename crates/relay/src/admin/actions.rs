//! The admin actions: an announcement to one room or every room, clearing a room's history,
//! removing a member from a room for a while. Each is checked like any untrusted input,
//! answered with what it did (the confirmation the page shows), and written to the audit log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use festival_proto::{DeviceId, ErrorCode, Limits, MessageId, RoomName, validate_body};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::oneshot;

use super::Caller;
use super::audit::Entry;
use crate::hub::{Hub, RoomCmd, unix_ms};
use crate::server::AppState;

/// Longest a removal may last: a day; longer is a ban, which this is not.
const MAX_REMOVAL_MINUTES: u64 = 24 * 60;
/// Largest request body an action reads.
pub(super) const MAX_ACTION_BYTES: usize = 8 * 1024;

/// `POST /admin/api/announce`: `{"body": "...", "room": "..."}`; no room means every room.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Announce {
    body: String,
    #[serde(default)]
    room: Option<String>,
}

/// `POST /admin/api/clear`: `{"room": "..."}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Clear {
    room: String,
}

/// `POST /admin/api/remove`: `{"room": "...", "device": "...", "minutes": 30}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Remove {
    room: String,
    device: DeviceId,
    minutes: u64,
}

/// An action refused: its status, and a stable code and a sentence in the body.
#[derive(Debug)]
pub(super) struct Refused {
    status: StatusCode,
    code: ErrorCode,
    message: String,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let body = json!({"code": self.code, "message": self.message});
        (self.status, Json(body)).into_response()
    }
}

fn refused(code: ErrorCode, message: impl Into<String>) -> Refused {
    Refused {
        status: StatusCode::BAD_REQUEST,
        code,
        message: message.into(),
    }
}

fn internal(error: &crate::store::StoreError) -> Refused {
    Refused {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: ErrorCode::Internal,
        message: error.to_string(),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refused> {
    if body.len() > MAX_ACTION_BYTES {
        return Err(refused(
            ErrorCode::FrameTooLarge,
            format!("at most {MAX_ACTION_BYTES} bytes"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| refused(ErrorCode::InvalidField, e.to_string()))
}

fn room(text: &str) -> Result<RoomName, Refused> {
    RoomName::parse(text).map_err(|e| refused(e.code, e.message))
}

/// Announces `body` in every room (or one), each under its own id, and says where it went.
pub(super) async fn announce(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    let request: Announce = match parse(&body) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let body = request.body.trim().to_owned();
    let limits = Limits {
        max_body_bytes: Limits::MAX_ANNOUNCEMENT_BYTES,
        ..Limits::default()
    };
    if let Err(e) = validate_body(&body, &limits) {
        return refused(e.code, e.message).into_response();
    }
    let rooms = match request.room.as_deref().map(room).transpose() {
        Ok(Some(room)) => vec![room],
        Ok(None) => match every_room(&state.hub).await {
            Ok(rooms) => rooms,
            Err(refusal) => return refusal.into_response(),
        },
        Err(refusal) => return refusal.into_response(),
    };
    let mut reached = Vec::new();
    let mut failed = Vec::new();
    for room in rooms {
        let id = MessageId::new();
        let (done, stored) = oneshot::channel();
        let command = RoomCmd::Announce {
            id,
            body: body.clone(),
            done,
        };
        match command_room(&state.hub, &room, command, stored).await {
            Some(Ok(seq)) => reached.push(json!({"room": room, "id": id, "seq": seq})),
            Some(Err(e)) => failed.push(json!({"room": room, "error": e.to_string()})),
            None => failed.push(json!({"room": room, "error": "the room's task ended"})),
        }
    }
    let target = request.room.as_deref().unwrap_or("every room").to_owned();
    record(
        &state,
        &caller,
        "announce",
        target,
        format!(
            "reached {} rooms, failed in {}: {body:?}",
            reached.len(),
            failed.len()
        ),
    );
    Json(json!({"rooms": reached, "failed": failed})).into_response()
}

/// Deletes a room's history.
pub(super) async fn clear(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    let request: Clear = match parse(&body) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let room = match room(&request.room) {
        Ok(room) => room,
        Err(refusal) => return refusal.into_response(),
    };
    match state.hub.store.clear_room(&room).await {
        Ok(deleted) => {
            record(
                &state,
                &caller,
                "clear",
                room.to_string(),
                format!("deleted {deleted} messages"),
            );
            Json(json!({"room": room, "deleted": deleted})).into_response()
        }
        Err(e) => {
            record(
                &state,
                &caller,
                "clear",
                room.to_string(),
                format!("failed: {e}"),
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"code": ErrorCode::Internal, "message": e.to_string()})),
            )
                .into_response()
        }
    }
}

/// Removes a device from a room for `minutes`: its connections there are taken out now, and
/// its joins are refused with `removed` until then.
// The relay reads the clock here, where it handles I/O.
#[allow(clippy::disallowed_methods)]
pub(super) async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    let request: Remove = match parse(&body) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let room = match room(&request.room) {
        Ok(room) => room,
        Err(refusal) => return refusal.into_response(),
    };
    if !(1..=MAX_REMOVAL_MINUTES).contains(&request.minutes) {
        return refused(
            ErrorCode::InvalidField,
            format!("minutes must be from 1 to {MAX_REMOVAL_MINUTES}"),
        )
        .into_response();
    }
    if request.device.is_nil() {
        return refused(ErrorCode::InvalidId, "device id is the nil UUID").into_response();
    }
    let now = Instant::now();
    let until = now + Duration::from_secs(request.minutes * 60);
    state.hub.remove_until(&room, request.device, until, now);
    let (done, removed) = oneshot::channel();
    let command = RoomCmd::Remove {
        device: request.device,
        done,
    };
    let connections = command_room(&state.hub, &room, command, removed)
        .await
        .unwrap_or(0);
    let until_ms = unix_ms().saturating_add(i64::try_from(request.minutes * 60_000).unwrap_or(0));
    record(
        &state,
        &caller,
        "remove",
        format!("{} in {room}", request.device),
        format!(
            "removed for {} min, {connections} connections taken out",
            request.minutes
        ),
    );
    Json(json!({
        "room": room,
        "device": request.device,
        "until": until_ms,
        "connections": connections,
    }))
    .into_response()
}

/// Every room: those with history and those with members now.
async fn every_room(hub: &Hub) -> Result<Vec<RoomName>, Refused> {
    let mut rooms = hub.store.rooms().await.map_err(|e| internal(&e))?;
    rooms.extend(hub.live_rooms());
    rooms.sort();
    rooms.dedup();
    Ok(rooms)
}

/// Sends `command` to `room`'s task (starting it if the room is empty) and waits for its answer.
async fn command_room<T>(
    hub: &Arc<Hub>,
    room: &RoomName,
    command: RoomCmd,
    answer: oneshot::Receiver<T>,
) -> Option<T> {
    let tx = hub.enter_as_admin(room);
    let sent = tx.send(command).await.is_ok();
    hub.exit(room);
    if sent { answer.await.ok() } else { None }
}

fn record(
    state: &AppState,
    caller: &Caller,
    action: &'static str,
    target: String,
    outcome: String,
) {
    state.hub.metrics.admin_actions.inc();
    state.admin.audit.record(Entry {
        at: unix_ms(),
        token: caller.token.clone(),
        ip: caller.addr.ip(),
        action,
        target,
        outcome,
    });
}
