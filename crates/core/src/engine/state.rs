//! The engine's decisions as one sans-I/O state machine.
//!
//! [`EngineState`] owns everything the engine knows: rooms and their members, sync, the
//! outbox and its pacing, the relay route's fallback and keepalive, direct links and what
//! came over them (dedup, holdback, `want`), pings, stats and expiry. Every input is a method
//! that takes `now`; every consequence is queued as an [`Output`] that the driver drains
//! with [`EngineState::poll_output`] and carries out in order (so a store write queued before
//! an event is on disk before the app hears of it). Reads the decisions need from the store
//! are outputs too ([`StoreOp::Cursor`], [`StoreOp::PrevShown`], [`StoreOp::OwnMessage`],
//! [`StoreOp::ExpireQueued`]); the driver feeds the answer back with
//! [`EngineState::store_answer`], and the machine queues nothing after such a read within
//! one input, so that the answer's consequences follow it directly. No tokio, sqlx or webrtc
//! type is used here: tests drive it with a hand-moved clock.

mod direct;
mod power;
mod relay;
mod report;
#[cfg(test)]
mod tests;
mod trust;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use festival_proto::{
    ChatSend, ClientFrame, DeviceId, DisplayName, IceServer, Join, Leave, Limits, Member,
    MessageId, PeerChat, PeerFrame, RoomName, Seq, SessionId, TokenBucket,
};

use self::direct::Direct;
use super::mesh_report;
use super::relay_policy::{RelayPolicy, RelayRoute};
use super::{EngineConfig, P2pConfig};
use crate::outbox::Outbox;
use crate::privacy::Keyring;
use crate::router::PreferredRoute;
use crate::stats::{Breakers, Diagnostics, RoomDiagnostics, Stats};
use crate::store::Identity;
use crate::sync::RoomSync;
use crate::transport::TransportError;
use crate::transport::backoff::Backoff;
use crate::trust::{KnownKey, KnownKeys};
use crate::{Delivered, EngineError, Event, Route};

/// Message ids remembered to drop a second copy that came by another route.
pub(super) const SEEN_KEPT: usize = 65_536;
/// Messages received directly and not yet numbered by the relay, kept to match its notices.
pub(super) const UNSEQUENCED_KEPT: usize = 4096;

/// The engine's timings: one place for the knobs a battery or network policy turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timings {
    /// How long a message the relay could not take right now waits before it is sent again.
    pub(crate) retry_after: Duration,
    /// How often expired outbox messages are marked failed and old history is pruned.
    pub(crate) maintain_every: Duration,
    /// How often direct-link bookkeeping (attempts, timeouts, pings) runs.
    pub(crate) p2p_tick: Duration,
    /// How often an open direct link is pinged to time it.
    pub(crate) peer_ping_every: Duration,
    /// How long a message the relay numbered waits for its direct copy before it is fetched
    /// from the relay instead (the two race; on a busy device the relay may win).
    pub(crate) direct_grace: Duration,
    /// How long a direct message waits for its sender's previous one.
    pub(crate) hold_grace: Duration,
    /// How often the relay's WebSocket is pinged; three intervals of silence give it up.
    pub(crate) relay_ping_every: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            retry_after: Duration::from_secs(1),
            maintain_every: Duration::from_secs(60),
            p2p_tick: Duration::from_millis(500),
            peer_ping_every: Duration::from_secs(5),
            direct_grace: Duration::from_secs(1),
            hold_grace: crate::holdback::HOLD_GRACE,
            relay_ping_every: super::relay_policy::PING_EVERY,
        }
    }
}

/// What the machine reads to decide: retention, the relay's fallback, direct links, timings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StateConfig {
    /// Delivered messages kept per room in the local history.
    pub(crate) history_max_messages: usize,
    /// How long delivered messages are kept.
    pub(crate) history_max_age: Duration,
    /// How long a message may wait in the outbox before it is marked failed.
    pub(crate) outbox_max_age: Duration,
    /// While on long-poll, how often a WebSocket is tried again.
    pub(crate) socket_retry: Duration,
    /// Direct links: when, how many, how often.
    pub(crate) p2p: P2pConfig,
    /// Everything timed.
    pub(crate) timings: Timings,
    /// At most one mesh report per this long (`None`: the user turned reporting off).
    pub(crate) mesh_report: Option<Duration>,
}

