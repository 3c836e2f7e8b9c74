//! Offline first: what is typed is on disk before `send` returns, survives SIGKILL, and is
//! delivered exactly once when the relay is back; history reads with no network.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::process::Stdio;

use festival_tests::cli::{festival, festival_bin, json_lines, run};
use festival_tests::relay::generous_limits;
use festival_tests::{TestRelay, WAIT, free_addr};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

async fn history(dir: &tempfile::TempDir, data: &str, room: &str) -> Vec<Value> {
    let (code, out, err) = run(festival(
        dir,
        data,
        &["history", "--room", room, "--json", "--limit", "100000"],
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    json_lines(&out)
}

#[tokio::test]
async fn a_message_sent_offline_is_queued_then_delivered_once_by_sync() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let url = format!("ws://{addr}/ws");
    let (code, out, err) = run(festival(
        &dir,
        "alice",
        &[
            "send",
            "--relay",
            &url,
            "--room",
            "Camp",
            "--name",
            "Alice",
            "--timeout",
            "1",
            "lost my tent key",
        ],
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("queued"), "{out}");
    let local = history(&dir, "alice", "Camp").await;
    assert_eq!(local.len(), 1);
    assert_eq!(
        (local[0]["state"].as_str(), local[0]["body"].as_str()),
        (Some("queued"), Some("lost my tent key"))
    );

    let _relay = TestRelay::start_on(addr, dir.path(), generous_limits).await;
    let (code, out, err) = run(festival(&dir, "alice", &["sync", "--relay", &url])).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 delivered"), "{out}");
    let local = history(&dir, "alice", "Camp").await;
    assert_eq!(
        (local[0]["state"].as_str(), local[0]["seq"].as_u64()),
        (Some("sent"), Some(1))
    );

    // A second sync has nothing left to send: the relay holds the message once.
    assert_eq!(
        run(festival(&dir, "alice", &["sync", "--relay", &url]))
            .await
            .0,
        0
    );
    let (_, out, _) = run(festival(
        &dir,
        "bob",
        &[
            "tail", "--relay", &url, "--room", "Camp", "--name", "Bob", "--count", "1", "--json",
        ],
    ))
    .await;
    assert_eq!(json_lines(&out).len(), 1);
    let (_, out, _) = run(festival(
        &dir,
        "carol",
        &[
            "send", "--relay", &url, "--room", "Camp", "--name", "Carol", "sentinel",
        ],
    ))
    .await;
    assert!(
        out.contains("#2"),
        "the queued message took #1 and nothing else did: {out}"
    );
}

#[tokio::test]
async fn any_later_command_delivers_the_queue_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let url = format!("ws://{addr}/ws");
    for body in ["one", "two"] {
        let (code, _, err) = run(festival(
            &dir,
            "alice",
            &[
                "send",
                "--relay",
                &url,
                "--room",
                "Camp",
                "--name",
                "Alice",
                "--timeout",
                "1",
                body,
            ],
        ))
        .await;
        assert_eq!(code, 0, "{err}");
    }
    let _relay = TestRelay::start_on(addr, dir.path(), generous_limits).await;
    let (code, _, err) = run(festival(
        &dir,
        "alice",
        &["send", "--relay", &url, "--room", "Camp", "three"],
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(festival(
        &dir,
        "bob",
        &[
            "tail", "--relay", &url, "--room", "Camp", "--name", "Bob", "--count", "3", "--json",
        ],
    ))
    .await;
    let bodies: Vec<_> = json_lines(&out)
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bodies, ["one", "two", "three"]);
}

#[tokio::test]
async fn history_is_readable_with_the_relay_down() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let url = format!("ws://{addr}/ws");
    let mut relay = TestRelay::start_on(addr, dir.path(), generous_limits).await;
    for (data, name, body) in [("alice", "Alice", "hi"), ("bob", "Bob", "hello")] {
        run(festival(
            &dir,
            data,
            &[
                "send", "--relay", &url, "--room", "Camp", "--name", name, body,
            ],
        ))
        .await;
    }
    let (code, _, _) = run(festival(
        &dir,
        "alice",
        &["tail", "--relay", &url, "--room", "Camp", "--count", "2"],
    ))
    .await;
    assert_eq!(code, 0);
    relay.stop().await;

    let (code, out, err) = run(festival(&dir, "alice", &["history", "--room", "Camp"])).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Alice: hi") && out.contains("Bob: hello"),
        "{out}"
    );
}

