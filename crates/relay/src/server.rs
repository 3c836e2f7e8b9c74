//! Starting and stopping a relay: the HTTP routes (`/ws`, `/poll`, `/rooms`, `/healthz`,
//! `/metrics`, `/admin`), history retention, and a graceful shutdown that finishes every store
//! write.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::http::header::{CONNECTION, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use festival_proto::ErrorCode;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, Admin, TokenError};
use crate::directory::{self, HandedOut};
use crate::health;
use crate::hub::{Hub, unix_ms};
use crate::metrics::Metrics;
use crate::poll::{self, PollSessions};
use crate::store::{Store, StoreError};
use crate::{Config, session};

mod listen;

use self::listen::Admitted;
pub(crate) use self::listen::Capacity;

/// A frame larger than this is not even read: the connection is closed with 1009. Frames
/// between the protocol's limit and this get a `frame_too_large` error instead.
const HARD_FRAME_CAP: usize = 1024 * 1024;
/// Bytes read from a socket at a time, into a buffer every connection keeps: small, because
/// a relay holds tens of thousands of idle connections and clients send short frames (8 KiB
/// cost 17 KiB per idle connection in `festival-bench`, 1 KiB 9.5 KiB).
const READ_BUFFER: usize = 1024;
/// Bytes of frames gathered before a write: a batch of fanned-out frames goes out in a few
/// system calls. Only a connection that is sent to holds it.
const WRITE_BUFFER: usize = 16 * 1024;

/// Why a relay could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The listen address could not be bound (in use, or not ours).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
    /// The history database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP server failed while serving.
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
    /// The admin token could not be read or made.
    #[error(transparent)]
    AdminToken(#[from] TokenError),
}

/// A running relay. Dropping it does not stop it; call [`RelayHandle::shutdown`].
pub struct RelayHandle {
    addr: SocketAddr,
    stop: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    hub: Arc<Hub>,
    /// The admin token, when this start made it (first start, or rotated): shown once.
    new_admin_token: Option<String>,
}

/// What every HTTP handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) hub: Arc<Hub>,
    pub(crate) stop: CancellationToken,
    pub(crate) next_conn: Arc<AtomicU64>,
    pub(crate) polls: Arc<PollSessions>,
    pub(crate) capacity: Arc<Capacity>,
    pub(crate) admin: Arc<Admin>,
    pub(crate) codes: Arc<HandedOut>,
}

