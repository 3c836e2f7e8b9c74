//! The audit log: every admin action, who did it (the token's id and the address it came
//! from), when, what, and how it ended. Appended to a file in the data folder, one JSON object
//! per line, and the latest kept in memory for the dashboard's activity feed.

use std::collections::VecDeque;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

/// The file the log is appended to, inside the relay's data folder.
pub(crate) const AUDIT_FILE: &str = "admin-audit.log";
/// Entries the activity feed shows.
const RECENT: usize = 100;

/// One admin action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Entry {
    /// When, Unix milliseconds.
    pub(crate) at: i64,
    /// The admin token's id (its public part).
    pub(crate) token: String,
    /// The address the request came from.
    pub(crate) ip: IpAddr,
    /// What was done: `announce`, `clear`, `remove`.
    pub(crate) action: &'static str,
    /// What it was done to (a room, a device in a room, every room).
    pub(crate) target: String,
    /// How it ended, in words.
    pub(crate) outcome: String,
}

/// The log: a file and the latest entries.
#[derive(Debug)]
pub(crate) struct Audit {
    path: PathBuf,
    recent: Mutex<VecDeque<Entry>>,
}

impl Audit {
    /// The log in `dir`.
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(AUDIT_FILE),
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
        }
    }

    /// Records `entry` in the file (and says so in the relay's log if the file cannot be
    /// written: the action is done either way) and in the feed.
    pub(crate) fn record(&self, entry: Entry) {
        tracing::info!(
            token = %entry.token,
            ip = %entry.ip,
            action = entry.action,
            target = %entry.target,
            outcome = %entry.outcome,
            "admin action"
        );
        let line = serde_json::to_string(&entry).unwrap_or_default();
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut file| writeln!(file, "{line}"));
        if let Err(e) = written {
            tracing::error!(path = %self.path.display(), "writing the admin audit log: {e}");
        }
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(entry);
    }

    /// The latest entries, newest first.
    pub(crate) fn recent(&self) -> Vec<Entry> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_is_a_line_in_the_file_and_the_feed_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::new(dir.path());
        for n in 0..RECENT + 5 {
            audit.record(Entry {
                at: n as i64,
                token: "abcd1234".into(),
                ip: "127.0.0.1".parse().unwrap(),
                action: "clear",
                target: format!("room {n}"),
                outcome: "deleted 0 messages".into(),
            });
        }
        let text = std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
        assert_eq!(text.lines().count(), RECENT + 5);
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["token"], "abcd1234");
        assert_eq!(first["action"], "clear");
        let recent = audit.recent();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0].at, (RECENT + 4) as i64, "newest first");
    }
}
