//! What the engine counts and can show about itself: for the CLI's `/stats` and `/diag`, and
//! the app's debug panel. Only measured values: nothing here is estimated or simulated.

use festival_proto::{DeviceId, DisplayName, Member, RoomName, Seq};
use serde::Serialize;

use crate::Route;
use crate::router::breaker::BreakerState;
use crate::router::links::{LinkCounters, LinkState};
use crate::router::{NetworkType, PreferredRoute};

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
    /// Adds `n` to `route`'s count.
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
    /// Messages typed here, by route: one per direct link it was sent on, one per relay
    /// frame (retries included).
    pub sent: ByRoute,
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
    /// The median of the last ping round trips over each open direct link, in milliseconds.
    pub p2p_rtt_ms: Option<f64>,
    /// Direct links: attempts started here, links opened, failures.
    pub p2p: LinkCounters,
    /// Direct links open now.
    pub p2p_links: usize,
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

/// One device this one has (or tries to have) a direct link with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerDiagnostics {
    /// The device.
    pub device: DeviceId,
    /// Its name, if it is a member of a joined room.
    pub name: Option<DisplayName>,
    /// Where the link stands (`None`: no link, e.g. cooling down after a failure).
    pub link: Option<LinkState>,
    /// The last ICE connection state reported (new, checking, connected, failed…).
    pub ice: Option<String>,
    /// The last ping round trip over the link, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Milliseconds until the next attempt is allowed, while cooling down.
    pub cooldown_ms: Option<u64>,
}

/// The circuit breakers of the routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Breakers {
    /// The relay WebSocket: open after repeated failures to connect (long-poll stands in).
    pub relay: BreakerState,
    /// Direct links: open after repeated failed attempts (no attempts until it recovers).
    pub p2p: BreakerState,
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
    /// The user's route override.
    pub preferred: PreferredRoute,
    /// The network the device is on, as configured.
    pub network: NetworkType,
    /// The routes' circuit breakers.
    pub breakers: Breakers,
    /// Every device with a link, an attempt or a cooldown.
    pub peers: Vec<PeerDiagnostics>,
}
