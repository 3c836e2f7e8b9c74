//! One WebSocket connection: the `hello` handshake, validation, rate limiting, and passing
//! each frame to the room it is for. A writer task drains the connection's bounded queue.
//!
//! Every frame is untrusted. A refused frame is answered with an error frame and counted; a
//! connection that keeps sending refused frames is closed (1008), one that does not read fast
//! enough is closed (1013), and neither affects anyone else.

mod abuse;
mod writer;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket};
use festival_proto::{
    ClientFrame, CloseCode, DeviceId, DisplayName, ErrorCode, MessageId, PROTOCOL_VERSION, PeerId,
    Pong, ProtoError, RoomName, ServerFrame, TokenBucket, Welcome, decode_client,
};
use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use tokio_util::sync::CancellationToken;

use self::abuse::AbuseCounter;
use crate::hub::{ConnRef, Hub, RoomCmd, RoomTx, unix_ms};
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

/// Who is on the other end, once they said hello.
struct Identity {
    device: DeviceId,
    name: DisplayName,
}

/// One client's protocol state, whatever carries its frames (a WebSocket, or HTTP long-poll).
pub(crate) struct Session {
    hub: Arc<Hub>,
    id: ConnId,
    out: Outbound,
    identity: Option<Identity>,
    bucket: TokenBucket,
    abuse: AbuseCounter,
    rooms: HashMap<RoomName, RoomTx>,
}

/// Serves one upgraded WebSocket until the client leaves, misbehaves, or the relay stops.
pub(crate) async fn serve(socket: WebSocket, hub: Arc<Hub>, id: ConnId, stop: CancellationToken) {
    hub.metrics.connections.inc();
    let (sink, mut stream) = socket.split();
    let (out, queue, closer) = Outbound::new(hub.config.send_queue_frames);
    let writer = tokio::spawn(writer::run(
        sink,
        queue,
        closer.clone(),
        stop.clone(),
        hub.config.ping_interval,
    ));
    let mut session = Session::new(Arc::clone(&hub), id, out);
    session.read(&mut stream, &closer, &stop).await;
    session.leave_all().await;
    match closer.reason() {
        Some(CloseCode::Normal) => {}
        Some(code) => hub.metrics.closed(code),
        None => closer.close(CloseCode::Normal),
    }
    let _ = writer.await;
    hub.metrics.connections.dec();
}

impl Session {
    /// A client that has not said hello yet, answered through `out`.
    pub(crate) fn new(hub: Arc<Hub>, id: ConnId, out: Outbound) -> Self {
        let limits = hub.config.limits;
        Self {
            id,
            out,
            identity: None,
            bucket: TokenBucket::new(limits.rate_per_sec, limits.rate_burst, Instant::now()),
            abuse: AbuseCounter::new(hub.config.abuse_max_errors, hub.config.abuse_window),
            rooms: HashMap::new(),
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

    /// Sends the refusal and counts it; `Some` when refusals have become abuse.
    fn refuse(&mut self, refusal: Refusal) -> Option<CloseCode> {
        let Refusal { error, id, room } = refusal;
        self.hub
            .refuse(&self.out, error.code, error.message, id, room);
        self.abuse
            .record(Instant::now())
            .then_some(CloseCode::PolicyViolation)
    }

    async fn read(
        &mut self,
        stream: &mut SplitStream<WebSocket>,
        closer: &Closer,
        stop: &CancellationToken,
    ) {
        let idle = self.hub.config.idle_timeout;
        loop {
            let next = tokio::select! {
                biased;
                () = closer.closed() => return,
                () = stop.cancelled() => return closer.close(CloseCode::GoingAway),
                next = tokio::time::timeout(idle, stream.next()) => next,
            };
            let message = match next {
                Err(_idle) => {
                    self.hub.metrics.idle_disconnects.inc();
                    return closer.close(CloseCode::Normal);
                }
                Ok(None) => return,
                Ok(Some(Err(e))) => {
                    let e = e.into_inner();
                    tracing::debug!(conn = self.id, "websocket read: {e}");
                    if let Some(tungstenite::Error::Capacity(_)) = e.downcast_ref() {
                        closer.close(CloseCode::TooBig);
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
    async fn frame(&mut self, text: &str) -> Result<Option<CloseCode>, Refusal> {
        if !self.bucket.try_take(Instant::now()) {
            let limits = self.hub.config.limits;
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                format!(
                    "more than {} frames per second (bursts of {}); this frame was dropped",
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
                    name: hello.name,
                });
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
    async fn dispatch(&mut self, frame: ClientFrame) -> Result<(), Refusal> {
        let Some(Identity { device, name }) = &self.identity else {
            return Ok(());
        };
        let device = *device;
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
                        let tx = self.hub.enter(&join.room);
                        self.rooms.insert(join.room.clone(), tx.clone());
                        tx
                    }
                };
                let conn = ConnRef {
                    id: self.id,
                    device,
                    name: name.clone(),
                    out: self.out.clone(),
                };
                let _ = tx
                    .send(RoomCmd::Join {
                        conn,
                        since: join.since,
                    })
                    .await;
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
                    })
                    .await;
                self.hub.exit(&leave.room);
            }
            ClientFrame::Chat(chat) => {
                let Some(tx) = self.rooms.get(&chat.room) else {
                    return Err(not_joined(&chat.room, Some(chat.id)));
                };
                self.hub.metrics.messages_relayed.inc();
                let _ = tx
                    .send(RoomCmd::Chat {
                        conn: self.id,
                        device,
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
                self.out.send(&ServerFrame::Pong(Pong {
                    nonce: ping.nonce,
                    server_time: unix_ms(),
                }));
            }
        }
        Ok(())
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
                })
                .await;
            self.hub.exit(&room);
        }
    }
}

fn not_joined(room: &RoomName, id: Option<MessageId>) -> Refusal {
    Refusal::new(
        ErrorCode::NotJoined,
        format!("join {:?} before sending to it", room.as_str()),
    )
    .about(id, room)
}
