//! The relay route: one WebSocket to the relay, speaking the protocol of [`festival_proto`].

use std::sync::Arc;
use std::time::Duration;

use festival_proto::{
    Challenge, ClientFrame, ErrorCode, Hello, PROTOCOL_VERSION, ServerFrame, Welcome,
    decode_server, encode,
};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::TransportError;
use crate::Route;
use crate::stats::Meter;
use crate::store::Identity;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long connecting and the hello handshake may take before the attempt counts as failed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The sending half of a link, counting what it sends.
pub(crate) struct RelaySink(SplitSink<Socket, Message>, Arc<Meter>);

/// The receiving half of a link, counting what it receives.
pub(crate) struct RelayStream(SplitStream<Socket>, Arc<Meter>);

/// Connects to `url`, takes the relay's challenge, proves `identity` in hello and waits for
/// the welcome. Every frame each way is counted on `meter`.
pub(crate) async fn connect(
    url: &str,
    identity: &Identity,
    meter: &Arc<Meter>,
) -> Result<(RelaySink, RelayStream, Welcome), TransportError> {
    let handshake = async {
        // No Nagle: a chat frame must not wait for the relay's delayed ACK of the last one.
        let (socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .map_err(|e| TransportError::Unreachable {
                url: url.to_owned(),
                source: e.into(),
            })?;
        let (sink, stream) = socket.split();
        let (mut sink, mut stream) = (
            RelaySink(sink, Arc::clone(meter)),
            RelayStream(stream, Arc::clone(meter)),
        );
        let challenge = match stream.next().await? {
            ServerFrame::Challenge(challenge) => challenge,
            other => {
                return Err(TransportError::Protocol(format!(
                    "{other:?} before the relay's challenge (a relay older than protocol \
                     version {PROTOCOL_VERSION}?)"
                )));
            }
        };
        sink.send(&hello(identity, &challenge)).await?;
        match stream.next().await? {
            ServerFrame::Welcome(welcome) => Ok((sink, stream, welcome)),
            ServerFrame::Error(e) => Err(TransportError::Refused {
                what: "hello",
                reason: format!("{}: {}", e.code, e.message),
            }),
            other => Err(TransportError::Protocol(format!(
                "{other:?} in answer to hello"
            ))),
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| TransportError::Timeout {
            url: url.to_owned(),
            after: HANDSHAKE_TIMEOUT,
        })?
}

/// The `hello` that proves `identity` on a connection that sent `challenge`.
pub(crate) fn hello(identity: &Identity, challenge: &Challenge) -> ClientFrame {
    ClientFrame::Hello(Hello {
        v: PROTOCOL_VERSION,
        device: identity.device,
        name: identity.name.clone(),
        key: identity.key.public(),
        proof: identity.key.prove(&challenge.nonce),
    })
}

impl RelaySink {
    /// Sends one frame.
    pub(crate) async fn send(&mut self, frame: &ClientFrame) -> Result<(), TransportError> {
        let text = encode(frame);
        self.1.sent(Route::Relay, text.len());
        self.0.send(Message::text(text)).await.map_err(sending)
    }

    /// Queues one frame without flushing; [`RelaySink::flush`] sends what was queued.
    pub(crate) async fn feed(&mut self, frame: &ClientFrame) -> Result<(), TransportError> {
        let text = encode(frame);
        self.1.sent(Route::Relay, text.len());
        self.0.feed(Message::text(text)).await.map_err(sending)
    }

    /// Sends every queued frame.
    pub(crate) async fn flush(&mut self) -> Result<(), TransportError> {
        self.0.flush().await.map_err(sending)
    }

    /// Closes the link politely.
    pub(crate) async fn close(mut self) {
        let _ = self.0.close().await;
    }
}

impl RelayStream {
    /// The next frame from the relay. Frames of types this build does not know are skipped.
    pub(crate) async fn next(&mut self) -> Result<ServerFrame, TransportError> {
        loop {
            let message = match self.0.next().await {
                None => {
                    return Err(TransportError::Closed {
                        code: None,
                        reason: String::new(),
                    });
                }
                Some(Err(e)) => {
                    return Err(TransportError::Io {
                        context: "connection to the relay lost",
                        source: e.into(),
                    });
                }
                Some(Ok(message)) => message,
            };
            match message {
                Message::Text(text) => {
                    self.1.received(Route::Relay, text.len());
                    match decode_server(&text) {
                        Ok(frame) => return Ok(frame),
                        Err(e) if e.code == ErrorCode::UnknownType => {
                            tracing::debug!("skipping a frame this build does not know: {e}");
                        }
                        Err(e) => {
                            return Err(TransportError::Protocol(format!("an invalid frame: {e}")));
                        }
                    }
                }
                Message::Close(frame) => {
                    return Err(TransportError::Closed {
                        code: frame.as_ref().map(|f| f.code.into()),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    });
                }
                _ => {}
            }
        }
    }
}

fn sending(error: tokio_tungstenite::tungstenite::Error) -> TransportError {
    TransportError::Io {
        context: "sending to the relay",
        source: error.into(),
    }
}
