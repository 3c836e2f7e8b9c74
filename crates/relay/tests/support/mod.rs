//! Fixtures for the relay's scenario tests: a real relay on 127.0.0.1 with a real SQLite file,
//! and real WebSocket clients that speak the protocol. Every wait has a timeout.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::Duration;

use festival_proto::{
    ChatSend, ClientFrame, DeviceId, DisplayName, ErrorCode, ErrorFrame, Hello, Join, Joined,
    MessageId, PROTOCOL_VERSION, RoomName, ServerFrame, Welcome, decode_server, encode,
};
use festival_relay::{Config, RelayHandle};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single expected event may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A relay started for one test, with its own database file.
pub struct TestRelay {
    pub handle: Option<RelayHandle>,
    pub config: Config,
    _dir: tempfile::TempDir,
}

/// A relay with generous rate limits, so tests that send a lot are not throttled.
pub async fn spawn_relay() -> TestRelay {
    spawn_relay_with(|_| {}).await
}

/// A relay whose configuration `adjust` changes first.
pub async fn spawn_relay_with(adjust: impl FnOnce(&mut Config)) -> TestRelay {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().join("relay.db"));
    config.limits.rate_per_sec = 10_000;
    config.limits.rate_burst = 10_000;
    adjust(&mut config);
    let handle = RelayHandle::start(config.clone())
        .await
        .expect("relay starts");
    config.listen = handle.local_addr();
    TestRelay {
        handle: Some(handle),
        config,
        _dir: dir,
    }
}

impl TestRelay {
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.config.listen)
    }

    /// Stops the relay gracefully and starts it again on the same address and database.
    pub async fn restart(&mut self) {
        self.stop().await;
        let handle = RelayHandle::start(self.config.clone())
            .await
            .expect("relay restarts");
        self.handle = Some(handle);
    }

    pub async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await.expect("clean shutdown");
        }
    }
}

/// One WebSocket connection speaking the protocol.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub device: DeviceId,
}

/// How a connection ended, as the client saw it.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Closed(u16),
    Dropped,
}

impl Client {
    /// A connection that has not said hello.
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        Client {
            ws,
            device: DeviceId::random(),
        }
    }

    /// A connection that said hello as a new device called `name`.
    pub async fn hello(url: &str, name: &str) -> (Client, Welcome) {
        Self::hello_as(url, DeviceId::random(), name).await
    }

    /// A connection that said hello as `device`.
    pub async fn hello_as(url: &str, device: DeviceId, name: &str) -> (Client, Welcome) {
        let mut client = Self::connect(url).await;
        client.device = device;
        client
            .send(&ClientFrame::Hello(Hello {
                v: PROTOCOL_VERSION,
                device,
                name: DisplayName::parse(name).unwrap(),
            }))
            .await;
        match client.next().await {
            ServerFrame::Welcome(welcome) => (client, welcome),
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_text(&encode(frame)).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::binary(bytes)).await.expect("send");
    }

    /// The next protocol frame; fails the test on timeout or close.
    pub async fn next(&mut self) -> ServerFrame {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time")
                .expect("connection open")
                .expect("read");
            match message {
                Message::Text(text) => return decode_server(&text).expect("valid frame"),
                Message::Close(frame) => panic!("closed while waiting for a frame: {frame:?}"),
                _ => {}
            }
        }
    }

    /// The next frame for which `want` returns something, skipping others.
    pub async fn next_matching<T>(&mut self, mut want: impl FnMut(ServerFrame) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.next())
                .await
                .expect("the expected frame in time");
            if let Some(found) = want(frame) {
                return found;
            }
        }
    }

    /// Reads until the connection ends, returning the close code, and how many frames of
    /// type chat arrived first.
    pub async fn until_closed(&mut self) -> (Ended, usize) {
        let mut chats = 0;
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("the connection to end in time");
            match message {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (Ended::Closed(frame.code.into()), chats);
                }
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => {
                    return (Ended::Dropped, chats);
                }
                Some(Ok(Message::Text(text))) => {
                    if matches!(decode_server(&text), Ok(ServerFrame::Chat(_))) {
                        chats += 1;
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    }

    pub async fn join(&mut self, room: &str) -> Joined {
        self.join_since(room, None).await
    }

    pub async fn join_since(&mut self, room: &str, since: Option<u64>) -> Joined {
        let room = RoomName::parse(room).unwrap();
        self.send(&ClientFrame::Join(Join {
            room: room.clone(),
            since,
        }))
        .await;
        self.next_matching(|f| match f {
            ServerFrame::Joined(j) if j.room == room => Some(j),
            _ => None,
        })
        .await
    }

    /// Sends a chat and waits for its ack; returns the id and the seq.
    pub async fn chat(&mut self, room: &str, body: &str) -> (MessageId, u64) {
        let chat = chat_frame(room, body);
        let id = chat.id;
        self.send(&ClientFrame::Chat(chat)).await;
        let seq = self
            .next_matching(|f| match f {
                ServerFrame::Ack(a) if a.id == id => Some(a.seq),
                ServerFrame::Error(e) if e.id == Some(id) => panic!("chat refused: {e:?}"),
                _ => None,
            })
            .await;
        (id, seq)
    }

    /// The next error frame, skipping other frames.
    pub async fn error(&mut self) -> ErrorFrame {
        self.next_matching(|f| match f {
            ServerFrame::Error(e) => Some(e),
            _ => None,
        })
        .await
    }

    /// The next chat's body, skipping other frames.
    pub async fn next_chat(&mut self) -> festival_proto::ChatMessage {
        self.next_matching(|f| match f {
            ServerFrame::Chat(c) => Some(c),
            _ => None,
        })
        .await
    }
}

pub fn chat_frame(room: &str, body: &str) -> ChatSend {
    ChatSend {
        id: MessageId::new(),
        room: RoomName::parse(room).unwrap(),
        body: body.into(),
        sent_at: 0,
        direct: Vec::new(),
    }
}

/// Asserts that an error frame has `code`.
pub fn assert_code(error: &ErrorFrame, code: ErrorCode) {
    assert_eq!(error.code, code, "unexpected error: {error:?}");
    assert!(!error.message.is_empty(), "errors explain themselves");
}

/// A plain HTTP GET on the relay; returns the status code and body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .expect("response in time")
        .expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

/// Waits until `/metrics` shows `series` (counters are bumped just after the event a client
/// sees, so a test polls briefly rather than reading once).
pub async fn metrics_show(addr: std::net::SocketAddr, series: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, text) = http_get(addr, "/metrics").await;
        if text.contains(series) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics never showed {series:?}:\n{text}"
        );
        tokio::task::yield_now().await;
    }
}
