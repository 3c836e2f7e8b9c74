//! `festival`: the Festival Chat terminal client. A thin shell over the engine in
//! `festival-core`, and the tool that tests and scripts drive through pipes.

mod catchup;
mod command;
mod output;
mod power;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use festival_core::router::PreferredRoute;
use festival_core::{Engine, EngineConfig, Events};

/// Festival Chat in the terminal.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send one message; exits 0 once the relay stored it.
    Send(command::send::SendArgs),
    /// Print a room's history, then new messages as they come.
    Tail(command::tail::TailArgs),
    /// Chat interactively: each line on stdin is sent, every event is printed.
    Chat(command::chat::ChatArgs),
    /// Deliver the messages queued while the relay was unreachable.
    Sync(command::sync::SyncArgs),
    /// Print a room's local history, with no network.
    History(command::history::HistoryArgs),
}

/// Where this device keeps its identity, history and outbox.
#[derive(Debug, Args)]
struct DataDir {
    /// The data directory (default: the platform's data directory).
    #[arg(long, env = "FESTIVAL_DATA_DIR")]
    data: Option<PathBuf>,
}

impl DataDir {
    fn path(&self) -> anyhow::Result<PathBuf> {
        match &self.data {
            Some(dir) => Ok(dir.clone()),
            None => directories::ProjectDirs::from("org", "Festival Chat", "festival")
                .map(|dirs| dirs.data_dir().to_path_buf())
                .ok_or_else(|| anyhow::anyhow!("no home directory: pass --data DIR")),
        }
    }
}

/// Where to connect and who to be; shared by every command that goes online.
#[derive(Debug, Args)]
struct Online {
    /// The relay's WebSocket URL.
    #[arg(
        long,
        env = "FESTIVAL_RELAY_URL",
        default_value = "ws://127.0.0.1:7878/ws"
    )]
    relay: String,
    /// Your display name (saved in the data directory; needed the first time).
    #[arg(long)]
    name: Option<String>,
    /// Which route to prefer: auto (direct links in small rooms), p2p, or relay (never a
    /// direct link).
    #[arg(long, env = "FESTIVAL_ROUTE", default_value = "auto", value_parser = parse_route)]
    route: PreferredRoute,
    /// Direct links over this machine's loopback only (tests and demos with every client on
    /// one machine); by default they use every interface but loopback.
    #[arg(long, env = "FESTIVAL_P2P_LOOPBACK_ONLY")]
    p2p_loopback_only: bool,
    #[command(flatten)]
    data: DataDir,
}

fn parse_route(text: &str) -> Result<PreferredRoute, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| format!("{text:?} is not a route: use auto, p2p or relay"))
}

impl Online {
    /// Starts the engine (which also takes up any messages still queued from earlier runs).
    async fn start(&self) -> anyhow::Result<(Engine, Events)> {
        let mut config = EngineConfig::new(&self.relay, self.data.path()?);
        config.p2p.preferred = self.route;
        config.p2p.loopback_only = self.p2p_loopback_only;
        if let Some(name) = &self.name {
            config = config.with_name(name);
        }
        Ok(Engine::start(config).await?)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| festival_core::LOG_FILTER.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Send(args) => command::send::run(args).await,
        Command::Tail(args) => command::tail::run(args).await,
        Command::Chat(args) => command::chat::run(args).await,
        Command::Sync(args) => command::sync::run(args).await,
        Command::History(args) => command::history::run(args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("festival: {e:#}");
            ExitCode::from(2)
        }
    }
}
