//! The impersonation script of issue 11, against the real relay: a raw client that says hello
//! with Alice's device id, chats as her, and waits for the signals addressed to her. Each step
//! fails with `invalid_signature` (or `invalid_id`), Bob never sees a second Alice, and
//! Alice's signals reach only her.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use festival_proto::{
    ClientFrame, DeviceKey, DisplayName, ErrorCode, Hello, PROTOCOL_VERSION, RoomName, ServerFrame,
    SignalSend,
};
use support::{Client, Ended, assert_code, sign, spawn_relay, spawn_relay_with};

const ROOM: &str = "Camp";

/// A `hello` claiming `device` with `key`'s public half and `proof`.
fn claim(
    device: festival_proto::DeviceId,
    key: festival_proto::PublicKey,
    proof: festival_proto::Signature,
) -> ClientFrame {
    ClientFrame::Hello(Hello {
        v: PROTOCOL_VERSION,
        device,
        name: DisplayName::parse("Alice").unwrap(),
        key,
        proof,
    })
}

/// Sends `hello` on a fresh connection: the relay must refuse it and close with 1008.
async fn refused_hello(url: &str, hello: impl FnOnce(&Client) -> ClientFrame, what: &str) {
    let mut mallory = Client::connect(url).await;
    let frame = hello(&mallory);
    mallory.send(&frame).await;
    match mallory.next().await {
        ServerFrame::Error(error) => {
            assert_code(&error, ErrorCode::InvalidSignature);
            assert!(
                error.message.contains("does not prove"),
                "{what}: {error:?}"
            );
        }
        other => panic!("{what}: expected invalid_signature, got {other:?}"),
    }
    assert_eq!(
        mallory.until_closed().await.0,
        Ended::Closed(1008),
        "{what}"
    );
}

#[tokio::test]
async fn a_client_cannot_say_hello_chat_or_take_signals_as_another_device() {
    let relay = spawn_relay().await;
    let url = relay.url();
    let alice_key = DeviceKey::generate();
    let (mut alice, _) = Client::hello_as(&url, &alice_key, "Alice").await;
    let (mut bob, _) = Client::hello(&url, "Bob").await;
    alice.join(ROOM).await;
    let joined = bob.join(ROOM).await;
    let alice_member = joined
        .members
        .iter()
        .find(|m| m.device == alice.device)
        .expect("Alice is listed")
        .clone();
    assert_eq!(alice_member.key, alice_key.public(), "members carry keys");

    // 1. Hello with Alice's device id, proven with Mallory's own key.
    let mallory_key = DeviceKey::generate();
    refused_hello(
        &url,
        |c| {
            claim(
                alice.device,
                mallory_key.public(),
                mallory_key.prove(&c.nonce),
            )
        },
        "own key, Alice's id",
    )
    .await;
    // 2. Alice's public key (seen by everyone in `members`), signed by Mallory.
    refused_hello(
        &url,
        |c| {
            claim(
                alice.device,
                alice_key.public(),
                mallory_key.prove(&c.nonce),
            )
        },
        "Alice's key, Mallory's signature",
    )
    .await;
    // 3. A proof Alice made for another connection, replayed.
    let mut other = Client::connect(&url).await;
    let replayed = alice_key.prove(&other.nonce);
    refused_hello(
        &url,
        |_| claim(alice.device, alice_key.public(), replayed),
        "Alice's proof from another connection",
    )
    .await;
    // The connection the proof was made for could still use it: the proof is bound to it.
    other
        .send(&claim(alice.device, alice_key.public(), replayed))
        .await;
    assert!(matches!(other.next().await, ServerFrame::Welcome(_)));
    drop(other);

    // Bob saw no second Alice come or go: the next frame he gets is Alice's next message.
    alice.chat(ROOM, "the real Alice").await;
    let seen = bob
        .next_matching(|f| match f {
            ServerFrame::Chat(chat) => Some(chat),
            ServerFrame::Presence(p) if p.member.device == alice.device => {
                panic!("Bob saw Alice's presence change: {p:?}")
            }
            _ => None,
        })
        .await;
    assert_eq!(seen.body, "the real Alice");
    let checked = seen.key.expect("a signed message carries its key");
    assert!(checked.verify_chat(&seen.signed(), &seen.sig.unwrap()));

    // 4. Mallory, as herself, sends Alice's signed chat (a copy of her frame): refused.
    let (mut mallory, _) = Client::hello_as(&url, &mallory_key, "Mallory").await;
    mallory.join(ROOM).await;
    let alices = alice.chat_frame(ROOM, "signed by Alice, sent by Mallory");
    mallory.send(&ClientFrame::Chat(alices.clone())).await;
    let error = mallory.error().await;
    assert_code(&error, ErrorCode::InvalidSignature);
    assert_eq!(error.id, Some(alices.id));
    // 5. Alice's message id under Mallory's own signature: not Mallory's id to use.
    let mut stolen = mallory.chat_frame(ROOM, "forged text under Alice's id");
    stolen.id = seen.id;
    sign(&mallory_key, &mut stolen);
    mallory.send(&ClientFrame::Chat(stolen)).await;
    let error = mallory.error().await;
    assert_code(&error, ErrorCode::InvalidId);
    // 6. An unsigned body swap on a valid frame of her own is refused too.
    let mut swapped = mallory.chat_frame(ROOM, "what I signed");
    swapped.body = "what I send".into();
    mallory.send(&ClientFrame::Chat(swapped)).await;
    assert_code(&mallory.error().await, ErrorCode::InvalidSignature);

    // 7. Bob signals Alice: only Alice's connection gets it, never Mallory's.
    bob.send(&ClientFrame::Signal(SignalSend {
        room: RoomName::parse(ROOM).unwrap(),
        to: alice.device,
        payload: serde_json::json!({"kind": "request"}),
    }))
    .await;
    let signal = alice
        .next_matching(|f| match f {
            ServerFrame::Signal(s) => Some(s),
            _ => None,
        })
        .await;
    assert_eq!(signal.from, bob.device);
    mallory.send_text(r#"{"type":"ping","nonce":9}"#).await;
    mallory
        .next_matching(|f| match f {
            ServerFrame::Signal(s) => panic!("Mallory got a signal: {s:?}"),
            ServerFrame::Pong(p) if p.nonce == 9 => Some(()),
            _ => None,
        })
        .await;

    // Nothing Mallory sent reached the room's history.
    let history = bob.history(ROOM).await;
    let bodies: Vec<&str> = history.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["the real Alice"]);
    support::metrics_show(
        relay.config.listen,
        "festival_errors_total{code=\"invalid_signature\"} 5",
    )
    .await;
}