impl std::fmt::Debug for RelayHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RelayHandle {
    /// Opens the store, binds the listen address and starts serving in background tasks.
    pub async fn start(config: Config) -> Result<Self, RelayError> {
        let store = Store::open(&config.data).await?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| RelayError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| RelayError::Bind {
            addr: config.listen,
            source,
        })?;
        let capacity = Arc::new(Capacity::new(config.fd_reserve));
        let (admin, made) = Admin::new(
            &config.data_dir(),
            config.rotate_admin_token,
            config.mesh_ring_len(),
        )?;
        let admin = Arc::new(admin);
        let new_admin_token = made.then(|| admin.token.reveal().to_owned());
        let hub = Hub::new(config, store, Metrics::new());
        let stop = CancellationToken::new();
        let state = AppState {
            hub: Arc::clone(&hub),
            stop: stop.clone(),
            next_conn: Arc::new(AtomicU64::new(1)),
            polls: Arc::new(PollSessions::default()),
            capacity: Arc::clone(&capacity),
            admin: Arc::clone(&admin),
            codes: Arc::new(HandedOut::default()),
        };
        let app = Router::new()
            .route("/ws", get(upgrade))
            .route("/poll", post(poll::open))
            .route(
                "/poll/{token}",
                get(poll::receive).post(poll::send).delete(poll::close),
            )
            .route("/rooms", get(directory::public).post(directory::create))
            .route("/rooms/history", get(directory::older))
            .layer(DefaultBodyLimit::max(HARD_FRAME_CAP))
            .layer(axum::middleware::from_fn_with_state(state.clone(), admit))
            .route("/healthz", get(health::live))
            .route("/healthz/ready", get(health::ready))
            .route("/metrics", get(metrics))
            .merge(admin::routes(state.clone()))
            .with_state(state.clone());
        let server = tokio::spawn(listen::serve(
            listener,
            app,
            Arc::clone(&hub),
            capacity,
            stop.clone(),
        ));
        hub.tracker.spawn(retention(Arc::clone(&hub), stop.clone()));
        hub.tracker.spawn(poll::reap(state));
        hub.tracker
            .spawn(health::probe_store(Arc::clone(&hub), stop.clone()));
        hub.tracker.spawn(admin::sample(
            Arc::clone(&hub),
            admin,
            hub.config.mesh_tick,
            hub.config.mesh_sample_every,
            stop.clone(),
        ));
        tracing::info!(%addr, "relay listening");
        Ok(Self {
            addr,
            stop,
            server,
            hub,
            new_admin_token,
        })
    }

    /// The address the relay listens on (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin token, when this start made it (the first start, or `--rotate-admin-token`),
    /// so that the binary shows it once; `None` when it was already in the data folder.
    pub fn new_admin_token(&self) -> Option<&str> {
        self.new_admin_token.as_deref()
    }

    /// The WebSocket URL clients connect to.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Stops accepting, closes every connection with "going away" (1001) after the frames
    /// already queued for it, finishes every store write, and closes the store.
    pub async fn shutdown(self) -> Result<(), RelayError> {
        self.stop.cancel();
        let served = self.server.await;
        self.hub.tracker.close();
        self.hub.tracker.wait().await;
        self.hub.store.close().await;
        match served {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(RelayError::Serve(e)),
            Err(e) => Err(RelayError::Serve(std::io::Error::other(e))),
        }
    }
}

/// Refuses clients the accept loop could not admit (their IP holds too many connections, or
/// the relay is near its open-file limit), cheaply and with a stable code, before any work.
async fn admit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (status, code, message) = match request.extensions().get::<Admitted>() {
        Some(Admitted::Refused(refused)) => (
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyConnections,
            refused.message(),
        ),
        Some(Admitted::Overloaded) => (
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Overloaded,
            "the relay is at its connection capacity; retry later".to_owned(),
        ),
        Some(Admitted::Yes) | None => return next.run(request).await,
    };
    let mut response = poll::refused(&state.hub, status, code, &message);
    // The connection itself is what costs: let it go at once.
    response
        .headers_mut()
        .insert(CONNECTION, axum::http::HeaderValue::from_static("close"));
    response
}

async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    let id = state.next_conn.fetch_add(1, Ordering::Relaxed);
    let hub = Arc::clone(&state.hub);
    let tracked = state.hub.tracker.clone();
    ws.max_message_size(HARD_FRAME_CAP)
        .max_frame_size(HARD_FRAME_CAP)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| {
            tracked.track_future(session::serve(socket, hub, id, peer.ip(), state.stop))
        })
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.hub.metrics.render(),
    )
}

/// Copies the relay database at `data` into a new file `to`, safely while a relay serves from
/// it (everything acked is in the copy, the write-ahead log's part included).
pub async fn backup(data: &std::path::Path, to: &std::path::Path) -> Result<(), StoreError> {
    let store = Store::open(data).await?;
    let copied = store.backup_to(to).await;
    store.close().await;
    copied
}

/// Drops messages older than the configured age, once a minute (or more often for short
/// retention), until the relay stops.
async fn retention(hub: Arc<Hub>, stop: CancellationToken) {
    let max_age = hub.config.history_max_age;
    let every = (max_age / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let age_ms = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
        match hub
            .store
            .prune_older_than(unix_ms().saturating_sub(age_ms))
            .await
        {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "dropped messages past the retention age"),
            Err(e) => tracing::warn!("history retention: {e}"),
        }
    }
}
