//! The engine's one task: owns rooms, outbox and link, and turns commands and frames into
//! frames and events. Decisions are made by the pure parts ([`RoomSync`], [`Outbox`],
//! [`Backoff`], [`TokenBucket`]); this file only moves data between them and the socket.

use std::collections::BTreeMap;
use std::time::Duration;

use festival_proto::{
    ChatMessage, ChatSend, ClientFrame, DeviceId, ErrorCode, Join, Leave, Limits, Member,
    MessageId, Ping, PresenceChange, RoomName, ServerFrame, TokenBucket, Welcome,
};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::link::{Incoming, Link};
use super::{Command, EngineConfig, unix_ms};
use crate::outbox::Outbox;
use crate::stats::{Diagnostics, RoomDiagnostics, Stats};
use crate::store::{Identity, Store};
use crate::sync::{RoomSync, SyncOutput};
use crate::transport::backoff::Backoff;
use crate::transport::poll::{PollLink, poll_url};
use crate::transport::relay::{self, LinkError};
use crate::{EngineError, Event, Route};

/// How often the relay is pinged, and how long it may stay silent before the link counts as
/// dead (a phone that lost its tower often sees no error at all).
const PING_EVERY: Duration = Duration::from_secs(15);
const SILENCE_LIMIT: Duration = Duration::from_secs(45);
/// How long a message the relay could not take right now waits before it is sent again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often expired outbox messages are marked failed and old history is pruned.
const MAINTAIN_EVERY: Duration = Duration::from_secs(60);
/// Failed WebSocket attempts in a row before the long-poll route is tried.
const POLL_AFTER_FAILURES: u32 = 2;

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
    members: BTreeMap<DeviceId, Member>,
}

/// What a batch of frames asks for, applied together by [`Driver::apply`].
struct Batch {
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
}

impl Batch {
    fn new(route: Route) -> Self {
        Self {
            route,
            sent: Vec::new(),
            delivered: Vec::new(),
            events: Vec::new(),
            resync: Vec::new(),
            duplicates: 0,
        }
    }

    fn synced(&mut self, room: RoomName, output: SyncOutput) {
        self.duplicates += output.duplicates;
        for message in output.deliver {
            self.delivered.push(message.clone());
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
    Lost(LinkError),
    Shutdown,
    /// While on long-poll, a WebSocket could be opened again: serve it instead.
    Upgraded(Link, Incoming, Welcome),
}

pub(super) struct Driver {
    url: String,
    identity: Identity,
    store: Store,
    events: mpsc::Sender<Event>,
    rooms: BTreeMap<RoomName, RoomState>,
    outbox: Outbox,
    backoff: Backoff,
    bucket: TokenBucket,
    retention: Retention,
    stats: Stats,
    links_opened: u64,
    /// The last ping sent on the WebSocket, to time its pong.
    ping_sent: Option<(u64, std::time::Instant)>,
}

impl Driver {
    /// A driver that takes up `queued` messages and resumes `rooms` from their cursors.
    pub(super) fn new(
        url: String,
        identity: Identity,
        store: Store,
        events: mpsc::Sender<Event>,
        retention: Retention,
        rooms: BTreeMap<RoomName, RoomSync>,
        queued: Vec<ChatSend>,
    ) -> Self {
        let limits = Limits::default();
        let mut outbox = Outbox::default();
        for chat in queued {
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
                    };
                    (room, state)
                })
                .collect(),
            outbox,
            retention,
            stats: Stats::default(),
            links_opened: 0,
            ping_sent: None,
            backoff: Backoff::default(),
            bucket: TokenBucket::new(
                limits.rate_per_sec,
                limits.rate_burst,
                std::time::Instant::now(),
            ),
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        self.maintain().await;
        let mut socket_failures = 0;
        loop {
            let mut attempt = self.open_socket().await;
            if attempt.is_err() {
                socket_failures += 1;
            }
            if let Err(reason) = &attempt {
                if socket_failures >= POLL_AFTER_FAILURES {
                    attempt = self
                        .open_poll()
                        .await
                        .map_err(|poll| format!("{reason}; {poll}"));
                }
            }
            let reason = match attempt {
                Err(reason) => reason,
                Ok(mut link) => loop {
                    let (link_tx, incoming, welcome) = link;
                    if matches!(link_tx, Link::Ws(_)) {
                        socket_failures = 0;
                    }
                    self.connected(welcome, link_tx.route()).await;
                    match self.serve(link_tx, incoming, &mut commands).await {
                        Ended::Shutdown => {
                            self.store.close().await;
                            return;
                        }
                        Ended::Upgraded(link_tx, incoming, welcome) => {
                            link = (link_tx, incoming, welcome);
                        }
                        Ended::Lost(reason) => {
                            self.outbox.mark_all_unsent();
                            self.stats.route = None;
                            self.emit(Event::RouteChanged { route: None }).await;
                            break reason;
                        }
                    }
                },
            };
            let delay = self.backoff.next_delay(rand::rng().random());
            self.emit(Event::Disconnected {
                reason,
                retry_in_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            })
            .await;
            if !self.wait_offline(delay, &mut commands).await {
                break;
            }
        }
        self.store.close().await;
    }

