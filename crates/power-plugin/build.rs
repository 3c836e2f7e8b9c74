//! Registers the plugin's Android library and Swift package with Tauri's mobile build. It has
//! no commands for the webview: only the app's Rust side reads it.

fn main() {
    tauri_plugin::Builder::new(&[])
        .android_path("android")
        .ios_path("ios")
        .build();
}
