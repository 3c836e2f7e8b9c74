//! The long-poll route: the relay's `/poll` endpoints over plain HTTP, for networks where no
//! WebSocket can be opened. Same frames as the socket; one request per frame sent, one long
//! `GET` per batch received.

use std::sync::Arc;
use std::time::Duration;

use festival_proto::{ClientFrame, CloseCode, ServerFrame, decode_server, encode};
use serde::Deserialize;

use super::TransportError;
use crate::Route;
use crate::stats::Meter;
use crate::store::Identity;

/// How long one poll waits at the relay for frames.
const POLL_WAIT: Duration = Duration::from_secs(20);
/// A request that takes longer than this counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    session: Option<String>,
    frames: Vec<serde_json::Value>,
    closed: Option<u16>,
}

/// An open long-poll session; clones share it. Every frame each way is counted on its
/// meter, as the WebSocket's are.
#[derive(Clone)]
pub(crate) struct PollLink {
    client: reqwest::Client,
    session_url: String,
    meter: Arc<Meter>,
}

/// `ws://host:port/ws` → `http://host:port/poll` (and `wss` → `https`).
pub(crate) fn poll_url(ws_url: &str) -> Option<String> {
    http_url(ws_url, "poll")
}

/// The relay's HTTP route `path` beside its WebSocket: `ws://host:port/ws` →
/// `http://host:port/{path}` (and `wss` → `https`).
pub(crate) fn http_url(ws_url: &str, path: &str) -> Option<String> {
    let (scheme, rest) = ws_url.split_once("://")?;
    let scheme = match scheme {
        "ws" => "http",
        "wss" => "https",
        _ => return None,
    };
    let host = rest.split('/').next()?;
    Some(format!("{scheme}://{host}/{path}"))
}

impl PollLink {
    /// Opens a session at `url` (the relay's `/poll`), proves `identity` in hello with the
    /// challenge that came with it, and returns the frames up to the welcome.
    pub(crate) async fn open(
        url: &str,
        identity: &Identity,
        meter: &Arc<Meter>,
    ) -> Result<(PollLink, Vec<ServerFrame>), TransportError> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| TransportError::Io {
                context: "long-poll client",
                source: e.into(),
            })?;
        let answer = client
            .post(url)
            .send()
            .await
            .map_err(|e| TransportError::Unreachable {
                url: url.to_owned(),
                source: e.into(),
            })?;
        let status = answer.status();
        let answer: Answer = parse(answer).await?;
        let frames = decode(&answer, meter)?;
        let (Some(session), Some(ServerFrame::Challenge(challenge))) =
            (answer.session, frames.into_iter().next())
        else {
            return Err(TransportError::Refused {
                what: "the long-poll session",
                reason: format!("{status} with no challenge"),
            });
        };
        let link = PollLink {
            client,
            session_url: format!("{url}/{session}"),
            meter: Arc::clone(meter),
        };
        link.send(&super::relay::hello(identity, &challenge))
            .await?;
        // The answer comes on the next poll; a relay that sends nothing for two polls in a
        // row is not answering.
        let mut frames = Vec::new();
        for _ in 0..2 {
            frames.extend(link.receive().await?);
            if !frames.is_empty() {
                break;
            }
        }
        Ok((link, frames))
    }

    /// Sends one frame.
    pub(crate) async fn send(&self, frame: &ClientFrame) -> Result<(), TransportError> {
        let text = encode(frame);
        self.meter.sent(Route::Poll, text.len());
        let answer = self
            .client
            .post(&self.session_url)
            .body(text)
            .send()
            .await
            .map_err(|e| TransportError::Io {
                context: "long-poll send",
                source: e.into(),
            })?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(TransportError::Refused {
                what: "a long-poll send",
                reason: answer.status().to_string(),
            })
        }
    }

    /// Waits (up to the poll time) for frames from the relay.
    pub(crate) async fn receive(&self) -> Result<Vec<ServerFrame>, TransportError> {
        let url = format!("{}?wait_ms={}", self.session_url, POLL_WAIT.as_millis());
        let answer = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| TransportError::Io {
                context: "long-poll",
                source: e.into(),
            })?;
        if !answer.status().is_success() {
            return Err(TransportError::Closed {
                code: None,
                reason: format!("the long-poll session ended ({})", answer.status()),
            });
        }
        let answer: Answer = parse(answer).await?;
        let frames = decode(&answer, &self.meter)?;
        match answer.closed.and_then(CloseCode::from_code) {
            Some(code) if frames.is_empty() => Err(TransportError::Closed {
                code: Some(code.code()),
                reason: code.reason().to_owned(),
            }),
            _ => Ok(frames),
        }
    }

    /// Ends the session politely.
    pub(crate) async fn close(self) {
        let _ = self.client.delete(&self.session_url).send().await;
    }
}

async fn parse(answer: reqwest::Response) -> Result<Answer, TransportError> {
    let text = answer.text().await.map_err(|e| TransportError::Io {
        context: "long-poll answer",
        source: e.into(),
    })?;
    serde_json::from_str(&text)
        .map_err(|e| TransportError::Protocol(format!("an invalid long-poll answer: {e}")))
}

/// The answer's frames, each counted on `meter` (its bytes as JSON text, as the WebSocket
/// would carry it).
fn decode(answer: &Answer, meter: &Meter) -> Result<Vec<ServerFrame>, TransportError> {
    answer
        .frames
        .iter()
        .map(|frame| {
            let text = frame.to_string();
            meter.received(Route::Poll, text.len());
            text
        })
        .filter_map(|text| match decode_server(&text) {
            Ok(frame) => Some(Ok(frame)),
            Err(e) if e.code == festival_proto::ErrorCode::UnknownType => None,
            Err(e) => Some(Err(TransportError::Protocol(format!(
                "an invalid frame: {e}"
            )))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poll_url_sits_beside_the_websocket() {
        assert_eq!(
            poll_url("ws://10.0.0.1:7878/ws").as_deref(),
            Some("http://10.0.0.1:7878/poll")
        );
        assert_eq!(
            poll_url("wss://relay.example/ws").as_deref(),
            Some("https://relay.example/poll")
        );
        assert_eq!(poll_url("http://x/ws"), None);
    }
}
