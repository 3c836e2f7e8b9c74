//! [`EngineState`] without sockets: its decisions one by one, a property test of the two
//! routes (relay and direct) racing each other, and a day of engine time on a hand-moved
//! clock. A small simulator plays the driver: it carries out store operations on the real
//! [`MemoryStore`] and records everything else; a fake relay answers joins and pings.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use festival_proto::{
    Ack, ChatMessage, ChatSend, ClientFrame, DeviceId, DisplayName, Join, Joined, Limits, Member,
    MessageId, PeerChat, PeerFrame, PeerId, PeerSignal, Pong, RoomName, Seq, Sequenced,
    ServerFrame, SignalRelayed, Welcome, encode,
};
use proptest::prelude::*;

use super::{EngineState, Output, PeerAction, Resume, StateConfig, StoreAnswer, StoreOp};
use crate::engine::EngineConfig;
use crate::engine::relay_policy::RelayRoute;
use crate::store::{EngineStore, Identity, MemoryStore};
use crate::transport::webrtc::PeerEvent;
use crate::{EngineError, Event, Route};

const DAY: Duration = Duration::from_secs(24 * 3600);

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
    Recorded(MessageId, Seq),
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
        let me = Identity {
            device: DeviceId::random(),
            name: name("Me"),
        };
        Self::with_identity(me, config, relay)
    }

    fn with_identity(me: Identity, config: StateConfig, relay: FakeRelay) -> Self {
        let now = t0();
        let resume = Resume {
            rooms: BTreeMap::new(),
            queued: Vec::new(),
            recent: Vec::new(),
            unsequenced: Vec::new(),
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
        let chat = ChatSend {
            id: MessageId::new(),
            room: room(),
            body: body.into(),
            sent_at: self.unix(),
            direct: Vec::new(),
        };
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
        }];
        members.extend(others.iter().map(|(device, n)| Member {
            device: *device,
            name: name(n),
        }));
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
    async fn link_to(&mut self, peer: DeviceId, session: u64) {
        let offer = PeerSignal::Offer {
            session,
            sdp: "v=0".into(),
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

    async fn direct(&mut self, peer: DeviceId, session: u64, chat: PeerChat) {
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

fn message(sender: DeviceId, from: &str, seq: Seq, body: &str) -> ChatMessage {
    ChatMessage {
        room: room(),
        id: MessageId::new(),
        seq,
        sender,
        from: name(from),
        body: body.into(),
        sent_at: 0,
        stored_at: 0,
    }
}

fn peer_chat(message: &ChatMessage, prev: Option<MessageId>) -> PeerChat {
    PeerChat {
        id: message.id,
        room: message.room.clone(),
        body: message.body.clone(),
        sent_at: message.sent_at,
        prev,
    }
}

// --- Decisions, one by one -----------------------------------------------------------------

#[tokio::test]
async fn a_message_typed_goes_over_open_links_first_and_tells_the_relay_who_has_it() {
    let mut sim = Sim::new(Sim::config(), online());
    let (ann, bob) = (DeviceId::random(), DeviceId::random());
    sim.join_with(&[(ann, "Ann"), (bob, "Bob")], Vec::new())
        .await;
    sim.link_to(ann, 11).await;
    sim.link_to(bob, 12).await;
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
    let ann = DeviceId::random();
    sim.join_with(&[(ann, "Ann")], Vec::new()).await;
    let m = message(ann, "Ann", 1, "hi");
    sim.frames(vec![ServerFrame::Chat(m.clone())]).await;
    assert_eq!(
        sim.steps,
        vec![Step::Recorded(m.id, 1), Step::Shown(m.id)],
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
    let ann = DeviceId::random();
    sim.join_with(&[(ann, "Ann")], Vec::new()).await;
    sim.link_to(ann, 3).await;
    // Shown long ago: in the store, no longer among the ids in memory.
    let old = message(ann, "Ann", 1, "old");
    sim.store
        .record_delivered(std::slice::from_ref(&old), sim.me.device, Route::Relay, 100)
        .await
        .unwrap();
    let next = message(ann, "Ann", 0, "next");
    sim.direct(ann, 3, peer_chat(&next, Some(old.id))).await;
    assert_eq!(sim.shown(), vec![next.id], "shown at once");
    assert!(
        !sim.to_peers
            .iter()
            .any(|(_, f)| matches!(f, PeerFrame::Want { .. })),
        "asking again would show the old one twice"
    );
}

#[tokio::test]
async fn a_number_whose_direct_copy_never_comes_is_fetched_from_the_relay_after_a_second() {
    let mut sim = Sim::new(Sim::config(), online());
    let ann = DeviceId::random();
    sim.join_with(&[(ann, "Ann")], Vec::new()).await;
    sim.link_to(ann, 3).await;
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

// --- The two routes racing -------------------------------------------------------------------

/// How one message reaches this device.
#[derive(Debug, Clone)]
struct Plan {
    /// Its sender: 0 or 1.
    sender: usize,
    /// The sender reached this device directly, so the relay sends only its number.
    direct: bool,
    /// ...but the direct copy was lost on the way.
    lost: bool,
}

/// One input: the relay's live copy (or notice) of message `k`, or its direct copy.
#[derive(Debug, Clone, Copy)]
enum Input {
    Relay(usize),
    Direct(usize),
}

fn race() -> impl Strategy<Value = (Vec<Plan>, Vec<Input>)> {
    let plans = prop::collection::vec(
        (0..2usize, any::<bool>(), prop::bool::weighted(0.2)).prop_map(|(sender, direct, lost)| {
            Plan {
                sender,
                direct,
                lost: direct && lost,
            }
        }),
        1..10,
    );
    plans.prop_flat_map(|plans| {
        let mut inputs: Vec<Input> = Vec::new();
        for (k, plan) in plans.iter().enumerate() {
            inputs.push(Input::Relay(k));
            if plan.direct && !plan.lost {
                inputs.push(Input::Direct(k));
            }
        }
        let n = inputs.len();
        let dups = prop::collection::vec(0..n, 0..n);
        (Just(plans), Just(inputs).prop_shuffle(), dups).prop_map(|(plans, mut inputs, dups)| {
            for i in dups {
                let dup = inputs[i];
                inputs.insert(i, dup);
            }
            (plans, inputs)
        })
    })
}

/// Feeds `inputs` to a member linked to both senders, answering joins from the relay's log
/// (what it stored so far: numbers are given in order) and `want`s as the sender would.
async fn run_race(plans: &[Plan], inputs: &[Input]) -> Sim {
    let mut sim = Sim::new(Sim::config(), online());
    let senders = [DeviceId::random(), DeviceId::random()];
    let names = ["Ann", "Bob"];
    sim.join_with(
        &[(senders[0], names[0]), (senders[1], names[1])],
        Vec::new(),
    )
    .await;
    sim.link_to(senders[0], 1).await;
    sim.link_to(senders[1], 2).await;
    let log: Vec<ChatMessage> = plans
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let seq = Seq::try_from(k + 1).unwrap();
            message(senders[p.sender], names[p.sender], seq, &format!("m{k}"))
        })
        .collect();
    let prev = |k: usize| {
        (0..k)
            .rev()
            .find(|j| plans[*j].sender == plans[k].sender)
            .map(|j| log[j].id)
    };
    let session = |k: usize| if plans[k].sender == 0 { 1 } else { 2 };
    let mut stored = 0usize;
    let mut answered_wants = 0usize;
    for input in inputs {
        match *input {
            Input::Relay(k) => {
                stored = stored.max(k + 1);
                let frame = if plans[k].direct {
                    ServerFrame::Sequenced(Sequenced {
                        room: room(),
                        id: log[k].id,
                        seq: log[k].seq,
                    })
                } else {
                    ServerFrame::Chat(log[k].clone())
                };
                sim.frames(vec![frame]).await;
            }
            Input::Direct(k) => {
                let chat = peer_chat(&log[k], prev(k));
                sim.direct(senders[plans[k].sender], session(k), chat).await;
            }
        }
        // The relay answers joins from what it stored; the senders answer wants.
        loop {
            if let Some(join) = sim.joins.pop() {
                let since = join.since.unwrap_or(0);
                let history: Vec<_> = log[..stored]
                    .iter()
                    .filter(|m| m.seq > since)
                    .cloned()
                    .collect();
                let joined = Joined {
                    room: room(),
                    name: sim.me.name.clone(),
                    members: Vec::new(),
                    history,
                    latest_seq: Seq::try_from(stored).unwrap(),
                    has_more: false,
                    truncated: false,
                };
                sim.frames(vec![ServerFrame::Joined(joined)]).await;
                continue;
            }
            let wants: Vec<_> = sim.to_peers[answered_wants..]
                .iter()
                .filter_map(|(peer, f)| match f {
                    PeerFrame::Want { id, .. } => Some((*peer, *id)),
                    _ => None,
                })
                .collect();
            answered_wants = sim.to_peers.len();
            if wants.is_empty() {
                break;
            }
            for (peer, id) in wants {
                if let Some(k) = log.iter().position(|m| m.id == id) {
                    let chat = peer_chat(&log[k], prev(k));
                    sim.direct(peer, session(k), chat).await;
                }
            }
        }
    }
    // Whatever waits for a direct copy gives up and is fetched.
    sim.run_for(Duration::from_secs(3)).await;
    while let Some(join) = sim.joins.pop() {
        let since = join.since.unwrap_or(0);
        let joined = Joined {
            room: room(),
            name: sim.me.name.clone(),
            members: Vec::new(),
            history: log.iter().filter(|m| m.seq > since).cloned().collect(),
            latest_seq: Seq::try_from(log.len()).unwrap(),
            has_more: false,
            truncated: false,
        };
        sim.frames(vec![ServerFrame::Joined(joined)]).await;
    }
    let expected: Vec<(MessageId, DeviceId)> = log.iter().map(|m| (m.id, m.sender)).collect();
    check_race(&sim, &expected);
    sim
}

/// Each message shown once; each sender's in the order typed; the room's numbers recorded
/// once each, in order.
fn check_race(sim: &Sim, expected: &[(MessageId, DeviceId)]) {
    let shown = sim.shown();
    let unique: HashSet<_> = shown.iter().collect();
    assert_eq!(
        unique.len(),
        shown.len(),
        "a message shown twice: {shown:?}"
    );
    assert_eq!(shown.len(), expected.len(), "a message never shown");
    let position: HashMap<MessageId, usize> =
        shown.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    for sender in expected.iter().map(|(_, s)| *s).collect::<HashSet<_>>() {
        let typed: Vec<usize> = expected
            .iter()
            .filter(|(_, s)| *s == sender)
            .map(|(id, _)| position[id])
            .collect();
        assert!(
            typed.windows(2).all(|w| w[0] < w[1]),
            "a sender's messages out of order"
        );
    }
    let numbered: Vec<Seq> = sim
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Recorded(_, seq) if *seq > 0 => Some(*seq),
            _ => None,
        })
        .collect();
    let all: Vec<Seq> = (1..=Seq::try_from(expected.len()).unwrap()).collect();
    assert_eq!(numbered, all, "the room's order, each number once");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_order_and_duplication_of_relay_and_direct_copies_shows_each_message_once_in_order(
        (plans, inputs) in race()
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(run_race(&plans, &inputs));
    }
}

#[tokio::test]
async fn the_race_with_every_copy_twice_and_the_relay_last() {
    let plans: Vec<Plan> = (0..6)
        .map(|k| Plan {
            sender: k % 2,
            direct: k != 3,
            lost: k == 4,
        })
        .collect();
    let mut inputs = Vec::new();
    for k in (0..6).rev() {
        if plans[k].direct && !plans[k].lost {
            inputs.push(Input::Direct(k));
            inputs.push(Input::Direct(k));
        }
    }
    inputs.extend((0..6).map(Input::Relay));
    inputs.extend((0..6).map(Input::Relay));
    run_race(&plans, &inputs).await;
}

// --- A day of engine time ------------------------------------------------------------------

#[tokio::test]
async fn a_day_of_engine_time_breakers_backoff_keepalive_holdback_and_expiry() {
    // This device has the lower id, so it offers to Ann.
    let (a, b) = (DeviceId::random(), DeviceId::random());
    let (mine, ann) = if a < b { (a, b) } else { (b, a) };
    let me = Identity {
        device: mine,
        name: name("Me"),
    };
    let relay = FakeRelay {
        socket_ok: false,
        poll_ok: true,
        answers_pings: true,
        answers_joins: true,
    };
    let mut sim = Sim::with_identity(me, Sim::config(), relay);
    let start = sim.now;

    // The WebSocket fails three times (with backoff between), then the long-poll serves.
    sim.run_for(Duration::from_secs(5)).await;
    let routes: Vec<_> = sim.dials.iter().map(|(_, r)| *r).collect();
    assert_eq!(
        routes,
        [
            RelayRoute::Socket,
            RelayRoute::Socket,
            RelayRoute::Socket,
            RelayRoute::Poll
        ]
    );
    assert_eq!(sim.state.stats().fallbacks, 1);
    // The WebSocket is tried again every 30 s while polling; it comes back at 60 s.
    sim.relay.socket_ok = true;
    let polled_at = sim.dials[3].0;
    sim.run_until(polled_at + Duration::from_secs(29)).await;
    assert_eq!(sim.state.relay_route, Some(Route::Poll));
    sim.run_until(polled_at + Duration::from_secs(31)).await;
    assert_eq!(sim.state.relay_route, Some(Route::Relay));

    // Ann is in the room: this device offers; the attempt times out, and is tried again
    // after a cooldown that backs off up to 30 s.
    sim.state.join(sim.now, room());
    sim.settle().await;
    let presence = festival_proto::Presence {
        room: room(),
        change: festival_proto::PresenceChange::Joined,
        member: Member {
            device: ann,
            name: name("Ann"),
        },
        online: 2,
    };
    sim.frames(vec![ServerFrame::Presence(presence)]).await;
    sim.run_for(Duration::from_secs(300)).await;
    let offers: Vec<Instant> = sim
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Peer { open: false, .. }))
        .map(|(at, _)| *at)
        .collect();
    assert!(offers.len() >= 4, "attempts time out and are retried");
    let gaps: Vec<Duration> = offers.windows(2).map(|w| w[1] - w[0]).collect();
    // Each gap is the attempt's 10 s plus its cooldown (5 s, doubling to 30 s), rounded up
    // to the next discovery round (every 2 s) and tick.
    let timeout = Sim::config().p2p.links.connect_timeout;
    let slack = crate::router::cooldown::DISCOVERY_EVERY + Duration::from_millis(500);
    let cap = crate::router::cooldown::MAX_BACKOFF + timeout;
    assert!(gaps[0] < cap, "the first retry is quick: {gaps:?}");
    assert!(gaps.iter().all(|g| *g <= cap + slack), "capped: {gaps:?}");
    assert!(
        *gaps.last().unwrap() >= cap,
        "backed off to the cap: {gaps:?}"
    );

    // A link opens (Ann offers now); a direct message whose predecessor never comes waits a
    // second, then shows.
    sim.link_to(ann, 99).await;
    let lost = MessageId::new();
    let held = message(ann, "Ann", 0, "after the lost one");
    sim.direct(ann, 99, peer_chat(&held, Some(lost))).await;
    assert!(
        sim.to_peers
            .iter()
            .any(|(_, f)| matches!(f, PeerFrame::Want { id, .. } if *id == lost)),
        "the sender is asked for the missing one"
    );
    sim.run_for(Duration::from_millis(900)).await;
    assert!(!sim.shown().contains(&held.id), "held back");
    sim.run_for(Duration::from_millis(700)).await;
    assert!(sim.shown().contains(&held.id), "shown after a second");

    // A message typed now; the relay falls silent: 45 s later the link is given up.
    let typed_at = sim.now;
    let typed = sim.type_message("anyone?").await;
    sim.frames(Vec::new()).await; // The relay's last word.
    sim.relay.answers_pings = false;
    sim.relay.socket_ok = false;
    sim.relay.poll_ok = false;
    let silent_from = sim.now;
    let before = sim.dials.len();
    sim.run_for(Duration::from_secs(44)).await;
    assert_eq!(sim.state.relay_route, Some(Route::Relay), "not yet");
    sim.run_for(Duration::from_secs(2)).await;
    assert_eq!(
        sim.state.relay_route, None,
        "given up after 45 s of silence"
    );
    let disconnected = sim
        .events
        .iter()
        .find(|(at, e)| *at > silent_from && matches!(e, Event::Disconnected { .. }));
    assert!(disconnected.is_some());

    // The rest of the day offline: dials back off to at most 30 s apart; the message waits.
    sim.run_until(start + DAY - Duration::from_secs(60)).await;
    assert!(
        !sim.settled.iter().any(|(id, _)| *id == typed),
        "still waiting"
    );
    let dials: Vec<Instant> = sim.dials[before..].iter().map(|(at, _)| *at).collect();
    assert!(dials.len() > 2000, "it kept trying: {}", dials.len());
    let longest = dials.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(longest <= Duration::from_secs(30), "{longest:?}");
    // A day after it was typed (at the next sweep, once a minute) it is failed, not dropped.
    let expiry = typed_at + DAY;
    sim.run_until(expiry + Duration::from_secs(61)).await;
    assert!(matches!(
        sim.settled.iter().find(|(id, _)| *id == typed),
        Some((_, Err(EngineError::Failed(_))))
    ));
    assert!(
        sim.events
            .iter()
            .any(|(at, e)| matches!(e, Event::Failed { id, .. } if *id == typed) && *at >= expiry)
    );
    let stored = sim.store.message(typed).await.unwrap().unwrap();
    assert_eq!(stored.state, crate::DeliveryState::Failed);
}
