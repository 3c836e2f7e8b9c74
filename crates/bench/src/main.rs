//! `festival-bench`: the relay under load, side by side with a Socket.IO relay of the same
//! behaviour (the seed's stack), in one run on this machine. Both servers are real processes
//! on loopback; the load clients are in this process and share the machine's cores with
//! them, the same for both.
//!
//! It holds idle clients (connections held, server memory per connection), then fans out in
//! one large room as fast as the server goes (deliveries per second, server CPU), then at
//! half that rate (latency p50, p99, p99.9), and prints each figure for both with the ratio.

mod client;
mod load;
mod reporting;
mod server;

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

use crate::client::Target;
use crate::load::{Fanout, Idle, Pace};
use crate::server::{Programs, Server};

#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Idle clients to hold; 0 skips this part. Default: 100,000, or as many as the open-file
    /// limit (`ulimit -n`) lets the server and this process have, less 1,000 for the rest.
    #[arg(long)]
    idle: Option<usize>,
    /// Members of each idle room (a group of friends).
    #[arg(long, default_value_t = 20)]
    idle_room: usize,
    /// Source addresses 127.0.0.1.. the idle clients are spread over (one address has about
    /// 28,000 ephemeral ports).
    #[arg(long, default_value_t = 16)]
    sources: usize,
    /// Members of the fan-out room; 0 skips the fan-out runs.
    #[arg(long, default_value_t = 500)]
    room: usize,
    /// Members of the fan-out room who send.
    #[arg(long, default_value_t = 20)]
    senders: usize,
    /// Seconds each fan-out run is measured for.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// The servers to load.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "festival,socketio"
    )]
    targets: Vec<Target>,
    /// The `festival-relay` binary (default: next to this one).
    #[arg(long)]
    relay: Option<PathBuf>,
    /// The Socket.IO baseline's folder.
    #[arg(long, default_value = "bench/socketio")]
    socketio: PathBuf,
    /// Instead of the comparison: the cost of mesh reports with this many clients on
    /// festival-relay (idle, then each reporting every --report-every seconds).
    #[arg(long)]
    reporting: Option<usize>,
    /// Seconds between one client's reports in --reporting (the engine's default is 30).
    #[arg(long, default_value_t = 30.0)]
    report_every: f64,
}

/// Everything measured for one server (a part skipped is `None`).
struct Figures {
    idle: Option<Idle>,
    ceiling: Option<Fanout>,
    half: Option<Fanout>,
    /// A tenth of the ceiling: latency when the machine is far from busy.
    light: Option<Fanout>,
    /// The baseline's half load (for the baseline, its own half-load run).
    baseline_load: Option<Fanout>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if let Some(n) = args.reporting {
        return report_cost(&args, n).await;
    }
    if args.idle.is_none() {
        let limit = open_file_limit()?;
        let idle = 100_000.min(limit.saturating_sub(1_000));
        if idle < 100_000 {
            eprintln!("bench: {idle} idle clients: this machine's open-file limit is {limit}");
        }
        args.idle = Some(idle);
    }
    let programs = Programs {
        relay: match &args.relay {
            Some(path) => path.clone(),
            None => server::sibling_relay()?,
        },
        socketio: args.socketio.clone(),
    };
    // The baseline runs first: the relay is then also measured at the baseline's half load,
    // so that latencies are compared at one rate.
    let mut order = args.targets.clone();
    order.sort_by_key(|t| *t != Target::SocketIo);
    order.dedup();
    let mut results: Vec<(Target, Figures)> = Vec::new();
    let mut baseline_rate = None;
    for target in order {
        eprintln!("bench: {}", target.label());
        let figures = run(target, &programs, &args, baseline_rate)
            .await
            .with_context(|| format!("loading {}", target.label()))?;
        if target == Target::SocketIo {
            baseline_rate = figures.half.as_ref().map(Fanout::sent_per_sec);
        }
        results.push((target, figures));
    }
    results.sort_by_key(|(t, _)| *t == Target::SocketIo);
    print_table(&args, &results);
    Ok(())
}

