//! One WebSocket connection: the `hello` handshake, validation, rate limiting, and passing
//! each frame to the room it is for. A writer task drains the connection's bounded queue.
//!
//! Every frame is untrusted. A refused frame is answered with an error frame and counted; a
//! connection that keeps sending refused frames is closed (1008), one that does not read fast
//! enough is closed (1013), and neither affects anyone else.

mod abuse;
mod keepalive;
mod writer;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use festival_proto::{
    Challenge, ClientFrame, CloseCode, DeviceId, DisplayName, ErrorCode, MessageId, Nonce,
    PROTOCOL_VERSION, PeerId, Pong, ProtoError, PublicKey, RoomName, ServerFrame, TokenBucket,
    Welcome, decode_client,
};
use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use tokio_util::sync::CancellationToken;

use self::abuse::AbuseCounter;
use self::keepalive::Keepalive;
pub(crate) use self::keepalive::MIN_KEEPALIVE;
use crate::admission::DeviceConn;
use crate::hub::{ConnRef, EnterRefused, Hub, RoomCmd, RoomTx, unix_ms};
use crate::outbound::{Closer, Outbound};
use crate::room::ConnId;

/// A refused frame, with the message and room it was about when known.
struct Refusal {
    error: ProtoError,
    id: Option<MessageId>,
    room: Option<RoomName>,
}

impl From<ProtoError> for Refusal {
    fn from(error: ProtoError) -> Self {
        Self {
            id: error.id,
            room: error.room.clone(),
            error,
        }
    }
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtoError::new(code, message).into()
    }

    fn about(mut self, id: Option<MessageId>, room: &RoomName) -> Self {
        self.id = id;
        self.room = Some(room.clone());
        self
    }
}

/// Who is on the other end, once they proved it in hello.
struct Identity {
    device: DeviceId,
    /// The key `device` is derived from, whose signature of this connection's nonce `hello`
    /// carried: every chat of this connection must be signed by it.
    key: PublicKey,
    name: DisplayName,
    /// The device's connection slot, given back when the session ends.
    _slot: DeviceConn,
}

/// Longest a stopping relay waits for a room to settle a connection's last messages.
const SETTLE_ON_STOP: Duration = Duration::from_secs(5);

/// One client's protocol state, whatever carries its frames (a WebSocket, or HTTP long-poll).
pub(crate) struct Session {
    hub: Arc<Hub>,
    id: ConnId,
    ip: IpAddr,
    out: Outbound,
    identity: Option<Identity>,
    /// What `hello` must sign: sent in `challenge` as the connection opens.
    nonce: Nonce,
    bucket: TokenBucket,
    abuse: AbuseCounter,
    rooms: HashMap<RoomName, RoomTx>,
    /// New rooms this connection may still create.
    creations_left: usize,
    /// A WebSocket's liveness, which follows the keepalive its client asks for; `None` on a
    /// long-poll, whose polls are its liveness.
    keepalive: Option<Arc<Keepalive>>,
}

/// Serves one upgraded WebSocket until the client leaves, misbehaves, or the relay stops.
///
/// When the relay stops, the rooms first settle every message the client sent (stored ones
/// are acked), and only then is the socket closed with 1001 after the frames queued for it.
pub(crate) async fn serve(
    socket: WebSocket,
    hub: Arc<Hub>,
    id: ConnId,
    ip: IpAddr,
    stop: CancellationToken,
) {
    hub.metrics.connections.inc();
    let (sink, mut stream) = socket.split();
    let (out, queue, closer) =
        Outbound::new(hub.config.send_queue_frames, hub.config.send_queue_bytes);
    let keepalive = Arc::new(Keepalive::new(
        hub.config.ping_interval,
        hub.config.idle_timeout,
        hub.config.max_keepalive,
        tokio::time::Instant::now(),
    ));
    let writer = tokio::spawn(writer::run(
        sink,
        queue,
        closer.clone(),
        Arc::clone(&keepalive),
    ));
    let mut session = Session::new(Arc::clone(&hub), id, out, ip);
    session.keepalive = Some(Arc::clone(&keepalive));
    session.read(&mut stream, &closer, &stop, &keepalive).await;
    if stop.is_cancelled() && closer.reason().is_none() {
        let settled = tokio::time::timeout(SETTLE_ON_STOP, session.leave_all_settled()).await;
        if settled.is_err() {
            tracing::warn!(
                conn = id,
                "rooms did not settle this connection's messages in time"
            );
        }
        closer.close(CloseCode::GoingAway);
    } else {
        session.leave_all().await;
    }
    match closer.reason() {
        Some(CloseCode::Normal) => {}
        Some(code) => hub.metrics.closed(code),
        None => closer.close(CloseCode::Normal),
    }
    let _ = writer.await;
    hub.metrics.connections.dec();
}

