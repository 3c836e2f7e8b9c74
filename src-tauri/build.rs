//! Tauri's build step: reads `tauri.conf.json`, the capabilities and the icons, and declares
//! the app's commands, so that a command is callable only where a capability allows it
//! (`capabilities/default.json`), not everywhere because it is registered. A phone also
//! reads `capabilities/mobile.json`: the QR scanner plugin's commands, on Android and iOS
//! only.

/// Every command the app registers (`lib.rs`); each gets an `allow-…` permission.
const COMMANDS: &[&str] = &[
    "settings",
    "set_relay_url",
    "start",
    "profile",
    "join",
    "leave",
    "send",
    "history",
    "history_before",
    "members",
    "diagnostics",
    "set_route",
    "p2p_upgrade",
    "reconnect",
    "reset_breakers",
    "qr_svg",
    "rooms",
    "show_list",
    "set_favourite",
    "set_muted",
    "public_rooms",
    "create_room",
    "read_invite",
    "launch_invite",
    "power",
    "set_power",
    "whois",
    "verify",
    "make_private",
    "accept_invite",
    "invite_link",
    "remove_member",
    "can_scan",
];

fn main() {
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("tauri build step: {e:#}");
    }
}
