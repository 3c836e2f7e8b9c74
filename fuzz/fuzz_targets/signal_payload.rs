//! What the engine does with a signaling payload another device sent through the relay: read
//! it as a `PeerSignal` (as the engine's P2P driver does), then hand an offer's or answer's
//! SDP to the parser webrtc-rs uses. Never a panic.

#![no_main]

use std::io::Cursor;

use festival_proto::PeerSignal;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(signal) = serde_json::from_value::<PeerSignal>(payload) else {
        return;
    };
    if let PeerSignal::Offer { sdp, .. } | PeerSignal::Answer { sdp, .. } = signal {
        let _ = sdp::SessionDescription::unmarshal(&mut Cursor::new(sdp.as_bytes()));
    }
});
