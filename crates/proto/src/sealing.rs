//! Private rooms: what only the room's members can read.
//!
//! A private room has one symmetric key per epoch ([`RoomKey`]), made by the room's owner (its
//! creator) and passed on whole in the room's invite ([`PrivateRoom`]), so that a newcomer
//! reads at once, offline and with no key exchange. A chat's text is sealed with
//! XChaCha20-Poly1305 under the key of the room's current epoch, with a random 24-byte nonce
//! (large enough that devices which never talk to each other never pick the same one), and
//! the sealed form ([`Sealed`]) travels in place of the body: the sender's signature covers
//! it, so that the relay and every hop check who wrote a message without reading it.
//!
//! The AEAD's associated data binds the ciphertext to its room, message id, sender and epoch:
//! a member who copies someone else's sealed text into a message of their own gets a message
//! nobody can open. When the owner removes a member, it makes the next epoch's key and wraps
//! it for each remaining member's device key ([`Rekey`]: X25519 from the Ed25519 key, an
//! ephemeral key per rekey); the removed member cannot unwrap it and reads nothing after.
//!
//! The sealed plaintext starts with one byte saying what follows (a text, or a rekey), so
//! that the relay cannot tell the two apart.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::{DeviceId, DeviceKey, MessageId, PublicKey, RoomName};

/// What the AEAD's associated data starts with.
const SEAL_CONTEXT: &[u8] = b"festival-chat/sealed/v1\0";
/// What a wrapped room key's key derivation starts with.
const WRAP_CONTEXT: &[u8] = b"festival-chat/rekey/v1\0";
/// The first plaintext byte of a sealed text.
const TEXT: u8 = 0;
/// The first plaintext byte of a sealed rekey.
const REKEY: u8 = 1;
/// Poly1305's tag.
const TAG_BYTES: usize = 16;
/// A wrapped key: the 32-byte room key and its tag.
const WRAPPED_BYTES: usize = 32 + TAG_BYTES;
/// One recipient of a rekey: its device id and its wrapped key.
const RECIPIENT_BYTES: usize = 16 + WRAPPED_BYTES;
/// A rekey's fixed part: the kind byte, the new epoch, the ephemeral X25519 key.
const REKEY_HEAD_BYTES: usize = 1 + 4 + 32;

/// A room epoch's key: 32 random bytes. Never printed, never sent but in an invite (the part
/// of the link a browser keeps to itself) or wrapped for one device.
#[derive(Clone, PartialEq, Eq)]
pub struct RoomKey([u8; 32]);

impl fmt::Debug for RoomKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoomKey(..)")
    }
}

impl RoomKey {
    /// The text of a key: exactly this many base64url characters.
    pub const TEXT_LEN: usize = 43;

    /// A new key from the operating system's random numbers.
    pub fn generate() -> Self {
        Self(random())
    }

    /// The key as unpadded base64url, for an invite or the device's store.
    pub fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The key written by [`RoomKey::to_text`]; `None` for anything but exactly 43
    /// base64url characters of 32 bytes.
    pub fn from_text(text: &str) -> Option<Self> {
        if text.len() != Self::TEXT_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        // Unpadded base64 of 32 bytes leaves 2 bits over: only one text per key.
        let key = Self(bytes.try_into().ok()?);
        (key.to_text() == text).then_some(key)
    }

    /// Seals a text for the room, as `sender`'s message `id`, under this key of `epoch`.
    pub fn seal_text(&self, epoch: u32, to: &SealedFor<'_>, text: &str) -> Sealed {
        let mut plain = Vec::with_capacity(1 + text.len());
        plain.push(TEXT);
        plain.extend_from_slice(text.as_bytes());
        self.seal(epoch, to, &plain)
    }

    /// Seals a rekey (made by [`Rekey::wrap`]) under this key, the one of the epoch it ends.
    pub fn seal_rekey(&self, epoch: u32, to: &SealedFor<'_>, rekey: &Rekey) -> Sealed {
        self.seal(epoch, to, &rekey.to_bytes())
    }

    fn seal(&self, epoch: u32, to: &SealedFor<'_>, plain: &[u8]) -> Sealed {
        let nonce: [u8; 24] = random();
        let aad = to.aad(epoch);
        let ct = XChaCha20Poly1305::new((&self.0).into())
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            // Encryption fails only past 256 GiB.
            .expect("a chat is far below the AEAD's length limit");
        Sealed {
            epoch,
            nonce: SealNonce(nonce),
            ct: Ciphertext(ct),
        }
    }

