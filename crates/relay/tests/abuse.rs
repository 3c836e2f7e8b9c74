//! The abuse suite: every probe of issue 15 as an attack on a real relay process, with a
//! bystander in the attacked room and one in another room. Each scenario asserts that the
//! attack is contained (connections closed, refused or capped), that the bystanders' ack
//! latency p99 stays under [`harness::p99_bound`] (250 ms), and that nothing acked to them was lost;
//! it prints its figures as `FIGURE` lines (`cargo test -p festival-relay --test abuse --
//! --nocapture`). The short versions run in CI; `FESTIVAL_ABUSE_LONG=1` runs the long ones.
//! The full disk and the damaged file are in `storage.rs`, protocol violations in
//! `bad_input.rs`.

// The suite measures bystanders' ack latency and how long an attack is held: the wall
// clock is its instrument.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used)]

#[path = "abuse/harness.rs"]
mod harness;
mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use festival_proto::{
    ClientFrame, DeviceKey, ErrorCode, Join, MessageId, RoomName, ServerFrame, SignalSend, encode,
};
use harness::{
    ATTACKER, BYSTANDER, Bystanders, ROOM, Relay, SERIAL, assert_unharmed, attack_for, http_from,
    scale, tcp_from,
};
use support::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

/// The relay's defaults that the scenarios check against.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Slack for a 2-core machine under load, on top of a timeout.
const SLACK: Duration = Duration::from_secs(3);

/// Waits until `stream` is closed by the relay; how long that took from `since`.
async fn closed_after(stream: &mut tokio::net::tcp::OwnedReadHalf, since: Instant) -> Duration {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return since.elapsed(),
            Ok(_) => {}
        }
    }
}

