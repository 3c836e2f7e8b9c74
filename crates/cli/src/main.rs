//! `festival`: the Festival Chat terminal client. A thin shell over the engine in
//! `festival-core`, and the tool that tests and scripts drive through pipes.

mod catchup;
mod command;
mod output;
mod power;
mod trust;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use festival_core::router::PreferredRoute;
use festival_core::{Engine, EngineConfig, Events};
use festival_proto::Invite;

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
    /// The relay's WebSocket URL, or a festival:// invite link (its relay, or the default
    /// one when it names none; its room when --room is left out).
    #[arg(long, env = "FESTIVAL_RELAY_URL", default_value = DEFAULT_RELAY)]
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
    /// Do not tell the relay about this device's direct links and routes (by default a small
    /// report goes at most every 30 s, when they changed, for the organisers' mesh dashboard).
    #[arg(long, env = "FESTIVAL_NO_MESH_REPORT")]
    no_mesh_report: bool,
    #[command(flatten)]
    data: DataDir,
}

/// The relay used when neither --relay nor an invite names one.
const DEFAULT_RELAY: &str = "ws://127.0.0.1:7878/ws";

fn parse_route(text: &str) -> Result<PreferredRoute, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| format!("{text:?} is not a route: use auto, p2p or relay"))
}

impl Online {
    /// The invite given as --relay, if it is one.
    fn invite(&self) -> anyhow::Result<Option<Invite>> {
        if !self.relay.trim_start().starts_with("festival:") {
            return Ok(None);
        }
        Ok(Some(Invite::parse(&self.relay)?))
    }

    /// The relay's WebSocket URL: --relay, or the relay of the invite given as --relay.
    fn relay_url(&self) -> anyhow::Result<String> {
        Ok(match self.invite()? {
            Some(invite) => invite.relay.unwrap_or_else(|| DEFAULT_RELAY.to_owned()),
            None => self.relay.clone(),
        })
    }

    /// The room to use: --room, else the room of the invite given as --relay.
    fn room(&self, room: Option<&str>) -> anyhow::Result<String> {
        match (room, self.invite()?) {
            (Some(room), _) => Ok(room.to_owned()),
            (None, Some(invite)) => Ok(invite.room.as_str().to_owned()),
            (None, None) => anyhow::bail!("which room? Give --room, or an invite link as --relay"),
        }
    }

    /// Starts the engine (which also takes up any messages still queued from earlier runs),
    /// and takes a private room's key from the invite given as --relay.
    async fn start(&self) -> anyhow::Result<(Engine, Events)> {
        let mut config = EngineConfig::new(self.relay_url()?, self.data.path()?);
        config.p2p.preferred = self.route;
        config.p2p.loopback_only = self.p2p_loopback_only;
        if self.no_mesh_report {
            config.mesh_report = None;
        }
        if let Some(name) = &self.name {
            config = config.with_name(name);
        }
        let (engine, events) = Engine::start(config).await?;
        if let Some(Invite {
            room,
            private: Some(private),
            ..
        }) = self.invite()?
        {
            engine.add_private(room.as_str(), &private).await?;
        }
        Ok((engine, events))
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
