//! Who said what: device keys, the device ids derived from them, and the exact bytes each
//! signature covers.
//!
//! A device id is not claimed but derived: the first 16 bytes of SHA-256 of the device's
//! Ed25519 public key, shaped as a UUID (version 8), so that every table, frame and test that
//! holds a device id keeps its shape while only the key's holder can prove it. Three things
//! are signed, each with its own context string so that a signature made for one can never
//! pass for another:
//! - the relay's nonce with the device id (`hello`): the connection holds the key;
//! - a chat (room, id, body, sent_at, prev): the message is the device's, whatever the route;
//! - the DTLS fingerprints of an offer or answer: the direct link ends at the device.
//!
//! Message ids belong to their senders too: [`MessageId::of_device`] makes one whose last six
//! bytes hash the sender's device id, so that an id seen early (over a direct link) cannot be
//! taken by a stranger's message.
//!
//! Nothing here does I/O but [`DeviceKey::generate`], [`Nonce::random`] and
//! [`MessageId::of_device`], which read the operating system's random numbers.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::{DeviceId, MessageId, RoomName, Sealed, SessionId};

/// What `hello`'s proof signs after: the relay's nonce and the device id.
const HELLO_CONTEXT: &[u8] = b"festival-chat/hello/v2\0";
/// What a chat's signature signs after: room, id, body, sent_at, prev.
const CHAT_CONTEXT: &[u8] = b"festival-chat/chat/v2\0";
/// What a private room's chat's signature signs after: room, id, sealed body, sent_at, prev.
const SEALED_CHAT_CONTEXT: &[u8] = b"festival-chat/sealed-chat/v2\0";
/// What an offer's or answer's signature signs after: both devices, the attempt, the
/// fingerprints.
const DTLS_CONTEXT: &[u8] = b"festival-chat/dtls/v2\0";
/// What a message id's owner tag hashes after: the device id, then the id's first ten bytes.
const ID_CONTEXT: &[u8] = b"festival-chat/id/v2\0";
/// Where a message id's owner tag starts: its last six bytes (48 bits) are the tag.
const ID_TAG_AT: usize = 10;

