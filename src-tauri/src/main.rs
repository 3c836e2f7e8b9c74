//! The desktop binary: everything is in the library, which mobile builds load too.

// A release build on Windows opens no console window next to the app.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    festival_app::run();
}
