//! The relay half of [`EngineState`]: dialing and falling back, the link coming and going,
//! frames from the relay in batches, the outbox's pacing and the keepalive.

use std::time::Instant;

use festival_proto::{
    ChatMessage, ClientFrame, DeviceKey, Join, MessageId, Ping, PresenceChange, RoomName, Seq,
    ServerFrame, SignalRelayed, TokenBucket, Welcome,
};

use super::{EngineState, Output, PeerAction, StoreOp};
use crate::dedup::{Release, Seen};
use crate::engine::relay_policy::{Keepalive, RelayRoute};
use crate::privacy::Keyring;
use crate::sync::SyncOutput;
use crate::transport::TransportError;
use crate::{Authenticity, Delivered, EngineError, Event, Route};

/// What a batch of frames asks for, applied together by [`EngineState::apply`].
pub(super) struct Batch {
    /// The route the frames came by.
    route: Route,
    /// Acks: message id and its sequence number.
    sent: Vec<(MessageId, Seq)>,
    /// Messages to record, in order.
    delivered: Vec<Delivered>,
    /// Events for the app, in order.
    events: Vec<Event>,
    /// Rooms to join again from a sequence number.
    resync: Vec<(RoomName, Seq)>,
    /// Messages dropped as already delivered.
    duplicates: u64,
    /// Messages shown to the user.
    shown: u64,
    /// Signaling from other devices, handled once the batch is applied.
    signals: Vec<SignalRelayed>,
    /// Someone came or went, or a room was (re)joined: direct links may need to change.
    membership_changed: bool,
    /// An owner's rekey gave this device a new room key: the keyring is saved first.
    keys_learned: bool,
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
            keys_learned: false,
        }
    }

    /// Takes what sync decided: every message is recorded, but one already shown (it came
    /// directly from its sender) is not shown again.
    /// Sealed messages are opened here, before they are recorded or shown.
    pub(super) fn synced(
        &mut self,
        room: RoomName,
        output: SyncOutput,
        seen: &mut Seen,
        opener: Opener<'_>,
    ) {
        self.duplicates += output.duplicates;
        for mut message in output.deliver {
            let (privacy, learned) = opener.keyring.open(&mut message, opener.me);
            self.keys_learned |= learned.0;
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
                authenticity: Authenticity::of(&message),
                message,
                route: self.route,
                privacy,
            });
        }
        if let Some(since) = output.resync {
            self.resync.push((room, since));
        }
    }
}

/// What opens sealed messages: the keyring and this device's key (for a rekey).
#[derive(Clone, Copy)]
pub(super) struct Opener<'a> {
    pub(super) keyring: &'a Keyring,
    pub(super) me: &'a DeviceKey,
}

