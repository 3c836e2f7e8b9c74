//! What the engine does with every frame on a WebRTC data channel from another device:
//! decode and validate it. Never a panic; an accepted frame reads back the same.

#![no_main]

use festival_proto::{Limits, decode_peer, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits::default();
    let Ok(frame) = decode_peer(text, &limits) else {
        return;
    };
    let unlimited = Limits {
        max_frame_bytes: usize::MAX,
        ..limits
    };
    assert_eq!(
        decode_peer(&encode(&frame), &unlimited).as_ref(),
        Ok(&frame)
    );
});
