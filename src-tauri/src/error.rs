//! Errors as the UI shows them: a sentence a person understands.

use festival_core::EngineError;
use serde::Serialize;

/// Why a command failed. Serialised as its sentence, which the UI shows as it is.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No engine runs yet: the person has not chosen a name.
    #[error("Choose a name first.")]
    NotStarted,
    /// The engine refused or failed.
    #[error("{}", engine_sentence(.0))]
    Engine(#[from] EngineError),
    /// The input was not usable.
    #[error("{0}")]
    Invalid(String),
}

impl Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

/// The engine's errors, reworded for someone holding a phone rather than reading logs.
fn engine_sentence(error: &EngineError) -> String {
    match error {
        EngineError::NoName => "Choose a name first.".to_owned(),
        EngineError::BadUrl(url) => {
            format!("\"{url}\" is not a relay address: it starts with ws:// or wss://.")
        }
        EngineError::NotJoined(room) => format!("Join {room} before sending to it."),
        EngineError::Stopped => "The chat engine stopped; restart the app.".to_owned(),
        EngineError::Invalid(e) => {
            let mut sentence = e.message.clone();
            if let Some(first) = sentence.get(..1) {
                sentence.replace_range(..1, &first.to_uppercase());
            }
            if !sentence.ends_with('.') {
                sentence.push('.');
            }
            sentence
        }
        other => format!("Something went wrong: {other}."),
    }
}
