//! Festival Chat's app: a thin Tauri shell over the engine.
//!
//! The engine ([`festival_core::Engine`]) owns every transport, the store and the outbox; this
//! crate only turns UI calls into engine calls (`commands`), forwards the engine's events to
//! the UI as Tauri events (`session`), and keeps the few settings the app itself has
//! (`settings`). The UI in `ui/` renders; it decides nothing.

mod commands;
mod error;
mod session;
mod settings;

use tauri::Manager;

pub use error::AppError;

/// The Tauri event every engine event is sent as; its payload is the engine's `Event` JSON.
pub const ENGINE_EVENT: &str = "festival://event";

/// Builds and runs the app (desktop `main`, or the mobile entry point).
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| festival_core::LOG_FILTER.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .setup(|app| {
            let data_dir = settings::data_dir(app.handle())?;
            app.manage(session::Session::new(data_dir));
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::settings,
            commands::set_relay_url,
            commands::start,
            commands::profile,
            commands::join,
            commands::leave,
            commands::send,
            commands::history,
            commands::members,
            commands::stats,
            commands::diagnostics,
            commands::set_route,
            commands::p2p_upgrade,
            commands::reconnect,
            commands::reset_breakers,
            commands::qr_svg,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("festival-app: {e}");
        std::process::exit(1);
    }
}
