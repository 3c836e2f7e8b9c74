//! Running the real `festival` binary in tests: each run has its own data directory under a
//! temporary folder, and every wait has a timeout.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use festival_relay::{Config, RelayHandle};
use serde_json::Value;
use tokio::process::Command;

/// How long one `festival` run may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// A relay on `addr` (port 0 for any) with its database in `dir`, with generous rate limits.
pub async fn relay_at(addr: SocketAddr, dir: &tempfile::TempDir) -> RelayHandle {
    let mut config = Config::new(addr, dir.path().join("relay.db"));
    config.limits.rate_per_sec = 10_000;
    config.limits.rate_burst = 10_000;
    RelayHandle::start(config).await.unwrap()
}

/// An address nothing listens on yet, where a relay can be started later.
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `festival ARGS…` with the data directory `data` under `dir`, its direct links on loopback
/// (every client of a test is on this machine).
pub fn festival(dir: &tempfile::TempDir, data: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_festival"));
    command
        .args(args)
        .arg("--data")
        .arg(dir.path().join(data))
        .env_remove("FESTIVAL_RELAY_URL")
        .env("FESTIVAL_P2P_LOOPBACK_ONLY", "true")
        .kill_on_drop(true);
    command
}

/// Runs a command to its end: exit code, stdout, stderr.
pub async fn run(mut command: Command) -> (i32, String, String) {
    let out = tokio::time::timeout(WAIT, command.output())
        .await
        .expect("festival finishes in time")
        .expect("festival runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Each line of `stdout` as JSON.
pub fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}
