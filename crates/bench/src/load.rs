//! The two loads: many idle clients held open, and one large room whose members all receive
//! every message, driven either as fast as its slowest member keeps up (the ceiling) or at a
//! fixed rate (to read latency below saturation).

// A load generator is a binary: it paces and times real traffic by the clock.
#![allow(clippy::disallowed_methods)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use festival_proto::RoomName;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::client::{self, Incoming, Target};
use crate::server::{self, Server};

/// Handshakes in flight at once while connecting (the listen backlog is finite).
const CONNECTING: usize = 256;
/// Bodies are padded to this length, about a short chat line.
const BODY_BYTES: usize = 64;

/// The `i`th source address: 127.0.0.1, 127.0.0.2, ... (each has its own ~28,000 ports).
pub(crate) fn source(i: usize, sources: usize) -> IpAddr {
    let n = (i % sources.max(1)) as u32 + 1;
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 0)) + n))
}

/// What holding idle clients showed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Idle {
    pub(crate) wanted: usize,
    /// Still open a few seconds after the last one joined.
    pub(crate) held: usize,
    pub(crate) rss_before_kib: u64,
    pub(crate) rss_after_kib: u64,
    pub(crate) connect_secs: f64,
}

impl Idle {
    /// Resident memory the server grew by, per client held, in KiB.
    pub(crate) fn kib_per_conn(&self) -> f64 {
        self.rss_after_kib.saturating_sub(self.rss_before_kib) as f64 / self.held.max(1) as f64
    }
}

