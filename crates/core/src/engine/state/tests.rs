//! [`EngineState`] without sockets: its decisions one by one, a property test of the two
//! routes (relay and direct) racing each other, and a day of engine time on a hand-moved
//! clock. A small simulator plays the driver: it carries out store operations on the real
//! [`MemoryStore`] and records everything else; a fake relay answers joins and pings.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use std::cell::RefCell;
use std::collections::HashMap;

use festival_proto::{
    Ack, ChatMessage, ChatSend, ClientFrame, DeviceId, DeviceKey, DisplayName, Join, Joined,
    Limits, Member, MessageId, PeerChat, PeerFrame, PeerId, PeerSignal, Pong, RoomName, Seq,
    Sequenced, ServerFrame, SessionId, SignalRelayed, Signature, Welcome, encode,
};

mod day;
mod race;
mod trust;

use super::{EngineState, Output, PeerAction, Resume, StateConfig, StoreAnswer, StoreOp};
use crate::engine::EngineConfig;
use crate::engine::relay_policy::RelayRoute;
use crate::store::{EngineStore, Identity, MemoryStore};
use crate::transport::webrtc::PeerEvent;
use crate::{Authenticity, EngineError, Event, Route};

const DAY: Duration = Duration::from_secs(24 * 3600);

thread_local! {
    /// The keys of the other devices a test made, by device id: what signs their messages
    /// and offers, and what the relay lists beside them.
    static KEYS: RefCell<HashMap<DeviceId, DeviceKey>> = RefCell::new(HashMap::new());
}

/// A new device with a key of its own (another member, as the machine meets it).
fn device() -> DeviceId {
    key_device(DeviceKey::generate())
}

/// Keeps `key` for signing as its device; returns the device.
fn key_device(key: DeviceKey) -> DeviceId {
    let device = key.device();
    KEYS.with(|keys| keys.borrow_mut().insert(device, key));
    device
}

fn key_of(device: DeviceId) -> DeviceKey {
    KEYS.with(|keys| keys.borrow().get(&device).cloned())
        .expect("a device made by device() or key_device()")
}

/// `device` as the relay lists it: with its public key.
fn member(device: DeviceId, n: &str) -> Member {
    Member {
        device,
        name: name(n),
        key: key_of(device).public(),
    }
}

/// An identity for this device, its key kept like the others'.
fn identity(key: DeviceKey) -> Identity {
    key_device(key.clone());
    Identity {
        device: key.device(),
        name: name("Me"),
        key,
    }
}

#[allow(clippy::disallowed_methods)] // A test's one real instant; the rest are offsets.
fn t0() -> Instant {
    Instant::now()
}

fn room() -> RoomName {
    RoomName::parse("Camp").unwrap()
}

fn name(n: &str) -> DisplayName {
    DisplayName::parse(n).unwrap()
}

fn welcome(me: &Identity) -> Welcome {
    Welcome {
        v: 1,
        peer_id: PeerId(1),
        device: me.device,
        name: me.name.clone(),
        server_time: 0,
        limits: Limits::default(),
        ice_servers: Vec::new(),
    }
}

/// What the simulated relay does when the engine dials or talks to it.
#[derive(Debug, Clone, Copy)]
struct FakeRelay {
    socket_ok: bool,
    poll_ok: bool,
    answers_pings: bool,
    /// Answers joins at once with no history (the property test answers them itself).
    answers_joins: bool,
}

/// One step the machine asked for, in order: enough to check that writes precede events.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A message recorded, with its number if the relay gave it one.
    Recorded(MessageId, Option<Seq>),
    Shown(MessageId),
}

/// Plays the driver around an [`EngineState`].
struct Sim {
    state: EngineState,
    store: MemoryStore,
    me: Identity,
    now: Instant,
    unix0: i64,
    start: Instant,
    relay: FakeRelay,
    events: Vec<(Instant, Event)>,
    steps: Vec<Step>,
    to_relay: Vec<ClientFrame>,
    joins: Vec<Join>,
    to_peers: Vec<(DeviceId, PeerFrame)>,
    links: Vec<PeerAction>,
    settled: Vec<(MessageId, Result<Seq, EngineError>)>,
    dials: Vec<(Instant, RelayRoute)>,
    /// Direct sends that fail, by peer (the channel went away under the engine).
    unreachable: HashSet<DeviceId>,
}

impl Sim {
    fn new(config: StateConfig, relay: FakeRelay) -> Self {
        Self::with_identity(identity(DeviceKey::generate()), config, relay)
    }

