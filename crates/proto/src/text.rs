//! Normalisation and checks shared by names, rooms and bodies.

use unicode_normalization::UnicodeNormalization;

use crate::{ErrorCode, Limits, ProtoError};

/// NFC-normalises `raw`, trims it and collapses every inner run of whitespace to one space.
/// Refuses control characters (reported with `code`), since a name is shown to everyone.
pub(crate) fn normalise_line(raw: &str, code: ErrorCode, what: &str) -> Result<String, ProtoError> {
    if let Some(c) = raw.chars().find(|c| c.is_control() && !c.is_whitespace()) {
        return Err(ProtoError::new(
            code,
            format!("{what} contains the control character U+{:04X}", c as u32),
        ));
    }
    let nfc: String = raw.nfc().collect();
    Ok(nfc.split_whitespace().collect::<Vec<_>>().join(" "))
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

#[cfg(test)]
mod tests {
    use super::*;

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
