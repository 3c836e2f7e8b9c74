//! The engine's one task: owns rooms, outbox and link, and turns commands and frames into
//! frames and events. Decisions are made by the pure parts ([`RoomSync`], [`Outbox`],
//! [`Backoff`], [`TokenBucket`]); this file only moves data between them and the socket.

mod p2p;
mod power;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use festival_proto::{
    ChatMessage, ChatSend, ClientFrame, DeviceId, Join, Leave, Limits, Member, MessageId, Ping,
    PresenceChange, RoomName, ServerFrame, TokenBucket, Welcome,
};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::events::EventSender;
use super::link::{Incoming, Link};
use super::relay_policy::{Keepalive, RelayPolicy, RelayRoute};
use super::{Command, EngineConfig, unix_ms};
use crate::dedup::Release;
use crate::outbox::Outbox;
use crate::stats::{Breakers, Diagnostics, Meter, RoomDiagnostics, Stats};
use crate::store::{Identity, Store};
use crate::sync::{RoomSync, SyncOutput};
use crate::transport::TransportError;
use crate::transport::backoff::Backoff;
use crate::transport::poll::{PollLink, poll_url};
use crate::transport::relay;
use crate::transport::webrtc::PeerEvent;
use crate::{EngineError, Event, Route};

/// How long a message the relay could not take right now waits before it is sent again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often expired outbox messages are marked failed and old history is pruned.
const MAINTAIN_EVERY: Duration = Duration::from_secs(60);
/// Direct-link bookkeeping (attempts, timeouts, pings) runs this often.
const P2P_TICK: Duration = Duration::from_millis(500);
/// Messages received directly and not yet numbered by the relay, kept to match its notices.
pub(super) const UNSEQUENCED_KEPT: usize = 4096;

pub(super) use p2p::{P2p, SEEN_KEPT};

/// How much local history and how old an outbox the engine keeps.
#[derive(Debug, Clone, Copy)]
pub(super) struct Retention {
    history_max_messages: usize,
    history_max_age: Duration,
    outbox_max_age: Duration,
    socket_retry: Duration,
}

impl From<&EngineConfig> for Retention {
    fn from(config: &EngineConfig) -> Self {
        Self {
            history_max_messages: config.history_max_messages.max(1),
            history_max_age: config.history_max_age,
            outbox_max_age: config.outbox_max_age,
            socket_retry: config
                .socket_retry_while_polling
                .max(Duration::from_millis(100)),
        }
    }
}

struct RoomState {
    sync: RoomSync,
    /// The members as the relay last reported them.
    members: BTreeMap<DeviceId, Member>,
    /// Everyone seen in the room while this device was in it, with their names: a direct
    /// link outlives the relay's view (a relay going down reports everyone leaving), and a
    /// message over it is accepted from, and sent to, these.
    known: BTreeMap<DeviceId, festival_proto::DisplayName>,
}

/// What a batch of frames asks for, applied together by [`Driver::apply`].
pub(super) struct Batch {
    /// The route the frames came by.
    route: Route,
    /// Acks: message id and its sequence number.
    sent: Vec<(MessageId, festival_proto::Seq)>,
    /// Messages to deliver, in order.
    delivered: Vec<ChatMessage>,
    /// Events for the app, in order.
    events: Vec<Event>,
    /// Rooms to join again from a sequence number.
    resync: Vec<(RoomName, festival_proto::Seq)>,
    /// Messages sync dropped as already delivered.
    duplicates: u64,
    /// Messages shown to the user.
    shown: u64,
    /// Signaling from other devices, handled once the batch is applied.
    signals: Vec<festival_proto::SignalRelayed>,
    /// Someone came or went, or a room was (re)joined: direct links may need to change.
    membership_changed: bool,
}

impl Batch {
    pub(super) fn new(route: Route) -> Self {
        Self {
            route,
            sent: Vec::new(),
            delivered: Vec::new(),
            events: Vec::new(),
            resync: Vec::new(),
            duplicates: 0,
            shown: 0,
            signals: Vec::new(),
            membership_changed: false,
        }
    }

