//! What the app does with a pasted or scanned invite link: parse it. Never a panic; an invite
//! it accepts reads back the same from the link it makes.

#![no_main]

use festival_proto::Invite;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(invite) = Invite::parse(text) else {
        return;
    };
    assert_eq!(Invite::parse(&invite.to_link()).as_ref(), Ok(&invite));
});
