//! The power policy in the app: the device's battery and network (the power plugin's
//! sources: a phone's own, or this machine's; `FESTIVAL_POWER` in place of the battery) run
//! through the engine's [`Monitor`], each mode applied to the engine and sent to the UI as
//! [`POWER_EVENT`]; the person may choose a mode instead (saved in `power.json`). The
//! commands `power` and `set_power` read and change it.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use festival_core::Engine;
use festival_core::power::{self, Mode, Monitor, NetworkState, PowerBudget, Scripted, SystemPower};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter, Manager, State};

use crate::AppError;
use crate::session::Session;

/// The Tauri event each change of the mode (or of what it was decided on) is sent as; its
/// payload is the power view as JSON: the mode, the person's choice, why, and its limits.
pub const POWER_EVENT: &str = "festival://power";
const FILE: &str = "power.json";

/// The mode the engine runs in, why, and what it may spend: what the UI shows.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PowerView {
    /// The mode applied.
    mode: Mode,
    /// The mode the person chose, if they did (`None`: the policy decides).
    chosen: Option<Mode>,
    /// The policy's own mode, what "auto" would run.
    policy: Mode,
    /// What it was decided on (`battery 31 %, cellular`).
    why: String,
    /// A more generous mode is waiting to settle.
    settling: bool,
    /// What the mode lets the engine spend.
    budget: PowerBudget,
}

/// The person's choice, as saved.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    mode: Option<Mode>,
}

/// The app's power state: the monitor (none when the sources cannot be read) and the choice.
pub(crate) struct Power {
    inner: Mutex<Inner>,
    file: PathBuf,
}

struct Inner {
    monitor: Option<Monitor>,
    chosen: Option<Mode>,
}

impl Power {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What runs now, if the sources could be read.
    fn view(&self) -> Option<PowerView> {
        let inner = self.lock();
        let monitor = inner.monitor.as_ref()?;
        let policy = monitor.policy();
        let mode = inner.chosen.unwrap_or(policy.mode());
        Some(PowerView {
            mode,
            chosen: inner.chosen,
            policy: policy.mode(),
            why: policy.why().to_string(),
            settling: policy.wake_at().is_some(),
            budget: mode.budget(),
        })
    }
}

/// Starts the monitor on the plugin's sources (with `FESTIVAL_POWER` standing in for the
/// battery) and the task that polls it. Without readable sources the engine keeps its
/// defaults and the UI shows no mode.
pub(crate) fn setup(app: &AppHandle, data_dir: &Path) {
    let file = data_dir.join(FILE);
    let chosen = std::fs::read_to_string(&file)
        .ok()
        .and_then(|text| serde_json::from_str::<Saved>(&text).ok())
        .and_then(|saved| saved.mode);
    let monitor = start_monitor(app)
        .map_err(|e| tracing::warn!("power policy off: {e}"))
        .ok();
    let network_changes = monitor.as_ref().and_then(Monitor::network_changes);
    app.manage(Power {
        inner: Mutex::new(Inner { monitor, chosen }),
        file,
    });
    tauri::async_runtime::spawn(watch(app.clone(), network_changes));
}

/// The monitor; a machine whose interfaces cannot be watched reads as "network, kind
/// unknown", as in the terminal client.
fn start_monitor(app: &AppHandle) -> Result<Monitor, String> {
    let reading = power::env_override::from_env().map_err(|e| e.to_string())?;
    let sources = tauri_plugin_festival_power::sources(app).unwrap_or_else(|e| {
        tracing::warn!("{e}; the network counts as unknown");
        tauri_plugin_festival_power::Sources {
            power: Box::new(SystemPower),
            network: Box::new(Scripted::new(NetworkState::UNKNOWN)),
        }
    });
    Monitor::start(sources.power, sources.network, reading).map_err(|e| e.to_string())
}

/// Polls the sources when the monitor says (or when the network changes), applying and
/// showing each change.
// The app's power loop is a driver: it reads the clock for the monitor.
#[allow(clippy::disallowed_methods)]
async fn watch(app: AppHandle, network_changes: Option<std::sync::Arc<tokio::sync::Notify>>) {
    loop {
        let next = {
            let power = app.state::<Power>();
            let inner = power.lock();
            match &inner.monitor {
                Some(monitor) => monitor.next_poll(Instant::now()),
                None => return,
            }
        };
        let changed = async {
            match &network_changes {
                Some(notify) => notify.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = tokio::time::sleep_until(next.into()) => {}
            () = changed => {}
        }
        let change = {
            let power = app.state::<Power>();
            let mut inner = power.lock();
            let Some(monitor) = inner.monitor.as_mut() else {
                return;
            };
            match monitor.poll(Instant::now()) {
                Ok(change) => change,
                Err(e) => {
                    tracing::warn!("{e}");
                    None
                }
            }
        };
        if let Some(change) = change {
            apply(&app, change.from == Mode::Offline).await;
        }
    }
}

/// Applies the mode now due to the running engine (reconnecting at once when it leaves
/// offline) and shows it.
async fn apply(app: &AppHandle, leaving_offline: bool) {
    let Some(view) = app.state::<Power>().view() else {
        return;
    };
    let session = app.state::<Session>();
    let applied = session
        .with(async |engine| {
            engine.set_power_budget(view.budget).await?;
            if leaving_offline {
                engine.reconnect().await?;
            }
            Ok(())
        })
        .await;
    if let Err(e @ AppError::Engine(_)) = applied {
        tracing::warn!("applying the power mode: {e}");
    }
    if let Err(e) = app.emit(POWER_EVENT, &view) {
        tracing::warn!("showing the power mode: {e}");
    }
}

/// A new engine starts in the mode that runs now.
pub(crate) async fn engine_started(app: &AppHandle, engine: &Engine) {
    let view = app.try_state::<Power>().and_then(|power| power.view());
    if let Some(view) = view {
        if let Err(e) = engine.set_power_budget(view.budget).await {
            tracing::warn!("applying the power mode: {e}");
        }
    }
}

/// The mode, why, and what it allows; `None` when the sources cannot be read.
#[tauri::command]
pub(crate) fn power(power: State<'_, Power>) -> Option<PowerView> {
    power.view()
}

/// Chooses a mode (`auto`: the policy decides again), applies it, saves the choice.
#[tauri::command]
pub(crate) async fn set_power(
    app: AppHandle,
    power: State<'_, Power>,
    mode: String,
) -> Result<Option<PowerView>, AppError> {
    let chosen = match mode.as_str() {
        "auto" => None,
        name => Some(
            Mode::ALL
                .into_iter()
                .find(|m| m.as_str() == name)
                .ok_or_else(|| AppError::Invalid(format!("\"{name}\" is not a power mode.")))?,
        ),
    };
    power.lock().chosen = chosen;
    let saved = serde_json::to_string(&Saved { mode: chosen }).unwrap_or_default();
    std::fs::write(&power.file, saved)
        .map_err(|e| AppError::Invalid(format!("Your power choice could not be saved: {e}.")))?;
    apply(&app, false).await;
    Ok(power.view())
}
