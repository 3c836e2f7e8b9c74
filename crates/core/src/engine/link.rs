//! The link the driver serves: a WebSocket to the relay, or the long-poll fallback. Both send
//! the same frames and deliver the same frames in batches; the driver does not care which.

use festival_proto::{ClientFrame, ServerFrame};
use futures_util::FutureExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::transport::TransportError;
use crate::transport::poll::PollLink;
use crate::transport::relay::{RelaySink, RelayStream};

/// Most frames taken as one batch.
pub(super) const MAX_BATCH: usize = 512;

/// The sending half.
pub(super) enum Link {
    Ws(RelaySink),
    Poll(PollLink),
}

/// The receiving half.
pub(super) enum Incoming {
    Ws(RelayStream),
    /// Polls run in their own task, so that a poll is never cut off halfway (the relay has
    /// already handed over what it answers with).
    Poll(
        mpsc::Receiver<Result<Vec<ServerFrame>, TransportError>>,
        JoinHandle<()>,
    ),
}

impl Link {
    /// Queues one frame; [`Link::flush`] sends what was queued.
    pub(super) async fn feed(&mut self, frame: &ClientFrame) -> Result<(), TransportError> {
        match self {
            Self::Ws(sink) => sink.feed(frame).await,
            Self::Poll(link) => link.send(frame).await,
        }
    }

    /// Sends what was queued.
    pub(super) async fn flush(&mut self) -> Result<(), TransportError> {
        match self {
            Self::Ws(sink) => sink.flush().await,
            Self::Poll(_) => Ok(()),
        }
    }

    /// Ends the link politely.
    pub(super) async fn close(self) {
        match self {
            Self::Ws(sink) => sink.close().await,
            Self::Poll(link) => link.close().await,
        }
    }
}

impl Incoming {
    /// Starts polling `link` in the background.
    pub(super) fn poll(link: PollLink) -> Self {
        let (tx, rx) = mpsc::channel(4);
        let task = tokio::spawn(async move {
            loop {
                let received = link.receive().await;
                let failed = received.is_err();
                if tx.send(received).await.is_err() || failed {
                    return;
                }
            }
        });
        Self::Poll(rx, task)
    }

    /// The next frames: at least one, and every frame already waiting behind it.
    pub(super) async fn next(&mut self) -> Result<Vec<ServerFrame>, TransportError> {
        match self {
            Self::Ws(stream) => {
                let mut frames = vec![stream.next().await?];
                while frames.len() < MAX_BATCH {
                    match stream.next().now_or_never() {
                        Some(Ok(frame)) => frames.push(frame),
                        Some(Err(reason)) if frames.is_empty() => return Err(reason),
                        Some(Err(_)) | None => break,
                    }
                }
                Ok(frames)
            }
            Self::Poll(rx, _) => loop {
                match rx.recv().await {
                    Some(Ok(frames)) if frames.is_empty() => {}
                    Some(result) => return result,
                    None => {
                        return Err(TransportError::Closed {
                            code: None,
                            reason: "the long-poll session ended".to_owned(),
                        });
                    }
                }
            },
        }
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if let Self::Poll(_, task) = self {
            task.abort();
        }
    }
}
