//! Names bound to keys in the terminal: `/whois NAME` (fingerprint, safety number and QR text
//! to compare in person), `/verify NAME` after comparing, the verified mark (`✓`) beside a
//! person whose key this device verified, and the warning when another key shows under a
//! name it knows.

use std::collections::HashSet;

use festival_core::trust::{KeyStatus, Whois};
use festival_core::{Authenticity, Engine, EngineError, Event};
use festival_proto::{DisplayName, Member, PublicKey};
use serde_json::json;

use crate::output::{Printer, println_flush};

/// The mark printed after the name of a person whose key was verified in person.
const MARK: &str = "✓";

/// The (name, key) pairs verified in person, as the engine remembers them.
#[derive(Debug, Default)]
pub(crate) struct Verified(HashSet<(String, PublicKey)>);

impl Verified {
    /// Reads what the engine remembers.
    pub(crate) async fn load(engine: &Engine) -> Result<Self, EngineError> {
        let known = engine.known_keys().await?;
        Ok(Self(
            known
                .into_iter()
                .filter(|k| k.verified)
                .map(|k| (k.canonical, k.key))
                .collect(),
        ))
    }

    /// Whether `name` with `key` is a person verified in person.
    fn holds(&self, name: &DisplayName, key: &PublicKey) -> bool {
        self.0.contains(&(name.canonical(), *key))
    }

    /// A member's name, marked when verified.
    pub(crate) fn member(&self, member: &Member) -> String {
        if self.holds(&member.name, &member.key) {
            format!("{} {MARK}", member.name)
        } else {
            member.name.to_string()
        }
    }

    /// Prints an event; a verified person's message carries the mark (in JSON, a
    /// `"key_status":"verified"` field).
    pub(crate) fn print(&self, printer: Printer, event: &Event) {
        let Event::Message {
            message,
            authenticity: Authenticity::Verified,
            privacy,
            ..
        } = event
        else {
            return printer.event(event);
        };
        if !message.key.is_some_and(|k| self.holds(&message.from, &k)) {
            return printer.event(event);
        }
        if printer.json {
            let mut value = json!(event);
            value["key_status"] = json!(KeyStatus::Verified);
            return printer.json_line(&value);
        }
        let at = message.stored_at.unwrap_or(message.sent_at);
        let marked = DisplayName::from_trusted(format!("{} {MARK}", message.from));
        println_flush(&printer.line(&marked, &message.body, at, Authenticity::Verified, *privacy));
    }

    /// `/whois NAME` and `/verify NAME`; false when the line is neither.
    pub(crate) async fn command(
        &mut self,
        engine: &Engine,
        room: &str,
        line: &str,
        printer: Printer,
    ) -> Result<bool, EngineError> {
        if let Some(name) = argument(line, "/whois") {
            let whois = engine.whois(room, name).await?;
            show(printer, &whois, "whois");
        } else if let Some(name) = argument(line, "/verify") {
            let whois = engine.verify(room, name).await?;
            self.0.insert((whois.name.canonical(), whois.key));
            show(printer, &whois, "verified");
        } else {
            return Ok(false);
        }
        Ok(true)
    }
}

/// The argument of `/command ARG`, if `line` is that command with one.
fn argument<'a>(line: &'a str, command: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(command)?;
    rest.starts_with(' ')
        .then(|| rest.trim())
        .filter(|a| !a.is_empty())
}

fn show(printer: Printer, whois: &Whois, event: &str) {
    if printer.json {
        let mut value = json!(whois);
        value["event"] = json!(event);
        return printer.json_line(&value);
    }
    let name = &whois.name;
    let status = match whois.status {
        KeyStatus::New => "not compared yet",
        KeyStatus::Known => "the key you talked with before, not compared yet",
        KeyStatus::Verified => "verified in person",
        KeyStatus::Changed => "NOT the key you knew under this name: compare before trusting",
    };
    let number = whois.safety_number.to_string();
    let groups: Vec<&str> = number.split(' ').collect();
    let lines: Vec<String> = groups.chunks(4).map(|row| row.join(" ")).collect();
    let next = if event == "verified" {
        format!("{name} is marked verified ({MARK}) while this key is theirs")
    } else {
        format!("compare it with {name}'s phone in person, then /verify {name}")
    };
    println_flush(&format!(
        "* {name}: key {} ({status})\n  safety number with you:\n    {}\n  QR: {}\n  {next}",
        whois.fingerprint,
        lines.join("\n    "),
        whois.qr,
    ));
}
