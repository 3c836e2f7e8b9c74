//! Why a link to the relay could not be opened or ended: one type for both relay routes, so
//! that the driver decides on variants and the user reads the words.

use std::time::Duration;

use festival_proto::CloseCode;

/// The error a transport hands back, keeping what the network layer reported as its source.
type Source = Box<dyn std::error::Error + Send + Sync>;

/// Why a relay link failed or ended. Every one of them means the same to the driver today
/// (reconnect after a backoff); the variants say what happened, for the user and the logs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum TransportError {
    /// The relay could not be reached at all (no route, refused, TLS, DNS).
    #[error("cannot reach the relay at {url}: {source}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What the network layer said.
        #[source]
        source: Source,
    },
    /// Connecting and the hello handshake took longer than allowed.
    #[error("the relay at {url} did not answer within {after:?}")]
    Timeout {
        /// The URL tried.
        url: String,
        /// How long it was given.
        after: Duration,
    },
    /// The relay refused this client (its hello, or a long-poll session), in its words.
    #[error("the relay refused {what}: {reason}")]
    Refused {
        /// What it refused.
        what: &'static str,
        /// Its reason, or the HTTP status.
        reason: String,
    },
    /// The relay sent something the protocol does not allow here.
    #[error("the relay sent {0}")]
    Protocol(String),
    /// Sending or receiving on an open link failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// What the network layer said.
        #[source]
        source: Source,
    },
    /// The relay closed the link, with a close code when it gave one.
    #[error("{}", closed(*.code, .reason))]
    Closed {
        /// The WebSocket (or long-poll) close code.
        code: Option<u16>,
        /// The relay's words.
        reason: String,
    },
    /// The relay sent nothing, not even a pong, for too long.
    #[error("the relay stopped answering")]
    Silent,
    /// The WebSocket is not tried: it failed too often lately.
    #[error("the WebSocket's breaker is open")]
    BreakerOpen,
    /// The relay URL has no long-poll counterpart.
    #[error("no long-poll URL for this relay URL")]
    NoPollUrl,
    /// Neither the WebSocket nor the long-poll could be opened.
    #[error("{socket}; {poll}")]
    NeitherRoute {
        /// Why the WebSocket failed.
        socket: Box<TransportError>,
        /// Why the long-poll failed.
        poll: Box<TransportError>,
    },
    /// The user asked to reconnect.
    #[error("reconnecting, as asked")]
    ReconnectAsked,
}

fn closed(code: Option<u16>, reason: &str) -> String {
    match code {
        None => "the relay closed the connection".to_owned(),
        Some(code) => match CloseCode::from_code(code) {
            Some(CloseCode::GoingAway) => "the relay is restarting".to_owned(),
            Some(CloseCode::SlowConsumer) => {
                "the relay dropped us for reading too slowly".to_owned()
            }
            _ => format!("the relay closed the connection ({code}: {reason})"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_reads_as_what_the_relay_meant() {
        let going_away = TransportError::Closed {
            code: Some(CloseCode::GoingAway.code()),
            reason: String::new(),
        };
        assert_eq!(going_away.to_string(), "the relay is restarting");
        let neither = TransportError::NeitherRoute {
            socket: Box::new(TransportError::BreakerOpen),
            poll: Box::new(TransportError::NoPollUrl),
        };
        assert_eq!(
            neither.to_string(),
            "the WebSocket's breaker is open; no long-poll URL for this relay URL"
        );
    }
}