impl From<&EngineConfig> for StateConfig {
    fn from(config: &EngineConfig) -> Self {
        Self {
            history_max_messages: config.history_max_messages.max(1),
            history_max_age: config.history_max_age,
            outbox_max_age: config.outbox_max_age,
            socket_retry: config
                .socket_retry_while_polling
                .max(Duration::from_millis(100)),
            p2p: config.p2p,
            timings: Timings::default(),
            mesh_report: config.mesh_report,
        }
    }
}

/// Something the driver must do, in the order the machine queued it.
#[derive(Debug)]
pub(crate) enum Output {
    /// Send this frame on the relay link (queued only while a link is up).
    Relay(ClientFrame),
    /// Send this frame on the direct link to `peer`. For a new message (`chat`), report a
    /// successful send with [`EngineState::direct_sent`] so that the relay is told who has it.
    Peer {
        peer: DeviceId,
        session: SessionId,
        frame: PeerFrame,
        chat: Option<MessageId>,
    },
    /// Act on a peer connection.
    Link(PeerAction),
    /// Write to (or read from) the store.
    Store(StoreOp),
    /// Tell the app.
    Event(Event),
    /// The caller of `send` for this message gets its outcome.
    Settled {
        id: MessageId,
        result: Result<Seq, EngineError>,
    },
    /// Open this relay route and report with [`EngineState::dialed`] or
    /// [`EngineState::dial_failed`].
    Dial(RelayRoute),
    /// On long-poll: try to open a WebSocket; if it opens, close the long-poll and report
    /// with [`EngineState::socket_reopened`] (a failure needs no report).
    TrySocket,
    /// Drop the relay link (politely with `close`); the machine already counts it as down.
    DropRelay { close: bool },
}

/// What to do to a peer connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PeerAction {
    /// Open a connection and send an offer for this session.
    Offer { peer: DeviceId, session: SessionId },
    /// Open a connection from the peer's offer and send the answer.
    Answer {
        peer: DeviceId,
        session: SessionId,
        sdp: String,
    },
    /// Take the peer's answer to our offer.
    Accept {
        peer: DeviceId,
        session: SessionId,
        sdp: String,
    },
    /// Close the connection of this session.
    Close { peer: DeviceId, session: SessionId },
    /// The relay handed out these ICE servers.
    IceServers(Vec<IceServer>),
}