    /// Opens a sealed message with this key (the key of `sealed.epoch`). Fails when anything
    /// it is bound to (room, id, sender, epoch) or any byte of it was changed, or when its
    /// content is not a text or a rekey.
    pub fn open(&self, sealed: &Sealed, to: &SealedFor<'_>) -> Result<Opened, OpenError> {
        let aad = to.aad(sealed.epoch);
        let plain = XChaCha20Poly1305::new((&self.0).into())
            .decrypt(
                &XNonce::from(sealed.nonce.0),
                Payload {
                    msg: &sealed.ct.0,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError::Damaged)?;
        match plain.split_first() {
            Some((&TEXT, text)) => String::from_utf8(text.to_vec())
                .map(Opened::Text)
                .map_err(|_| OpenError::Malformed),
            Some((&REKEY, _)) => Rekey::from_bytes(&plain).map(Opened::Rekey),
            _ => Err(OpenError::Malformed),
        }
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0; N];
    // An OS without a random source cannot make keys at all: nothing sensible to do but stop.
    getrandom::fill(&mut bytes).expect("the operating system provides random numbers");
    bytes
}

/// What a sealed message is bound to, besides its epoch: the AEAD's associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedFor<'a> {
    /// The room.
    pub room: &'a RoomName,
    /// The message id.
    pub id: MessageId,
    /// The sending device.
    pub sender: DeviceId,
}

impl SealedFor<'_> {
    fn aad(&self, epoch: u32) -> Vec<u8> {
        let room = self.room.as_str().as_bytes();
        let mut out = Vec::with_capacity(SEAL_CONTEXT.len() + room.len() + 38);
        out.extend_from_slice(SEAL_CONTEXT);
        out.extend_from_slice(&u16::try_from(room.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(room);
        out.extend_from_slice(self.id.as_uuid().as_bytes());
        out.extend_from_slice(self.sender.as_uuid().as_bytes());
        out.extend_from_slice(&epoch.to_be_bytes());
        out
    }
}

/// What a sealed message held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// A chat text (not yet checked as a body: the caller does that).
    Text(String),
    /// The owner's next key, wrapped for each remaining member.
    Rekey(Rekey),
}

/// Why a sealed message does not open with a key that should open it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The AEAD refused it: changed, moved to another message, or sealed with another key.
    #[error("the sealed text was changed or sealed with another key")]
    Damaged,
    /// It opened, but what is inside is neither a text nor a rekey.
    #[error("the sealed text holds nothing this version reads")]
    Malformed,
}

/// A message's sealed body, as it travels in `chat` frames in place of the text: the epoch
/// whose key sealed it, the nonce and the ciphertext (with its tag). The text is at most
/// `max_body_bytes`, so the ciphertext is at most [`Sealed::OVERHEAD`] bytes more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The room epoch whose key sealed it.
    pub epoch: u32,
    /// XChaCha20's 24-byte nonce, random for each message.
    pub nonce: SealNonce,
    /// The sealed content and its Poly1305 tag.
    pub ct: Ciphertext,
}

impl Sealed {
    /// What sealing adds to a text: the content's kind byte and the tag.
    pub const OVERHEAD: usize = 1 + TAG_BYTES;
}

/// An XChaCha20 nonce, unpadded base64url of 24 bytes (32 characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealNonce([u8; 24]);

/// Sealed bytes, unpadded base64url. Their length is checked where the limits are known
/// (`decode_client`); the frame's own limit bounds them before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ciphertext(Vec<u8>);

impl Ciphertext {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// From raw bytes (opening checks them).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl SealNonce {
    /// The raw bytes.
    pub fn to_bytes(self) -> [u8; 24] {
        self.0
    }
}

impl Serialize for SealNonce {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl<'de> Deserialize<'de> for SealNonce {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        (text.len() == 32)
            .then(|| URL_SAFE_NO_PAD.decode(text.as_bytes()).ok())
            .flatten()
            .and_then(|bytes| bytes.try_into().ok())
            .map(Self)
            .ok_or_else(|| {
                serde::de::Error::custom("a nonce must be 24 bytes in unpadded base64url")
            })
    }
}

impl Serialize for Ciphertext {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&URL_SAFE_NO_PAD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Ciphertext {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .ok()
            .filter(|bytes| bytes.len() > TAG_BYTES)
            .map(Self)
            .ok_or_else(|| {
                serde::de::Error::custom(
                    "a ciphertext must be unpadded base64url of its tag and more",
                )
            })
    }
}

