//! An engine as an app holds it: started against a relay, its events read as they come into a
//! log that a scenario waits on (with a timeout, never a sleep).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use festival_core::{Engine, EngineConfig, Event, Events, Route};
use festival_proto::{DeviceId, MessageId};
use tokio::sync::Notify;

use crate::WAIT;

/// Every event one engine reported, in order.
#[derive(Default)]
struct Log {
    events: Mutex<Vec<Event>>,
    changed: Notify,
}

/// One device in a scenario: its engine and everything the engine has shown so far.
pub struct Member {
    /// The engine, to call as the app would.
    pub engine: Engine,
    log: Arc<Log>,
}

impl Member {
    /// An engine named `name` (its data in `dir/name`) on `url`, with loopback-only ICE so
    /// that direct links form on this machine.
    pub async fn start(url: &str, dir: &Path, name: &str) -> Self {
        Self::start_with(url, dir, name, |_| {}).await
    }

    /// As [`Member::start`], with the configuration adjusted by `tune` first.
    pub async fn start_with(
        url: &str,
        dir: &Path,
        name: &str,
        tune: impl FnOnce(&mut EngineConfig),
    ) -> Self {
        let mut config = EngineConfig::new(url, dir.join(name)).with_name(name);
        config.p2p.loopback_only = true;
        tune(&mut config);
        let (engine, mut events) = Engine::start(config).await.unwrap();
        let log = Arc::new(Log::default());
        let writer = Arc::clone(&log);
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                writer.events.lock().unwrap().push(event);
                writer.changed.notify_waiters();
            }
        });
        Self { engine, log }
    }

    /// This member's device id.
    pub fn device(&self) -> DeviceId {
        self.engine.identity().device
    }

    /// A copy of every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.log.events.lock().unwrap().clone()
    }

    /// Waits until `found` finds what it looks for in the events so far.
    pub async fn until<T>(&self, what: &str, found: impl Fn(&[Event]) -> Option<T>) -> T {
        self.until_within(WAIT, what, found).await
    }

    /// As [`Member::until`], with a bound of its own; on a timeout the test fails with the
    /// last events seen.
    pub async fn until_within<T>(
        &self,
        within: Duration,
        what: &str,
        found: impl Fn(&[Event]) -> Option<T>,
    ) -> T {
        let waiting = async {
            loop {
                let changed = self.log.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if let Some(result) = found(&self.log.events.lock().unwrap()) {
                    return result;
                }
                changed.await;
            }
        };
        match tokio::time::timeout(within, waiting).await {
            Ok(result) => result,
            Err(_) => {
                let events = self.log.events.lock().unwrap();
                let tail = &events[events.len().saturating_sub(40)..];
                panic!("timed out after {within:?} waiting for {what}; last events: {tail:#?}")
            }
        }
    }

    /// The devices with an open direct link, from the Peer events so far.
    pub fn linked(events: &[Event]) -> Vec<DeviceId> {
        let mut open = BTreeMap::new();
        for event in events {
            if let Event::Peer {
                device, open: o, ..
            } = event
            {
                open.insert(*device, *o);
            }
        }
        open.into_iter()
            .filter(|(_, o)| *o)
            .map(|(d, _)| d)
            .collect()
    }

    /// Chat messages shown so far: (sender, body, route, id).
    pub fn messages(events: &[Event]) -> Vec<(DeviceId, String, Route, MessageId)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Message { message, route, .. } => {
                    Some((message.sender, message.body.clone(), *route, message.id))
                }
                _ => None,
            })
            .collect()
    }

    /// The routes by which message `id` was shown (once, if all is well).
    pub fn routes_of(events: &[Event], id: MessageId) -> Vec<Route> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Message { message, route, .. } if message.id == id => Some(*route),
                _ => None,
            })
            .collect()
    }

    /// Waits until this member's latest word on `peer` is an open direct link.
    pub async fn wait_link_to(&self, peer: DeviceId) {
        self.until("the direct link", |events| {
            events.iter().rev().find_map(|e| match e {
                Event::Peer { device, open, .. } if *device == peer => open.then_some(()),
                _ => None,
            })
        })
        .await;
    }

    /// Waits until this member has an open direct link to each of `peers`.
    pub async fn wait_links(&self, peers: &[&Member], within: Duration) {
        let want: Vec<DeviceId> = peers.iter().map(|p| p.device()).collect();
        self.until_within(within, "direct links to every peer", |events| {
            let linked = Self::linked(events);
            want.iter().all(|d| linked.contains(d)).then_some(())
        })
        .await;
    }

    /// Waits until this member's latest view of its room counts `n` members online.
    pub async fn wait_online(&self, n: usize) {
        self.until("everyone in the room", |events| {
            let online = events.iter().rev().find_map(|e| match e {
                Event::Joined { members, .. } => Some(members.len()),
                Event::Presence { online, .. } => Some(*online as usize),
                _ => None,
            });
            (online == Some(n)).then_some(())
        })
        .await;
    }

    /// Waits until the relay numbered `n` messages in `room` here (the cursor reached n),
    /// so that every notice and copy from the relay has been handled, and until this
    /// member's log holds every message the engine showed (the log is read by a task of
    /// its own, which may be behind on a busy machine). Polls the engine's own counters,
    /// which change with no event of their own.
    pub async fn wait_cursor(&self, room: &str, n: u64) {
        tokio::time::timeout(WAIT, async {
            loop {
                let diagnostics = self.engine.diagnostics().await.unwrap();
                let cursor = diagnostics
                    .rooms
                    .iter()
                    .find(|r| r.room.as_str() == room)
                    .and_then(|r| r.cursor);
                let shown = self.engine.stats().await.unwrap().delivered;
                let shown = shown.p2p + shown.relay + shown.poll;
                let logged = Self::messages(&self.log.events.lock().unwrap()).len() as u64;
                if cursor == Some(n) && logged == shown {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("cursor of {room} never reached {n}, or the log lagged"));
    }
}

/// Reads `events` until `want` accepts one, within [`WAIT`].
pub async fn wait_for<T>(events: &mut Events, mut want: impl FnMut(Event) -> Option<T>) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = events.next().await.expect("engine running");
            if let Some(found) = want(event) {
                return found;
            }
        }
    })
    .await
    .expect("the expected event in time")
}
