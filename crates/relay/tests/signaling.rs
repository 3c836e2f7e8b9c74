//! Signaling payloads reach only the device they are addressed to.

mod support;

use festival_proto::{ClientFrame, ErrorCode, RoomName, ServerFrame, SignalSend};
use support::{Client, assert_code, spawn_relay};

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
