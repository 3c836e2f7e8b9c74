//! Private rooms in the app, as `festival chat --private` has them: a room made private on
//! this device (it owns it), its invite link carrying the room's key in the link's fragment,
//! an invite's key taken before joining, and the owner removing a member (the room moves to
//! a new key that member does not get). Sealing and opening are the engine's.

use festival_proto::{Invite, RoomName};
use serde::Serialize;
use tauri::State;

use crate::AppError;
use crate::session::Session;
use crate::settings;

/// A room's invite as the invite panel shows it.
#[derive(Debug, Serialize)]
pub(crate) struct InviteLink {
    /// The `festival://join?...` link; for a private room with `#key=...` after it.
    link: String,
    /// Whether the link carries the room's key (whoever has it can read the room).
    private: bool,
}

/// Makes `room` private, owned by this device (before joining it): what is typed there is
/// sealed with a key only its invite carries. A room already private here stays as it is.
#[tauri::command]
pub(crate) async fn make_private(
    session: State<'_, Session>,
    room: String,
) -> Result<(), AppError> {
    let room = RoomName::parse(&room).map_err(AppError::InvalidRoom)?;
    session
        .with(async |engine| engine.make_private(room.as_str()).await.map(drop))
        .await
}

/// Takes the room key an invite link carries, if any (before joining its room), and answers
/// the room it is for.
#[tauri::command]
pub(crate) async fn accept_invite(
    session: State<'_, Session>,
    link: String,
) -> Result<RoomName, AppError> {
    let invite = Invite::parse(&link).map_err(|e| AppError::BadInvite(e.to_string()))?;
    if let Some(private) = &invite.private {
        session
            .with(async |engine| engine.add_private(invite.room.as_str(), private).await)
            .await?;
    }
    Ok(invite.room)
}

/// The invite link of `room` on the relay in use, with the room's current key when it is
/// private here.
#[tauri::command]
pub(crate) async fn invite_link(
    session: State<'_, Session>,
    room: String,
) -> Result<InviteLink, AppError> {
    let room = RoomName::parse(&room).map_err(AppError::InvalidRoom)?;
    let relay = settings::load(session.data_dir()).relay_url;
    let private = session
        .with(async |engine| engine.private_room(room.as_str()))
        .await?;
    Ok(InviteLink {
        private: private.is_some(),
        link: Invite {
            room,
            relay: Some(relay),
            private,
        }
        .to_link(),
    })
}

/// The owner removes the member shown as `name`: the room moves to a new key, sent to every
/// other member, and answers the new key's epoch.
#[tauri::command]
pub(crate) async fn remove_member(
    session: State<'_, Session>,
    room: String,
    name: String,
) -> Result<u32, AppError> {
    let room = RoomName::parse(&room).map_err(AppError::InvalidRoom)?;
    session
        .with(async |engine| engine.remove_member(room.as_str(), &name).await)
        .await
}
