//! One room's task: drives the pure [`Room`] with commands from connections, stores chat
//! messages in batches, and fans out each frame encoded once.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use festival_proto::{
    Ack, ChatMessage, DeviceId, DisplayName, ErrorCode, Joined, Left, MessageId, Presence,
    PresenceChange, RoomName, Seq, Sequenced, ServerFrame, SignalRelayed, encode,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{ConnRef, Hub, Queued, RoomCmd, unix_ms};
use crate::outbound::Outbound;
use crate::room::{ConnId, Room};
use crate::store::{NewMessage, StoreError, Stored};

/// The name announcements are shown under in history, for clients that predate them.
const ANNOUNCER_NAME: &str = "Announcement";

/// Most commands taken from the mailbox at once; consecutive chats among them are stored in
/// one transaction.
const BATCH: usize = 256;

struct Pending {
    conn: ConnId,
    device: festival_proto::DeviceId,
    key: festival_proto::PublicKey,
    chat: festival_proto::ChatSend,
}

struct RoomTask {
    hub: Arc<Hub>,
    name: RoomName,
    room: Room,
    conns: HashMap<ConnId, Outbound>,
    latest_seq: Seq,
    members: Arc<AtomicUsize>,
    /// Connections an organiser removed, until they leave: their chats are refused.
    removed: HashMap<ConnId, Outbound>,
}

/// Serves `name` until every connection exited and the mailbox is empty.
pub(super) async fn run(
    hub: Arc<Hub>,
    name: RoomName,
    mut rx: mpsc::Receiver<Queued>,
    previous: Option<JoinHandle<()>>,
    members: Arc<AtomicUsize>,
) {
    if let Some(previous) = previous {
        let _ = previous.await;
    }
    let latest_seq = hub.store.last_seq(&name).await.unwrap_or_else(|e| {
        tracing::error!(room = %name, "reading the room's last sequence number: {e}");
        0
    });
    hub.metrics.rooms.inc();
    let mut task = RoomTask {
        hub: Arc::clone(&hub),
        name,
        room: Room::default(),
        conns: HashMap::new(),
        latest_seq,
        members,
        removed: HashMap::new(),
    };
    // Grown by use, not up front: most rooms are small and quiet, and a full batch's worth
    // for each of them cost 30 KiB per room (1.5 KiB per member in rooms of 20).
    let mut commands = Vec::new();
    let mut queue = VecDeque::new();
    let mut chats = Vec::new();
    while rx.recv_many(&mut commands, BATCH).await > 0 {
        queue.extend(commands.drain(..));
        // A command's share of the mailbox is given back once it is handled.
        while let Some((command, _permit)) = queue.pop_front() {
            match command {
                RoomCmd::Chat {
                    conn,
                    device,
                    key,
                    chat,
                } => chats.push(Pending {
                    conn,
                    device,
                    key,
                    chat,
                }),
                other => {
                    task.store_chats(&mut chats).await;
                    task.handle(other).await;
                    task.members_chats_first(&mut rx, &mut queue, &mut chats);
                }
            }
        }
        task.store_chats(&mut chats).await;
    }
    hub.metrics.rooms.dec();
}

impl RoomTask {
    /// Takes what arrived while a command was handled: members' chats go ahead of the
    /// commands still queued, so that a slow command (a page of history for each of many
    /// joins) delays the room's live traffic by one command, not by the whole queue. A
    /// connection's own commands keep their order: its chat jumps the queue only when
    /// nothing of that connection waits in it.
    fn members_chats_first(
        &self,
        rx: &mut mpsc::Receiver<Queued>,
        queue: &mut VecDeque<Queued>,
        chats: &mut Vec<Pending>,
    ) {
        for _ in 0..BATCH {
            match rx.try_recv() {
                Ok((
                    RoomCmd::Chat {
                        conn,
                        device,
                        key,
                        chat,
                    },
                    _permit,
                )) if self.conns.contains_key(&conn)
                    && !queue.iter().any(|(queued, _)| queued.conn() == Some(conn)) =>
                {
                    chats.push(Pending {
                        conn,
                        device,
                        key,
                        chat,
                    });
                }
                Ok(other) => queue.push_back(other),
                Err(_) => return,
            }
        }
    }

