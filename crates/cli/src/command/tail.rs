//! `festival tail`: a room's history, then new messages, until a count or a timeout.

use std::process::ExitCode;
use std::time::Duration;

use festival_core::Event;

use crate::Common;
use crate::output::Printer;

/// Arguments of `festival tail`.
#[derive(Debug, clap::Args)]
pub(crate) struct TailArgs {
    #[command(flatten)]
    common: Common,
    /// Exit after this many messages.
    #[arg(long)]
    count: Option<usize>,
    /// Exit after this many seconds (with --count: a failure if fewer arrived).
    #[arg(long)]
    timeout: Option<u64>,
    /// One JSON object per message (id, room, from, sender, body, seq, sent_at, route…).
    #[arg(long)]
    json: bool,
}

/// Exit codes: 0 when the count was reached or the timeout ended a count-less tail, 3 when
/// the timeout came before the count.
pub(crate) async fn run(args: TailArgs) -> anyhow::Result<ExitCode> {
    let (engine, mut events) = args.common.start().await?;
    let printer = Printer { json: args.json };
    let deadline = async {
        match args.timeout {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let mut seen = 0;
    let code = loop {
        if args.count.is_some_and(|count| seen >= count) {
            break ExitCode::SUCCESS;
        }
        tokio::select! {
            event = events.next() => match event {
                Some(event @ Event::Message { .. }) => {
                    printer.event(&event);
                    seen += 1;
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
