//! `festival history`: the local store of a room, read with no network.

use std::process::ExitCode;

use festival_core::{DeliveryState, local_history};

use crate::DataDir;
use crate::output::{Printer, println_flush};

/// Arguments of `festival history`.
#[derive(Debug, clap::Args)]
pub(crate) struct HistoryArgs {
    #[command(flatten)]
    data: DataDir,
    /// The room.
    #[arg(long)]
    room: String,
    /// How many of the newest messages.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// One JSON object per message (with its delivery state).
    #[arg(long)]
    json: bool,
}

/// Prints the history; exit 0 (an empty history is not an error).
pub(crate) async fn run(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let printer = Printer { json: args.json };
    for message in local_history(&args.data.path()?, &args.room, args.limit).await? {
        if printer.json {
            printer.json_line(&message);
            continue;
        }
        let mark = match message.state {
            DeliveryState::Queued => "  (queued)",
            DeliveryState::Failed => "  (failed)",
            DeliveryState::Sent | DeliveryState::Received => "",
        };
        println_flush(&format!(
            "{}{mark}",
            printer.line(
                &message.from,
                &message.body,
                message.stored_at.unwrap_or(message.sent_at),
                message.authenticity,
                message.privacy,
            )
        ));
    }
    Ok(ExitCode::SUCCESS)
}