/// The mesh reports' cost on festival-relay, printed as a table.
async fn report_cost(args: &Args, n: usize) -> anyhow::Result<()> {
    let programs = Programs {
        relay: match &args.relay {
            Some(path) => path.clone(),
            None => server::sibling_relay()?,
        },
        socketio: args.socketio.clone(),
    };
    let server = Server::start(Target::Festival, &programs).await?;
    let every = std::time::Duration::from_secs_f64(args.report_every.max(0.1));
    let r = reporting::run(&server, n, args.idle_room, args.sources, every).await?;
    server.stop().await;
    println!(
        "| mesh reports, {} clients held ({n} wanted), one report each per {:.0} s | idle | reporting | ratio |",
        r.held,
        every.as_secs_f64()
    );
    println!("|---|---|---|---|");
    println!(
        "| server CPU (cores) | {:.3} | {:.3} | {:.2} |",
        r.idle_cores,
        r.reporting_cores,
        r.reporting_cores / r.idle_cores.max(1e-6)
    );
    println!(
        "| server memory (MiB) | {:.1} | {:.1} | {:.2} |",
        r.rss_idle_kib as f64 / 1024.0,
        r.rss_reporting_kib as f64 / 1024.0,
        r.rss_reporting_kib as f64 / r.rss_idle_kib.max(1) as f64
    );
    println!(
        "| reports sent / average bytes | | {} / {:.0} | |",
        r.reports,
        r.report_bytes as f64 / r.reports.max(1) as f64
    );
    println!(
        "| bytes per client per hour (worst case: a change every time) | 0 | {:.0} | |",
        r.bytes_per_client_hour()
    );
    Ok(())
}

async fn run(
    target: Target,
    programs: &Programs,
    args: &Args,
    baseline_rate: Option<f64>,
) -> anyhow::Result<Figures> {
    let server = Server::start(target, programs).await?;
    let mut figures = Figures {
        idle: None,
        ceiling: None,
        half: None,
        light: None,
        baseline_load: None,
    };
    let wanted = args.idle.unwrap_or(0);
    if wanted > 0 {
        let idle = load::idle(target, &server, wanted, args.idle_room, args.sources).await?;
        eprintln!(
            "bench:   {} of {} idle clients held (connected in {:.1} s), {:.1} KiB each",
            idle.held,
            idle.wanted,
            idle.connect_secs,
            idle.kib_per_conn()
        );
        figures.idle = Some(idle);
    }
    if args.room > 0 {
        let (members, senders, secs) = (args.room, args.senders, args.seconds);
        let ceiling = load::fanout(target, &server, members, senders, Pace::Ceiling, secs).await?;
        eprintln!(
            "bench:   ceiling {:.0} deliveries/s",
            ceiling.delivered_per_sec()
        );
        let rate = Pace::Rate(ceiling.sent_per_sec() / 2.0);
        figures.half = Some(load::fanout(target, &server, members, senders, rate, secs).await?);
        let rate = Pace::Rate(ceiling.sent_per_sec() / 10.0);
        figures.light = Some(load::fanout(target, &server, members, senders, rate, secs).await?);
        figures.baseline_load = match baseline_rate {
            Some(rate) => {
                Some(load::fanout(target, &server, members, senders, Pace::Rate(rate), secs).await?)
            }
            None if target == Target::SocketIo => figures.half.clone(),
            None => None,
        };
        figures.ceiling = Some(ceiling);
    }
    server.stop().await;
    Ok(figures)
}

