//! The engine's one task: feeds [`EngineState`] its inputs (commands, the relay's frames,
//! the P2P transport's reports, store answers, the clock) and carries out its outputs, in
//! order, through the relay link, WebRTC, the store and the event queue. Every decision is
//! the state machine's; this file only moves data.

use std::collections::HashMap;
use std::sync::Arc;

use festival_proto::{MessageId, ServerFrame, Welcome, encode};
use rand::Rng;
use tokio::sync::mpsc;

use super::events::EventSender;
use super::link::{Incoming, Link};
use super::relay_policy::RelayRoute;
use super::state::{EngineState, Output, PeerAction, StoreAnswer, StoreOp};
use super::{AckWaiter, Command, unix_ms};
use crate::stats::{Meter, Stats};
use crate::store::{Identity, Store};
use crate::transport::TransportError;
use crate::transport::poll::{PollLink, poll_url};
use crate::transport::relay;
use crate::transport::webrtc::{PeerEvent, Webrtc};
use crate::{EngineError, Event, Route};

/// The relay link while it is up: its sending and receiving halves.
type Served = Option<(Link, Incoming)>;

pub(super) struct Driver {
    url: String,
    identity: Identity,
    store: Store,
    events: EventSender,
    state: EngineState,
    webrtc: Webrtc,
    /// Senders waiting for their message's outcome.
    waiters: HashMap<MessageId, AckWaiter>,
    /// Frames and bytes each way, by route: what the power modes are measured by.
    meter: Arc<Meter>,
    /// How often this task woke up (any input or timer): the power modes' other measure.
    wakeups: u64,
    /// How many of those a timer alone caused.
    timer_wakeups: u64,
}

impl Driver {
    pub(super) fn new(
        url: String,
        identity: Identity,
        store: Store,
        events: EventSender,
        state: EngineState,
        webrtc: Webrtc,
    ) -> Self {
        Self {
            url,
            identity,
            store,
            events,
            state,
            webrtc,
            waiters: HashMap::new(),
            meter: Arc::default(),
            wakeups: 0,
            timer_wakeups: 0,
        }
    }

