//! `festival chat`: interactive, and scriptable through pipes. Each stdin line is sent; every
//! event is printed (with `--json`, as JSON lines). Lines starting with `/` are commands.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Duration;

use festival_core::{DeliveryState, Engine, EngineError, Event};
use festival_proto::{Invite, MessageId, RoomName};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::catchup::Shown;
use crate::output::{Printer, println_flush};
use crate::trust::Verified;
use crate::{Online, power};

/// How long `chat` waits, once stdin is closed, for what was sent to come back confirmed.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages sent and not yet confirmed before stdin is read further: a pipe is taken no
/// faster than the relay confirms, so that a large one costs no more memory than a small one.
const MAX_UNCONFIRMED: usize = 1024;

/// Arguments of `festival chat`.
#[derive(Debug, clap::Args)]
pub(crate) struct ChatArgs {
    #[command(flatten)]
    online: Online,
    /// The room (a name or a room code, in any case and spacing); may be left out when
    /// --relay is an invite link, which names the room.
    #[arg(long)]
    room: Option<String>,
    /// Print every event as one JSON object per line.
    #[arg(long)]
    json: bool,
    /// Make the room private, owned by this device: what is typed there is sealed with a key
    /// that only its invite (`/invite`) carries; `/remove NAME` moves it to a new key.
    #[arg(long)]
    private: bool,
}

