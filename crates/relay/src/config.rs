//! How a relay is configured: a plain struct for code and tests, and the command line (with
//! environment variables) that fills it for the binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use festival_proto::{IceServer, Limits, RoomName};

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
    /// The longest keepalive a client may ask the relay to follow (`keepalive_s` in `ping`):
    /// such a connection is pinged only after two of its intervals of silence and closed
    /// after three, so this bounds how long a silent client that said hello holds a socket.
    pub max_keepalive: Duration,
    /// STUN/TURN servers handed to clients in `welcome`.
    pub ice_servers: Vec<IceServer>,
    /// Most HTTP long-poll sessions open at once.
    pub max_poll_sessions: usize,
    /// A long-poll session nobody polls for this long ends (its device leaves its rooms).
    pub poll_idle_timeout: Duration,
    /// Longest an HTTP request head (the WebSocket upgrade included) may take to arrive, from
    /// the moment the connection is accepted: a client that sends nothing, or one byte a
    /// second, is dropped after it.
    pub head_timeout: Duration,
    /// Longest a WebSocket may stay open without a valid `hello`; pongs do not count.
    pub hello_timeout: Duration,
    /// Bytes queued for one connection before it counts as a slow consumer and is closed.
    pub send_queue_bytes: usize,
    /// Most TCP connections one IP address may hold (generous: a festival's carrier NAT puts
    /// thousands of phones behind a few addresses).
    pub max_conns_per_ip: usize,
    /// Most connections (WebSocket and long-poll) one device may hold.
    pub max_conns_per_device: usize,
    /// Most long-poll sessions one IP address may hold.
    pub max_polls_per_ip: usize,
    /// Sustained frames per second from one IP address, all its connections together.
    pub ip_rate_per_sec: u32,
    /// Frames one IP address may send in a burst.
    pub ip_rate_burst: u32,
    /// Sustained new rooms per second one IP address may create.
    pub room_creations_per_ip_per_sec: u32,
    /// New rooms one IP address may create in a burst.
    pub room_creations_per_ip_burst: u32,
    /// New rooms one connection may create in its life (joining rooms that exist is free).
    pub max_room_creations_per_conn: usize,
    /// Bytes of history per second one device may be sent through `join` (a join costs what
    /// its answer weighs).
    pub history_bytes_per_sec: usize,
    /// Bytes of history one device may be sent in a burst.
    pub history_bytes_burst: usize,
    /// Bytes of history per second one IP address may be sent, all its devices together
    /// (never below one device's).
    pub ip_history_bytes_per_sec: usize,
    /// Bytes of history one IP address may be sent in a burst.
    pub ip_history_bytes_burst: usize,
    /// Most bytes of history in one `joined` frame (fewer messages than `history_page` when
    /// they are long; `has_more` tells the client to ask again).
    pub history_page_bytes: usize,
    /// Most rooms open at once in the relay.
    pub max_rooms_total: usize,
    /// Most members (devices) in one room.
    pub max_members_per_room: usize,
    /// File descriptors kept free below the process's open-file limit: past that point new
    /// clients are refused (`overloaded`) while `/healthz` keeps answering.
    pub fd_reserve: usize,
    /// Make a new admin token at start, replacing the one in the data folder.
    pub rotate_admin_token: bool,
    /// How often the admin dashboard's view (and the mesh's Prometheus gauges) is computed.
    pub mesh_tick: Duration,
    /// How often the mesh is sampled into the dashboard's history.
    pub mesh_sample_every: Duration,
    /// How far back the dashboard's history reaches (its samples are kept in memory).
    pub mesh_history: Duration,
    /// Rooms listed to everyone (`GET /rooms`) with their member counts, in this order.
    pub public_rooms: Vec<RoomName>,
}