#[tokio::test]
async fn sigkill_during_a_burst_loses_nothing_that_was_queued_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let url = format!("ws://{addr}/ws");
    let _relay = TestRelay::start_on(addr, dir.path(), generous_limits).await;
    let mut chat = festival(
        &dir,
        "alice",
        &[
            "chat", "--relay", &url, "--room", "Camp", "--name", "Alice", "--json",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdin = chat.stdin.take().unwrap();
    let writer = tokio::spawn(async move {
        for i in 0..500 {
            if stdin
                .write_all(format!("burst {i}\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
        stdin
    });
    // Kill it mid-burst: after 100 messages were reported queued (on disk).
    let mut lines = BufReader::new(chat.stdout.take().unwrap()).lines();
    let mut queued = HashSet::new();
    while queued.len() < 100 {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        if event["event"] == "queued" {
            queued.insert(event["id"].as_str().unwrap().to_owned());
        }
    }
    chat.start_kill().unwrap();
    chat.wait().await.unwrap();
    drop(writer.await);

    let (code, _, err) = run(festival(&dir, "alice", &["sync", "--relay", &url])).await;
    assert_eq!(code, 0, "{err}");
    let local = history(&dir, "alice", "Camp").await;
    assert!(
        local.iter().all(|m| m["state"] == "sent"),
        "nothing left queued or failed"
    );
    let stored: HashSet<_> = local
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        queued.is_subset(&stored),
        "every message reported queued was delivered"
    );

    // The relay holds each exactly once, numbered 1..=n.
    let n = stored.len();
    let (_, out, _) = run(festival(
        &dir,
        "bob",
        &[
            "tail",
            "--relay",
            &url,
            "--room",
            "Camp",
            "--name",
            "Bob",
            "--count",
            &n.to_string(),
            "--json",
        ],
    ))
    .await;
    let relayed = json_lines(&out);
    let ids: HashSet<_> = relayed
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, stored);
    let seqs: Vec<_> = relayed.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=n as u64).collect::<Vec<_>>());
    let bodies: Vec<_> = relayed
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    let mut in_order = bodies.clone();
    in_order.sort_by_key(|b| b.trim_start_matches("burst ").parse::<u32>().unwrap());
    assert_eq!(
        bodies, in_order,
        "the relay got them in the order they were typed"
    );
}

#[tokio::test]
async fn a_bad_data_directory_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = Command::new(festival_bin())
        .args(["history", "--room", "Camp", "--data"])
        .arg(&file)
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("data directory") && err.contains("not-a-dir"),
        "{err}"
    );

    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir(&corrupt).unwrap();
    std::fs::write(corrupt.join(festival_core::DB_FILE), vec![0x42; 8192]).unwrap();
    let out = Command::new(festival_bin())
        .args([
            "send",
            "--relay",
            "ws://127.0.0.1:9/ws",
            "--room",
            "Camp",
            "--name",
            "A",
            "hi",
            "--data",
        ])
        .arg(&corrupt)
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("not a database"), "{err}");
    assert!(!err.contains("panicked"));
}

#[tokio::test]
async fn a_read_only_data_directory_gives_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    // Root ignores permissions, so the client runs as `nobody` on a directory it cannot write.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let read_only = dir.path().join("read-only");
    std::fs::create_dir(&read_only).unwrap();
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(festival_bin())
        .args([
            "send",
            "--relay",
            "ws://127.0.0.1:9/ws",
            "--room",
            "Camp",
            "--name",
            "A",
            "hi",
            "--data",
        ])
        .arg(&read_only)
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("data directory") && err.contains("read-only"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
