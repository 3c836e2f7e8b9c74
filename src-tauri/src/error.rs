//! Errors as the UI gets them: a stable code it acts on (which field to mark, whether the
//! relay said no) and a sentence a person understands, which it shows as it is.

use festival_core::EngineError;
use festival_proto::{ErrorCode, ProtoError};
use serde::Serialize;
use serde::ser::SerializeStruct;

use crate::rooms::MAX_JOINED;
use crate::settings::RELAY_URL_ENV;

/// Why a command failed. Serialised as `{code, message}` (and `relay_code` when the relay
/// refused): the UI decides by `code`, never by the words of `message`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// No engine runs yet: the person has not chosen a name.
    #[error("Choose a name first.")]
    NotStarted,
    /// The engine refused or failed.
    #[error("{}", engine_sentence(.0))]
    Engine(#[from] EngineError),
    /// The display name typed is not one a person can be shown by.
    #[error("{}", sentence(&.0.message))]
    InvalidName(ProtoError),
    /// The room name or code typed is not one a room can have.
    #[error("{}", sentence(&.0.message))]
    InvalidRoom(ProtoError),
    /// The relay address typed is not a WebSocket URL.
    #[error("\"{0}\" is not a relay address: it starts with ws:// or wss://.")]
    BadRelayUrl(String),
    /// The relay is fixed by the environment for this run and cannot be changed.
    #[error("The relay is set by {RELAY_URL_ENV} for this run.")]
    RelayFixed,
    /// Opening one more room would pass the number the app keeps joined.
    #[error("You are in {MAX_JOINED} rooms already: leave one first.")]
    TooManyRooms,
    /// An invite link that does not read as one.
    #[error("That invite does not work: {0}.")]
    BadInvite(String),
    /// A setting or the room list could not be written to the data directory.
    #[error("{0}")]
    Save(String),
    /// Other input the app cannot use (e.g. text too long for a QR code).
    #[error("{0}")]
    Invalid(String),
}

/// What kind of failure an [`AppError`] is: stable names the UI matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AppErrorCode {
    /// No name was chosen yet: the name field asks for one.
    NoName,
    /// The display name typed is not valid.
    InvalidName,
    /// The room name or code typed is not valid.
    InvalidRoom,
    /// Other input was not valid (a message, a QR text).
    InvalidInput,
    /// The relay address typed is not a ws:// or wss:// URL.
    BadRelayUrl,
    /// The relay is fixed for this run.
    RelayFixed,
    /// Too many rooms open at once.
    TooManyRooms,
    /// The invite link does not read as one.
    BadInvite,
    /// The room was not joined.
    NotJoined,
    /// The relay refused (its own code is in `relay_code`).
    RelayRefused,
    /// The relay could not be reached.
    RelayUnreachable,
    /// A message was not delivered and will not be retried.
    NotDelivered,
    /// This device's data directory could not be read or written.
    Storage,
    /// The engine stopped.
    Stopped,
    /// Nobody in the room is shown under the name asked about.
    NoSuchMember,
    /// Several members look like the name asked about: pick one from the list.
    AmbiguousMember,
    /// A private room's owner action that cannot be done (not private here, not the owner,
    /// not one member).
    Private,
    /// Anything else.
    Internal,
}

impl AppError {
    /// The code the UI acts on.
    pub fn code(&self) -> AppErrorCode {
        match self {
            Self::NotStarted => AppErrorCode::NoName,
            Self::InvalidName(_) => AppErrorCode::InvalidName,
            Self::InvalidRoom(_) => AppErrorCode::InvalidRoom,
            Self::BadRelayUrl(_) => AppErrorCode::BadRelayUrl,
            Self::RelayFixed => AppErrorCode::RelayFixed,
            Self::TooManyRooms => AppErrorCode::TooManyRooms,
            Self::BadInvite(_) => AppErrorCode::BadInvite,
            Self::Save(_) => AppErrorCode::Storage,
            Self::Invalid(_) => AppErrorCode::InvalidInput,
            Self::Engine(error) => match error {
                EngineError::NoName => AppErrorCode::NoName,
                EngineError::BadUrl(_) => AppErrorCode::BadRelayUrl,
                EngineError::NotJoined(_) => AppErrorCode::NotJoined,
                EngineError::Stopped => AppErrorCode::Stopped,
                EngineError::Store { .. } => AppErrorCode::Storage,
                EngineError::Refused { .. } => AppErrorCode::RelayRefused,
                EngineError::Unreachable(_) => AppErrorCode::RelayUnreachable,
                EngineError::Failed(_) => AppErrorCode::NotDelivered,
                EngineError::NoSuchMember { .. } => AppErrorCode::NoSuchMember,
                EngineError::AmbiguousMember { .. } => AppErrorCode::AmbiguousMember,
                EngineError::Private(_) => AppErrorCode::Private,
                EngineError::Invalid(e) => match e.code {
                    ErrorCode::InvalidName => AppErrorCode::InvalidName,
                    ErrorCode::InvalidRoom => AppErrorCode::InvalidRoom,
                    _ => AppErrorCode::InvalidInput,
                },
                _ => AppErrorCode::Internal,
            },
        }
    }

