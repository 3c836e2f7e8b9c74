//! What each power mode costs, measured: six engines and a real relay in one process, set up
//! on the real clock, then on tokio's paused clock (real sockets on loopback, real WebRTC, real
//! SQLite; only time is simulated), idle in one room for a simulated hour, then chatting at one message a minute
//! for another. Prints a table per mode for the README: the engine task's wake-ups (all, and
//! those a timer alone caused), frames and payload bytes each way by route, the IP packets and
//! bytes the kernel sent, and direct links held.
//!
//! Each mode runs in a network namespace of its own, whose only interface is loopback: the
//! namespace's IP counters are exactly the six engines' and the relay's traffic, headers,
//! TCP acknowledgements, WebSocket pings and WebRTC's own packets included. The four modes
//! run side by side, as four copies of this test, each printing its figures for this one.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use festival_core::Stats;
use festival_core::power::Mode;
use festival_tests::{Member, TestRelay, netns};

const HOUR: Duration = Duration::from_secs(3600);
const MEMBERS: usize = 6;
/// Simulated time per millisecond of real time while the clock is paused.
const PACE: Duration = Duration::from_millis(500);

/// The per-hour difference of two stats snapshots of one engine.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    wakeups: u64,
    timer_wakeups: u64,
    frames_out: (u64, u64),
    bytes_out: (u64, u64),
    frames_in: (u64, u64),
    bytes_in: (u64, u64),
    links: usize,
    /// IP packets and bytes sent in the namespace, divided among the members: each packet is
    /// one member's (to or from the relay) in the relay-only and minimal modes; a direct
    /// link's packet is two members', so there this is less than a member's own share.
    ip_packets: u64,
    ip_bytes: u64,
}

impl Cost {
    fn fields(&self) -> [u64; 13] {
        [
            self.wakeups,
            self.timer_wakeups,
            self.frames_out.0,
            self.frames_out.1,
            self.bytes_out.0,
            self.bytes_out.1,
            self.frames_in.0,
            self.frames_in.1,
            self.bytes_in.0,
            self.bytes_in.1,
            self.links as u64,
            self.ip_packets,
            self.ip_bytes,
        ]
    }

    fn from_fields(f: &[u64]) -> Cost {
        Cost {
            wakeups: f[0],
            timer_wakeups: f[1],
            frames_out: (f[2], f[3]),
            bytes_out: (f[4], f[5]),
            frames_in: (f[6], f[7]),
            bytes_in: (f[8], f[9]),
            links: usize::try_from(f[10]).unwrap(),
            ip_packets: f[11],
            ip_bytes: f[12],
        }
    }
}

/// The engine's stats and the namespace's IP counters at one moment.
struct Snapshot {
    stats: Stats,
    ip: (u64, u64),
}

async fn snapshot(member: &Member) -> Snapshot {
    Snapshot {
        stats: member.engine.stats().await.unwrap(),
        ip: netns::ip_sent(),
    }
}

fn cost(before: &Snapshot, after: &Snapshot) -> Cost {
    let members = MEMBERS as u64;
    let ip_packets = (after.ip.0 - before.ip.0) / members;
    let ip_bytes = (after.ip.1 - before.ip.1) / members;
    let (before, after) = (&before.stats, &after.stats);
    let (b, a) = (before.traffic, after.traffic);
    let pair =
        |a: festival_core::ByRoute, b: festival_core::ByRoute| (a.relay - b.relay, a.p2p - b.p2p);
    Cost {
        wakeups: after.wakeups - before.wakeups,
        timer_wakeups: after.timer_wakeups - before.timer_wakeups,
        frames_out: pair(a.sent.frames, b.sent.frames),
        bytes_out: pair(a.sent.bytes, b.sent.bytes),
        frames_in: pair(a.received.frames, b.received.frames),
        bytes_in: pair(a.received.bytes, b.received.bytes),
        links: after.p2p_links,
        ip_packets,
        ip_bytes,
    }
}

