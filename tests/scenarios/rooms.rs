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
        private: None,
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

#[tokio::test]
async fn older_history_comes_from_the_store_then_the_relay_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start_on("127.0.0.1:0".parse().unwrap(), dir.path(), |config| {
        generous_limits(config);
        // A join brings only the newest few dozen: the rest is older history on the relay.
        config.history_page_bytes = 30 * 240;
    })
    .await;
    let bob = Member::start(&relay.url(), dir.path(), "bob").await;
    bob.engine.join("Camp").await.unwrap();
    let mut last = None;
    for n in 1..=250 {
        last = Some(bob.engine.send("Camp", &format!("m{n}")).await.unwrap());
    }
    assert_eq!(last.unwrap().acked().await.unwrap(), 250);

    let carol = Member::start(&relay.url(), dir.path(), "carol").await;
    carol.engine.join("Camp").await.unwrap();
    carol.wait_cursor("Camp", 250).await;
    let local = carol.engine.history("Camp", 1000).await.unwrap();
    let oldest_here = local[0].seq.unwrap();
    assert!(
        local.len() < 100 && oldest_here > 151,
        "the join brought {} messages",
        local.len()
    );

    let seqs = |page: &festival_core::OlderHistory| -> Vec<u64> {
        page.messages.iter().map(|m| m.seq.unwrap()).collect()
    };
    // Pages of at most 100, each right below the one before, down to the first message: the
    // first page is the store's, continued with the relay's (bounded in bytes too, so here a
    // few dozen messages each).
    let mut below = 251;
    let mut seen: Vec<u64> = Vec::new();
    let mut pages = 0;
    loop {
        let page = carol
            .engine
            .older_history("Camp", below, 100)
            .await
            .unwrap();
        let got = seqs(&page);
        assert!(got.len() <= 100 && !got.is_empty(), "page {pages}: {got:?}");
        assert_eq!(got, (got[0]..below).collect::<Vec<_>>(), "page {pages}");
        assert!(
            page.messages
                .iter()
                .all(|m| m.body == format!("m{}", m.seq.unwrap()))
        );
        if pages == 0 {
            assert!(
                got[0] < oldest_here,
                "the store's page went on with the relay's: {got:?}"
            );
        }
        below = got[0];
        seen.splice(0..0, got);
        pages += 1;
        if !page.more {
            break;
        }
    }
    assert_eq!(seen, (1..=250).collect::<Vec<_>>());

    // The relay is gone: what the store has, and more may follow later.
    let mut relay = relay;
    relay.stop().await;
    let page = carol.engine.older_history("Camp", 251, 100).await.unwrap();
    assert_eq!(seqs(&page), (oldest_here..=250).collect::<Vec<_>>());
    assert!(page.more);
}

#[tokio::test]
async fn older_history_over_http_refuses_bad_questions_and_is_charged_to_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start_on("127.0.0.1:0".parse().unwrap(), dir.path(), |config| {
        generous_limits(config);
        config.ip_history_bytes_per_sec = 1;
        config.ip_history_bytes_burst = 4 * 1024;
        // The address's budget is never below one device's: lower that too.
        config.history_bytes_per_sec = 1;
        config.history_bytes_burst = 4 * 1024;
    })
    .await;
    let bob = Member::start(&relay.url(), dir.path(), "bob").await;
    bob.engine.join("Camp").await.unwrap();
    let mut last = None;
    for n in 1..=60 {
        last = Some(bob.engine.send("Camp", &format!("m{n}")).await.unwrap());
    }
    last.unwrap().acked().await.unwrap();

    let get = async |query: &str| {
        let answer = reqwest::get(format!("http://{}/rooms/history?{query}", relay.addr()))
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let body: serde_json::Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
        (status, body)
    };
    let (status, body) = get("room=a%2Fb&before=5").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_room")));
    let (status, body) = get("room=Camp&before=-1").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_field"))
    );
    let (status, body) = get("before=5").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_field"))
    );

    // 4 KiB of budget: the first page is sent, the next ones are refused until it refills.
    let (status, body) = get("room=Camp&before=61").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messages"].as_array().unwrap().len(), 60);
    let (status, body) = get("room=Camp&before=61").await;
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));
}

/// A room's unread count is counted in the engine's store from the last time it was read: the
/// same after the engine is closed and started again, with what arrived meanwhile added.
#[tokio::test]
async fn unread_counts_come_from_the_store_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let relay =
        TestRelay::start_on("127.0.0.1:0".parse().unwrap(), dir.path(), generous_limits).await;
    let alice = Member::start(&relay.url(), dir.path(), "alice").await;
    let bob = Member::start(&relay.url(), dir.path(), "bob").await;
    for room in ["Camp", "Stage"] {
        alice.engine.join(room).await.unwrap();
        bob.engine.join(room).await.unwrap();
        alice.engine.mark_read(room).await.unwrap();
    }
    let say = async |room: &str, body: &str| {
        bob.engine
            .send(room, body)
            .await
            .unwrap()
            .acked()
            .await
            .unwrap()
    };
    for n in 1..=3 {
        say("Camp", &format!("camp {n}")).await;
    }
    say("Stage", "stage 1").await;
    alice
        .engine
        .send("Camp", "my own does not count")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    alice.wait_cursor("Camp", 4).await;
    alice.wait_cursor("Stage", 1).await;
    let unread = async |member: &Member| {
        (
            member.engine.unread("Camp").await.unwrap(),
            member.engine.unread("Stage").await.unwrap(),
        )
    };
    assert_eq!(unread(&alice).await, (3, 1));
    alice.engine.mark_read("Stage").await.unwrap();
    assert_eq!(unread(&alice).await, (3, 0));

    // Alice closes the app; Bob says two more in Camp meanwhile.
    alice.engine.shutdown().await;
    for n in 4..=5 {
        say("Camp", &format!("camp {n}")).await;
    }
    let alice = Member::start(&relay.url(), dir.path(), "alice").await;
    assert_eq!(unread(&alice).await, (3, 0), "as it was when closed");
    for room in ["Camp", "Stage"] {
        alice.engine.join(room).await.unwrap();
    }
    alice.wait_cursor("Camp", 6).await;
    assert_eq!(unread(&alice).await, (5, 0));
}
