//! One load client's side of each protocol: open a WebSocket from a chosen source address,
//! say hello and join a room, write a chat, and recognise a delivered chat cheaply (the load
//! tool shares the relay's two cores, so it must not spend them parsing JSON).

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, bail};
use festival_proto::{
    ChatSend, ClientFrame, DeviceKey, DisplayName, Hello, Join, MessageId, PROTOCOL_VERSION,
    RoomName, ServerFrame, decode_server, encode,
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

/// A load client's socket.
pub(crate) type Socket = WebSocketStream<TcpStream>;

/// The server under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Target {
    /// `festival-relay`.
    Festival,
    /// The Socket.IO baseline in `bench/socketio`.
    #[value(name = "socketio")]
    SocketIo,
}

impl Target {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Target::Festival => "festival-relay",
            Target::SocketIo => "socket.io",
        }
    }
}

/// What a frame from the server is, as far as the load tool cares.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming<'a> {
    /// A chat fanned out to this client: its body.
    Chat(&'a str),
    /// An Engine.IO ping, to be answered with a pong.
    Ping,
    /// Anything else (acks, presence).
    Other,
}

/// Opens a WebSocket to `server` from `source` (any free port there).
pub(crate) async fn connect(
    target: Target,
    server: SocketAddr,
    source: IpAddr,
) -> anyhow::Result<Socket> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    let url = match target {
        Target::Festival => format!("ws://{server}/ws"),
        Target::SocketIo => format!("ws://{server}/socket.io/?EIO=4&transport=websocket"),
    };
    // Small buffers: tens of thousands of idle clients live in this one process.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, _) = client_async_with_config(url, stream, Some(config)).await?;
    Ok(ws)
}

/// Says hello (or the Socket.IO handshake) and joins `room`; returns once the join is
/// confirmed, with the key this client proved and signs its chats with (festival-relay; the
/// baseline signs nothing).
pub(crate) async fn join(
    target: Target,
    ws: &mut Socket,
    room: &str,
    index: usize,
) -> anyhow::Result<DeviceKey> {
    let key = DeviceKey::generate();
    match target {
        Target::Festival => join_as(ws, room, index, &key).await?,
        Target::SocketIo => {
            until(ws, |t| t.starts_with('0')).await?;
            ws.send(Message::text("40")).await?;
            until(ws, |t| t.starts_with("40")).await?;
            ws.send(Message::text(format!(r#"420["join","{room}"]"#)))
                .await?;
            until(ws, |t| t.starts_with("430")).await?;
        }
    }
    Ok(key)
}

/// Proves `key` to a festival relay (its challenge, then a signed hello) and joins `room`.
pub(crate) async fn join_as(
    ws: &mut Socket,
    room: &str,
    index: usize,
    key: &DeviceKey,
) -> anyhow::Result<()> {
    let challenge = loop {
        match ws.next().await.context("the relay's challenge")?? {
            Message::Text(text) => match decode_server(&text) {
                Ok(ServerFrame::Challenge(challenge)) => break challenge,
                other => bail!("expected the relay's challenge, got {other:?}"),
            },
            _ => continue,
        }
    };
    let hello = ClientFrame::Hello(Hello {
        v: PROTOCOL_VERSION,
        device: key.device(),
        name: DisplayName::parse(&format!("load {index}"))?,
        key: key.public(),
        proof: key.prove(&challenge.nonce),
    });
    ws.send(Message::text(encode(&hello))).await?;
    until(ws, |t| t.starts_with(r#"{"type":"welcome""#)).await?;
    let join = ClientFrame::Join(Join {
        room: RoomName::parse(room)?,
        since: None,
    });
    ws.send(Message::text(encode(&join))).await?;
    until(ws, |t| t.starts_with(r#"{"type":"joined""#)).await
}

async fn until(ws: &mut Socket, wanted: impl Fn(&str) -> bool) -> anyhow::Result<()> {
    while let Some(message) = ws.next().await {
        if let Message::Text(text) = message.context("handshake")? {
            if wanted(&text) {
                return Ok(());
            }
            if text.as_str() == "2" {
                ws.send(Message::text("3")).await?;
            }
        }
    }
    bail!("the server closed the connection during the handshake")
}

/// A chat frame for `room` carrying `body`, signed by `key` for festival-relay.
pub(crate) fn chat(target: Target, key: &DeviceKey, room: &RoomName, body: String) -> Message {
    match target {
        Target::Festival => {
            let mut chat = ChatSend {
                id: MessageId::of_device(key.device(), 0),
                room: room.clone(),
                body,
                sealed: None,
                sent_at: 0,
                prev: None,
                sig: festival_proto::Signature::from_bytes([0; 64]),
                direct: Vec::new(),
            };
            chat.sig = key.sign_chat(&chat.signed());
            Message::text(encode(&ClientFrame::Chat(chat)))
        }
        Target::SocketIo => Message::text(format!(
            r#"42["chat",{{"room":"{}","body":"{body}","sent_at":0}}]"#,
            room.as_str()
        )),
    }
}

/// Recognises a delivered chat and finds its body without parsing the whole frame. Bodies
/// written by the load tool hold no quotes or escapes, so the body ends at the next quote.
pub(crate) fn classify(target: Target, text: &str) -> Incoming<'_> {
    let is_chat = match target {
        Target::Festival => text.starts_with(r#"{"type":"chat""#),
        Target::SocketIo => text.starts_with(r#"42["chat""#),
    };
    if !is_chat {
        // Engine.IO pings in a text frame; festival-relay pings at the WebSocket level.
        return match (target, text) {
            (Target::SocketIo, "2") => Incoming::Ping,
            _ => Incoming::Other,
        };
    }
    const KEY: &str = r#""body":""#;
    let Some(start) = text.find(KEY).map(|at| at + KEY.len()) else {
        return Incoming::Other;
    };
    match text[start..].find('"') {
        Some(len) => Incoming::Chat(&text[start..start + len]),
        None => Incoming::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_chats_are_recognised_in_both_protocols() {
        let room = RoomName::parse("r").unwrap();
        for target in [Target::Festival, Target::SocketIo] {
            let key = DeviceKey::generate();
            let Message::Text(sent) = chat(target, &key, &room, "s1 42 x".into()) else {
                panic!("a text frame");
            };
            // What each server fans out starts like this, with the body passed through.
            let delivered = match target {
                Target::Festival => {
                    sent.replacen(r#"{"type":"chat""#, r#"{"type":"chat","seq":1"#, 1)
                }
                Target::SocketIo => sent.to_string(),
            };
            assert_eq!(classify(target, &delivered), Incoming::Chat("s1 42 x"));
        }
        assert_eq!(classify(Target::SocketIo, "2"), Incoming::Ping);
        assert_eq!(
            classify(Target::Festival, r#"{"type":"ack"}"#),
            Incoming::Other
        );
    }
}
