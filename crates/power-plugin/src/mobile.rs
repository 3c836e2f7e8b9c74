//! The native half's readings, asked for through Tauri's mobile plugin bridge.

use festival_core::power::{
    NetworkSource, NetworkState, PowerSource, PowerState, SourceError, Supply,
};
use serde::Deserialize;
use tauri::Runtime;
use tauri::plugin::{PluginApi, PluginHandle};

#[cfg(target_os = "ios")]
tauri::ios_plugin_binding!(init_plugin_festival_power);

/// The native plugin, registered with the app.
pub(crate) fn init<R: Runtime>(
    api: PluginApi<R, ()>,
) -> Result<Readings<R>, Box<dyn std::error::Error>> {
    #[cfg(target_os = "android")]
    let handle = api.register_android_plugin("app.festival.power", "PowerPlugin")?;
    #[cfg(target_os = "ios")]
    let handle = api.register_ios_plugin(init_plugin_festival_power)?;
    Ok(Readings(handle))
}

/// Reads the native side each time it is asked.
pub(crate) struct Readings<R: Runtime>(PluginHandle<R>);

impl<R: Runtime> Clone for Readings<R> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// What `readPower` answers. `percent` is absent when the OS does not know (a simulator).
#[derive(Deserialize)]
struct PowerReading {
    percent: Option<u8>,
    charging: bool,
    saver: bool,
}

fn unavailable(source_name: &'static str, e: impl std::fmt::Display) -> SourceError {
    SourceError::Unavailable {
        source_name,
        reason: e.to_string(),
    }
}

impl<R: Runtime> PowerSource for Readings<R> {
    fn read(&mut self) -> Result<PowerState, SourceError> {
        let reading: PowerReading = self
            .0
            .run_mobile_plugin("readPower", ())
            .map_err(|e| unavailable("battery", e))?;
        let supply = match reading.percent {
            Some(percent) => Supply::Battery {
                percent: percent.min(100),
                charging: reading.charging,
            },
            None => Supply::Mains,
        };
        Ok(PowerState {
            supply,
            saver: reading.saver,
        })
    }
}

impl<R: Runtime> NetworkSource for Readings<R> {
    fn read(&mut self) -> Result<NetworkState, SourceError> {
        self.0
            .run_mobile_plugin("readNetwork", ())
            .map_err(|e| unavailable("network", e))
    }
}