    pub(super) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut peers: mpsc::Receiver<PeerEvent>,
    ) {
        let mut link: Served = None;
        loop {
            self.settle(&mut link).await;
            let wake = tokio::time::Instant::from_std(self.state.poll_timeout());
            let caught_up = self.events.room_for_summary();
            tokio::select! {
                () = caught_up => self.events.catch_up(),
                frames = next_frames(&mut link) => match frames {
                    Ok(frames) => self.state.relay_frames(clock(), frames),
                    Err(reason) => {
                        link = None;
                        self.state.relay_lost(clock(), &reason);
                    }
                },
                command = commands.recv() => match command {
                    None | Some(Command::Shutdown) => break,
                    Some(command) => self.command(command),
                },
                Some(event) = peers.recv() => {
                    if let PeerEvent::Text { text, .. } = &event {
                        self.meter.received(Route::P2p, text.len());
                    }
                    self.state.peer_event(clock(), event);
                }
                () = tokio::time::sleep_until(wake) => self.timer_wakeups += 1,
            }
            self.wakeups += 1;
        }
        if let Some((sink, _)) = link {
            sink.close().await;
        }
        self.webrtc.close_all().await;
        self.store.close().await;
    }

    fn command(&mut self, command: Command) {
        let now = clock();
        match command {
            Command::Join(room) => self.state.join(now, room),
            Command::Leave(room) => self.state.leave(now, room),
            Command::Send(chat, waiter) => {
                self.waiters.insert(chat.id, waiter);
                self.state.enqueue_chat(now, chat);
            }
            Command::Members(room, reply) => drop(reply.send(self.state.members(&room))),
            Command::Trust(command) => self.state.trust_command(command),
            Command::Pending(reply) => drop(reply.send(self.state.pending())),
            Command::Stats(reply) => drop(reply.send(self.measured(self.state.stats()))),
            Command::Diagnostics(reply) => {
                let mut diagnostics = self.state.diagnostics(now);
                diagnostics.stats = self.measured(diagnostics.stats);
                drop(reply.send(diagnostics));
            }
            Command::Prefer(preferred) => self.state.prefer(now, preferred),
            Command::Upgrade(room) => self.state.upgrade(now, room),
            Command::ResetBreakers => self.state.reset_breakers(now),
            Command::Reconnect => self.state.reconnect(now),
            Command::Power(budget) => self.state.set_power_budget(now, budget),
            Command::Shutdown => {}
        }
    }

    /// The machine's counters with what only the driver sees: wake-ups and traffic.
    fn measured(&self, stats: Stats) -> Stats {
        Stats {
            wakeups: self.wakeups,
            timer_wakeups: self.timer_wakeups,
            traffic: self.meter.snapshot(),
            ..stats
        }
    }

    /// Carries out every output, the consequences of the answers included, until the state
    /// machine has nothing due; frames for the relay go out in one write.
    async fn settle(&mut self, link: &mut Served) {
        loop {
            let mut fed = false;
            while let Some(output) = self.state.poll_output() {
                self.execute(output, link, &mut fed).await;
            }
            if fed {
                if let Some((sink, _)) = link.as_mut() {
                    if let Err(reason) = sink.flush().await {
                        *link = None;
                        self.state.relay_lost(clock(), &reason);
                    }
                }
            }
            self.state.handle_timeout(clock(), unix_ms());
            if !self.state.has_output() {
                return;
            }
        }
    }

    async fn execute(&mut self, output: Output, link: &mut Served, fed: &mut bool) {
        match output {
            Output::Relay(frame) => {
                if let Some((sink, _)) = link.as_mut() {
                    match sink.feed(&frame).await {
                        Ok(()) => *fed = true,
                        Err(reason) => {
                            *link = None;
                            self.state.relay_lost(clock(), &reason);
                        }
                    }
                }
            }
            Output::Peer {
                peer,
                session,
                frame,
                chat,
            } => {
                let text = encode(&frame);
                self.meter.sent(Route::P2p, text.len());
                let sent = self.webrtc.send(peer, session, text).await;
                if let (true, Some(id)) = (sent, chat) {
                    self.state.direct_sent(id, peer);
                }
            }
            Output::Link(action) => match action {
                PeerAction::Offer { peer, session } => self.webrtc.offer(peer, session),
                PeerAction::Answer { peer, session, sdp } => {
                    self.webrtc.answer(peer, session, sdp);
                }
                PeerAction::Accept { peer, session, sdp } => {
                    self.webrtc.accept(peer, session, sdp);
                }
                PeerAction::Close { peer, session } => self.webrtc.close(peer, session),
                PeerAction::IceServers(servers) => self.webrtc.set_ice_servers(&servers),
            },
            Output::Store(op) => self.store(op).await,
            Output::Event(event) => self.events.emit(event),
            Output::Settled { id, result } => {
                if let Some(waiter) = self.waiters.remove(&id) {
                    let _ = waiter.send(result);
                }
            }
            Output::Dial(route) => match self.open(route).await {
                Ok((sink, incoming, welcome)) => {
                    *link = Some((sink, incoming));
                    self.state.dialed(clock(), route, welcome);
                }
                Err(reason) => self.state.dial_failed(clock(), route, reason),
            },
            Output::TrySocket => {
                if let Ok((sink, incoming, welcome)) = self.open(RelayRoute::Socket).await {
                    if let Some((old, _)) = link.replace((sink, incoming)) {
                        old.close().await;
                    }
                    self.state.socket_reopened(clock(), welcome);
                }
            }
            Output::DropRelay { close } => {
                if let (Some((sink, _)), true) = (link.take(), close) {
                    sink.close().await;
                }
            }
        }
    }

    /// Carries out a store operation; a read's answer goes back to the state machine.
    async fn store(&mut self, op: StoreOp) {
        let store = &self.store;
        let answer = match op {
            StoreOp::MarkSent(acks) => self.stored(store.mark_sent(&acks).await).and(None),
            StoreOp::RecordDelivered {
                messages,
                me,
                route,
                keep,
            } => {
                let recorded = store.record_delivered(&messages, me, route, keep).await;
                self.stored(recorded).and(None)
            }
            StoreOp::SaveSetting { key, value } => {
                self.stored(store.set(key, &value).await).and(None)
            }
            StoreOp::MarkFailed { id, reason } => {
                self.stored(store.mark_failed(id, &reason).await).and(None)
            }
            StoreOp::Prune { cutoff } => {
                self.stored(store.prune_older_than(cutoff).await).and(None)
            }
            StoreOp::ExpireQueued { cutoff, reason } => self
                .stored(store.expire_queued(cutoff, &reason).await)
                .map(StoreAnswer::Expired),
            StoreOp::Cursor(room) => {
                let cursor = self.stored(store.cursor(&room).await).flatten();
                Some(StoreAnswer::Cursor(room, cursor))
            }
            StoreOp::PrevShown { prev, peer, chat } => {
                let known = self.stored(store.contains(prev).await);
                Some(StoreAnswer::PrevShown { peer, chat, known })
            }
            StoreOp::RememberKey(known) => self.stored(store.remember_key(&known).await).and(None),
            StoreOp::OwnMessage { peer, room, id } => {
                let chat = self.stored(store.own_message(&room, id).await).flatten();
                Some(StoreAnswer::OwnMessage { peer, chat })
            }
        };
        if let Some(answer) = answer {
            self.state.store_answer(clock(), answer);
        }
    }

    /// The value of a store call; a failure is logged and reported to the app.
    fn stored<T>(&self, result: Result<T, EngineError>) -> Option<T> {
        result
            .map_err(|error| {
                tracing::error!("local store: {error}");
                self.events.emit(Event::StorageFailed {
                    reason: error.to_string(),
                });
            })
            .ok()
    }

    /// Opens a relay route: the WebSocket, or the long-poll.
    async fn open(&self, route: RelayRoute) -> Result<(Link, Incoming, Welcome), TransportError> {
        if route == RelayRoute::Socket {
            let (sink, stream, welcome) =
                relay::connect(&self.url, &self.identity, &self.meter).await?;
            return Ok((Link::Ws(sink), Incoming::Ws(stream), welcome));
        }
        let url = poll_url(&self.url).ok_or(TransportError::NoPollUrl)?;
        let (link, frames) = PollLink::open(&url, &self.identity, &self.meter).await?;
        let Some(ServerFrame::Welcome(welcome)) = frames.into_iter().next() else {
            link.close().await;
            return Err(TransportError::Protocol(
                "no welcome in answer to the long-poll hello".to_owned(),
            ));
        };
        Ok((Link::Poll(link.clone()), Incoming::poll(link), welcome))
    }
}

/// The relay's next frames, or never while no link is up.
async fn next_frames(link: &mut Served) -> Result<Vec<ServerFrame>, TransportError> {
    match link {
        Some((_, incoming)) => incoming.next().await,
        None => std::future::pending().await,
    }
}

/// The engine's clock, read by the driver only and handed to each decision. Tokio's, so that
/// a paused test clock moves the engine too.
fn clock() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// A seed for the backoff's jitter, different on every device.
pub(super) fn seed() -> u64 {
    rand::rng().random()
}
