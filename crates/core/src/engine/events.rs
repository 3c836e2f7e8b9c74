//! The engine's events on their way to the app: a bounded queue the engine never waits on.
//!
//! An app that reads more slowly than things happen (a busy terminal, a webview under load)
//! must not stall the engine: acks, pings and the relay's frames would stop with it. So when
//! the queue is full, events are not queued but summed up, room by room, in one
//! [`Event::Lagged`], queued as soon as the app has read half the queue. Everything a missed
//! event reported is in the store already (the engine writes before it tells), so the app
//! reloads from there ([`Engine::reload`](super::Engine::reload)). Memory stays bounded by
//! the queue's capacity and the number of rooms, however far behind the app is.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use festival_proto::{RoomName, Seq};
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::Event;
use crate::event::{Missed, SeqRange};

/// The stream of [`Event`]s from an engine, in the order they happened. Reading it slowly
/// never slows the engine: what does not fit in its queue is replaced by one
/// [`Event::Lagged`] that says what to reload from the store.
#[derive(Debug)]
pub struct Events(mpsc::Receiver<Event>);

impl Events {
    /// The next event; `None` once the engine stopped.
    pub async fn next(&mut self) -> Option<Event> {
        self.0.recv().await
    }
}

/// The engine's side of the queue: [`EventSender::emit`] never waits.
#[derive(Debug, Clone)]
pub(crate) struct EventSender {
    tx: mpsc::Sender<Event>,
    /// What the app missed since the queue was last full, while it is behind.
    lag: Arc<Mutex<Option<Lag>>>,
    /// Free places needed in the queue before the summary goes out: half of it, so that an
    /// app just behind is not told to reload after every event.
    resume_at: usize,
}

/// A queue of `capacity` events (at least 2).
pub(crate) fn channel(capacity: usize) -> (EventSender, Events) {
    let capacity = capacity.max(2);
    let (tx, rx) = mpsc::channel(capacity);
    let sender = EventSender {
        tx,
        lag: Arc::new(Mutex::new(None)),
        resume_at: capacity / 2,
    };
    (sender, Events(rx))
}

impl EventSender {
    /// Queues `event`, or counts it as missed when the app is behind.
    pub(crate) fn emit(&self, event: Event) {
        let mut lag = self.lag.lock().unwrap_or_else(PoisonError::into_inner);
        self.catch_up_locked(&mut lag);
        if let Some(lag) = lag.as_mut() {
            lag.note(&event);
            return;
        }
        match self.tx.try_send(event) {
            // An app that dropped its event stream no longer listens; the engine carries on.
            Ok(()) | Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(event)) => {
                let mut missed = Lag::default();
                missed.note(&event);
                *lag = Some(missed);
            }
        }
    }

    /// Whether the app is behind (the summary of what it missed is not queued yet).
    pub(crate) fn is_lagging(&self) -> bool {
        self.lag
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Resolves once the app has read enough to be told what it missed: the driver waits on
    /// this beside its other inputs and then calls [`EventSender::catch_up`], so that an app
    /// is told even when nothing else happens. Never resolves while the app is not behind.
    pub(crate) fn room_for_summary(
        &self,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let tx = self.is_lagging().then(|| self.tx.clone());
        let places = self.resume_at;
        async move {
            match tx {
                // The places are given back at once: they only show the app has read.
                Some(tx) => drop(tx.reserve_many(places).await),
                None => std::future::pending().await,
            }
        }
    }

    /// Queues the summary of what the app missed, if it is behind and has read enough.
    pub(crate) fn catch_up(&self) {
        let mut lag = self.lag.lock().unwrap_or_else(PoisonError::into_inner);
        self.catch_up_locked(&mut lag);
    }

    fn catch_up_locked(&self, lag: &mut Option<Lag>) {
        if lag.is_none() || self.tx.capacity() < self.resume_at {
            return;
        }
        if let Ok(permit) = self.tx.try_reserve() {
            if let Some(missed) = lag.take() {
                permit.send(missed.into_event());
            }
        }
    }
}

