//! `festival send`: one message, confirmed by the relay, or a clear failure.

use std::process::ExitCode;
use std::time::Duration;

use festival_core::Event;

use crate::Common;

/// Arguments of `festival send`.
#[derive(Debug, clap::Args)]
pub(crate) struct SendArgs {
    #[command(flatten)]
    common: Common,
    /// Seconds to wait for the relay to confirm the message.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// The message (words are joined with spaces).
    #[arg(required = true)]
    text: Vec<String>,
}

/// Exit codes: 0 stored by the relay, 1 refused by it, 3 not confirmed in time.
pub(crate) async fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let (engine, mut events) = args.common.start().await?;
    let pending = engine.send(&args.common.room, &args.text.join(" ")).await?;
    let acked = pending.acked();
    tokio::pin!(acked);
    let deadline = tokio::time::sleep(Duration::from_secs(args.timeout));
    tokio::pin!(deadline);
    let mut last_problem = None;
    let code = loop {
        tokio::select! {
            result = &mut acked => match result {
                Ok(seq) => {
                    println!("sent to {} as #{seq}", args.common.room);
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
                eprintln!(
                    "festival: the relay did not confirm the message within {} s ({why}); it was not sent",
                    args.timeout
                );
                break ExitCode::from(3);
            }
        }
    };
    engine.shutdown().await;
    Ok(code)
}
