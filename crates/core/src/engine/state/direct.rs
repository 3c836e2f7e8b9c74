//! The direct half of [`EngineState`]: which links to open, keep or close ([`Links`]
//! decides; this carries it out), signaling through the relay, new messages over open links,
//! and delivery of what arrives on them: once ([`Seen`]), in each sender's order
//! ([`Holdback`] and `want`), numbered by the relay's notices.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use festival_proto::{
    ChatSend, ClientFrame, DeviceId, Member, MessageId, PeerChat, PeerFrame, PeerSignal, PublicKey,
    RoomName, Seq, Sequenced, SessionId, SignalRelayed, SignalSend, Signature, decode_peer,
};

use super::relay::Batch;
use super::{EngineState, Output, PeerAction, SEEN_KEPT, StateConfig, StoreOp, UNSEQUENCED_KEPT};
use crate::dedup::Seen;
use crate::holdback::{Admit, Holdback};
use crate::router::breaker::BreakerState;
use crate::router::links::{LinkAction, LinkState, Links};
use crate::router::{NetworkType, PreferredRoute, RouteInputs, plan};
use crate::stats::PeerDiagnostics;
use crate::transport::webrtc::PeerEvent;
use crate::{Authenticity, Delivered, Event, Route};

/// What the engine knows about one peer beyond its link state.
#[derive(Debug, Default)]
struct PeerInfo {
    /// The link is open (an event said so).
    open: bool,
    ice: Option<String>,
    rtt_ms: Option<f64>,
    /// The ping in flight: its nonce and when it was sent.
    ping: Option<(u64, Instant)>,
    last_ping: Option<Instant>,
}

/// Direct links and what came over them.
pub(super) struct Direct {
    pub(super) links: Links,
    /// Rooms the user upgraded to P2P whatever their size.
    pub(super) upgraded: BTreeSet<RoomName>,
    peers: HashMap<DeviceId, PeerInfo>,
    /// Ids already shown, from any route.
    pub(super) seen: Seen,
    /// Messages shown from a direct link, waiting for the relay's number.
    unsequenced: HashMap<MessageId, Delivered>,
    unsequenced_order: VecDeque<MessageId>,
    /// Numbered by the relay, expected over a direct link: room, number, and when to stop
    /// waiting.
    awaiting: HashMap<MessageId, (RoomName, Seq, Instant)>,
    /// Direct messages waiting for their sender's previous one.
    pub(super) holdback: Holdback,
    /// This device's id: the receiver its peers' offers and answers are signed for.
    me: DeviceId,
    /// The public keys of the devices met in rooms (each checked against its device id):
    /// what their direct messages and link fingerprints are verified with.
    keys: HashMap<DeviceId, PublicKey>,
    nonce: u64,
}

impl Direct {
    pub(super) fn new(
        me: DeviceId,
        config: &StateConfig,
        recent: Vec<MessageId>,
        unsequenced: Vec<Delivered>,
    ) -> Self {
        let mut direct = Self {
            links: Links::new(me, config.p2p.links),
            upgraded: BTreeSet::new(),
            peers: HashMap::new(),
            seen: Seen::new(SEEN_KEPT),
            unsequenced: HashMap::new(),
            unsequenced_order: VecDeque::new(),
            awaiting: HashMap::new(),
            holdback: Holdback::new(config.timings.hold_grace),
            me,
            keys: HashMap::new(),
            nonce: 0,
        };
        for id in recent {
            direct.seen.insert(id);
        }
        for message in unsequenced {
            direct.seen.insert(message.id);
            direct.remember_unsequenced(message);
        }
        direct
    }

    /// The message shown from a direct link with this id, if it still waits for its number.
    pub(super) fn take_unsequenced(&mut self, id: MessageId) -> Option<Delivered> {
        self.unsequenced.remove(&id)
    }

