//! The commands the UI calls: each is one engine call, with errors as codes and sentences.

use festival_core::router::PreferredRoute;
use festival_core::{Diagnostics, Directory, LocalMessage, OlderHistory};
use festival_proto::{DeviceId, DisplayName, Invite, Member, MessageId, PublicRoom, RoomName};
use serde::Serialize;
use tauri::{AppHandle, State};

use crate::AppError;
use crate::session::Session;
use crate::settings::{self, Settings, Source};
use crate::trust::Shown;

/// Messages of history a room opens with.
const HISTORY_SHOWN: usize = 200;
/// Messages per page of older history.
const OLDER_PAGE: usize = 100;
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
/// so it shows at once, offline too), and whether it is private here.
#[derive(Debug, Serialize)]
pub(crate) struct RoomView {
    room: RoomName,
    members: Vec<Shown<Member>>,
    history: Vec<Shown<LocalMessage>>,
    private: bool,
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
        return Err(AppError::BadRelayUrl(url));
    }
    let current = settings::load(session.data_dir());
    if current.source == Source::Environment {
        return Err(AppError::RelayFixed);
    }
    settings::save_relay_url(session.data_dir(), &url)
        .map_err(|e| AppError::Save(format!("The setting could not be saved: {e}.")))?;
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
    if let Some(name) = &name {
        DisplayName::parse(name).map_err(AppError::InvalidName)?;
    }
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

/// Opens `room` (a name or a code typed any way): joins it if it is not joined yet, puts it
/// on screen, and returns its members and recent history.
#[tauri::command]
pub(crate) async fn join(session: State<'_, Session>, room: String) -> Result<RoomView, AppError> {
    let room = RoomName::parse(&room).map_err(AppError::InvalidRoom)?;
    let before = session.rooms();
    let joined = before.is_joined(&room);
    let (members, history, private) = session
        .with(async |engine| {
            if !joined {
                engine.join(room.as_str()).await?;
            }
            Ok((
                engine.members(room.as_str()).await?,
                engine.history(room.as_str(), HISTORY_SHOWN).await?,
                engine.private_room(room.as_str())?.is_some(),
            ))
        })
        .await?;
    let view = session.with_marks(|marks| RoomView {
        members: marks.members(members),
        history: marks.messages(history),
        room: room.clone(),
        private,
    });
    if !session.change_rooms(|rooms| rooms.open(&room))? {
        session
            .with(async |engine| engine.leave(room.as_str()).await)
            .await?;
        return Err(AppError::TooManyRooms);
    }
    // The room on screen until now and the one opened: read as they are.
    session
        .with(async |engine| {
            for read in before.current.iter().chain([&room]) {
                engine.mark_read(read.as_str()).await?;
            }
            Ok(())
        })
        .await?;
    Ok(view)
}

/// Leaves `room`: no more messages from it (it stays in the recent list).
#[tauri::command]
pub(crate) async fn leave(session: State<'_, Session>, room: String) -> Result<(), AppError> {
    let room = RoomName::parse(&room).map_err(AppError::InvalidRoom)?;
    session.change_rooms(|rooms| rooms.leave(&room))?;
    session
        .with(async |engine| engine.leave(room.as_str()).await)
        .await
}

/// One joined room in the switcher.
#[derive(Debug, Serialize)]
pub(crate) struct JoinedRoom {
    room: RoomName,
    favourite: bool,
    muted: bool,
    /// Messages from others since it was last on screen, counted in the engine's store.
    unread: u64,
    /// Its newest message here, if any.
    last: Option<Shown<LocalMessage>>,
    /// Whether it is private here (its messages sealed with a key only its invite carries).
    private: bool,
}

/// The person's rooms: the joined ones (favourites first), the one on screen, the recent
/// ones not joined now.
#[derive(Debug, Serialize)]
pub(crate) struct RoomsView {
    current: Option<RoomName>,
    joined: Vec<JoinedRoom>,
    recent: Vec<RoomName>,
}

#[tauri::command]
pub(crate) async fn rooms(session: State<'_, Session>) -> Result<RoomsView, AppError> {
    let rooms = session.rooms();
    let mut joined = Vec::with_capacity(rooms.joined.len());
    for room in &rooms.joined {
        let (last, unread, private) = session
            .with(async |engine| {
                let last = engine.history(room.as_str(), 1).await?.pop();
                Ok((
                    last,
                    engine.unread(room.as_str()).await?,
                    engine.private_room(room.as_str())?.is_some(),
                ))
            })
            .await
            .unwrap_or_default();
        joined.push(JoinedRoom {
            room: room.clone(),
            favourite: rooms.favourites.contains(room),
            muted: rooms.muted.contains(room),
            unread,
            last: last.map(|m| session.with_marks(|marks| marks.message(m))),
            private,
        });
    }
    // Favourites first; otherwise in the order joined.
    joined.sort_by_key(|r| !r.favourite);
    Ok(RoomsView {
        current: rooms.current.clone(),
        recent: rooms
            .recent
            .iter()
            .filter(|r| !rooms.is_joined(r))
            .cloned()
            .collect(),
        joined,
    })
}

