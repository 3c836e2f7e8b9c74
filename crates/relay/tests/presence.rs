//! Presence is keyed by device: names are told apart per room, counts are exact, and a device's
//! extra or renewed connections never count twice.

mod support;

use festival_proto::{ClientFrame, Leave, PROTOCOL_VERSION, PresenceChange, RoomName, ServerFrame};
use support::{Client, spawn_relay};

fn presence(frame: ServerFrame) -> Option<festival_proto::Presence> {
    match frame {
        ServerFrame::Presence(p) => Some(p),
        _ => None,
    }
}

#[tokio::test]
async fn padded_duplicate_names_are_told_apart_and_counted_exactly() {
    let relay = spawn_relay().await;
    let (mut john, welcome) = Client::hello(&relay.url(), "John").await;
    assert_eq!(welcome.name.as_str(), "John");
    let joined = john.join("Main Stage").await;
    assert_eq!(joined.name.as_str(), "John");

    let (mut other, welcome) = Client::hello(&relay.url(), "  John ").await;
    assert_eq!(welcome.name.as_str(), "John", "trimmed");
    let joined = other.join("Main Stage").await;
    assert_eq!(joined.name.as_str(), "John (2)");
    assert_eq!(joined.members.len(), 2);

    let seen = john.next_matching(presence).await;
    assert_eq!(seen.change, PresenceChange::Joined);
    assert_eq!(seen.member.name.as_str(), "John (2)");
    assert_eq!(seen.member.device, other.device);
    assert_eq!(seen.online, 2);

    // The relay trims names itself: a raw hello with padding, as another client might send.
    let mut third = Client::connect(&relay.url()).await;
    let hello = format!(
        r#"{{"type":"hello","v":{PROTOCOL_VERSION},"device":"{}","name":"   John  ","key":"{}","proof":"{}"}}"#,
        third.device,
        third.key.public(),
        third.key.prove(&third.nonce)
    );
    third.send_text(&hello).await;
    match third.next().await {
        ServerFrame::Welcome(welcome) => assert_eq!(welcome.name.as_str(), "John"),
        other => panic!("expected welcome, got {other:?}"),
    }
    let joined = third.join("Main Stage").await;
    assert_eq!(joined.name.as_str(), "John (3)");
    assert_eq!(joined.members.len(), 3);
    let seen = john.next_matching(presence).await;
    assert_eq!((seen.member.name.as_str(), seen.online), ("John (3)", 3));
}

#[tokio::test]
async fn one_device_with_two_connections_is_one_member() {
    let relay = spawn_relay().await;
    let (mut watcher, _) = Client::hello(&relay.url(), "Watcher").await;
    watcher.join("Camp").await;

    let (mut phone, _) = Client::hello(&relay.url(), "Ann").await;
    phone.join("Camp").await;
    let (mut laptop, _) = Client::hello_as(&relay.url(), &phone.key, "Ann").await;
    let joined = laptop.join("Camp").await;
    assert_eq!(joined.members.len(), 2, "watcher and Ann, not Ann twice");
    assert_eq!(
        joined.name.as_str(),
        "Ann",
        "same device, same name, no suffix"
    );

    let came = watcher.next_matching(presence).await;
    assert_eq!((came.change, came.online), (PresenceChange::Joined, 2));

    // The phone leaves: Ann is still here through the laptop, so nobody hears of it.
    phone
        .send(&ClientFrame::Leave(Leave {
            room: RoomName::parse("Camp").unwrap(),
        }))
        .await;
    phone
        .next_matching(|f| matches!(f, ServerFrame::Left(_)).then_some(()))
        .await;
    // The laptop leaves too: now Ann is gone. The first presence the watcher sees after the
    // join is this one, so the phone's leave produced none.
    laptop
        .send(&ClientFrame::Leave(Leave {
            room: RoomName::parse("Camp").unwrap(),
        }))
        .await;
    let went = watcher.next_matching(presence).await;
    assert_eq!((went.change, went.online), (PresenceChange::Left, 1));
    assert_eq!(went.member.device, phone.device);
}

#[tokio::test]
async fn a_device_reconnecting_before_its_old_socket_dies_stays_one_member() {
    let relay = spawn_relay().await;
    let (mut watcher, _) = Client::hello(&relay.url(), "Watcher").await;
    watcher.join("Camp").await;
    let (old, _) = Client::hello(&relay.url(), "Bo").await;
    let (device, key) = (old.device, old.key.clone());
    let mut old = old;
    old.join("Camp").await;
    let came = watcher.next_matching(presence).await;
    assert_eq!(came.online, 2);

    // The new connection joins while the old one is still open, then the old one drops.
    let (mut new, _) = Client::hello_as(&relay.url(), &key, "Bo").await;
    assert_eq!(new.join("Camp").await.members.len(), 2);
    drop(old);
    // Bo, now only on the new connection, sends: the watcher's next frame is that message,
    // not a presence change.
    new.chat("Camp", "still here").await;
    match watcher.next().await {
        ServerFrame::Chat(chat) => assert_eq!(chat.sender, device),
        other => panic!("expected Bo's message and no presence change, got {other:?}"),
    }

    // A clean disconnect and a fresh connection: one left, one joined, counts exact.
    drop(new);
    let went = watcher.next_matching(presence).await;
    assert_eq!((went.change, went.online), (PresenceChange::Left, 1));
    let (mut again, _) = Client::hello_as(&relay.url(), &key, "Bo").await;
    again.join("Camp").await;
    let back = watcher.next_matching(presence).await;
    assert_eq!((back.change, back.online), (PresenceChange::Joined, 2));
    assert_eq!(back.member.name.as_str(), "Bo");
}
