//! `festival sync`: deliver what is queued, then exit.

use std::process::ExitCode;
use std::time::Duration;

use festival_core::{DeliveryState, Engine};

use crate::Online;

/// Arguments of `festival sync`.
#[derive(Debug, clap::Args)]
pub(crate) struct SyncArgs {
    #[command(flatten)]
    online: Online,
    /// Seconds to keep trying before giving up (what is left stays queued).
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

/// Exit codes: 0 nothing left queued, 3 messages still queued at the timeout.
pub(crate) async fn run(args: SyncArgs) -> anyhow::Result<ExitCode> {
    let (engine, mut events) = args.online.start().await?;
    let deadline = tokio::time::sleep(Duration::from_secs(args.timeout));
    tokio::pin!(deadline);
    let code = loop {
        let left = engine.pending().await?;
        if left == 0 {
            break ExitCode::SUCCESS;
        }
        // Events only wake this loop: the figures come from the store, which stays right
        // when events were missed (`Lagged`).
        tokio::select! {
            event = events.next() => if event.is_none() {
                break ExitCode::from(3);
            },
            () = &mut deadline => {
                eprintln!("festival: {left} message(s) still queued after {} s", args.timeout);
                break ExitCode::from(3);
            }
        }
    };
    let outcome = outcome(&engine).await;
    engine.shutdown().await;
    let (delivered, failed, queued) = outcome?;
    if code == ExitCode::SUCCESS {
        println!("synced: {delivered} delivered, {failed} failed, {queued} queued");
    }
    Ok(code)
}

/// What became of the messages the outbox held at the start: delivered, failed (each
/// reason printed), still queued.
async fn outcome(engine: &Engine) -> anyhow::Result<(usize, usize, usize)> {
    let (mut delivered, mut failed, mut queued) = (0, 0, 0);
    for id in engine.resumed() {
        match engine.message(*id).await? {
            // Gone from the store: only sent and received messages are pruned.
            None => delivered += 1,
            Some(m) if m.state == DeliveryState::Sent => delivered += 1,
            Some(m) if m.state == DeliveryState::Failed => {
                failed += 1;
                let reason = m.error.as_deref().unwrap_or("unknown");
                eprintln!("festival: a message failed: {reason}");
            }
            Some(_) => queued += 1,
        }
    }
    Ok((delivered, failed, queued))
}
