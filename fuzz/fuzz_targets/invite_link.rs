//! What the app does with a pasted or scanned invite link: parse it. Never a panic; an invite
//! it accepts reads back the same from the link it makes; a private room's key is only ever
//! in the fragment (after `#`), never where a browser would send it to a server.

#![no_main]

use festival_proto::{Invite, RoomKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(invite) = Invite::parse(text) else {
        return;
    };
    let link = invite.to_link();
    assert_eq!(Invite::parse(&link).as_ref(), Ok(&invite));
    if let Some(private) = &invite.private {
        let (before, fragment) = link.split_once('#').expect("a private invite has a fragment");
        // What a browser would send to a server is a public invite, with no key in it.
        assert_eq!(Invite::parse(before).map(|i| i.private), Ok(None));
        assert!(fragment.contains(&private.key.to_text()));
        assert_eq!(RoomKey::from_text(&private.key.to_text()).as_ref(), Some(&private.key));
    }
});