    /// Takes what sync decided: every message is recorded, but one already shown (it came
    /// directly from its sender) is not shown again.
    pub(super) fn synced(
        &mut self,
        room: RoomName,
        output: SyncOutput,
        seen: &mut crate::dedup::Seen,
    ) {
        self.duplicates += output.duplicates;
        for message in output.deliver {
            self.delivered.push(message.clone());
            match seen.release(message.id) {
                Release::Show => {}
                Release::Numbered => continue,
                Release::Duplicate => {
                    self.duplicates += 1;
                    continue;
                }
            }
            self.shown += 1;
            self.events.push(Event::Message {
                message,
                route: self.route,
            });
        }
        if let Some(since) = output.resync {
            self.resync.push((room, since));
        }
    }
}

/// Why serving a link ended.
enum Ended {
    Lost(TransportError),
    Shutdown,
    /// While on long-poll, a WebSocket could be opened again: serve it instead.
    Upgraded(Link, Incoming, Welcome),
    /// The user asked to reconnect now.
    Reconnect,
}

pub(super) struct Driver {
    url: String,
    identity: Identity,
    store: Store,
    events: EventSender,
    rooms: BTreeMap<RoomName, RoomState>,
    outbox: Outbox,
    backoff: Backoff,
    bucket: TokenBucket,
    retention: Retention,
    stats: Stats,
    links_opened: u64,
    /// The relay link's route while it is up.
    relay_route: Option<Route>,
    /// Which relay route to open, and the liveness of the one that is up.
    relay: RelayPolicy,
    /// Direct links and what came over them.
    p2p: P2p,
    /// The P2P transport's reports, taken by `run`.
    peer_events: Option<mpsc::Receiver<PeerEvent>>,
    /// What the power budget lets the engine's timers spend.
    spending: power::Spending,
    /// Frames and bytes each way, counted by the transports.
    meter: Arc<Meter>,
}