macro_rules! base64_bytes {
    ($name:ident, $len:literal, $what:literal) => {
        impl $name {
            /// The raw bytes.
            pub fn to_bytes(&self) -> [u8; $len] {
                self.0
            }

            /// From raw bytes (not checked: verification does that).
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut bytes = [0; $len];
                // The text of N bytes is at most 2N characters long in any base64: longer
                // input is refused before it is decoded.
                let decoded = (s.len() <= 2 * $len)
                    .then(|| URL_SAFE_NO_PAD.decode(s).ok())
                    .flatten()
                    .filter(|d| d.len() == $len)
                    .ok_or_else(|| {
                        format!(
                            concat!($what, " must be {} bytes in unpadded base64url"),
                            $len
                        )
                    })?;
                bytes.copy_from_slice(&decoded);
                Ok(Self(bytes))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A device's Ed25519 public key, as sent in `hello` and carried by members and messages so
/// that anyone can check a signature without asking the relay.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);
base64_bytes!(PublicKey, 32, "a public key");

/// An Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; 64]);
base64_bytes!(Signature, 64, "a signature");

/// The relay's challenge: random bytes a connection signs in `hello`, so that a proof cannot
/// be replayed on another connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nonce([u8; 32]);
base64_bytes!(Nonce, 32, "a nonce");

impl Nonce {
    /// A fresh nonce from the operating system's random numbers.
    pub fn random() -> Self {
        Self(random_bytes())
    }
}

fn random_bytes() -> [u8; 32] {
    let mut bytes = [0; 32];
    // An OS without a random source cannot make keys at all: nothing sensible to do but stop.
    getrandom::fill(&mut bytes).expect("the operating system provides random numbers");
    bytes
}

impl DeviceId {
    /// The device id of the holder of `key`: the first 16 bytes of its SHA-256, as a UUIDv8.
    pub fn of_key(key: &PublicKey) -> Self {
        let digest = Sha256::digest(key.0);
        let mut bytes = [0; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self::from(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }
}

impl MessageId {
    /// A fresh message id that belongs to `device`, made at `unix_ms` (the message's
    /// `sent_at`): a UUIDv7 (time first, so stores index it well) whose last six bytes are a hash of `device` and the id's first ten bytes. Ids are
    /// shown to others before the relay stores them (over a direct link), so an id anyone
    /// could reuse would let a stranger store their own text under it first; an id that
    /// names its owner can only be used by that owner's key (finding another device whose
    /// hash matches costs about 2^47 key generations, not the seconds such a race allows).
    pub fn of_device(device: DeviceId, unix_ms: i64) -> Self {
        let millis = u64::try_from(unix_ms).unwrap_or(0);
        // 26 random bits under the millisecond (the rest of the ten bytes is the version and
        // variant): two ids of one device in one millisecond collide once in 2^26.
        let mut random = [0; ID_TAG_AT];
        random.copy_from_slice(&random_bytes()[..ID_TAG_AT]);
        let uuid = uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
        let mut bytes = uuid.into_bytes();
        let tag = id_tag(device, &bytes);
        bytes[ID_TAG_AT..].copy_from_slice(&tag);
        Self::from(uuid::Uuid::from_bytes(bytes))
    }

    /// Whether this id was made by `device` ([`MessageId::of_device`]): the relay stores, and
    /// receivers show, a message only under an id of its sender's.
    pub fn belongs_to(&self, device: DeviceId) -> bool {
        let bytes = self.as_uuid().into_bytes();
        id_tag(device, &bytes) == bytes[ID_TAG_AT..]
    }
}

/// The owner tag of an id whose first ten bytes are `bytes[..10]`, for `device`.
fn id_tag(device: DeviceId, bytes: &[u8; 16]) -> [u8; 16 - ID_TAG_AT] {
    let mut hash = Sha256::new();
    hash.update(ID_CONTEXT);
    hash.update(device.as_uuid().as_bytes());
    hash.update(&bytes[..ID_TAG_AT]);
    let digest = hash.finalize();
    let mut tag = [0; 16 - ID_TAG_AT];
    tag.copy_from_slice(&digest[..16 - ID_TAG_AT]);
    tag
}

/// The private half of a device's identity, kept in its store and never sent.
#[derive(Clone)]
pub struct DeviceKey(SigningKey);

/// Two keys are equal when their public halves are (which only the same secret gives).
impl PartialEq for DeviceKey {
    fn eq(&self, other: &Self) -> bool {
        self.public() == other.public()
    }
}

impl Eq for DeviceKey {}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceKey({})", self.public())
    }
}

impl DeviceKey {
    /// A new key from the operating system's random numbers.
    pub fn generate() -> Self {
        Self::from_secret(random_bytes())
    }

    /// The key whose secret is `secret` (as saved by [`DeviceKey::secret`]).
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&secret))
    }

    /// The secret, to save in the device's store.
    pub fn secret(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The secret as text (unpadded base64url), for a store of text settings.
    pub fn secret_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.secret())
    }

    /// The key saved by [`DeviceKey::secret_text`]; `None` if the text is not one.
    pub fn from_secret_text(text: &str) -> Option<Self> {
        if text.len() > 64 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        Some(Self::from_secret(bytes.try_into().ok()?))
    }

    /// The secret as an X25519 scalar, to unwrap a room key wrapped for this device.
    pub(crate) fn scalar_bytes(&self) -> [u8; 32] {
        self.0.to_scalar_bytes()
    }

    /// The public key, as others see it.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// The device id this key proves.
    pub fn device(&self) -> DeviceId {
        DeviceId::of_key(&self.public())
    }

    /// The proof for `hello` on a connection whose relay sent `nonce`.
    pub fn prove(&self, nonce: &Nonce) -> Signature {
        self.sign(&hello_bytes(nonce, self.device()))
    }

    /// The signature of a chat message, made once when it is typed and sent with every copy.
    pub fn sign_chat(&self, chat: &SignedChat<'_>) -> Signature {
        self.sign(&chat.to_bytes())
    }

    /// The signature of the DTLS fingerprints in `sdp`, an offer or answer for `to`.
    pub fn sign_sdp(&self, to: DeviceId, session: SessionId, sdp: &str) -> Signature {
        self.sign(&sdp_bytes(self.device(), to, session, sdp))
    }

    fn sign(&self, bytes: &[u8]) -> Signature {
        use ed25519_dalek::Signer as _;
        Signature(self.0.sign(bytes).to_bytes())
    }
}

