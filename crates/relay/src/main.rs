//! `festival-relay`: the relay server binary. Flags and environment variables: `--help`.

use std::io::Write;

use anyhow::Context;
use clap::Parser;
use festival_relay::{Args, Command, Config, RelayHandle};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let mut args = Args::parse();
    if let Some(Command::Backup { to }) = args.command.take() {
        festival_relay::backup(&args.data, &to)
            .await
            .with_context(|| format!("backing up {} to {}", args.data.display(), to.display()))?;
        println!("backed up {} to {}", args.data.display(), to.display());
        return Ok(());
    }
    let config = Config::from(args);
    let data = config.data.clone();
    let relay = RelayHandle::start(config)
        .await
        .with_context(|| format!("starting the relay with data file {}", data.display()))?;
    // Scripts and tests read the real address from this line (the port may have been 0).
    println!("festival-relay listening on {}", relay.ws_url());
    // After the address line, which scripts read first; a reader that stopped reading after
    // that line (a closed pipe) must not stop the relay, and the token stays in its file.
    if let Some(token) = relay.new_admin_token() {
        let file = data
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .join("admin-token");
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "admin token (shown once; kept in {}, replaced by --rotate-admin-token): {token}",
            file.display()
        )
        .and_then(|()| out.flush());
    }
    stopped().await?;
    tracing::info!("stopping: closing connections and finishing store writes");
    relay.shutdown().await.context("stopping the relay")?;
    Ok(())
}

/// Resolves on ctrl-c or SIGTERM.
async fn stopped() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for ctrl-c"),
        _ = term.recv() => Ok(()),
    }
}
