//! What the relay does with every text frame a client sends: decode and validate it. Never a
//! panic; and a frame it accepts reads back the same after encoding (nothing is lost or
//! changed by passing a validated frame on).

#![no_main]

use festival_proto::{ClientFrame, Limits, decode_client, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits::default();
    let Ok(frame) = decode_client(text, &limits) else {
        return;
    };
    // Signal payloads are any JSON, whose floats serde_json does not promise to round-trip.
    if matches!(frame, ClientFrame::Signal(_)) {
        return;
    }
    let unlimited = Limits {
        max_frame_bytes: usize::MAX,
        ..limits
    };
    assert_eq!(
        decode_client(&encode(&frame), &unlimited).as_ref(),
        Ok(&frame)
    );
});
