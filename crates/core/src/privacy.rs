//! Private rooms on this device: the room keys it holds (one per epoch), sealing what is typed
//! in a private room, and opening what arrives, whatever the route.
//!
//! The keys live in the store's settings (`private_rooms`, JSON) and in one [`Keyring`] shared
//! by the engine's handle (which seals as a message is typed) and its state machine (which
//! opens as messages arrive, and takes the owner's rekeys). Plaintext stays on this device:
//! the store keeps a private message's text beside its sealed form, and every frame that
//! leaves carries only the sealed form.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use festival_proto::{
    DeviceId, DeviceKey, Limits, MessageId, Opened, PrivateRoom, PublicKey, Rekey, RoomKey,
    RoomName, Sealed, SealedFor, validate_body,
};
use serde::{Deserialize, Serialize};

use crate::{Authenticity, Delivered};

/// The setting the keyring is saved under.
pub(crate) const SETTING: &str = "private_rooms";

/// What this device can say about who may read a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Privacy {
    /// A public room's message: anyone in the room reads it, the relay included.
    Public,
    /// Sealed with the room's key and opened here: only the key's holders read it.
    Private,
    /// Sealed with a key this device does not hold (it joined by name, or after the owner
    /// removed it): shown as "encrypted message (no key for this room)", never as its bytes.
    NoKey,
    /// Sealed with a key this device holds, but it does not open, or what it holds is not a
    /// valid text: changed on the way or made to deceive. Refused: marked, never shown.
    Unreadable,
    /// The owner's new room key, after removing a member: the room moved to a new epoch.
    KeyChanged,
}

impl Privacy {
    /// What is shown in place of a message that is not (or not only) a text.
    pub fn notice(self) -> Option<&'static str> {
        match self {
            Self::Public | Self::Private => None,
            Self::NoKey => Some("encrypted message (no key for this room)"),
            Self::Unreadable => Some("encrypted message that does not open (changed or forged)"),
            Self::KeyChanged => Some("changed the room's key"),
        }
    }

    /// Privacy as the store can tell it from what it kept: the text (when it was opened or
    /// typed here), the sealed form, and whether this device sent it (its own sealed message
    /// without a text is its rekey).
    pub(crate) fn stored(body: &str, sealed: Option<&Sealed>, own: bool) -> Self {
        match sealed {
            None => Self::Public,
            Some(_) if !body.is_empty() => Self::Private,
            Some(_) if own => Self::KeyChanged,
            Some(_) => Self::NoKey,
        }
    }
}

/// The room keys this device holds, shared by the handle and the engine's task.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keyring(Arc<Mutex<Rooms>>);

/// Every private room's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Rooms(BTreeMap<RoomName, RoomKeys>);

/// One private room: its owner, its current epoch and the keys of every epoch seen here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RoomKeys {
    owner: PublicKey,
    current: u32,
    /// Epoch to key text (a key is not printed by `Debug`, but this map is: kept as text
    /// only so that it serialises).
    keys: BTreeMap<u32, String>,
}

impl RoomKeys {
    fn key(&self, epoch: u32) -> Option<RoomKey> {
        self.keys.get(&epoch).and_then(|k| RoomKey::from_text(k))
    }
}

/// What opening a message did to the keyring: a rekey added a key that must be saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Learned(pub(crate) bool);

impl Keyring {
    /// The keyring saved as `text` (the setting); an unreadable one is an error.
    pub(crate) fn load(text: Option<&str>) -> Result<Self, serde_json::Error> {
        let rooms = match text {
            Some(text) => serde_json::from_str(text)?,
            None => Rooms::default(),
        };
        Ok(Self(Arc::new(Mutex::new(rooms))))
    }

    /// The keyring as the setting's text.
    pub(crate) fn save(&self) -> String {
        serde_json::to_string(&*self.lock()).unwrap_or_else(|_| "{}".into())
    }

    fn lock(&self) -> MutexGuard<'_, Rooms> {
        // A panic while the lock was held left a map, not a half-made key: still usable.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a room's key from an invite (or a new room). An invite from another owner for
    /// the same room name replaces what was known: the person chose to follow it.
    pub(crate) fn add(&self, room: &RoomName, private: &PrivateRoom) {
        let mut rooms = self.lock();
        let keys = rooms.0.entry(room.clone()).or_insert_with(|| RoomKeys {
            owner: private.owner,
            current: private.epoch,
            keys: BTreeMap::new(),
        });
        if keys.owner != private.owner {
            keys.owner = private.owner;
            keys.keys.clear();
            keys.current = private.epoch;
        }
        keys.keys.insert(private.epoch, private.key.to_text());
        keys.current = keys.current.max(private.epoch);
    }

