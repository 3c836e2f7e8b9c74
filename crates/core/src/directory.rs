//! The relay's room directory, read without joining anything: the public rooms with their
//! member counts, and a new room code for someone starting a room (`GET` and `POST /rooms`,
//! see `festival_proto::PublicRooms`). Plain HTTP requests beside the engine's link: a
//! person browsing rooms needs no connection of their own yet.

use std::time::Duration;

use festival_proto::{ErrorFrame, HistoryPage, NewRoom, PublicRoom, PublicRooms, RoomName, Seq};
use serde::de::DeserializeOwned;

use crate::EngineError;
use crate::transport::poll::http_url;

/// How long one directory request may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer read: a list of public rooms is a few kilobytes.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// The room directory of one relay.
#[derive(Debug, Clone)]
pub struct Directory {
    client: reqwest::Client,
    url: String,
}

impl Directory {
    /// The directory of the relay whose WebSocket is `relay_url` (`ws://` or `wss://`).
    pub fn new(relay_url: &str) -> Result<Self, EngineError> {
        let relay_url = relay_url.trim();
        let url =
            http_url(relay_url, "rooms").ok_or_else(|| EngineError::BadUrl(relay_url.into()))?;
        // wss:// relays answer over https://: the same process-wide provider as the link.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| EngineError::Unreachable(e.to_string()))?;
        Ok(Self { client, url })
    }

    /// The relay's public rooms, in its operator's order, with how many are in each now.
    pub async fn public_rooms(&self) -> Result<Vec<PublicRoom>, EngineError> {
        let answer: PublicRooms = read(self.client.get(&self.url)).await?;
        Ok(answer.rooms)
    }

    /// A new room, named by a code nobody uses on this relay (`sunny-tent-42`). Joining it
    /// creates it.
    pub async fn create_room(&self) -> Result<RoomName, EngineError> {
        let answer: NewRoom = read(self.client.post(&self.url)).await?;
        // The relay is not trusted to name a room validly.
        Ok(RoomName::parse(answer.room.as_str())?)
    }
}

impl Directory {
    /// The relay's page of `room`'s history below message number `before` (its newest
    /// messages there, oldest first), and whether older ones remain.
    pub async fn older(&self, room: &RoomName, before: Seq) -> Result<HistoryPage, EngineError> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/history", self.url),
            [("room", room.as_str()), ("before", &before.to_string())],
        )
        .map_err(|e| EngineError::Unreachable(e.to_string()))?;
        let page: HistoryPage = read(self.client.get(url)).await?;
        // The relay is not trusted to answer what was asked.
        if page.messages.len() > HistoryPage::MAX_MESSAGES
            || page
                .messages
                .iter()
                .any(|m| &m.room != room || m.seq >= before)
        {
            return Err(EngineError::Unreachable(
                "the relay's history page is not the one asked for".into(),
            ));
        }
        Ok(page)
    }
}

/// Sends `request` and reads its JSON answer (at most [`MAX_ANSWER_BYTES`]); an `error`
/// frame from the relay becomes [`EngineError::Refused`].
async fn read<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T, EngineError> {
    let unreachable = |e: reqwest::Error| EngineError::Unreachable(e.to_string());
    let mut response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(EngineError::Unreachable(format!(
                "the relay's answer is longer than {MAX_ANSWER_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        return Err(match serde_json::from_slice::<ErrorFrame>(&body) {
            Ok(error) => EngineError::Refused {
                code: error.code,
                message: error.message,
            },
            Err(_) => EngineError::Unreachable(format!("the relay answered {status}")),
        });
    }
    serde_json::from_slice(&body)
        .map_err(|e| EngineError::Unreachable(format!("the relay's answer: {e}")))
}
