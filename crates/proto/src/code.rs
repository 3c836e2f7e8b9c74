//! Room codes: short human names for rooms, `adjective-noun-NN` (`sunny-tent-42`), that the
//! relay hands out for a new room and that people read out loud, type on a phone, or copy
//! from a poster.
//!
//! A code is the room's name in its canonical spelling. People type it in any case, with
//! spaces, dashes or underscores between the words, so [`canonical_code`] recognises every
//! such spelling and [`crate::RoomName::parse`] stores the canonical one: "Sunny Tent 42",
//! "SUNNY-tent 42" and "sunny_tent_42" are all the room `sunny-tent-42`.

/// The adjectives codes are made of: short, easy to say and to spell, none rude.
pub(crate) const ADJECTIVES: [&str; 32] = [
    "amber", "blue", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "dusty",
    "early", "fancy", "gentle", "golden", "green", "happy", "jolly", "kind", "lively", "lucky",
    "mellow", "misty", "noble", "proud", "quiet", "rapid", "shiny", "silver", "sunny", "swift",
    "warm", "wild",
];

/// The nouns codes are made of: things seen at a festival.
pub(crate) const NOUNS: [&str; 32] = [
    "banner", "beat", "bridge", "camp", "canyon", "cloud", "comet", "drum", "field", "flag",
    "forest", "garden", "guitar", "hill", "lake", "lantern", "meadow", "moon", "river", "rocket",
    "shore", "song", "stage", "star", "stone", "tent", "tiger", "torch", "tower", "valley", "wave",
    "willow",
];

/// The smallest number a code ends in (two digits, so that every code is as long to say).
pub(crate) const MIN_NUMBER: u8 = 10;
/// The largest number a code ends in.
pub(crate) const MAX_NUMBER: u8 = 99;

/// How many different codes there are.
pub const CODE_SPACE: usize =
    ADJECTIVES.len() * NOUNS.len() * (MAX_NUMBER - MIN_NUMBER + 1) as usize;

/// The code numbered `n` (any `n`; taken modulo [`CODE_SPACE`]), in its canonical spelling.
/// The relay draws `n` at random.
pub fn nth_code(n: usize) -> String {
    let n = n % CODE_SPACE;
    let numbers = usize::from(MAX_NUMBER - MIN_NUMBER + 1);
    let number = n % numbers + usize::from(MIN_NUMBER);
    let noun = NOUNS[(n / numbers) % NOUNS.len()];
    let adjective = ADJECTIVES[n / numbers / NOUNS.len()];
    format!("{adjective}-{noun}-{number}")
}

/// The canonical spelling of `text` if it is a room code typed in any case, with any run of
/// spaces, dashes or underscores between (and around) its three parts; `None` when it is not
/// a code (then it is an ordinary room name).
pub fn canonical_code(text: &str) -> Option<String> {
    if text.len() > 64 {
        return None;
    }
    let mut parts = text
        .split(|c: char| c.is_whitespace() || c == '-' || c == '_')
        .filter(|part| !part.is_empty());
    let (adjective, noun, number) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let adjective = ADJECTIVES
        .iter()
        .find(|word| word.eq_ignore_ascii_case(adjective))?;
    let noun = NOUNS.iter().find(|word| word.eq_ignore_ascii_case(noun))?;
    if number.len() != 2 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number: u8 = number.parse().ok()?;
    (MIN_NUMBER..=MAX_NUMBER)
        .contains(&number)
        .then(|| format!("{adjective}-{noun}-{number}"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn typed_spellings_of_a_code_are_one_code() {
        for typed in [
            "sunny-tent-42",
            "Sunny Tent 42",
            "SUNNY-tent 42",
            "  sunny_tent_42 ",
            "sunny - tent - 42",
            "Sunny\tTent\u{a0}42",
        ] {
            assert_eq!(
                canonical_code(typed).as_deref(),
                Some("sunny-tent-42"),
                "{typed:?}"
            );
        }
    }

    #[test]
    fn other_names_are_not_codes() {
        for name in [
            "Main Stage",
            "sunny tent",
            "sunny tent 42 b",
            "sunny tent 4",
            "sunny tent 042",
            "sunny tent 100",
            "sunny tent ٤٢",
            "sunnier tent 42",
            "tent sunny 42",
            "",
        ] {
            assert_eq!(canonical_code(name), None, "{name:?}");
        }
    }

    #[test]
    fn every_code_is_distinct_and_reads_back_as_itself() {
        let all: HashSet<String> = (0..CODE_SPACE).map(nth_code).collect();
        assert_eq!(all.len(), CODE_SPACE);
        for code in all.iter().take(2000) {
            assert_eq!(canonical_code(code).as_deref(), Some(code.as_str()));
        }
    }

    #[test]
    fn the_word_lists_hold_no_duplicates_and_only_lowercase_ascii() {
        for list in [&ADJECTIVES[..], &NOUNS[..]] {
            let unique: HashSet<_> = list.iter().collect();
            assert_eq!(unique.len(), list.len());
            assert!(
                list.iter()
                    .all(|w| w.bytes().all(|b| b.is_ascii_lowercase()))
            );
        }
    }

    proptest! {
        #[test]
        fn recognising_never_panics(text in "\\PC{0,80}") {
            let _ = canonical_code(&text);
        }

        #[test]
        fn any_code_in_any_case_with_any_separators(n in 0..CODE_SPACE, upper: [bool; 3], sep in "[ _-]{1,3}") {
            let code = nth_code(n);
            let typed: Vec<String> = code
                .split('-')
                .zip(upper)
                .map(|(part, up)| if up { part.to_uppercase() } else { part.to_owned() })
                .collect();
            prop_assert_eq!(canonical_code(&typed.join(&sep)), Some(code));
        }
    }
}
