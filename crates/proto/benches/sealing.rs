//! What a private room costs, printed as figures beside the signature every message already
//! carries (no harness: `cargo bench -p festival-proto --bench sealing`):
//! - the bytes on the wire of one relay-to-client `chat` of a 100-byte text, public and sealed;
//! - the time to seal and to open one such text, beside signing and verifying it (the baseline
//!   every message pays already), each the median of several rounds;
//! - the time to wrap a new room key for a rekey's 63 members, and to unwrap one's own.

use std::hint::black_box;
use std::time::{Duration, Instant};

use festival_proto::{
    ChatMessage, DeviceKey, DisplayName, MessageId, Opened, PrivateRoom, Rekey, RoomKey, RoomName,
    SealedFor, ServerFrame, encode,
};

/// Operations per timed round, and rounds per figure.
const OPS: u32 = 2_000;
const ROUNDS: usize = 7;

fn main() {
    let key = DeviceKey::generate();
    let room = RoomName::parse("Main Stage").expect("a valid room");
    let text = "x".repeat(100);
    let private = PrivateRoom::create(key.public());
    let mut public = ChatMessage {
        room: room.clone(),
        id: MessageId::new(),
        seq: 4_217,
        sender: key.device(),
        from: DisplayName::parse("Alice").expect("a valid name"),
        body: text.clone(),
        sealed: None,
        sent_at: 1_764_012_345_678,
        stored_at: 1_764_012_345_690,
        prev: Some(MessageId::new()),
        key: Some(key.public()),
        sig: None,
    };
    public.sig = Some(key.sign_chat(&public.signed()));
    let to = SealedFor {
        room: &room,
        id: public.id,
        sender: key.device(),
    };
    let mut sealed = ChatMessage {
        body: String::new(),
        sealed: Some(private.key.seal_text(0, &to, &text)),
        ..public.clone()
    };
    sealed.sig = Some(key.sign_chat(&sealed.signed()));
    let (plain_bytes, sealed_bytes) = (wire_bytes(&public), wire_bytes(&sealed));
    println!(
        "relay -> client chat, 100-byte text: {plain_bytes} B public, {sealed_bytes} B private, \
         +{} B ({:.0} %)",
        sealed_bytes - plain_bytes,
        (sealed_bytes - plain_bytes) as f64 * 100.0 / plain_bytes as f64
    );

    let signed = public.signed();
    let sig = public.sig.expect("signed above");
    let verifier = key.public();
    let sign = median(|| {
        black_box(key.sign_chat(black_box(&signed)));
    });
    let verify = median(|| {
        assert!(verifier.verify_chat(black_box(&signed), black_box(&sig)));
    });
    let seal = median(|| {
        black_box(private.key.seal_text(0, black_box(&to), black_box(&text)));
    });
    let box_ = sealed.sealed.clone().expect("sealed above");
    let open = median(|| {
        let opened = private.key.open(black_box(&box_), black_box(&to));
        assert!(matches!(opened, Ok(Opened::Text(_))));
    });
    for (what, per_op, baseline, base_name) in [
        ("seal a 100-byte text", seal, sign, "sign"),
        ("open a 100-byte text", open, verify, "verify"),
    ] {
        println!(
            "{what}: {:.2} us ({:.0} per second on one core); {base_name}: {:.1} us; ratio {:.3}",
            per_op.as_secs_f64() * 1e6,
            1.0 / per_op.as_secs_f64(),
            baseline.as_secs_f64() * 1e6,
            per_op.as_secs_f64() / baseline.as_secs_f64()
        );
    }

    let members: Vec<DeviceKey> = (0..Rekey::MAX_MEMBERS)
        .map(|_| DeviceKey::generate())
        .collect();
    let publics: Vec<_> = members.iter().map(DeviceKey::public).collect();
    let next = RoomKey::generate();
    let wrap_rounds: Vec<Duration> = (0..ROUNDS)
        .map(|_| timed(|| drop(black_box(Rekey::wrap(&room, 1, &next, &publics)))))
        .collect();
    let rekey = Rekey::wrap(&room, 1, &next, &publics).remove(0);
    let unwrap = median(|| {
        assert!(rekey.unwrap_for(&room, black_box(&members[40])).is_some());
    });
    println!(
        "wrap a new room key for {} members: {:.2} ms; unwrap one's own: {:.1} us",
        Rekey::MAX_MEMBERS,
        middle(wrap_rounds).as_secs_f64() * 1e3,
        unwrap.as_secs_f64() * 1e6
    );
}

/// The frame's JSON plus its WebSocket header (2 bytes, 4 from 126 bytes of payload).
fn wire_bytes(message: &ChatMessage) -> usize {
    let json = encode(&ServerFrame::Chat(message.clone())).len();
    json + if json < 126 { 2 } else { 4 }
}

/// How long `op` takes once.
// A benchmark measures time: it reads the clock.
#[allow(clippy::disallowed_methods)]
fn timed(op: impl FnOnce()) -> Duration {
    let start = Instant::now();
    op();
    start.elapsed()
}

/// The median of some rounds.
fn middle(mut rounds: Vec<Duration>) -> Duration {
    rounds.sort();
    rounds[rounds.len() / 2]
}

/// The median time of one operation over `ROUNDS` rounds of `OPS`.
fn median(mut op: impl FnMut()) -> Duration {
    middle(
        (0..ROUNDS)
            .map(|_| {
                timed(|| {
                    for _ in 0..OPS {
                        op();
                    }
                }) / OPS
            })
            .collect(),
    )
}
