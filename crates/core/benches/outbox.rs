//! Outbox throughput: how fast the engine takes messages in (committed to SQLite before
//! `send` returns) and how fast it flushes them to a real relay once it is reachable, each
//! beside a baseline run in the same process: bare SQLite inserts for enqueue, and a bare
//! WebSocket client pipelining the same frames for the flush.
//!
//! `cargo bench -p festival-core --bench outbox [-- N]` (N messages, default 10000).

// A benchmark measures wall-clock time.
#![allow(clippy::unwrap_used, missing_docs, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use festival_core::{Engine, EngineConfig};
use festival_proto::{
    ChatSend, ClientFrame, DisplayName, Hello, Join, MessageId, PROTOCOL_VERSION, RoomName,
    ServerFrame, decode_server, encode,
};
use festival_relay::{Config, RelayHandle};
use futures_util::{SinkExt, StreamExt};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();

    let raw_insert = bare_sqlite_inserts(&dir, n).await;
    let (enqueue, flush) = engine_outbox(&dir, n).await;
    let raw_flush = bare_websocket_flush(&dir, n).await;

    println!(
        "outbox, {n} messages of 40 bytes, release build, loopback relay, one SQLite file each"
    );
    println!(
        "{:<34} {:>14} {:>22} {:>8}",
        "figure", "engine (msg/s)", "baseline (msg/s)", "ratio"
    );
    let row = |name: &str, ours: f64, base: f64, what: &str| {
        println!(
            "{name:<34} {ours:>14.0} {base:>14.0} {what:<7} {:>8.2}",
            ours / base
        );
    };
    row(
        "enqueue (durable before return)",
        enqueue,
        raw_insert,
        "sqlite",
    );
    row("flush to the relay (acked)", flush, raw_flush, "ws");
    println!(
        "baselines: sqlite = one INSERT per autocommit transaction into the same kind of file;"
    );
    println!(
        "           ws = one bare WebSocket pipelining the same chat frames, waiting for every ack"
    );
}

fn rate(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

async fn bare_sqlite_inserts(dir: &tempfile::TempDir, n: usize) -> f64 {
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("bare.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE m (id TEXT PRIMARY KEY, room TEXT, body TEXT, sent_at INTEGER)")
        .execute(&pool)
        .await
        .unwrap();
    let start = Instant::now();
    for i in 0..n {
        sqlx::query("INSERT INTO m (id, room, body, sent_at) VALUES (?, ?, ?, ?)")
            .bind(MessageId::new().to_string())
            .bind("Camp")
            .bind(body(i))
            .bind(0_i64)
            .execute(&pool)
            .await
            .unwrap();
    }
    rate(n, start.elapsed())
}

fn body(i: usize) -> String {
    format!("message {i:>6} from the outbox bench ....")
}

fn relay_config(dir: &tempfile::TempDir, addr: std::net::SocketAddr, file: &str) -> Config {
    let mut config = Config::new(addr, dir.path().join(file));
    config.limits.rate_per_sec = 1_000_000;
    config.limits.rate_burst = 1_000_000;
    config.send_queue_frames = 1 << 16;
    config
}

async fn engine_outbox(dir: &tempfile::TempDir, n: usize) -> (f64, f64) {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("ws://{addr}/ws");
    let config = EngineConfig::new(&url, dir.path().join("engine")).with_name("Bench");
    let (engine, mut events) = Engine::start(config).await.unwrap();
    tokio::spawn(async move { while events.next().await.is_some() {} });
    engine.join("Camp").await.unwrap();

    let start = Instant::now();
    let mut pending = Vec::with_capacity(n);
    for i in 0..n {
        pending.push(engine.send("Camp", &body(i)).await.unwrap());
    }
    let enqueue = rate(n, start.elapsed());

    let relay = RelayHandle::start(relay_config(dir, addr, "relay-engine.db"))
        .await
        .unwrap();
    let start = Instant::now();
    for p in pending {
        p.acked().await.unwrap();
    }
    let flush = rate(n, start.elapsed());
    engine.shutdown().await;
    relay.shutdown().await.unwrap();
    (enqueue, flush)
}

async fn bare_websocket_flush(dir: &tempfile::TempDir, n: usize) -> f64 {
    let relay = RelayHandle::start(relay_config(
        dir,
        "127.0.0.1:0".parse().unwrap(),
        "relay-bare.db",
    ))
    .await
    .unwrap();
    let (ws, _) = tokio_tungstenite::connect_async(relay.ws_url())
        .await
        .unwrap();
    let (mut sink, mut stream) = ws.split();
    let room = RoomName::parse("Camp").unwrap();
    let Some(Ok(Message::Text(first))) = stream.next().await else {
        panic!("the relay's challenge");
    };
    let Ok(ServerFrame::Challenge(challenge)) = decode_server(&first) else {
        panic!("the relay's first frame is its challenge: {first}");
    };
    let key = festival_proto::DeviceKey::generate();
    let hello = ClientFrame::Hello(Hello {
        v: PROTOCOL_VERSION,
        device: key.device(),
        name: DisplayName::parse("Bare").unwrap(),
        key: key.public(),
        proof: key.prove(&challenge.nonce),
    });
    let join = ClientFrame::Join(Join {
        room: room.clone(),
        since: None,
    });
    for frame in [hello, join] {
        sink.send(Message::text(encode(&frame))).await.unwrap();
    }
    let reader = tokio::spawn(async move {
        let mut acks = 0;
        while acks < n {
            match stream.next().await {
                Some(Ok(Message::Text(text))) => match decode_server(&text) {
                    Ok(ServerFrame::Ack(_)) => acks += 1,
                    Ok(ServerFrame::Error(e)) => panic!("the relay refused a chat: {e:?}"),
                    _ => {}
                },
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("the relay's socket failed after {acks} acks: {e}"),
                None => panic!("the relay closed the socket after {acks} acks"),
            }
        }
    });
    let start = Instant::now();
    for i in 0..n {
        // Signed as every client must: the same work the engine does per message.
        let mut chat = ChatSend {
            id: MessageId::of_device(key.device(), 0),
            room: room.clone(),
            body: body(i),
            sealed: None,
            sent_at: 0,
            prev: None,
            sig: festival_proto::Signature::from_bytes([0; 64]),
            direct: Vec::new(),
        };
        chat.sig = key.sign_chat(&chat.signed());
        let chat = ClientFrame::Chat(chat);
        sink.feed(Message::text(encode(&chat))).await.unwrap();
    }
    sink.flush().await.unwrap();
    reader.await.unwrap();
    let flush = rate(n, start.elapsed());
    relay.shutdown().await.unwrap();
    flush
}
