//! Where the readings come from: a power source and a network source behind one trait each,
//! so that the OS's readers, a phone's plugin, the `FESTIVAL_POWER` override and a test's
//! script all feed the policy the same way.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use super::state::{NetworkState, PowerState};

/// Why a source could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The OS did not answer (no sysfs, no D-Bus, a plugin that is not there).
    #[error("{source_name} could not be read: {reason}")]
    Unavailable {
        /// The source.
        source_name: &'static str,
        /// What the OS said.
        reason: String,
    },
}

/// Reads the device's power: battery level, charging, battery saver.
pub trait PowerSource: Send {
    /// The power now.
    fn read(&mut self) -> Result<PowerState, SourceError>;
}

/// Reads the device's network: its kind and whether it is metered.
pub trait NetworkSource: Send {
    /// The network now.
    fn read(&mut self) -> Result<NetworkState, SourceError>;

    /// Woken when the network may have changed, for a source that is told (an interface
    /// watch, a phone's callback); `None` for one that can only be read again later.
    fn changes(&self) -> Option<Arc<Notify>> {
        None
    }
}

/// A source that reports what it is told: the `FESTIVAL_POWER` override, an app's setting,
/// a phone plugin's last report, a test's script. Clones share the value.
#[derive(Debug, Clone)]
pub struct Scripted<T> {
    value: Arc<Mutex<T>>,
    changed: Arc<Notify>,
}

impl<T: Copy> Scripted<T> {
    /// A source reporting `value` until told otherwise.
    pub fn new(value: T) -> Self {
        Self {
            value: Arc::new(Mutex::new(value)),
            changed: Arc::new(Notify::new()),
        }
    }

    /// Reports `value` from now on, and wakes whoever waits for a change.
    pub fn set(&self, value: T) {
        *self.value.lock().unwrap_or_else(PoisonError::into_inner) = value;
        self.changed.notify_one();
    }

    /// What it reports now.
    pub fn get(&self) -> T {
        *self.value.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PowerSource for Scripted<PowerState> {
    fn read(&mut self) -> Result<PowerState, SourceError> {
        Ok(self.get())
    }
}

impl NetworkSource for Scripted<NetworkState> {
    fn read(&mut self) -> Result<NetworkState, SourceError> {
        Ok(self.get())
    }

    fn changes(&self) -> Option<Arc<Notify>> {
        Some(Arc::clone(&self.changed))
    }
}
