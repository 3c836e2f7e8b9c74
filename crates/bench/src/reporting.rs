//! The cost of mesh reports: idle clients held first without reporting (the baseline), then
//! the same clients each sending a report every interval (three open links to members of its
//! room, counters that change every time: the most a real client sends). The server's CPU
//! over one interval of each, and its memory, side by side.

// A load generator is a binary: it paces and times real traffic by the clock.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use festival_proto::{
    AttemptCounts, ClientFrame, DeviceId, DeviceKey, LinkReport, LinkReportState, Report,
    RouteCounts, encode,
};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::client::{self, Target};
use crate::load::source;
use crate::server::Server;

/// Handshakes in flight at once while connecting.
const CONNECTING: usize = 256;
/// Links each reported: the mobile cap.
const LINKS: usize = 3;

/// What the reporting run measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reporting {
    pub(crate) held: usize,
    pub(crate) every: Duration,
    /// Server CPU over one interval with the clients idle, in cores.
    pub(crate) idle_cores: f64,
    /// The same, with every client reporting once in the interval.
    pub(crate) reporting_cores: f64,
    pub(crate) rss_idle_kib: u64,
    pub(crate) rss_reporting_kib: u64,
    pub(crate) reports: u64,
    pub(crate) report_bytes: u64,
}

impl Reporting {
    /// Bytes one client sends per hour: each report's text plus the WebSocket frame header
    /// a client adds (2 bytes, 2 more past 125 bytes, and a 4-byte mask).
    pub(crate) fn bytes_per_client_hour(&self) -> f64 {
        let average = self.report_bytes as f64 / self.reports.max(1) as f64;
        let framed = average + 8.0;
        framed * 3600.0 / self.every.as_secs_f64()
    }
}

/// Holds `n` clients in rooms of `room_size`; measures one `every` idle, then one with each
/// client reporting once in it (at a random phase, as real clients do).
pub(crate) async fn run(
    server: &Server,
    n: usize,
    room_size: usize,
    sources: usize,
    every: Duration,
) -> anyhow::Result<Reporting> {
    let devices: Arc<Vec<DeviceKey>> = Arc::new((0..n).map(|_| DeviceKey::generate()).collect());
    let open = Arc::new(AtomicUsize::new(0));
    let reporting = Arc::new(AtomicBool::new(false));
    let reports = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(Semaphore::new(CONNECTING));
    let stop = CancellationToken::new();
    let mut clients = JoinSet::new();
    for i in 0..n {
        let permit = Arc::clone(&gate).acquire_owned().await?;
        let (open, reporting, reports, bytes, stop, devices) = (
            open.clone(),
            reporting.clone(),
            reports.clone(),
            bytes.clone(),
            stop.clone(),
            devices.clone(),
        );
        let addr = server.addr;
        clients.spawn(async move {
            let room_start = i - i % room_size.max(1);
            let room = format!("report {room_start}");
            let joined = async {
                let mut ws = client::connect(Target::Festival, addr, source(i, sources)).await?;
                client::join_as(&mut ws, &room, i, &devices[i]).await?;
                anyhow::Ok(ws)
            };
            let Ok(mut ws) = joined.await else {
                return;
            };
            drop(permit);
            open.fetch_add(1, Ordering::Relaxed);
            let peers: Vec<DeviceId> = (1..=LINKS)
                .map(|k| room_start + (i - room_start + k) % room_size.max(1))
                .filter(|&j| j != i && j < devices.len())
                .map(|j| devices[j].device())
                .collect();
            // A phase of its own in the interval, so that reports spread out.
            let phase = every.mul_f64((i as f64 * 0.618_033_988_7).fract());
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, every);
            let mut sent = 0u64;
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = tick.tick() => {
                        if !reporting.load(Ordering::Relaxed) {
                            continue;
                        }
                        sent += 1;
                        let text = encode(&ClientFrame::Report(report(&peers, i, sent)));
                        bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
                        reports.fetch_add(1, Ordering::Relaxed);
                        if ws.send(Message::text(text)).await.is_err() {
                            break;
                        }
                    }
                    frame = ws.next() => match frame {
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                }
            }
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
    let _all = gate.acquire_many(CONNECTING as u32).await?;
    // Let the joins' presence settle before measuring.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (idle_cores, rss_idle_kib) = measure(server, every).await?;
    reporting.store(true, Ordering::Relaxed);
    let (reporting_cores, rss_reporting_kib) = measure(server, every).await?;
    let held = open.load(Ordering::Relaxed);
    stop.cancel();
    while clients.join_next().await.is_some() {}
    Ok(Reporting {
        held,
        every,
        idle_cores,
        reporting_cores,
        rss_idle_kib,
        rss_reporting_kib,
        reports: reports.load(Ordering::Relaxed),
        report_bytes: bytes.load(Ordering::Relaxed),
    })
}

/// The server's CPU in cores over `window`, and its memory at the end.
async fn measure(server: &Server, window: Duration) -> anyhow::Result<(f64, u64)> {
    let cpu = server.cpu_secs()?;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let cores = (server.cpu_secs()? - cpu) / started.elapsed().as_secs_f64();
    Ok((cores, server.rss_kib()?))
}

/// Client `i`'s `n`th report: open links to `peers`, counters that grew since the last.
fn report(peers: &[DeviceId], i: usize, n: u64) -> Report {
    let rtt = 5 + (i % 40) as u32;
    Report {
        links: peers
            .iter()
            .map(|&peer| LinkReport {
                peer,
                state: LinkReportState::Open,
                rtt_ms: Some(rtt),
            })
            .collect(),
        received: RouteCounts {
            p2p: 3 * n,
            relay: 2 * n,
            poll: 0,
        },
        sent: RouteCounts {
            p2p: n,
            relay: n,
            poll: 0,
        },
        attempts: AttemptCounts {
            opened: LINKS as u64,
            failed: (i % 2) as u64,
        },
        relay_rtt_ms: Some(20 + (i % 60) as u32),
    }
}