/// A store write, or a read whose answer comes back through [`EngineState::store_answer`].
#[derive(Debug)]
pub(crate) enum StoreOp {
    /// Saves a setting (the keyring, after an owner's rekey gave this device a new key).
    SaveSetting { key: &'static str, value: String },
    /// Own messages the relay acked, with their numbers.
    MarkSent(Vec<(MessageId, Seq)>),
    /// Messages shown (and the room cursors they move), in one transaction.
    RecordDelivered {
        messages: Vec<Delivered>,
        me: DeviceId,
        route: Route,
        keep: usize,
    },
    /// A message that will not be delivered.
    MarkFailed { id: MessageId, reason: String },
    /// Marks queued messages older than `cutoff` (Unix ms) failed; answer
    /// [`StoreAnswer::Expired`].
    ExpireQueued { cutoff: i64, reason: String },
    /// Drops history older than `cutoff` (Unix ms).
    Prune { cutoff: i64 },
    /// The room's cursor; answer [`StoreAnswer::Cursor`].
    Cursor(RoomName),
    /// Whether `prev` is in the store; answer [`StoreAnswer::PrevShown`] with `peer` and
    /// `chat`.
    PrevShown {
        prev: MessageId,
        peer: DeviceId,
        chat: PeerChat,
    },
    /// One of this device's messages, to answer `peer`'s `want`; answer
    /// [`StoreAnswer::OwnMessage`].
    OwnMessage {
        peer: DeviceId,
        room: RoomName,
        id: MessageId,
    },
    /// The key to remember for a name (first talked with, or verified).
    RememberKey(KnownKey),
}

/// The answer to a store read. A read that failed is answered with what is safe: no cursor,
/// an unknown predecessor (`None`), no message.
#[derive(Debug)]
pub(crate) enum StoreAnswer {
    /// The messages [`StoreOp::ExpireQueued`] marked failed.
    Expired(Vec<(MessageId, RoomName)>),
    /// The room's cursor.
    Cursor(RoomName, Option<Seq>),
    /// Whether the predecessor of `chat` is in the store (`None`: the read failed).
    PrevShown {
        peer: DeviceId,
        chat: PeerChat,
        known: Option<bool>,
    },
    /// The message `peer` asked for, if it is kept here.
    OwnMessage {
        peer: DeviceId,
        chat: Option<PeerChat>,
    },
}

/// One joined room.
struct RoomState {
    sync: RoomSync,
    /// The members as the relay last reported them.
    members: BTreeMap<DeviceId, Member>,
    /// Everyone seen in the room while this device was in it, with their names: a direct
    /// link outlives the relay's view (a relay going down reports everyone leaving), and a
    /// message over it is accepted from, and sent to, these.
    known: BTreeMap<DeviceId, DisplayName>,
}

impl RoomState {
    fn resume(sync: RoomSync) -> Self {
        Self {
            sync,
            members: BTreeMap::new(),
            known: BTreeMap::new(),
        }
    }
}

/// Where the relay link stands beyond the route it is on.
#[derive(Debug, Default)]
struct Dialing {
    /// Offline: when to dial again.
    redial_at: Option<Instant>,
    /// A [`Output::Dial`] is out and not reported yet.
    dialing: bool,
    /// Why the WebSocket failed, while the long-poll is tried after it.
    socket_error: Option<TransportError>,
    /// Serving: when the relay must be pinged or given up.
    keepalive_at: Option<Instant>,
    /// On long-poll: when to try the WebSocket again.
    socket_retry_at: Option<Instant>,
}

/// The engine's state and every decision about it. See the module's documentation.
pub(crate) struct EngineState {
    url: String,
    identity: Identity,
    /// The private rooms' keys: what arrives sealed is opened with them.
    keyring: Keyring,
    config: StateConfig,
    rooms: BTreeMap<RoomName, RoomState>,
    outbox: Outbox,
    backoff: Backoff,
    jitter: Jitter,
    bucket: TokenBucket,
    stats: Stats,
    links_opened: u64,
    /// The relay link's route while it is up.
    relay_route: Option<Route>,
    /// Which relay route to open, and the liveness of the one that is up.
    relay: RelayPolicy,
    dialing: Dialing,
    /// When the outbox wants to send next (while the relay is up).
    flush_at: Option<Instant>,
    next_maintain: Instant,
    next_p2p_tick: Instant,
    /// Direct links and what came over them.
    p2p: Direct,
    /// When the mesh report goes to the relay.
    reporter: mesh_report::Pacer,
    /// The key remembered per name, and the changes reported.
    trust: KnownKeys,
    limits: Limits,
    out: VecDeque<Output>,
}

/// What the machine starts from: the store's view at start-up.
pub(crate) struct Resume {
    /// Rooms to rejoin, from their cursors.
    pub(crate) rooms: BTreeMap<RoomName, RoomSync>,
    /// Messages still queued, in the order typed.
    pub(crate) queued: Vec<ChatSend>,
    /// Ids shown recently (dropped if they come again).
    pub(crate) recent: Vec<MessageId>,
    /// Messages shown from a direct link and not numbered yet.
    pub(crate) unsequenced: Vec<Delivered>,
    /// The key remembered per name.
    pub(crate) known_keys: Vec<KnownKey>,
    /// The private rooms' keys, shared with the handle that seals what is typed.
    pub(crate) keyring: Keyring,
}

impl EngineState {
    /// A machine that takes up `resume` and dials the relay at its first timeout.
    pub(crate) fn new(
        url: String,
        identity: Identity,
        config: StateConfig,
        resume: Resume,
        seed: u64,
        now: Instant,
    ) -> Self {
        let p2p = Direct::new(identity.device, &config, resume.recent, resume.unsequenced);
        let mut outbox = Outbox::default();
        for chat in resume.queued {
            outbox.push(chat);
        }
        let limits = Limits::default();
        let timings = config.timings;
        Self {
            url,
            identity,
            keyring: resume.keyring,
            rooms: resume
                .rooms
                .into_iter()
                .map(|(room, sync)| (room, RoomState::resume(sync)))
                .collect(),
            outbox,
            backoff: Backoff::default(),
            jitter: Jitter(seed | 1),
            bucket: TokenBucket::new(limits.rate_per_sec, limits.rate_burst, now),
            stats: Stats::default(),
            links_opened: 0,
            relay_route: None,
            relay: RelayPolicy::new(timings.relay_ping_every),
            dialing: Dialing {
                redial_at: Some(now),
                ..Dialing::default()
            },
            flush_at: None,
            next_maintain: now,
            next_p2p_tick: now,
            p2p,
            reporter: mesh_report::Pacer::new(config.mesh_report),
            trust: KnownKeys::new(resume.known_keys),
            limits,
            out: VecDeque::new(),
            config,
        }
    }

