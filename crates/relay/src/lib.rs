//! The Festival Chat relay: rooms, presence, stored and sequenced history, WebRTC signaling,
//! metrics.
//!
//! Clients speak the protocol of [`festival_proto`] over a WebSocket at `/ws`. Every chat
//! message is stored in SQLite before it is acked and fanned out; each room numbers its
//! messages, so a client that comes back asks for what it missed with `since`. Every frame
//! is untrusted: validated, size- and rate-limited, and refused with a stable error code.
//!
//! ```no_run
//! # async fn run() -> Result<(), festival_relay::RelayError> {
//! let config = festival_relay::Config::new("127.0.0.1:0".parse().unwrap(), "relay.db".into());
//! let relay = festival_relay::RelayHandle::start(config).await?;
//! println!("clients connect to {}", relay.ws_url());
//! relay.shutdown().await
//! # }
//! ```

mod admin;
mod admission;
mod config;
mod directory;
mod health;
mod hub;
mod mesh;
mod metrics;
mod outbound;
mod poll;
mod room;
mod server;
mod session;
pub mod store;

pub use admin::TokenError;
pub use config::{Args, Command, Config};
pub use server::{RelayError, RelayHandle, backup};
pub use store::StoreError;
