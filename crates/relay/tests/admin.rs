//! The organisers' side: the admin API behind its token, the mesh built from the clients'
//! reports, and the admin actions (announce, clear, remove), each confirmed and audited.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use festival_proto::{
    ClientFrame, DeviceId, ErrorCode, LinkReport, LinkReportState, Report, RouteCounts, ServerFrame,
};
use serde_json::{Value, json};
use support::{Client, TestRelay, WAIT, assert_code, http_get, metrics_show, spawn_relay_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn relay() -> TestRelay {
    spawn_relay_with(|config| config.mesh_tick = Duration::from_millis(50)).await
}

fn token(relay: &TestRelay) -> String {
    let path = relay.config.data_dir().join("admin-token");
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

/// One HTTP request with an optional `Authorization` header; the status and the body.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<&Value>,
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    // Chunked bodies: keep the JSON between the chunk sizes.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body.split("\r\n").skip(1).step_by(2).collect::<String>()
    } else {
        body.to_owned()
    };
    (status, body)
}

async fn api(relay: &TestRelay, method: &str, path: &str, body: Option<Value>) -> Value {
    let bearer = format!("Bearer {}", token(relay));
    let (status, text) = request(
        relay.config.listen,
        method,
        &format!("/admin/api/{path}"),
        Some(&bearer),
        body.as_ref(),
    )
    .await;
    assert!(status == 200, "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

/// Polls the live view until `want` holds (it is recomputed every tick).
async fn mesh_until(relay: &TestRelay, what: &str, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mesh = api(relay, "GET", "mesh", None).await;
        if want(&mesh) {
            return mesh;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {mesh:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn open_link(peer: DeviceId, rtt: u32) -> LinkReport {
    LinkReport {
        peer,
        state: LinkReportState::Open,
        rtt_ms: Some(rtt),
    }
}

#[tokio::test]
async fn the_api_wants_the_exact_token_and_a_wrong_one_gets_a_bare_401() {
    let relay = relay().await;
    let addr = relay.config.listen;
    let real = token(&relay);
    let wrong = [
        None,
        Some(String::new()),
        Some(format!("Basic {real}")),
        Some("Bearer ".to_owned()),
        Some(format!("Bearer {}", &real[..real.len() - 1])),
        Some(format!("Bearer {real}x")),
        Some(format!("Bearer fca_{}", "0".repeat(57))),
    ];
    for path in ["mesh", "history", "audit", "events", "rooms/Camp"] {
        for auth in &wrong {
            let (status, body) = request(
                addr,
                "GET",
                &format!("/admin/api/{path}"),
                auth.as_deref(),
                None,
            )
            .await;
            assert_eq!((status, body.as_str()), (401, ""), "{path} with {auth:?}");
        }
    }
    let (status, body) = request(
        addr,
        "POST",
        "/admin/api/announce",
        Some("Bearer nope"),
        Some(&json!({"body": "not from an organiser"})),
    )
    .await;
    assert_eq!((status, body.as_str()), (401, ""));
    metrics_show(addr, "festival_admin_refused_total 36").await;

    // The page holds no data and is served to anyone, with a strict policy.
    let (status, page) = http_get(addr, "/admin").await;
    assert_eq!(status, 200);
    assert!(page.contains("Mesh dashboard"), "{page}");
    assert!(!page.contains(&real));
    let mesh = api(&relay, "GET", "mesh", None).await;
    assert_eq!(mesh["overall"]["users"], 0);
}

#[tokio::test]
async fn reports_make_the_mesh_and_a_device_that_leaves_is_forgotten() {
    let relay = relay().await;
    let (mut ann, _) = Client::hello(&relay.url(), "Ann").await;
    let (mut ben, _) = Client::hello(&relay.url(), "Ben").await;
    let (mut cat, _) = Client::hello(&relay.url(), "Cat").await;
    for client in [&mut ann, &mut ben, &mut cat] {
        client.join("Camp").await;
    }
    cat.join("Bar").await;
    ann.send(&ClientFrame::Report(Report {
        links: vec![open_link(ben.device, 4)],
        received: RouteCounts {
            p2p: 3,
            relay: 1,
            poll: 0,
        },
        relay_rtt_ms: Some(10),
        ..Report::default()
    }))
    .await;
    ben.send(&ClientFrame::Report(Report {
        links: vec![open_link(ann.device, 6)],
        relay_rtt_ms: Some(30),
        ..Report::default()
    }))
    .await;
    let mesh = mesh_until(&relay, "three users, one link", |m| {
        m["overall"]["users"] == 3 && m["overall"]["p2p_links"] == 1
    })
    .await;
    let overall = &mesh["overall"];
    assert_eq!(overall["p2p_active_users"], 2);
    assert_eq!(overall["route_share"]["p2p"], 0.75);
    assert_eq!(overall["relay_latency"]["avg"], 20.0);
    assert_eq!(overall["p2p_latency"]["avg"], 5.0);
    let edge = &mesh["graph"]["edges"][0];
    let ends = [ann.device.to_string(), ben.device.to_string()];
    assert!(
        ends.contains(&edge["a"].as_str().unwrap().to_owned())
            && ends.contains(&edge["b"].as_str().unwrap().to_owned()),
        "{edge}"
    );
    assert_eq!(mesh["busiest_rooms"][0]["room"], "Camp");
    assert_eq!(mesh["busiest_rooms"][0]["users"], 3);
    let bar = api(&relay, "GET", "rooms/Bar", None).await;
    assert_eq!(bar["figures"]["users"], 1);
    metrics_show(relay.config.listen, "festival_mesh_p2p_links 1").await;
    metrics_show(relay.config.listen, "festival_mesh_users 3").await;

    // A report that lies about its size is refused like any bad frame.
    let too_many = (0..40).map(|_| open_link(DeviceId::random(), 1)).collect();
    ann.send(&ClientFrame::Report(Report {
        links: too_many,
        ..Report::default()
    }))
    .await;
    assert_code(&ann.error().await, ErrorCode::InvalidField);

    drop(ann);
    let mesh = mesh_until(&relay, "Ann forgotten", |m| m["overall"]["users"] == 2).await;
    assert_eq!(mesh["overall"]["p2p_links"], 0, "Ben's link ends at nobody");
    assert_eq!(mesh["overall"]["reporting"], 1);
    let history = api(&relay, "GET", "history", None).await;
    assert!(!history.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn an_announcement_reaches_every_room_in_its_sequence_and_is_audited() {
    let relay = relay().await;
    let (mut ann, _) = Client::hello(&relay.url(), "Ann").await;
    let (mut ben, _) = Client::hello(&relay.url(), "Ben").await;
    ann.join("Camp").await;
    ann.chat("Camp", "before").await;
    ben.join("Bar").await;
    // A room with history and nobody in it now.
    let (mut gone, _) = Client::hello(&relay.url(), "Gone").await;
    gone.join("Lost and Found").await;
    gone.chat("Lost and Found", "anyone seen a blue tent").await;
    drop(gone);

    let answer = api(
        &relay,
        "POST",
        "announce",
        Some(json!({"body": "  Main stage closed for wind  "})),
    )
    .await;
    let rooms: Vec<&str> = answer["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room"].as_str().unwrap())
        .collect();
    assert_eq!(rooms, ["Bar", "Camp", "Lost and Found"], "{answer}");
    assert_eq!(answer["failed"], json!([]));
    for client in [&mut ann, &mut ben] {
        let message = client
            .next_matching(|f| match f {
                ServerFrame::Announcement(m) => Some(m),
                ServerFrame::Chat(m) if m.is_announcement() => panic!("sent as a chat"),
                _ => None,
            })
            .await;
        assert!(message.is_announcement());
        assert_eq!(message.body, "Main stage closed for wind");
    }
    let (mut back, _) = Client::hello(&relay.url(), "Back").await;
    let joined = back.join_since("Lost and Found", Some(1)).await;
    assert_eq!(joined.history.len(), 1);
    assert!(joined.history[0].is_announcement());
    assert_eq!(joined.history[0].seq, 2, "numbered in the room's sequence");

    // One room; an empty or oversized body is refused with a code and nothing is sent.
    let one = api(
        &relay,
        "POST",
        "announce",
        Some(json!({"body": "Bar closes at 2", "room": "Bar"})),
    )
    .await;
    assert_eq!(one["rooms"].as_array().unwrap().len(), 1);
    let bearer = format!("Bearer {}", token(&relay));
    for (body, code) in [
        (json!({"body": "   "}), "invalid_body"),
        (json!({"body": "x".repeat(1025)}), "body_too_large"),
        (json!({"body": "hi", "room": "a/b"}), "invalid_room"),
        (json!({"text": "hi"}), "invalid_field"),
    ] {
        let (status, text) = request(
            relay.config.listen,
            "POST",
            "/admin/api/announce",
            Some(&bearer),
            Some(&body),
        )
        .await;
        assert_eq!(status, 400, "{text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["code"], code, "{text}");
    }

    let audit = api(&relay, "GET", "audit", None).await;
    assert_eq!(audit.as_array().unwrap().len(), 2);
    assert_eq!(audit[0]["action"], "announce");
    assert_eq!(audit[0]["target"], "Bar");
    assert_eq!(audit[1]["target"], "every room");
    let file = std::fs::read_to_string(relay.config.data_dir().join("admin-audit.log")).unwrap();
    assert_eq!(file.lines().count(), 2);
    assert!(file.contains("127.0.0.1"));
    assert!(
        !file.contains(&token(&relay)),
        "the audit log names the token's id only"
    );
}

#[tokio::test]
async fn remove_takes_a_member_out_for_a_while_and_clear_keeps_the_numbers() {
    let relay = relay().await;
    let (mut ann, _) = Client::hello(&relay.url(), "Ann").await;
    let (mut ben, _) = Client::hello(&relay.url(), "Ben").await;
    ann.join("Camp").await;
    ben.join("Camp").await;
    ann.chat("Camp", "one").await;
    ann.chat("Camp", "two").await;

    let answer = api(
        &relay,
        "POST",
        "remove",
        Some(json!({"room": "Camp", "device": ben.device, "minutes": 5})),
    )
    .await;
    assert_eq!(answer["connections"], 1);
    let error = ben
        .next_matching(|f| match f {
            ServerFrame::Error(e) => Some(e),
            _ => None,
        })
        .await;
    assert_code(&error, ErrorCode::Removed);
    ben.next_matching(|f| matches!(f, ServerFrame::Left(_)).then_some(()))
        .await;
    ann.next_matching(|f| match f {
        ServerFrame::Presence(p) if p.member.device == ben.device => Some(()),
        _ => None,
    })
    .await;
    // Its chats and joins are refused meanwhile.
    let refused = ben.try_chat("Camp", "still here?").await.unwrap_err();
    assert_code(&refused, ErrorCode::Removed);
    ben.send(&ClientFrame::Join(festival_proto::Join {
        room: festival_proto::RoomName::parse("Camp").unwrap(),
        since: None,
    }))
    .await;
    let error = ben.error().await;
    assert_code(&error, ErrorCode::Removed);
    assert!(error.message.contains("5 min"), "{}", error.message);

    let cleared = api(&relay, "POST", "clear", Some(json!({"room": "Camp"}))).await;
    assert_eq!(cleared["deleted"], 2);
    let (_, seq) = ann.chat("Camp", "three").await;
    assert_eq!(seq, 3, "numbers go on after a clear");
    let (mut late, _) = Client::hello(&relay.url(), "Late").await;
    let joined = late.join("Camp").await;
    assert_eq!(joined.history.len(), 1);

    for body in [
        json!({"room": "Camp", "device": ben.device, "minutes": 0}),
        json!({"room": "Camp", "device": ben.device, "minutes": 100_000}),
        json!({"room": "Camp", "device": DeviceId::NIL, "minutes": 1}),
    ] {
        let bearer = format!("Bearer {}", token(&relay));
        let (status, _) = request(
            relay.config.listen,
            "POST",
            "/admin/api/remove",
            Some(&bearer),
            Some(&body),
        )
        .await;
        assert_eq!(status, 400, "{body}");
    }
    let audit = api(&relay, "GET", "audit", None).await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["clear", "remove"]);
}

/// Starts the binary on `data` with `extra` flags, stops it with SIGTERM, and returns what it
/// printed.
fn run_binary(data: &std::path::Path, extra: &[&str]) -> String {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_festival-relay"))
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    stdout.read_line(&mut printed).unwrap();
    assert!(
        printed.starts_with("festival-relay listening on"),
        "{printed}"
    );
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    stdout.read_to_string(&mut printed).unwrap();
    assert!(child.wait().unwrap().success());
    printed
}

#[test]
fn the_binary_prints_the_token_once_and_again_only_when_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let file = || std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    let first = run_binary(&data, &[]);
    let token = file().trim().to_owned();
    assert!(first.lines().nth(1).unwrap().ends_with(&token), "{first}");
    let second = run_binary(&data, &[]);
    assert_eq!(second.lines().count(), 1, "not shown again: {second}");
    assert_eq!(file().trim(), token);
    let rotated = run_binary(&data, &["--rotate-admin-token"]);
    let new = file().trim().to_owned();
    assert_ne!(new, token);
    assert!(rotated.lines().nth(1).unwrap().ends_with(&new), "{rotated}");
}
