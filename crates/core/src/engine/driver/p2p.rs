//! The driver's direct-link half: carries out what [`Links`] decides through [`Webrtc`],
//! sends new messages over open links, and delivers what arrives on them, once.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use festival_proto::{
    ChatMessage, ChatSend, ClientFrame, DeviceId, IceServer, Limits, MessageId, PeerChat,
    PeerFrame, PeerSignal, RoomName, SignalRelayed, SignalSend, decode_peer, encode,
};
use tokio::sync::mpsc;

use super::{Driver, UNSEQUENCED_KEPT, read_clock};
use crate::dedup::Seen;
use crate::engine::P2pConfig;
use crate::engine::link::Link;
use crate::holdback::{Admit, Holdback};
use crate::router::breaker::BreakerState;
use crate::router::links::{LinkAction, LinkState, Links};
use crate::router::{PreferredRoute, RouteInputs, plan};
use crate::stats::{Meter, PeerDiagnostics};
use crate::transport::TransportError;
use crate::transport::webrtc::{PeerEvent, Webrtc};
use crate::{Event, Route};

/// Message ids remembered to drop a second copy that came by another route.
pub(in crate::engine) const SEEN_KEPT: usize = 65_536;
/// How long a message the relay numbered waits for its direct copy before it is fetched
/// from the relay instead (the two race; on a busy device the relay may win).
const DIRECT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

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
pub(in crate::engine) struct P2p {
    pub(super) config: P2pConfig,
    pub(super) links: Links,
    webrtc: Webrtc,
    /// Rooms the user upgraded to P2P whatever their size.
    pub(super) upgraded: BTreeSet<RoomName>,
    peers: HashMap<DeviceId, PeerInfo>,
    /// Ids already shown, from any route.
    pub(super) seen: Seen,
    /// Messages shown from a direct link, waiting for the relay's number.
    unsequenced: HashMap<MessageId, ChatMessage>,
    unsequenced_order: VecDeque<MessageId>,
    /// Numbered by the relay, expected over a direct link: room, number, and when to stop
    /// waiting.
    awaiting: HashMap<MessageId, (RoomName, festival_proto::Seq, Instant)>,
    /// Direct messages waiting for their sender's previous one.
    pub(super) holdback: Holdback,
    /// The last message typed here per room: the `prev` of the next one.
    typed: HashMap<RoomName, MessageId>,
    nonce: u64,
    limits: Limits,
    /// Frames and bytes each way, the direct links' and the relay's.
    pub(super) meter: Arc<Meter>,
}

impl P2p {
    pub(super) fn new(
        me: DeviceId,
        config: P2pConfig,
        events: mpsc::Sender<PeerEvent>,
        recent: Vec<MessageId>,
        unsequenced: Vec<ChatMessage>,
    ) -> Self {
        let mut p2p = Self {
            config,
            links: Links::new(me, config.links),
            webrtc: Webrtc::new(events, config.loopback_only),
            upgraded: BTreeSet::new(),
            peers: HashMap::new(),
            seen: Seen::new(SEEN_KEPT),
            unsequenced: HashMap::new(),
            unsequenced_order: VecDeque::new(),
            awaiting: HashMap::new(),
            holdback: Holdback::default(),
            typed: HashMap::new(),
            nonce: 0,
            limits: Limits::default(),
            meter: Arc::default(),
        };
        for id in recent {
            p2p.seen.insert(id);
        }
        for message in unsequenced {
            p2p.seen.insert(message.id);
            p2p.remember_unsequenced(message);
        }
        p2p
    }

    pub(super) fn set_ice_servers(&mut self, servers: &[IceServer]) {
        self.webrtc.set_ice_servers(servers);
    }

    pub(super) async fn close_all(&mut self) {
        self.links.close_all();
        self.webrtc.close_all().await;
    }

    /// The message shown from a direct link with this id, if it still waits for its number.
    pub(super) fn take_unsequenced(&mut self, id: MessageId) -> Option<ChatMessage> {
        self.unsequenced.remove(&id)
    }