    fn with_identity(me: Identity, config: StateConfig, relay: FakeRelay) -> Self {
        let now = t0();
        let resume = Resume {
            rooms: BTreeMap::new(),
            queued: Vec::new(),
            recent: Vec::new(),
            unsequenced: Vec::new(),
            known_keys: Vec::new(),
            keyring: crate::privacy::Keyring::default(),
        };
        let state = EngineState::new("ws://relay".into(), me.clone(), config, resume, 7, now);
        Self {
            state,
            store: MemoryStore::default(),
            me,
            now,
            unix0: 1_800_000_000_000,
            start: now,
            relay,
            events: Vec::new(),
            steps: Vec::new(),
            to_relay: Vec::new(),
            joins: Vec::new(),
            to_peers: Vec::new(),
            links: Vec::new(),
            settled: Vec::new(),
            dials: Vec::new(),
            unreachable: HashSet::new(),
        }
    }

    fn config() -> StateConfig {
        StateConfig::from(&EngineConfig::new("ws://relay", "/nonexistent"))
    }

    fn unix(&self) -> i64 {
        self.unix0 + i64::try_from((self.now - self.start).as_millis()).unwrap()
    }

    /// Carries out every output until the machine has nothing due now.
    async fn settle(&mut self) {
        loop {
            while let Some(output) = self.state.poll_output() {
                self.execute(output).await;
            }
            self.state.handle_timeout(self.now, self.unix());
            if !self.state.has_output() {
                return;
            }
        }
    }

    async fn execute(&mut self, output: Output) {
        let now = self.now;
        match output {
            Output::Relay(frame) => {
                match &frame {
                    ClientFrame::Join(join) if self.relay.answers_joins => {
                        let joined = Joined {
                            room: join.room.clone(),
                            name: self.me.name.clone(),
                            members: vec![Member {
                                device: self.me.device,
                                name: self.me.name.clone(),
                                key: self.me.key.public(),
                            }],
                            history: Vec::new(),
                            latest_seq: join.since.unwrap_or(0),
                            has_more: false,
                            truncated: false,
                        };
                        self.state
                            .relay_frames(now, vec![ServerFrame::Joined(joined)]);
                    }
                    ClientFrame::Join(join) => self.joins.push(join.clone()),
                    ClientFrame::Ping(ping) if self.relay.answers_pings => {
                        let pong = Pong {
                            nonce: ping.nonce,
                            server_time: 0,
                            keepalive_s: ping.keepalive_s,
                        };
                        self.state.relay_frames(now, vec![ServerFrame::Pong(pong)]);
                    }
                    _ => {}
                }
                self.to_relay.push(frame);
            }
            Output::Peer {
                peer, frame, chat, ..
            } => {
                if self.unreachable.contains(&peer) {
                    return;
                }
                if let Some(id) = chat {
                    self.state.direct_sent(id, peer);
                }
                self.to_peers.push((peer, frame));
            }
            Output::Link(action) => self.links.push(action),
            Output::Store(op) => self.store_op(op).await,
            Output::Event(event) => {
                if let Event::Message { message, .. } = &event {
                    self.steps.push(Step::Shown(message.id));
                }
                self.events.push((now, event));
            }
            Output::Settled { id, result } => self.settled.push((id, result)),
            Output::Dial(route) => {
                self.dials.push((now, route));
                let ok = match route {
                    RelayRoute::Socket => self.relay.socket_ok,
                    RelayRoute::Poll => self.relay.poll_ok,
                };
                if ok {
                    let welcome = welcome(&self.me);
                    self.state.dialed(now, route, welcome);
                } else {
                    let reason = crate::transport::TransportError::Protocol("refused".into());
                    self.state.dial_failed(now, route, reason);
                }
            }
            Output::TrySocket => {
                if self.relay.socket_ok {
                    let welcome = welcome(&self.me);
                    self.state.socket_reopened(now, welcome);
                }
            }
            Output::DropRelay { .. } => {}
        }
    }

