//! Festival Chat's app: a thin Tauri shell over the engine.
//!
//! The engine ([`festival_core::Engine`]) owns every transport, the store and the outbox; this
//! crate only turns UI calls into engine calls (`commands`), forwards the engine's events to
//! the UI as Tauri events (`session`), and keeps the few settings the app itself has
//! (`settings`). The UI in `ui/` renders; it decides nothing.

mod commands;
mod error;
mod notify;
mod power;
mod private;
mod rooms;
mod session;
mod settings;
mod trust;

use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_deep_link::DeepLinkExt;

pub use error::{AppError, AppErrorCode};
pub use power::POWER_EVENT;

/// The Tauri event every engine event is sent as; its payload is the engine's `Event` JSON.
pub const ENGINE_EVENT: &str = "festival://event";
/// The Tauri event a `festival://` invite opened while the app runs is sent as (its payload:
/// the link); the UI reads it with the `read_invite` command.
pub const INVITE_EVENT: &str = "festival://invite";
/// The Tauri event a clicked notification is sent as (its payload: the room); the UI opens
/// the room as a tap on it in the room list does.
pub const OPEN_ROOM_EVENT: &str = "festival://open-room";

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
    let builder = tauri::Builder::default();
    // First among the plugins: a second launch (a festival:// link clicked while the app runs)
    // hands its arguments to this instance (the deep-link plugin turns them into an open-URL
    // event) and exits before doing anything else.
    #[cfg(desktop)]
    let builder = builder.plugin(
        tauri_plugin_single_instance::Builder::new()
            .dbus_id(settings::instance_id())
            .callback(|app, _args, _cwd| bring_to_front(app))
            .build(),
    );
    // The camera's QR scanner, for invites (the plugin exists for phones only).
    #[cfg(mobile)]
    let builder = builder.plugin(tauri_plugin_barcode_scanner::init());
    let result = builder
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_festival_power::init())
        .setup(|app| {
            let data_dir = settings::data_dir(app.handle())?;
            power::setup(app.handle(), &data_dir);
            app.manage(session::Session::new(data_dir));
            app.manage(notify::notifier(app.handle()));
            let handle = app.handle().clone();
            app.deep_link().on_open_url(move |event| {
                for url in event.urls() {
                    if let Err(e) = handle.emit(INVITE_EVENT, url.as_str()) {
                        tracing::warn!("handing an invite to the UI: {e}");
                    }
                }
            });
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
            commands::history_before,
            commands::members,
            commands::diagnostics,
            commands::set_route,
            commands::p2p_upgrade,
            commands::reconnect,
            commands::reset_breakers,
            commands::qr_svg,
            commands::rooms,
            commands::show_list,
            commands::set_favourite,
            commands::set_muted,
            commands::public_rooms,
            commands::create_room,
            commands::read_invite,
            commands::launch_invite,
            power::power,
            power::set_power,
            trust::whois,
            trust::verify,
            private::make_private,
            private::accept_invite,
            private::invite_link,
            private::remove_member,
            commands::can_scan,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("festival-app: {e}");
        std::process::exit(1);
    }
}

/// Brings the main window to the front (shown, unminimised, focused), for what the person
/// did outside it: a second launch with a link, a notification clicked.
#[cfg(desktop)]
fn bring_to_front(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;
    use std::path::Path;

    /// The quoted words of `text` (`"whois"` gives `whois`).
    fn quoted(text: &str) -> BTreeSet<String> {
        text.split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    /// Every command `build.rs` declares is allowed to the UI, and the UI names each one (a
    /// command nobody calls is not allowed "just in case"; one the UI calls but the
    /// capability lacks is refused at run time, which the e2e test would show).
    #[test]
    fn the_capability_allows_exactly_the_commands_the_ui_calls() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let build = std::fs::read_to_string(dir.join("build.rs")).unwrap();
        let list = build
            .split("const COMMANDS: &[&str] = &[")
            .nth(1)
            .and_then(|rest| rest.split("];").next())
            .unwrap();
        let declared = quoted(list);
        let capability: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("capabilities/default.json")).unwrap(),
        )
        .unwrap();
        let allowed: BTreeSet<String> = capability["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p.as_str()?.strip_prefix("allow-"))
            .map(|p| p.replace('-', "_"))
            .collect();
        assert_eq!(declared, allowed, "build.rs and capabilities/default.json");
        let mut named = BTreeSet::new();
        for file in std::fs::read_dir(dir.join("../ui/src")).unwrap() {
            let source = std::fs::read_to_string(file.unwrap().path()).unwrap();
            named.extend(quoted(&source));
        }
        let unnamed: Vec<_> = declared.difference(&named).collect();
        assert!(unnamed.is_empty(), "allowed but never called: {unnamed:?}");
    }

    /// A phone's capability adds the QR scanner's scan and its camera permission commands
    /// (which the UI's scan button calls) and nothing else, on Android and iOS only: a
    /// desktop has no such plugin, and the default capability, which applies everywhere,
    /// stays the app's own commands.
    #[test]
    fn only_a_phone_may_scan_and_only_that() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("capabilities");
        let read = |file: &str| -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap()
        };
        let files: BTreeSet<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|f| f.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            files,
            BTreeSet::from(["default.json".into(), "mobile.json".into()])
        );
        assert_eq!(read("default.json").get("platforms"), None);
        let mobile = read("mobile.json");
        assert_eq!(mobile["platforms"], serde_json::json!(["android", "iOS"]));
        let allowed: BTreeSet<_> = mobile["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(
            allowed,
            BTreeSet::from([
                "barcode-scanner:allow-scan",
                "barcode-scanner:allow-check-permissions",
                "barcode-scanner:allow-request-permissions",
            ])
        );
    }
}
