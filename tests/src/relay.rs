//! A real relay, in process, that a scenario can stop and start again on the same address and
//! database, and whose Prometheus metrics it can read.

use std::net::SocketAddr;
use std::path::Path;

use festival_relay::{Config, RelayHandle};

/// A running (or stopped) relay with its database file in a folder the test owns.
pub struct TestRelay {
    handle: Option<RelayHandle>,
    config: Config,
}

impl TestRelay {
    /// A relay on a free loopback port, its database in `dir`, with the default limits.
    pub async fn start(dir: &Path) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), dir, |_| {}).await
    }

    /// A relay on `addr` (port 0 for any), its database in `dir`, its configuration adjusted
    /// by `adjust` first.
    pub async fn start_on(addr: SocketAddr, dir: &Path, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::new(addr, dir.join("relay.db"));
        adjust(&mut config);
        let handle = RelayHandle::start(config.clone()).await.unwrap();
        config.listen = handle.local_addr();
        Self {
            handle: Some(handle),
            config,
        }
    }

    /// The address it listens on (kept across a restart).
    pub fn addr(&self) -> SocketAddr {
        self.config.listen
    }

    /// Its WebSocket URL.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.config.listen)
    }

    /// Shuts it down as SIGTERM would: its clients see it go.
    pub async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await.unwrap();
        }
    }

    /// Starts it again on the same address, with the same database.
    pub async fn start_again(&mut self) {
        assert!(self.handle.is_none(), "the relay is already running");
        self.handle = Some(RelayHandle::start(self.config.clone()).await.unwrap());
    }

    /// The value of the Prometheus series `series` (a name, with its labels if it has any)
    /// in the relay's `/metrics`.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(format!("http://{}/metrics", self.addr()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                (name == series).then(|| value.parse().ok()).flatten()
            })
            .unwrap_or_else(|| panic!("{series} in {text}"))
    }
}

/// Rate limits far above what one test sends, for scenarios that pour messages in.
pub fn generous_limits(config: &mut Config) {
    config.limits.rate_per_sec = 10_000;
    config.limits.rate_burst = 10_000;
}
