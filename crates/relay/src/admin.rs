//! The organisers' side of the relay: the mesh dashboard at `/admin`, its JSON at
//! `/admin/api/...`, live updates over server-sent events, and the admin actions
//! (announcements, clearing a room, removing a member for a while).
//!
//! The page itself (`/admin`, its script and style) holds no data and is served to anyone; it
//! asks for the token. Everything under `/admin/api/` needs `Authorization: Bearer <token>`:
//! a missing or wrong token gets a bare 401, compared in constant time. Every action is
//! written to the audit log with the token's id and the caller's address.

mod actions;
mod api;
mod audit;
mod page;
mod token;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub(crate) use self::audit::Audit;
pub(crate) use self::token::AdminToken;
pub use self::token::TokenError;
use crate::hub::{Hub, unix_ms};
use crate::mesh::Snapshot;
use crate::mesh::ring::{Ring, Sample};
use crate::server::AppState;

/// What the admin routes share.
#[derive(Debug)]
pub(crate) struct Admin {
    pub(crate) token: AdminToken,
    pub(crate) audit: Audit,
    /// The dashboard's latest view, replaced every tick.
    pub(crate) live: watch::Sender<Arc<Live>>,
    /// The mesh over the last hours.
    pub(crate) ring: Mutex<Ring>,
}

/// The relay's own counters, beside the mesh.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct RelayCounters {
    /// Open WebSocket connections.
    pub(crate) connections: i64,
    /// Open long-poll sessions.
    pub(crate) poll_sessions: i64,
    /// Rooms with members.
    pub(crate) rooms: i64,
    /// Room members, summed over rooms.
    pub(crate) members: i64,
    /// Messages stored since the relay started.
    pub(crate) messages_stored: u64,
    /// Chat frames fanned out since the relay started.
    pub(crate) messages_delivered: u64,
    /// `sequenced` notices sent instead of a chat frame.
    pub(crate) messages_sequenced: u64,
    /// Mesh reports received since the relay started.
    pub(crate) mesh_reports: u64,
}

/// What the dashboard shows at one moment: the mesh and the relay.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Live {
    /// The mesh.
    #[serde(flatten)]
    pub(crate) mesh: Snapshot,
    /// The relay's own counters.
    pub(crate) relay: RelayCounters,
}

impl Admin {
    /// Loads (or makes) the token in `dir`; the bool says it was just made, to show it once.
    pub(crate) fn new(
        dir: &std::path::Path,
        rotate: bool,
        ring_len: usize,
    ) -> Result<(Self, bool), TokenError> {
        let (token, made) = AdminToken::load_or_create(dir, rotate)?;
        let admin = Self {
            token,
            audit: Audit::new(dir),
            live: watch::Sender::new(Arc::new(Live::default())),
            ring: Mutex::new(Ring::new(ring_len)),
        };
        Ok((admin, made))
    }
}

/// The admin routes: the page, and the API behind the token.
pub(crate) fn routes(state: AppState) -> Router<AppState> {
    let api = Router::new()
        .route("/mesh", get(api::mesh))
        .route("/rooms/{room}", get(api::room))
        .route("/history", get(api::history))
        .route("/audit", get(api::audit))
        .route("/events", get(api::events))
        .route("/announce", post(actions::announce))
        .route("/clear", post(actions::clear))
        .route("/remove", post(actions::remove))
        .layer(axum::middleware::from_fn_with_state(state, authorise));
    Router::new()
        .route("/admin", get(page::index))
        .route("/admin/", get(page::index))
        .route("/admin/admin.js", get(page::script))
        .route("/admin/admin.css", get(page::style))
        .nest("/admin/api", api)
}

/// Who made an admin request: the token's id and the caller's address.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) token: String,
    pub(crate) addr: SocketAddr,
}

/// Lets through requests that carry the token; anything else gets 401 and nothing else.
async fn authorise(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let offered = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let admin = &state.admin;
    match offered {
        Some(offered) if admin.token.matches(offered.trim()) => {
            request.extensions_mut().insert(Caller {
                token: admin.token.id().to_owned(),
                addr,
            });
            next.run(request).await
        }
        _ => {
            state.hub.metrics.admin_refused.inc();
            tracing::debug!(%addr, "admin API refused: missing or wrong token");
            StatusCode::UNAUTHORIZED.into_response()
        }
    }
}

/// Every `tick`, computes the dashboard's view and the Prometheus gauges; every
/// `sample_every`, adds a sample to the ring. Until the relay stops.
pub(crate) async fn sample(
    hub: Arc<Hub>,
    admin: Arc<Admin>,
    tick: Duration,
    sample_every: Duration,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sample: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let snapshot = hub
            .mesh
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .snapshot(unix_ms());
        hub.metrics.mesh(&snapshot.overall);
        let m = &hub.metrics;
        let relay = RelayCounters {
            connections: m.connections.get(),
            poll_sessions: m.poll_sessions.get(),
            rooms: m.rooms.get(),
            members: m.members.get(),
            messages_stored: m.messages_stored.get(),
            messages_delivered: m.messages_delivered.get(),
            messages_sequenced: m.messages_sequenced.get(),
            mesh_reports: m.mesh_reports.get(),
        };
        let now = tokio::time::Instant::now();
        if last_sample.is_none_or(|at| now - at >= sample_every) {
            last_sample = Some(now);
            let sample = Sample::of(&snapshot, relay.connections, relay.messages_stored);
            admin
                .ring
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(sample);
        }
        admin.live.send_replace(Arc::new(Live {
            mesh: snapshot,
            relay,
        }));
    }
}
