//! Display names and room names: normalised once, validated once, then trusted.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::text::normalise_line;
use crate::{ErrorCode, Limits, ProtoError};

/// A person's display name: NFC-normalised, trimmed, inner whitespace collapsed, 1 to
/// [`Limits::MAX_NAME_CHARS`] characters, no control characters. It is not an identity: two
/// devices may ask for the same name, and the relay tells them apart in each room.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    /// Normalises and validates a name typed by a person.
    pub fn parse(raw: &str) -> Result<Self, ProtoError> {
        let name = normalise_line(raw, ErrorCode::InvalidName, "name")?;
        let chars = name.chars().count();
        if chars == 0 {
            return Err(ProtoError::new(ErrorCode::InvalidName, "name is empty"));
        }
        if chars > Limits::MAX_NAME_CHARS {
            return Err(ProtoError::new(
                ErrorCode::InvalidName,
                format!(
                    "name is {chars} characters; the limit is {}",
                    Limits::MAX_NAME_CHARS
                ),
            ));
        }
        Ok(Self(name))
    }

    /// The name with a disambiguating suffix, e.g. `John (2)`, for the second device called
    /// John in one room. The suffix may take the name past the usual length limit.
    pub fn with_suffix(&self, n: usize) -> Self {
        Self(format!("{} ({n})", self.0))
    }

    /// A name this side validated earlier and kept (e.g. in its own database), possibly with
    /// a room suffix that takes it past the length limit. Not for input from the network.
    pub fn from_trusted(name: String) -> Self {
        Self(name)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A room's name: NFC-normalised, trimmed, inner whitespace collapsed, 1 to
/// [`Limits::MAX_ROOM_CHARS`] characters of letters, digits, spaces and `- _ . & ' #`.
/// Rooms are created on first join, so the name is the room's only key (case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoomName(String);

impl RoomName {
    /// Normalises and validates a room name.
    pub fn parse(raw: &str) -> Result<Self, ProtoError> {
        let room = normalise_line(raw, ErrorCode::InvalidRoom, "room name")?;
        let chars = room.chars().count();
        if chars == 0 {
            return Err(ProtoError::new(
                ErrorCode::InvalidRoom,
                "room name is empty",
            ));
        }
        if chars > Limits::MAX_ROOM_CHARS {
            return Err(ProtoError::new(
                ErrorCode::InvalidRoom,
                format!(
                    "room name is {chars} characters; the limit is {}",
                    Limits::MAX_ROOM_CHARS
                ),
            ));
        }
        if let Some(c) = room.chars().find(|&c| {
            !(c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | '&' | '\'' | '#'))
        }) {
            return Err(ProtoError::new(
                ErrorCode::InvalidRoom,
                format!("room names may hold letters, digits, spaces and - _ . & ' #; not {c:?}"),
            ));
        }
        Ok(Self(room))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_collapsed_and_normalised() {
        assert_eq!(
            DisplayName::parse("  John \t  Doe ").unwrap().as_str(),
            "John Doe"
        );
        // "e" + combining acute becomes the single precomposed character.
        assert_eq!(
            DisplayName::parse("Rene\u{301}").unwrap().as_str(),
            "Ren\u{e9}"
        );
        assert_eq!(
            DisplayName::parse("John ").unwrap(),
            DisplayName::parse("John").unwrap()
        );
    }

    #[test]
    fn names_refuse_control_characters_empty_and_long() {
        assert_eq!(
            DisplayName::parse("a\u{7}b").unwrap_err().code,
            ErrorCode::InvalidName
        );
        assert_eq!(
            DisplayName::parse("   ").unwrap_err().code,
            ErrorCode::InvalidName
        );
        assert!(DisplayName::parse(&"x".repeat(32)).is_ok());
        assert_eq!(
            DisplayName::parse(&"x".repeat(33)).unwrap_err().code,
            ErrorCode::InvalidName
        );
    }

    #[test]
    fn rooms_allow_festival_names_and_codes() {
        for ok in [
            "Main Stage",
            "Lost & Found",
            "happy-otter-42",
            "Ride_Share",
            "Zelt #3",
            "Café",
        ] {
            assert_eq!(RoomName::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(
            RoomName::parse(" Main   Stage ").unwrap().as_str(),
            "Main Stage"
        );
    }

    #[test]
    fn rooms_refuse_bad_characters_and_lengths() {
        for bad in ["", "   ", "a/b", "<script>", "a\u{0}b", &"r".repeat(65)] {
            assert_eq!(
                RoomName::parse(bad).unwrap_err().code,
                ErrorCode::InvalidRoom,
                "{bad:?}"
            );
        }
    }
}
