//! Whether a message is from the device it names: the one check every received message goes
//! through, whatever its route (relay, long-poll, direct), before it is shown as someone's.

use festival_proto::{DeviceId, PublicKey, Signature, SignedChat};

use crate::Delivered;
use serde::Serialize;

/// What the signature of a received message says about its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Authenticity {
    /// Signed by the key its sender's device id is derived from: it is from that device.
    Verified,
    /// Carries no signature: stored by a relay before protocol version 2. Nobody can tell
    /// who wrote it; it is shown with the name the relay gave, marked unsigned.
    Unsigned,
    /// Its signature does not hold, the key is not the sender's, or its id is not one the
    /// sender made (a stranger's text under an id seen early): someone else wrote it, or it
    /// would take another's id. It is never shown as from the device it names.
    Forged,
    /// An organisers' announcement: unsigned, under the nil device, which no member can say
    /// hello with, so only the relay can have numbered it. Vouched for by the relay alone; a
    /// peer that sends one directly is not the relay, and the direct route takes only
    /// [`Authenticity::Verified`].
    Announcement,
}

impl Authenticity {
    /// Checks `signed`, claimed by `sender`, against `key` and `sig`.
    pub fn check(
        sender: DeviceId,
        key: Option<&PublicKey>,
        sig: Option<&Signature>,
        signed: &SignedChat<'_>,
    ) -> Self {
        match (key, sig) {
            (None, None) if sender.is_nil() => Self::Announcement,
            (None, None) => Self::Unsigned,
            (Some(key), Some(sig))
                if key.is_of(sender)
                    && signed.id.belongs_to(sender)
                    && key.verify_chat(signed, sig) =>
            {
                Self::Verified
            }
            _ => Self::Forged,
        }
    }

    /// Checks a message as it came: its own key and signature against its sender.
    pub fn of(message: &Delivered) -> Self {
        Self::check(
            message.sender,
            message.key.as_ref(),
            message.sig.as_ref(),
            &message.signed(),
        )
    }

    /// The mark's name, as the terminal and the app show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Unsigned => "unsigned",
            Self::Forged => "forged",
            Self::Announcement => "announcement",
        }
    }
}

#[cfg(test)]
mod tests {
    use festival_proto::{DeviceKey, DisplayName, MessageId, RoomName};

    use super::*;

    fn signed_by(key: &DeviceKey) -> Delivered {
        let mut message = Delivered {
            room: RoomName::parse("Camp").unwrap(),
            id: MessageId::of_device(key.device(), 5),
            seq: Some(1),
            sender: key.device(),
            from: DisplayName::parse("Alice").unwrap(),
            body: "at the gate".into(),
            sealed: None,
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
    fn only_the_senders_own_signature_verifies() {
        let alice = DeviceKey::generate();
        let message = signed_by(&alice);
        assert_eq!(Authenticity::of(&message), Authenticity::Verified);

        let mallory = DeviceKey::generate();
        let changed = Delivered {
            body: "at the other gate".into(),
            sealed: None,
            ..message.clone()
        };
        assert_eq!(Authenticity::of(&changed), Authenticity::Forged);
        // Mallory signs her text with her key but names Alice as the sender.
        let claimed = Delivered {
            sender: alice.device(),
            ..signed_by(&mallory)
        };
        assert_eq!(Authenticity::of(&claimed), Authenticity::Forged);
        // Alice's valid signature on a message that names Mallory as its sender.
        let moved = Delivered {
            sender: mallory.device(),
            ..message.clone()
        };
        assert_eq!(Authenticity::of(&moved), Authenticity::Forged);
        let half = Delivered {
            sig: None,
            ..message.clone()
        };
        assert_eq!(Authenticity::of(&half), Authenticity::Forged);
        // Mallory's own text, honestly signed, under Alice's id (seen early over a link).
        let mut taken = Delivered {
            id: message.id,
            ..signed_by(&mallory)
        };
        taken.sig = Some(mallory.sign_chat(&taken.signed()));
        assert_eq!(Authenticity::of(&taken), Authenticity::Forged);
        let legacy = Delivered {
            key: None,
            sig: None,
            ..message.clone()
        };
        assert_eq!(Authenticity::of(&legacy), Authenticity::Unsigned);
    }

    #[test]
    fn only_an_unsigned_message_under_the_nil_device_is_an_announcement() {
        let alice = DeviceKey::generate();
        let announcement = Delivered {
            sender: DeviceId::NIL,
            key: None,
            sig: None,
            ..signed_by(&alice)
        };
        assert_eq!(Authenticity::of(&announcement), Authenticity::Announcement);
        // A signature claiming the nil device cannot hold: no key derives it.
        let signed = Delivered {
            sender: DeviceId::NIL,
            ..signed_by(&alice)
        };
        assert_eq!(Authenticity::of(&signed), Authenticity::Forged);
    }
}