    async fn store_op(&mut self, op: StoreOp) {
        let store = &self.store;
        let answer = match op {
            StoreOp::MarkSent(acks) => store.mark_sent(&acks).await.map(|()| None),
            StoreOp::SaveSetting { key, value } => store.set(key, &value).await.map(|()| None),
            StoreOp::RecordDelivered {
                messages,
                me,
                route,
                keep,
            } => {
                for m in &messages {
                    self.steps.push(Step::Recorded(m.id, m.seq));
                }
                store
                    .record_delivered(&messages, me, route, keep)
                    .await
                    .map(|()| None)
            }
            StoreOp::MarkFailed { id, reason } => {
                store.mark_failed(id, &reason).await.map(|()| None)
            }
            StoreOp::ExpireQueued { cutoff, reason } => store
                .expire_queued(cutoff, &reason)
                .await
                .map(|e| Some(StoreAnswer::Expired(e))),
            StoreOp::Prune { cutoff } => store.prune_older_than(cutoff).await.map(|_| None),
            StoreOp::Cursor(room) => store
                .cursor(&room)
                .await
                .map(|c| Some(StoreAnswer::Cursor(room, c))),
            StoreOp::PrevShown { prev, peer, chat } => store.contains(prev).await.map(|known| {
                Some(StoreAnswer::PrevShown {
                    peer,
                    chat,
                    known: Some(known),
                })
            }),
            StoreOp::OwnMessage { peer, room, id } => store
                .own_message(&room, id)
                .await
                .map(|chat| Some(StoreAnswer::OwnMessage { peer, chat })),
            StoreOp::RememberKey(known) => store.remember_key(&known).await.map(|()| None),
        };
        if let Some(answer) = answer.expect("the memory store does not fail") {
            self.state.store_answer(self.now, answer);
        }
    }

    /// Moves the clock to `until`, stopping at every instant the machine asked to be woken.
    async fn run_until(&mut self, until: Instant) {
        self.settle().await;
        let mut same_instant = 0;
        loop {
            let wake = self.state.poll_timeout();
            if wake > until {
                break;
            }
            same_instant = if wake <= self.now {
                same_instant + 1
            } else {
                0
            };
            assert!(
                same_instant < 1000,
                "the machine asks to be woken now, forever"
            );
            self.now = self.now.max(wake);
            self.settle().await;
        }
        self.now = until;
        self.settle().await;
    }

    async fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d).await;
    }

    /// Types a message, as `Engine::send` does: on disk first, then to the machine.
    async fn type_message(&mut self, body: &str) -> MessageId {
        let prev = self.store.last_typed(&room()).await.unwrap();
        let mut chat = ChatSend {
            id: MessageId::of_device(self.me.device, self.unix()),
            room: room(),
            body: body.into(),
            sealed: None,
            sent_at: self.unix(),
            prev,
            sig: Signature::from_bytes([0; 64]),
            direct: Vec::new(),
        };
        chat.sig = self.me.key.sign_chat(&chat.signed());
        self.store
            .enqueue(&chat, self.me.device, &self.me.name)
            .await
            .unwrap();
        let id = chat.id;
        self.state.enqueue_chat(self.now, chat);
        self.settle().await;
        id
    }

    async fn frames(&mut self, frames: Vec<ServerFrame>) {
        self.state.relay_frames(self.now, frames);
        self.settle().await;
    }

    async fn peer(&mut self, event: PeerEvent) {
        self.state.peer_event(self.now, event);
        self.settle().await;
    }

    /// Joins the room with these other members, the relay answering with `history`.
    async fn join_with(&mut self, others: &[(DeviceId, &str)], history: Vec<ChatMessage>) {
        self.state.join(self.now, room());
        self.settle().await;
        let join = self.joins.pop().expect("a join went to the relay");
        let mut members = vec![Member {
            device: self.me.device,
            name: self.me.name.clone(),
            key: self.me.key.public(),
        }];
        members.extend(others.iter().map(|(device, n)| member(*device, n)));
        let latest_seq = history.last().map_or(join.since.unwrap_or(0), |m| m.seq);
        let joined = Joined {
            room: room(),
            name: self.me.name.clone(),
            members,
            history,
            latest_seq,
            has_more: false,
            truncated: false,
        };
        self.frames(vec![ServerFrame::Joined(joined)]).await;
    }

    /// Opens a direct link to `peer`, the peer offering.
    async fn link_to(&mut self, peer: DeviceId, session: SessionId) {
        let sdp = "v=0\r\na=fingerprint:sha-256 AB:CD\r\n";
        let offer = PeerSignal::Offer {
            session,
            sdp: sdp.into(),
            sig: key_of(peer).sign_sdp(self.me.device, session, sdp),
        };
        let signal = SignalRelayed {
            room: room(),
            from: peer,
            payload: serde_json::to_value(&offer).unwrap(),
        };
        self.frames(vec![ServerFrame::Signal(signal)]).await;
        assert!(
            self.links
                .iter()
                .any(|a| matches!(a, PeerAction::Answer { peer: p, .. } if *p == peer)),
            "the engine answers the offer"
        );
        self.peer(PeerEvent::Open { peer, session }).await;
    }

    async fn direct(&mut self, peer: DeviceId, session: SessionId, chat: PeerChat) {
        let text = encode(&PeerFrame::Chat(chat));
        self.peer(PeerEvent::Text {
            peer,
            session,
            text,
        })
        .await;
    }

    fn shown(&self) -> Vec<MessageId> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Message { message, .. } => Some(message.id),
                _ => None,
            })
            .collect()
    }

    fn relay_chats(&self) -> Vec<&ChatSend> {
        self.to_relay
            .iter()
            .filter_map(|f| match f {
                ClientFrame::Chat(chat) => Some(chat),
                _ => None,
            })
            .collect()
    }
}