/// Connects `n` clients, each joined to one of the rooms of `room_size`, holds them a few
/// seconds, and measures how many are still open and what they cost the server.
pub(crate) async fn idle(
    target: Target,
    server: &Server,
    n: usize,
    room_size: usize,
    sources: usize,
) -> anyhow::Result<Idle> {
    let rss_before_kib = server.rss_kib()?;
    let open = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(CONNECTING));
    let stop = CancellationToken::new();
    let started = Instant::now();
    let mut clients = JoinSet::new();
    for i in 0..n {
        let permit = Arc::clone(&gate).acquire_owned().await?;
        let (open, failed, stop, addr) = (open.clone(), failed.clone(), stop.clone(), server.addr);
        clients.spawn(async move {
            let room = format!("idle {}", i / room_size.max(1));
            let joined = async {
                let mut ws = client::connect(target, addr, source(i, sources)).await?;
                client::join(target, &mut ws, &room, i).await?;
                anyhow::Ok(ws)
            };
            let mut ws = match joined.await {
                Ok(ws) => ws,
                Err(e) => {
                    if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("bench: client {i} could not join: {e:#}");
                    }
                    return;
                }
            };
            drop(permit);
            open.fetch_add(1, Ordering::Relaxed);
            // Idle, but alive: read (WebSocket pings are answered while reading) and
            // answer Engine.IO pings.
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    frame = ws.next() => match frame {
                        Some(Ok(Message::Text(text))) => {
                            if client::classify(target, &text) == Incoming::Ping
                                && ws.send(Message::text("3")).await.is_err()
                            {
                                break;
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                }
            }
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
    // Every client has its permit back once it joined (or failed).
    let _all = gate.acquire_many(CONNECTING as u32).await?;
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after_kib = server.rss_kib()?;
    let held = open.load(Ordering::Relaxed);
    stop.cancel();
    while clients.join_next().await.is_some() {}
    Ok(Idle {
        wanted: n,
        held,
        rss_before_kib,
        rss_after_kib,
        connect_secs,
    })
}

/// How a fan-out run sends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pace {
    /// As fast as the slowest member keeps up: the server's ceiling.
    Ceiling,
    /// Messages per second from all senders together.
    Rate(f64),
}

/// What a fan-out run measured.
#[derive(Debug, Clone)]
pub(crate) struct Fanout {
    pub(crate) sent: u64,
    pub(crate) delivered: u64,
    pub(crate) secs: f64,
    /// Send to delivery, in microseconds, over every delivery measured.
    pub(crate) latency_us: Histogram<u64>,
    /// The server's CPU use over the measured window, in cores.
    pub(crate) cpu_cores: f64,
    /// This process's, which shares the machine with the server.
    pub(crate) tool_cpu_cores: f64,
}

impl Fanout {
    pub(crate) fn delivered_per_sec(&self) -> f64 {
        self.delivered as f64 / self.secs
    }

    pub(crate) fn sent_per_sec(&self) -> f64 {
        self.sent as f64 / self.secs
    }

    pub(crate) fn latency_ms(&self, quantile: f64) -> f64 {
        self.latency_us.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// Keeps every member within `LAG` messages of what was sent. A relay closes a member that
/// falls a queue behind (a slow consumer); the load tool's readers share the cores with the
/// server, so senders wait for the slowest reader rather than measure its disconnection.
struct Flow {
    measuring: AtomicBool,
    /// Sent in the measured window.
    sent_measured: AtomicU64,
    delivered_measured: AtomicU64,
    /// Sent since the start, and received by each member since the start.
    sent: AtomicU64,
    received: Vec<AtomicU64>,
    caught_up: Notify,
}

/// Messages a member may be behind the senders (the relay's queue holds 1,024 frames).
const LAG: u64 = 256;

impl Flow {
    fn slowest(&self) -> u64 {
        self.received
            .iter()
            .map(|r| r.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0)
    }

    /// Waits until the slowest member is close enough to send one more.
    async fn may_send(&self) {
        loop {
            let caught_up = self.caught_up.notified();
            tokio::pin!(caught_up);
            caught_up.as_mut().enable();
            if self.sent.load(Ordering::Relaxed) < self.slowest() + LAG {
                return;
            }
            caught_up.await;
        }
    }

    fn received(&self, member: usize) {
        let n = self.received[member].fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(16) {
            self.caught_up.notify_waiters();
        }
    }
}

/// One room of `members`, `senders` of whom send; measured for `secs` after a warm-up.
pub(crate) async fn fanout(
    target: Target,
    server: &Server,
    members: usize,
    senders: usize,
    pace: Pace,
    secs: f64,
) -> anyhow::Result<Fanout> {
    let epoch = Instant::now();
    let room = RoomName::parse("fanout")?;
    let flow = Arc::new(Flow {
        measuring: AtomicBool::new(false),
        sent_measured: AtomicU64::new(0),
        delivered_measured: AtomicU64::new(0),
        sent: AtomicU64::new(0),
        received: (0..members).map(|_| AtomicU64::new(0)).collect(),
        caught_up: Notify::new(),
    });
    let mut sockets = Vec::with_capacity(members);
    for i in 0..members {
        let mut ws = client::connect(target, server.addr, source(i, 16)).await?;
        let key = client::join(target, &mut ws, room.as_str(), i).await?;
        sockets.push((ws, key));
    }
    let stop = CancellationToken::new();
    let mut readers = JoinSet::new();
    let mut writers = JoinSet::new();
    let senders = senders.clamp(1, members);
    for (i, (ws, key)) in sockets.into_iter().enumerate() {
        let (mut sink, mut stream) = ws.split();
        // Engine.IO pings come every 25 s: a pong owed is never more than one.
        let (pongs_tx, mut pongs_rx) = tokio::sync::mpsc::channel::<()>(4);
        let (flow_in, stop_in) = (flow.clone(), stop.clone());
        readers.spawn(async move {
            let mut latency =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).context("histogram bounds")?;
            loop {
                // Writers close only after the stop: seeing it first, a reader never takes
                // the echo of its own close for the server's.
                let frame = tokio::select! {
                    biased;
                    () = stop_in.cancelled() => break,
                    frame = stream.next() => frame,
                };
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(reason))) => {
                        anyhow::bail!("the server closed member {i}'s connection: {reason:?}")
                    }
                    Some(Ok(_)) => continue,
                    other => anyhow::bail!("member {i} lost its connection: {other:?}"),
                };
                match client::classify(target, &text) {
                    Incoming::Chat(body) => {
                        flow_in.received(i);
                        if flow_in.measuring.load(Ordering::Relaxed) {
                            flow_in.delivered_measured.fetch_add(1, Ordering::Relaxed);
                            let at = body.split(' ').nth(1).and_then(|a| a.parse::<u64>().ok());
                            if let Some(at) = at {
                                let now = epoch.elapsed().as_micros() as u64;
                                latency.saturating_record(now.saturating_sub(at).max(1));
                            }
                        }
                    }
                    Incoming::Ping => {
                        let _ = pongs_tx.try_send(());
                    }
                    Incoming::Other => {}
                }
            }
            anyhow::Ok(latency)
        });
        let sends = i < senders;
        let (flow, stop, room) = (flow.clone(), stop.clone(), room.clone());
        writers.spawn(async move {
            let mut tick = match pace {
                Pace::Rate(rate) if sends => {
                    // Senders take turns, evenly spread, instead of all sending at once.
                    let every = Duration::from_secs_f64(senders as f64 / rate);
                    let first =
                        tokio::time::Instant::now() + every.mul_f64(i as f64 / senders as f64);
                    let mut tick = tokio::time::interval_at(first, every);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    Some(tick)
                }
                _ => None,
            };
            loop {
                let ready = async {
                    if !sends {
                        return std::future::pending().await;
                    }
                    if let Some(tick) = &mut tick {
                        tick.tick().await;
                    }
                    flow.may_send().await;
                };
                tokio::select! {
                    () = stop.cancelled() => break,
                    Some(()) = pongs_rx.recv() => {
                        if sink.send(Message::text("3")).await.is_err() {
                            break;
                        }
                    }
                    () = ready => {
                        let at = epoch.elapsed().as_micros();
                        let mut body = format!("s{i} {at} ");
                        while body.len() < BODY_BYTES {
                            body.push('x');
                        }
                        flow.sent.fetch_add(1, Ordering::Relaxed);
                        if flow.measuring.load(Ordering::Relaxed) {
                            flow.sent_measured.fetch_add(1, Ordering::Relaxed);
                        }
                        if sink.send(client::chat(target, &key, &room, body)).await.is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = sink.close().await;
        });
    }
    // Warm up, then measure a window.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu_before = server.cpu_secs()?;
    let tool_before = server::own_cpu_secs()?;
    flow.measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    flow.measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_cores = (server.cpu_secs()? - cpu_before) / elapsed;
    let tool_cpu_cores = (server::own_cpu_secs()? - tool_before) / elapsed;
    stop.cancel();
    let mut latency_us = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    while let Some(reader) = readers.join_next().await {
        latency_us.add(reader??)?;
    }
    while writers.join_next().await.is_some() {}
    Ok(Fanout {
        sent: flow.sent_measured.load(Ordering::Relaxed),
        delivered: flow.delivered_measured.load(Ordering::Relaxed),
        secs: elapsed,
        latency_us,
        cpu_cores,
        tool_cpu_cores,
    })
}
