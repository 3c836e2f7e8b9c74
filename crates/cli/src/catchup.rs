//! Showing each message once, also after the engine said the CLI fell behind
//! ([`Event::Lagged`]): what it missed is read back from the store, in order, and a message
//! that came directly (not numbered yet) is recognised by its id if it shows up twice.

use std::collections::{HashSet, VecDeque};

use festival_core::{Delivered, Engine, EngineError, Event, Missed, Route};
use festival_proto::{MessageId, RoomName};

/// Direct messages remembered to recognise a second sight; they are numbered by the relay
/// within seconds, after which no range names them again.
const DIRECT_KEPT: usize = 65_536;

/// The direct messages shown lately.
#[derive(Debug, Default)]
pub(crate) struct Shown {
    direct: HashSet<MessageId>,
    order: VecDeque<MessageId>,
}

impl Shown {
    /// Whether a message the engine reported is new here; notes it.
    pub(crate) fn is_new(&mut self, message: &Delivered) -> bool {
        match message.seq {
            Some(_) => !self.direct.contains(&message.id),
            None => self.note_direct(message.id),
        }
    }

    /// The messages of `room` the CLI missed, as message events to print in order.
    pub(crate) async fn missed(
        &mut self,
        engine: &Engine,
        room: &RoomName,
        rooms: &[Missed],
    ) -> Result<Vec<Event>, EngineError> {
        let mut events = Vec::new();
        for missed in rooms.iter().filter(|m| &m.room == room) {
            for stored in engine.reload(missed).await? {
                // The event that would have shown it.
                let (route, authenticity, privacy) =
                    (stored.route, stored.authenticity, stored.privacy);
                let message = Delivered::from(stored);
                if self.is_new(&message) {
                    events.push(Event::Message {
                        route: route.unwrap_or(Route::Relay),
                        authenticity,
                        privacy,
                        message,
                    });
                }
            }
        }
        Ok(events)
    }

    fn note_direct(&mut self, id: MessageId) -> bool {
        if !self.direct.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > DIRECT_KEPT {
            if let Some(oldest) = self.order.pop_front() {
                self.direct.remove(&oldest);
            }
        }
        true
    }
}
