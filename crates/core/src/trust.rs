//! Names bound to keys: which key this device has seen for each person it talked with or
//! verified, and what to say when another key turns up under the same name.
//!
//! A signature proves that a message is from a key, not whose key that is: "Alice" is whatever
//! a device calls itself. So the engine remembers, per name (its canonical form: look-alikes
//! and the relay's ` (2)` suffix count as one name), the first key it talked with under it, or
//! the key its user verified in person (a safety number compared or scanned). A different key
//! under a remembered name is flagged once per run and key ([`KeyChange`]); the remembered key
//! stays until the user verifies the new one, and a verified mark belongs to one key only, so
//! it never carries over to a new key.
//!
//! [`KnownKeys`] is the pure state machine; the engine loads it from its store at start and
//! writes back every [`KnownKey`] it returns.

use std::collections::{HashMap, HashSet};

use festival_proto::{DeviceId, DisplayName, Fingerprint, Member, PublicKey, SafetyNumber};
use serde::Serialize;

/// At most this many names are remembered from conversation alone (a festival's worth of
/// people talked with); names the user verified are always remembered.
pub const KNOWN_KEYS_MAX: usize = 10_000;

/// A name's remembered key, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownKey {
    /// The name's canonical form ([`DisplayName::canonical`]): what the key is remembered
    /// under.
    pub canonical: String,
    /// The name as it was last shown with this key.
    pub name: DisplayName,
    /// The key.
    pub key: PublicKey,
    /// Whether the user compared the safety number in person and marked it verified.
    pub verified: bool,
}

/// Another key under a remembered name: the person may have a new phone, or someone else
/// took their name. Either way, a verified mark does not carry over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyChange {
    /// The name now shown with the new key.
    pub name: DisplayName,
    /// The device holding the new key.
    pub device: DeviceId,
    /// The new key.
    pub key: PublicKey,
    /// Whether the key remembered before was verified (then this is worth a louder warning).
    pub was_verified: bool,
}

/// Where a member's key stands with this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// No key is remembered for this name yet.
    New,
    /// The remembered key, not verified.
    Known,
    /// The remembered key, verified in person.
    Verified,
    /// Another key than the one remembered under this name.
    Changed,
}

/// What `/whois` shows about a member: who they are to this device, and the numbers to
/// compare in person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Whois {
    /// The member's device.
    pub device: DeviceId,
    /// The name shown in the room.
    pub name: DisplayName,
    /// The member's key.
    pub key: PublicKey,
    /// Its fingerprint (its half of every safety number).
    pub fingerprint: Fingerprint,
    /// The safety number of this device and the member's: the same on both phones.
    pub safety_number: SafetyNumber,
    /// The text of the QR code that carries the safety number.
    pub qr: String,
    /// Where the member's key stands.
    pub status: KeyStatus,
}

impl Whois {
    /// What this device (holding `mine`) shows about `member`, whose key stands at `status`.
    pub fn of(mine: &PublicKey, member: &Member, status: KeyStatus) -> Self {
        let safety_number = SafetyNumber::of(mine, &member.key);
        Self {
            device: member.device,
            name: member.name.clone(),
            key: member.key,
            fingerprint: Fingerprint::of(&member.key),
            qr: safety_number.qr_payload(),
            safety_number,
            status,
        }
    }
}

/// What seeing a key under a name decided.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Seen {
    /// To write to the store (a name remembered for the first time).
    pub remember: Option<KnownKey>,
    /// To tell the user (another key under a remembered name, first time this run).
    pub changed: Option<KeyChange>,
}

/// The keys remembered per name, and the changes already reported this run.
#[derive(Debug, Default)]
pub struct KnownKeys {
    known: HashMap<String, KnownKey>,
    reported: HashSet<(String, PublicKey)>,
}

impl KnownKeys {
    /// The keys the store remembered.
    pub fn new(saved: impl IntoIterator<Item = KnownKey>) -> Self {
        Self {
            known: saved
                .into_iter()
                .map(|k| (k.canonical.clone(), k))
                .collect(),
            reported: HashSet::new(),
        }
    }

    /// `device` shows `name` with `key`; `talked` when it is a verified message of theirs
    /// (not merely a listed member): only then is a new name remembered.
    pub fn seen(
        &mut self,
        name: &DisplayName,
        device: DeviceId,
        key: PublicKey,
        talked: bool,
    ) -> Seen {
        let canonical = name.canonical();
        match self.known.get(&canonical) {
            None if talked && self.known.len() < KNOWN_KEYS_MAX => {
                let known = KnownKey {
                    canonical: canonical.clone(),
                    name: name.clone(),
                    key,
                    verified: false,
                };
                self.known.insert(canonical, known.clone());
                Seen {
                    remember: Some(known),
                    changed: None,
                }
            }
            None => Seen::default(),
            Some(known) if known.key == key => Seen::default(),
            Some(known) => {
                let was_verified = known.verified;
                let first = self.reported.insert((canonical, key));
                Seen {
                    remember: None,
                    changed: first.then(|| KeyChange {
                        name: name.clone(),
                        device,
                        key,
                        was_verified,
                    }),
                }
            }
        }
    }

    /// The user compared the safety number with `name`'s holder of `key` and says it
    /// matched: that key is remembered for the name, verified, in place of any other.
    pub fn verify(&mut self, name: &DisplayName, key: PublicKey) -> KnownKey {
        let known = KnownKey {
            canonical: name.canonical(),
            name: name.clone(),
            key,
            verified: true,
        };
        self.known.insert(known.canonical.clone(), known.clone());
        known
    }

