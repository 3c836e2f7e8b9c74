//! The `festival` binary as a user runs it, against a real relay on 127.0.0.1.

#![allow(clippy::unwrap_used)]

use std::process::Stdio;

use festival_tests::cli::{JsonLines, chat_on, festival, json_lines, next_json, run, wait_json};
use festival_tests::relay::generous_limits;
use festival_tests::{TestRelay, WAIT};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Child;

#[tokio::test]
async fn a_sent_message_shows_up_in_tail_json_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let relay =
        TestRelay::start_on("127.0.0.1:0".parse().unwrap(), dir.path(), generous_limits).await;
    let url = relay.url();
    let (code, out, err) = run(festival(
        &dir,
        "alice",
        &[
            "send",
            "--relay",
            &url,
            "--room",
            "Main Stage",
            "--name",
            "  Alice ",
            "meet",
            "at",
            "the",
            "bar",
        ],
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("#1"), "{out}");

    let (code, out, err) = run(festival(
        &dir,
        "bob",
        &[
            "tail",
            "--relay",
            &url,
            "--room",
            "Main Stage",
            "--name",
            "Bob",
            "--count",
            "1",
            "--json",
        ],
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    let message = &lines[0];
    assert_eq!(message["body"], "meet at the bar");
    assert_eq!(message["from"], "Alice");
    assert_eq!(message["room"], "Main Stage");
    assert_eq!(message["seq"], 1);
    assert_eq!(message["route"], "relay");
    for field in ["id", "sender", "sent_at"] {
        assert!(
            message[field].is_string() || message[field].is_number(),
            "{field} in {message}"
        );
    }
}

#[tokio::test]
async fn tail_prints_history_then_live_messages() {
    let dir = tempfile::tempdir().unwrap();
    let relay =
        TestRelay::start_on("127.0.0.1:0".parse().unwrap(), dir.path(), generous_limits).await;
    let url = relay.url();
    for body in ["first", "second"] {
        let (code, _, err) = run(festival(
            &dir,
            "alice",
            &[
                "send", "--relay", &url, "--room", "Camp", "--name", "Alice", body,
            ],
        ))
        .await;
        assert_eq!(code, 0, "{err}");
    }
    let mut tail = festival(
        &dir,
        "bob",
        &[
            "tail", "--relay", &url, "--room", "Camp", "--name", "Bob", "--count", "3", "--json",
        ],
    );
    let mut tail = tail.stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(tail.stdout.take().unwrap()).lines();
    let mut bodies = Vec::new();
    for _ in 0..2 {
        bodies.push(
            next_json(&mut lines).await["body"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (code, _, err) = run(festival(
        &dir,
        "alice",
        &["send", "--relay", &url, "--room", "Camp", "third"],
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    bodies.push(
        next_json(&mut lines).await["body"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    assert_eq!(bodies, ["first", "second", "third"]);
    let status = tokio::time::timeout(WAIT, tail.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "tail exits 0 after --count messages");
}

#[tokio::test]
async fn two_chats_talk_through_pipes_and_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let relay =
        TestRelay::start_on("127.0.0.1:0".parse().unwrap(), dir.path(), generous_limits).await;
    let url = relay.url();
    let (mut alice, mut alice_out) = chat(&dir, &url, "Alice");
    wait_json(&mut alice_out, |v| v["event"] == "joined").await;
    let (mut bob, mut bob_out) = chat(&dir, &url, "Bob");
    wait_json(&mut bob_out, |v| {
        v["event"] == "joined" && v["members"].as_array().map(Vec::len) == Some(2)
    })
    .await;
    let presence = wait_json(&mut alice_out, |v| v["event"] == "presence").await;
    assert_eq!(
        (
            presence["member"]["name"].as_str(),
            presence["online"].as_u64()
        ),
        (Some("Bob"), Some(2))
    );

    let stdin = alice.stdin.as_mut().unwrap();
    stdin.write_all(b"hello from alice\n").await.unwrap();
    let message = wait_json(&mut bob_out, |v| v["event"] == "message").await;
    assert_eq!(
        (message["from"].as_str(), message["body"].as_str()),
        (Some("Alice"), Some("hello from alice"))
    );

    bob.stdin
        .as_mut()
        .unwrap()
        .write_all(b"/members\n")
        .await
        .unwrap();
    let members = wait_json(&mut bob_out, |v| v["event"] == "members").await;
    assert_eq!(members["online"], 2);
    bob.stdin
        .as_mut()
        .unwrap()
        .write_all(b"/stats\n")
        .await
        .unwrap();
    let stats = wait_json(&mut bob_out, |v| v["event"] == "stats").await;
    assert_eq!(stats["stats"]["route"], "relay");
    assert!(
        stats["stats"]["rtt_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{stats}"
    );
    assert_eq!(stats["stats"]["delivered"]["relay"], 1, "Alice's message");
    bob.stdin
        .as_mut()
        .unwrap()
        .write_all(b"/diag\n")
        .await
        .unwrap();
    let diag = wait_json(&mut bob_out, |v| v["event"] == "diagnostics").await;
    assert_eq!(
        diag["diagnostics"]["rooms"][0]["members"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // End of input: each chat exits 0 once what it sent is confirmed.
    drop(alice.stdin.take());
    drop(bob.stdin.take());
    for child in [&mut alice, &mut bob] {
        let status = tokio::time::timeout(WAIT, child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success());
    }
}

#[tokio::test]
async fn the_first_run_needs_a_name_and_later_runs_keep_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let relay =
        TestRelay::start_on("127.0.0.1:0".parse().unwrap(), dir.path(), generous_limits).await;
    let url = relay.url();
    let (code, _, err) = run(festival(
        &dir,
        "alice",
        &["send", "--relay", &url, "--room", "Camp", "hi"],
    ))
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("--name"), "{err}");
    for args in [vec!["--name", "Alice", "one"], vec!["two"]] {
        let mut all = vec!["send", "--relay", &url, "--room", "Camp"];
        all.extend(args);
        assert_eq!(run(festival(&dir, "alice", &all)).await.0, 0);
    }
    let (_, out, _) = run(festival(
        &dir,
        "bob",
        &[
            "tail", "--relay", &url, "--room", "Camp", "--name", "Bob", "--count", "2", "--json",
        ],
    ))
    .await;
    let lines = json_lines(&out);
    assert_eq!(
        lines[0]["sender"], lines[1]["sender"],
        "same device across runs"
    );
    assert_eq!(lines[1]["from"], "Alice", "the saved name was used");
}

#[tokio::test]
async fn a_refused_message_exits_non_zero_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let relay =
        TestRelay::start_on("127.0.0.1:0".parse().unwrap(), dir.path(), generous_limits).await;
    let url = relay.url();
    let long = "x".repeat(5000);
    let (code, _, err) = run(festival(
        &dir,
        "alice",
        &[
            "send", "--relay", &url, "--room", "Camp", "--name", "Alice", &long,
        ],
    ))
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("body_too_large"), "{err}");
}

#[tokio::test]
async fn two_chats_in_a_small_room_talk_directly_until_one_turns_p2p_off() {
    let dir = tempfile::tempdir().unwrap();
    let relay =
        TestRelay::start_on("127.0.0.1:0".parse().unwrap(), dir.path(), generous_limits).await;
    let url = relay.url();
    let (mut alice, mut alice_out) = chat_on(&dir, &url, "Alice", "auto");
    wait_json(&mut alice_out, |v| v["event"] == "joined").await;
    let (mut bob, mut bob_out) = chat_on(&dir, &url, "Bob", "auto");
    wait_json(&mut bob_out, |v| v["event"] == "peer" && v["open"] == true).await;
    wait_json(&mut alice_out, |v| {
        v["event"] == "peer" && v["open"] == true
    })
    .await;

    let stdin = alice.stdin.as_mut().unwrap();
    stdin.write_all(b"straight to you\n").await.unwrap();
    let message = wait_json(&mut bob_out, |v| v["event"] == "message").await;
    assert_eq!(
        (message["body"].as_str(), message["route"].as_str()),
        (Some("straight to you"), Some("p2p"))
    );
    let bob_in = bob.stdin.as_mut().unwrap();
    bob_in.write_all(b"/stats\n").await.unwrap();
    let stats = wait_json(&mut bob_out, |v| v["event"] == "stats").await;
    assert_eq!(stats["stats"]["route"], "p2p");
    assert_eq!(stats["stats"]["p2p_links"], 1);

    // Bob turns P2P off: the link closes, and his next message comes by the relay.
    bob_in.write_all(b"/route relay\n").await.unwrap();
    wait_json(&mut bob_out, |v| {
        v["event"] == "done" && v["command"] == "route"
    })
    .await;
    wait_json(&mut alice_out, |v| {
        v["event"] == "peer" && v["open"] == false
    })
    .await;
    bob_in.write_all(b"through the relay\n").await.unwrap();
    let message = wait_json(&mut alice_out, |v| {
        v["event"] == "message" && v["body"] == "through the relay"
    })
    .await;
    assert_eq!(message["route"], "relay");

    drop(alice.stdin.take());
    drop(bob.stdin.take());
    for child in [&mut alice, &mut bob] {
        let status = tokio::time::timeout(WAIT, child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success());
    }
}

fn chat(dir: &tempfile::TempDir, url: &str, name: &str) -> (Child, JsonLines) {
    chat_on(dir, url, name, "relay")
}