impl EngineState {
    /// The opener of sealed messages.
    pub(super) fn opener<'a>(
        keyring: &'a Keyring,
        identity: &'a crate::store::Identity,
    ) -> Opener<'a> {
        Opener {
            keyring,
            me: &identity.key,
        }
    }

    /// The route of [`Output::Dial`] failed with `reason`: the long-poll is tried after a
    /// WebSocket whose breaker just opened; otherwise the engine waits (backoff) and dials
    /// again.
    pub(crate) fn dial_failed(&mut self, now: Instant, route: RelayRoute, reason: TransportError) {
        match route {
            RelayRoute::Socket if self.relay.socket_failed(now) => {
                self.dialing.socket_error = Some(reason);
                self.out.push_back(Output::Dial(RelayRoute::Poll));
            }
            RelayRoute::Socket => self.offline(now, &reason),
            RelayRoute::Poll => {
                self.relay.neither_opened();
                let socket = self
                    .dialing
                    .socket_error
                    .take()
                    .unwrap_or(TransportError::BreakerOpen);
                let reason = TransportError::NeitherRoute {
                    socket: Box::new(socket),
                    poll: Box::new(reason),
                };
                self.offline(now, &reason);
            }
        }
    }

    /// The route of [`Output::Dial`] opened and the relay welcomed this device.
    pub(crate) fn dialed(&mut self, now: Instant, route: RelayRoute, welcome: Welcome) {
        let route = match route {
            RelayRoute::Socket => {
                self.relay.socket_opened();
                Route::Relay
            }
            RelayRoute::Poll => Route::Poll,
        };
        self.connected(now, route, welcome);
    }

    /// While on long-poll, a WebSocket opened ([`Output::TrySocket`]): it takes over, and
    /// what was not acked goes out again on it.
    pub(crate) fn socket_reopened(&mut self, now: Instant, welcome: Welcome) {
        self.outbox.mark_all_unsent();
        self.connected(now, Route::Relay, welcome);
    }

    /// The relay link failed (the driver saw an I/O error): unacked messages go out again on
    /// the next one, after a backoff.
    pub(crate) fn relay_lost(&mut self, now: Instant, reason: &TransportError) {
        if self.relay_route.is_none() {
            return;
        }
        self.link_down(now);
        self.offline(now, reason);
    }

    /// A link is up: reset the backoff, pace to its limits, tell the app, rejoin every room.
    fn connected(&mut self, now: Instant, route: Route, welcome: Welcome) {
        self.dialing.dialing = false;
        self.dialing.redial_at = None;
        self.backoff.reset();
        if self.links_opened > 0 {
            self.stats.reconnects += 1;
        }
        self.links_opened += 1;
        if route == Route::Poll {
            self.stats.fallbacks += 1;
        }
        self.relay_route = Some(route);
        self.out.push_back(Output::Link(PeerAction::IceServers(
            welcome.ice_servers.clone(),
        )));
        let limits = welcome.limits;
        // Stay a little under the relay's budget: its clock sees our frames bunched up by
        // the network.
        self.bucket =
            TokenBucket::new(limits.rate_per_sec, (limits.rate_burst * 4 / 5).max(1), now);
        self.emit(Event::Connected {
            peer_id: welcome.peer_id,
            device: welcome.device,
            name: welcome.name,
        });
        self.update_route(now);
        let rooms: Vec<RoomName> = self.rooms.keys().cloned().collect();
        for room in rooms {
            self.join_known(now, room);
        }
        self.relay.link_up(now);
        self.dialing.keepalive_at = None;
        self.dialing.socket_retry_at =
            (route == Route::Poll).then(|| now + self.config.socket_retry);
    }

    /// The relay link is gone: what it did not ack is sent again on the next one.
    pub(super) fn link_down(&mut self, now: Instant) {
        self.outbox.mark_all_unsent();
        self.relay_route = None;
        self.flush_at = None;
        self.dialing.keepalive_at = None;
        self.dialing.socket_retry_at = None;
        self.update_route(now);
    }

    /// Waits a backoff before the next dial, and tells the app why and how long.
    pub(super) fn offline(&mut self, now: Instant, reason: &TransportError) {
        let delay = self.backoff.next_delay(self.jitter.next());
        self.dialing.dialing = false;
        self.dialing.redial_at = Some(now + delay);
        self.emit(Event::Disconnected {
            reason: reason.to_string(),
            retry_in_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        });
    }

    /// A batch of frames from the relay: their store writes go in one transaction, then their
    /// events go out in order. Under load this is what keeps the store from costing one
    /// commit per message.
    pub(crate) fn relay_frames(&mut self, now: Instant, frames: Vec<ServerFrame>) {
        let Some(route) = self.relay_route else {
            return;
        };
        self.relay.heard(now);
        let mut batch = Batch::new(route);
        for frame in frames {
            self.relay_frame(now, frame, &mut batch);
        }
        self.apply(now, batch);
    }

    /// Folds one frame into the batch: state changes now, writes and events later.
    fn relay_frame(&mut self, now: Instant, frame: ServerFrame, batch: &mut Batch) {
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
                self.p2p.learn_keys(&joined.members);
                batch.events.push(Event::Joined {
                    room: room.clone(),
                    name: joined.name.clone(),
                    members: joined.members.clone(),
                });
                batch.membership_changed = true;
                let output = state.sync.on_joined(joined);
                batch.synced(
                    room,
                    output,
                    &mut self.p2p.seen,
                    Self::opener(&self.keyring, &self.identity),
                );
            }
            // An announcement is numbered in the room's order like a chat; its sender (the nil
            // device) is what sets it apart.
            ServerFrame::Chat(message) | ServerFrame::Announcement(message) => {
                self.accept_relay_chat(message, batch);
            }
            ServerFrame::Sequenced(notice) => {
                let room = notice.room.clone();
                let Some(state) = self.rooms.get_mut(&room) else {
                    return;
                };
                let output = match self.p2p.take_unsequenced(notice.id) {
                    Some(message) => {
                        self.p2p.seen.numbering(message.id);
                        state.sync.on_live(notice.seq, message)
                    }
                    None if self.p2p.open_links() > 0 => {
                        // The direct copy may still be on its way: wait a moment for it.
                        state.sync.on_expected(notice.seq);
                        let until = now + self.config.timings.direct_grace;
                        self.p2p.await_direct(notice, until);
                        return;
                    }
                    None => state.sync.on_missing(notice.seq),
                };
                batch.synced(
                    room,
                    output,
                    &mut self.p2p.seen,
                    Self::opener(&self.keyring, &self.identity),
                );
            }
            ServerFrame::Ack(ack) => {
                batch.sent.push((ack.id, ack.seq));
                if self.outbox.settle(ack.id) {
                    self.out.push_back(Output::Settled {
                        id: ack.id,
                        result: Ok(ack.seq),
                    });
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
                            self.p2p.learn_keys(std::slice::from_ref(&presence.member));
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
                    if error.code.is_retryable() {
                        self.outbox
                            .retry_at(id, now + self.config.timings.retry_after);
                    } else {
                        let refused = EngineError::Refused {
                            code: error.code,
                            message: error.message.clone(),
                        };
                        let reason = refused.to_string();
                        if self.outbox.settle(id) {
                            self.out.push_back(Output::Settled {
                                id,
                                result: Err(refused),
                            });
                            self.fail(id, error.room.clone(), reason);
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
                if let Some(rtt) = self.relay.pong(pong.nonce, pong.keepalive_s, now) {
                    self.stats.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
                }
            }
            ServerFrame::Signal(signal) => batch.signals.push(signal),
            ServerFrame::Welcome(_) | ServerFrame::Challenge(_) => {}
        }
    }

    /// A chat from the relay: where every message received by the relay route enters. Sync
    /// puts it in the room's order; dedup drops it if another route showed it.
    fn accept_relay_chat(&mut self, message: ChatMessage, batch: &mut Batch) {
        let room = message.room.clone();
        if let Some(state) = self.rooms.get_mut(&room) {
            let output = state.sync.on_live(message.seq, message.into());
            batch.synced(
                room,
                output,
                &mut self.p2p.seen,
                Self::opener(&self.keyring, &self.identity),
            );
        }
    }

    /// Writes a batch to the store, then tells the app, then asks the relay for what is
    /// missing. Writing first means that what the user sees is already on disk. Without a
    /// relay link (a direct message numbered while the relay went away), what needs the
    /// relay waits for the next join.
    pub(super) fn apply(&mut self, now: Instant, batch: Batch) {
        self.stats.delivered.add(batch.route, batch.shown);
        self.stats.duplicates_filtered += batch.duplicates;
        if batch.keys_learned {
            self.out.push_back(Output::Store(StoreOp::SaveSetting {
                key: crate::privacy::SETTING,
                value: self.keyring.save(),
            }));
        }
        if !batch.sent.is_empty() {
            self.out
                .push_back(Output::Store(StoreOp::MarkSent(batch.sent)));
        }
        if !batch.delivered.is_empty() {
            self.out.push_back(Output::Store(StoreOp::RecordDelivered {
                messages: batch.delivered,
                me: self.identity.device,
                route: batch.route,
                keep: self.config.history_max_messages,
            }));
        }
        for event in batch.events {
            if let Event::Message { message, .. } = &event {
                self.p2p.holdback.shown(message.id);
            }
            self.emit(event);
        }
        if self.relay_route.is_none() {
            return;
        }
        for (room, since) in batch.resync {
            if let Some(state) = self.rooms.get_mut(&room) {
                state.sync.on_join_sent();
            }
            let join = ClientFrame::Join(Join {
                room,
                since: Some(since),
            });
            self.send_relay(now, join);
        }
        for signal in batch.signals {
            self.on_signal(now, signal);
        }
        if batch.membership_changed {
            self.reconcile(now);
        }
    }

    /// Sends every queued message the rate budget allows now, and notes when to look again.
    pub(super) fn flush(&mut self, now: Instant) {
        let Some(route) = self.relay_route else {
            return;
        };
        while let Some(chat) = self.outbox.next_due(now).cloned() {
            if !self.bucket.try_take(now) {
                break;
            }
            self.outbox.mark_sent(chat.id);
            self.out.push_back(Output::Relay(ClientFrame::Chat(chat)));
            self.stats.sent.add(route, 1);
        }
        self.flush_at = if self.outbox.next_due(now).is_some() {
            Some(now + self.bucket.wait(now))
        } else {
            self.outbox.next_retry()
        };
    }

    /// Pings the relay's WebSocket when it is time, and gives it up when the relay stayed
    /// silent too long (the long-poll has its own timeouts).
    pub(super) fn keepalive(&mut self, now: Instant) {
        if self.relay_route != Some(Route::Relay) {
            return;
        }
        loop {
            match self.relay.keepalive(now) {
                Keepalive::Ping { nonce, ask } => {
                    let ping = Ping {
                        nonce,
                        keepalive_s: ask,
                    };
                    self.send_relay(now, ClientFrame::Ping(ping));
                }
                Keepalive::Dead => {
                    self.out.push_back(Output::DropRelay { close: false });
                    self.relay_lost(now, &TransportError::Silent);
                    return;
                }
                Keepalive::Wait(at) => {
                    self.dialing.keepalive_at = Some(at);
                    return;
                }
            }
        }
    }
}
