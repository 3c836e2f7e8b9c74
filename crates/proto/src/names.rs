//! Display names and room names: normalised once, validated once, then trusted.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::text::normalise_line;
use crate::{ErrorCode, Limits, ProtoError};

/// A person's display name: NFC-normalised, trimmed, inner whitespace collapsed, 1 to
/// [`Limits::MAX_NAME_CHARS`] characters, no control or invisible characters, and not ending
/// in a number in brackets (the relay's `(2)`). It is not an identity: two devices may ask for
/// the same name, or for names that look alike, and the relay tells them apart in each room.
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
        if ends_like_a_suffix(&name) {
            return Err(ProtoError::new(
                ErrorCode::InvalidName,
                "a name may not end in a number in brackets such as \"(2)\": the relay adds \
                 those to tell apart people whose names look alike",
            ));
        }
        Ok(Self(name))
    }

    /// The name's Unicode TR39 skeleton: names that look alike have the same one (Latin
    /// "Alice", Cyrillic "Аlice", fullwidth "Ａｌｉｃｅ", "AIice" with a capital I), so that a room
    /// can count them as one name. For comparing only; never shown.
    pub fn skeleton(&self) -> String {
        unicode_security::skeleton(&self.0).collect()
    }

    /// The form under which a person's key is remembered: the skeleton of the name without
    /// the relay's ` (2)` suffix, so that "Alice", "Alice (2)" and Cyrillic "Аlice" are one
    /// name whose key is expected to stay the same. For comparing only; never shown.
    pub fn canonical(&self) -> String {
        let base = self
            .0
            .strip_suffix(')')
            .and_then(|rest| rest.rsplit_once(" ("))
            .filter(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .map_or(self.0.as_str(), |(base, _)| base);
        unicode_security::skeleton(base).collect()
    }

    /// The name with a disambiguating suffix, e.g. `John (2)`, for the second device called
    /// John in one room. The suffix may take the name past the usual length limit, and no
    /// name a person types can look like it (see [`DisplayName::parse`]).
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

/// Whether `name` looks as if it ended in a relay suffix such as ` (2)`: its skeleton ends
/// in brackets around digits (or what looks like them: `(l)`, `（２）`, `⑵`), space or not.
fn ends_like_a_suffix(name: &str) -> bool {
    let skeleton = |text: &str| unicode_security::skeleton(text).collect::<String>();
    let (open, close) = (skeleton("("), skeleton(")"));
    let digits: Vec<String> = ('0'..='9')
        .map(|d| skeleton(d.encode_utf8(&mut [0; 4])))
        .collect();
    let name = skeleton(name);
    let Some(inner) = name.trim_end().strip_suffix(close.as_str()) else {
        return false;
    };
    let Some(at) = inner.rfind(open.as_str()) else {
        return false;
    };
    let mut number = inner[at + open.len()..].trim();
    if number.is_empty() {
        return false;
    }
    while !number.is_empty() {
        match digits.iter().find(|d| number.starts_with(d.as_str())) {
            Some(digit) => number = &number[digit.len()..],
            None => return false,
        }
    }
    true
}

/// A room's name: NFC-normalised, trimmed, inner whitespace collapsed, 1 to
/// [`Limits::MAX_ROOM_CHARS`] characters of letters, digits, spaces and `- _ . & ' #`, no
/// invisible characters.
/// Rooms are created on first join, so the name is the room's only key (case-sensitive),
/// except that a room code typed in any spelling ("Sunny Tent 42") becomes the code's
/// canonical one (`sunny-tent-42`, see [`crate::canonical_code`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoomName(String);

impl RoomName {
    /// Normalises and validates a room name; a room code comes back in its canonical spelling.
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
        Ok(Self(crate::code::canonical_code(&room).unwrap_or(room)))
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
    use proptest::prelude::*;

    use super::*;

    fn code(raw: &str) -> ErrorCode {
        DisplayName::parse(raw).unwrap_err().code
    }

    #[test]
    fn a_person_is_remembered_under_one_name_whatever_the_suffix_or_script() {
        let alice = DisplayName::parse("Alice").unwrap();
        let canonical = alice.canonical();
        assert_eq!(alice.with_suffix(2).canonical(), canonical);
        assert_eq!(DisplayName::parse("Аlice").unwrap().canonical(), canonical);
        assert_ne!(DisplayName::parse("Alicia").unwrap().canonical(), canonical);
        // Brackets that are part of a name (not the relay's number) stay.
        let band = DisplayName::parse("Band (crew)").unwrap();
        assert_ne!(
            band.canonical(),
            DisplayName::parse("Band").unwrap().canonical()
        );
    }

    #[test]
    fn look_alikes_of_alice_share_one_skeleton() {
        let alice = DisplayName::parse("Alice").unwrap().skeleton();
        for look_alike in [
            "\u{410}lice",
            "\u{ff21}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}",
            "AIice",
        ] {
            let name = DisplayName::parse(look_alike).unwrap();
            assert_ne!(name.as_str(), "Alice");
            assert_eq!(name.skeleton(), alice, "{look_alike:?}");
        }
        assert_ne!(DisplayName::parse("Alicia").unwrap().skeleton(), alice);
    }

    #[test]
    fn invisible_and_direction_characters_are_refused_with_their_own_code() {
        for bad in [
            "Alice\u{200b}",
            "Al\u{200c}ice",
            "\u{200d}",
            "\u{202e}ecilA",
            "\u{2066}Alice\u{2069}",
            "\u{200f}Alice",
            "\u{feff}Alice",
            "Ali\u{2060}ce",
            "\u{3164}",
            "\u{2800}",
            "Alice\u{e0041}",
        ] {
            assert_eq!(code(bad), ErrorCode::InvisibleCharacter, "{bad:?}");
            assert_eq!(
                RoomName::parse(bad).unwrap_err().code,
                ErrorCode::InvisibleCharacter,
                "room {bad:?}"
            );
        }
    }

    #[test]
    fn a_name_needs_something_visible() {
        assert_eq!(code("\u{301}"), ErrorCode::InvisibleCharacter);
        assert_eq!(code("\u{fe0f} \u{fe0f}"), ErrorCode::InvisibleCharacter);
        // A variation selector after a character only picks its emoji form.
        assert_eq!(
            DisplayName::parse("Ann \u{2764}\u{fe0f}").unwrap().as_str(),
            "Ann \u{2764}\u{fe0f}"
        );
    }

    #[test]
    fn nobody_can_type_the_relays_suffix() {
        for bad in [
            "Alice (2)",
            "Alice(2)",
            "Alice (12) ",
            "Alice ( 3 )",
            "Alice (1)",
            "Alice (l)",
            "Alice \u{ff08}\u{ff12}\u{ff09}",
            "Alice \u{2475}",
            "(2)",
        ] {
            assert_eq!(code(bad), ErrorCode::InvalidName, "{bad:?}");
        }
        for ok in [
            "Alice (DJ)",
            "(2) Alice",
            "Alice 2",
            "Alice (2) x",
            "Stage ()",
        ] {
            assert!(DisplayName::parse(ok).is_ok(), "{ok:?}");
        }
        let shown = DisplayName::parse("Alice").unwrap().with_suffix(2);
        assert_eq!(shown.as_str(), "Alice (2)");
    }

    proptest! {
        #[test]
        fn name_normalisation_is_idempotent(raw in "\\PC{0,40}") {
            if let Ok(name) = DisplayName::parse(&raw) {
                prop_assert_eq!(DisplayName::parse(name.as_str()), Ok(name.clone()));
                prop_assert_eq!(DisplayName::parse(name.as_str()).map(|n| n.skeleton()), Ok(name.skeleton()));
            }
            if let Ok(room) = RoomName::parse(&raw) {
                prop_assert_eq!(RoomName::parse(room.as_str()), Ok(room.clone()));
            }
        }

        #[test]
        fn mixed_names_normalise_idempotently(
            parts in proptest::collection::vec(prop_oneof![
                Just("A".to_string()), Just("\u{410}".to_string()), Just("e\u{301}".to_string()),
                Just(" ".to_string()), Just("\u{3000}".to_string()), Just("(".to_string()),
                Just(")".to_string()), Just("2".to_string()), Just("\u{fe0f}".to_string()),
                Just("\u{200d}".to_string()), Just("\u{ff21}".to_string()), "[a-z]{1,3}",
            ], 0..12)
        ) {
            let raw = parts.concat();
            if let Ok(name) = DisplayName::parse(&raw) {
                prop_assert_eq!(DisplayName::parse(name.as_str()), Ok(name));
            }
        }
    }

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
    fn a_room_code_typed_any_way_is_one_room() {
        for typed in [
            "Sunny Tent 42",
            " SUNNY  tent-42",
            "sunny_Tent_42",
            "sunny-tent-42",
        ] {
            assert_eq!(RoomName::parse(typed).unwrap().as_str(), "sunny-tent-42");
        }
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