    /// The room's current key, epoch and owner, as an invite carries them; `None`: public.
    pub(crate) fn current(&self, room: &RoomName) -> Option<PrivateRoom> {
        let rooms = self.lock();
        let keys = rooms.0.get(room)?;
        Some(PrivateRoom {
            key: keys.key(keys.current)?,
            epoch: keys.current,
            owner: keys.owner,
        })
    }

    /// Seals `text` as `sender`'s message `id` with the room's current key; `None` in a
    /// public room.
    pub(crate) fn seal(
        &self,
        room: &RoomName,
        id: MessageId,
        sender: DeviceId,
        text: &str,
    ) -> Option<Sealed> {
        let current = self.current(room)?;
        let to = SealedFor { room, id, sender };
        Some(current.key.seal_text(current.epoch, &to, text))
    }

    /// The owner's move to a new epoch: a new key, wrapped for `members` (whose device keys
    /// the owner knows), sealed under the current key as `sender`'s message `id`. Returns the
    /// sealed rekeys (one per [`Rekey::MAX_MEMBERS`] members) and the new epoch; the new key
    /// is in the keyring already, so that what is typed next is sealed with it.
    pub(crate) fn rotate(
        &self,
        room: &RoomName,
        members: &[PublicKey],
        sender: DeviceId,
        ids: impl Fn() -> MessageId,
    ) -> Option<(u32, Vec<(MessageId, Sealed)>)> {
        let current = self.current(room)?;
        let epoch = current.epoch.checked_add(1)?;
        let next = RoomKey::generate();
        let sealed = Rekey::wrap(room, epoch, &next, members)
            .iter()
            .map(|rekey| {
                let id = ids();
                let to = SealedFor { room, id, sender };
                (id, current.key.seal_rekey(current.epoch, &to, rekey))
            })
            .collect();
        self.add(
            room,
            &PrivateRoom {
                key: next,
                epoch,
                owner: current.owner,
            },
        );
        Some((epoch, sealed))
    }

