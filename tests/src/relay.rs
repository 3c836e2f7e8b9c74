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

impl TestRelay {
    /// The admin token the relay made in its data folder.
    pub fn admin_token(&self) -> String {
        let path = self.config.data_dir().join("admin-token");
        std::fs::read_to_string(path).unwrap().trim().to_owned()
    }

    /// An admin API call (`GET` without a body, `POST` with one) with the right token; the
    /// answer's JSON. Panics on any status but 200.
    pub async fn admin(&self, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
        let url = format!("http://{}/admin/api/{path}", self.addr());
        let client = reqwest::Client::new();
        let request = match body {
            Some(body) => client
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_string()),
            None => client.get(url),
        };
        let answer = request
            .header("authorization", format!("Bearer {}", self.admin_token()))
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let text = answer.text().await.unwrap();
        assert_eq!(status, 200, "admin {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }
}

/// Rate limits far above what one test sends, for scenarios that pour messages in.
pub fn generous_limits(config: &mut Config) {
    config.limits.rate_per_sec = 10_000;
    config.limits.rate_burst = 10_000;
}