impl PublicKey {
    /// Whether this key is the one `device` was derived from.
    pub fn is_of(&self, device: DeviceId) -> bool {
        DeviceId::of_key(self) == device
    }

    /// Whether `proof` shows that the holder of this key is `device` and signed `nonce`.
    pub fn verify_hello(&self, device: DeviceId, nonce: &Nonce, proof: &Signature) -> bool {
        self.is_of(device) && self.verify(&hello_bytes(nonce, device), proof)
    }

    /// Whether `sig` is this key's signature of `chat`.
    pub fn verify_chat(&self, chat: &SignedChat<'_>, sig: &Signature) -> bool {
        self.verify(&chat.to_bytes(), sig)
    }

    /// Whether `sig` is this key's (the device `from`'s) signature of the fingerprints in
    /// `sdp`, sent to `to` for attempt `session`. An SDP without a fingerprint never passes.
    pub fn verify_sdp(
        &self,
        from: DeviceId,
        to: DeviceId,
        session: SessionId,
        sdp: &str,
        sig: &Signature,
    ) -> bool {
        sdp_fingerprints(sdp).next().is_some()
            && self.is_of(from)
            && self.verify(&sdp_bytes(from, to, session, sdp), sig)
    }

    /// Strict verification: no weak keys, no malleable signatures.
    fn verify(&self, bytes: &[u8], sig: &Signature) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        !key.is_weak() && key.verify_strict(bytes, &sig).is_ok()
    }
}

/// The fields of a chat message its signature covers, whatever frame carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedChat<'a> {
    /// The room.
    pub room: &'a RoomName,
    /// The message id.
    pub id: MessageId,
    /// The text.
    pub body: &'a str,
    /// The sender's clock, Unix milliseconds.
    pub sent_at: i64,
    /// The sender's message typed before it in the room.
    pub prev: Option<MessageId>,
    /// In a private room, the sealed body: signed in place of `body` (which is then empty on
    /// the wire), so that whoever cannot read it can still check who wrote it.
    pub sealed: Option<&'a Sealed>,
}

impl SignedChat<'_> {
    /// The canonical bytes (`docs/protocol.md`, "Signatures"): the context, the room's
    /// length (u16, big-endian) and UTF-8, the id's 16 bytes, the body's length (u32) and
    /// UTF-8, `sent_at` (i64), then 0 without `prev` or 1 and its 16 bytes. A sealed chat
    /// starts with its own context and has, in the body's place, the epoch (u32), the nonce's
    /// 24 bytes, the ciphertext's length (u32) and bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let room = self.room.as_str().as_bytes();
        let mut out = Vec::with_capacity(CHAT_CONTEXT.len() + room.len() + self.body.len() + 64);
        out.extend_from_slice(match self.sealed {
            None => CHAT_CONTEXT,
            Some(_) => SEALED_CHAT_CONTEXT,
        });
        // Rooms and bodies are bounded far below these widths by validation; saturating
        // keeps the encoding total anyway.
        out.extend_from_slice(&u16::try_from(room.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(room);
        out.extend_from_slice(self.id.as_uuid().as_bytes());
        let body = match self.sealed {
            None => self.body.as_bytes(),
            Some(sealed) => {
                out.extend_from_slice(&sealed.epoch.to_be_bytes());
                out.extend_from_slice(&sealed.nonce.to_bytes());
                sealed.ct.as_bytes()
            }
        };
        out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(&self.sent_at.to_be_bytes());
        match self.prev {
            None => out.push(0),
            Some(prev) => {
                out.push(1);
                out.extend_from_slice(prev.as_uuid().as_bytes());
            }
        }
        out
    }
}