/// Issue 11's race: Mallory sees Alice's message id before the relay does (over a direct link,
/// where every copy goes out at once) and sends her own signed text under it first. The relay
/// refuses it (the id is not one of Mallory's), Alice's message is stored and acked as new, and
/// everyone's history holds Alice's words under Alice's id.
#[tokio::test]
async fn a_message_id_seen_early_cannot_be_taken_by_another_device() {
    let relay = spawn_relay().await;
    let url = relay.url();
    let (mut alice, _) = Client::hello(&url, "Alice").await;
    let (mut mallory, _) = Client::hello(&url, "Mallory").await;
    let (mut bob, _) = Client::hello(&url, "Bob").await;
    for client in [&mut alice, &mut mallory, &mut bob] {
        client.join(ROOM).await;
    }
    let alices = alice.chat_frame(ROOM, "meet at the left tower");

    // Mallory gets there first, with the id and her own valid signature over her own text.
    let mut first = mallory.chat_frame(ROOM, "meet at the right tower");
    first.id = alices.id;
    sign(&mallory.key, &mut first);
    assert!(
        mallory
            .key
            .public()
            .verify_chat(&first.signed(), &first.sig)
    );
    mallory.send(&ClientFrame::Chat(first)).await;
    let refused = mallory
        .next_matching(|f| match f {
            ServerFrame::Error(e) => Some(e),
            ServerFrame::Ack(a) => panic!("Mallory's message under Alice's id was stored: {a:?}"),
            _ => None,
        })
        .await;
    assert_code(&refused, ErrorCode::InvalidId);
    assert_eq!(
        (refused.id, refused.room.as_ref().map(RoomName::as_str)),
        (Some(alices.id), Some(ROOM))
    );

    // Alice's own message: new, not a "duplicate" of the stranger's.
    alice.send(&ClientFrame::Chat(alices.clone())).await;
    let ack = alice
        .next_matching(|f| match f {
            ServerFrame::Ack(a) if a.id == alices.id => Some(a),
            ServerFrame::Error(e) => panic!("Alice's message refused: {e:?}"),
            _ => None,
        })
        .await;
    assert!(!ack.duplicate, "{ack:?}");
    let live = bob.next_chat().await;
    assert_eq!(
        (live.id, live.sender, live.body.as_str()),
        (alices.id, alice.device, "meet at the left tower")
    );
    let history = bob.history(ROOM).await;
    let kept: Vec<_> = history
        .iter()
        .map(|m| (m.id, m.sender, m.body.as_str()))
        .collect();
    assert_eq!(kept, [(alices.id, alice.device, "meet at the left tower")]);
}

#[tokio::test]
async fn an_old_client_is_told_to_update_on_both_routes() {
    let relay = spawn_relay().await;
    let mut old = Client::connect(&relay.url()).await;
    let device = festival_proto::DeviceId::random();
    old.send_text(&format!(
        r#"{{"type":"hello","v":1,"device":"{device}","name":"Old"}}"#
    ))
    .await;
    let error = old.error().await;
    assert_code(&error, ErrorCode::UnsupportedVersion);
    assert!(error.message.contains("update the app"), "{error:?}");

    // Over long-poll, the old client's one-step open gets the same answer.
    let hello = format!(r#"{{"type":"hello","v":1,"device":"{device}","name":"Old"}}"#);
    let (status, body) = support::http_post(relay.config.listen, "/poll", &hello).await;
    assert_eq!(status, 400);
    assert!(body.contains("unsupported_version"), "{body}");
}

#[tokio::test]
async fn a_long_poll_session_that_never_proves_a_device_ends_after_the_hello_timeout() {
    let relay = spawn_relay_with(|c| c.hello_timeout = Duration::from_secs(1)).await;
    let addr = relay.config.listen;
    let opened = tokio::time::Instant::now();
    let (status, body) = support::http_post(addr, "/poll", "").await;
    assert_eq!(status, 200);
    let (token, _) = support::poll_challenge(&body).unwrap();
    // One long poll: it returns when the relay ends the session, well before its 8 s.
    let (status, body) = support::http_get(addr, &format!("/poll/{token}?wait_ms=8000")).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"closed\":1000"), "{body}");
    assert!(
        opened.elapsed() < Duration::from_secs(7),
        "{:?}",
        opened.elapsed()
    );
    let (status, _) = support::http_get(addr, &format!("/poll/{token}")).await;
    assert_eq!(status, 404, "the session is gone");
}
