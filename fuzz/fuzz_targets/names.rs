//! Display names and room names from anyone: validation never panics, normalising is
//! idempotent, and no accepted name can pass for a relay-suffixed one.

#![no_main]

use festival_proto::{DisplayName, RoomName};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(name) = DisplayName::parse(text) {
        assert_eq!(DisplayName::parse(name.as_str()).as_ref(), Ok(&name));
        let suffixed = name.with_suffix(2);
        assert!(
            DisplayName::parse(suffixed.as_str()).is_err(),
            "{suffixed} could be typed"
        );
        let _ = name.skeleton();
    }
    if let Ok(room) = RoomName::parse(text) {
        assert_eq!(RoomName::parse(room.as_str()).as_ref(), Ok(&room));
    }
});