/// The latest of the attackers' close times, asserted within `limit` (and the slack).
fn all_closed_within(closed: &[Duration], limit: Duration) -> Duration {
    let last = closed.iter().copied().max().unwrap_or_default();
    assert!(last < limit + SLACK, "the last closed after {last:?}");
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_that_answer_pings_but_never_say_hello_are_closed() {
    let _serial = SERIAL.lock().await;
    let relay = Relay::start(&[]);
    let bystanders = Bystanders::start(&relay).await;
    let memory = relay.sample_memory();
    let n = scale(20, 200);
    let started = Instant::now();
    let mut attackers = JoinSet::new();
    for _ in 0..n {
        let mut client = Client::connect_from(&relay.url(), ATTACKER).await.unwrap();
        attackers.spawn(async move {
            // Pings and pongs every 200 ms: activity that must not count before hello.
            loop {
                client.send_message(Message::Ping(Default::default())).await;
                client.send_message(Message::Pong(Default::default())).await;
                if client.ended_within(Duration::from_millis(200)).await {
                    return started.elapsed();
                }
                assert!(started.elapsed() < HELLO_TIMEOUT + SLACK, "still open");
            }
        });
    }
    let closed: Vec<Duration> = attackers.join_all().await;
    let watches = bystanders.finish().await;
    let memory = memory.finish().await;
    let last = all_closed_within(&closed, HELLO_TIMEOUT);
    let extra = format!("{n} of {n} closed, the last after {last:?}");
    assert_unharmed(&relay, "pings without hello", &watches, &extra, memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_that_send_nothing_are_closed() {
    let _serial = SERIAL.lock().await;
    let relay = Relay::start(&[]);
    let bystanders = Bystanders::start(&relay).await;
    let memory = relay.sample_memory();
    let n = scale(50, 500);
    let started = Instant::now();
    let mut attackers = JoinSet::new();
    for _ in 0..n {
        let tcp = tcp_from(ATTACKER, relay.addr).await.unwrap();
        attackers.spawn(async move {
            let (mut read, _write) = tcp.into_split();
            closed_after(&mut read, started).await
        });
    }
    let closed: Vec<Duration> = attackers.join_all().await;
    let watches = bystanders.finish().await;
    let memory = memory.finish().await;
    let last = all_closed_within(&closed, HEAD_TIMEOUT);
    let extra = format!("{n} of {n} closed, the last after {last:?}");
    assert_unharmed(&relay, "silent TCP", &watches, &extra, memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_request_sent_a_byte_at_a_time_is_cut_off() {
    let _serial = SERIAL.lock().await;
    let relay = Relay::start(&["--max-conns-per-ip", "100000"]);
    let bystanders = Bystanders::start(&relay).await;
    let memory = relay.sample_memory();
    let n = scale(100, 500);
    let started = Instant::now();
    let mut attackers = JoinSet::new();
    for _ in 0..n {
        let tcp = tcp_from(ATTACKER, relay.addr).await.unwrap();
        attackers.spawn(async move {
            let (mut read, mut write) = tcp.into_split();
            let request = "GET /ws HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\n\
                Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                Sec-WebSocket-Version: 13\r\n\r\n";
            let drip = tokio::spawn(async move {
                for byte in request.bytes() {
                    if write.write_all(&[byte]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            });
            let closed = closed_after(&mut read, started).await;
            drip.abort();
            closed
        });
    }
    let closed: Vec<Duration> = attackers.join_all().await;
    let watches = bystanders.finish().await;
    let memory = memory.finish().await;
    let last = all_closed_within(&closed, HEAD_TIMEOUT);
    let extra = format!("{n} slowloris upgrades, all cut off, the last after {last:?}");
    assert_unharmed(&relay, "slowloris", &watches, &extra, memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_the_open_file_limit_new_clients_are_refused_and_healthz_answers() {
    let _serial = SERIAL.lock().await;
    let relay = Relay::start_limited(
        Some(256),
        &[
            "--max-conns-per-ip",
            "100000",
            "--max-conns-per-device",
            "100000",
        ],
    );
    let bystanders = Bystanders::start(&relay).await;
    let memory = relay.sample_memory();
    let attempts = scale(300, 1000);
    let (mut held, mut refused) = (Vec::new(), 0);
    for _ in 0..attempts {
        match Client::connect_from(&relay.url(), ATTACKER).await {
            Ok(mut client) => {
                client.say_hello(&DeviceKey::generate(), "Hog").await;
                held.push(client);
            }
            Err(e) => {
                assert!(e.contains("503"), "refused as overloaded, not {e}");
                refused += 1;
            }
        }
    }
    assert!(
        refused > 0,
        "the limit was never reached ({} held)",
        held.len()
    );
    let (status, body) = http_from(BYSTANDER, relay.addr, "GET", "/healthz", "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"at_capacity\":true"), "{body}");
    let (status, _) = http_from(BYSTANDER, relay.addr, "GET", "/healthz/ready", "").await;
    assert_eq!(status, 503, "not ready while at capacity");
    let watches = bystanders.finish().await;
    let memory = memory.finish().await;
    let extra = format!(
        "with 256 files: {} connections held, {refused} refused with 503 overloaded, /healthz 200",
        held.len()
    );
    drop(held);
    // Once the hogs are gone, new clients are welcome again.
    let deadline = Instant::now() + support::WAIT;
    loop {
        if let Ok(mut client) = Client::connect_from(&relay.url(), ATTACKER).await {
            assert!(matches!(
                client.say_hello(&DeviceKey::generate(), "Later").await,
                ServerFrame::Welcome(_)
            ));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still refused after the hogs left"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_unharmed(&relay, "open-file limit", &watches, &extra, memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_device_with_many_connections_gets_its_share_and_no_more() {
    let _serial = SERIAL.lock().await;
    let relay = Relay::start(&[]);
    let bystanders = Bystanders::start(&relay).await;
    let memory = relay.sample_memory();
    let device = DeviceKey::generate();
    let n = scale(100, 500);
    let (mut welcomed, mut refused) = (Vec::new(), 0);
    for _ in 0..n {
        let mut client = Client::connect_from(&relay.url(), ATTACKER).await.unwrap();
        match client.say_hello(&device, "Many").await {
            ServerFrame::Welcome(_) => welcomed.push(client),
            ServerFrame::Error(e) => {
                assert_eq!(e.code, ErrorCode::TooManyConnections, "{e:?}");
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(welcomed.len(), 8, "the default --max-conns-per-device");
    // Every welcomed connection floods the attacked room as fast as it can.
    let started = Instant::now();
    let secs = attack_for();
    let mut floods = JoinSet::new();
    for mut client in welcomed {
        floods.spawn(async move {
            client.join(ROOM).await;
            let mut acked = 0;
            'flood: while started.elapsed() < secs {
                client
                    .send(&ClientFrame::Chat(client.chat_frame(ROOM, "flood")))
                    .await;
                // Read what came meanwhile, as a client that keeps up.
                while let Ok(frame) =
                    tokio::time::timeout(Duration::from_millis(5), client.next_or_close()).await
                {
                    match frame {
                        Some(ServerFrame::Ack(_)) => acked += 1,
                        Some(_) => {}
                        None => break 'flood,
                    }
                }
            }
            acked
        });
    }
    let acked: u64 = floods.join_all().await.into_iter().sum();
    let watches = bystanders.finish().await;
    let memory = memory.finish().await;
    let elapsed = started.elapsed().as_secs_f64();
    // 20/s and a burst of 100 for the device, whatever its number of sockets.
    let allowed = 20.0 * elapsed + 100.0;
    assert!(
        (acked as f64) <= allowed,
        "{acked} stored in {elapsed:.1} s"
    );
    let extra = format!(
        "{} of {n} connections accepted, {refused} refused (too_many_connections); {acked} chats stored in {elapsed:.1} s ({:.0}/s, allowed 20/s + burst 100)",
        n - refused,
        acked as f64 / elapsed
    );
    assert_unharmed(
        &relay,
        "one device, many connections",
        &watches,
        &extra,
        memory,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_of_a_long_history_over_and_over_do_not_starve_the_room() {
    let _serial = SERIAL.lock().await;
    // A 1 MiB burst (the default is 4 MiB) so that the short version meets the budget too.
    let relay = Relay::start(&[
        "--rate-per-sec",
        "1000",
        "--rate-burst",
        "1000",
        "--history-bytes-burst",
        "1048576",
    ]);
    let mut filler = Client::connect_from(&relay.url(), BYSTANDER).await.unwrap();
    filler.say_hello(&DeviceKey::generate(), "Filler").await;
    filler.join(ROOM).await;
    let body = "h".repeat(2000);
    for _ in 0..1000 {
        filler
            .send(&ClientFrame::Chat(filler.chat_frame(ROOM, &body)))
            .await;
    }
    let mut acks = 0;
    while acks < 1000 {
        if let ServerFrame::Ack(_) = filler.next().await {
            acks += 1;
        }
    }
    drop(filler);
    let bystanders = Bystanders::start(&relay).await;
    let memory = relay.sample_memory();
    let attackers = scale(5, 20);
    let started = Instant::now();
    let secs = attack_for();
    let mut joins = JoinSet::new();
    for _ in 0..attackers {
        let mut client = Client::connect_from(&relay.url(), ATTACKER).await.unwrap();
        client.say_hello(&DeviceKey::generate(), "Joiner").await;
        joins.spawn(async move {
            let join = ClientFrame::Join(Join {
                room: RoomName::parse(ROOM).unwrap(),
                since: Some(0),
            });
            let (mut served, mut limited) = (0usize, 0usize);
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            'attack: while started.elapsed() < secs {
                tick.tick().await;
                // The relay closes a connection refused too often: stop sending then.
                if !client.send_message(Message::text(encode(&join))).await {
                    break;
                }
                // Read whatever came meanwhile, as a client that keeps up.
                // Only counted, not decoded: the test's own CPU is not the relay's.
                while let Ok(frame) =
                    tokio::time::timeout(Duration::from_millis(1), client.next_text()).await
                {
                    match frame {
                        Some(text) if text.starts_with(r#"{"type":"joined""#) => {
                            served += text.len();
                        }
                        Some(text) if text.contains(r#""code":"rate_limited""#) => limited += 1,
                        Some(_) => {}
                        None => break 'attack,
                    }
                }
            }
            (served, limited)
        });
    }
    let results = joins.join_all().await;
    let elapsed = started.elapsed().as_secs_f64();
    // The room recovers at once: the bystanders keep chatting one more second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let watches = bystanders.finish().await;
    let memory = memory.finish().await;
    let served: usize = results.iter().map(|r| r.0).sum();
    let limited: usize = results.iter().map(|r| r.1).sum();
    let per_device = served as f64 / elapsed / attackers as f64;
    // 512 KiB/s per device after a 1 MiB burst, and the page that overdrew it (~256 KiB).
    let allowed = (512.0 * 1024.0 * elapsed + 1024.0 * 1024.0 + 320.0 * 1024.0) / elapsed;
    assert!(
        per_device <= allowed * 1.1,
        "{per_device:.0} B/s per device"
    );
    let extra = format!(
        "{attackers} connections joining 20/s: {:.1} MiB of joined frames served in {elapsed:.1} s ({:.0} KiB/s per device), {limited} joins refused rate_limited",
        served as f64 / 1048576.0,
        per_device / 1024.0
    );
    assert_unharmed(&relay, "join flood", &watches, &extra, memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stopped_reading_costs_a_bounded_number_of_bytes() {
    let _serial = SERIAL.lock().await;
    let relay = Relay::start(&[]);
    let bystanders = Bystanders::start(&relay).await;
    let memory = relay.sample_memory();
    let mut victim = Client::connect_from(&relay.url(), ATTACKER).await.unwrap();
    let victim_key = DeviceKey::generate();
    let victim_device = victim_key.device();
    victim.say_hello(&victim_key, "Deaf").await;
    victim.join(ROOM).await;
    let mut sender = Client::connect_from(&relay.url(), ATTACKER).await.unwrap();
    sender.say_hello(&DeviceKey::generate(), "Shouter").await;
    sender.join(ROOM).await;
    let pad = "s".repeat(60 * 1024);
    let signal = ClientFrame::Signal(SignalSend {
        room: RoomName::parse(ROOM).unwrap(),
        to: victim_device,
        payload: serde_json::json!({"kind": "noise", "pad": pad}),
    });
    let started = Instant::now();
    let mut sent = 0;
    // The victim never reads; the sender sends as its rate allows until the victim is gone.
    let ended = loop {
        sender.send(&signal).await;
        sent += 1;
        if let Ok(ServerFrame::Error(e)) =
            tokio::time::timeout(Duration::from_millis(50), sender.next()).await
        {
            if e.code == ErrorCode::UnknownPeer {
                break started.elapsed();
            }
        }
        assert!(
            started.elapsed() < support::WAIT * 3,
            "the deaf member was never closed"
        );
    };
    let watches = bystanders.finish().await;
    let memory = memory.finish().await;
    let grown = memory.1.saturating_sub(memory.0);
    assert!(
        grown < 32 * 1024,
        "the relay grew {grown} KiB for one deaf member"
    );
    let extra = format!(
        "{sent} signals of 60 KiB at a member that stopped reading; it was closed after {ended:?}"
    );
    assert_unharmed(&relay, "deaf member", &watches, &extra, memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_flood_from_one_address_leaves_room_for_others() {
    let _serial = SERIAL.lock().await;
    let relay = Relay::start(&[]);
    let bystanders = Bystanders::start(&relay).await;
    let memory = relay.sample_memory();
    let n = scale(2000, 10_000);
    let (mut opened, mut refused) = (0, 0);
    let started = Instant::now();
    for _ in 0..n {
        match http_from(ATTACKER, relay.addr, "POST", "/poll", "").await {
            (200, _) => opened += 1,
            (429, body) => {
                assert!(body.contains("too_many_connections"), "{body}");
                refused += 1;
            }
            (status, body) => panic!("{status} {body}"),
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(opened, 32, "the default --max-polls-per-ip");
    let (status, body) = http_from(BYSTANDER, relay.addr, "POST", "/poll", "").await;
    assert_eq!(status, 200, "another address still opens a session: {body}");
    let watches = bystanders.finish().await;
    let memory = memory.finish().await;
    let extra = format!(
        "{n} sessions asked in {elapsed:?}: {opened} opened, {refused} refused (429 too_many_connections); another address opens one"
    );
    assert_unharmed(&relay, "long-poll flood", &watches, &extra, memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_created_from_one_address_are_capped() {
    let _serial = SERIAL.lock().await;
    let relay = Relay::start(&[]);
    let bystanders = Bystanders::start(&relay).await;
    let memory = relay.sample_memory();
    let conns = scale(40, 1000);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    let (mut accepted, mut refused) = (0, 0);
    for c in 0..conns {
        let Ok(mut client) = Client::connect_from(&relay.url(), ATTACKER).await else {
            // Refused with 429 while the address holds 256 (closed ones give theirs back).
            refused += 1;
            continue;
        };
        accepted += 1;
        tasks.spawn(async move {
            let (mut created, mut limited) = (0, 0);
            let hello = encode(&client.hello_frame(&DeviceKey::generate(), "Squatter"));
            if !client.send_message(Message::text(hello)).await
                || !matches!(client.next_or_close().await, Some(ServerFrame::Welcome(_)))
            {
                return (created, limited, client);
            }
            for r in 0..32 {
                let join = ClientFrame::Join(Join {
                    room: RoomName::parse(&format!("squat {c} {r}")).unwrap(),
                    since: None,
                });
                // The relay closes a connection refused too often: stop sending then.
                if !client.send_message(Message::text(encode(&join))).await {
                    break;
                }
            }
            for _ in 0..32 {
                match tokio::time::timeout(support::WAIT, client.next_or_close()).await {
                    Ok(Some(ServerFrame::Joined(_))) => created += 1,
                    Ok(Some(ServerFrame::Error(e))) if e.code == ErrorCode::RoomLimit => {
                        limited += 1;
                    }
                    _ => break,
                }
            }
            (created, limited, client)
        });
    }
    let results = tasks.join_all().await;
    let elapsed = started.elapsed().as_secs_f64();
    let created: usize = results.iter().map(|r| r.0).sum();
    let limited: usize = results.iter().map(|r| r.1).sum();
    // A burst of 100, then one a second.
    assert!(
        created as f64 <= 100.0 + elapsed + 2.0,
        "{created} rooms created in {elapsed:.1} s"
    );
    let watches = bystanders.finish().await;
    let memory = memory.finish().await;
    drop(results);
    let extra = format!(
        "{conns} connections x 32 rooms asked: {accepted} accepted, {refused} refused (429), {created} rooms created, {limited} joins refused room_limit, in {elapsed:.1} s"
    );
    assert_unharmed(&relay, "room flood", &watches, &extra, memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_acks_everything_stored_before_closing() {
    let _serial = SERIAL.lock().await;
    let mut relay = Relay::start(&["--rate-per-sec", "100000", "--rate-burst", "100000"]);
    let mut client = Client::connect_from(&relay.url(), BYSTANDER).await.unwrap();
    client.say_hello(&DeviceKey::generate(), "Burst").await;
    client.join(ROOM).await;
    let n = 400;
    let mut sent: HashSet<MessageId> = HashSet::new();
    for i in 0..n {
        let chat = client.chat_frame(ROOM, &format!("burst {i}"));
        sent.insert(chat.id);
        client.send(&ClientFrame::Chat(chat)).await;
    }
    let data = relay.data.clone();
    let terminate = async {
        relay.terminate().await;
    };
    let read = async {
        let mut acked = HashSet::new();
        loop {
            match tokio::time::timeout(support::WAIT, client.next_or_close()).await {
                Ok(Some(ServerFrame::Ack(a))) => {
                    acked.insert(a.id);
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return acked,
            }
        }
    };
    let ((), acked) = tokio::join!(terminate, read);
    let restarted = Relay::start_on(&data, None, &[]);
    let mut reader = Client::connect_from(&restarted.url(), BYSTANDER)
        .await
        .unwrap();
    reader.say_hello(&DeviceKey::generate(), "Reader").await;
    let stored: HashSet<MessageId> = reader.history(ROOM).await.iter().map(|m| m.id).collect();
    let unacked = stored.difference(&acked).count();
    eprintln!(
        "FIGURE SIGTERM mid-burst: {n} sent, {} stored, {} acked, {unacked} stored but not acked",
        stored.len(),
        acked.len()
    );
    assert_eq!(
        unacked, 0,
        "every stored message was acked before the socket closed"
    );
    assert!(acked.is_subset(&stored), "an ack means stored");
    drop(relay);
}
