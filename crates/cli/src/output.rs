//! How events look on a terminal: one line each, for people or (with `--json`) for programs.

use std::io::Write;

use festival_core::{Authenticity, Event, Privacy};
use festival_proto::{DisplayName, PresenceChange};

/// Prints events as text lines or JSON lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    pub(crate) json: bool,
}

impl Printer {
    /// Prints one event; events a person does not need (acks, route) only appear in JSON.
    pub(crate) fn event(&self, event: &Event) {
        if self.json {
            return self.json_line(event);
        }
        let line = match event {
            Event::Message {
                message,
                authenticity,
                privacy,
                ..
            } => self.line(
                &message.from,
                &message.body,
                // A direct message is not stored by the relay yet: its sender's clock.
                message.stored_at.unwrap_or(message.sent_at),
                *authenticity,
                *privacy,
            ),
            Event::Presence {
                change,
                member,
                online,
                ..
            } => {
                let verb = match change {
                    PresenceChange::Joined => "joined",
                    PresenceChange::Left => "left",
                };
                format!("* {} {verb} ({online} online)", member.name)
            }
            Event::Joined {
                room,
                name,
                members,
            } => {
                format!("* you are in {room} as {name} ({} online)", members.len())
            }
            Event::Disconnected {
                reason,
                retry_in_ms,
            } => format!(
                "* offline: {reason}; retrying in {:.1} s",
                *retry_in_ms as f64 / 1000.0
            ),
            Event::Connected { name, .. } => format!("* connected as {name}"),
            Event::RouteChanged { route: Some(route) } => {
                format!(
                    "* route: {}",
                    serde_json::to_string(route)
                        .unwrap_or_default()
                        .trim_matches('"')
                )
            }
            Event::RouteChanged { route: None } => "* route: none (offline)".to_owned(),
            Event::Error { code, message, .. } => format!("! {code}: {message}"),
            Event::Failed { reason, .. } => format!("! not delivered: {reason}"),
            Event::StorageFailed { reason } => format!("! local store: {reason}"),
            Event::KeyChanged { room, change } => {
                let name = &change.name;
                let before = if change.was_verified {
                    "the key you verified"
                } else {
                    "the key you talked with"
                };
                format!(
                    "! {name} in {room} has another key than {before} under this name (a new \
                     phone, or someone else): verify again before trusting (/whois {name})"
                )
            }
            Event::Peer {
                device, open: true, ..
            } => format!("* direct link to {device} open"),
            Event::Peer {
                device,
                open: false,
                reason,
            } => format!(
                "* direct link to {device} closed: {}",
                reason.as_deref().unwrap_or("-")
            ),
            _ => return,
        };
        println_flush(&line);
    }

    /// A message as a person reads it: `[HH:MM] name: body`, marked when its signature does not
    /// prove its sender; an organisers' announcement (never a member's message) as
    /// `[HH:MM] ** ANNOUNCEMENT: body **`. A sealed message without a readable text shows
    /// what it is in brackets (`[encrypted message (no key for this room)]`), never bytes.
    pub(crate) fn line(
        &self,
        from: &DisplayName,
        body: &str,
        at: i64,
        authenticity: Authenticity,
        privacy: Privacy,
    ) -> String {
        let notice;
        let body = match privacy.notice() {
            Some(text) => {
                notice = format!("[{text}]");
                notice.as_str()
            }
            None => body,
        };
        // Not verified: never shown as simply that person's words.
        let mark = match authenticity {
            Authenticity::Announcement => {
                return format!("[{}] ** ANNOUNCEMENT: {body} **", clock(at));
            }
            Authenticity::Verified => "",
            Authenticity::Unsigned => "(unsigned) ",
            Authenticity::Forged => "(FORGED, not from) ",
        };
        format!("[{}] {mark}{from}: {body}", clock(at))
    }

    /// Prints any serialisable value as one JSON line.
    pub(crate) fn json_line<T: serde::Serialize>(&self, value: &T) {
        match serde_json::to_string(value) {
            Ok(line) => println_flush(&line),
            Err(e) => eprintln!("festival: cannot print an event as JSON: {e}"),
        }
    }
}

/// Writes a line and flushes, so that a program reading the pipe sees it at once.
pub(crate) fn println_flush(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// `HH:MM` (UTC) of a Unix-milliseconds time.
fn clock(unix_ms: i64) -> String {
    let minutes = unix_ms.div_euclid(60_000);
    format!(
        "{:02}:{:02}",
        minutes.div_euclid(60).rem_euclid(24),
        minutes.rem_euclid(60)
    )
}
