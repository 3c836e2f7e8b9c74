//! HTTP long-poll: the route of last resort, for networks where no WebSocket can be opened
//! (a proxy that blocks upgrades, a captive portal). It carries the same frames as the socket
//! and runs them through the same [`Session`], so validation, limits, presence and history are
//! identical; only the carrier differs.
//!
//! - `POST /poll` with an empty body opens a session: `{"session": TOKEN, "frames": [...]}`,
//!   the frames starting with the `challenge` its `hello` must sign. A body is taken as the
//!   session's first frame: an old client's `hello` is told its version is not spoken.
//! - `POST /poll/TOKEN` with any client frame sends it (first `hello`, within the hello
//!   timeout of opening, or the session ends); answers come on the next poll.
//! - `GET /poll/TOKEN?wait_ms=N` returns `{"frames": [...], "closed": null}` as soon as there
//!   are frames, or after at most N ms (capped) with none. `closed` carries a close code once
//!   the relay ended the session (abuse, slow reader, shutdown).
//! - `DELETE /poll/TOKEN` ends the session. A session not polled for a while ends by itself.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use festival_proto::{CloseCode, ErrorCode, ErrorFrame, ServerFrame, encode};
use prometheus_client::metrics::gauge::Gauge;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::admission::IpPoll;
use crate::hub::Hub;
use crate::outbound::{Closer, Outbound, Queue};
use crate::server::AppState;
use crate::session::Session;

/// Longest a poll waits for frames before answering with none.
const MAX_WAIT: Duration = Duration::from_secs(25);
/// Most frames returned by one poll.
const MAX_FRAMES: usize = 256;
/// How often sessions nobody polls any more are ended.
const REAP_EVERY: Duration = Duration::from_secs(5);

/// The open long-poll sessions, by token.
#[derive(Default)]
pub(crate) struct PollSessions {
    sessions: Mutex<HashMap<String, Arc<PollSession>>>,
}

struct PollSession {
    session: tokio::sync::Mutex<Session>,
    queue: tokio::sync::Mutex<Queue>,
    closer: Closer,
    last_seen: Mutex<Instant>,
    /// When it was opened: it must say hello within the hello timeout.
    opened: Instant,
    /// The session's slot in its IP's count of long-poll sessions.
    _slot: IpPoll,
}

#[derive(Deserialize)]
pub(crate) struct PollQuery {
    wait_ms: Option<u64>,
}

impl PollSessions {
    fn get(&self, token: &str) -> Option<Arc<PollSession>> {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.get(token).cloned()
    }

    fn remove(&self, token: &str) -> Option<Arc<PollSession>> {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.remove(token)
    }

