//! The support library of Festival Chat's cross-crate scenarios: start a real relay, make an
//! engine that records what it shows, run the real `festival` binary, put a line in front of
//! the relay that can stall or refuse upgrades, read a relay metric. One copy of each, so that
//! every scenario in `scenarios/` waits the same way (on an event, with a timeout) and none
//! sleeps in place of synchronising.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod browser;
pub mod cli;
pub mod line;
pub mod member;
pub mod netns;
pub mod relay;

use std::net::SocketAddr;
use std::time::Duration;

pub use browser::Browser;
pub use line::Line;
pub use member::{Member, wait_for};
pub use relay::TestRelay;

/// How long any one wait in a scenario may take before the test fails. Generous: a 2-core
/// machine running the whole workspace's tests at once is slow, and a wait returns as soon as
/// what it waits for happens.
pub const WAIT: Duration = Duration::from_secs(30);

/// An address nothing listens on yet, where a relay can be started later.
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
