//! Invite links: how a room (and the relay it lives on) travels from one phone to another, as
//! a link or a QR code. `festival://join?room=Main%20Stage&relay=wss%3A%2F%2Frelay.example.org%2Fws`.
//!
//! A link is typed, pasted or scanned from a stranger's screen, so it is parsed as untrusted
//! input: bounded, every part validated, and anything ambiguous refused.
//!
//! A private room's invite also carries the room's key, its epoch and its owner, in the
//! link's fragment (`#key=…&epoch=0&owner=…`): the part of a URL that a browser never sends
//! to a server, so that a link opened in a browser or passed through a link preview does not
//! hand the key to whoever serves the page. A key in the query is refused, not used.

use url::Url;

use crate::{PrivateRoom, ProtoError, PublicKey, RoomKey, RoomName};

/// An invitation to a room, as carried by an invite link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// The room to join.
    pub room: RoomName,
    /// The relay the room lives on (`ws://` or `wss://`), when the link names one.
    pub relay: Option<String>,
    /// For a private room: its key, epoch and owner, from the link's fragment.
    pub private: Option<PrivateRoom>,
}

/// Why a text is not an invite link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InviteError {
    /// Longer than [`Invite::MAX_LINK_BYTES`].
    #[error("an invite link is at most {max} bytes; this text is {len}")]
    TooLong {
        /// The text's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a URL at all.
    #[error("this is not a link: {0}")]
    NotALink(#[from] url::ParseError),
    /// A URL, but not `festival://join?...`.
    #[error("this link is not a Festival Chat invite (it does not start with festival://join)")]
    NotAnInvite,
    /// No `room`, or more than one `room` or `relay` (which two readers could take apart).
    #[error("the invite must name exactly one room and at most one relay")]
    Ambiguous,
    /// The room name is not one a room may have.
    #[error("the invite's room: {0}")]
    Room(ProtoError),
    /// The relay is not a `ws://` or `wss://` address with a host and no user name in it.
    #[error("the invite's relay {0:?} is not a ws:// or wss:// address")]
    Relay(String),
    /// The fragment is not exactly one `key`, one `epoch` and one `owner`, each well formed
    /// (a 43-character base64url key, a decimal epoch, a 43-character base64url owner key).
    #[error("the invite's private-room part (after #) is not one key, epoch and owner: {0}")]
    Private(&'static str),
    /// A room key in the query, which a browser would send to a server: refused so that
    /// nobody gets used to links that leak their key.
    #[error("the invite puts a room key where servers see it (before #): ask for a new link")]
    KeyInQuery,
}

impl Invite {
    /// Longest invite link accepted, in bytes: far more than a room and a relay need, and
    /// still a small QR code.
    pub const MAX_LINK_BYTES: usize = 1024;

    /// Parses and validates an invite link (surrounding whitespace ignored). The room comes
    /// back normalised; an empty `relay` counts as none; unknown parameters are ignored, so
    /// that later versions may add some.
    pub fn parse(link: &str) -> Result<Self, InviteError> {
        let link = link.trim();
        if link.len() > Self::MAX_LINK_BYTES {
            return Err(InviteError::TooLong {
                len: link.len(),
                max: Self::MAX_LINK_BYTES,
            });
        }
        let url = Url::parse(link)?;
        if url.scheme() != "festival"
            || url.host_str() != Some("join")
            || !matches!(url.path(), "" | "/")
        {
            return Err(InviteError::NotAnInvite);
        }
        let (mut room, mut relay) = (None, None);
        for (key, value) in url.query_pairs() {
            let slot = match key.as_ref() {
                "room" => &mut room,
                "relay" => &mut relay,
                "key" | "owner" | "epoch" => return Err(InviteError::KeyInQuery),
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(InviteError::Ambiguous);
            }
        }
        let room =
            RoomName::parse(&room.ok_or(InviteError::Ambiguous)?).map_err(InviteError::Room)?;
        let relay = match relay.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(relay) => Some(parse_relay(relay)?),
        };
        let private = url.fragment().map(parse_private).transpose()?;
        let invite = Self {
            room,
            relay,
            private,
        };
        // Percent-encoding can make the link this invite is passed on as (`to_link`) longer
        // than the text it came from; it must fit the limit too.
        let len = invite.to_link().len();
        if len > Self::MAX_LINK_BYTES {
            return Err(InviteError::TooLong {
                len,
                max: Self::MAX_LINK_BYTES,
            });
        }
        Ok(invite)
    }

    /// The invite as a link, which [`Invite::parse`] reads back as this invite.
    pub fn to_link(&self) -> String {
        let mut url = Url::parse("festival://join").expect("a constant, valid URL");
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("room", self.room.as_str());
            if let Some(relay) = &self.relay {
                query.append_pair("relay", relay);
            }
        }
        if let Some(private) = &self.private {
            url.set_fragment(Some(&format!(
                "key={}&epoch={}&owner={}",
                private.key.to_text(),
                private.epoch,
                private.owner
            )));
        }
        url.into()
    }
}

