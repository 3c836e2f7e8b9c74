//! The engine handle the apps hold, and the task behind it.
//!
//! [`Engine`] is a cheap front: each call becomes a command to one driver task, which owns
//! every piece of state (rooms, outbox, the link) and talks to the relay. Whatever happens is
//! reported on [`Events`]. The driver never gives up: when the link drops it marks unacked
//! messages for resending, waits with backoff, reconnects, rejoins each room from where it
//! was, and sends again — with the same message ids, so nothing arrives twice.

mod driver;
mod events;
mod link;
mod mesh_report;
mod relay_policy;
mod state;
mod trust;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use festival_proto::{
    ChatSend, DeviceId, DisplayName, Limits, Member, MessageId, PrivateRoom, PublicKey, RoomName,
    Sealed, Seq, Signature, validate_body,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::power::PowerBudget;
use crate::privacy::{self, Keyring};
use crate::router::links::LinkPolicy;
use crate::router::{NetworkType, PreferredRoute};
use crate::stats::{Diagnostics, Stats};
use crate::store::{DeliveryState, Identity, LocalMessage, Store};
use crate::sync::RoomSync;
use crate::transport::webrtc::Webrtc;
use crate::{EngineError, Missed, Privacy};

pub use events::Events;

/// Events waiting for the app; past this, the app is told what it missed instead.
const EVENT_QUEUE: usize = 1024;
/// Rows read past the expected ones when an app reloads what it missed.
const RELOAD_SLACK: usize = 256;
/// Messages of a room's local history read to find who holds its key, when its owner removes
/// a member.
const KEY_HOLDERS_SCANNED: usize = 5000;
/// Messages of a room's local history read, when its key arrives, for sealed ones that came
/// before it (shown as "no key"), which are then opened in place.
const REOPEN_SCANNED: usize = 5000;
/// Commands waiting for the engine before callers wait.
const COMMAND_QUEUE: usize = 256;

/// What an engine needs to start.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    /// The relay's WebSocket URL, `ws://HOST:PORT/ws` or `wss://…`.
    pub relay_url: String,
    /// Where the device's identity and store live.
    pub data_dir: PathBuf,
    /// The display name to use (and save); `None` uses the saved one.
    pub display_name: Option<String>,
    /// Delivered messages kept per room in the local history.
    pub history_max_messages: usize,
    /// How long delivered messages are kept in the local history.
    pub history_max_age: Duration,
    /// How long a message may wait in the outbox before it is marked failed.
    pub outbox_max_age: Duration,
    /// While on the long-poll route, how often a WebSocket is tried again.
    pub socket_retry_while_polling: Duration,
    /// Direct (P2P) links: when, how many, how often.
    pub p2p: P2pConfig,
    /// How often at most this device tells the relay about its direct links and routes (for
    /// the organisers' mesh dashboard), and only when they changed; `None`: never.
    pub mesh_report: Option<Duration>,
}

/// When and how the engine opens direct WebRTC links to other members.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct P2pConfig {
    /// The user's route override (auto, p2p, relay). `Relay`: no link is ever attempted.
    pub preferred: PreferredRoute,
    /// Largest room (members, this device included) in which links open automatically.
    pub max_group: usize,
    /// Link cap, cooldowns, timeouts and the breaker's recovery.
    pub links: LinkPolicy,
    /// The network the device is on (P2P is not automatic on cellular).
    pub network: NetworkType,
    /// Gather only loopback ICE candidates: for tests and benchmarks on one machine.
    pub loopback_only: bool,
    /// A phone: a power budget's mobile link cap applies.
    pub mobile: bool,
}

impl P2pConfig {
    /// Desktop defaults: automatic in rooms of at most 8, at most 8 links.
    pub fn desktop() -> Self {
        Self {
            preferred: PreferredRoute::Auto,
            max_group: 8,
            links: LinkPolicy::default(),
            network: NetworkType::Unknown,
            loopback_only: false,
            mobile: false,
        }
    }

    /// Mobile defaults: as desktop, but at most 3 links (each one costs battery).
    pub fn mobile() -> Self {
        let mut config = Self::desktop();
        config.links.max_links = 3;
        config.mobile = true;
        config
    }
}

