//! What the engine counts and can show about itself: for the CLI's `/stats` and `/diag`, and
//! the app's debug panel. Only measured values: nothing here is estimated or simulated.

use std::sync::atomic::{AtomicU64, Ordering};

use festival_proto::{DeviceId, DisplayName, Member, RoomName, Seq};
use serde::Serialize;

use crate::Route;
use crate::power::Mode;
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
    /// The same, by the route the confirmation came back on.
    pub acked_by: ByRoute,
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
    /// The power mode the engine runs in (`None`: no budget was set, the defaults apply).
    pub mode: Option<Mode>,
    /// Times the engine's task woke up (a frame, a command, a timer): what keeps a phone's
    /// CPU out of its sleep states.
    pub wakeups: u64,
    /// Those of them that only a timer of the engine's own caused (a ping due, bookkeeping):
    /// the ones that wake an idle phone, where a frame or a command came while it was awake.
    pub timer_wakeups: u64,
    /// Frames and their bytes, each way, by route.
    pub traffic: TrafficStats,
}

/// Frames and their payload bytes (the WebSocket message or data-channel message, before
/// framing and encryption) one way, by route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    /// Frames.
    pub frames: ByRoute,
    /// Their payload bytes.
    pub bytes: ByRoute,
}

/// Traffic both ways, on every route: the relay's WebSocket, its long-poll (each frame a
/// request's body or one of a poll's answer, counted as its JSON text without the HTTP
/// around it) and the direct links.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TrafficStats {
    /// Sent by this device.
    pub sent: Traffic,
    /// Received by it.
    pub received: Traffic,
}

/// The counters behind [`TrafficStats`], shared with the transports that count as they send
/// and receive.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    counters: [AtomicU64; 12],
}

impl Meter {
    fn slot(route: Route) -> usize {
        match route {
            Route::P2p => 0,
            Route::Relay => 1,
            Route::Poll => 2,
        }
    }

    fn add(&self, base: usize, route: Route, bytes: usize) {
        let slot = base + Self::slot(route);
        self.counters[slot].fetch_add(1, Ordering::Relaxed);
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.counters[slot + 3].fetch_add(bytes, Ordering::Relaxed);
    }

    /// A frame of `bytes` went out on `route`.
    pub(crate) fn sent(&self, route: Route, bytes: usize) {
        self.add(0, route, bytes);
    }

    /// A frame of `bytes` came in on `route`.
    pub(crate) fn received(&self, route: Route, bytes: usize) {
        self.add(6, route, bytes);
    }

    /// The counts so far.
    pub(crate) fn snapshot(&self) -> TrafficStats {
        let at = |i: usize| self.counters[i].load(Ordering::Relaxed);
        let by = |base: usize| ByRoute {
            p2p: at(base),
            relay: at(base + 1),
            poll: at(base + 2),
        };
        TrafficStats {
            sent: Traffic {
                frames: by(0),
                bytes: by(3),
            },
            received: Traffic {
                frames: by(6),
                bytes: by(9),
            },
        }
    }
}

/// How one route is doing: what a status bar or a debug panel shows for it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RouteHealth {
    /// Whether messages can go this way now.
    pub available: bool,
    /// The last round trip measured by pings on it, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// The share of tries on it that worked, from 0 to 1 (`None` before the first): for the
    /// relay's routes, messages confirmed per message frame sent (a retry counts again); for
    /// P2P, links opened per link opened or failed.
    pub success_ratio: Option<f64>,
}

/// Every route's health.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Routes {
    /// Direct data channels.
    pub p2p: RouteHealth,
    /// The relay's WebSocket.
    pub relay: RouteHealth,
    /// The relay's HTTP long-poll.
    pub poll: RouteHealth,
}

impl Stats {
    /// Each route's health, given the relay link's route now (`None`: no relay link).
    pub fn routes(&self, relay_link: Option<Route>) -> Routes {
        let ratio = |ok: u64, tries: u64| (tries > 0).then(|| (ok as f64 / tries as f64).min(1.0));
        Routes {
            p2p: RouteHealth {
                available: self.p2p_links > 0,
                rtt_ms: self.p2p_rtt_ms,
                success_ratio: ratio(self.p2p.opened, self.p2p.opened + self.p2p.failures),
            },
            relay: RouteHealth {
                available: relay_link == Some(Route::Relay),
                rtt_ms: self.rtt_ms,
                success_ratio: ratio(self.acked_by.relay, self.sent.relay),
            },
            poll: RouteHealth {
                available: relay_link == Some(Route::Poll),
                rtt_ms: None,
                success_ratio: ratio(self.acked_by.poll, self.sent.poll),
            },
        }
    }
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
    /// Each route: available, round trip, success ratio.
    pub routes: Routes,
    /// The routes' circuit breakers.
    pub breakers: Breakers,
    /// Every device with a link, an attempt or a cooldown.
    pub peers: Vec<PeerDiagnostics>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_health_is_read_from_the_counters() {
        let stats = Stats {
            sent: ByRoute {
                p2p: 10,
                relay: 4,
                poll: 0,
            },
            acked_by: ByRoute {
                p2p: 0,
                relay: 3,
                poll: 0,
            },
            p2p: LinkCounters {
                attempts: 2,
                opened: 3,
                failures: 1,
                declined: 0,
            },
            p2p_links: 2,
            rtt_ms: Some(1.5),
            p2p_rtt_ms: Some(0.4),
            ..Stats::default()
        };
        let routes = stats.routes(Some(Route::Relay));
        assert_eq!(
            routes.relay,
            RouteHealth {
                available: true,
                rtt_ms: Some(1.5),
                success_ratio: Some(0.75),
            }
        );
        assert_eq!(
            routes.p2p,
            RouteHealth {
                available: true,
                rtt_ms: Some(0.4),
                success_ratio: Some(0.75),
            }
        );
        assert_eq!(
            routes.poll,
            RouteHealth {
                available: false,
                rtt_ms: None,
                success_ratio: None,
            }
        );
        assert!(!stats.routes(None).relay.available, "offline");
    }

    #[test]
    fn the_meter_counts_frames_and_bytes_per_route_and_way() {
        let meter = Meter::default();
        meter.sent(Route::Relay, 40);
        meter.sent(Route::Relay, 2);
        meter.sent(Route::P2p, 7);
        meter.received(Route::Relay, 100);
        let traffic = meter.snapshot();
        assert_eq!(
            traffic.sent.frames,
            ByRoute {
                p2p: 1,
                relay: 2,
                poll: 0
            }
        );
        assert_eq!(
            traffic.sent.bytes,
            ByRoute {
                p2p: 7,
                relay: 42,
                poll: 0
            }
        );
        assert_eq!(traffic.received.frames.relay, 1);
        assert_eq!(traffic.received.bytes.relay, 100);
        assert_eq!(traffic.received.bytes.p2p, 0);
    }
}
