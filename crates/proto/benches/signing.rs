//! What signing every message costs, printed as figures (no harness: `cargo bench -p
//! festival-proto --bench signing`):
//! - the bytes on the wire of one relay-to-client `chat` of a 100-byte body, as version 1
//!   sent it (no key, no signature) and as version 2 sends it (key, signature, and `prev`);
//! - the time to sign a chat, to verify one, to check a `hello` proof, to derive a device id
//!   from a key, and to check that a message id is its sender's, each the median of several
//!   rounds; and the time to compute a safety number (two keys' 5,200 SHA-512 rounds each).

use std::hint::black_box;
use std::time::{Duration, Instant};

use festival_proto::{
    ChatMessage, DeviceKey, DisplayName, MessageId, Nonce, RoomName, SafetyNumber, ServerFrame,
    encode,
};

/// Operations per timed round, and rounds per figure.
const OPS: u32 = 2_000;
const ROUNDS: usize = 7;
/// Safety numbers per timed round.
const SAFETY_OPS: u32 = 10;

fn main() {
    let key = DeviceKey::generate();
    let room = RoomName::parse("Main Stage").expect("a valid room");
    let body = "x".repeat(100);
    let mut message = ChatMessage {
        room,
        id: MessageId::new(),
        seq: 4_217,
        sender: key.device(),
        from: DisplayName::parse("Alice").expect("a valid name"),
        body,
        sealed: None,
        sent_at: 1_764_012_345_678,
        stored_at: 1_764_012_345_690,
        prev: None,
        key: None,
        sig: None,
    };
    let before = wire_bytes(&message);
    message.prev = Some(MessageId::new());
    message.key = Some(key.public());
    message.sig = Some(key.sign_chat(&message.signed()));
    let after = wire_bytes(&message);
    println!(
        "relay -> client chat, 100-byte body: {before} B before (v1), {after} B after (v2: key, \
         signature, prev), +{} B ({:.0} %)",
        after - before,
        (after - before) as f64 * 100.0 / before as f64
    );

    let signed = message.signed();
    let sig = message.sig.expect("signed above");
    let public = key.public();
    let sign = median(|| {
        black_box(key.sign_chat(black_box(&signed)));
    });
    let verify = median(|| {
        assert!(public.verify_chat(black_box(&signed), black_box(&sig)));
    });
    let nonce = Nonce::random();
    let proof = key.prove(&nonce);
    let device = key.device();
    let hello = median(|| {
        assert!(public.verify_hello(device, black_box(&nonce), black_box(&proof)));
    });
    let derive = median(|| {
        black_box(festival_proto::DeviceId::of_key(black_box(&public)));
    });
    let id = MessageId::of_device(device, message.sent_at);
    let owner = median(|| {
        assert!(black_box(id).belongs_to(black_box(device)));
    });
    for (what, per_op) in [
        ("sign a chat", sign),
        ("verify a chat", verify),
        ("check a hello proof", hello),
        ("derive a device id", derive),
        ("check a message id's owner", owner),
    ] {
        println!(
            "{what}: {:.1} us ({:.0} per second on one core)",
            per_op.as_secs_f64() * 1e6,
            1.0 / per_op.as_secs_f64()
        );
    }
    // Far slower by design (each key's digits cost 5,200 hashes): timed over fewer rounds.
    let other = DeviceKey::generate().public();
    let mut times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            #[allow(clippy::disallowed_methods)] // A bench measures real time.
            let start = Instant::now();
            for _ in 0..SAFETY_OPS {
                black_box(SafetyNumber::of(black_box(&public), black_box(&other)));
            }
            start.elapsed() / SAFETY_OPS
        })
        .collect();
    times.sort();
    println!(
        "compute a safety number: {:.2} ms (shown on demand, per member tapped)",
        times[ROUNDS / 2].as_secs_f64() * 1e3
    );
}

/// The frame's JSON plus its WebSocket header (2 bytes, 4 from 126 bytes of payload).
fn wire_bytes(message: &ChatMessage) -> usize {
    let json = encode(&ServerFrame::Chat(message.clone())).len();
    json + if json < 126 { 2 } else { 4 }
}

/// The median time of one operation over `ROUNDS` rounds of `OPS`.
// A benchmark measures time: it reads the clock.
#[allow(clippy::disallowed_methods)]
fn median(mut op: impl FnMut()) -> Duration {
    let mut rounds: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..OPS {
                op();
            }
            start.elapsed() / OPS
        })
        .collect();
    rounds.sort();
    rounds[ROUNDS / 2]
}
