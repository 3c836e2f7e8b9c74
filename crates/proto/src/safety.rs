//! Numbers two people compare in person to know that the keys their phones hold are each
//! other's: a fingerprint of one key, and the safety number of a pair (as Signal's).
//!
//! A device id already proves that a message came from a key; it cannot prove whose key that
//! is. Two people standing side by side can: each phone shows the pair's safety number (the
//! same 60 digits on both, whatever the order of the keys), or one scans the other's QR code.
//! When they match, neither the relay nor anyone in between handed either of them a key of
//! its own. Digits rather than words: readable aloud in any language, and unambiguous on a
//! small screen in the sun.

use std::fmt;

use serde::{Serialize, Serializer};
use sha2::{Digest, Sha512};

use crate::PublicKey;

/// What a key's digits hash first: the version, so that another scheme can never produce the
/// same digits by accident.
const CONTEXT: &[u8] = b"festival-chat/safety/v2\0";
/// How many times a key is hashed. Each digit group is compared by eye, and people compare
/// only part of it at times: making each key's digits cost 5,200 SHA-512s (as Signal does)
/// makes grinding a key whose digits start alike that much slower.
const ITERATIONS: usize = 5200;
/// Groups of five digits per key.
const GROUPS: usize = 6;
/// What a safety number's QR code says before its digits.
const QR_PREFIX: &str = "FESTIVAL-SAFETY:2:";

/// The 30 digits (six groups of five) that stand for one device key: its half of every safety
/// number it takes part in, and what `/whois` shows on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint([u32; GROUPS]);

impl Fingerprint {
    /// The fingerprint of `key`.
    pub fn of(key: &PublicKey) -> Self {
        let key = key.to_bytes();
        let mut hash = Sha512::new();
        hash.update(CONTEXT);
        hash.update(key);
        let mut digest = hash.finalize();
        for _ in 1..ITERATIONS {
            let mut hash = Sha512::new();
            hash.update(digest);
            hash.update(key);
            digest = hash.finalize();
        }
        let mut groups = [0; GROUPS];
        for (group, chunk) in groups.iter_mut().zip(digest.chunks_exact(5)) {
            let value = chunk.iter().fold(0_u64, |n, b| (n << 8) | u64::from(*b));
            // 40 bits modulo 100,000: each group 00000 to 99999, as Signal's.
            *group = u32::try_from(value % 100_000).unwrap_or(0);
        }
        Self(groups)
    }

    /// The digits without spaces.
    pub fn digits(&self) -> String {
        self.0.iter().map(|g| format!("{g:05}")).collect()
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_groups(f, &self.0)
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The safety number of two devices: both fingerprints, the lower first, so that both phones
/// show the same 60 digits (twelve groups of five).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SafetyNumber([u32; 2 * GROUPS]);

impl SafetyNumber {
    /// The safety number of the devices holding `mine` and `theirs`; the same as
    /// `SafetyNumber::of(theirs, mine)`.
    pub fn of(mine: &PublicKey, theirs: &PublicKey) -> Self {
        let (a, b) = (Fingerprint::of(mine), Fingerprint::of(theirs));
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let mut groups = [0; 2 * GROUPS];
        groups[..GROUPS].copy_from_slice(&low.0);
        groups[GROUPS..].copy_from_slice(&high.0);
        Self(groups)
    }

    /// The digits without spaces.
    pub fn digits(&self) -> String {
        self.0.iter().map(|g| format!("{g:05}")).collect()
    }

    /// The text of the QR code that carries it (QR alphanumeric mode: capitals, digits and
    /// `:`), for the other phone to scan instead of reading 60 digits.
    pub fn qr_payload(&self) -> String {
        format!("{QR_PREFIX}{}", self.digits())
    }

    /// Whether a scanned QR code (or typed digits, spaces ignored) carries this number. Any
    /// other text, or another number, is a mismatch: the keys are not the ones the other
    /// phone holds.
    pub fn matches(&self, scanned: &str) -> bool {
        let scanned = scanned.trim();
        let digits = scanned.strip_prefix(QR_PREFIX).unwrap_or(scanned);
        let digits: String = digits.chars().filter(|c| *c != ' ').collect();
        digits == self.digits()
    }
}

impl fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_groups(f, &self.0)
    }
}

impl Serialize for SafetyNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn write_groups(f: &mut fmt::Formatter<'_>, groups: &[u32]) -> fmt::Result {
    for (i, group) in groups.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{group:05}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceKey;

    #[test]
    fn both_phones_show_the_same_number_whatever_the_order() {
        let (alice, bob) = (
            DeviceKey::generate().public(),
            DeviceKey::generate().public(),
        );
        let number = SafetyNumber::of(&alice, &bob);
        assert_eq!(number, SafetyNumber::of(&bob, &alice));
        let text = number.to_string();
        assert_eq!(text.split(' ').count(), 12);
        assert!(text.split(' ').all(|g| g.len() == 5));
        assert_eq!(number.digits().len(), 60);
        // Each side's fingerprint is one half of it.
        let halves = [
            Fingerprint::of(&alice).digits(),
            Fingerprint::of(&bob).digits(),
        ];
        assert!(halves.iter().all(|h| number.digits().contains(h.as_str())));
    }

    #[test]
    fn another_key_on_either_side_gives_another_number() {
        let (alice, bob) = (
            DeviceKey::generate().public(),
            DeviceKey::generate().public(),
        );
        let mallory = DeviceKey::generate().public();
        let number = SafetyNumber::of(&alice, &bob);
        assert_ne!(number, SafetyNumber::of(&alice, &mallory));
        assert_ne!(number, SafetyNumber::of(&mallory, &bob));
        assert_ne!(Fingerprint::of(&alice), Fingerprint::of(&bob));
    }

    #[test]
    fn a_fixed_key_has_fixed_digits() {
        // Any other client must compute the same digits (docs/protocol.md, "Safety numbers").
        let key = PublicKey::from_bytes([7; 32]);
        let fingerprint = Fingerprint::of(&key);
        assert_eq!(fingerprint, Fingerprint::of(&key));
        assert_eq!(fingerprint.to_string(), FIXED_KEY_FINGERPRINT);
    }

    /// The fingerprint of the key of 32 bytes of 7, as documented.
    const FIXED_KEY_FINGERPRINT: &str = "14821 58365 55803 98361 21208 87168";

    #[test]
    fn the_qr_code_carries_the_number_and_only_it_matches() {
        let (alice, bob) = (
            DeviceKey::generate().public(),
            DeviceKey::generate().public(),
        );
        let number = SafetyNumber::of(&alice, &bob);
        let qr = number.qr_payload();
        assert!(qr.starts_with("FESTIVAL-SAFETY:2:"));
        assert!(
            qr.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "-:".contains(c))
        );
        assert!(number.matches(&qr));
        assert!(SafetyNumber::of(&bob, &alice).matches(&qr));
        assert!(number.matches(&number.to_string()), "typed with spaces");
        let other = SafetyNumber::of(&alice, &DeviceKey::generate().public());
        assert!(!other.matches(&qr));
        assert!(!number.matches(""));
        assert!(!number.matches(&"9".repeat(10_000)));
    }
}