impl Session {
    /// A client that has not said hello yet, answered through `out`, which gets the
    /// connection's `challenge` at once.
    // The relay reads the clock here, where it handles I/O.
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn new(hub: Arc<Hub>, id: ConnId, out: Outbound, ip: IpAddr) -> Self {
        let limits = hub.config.limits;
        let nonce = Nonce::random();
        out.send(&ServerFrame::Challenge(Challenge { nonce }));
        Self {
            id,
            ip,
            out,
            identity: None,
            nonce,
            bucket: TokenBucket::new(limits.rate_per_sec, limits.rate_burst, Instant::now()),
            abuse: AbuseCounter::new(hub.config.abuse_max_errors, hub.config.abuse_window),
            rooms: HashMap::new(),
            creations_left: hub.config.max_room_creations_per_conn,
            keepalive: None,
            hub,
        }
    }

    /// Handles one text frame from the client: validated, rate-limited, dispatched, or
    /// refused with an error frame. `Some(code)` means the connection must now close.
    pub(crate) async fn text(&mut self, text: &str) -> Option<CloseCode> {
        match self.frame(text).await {
            Ok(close) => close,
            Err(refusal) => self.refuse(refusal),
        }
    }

    /// Whether the client said a valid hello.
    pub(crate) fn said_hello(&self) -> bool {
        self.identity.is_some()
    }

    /// Sends the refusal and counts it; `Some` when refusals have become abuse. A frame
    /// dropped as `rate_limited` is not a mistake: the client is told to slow down and is
    /// never closed for it (a flood that is not read closes as a slow reader, 1013).
    // The relay reads the clock here, where it handles I/O.
    #[allow(clippy::disallowed_methods)]
    fn refuse(&mut self, refusal: Refusal) -> Option<CloseCode> {
        let Refusal { error, id, room } = refusal;
        let code = error.code;
        self.hub.refuse(&self.out, code, error.message, id, room);
        if code == ErrorCode::RateLimited {
            return None;
        }
        self.abuse
            .record(Instant::now())
            .then_some(CloseCode::PolicyViolation)
    }

    async fn read(
        &mut self,
        stream: &mut SplitStream<WebSocket>,
        closer: &Closer,
        stop: &CancellationToken,
        keepalive: &Keepalive,
    ) {
        // Before hello nothing resets the clock, not even a pong: a client that answers pings
        // but never says who it is holds a socket for `hello_timeout` and no longer (and
        // cannot ask for a longer keepalive before it said hello).
        let hello_by = tokio::time::Instant::now() + self.hub.config.hello_timeout;
        loop {
            let deadline = if self.said_hello() {
                keepalive.silent_until()
            } else {
                hello_by
            };
            let next = tokio::select! {
                biased;
                () = closer.closed() => return,
                () = stop.cancelled() => return,
                next = tokio::time::timeout_at(deadline, stream.next()) => next,
            };
            keepalive.heard(tokio::time::Instant::now());
            let message = match next {
                Err(_silent) if !self.said_hello() => {
                    self.hub.metrics.idle_disconnects.inc();
                    let message = format!(
                        "no hello within {} s of connecting",
                        self.hub.config.hello_timeout.as_secs_f32()
                    );
                    self.hub
                        .refuse(&self.out, ErrorCode::HelloRequired, message, None, None);
                    return closer.close(CloseCode::PolicyViolation);
                }
                Err(_idle) => {
                    self.hub.metrics.idle_disconnects.inc();
                    return closer.close(CloseCode::Normal);
                }
                Ok(None) => return,
                Ok(Some(Err(e))) => {
                    let e = e.into_inner();
                    tracing::debug!(conn = self.id, "websocket read: {e}");
                    // RFC 6455, 7.4.1: say why, so that a client's author can find the bug.
                    match e.downcast_ref() {
                        Some(tungstenite::Error::Capacity(_)) => closer.close(CloseCode::TooBig),
                        Some(tungstenite::Error::Protocol(_)) => {
                            closer.close(CloseCode::ProtocolError);
                        }
                        Some(tungstenite::Error::Utf8(_)) => {
                            closer.close(CloseCode::InvalidPayload)
                        }
                        _ => {}
                    }
                    return;
                }
                Ok(Some(Ok(message))) => message,
            };
            let close = match message {
                Message::Text(text) => self.text(&text).await,
                Message::Binary(_) => self.refuse(Refusal::new(
                    ErrorCode::Malformed,
                    "binary frames are not part of the protocol; send JSON text frames",
                )),
                Message::Ping(_) | Message::Pong(_) => None,
                Message::Close(_) => return,
            };
            if let Some(code) = close {
                return closer.close(code);
            }
        }
    }

