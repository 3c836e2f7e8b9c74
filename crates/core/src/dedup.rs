//! Remembering which message ids were delivered, so that a message that comes by two routes
//! (a direct link and the relay) is shown once.

use std::collections::{HashSet, VecDeque};

use festival_proto::MessageId;

/// The last `capacity` delivered ids. Bounded: the oldest are forgotten first. That is safe
/// because the relay's sequence numbers catch every older duplicate on its route, and a
/// direct copy only races the relay's copy for a moment.
#[derive(Debug)]
pub(crate) struct Seen {
    ids: HashSet<MessageId>,
    order: VecDeque<MessageId>,
    capacity: usize,
    /// Shown from a direct link, then given to sync with the relay's number: when sync
    /// releases them they are expected, not duplicates.
    numbered: HashSet<MessageId>,
}

/// What to do with a message sync releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// Not shown before: show it.
    Show,
    /// Shown from a direct link; only its number is new.
    Numbered,
    /// A second copy: drop it.
    Duplicate,
}

impl Seen {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            ids: HashSet::with_capacity(capacity.min(4096)),
            order: VecDeque::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
            numbered: HashSet::new(),
        }
    }

    /// `id`, already shown, goes through sync again with its number.
    pub(crate) fn numbering(&mut self, id: MessageId) {
        if self.numbered.len() < self.capacity {
            self.numbered.insert(id);
        }
    }

    /// Sync released `id`: show it, or not.
    pub(crate) fn release(&mut self, id: MessageId) -> Release {
        if self.numbered.remove(&id) {
            Release::Numbered
        } else if self.insert(id) {
            Release::Show
        } else {
            Release::Duplicate
        }
    }

    /// Records `id`; false if it was already there.
    pub(crate) fn insert(&mut self, id: MessageId) -> bool {
        if !self.ids.insert(id) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
        self.order.push_back(id);
        true
    }

    /// Whether `id` was delivered.
    pub(crate) fn contains(&self, id: &MessageId) -> bool {
        self.ids.contains(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_numbered_copy_is_released_once_without_counting_as_a_duplicate() {
        let mut seen = Seen::new(8);
        let id = MessageId::new();
        assert!(seen.insert(id));
        seen.numbering(id);
        assert_eq!(seen.release(id), Release::Numbered);
        assert_eq!(seen.release(id), Release::Duplicate);
        assert_eq!(seen.release(MessageId::new()), Release::Show);
    }

    #[test]
    fn an_id_is_seen_once_and_the_oldest_are_forgotten_first() {
        let mut seen = Seen::new(2);
        let ids: Vec<_> = (0..3).map(|_| MessageId::new()).collect();
        assert!(seen.insert(ids[0]));
        assert!(!seen.insert(ids[0]));
        assert!(seen.insert(ids[1]));
        assert!(seen.insert(ids[2]));
        assert!(!seen.contains(&ids[0]));
        assert!(seen.contains(&ids[1]) && seen.contains(&ids[2]));
    }
}
