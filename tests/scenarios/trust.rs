//! Names bound to keys, as a user of the terminal sees them: Bob asks `/whois Alice` and gets
//! the same safety number Alice's phone shows, marks her verified after comparing, and sees
//! her messages marked from then on; when "Alice" comes back with another key (a new phone,
//! or someone else), Bob is warned, and the mark does not carry over.

#![allow(clippy::unwrap_used)]

use festival_tests::cli::{chat_on, wait_json};
use festival_tests::relay::generous_limits;
use festival_tests::{Member, TestRelay};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

const ROOM: &str = "Camp";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_person_is_marked_and_a_new_key_under_their_name_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let relay =
        TestRelay::start_on("127.0.0.1:0".parse().unwrap(), dir.path(), generous_limits).await;
    let url = relay.url();
    let (mut bob, mut bob_out) = chat_on(&dir, &url, "Bob", "relay");
    wait_json(&mut bob_out, |v| v["event"] == "joined").await;
    let alice = Member::start(&url, dir.path(), "Alice").await;
    alice.engine.join(ROOM).await.unwrap();
    let said = |body: &'static str| move |v: &Value| v["event"] == "message" && v["body"] == body;

    alice.engine.send(ROOM, "hi Bob").await.unwrap();
    let first = wait_json(&mut bob_out, said("hi Bob")).await;
    assert_eq!(first["authenticity"], "verified");
    assert!(
        first.get("key_status").is_none(),
        "not compared yet: {first}"
    );

    let bob_in = bob.stdin.as_mut().unwrap();
    bob_in.write_all(b"/whois Alice\n").await.unwrap();
    let whois = wait_json(&mut bob_out, |v| v["event"] == "whois").await;
    assert_eq!(
        whois["status"], "known",
        "talked with, not compared: {whois}"
    );
    let on_alices_phone = alice.engine.whois(ROOM, "Bob").await.unwrap();
    assert_eq!(
        whois["safety_number"].as_str().unwrap(),
        on_alices_phone.safety_number.to_string(),
        "both phones show the same number"
    );
    assert_eq!(whois["qr"].as_str().unwrap(), on_alices_phone.qr);
    assert_eq!(
        whois["fingerprint"].as_str().unwrap(),
        festival_proto::Fingerprint::of(&alice.engine.identity().key.public()).to_string()
    );

    bob_in.write_all(b"/verify Alice\n").await.unwrap();
    let verified = wait_json(&mut bob_out, |v| v["event"] == "verified").await;
    assert_eq!(verified["status"], "verified");
    alice.engine.send(ROOM, "compared").await.unwrap();
    let marked = wait_json(&mut bob_out, said("compared")).await;
    assert_eq!(marked["key_status"], "verified", "{marked}");

    // Alice's phone is replaced (or someone else takes her name): a new key, same name.
    alice.engine.shutdown().await;
    let other = Member::start(&url, &dir.path().join("new-phone"), "Alice").await;
    other.engine.join(ROOM).await.unwrap();
    let changed = wait_json(&mut bob_out, |v| v["event"] == "key_changed").await;
    assert_eq!(
        (
            changed["name"].as_str(),
            changed["was_verified"].as_bool(),
            changed["device"].as_str()
        ),
        (
            Some("Alice"),
            Some(true),
            Some(other.device().to_string().as_str())
        )
    );
    other.engine.send(ROOM, "it's me, new phone").await.unwrap();
    let unmarked = wait_json(&mut bob_out, said("it's me, new phone")).await;
    assert_eq!(unmarked["authenticity"], "verified", "signed by its key");
    assert!(
        unmarked.get("key_status").is_none(),
        "the mark stayed with the old key"
    );
    let bob_in = bob.stdin.as_mut().unwrap();
    bob_in.write_all(b"/whois Alice\n").await.unwrap();
    let whois = wait_json(&mut bob_out, |v| v["event"] == "whois").await;
    assert_eq!(whois["status"], "changed");

    bob_in.write_all(b"/quit\n").await.unwrap();
    bob.wait().await.unwrap();
    other.engine.shutdown().await;
}