/// A line of the table: its name, its figure, and whether more is better.
type Row = (&'static str, fn(&Figures) -> Option<f64>, bool);

const ROWS: [Row; 21] = [
    (
        "idle connections held",
        |f| f.idle.map(|i| i.held as f64),
        true,
    ),
    (
        "server memory per idle connection (KiB)",
        |f| f.idle.map(|i| i.kib_per_conn()),
        false,
    ),
    (
        "ceiling: deliveries per second",
        |f| f.ceiling.as_ref().map(Fanout::delivered_per_sec),
        true,
    ),
    (
        "ceiling: server CPU (cores)",
        |f| f.ceiling.as_ref().map(|c| c.cpu_cores),
        false,
    ),
    (
        "ceiling: load tool CPU (cores)",
        |f| f.ceiling.as_ref().map(|c| c.tool_cpu_cores),
        false,
    ),
    (
        "half load: messages sent per second",
        |f| f.half.as_ref().map(Fanout::sent_per_sec),
        true,
    ),
    (
        "half load: deliveries per second",
        |f| f.half.as_ref().map(Fanout::delivered_per_sec),
        true,
    ),
    (
        "half load: latency p50 (ms)",
        |f| f.half.as_ref().map(|h| h.latency_ms(0.5)),
        false,
    ),
    (
        "half load: latency p99 (ms)",
        |f| f.half.as_ref().map(|h| h.latency_ms(0.99)),
        false,
    ),
    (
        "half load: latency p99.9 (ms)",
        |f| f.half.as_ref().map(|h| h.latency_ms(0.999)),
        false,
    ),
    (
        "half load: server CPU (cores)",
        |f| f.half.as_ref().map(|h| h.cpu_cores),
        false,
    ),
    (
        "half load: load tool CPU (cores)",
        |f| f.half.as_ref().map(|h| h.tool_cpu_cores),
        false,
    ),
    (
        "tenth load: deliveries per second",
        |f| f.light.as_ref().map(Fanout::delivered_per_sec),
        true,
    ),
    (
        "tenth load: latency p50 (ms)",
        |f| f.light.as_ref().map(|h| h.latency_ms(0.5)),
        false,
    ),
    (
        "tenth load: latency p99 (ms)",
        |f| f.light.as_ref().map(|h| h.latency_ms(0.99)),
        false,
    ),
    (
        "tenth load: server CPU (cores)",
        |f| f.light.as_ref().map(|h| h.cpu_cores),
        false,
    ),
    (
        "socket.io's half load: messages per second",
        |f| f.baseline_load.as_ref().map(Fanout::sent_per_sec),
        true,
    ),
    (
        "socket.io's half load: latency p50 (ms)",
        |f| f.baseline_load.as_ref().map(|h| h.latency_ms(0.5)),
        false,
    ),
    (
        "socket.io's half load: latency p99 (ms)",
        |f| f.baseline_load.as_ref().map(|h| h.latency_ms(0.99)),
        false,
    ),
    (
        "socket.io's half load: latency p99.9 (ms)",
        |f| f.baseline_load.as_ref().map(|h| h.latency_ms(0.999)),
        false,
    ),
    (
        "socket.io's half load: server CPU (cores)",
        |f| f.baseline_load.as_ref().map(|h| h.cpu_cores),
        false,
    ),
];

/// The soft limit on open files of this process (and of the servers it starts).
fn open_file_limit() -> anyhow::Result<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok())
        .context("Max open files in /proc/self/limits")
}

fn print_table(args: &Args, results: &[(Target, Figures)]) {
    println!();
    println!(
        "{} idle clients in rooms of {} over {} source addresses; fan-out room of {} ({} senders), {} s per run",
        args.idle.unwrap_or(0),
        args.idle_room,
        args.sources,
        args.room,
        args.senders,
        args.seconds
    );
    print!("{:<42}", "");
    for (target, _) in results {
        print!("{:>16}", target.label());
    }
    if results.len() == 2 {
        print!("{:>10}", "ratio");
    }
    println!();
    for (name, value, higher_is_better) in ROWS {
        let values: Vec<Option<f64>> = results.iter().map(|(_, f)| value(f)).collect();
        if values.iter().all(Option::is_none) {
            continue;
        }
        print!("{name:<42}");
        for v in &values {
            match v {
                Some(v) => print!("{v:>16.2}"),
                None => print!("{:>16}", "-"),
            }
        }
        if let [Some(ours), Some(theirs)] = values[..] {
            // How many times better festival-relay is on this line.
            let ratio = if higher_is_better {
                ours / theirs
            } else {
                theirs / ours
            };
            print!("{ratio:>9.2}x");
        }
        println!();
    }
}