    /// The relay's own code, when the relay refused.
    fn relay_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Engine(EngineError::Refused { code, .. }) => Some(*code),
            _ => None,
        }
    }
}

impl Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let relay_code = self.relay_code();
        let mut error =
            serializer.serialize_struct("AppError", 2 + usize::from(relay_code.is_some()))?;
        error.serialize_field("code", &self.code())?;
        error.serialize_field("message", &self.to_string())?;
        if let Some(code) = relay_code {
            error.serialize_field("relay_code", &code)?;
        }
        error.end()
    }
}

/// A validation message as a sentence: capitalised, with a full stop.
fn sentence(message: &str) -> String {
    let mut sentence = message.to_owned();
    if let Some(first) = sentence.get(..1) {
        sentence.replace_range(..1, &first.to_uppercase());
    }
    if !sentence.ends_with('.') {
        sentence.push('.');
    }
    sentence
}

/// The engine's errors, reworded for someone holding a phone rather than reading logs.
fn engine_sentence(error: &EngineError) -> String {
    match error {
        EngineError::NoName => "Choose a name first.".to_owned(),
        EngineError::BadUrl(url) => AppError::BadRelayUrl(url.clone()).to_string(),
        EngineError::NotJoined(room) => format!("Join {room} before sending to it."),
        EngineError::Stopped => "The chat engine stopped; restart the app.".to_owned(),
        EngineError::Invalid(e) => sentence(&e.message),
        EngineError::Refused { message, .. } => format!("The relay said no: {}", sentence(message)),
        EngineError::NoSuchMember { room, name } => {
            format!("Nobody in {room} is shown as {name} now: see the members list.")
        }
        EngineError::AmbiguousMember {
            name, candidates, ..
        } => format!("Several members look like {name} ({candidates}): choose one in the list."),
        EngineError::Private(message) => sentence(message),
        EngineError::Unreachable(_) => {
            "The relay cannot be reached now; try again when the network is back.".to_owned()
        }
        other => format!("Something went wrong: {other}."),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use festival_proto::RoomName;
    use serde_json::{Value, json};

    use super::*;

    fn as_ui_sees(error: AppError) -> Value {
        serde_json::to_value(&error).unwrap()
    }

    #[test]
    fn the_ui_tells_no_name_from_an_invalid_room_from_a_refusal_by_code() {
        assert_eq!(
            as_ui_sees(AppError::NotStarted),
            json!({"code": "no_name", "message": "Choose a name first."})
        );
        assert_eq!(
            as_ui_sees(EngineError::NoName.into())["code"],
            "no_name",
            "the engine's own 'no name yet' is the same code"
        );

        let bad_room = RoomName::parse("   ").unwrap_err();
        let invalid = as_ui_sees(AppError::InvalidRoom(bad_room));
        assert_eq!(invalid["code"], "invalid_room");
        assert!(invalid.get("relay_code").is_none());

        let refused = as_ui_sees(
            EngineError::Refused {
                code: ErrorCode::RoomLimit,
                message: "no new rooms from this address for a minute".into(),
            }
            .into(),
        );
        assert_eq!(
            refused,
            json!({
                "code": "relay_refused",
                "message": "The relay said no: No new rooms from this address for a minute.",
                "relay_code": "room_limit",
            })
        );
    }

    #[test]
    fn member_and_private_room_errors_have_codes_of_their_own() {
        let nobody = as_ui_sees(
            EngineError::NoSuchMember {
                room: "Camp".into(),
                name: "Zed".into(),
            }
            .into(),
        );
        assert_eq!(
            nobody,
            json!({
                "code": "no_such_member",
                "message": "Nobody in Camp is shown as Zed now: see the members list.",
            })
        );
        let two = as_ui_sees(
            EngineError::AmbiguousMember {
                room: "Camp".into(),
                name: "Alice".into(),
                candidates: "Alice, Аlice".into(),
            }
            .into(),
        );
        assert_eq!(two["code"], "ambiguous_member");
        let not_owner = as_ui_sees(
            EngineError::Private("only the owner of Crew can remove members".into()).into(),
        );
        assert_eq!(
            not_owner,
            json!({"code": "private", "message": "Only the owner of Crew can remove members."})
        );
    }

    #[test]
    fn a_validation_error_from_the_engine_keeps_which_field_it_is_about() {
        let name = festival_proto::DisplayName::parse("").unwrap_err();
        assert_eq!(
            as_ui_sees(EngineError::Invalid(name).into())["code"],
            "invalid_name"
        );
        let body = festival_proto::ProtoError::new(ErrorCode::InvalidBody, "empty");
        assert_eq!(
            as_ui_sees(EngineError::Invalid(body).into()),
            json!({"code": "invalid_input", "message": "Empty."})
        );
    }
}
