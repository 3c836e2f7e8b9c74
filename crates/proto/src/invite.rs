//! Invite links: how a room (and the relay it lives on) travels from one phone to another, as
//! a link or a QR code. `festival://join?room=Main%20Stage&relay=wss%3A%2F%2Frelay.example.org%2Fws`.
//!
//! A link is typed, pasted or scanned from a stranger's screen, so it is parsed as untrusted
//! input: bounded, every part validated, and anything ambiguous refused.

use url::Url;

use crate::{ProtoError, RoomName};

/// An invitation to a room, as carried by an invite link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// The room to join.
    pub room: RoomName,
    /// The relay the room lives on (`ws://` or `wss://`), when the link names one.
    pub relay: Option<String>,
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
        let invite = Self { room, relay };
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
        url.into()
    }
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
        };
        assert_eq!(Invite::parse(&invite.to_link()).unwrap(), invite);
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
                let invite = Invite { room, relay: Some(format!("wss://relay.example:{port}/ws")) };
                prop_assert_eq!(Invite::parse(&invite.to_link()), Ok(invite));
            }
        }

        #[test]
        fn parsing_never_panics(link in "festival://join\\?\\PC{0,200}") {
            let _ = Invite::parse(&link);
        }
    }
}
