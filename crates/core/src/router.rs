//! Choosing routes: the decision matrix ([`plan`]), a circuit breaker per route
//! ([`breaker`]), and the cooldowns that keep P2P attempts from storming ([`cooldown`]). All
//! pure, with time passed in, so a simulator can drive them faster than real time.

pub mod breaker;
pub mod cooldown;
pub mod links;
mod plan;

pub use plan::{NetworkType, PreferredRoute, RouteInputs, plan};