/// A private room from an invite's fragment: `key`, `epoch` and `owner`, each exactly once,
/// nothing else, no percent-encoding (none of them needs any).
fn parse_private(fragment: &str) -> Result<PrivateRoom, InviteError> {
    let (mut key, mut epoch, mut owner) = (None, None, None);
    for pair in fragment.split('&') {
        let (name, value) = pair
            .split_once('=')
            .ok_or(InviteError::Private("a part without a value"))?;
        let slot = match name {
            "key" => &mut key,
            "epoch" => &mut epoch,
            "owner" => &mut owner,
            _ => return Err(InviteError::Private("an unknown part")),
        };
        if slot.replace(value).is_some() {
            return Err(InviteError::Private("a part named twice"));
        }
    }
    let key = key
        .and_then(RoomKey::from_text)
        .ok_or(InviteError::Private(
            "the key is not 43 base64url characters",
        ))?;
    let epoch = epoch
        .filter(|e| (1..=10).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_digit()))
        .filter(|e| *e == "0" || !e.starts_with('0'))
        .and_then(|e| e.parse().ok())
        .ok_or(InviteError::Private("the epoch is not a number"))?;
    let owner: PublicKey = owner
        .filter(|o| o.len() == RoomKey::TEXT_LEN)
        .and_then(|o| o.parse::<PublicKey>().ok())
        .ok_or(InviteError::Private("the owner is not a 43-character key"))?;
    Ok(PrivateRoom { key, epoch, owner })
}

