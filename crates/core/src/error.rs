//! What can go wrong in the engine, in terms a caller can act on.

use festival_proto::{ErrorCode, ProtoError};

/// Why an engine call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The data directory could not be created or its database opened, read or written.
    #[error("data directory {path}: {reason}")]
    Store {
        /// The directory or file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// No display name was given and none was saved by an earlier run.
    #[error("no display name yet: give one (e.g. --name Alice) the first time")]
    NoName,
    /// The relay URL is not a ws:// or wss:// URL.
    #[error("relay URL {0:?} must start with ws:// or wss://")]
    BadUrl(String),
    /// A name, room or message failed validation before it was sent.
    #[error("{0}")]
    Invalid(#[from] ProtoError),
    /// A message or leave for a room the user has not joined.
    #[error("join {0:?} first")]
    NotJoined(String),
    /// The relay refused the message; it will not be retried.
    #[error("the relay refused the message ({code}): {message}")]
    Refused {
        /// The relay's stable code.
        code: ErrorCode,
        /// The relay's explanation.
        message: String,
    },
    /// The message was not delivered and will not be retried (for example it expired in the
    /// outbox); it is kept in the history, marked failed.
    #[error("the message was not delivered: {0}")]
    Failed(String),
    /// The engine has stopped; nothing more can be done with this handle.
    #[error("the engine has stopped")]
    Stopped,
}

impl EngineError {
    pub(crate) fn store(path: &std::path::Path, reason: impl std::fmt::Display) -> Self {
        Self::Store {
            path: path.display().to_string(),
            reason: reason.to_string(),
        }
    }
}