impl Config {
    /// The folder of the data file, where the admin token and the audit log are kept.
    pub fn data_dir(&self) -> PathBuf {
        match self.data.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        }
    }

    /// Samples the dashboard's history holds.
    pub(crate) fn mesh_ring_len(&self) -> usize {
        let every = self.mesh_sample_every.max(Duration::from_millis(100));
        usize::try_from(self.mesh_history.as_millis() / every.as_millis())
            .unwrap_or(usize::MAX)
            .clamp(1, 100_000)
    }

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
            max_keepalive: Duration::from_secs(300),
            ice_servers: Vec::new(),
            max_poll_sessions: 10_000,
            poll_idle_timeout: Duration::from_secs(30),
            head_timeout: Duration::from_secs(5),
            hello_timeout: Duration::from_secs(5),
            send_queue_bytes: 1024 * 1024,
            max_conns_per_ip: 256,
            max_conns_per_device: 8,
            max_polls_per_ip: 32,
            ip_rate_per_sec: 1000,
            ip_rate_burst: 2000,
            room_creations_per_ip_per_sec: 1,
            room_creations_per_ip_burst: 100,
            max_room_creations_per_conn: 64,
            history_bytes_per_sec: 512 * 1024,
            history_bytes_burst: 4 * 1024 * 1024,
            ip_history_bytes_per_sec: 2 * 1024 * 1024,
            ip_history_bytes_burst: 8 * 1024 * 1024,
            history_page_bytes: 256 * 1024,
            max_rooms_total: 20_000,
            max_members_per_room: 5_000,
            fd_reserve: 64,
            rotate_admin_token: false,
            mesh_tick: Duration::from_secs(1),
            mesh_sample_every: Duration::from_secs(10),
            mesh_history: Duration::from_secs(3 * 3600),
            public_rooms: Vec::new(),
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
    /// How long a message is kept at most, e.g. 48h, 90m, 2d or 1h30m.
    #[arg(long, env = "FESTIVAL_HISTORY_MAX_AGE", default_value = "48h", value_parser = parse_age)]
    pub history_max_age: Duration,
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
    /// Bytes queued per connection before it is closed as a slow consumer.
    #[arg(long, env = "FESTIVAL_SEND_QUEUE_BYTES", default_value_t = 1024 * 1024)]
    pub send_queue_bytes: usize,
    /// Seconds an HTTP request head (and so a WebSocket upgrade) may take to arrive.
    #[arg(long, env = "FESTIVAL_HEAD_TIMEOUT", default_value = "5s", value_parser = parse_age)]
    pub head_timeout: Duration,
    /// How long a WebSocket may stay open before a valid hello (pongs do not count).
    #[arg(long, env = "FESTIVAL_HELLO_TIMEOUT", default_value = "5s", value_parser = parse_age)]
    pub hello_timeout: Duration,
    /// A connection that sends nothing after hello for this long is closed.
    #[arg(long, env = "FESTIVAL_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_age)]
    pub idle_timeout: Duration,
    /// The longest keepalive a client may ask the relay to follow (it is then closed after
    /// three of them of silence); at least 5 s.
    #[arg(long, env = "FESTIVAL_MAX_KEEPALIVE", default_value = "300s", value_parser = parse_age)]
    pub max_keepalive: Duration,
    /// TCP connections one IP address may hold (refused beyond: too_many_connections).
    #[arg(long, env = "FESTIVAL_MAX_CONNS_PER_IP", default_value_t = 256)]
    pub max_conns_per_ip: usize,
    /// Connections one device may hold (refused beyond: too_many_connections).
    #[arg(long, env = "FESTIVAL_MAX_CONNS_PER_DEVICE", default_value_t = 8)]
    pub max_conns_per_device: usize,
    /// Long-poll sessions one IP address may hold (refused beyond: too_many_connections).
    #[arg(long, env = "FESTIVAL_MAX_POLLS_PER_IP", default_value_t = 32)]
    pub max_polls_per_ip: usize,
    /// Long-poll sessions open at once in the whole relay (refused beyond: overloaded).
    #[arg(long, env = "FESTIVAL_MAX_POLL_SESSIONS", default_value_t = 10_000)]
    pub max_poll_sessions: usize,
    /// Sustained frames per second from one IP address (rate_limited beyond).
    #[arg(long, env = "FESTIVAL_IP_RATE_PER_SEC", default_value_t = 1000)]
    pub ip_rate_per_sec: u32,
    /// Frames one IP address may send in a burst.
    #[arg(long, env = "FESTIVAL_IP_RATE_BURST", default_value_t = 2000)]
    pub ip_rate_burst: u32,
    /// Sustained new rooms per second one IP address may create (room_limit beyond).
    #[arg(
        long,
        env = "FESTIVAL_ROOM_CREATIONS_PER_IP_PER_SEC",
        default_value_t = 1
    )]
    pub room_creations_per_ip_per_sec: u32,
    /// New rooms one IP address may create in a burst.
    #[arg(
        long,
        env = "FESTIVAL_ROOM_CREATIONS_PER_IP_BURST",
        default_value_t = 100
    )]
    pub room_creations_per_ip_burst: u32,
    /// New rooms one connection may create in its life (room_limit beyond).
    #[arg(
        long,
        env = "FESTIVAL_MAX_ROOM_CREATIONS_PER_CONN",
        default_value_t = 64
    )]
    pub max_room_creations_per_conn: usize,
    /// Bytes of history per second one device may be sent by joins (rate_limited beyond).
    #[arg(long, env = "FESTIVAL_HISTORY_BYTES_PER_SEC", default_value_t = 512 * 1024)]
    pub history_bytes_per_sec: usize,
    /// Bytes of history one device may be sent in a burst.
    #[arg(long, env = "FESTIVAL_HISTORY_BYTES_BURST", default_value_t = 4 * 1024 * 1024)]
    pub history_bytes_burst: usize,
    /// Bytes of history per second one IP address may be sent by joins (rate_limited beyond).
    #[arg(long, env = "FESTIVAL_IP_HISTORY_BYTES_PER_SEC", default_value_t = 2 * 1024 * 1024)]
    pub ip_history_bytes_per_sec: usize,
    /// Bytes of history one IP address may be sent in a burst.
    #[arg(long, env = "FESTIVAL_IP_HISTORY_BYTES_BURST", default_value_t = 8 * 1024 * 1024)]
    pub ip_history_bytes_burst: usize,
    /// Rooms open at once in the relay (room_limit beyond).
    #[arg(long, env = "FESTIVAL_MAX_ROOMS", default_value_t = 20_000)]
    pub max_rooms_total: usize,
    /// Members (devices) in one room (room_full beyond).
    #[arg(long, env = "FESTIVAL_MAX_MEMBERS_PER_ROOM", default_value_t = 5_000)]
    pub max_members_per_room: usize,
    /// File descriptors kept free below the open-file limit (overloaded beyond).
    #[arg(long, env = "FESTIVAL_FD_RESERVE", default_value_t = 64)]
    pub fd_reserve: usize,
    /// Make a new admin token (printed once) in place of the one in the data folder.
    #[arg(long)]
    pub rotate_admin_token: bool,
    /// A public room, listed to everyone with its member count (repeat the flag, or separate
    /// names with commas in the variable): `--public-room "Main Stage" --public-room "Lost & Found"`.
    #[arg(long = "public-room", env = "FESTIVAL_PUBLIC_ROOMS", value_delimiter = ',', value_parser = parse_room)]
    pub public_rooms: Vec<RoomName>,
    /// Something else to do than serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the binary can do besides serving.