    /// Handles one text frame. `Ok(Some(code))` asks for the connection to close.
    // The relay reads the clock here, where it handles I/O.
    #[allow(clippy::disallowed_methods)]
    async fn frame(&mut self, text: &str) -> Result<Option<CloseCode>, Refusal> {
        let now = Instant::now();
        let admission = &self.hub.admission;
        if !admission.ip_frame(self.ip, now) {
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                format!(
                    "this address sends more than {} frames per second (bursts of {}), all its \
                     connections together; this frame was dropped",
                    self.hub.config.ip_rate_per_sec, self.hub.config.ip_rate_burst
                ),
            ));
        }
        let device_ok = self
            .identity
            .as_ref()
            .is_none_or(|i| admission.device_frame(i.device, now));
        if !self.bucket.try_take(now) || !device_ok {
            let limits = self.hub.config.limits;
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                format!(
                    "more than {} frames per second (bursts of {}) from this device, all its \
                     connections together; this frame was dropped",
                    limits.rate_per_sec, limits.rate_burst
                ),
            ));
        }
        let frame = match decode_client(text, &self.hub.config.limits) {
            Ok(frame) => frame,
            Err(error) if error.code == ErrorCode::UnsupportedVersion => {
                self.hub
                    .refuse(&self.out, error.code, error.message, None, None);
                return Ok(Some(CloseCode::ProtocolError));
            }
            Err(error) => return Err(error.into()),
        };
        match (&self.identity, frame) {
            (None, ClientFrame::Hello(hello)) => {
                if !hello
                    .key
                    .verify_hello(hello.device, &self.nonce, &hello.proof)
                {
                    let message = format!(
                        "hello does not prove device {}: it must be derived from \"key\" and \
                         \"proof\" must be that key's signature of this connection's challenge",
                        hello.device
                    );
                    let code = ErrorCode::InvalidSignature;
                    self.hub.refuse(&self.out, code, message, None, None);
                    return Ok(Some(CloseCode::PolicyViolation));
                }
                let slot = match self.hub.admission.device(hello.device) {
                    Ok(slot) => slot,
                    Err(refused) => {
                        let code = ErrorCode::TooManyConnections;
                        self.hub
                            .refuse(&self.out, code, refused.message(), None, None);
                        return Ok(Some(CloseCode::PolicyViolation));
                    }
                };
                self.out.send(&ServerFrame::Welcome(Welcome {
                    v: PROTOCOL_VERSION,
                    peer_id: PeerId(self.id),
                    device: hello.device,
                    name: hello.name.clone(),
                    server_time: unix_ms(),
                    limits: self.hub.config.limits,
                    ice_servers: self.hub.config.ice_servers.clone(),
                }));
                self.identity = Some(Identity {
                    device: hello.device,
                    key: hello.key,
                    name: hello.name,
                    _slot: slot,
                });
                self.update_mesh();
            }
            (None, _) => {
                return Err(Refusal::new(
                    ErrorCode::HelloRequired,
                    "send hello before anything else",
                ));
            }
            (Some(_), ClientFrame::Hello(_)) => {
                return Err(Refusal::new(
                    ErrorCode::DuplicateHello,
                    "this connection already said hello",
                ));
            }
            (Some(_), frame) => self.dispatch(frame).await?,
        }
        Ok(None)
    }

    /// Handles a frame from a client that said hello.
    // The relay reads the clock here, where it handles I/O.
    #[allow(clippy::disallowed_methods)]
    async fn dispatch(&mut self, frame: ClientFrame) -> Result<(), Refusal> {
        let Some(Identity {
            device, key, name, ..
        }) = &self.identity
        else {
            return Ok(());
        };
        let (device, key) = (*device, *key);
        match frame {
            ClientFrame::Hello(_) => {}
            ClientFrame::Join(join) => {
                let tx = match self.rooms.get(&join.room) {
                    Some(tx) => tx.clone(),
                    None if self.rooms.len() >= self.hub.config.limits.max_rooms => {
                        let message = format!(
                            "a connection may be in at most {} rooms; leave one first",
                            self.hub.config.limits.max_rooms
                        );
                        return Err(
                            Refusal::new(ErrorCode::TooManyRooms, message).about(None, &join.room)
                        );
                    }
                    None => {
                        let tx = self
                            .hub
                            .enter(&join.room, self.ip, &mut self.creations_left)
                            .map_err(|refused| entry_refused(refused, &join.room))?;
                        self.rooms.insert(join.room.clone(), tx.clone());
                        self.update_mesh();
                        tx
                    }
                };
                if !self
                    .hub
                    .admission
                    .history_allowed(device, self.ip, Instant::now())
                {
                    let message = format!(
                        "this device (or its address) was sent more history than {} KiB/s \
                         allows; join again in a moment",
                        self.hub.admission.history_bytes_per_sec() / 1024
                    );
                    return Err(
                        Refusal::new(ErrorCode::RateLimited, message).about(None, &join.room)
                    );
                }
                let conn = ConnRef {
                    id: self.id,
                    ip: self.ip,
                    device,
                    key,
                    name: name.clone(),
                    out: self.out.clone(),
                };
                let (served, answered) = tokio::sync::oneshot::channel();
                let _ = tx
                    .send(RoomCmd::Join {
                        conn,
                        since: join.since,
                        served,
                    })
                    .await;
                // One join at a time per connection: a client that asks for history over and
                // over waits for each answer (and pays for it) instead of queueing work ahead
                // of everyone's chats in the room.
                let _ = answered.await;
            }
            ClientFrame::Leave(leave) => {
                let Some(tx) = self.rooms.remove(&leave.room) else {
                    return Err(not_joined(&leave.room, None));
                };
                let _ = tx
                    .send(RoomCmd::Leave {
                        conn: self.id,
                        device,
                        reply: true,
                        settled: None,
                    })
                    .await;
                self.hub.exit(&leave.room);
                self.update_mesh();
            }
            ClientFrame::Chat(chat) => {
                let Some(tx) = self.rooms.get(&chat.room) else {
                    return Err(not_joined(&chat.room, Some(chat.id)));
                };
                // Checked here, on the connection's own task, so that a room's task never
                // spends its time on a forger's signatures.
                if !key.verify_chat(&chat.signed(), &chat.sig) {
                    let message = format!(
                        "the chat is not signed by this device's key over (room, id, body, \
                         sent_at, prev); it was not stored ({})",
                        device
                    );
                    return Err(Refusal::new(ErrorCode::InvalidSignature, message)
                        .about(Some(chat.id), &chat.room));
                }
                // An id is its maker's: a stranger who saw it early (over a direct link)
                // cannot store their own text under it before its owner does.
                if !chat.id.belongs_to(device) {
                    let message = format!(
                        "message id {} was not made by this device ({device}): its last six \
                         bytes must hash the sender's device id (docs/protocol.md, \"Message \
                         ids\"); it was not stored",
                        chat.id
                    );
                    return Err(Refusal::new(ErrorCode::InvalidId, message)
                        .about(Some(chat.id), &chat.room));
                }
                self.hub.metrics.messages_relayed.inc();
                let _ = tx
                    .send(RoomCmd::Chat {
                        conn: self.id,
                        device,
                        key,
                        chat,
                    })
                    .await;
            }
            ClientFrame::Signal(signal) => {
                let Some(tx) = self.rooms.get(&signal.room) else {
                    return Err(not_joined(&signal.room, None));
                };
                let _ = tx
                    .send(RoomCmd::Signal {
                        conn: self.id,
                        from: device,
                        to: signal.to,
                        payload: signal.payload,
                    })
                    .await;
            }
            ClientFrame::Ping(ping) => {
                let keepalive_s = self
                    .keepalive
                    .as_ref()
                    .zip(ping.keepalive_s)
                    .map(|(keepalive, asked)| keepalive.grant(asked));
                self.out.send(&ServerFrame::Pong(Pong {
                    nonce: ping.nonce,
                    server_time: unix_ms(),
                    keepalive_s,
                }));
            }
            ClientFrame::Report(report) => {
                self.hub.metrics.mesh_reports.inc();
                self.hub
                    .mesh
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .report(device, report);
            }
        }
        Ok(())
    }

    /// Tells the mesh which rooms this connection is in now.
    fn update_mesh(&self) {
        let Some(identity) = &self.identity else {
            return;
        };
        let rooms = self.rooms.keys().cloned().collect();
        self.hub
            .mesh
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .connection(self.id, identity.device, &identity.name, rooms);
    }

    /// Leaves every room, as a connection that is gone.
    pub(crate) async fn leave_all(&mut self) {
        let Some(device) = self.identity.as_ref().map(|i| i.device) else {
            return;
        };
        for (room, tx) in self.rooms.drain() {
            let _ = tx
                .send(RoomCmd::Leave {
                    conn: self.id,
                    device,
                    reply: false,
                    settled: None,
                })
                .await;
            self.hub.exit(&room);
        }
    }

    /// Leaves every room and waits until each has settled (stored and acked, or refused)
    /// every message this connection sent it before.
    async fn leave_all_settled(&mut self) {
        let Some(device) = self.identity.as_ref().map(|i| i.device) else {
            return;
        };
        let mut settled = Vec::new();
        for (room, tx) in self.rooms.drain() {
            let (done, wait) = tokio::sync::oneshot::channel();
            let _ = tx
                .send(RoomCmd::Leave {
                    conn: self.id,
                    device,
                    reply: false,
                    settled: Some(done),
                })
                .await;
            self.hub.exit(&room);
            settled.push(wait);
        }
        for wait in settled {
            let _ = wait.await;
        }
    }
}

