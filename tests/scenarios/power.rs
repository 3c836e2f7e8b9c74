//! The power policy applied to running engines: a budget set live closes direct links between
//! messages and loses nothing; raised again, links come back; `festival chat` prints the mode,
//! takes `/power`, and refuses a malformed `FESTIVAL_POWER` with a clear error.

#![allow(clippy::unwrap_used)]

use std::process::Stdio;

use festival_core::power::Mode;
use festival_core::{Event, Route};
use festival_tests::cli::{festival, run, wait_json};
use festival_tests::{Member, TestRelay, WAIT};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_mode_closes_links_between_messages_and_a_higher_one_reopens_them() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path()).await;
    let url = relay.url();
    let ann = Member::start(&url, dir.path(), "Ann").await;
    let bo = Member::start(&url, dir.path(), "Bo").await;
    let cy = Member::start(&url, dir.path(), "Cy").await;
    for m in [&ann, &bo, &cy] {
        m.engine.join("Camp").await.unwrap();
    }
    ann.wait_links(&[&bo, &cy], WAIT).await;

    // Ann sends a burst and drops to minimal in the middle of it: every message arrives once,
    // the first ones directly, and her links close.
    let mut pending = Vec::new();
    for i in 0..40 {
        if i == 20 {
            ann.engine
                .set_power_budget(Mode::Minimal.budget())
                .await
                .unwrap();
        }
        pending.push(ann.engine.send("Camp", &format!("ann {i}")).await.unwrap());
    }
    for p in pending {
        tokio::time::timeout(WAIT, p.acked())
            .await
            .unwrap()
            .unwrap();
    }
    for m in [&bo, &cy] {
        m.wait_cursor("Camp", 40).await;
        let from_ann: Vec<_> = Member::messages(&m.events())
            .into_iter()
            .filter(|(sender, ..)| *sender == ann.device())
            .collect();
        let bodies: Vec<_> = from_ann.iter().map(|(_, body, ..)| body.clone()).collect();
        let expected: Vec<_> = (0..40).map(|i| format!("ann {i}")).collect();
        assert_eq!(bodies, expected, "each once, in order");
        // Before the change, copies went directly (the relay's copy may still win a race);
        // after it, none did.
        assert!(
            from_ann[..20]
                .iter()
                .any(|(.., route, _)| *route == Route::P2p),
            "before the change, directly: {from_ann:?}"
        );
        assert!(
            from_ann[20..]
                .iter()
                .all(|(.., route, _)| *route == Route::Relay),
            "after the change, by the relay: {from_ann:?}"
        );
        // Ann's link to each of them closed.
        m.until("Ann's link closed", |events| {
            events.iter().rev().find_map(|e| match e {
                Event::Peer { device, open, .. } if *device == ann.device() => {
                    (!open).then_some(())
                }
                _ => None,
            })
        })
        .await;
    }
    let stats = ann.engine.stats().await.unwrap();
    assert_eq!(stats.mode, Some(Mode::Minimal));
    assert_eq!(stats.p2p_links, 0, "{stats:?}");
    assert!(stats.traffic.sent.frames.p2p > 0 && stats.traffic.sent.bytes.relay > 0);
    assert!(stats.wakeups > 0);
    // In minimal, Bo's and Cy's requests are declined: no link forms while they keep asking.
    let links_now = ann.engine.stats().await.unwrap().p2p.opened;

    // Plugged in: aggressive again, and the links come back.
    ann.engine
        .set_power_budget(Mode::AggressiveP2p.budget())
        .await
        .unwrap();
    ann.until_within(WAIT, "links open again", |events| {
        let linked = Member::linked(events);
        (linked.contains(&bo.device()) && linked.contains(&cy.device())).then_some(())
    })
    .await;
    let stats = ann.engine.stats().await.unwrap();
    assert_eq!(stats.mode, Some(Mode::AggressiveP2p));
    assert!(stats.p2p.opened >= links_now + 2, "{stats:?}");
}

#[tokio::test]
async fn festival_chat_prints_mode_changes_and_takes_power_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path()).await;
    let url = relay.url();
    let mut child = festival(
        &dir,
        "Alice",
        &[
            "chat", "--relay", &url, "--room", "Camp", "--name", "Alice", "--json",
        ],
    )
    .env("FESTIVAL_POWER", "battery:15")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let stdin = child.stdin.as_mut().unwrap();
    wait_json(&mut out, |v| v["event"] == "joined").await;

    stdin.write_all(b"/power\n").await.unwrap();
    let shown = wait_json(&mut out, |v| v["event"] == "power").await;
    assert_eq!(shown["mode"], "minimal", "{shown}");
    assert_eq!(shown["why"]["power"]["percent"], 15, "{shown}");

    // Plugged in (an override: the user's choice applies at once, without settling).
    stdin
        .write_all(b"/power battery:55,charging\n")
        .await
        .unwrap();
    let change = wait_json(&mut out, |v| v["event"] == "power").await;
    assert_eq!(change["change"]["from"], "minimal", "{change}");
    assert_eq!(change["change"]["to"], "aggressive-p2p", "{change}");
    stdin.write_all(b"/stats\n").await.unwrap();
    let stats = wait_json(&mut out, |v| v["event"] == "stats").await;
    assert_eq!(stats["stats"]["mode"], "aggressive-p2p", "{stats}");

    stdin.write_all(b"/power battery:80,saver\n").await.unwrap();
    let change = wait_json(&mut out, |v| {
        v["event"] == "power" && v.get("change").is_some()
    })
    .await;
    assert_eq!(change["change"]["to"], "minimal", "{change}");

    // A malformed override is refused with what was expected; the mode stays.
    stdin.write_all(b"/power battery:150\n").await.unwrap();
    stdin.write_all(b"/power\n").await.unwrap();
    let shown = wait_json(&mut out, |v| v["event"] == "power").await;
    assert_eq!(shown["mode"], "minimal", "{shown}");

    drop(child.stdin.take());
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());

    // At start, a malformed FESTIVAL_POWER is a bad argument: exit 2, and why.
    let mut command = festival(
        &dir,
        "Bob",
        &["chat", "--relay", &url, "--room", "Camp", "--name", "Bob"],
    );
    command
        .env("FESTIVAL_POWER", "battery:50,turbo")
        .stdin(Stdio::null());
    let (code, _, err) = run(command).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("FESTIVAL_POWER")
            && err.contains("\"turbo\"")
            && err.contains("charging, saver"),
        "{err}"
    );
}
