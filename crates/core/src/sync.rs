//! Keeping one room in sync with the relay, as a pure state machine.
//!
//! The relay numbers a room's messages 1, 2, 3… with no gaps. The engine remembers the last
//! number it delivered (the cursor) and asks for what follows it whenever it (re)joins. This
//! module decides, for every `joined` page and every live message, what to deliver to the user
//! (each message once, in order) and whether to ask the relay again (`resync`): when a page
//! says more follows, or when a live message arrives ahead of a gap.

use std::collections::{BTreeMap, BTreeSet};

use festival_proto::{Joined, Seq};

use crate::Delivered;

/// Live messages held while a gap before them is being filled. Past this, the held messages
/// are dropped and fetched again from history instead, so memory stays bounded.
pub const MAX_AHEAD: usize = 4096;

/// What to do after an input.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncOutput {
    /// Messages to hand to the user, in order, none of them seen before, each numbered.
    pub deliver: Vec<Delivered>,
    /// Join again with this `since` to fetch what is missing.
    pub resync: Option<Seq>,
    /// Messages dropped because they were already delivered (seen twice, e.g. by two routes
    /// or a replay).
    pub duplicates: u64,
}

/// One room's sync state.
#[derive(Debug, Default)]
pub struct RoomSync {
    cursor: Option<Seq>,
    ahead: BTreeMap<Seq, Delivered>,
    catching_up: bool,
    /// Numbers whose message is on its way over a direct link: a gap made only of these is
    /// waited for, not fetched.
    expected: BTreeSet<Seq>,
}

impl RoomSync {
    /// A room never synced: the first join asks for recent history.
    pub fn new() -> Self {
        Self::default()
    }

    /// A room last synced up to `cursor` (kept in the store), so the next join asks only for
    /// what followed.
    pub fn resume(cursor: Option<Seq>) -> Self {
        Self {
            cursor,
            ..Self::default()
        }
    }

    /// The `since` to join with: the last sequence number delivered, if any.
    pub fn since(&self) -> Option<Seq> {
        self.cursor
    }

    /// Marks the start of a (re)join: live messages are held until its `joined` arrives.
    pub fn on_join_sent(&mut self) {
        self.catching_up = true;
    }

    /// A `joined` page arrived.
    pub fn on_joined(&mut self, joined: Joined) -> SyncOutput {
        let mut out = SyncOutput::default();
        // A first join starts wherever its history starts; after a retention gap (truncated)
        // the missing messages cannot come, so the cursor jumps over them.
        let jump = self.cursor.is_none() || joined.truncated;
        for message in joined.history {
            self.deliver_if_new(message.seq, message.into(), &mut out, jump);
        }
        if jump && !joined.has_more {
            // Nothing more to replay: start from the room's present.
            self.cursor = Some(self.cursor.unwrap_or(0).max(joined.latest_seq));
        }
        if joined.has_more {
            out.resync = self.cursor;
            return out;
        }
        self.catching_up = false;
        self.release_ahead(&mut out);
        out
    }

    /// A live message arrived, numbered `seq`: the relay's copy carries its number, a copy
    /// that came directly from its sender gets it from the relay's notice.
    pub fn on_live(&mut self, seq: Seq, mut message: Delivered) -> SyncOutput {
        message.seq = Some(seq);
        let mut out = SyncOutput::default();
        let Some(cursor) = self.cursor else {
            // Not joined yet on this connection: the coming `joined` carries it or precedes it.
            self.hold(seq, message, &mut out);
            return out;
        };
        if seq <= cursor {
            out.duplicates += 1;
            return out;
        }
        if seq == cursor + 1 && !self.catching_up {
            self.deliver_if_new(seq, message, &mut out, false);
            self.release_ahead(&mut out);
            return out;
        }
        self.hold(seq, message, &mut out);
        if !self.catching_up && !self.gap_is_expected() {
            // A gap on a live connection: ask for it.
            self.catching_up = true;
            out.resync = self.cursor;
        }
        out
    }

    /// The relay numbered `seq` a message that its sender also sent here directly, and that
    /// copy has not arrived yet: later messages wait behind it, without asking the relay,
    /// until it comes ([`RoomSync::on_live`] with its number) or is given up
    /// ([`RoomSync::on_missing`]).
    pub fn on_expected(&mut self, seq: Seq) {
        if self.cursor.is_some_and(|cursor| seq > cursor) {
            self.expected.insert(seq);
        }
    }

