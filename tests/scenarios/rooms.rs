//! Rooms as people find them: the relay's public rooms with live member counts, a room code
//! handed out for a new room, the code typed in another case with spaces by the `festival`
//! binary, an invite link given as `--relay`, and the room-creation budget on codes.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use festival_core::{Directory, EngineError};
use festival_proto::{ErrorCode, Invite, RoomName, canonical_code};
use festival_tests::cli::{festival, json_lines, run};
use festival_tests::relay::generous_limits;
use festival_tests::{Member, TestRelay, WAIT};

/// Reads the public rooms until `want` holds (member counts change as room tasks see joins),
/// within [`WAIT`].
async fn public_until(directory: &Directory, want: impl Fn(&[(String, u32)]) -> bool) {
    tokio::time::timeout(WAIT, async {
        loop {
            let rooms: Vec<(String, u32)> = directory
                .public_rooms()
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.room.as_str().to_owned(), r.online))
                .collect();
            if want(&rooms) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the public rooms reached the expected counts");
}

#[tokio::test]
async fn public_rooms_are_listed_in_order_with_live_counts() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start_on("127.0.0.1:0".parse().unwrap(), dir.path(), |config| {
        config.public_rooms = ["Main Stage", "Lost & Found", "Ride Share"]
            .map(|r| RoomName::parse(r).unwrap())
            .to_vec();
    })
    .await;
    let directory = Directory::new(&relay.url()).unwrap();
    let listed = |rooms: &[(String, u32)], counts: [u32; 3]| {
        rooms
            == [
                ("Main Stage".to_owned(), counts[0]),
                ("Lost & Found".to_owned(), counts[1]),
                ("Ride Share".to_owned(), counts[2]),
            ]
    };
    public_until(&directory, |rooms| listed(rooms, [0, 0, 0])).await;

    let alice = Member::start(&relay.url(), dir.path(), "alice").await;
    let bob = Member::start(&relay.url(), dir.path(), "bob").await;
    alice.engine.join("Main Stage").await.unwrap();
    bob.engine.join("Main Stage").await.unwrap();
    bob.engine.join("Ride Share").await.unwrap();
    alice.wait_online(2).await;
    public_until(&directory, |rooms| listed(rooms, [2, 0, 1])).await;

    bob.engine.leave("Main Stage").await.unwrap();
    public_until(&directory, |rooms| listed(rooms, [1, 0, 1])).await;
}

#[tokio::test]
async fn a_new_room_code_is_joined_by_the_cli_typed_in_another_case_with_spaces() {
    let dir = tempfile::tempdir().unwrap();
    let relay =
        TestRelay::start_on("127.0.0.1:0".parse().unwrap(), dir.path(), generous_limits).await;
    let directory = Directory::new(&relay.url()).unwrap();
    let room = directory.create_room().await.unwrap();
    assert_eq!(
        canonical_code(room.as_str()).as_deref(),
        Some(room.as_str())
    );
    let other = directory.create_room().await.unwrap();
    assert_ne!(room, other, "two people asking get two rooms");

    let alice = Member::start(&relay.url(), dir.path(), "alice").await;
    alice.engine.join(room.as_str()).await.unwrap();
    let seq = alice
        .engine
        .send(room.as_str(), "we are by the tent")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    assert_eq!(seq, 1);

    // "sunny-tent-42" read out loud and typed on a laptop: "SUNNY tent 42".
    let typed = {
        let mut parts = room.as_str().split('-');
        let (adjective, noun, number) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        format!(" {}  {} {} ", adjective.to_uppercase(), noun, number)
    };
    let url = relay.url();
    let (code, out, err) = run(festival(
        &dir,
        "bob",
        &[
            "tail", "--relay", &url, "--room", &typed, "--name", "Bob", "--count", "1", "--json",
        ],
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    assert_eq!(lines[0]["room"], room.as_str());
    assert_eq!(lines[0]["body"], "we are by the tent");

    // The same room through an invite link as --relay, with no --room at all.
    let invite = Invite {
        room: room.clone(),
        relay: Some(url.clone()),
    }
    .to_link();
    let (code, out, err) = run(festival(
        &dir,
        "carol",
        &[
            "send", "--relay", &invite, "--name", "Carol", "found", "you",
        ],
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("#2"), "{out}");
    let (code, _, err) = run(festival(&dir, "dave", &["send", "--name", "Dave", "hi"])).await;
    assert_eq!(code, 2);
    assert!(err.contains("which room"), "{err}");
}

#[tokio::test]
async fn room_codes_are_charged_to_the_addresss_room_creations() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start_on("127.0.0.1:0".parse().unwrap(), dir.path(), |config| {
        config.room_creations_per_ip_per_sec = 0;
        config.room_creations_per_ip_burst = 3;
    })
    .await;
    let directory = Directory::new(&relay.url()).unwrap();
    for _ in 0..3 {
        directory.create_room().await.unwrap();
    }
    match directory.create_room().await {
        Err(EngineError::Refused { code, .. }) => assert_eq!(code, ErrorCode::RoomLimit),
        other => panic!("a fourth code in a row: {other:?}"),
    }
    // Listing rooms is not a creation: still answered.
    assert!(directory.public_rooms().await.unwrap().is_empty());
}
