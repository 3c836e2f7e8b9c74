//! Normalisation and checks shared by names, rooms and bodies.

use unicode_normalization::UnicodeNormalization;

use crate::{ErrorCode, Limits, ProtoError, Sealed};

/// NFC-normalises `raw`, trims it and collapses every inner run of whitespace to one space.
/// Refuses control characters (reported with `code`) and invisible characters (reported with
/// [`ErrorCode::InvisibleCharacter`]), since a name is shown to everyone and must look like
/// what it is.
pub(crate) fn normalise_line(raw: &str, code: ErrorCode, what: &str) -> Result<String, ProtoError> {
    if let Some(c) = raw.chars().find(|c| c.is_control() && !c.is_whitespace()) {
        return Err(ProtoError::new(
            code,
            format!("{what} contains the control character U+{:04X}", c as u32),
        ));
    }
    if let Some(c) = raw.chars().find(|&c| is_invisible(c)) {
        return Err(ProtoError::new(
            ErrorCode::InvisibleCharacter,
            format!(
                "{what} contains the invisible character U+{:04X} (zero-width and text-direction \
                 characters could make one name pass for another)",
                c as u32
            ),
        ));
    }
    let nfc: String = raw.nfc().collect();
    let line = nfc.split_whitespace().collect::<Vec<_>>().join(" ");
    if !line.is_empty() && !line.chars().any(is_visible) {
        return Err(ProtoError::new(
            ErrorCode::InvisibleCharacter,
            format!("{what} has no visible character"),
        ));
    }
    Ok(line)
}

/// Characters that draw nothing or reorder the text around them: Unicode's
/// Default_Ignorable_Code_Point (zero-width spaces and joiners, bidi controls, word joiners,
/// the byte order mark, Hangul fillers, tag characters) and the blank Braille pattern, but not
/// the variation selectors, which only pick a glyph (the emoji form of ❤) and which the
/// look-alike skeleton ignores.
pub(crate) fn is_invisible(c: char) -> bool {
    const RANGES: [(char, char); 17] = [
        ('\u{ad}', '\u{ad}'),
        ('\u{34f}', '\u{34f}'),
        ('\u{61c}', '\u{61c}'),
        ('\u{115f}', '\u{1160}'),
        ('\u{17b4}', '\u{17b5}'),
        ('\u{180e}', '\u{180e}'),
        ('\u{200b}', '\u{200f}'),
        ('\u{202a}', '\u{202e}'),
        ('\u{2060}', '\u{206f}'),
        ('\u{2800}', '\u{2800}'),
        ('\u{3164}', '\u{3164}'),
        ('\u{feff}', '\u{feff}'),
        ('\u{ffa0}', '\u{ffa0}'),
        ('\u{fff0}', '\u{fff8}'),
        ('\u{1bca0}', '\u{1bca3}'),
        ('\u{1d173}', '\u{1d17a}'),
        ('\u{e0000}', '\u{e0fff}'),
    ];
    !is_variation_selector(c) && RANGES.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Variation selectors: they choose how the character before them is drawn, nothing more.
fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{180b}'..='\u{180d}' | '\u{180f}' | '\u{fe00}'..='\u{fe0f}' | '\u{e0100}'..='\u{e01ef}')
}

/// Whether `c` draws something on its own: not a space, an invisible character, a variation
/// selector or a combining mark (which only decorates the character before it).
fn is_visible(c: char) -> bool {
    !c.is_whitespace()
        && !is_invisible(c)
        && !is_variation_selector(c)
        && !unicode_normalization::char::is_combining_mark(c)
}

/// Checks a chat body: not empty (nor only whitespace), at most `limits.max_body_bytes` UTF-8
/// bytes, and no control characters other than newline and tab (which could rewrite a
/// terminal or hide text).
pub fn validate_body(body: &str, limits: &Limits) -> Result<(), ProtoError> {
    if body.len() > limits.max_body_bytes {
        return Err(ProtoError::new(
            ErrorCode::BodyTooLarge,
            format!(
                "body is {} bytes; the limit is {} bytes",
                body.len(),
                limits.max_body_bytes
            ),
        ));
    }
    if body.trim().is_empty() {
        return Err(ProtoError::new(ErrorCode::InvalidBody, "body is empty"));
    }
    if let Some(c) = body
        .chars()
        .find(|&c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ProtoError::new(
            ErrorCode::InvalidBody,
            format!("body contains the control character U+{:04X}", c as u32),
        ));
    }
    Ok(())
}

/// Checks what a chat carries: a text ([`validate_body`]), or, in a private room, a sealed
/// text with an empty `body` whose ciphertext is at most what a text of
/// `limits.max_body_bytes` seals to (so that the limit means the same for both).
pub fn validate_content(
    body: &str,
    sealed: Option<&Sealed>,
    limits: &Limits,
) -> Result<(), ProtoError> {
    let Some(sealed) = sealed else {
        return validate_body(body, limits);
    };
    if !body.is_empty() {
        return Err(ProtoError::new(
            ErrorCode::InvalidBody,
            "a sealed chat carries its text only sealed: its body must be empty",
        ));
    }
    let max = limits.max_body_bytes + Sealed::OVERHEAD;
    let len = sealed.ct.as_bytes().len();
    if len > max {
        return Err(ProtoError::new(
            ErrorCode::BodyTooLarge,
            format!("sealed body is {len} bytes; the limit is {max} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_characters_are_what_the_skeleton_drops() {
        // The look-alike skeleton drops exactly the default-ignorable characters; every one of
        // them but the variation selectors is refused, plus the blank Braille pattern.
        for c in (0..=0x10_ffff).filter_map(char::from_u32) {
            let dropped = unicode_security::skeleton(c.encode_utf8(&mut [0; 4]))
                .next()
                .is_none();
            let expected = (dropped && !is_variation_selector(c)) || c == '\u{2800}';
            assert_eq!(is_invisible(c), expected, "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn body_limits_are_enforced_in_bytes() {
        let limits = Limits::default();
        assert!(validate_body(&"é".repeat(2048), &limits).is_ok());
        let err = validate_body(&"é".repeat(2049), &limits).unwrap_err();
        assert_eq!(err.code, ErrorCode::BodyTooLarge);
    }

    #[test]
    fn body_refuses_empty_and_terminal_escapes() {
        let limits = Limits::default();
        assert_eq!(
            validate_body("  \n", &limits).unwrap_err().code,
            ErrorCode::InvalidBody
        );
        assert_eq!(
            validate_body("hi \u{1b}[2J", &limits).unwrap_err().code,
            ErrorCode::InvalidBody
        );
        assert!(validate_body("line one\nline two\tok", &limits).is_ok());
    }
}
