//! `festival send`: one message. It is on disk before anything else happens; then either the
//! relay confirms it, or it stays queued for the next `festival` command with this data
//! directory (or `festival sync`).

use std::process::ExitCode;
use std::time::Duration;

use festival_core::Event;

use crate::Online;

/// Arguments of `festival send`.
#[derive(Debug, clap::Args)]
pub(crate) struct SendArgs {
    #[command(flatten)]
    online: Online,
    /// The room (a name or a room code, in any case and spacing); may be left out when
    /// --relay is an invite link, which names the room.
    #[arg(long)]
    room: Option<String>,
    /// Seconds to wait for the relay to confirm the message before leaving it queued.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// The message (words are joined with spaces).
    #[arg(required = true)]
    text: Vec<String>,
}

/// Exit codes: 0 stored by the relay or safely queued, 1 refused by it.
pub(crate) async fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let room = args.online.room(args.room.as_deref())?;
    let (engine, mut events) = args.online.start().await?;
    engine.join(&room).await?;
    let pending = engine.send(&room, &args.text.join(" ")).await?;
    let acked = pending.acked();
    tokio::pin!(acked);
    let deadline = tokio::time::sleep(Duration::from_secs(args.timeout));
    tokio::pin!(deadline);
    let mut last_problem = None;
    let code = loop {
        tokio::select! {
            result = &mut acked => match result {
                Ok(seq) => {
                    println!("sent to {room} as #{seq}");
                    break ExitCode::SUCCESS;
                }
                Err(e) => {
                    eprintln!("festival: {e}");
                    break ExitCode::from(1);
                }
            },
            event = events.next() => match event {
                Some(Event::Disconnected { reason, .. }) => last_problem = Some(reason),
                Some(_) => {}
                None => break ExitCode::from(3),
            },
            () = &mut deadline => {
                let why = last_problem.unwrap_or_else(|| "no answer".into());
                println!("queued: the relay did not confirm it within {} s ({why})", args.timeout);
                eprintln!(
                    "festival: the message is kept in the outbox and will be delivered by the next \
                     festival command using this data directory, or by `festival sync`"
                );
                break ExitCode::SUCCESS;
            }
        }
    };
    engine.shutdown().await;
    Ok(code)
}