    /// Opens a received message in place (its text into `body`) and says what it was. A
    /// rekey is taken only from the room's owner, with a verified signature, and only when
    /// it wraps the new key for `me`.
    pub(crate) fn open(&self, message: &mut Delivered, me: &DeviceKey) -> (Privacy, Learned) {
        let Some(sealed) = &message.sealed else {
            return (Privacy::Public, Learned(false));
        };
        // Whatever came in `body` beside a sealed text is not the sender's (the decoder
        // refuses it from clients; a relay could still add one).
        message.body.clear();
        let (key, owner) = {
            let rooms = self.lock();
            let Some(keys) = rooms.0.get(&message.room) else {
                return (Privacy::NoKey, Learned(false));
            };
            (keys.key(sealed.epoch), keys.owner)
        };
        let Some(key) = key else {
            return (Privacy::NoKey, Learned(false));
        };
        let to = SealedFor {
            room: &message.room,
            id: message.id,
            sender: message.sender,
        };
        match key.open(sealed, &to) {
            Ok(Opened::Text(text)) if validate_body(&text, &Limits::default()).is_ok() => {
                message.body = text;
                (Privacy::Private, Learned(false))
            }
            Ok(Opened::Rekey(rekey))
                if owner.is_of(message.sender)
                    && Authenticity::of(message) == Authenticity::Verified =>
            {
                let learned = match rekey.unwrap_for(&message.room, me) {
                    Some(next) => {
                        self.add(
                            &message.room,
                            &PrivateRoom {
                                key: next,
                                epoch: rekey.epoch,
                                owner,
                            },
                        );
                        true
                    }
                    None => false,
                };
                (Privacy::KeyChanged, Learned(learned))
            }
            Ok(_) | Err(_) => (Privacy::Unreadable, Learned(false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use festival_proto::DisplayName;

    use super::*;

    fn room() -> RoomName {
        RoomName::parse("Crew").unwrap()
    }

    fn received(
        room: &RoomName,
        key: &DeviceKey,
        body: &str,
        sealed: Option<Sealed>,
        id: MessageId,
    ) -> Delivered {
        let mut message = Delivered {
            room: room.clone(),
            id,
            seq: Some(1),
            sender: key.device(),
            from: DisplayName::from_trusted("Alice".into()),
            body: body.into(),
            sealed,
            sent_at: 5,
            stored_at: Some(6),
            prev: None,
            key: Some(key.public()),
            sig: None,
        };
        message.sig = Some(key.sign_chat(&message.signed()));
        message
    }

    #[test]
    fn a_member_with_the_key_reads_and_one_without_sees_the_marker() {
        let room = room();
        let alice = DeviceKey::generate();
        let owner = Keyring::default();
        owner.add(&room, &PrivateRoom::create(alice.public()));
        let id = MessageId::of_device(alice.device(), 5);
        let sealed = owner
            .seal(&room, id, alice.device(), "backstage at 9")
            .unwrap();
        let message = received(&room, &alice, "", Some(sealed), id);

        let bob = DeviceKey::generate();
        let member = Keyring::load(Some(&owner.save())).unwrap();
        let mut opened = message.clone();
        assert_eq!(member.open(&mut opened, &bob).0, Privacy::Private);
        assert_eq!(opened.body, "backstage at 9");
        assert_eq!(Authenticity::of(&opened), Authenticity::Verified);

        let stranger = Keyring::default();
        let mut shut = message.clone();
        assert_eq!(stranger.open(&mut shut, &bob).0, Privacy::NoKey);
        assert_eq!(shut.body, "");

        let mut plain = received(
            &room,
            &alice,
            "hello",
            None,
            MessageId::of_device(alice.device(), 5),
        );
        assert_eq!(member.open(&mut plain, &bob).0, Privacy::Public);
        assert_eq!(plain.body, "hello");
    }

    #[test]
    fn a_changed_or_misplaced_sealed_text_is_refused() {
        let room = room();
        let alice = DeviceKey::generate();
        let ring = Keyring::default();
        ring.add(&room, &PrivateRoom::create(alice.public()));
        let first = MessageId::of_device(alice.device(), 5);
        let sealed = ring.seal(&room, first, alice.device(), "hi").unwrap();
        // A member who copies Alice's sealed text under its own id and signature.
        let mallory = DeviceKey::generate();
        let mut copied = received(
            &room,
            &mallory,
            "",
            Some(sealed.clone()),
            MessageId::of_device(mallory.device(), 5),
        );
        assert_eq!(ring.open(&mut copied, &mallory).0, Privacy::Unreadable);
        assert_eq!(copied.body, "");
        // A control character sealed by a key holder is no valid text either.
        let id = MessageId::of_device(alice.device(), 5);
        let escape = ring
            .seal(&room, id, alice.device(), "hi \u{1b}[2J")
            .unwrap();
        let mut escape = received(&room, &alice, "", Some(escape), id);
        assert_eq!(ring.open(&mut escape, &alice).0, Privacy::Unreadable);
        // A relay that adds a plain body beside the sealed one gets it replaced.
        let mut padded = received(&room, &alice, "", Some(sealed), first);
        padded.body = "injected".into();
        assert_eq!(ring.open(&mut padded, &alice).0, Privacy::Private);
        assert_eq!(padded.body, "hi");
    }

    #[test]
    fn only_the_owners_rekey_moves_the_room_and_the_removed_member_reads_no_more() {
        let room = room();
        let owner_key = DeviceKey::generate();
        let stays = DeviceKey::generate();
        let removed = DeviceKey::generate();
        let owner = Keyring::default();
        owner.add(&room, &PrivateRoom::create(owner_key.public()));
        let member = Keyring::load(Some(&owner.save())).unwrap();
        let gone = Keyring::load(Some(&owner.save())).unwrap();

        let (epoch, rekeys) = owner
            .rotate(
                &room,
                &[owner_key.public(), stays.public()],
                owner_key.device(),
                || MessageId::of_device(owner_key.device(), 5),
            )
            .unwrap();
        assert_eq!((epoch, rekeys.len()), (1, 1));
        let (id, sealed) = rekeys.into_iter().next().unwrap();
        let rekey = received(&room, &owner_key, "", Some(sealed), id);
        assert_eq!(
            member.open(&mut rekey.clone(), &stays),
            (Privacy::KeyChanged, Learned(true))
        );
        assert_eq!(
            gone.open(&mut rekey.clone(), &removed),
            (Privacy::KeyChanged, Learned(false))
        );
        assert_eq!(member.current(&room).unwrap().epoch, 1);

        let id = MessageId::of_device(owner_key.device(), 5);
        let after = owner
            .seal(&room, id, owner_key.device(), "new plan")
            .unwrap();
        assert_eq!(after.epoch, 1);
        let after = received(&room, &owner_key, "", Some(after), id);
        let mut read = after.clone();
        assert_eq!(member.open(&mut read, &stays).0, Privacy::Private);
        assert_eq!(read.body, "new plan");
        let mut unread = after.clone();
        assert_eq!(gone.open(&mut unread, &removed).0, Privacy::NoKey);
        assert_eq!(unread.body, "");

        // A rekey from anyone but the owner is not taken.
        let (_, forged) = Keyring::load(Some(&gone.save()))
            .unwrap()
            .rotate(&room, &[removed.public()], removed.device(), || {
                MessageId::of_device(removed.device(), 5)
            })
            .unwrap();
        let (id, sealed) = forged.into_iter().next().unwrap();
        let mut forged = received(&room, &removed, "", Some(sealed), id);
        let fresh = Keyring::load(Some(&gone.save())).unwrap();
        assert_eq!(fresh.open(&mut forged, &removed).0, Privacy::Unreadable);
        assert_eq!(fresh.current(&room).unwrap().epoch, 0);
    }
}
