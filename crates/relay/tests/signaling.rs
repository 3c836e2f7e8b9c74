//! Signaling payloads reach only the device they are addressed to, and `welcome` gives a
//! client what it needs to start WebRTC.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use festival_proto::{
    ClientFrame, ErrorCode, IceServer, PROTOCOL_VERSION, RoomName, ServerFrame, SignalSend,
};
use support::{Client, assert_code, spawn_relay, spawn_relay_with};

#[tokio::test]
async fn a_signal_reaches_only_its_target_device() {
    let relay = spawn_relay().await;
    let (mut alice, _) = Client::hello(&relay.url(), "Alice").await;
    let (mut bob, _) = Client::hello(&relay.url(), "Bob").await;
    let (mut carol, _) = Client::hello(&relay.url(), "Carol").await;
    for client in [&mut alice, &mut bob, &mut carol] {
        client.join("Camp").await;
    }
    let payload = serde_json::json!({"kind": "offer", "sdp": "v=0"});
    alice
        .send(&ClientFrame::Signal(SignalSend {
            room: RoomName::parse("Camp").unwrap(),
            to: bob.device,
            payload: payload.clone(),
        }))
        .await;
    let signal = bob
        .next_matching(|f| match f {
            ServerFrame::Signal(s) => Some(s),
            _ => None,
        })
        .await;
    assert_eq!(signal.from, alice.device);
    assert_eq!(signal.payload, payload);

    // Carol got no signal: her next frame is Alice's chat.
    alice.chat("Camp", "after the signal").await;
    match carol.next().await {
        ServerFrame::Chat(chat) => assert_eq!(chat.body, "after the signal"),
        other => panic!("Carol should not see the signal: {other:?}"),
    }
}

#[tokio::test]
async fn a_signal_to_someone_not_in_the_room_is_refused() {
    let relay = spawn_relay().await;
    let (mut alice, _) = Client::hello(&relay.url(), "Alice").await;
    alice.join("Camp").await;
    alice
        .send(&ClientFrame::Signal(SignalSend {
            room: RoomName::parse("Camp").unwrap(),
            to: festival_proto::DeviceId::random(),
            payload: serde_json::json!({}),
        }))
        .await;
    assert_code(&alice.error().await, ErrorCode::UnknownPeer);
}

#[tokio::test]
// The welcome carries the relay's wall clock: this test compares it with its own.
#[allow(clippy::disallowed_methods)]
async fn welcome_hands_out_a_peer_id_the_clock_the_limits_and_the_ice_servers() {
    let stun = IceServer {
        urls: vec!["stun:stun.example.org:3478".into()],
        username: None,
        credential: None,
    };
    let relay = spawn_relay_with(|c| c.ice_servers = vec![stun.clone()]).await;
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (_alice, first) = Client::hello(&relay.url(), "Alice").await;
    let (_bob, second) = Client::hello(&relay.url(), "Bob").await;

    assert_ne!(first.peer_id, second.peer_id, "each connection is numbered");
    assert_eq!(
        second.name.as_str(),
        "Bob",
        "the name comes back normalised"
    );
    assert!(
        first.server_time >= before,
        "server_time is Unix milliseconds"
    );
    assert_eq!(first.limits, relay.config.limits);
    assert_eq!(first.ice_servers, vec![stun]);
    assert_eq!(first.v, PROTOCOL_VERSION);
}

#[tokio::test]
async fn members_reached_directly_get_only_the_number() {
    let relay = spawn_relay().await;
    let (mut alice, _) = Client::hello(&relay.url(), "Alice").await;
    let (mut bob, _) = Client::hello(&relay.url(), "Bob").await;
    let (mut carol, _) = Client::hello(&relay.url(), "Carol").await;
    for client in [&mut alice, &mut bob, &mut carol] {
        client.join("Camp").await;
    }
    let mut chat = alice.chat_frame("Camp", "also sent directly to Bob");
    chat.direct = vec![bob.device];
    alice.send(&ClientFrame::Chat(chat.clone())).await;

    let notice = bob
        .next_matching(|f| match f {
            ServerFrame::Sequenced(s) => Some(s),
            ServerFrame::Chat(c) => panic!("Bob got the whole message again: {c:?}"),
            _ => None,
        })
        .await;
    let full = carol.next_chat().await;
    assert_eq!((notice.id, notice.seq), (chat.id, full.seq));
    assert_eq!(
        full.body, chat.body,
        "Carol, not reached directly, gets it all"
    );
    let own = alice.next_chat().await;
    assert_eq!(own.id, chat.id, "the sender still gets its own copy");
    support::metrics_show(relay.config.listen, "festival_messages_sequenced_total 1").await;
}

#[tokio::test]
async fn a_chat_naming_too_many_direct_devices_is_refused() {
    let relay = spawn_relay().await;
    let (mut alice, _) = Client::hello(&relay.url(), "Alice").await;
    alice.join("Camp").await;
    let mut chat = alice.chat_frame("Camp", "hi");
    chat.direct = (0..=festival_proto::Limits::MAX_DIRECT)
        .map(|_| festival_proto::DeviceId::random())
        .collect();
    alice.send(&ClientFrame::Chat(chat)).await;
    assert_code(&alice.error().await, ErrorCode::InvalidField);
}