/// A relay address from an invite: `ws://` or `wss://`, with a host, without a user name or
/// password (`wss://trusted.example@evil.example` reads as one host and is another), and
/// without control characters or spaces (which the URL parser would quietly percent-encode).
fn parse_relay(relay: &str) -> Result<String, InviteError> {
    let refused = || InviteError::Relay(relay.chars().take(80).collect());
    if relay.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(refused());
    }
    let url = Url::parse(relay).map_err(|_| refused())?;
    let fine = matches!(url.scheme(), "ws" | "wss")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.username().is_empty()
        && url.password().is_none();
    if !fine {
        return Err(refused());
    }
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    #[test]
    fn the_apps_links_parse() {
        // As the app writes them (JavaScript's encodeURIComponent).
        let invite = Invite::parse(
            " festival://join?room=Main%20Stage&relay=wss%3A%2F%2Frelay.example.org%2Fws ",
        )
        .unwrap();
        assert_eq!(invite.room, room("Main Stage"));
        assert_eq!(invite.relay.as_deref(), Some("wss://relay.example.org/ws"));
        let local = Invite::parse("festival://join?room=Zelt%20%233&relay=").unwrap();
        assert_eq!((local.room, local.relay), (room("Zelt #3"), None));
    }

    #[test]
    fn invites_survive_a_round_trip() {
        let invite = Invite {
            room: room("Lost & Found"),
            relay: Some("ws://127.0.0.1:8080/ws".into()),
            private: None,
        };
        assert_eq!(Invite::parse(&invite.to_link()).unwrap(), invite);
        let private = Invite {
            private: Some(PrivateRoom {
                epoch: 7,
                ..PrivateRoom::create(crate::DeviceKey::generate().public())
            }),
            ..invite
        };
        let link = private.to_link();
        assert!(link.contains("?room=Lost+%26+Found&relay="), "{link}");
        assert!(link.contains("#key="), "the key is in the fragment: {link}");
        assert_eq!(Invite::parse(&link).unwrap(), private);
    }

    #[test]
    fn a_private_part_is_exact_or_refused() {
        let owner = crate::DeviceKey::generate().public();
        let key = RoomKey::generate().to_text();
        let base = "festival://join?room=Crew";
        let parse = |fragment: &str| Invite::parse(&format!("{base}#{fragment}"));
        let good = format!("key={key}&epoch=0&owner={owner}");
        assert!(parse(&good).unwrap().private.is_some());
        let reordered = format!("owner={owner}&epoch=12&key={key}");
        assert_eq!(parse(&reordered).unwrap().private.unwrap().epoch, 12);
        for bad in [
            String::new(),
            format!("key={key}&epoch=0"),
            format!("key={key}&owner={owner}"),
            format!("epoch=0&owner={owner}"),
            format!("{good}&key={key}"),
            format!("{good}&x=1"),
            format!("{good}&"),
            format!("key={}&epoch=0&owner={owner}", &key[..42]),
            format!("key={key}A&epoch=0&owner={owner}"),
            format!("key={key}&epoch=01&owner={owner}"),
            format!("key={key}&epoch=-1&owner={owner}"),
            format!("key={key}&epoch=+1&owner={owner}"),
            format!("key={key}&epoch=4294967296&owner={owner}"),
            format!("key={key}&epoch=0&owner={}", &owner.to_string()[..42]),
            format!("key={key}&epoch=0&owner=AAAA"),
            format!("key=%41{}&epoch=0&owner={owner}", &key[1..]),
        ] {
            assert!(
                matches!(parse(&bad), Err(InviteError::Private(_))),
                "{bad}: {:?}",
                parse(&bad)
            );
        }
        // In the query, where a browser would send it to a server: refused.
        for part in ["key", "epoch", "owner"] {
            let link = format!("{base}&{part}=x");
            assert_eq!(Invite::parse(&link), Err(InviteError::KeyInQuery), "{link}");
        }
        // A public invite with an empty fragment is no private room.
        assert!(matches!(
            Invite::parse(&format!("{base}#")),
            Err(InviteError::Private(_))
        ));
    }

    #[test]
    fn bad_links_say_what_is_wrong() {
        let err = |link: &str| Invite::parse(link).unwrap_err();
        assert!(matches!(err("Main Stage"), InviteError::NotALink(_)));
        assert_eq!(err("https://join?room=a"), InviteError::NotAnInvite);
        assert_eq!(err("festival://leave?room=a"), InviteError::NotAnInvite);
        assert_eq!(err("festival://join/x?room=a"), InviteError::NotAnInvite);
        assert_eq!(err("festival://join?relay=ws://a"), InviteError::Ambiguous);
        assert_eq!(err("festival://join?room=a&room=b"), InviteError::Ambiguous);
        assert_eq!(
            err("festival://join?room=a&relay=ws://x&relay=ws://y"),
            InviteError::Ambiguous
        );
        assert!(matches!(
            err("festival://join?room=a%2Fb"),
            InviteError::Room(_)
        ));
        assert!(matches!(
            err("festival://join?room=Main%E2%80%8BStage"),
            InviteError::Room(e) if e.code == crate::ErrorCode::InvisibleCharacter
        ));
        for relay in [
            "http://relay.example.org",
            "relay.example.org",
            "wss://trusted.example@evil.example/ws",
            "ws://",
        ] {
            let link = Invite {
                room: room("a"),
                relay: Some(relay.into()),
                private: None,
            }
            .to_link();
            assert!(matches!(err(&link), InviteError::Relay(_)), "{relay}");
        }
        let long = format!("festival://join?room=a&pad={}", "x".repeat(1024));
        assert!(matches!(err(&long), InviteError::TooLong { .. }));
    }

    #[test]
    fn an_invite_is_refused_when_the_link_it_makes_is_too_long() {
        // Found by fuzzing: a relay address that the URL parser percent-encodes grew past the
        // limit, so the invite could not be passed on as it came.
        let nul = format!(
            "festival://join?room=Main&relay=wss%3A%2F%2Fx%2F{}ws",
            "\0".repeat(300)
        );
        assert!(matches!(
            Invite::parse(&nul).unwrap_err(),
            InviteError::Relay(_)
        ));
        let accents = format!(
            "festival://join?room=Main&relay=wss://relay.example/{}",
            "\u{e9}".repeat(300)
        );
        assert!(accents.len() <= Invite::MAX_LINK_BYTES);
        assert!(matches!(
            Invite::parse(&accents).unwrap_err(),
            InviteError::TooLong { .. }
        ));
    }

    proptest! {
        #[test]
        fn any_valid_room_round_trips(name in "[\\p{L}\\p{N} &'#._-]{1,64}", port in 1u16..) {
            if let Ok(room) = RoomName::parse(&name) {
                let invite = Invite { room, relay: Some(format!("wss://relay.example:{port}/ws")), private: None };
                prop_assert_eq!(Invite::parse(&invite.to_link()), Ok(invite));
            }
        }

        #[test]
        fn parsing_never_panics(link in "festival://join\\?\\PC{0,200}") {
            let _ = Invite::parse(&link);
        }
    }
}