impl Drop for Session {
    /// The mesh forgets the connection (and the device, with its report, after its last).
    fn drop(&mut self) {
        self.hub
            .mesh
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .gone(self.id);
    }
}

fn entry_refused(refused: EnterRefused, room: &RoomName) -> Refusal {
    let (code, message) = match refused {
        EnterRefused::RoomFull(max) => (
            ErrorCode::RoomFull,
            format!(
                "{:?} holds {max} members, the most one room may hold",
                room.as_str()
            ),
        ),
        EnterRefused::TooManyRooms(max) => (
            ErrorCode::RoomLimit,
            format!("the relay holds {max} rooms, its most; join a room that exists"),
        ),
        EnterRefused::CreatingTooFast => (
            ErrorCode::RoomLimit,
            "this address creates rooms too fast; join a room that exists or wait".to_owned(),
        ),
        EnterRefused::ConnectionCreatedEnough(max) => (
            ErrorCode::RoomLimit,
            format!("this connection created {max} rooms, the most one may; join one that exists"),
        ),
    };
    Refusal::new(code, message).about(None, room)
}

fn not_joined(room: &RoomName, id: Option<MessageId>) -> Refusal {
    Refusal::new(
        ErrorCode::NotJoined,
        format!("join {:?} before sending to it", room.as_str()),
    )
    .about(id, room)
}