/// Runs until `/quit` or the end of stdin (after the relay confirmed what was sent).
pub(crate) async fn run(args: ChatArgs) -> anyhow::Result<ExitCode> {
    let room_name = args.online.room(args.room.as_deref())?;
    let mut monitor = power::monitor()?;
    let (engine, mut events) = args.online.start().await?;
    if args.private {
        engine.make_private(&room_name).await?;
    }
    power::apply(&engine, &monitor).await?;
    let joined = engine.join(&room_name).await?;
    let mut verified = Verified::load(&engine).await?;
    let mut shown = Shown::default();
    let printer = Printer { json: args.json };
    let room = room_name.as_str();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut unconfirmed: HashSet<MessageId> = HashSet::new();
    let mut stdin_open = true;
    let drain = tokio::time::sleep(Duration::MAX);
    tokio::pin!(drain);
    let network_changed = monitor.network_changes().unwrap_or_default();
    loop {
        if !stdin_open && unconfirmed.is_empty() {
            break;
        }
        #[allow(clippy::disallowed_methods)] // A binary's edge: when the monitor reads next.
        let next_poll =
            tokio::time::Instant::from_std(monitor.next_poll(std::time::Instant::now()));
        tokio::select! {
            () = tokio::time::sleep_until(next_poll) => power::poll(&engine, &mut monitor, printer).await,
            () = network_changed.notified() => power::poll(&engine, &mut monitor, printer).await,
            line = lines.next_line(), if stdin_open && unconfirmed.len() < MAX_UNCONFIRMED => match line {
                Ok(Some(line)) => {
                    let line = line.trim();
                    if let Some(arg) = line.strip_prefix("/power").filter(|a| a.is_empty() || a.starts_with(' ')) {
                        power::command(&engine, &mut monitor, printer, arg.trim()).await;
                    } else if let Some(name) = line.strip_prefix("/remove ") {
                        remove(&engine, room, name.trim(), printer).await;
                    } else if line == "/invite" {
                        invite(&engine, &args.online, room, printer);
                    } else if !typed(&engine, room, line, printer, &mut unconfirmed, &mut verified).await {
                        break;
                    }
                }
                Ok(None) | Err(_) => {
                    stdin_open = false;
                    drain.as_mut().reset(tokio::time::Instant::now() + DRAIN_TIMEOUT);
                }
            },
            event = events.next() => match event {
                Some(Event::Lagged { rooms, missed }) => {
                    // Printed behind, the engine went on without us: what we missed is in
                    // the store.
                    if printer.json {
                        printer.json_line(&json!({"event": "lagged", "missed": missed}));
                    }
                    match shown.missed(&engine, &joined, &rooms).await {
                        Ok(missed) => {
                            for event in missed {
                                shown_message(&event, &mut unconfirmed);
                                verified.print(printer, &event);
                            }
                        }
                        Err(e) => report(printer, &e),
                    }
                    // A missed `Failed` would leave its message waited for until the drain
                    // times out; the store says which ones failed.
                    match failed_meanwhile(&engine, &unconfirmed).await {
                        Ok(failed) => {
                            for event in failed {
                                if let Event::Failed { id, .. } = &event {
                                    unconfirmed.remove(id);
                                }
                                printer.event(&event);
                            }
                        }
                        Err(e) => report(printer, &e),
                    }
                }
                Some(event) => {
                    match &event {
                        Event::Message { message, .. } if !shown.is_new(message) => continue,
                        Event::Message { .. } => shown_message(&event, &mut unconfirmed),
                        Event::Error { id: Some(id), code, .. } if !code.is_retryable() => {
                            unconfirmed.remove(id);
                        }
                        Event::Failed { id, .. } => {
                            unconfirmed.remove(id);
                        }
                        _ => {}
                    }
                    verified.print(printer, &event);
                }
                None => break,
            },
            () = &mut drain => {
                eprintln!("festival: {} message(s) not confirmed by the relay", unconfirmed.len());
                break;
            }
        }
    }
    engine.shutdown().await;
    Ok(if unconfirmed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// The messages waited for that the store marks failed, as the events that would have said
/// so (the CLI lagged and missed them).
async fn failed_meanwhile(
    engine: &Engine,
    unconfirmed: &HashSet<MessageId>,
) -> Result<Vec<Event>, EngineError> {
    let mut failed = Vec::new();
    for id in unconfirmed {
        if let Some(m) = engine.message(*id).await? {
            if m.state == DeliveryState::Failed {
                failed.push(Event::Failed {
                    id: m.id,
                    room: m.room,
                    reason: m.error.unwrap_or_default(),
                });
            }
        }
    }
    Ok(failed)
}

/// The relay acks, then echoes a message: the echo confirms it, so that what was typed is
/// also shown before exiting.
fn shown_message(event: &Event, unconfirmed: &mut HashSet<MessageId>) {
    if let Event::Message { message, .. } = event {
        unconfirmed.remove(&message.id);
    }
}

/// Handles one typed line; false to quit.
async fn typed(
    engine: &Engine,
    room: &str,
    line: &str,
    printer: Printer,
    unconfirmed: &mut HashSet<MessageId>,
    verified: &mut Verified,
) -> bool {
    match verified.command(engine, room, line, printer).await {
        Ok(true) => return true,
        Ok(false) => {}
        Err(e) => {
            report(printer, &e);
            return true;
        }
    }
    match line {
        "" => {}
        "/quit" => return false,
        "/help" => println_flush(
            "commands: /members  /whois NAME  /verify NAME  /invite  /remove NAME  /stats  /diag  /p2p  /route auto|p2p|relay  /power [auto|mains|battery:N[,charging][,saver]]  /reconnect  /reset  /quit  (anything else is sent)",
        ),
        "/stats" => match engine.stats().await {
            Ok(stats) if printer.json => {
                printer.json_line(&json!({"event": "stats", "stats": stats}))
            }
            Ok(stats) => {
                let route = stats.route.map_or("offline", |r| r.as_str());
                let rtt = stats
                    .rtt_ms
                    .map_or("-".to_owned(), |ms| format!("{ms:.1} ms"));
                let d = stats.delivered;
                let mode = stats.mode.map_or("default", |m| m.as_str());
                let out = stats.traffic.sent;
                println_flush(&format!(
                    "* route {route}, rtt {rtt}; delivered relay {} poll {} p2p {}; duplicates filtered {}; acked {}, queued {}; reconnects {}, fallbacks {}; direct links {} (attempts {}, opened {}, failed {}, declined {}); power {mode}, {} wake-ups, sent relay {} frames / {} B, p2p {} frames / {} B",
                    d.relay,
                    d.poll,
                    d.p2p,
                    stats.duplicates_filtered,
                    stats.acked,
                    stats.queued,
                    stats.reconnects,
                    stats.fallbacks,
                    stats.p2p_links,
                    stats.p2p.attempts,
                    stats.p2p.opened,
                    stats.p2p.failures,
                    stats.p2p.declined,
                    stats.wakeups,
                    out.frames.relay,
                    out.bytes.relay,
                    out.frames.p2p,
                    out.bytes.p2p,
                ));
            }
            Err(e) => report(printer, &e),
        },
        "/diag" => match engine.diagnostics().await {
            Ok(diagnostics) if printer.json => {
                printer.json_line(&json!({"event": "diagnostics", "diagnostics": diagnostics}));
            }
            Ok(diagnostics) => match serde_json::to_string_pretty(&diagnostics) {
                Ok(text) => println_flush(&text),
                Err(e) => println_flush(&format!("! {e}")),
            },
            Err(e) => report(printer, &e),
        },
        "/members" => match engine.members(room).await {
            Ok(members) if printer.json => printer.json_line(&json!({
                "event": "members", "room": room, "online": members.len(), "members": members,
            })),
            Ok(members) => {
                let names: Vec<_> = members.iter().map(|m| verified.member(m)).collect();
                println_flush(&format!("* {} online: {}", members.len(), names.join(", ")));
            }
            Err(e) => report(printer, &e),
        },
        "/p2p" => done(printer, "p2p", engine.p2p_upgrade(room).await),
        "/reconnect" => done(printer, "reconnect", engine.reconnect().await),
        "/reset" => done(printer, "reset", engine.reset_breakers().await),
        command if command.starts_with("/route ") => {
            match crate::parse_route(command["/route ".len()..].trim()) {
                Ok(route) => done(printer, "route", engine.set_preferred_route(route).await),
                Err(message) => println_flush(&format!("! {message}")),
            }
        }
        command if command.starts_with('/') => {
            println_flush(&format!("* unknown command {command}; try /help"));
        }
        text => {
            match engine.send(room, text).await {
                Ok(pending) => {
                    unconfirmed.insert(pending.id);
                    if printer.json {
                        printer.json_line(&json!({"event": "queued", "id": pending.id, "room": room, "body": text}));
                    }
                }
                Err(e) => report(printer, &e),
            }
        }
    }
    true
}

/// `/invite`: the room's invite link, with its key when it is private (in the part after `#`,
/// which a browser keeps to itself).
fn invite(engine: &Engine, online: &Online, room: &str, printer: Printer) {
    let link = (|| {
        Ok::<_, anyhow::Error>(
            Invite {
                room: RoomName::parse(room)?,
                relay: Some(online.relay_url()?),
                private: engine.private_room(room)?,
            }
            .to_link(),
        )
    })();
    match link {
        Ok(link) if printer.json => {
            printer.json_line(&json!({"event": "invite", "room": room, "link": link}));
        }
        Ok(link) => println_flush(&format!("* invite: {link}")),
        Err(e) if printer.json => printer
            .json_line(&json!({"event": "error", "code": "invite", "message": e.to_string()})),
        Err(e) => println_flush(&format!("! {e}")),
    }
}

/// `/remove NAME`: the owner of a private room moves it to a new key that NAME does not get.
async fn remove(engine: &Engine, room: &str, name: &str, printer: Printer) {
    match engine.remove_member(room, name).await {
        Ok(epoch) if printer.json => printer
            .json_line(&json!({"event": "removed", "room": room, "name": name, "epoch": epoch})),
        Ok(epoch) => println_flush(&format!(
            "* removed {name}: {room} now has a new key (epoch {epoch}) that {name} does not get"
        )),
        Err(e) => report(printer, &e),
    }
}

/// Confirms a command that returns nothing, or reports why it failed.
fn done(printer: Printer, command: &str, result: Result<(), EngineError>) {
    match result {
        Ok(()) if printer.json => printer.json_line(&json!({"event": "done", "command": command})),
        Ok(()) => println_flush(&format!("* {command}: done")),
        Err(e) => report(printer, &e),
    }
}

fn report(printer: Printer, error: &EngineError) {
    let code = match error {
        EngineError::Invalid(e) => e.code.as_str(),
        EngineError::Private(_) => "private",
        _ => "engine",
    };
    if printer.json {
        printer.json_line(&json!({"event": "error", "code": code, "message": error.to_string()}));
    } else {
        println_flush(&format!("! {error}"));
    }
}
