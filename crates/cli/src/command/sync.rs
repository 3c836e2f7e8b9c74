//! `festival sync`: deliver what is queued, then exit.

use std::process::ExitCode;
use std::time::Duration;

use festival_core::Event;

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
    let mut delivered = 0;
    let mut failed = 0;
    let code = loop {
        let left = engine.pending().await?;
        if left == 0 {
            // The engine sends an ack's event before it answers `pending`, so every event
            // that counts is already waiting here.
            while let Ok(Some(event)) = tokio::time::timeout(Duration::ZERO, events.next()).await {
                match event {
                    Event::Acked { .. } => delivered += 1,
                    Event::Failed { reason, .. } => {
                        failed += 1;
                        eprintln!("festival: a message failed: {reason}");
                    }
                    _ => {}
                }
            }
            println!("synced: {delivered} delivered, {failed} failed, 0 queued");
            break ExitCode::SUCCESS;
        }
        tokio::select! {
            event = events.next() => match event {
                Some(Event::Acked { .. }) => delivered += 1,
                Some(Event::Failed { reason, .. }) => {
                    failed += 1;
                    eprintln!("festival: a message failed: {reason}");
                }
                Some(_) => {}
                None => break ExitCode::from(3),
            },
            () = &mut deadline => {
                eprintln!("festival: {left} message(s) still queued after {} s", args.timeout);
                break ExitCode::from(3);
            }
        }
    };
    engine.shutdown().await;
    Ok(code)
}