/// What the app missed while it was behind: how many events, and per room what to reload.
#[derive(Debug, Default)]
struct Lag {
    missed: u64,
    rooms: BTreeMap<RoomName, RoomLag>,
}

#[derive(Debug, Default)]
struct RoomLag {
    seqs: Option<(Seq, Seq)>,
    direct: bool,
}

impl Lag {
    fn note(&mut self, event: &Event) {
        self.missed += 1;
        let room = match event {
            Event::Message { message, .. } => {
                let room = self.rooms.entry(message.room.clone()).or_default();
                match message.seq {
                    None => room.direct = true,
                    Some(seq) => {
                        let (first, last) = room.seqs.unwrap_or((seq, seq));
                        room.seqs = Some((first.min(seq), last.max(seq)));
                    }
                }
                return;
            }
            Event::Joined { room, .. }
            | Event::Left { room }
            | Event::Presence { room, .. }
            | Event::Queued { room, .. }
            | Event::Failed { room, .. }
            | Event::Acked { room, .. }
            | Event::Error {
                room: Some(room), ..
            } => room,
            _ => return,
        };
        self.rooms.entry(room.clone()).or_default();
    }

    fn into_event(self) -> Event {
        Event::Lagged {
            missed: self.missed,
            rooms: self
                .rooms
                .into_iter()
                .map(|(room, lag)| Missed {
                    room,
                    seqs: lag.seqs.map(|(first, last)| SeqRange { first, last }),
                    direct: lag.direct,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use festival_proto::{DeviceId, DisplayName, MessageId};

    use super::*;
    use crate::{Delivered, Route};

    /// A message event; `seq` 0 stands for a direct copy, not numbered yet.
    fn message(room: &str, seq: Seq) -> Event {
        Event::Message {
            message: Delivered {
                room: RoomName::parse(room).unwrap(),
                id: MessageId::new(),
                seq: (seq > 0).then_some(seq),
                sender: DeviceId::random(),
                from: DisplayName::from_trusted("Bob".to_owned()),
                body: format!("m{seq}"),
                sealed: None,
                sent_at: 0,
                stored_at: None,
                prev: None,
                key: None,
                sig: None,
            },
            route: Route::Relay,
            authenticity: crate::Authenticity::Unsigned,
            privacy: crate::Privacy::Public,
        }
    }

    fn seq(event: &Event) -> Option<Seq> {
        match event {
            Event::Message { message, .. } => message.seq,
            other => panic!("not a message: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_full_queue_never_blocks_and_what_did_not_fit_is_summed_up_once_read() {
        let (sender, mut events) = channel(4);
        for n in 1..=10 {
            sender.emit(message("Camp", n));
        }
        sender.emit(message("Camp", 0));
        for n in 1..=2 {
            assert_eq!(seq(&events.next().await.unwrap()), Some(n));
        }
        // Half the queue is free: the next event finds the summary queued before it.
        sender.emit(message("Camp", 11));
        assert_eq!(seq(&events.next().await.unwrap()), Some(3));
        assert_eq!(seq(&events.next().await.unwrap()), Some(4));
        let Some(Event::Lagged { missed, rooms }) = events.next().await else {
            panic!("a summary");
        };
        assert_eq!(missed, 7);
        assert_eq!(rooms.len(), 1);
        assert_eq!(rooms[0].seqs, Some(SeqRange { first: 5, last: 10 }));
        assert!(rooms[0].direct, "the unnumbered message is named too");
        assert_eq!(seq(&events.next().await.unwrap()), Some(11));
    }

    #[tokio::test]
    async fn a_lagging_app_is_told_as_soon_as_it_read_enough_even_if_nothing_else_happens() {
        let (sender, mut events) = channel(2);
        for n in 1..=3 {
            sender.emit(message("Camp", n));
        }
        let ready = tokio::spawn(sender.room_for_summary());
        assert_eq!(seq(&events.next().await.unwrap()), Some(1));
        ready.await.unwrap();
        sender.catch_up();
        assert_eq!(seq(&events.next().await.unwrap()), Some(2));
        assert!(matches!(
            events.next().await,
            Some(Event::Lagged { missed: 1, .. })
        ));
        assert!(!sender.is_lagging());
    }
}
