//! A TCP line between a client and the relay that a scenario can degrade: hold the relay's
//! bytes back (the link stays open but silent, as on an overloaded cell) or refuse WebSocket
//! upgrades (as a proxy that only lets plain HTTP through does).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A proxy in front of the relay.
pub struct Line {
    addr: SocketAddr,
    held: watch::Sender<bool>,
    upgrades_refused: Arc<AtomicBool>,
}

impl Line {
    /// A line to the relay at `relay`, passing everything through until told otherwise.
    pub async fn start(relay: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (held, gate) = watch::channel(false);
        let upgrades_refused = Arc::new(AtomicBool::new(false));
        let refuse = Arc::clone(&upgrades_refused);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(carry(client, relay, gate.clone(), Arc::clone(&refuse)));
            }
        });
        Self {
            addr,
            held,
            upgrades_refused,
        }
    }

    /// The WebSocket URL of the relay through this line.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Holds back (or lets go) every byte from the relay to its clients on this line.
    pub fn hold(&self, held: bool) {
        self.held.send_replace(held);
    }

    /// Answers new WebSocket upgrade requests with 403 (or passes them again); plain HTTP,
    /// such as the long-poll route, still goes through.
    pub fn refuse_upgrades(&self, refused: bool) {
        self.upgrades_refused.store(refused, Ordering::SeqCst);
    }
}

async fn carry(
    mut client: TcpStream,
    relay: SocketAddr,
    mut gate: watch::Receiver<bool>,
    refuse: Arc<AtomicBool>,
) {
    let mut head = vec![0u8; 16 * 1024];
    let Ok(n) = client.read(&mut head).await else {
        return;
    };
    let text = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
    if refuse.load(Ordering::SeqCst) && text.contains("upgrade: websocket") {
        let _ = client
            .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    }
    let Ok(upstream) = TcpStream::connect(relay).await else {
        return;
    };
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut relay_rx, mut relay_tx) = upstream.into_split();
    if relay_tx.write_all(&head[..n]).await.is_err() {
        return;
    }
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_rx, &mut relay_tx).await;
    });
    let mut buf = vec![0; 16 * 1024];
    loop {
        let Ok(n @ 1..) = relay_rx.read(&mut buf).await else {
            return;
        };
        if gate.wait_for(|held| !held).await.is_err() {
            return;
        }
        if client_tx.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
