//! The commands the UI calls: each is one engine call, with errors as sentences.

use festival_core::router::PreferredRoute;
use festival_core::{Diagnostics, LocalMessage, Stats};
use festival_proto::{DeviceId, DisplayName, Member, MessageId, RoomName};
use serde::Serialize;
use tauri::{AppHandle, State};

use crate::AppError;
use crate::session::Session;
use crate::settings::{self, Settings, Source};

/// Messages of history a room opens with.
const HISTORY_SHOWN: usize = 200;
/// Longest text turned into a QR code (an invite link is far shorter).
const MAX_QR_TEXT: usize = 512;

/// Who this device is, once the engine runs.
#[derive(Debug, Serialize)]
pub(crate) struct Profile {
    device: DeviceId,
    name: DisplayName,
    relay_url: String,
}

/// A joined room as it opens: its members and its recent history (from the local store,
/// so it shows at once, offline too).
#[derive(Debug, Serialize)]
pub(crate) struct RoomView {
    room: RoomName,
    members: Vec<Member>,
    history: Vec<LocalMessage>,
}

#[tauri::command]
pub(crate) fn settings(session: State<'_, Session>) -> Settings {
    settings::load(session.data_dir())
}

/// Saves a new relay URL and restarts the engine on it (unless the environment fixes it).
#[tauri::command]
pub(crate) async fn set_relay_url(
    app: AppHandle,
    session: State<'_, Session>,
    url: String,
) -> Result<Settings, AppError> {
    let url = url.trim().to_owned();
    if !(url.starts_with("ws://") || url.starts_with("wss://")) {
        return Err(AppError::Invalid(format!(
            "\"{url}\" is not a relay address: it starts with ws:// or wss://."
        )));
    }
    let current = settings::load(session.data_dir());
    if current.source == Source::Environment {
        return Err(AppError::Invalid(format!(
            "The relay is set by {} for this run.",
            settings::RELAY_URL_ENV
        )));
    }
    settings::save_relay_url(session.data_dir(), &url)
        .map_err(|e| AppError::Invalid(format!("The setting could not be saved: {e}.")))?;
    let settings = settings::load(session.data_dir());
    if session.with(async |_| Ok(())).await.is_ok() {
        session.start(&app, &settings, None).await?;
    }
    Ok(settings)
}

/// Starts the engine as `name` (saved), or with the saved name when `name` is absent.
#[tauri::command]
pub(crate) async fn start(
    app: AppHandle,
    session: State<'_, Session>,
    name: Option<String>,
) -> Result<Profile, AppError> {
    let settings = settings::load(session.data_dir());
    let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    session.start(&app, &settings, name).await?;
    profile(session).await
}

#[tauri::command]
pub(crate) async fn profile(session: State<'_, Session>) -> Result<Profile, AppError> {
    let relay_url = settings::load(session.data_dir()).relay_url;
    session
        .with(async |engine| {
            let identity = engine.identity();
            Ok(Profile {
                device: identity.device,
                name: identity.name.clone(),
                relay_url,
            })
        })
        .await
}

#[tauri::command]
pub(crate) async fn join(session: State<'_, Session>, room: String) -> Result<RoomView, AppError> {
    session
        .with(async |engine| {
            let room = engine.join(&room).await?;
            Ok(RoomView {
                members: engine.members(room.as_str()).await?,
                history: engine.history(room.as_str(), HISTORY_SHOWN).await?,
                room,
            })
        })
        .await
}

#[tauri::command]
pub(crate) async fn leave(session: State<'_, Session>, room: String) -> Result<(), AppError> {
    session.with(async |engine| engine.leave(&room).await).await
}

/// Queues a message; it is on disk when this returns. Delivery is reported by events.
#[tauri::command]
pub(crate) async fn send(
    session: State<'_, Session>,
    room: String,
    body: String,
) -> Result<MessageId, AppError> {
    session
        .with(async |engine| Ok(engine.send(&room, &body).await?.id))
        .await
}

#[tauri::command]
pub(crate) async fn history(
    session: State<'_, Session>,
    room: String,
) -> Result<Vec<LocalMessage>, AppError> {
    session
        .with(async |engine| engine.history(&room, HISTORY_SHOWN).await)
        .await
}

#[tauri::command]
pub(crate) async fn members(
    session: State<'_, Session>,
    room: String,
) -> Result<Vec<Member>, AppError> {
    session
        .with(async |engine| engine.members(&room).await)
        .await
}

#[tauri::command]
pub(crate) async fn stats(session: State<'_, Session>) -> Result<Stats, AppError> {
    session.with(async |engine| engine.stats().await).await
}

#[tauri::command]
pub(crate) async fn diagnostics(session: State<'_, Session>) -> Result<Diagnostics, AppError> {
    session
        .with(async |engine| engine.diagnostics().await)
        .await
}

#[tauri::command]
pub(crate) async fn set_route(
    session: State<'_, Session>,
    route: PreferredRoute,
) -> Result<(), AppError> {
    session
        .with(async |engine| engine.set_preferred_route(route).await)
        .await
}

#[tauri::command]
pub(crate) async fn p2p_upgrade(session: State<'_, Session>, room: String) -> Result<(), AppError> {
    session
        .with(async |engine| engine.p2p_upgrade(&room).await)
        .await
}

#[tauri::command]
pub(crate) async fn reconnect(session: State<'_, Session>) -> Result<(), AppError> {
    session.with(async |engine| engine.reconnect().await).await
}

#[tauri::command]
pub(crate) async fn reset_breakers(session: State<'_, Session>) -> Result<(), AppError> {
    session
        .with(async |engine| engine.reset_breakers().await)
        .await
}

/// An SVG QR code of `text` (an invite link), for another phone's camera.
#[tauri::command]
pub(crate) fn qr_svg(text: String) -> Result<String, AppError> {
    if text.len() > MAX_QR_TEXT {
        return Err(AppError::Invalid("That is too long for a QR code.".into()));
    }
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| AppError::Invalid(format!("No QR code for that: {e}.")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}
