//! Every kind of bad input gets an error frame with a stable code and nothing else: the relay
//! keeps serving, and a well-behaved pair of clients in the same room is not affected.

mod support;

use std::time::Duration;

use festival_proto::{ClientFrame, DeviceId, ErrorCode, Join, Leave, RoomName, ServerFrame};
use support::{Client, Ended, TestRelay, assert_code, metrics_show, spawn_relay, spawn_relay_with};

const ROOM: &str = "Main Stage";

/// Two well-behaved members of ROOM.
async fn bystanders(relay: &TestRelay) -> (Client, Client) {
    let (mut alice, _) = Client::hello(&relay.url(), "Alice").await;
    let (mut bob, _) = Client::hello(&relay.url(), "Bob").await;
    alice.join(ROOM).await;
    bob.join(ROOM).await;
    (alice, bob)
}

/// Alice can still send and Bob still receives.
async fn assert_unaffected(alice: &mut Client, bob: &mut Client, body: &str) {
    alice.chat(ROOM, body).await;
    assert_eq!(bob.next_chat().await.body, body);
}

#[tokio::test]
async fn each_bad_frame_gets_its_code_and_bystanders_carry_on() {
    let device = DeviceId::random();
    // Decoding refuses these before any proof is checked: any key and signature will do.
    let proof = format!(r#""key":"{}","proof":"{}""#, "A".repeat(43), "A".repeat(86));
    let hello = format!(r#"{{"type":"hello","v":2,"device":"{device}","name":"Mallory",{proof}}}"#);
    let cases: Vec<(&str, bool, String, ErrorCode)> = vec![
        ("not json", true, "{not json".into(), ErrorCode::Malformed),
        (
            "no type",
            true,
            r#"{"room":"x"}"#.into(),
            ErrorCode::Malformed,
        ),
        (
            "unknown type",
            true,
            r#"{"type":"shout"}"#.into(),
            ErrorCode::UnknownType,
        ),
        (
            "wrong field type",
            true,
            r#"{"type":"join","room":5}"#.into(),
            ErrorCode::InvalidField,
        ),
        (
            "missing field",
            true,
            r#"{"type":"chat","room":"Main Stage"}"#.into(),
            ErrorCode::InvalidField,
        ),
        (
            "bad room",
            true,
            r#"{"type":"join","room":"../etc"}"#.into(),
            ErrorCode::InvalidRoom,
        ),
        (
            "frame too large",
            true,
            format!(
                r#"{{"type":"ping","nonce":1,"pad":"{}"}}"#,
                "x".repeat(70 * 1024)
            ),
            ErrorCode::FrameTooLarge,
        ),
        (
            "body too large",
            true,
            format!(
                r#"{{"type":"chat","id":"{}","room":"Main Stage","body":"{}","sent_at":0,"sig":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}"#,
                festival_proto::MessageId::new(),
                "b".repeat(5000)
            ),
            ErrorCode::BodyTooLarge,
        ),
        (
            "control characters in body",
            true,
            format!(
                r#"{{"type":"chat","id":"{}","room":"Main Stage","body":"\u001b[2J","sent_at":0,"sig":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}"#,
                festival_proto::MessageId::new()
            ),
            ErrorCode::InvalidBody,
        ),
        (
            "chat to a room not joined",
            true,
            format!(
                r#"{{"type":"chat","id":"{}","room":"Backstage","body":"hi","sent_at":0,"sig":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}"#,
                festival_proto::MessageId::new()
            ),
            ErrorCode::NotJoined,
        ),
        (
            "second hello",
            true,
            hello.clone(),
            ErrorCode::DuplicateHello,
        ),
        (
            "anything before hello",
            false,
            r#"{"type":"join","room":"Main Stage"}"#.into(),
            ErrorCode::HelloRequired,
        ),
        (
            "empty name",
            false,
            format!(r#"{{"type":"hello","v":2,"device":"{device}","name":" ",{proof}}}"#),
            ErrorCode::InvalidName,
        ),
        (
            "nil device",
            false,
            format!(
                r#"{{"type":"hello","v":2,"device":"00000000-0000-0000-0000-000000000000","name":"M",{proof}}}"#
            ),
            ErrorCode::InvalidId,
        ),
    ];
    let relay = spawn_relay().await;
    let (mut alice, mut bob) = bystanders(&relay).await;
    for (what, after_hello, frame, code) in cases {
        let mut mallory = if after_hello {
            Client::hello(&relay.url(), "Mallory").await.0
        } else {
            Client::connect(&relay.url()).await
        };
        if after_hello {
            mallory.join(ROOM).await;
        }
        mallory.send_text(&frame).await;
        let error = mallory.error().await;
        assert_eq!(error.code, code, "{what}: {error:?}");
        // The connection is still usable after one mistake.
        mallory.send_text(r#"{"type":"ping","nonce":42}"#).await;
        if after_hello {
            mallory
                .next_matching(|f| {
                    matches!(f, festival_proto::ServerFrame::Pong(p) if p.nonce == 42).then_some(())
                })
                .await;
        }
        assert_unaffected(&mut alice, &mut bob, &format!("still fine after {what}")).await;
    }
}

#[tokio::test]
async fn a_refused_chat_is_named_by_its_id_and_room() {
    let relay = spawn_relay().await;
    let (mut client, _) = Client::hello(&relay.url(), "Ann").await;
    client.join(ROOM).await;
    let room = RoomName::parse(ROOM).ok();
    let too_many: Vec<String> = (0..=festival_proto::Limits::MAX_DIRECT)
        .map(|_| format!("\"{}\"", DeviceId::random()))
        .collect();
    let cases = [
        ("b".repeat(5000), String::new(), ErrorCode::BodyTooLarge),
        ("\\u001b[2J".into(), String::new(), ErrorCode::InvalidBody),
        (
            "hi".into(),
            format!(r#","direct":[{}]"#, too_many.join(",")),
            ErrorCode::InvalidField,
        ),
    ];
    for (body, extra, code) in cases {
        let id = festival_proto::MessageId::new();
        client
            .send_text(&format!(
                r#"{{"type":"chat","id":"{id}","room":"{ROOM}","body":"{body}","sent_at":0,"sig":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"{extra}}}"#
            ))
            .await;
        let error = client.error().await;
        assert_code(&error, code);
        assert_eq!((error.id, &error.room), (Some(id), &room), "{code}");
    }
    let nil = "00000000-0000-0000-0000-000000000000";
    client
        .send_text(&format!(
            r#"{{"type":"chat","id":"{nil}","room":"{ROOM}","body":"hi","sent_at":0,"sig":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}"#
        ))
        .await;
    let error = client.error().await;
    assert_code(&error, ErrorCode::InvalidId);
    assert_eq!(error.room, room);
}

#[tokio::test]
async fn binary_frames_are_refused_as_malformed() {
    let relay = spawn_relay().await;
    let (mut alice, mut bob) = bystanders(&relay).await;
    let (mut mallory, _) = Client::hello(&relay.url(), "Mallory").await;
    mallory.send_binary(vec![0xff; 16]).await;
    assert_code(&mallory.error().await, ErrorCode::Malformed);
    assert_unaffected(&mut alice, &mut bob, "after binary").await;
}

#[tokio::test]
async fn another_protocol_version_gets_a_clear_error_and_a_close() {
    let relay = spawn_relay().await;
    let mut client = Client::connect(&relay.url()).await;
    let device = DeviceId::random();
    client
        .send_text(&format!(
            r#"{{"type":"hello","v":1,"device":"{device}","name":"Past"}}"#
        ))
        .await;
    let error = client.error().await;
    assert_code(&error, ErrorCode::UnsupportedVersion);
    assert!(error.message.contains("version 1") && error.message.contains("version 2"));
    assert!(
        error.message.contains("update the app"),
        "an old client is told what to do: {}",
        error.message
    );
    assert_eq!(client.until_closed().await.0, Ended::Closed(1002));
}

#[tokio::test]
async fn sending_too_fast_is_rate_limited_without_slowing_others() {
    let relay = spawn_relay_with(|c| {
        c.limits.rate_per_sec = 5;
        c.limits.rate_burst = 10;
    })
    .await;
    let (mut alice, mut bob) = bystanders(&relay).await;
    let (mut flooder, _) = Client::hello(&relay.url(), "Flooder").await;
    for nonce in 0..15 {
        flooder
            .send_text(&format!(r#"{{"type":"ping","nonce":{nonce}}}"#))
            .await;
    }
    let error = flooder.error().await;
    assert_code(&error, ErrorCode::RateLimited);
    assert_unaffected(&mut alice, &mut bob, "others keep their own budget").await;
}

/// Issue 11: a client over its rate is told to slow down, however often, and never closed as
/// if its frames were malformed; slowed down to the rate `welcome` announced, it is served.
#[tokio::test]
async fn a_client_over_its_rate_is_told_to_slow_down_not_closed() {
    let relay = spawn_relay_with(|c| {
        c.limits.rate_per_sec = 5;
        c.limits.rate_burst = 10;
    })
    .await;
    let (mut eager, welcome) = Client::hello(&relay.url(), "Eager").await;
    // Three times the refusals that would close a connection sending garbage.
    let sent = 10 + 3 * relay.config.abuse_max_errors;
    for nonce in 0..sent {
        eager
            .send_text(&format!(r#"{{"type":"ping","nonce":{nonce}}}"#))
            .await;
    }
    let (mut pongs, mut limited) = (0, 0);
    while pongs + limited < sent {
        match eager.next_or_close().await {
            Some(ServerFrame::Pong(_)) => pongs += 1,
            Some(ServerFrame::Error(e)) => {
                assert_code(&e, ErrorCode::RateLimited);
                assert!(e.message.contains("per second"), "{e:?}");
                limited += 1;
            }
            Some(_) => {}
            None => panic!("closed after {pongs} pongs and {limited} refusals"),
        }
    }
    assert!(limited > relay.config.abuse_max_errors, "{limited} refused");
    // Paced as announced, it is served again on the same connection.
    let pace = Duration::from_millis(1000 / u64::from(welcome.limits.rate_per_sec));
    tokio::time::sleep(pace).await;
    eager.send_text(r#"{"type":"ping","nonce":999}"#).await;
    eager
        .next_matching(|f| match f {
            ServerFrame::Pong(p) if p.nonce == 999 => Some(()),
            _ => None,
        })
        .await;
}

#[tokio::test]
async fn repeated_abuse_closes_only_the_abuser() {
    let relay = spawn_relay().await;
    let (mut alice, mut bob) = bystanders(&relay).await;
    let (mut abuser, _) = Client::hello(&relay.url(), "Abuser").await;
    abuser.join(ROOM).await;
    for _ in 0..30 {
        abuser.send_text("garbage").await;
    }
    assert_eq!(abuser.until_closed().await.0, Ended::Closed(1008));
    metrics_show(
        relay.config.listen,
        "festival_closes_total{reason=\"abuse\"} 1",
    )
    .await;
    assert_unaffected(&mut alice, &mut bob, "after the abuser was closed").await;
}

#[tokio::test]
async fn a_frame_beyond_the_hard_cap_closes_that_connection_only() {
    let relay = spawn_relay().await;
    let (mut alice, mut bob) = bystanders(&relay).await;
    let (mut huge, _) = Client::hello(&relay.url(), "Huge").await;
    huge.send_text(&"x".repeat(2 * 1024 * 1024)).await;
    assert_eq!(huge.until_closed().await.0, Ended::Closed(1009));
    assert_unaffected(&mut alice, &mut bob, "after the huge frame").await;
}

#[tokio::test]
async fn a_slow_reader_is_closed_while_a_fast_one_gets_everything() {
    let relay = spawn_relay_with(|c| c.send_queue_frames = 16).await;
    let (mut alice, mut bob) = bystanders(&relay).await;
    let (mut slow, _) = Client::hello(&relay.url(), "Slow").await;
    slow.join(ROOM).await;

    // Enough to fill the loopback socket buffers and then the slow reader's queue. Bob reads
    // as fast as he can; Alice waits for each ack, as a real client does.
    let body = "x".repeat(4000);
    let total = 3000;
    let reader = tokio::spawn(async move {
        for _ in 0..total {
            assert_eq!(bob.next_chat().await.body.len(), 4000);
        }
        bob
    });
    for _ in 0..total {
        alice.chat(ROOM, &body).await;
    }
    reader.await.expect("bob got every message");
    let (ended, received) = slow.until_closed().await;
    assert_eq!(ended, Ended::Closed(1013));
    assert!(
        received < total,
        "the slow reader was cut off ({received} of {total})"
    );
    let slow_series = "festival_closes_total{reason=\"slow_consumer\"} 1";
    metrics_show(relay.config.listen, slow_series).await;
    // The slow reader resumes from history when it comes back.
    let (mut back, _) = Client::hello_as(&relay.url(), &slow.key, "Slow").await;
    let joined = back.join_since(ROOM, Some(0)).await;
    assert!(!joined.history.is_empty());
}

#[tokio::test]
async fn joining_more_rooms_than_allowed_is_refused_until_one_is_left() {
    let relay = spawn_relay_with(|c| c.limits.max_rooms = 2).await;
    let (mut alice, mut bob) = bystanders(&relay).await;
    let (mut hoarder, _) = Client::hello(&relay.url(), "Hoarder").await;
    hoarder.join("A").await;
    hoarder.join("B").await;

    let c = RoomName::parse("C").unwrap();
    let join_c = ClientFrame::Join(Join {
        room: c.clone(),
        since: None,
    });
    hoarder.send(&join_c).await;
    let error = hoarder.error().await;
    assert_code(&error, ErrorCode::TooManyRooms);
    assert_eq!(error.room, Some(c.clone()));
    assert_unaffected(&mut alice, &mut bob, "after too many rooms").await;

    // Joining a room it is already in is not a new room.
    assert_eq!(hoarder.join("A").await.room.as_str(), "A");
    hoarder
        .send(&ClientFrame::Leave(Leave {
            room: RoomName::parse("A").unwrap(),
        }))
        .await;
    hoarder
        .next_matching(|f| matches!(f, ServerFrame::Left(_)).then_some(()))
        .await;
    assert_eq!(hoarder.join("C").await.room, c);
}

#[tokio::test]
async fn websocket_protocol_violations_close_with_the_rfc_6455_codes() {
    use tokio::io::AsyncWriteExt;
    let relay = spawn_relay().await;
    let (mut alice, mut bob) = bystanders(&relay).await;
    let key = Some([1, 2, 3, 4]);
    let cases: [(&str, Vec<u8>, u16); 4] = [
        (
            "invalid UTF-8",
            support::raw_frame(0x81, &[0xff, 0xfe, 0x41], key),
            1007,
        ),
        ("a reserved bit", support::raw_frame(0xC1, b"{}", key), 1002),
        (
            "an unknown opcode",
            support::raw_frame(0x83, b"{}", key),
            1002,
        ),
        (
            "an unmasked frame",
            support::raw_frame(0x81, b"{}", None),
            1002,
        ),
    ];
    for (what, bytes, code) in cases {
        let mut raw = support::raw_upgrade(relay.config.listen).await;
        raw.write_all(&bytes).await.expect("write");
        assert_eq!(
            support::raw_close_code(&mut raw).await,
            Some(code),
            "{what} closes with {code}"
        );
    }
    assert_unaffected(&mut alice, &mut bob, "after the protocol violations").await;
}

#[tokio::test]
async fn a_join_costs_what_it_sends_and_history_beyond_the_budget_waits() {
    let relay = spawn_relay_with(|c| {
        c.history_bytes_per_sec = 1000;
        c.history_bytes_burst = 1000;
    })
    .await;
    let (mut alice, mut bob) = bystanders(&relay).await;
    alice.join("Archive").await;
    for i in 0..20 {
        alice
            .chat("Archive", &format!("{i} {}", "z".repeat(500)))
            .await;
    }
    let (mut reader, _) = Client::hello(&relay.url(), "Reader").await;
    let first = reader.join_since("Archive", Some(0)).await;
    assert_eq!(first.history.len(), 20, "the first join is served whole");
    reader
        .send(&ClientFrame::Join(Join {
            room: RoomName::parse("Archive").unwrap(),
            since: Some(0),
        }))
        .await;
    let error = reader.error().await;
    assert_code(&error, ErrorCode::RateLimited);
    assert!(error.message.contains("KiB/s"), "{error:?}");
    assert_unaffected(&mut alice, &mut bob, "while the reader waits").await;
}

#[tokio::test]
async fn a_connection_creates_only_so_many_rooms_but_joins_existing_ones() {
    let relay = spawn_relay_with(|c| c.max_room_creations_per_conn = 2).await;
    let (mut alice, mut bob) = bystanders(&relay).await;
    let (mut squatter, _) = Client::hello(&relay.url(), "Squatter").await;
    squatter.join("Mine 1").await;
    squatter.join("Mine 2").await;
    let mine = RoomName::parse("Mine 3").unwrap();
    squatter
        .send(&ClientFrame::Join(Join {
            room: mine.clone(),
            since: None,
        }))
        .await;
    let error = squatter.error().await;
    assert_code(&error, ErrorCode::RoomLimit);
    assert_eq!(error.room, Some(mine));
    assert_eq!(
        squatter.join(ROOM).await.room.as_str(),
        ROOM,
        "a room that exists"
    );
    assert_unaffected(&mut alice, &mut bob, "after the squatter").await;
}