    async fn open_socket(&self) -> Result<(Link, Incoming, Welcome), LinkError> {
        let (sink, stream, welcome) = relay::connect(&self.url, &self.identity).await?;
        Ok((Link::Ws(sink), Incoming::Ws(stream), welcome))
    }

    async fn open_poll(&self) -> Result<(Link, Incoming, Welcome), LinkError> {
        let url = poll_url(&self.url).ok_or("no long-poll URL for this relay URL")?;
        let (link, frames) = PollLink::open(&url, &self.identity).await?;
        let Some(ServerFrame::Welcome(welcome)) = frames.into_iter().next() else {
            link.close().await;
            return Err("the relay's long-poll did not welcome us".into());
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
        self.stats.route = Some(route);
        let limits = welcome.limits;
        // Stay a little under the relay's budget: its clock sees our frames bunched up by
        // the network.
        self.bucket = TokenBucket::new(
            limits.rate_per_sec,
            (limits.rate_burst * 4 / 5).max(1),
            std::time::Instant::now(),
        );
        self.emit(Event::Connected {
            peer_id: welcome.peer_id,
            device: welcome.device,
            name: welcome.name,
        })
        .await;
        self.emit(Event::RouteChanged { route: Some(route) }).await;
    }

    /// Handles commands while the link is down, until `delay` passed. False on shutdown.
    async fn wait_offline(
        &mut self,
        delay: Duration,
        commands: &mut mpsc::Receiver<Command>,
    ) -> bool {
        let until = Instant::now() + delay;
        let mut maintain =
            tokio::time::interval_at(Instant::now() + MAINTAIN_EVERY, MAINTAIN_EVERY);
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return true,
                _ = maintain.tick() => self.maintain().await,
                command = commands.recv() => match command {
                    None | Some(Command::Shutdown) => return false,
                    Some(command) => {
                        // Nothing is sent offline; joins and sends wait for the link.
                        let _ = self.command(command, None).await;
                    }
                },
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
    ) -> Ended {
        if let Err(reason) = self.rejoin_all(&mut link).await {
            return Ended::Lost(reason);
        }
        // The first ping goes out at once, so the round trip is known from the start.
        let mut ping = tokio::time::interval(PING_EVERY);
        let mut maintain =
            tokio::time::interval_at(Instant::now() + MAINTAIN_EVERY, MAINTAIN_EVERY);
        let retry = self.retention.socket_retry;
        let mut socket_retry = tokio::time::interval_at(Instant::now() + retry, retry);
        let polling = matches!(link, Link::Poll(_));
        let mut last_heard = Instant::now();
        let mut nonce = 0;
        loop {
            if let Err(reason) = self.flush(&mut link).await {
                return Ended::Lost(reason);
            }
            let wake = self.next_flush();
            let step = tokio::select! {
                frames = incoming.next() => match frames {
                    Ok(frames) => {
                        last_heard = Instant::now();
                        self.frames(frames, &mut link).await
                    }
                    Err(reason) => Err(reason),
                },
                command = commands.recv() => match command {
                    None | Some(Command::Shutdown) => {
                        link.close().await;
                        return Ended::Shutdown;
                    }
                    Some(command) => self.command(command, Some(&mut link)).await,
                },
                _ = ping.tick(), if !polling => {
                    if last_heard.elapsed() > SILENCE_LIMIT {
                        Err("the relay stopped answering".to_owned())
                    } else {
                        nonce += 1;
                        self.ping_sent = Some((nonce, std::time::Instant::now()));
                        self.send(&mut link, &ClientFrame::Ping(Ping { nonce })).await
                    }
                }
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
            if let Err(reason) = step {
                return Ended::Lost(reason);
            }
        }
    }

    async fn rejoin_all(&mut self, link: &mut Link) -> Result<(), LinkError> {
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
    async fn flush(&mut self, link: &mut Link) -> Result<(), LinkError> {
        let now = std::time::Instant::now();
        let mut fed = false;
        while let Some(chat) = self.outbox.next_due(now).cloned() {
            if !self.bucket.try_take(now) {
                break;
            }
            link.feed(&ClientFrame::Chat(chat.clone())).await?;
            self.outbox.mark_sent(chat.id);
            fed = true;
        }
        if fed {
            link.flush().await?;
        }
        Ok(())
    }

    /// When the next queued message could go out, if one is waiting.
    fn next_flush(&self) -> Option<Instant> {
        let now = std::time::Instant::now();
        if self.outbox.next_due(now).is_some() {
            return Some(Instant::now() + self.bucket.wait(now));
        }
        self.outbox.next_retry().map(Instant::from_std)
    }

    /// Sends a control frame, counting it against the rate budget.
    async fn send(&mut self, link: &mut Link, frame: &ClientFrame) -> Result<(), LinkError> {
        self.bucket.try_take(std::time::Instant::now());
        link.send(frame).await
    }

    async fn command(
        &mut self,
        command: Command,
        link: Option<&mut Link>,
    ) -> Result<(), LinkError> {
        match command {
            Command::Join(room) => {
                if !self.rooms.contains_key(&room) {
                    let cursor = match self.store.cursor(&room).await {
                        Ok(cursor) => cursor,
                        Err(e) => {
                            self.storage_failed(e).await;
                            None
                        }
                    };
                    let state = RoomState {
                        sync: RoomSync::resume(cursor),
                        members: BTreeMap::new(),
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
                if self.rooms.remove(&room).is_some() {
                    if let Some(link) = link {
                        self.send(link, &ClientFrame::Leave(Leave { room })).await?;
                    }
                }
            }
            Command::Send(chat, waiter) => {
                if self.rooms.contains_key(&chat.room) {
                    let event = Event::Queued {
                        id: chat.id,
                        room: chat.room.clone(),
                    };
                    self.outbox.push(chat, Some(waiter));
                    self.emit(event).await;
                } else {
                    let reason = "the room was not joined";
                    if let Err(e) = self.store.mark_failed(chat.id, reason).await {
                        self.storage_failed(e).await;
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
                let _ = reply.send(Diagnostics {
                    relay_url: self.url.clone(),
                    device: self.identity.device,
                    name: self.identity.name.clone(),
                    rooms,
                    stats: self.snapshot(),
                });
            }
            Command::Shutdown => {}
        }
        Ok(())
    }

    /// Handles a batch of frames: their store writes go in one transaction, then their
    /// events go out in order. Under load this is what keeps the store from costing one
    /// commit per message.
    async fn frames(&mut self, frames: Vec<ServerFrame>, link: &mut Link) -> Result<(), LinkError> {
        let mut batch = Batch::new(link.route());
        for frame in frames {
            self.frame(frame, &mut batch).await;
        }
        self.apply(batch, link).await
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
                batch.events.push(Event::Joined {
                    room: room.clone(),
                    name: joined.name.clone(),
                    members: joined.members.clone(),
                });
                let output = state.sync.on_joined(joined);
                batch.synced(room, output);
            }
            ServerFrame::Chat(message) => {
                let room = message.room.clone();
                if let Some(state) = self.rooms.get_mut(&room) {
                    let output = state.sync.on_live(message);
                    batch.synced(room, output);
                }
            }
            ServerFrame::Ack(ack) => {
                batch.sent.push((ack.id, ack.seq));
                if self.outbox.settle(ack.id, Ok(ack.seq)) {
                    self.stats.acked += 1;
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
                        }
                        PresenceChange::Left => {
                            state.members.remove(&presence.member.device);
                        }
                    }
                }
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
                        ErrorCode::RateLimited | ErrorCode::Internal => {
                            let at = std::time::Instant::now() + RETRY_AFTER;
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
                if let Some((nonce, sent)) = self.ping_sent.take() {
                    if nonce == pong.nonce {
                        self.stats.rtt_ms = Some(sent.elapsed().as_secs_f64() * 1000.0);
                    }
                }
            }
            ServerFrame::Welcome(_) | ServerFrame::Signal(_) => {}
        }
    }

    /// Writes a batch to the store, then tells the app, then asks the relay for what is
    /// missing. Writing first means that what the user sees is already on disk.
    async fn apply(&mut self, batch: Batch, link: &mut Link) -> Result<(), LinkError> {
        self.stats
            .delivered
            .add(batch.route, batch.delivered.len() as u64);
        self.stats.duplicates_filtered += batch.duplicates;
        if let Err(e) = self.store.mark_sent(&batch.sent).await {
            self.storage_failed(e).await;
        }
        let keep = self.retention.history_max_messages;
        let me = self.identity.device;
        let recorded = self
            .store
            .record_delivered(&batch.delivered, me, batch.route, keep)
            .await;
        if let Err(e) = recorded {
            self.storage_failed(e).await;
        }
        for event in batch.events {
            self.emit(event).await;
        }
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
        Ok(())
    }

    fn snapshot(&self) -> Stats {
        Stats {
            queued: self.outbox.len(),
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
            Err(e) => self.storage_failed(e).await,
        }
        let cutoff = now.saturating_sub(age(self.retention.history_max_age));
        if let Err(e) = self.store.prune_older_than(cutoff).await {
            self.storage_failed(e).await;
        }
    }

    /// Records that a message will not be delivered, and tells the app.
    async fn fail(&mut self, id: MessageId, room: Option<RoomName>, reason: String) {
        if let Err(e) = self.store.mark_failed(id, &reason).await {
            self.storage_failed(e).await;
        }
        if let Some(room) = room {
            self.emit(Event::Failed { id, room, reason }).await;
        }
    }

    async fn storage_failed(&self, error: EngineError) {
        tracing::error!("local store: {error}");
        self.emit(Event::StorageFailed {
            reason: error.to_string(),
        })
        .await;
    }

    async fn emit(&self, event: Event) {
        // An app that dropped its event stream no longer listens; the engine carries on.
        let _ = self.events.send(event).await;
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
