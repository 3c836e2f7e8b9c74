//! The machine's part in names bound to keys: every name and key an event shows goes past
//! [`KnownKeys`], what it remembers goes to the store, and a key change becomes an event.

use festival_proto::{DeviceId, DisplayName, Member, PresenceChange, PublicKey, RoomName};

use super::{EngineState, Output, StoreOp};
use crate::engine::trust::TrustCommand;
use crate::trust::{KeyStatus, Whois};
use crate::{Authenticity, EngineError, Event};

impl EngineState {
    /// The key changes `event` shows (a verified message, or members listed or arriving
    /// under a remembered name with another key); what to remember goes to the store.
    pub(super) fn key_changes(&mut self, event: &Event) -> Vec<Event> {
        let me = self.identity.device;
        let mut changes = Vec::new();
        match event {
            Event::Message {
                message,
                authenticity: Authenticity::Verified,
                ..
            } if message.sender != me => {
                if let Some(key) = message.key {
                    let (room, from) = (&message.room, &message.from);
                    self.see(room, from, message.sender, key, true, &mut changes);
                }
            }
            Event::Joined { room, members, .. } => {
                for m in members.iter().filter(|m| m.device != me) {
                    self.see(room, &m.name, m.device, m.key, false, &mut changes);
                }
            }
            Event::Presence {
                room,
                change: PresenceChange::Joined,
                member,
                ..
            } if member.device != me => {
                let m = member;
                self.see(room, &m.name, m.device, m.key, false, &mut changes);
            }
            _ => {}
        }
        changes
    }

    fn see(
        &mut self,
        room: &RoomName,
        name: &DisplayName,
        device: DeviceId,
        key: PublicKey,
        talked: bool,
        changes: &mut Vec<Event>,
    ) {
        let seen = self.trust.seen(name, device, key, talked);
        if let Some(known) = seen.remember {
            self.out
                .push_back(Output::Store(StoreOp::RememberKey(known)));
        }
        if let Some(change) = seen.changed {
            changes.push(Event::KeyChanged {
                room: room.clone(),
                change,
            });
        }
    }

    /// Answers a question, or carries out a change, about who is who.
    pub(crate) fn trust_command(&mut self, command: TrustCommand) {
        match command {
            TrustCommand::Whois(room, name, reply) => {
                let answer = self.member_named(&room, &name).map(|member| {
                    let status = self.trust.status(&member.name, &member.key);
                    Whois::of(&self.identity.key.public(), &member, status)
                });
                drop(reply.send(answer));
            }
            TrustCommand::Verify(room, name, reply) => {
                let answer = self.member_named(&room, &name).map(|member| {
                    let known = self.trust.verify(&member.name, member.key);
                    self.out
                        .push_back(Output::Store(StoreOp::RememberKey(known)));
                    Whois::of(&self.identity.key.public(), &member, KeyStatus::Verified)
                });
                drop(reply.send(answer));
            }
            TrustCommand::Known(reply) => drop(reply.send(self.trust.all())),
        }
    }

    /// The member of `room` shown exactly as `name`, or else the one member whose name looks
    /// like it.
    fn member_named(&self, room: &RoomName, name: &str) -> Result<Member, EngineError> {
        let members = self
            .rooms
            .get(room)
            .ok_or_else(|| EngineError::NotJoined(room.as_str().to_owned()))?
            .members
            .values()
            .filter(|m| m.device != self.identity.device);
        let name = name.trim();
        let canonical = DisplayName::from_trusted(name.to_owned()).canonical();
        let mut alike: Vec<&Member> = Vec::new();
        for member in members {
            if member.name.as_str() == name {
                return Ok(member.clone());
            }
            if member.name.canonical() == canonical {
                alike.push(member);
            }
        }
        match alike[..] {
            [one] => Ok(one.clone()),
            [] => Err(EngineError::NoSuchMember {
                room: room.as_str().to_owned(),
                name: name.to_owned(),
            }),
            _ => Err(EngineError::AmbiguousMember {
                room: room.as_str().to_owned(),
                name: name.to_owned(),
                candidates: alike
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}