    /// Waits until `until` for the direct copy of a message the relay numbered.
    pub(super) fn await_direct(&mut self, notice: Sequenced, until: Instant) {
        if self.awaiting.len() < UNSEQUENCED_KEPT {
            self.awaiting
                .insert(notice.id, (notice.room, notice.seq, until));
        }
    }

    pub(super) fn open_links(&self) -> usize {
        self.links
            .states()
            .filter(|(_, state)| *state == LinkState::Open)
            .count()
    }

    /// The median round trip over the open links.
    pub(super) fn median_rtt(&self) -> Option<f64> {
        let mut rtts: Vec<f64> = self
            .links
            .states()
            .filter(|(_, state)| *state == LinkState::Open)
            .filter_map(|(peer, _)| self.peers.get(&peer)?.rtt_ms)
            .collect();
        if rtts.is_empty() {
            return None;
        }
        rtts.sort_by(f64::total_cmp);
        Some(rtts[rtts.len() / 2])
    }

    /// Learns the keys of `members`, as the relay lists them. A key that is not the one its
    /// device id is derived from is not learnt: a relay cannot swap a member's key.
    pub(super) fn learn_keys(&mut self, members: &[Member]) {
        for member in members.iter().filter(|m| m.key.is_of(m.device)) {
            self.keys.insert(member.device, member.key);
        }
    }

    /// Whether `sig` is `peer`'s signature of the DTLS fingerprints in `sdp`, sent to this
    /// device for attempt `session`.
    fn sdp_signed(&self, peer: DeviceId, session: SessionId, sdp: &str, sig: &Signature) -> bool {
        self.keys
            .get(&peer)
            .is_some_and(|key| key.verify_sdp(peer, self.me, session, sdp, sig))
    }

    fn remember_unsequenced(&mut self, message: Delivered) {
        if self.unsequenced_order.len() >= UNSEQUENCED_KEPT {
            // The oldest waits longest; if its notice still comes, the relay's copy is
            // fetched instead and recognised by its id.
            if let Some(oldest) = self.unsequenced_order.pop_front() {
                self.unsequenced.remove(&oldest);
            }
        }
        self.unsequenced_order.push_back(message.id);
        self.unsequenced.insert(message.id, message);
    }
}

impl EngineState {
    /// Sends a new message over every link to a member of its room, when the router puts
    /// P2P first for that room; the sends that succeed are reported by
    /// [`EngineState::direct_sent`].
    pub(super) fn send_direct(&mut self, now: Instant, chat: &ChatSend) {
        if self.room_plan(now, &chat.room).first() != Some(&Route::P2p) {
            return;
        }
        let Some(state) = self.rooms.get(&chat.room) else {
            return;
        };
        let me = self.identity.device;
        let members: Vec<DeviceId> = state.known.keys().copied().filter(|d| *d != me).collect();
        let frame = PeerFrame::Chat(PeerChat {
            id: chat.id,
            room: chat.room.clone(),
            body: chat.body.clone(),
            sealed: chat.sealed.clone(),
            sent_at: chat.sent_at,
            prev: chat.prev,
            sig: chat.sig,
        });
        for peer in members {
            // The channel may have opened before the engine heard: any session is tried.
            if let Some(session) = self.p2p.links.session(peer) {
                self.out.push_back(Output::Peer {
                    peer,
                    session,
                    frame: frame.clone(),
                    chat: Some(chat.id),
                });
            }
        }
    }

    /// A new message reached `peer` directly: the relay will send it only the number.
    pub(crate) fn direct_sent(&mut self, id: MessageId, peer: DeviceId) {
        self.outbox.sent_directly(id, peer);
        self.stats.sent.add(Route::P2p, 1);
    }

