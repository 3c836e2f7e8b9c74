//! HTTP long-poll, the last route: the same frames, validation and presence as the socket,
//! for clients that cannot open a WebSocket.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use festival_proto::{ErrorCode, PresenceChange, ServerFrame, decode_server};
use serde_json::Value;
use support::{Client, WAIT, spawn_relay, spawn_relay_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP request on its own connection: status and JSON body (`Null` when empty).
async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .expect("an answer in time")
        .unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn frames(body: &Value) -> Vec<ServerFrame> {
    body["frames"]
        .as_array()
        .map(|frames| {
            frames
                .iter()
                .map(|f| decode_server(&f.to_string()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// Says hello in a long-poll session that was just opened.
async fn poller_hello(
    addr: SocketAddr,
    token: &str,
    key: &festival_proto::DeviceKey,
    nonce: &festival_proto::Nonce,
    name: &str,
) {
    let hello = support::hello_text(key, nonce, name);
    let (status, _) = http(addr, "POST", &format!("/poll/{token}"), &hello).await;
    assert_eq!(status, 202);
}

/// A long-poll client.
struct Poller {
    addr: SocketAddr,
    token: String,
    key: festival_proto::DeviceKey,
}

impl Poller {
    /// Opens a session and says hello in it: the frames up to `welcome`.
    async fn open(addr: SocketAddr, name: &str) -> (Poller, Vec<ServerFrame>) {
        let (status, body) = http(addr, "POST", "/poll", "").await;
        assert_eq!(status, 200, "{body}");
        let (token, nonce) = support::poll_challenge(&body.to_string()).expect("a challenge");
        let key = festival_proto::DeviceKey::generate();
        poller_hello(addr, &token, &key, &nonce, name).await;
        let poller = Poller { addr, token, key };
        let mut first = Vec::new();
        poller
            .until(|frame| {
                let welcome = matches!(frame, ServerFrame::Welcome(_));
                first.push(frame);
                welcome.then_some(())
            })
            .await;
        (poller, first)
    }

    async fn send(&self, frame: &str) {
        let (status, _) = http(self.addr, "POST", &format!("/poll/{}", self.token), frame).await;
        assert_eq!(status, 202);
    }

    /// Polls until a frame `want` accepts arrives.
    async fn until<T>(&self, mut want: impl FnMut(ServerFrame) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the expected frame in time"
            );
            let path = format!("/poll/{}?wait_ms=20000", self.token);
            let (status, body) = http(self.addr, "GET", &path, "").await;
            assert_eq!(status, 200, "{body}");
            for frame in frames(&body) {
                if let Some(found) = want(frame) {
                    return found;
                }
            }
        }
    }
}

#[tokio::test]
async fn a_long_poll_client_chats_with_a_websocket_client() {
    let relay = spawn_relay().await;
    let addr = relay.config.listen;
    let (mut alice, _) = Client::hello(&relay.url(), "Alice").await;
    alice.join("Camp").await;

    let (bob, first) = Poller::open(addr, "Bob").await;
    assert!(matches!(first.as_slice(), [ServerFrame::Welcome(w)] if w.name.as_str() == "Bob"));
    bob.send(r#"{"type":"join","room":"Camp"}"#).await;
    let joined = bob
        .until(|f| match f {
            ServerFrame::Joined(j) => Some(j),
            _ => None,
        })
        .await;
    assert_eq!(joined.members.len(), 2);
    let came = alice
        .next_matching(|f| match f {
            ServerFrame::Presence(p) => Some(p),
            _ => None,
        })
        .await;
    assert_eq!(
        (came.change, came.member.name.as_str(), came.online),
        (PresenceChange::Joined, "Bob", 2)
    );

    // A waiting poll returns as soon as Alice's message is there (well before its 20 s).
    alice.chat("Camp", "over the socket").await;
    let chat = bob
        .until(|f| match f {
            ServerFrame::Chat(c) => Some(c),
            _ => None,
        })
        .await;
    assert_eq!(
        (chat.from.as_str(), chat.body.as_str()),
        ("Alice", "over the socket")
    );

    let chat = support::chat_frame(&bob.key, "Camp", "over HTTP");
    let id = chat.id;
    bob.send(&festival_proto::encode(&festival_proto::ClientFrame::Chat(
        chat,
    )))
    .await;
    let ack = bob
        .until(|f| match f {
            ServerFrame::Ack(a) if a.id == id => Some(a),
            _ => None,
        })
        .await;
    assert_eq!(ack.seq, 2);
    let from_bob = alice
        .next_matching(|f| match f {
            ServerFrame::Chat(c) if c.id == id => Some(c),
            _ => None,
        })
        .await;
    assert_eq!(
        (from_bob.from.as_str(), from_bob.body.as_str()),
        ("Bob", "over HTTP")
    );

    // Leaving ends Bob's membership for Alice too.
    let (status, _) = http(addr, "DELETE", &format!("/poll/{}", bob.token), "").await;
    assert_eq!(status, 204);
    let went = alice
        .next_matching(|f| match f {
            ServerFrame::Presence(p) => Some(p),
            _ => None,
        })
        .await;
    assert_eq!((went.change, went.online), (PresenceChange::Left, 1));
}

#[tokio::test]
async fn long_poll_frames_get_the_same_validation_as_the_socket() {
    let relay = spawn_relay().await;
    let addr = relay.config.listen;
    let (status, body) = http(addr, "POST", "/poll", r#"{"type":"join","room":"Camp"}"#).await;
    assert_eq!(status, 400);
    assert!(
        matches!(frames(&body).as_slice(), [ServerFrame::Challenge(_), ServerFrame::Error(e)] if e.code == ErrorCode::HelloRequired)
    );

    let (bob, _) = Poller::open(addr, "Bob").await;
    for (frame, code) in [
        ("garbage", ErrorCode::Malformed),
        (r#"{"type":"join","room":"a/b"}"#, ErrorCode::InvalidRoom),
        (r#"{"type":"shout"}"#, ErrorCode::UnknownType),
    ] {
        bob.send(frame).await;
        let error = bob
            .until(|f| match f {
                ServerFrame::Error(e) => Some(e),
                _ => None,
            })
            .await;
        assert_eq!(error.code, code, "{frame}");
    }

    let (status, body) = http(addr, "GET", "/poll/no-such-session", "").await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "unknown_session");
}

#[tokio::test]
async fn a_session_nobody_polls_ends_and_leaves_its_rooms() {
    let relay = spawn_relay_with(|c| c.poll_idle_timeout = Duration::from_millis(300)).await;
    let addr = relay.config.listen;
    let (mut alice, _) = Client::hello(&relay.url(), "Alice").await;
    alice.join("Camp").await;
    let (bob, _) = Poller::open(addr, "Bob").await;
    bob.send(r#"{"type":"join","room":"Camp"}"#).await;
    let presence = |f| match f {
        ServerFrame::Presence(p) => Some(p),
        _ => None,
    };
    assert_eq!(
        alice.next_matching(presence).await.change,
        PresenceChange::Joined
    );
    // Bob stops polling: after the idle timeout the relay ends his session.
    assert_eq!(
        alice.next_matching(presence).await.change,
        PresenceChange::Left
    );
    let (status, _) = http(addr, "GET", &format!("/poll/{}", bob.token), "").await;
    assert_eq!(status, 404);
}

/// Issue 11: a long-poll session learns that the relay is shutting down as a socket does, with
/// 1001 (come back and resume), not a normal close or nothing.
#[tokio::test]
async fn a_waiting_long_poll_is_told_1001_when_the_relay_shuts_down() {
    let mut relay = spawn_relay().await;
    let addr = relay.config.listen;
    let (bob, _) = Poller::open(addr, "Bob").await;
    let path = format!("/poll/{}?wait_ms=20000", bob.token);
    let waiting = tokio::spawn(async move { http(addr, "GET", &path, "").await });
    support::metrics_show(addr, "festival_poll_waiting 1").await;
    relay.stop().await;
    let (status, body) = waiting.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["closed"], 1001, "{body}");
}
