//! Fixtures for the relay's scenario tests: a real relay on 127.0.0.1 with a real SQLite file,
//! and real WebSocket clients that speak the protocol. Every wait has a timeout.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::Duration;

use festival_proto::{
    ChatSend, ClientFrame, DeviceId, DeviceKey, DisplayName, ErrorCode, ErrorFrame, Hello, Join,
    Joined, MessageId, Nonce, PROTOCOL_VERSION, RoomName, ServerFrame, Signature, Welcome,
    decode_server, encode,
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
    /// The device key this client signs with (a new one until it says hello as another).
    pub key: DeviceKey,
    /// The device `key` proves.
    pub device: DeviceId,
    /// The relay's challenge on this connection, what `hello` signs.
    pub nonce: Nonce,
}

/// How a connection ended, as the client saw it.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Closed(u16),
    Dropped,
}

impl Client {
    /// A connection that has not said hello (it read the relay's challenge).
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        Client::challenged(ws).await
    }

    /// A new client on `ws`, once the relay's first frame, its challenge, arrived.
    async fn challenged(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        let key = DeviceKey::generate();
        let mut client = Client {
            ws,
            device: key.device(),
            key,
            nonce: Nonce::from_bytes([0; 32]),
        };
        match client.next().await {
            ServerFrame::Challenge(challenge) => client.nonce = challenge.nonce,
            other => panic!("the relay's first frame is its challenge, not {other:?}"),
        }
        client
    }

    /// A `hello` frame that proves `key` on this connection.
    pub fn hello_frame(&self, key: &DeviceKey, name: &str) -> ClientFrame {
        ClientFrame::Hello(Hello {
            v: PROTOCOL_VERSION,
            device: key.device(),
            name: DisplayName::parse(name).unwrap(),
            key: key.public(),
            proof: key.prove(&self.nonce),
        })
    }

    /// A chat to `room` signed by this client's key.
    pub fn chat_frame(&self, room: &str, body: &str) -> ChatSend {
        chat_frame(&self.key, room, body)
    }

    /// A connection that has not said hello, made from the local address `ip` (any of
    /// 127.0.0.0/8), so that a test can play clients behind different addresses.
    pub async fn connect_from(url: &str, ip: std::net::IpAddr) -> Result<Client, String> {
        let addr: std::net::SocketAddr = url
            .trim_start_matches("ws://")
            .trim_end_matches("/ws")
            .parse()
            .unwrap();
        let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
        socket
            .bind(std::net::SocketAddr::new(ip, 0))
            .map_err(|e| e.to_string())?;
        let tcp = tokio::time::timeout(WAIT, socket.connect(addr))
            .await
            .map_err(|_| "connect timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        let (ws, _) = tokio::time::timeout(
            WAIT,
            tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)),
        )
        .await
        .map_err(|_| "upgrade timed out".to_owned())?
        .map_err(|e| e.to_string())?;
        Ok(Client::challenged(ws).await)
    }

    /// Says hello as the holder of `key` on a connection that has not; the relay's answer.
    pub async fn say_hello(&mut self, key: &DeviceKey, name: &str) -> ServerFrame {
        self.key = key.clone();
        self.device = key.device();
        let hello = self.hello_frame(key, name);
        self.send(&hello).await;
        self.next().await
    }

    /// Sends a raw WebSocket message (a ping, a pong), as a client library would.
    pub async fn send_message(&mut self, message: Message) -> bool {
        self.ws.send(message).await.is_ok()
    }

    /// Reads (and drops) whatever arrives until the connection ends or `within` passes;
    /// true when it ended.
    pub async fn ended_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return false,
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Reads until the relay's next WebSocket ping (answered, as every client library
    /// does), dropping frames; false when the connection ended first.
    pub async fn relay_ping(&mut self) -> bool {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await {
                Ok(Some(Ok(Message::Ping(_)))) => return true,
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return false,
                Ok(Some(Ok(_))) => {}
                Err(_) => panic!("no ping from the relay within {WAIT:?}"),
            }
        }
    }

    /// A connection that said hello as a new device called `name`.
    pub async fn hello(url: &str, name: &str) -> (Client, Welcome) {
        Self::hello_as(url, &DeviceKey::generate(), name).await
    }

    /// A connection that said hello as the holder of `key`.
    pub async fn hello_as(url: &str, key: &DeviceKey, name: &str) -> (Client, Welcome) {
        let mut client = Self::connect(url).await;
        match client.say_hello(key, name).await {
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

    /// The next protocol frame, or None once the connection ended (close frame or error).
    pub async fn next_or_close(&mut self) -> Option<ServerFrame> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(text)) => return Some(decode_server(&text).expect("valid frame")),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next text frame undecoded (a client that only counts bytes), or None once the
    /// connection ended.
    pub async fn next_text(&mut self) -> Option<String> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(text)) => return Some(text.as_str().to_owned()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
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
        let chat = self.chat_frame(room, body);
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

    /// Sends a chat and waits for its ack (the seq) or its refusal.
    pub async fn try_chat(&mut self, room: &str, body: &str) -> Result<u64, ErrorFrame> {
        let chat = self.chat_frame(room, body);
        let id = chat.id;
        self.send(&ClientFrame::Chat(chat)).await;
        self.next_matching(|f| match f {
            ServerFrame::Ack(a) if a.id == id => Some(Ok(a.seq)),
            ServerFrame::Error(e) if e.id == Some(id) => Some(Err(e)),
            _ => None,
        })
        .await
    }

    /// Every message of `room` the relay still holds, paging through history from the start.
    /// A join the relay refuses as over the device's history budget is asked again a little
    /// later, as a client does.
    pub async fn history(&mut self, room: &str) -> Vec<festival_proto::ChatMessage> {
        let name = RoomName::parse(room).unwrap();
        let mut all = Vec::new();
        let mut since = 0;
        let deadline = tokio::time::Instant::now() + WAIT * 3;
        loop {
            assert!(tokio::time::Instant::now() < deadline, "history never came");
            self.send(&ClientFrame::Join(Join {
                room: name.clone(),
                since: Some(since),
            }))
            .await;
            let answer = self
                .next_matching(|f| match f {
                    ServerFrame::Joined(j) if j.room == name => Some(Some(j)),
                    ServerFrame::Error(e) if e.code == ErrorCode::RateLimited => Some(None),
                    _ => None,
                })
                .await;
            let Some(joined) = answer else {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            };
            since = joined.history.last().map_or(since, |m| m.seq);
            all.extend(joined.history);
            if !joined.has_more {
                return all;
            }
        }
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

/// A chat to `room` signed by `key`.
pub fn chat_frame(key: &DeviceKey, room: &str, body: &str) -> ChatSend {
    let mut chat = ChatSend {
        id: MessageId::of_device(key.device(), 0),
        room: RoomName::parse(room).unwrap(),
        body: body.into(),
        sealed: None,
        sent_at: 0,
        prev: None,
        sig: Signature::from_bytes([0; 64]),
        direct: Vec::new(),
    };
    sign(key, &mut chat);
    chat
}

/// Signs `chat` (again, after a test changed it) with `key`.
pub fn sign(key: &DeviceKey, chat: &mut ChatSend) {
    chat.sig = key.sign_chat(&chat.signed());
}

/// The token and challenge of a `POST /poll` answer, if it opened a session.
pub fn poll_challenge(body: &str) -> Option<(String, Nonce)> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let token = value["session"].as_str()?.to_owned();
    let first = value["frames"].get(0)?;
    match serde_json::from_value(first.clone()).ok()? {
        ServerFrame::Challenge(challenge) => Some((token, challenge.nonce)),
        _ => None,
    }
}

/// A `hello` frame's text proving `key`'s device, called `name`, on a connection (or
/// long-poll session) whose challenge was `nonce`.
pub fn hello_text(key: &DeviceKey, nonce: &Nonce, name: &str) -> String {
    encode(&ClientFrame::Hello(Hello {
        v: PROTOCOL_VERSION,
        device: key.device(),
        name: DisplayName::from_trusted(name.into()),
        key: key.public(),
        proof: key.prove(nonce),
    }))
}

/// Asserts that an error frame has `code`.
pub fn assert_code(error: &ErrorFrame, code: ErrorCode) {
    assert_eq!(error.code, code, "unexpected error: {error:?}");
    assert!(!error.message.is_empty(), "errors explain themselves");
}

/// A plain HTTP GET on the relay; returns the status code and body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    http(addr, "GET", path, "").await
}

