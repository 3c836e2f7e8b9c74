//! Private rooms: what the relay keeps, what a member without the key sees, a sealed text that
//! does not open, and a removed member reading nothing after the owner's rekey.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Stdio;

use festival_core::{Event, Privacy};
use festival_proto::{Invite, PrivateRoom, RoomKey};
use festival_tests::cli::{festival, json_lines, relay_bin, run, wait_json};
use festival_tests::{Member, TestRelay, WAIT};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// Said in the private room: nowhere on the relay's disk afterwards.
const SECRET: &str = "the spare key is under the third tent peg from the left";
/// Said in a public room by the same relay: on its disk, which shows the search can find text.
const PUBLIC: &str = "lost and found is open until midnight behind the bar";

/// The relay binary on a free loopback port, its database at `db`; its WebSocket URL.
async fn relay_process(db: &Path) -> (Child, String) {
    let mut child = Command::new(relay_bin())
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("the relay prints its address in time")
        .unwrap()
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("ws://127.0.0.1:"), "{line}");
    (child, url)
}

/// Every file of the relay's database (the file, its write-ahead log, its shared memory).
fn database_bytes(db: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        if let Ok(file) = std::fs::read(&path) {
            bytes.extend(file);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn a_private_rooms_text_is_nowhere_in_the_relays_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay").join("relay.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let (mut relay, url) = relay_process(&db).await;

    // Alice makes the room private and asks for its invite.
    let mut alice = festival(
        &dir,
        "alice",
        &[
            "chat",
            "--private",
            "--relay",
            &url,
            "--room",
            "Crew Only",
            "--name",
            "Alice",
            "--json",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut typing = alice.stdin.take().unwrap();
    let mut out = BufReader::new(alice.stdout.take().unwrap()).lines();
    wait_json(&mut out, |v| v["event"] == "joined").await;
    typing.write_all(b"/invite\n").await.unwrap();
    let invite = wait_json(&mut out, |v| v["event"] == "invite").await;
    let link = invite["link"].as_str().unwrap().to_owned();
    let (before_fragment, fragment) = link.split_once('#').unwrap();
    assert!(fragment.starts_with("key="), "{link}");
    assert!(!before_fragment.contains("key"), "{link}");
    assert!(Invite::parse(&link).unwrap().private.is_some());

    typing
        .write_all(format!("{SECRET}\n").as_bytes())
        .await
        .unwrap();
    let echo = wait_json(&mut out, |v| v["event"] == "message").await;
    assert_eq!(echo["body"], SECRET);
    assert_eq!(echo["privacy"], "private");
    let id = echo["id"].as_str().unwrap().to_owned();

    // The control: the same relay stores a public room's text as it is.
    let (code, _, err) = run(festival(
        &dir,
        "alice-public",
        &[
            "send",
            "--relay",
            &url,
            "--room",
            "Lost & Found",
            "--name",
            "Alice",
            PUBLIC,
        ],
    ))
    .await;
    assert_eq!(code, 0, "{err}");

    // Bob joins with the invite (its room and its key): he reads it.
    let (code, stdout, err) = run(festival(
        &dir,
        "bob",
        &[
            "tail", "--relay", &link, "--name", "Bob", "--count", "1", "--json",
        ],
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    let bob = json_lines(&stdout);
    assert_eq!(bob[0]["body"], SECRET);
    assert_eq!(bob[0]["privacy"], "private");
    assert_eq!(bob[0]["authenticity"], "verified");
    assert_eq!(bob[0]["from"], "Alice");

    // Carol joins by the room's name alone: the marker, never the text or its bytes.
    let (code, stdout, err) = run(festival(
        &dir,
        "carol",
        &[
            "tail",
            "--relay",
            &url,
            "--room",
            "Crew Only",
            "--name",
            "Carol",
            "--count",
            "1",
            "--json",
        ],
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    let carol = json_lines(&stdout);
    assert_eq!(carol[0]["id"], id.as_str());
    assert_eq!(carol[0]["body"], "");
    assert_eq!(carol[0]["privacy"], "no_key");
    assert_eq!(
        carol[0]["authenticity"], "verified",
        "signed, so still Alice's"
    );
    let (code, stdout, err) =
        run(festival(&dir, "carol", &["history", "--room", "Crew Only"])).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("Alice: [encrypted message (no key for this room)]"),
        "{stdout}"
    );
    // Then Carol gets the invite: what she stored sealed opens in place.
    let (code, _, err) = run(festival(
        &dir,
        "carol",
        &["sync", "--relay", &link, "--name", "Carol"],
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    let (code, stdout, err) =
        run(festival(&dir, "carol", &["history", "--room", "Crew Only"])).await;
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains(&format!("Alice: {SECRET}")), "{stdout}");

    drop(typing);
    let status = tokio::time::timeout(WAIT, alice.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());

    // While the relay runs (the write-ahead log holds the newest pages), then after it stops.
    let running = database_bytes(&db);
    assert!(contains(&running, PUBLIC), "the search finds a public text");
    assert!(contains(&running, &id), "the private message is stored");
    assert!(!contains(&running, SECRET));
    for word in ["spare key", "tent peg"] {
        assert!(!contains(&running, word), "{word:?} is on the relay's disk");
    }
    let pid = relay.id().unwrap().to_string();
    let term = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(term.success());
    tokio::time::timeout(WAIT, relay.wait())
        .await
        .unwrap()
        .unwrap();
    let stopped = database_bytes(&db);
    assert!(contains(&stopped, PUBLIC));
    assert!(!contains(&stopped, SECRET));
}

/// The text and privacy of message `id`, once it was shown.
fn shown(events: &[Event], id: festival_proto::MessageId) -> Option<(String, Privacy)> {
    events.iter().find_map(|e| match e {
        Event::Message {
            message, privacy, ..
        } if message.id == id => Some((message.body.clone(), *privacy)),
        _ => None,
    })
}

#[tokio::test]
async fn a_sealed_text_that_does_not_open_is_refused_not_shown() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path()).await;
    let alice = Member::start(&relay.url(), dir.path(), "Alice").await;
    let private = alice.engine.make_private("Crew").await.unwrap();
    alice.engine.join("Crew").await.unwrap();
    // Mallory claims the room with a key of her own: what she seals opens for nobody else.
    let mallory = Member::start(&relay.url(), dir.path(), "Mallory").await;
    let wrong = PrivateRoom {
        key: RoomKey::generate(),
        ..private
    };
    mallory.engine.add_private("Crew", &wrong).await.unwrap();
    mallory.engine.join("Crew").await.unwrap();
    let sent = mallory
        .engine
        .send("Crew", "send me the key")
        .await
        .unwrap();
    let (body, privacy) = alice
        .until("Mallory's message", |events| shown(events, sent.id))
        .await;
    assert_eq!(privacy, Privacy::Unreadable);
    assert_eq!(body, "");
    let history = alice.engine.history("Crew", 10).await.unwrap();
    let stored = history.iter().find(|m| m.id == sent.id).unwrap();
    assert_eq!(stored.body, "");
}

#[tokio::test]
async fn removing_a_member_rotates_the_key_for_everyone_else_even_offline() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path()).await;
    let url = relay.url();
    let alice = Member::start(&url, dir.path(), "Alice").await;
    let private = alice.engine.make_private("Crew").await.unwrap();
    alice.engine.join("Crew").await.unwrap();
    let bob = Member::start(&url, dir.path(), "Bob").await;
    let carol = Member::start(&url, dir.path(), "Carol").await;
    for member in [&bob, &carol] {
        member.engine.add_private("Crew", &private).await.unwrap();
        member.engine.join("Crew").await.unwrap();
    }
    // Each writes once: that is how the owner knows they hold the key.
    let from_bob = bob.engine.send("Crew", "Bob here").await.unwrap();
    let from_carol = carol.engine.send("Crew", "Carol here").await.unwrap();
    for id in [from_bob.id, from_carol.id] {
        let (_, privacy) = alice
            .until("both members' messages", |e| shown(e, id))
            .await;
        assert_eq!(privacy, Privacy::Private);
    }
    let before = alice
        .engine
        .send("Crew", "before the removal")
        .await
        .unwrap();
    carol
        .until("the message before the removal", |e| shown(e, before.id))
        .await;

    // Bob goes offline; Alice removes Carol.
    bob.engine.shutdown().await;
    let epoch = alice.engine.remove_member("Crew", "Carol").await.unwrap();
    assert_eq!(epoch, 1);
    assert_eq!(alice.engine.private_room("Crew").unwrap().unwrap().epoch, 1);
    let after = alice
        .engine
        .send("Crew", "the new meeting point is gate 4")
        .await
        .unwrap();

    // Carol sees that the key changed, and cannot read what follows.
    let (body, privacy) = carol
        .until("the message after the removal", |e| shown(e, after.id))
        .await;
    assert_eq!((body.as_str(), privacy), ("", Privacy::NoKey));
    assert!(carol.events().iter().any(|e| matches!(
        e,
        Event::Message {
            privacy: Privacy::KeyChanged,
            ..
        }
    )));
    // What she had stays readable to her.
    let history = carol.engine.history("Crew", 20).await.unwrap();
    let kept = history.iter().find(|m| m.id == before.id).unwrap();
    assert_eq!(kept.body, "before the removal");
    assert_eq!(carol.engine.private_room("Crew").unwrap().unwrap().epoch, 0);

    // Bob comes back: the rekey waits for him in the room's history.
    let bob = Member::start(&url, dir.path(), "Bob").await;
    bob.engine.join("Crew").await.unwrap();
    let (body, privacy) = bob
        .until("the message after the removal", |e| shown(e, after.id))
        .await;
    assert_eq!(
        (body.as_str(), privacy),
        ("the new meeting point is gate 4", Privacy::Private)
    );
    assert_eq!(bob.engine.private_room("Crew").unwrap().unwrap().epoch, 1);
    // And what he types now is sealed with the new key: Carol cannot read it.
    let reply = bob.engine.send("Crew", "on my way").await.unwrap();
    let (body, privacy) = carol.until("Bob's reply", |e| shown(e, reply.id)).await;
    assert_eq!((body.as_str(), privacy), ("", Privacy::NoKey));
    let (body, privacy) = alice.until("Bob's reply", |e| shown(e, reply.id)).await;
    assert_eq!((body.as_str(), privacy), ("on my way", Privacy::Private));
}
