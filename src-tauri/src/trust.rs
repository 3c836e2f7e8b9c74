//! Names bound to keys in the app, as `festival chat` has them (`crates/cli/src/trust.rs`): a
//! member's details (their key's fingerprint, the safety number to compare in person and its
//! QR text), marking them verified, and the verified mark beside the name of a person whose
//! key this device verified, on the member list and on their messages. The decisions are the
//! engine's ([`festival_core::trust`]); this module only says which names carry the mark,
//! because the UI cannot tell look-alike names apart as the engine does.

use std::collections::HashSet;

use festival_core::trust::{KnownKey, Whois};
use festival_core::{Authenticity, EngineError, Event, LocalMessage, Privacy};
use festival_proto::{DisplayName, Member, PublicKey, RoomName, SafetyNumber};
use serde::Serialize;
use serde_json::Value;
use tauri::State;

use crate::AppError;
use crate::session::Session;

/// Digits per group of a safety number, as people read it out.
const GROUP_DIGITS: usize = 5;

/// The (name, key) pairs verified in person, as the engine remembers them: a name carries the
/// mark only with the key that was verified under it.
#[derive(Debug, Default)]
pub(crate) struct Marks(HashSet<(String, PublicKey)>);

/// A member or a message as the UI gets it: with whether the verified mark goes beside the
/// name, and for a sealed message that is not (or not only) a text, the engine's notice to
/// show in its place.
#[derive(Debug, Serialize)]
pub(crate) struct Shown<T> {
    #[serde(flatten)]
    item: T,
    verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    notice: Option<&'static str>,
}

impl Marks {
    /// What the engine remembers (at start).
    pub(crate) fn new(known: Vec<KnownKey>) -> Self {
        Self(
            known
                .into_iter()
                .filter(|k| k.verified)
                .map(|k| (k.canonical, k.key))
                .collect(),
        )
    }

    /// The user compared the safety number with this member and marked them verified.
    pub(crate) fn add(&mut self, whois: &Whois) {
        self.0.insert((whois.name.canonical(), whois.key));
    }

    fn holds(&self, name: &DisplayName, key: Option<&PublicKey>) -> bool {
        key.is_some_and(|key| self.0.contains(&(name.canonical(), *key)))
    }

    /// A member of a room, marked when verified.
    pub(crate) fn member(&self, member: Member) -> Shown<Member> {
        Shown {
            verified: self.holds(&member.name, Some(&member.key)),
            item: member,
            notice: None,
        }
    }

    /// Members of a room, each as [`Marks::member`].
    pub(crate) fn members(&self, members: Vec<Member>) -> Vec<Shown<Member>> {
        members.into_iter().map(|m| self.member(m)).collect()
    }

    /// A stored message: marked when its signature is checked and its name and key are a
    /// verified pair.
    pub(crate) fn message(&self, message: LocalMessage) -> Shown<LocalMessage> {
        Shown {
            verified: message.authenticity == Authenticity::Verified
                && self.holds(&message.from, message.key.as_ref()),
            notice: message.privacy.notice(),
            item: message,
        }
    }

    /// Stored messages, each as [`Marks::message`].
    pub(crate) fn messages(&self, messages: Vec<LocalMessage>) -> Vec<Shown<LocalMessage>> {
        messages.into_iter().map(|m| self.message(m)).collect()
    }

    /// An engine event as the UI gets it: the event's JSON with `verified` on its message or
    /// on each member it lists, and `notice` on a message shown by its notice (the CLI's
    /// `--json` adds its `key_status` the same way).
    pub(crate) fn event(&self, event: &Event) -> Result<Value, serde_json::Error> {
        let mut value = serde_json::to_value(event)?;
        match event {
            Event::Message {
                message,
                authenticity,
                privacy,
                ..
            } => {
                value["verified"] = Value::Bool(
                    *authenticity == Authenticity::Verified
                        && self.holds(&message.from, message.key.as_ref()),
                );
                if let Some(notice) = Privacy::notice(*privacy) {
                    value["notice"] = Value::from(notice);
                }
            }
            Event::Joined { members, .. } => {
                for (i, member) in members.iter().enumerate() {
                    value["members"][i]["verified"] =
                        Value::Bool(self.holds(&member.name, Some(&member.key)));
                }
            }
            Event::Presence { member, .. } => {
                value["member"]["verified"] =
                    Value::Bool(self.holds(&member.name, Some(&member.key)));
            }
            _ => {}
        }
        Ok(value)
    }
}

/// What a member's details show: who the engine says they are, the safety number in groups
/// of five digits, and whether this device may remove them from the room.
#[derive(Debug, Serialize)]
pub(crate) struct WhoisView {
    #[serde(flatten)]
    whois: Whois,
    /// The safety number's twelve groups of five digits, in order.
    safety_groups: Vec<String>,
    /// The room is private here, this device owns it, and the member is another device.
    removable: bool,
}

/// The digits of `number` in the groups people read out and compare: twelve of five.
pub(crate) fn groups(number: &SafetyNumber) -> Vec<String> {
    let digits: Vec<char> = number.digits().chars().collect();
    digits
        .chunks(GROUP_DIGITS)
        .map(|group| group.iter().collect())
        .collect()
}

/// A member's details: fingerprint, safety number (and its QR text, which the UI draws with
/// `qr_svg`), where their key stands.
#[tauri::command]
pub(crate) async fn whois(
    session: State<'_, Session>,
    room: String,
    name: String,
) -> Result<WhoisView, AppError> {
    let room = RoomName::parse(&room).map_err(AppError::InvalidRoom)?;
    session
        .with(async |engine| {
            let whois = engine.whois(room.as_str(), &name).await?;
            view(engine, &room, whois)
        })
        .await
}