    /// Whether every number between the cursor and the last held message is either held or
    /// expected over a direct link.
    fn gap_is_expected(&self) -> bool {
        let (Some(cursor), Some(last)) = (self.cursor, self.ahead.keys().next_back()) else {
            return false;
        };
        (cursor + 1..*last).all(|seq| self.ahead.contains_key(&seq) || self.expected.contains(&seq))
    }

    /// The relay numbered `seq` a message this device should have had directly but does not
    /// (the direct copy was lost): fetch it from history.
    pub fn on_missing(&mut self, seq: Seq) -> SyncOutput {
        self.expected.remove(&seq);
        let mut out = SyncOutput::default();
        if let Some(cursor) = self.cursor {
            if seq > cursor && !self.catching_up {
                self.catching_up = true;
                out.resync = Some(cursor);
            }
        }
        out
    }

    fn hold(&mut self, seq: Seq, message: Delivered, out: &mut SyncOutput) {
        if self.ahead.len() >= MAX_AHEAD {
            self.ahead.clear();
            self.catching_up = true;
            out.resync = self.cursor;
            return;
        }
        self.ahead.insert(seq, message);
    }

    /// Delivers `message`, numbered `seq`, if it is the next one (or, with `jump`, any later
    /// one).
    fn deliver_if_new(&mut self, seq: Seq, message: Delivered, out: &mut SyncOutput, jump: bool) {
        let next = self.cursor.map_or(0, |c| c + 1);
        let is_next = self.cursor.is_none() || seq == next || (jump && seq > next);
        if is_next {
            self.cursor = Some(seq);
            self.expected.remove(&seq);
            out.deliver.push(message);
        } else if seq > next {
            self.ahead.insert(seq, message);
        } else {
            out.duplicates += 1;
        }
    }