    fn len(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl PollSession {
    // The relay reads the clock here, where it handles I/O.
    #[allow(clippy::disallowed_methods)]
    fn touch(&self) {
        *self
            .last_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    /// Opened longer than `timeout` ago and still without a valid hello. A session busy with
    /// a frame right now is given the benefit of the doubt until the next round.
    fn hello_overdue(&self, timeout: Duration) -> bool {
        self.opened.elapsed() > timeout
            && self
                .session
                .try_lock()
                .is_ok_and(|session| !session.said_hello())
    }

    fn idle_for(&self) -> Duration {
        self.last_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
    }

    /// Frames queued for the client: at once if there are some, else after up to `wait`
    /// (counted in `waiting` meanwhile).
    async fn frames(
        &self,
        wait: Duration,
        stop: &CancellationToken,
        waiting: &Gauge,
    ) -> Vec<Utf8Bytes> {
        let mut queue = self.queue.lock().await;
        let mut frames = Vec::new();
        if queue.is_empty() && !wait.is_zero() {
            let _parked = Parked::new(waiting);
            tokio::select! {
                received = tokio::time::timeout(wait, queue.recv()) => {
                    frames.extend(received.ok().flatten());
                }
                () = self.closer.closed() => {}
                () = stop.cancelled() => {}
            }
        }
        while frames.len() < MAX_FRAMES {
            match queue.try_recv() {
                Some(frame) => frames.push(frame),
                None => break,
            }
        }
        frames
    }
}

/// `{"session": …, "frames": [...], "closed": …}`, with frames already encoded once.
fn body(session: Option<&str>, frames: &[Utf8Bytes], closed: Option<CloseCode>) -> String {
    let mut text = String::from("{");
    if let Some(token) = session {
        text.push_str(&format!("\"session\":\"{token}\","));
    }
    text.push_str("\"frames\":[");
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(frame.as_str());
    }
    text.push_str("],\"closed\":");
    match closed {
        Some(code) => text.push_str(&code.code().to_string()),
        None => text.push_str("null"),
    }
    text.push('}');
    text
}

/// A JSON answer with `status`.
pub(crate) fn json(status: StatusCode, text: String) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response()
}

/// An HTTP answer carrying one error frame.
pub(crate) fn refused(hub: &Hub, status: StatusCode, code: ErrorCode, message: &str) -> Response {
    hub.metrics.error(code);
    let frame = ServerFrame::Error(ErrorFrame {
        code,
        message: message.into(),
        id: None,
        room: None,
    });
    json(status, encode(&frame))
}

/// `POST /poll`: opens a session, answered with its `challenge`. A non-empty body is the
/// session's first frame.
// The relay reads the clock here, where it handles I/O.
#[allow(clippy::disallowed_methods)]
pub(crate) async fn open(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    first: String,
) -> Response {
    let hub = &state.hub;
    if state.polls.len() >= hub.config.max_poll_sessions {
        let message = "too many long-poll sessions; retry later or use the WebSocket";
        return refused(
            hub,
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Overloaded,
            message,
        );
    }
    let slot = match hub.admission.poll(peer.ip()) {
        Ok(slot) => slot,
        Err(refusal) => {
            let code = ErrorCode::TooManyConnections;
            return refused(hub, StatusCode::TOO_MANY_REQUESTS, code, &refusal.message());
        }
    };
    let id = state.next_conn.fetch_add(1, Ordering::Relaxed);
    let (out, queue, closer) =
        Outbound::new(hub.config.send_queue_frames, hub.config.send_queue_bytes);
    let mut session = Session::new(Arc::clone(hub), id, out, peer.ip());
    let first = first.trim();
    let close = match first {
        "" => None,
        first => session.text(first).await,
    };
    if !first.is_empty() && (close.is_some() || !session.said_hello()) {
        // A hello cannot be proven before its challenge is known, so a first frame is always
        // refused (an old version's hello with `unsupported_version`): answer with what the
        // session said, and keep nothing.
        let mut queue = queue;
        let mut frames = Vec::new();
        while let Some(frame) = queue.try_recv() {
            frames.push(frame);
        }
        session.leave_all().await;
        return json(StatusCode::BAD_REQUEST, body(None, &frames, close));
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    let poll = Arc::new(PollSession {
        session: tokio::sync::Mutex::new(session),
        queue: tokio::sync::Mutex::new(queue),
        closer,
        last_seen: Mutex::new(Instant::now()),
        opened: Instant::now(),
        _slot: slot,
    });
    let frames = poll
        .frames(Duration::ZERO, &state.stop, &state.hub.metrics.poll_waiting)
        .await;
    state
        .polls
        .sessions
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(token.clone(), poll);
    hub.metrics.poll_sessions.inc();
    json(StatusCode::OK, body(Some(&token), &frames, None))
}

/// `POST /poll/TOKEN`: one client frame.
pub(crate) async fn send(
    State(state): State<AppState>,
    Path(token): Path<String>,
    frame: String,
) -> Response {
    let Some(poll) = state.polls.get(&token) else {
        return unknown(&state.hub);
    };
    poll.touch();
    let close = poll.session.lock().await.text(&frame).await;
    if let Some(code) = close {
        poll.closer.close(code);
    }
    StatusCode::ACCEPTED.into_response()
}

/// `GET /poll/TOKEN?wait_ms=N`: the frames waiting for the client.
pub(crate) async fn receive(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<PollQuery>,
) -> Response {
    let Some(poll) = state.polls.get(&token) else {
        return unknown(&state.hub);
    };
    poll.touch();
    let wait = Duration::from_millis(query.wait_ms.unwrap_or(0)).min(MAX_WAIT);
    let frames = poll
        .frames(wait, &state.stop, &state.hub.metrics.poll_waiting)
        .await;
    if state.stop.is_cancelled() {
        // Like a socket's 1001: the relay is going away, come back to another (or this one
        // restarted) and resume with `since`. The first reason given stays.
        poll.closer.close(CloseCode::GoingAway);
    }
    let closed = poll.closer.reason();
    if closed.is_some() {
        end(&state, &token, CloseCode::Normal).await;
    }
    json(StatusCode::OK, body(None, &frames, closed))
}

/// `DELETE /poll/TOKEN`: the client is done.
pub(crate) async fn close(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    if state.polls.get(&token).is_none() {
        return unknown(&state.hub);
    }
    end(&state, &token, CloseCode::Normal).await;
    StatusCode::NO_CONTENT.into_response()
}

fn unknown(hub: &Hub) -> Response {
    let message = "no such long-poll session (it expired or was closed); open a new one";
    refused(
        hub,
        StatusCode::NOT_FOUND,
        ErrorCode::UnknownSession,
        message,
    )
}

/// A long-poll request waiting for frames, counted while it waits (also when its client goes
/// away and the request is dropped mid-wait).
struct Parked<'a>(&'a Gauge);

impl<'a> Parked<'a> {
    fn new(waiting: &'a Gauge) -> Self {
        waiting.inc();
        Self(waiting)
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Ends a session with `code` (unless it was closed before): it leaves its rooms, as a
/// connection that went away.
async fn end(state: &AppState, token: &str, code: CloseCode) {
    if let Some(poll) = state.polls.remove(token) {
        poll.closer.close(code);
        poll.session.lock().await.leave_all().await;
        state.hub.metrics.poll_sessions.dec();
    }
}

/// Ends sessions nobody polled for `poll_idle_timeout`, until the relay stops; then ends all.
pub(crate) async fn reap(state: AppState) {
    let idle = state.hub.config.poll_idle_timeout;
    let hello_timeout = state.hub.config.hello_timeout;
    let mut tick = tokio::time::interval(
        REAP_EVERY
            .min(idle)
            .min(hello_timeout.max(Duration::from_millis(100))),
    );
    loop {
        let stopping = tokio::select! {
            () = state.stop.cancelled() => true,
            _ = tick.tick() => false,
        };
        let tokens: Vec<String> = {
            let sessions = state
                .polls
                .sessions
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            sessions
                .iter()
                .filter(|(_, poll)| {
                    stopping || poll.idle_for() > idle || poll.hello_overdue(hello_timeout)
                })
                .map(|(token, _)| token.clone())
                .collect()
        };
        for token in tokens {
            let code = if stopping {
                CloseCode::GoingAway
            } else {
                state.hub.metrics.idle_disconnects.inc();
                CloseCode::Normal
            };
            end(&state, &token, code).await;
        }
        if stopping {
            return;
        }
    }
}
