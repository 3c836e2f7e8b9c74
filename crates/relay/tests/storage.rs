//! The store's bad days: a disk that fills and then gets space back, a damaged file, and a
//! backup taken while the relay writes. Nothing acked may be lost through any of them.

// The time the store takes to recover once the disk has space again is this test's figure,
// read on the wall clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use festival_proto::ErrorCode;
use festival_relay::{Config, RelayError, RelayHandle, StoreError};
use support::{Client, WAIT, http_get, spawn_relay_with};

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// A tmpfs of `size` (as mount takes it, e.g. `600k`), or None when this machine does not
    /// let the test mount one (not root, or in a container without the capability).
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .expect("mount runs");
        assert!(status.success(), "remounting the tmpfs with {size}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn after_a_full_disk_gets_space_back_chats_are_acked_again_without_a_restart() {
    let Some(disk) = Tmpfs::mount("400k") else {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root); the full-disk test did not run"
        );
        return;
    };
    let data = disk.path().join("relay.db");
    let relay = spawn_relay_with(|c| c.data = data.clone()).await;
    let addr = relay.config.listen;
    let (mut alice, _) = Client::hello(&relay.url(), "Alice").await;
    let (mut bob, _) = Client::hello(&relay.url(), "Bob").await;
    alice.join("Camp").await;
    bob.join("Elsewhere").await;

    let body = "x".repeat(3000);
    let mut acked = Vec::new();
    let full = loop {
        assert!(acked.len() < 1000, "400 KiB never filled up");
        match alice.try_chat("Camp", &body).await {
            Ok(seq) => acked.push(seq),
            Err(e) => break e,
        }
    };
    assert_eq!(full.code, ErrorCode::Internal, "{full:?}");
    let (status, text) = http_get(addr, "/healthz/ready").await;
    assert_eq!(
        status, 503,
        "a relay that cannot store is not ready: {text}"
    );
    assert!(text.contains("\"store\":\"failing\""), "{text}");
    let (status, text) = http_get(addr, "/healthz").await;
    assert_eq!(status, 200, "but it is live: {text}");

    disk.resize("64m");
    let returned = Instant::now();
    let seq = loop {
        assert!(
            returned.elapsed() < WAIT,
            "chats still refused after the disk came back"
        );
        match alice.try_chat("Camp", "the disk is back").await {
            Ok(seq) => break seq,
            Err(e) => assert_eq!(e.code, ErrorCode::Internal, "{e:?}"),
        }
    };
    let recovered = returned.elapsed();
    assert_eq!(
        seq,
        acked.len() as u64 + 1,
        "no sequence number lost or reused"
    );
    assert!(bob.try_chat("Elsewhere", "me too").await.is_ok());
    let deadline = Instant::now() + WAIT;
    while http_get(addr, "/healthz/ready").await.0 != 200 {
        assert!(Instant::now() < deadline, "readiness never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "FIGURE full disk: {} chats acked before it filled, acked again {:?} after space returned",
        acked.len(),
        recovered
    );

    let (mut carol, _) = Client::hello(&relay.url(), "Carol").await;
    let history: Vec<u64> = carol.history("Camp").await.iter().map(|m| m.seq).collect();
    let expected: Vec<u64> = (1..=seq).collect();
    assert_eq!(history, expected, "every acked chat is stored, once");
    let mut relay = relay;
    relay.stop().await;
}

/// Writes `len` bytes of garbage into the middle of `path`.
fn scribble(path: &Path, len: usize) {
    use std::io::{Seek, SeekFrom, Write};
    let size = std::fs::metadata(path).expect("db exists").len();
    assert!(
        size > 4 * len as u64,
        "the database is big enough to damage: {size}"
    );
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open db");
    file.seek(SeekFrom::Start(size / 2)).expect("seek");
    let garbage: Vec<u8> = (0..len).map(|i| (i * 7 + 13) as u8).collect();
    file.write_all(&garbage).expect("scribble");
}

async fn filled_database() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("relay.db");
    let mut relay = spawn_relay_with(|c| c.data = data.clone()).await;
    let (mut alice, _) = Client::hello(&relay.url(), "Alice").await;
    for room in ["Camp", "Main Stage", "Lost & Found"] {
        alice.join(room).await;
        for i in 0..60 {
            alice.chat(room, &format!("{i} {}", "y".repeat(900))).await;
        }
    }
    relay.stop().await;
    (dir, data)
}

#[tokio::test]
async fn a_damaged_database_is_refused_at_start_with_a_clear_error() {
    let (_dir, data) = filled_database().await;
    scribble(&data, 8 * 1024);
    let config = Config::new("127.0.0.1:0".parse().unwrap(), data.clone());
    match RelayHandle::start(config).await {
        Err(RelayError::Store(e @ StoreError::Damaged { .. })) => {
            let text = e.to_string();
            assert!(text.contains("damaged"), "{text}");
            assert!(
                text.contains("recover"),
                "the error says how to recover: {text}"
            );
        }
        Err(e) => panic!("refused, but not as damaged: {e}"),
        Ok(relay) => {
            relay.shutdown().await.ok();
            panic!("a damaged database was served");
        }
    }
}

#[tokio::test]
async fn a_backup_taken_while_the_relay_writes_holds_everything_acked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("relay.db");
    let relay = spawn_relay_with(|c| c.data = data.clone()).await;
    let (mut alice, _) = Client::hello(&relay.url(), "Alice").await;
    alice.join("Camp").await;
    let mut acked = Vec::new();
    for i in 0..50 {
        acked.push(
            alice
                .chat("Camp", &format!("before the backup {i}"))
                .await
                .1,
        );
    }
    let copy = dir.path().join("backup.db");
    let backup = Command::new(env!("CARGO_BIN_EXE_festival-relay"))
        .arg("--data")
        .arg(&data)
        .arg("backup")
        .arg(&copy)
        .output()
        .expect("the binary runs");
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    // The relay keeps serving during and after the backup.
    alice.chat("Camp", "after the backup").await;
    let mut relay = relay;
    relay.stop().await;

    let restored = spawn_relay_with(|c| c.data = copy.clone()).await;
    let (mut bob, _) = Client::hello(&restored.url(), "Bob").await;
    let history: Vec<u64> = bob.history("Camp").await.iter().map(|m| m.seq).collect();
    assert_eq!(
        history, acked,
        "the copy holds every message acked before it was taken"
    );
}