    /// The routes for a message to `room`, best first: the router's decision matrix over
    /// what is up now.
    pub(super) fn room_plan(&self, now: Instant, room: &RoomName) -> Vec<Route> {
        let me = self.identity.device;
        let members = self.rooms.get(room).map_or(0, |s| s.members.len());
        let p2p_up = self.rooms.get(room).is_some_and(|s| {
            s.known
                .keys()
                .any(|d| *d != me && self.p2p.links.is_open(*d))
        });
        let config = &self.config.p2p;
        let inputs = RouteInputs {
            relay_up: self.relay_route == Some(Route::Relay),
            poll_up: self.relay_route == Some(Route::Poll),
            p2p_up,
            members,
            max_p2p_group: if self.p2p.upgraded.contains(room) {
                usize::MAX
            } else {
                config.max_group
            },
            network: config.network,
            preferred: config.preferred,
        };
        plan(&inputs, |route| match route {
            Route::P2p => self.p2p.links.breaker(now) != BreakerState::Open,
            Route::Relay | Route::Poll => true,
        })
    }

    /// The devices this one would like direct links to: the other members of rooms where
    /// P2P is automatic (small), asked for (upgraded), or preferred by the user.
    fn wanted_peers(&self) -> BTreeSet<DeviceId> {
        let config = &self.config.p2p;
        if config.preferred == PreferredRoute::Relay {
            return BTreeSet::new();
        }
        let cellular = config.network == NetworkType::Cellular;
        self.rooms
            .iter()
            .filter(|(room, state)| {
                config.preferred == PreferredRoute::P2p
                    || self.p2p.upgraded.contains(*room)
                    || (!cellular && state.members.len() <= config.max_group)
            })
            .flat_map(|(_, state)| state.members.keys().copied())
            .filter(|d| *d != self.identity.device)
            .collect()
    }

    /// The devices this one accepts links from and keeps links with: every other member of
    /// a joined room, unless the user prefers the relay.
    fn allowed_peers(&self) -> BTreeSet<DeviceId> {
        if self.config.p2p.preferred == PreferredRoute::Relay {
            return BTreeSet::new();
        }
        self.rooms
            .values()
            .flat_map(|state| state.members.keys().copied())
            .filter(|d| *d != self.identity.device)
            .collect()
    }

    /// Opens and closes links to match who is wanted now.
    pub(super) fn reconcile(&mut self, now: Instant) {
        let wanted = self.wanted_peers();
        let allowed = self.allowed_peers();
        let current = self.relay_route.is_some();
        let actions = self.p2p.links.reconcile(&wanted, &allowed, current, now);
        self.act(now, actions);
    }

    /// Carries out the links' decisions. Signals need the relay; without it, an attempt
    /// that cannot be signaled fails (and cools down) at once.
    pub(super) fn act(&mut self, now: Instant, actions: Vec<LinkAction>) {
        for action in actions {
            match action {
                LinkAction::Offer { peer, session } => {
                    if self.relay_route.is_some() {
                        self.out
                            .push_back(Output::Link(PeerAction::Offer { peer, session }));
                    } else {
                        self.p2p.links.on_failed(peer, session, now);
                    }
                }
                LinkAction::Request { peer } => {
                    if !self.signal(now, peer, &PeerSignal::Request) {
                        self.p2p.links.on_failed(peer, SessionId::NONE, now);
                    }
                }
                LinkAction::Decline { peer, session } => {
                    self.signal(now, peer, &PeerSignal::Decline { session });
                }
                LinkAction::Answer { .. } => {}
                LinkAction::Close { peer, session } => {
                    self.out
                        .push_back(Output::Link(PeerAction::Close { peer, session }));
                    self.peer_closed(now, peer, "closed here".to_owned());
                }
            }
        }
    }

    /// Sends a signal to `peer` through the relay, in a room both are in. False when it
    /// could not be sent (no relay link, or no shared room).
    fn signal(&mut self, now: Instant, peer: DeviceId, signal: &PeerSignal) -> bool {
        let room = self
            .rooms
            .iter()
            .find(|(_, state)| state.known.contains_key(&peer))
            .map(|(room, _)| room.clone());
        let Some(room) = room else {
            return false;
        };
        let payload = serde_json::to_value(signal).unwrap_or_default();
        let frame = ClientFrame::Signal(SignalSend {
            room,
            to: peer,
            payload,
        });
        self.send_relay(now, frame)
    }