    async fn handle(&mut self, command: RoomCmd) {
        match command {
            RoomCmd::Join {
                conn,
                since,
                served,
            } => {
                self.join(conn, since).await;
                let _ = served.send(());
            }
            RoomCmd::Leave {
                conn,
                device,
                reply,
                settled,
            } => {
                self.leave(conn, device, reply);
                if let Some(settled) = settled {
                    let _ = settled.send(());
                }
            }
            RoomCmd::Signal {
                conn,
                from,
                to,
                payload,
            } => self.signal(conn, from, to, payload),
            RoomCmd::Announce { id, body, done } => {
                let _ = done.send(self.announce(id, body).await);
            }
            RoomCmd::Remove { device, done } => {
                let _ = done.send(self.remove(device));
            }
            RoomCmd::Chat { .. } => {}
        }
    }

    /// Stores an organiser's announcement under the nil device and sends it to everyone in
    /// the room as an `announcement` frame.
    async fn announce(&mut self, id: MessageId, body: String) -> Result<Seq, StoreError> {
        let batch = [NewMessage {
            id,
            sender: ChatMessage::ANNOUNCER,
            from: DisplayName::from_trusted(ANNOUNCER_NAME.into()),
            body,
            sealed: None,
            sent_at: unix_ms(),
            prev: None,
            key: None,
            sig: None,
        }];
        let keep = self.hub.config.history_max_messages;
        let stored = self
            .hub
            .store
            .insert_batch(&self.name, &batch, unix_ms(), keep)
            .await?;
        match stored.into_iter().next() {
            Some(Stored::New(message)) => {
                self.latest_seq = message.seq;
                self.hub.metrics.messages_stored.inc();
                let frame = shared(&ServerFrame::Announcement(message.clone()));
                for conn in self.room.all_conns() {
                    if let Some(out) = self.conns.get(&conn) {
                        out.push(frame.clone());
                    }
                }
                Ok(message.seq)
            }
            Some(Stored::Existing { seq, .. }) => Ok(seq),
            None => Err(StoreError::Corrupt("an announcement was not stored".into())),
        }
    }

    /// Takes every connection of `device` out of the room: each is told (`removed`, then
    /// `left`), the others see it leave. Returns how many connections it had here.
    fn remove(&mut self, device: DeviceId) -> usize {
        let conns = self.room.conns_of(device).to_vec();
        for &conn in &conns {
            let Some(out) = self.conns.get(&conn).cloned() else {
                continue;
            };
            let message = format!(
                "an organiser removed this device from {} for a while",
                self.name
            );
            self.hub.refuse(
                &out,
                ErrorCode::Removed,
                message,
                None,
                Some(self.name.clone()),
            );
            self.leave(conn, device, true);
            self.removed.insert(conn, out);
        }
        conns.len()
    }

