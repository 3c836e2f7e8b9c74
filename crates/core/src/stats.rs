//! What the engine counts and can show about itself: for the CLI's `/stats` and `/diag`, and
//! the app's debug panel. Only measured values: nothing here is estimated or simulated.

use festival_proto::{DeviceId, DisplayName, Member, RoomName, Seq};
use serde::Serialize;

use crate::Route;

/// Messages delivered, by the route they came by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ByRoute {
    /// Over a direct data channel.
    pub p2p: u64,
    /// Over the relay's WebSocket.
    pub relay: u64,
    /// Over the relay's HTTP long-poll.
    pub poll: u64,
}

impl ByRoute {
    pub(crate) fn add(&mut self, route: Route, n: u64) {
        match route {
            Route::P2p => self.p2p += n,
            Route::Relay => self.relay += n,
            Route::Poll => self.poll += n,
        }
    }
}

/// Counters since the engine started.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// The route in use now (`None`: offline).
    pub route: Option<Route>,
    /// Messages delivered to the user, by route.
    pub delivered: ByRoute,
    /// Messages dropped because they had already been delivered.
    pub duplicates_filtered: u64,
    /// Messages typed here and confirmed by the relay.
    pub acked: u64,
    /// Messages typed here still waiting for confirmation.
    pub queued: usize,
    /// Links opened after the first one.
    pub reconnects: u64,
    /// Times the long-poll route had to stand in for the WebSocket.
    pub fallbacks: u64,
    /// The last ping round trip to the relay over the WebSocket, in milliseconds.
    pub rtt_ms: Option<f64>,
}

/// One room as the engine sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomDiagnostics {
    /// The room.
    pub room: RoomName,
    /// The last sequence number delivered.
    pub cursor: Option<Seq>,
    /// Its members, as last reported.
    pub members: Vec<Member>,
}

/// A snapshot of the engine's state, for a debug panel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostics {
    /// The relay it talks to.
    pub relay_url: String,
    /// This device.
    pub device: DeviceId,
    /// Its name.
    pub name: DisplayName,
    /// Joined rooms.
    pub rooms: Vec<RoomDiagnostics>,
    /// The counters.
    pub stats: Stats,
}