    /// The next thing for the driver to do.
    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Whether outputs wait to be drained.
    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// When [`EngineState::handle_timeout`] must run next at the latest.
    pub(crate) fn poll_timeout(&self) -> Instant {
        let d = &self.dialing;
        let redial = d
            .redial_at
            .filter(|_| !d.dialing && self.relay_route.is_none());
        [
            Some(self.next_maintain),
            Some(self.next_p2p_tick),
            self.flush_at,
            d.keepalive_at,
            d.socket_retry_at,
            redial,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(self.next_p2p_tick)
    }

    /// Does whatever is due at `now` (`unix_ms` is the wall clock, for the store's ages):
    /// shows released direct messages, expires the outbox, direct-link bookkeeping, sends
    /// what the outbox and the rate budget allow, pings the relay, tries the WebSocket again,
    /// dials. The driver calls it after every input and when [`EngineState::poll_timeout`]
    /// passes; it does nothing when nothing is due.
    pub(crate) fn handle_timeout(&mut self, now: Instant, unix_ms: i64) {
        if self.p2p.holdback.has_released() {
            self.show_released(now);
        }
        if now >= self.next_maintain {
            self.next_maintain = now + self.config.timings.maintain_every;
            self.maintain(unix_ms);
            // The expiry is a read: nothing more before its answer.
            return;
        }
        if now >= self.next_p2p_tick {
            self.next_p2p_tick = now + self.config.timings.p2p_tick;
            self.p2p_tick(now);
        }
        if self.relay_route.is_some() {
            self.flush(now);
            self.keepalive(now);
            self.report_mesh(now);
        }
        if self.relay_route == Some(Route::Poll)
            && self.dialing.socket_retry_at.is_some_and(|at| now >= at)
        {
            self.dialing.socket_retry_at = Some(now + self.config.socket_retry);
            self.out.push_back(Output::TrySocket);
        }
        let d = &mut self.dialing;
        if self.relay_route.is_none() && !d.dialing && d.redial_at.is_some_and(|at| now >= at) {
            d.dialing = true;
            d.redial_at = None;
            let route = self.relay.route_to_try(now);
            self.out.push_back(Output::Dial(route));
        }
    }

    // --- Commands from the app -------------------------------------------------------------

    /// Joins `room` (again, if joined: the relay answers with what followed the cursor).
    pub(crate) fn join(&mut self, now: Instant, room: RoomName) {
        if self.rooms.contains_key(&room) {
            self.join_known(now, room);
        } else {
            self.out.push_back(Output::Store(StoreOp::Cursor(room)));
        }
    }

    fn join_known(&mut self, now: Instant, room: RoomName) {
        if self.relay_route.is_none() {
            return;
        }
        let Some(state) = self.rooms.get_mut(&room) else {
            return;
        };
        state.sync.on_join_sent();
        let since = state.sync.since();
        self.send_relay(now, ClientFrame::Join(Join { room, since }));
    }

    /// Leaves `room`.
    pub(crate) fn leave(&mut self, now: Instant, room: RoomName) {
        self.p2p.upgraded.remove(&room);
        if self.rooms.remove(&room).is_some() {
            self.send_relay(now, ClientFrame::Leave(Leave { room }));
            self.reconcile(now);
        }
    }

    /// A message typed here, already on disk as queued: where every new chat enters the
    /// engine. It goes over open direct links at once and joins the outbox for the relay.
    pub(crate) fn enqueue_chat(&mut self, now: Instant, chat: ChatSend) {
        if !self.rooms.contains_key(&chat.room) {
            self.out.push_back(Output::Store(StoreOp::MarkFailed {
                id: chat.id,
                reason: "the room was not joined".to_owned(),
            }));
            self.out.push_back(Output::Settled {
                id: chat.id,
                result: Err(EngineError::NotJoined(chat.room.to_string())),
            });
            return;
        }
        // Signed with its `prev` when it was typed (`Engine::send`): every copy carries that.
        self.send_direct(now, &chat);
        self.emit(Event::Queued {
            id: chat.id,
            room: chat.room.clone(),
        });
        self.outbox.push(chat);
    }

    /// The user's route override.
    pub(crate) fn prefer(&mut self, now: Instant, preferred: PreferredRoute) {
        self.config.p2p.preferred = preferred;
        if preferred == PreferredRoute::Relay {
            let closing = self.p2p.links.close_all();
            self.act(now, closing);
        }
        self.reconcile(now);
        self.update_route(now);
    }

    /// Links to every member of `room`, whatever its size.
    pub(crate) fn upgrade(&mut self, now: Instant, room: RoomName) {
        if self.rooms.contains_key(&room) {
            self.p2p.upgraded.insert(room);
            self.p2p.links.reset_discovery();
            self.reconcile(now);
        }
    }

    /// Closes every breaker and ends every cooldown.
    pub(crate) fn reset_breakers(&mut self, now: Instant) {
        self.relay.reset();
        self.p2p.links.reset();
        self.reconcile(now);
    }

    /// Drops the relay link and connects again at once.
    pub(crate) fn reconnect(&mut self, now: Instant) {
        if self.relay_route.is_some() {
            self.out.push_back(Output::DropRelay { close: true });
            self.link_down(now);
            self.backoff.reset();
            self.offline(now, &TransportError::ReconnectAsked);
        } else if !self.dialing.dialing {
            self.dialing.redial_at = Some(now);
        }
    }

    // --- Queries -----------------------------------------------------------------------------

    /// The members of `room` as the relay last reported them.
    pub(crate) fn members(&self, room: &RoomName) -> Vec<Member> {
        self.rooms
            .get(room)
            .map(|state| state.members.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Messages typed here waiting for the relay's ack.
    pub(crate) fn pending(&self) -> usize {
        self.outbox.len()
    }

    /// The counters.
    pub(crate) fn stats(&self) -> Stats {
        Stats {
            queued: self.outbox.len(),
            p2p: self.p2p.links.counters(),
            p2p_links: self.p2p.open_links(),
            p2p_rtt_ms: self.p2p.median_rtt(),
            ..self.stats.clone()
        }
    }

    /// A snapshot of everything, for the debug panel.
    pub(crate) fn diagnostics(&self, now: Instant) -> Diagnostics {
        let rooms = self
            .rooms
            .iter()
            .map(|(room, state)| RoomDiagnostics {
                room: room.clone(),
                cursor: state.sync.since(),
                members: state.members.values().cloned().collect(),
            })
            .collect();
        let stats = self.stats();
        Diagnostics {
            relay_url: self.url.clone(),
            device: self.identity.device,
            name: self.identity.name.clone(),
            rooms,
            routes: stats.routes(self.relay_route),
            stats,
            preferred: self.config.p2p.preferred,
            network: self.config.p2p.network,
            breakers: Breakers {
                relay: self.relay.breaker(now),
                p2p: self.p2p.links.breaker(now),
            },
            peers: self.peer_diagnostics(now),
        }
    }

    // --- Store answers -------------------------------------------------------------------------

    /// The answer to a store read the machine asked for.
    pub(crate) fn store_answer(&mut self, now: Instant, answer: StoreAnswer) {
        match answer {
            StoreAnswer::Expired(expired) => {
                let reason = self.expiry_reason();
                for (id, room) in expired {
                    self.outbox.settle(id);
                    self.out.push_back(Output::Settled {
                        id,
                        result: Err(EngineError::Failed(reason.clone())),
                    });
                    self.fail(id, Some(room), reason.clone());
                }
            }
            StoreAnswer::Cursor(room, cursor) => {
                self.rooms
                    .entry(room.clone())
                    .or_insert_with(|| RoomState::resume(RoomSync::resume(cursor)));
                self.join_known(now, room);
            }
            StoreAnswer::PrevShown { peer, chat, known } => {
                // Shown so long ago that the ids in memory forgot it, or the store could not
                // say: asking the sender for it again could show it twice.
                self.admit_direct(now, peer, chat, known.unwrap_or(true));
            }
            StoreAnswer::OwnMessage { peer, chat } => match chat {
                Some(chat) => self.send_peer(peer, PeerFrame::Chat(chat)),
                None => tracing::debug!(%peer, "asked for a message not kept here"),
            },
        }
    }

    // --- Helpers shared by the children ----------------------------------------------------

    /// Queues a frame for the relay, counting it against the rate budget; dropped while no
    /// relay link is up (what needs the relay is sent again on the next join).
    fn send_relay(&mut self, now: Instant, frame: ClientFrame) -> bool {
        if self.relay_route.is_none() {
            return false;
        }
        self.bucket.try_take(now);
        self.out.push_back(Output::Relay(frame));
        true
    }

    /// Tells the app.
    fn emit(&mut self, event: Event) {
        let changes = self.key_changes(&event);
        self.out.push_back(Output::Event(event));
        self.out.extend(changes.into_iter().map(Output::Event));
    }

    fn expiry_reason(&self) -> String {
        format!(
            "not delivered within {} minutes",
            self.config.outbox_max_age.as_secs() / 60
        )
    }

    /// Marks outbox messages past their age failed, and drops history past its age.
    fn maintain(&mut self, unix_ms: i64) {
        let age = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let reason = self.expiry_reason();
        self.out.push_back(Output::Store(StoreOp::Prune {
            cutoff: unix_ms.saturating_sub(age(self.config.history_max_age)),
        }));
        self.out.push_back(Output::Store(StoreOp::ExpireQueued {
            cutoff: unix_ms.saturating_sub(age(self.config.outbox_max_age)),
            reason,
        }));
    }

    /// Records that a message will not be delivered, and tells the app.
    fn fail(&mut self, id: MessageId, room: Option<RoomName>, reason: String) {
        self.out.push_back(Output::Store(StoreOp::MarkFailed {
            id,
            reason: reason.clone(),
        }));
        if let Some(room) = room {
            self.emit(Event::Failed { id, room, reason });
        }
    }
}

/// A small xorshift generator for the backoff's jitter: seeded by the driver, so that
/// thousands of phones spread out, and by tests, so that they are repeatable.
struct Jitter(u64);

impl Jitter {
    /// A number in [0, 1).
    fn next(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}