/// Six members in one room in `mode`: settled for five simulated minutes, then idle for an
/// hour, then one message a minute (round robin) for an hour. The cost of member 0 in each.
async fn measure(mode: Mode) -> (Cost, Cost) {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path()).await;
    let url = relay.url();
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        let member = Member::start(&url, dir.path(), &format!("m{i}")).await;
        member.engine.set_power_budget(mode.budget()).await.unwrap();
        member.engine.join("Camp").await.unwrap();
        members.push(member);
    }
    for m in &members {
        m.wait_online(MEMBERS).await;
    }
    // Set up on the real clock; from here on, simulated time, held to at most 500 times
    // real time: a paused clock leaps to the next timer whenever the runtime waits, and
    // SQLite works on a thread of its own, in real time (left alone, the clock would leap
    // past the stores' 30 s pool timeouts while a write is under way). The pacer is not part
    // of any engine: their wake-ups are counted in their own tasks.
    tokio::time::pause();
    let pacer = tokio::spawn(async {
        loop {
            tokio::time::sleep(PACE).await;
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    tokio::time::sleep(Duration::from_secs(300)).await;
    let start = snapshot(&members[0]).await;
    tokio::time::sleep(HOUR).await;
    let idle_end = snapshot(&members[0]).await;
    let mut sent = 0u64;
    for minute in 0..60 {
        let sender = &members[minute % MEMBERS];
        // Checked below, on the real clock: a timeout here would measure the pacing.
        sender
            .engine
            .send("Camp", &format!("minute {minute}"))
            .await
            .unwrap();
        sent += 1;
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    let chat_end = snapshot(&members[0]).await;
    pacer.abort();
    tokio::time::resume();
    // Every message reached every member once (its own come back from the relay too).
    for m in &members {
        m.wait_cursor("Camp", sent).await;
        let shown: Vec<_> = Member::messages(&m.events())
            .into_iter()
            .map(|(.., id)| id)
            .collect();
        let distinct: std::collections::BTreeSet<_> = shown.iter().collect();
        assert_eq!(
            (shown.len(), distinct.len()),
            (60, 60),
            "{mode}: each message shown once"
        );
    }
    for m in members {
        m.engine.shutdown().await;
    }
    (cost(&start, &idle_end), cost(&idle_end, &chat_end))
}

const TEST: &str = "each_mode_costs_less_than_the_one_above_it_and_minimal_meets_its_target";

/// Names the mode measured by a copy of the test.
const MODE: &str = "FESTIVAL_POWER_COST_MODE";
/// Starts the line a copy prints its figures on.
const FIGURES: &str = "power-cost";

#[test]
fn each_mode_costs_less_than_the_one_above_it_and_minimal_meets_its_target() {
    if netns::inside() {
        netns::run("ip", "link set lo up");
        let mode = std::env::var(MODE).unwrap();
        let mode: Mode = serde_json::from_value(serde_json::Value::String(mode)).unwrap();
        let (idle, chat) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(measure(mode));
        println!("{mode}: idle {idle:?}; chatting {chat:?}");
        let fields = idle.fields().into_iter().chain(chat.fields());
        let fields: Vec<String> = fields.map(|f| f.to_string()).collect();
        println!("{FIGURES} {}", fields.join(" "));
        return;
    }
    let modes = [
        Mode::AggressiveP2p,
        Mode::SelectiveP2p,
        Mode::RelayOnly,
        Mode::Minimal,
    ];
    let copies: Vec<_> = modes
        .iter()
        .map(|mode| netns::spawn_test_inside(TEST, &[(MODE, mode.as_str())]))
        .collect();
    let mut rows = Vec::new();
    for (mode, copy) in modes.into_iter().zip(copies) {
        let output = netns::finished_inside(copy);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix(FIGURES))
            .unwrap_or_else(|| panic!("{mode} printed its figures"));
        let fields: Vec<u64> = line
            .split_whitespace()
            .map(|f| f.parse().unwrap())
            .collect();
        let (idle, chat) = fields.split_at(fields.len() / 2);
        rows.push((mode, Cost::from_fields(idle), Cost::from_fields(chat)));
    }
    println!(
        "| mode | phase | wake-ups/h (timer) | frames out relay/p2p | bytes out relay/p2p | frames in relay/p2p | bytes in relay/p2p | IP packets/h | IP bytes/h | links held |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (mode, idle, chat) in &rows {
        for (phase, c) in [("idle", idle), ("1 msg/min", chat)] {
            println!(
                "| {mode} | {phase} | {} ({}) | {} / {} | {} / {} | {} / {} | {} / {} | {} | {} | {} |",
                c.wakeups,
                c.timer_wakeups,
                c.frames_out.0,
                c.frames_out.1,
                c.bytes_out.0,
                c.bytes_out.1,
                c.frames_in.0,
                c.frames_in.1,
                c.bytes_in.0,
                c.bytes_in.1,
                c.ip_packets,
                c.ip_bytes,
                c.links
            );
        }
    }
    let idle = |mode: Mode| rows.iter().find(|r| r.0 == mode).unwrap().1;
    // The target for minimal: at most 60 timer wake-ups and 20 KB of IP traffic in
    // an idle hour.
    let minimal = idle(Mode::Minimal);
    assert!(minimal.timer_wakeups <= 60, "{minimal:?}");
    assert!(minimal.ip_bytes <= 20_000, "{minimal:?}");
    // Relay-only and minimal: no direct-link traffic at all, no link held.
    for mode in [Mode::RelayOnly, Mode::Minimal] {
        let c = idle(mode);
        assert_eq!(
            (c.frames_out.1, c.frames_in.1, c.links),
            (0, 0, 0),
            "{mode}: {c:?}"
        );
    }
    // Each mode wakes the engine less and sends less than the one above it.
    for pair in rows.windows(2) {
        let (upper, lower) = (&pair[0], &pair[1]);
        assert!(
            lower.1.wakeups < upper.1.wakeups,
            "{} wakes less than {}: {:?} / {:?}",
            lower.0,
            upper.0,
            lower.1,
            upper.1
        );
        let out = |c: &Cost| c.bytes_out.0 + c.bytes_out.1;
        assert!(
            out(&lower.1) <= out(&upper.1),
            "{} sends less than {}",
            lower.0,
            upper.0
        );
    }
}
