//! The hub: every room's task, found by name, and what all connections share (configuration,
//! store, metrics).
//!
//! Each room is one task that owns its members and its part of the store, so a room's
//! messages are numbered, stored and fanned out in one order with no lock. A connection
//! *enters* a room's task before it joins and *exits* after it left; when the last one exits,
//! the task finishes its queue and ends. A new task for the same room waits for the old one to
//! end first, so two tasks never serve one room at once.

mod room_task;

pub(crate) use room_task::weight;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use festival_proto::{
    ChatSend, DeviceId, DisplayName, ErrorCode, MessageId, PublicKey, RoomName, Seq,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use crate::Config;
use crate::admission::Admission;
use crate::mesh::Mesh;
use crate::metrics::Metrics;
use crate::outbound::Outbound;
use crate::room::ConnId;
use crate::store::Store;

/// Commands a room task's mailbox holds before it blocks senders.
const ROOM_MAILBOX: usize = 1024;
/// Bytes of commands a room task's mailbox holds before it blocks senders.
const ROOM_MAILBOX_BYTES: usize = 4 * 1024 * 1024;

/// One connection as a room sees it.
#[derive(Debug, Clone)]
pub(crate) struct ConnRef {
    pub(crate) id: ConnId,
    pub(crate) ip: IpAddr,
    pub(crate) device: DeviceId,
    /// The key the connection proved `device` with.
    pub(crate) key: PublicKey,
    pub(crate) name: DisplayName,
    pub(crate) out: Outbound,
}

/// What a connection asks of a room.
#[derive(Debug)]
pub(crate) enum RoomCmd {
    /// Become a member (or, when already one, get `joined` again), with history after `since`.
    /// `served` is told once the answer is queued.
    Join {
        conn: ConnRef,
        since: Option<Seq>,
        served: oneshot::Sender<()>,
    },
    /// Stop being a member; `reply` sends `left` (false when the connection is gone).
    /// `settled` is told once every command sent before this one is done (its acks queued).
    Leave {
        conn: ConnId,
        device: DeviceId,
        reply: bool,
        settled: Option<oneshot::Sender<()>>,
    },
    /// Store, ack and fan out a message, whose signature by `key` the session checked.
    Chat {
        conn: ConnId,
        device: DeviceId,
        key: PublicKey,
        chat: ChatSend,
    },
    /// Pass a signaling payload to every connection of `to`.
    Signal {
        conn: ConnId,
        from: DeviceId,
        to: DeviceId,
        payload: serde_json::Value,
    },
    /// An organiser's announcement: stored in the room's sequence, sent to every member.
    /// `done` gets its number (or the store's error).
    Announce {
        id: MessageId,
        body: String,
        done: oneshot::Sender<Result<Seq, crate::store::StoreError>>,
    },
    /// An organiser removes `device` from the room (its joins are refused meanwhile through
    /// [`Hub::removed_until`]). `done` gets how many of its connections were in the room.
    Remove {
        device: DeviceId,
        done: oneshot::Sender<usize>,
    },
}

impl RoomCmd {
    /// About how many bytes the command holds while it waits.
    fn weight(&self) -> usize {
        const OVERHEAD: usize = 256;
        match self {
            Self::Chat { chat, .. } => chat.body.len() + OVERHEAD,
            Self::Signal { payload, .. } => {
                serde_json::to_string(payload).map_or(OVERHEAD, |text| text.len() + OVERHEAD)
            }
            Self::Announce { body, .. } => body.len() + OVERHEAD,
            Self::Join { .. } | Self::Leave { .. } | Self::Remove { .. } => OVERHEAD,
        }
    }

    /// The connection that sent the command (none for an organiser's).
    pub(crate) fn conn(&self) -> Option<ConnId> {
        match self {
            Self::Join { conn, .. } => Some(conn.id),
            Self::Leave { conn, .. } | Self::Chat { conn, .. } | Self::Signal { conn, .. } => {
                Some(*conn)
            }
            Self::Announce { .. } | Self::Remove { .. } => None,
        }
    }
}

/// A command in a room's mailbox, with its share of the mailbox's bytes.
pub(crate) type Queued = (RoomCmd, OwnedSemaphorePermit);

/// A room task's mailbox, bounded in commands and in bytes: a room busy with a slow write
/// holds at most [`ROOM_MAILBOX_BYTES`] of signals and chats, not 1,024 signals of 64 KiB.
#[derive(Debug, Clone)]
pub(crate) struct RoomTx {
    tx: mpsc::Sender<Queued>,
    bytes: Arc<Semaphore>,
}

impl RoomTx {
    /// Queues a command, waiting while the mailbox is full; an error means the room ended.
    pub(crate) async fn send(&self, command: RoomCmd) -> Result<(), RoomGone> {
        let weight = command.weight().min(ROOM_MAILBOX_BYTES);
        let permit = Arc::clone(&self.bytes)
            .acquire_many_owned(u32::try_from(weight).unwrap_or(u32::MAX))
            .await
            .map_err(|_| RoomGone)?;
        self.tx.send((command, permit)).await.map_err(|_| RoomGone)
    }
}

/// The room's task has ended.
#[derive(Debug)]
pub(crate) struct RoomGone;

struct Entry {
    tx: RoomTx,
    users: usize,
    task: JoinHandle<()>,
    /// The room's member count, kept by its task.
    members: Arc<AtomicUsize>,
}

/// Why a connection may not enter a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnterRefused {
    /// The room holds the most members one room may.
    RoomFull(usize),
    /// The relay holds the most rooms it may.
    TooManyRooms(usize),
    /// The connection's IP address creates rooms too fast.
    CreatingTooFast,
    /// The connection created as many rooms as one connection may.
    ConnectionCreatedEnough(usize),
}