fn online() -> FakeRelay {
    FakeRelay {
        socket_ok: true,
        poll_ok: true,
        answers_pings: true,
        answers_joins: false,
    }
}

/// A message from `sender` as the relay serves it, signed by its key with no `prev`.
fn message(sender: DeviceId, from: &str, seq: Seq, body: &str) -> ChatMessage {
    let key = key_of(sender);
    let mut message = ChatMessage {
        room: room(),
        id: MessageId::of_device(sender, 0),
        seq,
        sender,
        from: name(from),
        body: body.into(),
        sealed: None,
        sent_at: 0,
        stored_at: 0,
        prev: None,
        key: Some(key.public()),
        sig: None,
    };
    message.sig = Some(key.sign_chat(&message.signed()));
    message
}

/// The direct copy of `message`, naming `prev`, signed by its sender.
fn peer_chat(message: &ChatMessage, prev: Option<MessageId>) -> PeerChat {
    let mut chat = PeerChat {
        id: message.id,
        room: message.room.clone(),
        body: message.body.clone(),
        sealed: None,
        sent_at: message.sent_at,
        prev,
        sig: Signature::from_bytes([0; 64]),
    };
    chat.sig = key_of(message.sender).sign_chat(&chat.signed());
    chat
}

// --- Decisions, one by one -----------------------------------------------------------------

#[tokio::test]
async fn a_message_typed_goes_over_open_links_first_and_tells_the_relay_who_has_it() {
    let mut sim = Sim::new(Sim::config(), online());
    let (ann, bob) = (device(), device());
    sim.join_with(&[(ann, "Ann"), (bob, "Bob")], Vec::new())
        .await;
    sim.link_to(ann, SessionId(11)).await;
    sim.link_to(bob, SessionId(12)).await;
    sim.unreachable.insert(bob);
    let id = sim.type_message("meet at the left tower").await;
    let direct: Vec<_> = sim
        .to_peers
        .iter()
        .filter(|(_, f)| matches!(f, PeerFrame::Chat(c) if c.id == id))
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(direct, vec![ann], "sent over the link that took it");
    let chats = sim.relay_chats();
    assert_eq!(chats.len(), 1, "and to the relay, once");
    assert_eq!(
        chats[0].direct,
        vec![ann],
        "naming only who got it directly"
    );
    assert!(
        sim.events
            .iter()
            .any(|(_, e)| matches!(e, Event::Queued { id: q, .. } if *q == id))
    );
}

#[tokio::test]
async fn a_message_for_a_room_not_joined_fails_at_once_and_is_marked_failed() {
    let mut sim = Sim::new(Sim::config(), online());
    let id = sim.type_message("hello?").await;
    assert!(matches!(
        sim.settled.as_slice(),
        [(settled, Err(EngineError::NotJoined(_)))] if *settled == id
    ));
    let stored = sim.store.message(id).await.unwrap().unwrap();
    assert_eq!(stored.state, crate::DeliveryState::Failed);
    assert!(sim.relay_chats().is_empty());
}

#[tokio::test]
async fn what_is_shown_is_written_first_and_an_ack_settles_the_sender_once() {
    let mut sim = Sim::new(Sim::config(), online());
    let ann = device();
    sim.join_with(&[(ann, "Ann")], Vec::new()).await;
    let m = message(ann, "Ann", 1, "hi");
    sim.frames(vec![ServerFrame::Chat(m.clone())]).await;
    assert_eq!(
        sim.steps,
        vec![Step::Recorded(m.id, Some(1)), Step::Shown(m.id)],
        "on disk before the app hears of it"
    );
    let id = sim.type_message("hi Ann").await;
    let ack = ServerFrame::Ack(Ack {
        id,
        room: room(),
        seq: 2,
        duplicate: false,
    });
    sim.frames(vec![ack.clone(), ack]).await;
    let settled: Vec<_> = sim.settled.iter().filter(|(s, _)| *s == id).collect();
    assert!(matches!(settled.as_slice(), [(_, Ok(2))]), "{settled:?}");
    assert_eq!(sim.state.pending(), 0);
    assert_eq!(
        sim.store.message(id).await.unwrap().unwrap().seq,
        Some(2),
        "the ack is recorded"
    );
}

