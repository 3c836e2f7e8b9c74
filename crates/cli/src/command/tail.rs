//! `festival tail`: a room's history (from the local store, then whatever the relay has that
//! the store has not), then new messages, until a count or a timeout.

use std::process::ExitCode;
use std::time::Duration;

use festival_core::{Event, local_history};

use crate::Online;
use crate::catchup::Shown;
use crate::output::{Printer, println_flush};

/// Arguments of `festival tail`.
#[derive(Debug, clap::Args)]
pub(crate) struct TailArgs {
    #[command(flatten)]
    online: Online,
    /// The room (a name or a room code, in any case and spacing); may be left out when
    /// --relay is an invite link, which names the room.
    #[arg(long)]
    room: Option<String>,
    /// Exit after this many messages.
    #[arg(long)]
    count: Option<usize>,
    /// Exit after this many seconds (with --count: a failure if fewer arrived).
    #[arg(long)]
    timeout: Option<u64>,
    /// One JSON object per message (id, room, from, sender, body, seq, sent_at, route…).
    #[arg(long)]
    json: bool,
    /// How many messages of the local history to print first.
    #[arg(long, default_value_t = 50)]
    history: usize,
}

/// Exit codes: 0 when the count was reached or the timeout ended a count-less tail, 3 when
/// the timeout came before the count.
pub(crate) async fn run(args: TailArgs) -> anyhow::Result<ExitCode> {
    let room = args.online.room(args.room.as_deref())?;
    let printer = Printer { json: args.json };
    // What this device already has, printed before going online. Messages still queued here
    // are left out: they are printed when the relay delivers them.
    let mut seen = 0;
    let known = local_history(&args.online.data.path()?, &room, args.history).await?;
    for message in known.iter().filter(|m| m.seq.is_some()) {
        if args.count.is_some_and(|count| seen >= count) {
            return Ok(ExitCode::SUCCESS);
        }
        if printer.json {
            printer.json_line(message);
        } else {
            let at = message.stored_at.unwrap_or(message.sent_at);
            println_flush(&printer.line(
                &message.from,
                &message.body,
                at,
                message.authenticity,
                message.privacy,
            ));
        }
        seen += 1;
    }
    let (engine, mut events) = args.online.start().await?;
    let joined = engine.join(&room).await?;
    let mut shown = Shown::default();
    let deadline = async {
        match args.timeout {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let code = loop {
        if args.count.is_some_and(|count| seen >= count) {
            break ExitCode::SUCCESS;
        }
        tokio::select! {
            event = events.next() => match event {
                Some(Event::Message { message, .. }) if !shown.is_new(&message) => {}
                Some(event @ Event::Message { .. }) => {
                    printer.event(&event);
                    seen += 1;
                }
                Some(Event::Lagged { rooms, .. }) => {
                    for event in shown.missed(&engine, &joined, &rooms).await? {
                        if args.count.is_some_and(|count| seen >= count) {
                            break;
                        }
                        printer.event(&event);
                        seen += 1;
                    }
                }
                Some(Event::Disconnected { reason, retry_in_ms }) => {
                    eprintln!("festival: offline ({reason}); retrying in {retry_in_ms} ms");
                }
                Some(Event::Error { code, message, .. }) => eprintln!("festival: {code}: {message}"),
                Some(_) => {}
                None => break ExitCode::from(3),
            },
            () = &mut deadline => match args.count {
                Some(count) => {
                    eprintln!("festival: timed out after {seen} of {count} messages");
                    break ExitCode::from(3);
                }
                None => break ExitCode::SUCCESS,
            },
        }
    };
    engine.shutdown().await;
    Ok(code)
}
