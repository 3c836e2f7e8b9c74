//! The hub: every room's task, found by name, and what all connections share (configuration,
//! store, metrics).
//!
//! Each room is one task that owns its members and its part of the store, so a room's
//! messages are numbered, stored and fanned out in one order with no lock. A connection
//! *enters* a room's task before it joins and *exits* after it left; when the last one exits,
//! the task finishes its queue and ends. A new task for the same room waits for the old one to
//! end first, so two tasks never serve one room at once.

mod room_task;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use festival_proto::{ChatSend, DeviceId, DisplayName, ErrorCode, MessageId, RoomName, Seq};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use crate::Config;
use crate::metrics::Metrics;
use crate::outbound::Outbound;
use crate::room::ConnId;
use crate::store::Store;

/// Commands a room task's mailbox holds before it blocks senders.
const ROOM_MAILBOX: usize = 1024;

/// One connection as a room sees it.
#[derive(Debug, Clone)]
pub(crate) struct ConnRef {
    pub(crate) id: ConnId,
    pub(crate) device: DeviceId,
    pub(crate) name: DisplayName,
    pub(crate) out: Outbound,
}

/// What a connection asks of a room.
#[derive(Debug)]
pub(crate) enum RoomCmd {
    /// Become a member (or, when already one, get `joined` again), with history after `since`.
    Join { conn: ConnRef, since: Option<Seq> },
    /// Stop being a member; `reply` sends `left` (false when the connection is gone).
    Leave {
        conn: ConnId,
        device: DeviceId,
        reply: bool,
    },
    /// Store, ack and fan out a message.
    Chat {
        conn: ConnId,
        device: DeviceId,
        chat: ChatSend,
    },
    /// Pass a signaling payload to every connection of `to`.
    Signal {
        conn: ConnId,
        from: DeviceId,
        to: DeviceId,
        payload: serde_json::Value,
    },
}

/// A room task's mailbox.
pub(crate) type RoomTx = mpsc::Sender<RoomCmd>;

struct Entry {
    tx: RoomTx,
    users: usize,
    task: JoinHandle<()>,
}

/// Shared by every connection and room task.
pub(crate) struct Hub {
    pub(crate) config: Config,
    pub(crate) store: Store,
    pub(crate) metrics: Metrics,
    pub(crate) tracker: TaskTracker,
    rooms: Mutex<Rooms>,
}

#[derive(Default)]
struct Rooms {
    live: HashMap<RoomName, Entry>,
    /// Tasks of rooms whose last user exited, until they end or a new task waits for them.
    ending: HashMap<RoomName, JoinHandle<()>>,
}

impl Hub {
    /// A hub with no rooms.
    pub(crate) fn new(config: Config, store: Store, metrics: Metrics) -> Arc<Self> {
        Arc::new(Self {
            config,
            store,
            metrics,
            tracker: TaskTracker::new(),
            rooms: Mutex::new(Rooms::default()),
        })
    }

    /// The mailbox of `room`'s task, starting the task if needed. Every `enter` must be
    /// matched by one [`Hub::exit`] once the caller sent its last command.
    pub(crate) fn enter(self: &Arc<Self>, room: &RoomName) -> RoomTx {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = rooms.live.get_mut(room) {
            entry.users += 1;
            return entry.tx.clone();
        }
        let previous = rooms.ending.remove(room);
        let (tx, rx) = mpsc::channel(ROOM_MAILBOX);
        let task = self
            .tracker
            .spawn(room_task::run(Arc::clone(self), room.clone(), rx, previous));
        rooms.live.insert(
            room.clone(),
            Entry {
                tx: tx.clone(),
                users: 1,
                task,
            },
        );
        tx
    }

    /// Undoes one [`Hub::enter`]. After the last, the room's task ends once its queue is done.
    pub(crate) fn exit(&self, room: &RoomName) {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = rooms.live.get_mut(room) else {
            return;
        };
        entry.users = entry.users.saturating_sub(1);
        if entry.users > 0 {
            return;
        }
        if let Some(entry) = rooms.live.remove(room) {
            rooms.ending.retain(|_, task| !task.is_finished());
            rooms.ending.insert(room.clone(), entry.task);
        }
    }

    /// Counts an error that is sent to a client, and sends it.
    pub(crate) fn refuse(
        &self,
        out: &Outbound,
        code: ErrorCode,
        message: impl Into<String>,
        id: Option<MessageId>,
        room: Option<RoomName>,
    ) {
        self.metrics.error(code);
        out.error(code, message, id, room);
    }
}

/// The wall clock in Unix milliseconds, as frames carry it.
// The relay reads the clock here, where it handles I/O.
#[allow(clippy::disallowed_methods)]
pub(crate) fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