#[tokio::test]
async fn a_direct_message_whose_predecessor_memory_forgot_asks_the_store_not_the_sender() {
    let mut sim = Sim::new(Sim::config(), online());
    let ann = device();
    sim.join_with(&[(ann, "Ann")], Vec::new()).await;
    sim.link_to(ann, SessionId(3)).await;
    // Shown long ago: in the store, no longer among the ids in memory.
    let old = message(ann, "Ann", 1, "old");
    sim.store
        .record_delivered(&[old.clone().into()], sim.me.device, Route::Relay, 100)
        .await
        .unwrap();
    let next = message(ann, "Ann", 0, "next");
    sim.direct(ann, SessionId(3), peer_chat(&next, Some(old.id)))
        .await;
    assert_eq!(sim.shown(), vec![next.id], "shown at once");
    assert!(
        !sim.to_peers
            .iter()
            .any(|(_, f)| matches!(f, PeerFrame::Want { .. })),
        "asking again would show the old one twice"
    );
}

#[tokio::test]
async fn a_strangers_direct_copy_under_someone_elses_id_does_not_take_it() {
    let mut sim = Sim::new(Sim::config(), online());
    let (ann, mallory) = (device(), device());
    sim.join_with(&[(ann, "Ann"), (mallory, "Mallory")], Vec::new())
        .await;
    sim.link_to(ann, SessionId(3)).await;
    sim.link_to(mallory, SessionId(4)).await;
    let anns = message(ann, "Ann", 0, "meet at the left tower");
    // Mallory saw Ann's id (over her own link with Ann) and sends her own words under it
    // first, with her own valid signature.
    let mut stolen = message(mallory, "Mallory", 0, "meet at the right tower");
    stolen.id = anns.id;
    sim.direct(mallory, SessionId(4), peer_chat(&stolen, None))
        .await;
    sim.direct(ann, SessionId(3), peer_chat(&anns, None)).await;
    let shown: Vec<_> = sim
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Message {
                message,
                authenticity,
                ..
            } => Some((message.sender, message.body.as_str(), *authenticity)),
            _ => None,
        })
        .collect();
    assert_eq!(
        shown,
        [
            (mallory, "meet at the right tower", Authenticity::Forged),
            (ann, "meet at the left tower", Authenticity::Verified)
        ]
    );
    let kept = sim.store.message(anns.id).await.unwrap().unwrap();
    assert_eq!(
        (kept.sender, kept.body.as_str(), kept.authenticity),
        (ann, "meet at the left tower", Authenticity::Verified)
    );
}

#[tokio::test]
async fn a_number_whose_direct_copy_never_comes_is_fetched_from_the_relay_after_a_second() {
    let mut sim = Sim::new(Sim::config(), online());
    let ann = device();
    sim.join_with(&[(ann, "Ann")], Vec::new()).await;
    sim.link_to(ann, SessionId(3)).await;
    let notice = Sequenced {
        room: room(),
        id: MessageId::new(),
        seq: 1,
    };
    sim.frames(vec![ServerFrame::Sequenced(notice)]).await;
    sim.run_for(Duration::from_millis(900)).await;
    assert!(sim.joins.is_empty(), "the direct copy may still come");
    sim.run_for(Duration::from_millis(600)).await;
    assert_eq!(
        sim.joins.pop().map(|j| j.since),
        Some(Some(0)),
        "fetched from the relay's history"
    );
}

#[tokio::test]
async fn a_retryable_refusal_waits_then_goes_again_with_the_same_id() {
    let mut sim = Sim::new(Sim::config(), online());
    sim.join_with(&[], Vec::new()).await;
    let id = sim.type_message("busy?").await;
    let refusal = festival_proto::ErrorFrame {
        code: festival_proto::ErrorCode::RateLimited,
        message: "slow down".into(),
        id: Some(id),
        room: Some(room()),
    };
    sim.frames(vec![ServerFrame::Error(refusal)]).await;
    sim.run_for(Duration::from_millis(900)).await;
    assert_eq!(sim.relay_chats().len(), 1);
    sim.run_for(Duration::from_millis(200)).await;
    let ids: Vec<_> = sim.relay_chats().iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![id, id], "resent after a second, same id");
}
