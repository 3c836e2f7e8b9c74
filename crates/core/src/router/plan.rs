//! Which route a message should try first, and what to fall back to: the seed's decision
//! matrix, as a pure function of what is up, the group, the network and the user's choice.

use serde::{Deserialize, Serialize};

use crate::Route;

/// The user's override of the automatic choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreferredRoute {
    /// Let the engine decide.
    #[default]
    Auto,
    /// Direct links whenever they are up.
    P2p,
    /// Never P2P: not even a connection attempt.
    Relay,
}

/// The kind of network the device is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkType {
    /// Wi-Fi or wired: P2P is cheap.
    Wifi,
    /// Cellular: P2P costs battery and data; the relay is preferred.
    Cellular,
    /// Not known (a desktop usually cannot tell): treated like Wi-Fi.
    #[default]
    Unknown,
}

/// What the choice depends on, at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInputs {
    /// The relay WebSocket is connected.
    pub relay_up: bool,
    /// The HTTP long-poll fallback answers.
    pub poll_up: bool,
    /// A direct data channel is open to at least one other member of the room (members
    /// without one get the relay's copy).
    pub p2p_up: bool,
    /// Members in the room, this device included.
    pub members: usize,
    /// Largest group for which P2P is chosen automatically.
    pub max_p2p_group: usize,
    /// The network the device is on.
    pub network: NetworkType,
    /// The user's override.
    pub preferred: PreferredRoute,
}

/// The routes to try, best first, keeping only those that are up and that `usable` allows
/// (their circuit breaker is not open). An empty plan means: keep the message queued.
pub fn plan(inputs: &RouteInputs, mut usable: impl FnMut(Route) -> bool) -> Vec<Route> {
    let p2p_is_best = match inputs.preferred {
        PreferredRoute::Relay => false,
        PreferredRoute::P2p => true,
        PreferredRoute::Auto => {
            inputs.network != NetworkType::Cellular && inputs.members <= inputs.max_p2p_group
        }
    };
    let order: &[Route] = if p2p_is_best || !inputs.relay_up {
        &[Route::P2p, Route::Relay, Route::Poll]
    } else {
        &[Route::Relay, Route::Poll, Route::P2p]
    };
    order
        .iter()
        .copied()
        .filter(|&route| match route {
            Route::P2p => inputs.p2p_up && inputs.preferred != PreferredRoute::Relay,
            Route::Relay => inputs.relay_up,
            Route::Poll => inputs.poll_up,
        })
        .filter(|&route| usable(route))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> RouteInputs {
        RouteInputs {
            relay_up: true,
            poll_up: true,
            p2p_up: true,
            members: 3,
            max_p2p_group: 8,
            network: NetworkType::Wifi,
            preferred: PreferredRoute::Auto,
        }
    }

    fn all(_: Route) -> bool {
        true
    }

    #[test]
    fn a_small_group_on_wifi_goes_p2p_first() {
        assert_eq!(
            plan(&inputs(), all),
            [Route::P2p, Route::Relay, Route::Poll]
        );
    }

    #[test]
    fn a_big_group_or_cellular_goes_through_the_relay_first() {
        let big = RouteInputs {
            members: 9,
            ..inputs()
        };
        assert_eq!(plan(&big, all)[0], Route::Relay);
        let cellular = RouteInputs {
            network: NetworkType::Cellular,
            ..inputs()
        };
        assert_eq!(
            plan(&cellular, all),
            [Route::Relay, Route::Poll, Route::P2p]
        );
    }

    #[test]
    fn each_route_stands_in_when_the_other_is_down() {
        let no_relay = RouteInputs {
            relay_up: false,
            network: NetworkType::Cellular,
            ..inputs()
        };
        assert_eq!(plan(&no_relay, all), [Route::P2p, Route::Poll]);
        let no_p2p = RouteInputs {
            p2p_up: false,
            ..inputs()
        };
        assert_eq!(plan(&no_p2p, all), [Route::Relay, Route::Poll]);
        let nothing = RouteInputs {
            relay_up: false,
            poll_up: false,
            p2p_up: false,
            ..inputs()
        };
        assert!(plan(&nothing, all).is_empty(), "stay queued");
    }

    #[test]
    fn preferring_the_relay_never_uses_p2p_even_with_the_relay_down() {
        let relay = RouteInputs {
            preferred: PreferredRoute::Relay,
            ..inputs()
        };
        assert_eq!(plan(&relay, all), [Route::Relay, Route::Poll]);
        let down = RouteInputs {
            relay_up: false,
            ..relay
        };
        assert_eq!(plan(&down, all), [Route::Poll]);
    }

    #[test]
    fn an_open_breaker_takes_its_route_out() {
        assert_eq!(
            plan(&inputs(), |r| r != Route::P2p),
            [Route::Relay, Route::Poll]
        );
    }
}
