//! The writing half of a connection: drains its queue in batches, pings it, and closes it with
//! the reason it was given (when the relay stops, only after the session settled its rooms).

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use festival_proto::CloseCode;
use futures_util::SinkExt;
use futures_util::stream::SplitSink;

use super::keepalive::Keepalive;
use crate::outbound::{Closer, Queue};

/// Frames written before one flush: queued frames go out in few system calls.
const BATCH: usize = 64;

/// Writes queued frames until the connection is closed, then sends the close frame.
pub(super) async fn run(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: Queue,
    closer: Closer,
    keepalive: Arc<Keepalive>,
) {
    let mut last_ping = tokio::time::Instant::now();
    loop {
        let ping_at = keepalive.ping_at(last_ping);
        let written = tokio::select! {
            biased;
            () = closer.closed() => break,
            frame = queue.recv() => match frame {
                Some(frame) => write_batch(&mut sink, &mut queue, frame).await,
                None => break,
            },
            // The client may have been heard, or asked for another keepalive, meanwhile.
            () = tokio::time::sleep_until(ping_at) => {
                let now = tokio::time::Instant::now();
                if keepalive.ping_at(last_ping) > now {
                    continue;
                }
                last_ping = now;
                sink.send(Message::Ping(Default::default())).await
            }
        };
        if written.is_err() {
            closer.close(CloseCode::Normal);
            return;
        }
    }
    let code = closer.reason().unwrap_or(CloseCode::Normal);
    if code != CloseCode::SlowConsumer {
        // Acks and messages already queued still reach a client that is told to go away.
        while let Some(frame) = queue.try_recv() {
            if sink.feed(Message::Text(frame)).await.is_err() {
                return;
            }
        }
    }
    let close = Message::Close(Some(CloseFrame {
        code: code.code(),
        reason: Utf8Bytes::from_static(code.reason()),
    }));
    let _ = sink.send(close).await;
    let _ = sink.close().await;
}

async fn write_batch(
    sink: &mut SplitSink<WebSocket, Message>,
    queue: &mut Queue,
    first: Utf8Bytes,
) -> Result<(), axum::Error> {
    sink.feed(Message::Text(first)).await?;
    for _ in 1..BATCH {
        match queue.try_recv() {
            Some(frame) => sink.feed(Message::Text(frame)).await?,
            None => break,
        }
    }
    sink.flush().await
}