/// Marks the member's key verified, once the person compared the safety number with them.
#[tauri::command]
pub(crate) async fn verify(
    session: State<'_, Session>,
    room: String,
    name: String,
) -> Result<WhoisView, AppError> {
    let room = RoomName::parse(&room).map_err(AppError::InvalidRoom)?;
    let whois = session
        .with(async |engine| engine.verify(room.as_str(), &name).await)
        .await?;
    session.with_marks(|marks| marks.add(&whois));
    session
        .with(async |engine| view(engine, &room, whois))
        .await
}

fn view(
    engine: &festival_core::Engine,
    room: &RoomName,
    whois: Whois,
) -> Result<WhoisView, EngineError> {
    let identity = engine.identity();
    let owned = engine
        .private_room(room.as_str())?
        .is_some_and(|private| private.owner == identity.key.public());
    Ok(WhoisView {
        safety_groups: groups(&whois.safety_number),
        removable: owned && whois.device != identity.device,
        whois,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use festival_core::trust::KeyStatus;
    use festival_proto::DeviceKey;
    use serde_json::json;

    use super::*;

    fn member(name: &str, key: &DeviceKey) -> Member {
        Member {
            device: key.device(),
            name: DisplayName::parse(name).unwrap(),
            key: key.public(),
        }
    }

    #[test]
    fn a_safety_number_reads_as_twelve_groups_of_five_digits_in_order() {
        let number = SafetyNumber::of(
            &DeviceKey::generate().public(),
            &DeviceKey::generate().public(),
        );
        let groups = groups(&number);
        assert_eq!(groups.len(), 12);
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 5 && g.chars().all(|c| c.is_ascii_digit()))
        );
        assert_eq!(groups.concat(), number.digits());
        assert_eq!(groups.join(" "), number.to_string());
    }

    #[test]
    fn the_mark_belongs_to_the_name_and_the_key_verified_together() {
        let mine = DeviceKey::generate();
        let alice = DeviceKey::generate();
        let mut marks = Marks::default();
        let whois = Whois::of(&mine.public(), &member("Alice", &alice), KeyStatus::Known);
        assert!(!marks.member(member("Alice", &alice)).verified);
        marks.add(&whois);
        assert!(marks.member(member("Alice", &alice)).verified);
        // The same key under another name, or the name with another key: no mark.
        assert!(!marks.member(member("Bob", &alice)).verified);
        let new_phone = DeviceKey::generate();
        assert!(!marks.member(member("Alice", &new_phone)).verified);
        // The relay's suffix for a second "Alice" is the same name to the engine.
        let suffixed = Member {
            name: DisplayName::parse("Alice").unwrap().with_suffix(2),
            ..member("Alice", &alice)
        };
        assert!(marks.member(suffixed).verified);
        // What the engine remembers comes back as marks at the next start.
        let known = KnownKey {
            canonical: whois.name.canonical(),
            name: whois.name.clone(),
            key: alice.public(),
            verified: true,
        };
        let unverified = KnownKey {
            verified: false,
            canonical: "bob".into(),
            ..known.clone()
        };
        let restarted = Marks::new(vec![known, unverified]);
        assert!(restarted.member(member("Alice", &alice)).verified);
        assert!(!restarted.member(member("Bob", &alice)).verified);
    }

    #[test]
    fn events_carry_the_mark_on_each_member_and_a_sealed_messages_notice() {
        let mine = DeviceKey::generate();
        let alice = DeviceKey::generate();
        let bob = DeviceKey::generate();
        let mut marks = Marks::default();
        marks.add(&Whois::of(
            &mine.public(),
            &member("Alice", &alice),
            KeyStatus::Known,
        ));
        let room = RoomName::parse("Camp").unwrap();
        let joined = Event::Joined {
            room: room.clone(),
            name: DisplayName::parse("Me").unwrap(),
            members: vec![member("Alice", &alice), member("Bob", &bob)],
        };
        let value = marks.event(&joined).unwrap();
        assert_eq!(value["members"][0]["verified"], json!(true));
        assert_eq!(value["members"][1]["verified"], json!(false));
        assert_eq!(value["members"][0]["name"], json!("Alice"));
        assert_eq!(value["event"], json!("joined"));
        let presence = Event::Presence {
            room,
            change: festival_proto::PresenceChange::Joined,
            member: member("Alice", &alice),
            online: 3,
        };
        assert_eq!(
            marks.event(&presence).unwrap()["member"]["verified"],
            json!(true)
        );

        // Alice's message in a room whose key this device lacks: marked as hers, and shown
        // by the engine's notice, never by its (empty) text.
        let mut message = festival_core::Delivered {
            room: RoomName::parse("Crew").unwrap(),
            id: festival_proto::MessageId::of_device(alice.device(), 5),
            seq: Some(1),
            sender: alice.device(),
            from: DisplayName::parse("Alice").unwrap(),
            body: String::new(),
            sealed: None,
            sent_at: 5,
            stored_at: Some(6),
            prev: None,
            key: Some(alice.public()),
            sig: None,
        };
        message.sig = Some(alice.sign_chat(&message.signed()));
        let event = Event::Message {
            message,
            route: festival_core::Route::Relay,
            authenticity: Authenticity::Verified,
            privacy: Privacy::NoKey,
        };
        let value = marks.event(&event).unwrap();
        assert_eq!(value["verified"], json!(true));
        assert_eq!(
            value["notice"],
            json!("encrypted message (no key for this room)")
        );
    }
}