impl EngineConfig {
    /// A configuration for `relay_url`, keeping its data in `data_dir`.
    pub fn new(relay_url: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            relay_url: relay_url.into(),
            data_dir: data_dir.into(),
            display_name: None,
            history_max_messages: 5000,
            history_max_age: Duration::from_secs(7 * 24 * 3600),
            outbox_max_age: Duration::from_secs(24 * 3600),
            socket_retry_while_polling: Duration::from_secs(30),
            p2p: P2pConfig::desktop(),
            mesh_report: Some(mesh_report::DEFAULT_EVERY),
        }
    }

    /// Uses (and saves) this display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }
}

/// A running engine. Cloning is not needed: share it behind an `Arc` if several tasks use it.
#[derive(Debug)]
pub struct Engine {
    commands: mpsc::Sender<Command>,
    identity: Identity,
    store: Store,
    /// The private rooms' keys (shared with the engine's task, which opens with them).
    keyring: Keyring,
    /// Held while a message is signed and enqueued, so that each names the one typed before
    /// it as its `prev` even when the app sends from several tasks.
    typing: tokio::sync::Mutex<()>,
    /// The relay's WebSocket URL, for its HTTP routes beside the link (older history).
    relay_url: String,
    resumed: Vec<MessageId>,
    task: JoinHandle<()>,
}

/// A page of older history ([`Engine::older_history`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct OlderHistory {
    /// The messages, oldest first.
    pub messages: Vec<LocalMessage>,
    /// Older messages may remain (ask again below the first one).
    pub more: bool,
}

/// A message handed to the engine, not yet confirmed by the relay.
#[derive(Debug)]
pub struct PendingSend {
    /// The message's id, kept across every retry.
    pub id: MessageId,
    acked: oneshot::Receiver<Result<Seq, EngineError>>,
}

impl PendingSend {
    /// Resolves to the message's sequence number once the relay stored it, or to the relay's
    /// refusal. While the relay is unreachable it keeps waiting: put a timeout around it.
    pub async fn acked(self) -> Result<Seq, EngineError> {
        self.acked.await.unwrap_or(Err(EngineError::Stopped))
    }
}

/// Resolves when the relay acked a message (to its sequence number) or refused it.
type AckWaiter = oneshot::Sender<Result<Seq, EngineError>>;

#[derive(Debug)]
enum Command {
    Join(RoomName),
    Leave(RoomName),
    Send(ChatSend, AckWaiter),
    Members(RoomName, oneshot::Sender<Vec<Member>>),
    Pending(oneshot::Sender<usize>),
    Stats(oneshot::Sender<Stats>),
    Diagnostics(oneshot::Sender<Diagnostics>),
    Prefer(PreferredRoute),
    Upgrade(RoomName),
    Reconnect,
    ResetBreakers,
    Power(PowerBudget),
    Trust(trust::TrustCommand),
    Shutdown,
}