    /// A signaling payload from another device, through the relay.
    pub(super) fn on_signal(&mut self, now: Instant, signal: SignalRelayed) {
        let peer = signal.from;
        let Ok(payload) = serde_json::from_value::<PeerSignal>(signal.payload) else {
            tracing::debug!(%peer, "ignoring a signal that is not ours");
            return;
        };
        let welcome = self.allowed_peers().contains(&peer);
        match payload {
            PeerSignal::Request => {
                let actions = self.p2p.links.on_request(peer, welcome, now);
                self.act(now, actions);
            }
            PeerSignal::Offer { session, sdp, sig } => {
                if !self.p2p.sdp_signed(peer, session, &sdp, &sig) {
                    self.refuse_link(peer, session, "offer");
                    return;
                }
                let actions = self.p2p.links.on_offer(peer, session, welcome, now);
                for action in &actions {
                    if let LinkAction::Answer { peer, session } = action {
                        self.out.push_back(Output::Link(PeerAction::Answer {
                            peer: *peer,
                            session: *session,
                            sdp: sdp.clone(),
                        }));
                    }
                }
                self.act(now, actions);
            }
            PeerSignal::Answer { session, sdp, sig } => {
                if !self.p2p.sdp_signed(peer, session, &sdp, &sig) {
                    self.refuse_link(peer, session, "answer");
                    if let Some(close) = self.p2p.links.on_failed(peer, session, now) {
                        self.act(now, vec![close]);
                    }
                    return;
                }
                if self.p2p.links.on_answer(peer, session) {
                    self.out
                        .push_back(Output::Link(PeerAction::Accept { peer, session, sdp }));
                }
            }
            PeerSignal::Decline { session } => {
                if let Some(close) = self.p2p.links.on_declined(peer, session, now) {
                    self.act(now, vec![close]);
                }
            }
        }
    }

    /// Refuses a link whose offer or answer does not carry `peer`'s signature of its DTLS
    /// fingerprint: whoever passed it on (the relay, or someone between) would be the other
    /// end of the link, not `peer`.
    fn refuse_link(&mut self, peer: DeviceId, session: SessionId, what: &str) {
        let reason = format!(
            "refused the {what} of attempt {session}: its DTLS fingerprint is not signed by \
             the device's key"
        );
        tracing::warn!(%peer, %session, "{reason}");
        self.emit(Event::Peer {
            device: peer,
            open: false,
            reason: Some(reason),
        });
    }

    /// A report from the P2P transport.
    pub(crate) fn peer_event(&mut self, now: Instant, event: PeerEvent) {
        match event {
            PeerEvent::Signal { peer, signal } => {
                let session = match &signal {
                    PeerSignal::Offer { session, .. } | PeerSignal::Answer { session, .. } => {
                        *session
                    }
                    PeerSignal::Request | PeerSignal::Decline { .. } => SessionId::NONE,
                };
                if !self.signal(now, peer, &signal) {
                    if let Some(close) = self.p2p.links.on_failed(peer, session, now) {
                        self.act(now, vec![close]);
                    }
                }
            }
            PeerEvent::Ice {
                peer,
                session,
                state,
            } => {
                if self.p2p.links.states().any(|(p, _)| p == peer) {
                    tracing::debug!(%peer, %session, "ICE {state}");
                    self.p2p.peers.entry(peer).or_default().ice = Some(state);
                }
            }
            PeerEvent::Open { peer, session } => {
                if self.p2p.links.on_open(peer, session, now) {
                    self.p2p.peers.entry(peer).or_default().open = true;
                    self.emit(Event::Peer {
                        device: peer,
                        open: true,
                        reason: None,
                    });
                    self.ping_peer(now, peer);
                    self.update_route(now);
                } else {
                    self.out
                        .push_back(Output::Link(PeerAction::Close { peer, session }));
                }
            }
            PeerEvent::Closed {
                peer,
                session,
                reason,
            } => {
                if let Some(close) = self.p2p.links.on_failed(peer, session, now) {
                    if let LinkAction::Close { peer, session } = close {
                        self.out
                            .push_back(Output::Link(PeerAction::Close { peer, session }));
                    }
                    tracing::debug!(%peer, "P2P link or attempt ended: {reason}");
                    self.peer_closed(now, peer, reason);
                }
            }
            PeerEvent::Text {
                peer,
                session,
                text,
            } => {
                // Data proves the channel open, even if its own open event is still queued.
                if self.p2p.links.session(peer) == Some(session) {
                    self.peer_text(now, peer, &text);
                }
            }
        }
    }