    /// Where `key`, shown under `name`, stands.
    pub fn status(&self, name: &DisplayName, key: &PublicKey) -> KeyStatus {
        match self.known.get(&name.canonical()) {
            None => KeyStatus::New,
            Some(known) if known.key != *key => KeyStatus::Changed,
            Some(known) if known.verified => KeyStatus::Verified,
            Some(_) => KeyStatus::Known,
        }
    }

    /// Every remembered key.
    pub fn all(&self) -> Vec<KnownKey> {
        let mut all: Vec<_> = self.known.values().cloned().collect();
        all.sort_by(|a, b| a.canonical.cmp(&b.canonical));
        all
    }
}

#[cfg(test)]
mod tests {
    use festival_proto::DeviceKey;

    use super::*;

    fn name(text: &str) -> DisplayName {
        DisplayName::parse(text).unwrap()
    }

    fn key() -> (DeviceId, PublicKey) {
        let key = DeviceKey::generate();
        (key.device(), key.public())
    }

    #[test]
    fn a_name_is_remembered_with_the_first_key_that_talked_under_it() {
        let mut keys = KnownKeys::default();
        let (alice, alices) = key();
        // Listed in a room only: nothing remembered.
        assert_eq!(
            keys.seen(&name("Alice"), alice, alices, false),
            Seen::default()
        );
        assert_eq!(keys.status(&name("Alice"), &alices), KeyStatus::New);
        let seen = keys.seen(&name("Alice"), alice, alices, true);
        assert_eq!(
            seen.remember.map(|k| (k.key, k.verified)),
            Some((alices, false))
        );
        assert_eq!(keys.status(&name("Alice"), &alices), KeyStatus::Known);
        // The same key again: nothing to write, nothing to say.
        assert_eq!(
            keys.seen(&name("Alice"), alice, alices, true),
            Seen::default()
        );
    }

    #[test]
    fn another_key_under_a_known_name_is_reported_once_and_does_not_replace_it() {
        let mut keys = KnownKeys::default();
        let (alice, alices) = key();
        let (mallory, mallorys) = key();
        keys.seen(&name("Alice"), alice, alices, true);
        // Mallory calls herself Alice: the relay shows her as "Alice (2)", or as Cyrillic
        // "Аlice"; either is the same name.
        let seen = keys.seen(&name("Alice").with_suffix(2), mallory, mallorys, true);
        assert_eq!(
            seen.changed,
            Some(KeyChange {
                name: name("Alice").with_suffix(2),
                device: mallory,
                key: mallorys,
                was_verified: false,
            })
        );
        assert_eq!(seen.remember, None, "the first key stays remembered");
        assert_eq!(
            keys.seen(&name("Аlice"), mallory, mallorys, true),
            Seen::default(),
            "reported once per run"
        );
        assert_eq!(keys.status(&name("Alice"), &mallorys), KeyStatus::Changed);
        assert_eq!(keys.status(&name("Alice"), &alices), KeyStatus::Known);
    }

    #[test]
    fn a_verified_mark_belongs_to_one_key_and_a_new_key_is_flagged_as_such() {
        let mut keys = KnownKeys::default();
        let (alice, alices) = key();
        keys.seen(&name("Alice"), alice, alices, true);
        let saved = keys.verify(&name("Alice"), alices);
        assert!(saved.verified);
        assert_eq!(keys.status(&name("Alice"), &alices), KeyStatus::Verified);

        // Alice's new phone (or someone else): flagged as a change from a verified key, and
        // not verified.
        let (phone, new_key) = key();
        let seen = keys.seen(&name("Alice"), phone, new_key, true);
        assert!(seen.changed.is_some_and(|c| c.was_verified));
        assert_eq!(keys.status(&name("Alice"), &new_key), KeyStatus::Changed);

        // Verified again in person: the new key is the one, and the old one is no longer.
        keys.verify(&name("Alice"), new_key);
        assert_eq!(keys.status(&name("Alice"), &new_key), KeyStatus::Verified);
        assert_eq!(keys.status(&name("Alice"), &alices), KeyStatus::Changed);
    }

    #[test]
    fn what_the_store_kept_is_what_a_restarted_engine_knows() {
        let mut keys = KnownKeys::default();
        let (alice, alices) = key();
        keys.seen(&name("Alice"), alice, alices, true);
        keys.verify(&name("Alice"), alices);
        let restarted = KnownKeys::new(keys.all());
        assert_eq!(
            restarted.status(&name("Alice"), &alices),
            KeyStatus::Verified
        );
        let (mallory, mallorys) = key();
        let mut restarted = restarted;
        assert!(
            restarted
                .seen(&name("Alice"), mallory, mallorys, false)
                .changed
                .is_some(),
            "a listed member under a known name with another key is flagged too"
        );
    }

    #[test]
    fn names_from_conversation_alone_are_bounded() {
        let mut keys = KnownKeys::default();
        for n in 0..KNOWN_KEYS_MAX {
            let mut bytes = [0; 32];
            bytes[..8].copy_from_slice(&n.to_be_bytes());
            keys.known.insert(
                format!("{n}"),
                KnownKey {
                    canonical: format!("{n}"),
                    name: name("Someone"),
                    key: PublicKey::from_bytes(bytes),
                    verified: false,
                },
            );
        }
        let (bob, bobs) = key();
        assert_eq!(keys.seen(&name("Bob"), bob, bobs, true), Seen::default());
        // Verifying still works past the bound.
        assert!(keys.verify(&name("Bob"), bobs).verified);
    }
}