/// The room list is on screen (no room is): every room may notify, and the room that was on
/// screen is read as it is.
#[tauri::command]
pub(crate) async fn show_list(session: State<'_, Session>) -> Result<(), AppError> {
    let Some(left) = session.rooms().current else {
        return Ok(());
    };
    session.change_rooms(|rooms| rooms.show_list())?;
    session
        .with(async |engine| engine.mark_read(left.as_str()).await)
        .await
}

#[tauri::command]
pub(crate) fn set_favourite(
    session: State<'_, Session>,
    room: String,
    on: bool,
) -> Result<(), AppError> {
    let room = RoomName::parse(&room).map_err(AppError::InvalidRoom)?;
    session.change_rooms(|rooms| rooms.set_favourite(&room, on))
}

#[tauri::command]
pub(crate) fn set_muted(
    session: State<'_, Session>,
    room: String,
    on: bool,
) -> Result<(), AppError> {
    let room = RoomName::parse(&room).map_err(AppError::InvalidRoom)?;
    session.change_rooms(|rooms| rooms.set_muted(&room, on))
}

/// The relay's public rooms with how many are in each now.
#[tauri::command]
pub(crate) async fn public_rooms(session: State<'_, Session>) -> Result<Vec<PublicRoom>, AppError> {
    let relay = settings::load(session.data_dir()).relay_url;
    Ok(Directory::new(&relay)?.public_rooms().await?)
}

/// A new room with a code from the relay (not joined yet: `join` it).
#[tauri::command]
pub(crate) async fn create_room(session: State<'_, Session>) -> Result<RoomName, AppError> {
    let relay = settings::load(session.data_dir()).relay_url;
    Ok(Directory::new(&relay)?.create_room().await?)
}

/// An invite link read: its room, its relay, and whether that relay differs from the one in
/// use (the UI then asks before switching).
#[derive(Debug, Serialize)]
pub(crate) struct InviteView {
    room: RoomName,
    relay: Option<String>,
    other_relay: bool,
    /// The relay is fixed for this run (`FESTIVAL_RELAY_URL`): it cannot be switched.
    relay_fixed: bool,
}

#[tauri::command]
pub(crate) fn read_invite(
    session: State<'_, Session>,
    link: String,
) -> Result<InviteView, AppError> {
    let invite = Invite::parse(&link).map_err(|e| AppError::BadInvite(e.to_string()))?;
    let current = settings::load(session.data_dir());
    let other_relay = invite.relay.as_ref().is_some_and(|relay| {
        relay.trim_end_matches('/') != current.relay_url.trim_end_matches('/')
    });
    Ok(InviteView {
        room: invite.room,
        relay: invite.relay,
        other_relay,
        relay_fixed: current.source == Source::Environment,
    })
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
) -> Result<Vec<Shown<LocalMessage>>, AppError> {
    let history = session
        .with(async |engine| engine.history(&room, HISTORY_SHOWN).await)
        .await?;
    Ok(session.with_marks(|marks| marks.messages(history)))
}

/// A page of older history as the UI gets it.
#[derive(Debug, Serialize)]
pub(crate) struct OlderView {
    /// The messages, oldest first.
    messages: Vec<Shown<LocalMessage>>,
    /// Older messages may remain.
    more: bool,
}

/// The page of older history before message number `before`, oldest first: from this
/// device's store, then from the relay's history when the store has no more.
#[tauri::command]
pub(crate) async fn history_before(
    session: State<'_, Session>,
    room: String,
    before: u64,
) -> Result<OlderView, AppError> {
    let OlderHistory { messages, more } = session
        .with(async |engine| engine.older_history(&room, before, OLDER_PAGE).await)
        .await?;
    Ok(OlderView {
        messages: session.with_marks(|marks| marks.messages(messages)),
        more,
    })
}

#[tauri::command]
pub(crate) async fn members(
    session: State<'_, Session>,
    room: String,
) -> Result<Vec<Shown<Member>>, AppError> {
    let members = session
        .with(async |engine| engine.members(&room).await)
        .await?;
    Ok(session.with_marks(|marks| marks.members(members)))
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

/// Whether this device scans QR codes with its camera: a phone, where the barcode-scanner
/// plugin is registered (it exists for Android and iOS only). The UI shows its "Scan QR
/// code" button only then.
#[tauri::command]
pub(crate) fn can_scan() -> bool {
    cfg!(mobile)
}

/// The invite link the app was launched with (`festival-app festival://join?...`, as the
/// system opens a clicked link when the app is not running), if any.
#[tauri::command]
pub(crate) fn launch_invite(app: AppHandle) -> Option<String> {
    use tauri_plugin_deep_link::DeepLinkExt;
    let from_plugin = app
        .deep_link()
        .get_current()
        .ok()
        .flatten()
        .and_then(|urls| urls.into_iter().next())
        .map(String::from);
    // A launcher may put its own flags before the link (WebKitWebDriver adds --automation),
    // which the plugin's one-argument rule does not take.
    from_plugin.or_else(|| {
        std::env::args()
            .skip(1)
            .find(|arg| arg.starts_with("festival://"))
    })
}
