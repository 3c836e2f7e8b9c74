//! `/healthz` (live: the process answers) and `/healthz/ready` (ready: it can take more
//! clients and store their messages), and the probe that notices a store that works again.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::hub::{Hub, unix_ms};
use crate::server::AppState;
use crate::store::StoreState;

/// How often a failing store is tried again when no client writes.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// What `/healthz` and `/healthz/ready` answer.
#[derive(Debug, Serialize)]
pub(crate) struct Health {
    /// The process serves HTTP (always true when there is an answer at all).
    live: bool,
    /// The relay takes new clients and can store their messages: a load balancer sends
    /// traffic only to ready relays.
    ready: bool,
    /// `ok`, or `failing` when the last write to the store failed.
    store: &'static str,
    /// The store's last error while it is failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    store_error: Option<String>,
    /// TCP connections open now.
    connections: usize,
    /// True when the relay refuses new clients because it is near its open-file limit.
    at_capacity: bool,
}

fn health(state: &AppState) -> Health {
    let (store, store_error) = match state.hub.store.state() {
        StoreState::Ok => ("ok", None),
        StoreState::Failing(e) => ("failing", Some(e)),
    };
    let at_capacity = state.capacity.near_limit();
    Health {
        live: true,
        ready: store_error.is_none() && !at_capacity,
        store,
        store_error,
        connections: state.capacity.open(),
        at_capacity,
    }
}

/// `GET /healthz`: 200 while the process answers, with the store's state in the body.
pub(crate) async fn live(State(state): State<AppState>) -> Json<Health> {
    Json(health(&state))
}

/// `GET /healthz/ready`: 200 when ready, 503 when not (the body says why).
pub(crate) async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let health = health(&state);
    let status = if health.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health))
}

/// While the store is failing, writes a heartbeat every second until one succeeds, so that
/// readiness comes back with the disk even when no client writes. Ends when the relay stops.
pub(crate) async fn probe_store(hub: Arc<Hub>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if matches!(hub.store.state(), StoreState::Failing(_)) {
            // The outcome is recorded in the store's state; the error was logged when it began.
            let _ = hub.store.probe(unix_ms()).await;
        }
    }
}
