//! Running the real `festival` binary: each run has its own data directory under a temporary
//! folder, and every wait has a timeout.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::WAIT;

/// The `festival` binary, built once per test program.
pub fn festival_bin() -> &'static PathBuf {
    workspace_bin("festival")
}

/// The `festival-relay` binary, for scenarios that need the relay as its own process.
pub fn relay_bin() -> &'static PathBuf {
    workspace_bin("festival-relay")
}

/// A binary of the workspace, built once per test program. A test crate cannot name another
/// package's binary, so it asks cargo to build the workspace's binaries and tests (the same
/// selection, and so the same features, as `cargo test --workspace --exclude festival-app`:
/// nothing is compiled twice) and takes the paths cargo reports.
fn workspace_bin(name: &str) -> &'static PathBuf {
    static BINS: OnceLock<Vec<(String, PathBuf)>> = OnceLock::new();
    let bins = BINS.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = std::process::Command::new(cargo);
        build
            .args([
                "build",
                "--workspace",
                "--exclude",
                "festival-app",
                "--bins",
            ])
            .args(["--tests", "--message-format=json-render-diagnostics"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(Stdio::inherit());
        // What cargo sets for a running test is not the environment the outer build saw;
        // build scripts that watch such variables would otherwise be rebuilt every time.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name == "OUT_DIR"
                || name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_BIN_")
                || name.starts_with("CARGO_MANIFEST_")
                || [
                    "CARGO_CRATE_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                ]
                .contains(&name.as_ref())
            {
                build.env_remove(name.as_ref());
            }
        }
        let out = build.output().expect("cargo runs");
        assert!(out.status.success(), "cargo builds the festival binary");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|message| {
                (message["target"]["kind"][0] == "bin" && message["profile"]["test"] == false)
                    .then(|| {
                        let name = message["target"]["name"].as_str()?.to_owned();
                        Some((name, PathBuf::from(message["executable"].as_str()?)))
                    })
                    .flatten()
            })
            .collect()
    });
    bins.iter()
        .find_map(|(bin, path)| (bin == name).then_some(path))
        .unwrap_or_else(|| panic!("cargo reports where the {name} binary is"))
}

/// `festival ARGS…` with the data directory `data` under `dir`, its direct links on loopback
/// (every client of a test is on this machine).
pub fn festival(dir: &tempfile::TempDir, data: &str, args: &[&str]) -> Command {
    let mut command = Command::new(festival_bin());
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

/// The JSON lines a running `festival … --json` prints.
pub type JsonLines = Lines<BufReader<ChildStdout>>;

/// `festival chat --json` in room "Camp" as `name`, preferring `route` (auto, p2p or
/// relay), with its standard input piped for the test to type into.
pub fn chat_on(dir: &tempfile::TempDir, url: &str, name: &str, route: &str) -> (Child, JsonLines) {
    let mut child = festival(
        dir,
        name,
        &[
            "chat", "--relay", url, "--room", "Camp", "--name", name, "--json", "--route", route,
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// The next JSON line, within [`WAIT`] (`Null` stands for the end of output).
pub async fn next_json(lines: &mut JsonLines) -> Value {
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("a line in time")
        .unwrap();
    line.map_or(Value::Null, |l| {
        serde_json::from_str(&l).expect("a JSON line")
    })
}

/// The first JSON line `want` accepts (`Null` stands for the end of output).
pub async fn wait_json(lines: &mut JsonLines, want: impl Fn(&Value) -> bool) -> Value {
    loop {
        let value = next_json(lines).await;
        if value.is_null() || want(&value) {
            return value;
        }
    }
}
