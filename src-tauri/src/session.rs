//! The running engine behind the app, and the task that forwards its events to the UI.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use festival_core::{Engine, EngineConfig, Event, Events, P2pConfig};
use festival_proto::DeviceId;
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::RwLock;

use crate::notify::{Looking, Notifications, Notifier};
use crate::rooms::Rooms;
use crate::settings::Settings;
use crate::trust::Marks;
use crate::{AppError, ENGINE_EVENT};

/// The app's one engine (none until the person has a name), its rooms, the names it shows
/// as verified, and where its data lives.
pub(crate) struct Session {
    engine: RwLock<Option<Engine>>,
    rooms: Mutex<Rooms>,
    marks: Mutex<Marks>,
    data_dir: PathBuf,
}

impl Session {
    pub(crate) fn new(data_dir: PathBuf) -> Self {
        Self {
            engine: RwLock::new(None),
            rooms: Mutex::new(Rooms::load(&data_dir)),
            marks: Mutex::new(Marks::default()),
            data_dir,
        }
    }

    /// Reads the rooms.
    pub(crate) fn rooms(&self) -> Rooms {
        self.rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Changes the rooms with `change` and saves them.
    pub(crate) fn change_rooms<T>(
        &self,
        change: impl FnOnce(&mut Rooms) -> T,
    ) -> Result<T, AppError> {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let result = change(&mut rooms);
        rooms
            .save(&self.data_dir)
            .map_err(|e| AppError::Save(format!("Your rooms could not be saved: {e}.")))?;
        Ok(result)
    }

    /// Reads or changes the verified marks (never held across an await).
    pub(crate) fn with_marks<T>(&self, f: impl FnOnce(&mut Marks) -> T) -> T {
        f(&mut self.marks.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// Starts the engine (stopping one that runs), as `name` or with the saved name, and
    /// forwards its events to the UI.
    pub(crate) async fn start(
        &self,
        app: &AppHandle,
        settings: &Settings,
        name: Option<String>,
    ) -> Result<(), AppError> {
        let mut slot = self.engine.write().await;
        if let Some(old) = slot.take() {
            old.shutdown().await;
        }
        let mut config =
            EngineConfig::new(settings.relay_url.clone(), self.data_dir.join("engine"));
        config.display_name = name;
        config.p2p = if cfg!(mobile) {
            P2pConfig::mobile()
        } else {
            P2pConfig::desktop()
        };
        let (engine, events) = Engine::start(config).await?;
        let known = engine.known_keys().await?;
        self.with_marks(|marks| *marks = Marks::new(known));
        // Back in every room the person was in before the restart (or the relay change).
        for room in self.rooms().joined {
            engine.join(room.as_str()).await?;
        }
        crate::power::engine_started(app, &engine).await;
        let me = engine.identity().device;
        tauri::async_runtime::spawn(forward(app.clone(), events, me));
        *slot = Some(engine);
        Ok(())
    }

    /// Runs `f` with the engine, if one runs.
    pub(crate) async fn with<T>(
        &self,
        f: impl AsyncFnOnce(&Engine) -> Result<T, festival_core::EngineError>,
    ) -> Result<T, AppError> {
        let slot = self.engine.read().await;
        let engine = slot.as_ref().ok_or(AppError::NotStarted)?;
        Ok(f(engine).await?)
    }
}

/// Sends every engine event to the UI, raising the notifications it calls for.
// The app's event loop is a driver: it reads the clock for the notification policy.
#[allow(clippy::disallowed_methods)]
async fn forward(app: AppHandle, mut events: Events, me: DeviceId) {
    let notifier = app.state::<Box<dyn Notifier>>();
    let mut notifications = Notifications::default();
    while let Some(event) = events.next().await {
        if matches!(event, Event::Message { .. } | Event::Presence { .. }) {
            let window_shown = app.get_webview_window("main").is_some_and(|w| {
                w.is_visible().unwrap_or(true) && !w.is_minimized().unwrap_or(false)
            });
            let rooms = app.state::<Session>().rooms();
            let looking = Looking {
                me,
                rooms: &rooms,
                window_shown,
            };
            if let Some(notification) =
                notifications.decide(&event, looking, Instant::now(), unix_ms())
            {
                notifier.notify(&notification);
            }
        }
        if let Event::Left { room } = &event {
            notifications.forget(room);
        }
        // With the verified mark beside each name that carries it, and a sealed message's
        // notice: the UI cannot tell look-alike names apart as the engine does.
        let shown = app
            .state::<Session>()
            .with_marks(|marks| marks.event(&event));
        let sent = match shown {
            Ok(shown) => app.emit(ENGINE_EVENT, shown),
            Err(e) => {
                tracing::warn!("an engine event that is not JSON: {e}");
                continue;
            }
        };
        if let Err(e) = sent {
            tracing::warn!("forwarding an engine event to the UI: {e}");
        }
    }
}

// As above: the driver reads the wall clock, to tell news from replayed history.
#[allow(clippy::disallowed_methods)]
fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
