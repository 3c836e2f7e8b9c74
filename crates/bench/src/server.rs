//! The server under load as a real process: started on a free loopback port, read from
//! `/proc` for its memory and CPU, and stopped at the end.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::client::Target;

/// `/proc` counts CPU time in ticks of this many per second on Linux (USER_HZ).
const TICKS_PER_SEC: f64 = 100.0;

/// Where the servers' programs are.
#[derive(Debug, Clone)]
pub(crate) struct Programs {
    /// The `festival-relay` binary.
    pub(crate) relay: PathBuf,
    /// The folder of the Socket.IO baseline (`server.js`, `node_modules`).
    pub(crate) socketio: PathBuf,
}

/// A running server.
pub(crate) struct Server {
    child: Child,
    pid: u32,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl Server {
    /// Starts `target` and waits until it says where it listens.
    pub(crate) async fn start(target: Target, programs: &Programs) -> anyhow::Result<Self> {
        let data = tempfile::tempdir()?;
        let mut command = match target {
            Target::Festival => {
                let mut command = Command::new(&programs.relay);
                // The per-connection rate limit protects a real relay from one phone; the
                // load tool's few senders each send far more than a person can type.
                command
                    .args(["--listen", "127.0.0.1:0", "--data"])
                    .arg(data.path().join("relay.db"))
                    .args(["--rate-per-sec", "1000000", "--rate-burst", "1000000"])
                    // The per-IP and per-room caps protect a real relay from one laptop; the
                    // load tool is that laptop on purpose, spread over a few addresses.
                    .args(["--max-conns-per-ip", "1000000"])
                    .args(["--ip-rate-per-sec", "1000000", "--ip-rate-burst", "1000000"])
                    .args([
                        "--max-members-per-room",
                        "1000000",
                        "--max-rooms-total",
                        "1000000",
                    ])
                    .args(["--room-creations-per-ip-per-sec", "1000000"])
                    .args(["--room-creations-per-ip-burst", "1000000"])
                    .env(
                        "RUST_LOG",
                        std::env::var("FESTIVAL_BENCH_RELAY_LOG").unwrap_or_else(|_| "warn".into()),
                    );
                command
            }
            Target::SocketIo => {
                let mut command = Command::new("node");
                command
                    .arg("--max-old-space-size=16384")
                    .arg(programs.socketio.join("server.js"))
                    .arg("0");
                command
            }
        };
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", target.label()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().context("the server's output")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .context("the server did not say where it listens within 30 s")??
            .context("the server exited before listening")?;
        let addr = listening_addr(&line)
            .with_context(|| format!("no address in the server's first line: {line}"))?;
        // Keep reading its output so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            child,
            pid,
            addr,
            _data: data,
        })
    }

    /// Resident memory now, in KiB.
    pub(crate) fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("VmRSS in /proc/PID/status")
    }

    /// CPU time used so far (user and system), in seconds.
    pub(crate) fn cpu_secs(&self) -> anyhow::Result<f64> {
        cpu_secs(&std::fs::read_to_string(format!(
            "/proc/{}/stat",
            self.pid
        ))?)
    }

    /// Stops it: SIGTERM (both servers shut down cleanly on it), then SIGKILL after 10 s.
    pub(crate) async fn stop(mut self) {
        let asked = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        if asked.is_ok() {
            let exited = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
            if exited.is_ok() {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}

/// CPU time this process used so far, in seconds.
pub(crate) fn own_cpu_secs() -> anyhow::Result<f64> {
    cpu_secs(&std::fs::read_to_string("/proc/self/stat")?)
}

/// The default place of the relay binary: next to this one (both built by cargo).
pub(crate) fn sibling_relay() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me.parent().unwrap_or(Path::new("."));
    Ok(dir.join("festival-relay"))
}

/// Reads `... listening on ws://127.0.0.1:PORT/ws` or `... listening on PORT`.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let tail = line.rsplit("listening on ").next()?;
    let tail = tail
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .trim();
    tail.parse().ok().or_else(|| {
        tail.parse::<u16>()
            .ok()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
    })
}

/// utime + stime from a `/proc/PID/stat` line; the command name may hold spaces, so fields
/// are counted after its closing parenthesis.
fn cpu_secs(stat: &str) -> anyhow::Result<f64> {
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("/proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15.
    let (Some(utime), Some(stime)) = (fields.get(11), fields.get(12)) else {
        bail!("/proc stat has too few fields");
    };
    Ok((utime.parse::<u64>()? + stime.parse::<u64>()?) as f64 / TICKS_PER_SEC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_servers_first_lines_give_their_address() {
        let festival = "festival-relay listening on ws://127.0.0.1:4567/ws";
        assert_eq!(
            listening_addr(festival),
            Some("127.0.0.1:4567".parse().unwrap())
        );
        let node = "socket.io listening on 4568";
        assert_eq!(
            listening_addr(node),
            Some("127.0.0.1:4568".parse().unwrap())
        );
    }

    #[test]
    fn cpu_time_is_read_after_the_command_name() {
        let stat = "42 (node main) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0";
        assert_eq!(cpu_secs(stat).unwrap(), 3.0);
    }
}