    /// Delivers held messages that are now next in line, and drops those already delivered.
    fn release_ahead(&mut self, out: &mut SyncOutput) {
        while let Some(entry) = self.ahead.first_entry() {
            let cursor = self.cursor.unwrap_or(0);
            let seq = *entry.key();
            if seq <= cursor {
                entry.remove();
                out.duplicates += 1;
            } else if seq == cursor + 1 {
                let message = entry.remove();
                self.cursor = Some(seq);
                self.expected.remove(&seq);
                out.deliver.push(message);
            } else if self.gap_is_expected() {
                // Waiting for a direct copy.
                return;
            } else {
                // Still a gap (the page did not reach it): ask for it.
                self.catching_up = true;
                out.resync = self.cursor;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use festival_proto::{ChatMessage, DeviceId, DisplayName, MessageId, RoomName};

    use super::*;

    fn message(seq: Seq) -> ChatMessage {
        ChatMessage {
            room: RoomName::parse("Camp").unwrap(),
            id: MessageId::new(),
            seq,
            sender: DeviceId::random(),
            from: DisplayName::parse("Ann").unwrap(),
            body: format!("m{seq}"),
            sealed: None,
            sent_at: 0,
            stored_at: 0,
            prev: None,
            key: None,
            sig: None,
        }
    }

    fn page(seqs: std::ops::RangeInclusive<Seq>, latest: Seq, has_more: bool) -> Joined {
        Joined {
            room: RoomName::parse("Camp").unwrap(),
            name: DisplayName::parse("Me").unwrap(),
            members: vec![],
            history: seqs.map(message).collect(),
            latest_seq: latest,
            has_more,
            truncated: false,
        }
    }

    fn seqs(out: &SyncOutput) -> Vec<Seq> {
        out.deliver
            .iter()
            .map(|m| m.seq.expect("numbered"))
            .collect()
    }

    #[test]
    fn a_gap_expected_over_a_direct_link_is_waited_for_then_filled() {
        let mut sync = RoomSync::resume(Some(4));
        sync.on_expected(5);
        let out = sync.on_live(6, message(6).into());
        assert_eq!(
            (seqs(&out), out.resync),
            (vec![], None),
            "held, not fetched"
        );
        let out = sync.on_live(5, message(5).into());
        assert_eq!(seqs(&out), [5, 6]);
        // Given up: the next gap is fetched.
        sync.on_expected(7);
        assert_eq!(sync.on_live(8, message(8).into()).resync, None);
        assert_eq!(sync.on_missing(7).resync, Some(6));
    }

    #[test]
    fn a_message_numbered_but_missing_is_fetched_once() {
        let mut sync = RoomSync::resume(Some(4));
        assert_eq!(sync.on_missing(5).resync, Some(4));
        // While that fetch is under way, more missing numbers ask for nothing more.
        assert_eq!(sync.on_missing(6).resync, None);
        let out = sync.on_joined(page(5..=6, 6, false));
        assert_eq!(seqs(&out), [5, 6]);
        assert_eq!(sync.on_missing(3).resync, None);
    }

    #[test]
    fn first_join_delivers_recent_history_then_live_messages() {
        let mut sync = RoomSync::new();
        sync.on_join_sent();
        let out = sync.on_joined(page(8..=10, 10, false));
        assert_eq!(seqs(&out), [8, 9, 10]);
        assert_eq!(seqs(&sync.on_live(11, message(11).into())), [11]);
        assert_eq!(sync.since(), Some(11));
    }

    #[test]
    fn an_empty_room_starts_at_its_present() {
        let mut sync = RoomSync::new();
        sync.on_join_sent();
        let mut empty = page(1..=1, 0, false);
        empty.history.clear();
        assert!(sync.on_joined(empty).deliver.is_empty());
        assert_eq!(seqs(&sync.on_live(1, message(1).into())), [1]);
    }

    #[test]
    fn duplicates_from_history_and_live_are_delivered_once_and_counted() {
        let mut sync = RoomSync::new();
        sync.on_join_sent();
        sync.on_joined(page(1..=3, 3, false));
        let out = sync.on_live(3, message(3).into());
        assert!(out.deliver.is_empty());
        assert_eq!(out.duplicates, 1);
        sync.on_join_sent();
        let out = sync.on_joined(page(2..=5, 5, false));
        assert_eq!(seqs(&out), [4, 5]);
        assert_eq!(out.duplicates, 2, "2 and 3 were already delivered");
    }

    #[test]
    fn live_messages_during_paging_wait_for_the_gap_to_fill() {
        let mut sync = RoomSync::new();
        sync.on_join_sent();
        sync.on_joined(page(1..=2, 2, false));
        // Reconnect: join since 2; the relay answers with a first page and has_more, while a
        // live message 9 is already arriving.
        sync.on_join_sent();
        assert!(sync.on_live(9, message(9).into()).deliver.is_empty());
        let out = sync.on_joined(page(3..=5, 9, true));
        assert_eq!(seqs(&out), [3, 4, 5]);
        assert_eq!(out.resync, Some(5));
        sync.on_join_sent();
        let out = sync.on_joined(page(6..=8, 9, false));
        assert_eq!(seqs(&out), [6, 7, 8, 9]);
        assert_eq!(out.resync, None);
    }

    #[test]
    fn a_gap_on_a_live_connection_asks_for_the_missing_messages() {
        let mut sync = RoomSync::new();
        sync.on_join_sent();
        sync.on_joined(page(1..=1, 1, false));
        let out = sync.on_live(3, message(3).into());
        assert!(out.deliver.is_empty());
        assert_eq!(out.resync, Some(1));
        let out = sync.on_joined(page(2..=3, 3, false));
        assert_eq!(seqs(&out), [2, 3]);
    }

    #[test]
    fn retention_gaps_are_jumped_not_waited_for() {
        let mut sync = RoomSync::new();
        sync.on_join_sent();
        sync.on_joined(page(1..=2, 2, false));
        sync.on_join_sent();
        let mut truncated = page(50..=52, 52, false);
        truncated.truncated = true;
        assert_eq!(seqs(&sync.on_joined(truncated)), [50, 51, 52]);
        assert_eq!(seqs(&sync.on_live(53, message(53).into())), [53]);
    }

    #[test]
    fn held_messages_are_bounded() {
        let mut sync = RoomSync::new();
        sync.on_join_sent();
        sync.on_joined(page(1..=1, 1, false));
        sync.on_join_sent();
        let mut resyncs = 0;
        for seq in 3..(3 + MAX_AHEAD as Seq + 10) {
            if sync.on_live(seq, message(seq).into()).resync.is_some() {
                resyncs += 1;
            }
        }
        assert!(sync.ahead.len() <= MAX_AHEAD);
        assert!(resyncs >= 1);
    }
}
