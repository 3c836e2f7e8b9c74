//! The app's own settings: which relay to use. Everything else (identity, name, history,
//! outbox) is the engine's, in its store.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager};

/// The relay used when nothing else says which.
pub(crate) const DEFAULT_RELAY_URL: &str = "ws://127.0.0.1:7878/ws";
/// The environment variable that overrides the saved relay URL (development, tests).
pub(crate) const RELAY_URL_ENV: &str = "FESTIVAL_RELAY_URL";
/// The environment variable that moves the app's data directory (tests, several instances).
pub(crate) const DATA_DIR_ENV: &str = "FESTIVAL_DATA_DIR";
const FILE: &str = "settings.json";

/// Where the relay URL came from, so that the UI can say why it cannot be changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Source {
    /// `FESTIVAL_RELAY_URL`.
    Environment,
    /// Saved by the person.
    Saved,
    /// Nothing set: the built-in default.
    Default,
}

/// The app's settings as the UI sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Settings {
    pub(crate) relay_url: String,
    pub(crate) source: Source,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    relay_url: Option<String>,
}

/// The app's data directory: `FESTIVAL_DATA_DIR`, else the platform's.
pub(crate) fn data_dir(app: &AppHandle) -> Result<PathBuf, tauri::Error> {
    match std::env::var_os(DATA_DIR_ENV) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => app.path().app_data_dir(),
    }
}

/// The name under which this app is the one instance (single-instance plugin, on D-Bus on
/// Linux): the app's identifier, made particular to `FESTIVAL_DATA_DIR` when it is set, so
/// that instances on different data directories (tests, several people on one machine) run
/// side by side while two on the same data never do.
pub(crate) fn instance_id() -> String {
    use std::hash::{Hash, Hasher};
    const IDENTIFIER: &str = "chat.festival.app";
    match std::env::var_os(DATA_DIR_ENV) {
        Some(dir) => {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            dir.hash(&mut hasher);
            format!("{IDENTIFIER}.data{:016x}", hasher.finish())
        }
        None => IDENTIFIER.to_owned(),
    }
}

/// The relay URL: from the environment if set, else the saved one, else the default.
pub(crate) fn load(dir: &Path) -> Settings {
    if let Ok(url) = std::env::var(RELAY_URL_ENV) {
        return Settings {
            relay_url: url,
            source: Source::Environment,
        };
    }
    let saved: Saved = std::fs::read(dir.join(FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    match saved.relay_url {
        Some(url) => Settings {
            relay_url: url,
            source: Source::Saved,
        },
        None => Settings {
            relay_url: DEFAULT_RELAY_URL.to_owned(),
            source: Source::Default,
        },
    }
}

/// Saves the relay URL the person chose.
pub(crate) fn save_relay_url(dir: &Path, url: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let saved = Saved {
        relay_url: Some(url.to_owned()),
    };
    let json = serde_json::to_vec_pretty(&saved).map_err(std::io::Error::other)?;
    std::fs::write(dir.join(FILE), json)
}
