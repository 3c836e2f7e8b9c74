//! What every abuse scenario needs: the real relay binary (so that its memory can be read),
//! attackers behind another loopback address, bystanders that chat and time their acks, and
//! the check that nothing acked was lost.

#![allow(unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use crate::support::{Client, WAIT};

/// Where attackers connect from: another address than the bystanders' 127.0.0.1.
pub const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// Where bystanders connect from.
pub const BYSTANDER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
/// The room under attack; the same-room bystander is in it.
pub const ROOM: &str = "Main Stage";
/// Another room, with the other bystander.
pub const OTHER_ROOM: &str = "Campsite";
/// The bound on a bystander's ack latency p99 during any attack: 250 ms on a 2-core machine
/// with a debug build of the relay (`FESTIVAL_ABUSE_P99_MS` sets another).
pub fn p99_bound() -> Duration {
    let ms = std::env::var("FESTIVAL_ABUSE_P99_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250);
    Duration::from_millis(ms)
}

/// Whether the long versions run (`FESTIVAL_ABUSE_LONG=1`).
pub fn long() -> bool {
    std::env::var_os("FESTIVAL_ABUSE_LONG").is_some_and(|v| v != "0")
}

/// `short` in CI, `long` with `FESTIVAL_ABUSE_LONG=1`.
pub fn scale<T>(short: T, long: T) -> T {
    if self::long() { long } else { short }
}

/// How long each attack lasts.
pub fn attack_for() -> Duration {
    scale(Duration::from_secs(4), Duration::from_secs(30))
}

/// One scenario at a time: they measure latency, and two attacks at once on two cores would
/// measure each other.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The relay binary, started for one scenario, killed when dropped.
pub struct Relay {
    child: Child,
    pub addr: SocketAddr,
    pub data: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Relay {
    /// A relay with its own database and these extra flags.
    pub fn start(args: &[&str]) -> Relay {
        Self::start_limited(None, args)
    }

    /// A relay whose open-file limit is `nofile`, when given.
    pub fn start_limited(nofile: Option<u32>, args: &[&str]) -> Relay {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("relay.db");
        let mut relay = Self::start_on(&data, nofile, args);
        relay._dir = Some(dir);
        relay
    }

    /// A relay serving `data` (which outlives it).
    pub fn start_on(data: &Path, nofile: Option<u32>, args: &[&str]) -> Relay {
        let bin = env!("CARGO_BIN_EXE_festival-relay");
        let mut command = match nofile {
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let log = std::fs::File::create(data.with_extension("log")).expect("log file");
        command
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = command.spawn().expect("relay binary starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the relay prints its address");
        let addr = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|url| {
                url.trim_start_matches("ws://")
                    .trim_end_matches("/ws")
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Relay {
            child,
            addr,
            data: data.to_owned(),
            _dir: None,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Samples the relay's memory every 50 ms until the sampler is finished.
    pub fn sample_memory(&self) -> Sampler {
        Sampler::start(self.child.id())
    }

    /// Sends SIGTERM and waits for the process to end.
    pub async fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + WAIT;
        while self.child.try_wait().expect("try_wait").is_none() {
            assert!(
                Instant::now() < deadline,
                "the relay did not stop on SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("the relay's last log lines:");
            for line in tail.iter().rev() {
                eprintln!("  {line}");
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// The peak of a process's memory while an attack runs.
pub struct Sampler {
    done: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    task: JoinHandle<()>,
    baseline: u64,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let done = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let baseline = rss_kib(pid);
        let task = tokio::spawn({
            let (done, peak) = (Arc::clone(&done), Arc::clone(&peak));
            async move {
                while !done.load(Ordering::Acquire) {
                    peak.fetch_max(rss_kib(pid), Ordering::AcqRel);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        Sampler {
            done,
            peak,
            task,
            baseline,
        }
    }

    /// (baseline, peak) in KiB.
    pub async fn finish(self) -> (u64, u64) {
        self.done.store(true, Ordering::Release);
        let _ = self.task.await;
        (self.baseline, self.peak.load(Ordering::Acquire))
    }
}

/// A TCP connection to the relay from `ip`.
pub async fn tcp_from(ip: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(addr).await
}

/// One HTTP request from `ip`; the status and the body.
pub async fn http_from(
    ip: IpAddr,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let mut stream = tcp_from(ip, addr).await.expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read");
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"));
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

/// What one bystander saw during an attack.
#[derive(Debug)]
pub struct Watch {
    pub room: &'static str,
    pub latencies: Vec<Duration>,
    pub acked: Vec<u64>,
}

impl Watch {
    pub fn p99(&self) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let at = (sorted.len() * 99).div_ceil(100).saturating_sub(1);
        sorted.get(at).copied().unwrap_or_default()
    }
}

/// Two bystanders, one in the attacked room and one in another, chatting every 100 ms (within
/// the default rate limit) from `start` until `stop`, and timing each ack.
pub struct Bystanders {
    tasks: Vec<JoinHandle<Watch>>,
    stop: Arc<AtomicBool>,
    started: Instant,
}

impl Bystanders {
    /// Connects both, joins their rooms, and starts them chatting.
    pub async fn start(relay: &Relay) -> Bystanders {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for room in [ROOM, OTHER_ROOM] {
            let mut client = Client::connect_from(&relay.url(), BYSTANDER)
                .await
                .expect("bystander connects");
            client
                .say_hello(&festival_proto::DeviceKey::generate(), "Bystander")
                .await;
            client.join(room).await;
            let stop = Arc::clone(&stop);
            tasks.push(tokio::spawn(async move {
                let mut watch = Watch {
                    room,
                    latencies: Vec::new(),
                    acked: Vec::new(),
                };
                let mut n = 0;
                while !stop.load(Ordering::Acquire) {
                    n += 1;
                    let sent = Instant::now();
                    match client.try_chat(room, &format!("bystander {n}")).await {
                        Ok(seq) => {
                            watch.latencies.push(sent.elapsed());
                            watch.acked.push(seq);
                        }
                        Err(e) => panic!("a bystander in {room} was refused: {e:?}"),
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                watch
            }));
        }
        Bystanders {
            tasks,
            stop,
            started: Instant::now(),
        }
    }

    /// Stops them, once they chatted for at least [`attack_for`]; what each saw.
    pub async fn finish(self) -> Vec<Watch> {
        tokio::time::sleep_until((self.started + attack_for()).into()).await;
        self.stop.store(true, Ordering::Release);
        let mut watches = Vec::new();
        for task in self.tasks {
            watches.push(task.await.expect("bystander ran"));
        }
        watches
    }
}

/// Asserts the bystanders' p99 bound and that every message acked to them is in history;
/// prints the figures of the scenario.
pub async fn assert_unharmed(
    relay: &Relay,
    probe: &str,
    watches: &[Watch],
    extra: &str,
    memory: (u64, u64),
) {
    for watch in watches {
        assert!(
            !watch.latencies.is_empty(),
            "{probe}: the bystander in {} got no ack",
            watch.room
        );
        let mut reader = Client::connect_from(&relay.url(), BYSTANDER)
            .await
            .expect("reader connects");
        reader
            .say_hello(&festival_proto::DeviceKey::generate(), "Reader")
            .await;
        let stored: std::collections::BTreeSet<u64> = reader
            .history(watch.room)
            .await
            .iter()
            .map(|m| m.seq)
            .collect();
        for seq in &watch.acked {
            assert!(
                stored.contains(seq),
                "{probe}: acked #{seq} in {} was lost",
                watch.room
            );
        }
    }
    let (base, peak) = memory;
    eprintln!(
        "FIGURE {probe}: {extra}; bystander p99 same room {:?} (max {:?}, {} acks), other room {:?} (max {:?}); relay RSS {} KiB -> peak {} KiB (+{} KiB)",
        watches[0].p99(),
        watches[0]
            .latencies
            .iter()
            .max()
            .copied()
            .unwrap_or_default(),
        watches[0].latencies.len(),
        watches[1].p99(),
        watches[1]
            .latencies
            .iter()
            .max()
            .copied()
            .unwrap_or_default(),
        base,
        peak,
        peak.saturating_sub(base)
    );
    for watch in watches {
        assert!(
            watch.p99() < p99_bound(),
            "{probe}: the bystander in {} waited {:?} (p99) for acks",
            watch.room,
            watch.p99()
        );
    }
}
