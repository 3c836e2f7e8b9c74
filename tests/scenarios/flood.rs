//! `festival chat` fed faster than it prints: a pipe of 50,000 lines must neither stall the
//! engine nor lose, repeat or reorder a line, and the process must stay small.

#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

use festival_tests::TestRelay;
use festival_tests::cli::festival;
use festival_tests::relay::generous_limits;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Lines piped in: far past the ~700 after which the engine used to stall.
const LINES: usize = 50_000;
/// A stretch with no output at all means the client is stuck (it prints several lines per
/// message it sends, so a healthy one is never this quiet).
const STALL: Duration = Duration::from_secs(30);
/// The most the client may hold at once (peak resident memory), whatever the input size.
const MAX_RSS_KIB: u64 = 256 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_fed_50000_piped_lines_shows_each_once_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let relay =
        TestRelay::start_on("127.0.0.1:0".parse().unwrap(), dir.path(), generous_limits).await;
    let url = relay.url();
    let mut chat = festival(
        &dir,
        "alice",
        &[
            "chat", "--relay", &url, "--room", "Flood", "--name", "Alice", "--json",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let pid = chat.id().unwrap();
    let mut stdin = chat.stdin.take().unwrap();
    let writer = tokio::spawn(async move {
        let mut input = String::new();
        for i in 1..=LINES {
            input.push_str(&format!("line {i}\n"));
        }
        // All at once, as `seq | sed | festival chat` does; closing stdin ends the chat.
        stdin.write_all(input.as_bytes()).await.unwrap();
    });

    let mut out = BufReader::new(chat.stdout.take().unwrap()).lines();
    let mut shown: Vec<usize> = Vec::with_capacity(LINES);
    let mut peak_rss_kib = 0;
    let mut printed = 0_u64;
    let mut lagged = 0;
    loop {
        let line = match tokio::time::timeout(STALL, out.next_line()).await {
            Ok(line) => line.unwrap(),
            Err(_) => panic!(
                "festival chat stalled: no output for {STALL:?} after {} of {LINES} lines shown",
                shown.len()
            ),
        };
        let Some(line) = line else { break };
        printed += 1;
        if printed.is_multiple_of(1000) {
            peak_rss_kib = peak_rss_kib.max(peak_rss(pid));
        }
        let event: Value = serde_json::from_str(&line).unwrap();
        if event["event"] == "lagged" {
            lagged += 1;
        }
        if event["event"] == "message" {
            let body = event["body"].as_str().unwrap();
            shown.push(body.trim_start_matches("line ").parse().unwrap());
        }
    }
    writer.await.unwrap();
    let status = tokio::time::timeout(STALL, chat.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "chat exits 0 once all is confirmed");
    assert_eq!(shown.len(), LINES, "every line is shown, once");
    assert!(
        shown.iter().zip(1..).all(|(shown, line)| *shown == line),
        "in the order typed"
    );
    eprintln!(
        "peak resident memory of festival chat: {peak_rss_kib} KiB; it fell behind {lagged} times"
    );
    assert!(
        peak_rss_kib < MAX_RSS_KIB,
        "peak resident memory {peak_rss_kib} KiB"
    );
}

/// The process's peak resident set so far (`VmHWM`), in KiB; 0 once it is gone.
fn peak_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
