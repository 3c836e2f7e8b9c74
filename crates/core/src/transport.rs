//! The routes a message can take. Each transport is a thin I/O driver; what to send where is
//! decided by the engine's state machines.

pub mod backoff;
mod error;
pub(crate) mod poll;
pub(crate) mod relay;
pub(crate) mod webrtc;

pub(crate) use error::TransportError;