    // The relay reads the clock here, where it handles I/O.
    #[allow(clippy::disallowed_methods)]
    async fn join(&mut self, conn: ConnRef, since: Option<Seq>) {
        let now = Instant::now();
        if let Some(until) = self.hub.removed_until(&self.name, conn.device, now) {
            let minutes = (until - now).as_secs().div_ceil(60);
            let message = format!(
                "an organiser removed this device from {} for a while; join again in {minutes} min",
                self.name
            );
            self.hub.refuse(
                &conn.out,
                ErrorCode::Removed,
                message,
                None,
                Some(self.name.clone()),
            );
            return;
        }
        self.removed.remove(&conn.id);
        let joined = self.room.join(conn.device, conn.key, &conn.name, conn.id);
        self.conns.insert(conn.id, conn.out.clone());
        self.members
            .store(self.room.members_count(), Ordering::Release);
        if joined.is_new {
            self.hub.metrics.members.inc();
            self.broadcast_presence(PresenceChange::Joined, &joined.member, Some(conn.id));
        }
        let page = self.hub.config.limits.history_page;
        let history = match since {
            None => self
                .hub
                .store
                .latest(&self.name, page)
                .await
                .map(|h| (h, false)),
            Some(since) => self.hub.store.since(&self.name, since, page).await,
        };
        let (mut history, mut has_more) = match history {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(room = %self.name, "reading history: {e}");
                let message = "the relay could not read the room's history; join again to retry";
                self.hub.refuse(
                    &conn.out,
                    ErrorCode::Internal,
                    message,
                    None,
                    Some(self.name.clone()),
                );
                return;
            }
        };
        // A page is bounded in bytes too: 500 messages of 4 KiB were a 2 MB frame.
        let cap = self.hub.config.history_page_bytes;
        let mut bytes = 0;
        let mut fits = |m: &ChatMessage| {
            bytes += weight(m);
            bytes <= cap
        };
        let keep = match since {
            Some(_) => history.iter().take_while(|m| fits(m)).count(),
            None => history.iter().rev().take_while(|m| fits(m)).count(),
        };
        if keep < history.len() {
            match since {
                Some(_) => {
                    history.truncate(keep);
                    has_more = true;
                }
                None => {
                    history.drain(..history.len() - keep);
                }
            }
        }
        let truncated = since.is_some_and(|since| match history.first() {
            Some(first) => first.seq > since + 1,
            None => self.latest_seq > since,
        });
        let frame = shared(&ServerFrame::Joined(Joined {
            room: self.name.clone(),
            name: joined.member.name,
            members: self.room.members(),
            history,
            latest_seq: self.latest_seq,
            has_more,
            truncated,
        }));
        // A join costs what it sends, against the device's budget in bytes.
        self.hub
            .admission
            .history_sent(conn.device, conn.ip, frame.len(), Instant::now());
        conn.out.push(frame);
    }

    fn leave(&mut self, conn: ConnId, device: festival_proto::DeviceId, reply: bool) {
        if self.removed.remove(&conn).is_some() {
            return;
        }
        let out = self.conns.remove(&conn);
        let gone = self.room.leave(device, conn);
        self.members
            .store(self.room.members_count(), Ordering::Release);
        if let Some(member) = gone {
            self.hub.metrics.members.dec();
            self.broadcast_presence(PresenceChange::Left, &member, None);
        }
        if let Some(out) = out.filter(|_| reply) {
            out.send(&ServerFrame::Left(Left {
                room: self.name.clone(),
            }));
        }
    }

    fn signal(
        &mut self,
        conn: ConnId,
        from: festival_proto::DeviceId,
        to: festival_proto::DeviceId,
        payload: serde_json::Value,
    ) {
        if self.removed.contains_key(&conn) {
            return;
        }
        let targets = self.room.conns_of(to);
        if targets.is_empty() {
            if let Some(out) = self.conns.get(&conn) {
                let message = format!("device {to} is not in {}", self.name);
                self.hub.refuse(
                    out,
                    ErrorCode::UnknownPeer,
                    message,
                    None,
                    Some(self.name.clone()),
                );
            }
            return;
        }
        let frame = shared(&ServerFrame::Signal(SignalRelayed {
            room: self.name.clone(),
            from,
            payload,
        }));
        for target in targets {
            if let Some(out) = self.conns.get(target) {
                out.push(frame.clone());
            }
        }
        self.hub.metrics.signals_relayed.inc();
    }

    /// Stores the pending chats in one transaction, then acks and fans out each, in order.
    async fn store_chats(&mut self, pending: &mut Vec<Pending>) {
        // A connection an organiser removed still holds the room's mailbox until it leaves.
        pending.retain(|p| match self.removed.get(&p.conn) {
            None => true,
            Some(out) => {
                let message = format!("an organiser removed this device from {}", self.name);
                self.hub.refuse(
                    out,
                    ErrorCode::Removed,
                    message,
                    Some(p.chat.id),
                    Some(self.name.clone()),
                );
                false
            }
        });
        if pending.is_empty() {
            return;
        }
        let batch: Vec<NewMessage> = pending
            .iter()
            .map(|p| NewMessage {
                id: p.chat.id,
                sender: p.device,
                from: self
                    .room
                    .shown_name(p.device)
                    .cloned()
                    .unwrap_or_else(|| festival_proto::DisplayName::from_trusted("?".into())),
                body: p.chat.body.clone(),
                sealed: p.chat.sealed.clone(),
                sent_at: p.chat.sent_at,
                prev: p.chat.prev,
                key: Some(p.key),
                sig: Some(p.chat.sig),
            })
            .collect();
        let keep = self.hub.config.history_max_messages;
        let outcomes = self
            .hub
            .store
            .insert_batch(&self.name, &batch, unix_ms(), keep)
            .await;
        match outcomes {
            Ok(outcomes) => {
                for (p, outcome) in pending.drain(..).zip(outcomes) {
                    self.settle(p, outcome);
                }
            }
            Err(e) => {
                tracing::error!(room = %self.name, "storing {} messages: {e}", pending.len());
                for p in pending.drain(..) {
                    if let Some(out) = self.conns.get(&p.conn) {
                        let message = "the relay could not store the message; send it again";
                        self.hub.refuse(
                            out,
                            ErrorCode::Internal,
                            message,
                            Some(p.chat.id),
                            Some(self.name.clone()),
                        );
                    }
                }
            }
        }
    }

    fn settle(&mut self, p: Pending, outcome: Stored) {
        let out = self.conns.get(&p.conn);
        match outcome {
            Stored::New(message) => {
                self.latest_seq = message.seq;
                self.hub.metrics.messages_stored.inc();
                if let Some(out) = out {
                    out.send(&ServerFrame::Ack(Ack {
                        id: message.id,
                        room: message.room.clone(),
                        seq: message.seq,
                        duplicate: false,
                    }));
                }
                self.fan_out(&message, &p.chat.direct);
            }
            Stored::Existing { room, seq, sender } if room == self.name && sender == p.device => {
                self.hub.metrics.messages_duplicate.inc();
                if let Some(out) = out {
                    out.send(&ServerFrame::Ack(Ack {
                        id: p.chat.id,
                        room,
                        seq,
                        duplicate: true,
                    }));
                }
            }
            Stored::Existing { .. } => {
                if let Some(out) = out {
                    let message = "this message id was already used by another device or room";
                    self.hub.refuse(
                        out,
                        ErrorCode::IdConflict,
                        message,
                        Some(p.chat.id),
                        Some(self.name.clone()),
                    );
                }
            }
        }
    }

    /// Sends the stored message to every member connection, except that devices its sender
    /// reached directly get only its sequence number. Each frame is encoded once.
    fn fan_out(&self, message: &ChatMessage, direct: &[festival_proto::DeviceId]) {
        let frame = shared(&ServerFrame::Chat(message.clone()));
        let notice = (!direct.is_empty()).then(|| {
            shared(&ServerFrame::Sequenced(Sequenced {
                room: message.room.clone(),
                id: message.id,
                seq: message.seq,
            }))
        });
        let (mut delivered, mut sequenced, mut bytes) = (0, 0, 0);
        for (device, conn) in self.room.conns_by_device() {
            let Some(out) = self.conns.get(&conn) else {
                continue;
            };
            let reached_directly = device != message.sender && direct.contains(&device);
            match &notice {
                Some(notice) if reached_directly => {
                    if out.push(notice.clone()) {
                        sequenced += 1;
                        bytes += notice.len();
                    }
                }
                _ => {
                    if out.push(frame.clone()) {
                        delivered += 1;
                        bytes += frame.len();
                    }
                }
            }
        }
        let metrics = &self.hub.metrics;
        metrics.messages_delivered.inc_by(delivered);
        metrics.messages_sequenced.inc_by(sequenced);
        metrics.fanout_bytes.inc_by(bytes as u64);
    }

    fn broadcast_presence(
        &self,
        change: PresenceChange,
        member: &festival_proto::Member,
        except: Option<ConnId>,
    ) {
        let frame = shared(&ServerFrame::Presence(Presence {
            room: self.name.clone(),
            change,
            member: member.clone(),
            online: self.room.online(),
        }));
        for conn in self.room.all_conns().filter(|&c| Some(c) != except) {
            if let Some(out) = self.conns.get(&conn) {
                out.push(frame.clone());
            }
        }
    }
}

/// About how many bytes a message weighs in a `joined` frame (or a page of older history).
pub(crate) fn weight(message: &ChatMessage) -> usize {
    // 200 for the fields of version 1, 200 for the key, signature and prev of version 2.
    message.body.len() + message.from.as_str().len() + message.room.as_str().len() + 400
}

/// Encodes a frame once; every recipient's queue gets a cheap clone of the same bytes.
fn shared(frame: &ServerFrame) -> Utf8Bytes {
    Utf8Bytes::from(encode(frame))
}
