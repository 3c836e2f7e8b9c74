//! What the engine does with every text frame from a relay (which may be hostile): decode it.
//! Never a panic; a frame it accepts reads back the same after encoding.

#![no_main]

use festival_proto::{ServerFrame, decode_server, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(frame) = decode_server(text) else {
        return;
    };
    // Signal payloads are any JSON, whose floats serde_json does not promise to round-trip.
    if matches!(frame, ServerFrame::Signal(_)) {
        return;
    }
    assert_eq!(decode_server(&encode(&frame)).as_ref(), Ok(&frame));
});
