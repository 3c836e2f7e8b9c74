//! Accepting TCP connections, before any HTTP: each holds a slot of its IP address (refused
//! beyond `max_conns_per_ip`), the request head must arrive within `head_timeout` (a client
//! that sends nothing, or one byte a second, is dropped), and near the process's open-file
//! limit new clients are refused with `overloaded` while `/healthz` keeps answering.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use crate::admission::{IpConn, Refused};
use crate::hub::Hub;

/// How long accepting pauses after the system refused (out of file descriptors): the
/// connections that end meanwhile give some back.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What the accept loop learned about a connection, for the HTTP handlers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Admitted {
    /// Served normally.
    Yes,
    /// Its IP holds too many connections: every request but `/healthz` gets 429.
    Refused(Refused),
    /// The relay is near its open-file limit: every request but `/healthz` gets 503.
    Overloaded,
}

/// Open file descriptors against the process's limit.
#[derive(Debug)]
pub(crate) struct Capacity {
    open: AtomicUsize,
    /// Connections past which new clients are refused.
    max_open: usize,
}

impl Capacity {
    /// Room for the connections the open-file limit allows, less the files open now (the
    /// database, the listener) and `reserve`.
    pub(crate) fn new(reserve: usize) -> Self {
        let limit = open_file_limit().unwrap_or(1024);
        let open_now = std::fs::read_dir("/proc/self/fd").map_or(16, Iterator::count);
        // A long-poll or upgraded connection may hold one more descriptor for a moment (the
        // store's files are counted in open_now), so keep the reserve whole.
        let max_open = limit.saturating_sub(open_now + reserve);
        tracing::info!(
            limit,
            open_now,
            max_open,
            "open-file budget for connections"
        );
        Self {
            open: AtomicUsize::new(0),
            max_open,
        }
    }

    /// Whether new clients should be refused.
    pub(crate) fn near_limit(&self) -> bool {
        self.open.load(Ordering::Acquire) >= self.max_open
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// The soft `RLIMIT_NOFILE` as Linux reports it.
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// A TCP stream that holds its IP's slot and its share of the file budget for as long as it
/// lives, through an upgrade to a WebSocket too.
struct Counted {
    tcp: TcpStream,
    _slot: Option<IpConn>,
    capacity: Arc<Capacity>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.capacity.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

/// Accepts and serves connections until `stop`, then lets the HTTP requests in flight finish
/// (upgraded WebSockets are the hub's to close).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    hub: Arc<Hub>,
    capacity: Arc<Capacity>,
    stop: CancellationToken,
) -> io::Result<()> {
    let connections = TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors (EMFILE), or the peer left before we took it: wait
                    // for some to be given back rather than spin.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        if let Err(e) = tcp.set_nodelay(true) {
            // Chat frames are small and answered at once (ack, then the fanned-out copy):
            // with Nagle's algorithm the second write waits for the client's delayed ACK.
            tracing::debug!("TCP_NODELAY: {e}");
        }
        let overloaded = capacity.near_limit();
        capacity.open.fetch_add(1, Ordering::AcqRel);
        let (slot, admitted) = match hub.admission.connect(peer.ip()) {
            Ok(slot) if overloaded => (Some(slot), Admitted::Overloaded),
            Ok(slot) => (Some(slot), Admitted::Yes),
            Err(refused) => (None, Admitted::Refused(refused)),
        };
        let io = Counted {
            tcp,
            _slot: slot,
            capacity: Arc::clone(&capacity),
        };
        connections.spawn(connection(
            io,
            peer,
            admitted,
            app.clone(),
            hub.config.head_timeout,
            stop.clone(),
        ));
    }
    connections.close();
    connections.wait().await;
    Ok(())
}

async fn connection(
    io: Counted,
    peer: SocketAddr,
    admitted: Admitted,
    app: Router,
    head_timeout: Duration,
    stop: CancellationToken,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(admitted);
        let mut app = app.clone();
        async move { app.call(request).await }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(head_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        served = conn.as_mut() => {
            if let Err(e) = served {
                tracing::debug!(%peer, "HTTP connection: {e}");
            }
        }
        () = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