/// Shared by every connection and room task.
pub(crate) struct Hub {
    pub(crate) config: Config,
    pub(crate) store: Store,
    pub(crate) metrics: Metrics,
    pub(crate) tracker: TaskTracker,
    pub(crate) admission: Arc<Admission>,
    /// Every connected device's latest mesh report, for the admin dashboard.
    pub(crate) mesh: Mutex<Mesh>,
    /// Devices an organiser removed from a room, until when.
    removals: Mutex<HashMap<(RoomName, DeviceId), Instant>>,
    rooms: Mutex<Rooms>,
}

/// Most removals remembered at once; expired ones are dropped first. An organiser removes a
/// few people, not thousands: past this the oldest removal ends early.
const MAX_REMOVALS: usize = 10_000;

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
            admission: Admission::new(&config),
            config,
            store,
            metrics,
            tracker: TaskTracker::new(),
            mesh: Mutex::new(Mesh::default()),
            removals: Mutex::new(HashMap::new()),
            rooms: Mutex::new(Rooms::default()),
        })
    }

    /// The mailbox of `room`'s task for an organiser's command, starting the task if needed
    /// (no admission limit applies: the admin token is trusted). Match with [`Hub::exit`].
    pub(crate) fn enter_as_admin(self: &Arc<Self>, room: &RoomName) -> RoomTx {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = rooms.live.get_mut(room) {
            entry.users += 1;
            return entry.tx.clone();
        }
        self.start_room(&mut rooms, room)
    }

    /// Rooms with a task now (someone in them, or a command on its way).
    pub(crate) fn live_rooms(&self) -> Vec<RoomName> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        rooms.live.keys().cloned().collect()
    }

    /// Refuses `device`'s joins to `room` until `until`.
    pub(crate) fn remove_until(
        &self,
        room: &RoomName,
        device: DeviceId,
        until: Instant,
        now: Instant,
    ) {
        let mut removals = self.removals.lock().unwrap_or_else(PoisonError::into_inner);
        removals.retain(|_, until| *until > now);
        if removals.len() >= MAX_REMOVALS {
            if let Some(oldest) = removals
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(k, _)| k.clone())
            {
                removals.remove(&oldest);
            }
        }
        removals.insert((room.clone(), device), until);
    }

    /// Until when `device` may not join `room`, if an organiser removed it.
    pub(crate) fn removed_until(
        &self,
        room: &RoomName,
        device: DeviceId,
        now: Instant,
    ) -> Option<Instant> {
        let removals = self.removals.lock().unwrap_or_else(PoisonError::into_inner);
        removals
            .get(&(room.clone(), device))
            .copied()
            .filter(|until| *until > now)
    }

    /// The mailbox of `room`'s task, starting the task if needed (a new room, created on
    /// behalf of `ip`, out of the connection's `creations` left). Every `enter` that succeeds
    /// must be matched by one [`Hub::exit`] once the caller sent its last command.
    // The relay reads the clock here, where it handles I/O.
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn enter(
        self: &Arc<Self>,
        room: &RoomName,
        ip: IpAddr,
        creations: &mut usize,
    ) -> Result<RoomTx, EnterRefused> {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = rooms.live.get_mut(room) {
            let max = self.config.max_members_per_room;
            if entry.members.load(Ordering::Acquire) >= max {
                return Err(EnterRefused::RoomFull(max));
            }
            entry.users += 1;
            return Ok(entry.tx.clone());
        }
        if rooms.live.len() >= self.config.max_rooms_total {
            return Err(EnterRefused::TooManyRooms(self.config.max_rooms_total));
        }
        if *creations == 0 {
            return Err(EnterRefused::ConnectionCreatedEnough(
                self.config.max_room_creations_per_conn,
            ));
        }
        if !self.admission.create_room(ip, Instant::now()) {
            return Err(EnterRefused::CreatingTooFast);
        }
        *creations -= 1;
        Ok(self.start_room(&mut rooms, room))
    }

    /// Starts `room`'s task (after the one ending, if any) with one user: the caller.
    fn start_room(self: &Arc<Self>, rooms: &mut Rooms, room: &RoomName) -> RoomTx {
        let previous = rooms.ending.remove(room);
        let (tx, rx) = mpsc::channel(ROOM_MAILBOX);
        let tx = RoomTx {
            tx,
            bytes: Arc::new(Semaphore::new(ROOM_MAILBOX_BYTES)),
        };
        let members = Arc::new(AtomicUsize::new(0));
        let task = self.tracker.spawn(room_task::run(
            Arc::clone(self),
            room.clone(),
            rx,
            previous,
            Arc::clone(&members),
        ));
        rooms.live.insert(
            room.clone(),
            Entry {
                tx: tx.clone(),
                users: 1,
                task,
                members,
            },
        );
        tx
    }

    /// Members (devices) in `room` now; 0 when it is not open.
    pub(crate) fn online(&self, room: &RoomName) -> usize {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        rooms
            .live
            .get(room)
            .map_or(0, |entry| entry.members.load(Ordering::Acquire))
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
