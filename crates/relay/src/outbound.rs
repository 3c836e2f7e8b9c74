//! The way into one connection: its bounded queue of frames, and the switch that closes it.
//!
//! Rooms push frames without waiting. A connection whose queue is full cannot keep up; it is
//! closed as a slow consumer rather than allowed to grow the relay's memory, and it catches up
//! from history when it reconnects.

use std::sync::{Arc, OnceLock};

use axum::extract::ws::Utf8Bytes;
use festival_proto::{CloseCode, ErrorCode, ErrorFrame, MessageId, RoomName, ServerFrame, encode};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A cloneable handle to one connection's outgoing side.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    frames: mpsc::Sender<Utf8Bytes>,
    closer: Closer,
}

/// Asks a connection to close with a reason; the first reason given wins.
#[derive(Debug, Clone, Default)]
pub(crate) struct Closer {
    token: CancellationToken,
    reason: Arc<OnceLock<CloseCode>>,
}

impl Closer {
    /// Asks for the close.
    pub(crate) fn close(&self, code: CloseCode) {
        let _ = self.reason.set(code);
        self.token.cancel();
    }

    /// Resolves once a close was asked for.
    pub(crate) async fn closed(&self) {
        self.token.cancelled().await;
    }

    /// Why the close was asked for, if it was.
    pub(crate) fn reason(&self) -> Option<CloseCode> {
        self.reason.get().copied()
    }
}

impl Outbound {
    /// A queue of `capacity` frames, the receiving end for the connection's writer, and the
    /// closer the writer watches.
    pub(crate) fn new(capacity: usize) -> (Self, mpsc::Receiver<Utf8Bytes>, Closer) {
        let (frames, rx) = mpsc::channel(capacity.max(1));
        let closer = Closer::default();
        (
            Self {
                frames,
                closer: closer.clone(),
            },
            rx,
            closer,
        )
    }

    /// Queues an encoded frame. False if the connection is gone or was just closed because
    /// its queue is full.
    pub(crate) fn push(&self, frame: Utf8Bytes) -> bool {
        match self.frames.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.closer.close(CloseCode::SlowConsumer);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Encodes and queues one frame.
    pub(crate) fn send(&self, frame: &ServerFrame) -> bool {
        self.push(Utf8Bytes::from(encode(frame)))
    }

    /// Queues an error frame.
    pub(crate) fn error(
        &self,
        code: ErrorCode,
        message: impl Into<String>,
        id: Option<MessageId>,
        room: Option<RoomName>,
    ) -> bool {
        self.send(&ServerFrame::Error(ErrorFrame {
            code,
            message: message.into(),
            id,
            room,
        }))
    }
}