#[derive(Debug, Clone, clap::Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Copies the database given by --data into a new file, consistently, while a relay may
    /// be serving from it (SQLite's `VACUUM INTO`: the write-ahead log's part is included).
    Backup {
        /// The new file; it must not exist yet.
        to: PathBuf,
    },
}

impl From<Args> for Config {
    fn from(args: Args) -> Self {
        let mut config = Config::new(args.listen, args.data);
        config.history_max_messages = args.history_max_messages.max(1);
        config.history_max_age = args.history_max_age;
        config.limits.rate_per_sec = args.rate_per_sec.max(1);
        config.limits.rate_burst = args.rate_burst.max(1);
        config.limits.max_body_bytes = args
            .max_body_bytes
            .clamp(1, config.limits.max_frame_bytes / 2);
        config.send_queue_frames = args.send_queue.max(1);
        config.send_queue_bytes = args.send_queue_bytes.max(config.limits.max_frame_bytes * 2);
        config.head_timeout = args.head_timeout;
        config.hello_timeout = args.hello_timeout;
        config.idle_timeout = args.idle_timeout;
        config.max_keepalive = args.max_keepalive.max(crate::session::MIN_KEEPALIVE);
        config.max_conns_per_ip = args.max_conns_per_ip.max(1);
        config.max_conns_per_device = args.max_conns_per_device.max(1);
        config.max_polls_per_ip = args.max_polls_per_ip;
        config.max_poll_sessions = args.max_poll_sessions;
        config.ip_rate_per_sec = args.ip_rate_per_sec.max(1);
        config.ip_rate_burst = args.ip_rate_burst.max(1);
        config.room_creations_per_ip_per_sec = args.room_creations_per_ip_per_sec;
        config.room_creations_per_ip_burst = args.room_creations_per_ip_burst.max(1);
        config.max_room_creations_per_conn = args.max_room_creations_per_conn;
        config.history_bytes_per_sec = args.history_bytes_per_sec.max(1);
        config.history_bytes_burst = args.history_bytes_burst.max(1);
        config.ip_history_bytes_per_sec = args.ip_history_bytes_per_sec.max(1);
        config.ip_history_bytes_burst = args.ip_history_bytes_burst.max(1);
        config.max_rooms_total = args.max_rooms_total.max(1);
        config.max_members_per_room = args.max_members_per_room.max(1);
        config.fd_reserve = args.fd_reserve;
        config.rotate_admin_token = args.rotate_admin_token;
        config.public_rooms = args.public_rooms;
        config.public_rooms.dedup();
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

/// Reads a room name as a client would send it, so that a listed room is the one people join.
fn parse_room(text: &str) -> Result<RoomName, String> {
    RoomName::parse(text).map_err(|e| e.to_string())
}

/// Reads an age such as `48h`, `90m`, `2d`, `30s` or `1h30m`; zero is refused, because a relay
/// that keeps nothing cannot replay anything.
fn parse_age(text: &str) -> Result<Duration, String> {
    let mut total = Duration::ZERO;
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("unknown unit {c:?}; use s, m, h or d (e.g. 48h)")),
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("a number must come before {c:?} (e.g. 48h)"))?;
        digits.clear();
        let secs = n
            .checked_mul(unit)
            .ok_or_else(|| format!("{text:?} is too long an age"))?;
        total = total.saturating_add(Duration::from_secs(secs));
    }
    if !digits.is_empty() {
        return Err(format!("{text:?} needs a unit: s, m, h or d (e.g. 48h)"));
    }
    if total.is_zero() {
        return Err("the age must be more than zero, e.g. 48h".to_owned());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn ages_read_like_people_write_them() {
        assert_eq!(parse_age("48h"), Ok(Duration::from_secs(48 * 3600)));
        assert_eq!(parse_age("90m"), Ok(Duration::from_secs(90 * 60)));
        assert_eq!(parse_age("2d"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(parse_age("1h30m"), Ok(Duration::from_secs(5400)));
        for bad in ["", "0h", "48", "h", "48x", "99999999999999999999d"] {
            assert!(parse_age(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn flags_fill_the_config_and_defaults_match_config_new() {
        let defaults = Config::from(Args::parse_from(["festival-relay"]));
        let plain = Config::new(
            "127.0.0.1:7878".parse().expect("address"),
            "festival-relay.db".into(),
        );
        assert_eq!(defaults.listen, plain.listen);
        assert_eq!(defaults.data, plain.data);
        assert_eq!(defaults.history_max_age, plain.history_max_age);
        assert_eq!(defaults.history_max_messages, plain.history_max_messages);
        assert_eq!(defaults.limits, plain.limits);
        assert_eq!(defaults.send_queue_bytes, plain.send_queue_bytes);
        assert_eq!(defaults.head_timeout, plain.head_timeout);
        assert_eq!(defaults.hello_timeout, plain.hello_timeout);
        assert_eq!(defaults.idle_timeout, plain.idle_timeout);
        assert_eq!(defaults.max_keepalive, plain.max_keepalive);
        assert_eq!(defaults.max_conns_per_ip, plain.max_conns_per_ip);
        assert_eq!(defaults.max_conns_per_device, plain.max_conns_per_device);
        assert_eq!(defaults.max_polls_per_ip, plain.max_polls_per_ip);
        assert_eq!(defaults.max_poll_sessions, plain.max_poll_sessions);
        assert_eq!(defaults.ip_rate_per_sec, plain.ip_rate_per_sec);
        assert_eq!(defaults.ip_rate_burst, plain.ip_rate_burst);
        assert_eq!(
            defaults.room_creations_per_ip_per_sec,
            plain.room_creations_per_ip_per_sec
        );
        assert_eq!(
            defaults.room_creations_per_ip_burst,
            plain.room_creations_per_ip_burst
        );
        assert_eq!(
            defaults.max_room_creations_per_conn,
            plain.max_room_creations_per_conn
        );
        assert_eq!(defaults.history_bytes_per_sec, plain.history_bytes_per_sec);
        assert_eq!(defaults.history_bytes_burst, plain.history_bytes_burst);
        assert_eq!(
            defaults.ip_history_bytes_per_sec,
            plain.ip_history_bytes_per_sec
        );
        assert_eq!(
            defaults.ip_history_bytes_burst,
            plain.ip_history_bytes_burst
        );
        assert_eq!(defaults.max_rooms_total, plain.max_rooms_total);
        assert_eq!(defaults.max_members_per_room, plain.max_members_per_room);
        assert_eq!(defaults.fd_reserve, plain.fd_reserve);

        let config = Config::from(Args::parse_from([
            "festival-relay",
            "--listen",
            "127.0.0.1:0",
            "--data",
            "/tmp/x/relay.db",
            "--history-max-messages",
            "50",
            "--history-max-age",
            "2h",
            "--rate-per-sec",
            "5",
            "--rate-burst",
            "7",
            "--max-body-bytes",
            "100",
            "--stun",
            "stun:a.example:3478,stun:b.example:3478",
        ]));
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.history_max_messages, 50);
        assert_eq!(config.history_max_age, Duration::from_secs(7200));
        assert_eq!(config.limits.rate_per_sec, 5);
        assert_eq!(config.limits.rate_burst, 7);
        assert_eq!(config.limits.max_body_bytes, 100);
        assert_eq!(config.ice_servers.len(), 1);
        assert_eq!(config.ice_servers[0].urls.len(), 2);
    }
}
