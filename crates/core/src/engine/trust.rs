//! Names bound to keys, as the engine's handle offers them: a member's fingerprint and safety
//! number (`/whois`), marking one verified after comparing in person (`/verify`), and the keys
//! remembered per name (for the verified mark beside names). The decisions are
//! [`crate::trust`]'s; the engine's task holds them.

use festival_proto::RoomName;
use tokio::sync::oneshot;

use super::{Command, Engine};
use crate::EngineError;
use crate::trust::{KnownKey, Whois};

/// A question or change about who is who, for the engine's task.
#[derive(Debug)]
pub(crate) enum TrustCommand {
    /// What to show about the member of the room shown under the name.
    Whois(
        RoomName,
        String,
        oneshot::Sender<Result<Whois, EngineError>>,
    ),
    /// Marks that member's key verified for their name.
    Verify(
        RoomName,
        String,
        oneshot::Sender<Result<Whois, EngineError>>,
    ),
    /// Every remembered key.
    Known(oneshot::Sender<Vec<KnownKey>>),
}

impl Engine {
    /// The member of `room` shown as `name` (exactly as shown, or any look-alike of it when
    /// only one member matches): their key's fingerprint, the safety number to compare with
    /// them in person (and its QR code), and where their key stands with this device.
    pub async fn whois(&self, room: &str, name: &str) -> Result<Whois, EngineError> {
        let (reply, answer) = oneshot::channel();
        let command = TrustCommand::Whois(RoomName::parse(room)?, name.to_owned(), reply);
        self.command(Command::Trust(command)).await?;
        answer.await.map_err(|_| EngineError::Stopped)?
    }

    /// Marks the key of the member of `room` shown as `name` verified, once the user compared
    /// the safety number with them in person: their messages carry the verified mark from
    /// now on, as long as that key is the one they use. Kept in the store.
    pub async fn verify(&self, room: &str, name: &str) -> Result<Whois, EngineError> {
        let (reply, answer) = oneshot::channel();
        let command = TrustCommand::Verify(RoomName::parse(room)?, name.to_owned(), reply);
        self.command(Command::Trust(command)).await?;
        answer.await.map_err(|_| EngineError::Stopped)?
    }

    /// Every key remembered per name, verified or not: a message or member whose key is a
    /// verified one here is shown with the verified mark.
    pub async fn known_keys(&self) -> Result<Vec<KnownKey>, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Trust(TrustCommand::Known(reply)))
            .await?;
        answer.await.map_err(|_| EngineError::Stopped)
    }
}
