//! The running engine behind the app, and the task that forwards its events to the UI.

use std::path::PathBuf;

use festival_core::{Engine, EngineConfig, Event, Events, P2pConfig};
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::RwLock;

use crate::settings::Settings;
use crate::{AppError, ENGINE_EVENT};

/// The app's one engine (none until the person has a name), and where its data lives.
pub(crate) struct Session {
    engine: RwLock<Option<Engine>>,
    data_dir: PathBuf,
}

impl Session {
    pub(crate) fn new(data_dir: PathBuf) -> Self {
        Self {
            engine: RwLock::new(None),
            data_dir,
        }
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
        tauri::async_runtime::spawn(forward(app.clone(), events));
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

/// Sends every engine event to the UI; a message from someone else while the window is not
/// focused also becomes a desktop notification.
async fn forward(app: AppHandle, mut events: Events) {
    while let Some(event) = events.next().await {
        if let Event::Message { message, .. } = &event {
            let focused = app
                .get_webview_window("main")
                .and_then(|w| w.is_focused().ok())
                .unwrap_or(true);
            let mine = app
                .state::<Session>()
                .engine
                .try_read()
                .ok()
                .and_then(|slot| slot.as_ref().map(|e| e.identity().device == message.sender))
                .unwrap_or(false);
            if !focused && !mine {
                let shown = app
                    .notification()
                    .builder()
                    .title(format!("{} in {}", message.from, message.room))
                    .body(&message.body)
                    .show();
                if let Err(e) = shown {
                    tracing::debug!("notification: {e}");
                }
            }
        }
        if let Err(e) = app.emit(ENGINE_EVENT, &event) {
            tracing::warn!("forwarding an engine event to the UI: {e}");
        }
    }
}
