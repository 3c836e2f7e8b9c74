//! What can go wrong in the engine, in terms a caller can act on.

use festival_proto::{ErrorCode, ProtoError};

/// Why an engine call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The data directory could not be created or its database opened, read or written.
    #[error("data directory {path}: {source}")]
    Store {
        /// The directory or file.
        path: String,
        /// What went wrong, as the file system or the database reported it.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
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
    /// The relay could not be reached, or answered with something that is not the protocol.
    #[error("the relay could not be reached: {0}")]
    Unreachable(String),
    /// The engine has stopped; nothing more can be done with this handle.
    #[error("the engine has stopped")]
    Stopped,
    /// Nobody in the room is shown under that name (or any look-alike of it).
    #[error("nobody in {room:?} is shown as {name:?}: see the members")]
    NoSuchMember {
        /// The room.
        room: String,
        /// The name asked for.
        name: String,
    },
    /// Several members of the room are shown under names that look like the one asked for.
    #[error(
        "several members of {room:?} look like {name:?} ({candidates}): give the name exactly as shown"
    )]
    AmbiguousMember {
        /// The room.
        room: String,
        /// The name asked for.
        name: String,
        /// The names they are shown as, comma-separated.
        candidates: String,
    },
    /// A private room's owner action that cannot be done: the room is not private here, this
    /// device is not its owner, or the member to remove is not one (or not only one) device.
    #[error("{0}")]
    Private(String),
}

impl EngineError {
    pub(crate) fn store(
        path: &std::path::Path,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Store {
            path: path.display().to_string(),
            source: source.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_store_failure_keeps_what_the_system_reported_as_its_source() {
        let denied = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let error = EngineError::store(std::path::Path::new("/data"), denied);
        assert_eq!(error.to_string(), "data directory /data: denied");
        let source = error
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(
            source.map(std::io::Error::kind),
            Some(std::io::ErrorKind::PermissionDenied)
        );
    }
}