    /// An attempt to link to `peer` did not open in time: the app and the log hear of it
    /// (messages keep going through the relay; the attempt is tried again after a cooldown).
    fn attempt_timed_out(&mut self, peer: DeviceId) {
        let timeout = self.config.p2p.links.connect_timeout;
        let reason = format!(
            "the direct link attempt did not open within {} s",
            timeout.as_secs_f64()
        );
        tracing::warn!(%peer, "{reason}; messages go through the relay");
        self.emit(Event::Peer {
            device: peer,
            open: false,
            reason: Some(reason),
        });
    }

    /// A link that was open is gone.
    fn peer_closed(&mut self, now: Instant, peer: DeviceId, reason: String) {
        for state in self.rooms.values_mut() {
            if !state.members.contains_key(&peer) {
                state.known.remove(&peer);
            }
        }
        let was_open = self.p2p.peers.remove(&peer).is_some_and(|info| info.open);
        if was_open {
            self.emit(Event::Peer {
                device: peer,
                open: false,
                reason: Some(reason),
            });
        }
        self.update_route(now);
    }

    fn peer_text(&mut self, now: Instant, peer: DeviceId, text: &str) {
        let frame = match decode_peer(text, &self.limits) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::warn!(%peer, "dropping a bad frame from a peer: {e}");
                return;
            }
        };
        match frame {
            PeerFrame::Chat(chat) => self.accept_direct_chat(now, peer, chat),
            PeerFrame::Want { room, id } => self.want(peer, room, id),
            PeerFrame::Ping { nonce } => self.send_peer(peer, PeerFrame::Pong { nonce }),
            PeerFrame::Pong { nonce: answered } => {
                if let Some(info) = self.p2p.peers.get_mut(&peer) {
                    if let Some((nonce, sent)) = info.ping {
                        if nonce == answered {
                            info.rtt_ms =
                                Some(now.saturating_duration_since(sent).as_secs_f64() * 1000.0);
                            info.ping = None;
                        }
                    }
                }
            }
        }
    }

    /// Sends on the link to `peer`, if there is one.
    pub(super) fn send_peer(&mut self, peer: DeviceId, frame: PeerFrame) {
        if let Some(session) = self.p2p.links.session(peer) {
            self.out.push_back(Output::Peer {
                peer,
                session,
                frame,
                chat: None,
            });
        }
    }

    /// A message straight from its sender: where every message received by a direct route
    /// enters. Shown at once, unless it was already shown or the sender's previous one is
    /// still missing (then it waits for that one a moment).
    fn accept_direct_chat(&mut self, now: Instant, peer: DeviceId, chat: PeerChat) {
        if self.p2p.seen.contains(&chat.id) {
            self.stats.duplicates_filtered += 1;
            return;
        }
        match chat.prev {
            Some(prev) if !self.p2p.seen.contains(&prev) => {
                // Shown so long ago that the ids in memory forgot it? The store knows.
                self.out
                    .push_back(Output::Store(StoreOp::PrevShown { prev, peer, chat }));
            }
            _ => self.admit_direct(now, peer, chat, true),
        }
    }

    /// Shows a direct message, or holds it back until its predecessor is shown.
    pub(super) fn admit_direct(
        &mut self,
        now: Instant,
        peer: DeviceId,
        chat: PeerChat,
        prev_shown: bool,
    ) {
        if self.p2p.seen.contains(&chat.id) {
            self.stats.duplicates_filtered += 1;
            return;
        }
        match self.p2p.holdback.admit(peer, chat, prev_shown, now) {
            Admit::Show(chat) => self.show_direct(now, peer, chat),
            Admit::Held(Some((room, id))) => self.send_peer(peer, PeerFrame::Want { room, id }),
            Admit::Held(None) => {}
        }
        self.show_released(now);
    }

    /// Shows the direct messages whose wait is over.
    pub(super) fn show_released(&mut self, now: Instant) {
        while let Some((peer, chat)) = self.p2p.holdback.next_released() {
            if self.p2p.seen.contains(&chat.id) {
                self.stats.duplicates_filtered += 1;
                continue;
            }
            self.show_direct(now, peer, chat);
        }
    }

    /// Answers a `want`: one of this device's messages again, to a member of its room.
    fn want(&mut self, peer: DeviceId, room: RoomName, id: MessageId) {
        let member = self
            .rooms
            .get(&room)
            .is_some_and(|state| state.known.contains_key(&peer));
        if member {
            self.out
                .push_back(Output::Store(StoreOp::OwnMessage { peer, room, id }));
        }
    }

    /// Shows a direct message and records it; the relay's number, if it came first, puts it
    /// in the room's order.
    fn show_direct(&mut self, now: Instant, peer: DeviceId, chat: PeerChat) {
        let Some(from) = self
            .rooms
            .get(&chat.room)
            .and_then(|state| state.known.get(&peer))
            .cloned()
        else {
            tracing::warn!(%peer, room = %chat.room, "dropping a direct message from a non-member");
            return;
        };
        let mut message = Delivered {
            room: chat.room,
            id: chat.id,
            seq: None,
            sender: peer,
            from,
            body: chat.body,
            sealed: chat.sealed,
            sent_at: chat.sent_at,
            stored_at: None,
            prev: chat.prev,
            key: self.p2p.keys.get(&peer).copied(),
            sig: Some(chat.sig),
        };
        let authenticity = Authenticity::of(&message);
        let (privacy, learned) = self.keyring.open(&mut message, &self.identity.key);
        if learned.0 {
            self.out.push_back(Output::Store(StoreOp::SaveSetting {
                key: crate::privacy::SETTING,
                value: self.keyring.save(),
            }));
        }
        if authenticity != Authenticity::Verified {
            // Not the peer's: shown marked, once, but neither stored nor taken as seen, so
            // that the id stays free for the message its real sender signs.
            tracing::warn!(%peer, id = %message.id, "a direct message not signed by its sender");
            self.emit(Event::Message {
                message,
                route: Route::P2p,
                authenticity,
                privacy,
            });
            return;
        }
        self.p2p.seen.insert(message.id);
        self.p2p.holdback.shown(message.id);
        let numbered = self.p2p.awaiting.remove(&message.id);
        if numbered.is_none() {
            self.p2p.remember_unsequenced(message.clone());
        }
        self.out.push_back(Output::Store(StoreOp::RecordDelivered {
            messages: vec![message.clone()],
            me: self.identity.device,
            route: Route::P2p,
            keep: self.config.history_max_messages,
        }));
        self.stats.delivered.add(Route::P2p, 1);
        self.emit(Event::Message {
            message: message.clone(),
            route: Route::P2p,
            authenticity,
            privacy,
        });
        // The relay's number came first: it now takes its place in the room's order.
        if let Some((room, seq, _)) = numbered {
            // Messages held behind it came by the relay.
            let mut batch = Batch::new(self.relay_route.unwrap_or(Route::Relay));
            self.p2p.seen.numbering(message.id);
            if let Some(state) = self.rooms.get_mut(&room) {
                let output = state.sync.on_live(seq, message);
                batch.synced(
                    room,
                    output,
                    &mut self.p2p.seen,
                    Self::opener(&self.keyring, &self.identity),
                );
            }
            self.apply(now, batch);
        }
    }

    /// Gives up waiting for direct copies whose time is up: they are fetched from the relay.
    fn give_up_direct(&mut self, now: Instant) {
        let late: Vec<_> = self
            .p2p
            .awaiting
            .iter()
            .filter(|(_, (_, _, until))| *until <= now)
            .map(|(id, _)| *id)
            .collect();
        if late.is_empty() {
            return;
        }
        let mut batch = Batch::new(self.relay_route.unwrap_or(Route::Relay));
        for id in late {
            if let Some((room, seq, _)) = self.p2p.awaiting.remove(&id) {
                if let Some(state) = self.rooms.get_mut(&room) {
                    let output = state.sync.on_missing(seq);
                    batch.synced(
                        room,
                        output,
                        &mut self.p2p.seen,
                        Self::opener(&self.keyring, &self.identity),
                    );
                }
            }
        }
        self.apply(now, batch);
    }

    /// Timeouts, new attempts and pings.
    pub(super) fn p2p_tick(&mut self, now: Instant) {
        self.give_up_direct(now);
        self.p2p.holdback.expire(now);
        self.show_released(now);
        let expired = self.p2p.links.expire(now);
        for action in &expired {
            if let LinkAction::Close { peer, .. } = action {
                self.attempt_timed_out(*peer);
            }
        }
        self.act(now, expired);
        self.reconcile(now);
        let every = self.config.timings.peer_ping_every;
        let due: Vec<DeviceId> = self
            .p2p
            .links
            .states()
            .filter(|(_, state)| *state == LinkState::Open)
            .map(|(peer, _)| peer)
            .filter(|peer| {
                self.p2p
                    .peers
                    .get(peer)
                    .and_then(|info| info.last_ping)
                    .is_none_or(|at| now.saturating_duration_since(at) >= every)
            })
            .collect();
        for peer in due {
            self.ping_peer(now, peer);
        }
    }

    fn ping_peer(&mut self, now: Instant, peer: DeviceId) {
        self.p2p.nonce += 1;
        let nonce = self.p2p.nonce;
        let info = self.p2p.peers.entry(peer).or_default();
        info.ping = Some((nonce, now));
        info.last_ping = Some(now);
        self.send_peer(peer, PeerFrame::Ping { nonce });
    }

    /// The route messages take now: the relay link's, or P2P when links are open and the
    /// router prefers them (or the relay is down).
    fn current_route(&self, now: Instant) -> Option<Route> {
        let p2p_first = self
            .rooms
            .keys()
            .any(|room| self.room_plan(now, room).first() == Some(&Route::P2p));
        if p2p_first {
            Some(Route::P2p)
        } else {
            self.relay_route
        }
    }

    /// Tells the app when the route changed.
    pub(super) fn update_route(&mut self, now: Instant) {
        let route = self.current_route(now);
        if route != self.stats.route {
            self.stats.route = route;
            self.emit(Event::RouteChanged { route });
        }
    }

    pub(super) fn peer_diagnostics(&self, now: Instant) -> Vec<PeerDiagnostics> {
        let mut devices: BTreeSet<DeviceId> = self.p2p.links.states().map(|(p, _)| p).collect();
        devices.extend(self.wanted_peers());
        devices
            .into_iter()
            .map(|device| {
                let info = self.p2p.peers.get(&device);
                let name = self
                    .rooms
                    .values()
                    .find_map(|state| state.known.get(&device))
                    .cloned();
                PeerDiagnostics {
                    device,
                    name,
                    link: self
                        .p2p
                        .links
                        .states()
                        .find(|(p, _)| *p == device)
                        .map(|(_, s)| s),
                    ice: info.and_then(|i| i.ice.clone()),
                    rtt_ms: info.and_then(|i| i.rtt_ms),
                    cooldown_ms: self
                        .p2p
                        .links
                        .cooldown_until(device)
                        .filter(|at| *at > now)
                        .map(|at| u64::try_from((at - now).as_millis()).unwrap_or(u64::MAX)),
                }
            })
            .collect()
    }
}
