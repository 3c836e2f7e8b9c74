//! The phone's power and network for Festival Chat's power policy, as a Tauri 2 plugin: on
//! Android `BatteryManager`, `PowerManager.isPowerSaveMode` and a default-network callback
//! (`NOT_METERED`); on iOS `UIDevice`'s battery, `isLowPowerModeEnabled` and `NWPathMonitor`
//! (`isExpensive`, `isConstrained`). Both feed the engine's [`PowerSource`] and
//! [`NetworkSource`] traits, the ones the desktop's own readers implement, so the app runs
//! one [`festival_core::power::Monitor`] whatever it runs on.
//!
//! Only the desktop path is built and tested on the project's machines; the mobile code is
//! written against Tauri 2's mobile plugin API and builds only with the Android and iOS
//! toolchains.

use festival_core::power::{NetworkSource, PowerSource, SourceError, SystemNetwork, SystemPower};
use tauri::plugin::{Builder, TauriPlugin};
use tauri::{AppHandle, Runtime};

#[cfg(mobile)]
mod mobile;

/// The plugin: on a phone, it loads the native half; on a desktop, nothing.
pub fn init<R: Runtime>() -> TauriPlugin<R> {
    Builder::new("festival-power")
        .setup(|app, api| {
            #[cfg(mobile)]
            {
                use tauri::Manager;
                app.manage(mobile::init(api)?);
            }
            #[cfg(desktop)]
            let _ = (app, api);
            Ok(())
        })
        .build()
}

/// The device's power and network sources, for [`festival_core::power::Monitor::start`].
pub struct Sources {
    /// Battery level, charging, battery saver.
    pub power: Box<dyn PowerSource>,
    /// Network kind, metered.
    pub network: Box<dyn NetworkSource>,
}

/// On a phone the plugin's sources, on a desktop the machine's own (`festival_core`'s battery
/// reader and interface watch).
pub fn sources<R: Runtime>(app: &AppHandle<R>) -> Result<Sources, SourceError> {
    #[cfg(mobile)]
    {
        use tauri::Manager;
        if let Some(readings) = app.try_state::<mobile::Readings<R>>() {
            let readings = readings.inner().clone();
            return Ok(Sources {
                power: Box::new(readings.clone()),
                network: Box::new(readings),
            });
        }
    }
    let _ = app;
    Ok(Sources {
        power: Box::new(SystemPower),
        network: Box::new(SystemNetwork::watch()?),
    })
}