impl Engine {
    /// Opens the data directory, loads (or makes) the device identity, takes up the outbox
    /// where the last run left it (joining the rooms it has messages for) and starts
    /// connecting.
    pub async fn start(config: EngineConfig) -> Result<(Engine, Events), EngineError> {
        let url = config.relay_url.trim().to_owned();
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(EngineError::BadUrl(url));
        }
        // TLS for wss:// and https:// long-poll: one process-wide provider (ring). Installing
        // it again is a no-op that reports the one already there.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = Store::open(&config.data_dir).await?;
        let identity = store.identity(config.display_name.as_deref()).await?;
        let keyring = Keyring::load(store.get(privacy::SETTING).await?.as_deref())
            .map_err(|e| EngineError::store(&config.data_dir, e))?;
        let queued = store.queued().await?;
        let resumed = queued.iter().map(|chat| chat.id).collect();
        let mut rooms = BTreeMap::new();
        for chat in &queued {
            if !rooms.contains_key(&chat.room) {
                let cursor = store.cursor(&chat.room).await?;
                rooms.insert(chat.room.clone(), RoomSync::resume(cursor));
            }
        }
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let (events, event_rx) = events::channel(EVENT_QUEUE);
        let relay_url = url.clone();
        let resume = state::Resume {
            rooms,
            queued,
            recent: store.recent_ids(state::SEEN_KEPT).await?,
            unsequenced: store.unsequenced(state::UNSEQUENCED_KEPT).await?,
            known_keys: store.known_keys().await?,
            keyring: keyring.clone(),
        };
        let now = tokio::time::Instant::now().into_std();
        let machine = state::EngineState::new(
            url.clone(),
            identity.clone(),
            state::StateConfig::from(&config),
            resume,
            driver::seed(),
            now,
        );
        let (peer_tx, peer_rx) = mpsc::channel(1024);
        let webrtc = Webrtc::new(peer_tx, config.p2p.loopback_only, identity.key.clone());
        let driver = driver::Driver::new(
            url,
            identity.clone(),
            store.clone(),
            events,
            machine,
            webrtc,
        );
        let task = tokio::spawn(driver.run(command_rx, peer_rx));
        Ok((
            Engine {
                commands,
                identity,
                store,
                keyring,
                typing: tokio::sync::Mutex::new(()),
                relay_url,
                resumed,
                task,
            },
            event_rx,
        ))
    }

    /// This device's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Joins `room` now, and again after every reconnect until [`Engine::leave`].
    pub async fn join(&self, room: &str) -> Result<RoomName, EngineError> {
        let room = RoomName::parse(room)?;
        self.command(Command::Join(room.clone())).await?;
        Ok(room)
    }

    /// Leaves `room`.
    pub async fn leave(&self, room: &str) -> Result<(), EngineError> {
        self.command(Command::Leave(RoomName::parse(room)?)).await
    }

    /// Queues a message for a joined room. When this returns the message is on disk: it is
    /// sent as soon as the relay is reachable and retried (with the same id, also after a
    /// restart of the app) until the relay confirms it or it expires. It is signed here, once,
    /// over (room, id, body, sent_at, prev): every copy on every route carries that signature.
    /// In a private room the body is sealed with the room's current key first, and the
    /// signature covers the sealed form: only that leaves this device.
    pub async fn send(&self, room: &str, body: &str) -> Result<PendingSend, EngineError> {
        let room = RoomName::parse(room)?;
        validate_body(body, &Limits::default())?;
        let typing = self.typing.lock().await;
        let sent_at = unix_ms();
        let id = MessageId::of_device(self.identity.device, sent_at);
        let sealed = self.keyring.seal(&room, id, self.identity.device, body);
        let pending = self.queue(room, id, sent_at, body, sealed).await;
        drop(typing);
        pending
    }

    /// Signs, stores and queues one message typed here (the caller holds `typing`): with
    /// `sealed`, only the sealed form goes out, and the store keeps `text` beside it. `id`
    /// is this device's (see [`MessageId::of_device`]), made at `sent_at`.
    async fn queue(
        &self,
        room: RoomName,
        id: MessageId,
        sent_at: i64,
        text: &str,
        sealed: Option<Sealed>,
    ) -> Result<PendingSend, EngineError> {
        let prev = self.store.last_typed(&room).await?;
        let mut chat = ChatSend {
            id,
            room,
            body: if sealed.is_some() {
                String::new()
            } else {
                text.to_owned()
            },
            sealed,
            sent_at,
            prev,
            sig: Signature::from_bytes([0; 64]),
            direct: Vec::new(),
        };
        chat.sig = self.identity.key.sign_chat(&chat.signed());
        let kept = ChatSend {
            body: text.to_owned(),
            ..chat.clone()
        };
        self.store
            .enqueue(&kept, self.identity.device, &self.identity.name)
            .await?;
        let (waiter, acked) = oneshot::channel();
        self.command(Command::Send(chat, waiter)).await?;
        Ok(PendingSend { id, acked })
    }

    /// Removes the member shown as `name` from a private room this device owns: the room
    /// moves to a new epoch, whose key is wrapped for every other device known here to hold
    /// the key (each one whose sealed message this device opened) and sent through the room
    /// as the owner's rekey, so that members offline now get it when they sync. The removed
    /// device reads nothing typed after it; what it had stays readable to it. A member who
    /// never wrote in the room is not known to hold the key: it needs a new invite. Returns
    /// the new epoch.
    pub async fn remove_member(&self, room: &str, name: &str) -> Result<u32, EngineError> {
        let room = RoomName::parse(room)?;
        let private = self.keyring.current(&room).ok_or_else(|| {
            EngineError::Private(format!("{room} is not a private room on this device"))
        })?;
        if private.owner != self.identity.key.public() {
            return Err(EngineError::Private(format!(
                "only the owner of {room} (the device that created it) can remove members"
            )));
        }
        let name = DisplayName::parse(name)?;
        let me = self.identity.device;
        let history = self.store.history(&room, KEY_HOLDERS_SCANNED).await?;
        let members = self.members(room.as_str()).await?;
        let named: BTreeSet<DeviceId> = members
            .iter()
            .filter(|m| m.name == name)
            .map(|m| m.device)
            .chain(history.iter().filter(|m| m.from == name).map(|m| m.sender))
            .filter(|&device| device != me)
            .collect();
        let removed = match named.len() {
            1 => named.into_iter().next().unwrap_or(me),
            0 => {
                return Err(EngineError::Private(format!(
                    "nobody shown as {name} in {room}"
                )));
            }
            n => {
                return Err(EngineError::Private(format!(
                    "{n} devices were shown as {name} in {room}: not removing any"
                )));
            }
        };
        let holders: BTreeMap<DeviceId, PublicKey> = history
            .iter()
            .filter(|m| {
                m.state == DeliveryState::Received
                    && m.privacy == Privacy::Private
                    && m.authenticity == crate::Authenticity::Verified
                    && m.sender != removed
            })
            .filter_map(|m| Some((m.sender, m.key?)))
            .collect();
        let keys: Vec<PublicKey> = holders.into_values().collect();
        let typing = self.typing.lock().await;
        let sent_at = unix_ms();
        let (epoch, rekeys) = self
            .keyring
            .rotate(&room, &keys, me, || MessageId::of_device(me, sent_at))
            .ok_or_else(|| EngineError::Private(format!("{room} has used every epoch")))?;
        self.store
            .set(privacy::SETTING, &self.keyring.save())
            .await?;
        for (id, sealed) in rekeys {
            self.queue(room.clone(), id, sent_at, "", Some(sealed))
                .await?;
        }
        drop(typing);
        Ok(epoch)
    }

    /// Makes `room` private, owned by this device: a new key (epoch 0), saved, so that what
    /// is typed there from now on is sealed. A room already private here stays as it is.
    /// Returns what the room's invite carries ([`Invite::private`](festival_proto::Invite)).
    pub async fn make_private(&self, room: &str) -> Result<PrivateRoom, EngineError> {
        let room = RoomName::parse(room)?;
        if let Some(known) = self.keyring.current(&room) {
            return Ok(known);
        }
        let private = PrivateRoom::create(self.identity.key.public());
        self.add_private(room.as_str(), &private).await?;
        Ok(private)
    }

    /// Takes a private room's key from its invite, and saves it: what arrives sealed with it
    /// is opened, and what is typed in the room is sealed. What this device stored sealed
    /// before it held the key (it joined by name or code, then got the invite) is opened in
    /// place, so that reading the room's history shows it as text.
    pub async fn add_private(&self, room: &str, private: &PrivateRoom) -> Result<(), EngineError> {
        let room = RoomName::parse(room)?;
        self.keyring.add(&room, private);
        self.store
            .set(privacy::SETTING, &self.keyring.save())
            .await?;
        self.reopen(&room).await
    }

    /// Opens the received messages of `room` stored sealed and unread (the newest
    /// [`REOPEN_SCANNED`]) with the keys held now. A rekey among them gives its later epochs'
    /// keys, so it is read in order, oldest first.
    async fn reopen(&self, room: &RoomName) -> Result<(), EngineError> {
        let stored = self.store.history(room, REOPEN_SCANNED).await?;
        let mut keys_learned = false;
        for local in stored {
            let unread = local.state == DeliveryState::Received
                && local.sealed.is_some()
                && local.body.is_empty();
            if !unread {
                continue;
            }
            let mut message = crate::Delivered::from(local);
            let (privacy, learned) = self.keyring.open(&mut message, &self.identity.key);
            keys_learned |= learned.0;
            if privacy == Privacy::Private {
                self.store.set_opened(message.id, &message.body).await?;
            }
        }
        if keys_learned {
            self.store
                .set(privacy::SETTING, &self.keyring.save())
                .await?;
        }
        Ok(())
    }

    /// The private room's current key, epoch and owner, for its invite; `None`: public.
    pub fn private_room(&self, room: &str) -> Result<Option<PrivateRoom>, EngineError> {
        Ok(self.keyring.current(&RoomName::parse(room)?))
    }

    /// The members of `room` as last reported by the relay.
    pub async fn members(&self, room: &str) -> Result<Vec<Member>, EngineError> {
        let (reply, members) = oneshot::channel();
        self.command(Command::Members(RoomName::parse(room)?, reply))
            .await?;
        members.await.map_err(|_| EngineError::Stopped)
    }

    /// The newest `limit` messages of `room` from the local store, with no network: what was
    /// received, and what was typed here (queued, sent or failed).
    pub async fn history(
        &self,
        room: &str,
        limit: usize,
    ) -> Result<Vec<LocalMessage>, EngineError> {
        self.store.history(&RoomName::parse(room)?, limit).await
    }

    /// The person has read everything in `room` so far (it is on screen, or they just left
    /// it): its unread count starts again from zero.
    pub async fn mark_read(&self, room: &str) -> Result<(), EngineError> {
        self.store.mark_read(&RoomName::parse(room)?).await
    }

    /// How many messages from others came to `room` since it was last read, counted in the
    /// store: the same after a restart, and counting what arrived while the app was closed.
    pub async fn unread(&self, room: &str) -> Result<u64, EngineError> {
        self.store.unread(&RoomName::parse(room)?).await
    }

    /// Older history wherever it is: the page below `before` from the local store, and when
    /// the store has fewer than `limit` (at most 100), the rest from the relay's history
    /// (`GET /rooms/history`; not stored here, where retention would drop it again). `more`
    /// is false only once the relay said nothing older remains; it stays true while the
    /// relay cannot be reached, so that the reader may try again.
    pub async fn older_history(
        &self,
        room: &str,
        before: Seq,
        limit: usize,
    ) -> Result<OlderHistory, EngineError> {
        let room = RoomName::parse(room)?;
        let limit = limit.min(festival_proto::HistoryPage::MAX_MESSAGES);
        let mut messages = self.store.history_before(&room, before, limit).await?;
        if messages.len() == limit {
            return Ok(OlderHistory {
                messages,
                more: true,
            });
        }
        let below = messages.first().and_then(|m| m.seq).unwrap_or(before);
        let page = match crate::Directory::new(&self.relay_url)?
            .older(&room, below)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::debug!("older history from the relay: {e}");
                return Ok(OlderHistory {
                    messages,
                    more: true,
                });
            }
        };
        let wanted = limit - messages.len();
        let skip = page.messages.len().saturating_sub(wanted);
        let more = page.has_more || skip > 0;
        let me = self.identity.device;
        let mut keys_learned = false;
        let mut older: Vec<LocalMessage> = page
            .messages
            .into_iter()
            .skip(skip)
            .map(|m| {
                let mut m = crate::Delivered::from(m);
                let (privacy, learned) = self.keyring.open(&mut m, &self.identity.key);
                keys_learned |= learned.0;
                let mut local = LocalMessage::from_relay(m, me);
                local.privacy = privacy;
                local
            })
            .collect();
        if keys_learned {
            self.store
                .set(privacy::SETTING, &self.keyring.save())
                .await?;
        }
        older.append(&mut messages);
        Ok(OlderHistory {
            messages: older,
            more,
        })
    }

    /// The messages of a room an app did not show because it lagged ([`crate::Event::Lagged`]),
    /// oldest first: those numbered in `missed.seqs`, then (if `missed.direct`) those
    /// received directly and not numbered yet. Some of them may have been shown already,
    /// when they came directly before the relay numbered them: the app skips the ids it
    /// showed.
    pub async fn reload(&self, missed: &Missed) -> Result<Vec<LocalMessage>, EngineError> {
        let range = missed.seqs;
        if range.is_none() && !missed.direct {
            return Ok(Vec::new());
        }
        // The history lists the newest first from the store's point of view: what is not
        // numbered yet, then by number. Read more until the page reaches back past the range.
        let span = range.map_or(0, |r| r.last.saturating_sub(r.first).saturating_add(1));
        let mut limit = usize::try_from(span)
            .unwrap_or(usize::MAX)
            .saturating_add(RELOAD_SLACK);
        let page = loop {
            let page = self.store.history(&missed.room, limit).await?;
            // Every row not numbered comes after the numbered ones: once the page starts
            // with a numbered row, it holds them all.
            let reached = page
                .first()
                .and_then(|m| m.seq)
                .is_some_and(|oldest| range.is_none_or(|r| oldest < r.first));
            if reached || page.len() < limit {
                break page;
            }
            limit = limit.saturating_mul(2);
        };
        Ok(page
            .into_iter()
            .filter(|m| match (m.seq, range) {
                (Some(seq), Some(r)) => (r.first..=r.last).contains(&seq),
                (Some(_), None) => false,
                (None, _) => missed.direct && m.state == crate::DeliveryState::Received,
            })
            .collect())
    }

    /// The messages the outbox held when the engine started, in the order they were typed:
    /// what `festival sync` delivers. Their outcome is read back with [`Engine::message`],
    /// which stays right when the app missed their events ([`crate::Event::Lagged`]).
    pub fn resumed(&self) -> &[MessageId] {
        &self.resumed
    }

    /// The message with this id as the store has it now (its state, and why it failed):
    /// what an app that lagged reads instead of the `Acked` or `Failed` event it missed.
    pub async fn message(&self, id: MessageId) -> Result<Option<LocalMessage>, EngineError> {
        self.store.message(id).await
    }

    /// How many messages typed here wait for the relay's confirmation.
    pub async fn pending(&self) -> Result<usize, EngineError> {
        let (reply, pending) = oneshot::channel();
        self.command(Command::Pending(reply)).await?;
        pending.await.map_err(|_| EngineError::Stopped)
    }

    /// Counters since the engine started: messages by route, duplicates filtered, fallbacks,
    /// reconnects, the last measured round trip.
    pub async fn stats(&self) -> Result<Stats, EngineError> {
        let (reply, stats) = oneshot::channel();
        self.command(Command::Stats(reply)).await?;
        stats.await.map_err(|_| EngineError::Stopped)
    }

    /// A snapshot of the engine's state (rooms, cursors, members, counters).
    pub async fn diagnostics(&self) -> Result<Diagnostics, EngineError> {
        let (reply, diagnostics) = oneshot::channel();
        self.command(Command::Diagnostics(reply)).await?;
        diagnostics.await.map_err(|_| EngineError::Stopped)
    }

    /// Sets the user's route override: `Relay` closes every direct link and attempts none;
    /// `P2p` links to every member of every room (within the link cap); `Auto` links in small
    /// rooms only.
    pub async fn set_preferred_route(&self, preferred: PreferredRoute) -> Result<(), EngineError> {
        self.command(Command::Prefer(preferred)).await
    }

    /// Opens direct links to the members of `room` even if it is larger than the automatic
    /// limit (the debug panel's "upgrade to P2P"). Cooldowns and the link cap still apply.
    pub async fn p2p_upgrade(&self, room: &str) -> Result<(), EngineError> {
        self.command(Command::Upgrade(RoomName::parse(room)?)).await
    }

    /// Spends what the power mode allows ([`crate::power`]): the direct-link cap (closing
    /// links over it between messages, never mid-message), how often peers are looked for
    /// and tried, the relay's and the links' keepalives, the engine's timers and the retry
    /// delay. Applies at once; the stats report the mode. Leaving offline for a network,
    /// call [`Engine::reconnect`] too, so that the outbox does not wait out a backoff.
    pub async fn set_power_budget(&self, budget: PowerBudget) -> Result<(), EngineError> {
        self.command(Command::Power(budget)).await
    }

    /// Drops the relay link and connects again at once.
    pub async fn reconnect(&self) -> Result<(), EngineError> {
        self.command(Command::Reconnect).await
    }

    /// Closes every circuit breaker and ends every cooldown, so that each route is tried
    /// again now.
    pub async fn reset_breakers(&self) -> Result<(), EngineError> {
        self.command(Command::ResetBreakers).await
    }

    /// Closes the link and the store, and waits for the engine to stop.
    pub async fn shutdown(self) {
        let _ = self.commands.send(Command::Shutdown).await;
        let _ = self.task.await;
    }

    async fn command(&self, command: Command) -> Result<(), EngineError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| EngineError::Stopped)
    }
}

/// The local history of `room` in the data directory `dir`, read without starting an engine
/// or touching the network.
pub async fn local_history(
    dir: &Path,
    room: &str,
    limit: usize,
) -> Result<Vec<LocalMessage>, EngineError> {
    let store = Store::open(dir).await?;
    let history = store.history(&RoomName::parse(room)?, limit).await;
    store.close().await;
    history
}

/// The wall clock in Unix milliseconds: the time a message was typed, as it travels, and
/// the age limits of the store.
#[allow(clippy::disallowed_methods)] // The one place the engine reads the wall clock.
pub(crate) fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