/// A private room as its invite carries it: the key of the room's current epoch, that epoch,
/// and the owner whose rekeys its members take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateRoom {
    /// The key of `epoch`.
    pub key: RoomKey,
    /// The epoch the key is for.
    pub epoch: u32,
    /// The owner's device key: only a rekey signed by it moves the room to a new epoch.
    pub owner: PublicKey,
}

impl PrivateRoom {
    /// A new private room owned by `owner`: epoch 0, a fresh key.
    pub fn create(owner: PublicKey) -> Self {
        Self {
            key: RoomKey::generate(),
            epoch: 0,
            owner,
        }
    }
}

/// The owner's next room key, wrapped for each remaining member's device key: sealed in the
/// room under the epoch it ends, so that members who are offline get it on sync and a
/// removed member sees only that it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rekey {
    /// The new epoch.
    pub epoch: u32,
    /// The X25519 key made for this rekey; each wrap is its product with a member's key.
    ephemeral: [u8; 32],
    /// Each member and the new key, wrapped for it.
    wrapped: Vec<(DeviceId, [u8; WRAPPED_BYTES])>,
}

impl Rekey {
    /// Most members one rekey names: what fits a sealed text of the default body limit
    /// (a bigger room is rekeyed in several messages).
    pub const MAX_MEMBERS: usize = (4096 - REKEY_HEAD_BYTES) / RECIPIENT_BYTES;

    /// Wraps `key` (of `epoch`, in `room`) for each of `members`, in rekeys of at most
    /// [`Rekey::MAX_MEMBERS`] each.
    pub fn wrap(room: &RoomName, epoch: u32, key: &RoomKey, members: &[PublicKey]) -> Vec<Self> {
        members
            .chunks(Self::MAX_MEMBERS)
            .map(|members| {
                let secret = x25519_dalek::StaticSecret::from(random::<32>());
                let ephemeral = x25519_dalek::PublicKey::from(&secret).to_bytes();
                let wrapped = members
                    .iter()
                    .map(|member| {
                        let device = DeviceId::of_key(member);
                        let theirs = montgomery(member);
                        let shared = secret.diffie_hellman(&theirs);
                        let wrap = wrap_key(&ephemeral, theirs.as_bytes(), shared.as_bytes());
                        let sealed = XChaCha20Poly1305::new((&wrap).into())
                            .encrypt(
                                &XNonce::default(),
                                Payload {
                                    msg: &key.0,
                                    aad: &wrap_aad(room, epoch, device),
                                },
                            )
                            .expect("32 bytes always encrypt");
                        let mut bytes = [0; WRAPPED_BYTES];
                        bytes.copy_from_slice(&sealed);
                        (device, bytes)
                    })
                    .collect();
                Self {
                    epoch,
                    ephemeral,
                    wrapped,
                }
            })
            .collect()
    }

    /// The devices this rekey gives the new key to.
    pub fn members(&self) -> impl Iterator<Item = DeviceId> + '_ {
        self.wrapped.iter().map(|(device, _)| *device)
    }

    /// The new key, if this rekey wraps it for `me`.
    pub fn unwrap_for(&self, room: &RoomName, me: &DeviceKey) -> Option<RoomKey> {
        let (_, sealed) = self.wrapped.iter().find(|(d, _)| *d == me.device())?;
        let secret = x25519_dalek::StaticSecret::from(me.scalar_bytes());
        let mine = x25519_dalek::PublicKey::from(&secret);
        let theirs = x25519_dalek::PublicKey::from(self.ephemeral);
        let shared = secret.diffie_hellman(&theirs);
        let wrap = wrap_key(&self.ephemeral, mine.as_bytes(), shared.as_bytes());
        let key = XChaCha20Poly1305::new((&wrap).into())
            .decrypt(
                &XNonce::default(),
                Payload {
                    msg: sealed,
                    aad: &wrap_aad(room, self.epoch, me.device()),
                },
            )
            .ok()?;
        Some(RoomKey(key.try_into().ok()?))
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(REKEY_HEAD_BYTES + self.wrapped.len() * RECIPIENT_BYTES);
        out.push(REKEY);
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.ephemeral);
        for (device, sealed) in &self.wrapped {
            out.extend_from_slice(device.as_uuid().as_bytes());
            out.extend_from_slice(sealed);
        }
        out
    }

    /// Reads what [`Rekey::to_bytes`] wrote (kind byte included): exact lengths only.
    fn from_bytes(bytes: &[u8]) -> Result<Self, OpenError> {
        let (head, rest) = bytes
            .split_at_checked(REKEY_HEAD_BYTES)
            .ok_or(OpenError::Malformed)?;
        if rest.len() % RECIPIENT_BYTES != 0 || rest.len() / RECIPIENT_BYTES > Self::MAX_MEMBERS {
            return Err(OpenError::Malformed);
        }
        let epoch = u32::from_be_bytes(head[1..5].try_into().map_err(|_| OpenError::Malformed)?);
        let ephemeral = head[5..].try_into().map_err(|_| OpenError::Malformed)?;
        let wrapped = rest
            .chunks_exact(RECIPIENT_BYTES)
            .map(|chunk| {
                let (device, sealed) = chunk.split_at(16);
                let device = uuid::Uuid::from_slice(device).map_err(|_| OpenError::Malformed)?;
                let sealed = sealed.try_into().map_err(|_| OpenError::Malformed)?;
                Ok((DeviceId::from(device), sealed))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            epoch,
            ephemeral,
            wrapped,
        })
    }
}