    /// Waits a moment for the direct copy of a message the relay numbered.
    pub(super) fn await_direct(&mut self, notice: festival_proto::Sequenced) {
        if self.awaiting.len() < UNSEQUENCED_KEPT {
            let until = read_clock() + DIRECT_GRACE;
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

    /// Notes a message typed here; returns the one typed before it in its room.
    pub(super) fn typed(&mut self, chat: &ChatSend) -> Option<MessageId> {
        self.typed.insert(chat.room.clone(), chat.id)
    }

    fn remember_unsequenced(&mut self, message: ChatMessage) {
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

    /// Sends on the link to `peer`; its channel may have opened before the engine heard.
    async fn send_frame(&mut self, peer: DeviceId, frame: &PeerFrame) -> bool {
        let Some(session) = self.links.session(peer) else {
            return false;
        };
        let text = encode(frame);
        self.meter.sent(Route::P2p, text.len());
        self.webrtc.send(peer, session, text).await
    }
}

impl Driver {
    /// Sends a new message over every open link to a member of its room, when the router
    /// puts P2P first for that room, and notes who got it so that the relay sends them only
    /// its number.
    pub(super) async fn send_direct(&mut self, chat: &mut ChatSend, prev: Option<MessageId>) {
        if self.room_plan(&chat.room).first() != Some(&Route::P2p) {
            return;
        }
        let Some(state) = self.rooms.get(&chat.room) else {
            return;
        };
        let members: Vec<DeviceId> = state
            .known
            .keys()
            .copied()
            .filter(|d| *d != self.identity.device)
            .collect();
        let frame = PeerFrame::Chat(PeerChat {
            id: chat.id,
            room: chat.room.clone(),
            body: chat.body.clone(),
            sent_at: chat.sent_at,
            prev,
        });
        for member in members {
            if self.p2p.send_frame(member, &frame).await {
                chat.direct.push(member);
                self.stats.sent.add(Route::P2p, 1);
            }
        }
    }

    /// The routes for a message to `room`, best first: the router's decision matrix over
    /// what is up now.
    pub(super) fn room_plan(&self, room: &RoomName) -> Vec<Route> {
        let members = self.rooms.get(room).map_or(0, |s| s.members.len());
        let p2p_up = self.rooms.get(room).is_some_and(|s| {
            s.known
                .keys()
                .any(|d| *d != self.identity.device && self.p2p.links.is_open(*d))
        });
        let config = &self.p2p.config;
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
        let now = read_clock();
        plan(&inputs, |route| match route {
            Route::P2p => self.p2p.links.breaker(now) != BreakerState::Open,
            Route::Relay | Route::Poll => true,
        })
    }

    /// The devices this one would like direct links to: the other members of rooms where
    /// P2P is automatic (small), asked for (upgraded), or preferred by the user.
    fn wanted_peers(&self) -> BTreeSet<DeviceId> {
        let config = &self.p2p.config;
        if config.preferred == PreferredRoute::Relay {
            return BTreeSet::new();
        }
        let cellular = config.network == crate::router::NetworkType::Cellular;
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
        if self.p2p.config.preferred == PreferredRoute::Relay {
            return BTreeSet::new();
        }
        self.rooms
            .values()
            .flat_map(|state| state.members.keys().copied())
            .filter(|d| *d != self.identity.device)
            .collect()
    }

    /// Opens and closes links to match who is wanted now.
    pub(super) async fn reconcile(
        &mut self,
        link: Option<&mut Link>,
    ) -> Result<(), TransportError> {
        let wanted = self.wanted_peers();
        let allowed = self.allowed_peers();
        let current = self.relay_route.is_some();
        let actions = self
            .p2p
            .links
            .reconcile(&wanted, &allowed, current, read_clock());
        self.act(actions, link).await
    }

    /// Carries out the links' decisions. Signals need the relay; without it, an attempt
    /// that cannot be signaled fails (and cools down) at once.
    pub(super) async fn act(
        &mut self,
        actions: Vec<LinkAction>,
        mut link: Option<&mut Link>,
    ) -> Result<(), TransportError> {
        for action in actions {
            match action {
                LinkAction::Offer { peer, session } => {
                    if link.is_some() {
                        self.p2p.webrtc.offer(peer, session);
                    } else {
                        self.p2p.links.on_failed(peer, session, read_clock());
                    }
                }
                LinkAction::Request { peer } => {
                    let sent = self
                        .signal(link.as_deref_mut(), peer, PeerSignal::Request)
                        .await?;
                    if !sent {
                        self.p2p.links.on_failed(peer, 0, read_clock());
                    }
                }
                LinkAction::Decline { peer, session } => {
                    self.signal(link.as_deref_mut(), peer, PeerSignal::Decline { session })
                        .await?;
                }
                LinkAction::Answer { .. } => {}
                LinkAction::Close { peer, session } => {
                    self.p2p.webrtc.close(peer, session);
                    self.peer_closed(peer, "closed here".to_owned()).await;
                }
            }
        }
        Ok(())
    }

    /// Sends a signal to `peer` through the relay, in a room both are in. False when it
    /// could not be sent (no relay link, or no shared room).
    async fn signal(
        &mut self,
        link: Option<&mut Link>,
        peer: DeviceId,
        signal: PeerSignal,
    ) -> Result<bool, TransportError> {
        let Some(link) = link else {
            return Ok(false);
        };
        let room = self
            .rooms
            .iter()
            .find(|(_, state)| state.known.contains_key(&peer))
            .map(|(room, _)| room.clone());
        let Some(room) = room else {
            return Ok(false);
        };
        let payload = serde_json::to_value(&signal).unwrap_or_default();
        let frame = ClientFrame::Signal(SignalSend {
            room,
            to: peer,
            payload,
        });
        self.send(link, &frame).await?;
        Ok(true)
    }

    /// A signaling payload from another device, through the relay.
    pub(super) async fn on_signal(
        &mut self,
        signal: SignalRelayed,
        link: &mut Link,
    ) -> Result<(), TransportError> {
        let peer = signal.from;
        let Ok(payload) = serde_json::from_value::<PeerSignal>(signal.payload) else {
            tracing::debug!(%peer, "ignoring a signal that is not ours");
            return Ok(());
        };
        let now = read_clock();
        let welcome = self.allowed_peers().contains(&peer);
        match payload {
            PeerSignal::Request => {
                let actions = self.p2p.links.on_request(peer, welcome, now);
                self.act(actions, Some(link)).await?;
            }
            PeerSignal::Offer { session, sdp } => {
                let actions = self.p2p.links.on_offer(peer, session, welcome, now);
                for action in &actions {
                    if let LinkAction::Answer { peer, session } = action {
                        self.p2p.webrtc.answer(*peer, *session, sdp.clone());
                    }
                }
                self.act(actions, Some(link)).await?;
            }
            PeerSignal::Answer { session, sdp } => {
                if self.p2p.links.on_answer(peer, session) {
                    self.p2p.webrtc.accept(peer, session, sdp);
                }
            }
            PeerSignal::Decline { session } => {
                if let Some(close) = self.p2p.links.on_failed(peer, session, now) {
                    self.act(vec![close], Some(link)).await?;
                }
            }
        }
        Ok(())
    }

    /// A report from the P2P transport.
    pub(super) async fn peer_event(
        &mut self,
        event: PeerEvent,
        link: Option<&mut Link>,
    ) -> Result<(), TransportError> {
        match event {
            PeerEvent::Signal { peer, signal } => {
                let session = match &signal {
                    PeerSignal::Offer { session, .. } | PeerSignal::Answer { session, .. } => {
                        *session
                    }
                    PeerSignal::Request | PeerSignal::Decline { .. } => 0,
                };
                if !self.signal(link, peer, signal).await? {
                    if let Some(close) = self.p2p.links.on_failed(peer, session, read_clock()) {
                        self.act(vec![close], None).await?;
                    }
                }
            }
            PeerEvent::Ice {
                peer,
                session,
                state,
            } => {
                if self.p2p.links.states().any(|(p, _)| p == peer) {
                    tracing::debug!(%peer, session, "ICE {state}");
                    self.p2p.peers.entry(peer).or_default().ice = Some(state);
                }
            }
            PeerEvent::Open { peer, session } => {
                if self.p2p.links.on_open(peer, session, read_clock()) {
                    self.p2p.peers.entry(peer).or_default().open = true;
                    self.emit(Event::Peer {
                        device: peer,
                        open: true,
                        reason: None,
                    });
                    self.ping_peer(peer).await;
                    self.update_route().await;
                } else {
                    self.p2p.webrtc.close(peer, session);
                }
            }
            PeerEvent::Closed {
                peer,
                session,
                reason,
            } => {
                if let Some(close) = self.p2p.links.on_failed(peer, session, read_clock()) {
                    if let LinkAction::Close { peer, session } = close {
                        self.p2p.webrtc.close(peer, session);
                    }
                    tracing::debug!(%peer, "P2P link or attempt ended: {reason}");
                    self.peer_closed(peer, reason).await;
                }
            }
            PeerEvent::Text {
                peer,
                session,
                text,
            } => {
                self.p2p.meter.received(Route::P2p, text.len());
                // Data proves the channel open, even if its own open event is still queued.
                if self.p2p.links.session(peer) == Some(session) {
                    self.peer_text(peer, &text, link).await?;
                }
            }
        }
        Ok(())
    }

    /// An attempt to link to `peer` did not open in time: the app and the log hear of it
    /// (messages keep going through the relay; the attempt is tried again after a cooldown).
    fn attempt_timed_out(&self, peer: DeviceId) {
        let timeout = self.p2p.config.links.connect_timeout;
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
    async fn peer_closed(&mut self, peer: DeviceId, reason: String) {
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
        self.update_route().await;
    }

    async fn peer_text(
        &mut self,
        peer: DeviceId,
        text: &str,
        link: Option<&mut Link>,
    ) -> Result<(), TransportError> {
        let frame = match decode_peer(text, &self.p2p.limits) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::warn!(%peer, "dropping a bad frame from a peer: {e}");
                return Ok(());
            }
        };
        match frame {
            PeerFrame::Chat(chat) => return self.peer_chat(peer, chat, link).await,
            PeerFrame::Want { room, id } => self.resend(peer, room, id).await,
            PeerFrame::Ping { nonce } => {
                self.p2p.send_frame(peer, &PeerFrame::Pong { nonce }).await;
            }
            PeerFrame::Pong { nonce: answered } => {
                if let Some(info) = self.p2p.peers.get_mut(&peer) {
                    if let Some((nonce, sent)) = info.ping {
                        if nonce == answered {
                            info.rtt_ms =
                                Some(read_clock().duration_since(sent).as_secs_f64() * 1000.0);
                            info.ping = None;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A message straight from its sender: shown at once, unless it was already shown or
    /// the sender's previous one is still missing (then it waits for that one a moment).
    async fn peer_chat(
        &mut self,
        peer: DeviceId,
        chat: PeerChat,
        mut link: Option<&mut Link>,
    ) -> Result<(), TransportError> {
        if self.p2p.seen.contains(&chat.id) {
            self.stats.duplicates_filtered += 1;
            return Ok(());
        }
        let prev_shown = match chat.prev {
            None => true,
            Some(prev) if self.p2p.seen.contains(&prev) => true,
            // Shown so long ago that the ids in memory forgot it: the store still knows, and
            // asking the sender for it again would show it twice.
            Some(prev) => self.store.contains(prev).await.unwrap_or(true),
        };
        match self
            .p2p
            .holdback
            .admit(peer, chat, prev_shown, read_clock())
        {
            Admit::Show(chat) => self.show_direct(peer, chat, link.as_deref_mut()).await?,
            Admit::Held(want) => {
                if let Some((room, id)) = want {
                    self.p2p
                        .send_frame(peer, &PeerFrame::Want { room, id })
                        .await;
                }
            }
        }
        self.show_released(link).await
    }

    /// Shows the direct messages whose wait is over.
    pub(super) async fn show_released(
        &mut self,
        mut link: Option<&mut Link>,
    ) -> Result<(), TransportError> {
        while let Some((peer, chat)) = self.p2p.holdback.next_released() {
            if self.p2p.seen.contains(&chat.id) {
                self.stats.duplicates_filtered += 1;
                continue;
            }
            self.show_direct(peer, chat, link.as_deref_mut()).await?;
        }
        Ok(())
    }

    /// Answers a `want`: one of this device's messages again, to a member of its room.
    async fn resend(&mut self, peer: DeviceId, room: RoomName, id: MessageId) {
        let member = self
            .rooms
            .get(&room)
            .is_some_and(|state| state.known.contains_key(&peer));
        if !member {
            return;
        }
        match self.store.own_message(&room, id).await {
            Ok(Some(chat)) => {
                self.p2p.send_frame(peer, &PeerFrame::Chat(chat)).await;
            }
            Ok(None) => tracing::debug!(%peer, %id, "asked for a message not kept here"),
            Err(e) => self.storage_failed(e),
        }
    }

    /// Shows a direct message and records it; the relay's number, if it came first, puts it
    /// in the room's order.
    async fn show_direct(
        &mut self,
        peer: DeviceId,
        chat: PeerChat,
        link: Option<&mut Link>,
    ) -> Result<(), TransportError> {
        let Some(from) = self
            .rooms
            .get(&chat.room)
            .and_then(|state| state.known.get(&peer))
            .cloned()
        else {
            tracing::warn!(%peer, room = %chat.room, "dropping a direct message from a non-member");
            return Ok(());
        };
        let message = ChatMessage {
            room: chat.room,
            id: chat.id,
            seq: 0,
            sender: peer,
            from,
            body: chat.body,
            sent_at: chat.sent_at,
            stored_at: 0,
        };
        self.p2p.seen.insert(message.id);
        self.p2p.holdback.shown(message.id);
        let numbered = self.p2p.awaiting.remove(&message.id);
        if numbered.is_none() {
            self.p2p.remember_unsequenced(message.clone());
        }
        let keep = self.retention.history_max_messages;
        let recorded = self
            .store
            .record_delivered(
                std::slice::from_ref(&message),
                self.identity.device,
                Route::P2p,
                keep,
            )
            .await;
        if let Err(e) = recorded {
            self.storage_failed(e);
        }
        self.stats.delivered.add(Route::P2p, 1);
        self.emit(Event::Message {
            message: message.clone(),
            route: Route::P2p,
        });
        match numbered {
            // The relay's number came first: it now takes its place in the room's order.
            Some((room, seq, _)) => {
                let numbered = ChatMessage { seq, ..message };
                // Messages held behind it came by the relay.
                let mut batch = super::Batch::new(self.relay_route.unwrap_or(Route::Relay));
                self.p2p.seen.numbering(numbered.id);
                if let Some(state) = self.rooms.get_mut(&room) {
                    let output = state.sync.on_live(numbered);
                    batch.synced(room, output, &mut self.p2p.seen);
                }
                self.apply(batch, link).await
            }
            None => Ok(()),
        }
    }

    /// Gives up waiting for direct copies whose time is up: they are fetched from the relay.
    async fn give_up_direct(
        &mut self,
        link: Option<&mut Link>,
        now: Instant,
    ) -> Result<(), TransportError> {
        let late: Vec<_> = self
            .p2p
            .awaiting
            .iter()
            .filter(|(_, (_, _, until))| *until <= now)
            .map(|(id, _)| *id)
            .collect();
        if late.is_empty() {
            return Ok(());
        }
        let mut batch = super::Batch::new(self.relay_route.unwrap_or(Route::Relay));
        for id in late {
            if let Some((room, seq, _)) = self.p2p.awaiting.remove(&id) {
                if let Some(state) = self.rooms.get_mut(&room) {
                    let output = state.sync.on_missing(seq);
                    batch.synced(room, output, &mut self.p2p.seen);
                }
            }
        }
        self.apply(batch, link).await
    }

    /// Timeouts, new attempts and pings.
    pub(super) async fn p2p_tick(
        &mut self,
        mut link: Option<&mut Link>,
    ) -> Result<(), TransportError> {
        let now = read_clock();
        self.give_up_direct(link.as_deref_mut(), now).await?;
        self.p2p.holdback.expire(now);
        self.show_released(link.as_deref_mut()).await?;
        let expired = self.p2p.links.expire(now);
        for action in &expired {
            if let LinkAction::Close { peer, .. } = action {
                self.attempt_timed_out(*peer);
            }
        }
        self.act(expired, link.as_deref_mut()).await?;
        self.reconcile(link).await?;
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
                    .is_none_or(|at| now.duration_since(at) >= self.spending.peer_keepalive)
            })
            .collect();
        for peer in due {
            self.ping_peer(peer).await;
        }
        Ok(())
    }

    async fn ping_peer(&mut self, peer: DeviceId) {
        self.p2p.nonce += 1;
        let nonce = self.p2p.nonce;
        let now = read_clock();
        let info = self.p2p.peers.entry(peer).or_default();
        info.ping = Some((nonce, now));
        info.last_ping = Some(now);
        self.p2p.send_frame(peer, &PeerFrame::Ping { nonce }).await;
    }

    /// The route messages take now: the relay link's, or P2P when links are open and the
    /// router prefers them (or the relay is down).
    fn current_route(&self) -> Option<Route> {
        let p2p_first = self
            .rooms
            .keys()
            .any(|room| self.room_plan(room).first() == Some(&Route::P2p));
        if p2p_first {
            Some(Route::P2p)
        } else {
            self.relay_route
        }
    }

    /// Tells the app when the route changed.
    pub(super) async fn update_route(&mut self) {
        let route = self.current_route();
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