/// `POST path` with `body`: the status and the body of the answer.
pub async fn http_post(addr: std::net::SocketAddr, path: &str, body: &str) -> (u16, String) {
    http(addr, "POST", path, body).await
}

async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
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

/// A TCP connection that did the WebSocket upgrade by hand, for sending frames no library
/// would: reserved bits, unknown opcodes, unmasked frames, invalid UTF-8.
pub async fn raw_upgrade(addr: std::net::SocketAddr) -> TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = "GET /ws HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(WAIT, stream.read(&mut byte))
            .await
            .expect("upgrade answer in time")
            .expect("read");
        assert_eq!(
            n,
            1,
            "closed during the upgrade: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}

/// One client frame as bytes: `first` is FIN, RSV and opcode; masked with `mask` if given.
pub fn raw_frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    assert!(payload.len() < 126, "short frames only");
    let mut frame = vec![
        first,
        payload.len() as u8 | if mask.is_some() { 0x80 } else { 0 },
    ];
    match mask {
        Some(key) => {
            frame.extend_from_slice(&key);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => frame.extend_from_slice(payload),
    }
    frame
}

/// Reads server frames until a close frame, returning its code (None if the connection ended
/// without one).
pub async fn raw_close_code(stream: &mut TcpStream) -> Option<u16> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        // Parse whole frames at the front of buf.
        while buf.len() >= 2 {
            let len = usize::from(buf[1] & 0x7f);
            let (start, len) = match len {
                126 if buf.len() >= 4 => (4, usize::from(u16::from_be_bytes([buf[2], buf[3]]))),
                126 | 127 => break,
                n => (2, n),
            };
            if buf.len() < start + len {
                break;
            }
            if buf[0] & 0x0f == 0x8 {
                return (len >= 2).then(|| u16::from_be_bytes([buf[start], buf[start + 1]]));
            }
            buf.drain(..start + len);
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .expect("the relay closes in time")
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
