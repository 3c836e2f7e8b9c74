//! Names bound to keys in the machine: a person talked with is remembered with their key, a
//! member who shows up under the same name with another key raises one `KeyChanged`, and a
//! verified mark stays with the key it was given to.

use festival_proto::{Member, Presence, PresenceChange, SafetyNumber, ServerFrame};
use tokio::sync::oneshot;

use super::{Sim, device, key_of, member, message, name, online, room};
use crate::engine::trust::TrustCommand;
use crate::store::EngineStore;
use crate::trust::{KeyChange, KeyStatus, Whois};
use crate::{EngineError, Event};

impl Sim {
    fn whois(&mut self, who: &str) -> Result<Whois, EngineError> {
        let (reply, mut answer) = oneshot::channel();
        self.state
            .trust_command(TrustCommand::Whois(room(), who.into(), reply));
        answer.try_recv().unwrap()
    }

    async fn verify(&mut self, who: &str) -> Result<Whois, EngineError> {
        let (reply, mut answer) = oneshot::channel();
        self.state
            .trust_command(TrustCommand::Verify(room(), who.into(), reply));
        self.settle().await;
        answer.try_recv().unwrap()
    }

    fn key_changes(&self) -> Vec<KeyChange> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::KeyChanged { change, .. } => Some(change.clone()),
                _ => None,
            })
            .collect()
    }

    async fn arrives(&mut self, member: Member) {
        let presence = Presence {
            room: room(),
            change: PresenceChange::Joined,
            member,
            online: 3,
        };
        self.frames(vec![ServerFrame::Presence(presence)]).await;
    }
}

#[tokio::test]
async fn a_new_key_under_a_name_talked_with_is_flagged_once_and_the_mark_stays_with_its_key() {
    let mut sim = Sim::new(Sim::config(), online());
    let ann = device();
    sim.join_with(&[(ann, "Ann")], Vec::new()).await;
    // Listed only: not remembered yet.
    assert_eq!(sim.whois("Ann").unwrap().status, KeyStatus::New);
    sim.frames(vec![ServerFrame::Chat(message(ann, "Ann", 1, "hi"))])
        .await;
    assert_eq!(sim.whois("Ann").unwrap().status, KeyStatus::Known);
    assert_eq!(sim.store.known_keys().await.unwrap().len(), 1, "stored");

    let verified = sim.verify("Ann").await.unwrap();
    assert_eq!(verified.status, KeyStatus::Verified);
    let anns = key_of(ann).public();
    assert_eq!(
        verified.safety_number,
        SafetyNumber::of(&anns, &sim.me.key.public()),
        "the number Ann's phone shows too"
    );
    assert!(sim.store.known_keys().await.unwrap()[0].verified);
    assert_eq!(sim.key_changes(), []);

    // Another device calls itself Ann: the relay shows it as "Ann (2)".
    let other = device();
    let impostor = Member {
        name: name("Ann").with_suffix(2),
        ..member(other, "Ann")
    };
    sim.arrives(impostor.clone()).await;
    let changes = sim.key_changes();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        (changes[0].device, changes[0].key, changes[0].was_verified),
        (other, impostor.key, true)
    );
    // It talks; it comes again: said once.
    let mut said = message(other, "Ann", 2, "it's me, new phone");
    said.from = impostor.name.clone();
    sim.frames(vec![ServerFrame::Chat(said)]).await;
    sim.arrives(impostor).await;
    assert_eq!(sim.key_changes().len(), 1);
    // The mark stayed with Ann's key, and the store still holds hers.
    assert_eq!(sim.whois("Ann (2)").unwrap().status, KeyStatus::Changed);
    assert_eq!(sim.whois("Ann").unwrap().status, KeyStatus::Verified);
    assert_eq!(sim.store.known_keys().await.unwrap()[0].key, anns);
}

#[tokio::test]
async fn a_name_asked_for_is_found_exactly_or_by_its_only_look_alike() {
    let mut sim = Sim::new(Sim::config(), online());
    let (ann, other) = (device(), device());
    sim.join_with(&[(ann, "Ann")], Vec::new()).await;
    assert_eq!(sim.whois(" Ann ").unwrap().device, ann);
    // Cyrillic "А": the only look-alike.
    assert_eq!(sim.whois("Аnn").unwrap().device, ann);
    assert!(matches!(
        sim.whois("Bob"),
        Err(EngineError::NoSuchMember { .. })
    ));
    sim.arrives(Member {
        name: name("Ann").with_suffix(2),
        ..member(other, "Ann")
    })
    .await;
    assert_eq!(sim.whois("Ann (2)").unwrap().device, other);
    assert_eq!(sim.whois("Ann").unwrap().device, ann, "exactly as shown");
    assert!(matches!(
        sim.whois("Аnn"),
        Err(EngineError::AmbiguousMember { .. })
    ));
}