fn hello_bytes(nonce: &Nonce, device: DeviceId) -> Vec<u8> {
    let mut out = Vec::with_capacity(HELLO_CONTEXT.len() + 48);
    out.extend_from_slice(HELLO_CONTEXT);
    out.extend_from_slice(&nonce.0);
    out.extend_from_slice(device.as_uuid().as_bytes());
    out
}

/// The `a=fingerprint:` values of an SDP, in order (`sha-256 AB:CD:…`).
pub fn sdp_fingerprints(sdp: &str) -> impl Iterator<Item = &str> {
    sdp.lines()
        .filter_map(|line| line.trim_end().strip_prefix("a=fingerprint:"))
}

fn sdp_bytes(from: DeviceId, to: DeviceId, session: SessionId, sdp: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(DTLS_CONTEXT.len() + 160);
    out.extend_from_slice(DTLS_CONTEXT);
    out.extend_from_slice(from.as_uuid().as_bytes());
    out.extend_from_slice(to.as_uuid().as_bytes());
    out.extend_from_slice(&session.0.to_be_bytes());
    for fingerprint in sdp_fingerprints(sdp) {
        out.extend_from_slice(fingerprint.as_bytes());
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(room: &RoomName) -> SignedChat<'_> {
        SignedChat {
            room,
            id: MessageId::new(),
            body: "meet at the left tower",
            sent_at: 1_764_012_345_678,
            prev: None,
            sealed: None,
        }
    }

    #[test]
    fn a_device_id_is_its_keys_and_has_the_uuid_shape() {
        let key = DeviceKey::generate();
        let device = key.device();
        assert!(key.public().is_of(device));
        assert_eq!(device.as_uuid().get_version_num(), 8);
        assert!(!DeviceKey::generate().public().is_of(device));
        let again = DeviceKey::from_secret(key.secret());
        assert_eq!(again.device(), device);
        let saved = DeviceKey::from_secret_text(&key.secret_text()).unwrap();
        assert_eq!(saved, key);
        assert_eq!(DeviceKey::from_secret_text("not a key"), None);
    }

    #[test]
    fn a_hello_proof_holds_only_for_its_nonce_and_device() {
        let key = DeviceKey::generate();
        let nonce = Nonce::random();
        let proof = key.prove(&nonce);
        let public = key.public();
        assert!(public.verify_hello(key.device(), &nonce, &proof));
        assert!(!public.verify_hello(key.device(), &Nonce::random(), &proof));
        assert!(!public.verify_hello(DeviceId::random(), &nonce, &proof));
        let other = DeviceKey::generate();
        assert!(!other.public().verify_hello(key.device(), &nonce, &proof));
        // Someone else's key with its own valid proof still does not make it that device.
        assert!(
            !other
                .public()
                .verify_hello(key.device(), &nonce, &other.prove(&nonce))
        );
    }

    #[test]
    fn a_chat_signature_covers_every_field() {
        let key = DeviceKey::generate();
        let room = RoomName::parse("Main Stage").unwrap();
        let signed = chat(&room);
        let sig = key.sign_chat(&signed);
        assert!(key.public().verify_chat(&signed, &sig));
        let other_room = RoomName::parse("Camp").unwrap();
        let changed = [
            SignedChat {
                room: &other_room,
                ..signed
            },
            SignedChat {
                id: MessageId::new(),
                ..signed
            },
            SignedChat {
                body: "meet at the right tower",
                ..signed
            },
            SignedChat {
                sent_at: signed.sent_at + 1,
                ..signed
            },
            SignedChat {
                prev: Some(MessageId::new()),
                ..signed
            },
        ];
        for changed in changed {
            assert!(!key.public().verify_chat(&changed, &sig), "{changed:?}");
        }
        assert!(!DeviceKey::generate().public().verify_chat(&signed, &sig));
        // A hello proof is never a chat signature, and the other way round.
        let nonce = Nonce::random();
        assert!(!key.public().verify_chat(&signed, &key.prove(&nonce)));
    }

    #[test]
    fn a_message_id_belongs_to_the_device_that_made_it_only() {
        let alice = DeviceKey::generate().device();
        let mallory = DeviceKey::generate().device();
        let id = MessageId::of_device(alice, 1_764_012_345_678);
        assert!(id.belongs_to(alice));
        assert!(!id.belongs_to(mallory));
        assert_eq!(id.as_uuid().get_version_num(), 7, "still a UUIDv7");
        assert_ne!(
            MessageId::of_device(alice, 1_764_012_345_678),
            id,
            "fresh every time"
        );
        // Any changed byte, in the time, the random part or the tag, breaks it.
        for at in 0..16 {
            let mut bytes = id.as_uuid().into_bytes();
            bytes[at] ^= 1;
            let changed = MessageId::from(uuid::Uuid::from_bytes(bytes));
            assert!(!changed.belongs_to(alice), "byte {at}");
        }
        // A random UUIDv7 belongs to nobody (but with a chance of 2^-48).
        assert!(!MessageId::new().belongs_to(alice));
    }

    #[test]
    fn field_boundaries_cannot_be_moved() {
        let room = RoomName::parse("ab").unwrap();
        let one = SignedChat {
            body: "c",
            ..chat(&room)
        };
        let other_room = RoomName::parse("a").unwrap();
        let two = SignedChat {
            room: &other_room,
            body: "bc",
            ..one
        };
        assert_ne!(one.to_bytes(), two.to_bytes());
    }

    #[test]
    fn an_sdp_signature_covers_its_fingerprints_and_both_ends() {
        let key = DeviceKey::generate();
        let to = DeviceKey::generate().device();
        let sdp = "v=0\r\na=fingerprint:sha-256 AB:CD\r\na=setup:actpass\r\n";
        let sig = key.sign_sdp(to, SessionId(3), sdp);
        let public = key.public();
        assert!(public.verify_sdp(key.device(), to, SessionId(3), sdp, &sig));
        let swapped = sdp.replace("AB:CD", "AB:CE");
        assert!(!public.verify_sdp(key.device(), to, SessionId(3), &swapped, &sig));
        assert!(!public.verify_sdp(key.device(), to, SessionId(4), sdp, &sig));
        assert!(!public.verify_sdp(key.device(), DeviceId::random(), SessionId(3), sdp, &sig));
        let bare = "v=0\r\n";
        assert!(!public.verify_sdp(
            key.device(),
            to,
            SessionId(3),
            bare,
            &key.sign_sdp(to, SessionId(3), bare)
        ));
    }

    #[test]
    fn keys_and_signatures_are_base64url_of_their_exact_length() {
        let key = DeviceKey::generate();
        let text = key.public().to_string();
        assert_eq!(text.len(), 43);
        assert_eq!(text.parse::<PublicKey>(), Ok(key.public()));
        assert!("AAAA".parse::<PublicKey>().is_err());
        assert!(format!("{text}A").parse::<PublicKey>().is_err());
        assert!("x".repeat(10_000).parse::<Signature>().is_err());
        let sig = key.prove(&Nonce::random());
        assert_eq!(sig.to_string().len(), 86);
        assert_eq!(sig.to_string().parse::<Signature>(), Ok(sig));
        // A point that is not on the curve verifies nothing, and does not panic.
        let junk = PublicKey::from_bytes([0xff; 32]);
        assert!(!junk.verify_hello(DeviceId::of_key(&junk), &Nonce::random(), &sig));
    }
}
