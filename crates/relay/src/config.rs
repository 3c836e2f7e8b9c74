//! How a relay is configured: a plain struct for code and tests, and the command line (with
//! environment variables) that fills it for the binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use festival_proto::{IceServer, Limits};

/// Everything a relay needs to start. [`Config::new`] gives the defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Address to listen on; port 0 picks a free one (see [`RelayHandle::local_addr`](crate::RelayHandle::local_addr)).
    pub listen: SocketAddr,
    /// The SQLite file holding history; created (with its folder) on first start.
    pub data: PathBuf,
    /// Limits enforced on every connection and announced in `welcome`.
    pub limits: Limits,
    /// Messages kept per room; older ones are dropped as new ones arrive.
    pub history_max_messages: usize,
    /// How long a message is kept at most.
    pub history_max_age: Duration,
    /// Frames queued for one connection before it counts as a slow consumer and is closed.
    pub send_queue_frames: usize,
    /// Refused frames tolerated per `abuse_window` before a connection is closed.
    pub abuse_max_errors: usize,
    /// The window for `abuse_max_errors`.
    pub abuse_window: Duration,
    /// A connection that sends nothing (not even a pong) for this long is closed.
    pub idle_timeout: Duration,
    /// How often the relay pings each connection.
    pub ping_interval: Duration,
    /// STUN/TURN servers handed to clients in `welcome`.
    pub ice_servers: Vec<IceServer>,
}

impl Config {
    /// The defaults, listening on `listen` and storing history in `data`.
    pub fn new(listen: SocketAddr, data: PathBuf) -> Self {
        Self {
            listen,
            data,
            limits: Limits::default(),
            history_max_messages: 1000,
            history_max_age: Duration::from_secs(48 * 3600),
            send_queue_frames: 1024,
            abuse_max_errors: 20,
            abuse_window: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(20),
            ice_servers: Vec::new(),
        }
    }
}

/// `festival-relay`: the Festival Chat relay server.
#[derive(Debug, clap::Parser)]
#[command(version, about)]
pub struct Args {
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, env = "FESTIVAL_LISTEN", default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,
    /// SQLite file for history; created on first start.
    #[arg(long, env = "FESTIVAL_DATA", default_value = "festival-relay.db")]
    pub data: PathBuf,
    /// Messages kept per room.
    #[arg(long, env = "FESTIVAL_HISTORY_MAX_MESSAGES", default_value_t = 1000)]
    pub history_max_messages: usize,
    /// Hours a message is kept at most.
    #[arg(long, env = "FESTIVAL_HISTORY_MAX_HOURS", default_value_t = 48)]
    pub history_max_hours: u64,
    /// Sustained frames per second one connection may send.
    #[arg(long, env = "FESTIVAL_RATE_PER_SEC", default_value_t = Limits::default().rate_per_sec)]
    pub rate_per_sec: u32,
    /// Frames one connection may send in a burst.
    #[arg(long, env = "FESTIVAL_RATE_BURST", default_value_t = Limits::default().rate_burst)]
    pub rate_burst: u32,
    /// Largest chat body in bytes.
    #[arg(long, env = "FESTIVAL_MAX_BODY_BYTES", default_value_t = Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Frames queued per connection before it is closed as a slow consumer.
    #[arg(long, env = "FESTIVAL_SEND_QUEUE", default_value_t = 1024)]
    pub send_queue: usize,
    /// A STUN server URL handed to clients for WebRTC (repeatable), e.g. stun:stun.example.org:3478.
    #[arg(long = "stun", env = "FESTIVAL_STUN", value_delimiter = ',')]
    pub stun: Vec<String>,
}

impl From<Args> for Config {
    fn from(args: Args) -> Self {
        let mut config = Config::new(args.listen, args.data);
        config.history_max_messages = args.history_max_messages.max(1);
        config.history_max_age = Duration::from_secs(args.history_max_hours.max(1) * 3600);
        config.limits.rate_per_sec = args.rate_per_sec.max(1);
        config.limits.rate_burst = args.rate_burst.max(1);
        config.limits.max_body_bytes = args
            .max_body_bytes
            .clamp(1, config.limits.max_frame_bytes / 2);
        config.send_queue_frames = args.send_queue.max(1);
        if !args.stun.is_empty() {
            config.ice_servers.push(IceServer {
                urls: args.stun,
                username: None,
                credential: None,
            });
        }
        config
    }
}