impl Driver {
    /// A driver that takes up `queued` messages and resumes `rooms` from their cursors.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        url: String,
        identity: Identity,
        store: Store,
        events: EventSender,
        config: &EngineConfig,
        rooms: BTreeMap<RoomName, RoomSync>,
        queued: Vec<ChatSend>,
        recent: Vec<MessageId>,
        unsequenced: Vec<ChatMessage>,
    ) -> Self {
        let (peer_tx, peer_rx) = mpsc::channel(1024);
        let mut p2p = P2p::new(identity.device, config.p2p, peer_tx, recent, unsequenced);
        let limits = Limits::default();
        let mut outbox = Outbox::default();
        for chat in queued {
            // The next message typed names the last one still queued as its `prev`.
            p2p.typed(&chat);
            outbox.push(chat, None);
        }
        Self {
            url,
            identity,
            store,
            events,
            rooms: rooms
                .into_iter()
                .map(|(room, sync)| {
                    let state = RoomState {
                        sync,
                        members: BTreeMap::new(),
                        known: BTreeMap::new(),
                    };
                    (room, state)
                })
                .collect(),
            outbox,
            retention: Retention::from(config),
            stats: Stats::default(),
            links_opened: 0,
            relay_route: None,
            relay: RelayPolicy::new(),
            meter: Arc::clone(&p2p.meter),
            p2p,
            spending: power::Spending::default(),
            peer_events: Some(peer_rx),
            backoff: Backoff::default(),
            bucket: TokenBucket::new(limits.rate_per_sec, limits.rate_burst, read_clock()),
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let Some(mut peers) = self.peer_events.take() else {
            return;
        };
        self.maintain().await;
        loop {
            let attempt = self.open_relay().await;
            let reason = match attempt {
                Err(reason) => reason,
                Ok(mut link) => loop {
                    let (link_tx, incoming, welcome) = link;
                    self.connected(welcome, link_tx.route()).await;
                    match self
                        .serve(link_tx, incoming, &mut commands, &mut peers)
                        .await
                    {
                        Ended::Shutdown => {
                            self.stop().await;
                            return;
                        }
                        Ended::Upgraded(link_tx, incoming, welcome) => {
                            link = (link_tx, incoming, welcome);
                        }
                        Ended::Lost(reason) => {
                            self.relay_lost().await;
                            break reason;
                        }
                        Ended::Reconnect => {
                            self.relay_lost().await;
                            self.backoff.reset();
                            break TransportError::ReconnectAsked;
                        }
                    }
                },
            };
            let delay = self.backoff.next_delay(rand::rng().random());
            self.emit(Event::Disconnected {
                reason: reason.to_string(),
                retry_in_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            });
            if !self.wait_offline(delay, &mut commands, &mut peers).await {
                break;
            }
        }
        self.stop().await;
    }

    /// Opens the relay WebSocket, or the long-poll when the WebSocket's breaker is open (it
    /// failed three times in a row); a half-open breaker lets one WebSocket attempt through.
    async fn open_relay(&mut self) -> Result<(Link, Incoming, Welcome), TransportError> {
        let socket_error = match self.relay.route_to_try(read_clock()) {
            RelayRoute::Socket => match self.open_socket().await {
                Ok(socket) => {
                    self.relay.socket_opened();
                    return Ok(socket);
                }
                Err(reason) if !self.relay.socket_failed(read_clock()) => return Err(reason),
                Err(reason) => reason,
            },
            RelayRoute::Poll => TransportError::BreakerOpen,
        };
        match self.open_poll().await {
            Ok(poll) => Ok(poll),
            Err(poll) => {
                self.relay.neither_opened();
                Err(TransportError::NeitherRoute {
                    socket: Box::new(socket_error),
                    poll: Box::new(poll),
                })
            }
        }
    }

    /// The relay link dropped: unacked messages go out again on the next one.
    async fn relay_lost(&mut self) {
        self.outbox.mark_all_unsent();
        self.relay_route = None;
        self.update_route().await;
    }

    async fn stop(&mut self) {
        self.p2p.close_all().await;
        self.store.close().await;
    }

    async fn open_socket(&self) -> Result<(Link, Incoming, Welcome), TransportError> {
        let (sink, stream, welcome) =
            relay::connect(&self.url, &self.identity, &self.meter).await?;
        Ok((Link::Ws(sink), Incoming::Ws(stream), welcome))
    }

    async fn open_poll(&self) -> Result<(Link, Incoming, Welcome), TransportError> {
        let url = poll_url(&self.url).ok_or(TransportError::NoPollUrl)?;
        let (link, frames) = PollLink::open(&url, &self.identity).await?;
        let Some(ServerFrame::Welcome(welcome)) = frames.into_iter().next() else {
            link.close().await;
            return Err(TransportError::Protocol(
                "no welcome in answer to the long-poll hello".to_owned(),
            ));
        };
        Ok((Link::Poll(link.clone()), Incoming::poll(link), welcome))
    }

    /// A link is up: reset the backoff, pace to its limits, tell the app.
    async fn connected(&mut self, welcome: Welcome, route: Route) {
        self.backoff.reset();
        if self.links_opened > 0 {
            self.stats.reconnects += 1;
        }
        self.links_opened += 1;
        if route == Route::Poll {
            self.stats.fallbacks += 1;
        }
        self.relay_route = Some(route);
        self.p2p.set_ice_servers(&welcome.ice_servers);
        let limits = welcome.limits;
        // Stay a little under the relay's budget: its clock sees our frames bunched up by
        // the network.
        self.bucket = TokenBucket::new(
            limits.rate_per_sec,
            (limits.rate_burst * 4 / 5).max(1),
            read_clock(),
        );
        self.emit(Event::Connected {
            peer_id: welcome.peer_id,
            device: welcome.device,
            name: welcome.name,
        });
        self.update_route().await;
    }

    /// Handles commands while the link is down, until `delay` passed. False on shutdown.
    async fn wait_offline(
        &mut self,
        delay: Duration,
        commands: &mut mpsc::Receiver<Command>,
        peers: &mut mpsc::Receiver<PeerEvent>,
    ) -> bool {
        let until = Instant::now() + delay;
        let every = self.spending.maintain_every;
        let mut maintain = tokio::time::interval_at(Instant::now() + every, every);
        let mut p2p_tick = tokio::time::interval(self.spending.tick);
        loop {
            self.woke(&mut p2p_tick, &mut maintain);
            let caught_up = self.events.room_for_summary();
            tokio::select! {
                () = tokio::time::sleep_until(until) => return true,
                () = caught_up => self.events.catch_up(),
                _ = maintain.tick() => self.maintain().await,
                command = commands.recv() => match command {
                    None | Some(Command::Shutdown) => return false,
                    Some(Command::Reconnect) => return true,
                    Some(command) => {
                        // Nothing goes to the relay offline; joins and sends wait for it.
                        // Open direct links still carry new messages.
                        let _ = self.command(command, None).await;
                    }
                },
                Some(event) = peers.recv() => {
                    let _ = self.peer_event(event, None).await;
                }
                _ = p2p_tick.tick() => {
                    let _ = self.p2p_tick(None).await;
                }
            }
        }
    }

    /// Serves one link until it drops, the engine shuts down, or (on long-poll) a WebSocket
    /// can be opened again.
    async fn serve(
        &mut self,
        mut link: Link,
        mut incoming: Incoming,
        commands: &mut mpsc::Receiver<Command>,
        peers: &mut mpsc::Receiver<PeerEvent>,
    ) -> Ended {
        if let Err(reason) = self.rejoin_all(&mut link).await {
            return Ended::Lost(reason);
        }
        let every = self.spending.maintain_every;
        let mut maintain = tokio::time::interval_at(Instant::now() + every, every);
        let retry = self.retention.socket_retry;
        let mut socket_retry = tokio::time::interval_at(Instant::now() + retry, retry);
        let polling = matches!(link, Link::Poll(_));
        let mut p2p_tick = tokio::time::interval(self.spending.tick);
        self.relay.link_up(read_clock());
        loop {
            self.woke(&mut p2p_tick, &mut maintain);
            if let Err(reason) = self.flush(&mut link).await {
                return Ended::Lost(reason);
            }
            let keepalive = match self.keepalive(&mut link, polling).await {
                Ok(at) => at,
                Err(reason) => return Ended::Lost(reason),
            };
            let wake = self.next_flush();
            let caught_up = self.events.room_for_summary();
            let step = tokio::select! {
                () = caught_up => {
                    self.events.catch_up();
                    Ok(())
                }
                frames = incoming.next() => match frames {
                    Ok(frames) => {
                        self.relay.heard(read_clock());
                        self.frames(frames, &mut link).await
                    }
                    Err(reason) => Err(reason),
                },
                command = commands.recv() => match command {
                    None | Some(Command::Shutdown) => {
                        link.close().await;
                        return Ended::Shutdown;
                    }
                    Some(Command::Reconnect) => {
                        link.close().await;
                        return Ended::Reconnect;
                    }
                    Some(command) => self.command(command, Some(&mut link)).await,
                },
                Some(event) = peers.recv() => self.peer_event(event, Some(&mut link)).await,
                _ = p2p_tick.tick() => self.p2p_tick(Some(&mut link)).await,
                () = sleep_until_opt(keepalive) => Ok(()),
                _ = socket_retry.tick(), if polling => {
                    if let Ok(socket) = self.open_socket().await {
                        self.outbox.mark_all_unsent();
                        link.close().await;
                        return Ended::Upgraded(socket.0, socket.1, socket.2);
                    }
                    Ok(())
                }
                () = sleep_until_opt(wake) => Ok(()),
                _ = maintain.tick() => {
                    self.maintain().await;
                    Ok(())
                }
            };
            let step = match step {
                // A message the relay just showed may be one a direct message waited for.
                Ok(()) if self.p2p.holdback.has_released() => {
                    self.show_released(Some(&mut link)).await
                }
                step => step,
            };
            if let Err(reason) = step {
                return Ended::Lost(reason);
            }
        }
    }

    /// Pings the relay when it is time, and gives the link up when the relay stayed silent
    /// too long (the long-poll has its own timeouts); when to look again.
    async fn keepalive(
        &mut self,
        link: &mut Link,
        polling: bool,
    ) -> Result<Option<Instant>, TransportError> {
        if polling {
            return Ok(None);
        }
        loop {
            match self.relay.keepalive(read_clock()) {
                Keepalive::Ping(nonce) => {
                    self.send(link, &ClientFrame::Ping(Ping { nonce })).await?;
                }
                Keepalive::Dead => return Err(TransportError::Silent),
                Keepalive::Wait(at) => return Ok(Some(Instant::from_std(at))),
            }
        }
    }

    async fn rejoin_all(&mut self, link: &mut Link) -> Result<(), TransportError> {
        let joins: Vec<_> = self
            .rooms
            .iter_mut()
            .map(|(room, state)| {
                state.sync.on_join_sent();
                ClientFrame::Join(Join {
                    room: room.clone(),
                    since: state.sync.since(),
                })
            })
            .collect();
        for join in joins {
            self.send(link, &join).await?;
        }
        Ok(())
    }

    /// Sends every queued message the rate budget allows now, in one write.
    async fn flush(&mut self, link: &mut Link) -> Result<(), TransportError> {
        let now = read_clock();
        let mut fed = false;
        while let Some(chat) = self.outbox.next_due(now).cloned() {
            if !self.bucket.try_take(now) {
                break;
            }
            link.feed(&ClientFrame::Chat(chat.clone())).await?;
            self.outbox.mark_sent(chat.id);
            self.stats.sent.add(link.route(), 1);
            fed = true;
        }
        if fed {
            link.flush().await?;
        }
        Ok(())
    }

    /// When the next queued message could go out, if one is waiting.
    fn next_flush(&self) -> Option<Instant> {
        let now = read_clock();
        if self.outbox.next_due(now).is_some() {
            return Some(Instant::now() + self.bucket.wait(now));
        }
        self.outbox.next_retry().map(Instant::from_std)
    }

    /// Sends a control frame, counting it against the rate budget.
    async fn send(&mut self, link: &mut Link, frame: &ClientFrame) -> Result<(), TransportError> {
        self.bucket.try_take(read_clock());
        link.send(frame).await
    }

    async fn command(
        &mut self,
        command: Command,
        link: Option<&mut Link>,
    ) -> Result<(), TransportError> {
        match command {
            Command::Join(room) => {
                if !self.rooms.contains_key(&room) {
                    let cursor = match self.store.cursor(&room).await {
                        Ok(cursor) => cursor,
                        Err(e) => {
                            self.storage_failed(e);
                            None
                        }
                    };
                    let state = RoomState {
                        sync: RoomSync::resume(cursor),
                        members: BTreeMap::new(),
                        known: BTreeMap::new(),
                    };
                    self.rooms.insert(room.clone(), state);
                }
                let Some(state) = self.rooms.get_mut(&room) else {
                    return Ok(());
                };
                if let Some(link) = link {
                    state.sync.on_join_sent();
                    let since = state.sync.since();
                    self.send(link, &ClientFrame::Join(Join { room, since }))
                        .await?;
                }
            }
            Command::Leave(room) => {
                self.p2p.upgraded.remove(&room);
                if self.rooms.remove(&room).is_some() {
                    if let Some(link) = link {
                        self.send(link, &ClientFrame::Leave(Leave { room })).await?;
                        self.reconcile(Some(link)).await?;
                    } else {
                        self.reconcile(None).await?;
                    }
                }
            }
            Command::Send(mut chat, waiter) => {
                if self.rooms.contains_key(&chat.room) {
                    let prev = self.p2p.typed(&chat);
                    self.send_direct(&mut chat, prev).await;
                    let event = Event::Queued {
                        id: chat.id,
                        room: chat.room.clone(),
                    };
                    self.outbox.push(chat, Some(waiter));
                    self.emit(event);
                } else {
                    let reason = "the room was not joined";
                    if let Err(e) = self.store.mark_failed(chat.id, reason).await {
                        self.storage_failed(e);
                    }
                    let _ = waiter.send(Err(EngineError::NotJoined(chat.room.to_string())));
                }
            }
            Command::Members(room, reply) => {
                let members = self
                    .rooms
                    .get(&room)
                    .map(|state| state.members.values().cloned().collect())
                    .unwrap_or_default();
                let _ = reply.send(members);
            }
            Command::Pending(reply) => {
                let _ = reply.send(self.outbox.len());
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.snapshot());
            }
            Command::Diagnostics(reply) => {
                let rooms = self
                    .rooms
                    .iter()
                    .map(|(room, state)| RoomDiagnostics {
                        room: room.clone(),
                        cursor: state.sync.since(),
                        members: state.members.values().cloned().collect(),
                    })
                    .collect();
                let now = read_clock();
                let stats = self.snapshot();
                let _ = reply.send(Diagnostics {
                    relay_url: self.url.clone(),
                    device: self.identity.device,
                    name: self.identity.name.clone(),
                    rooms,
                    routes: stats.routes(self.relay_route),
                    stats,
                    preferred: self.p2p.config.preferred,
                    network: self.p2p.config.network,
                    breakers: Breakers {
                        relay: self.relay.breaker(now),
                        p2p: self.p2p.links.breaker(now),
                    },
                    peers: self.peer_diagnostics(now),
                });
            }
            Command::Prefer(preferred) => {
                self.p2p.config.preferred = preferred;
                if preferred == crate::router::PreferredRoute::Relay {
                    let closing = self.p2p.links.close_all();
                    self.act(closing, None).await?;
                }
                self.reconcile(link).await?;
                self.update_route().await;
            }
            Command::Upgrade(room) => {
                if self.rooms.contains_key(&room) {
                    self.p2p.upgraded.insert(room);
                    self.p2p.links.reset_discovery();
                    self.reconcile(link).await?;
                }
            }
            Command::ResetBreakers => {
                self.relay.reset();
                self.p2p.links.reset();
                self.reconcile(link).await?;
            }
            Command::Power(budget) => self.set_budget(budget, link).await?,
            Command::Reconnect | Command::Shutdown => {}
        }
        Ok(())
    }

    /// Handles a batch of frames: their store writes go in one transaction, then their
    /// events go out in order. Under load this is what keeps the store from costing one
    /// commit per message.
    async fn frames(
        &mut self,
        frames: Vec<ServerFrame>,
        link: &mut Link,
    ) -> Result<(), TransportError> {
        let mut batch = Batch::new(link.route());
        for frame in frames {
            self.frame(frame, &mut batch).await;
        }
        self.apply(batch, Some(link)).await
    }

    /// Folds one frame into the batch: state changes now, writes and events later.
    async fn frame(&mut self, frame: ServerFrame, batch: &mut Batch) {
        match frame {
            ServerFrame::Joined(joined) => {
                let room = joined.room.clone();
                let Some(state) = self.rooms.get_mut(&room) else {
                    return;
                };
                state.members = joined
                    .members
                    .iter()
                    .map(|m| (m.device, m.clone()))
                    .collect();
                state
                    .known
                    .extend(joined.members.iter().map(|m| (m.device, m.name.clone())));
                batch.events.push(Event::Joined {
                    room: room.clone(),
                    name: joined.name.clone(),
                    members: joined.members.clone(),
                });
                batch.membership_changed = true;
                let output = state.sync.on_joined(joined);
                batch.synced(room, output, &mut self.p2p.seen);
            }
            ServerFrame::Chat(message) => {
                let room = message.room.clone();
                if let Some(state) = self.rooms.get_mut(&room) {
                    let output = state.sync.on_live(message);
                    batch.synced(room, output, &mut self.p2p.seen);
                }
            }
            ServerFrame::Sequenced(notice) => {
                let room = notice.room.clone();
                let Some(state) = self.rooms.get_mut(&room) else {
                    return;
                };
                let output = match self.p2p.take_unsequenced(notice.id) {
                    Some(mut message) => {
                        message.seq = notice.seq;
                        self.p2p.seen.numbering(message.id);
                        state.sync.on_live(message)
                    }
                    None if self.p2p.open_links() > 0 => {
                        // The direct copy may still be on its way: wait a moment for it.
                        state.sync.on_expected(notice.seq);
                        self.p2p.await_direct(notice);
                        return;
                    }
                    None => state.sync.on_missing(notice.seq),
                };
                batch.synced(room, output, &mut self.p2p.seen);
            }
            ServerFrame::Ack(ack) => {
                batch.sent.push((ack.id, ack.seq));
                if self.outbox.settle(ack.id, Ok(ack.seq)) {
                    self.stats.acked += 1;
                    self.stats.acked_by.add(batch.route, 1);
                    batch.events.push(Event::Acked {
                        id: ack.id,
                        room: ack.room,
                        seq: ack.seq,
                        duplicate: ack.duplicate,
                    });
                }
            }
            ServerFrame::Presence(presence) => {
                if let Some(state) = self.rooms.get_mut(&presence.room) {
                    match presence.change {
                        PresenceChange::Joined => {
                            state
                                .members
                                .insert(presence.member.device, presence.member.clone());
                            state
                                .known
                                .insert(presence.member.device, presence.member.name.clone());
                        }
                        PresenceChange::Left => {
                            state.members.remove(&presence.member.device);
                        }
                    }
                }
                batch.membership_changed = true;
                batch.events.push(Event::Presence {
                    room: presence.room,
                    change: presence.change,
                    member: presence.member,
                    online: presence.online,
                });
            }
            ServerFrame::Left(left) => batch.events.push(Event::Left { room: left.room }),
            ServerFrame::Error(error) => {
                if let Some(id) = error.id {
                    match error.code {
                        code if code.is_retryable() => {
                            let at = read_clock() + self.spending.retry_after;
                            self.outbox.retry_at(id, at);
                        }
                        code => {
                            let refused = EngineError::Refused {
                                code,
                                message: error.message.clone(),
                            };
                            let reason = refused.to_string();
                            if self.outbox.settle(id, Err(refused)) {
                                let room = error.room.clone();
                                self.fail(id, room, reason).await;
                            }
                        }
                    }
                }
                batch.events.push(Event::Error {
                    code: error.code,
                    message: error.message,
                    id: error.id,
                    room: error.room,
                });
            }
            ServerFrame::Pong(pong) => {
                if let Some(rtt) = self.relay.pong(pong.nonce, read_clock()) {
                    self.stats.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
                }
            }
            ServerFrame::Signal(signal) => batch.signals.push(signal),
            ServerFrame::Welcome(_) => {}
        }
    }

    /// Writes a batch to the store, then tells the app, then asks the relay for what is
    /// missing. Writing first means that what the user sees is already on disk.
    /// Without a relay link (a direct message numbered while the relay went away), what
    /// needs the relay waits for the next join.
    async fn apply(&mut self, batch: Batch, link: Option<&mut Link>) -> Result<(), TransportError> {
        self.stats.delivered.add(batch.route, batch.shown);
        self.stats.duplicates_filtered += batch.duplicates;
        if let Err(e) = self.store.mark_sent(&batch.sent).await {
            self.storage_failed(e);
        }
        let keep = self.retention.history_max_messages;
        let me = self.identity.device;
        let recorded = self
            .store
            .record_delivered(&batch.delivered, me, batch.route, keep)
            .await;
        if let Err(e) = recorded {
            self.storage_failed(e);
        }
        for event in batch.events {
            if let Event::Message { message, .. } = &event {
                self.p2p.holdback.shown(message.id);
            }
            self.emit(event);
        }
        let Some(link) = link else {
            return Ok(());
        };
        for (room, since) in batch.resync {
            if let Some(state) = self.rooms.get_mut(&room) {
                state.sync.on_join_sent();
            }
            let join = ClientFrame::Join(Join {
                room,
                since: Some(since),
            });
            self.send(link, &join).await?;
        }
        for signal in batch.signals {
            self.on_signal(signal, link).await?;
        }
        if batch.membership_changed {
            self.reconcile(Some(link)).await?;
        }
        Ok(())
    }

    fn snapshot(&self) -> Stats {
        Stats {
            queued: self.outbox.len(),
            p2p: self.p2p.links.counters(),
            p2p_links: self.p2p.open_links(),
            p2p_rtt_ms: self.p2p.median_rtt(),
            mode: self.spending.mode,
            traffic: self.meter.snapshot(),
            ..self.stats.clone()
        }
    }

    /// Marks outbox messages past their age failed, and drops history past its age.
    async fn maintain(&mut self) {
        let now = unix_ms();
        let age = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now.saturating_sub(age(self.retention.outbox_max_age));
        let reason = format!(
            "not delivered within {} minutes",
            self.retention.outbox_max_age.as_secs() / 60
        );
        match self.store.expire_queued(cutoff, &reason).await {
            Ok(expired) => {
                for (id, room) in expired {
                    self.outbox
                        .settle(id, Err(EngineError::Failed(reason.clone())));
                    self.fail(id, Some(room), reason.clone()).await;
                }
            }
            Err(e) => self.storage_failed(e),
        }
        let cutoff = now.saturating_sub(age(self.retention.history_max_age));
        if let Err(e) = self.store.prune_older_than(cutoff).await {
            self.storage_failed(e);
        }
    }

    /// Records that a message will not be delivered, and tells the app.
    async fn fail(&mut self, id: MessageId, room: Option<RoomName>, reason: String) {
        if let Err(e) = self.store.mark_failed(id, &reason).await {
            self.storage_failed(e);
        }
        if let Some(room) = room {
            self.emit(Event::Failed { id, room, reason });
        }
    }

    fn storage_failed(&self, error: EngineError) {
        tracing::error!("local store: {error}");
        self.emit(Event::StorageFailed {
            reason: error.to_string(),
        });
    }

    /// Tells the app; never waits for it (see [`EventSender`]).
    fn emit(&self, event: Event) {
        self.events.emit(event);
    }
}

/// The engine's clock: the driver reads it here and hands the instant to each decision; the
/// state machines never read it themselves (clippy's `disallowed-methods` keeps it so). It is
/// tokio's clock, the one the driver's timers sleep on, so that a test that pauses time runs
/// the engine's decisions and its timers on the same simulated clock.
pub(super) fn read_clock() -> std::time::Instant {
    Instant::now().into_std()
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
