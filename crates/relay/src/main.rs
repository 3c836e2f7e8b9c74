//! `festival-relay`: the relay server binary. Flags and environment variables: `--help`.

use anyhow::Context;
use clap::Parser;
use festival_relay::{Args, Config, RelayHandle};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let config = Config::from(Args::parse());
    let data = config.data.clone();
    let relay = RelayHandle::start(config)
        .await
        .with_context(|| format!("starting the relay with data file {}", data.display()))?;
    // Scripts and tests read the real address from this line (the port may have been 0).
    println!("festival-relay listening on {}", relay.ws_url());
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
