//! The way into one connection: its queue of frames, bounded in frames and in bytes, and the
//! switch that closes it.
//!
//! Rooms push frames without waiting. A connection whose queue is full cannot keep up; it is
//! closed as a slow consumer rather than allowed to grow the relay's memory, and it catches up
//! from history when it reconnects. Frames vary from 50 bytes to 64 KiB (a signal) and more (a
//! page of history), so a bound in frames alone let one reader that stopped hold 100 MiB.

use std::sync::atomic::{AtomicUsize, Ordering};
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
    queued: Arc<AtomicUsize>,
    max_bytes: usize,
}

/// The receiving end of a connection's queue, for its writer (or its long-poll session).
#[derive(Debug)]
pub(crate) struct Queue {
    frames: mpsc::Receiver<Utf8Bytes>,
    queued: Arc<AtomicUsize>,
}

impl Queue {
    fn taken(&self, frame: &Utf8Bytes) {
        self.queued.fetch_sub(frame.len(), Ordering::AcqRel);
    }

    /// The next frame; None once every sender is gone.
    pub(crate) async fn recv(&mut self) -> Option<Utf8Bytes> {
        let frame = self.frames.recv().await?;
        self.taken(&frame);
        Some(frame)
    }

    /// The next frame if one is waiting.
    pub(crate) fn try_recv(&mut self) -> Option<Utf8Bytes> {
        let frame = self.frames.try_recv().ok()?;
        self.taken(&frame);
        Some(frame)
    }

    /// Whether no frame is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
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
    /// A queue of at most `frames` frames and `bytes` bytes, the receiving end for the
    /// connection's writer, and the closer the writer watches.
    pub(crate) fn new(frames: usize, bytes: usize) -> (Self, Queue, Closer) {
        let (tx, rx) = mpsc::channel(frames.max(1));
        let closer = Closer::default();
        let queued = Arc::new(AtomicUsize::new(0));
        (
            Self {
                frames: tx,
                closer: closer.clone(),
                queued: Arc::clone(&queued),
                max_bytes: bytes,
            },
            Queue { frames: rx, queued },
            closer,
        )
    }

    /// Queues an encoded frame. False if the connection is gone or was just closed because
    /// its queue is full.
    pub(crate) fn push(&self, frame: Utf8Bytes) -> bool {
        let len = frame.len();
        let before = self.queued.fetch_add(len, Ordering::AcqRel);
        if before + len > self.max_bytes {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            self.closer.close(CloseCode::SlowConsumer);
            return false;
        }
        match self.frames.try_send(frame) {
            Ok(()) => true,
            Err(e) => {
                self.queued.fetch_sub(len, Ordering::AcqRel);
                if let mpsc::error::TrySendError::Full(_) = e {
                    self.closer.close(CloseCode::SlowConsumer);
                }
                false
            }
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