/// The X25519 form of an Ed25519 device key (a key not on the curve maps to a point nobody
/// holds the secret of: its wrap is simply unreadable).
fn montgomery(key: &PublicKey) -> x25519_dalek::PublicKey {
    let point = ed25519_dalek::VerifyingKey::from_bytes(&key.to_bytes())
        .map(|k| k.to_montgomery().to_bytes())
        .unwrap_or_default();
    x25519_dalek::PublicKey::from(point)
}

fn wrap_key(ephemeral: &[u8; 32], member: &[u8; 32], shared: &[u8; 32]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(WRAP_CONTEXT);
    hash.update(ephemeral);
    hash.update(member);
    hash.update(shared);
    hash.finalize().into()
}

fn wrap_aad(room: &RoomName, epoch: u32, device: DeviceId) -> Vec<u8> {
    let mut out = Vec::with_capacity(WRAP_CONTEXT.len() + room.as_str().len() + 20);
    out.extend_from_slice(WRAP_CONTEXT);
    out.extend_from_slice(room.as_str().as_bytes());
    out.push(0);
    out.extend_from_slice(&epoch.to_be_bytes());
    out.extend_from_slice(device.as_uuid().as_bytes());
    out
}

impl FromStr for RoomKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_text(s).ok_or_else(|| "a room key must be 32 bytes in unpadded base64url".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> RoomName {
        RoomName::parse("Crew Only").unwrap()
    }

    #[test]
    fn a_sealed_text_opens_only_where_it_was_sealed() {
        let key = RoomKey::generate();
        let room = room();
        let sender = DeviceKey::generate().device();
        let to = SealedFor {
            room: &room,
            id: MessageId::new(),
            sender,
        };
        let sealed = key.seal_text(3, &to, "meet at the left tower");
        assert_eq!(
            key.open(&sealed, &to),
            Ok(Opened::Text("meet at the left tower".into()))
        );
        assert_eq!(sealed.ct.0.len(), 22 + Sealed::OVERHEAD);
        let other_room = RoomName::parse("Camp").unwrap();
        for moved in [
            SealedFor {
                room: &other_room,
                ..to
            },
            SealedFor {
                id: MessageId::new(),
                ..to
            },
            SealedFor {
                sender: DeviceId::random(),
                ..to
            },
        ] {
            assert_eq!(key.open(&sealed, &moved), Err(OpenError::Damaged));
        }
        let other_epoch = Sealed {
            epoch: 4,
            ..sealed.clone()
        };
        assert_eq!(key.open(&other_epoch, &to), Err(OpenError::Damaged));
        assert_eq!(
            RoomKey::generate().open(&sealed, &to),
            Err(OpenError::Damaged)
        );
        let mut flipped = sealed.clone();
        flipped.ct.0[0] ^= 1;
        assert_eq!(key.open(&flipped, &to), Err(OpenError::Damaged));
        // Two seals of one text differ: the nonce is new each time.
        assert_ne!(key.seal_text(3, &to, "meet at the left tower"), sealed);
    }

    #[test]
    fn room_keys_have_one_text() {
        let key = RoomKey::generate();
        let text = key.to_text();
        assert_eq!(text.len(), RoomKey::TEXT_LEN);
        assert_eq!(RoomKey::from_text(&text), Some(key.clone()));
        assert_eq!(RoomKey::from_text(&text[..42]), None);
        assert_eq!(RoomKey::from_text(&format!("{text}A")), None);
        assert_eq!(RoomKey::from_text(&"!".repeat(43)), None);
        // The last character carries 2 unused bits: another letter for the same key is refused.
        let mut other = text.clone().into_bytes();
        let last = other.last_mut().unwrap();
        *last = if *last == b'A' { b'B' } else { b'A' };
        let other = String::from_utf8(other).unwrap();
        assert!(RoomKey::from_text(&other).is_none_or(|k| k != key));
        assert_eq!(format!("{key:?}"), "RoomKey(..)");
    }

    #[test]
    fn a_rekey_reaches_the_members_it_names_and_nobody_else() {
        let room = room();
        let owner = DeviceKey::generate();
        let stays = DeviceKey::generate();
        let removed = DeviceKey::generate();
        let next = RoomKey::generate();
        let rekeys = Rekey::wrap(&room, 1, &next, &[owner.public(), stays.public()]);
        assert_eq!(rekeys.len(), 1);
        let rekey = &rekeys[0];
        assert_eq!(rekey.unwrap_for(&room, &stays), Some(next.clone()));
        assert_eq!(rekey.unwrap_for(&room, &owner), Some(next.clone()));
        assert_eq!(rekey.unwrap_for(&room, &removed), None);
        // Sealed under the old key, it travels like a text and comes back whole.
        let old = RoomKey::generate();
        let to = SealedFor {
            room: &room,
            id: MessageId::new(),
            sender: owner.device(),
        };
        let sealed = old.seal_rekey(0, &to, rekey);
        let Ok(Opened::Rekey(opened)) = old.open(&sealed, &to) else {
            panic!("a rekey");
        };
        assert_eq!(&opened, rekey);
        assert_eq!(opened.unwrap_for(&room, &stays), Some(next.clone()));
        // Bound to its room and epoch.
        let other = RoomName::parse("Camp").unwrap();
        assert_eq!(rekey.unwrap_for(&other, &stays), None);
        let moved = Rekey {
            epoch: 2,
            ..rekey.clone()
        };
        assert_eq!(moved.unwrap_for(&room, &stays), None);
    }

    #[test]
    fn a_big_room_is_rekeyed_in_messages_that_fit_a_body() {
        let room = room();
        let members: Vec<_> = (0..150).map(|_| DeviceKey::generate().public()).collect();
        let rekeys = Rekey::wrap(&room, 1, &RoomKey::generate(), &members);
        assert_eq!(rekeys.len(), 150usize.div_ceil(Rekey::MAX_MEMBERS));
        for rekey in &rekeys {
            assert!(rekey.to_bytes().len() <= 4096);
            assert_eq!(Rekey::from_bytes(&rekey.to_bytes()).as_ref(), Ok(rekey));
        }
        assert_eq!(
            rekeys.iter().map(|r| r.members().count()).sum::<usize>(),
            150
        );
    }

    #[test]
    fn malformed_contents_are_refused() {
        assert_eq!(Rekey::from_bytes(&[REKEY; 10]), Err(OpenError::Malformed));
        assert_eq!(Rekey::from_bytes(&[REKEY; 38]), Err(OpenError::Malformed));
        assert!(Rekey::from_bytes(&[REKEY; 37]).is_ok());
        let key = RoomKey::generate();
        let room = room();
        let to = SealedFor {
            room: &room,
            id: MessageId::new(),
            sender: DeviceId::random(),
        };
        assert_eq!(
            key.open(&key.seal(0, &to, &[7, 1]), &to),
            Err(OpenError::Malformed)
        );
        assert_eq!(
            key.open(&key.seal(0, &to, &[]), &to),
            Err(OpenError::Malformed)
        );
        assert_eq!(
            key.open(&key.seal(0, &to, &[TEXT, 0xff]), &to),
            Err(OpenError::Malformed)
        );
    }

    #[test]
    fn sealed_bodies_travel_as_exact_base64() {
        let key = RoomKey::generate();
        let room = room();
        let to = SealedFor {
            room: &room,
            id: MessageId::new(),
            sender: DeviceId::random(),
        };
        let sealed = key.seal_text(0, &to, "hi");
        let json = serde_json::to_string(&sealed).unwrap();
        assert_eq!(serde_json::from_str::<Sealed>(&json).unwrap(), sealed);
        for bad in [
            r#"{"epoch":0,"nonce":"AAAA","ct":"AAAAAAAAAAAAAAAAAAAAAAAA"}"#,
            r#"{"epoch":0,"nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","ct":"AAAA"}"#,
            r#"{"epoch":-1,"nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","ct":"AAAAAAAAAAAAAAAAAAAAAAAA"}"#,
            r#"{"epoch":0,"nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","ct":"AAAAAAAAAAAAAAAAAAAAAAA="}"#,
        ] {
            assert!(serde_json::from_str::<Sealed>(bad).is_err(), "{bad}");
        }
    }
}
