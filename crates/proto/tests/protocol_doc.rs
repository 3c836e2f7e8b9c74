//! `docs/protocol.md` is the contract other clients implement: every example in it must decode
//! with this crate, and every frame type and error code must be documented there.

use std::collections::BTreeSet;

use festival_proto::{
    ClientFrame, DeviceId, ErrorCode, Invite, Limits, Opened, PeerFrame, PeerSignal, SealedFor,
    ServerFrame, decode_client, decode_peer, decode_server,
};

const DOC: &str = include_str!("../../../docs/protocol.md");

/// The JSON examples of one section of the document (from its heading to the next `## `).
fn examples(section: &str) -> Vec<&'static str> {
    blocks(section, "json")
}

/// The code blocks in `language` of one section of the document.
fn blocks(section: &str, language: &str) -> Vec<&'static str> {
    let start = DOC.find(section).expect("section exists");
    let rest = &DOC[start + section.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    rest[..end]
        .split(&format!("```{language}\n"))
        .skip(1)
        .map(|block| block.split("\n```").next().expect("closed block").trim())
        .collect()
}

fn kind(frame: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(frame).expect("example is JSON");
    value["type"]
        .as_str()
        .expect("example has a type")
        .to_owned()
}

#[test]
fn protocol_doc_examples_decode() {
    let client = examples("## Client → relay");
    let server = examples("## Relay → client");
    for frame in &client {
        decode_client(frame, &Limits::default()).unwrap_or_else(|e| panic!("{frame}: {e}"));
    }
    for frame in &server {
        let decoded = decode_server(frame).unwrap_or_else(|e| panic!("{frame}: {e}"));
        // Clients accept unknown codes, so decoding alone would not catch a misspelt one.
        if let ServerFrame::Error(error) = decoded {
            assert_ne!(error.code, ErrorCode::Unknown, "{frame}");
        }
    }

    let client_kinds: BTreeSet<_> = client.iter().map(|f| kind(f)).collect();
    let server_kinds: BTreeSet<_> = server.iter().map(|f| kind(f)).collect();
    let all_client = ["hello", "join", "leave", "chat", "signal", "ping", "report"];
    let all_server = [
        "welcome",
        "joined",
        "left",
        "presence",
        "chat",
        "sequenced",
        "ack",
        "signal",
        "error",
        "pong",
        "announcement",
        "challenge",
    ];
    assert_eq!(
        client_kinds,
        all_client.into_iter().map(String::from).collect()
    );
    assert_eq!(
        server_kinds,
        all_server.into_iter().map(String::from).collect()
    );
}

#[test]
fn protocol_doc_peer_examples_decode() {
    let lines: Vec<&str> = examples("## Peer to peer")
        .into_iter()
        .flat_map(str::lines)
        .collect();
    let signals: Vec<PeerSignal> = lines
        .iter()
        .filter(|l| l.contains("\"kind\""))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(signals.len(), 4, "request, offer, answer, decline");
    let frames: Vec<PeerFrame> = lines
        .iter()
        .filter(|l| l.contains("\"type\""))
        .map(|l| decode_peer(l, &Limits::default()).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(frames.len(), 4, "chat, want, ping, pong");
}

#[test]
fn protocol_doc_invite_examples_parse() {
    let links: Vec<&str> = blocks("## Invite links", "text")
        .into_iter()
        .flat_map(str::lines)
        .collect();
    assert_eq!(links.len(), 2);
    for link in links {
        let invite = Invite::parse(link).unwrap_or_else(|e| panic!("{link}: {e}"));
        assert_eq!(Invite::parse(&invite.to_link()), Ok(invite));
    }
}

/// The private-room examples are real: the invite's key opens the sealed chat, which its
/// sender signed (in the form the relay stores too), and the invite's owner is that sender.
#[test]
fn protocol_doc_private_room_examples_hold() {
    let section = "## Private rooms";
    let links = blocks(section, "text");
    assert_eq!(links.len(), 1);
    let invite = Invite::parse(links[0]).unwrap();
    assert_eq!(Invite::parse(&invite.to_link()), Ok(invite.clone()));
    let private = invite.private.expect("a private room's invite");
    let frames = examples(section);
    assert_eq!(frames.len(), 2);
    let Ok(ClientFrame::Chat(sent)) = decode_client(frames[0], &Limits::default()) else {
        panic!("a chat: {}", frames[0]);
    };
    let Ok(ServerFrame::Chat(stored)) = decode_server(frames[1]) else {
        panic!("a chat: {}", frames[1]);
    };
    let key = stored.key.expect("signed");
    assert!(key.is_of(stored.sender));
    assert_eq!(key, private.owner);
    assert!(stored.id.belongs_to(stored.sender), "an id of the sender's");
    assert!(key.verify_chat(&sent.signed(), &sent.sig));
    assert!(key.verify_chat(&stored.signed(), &stored.sig.unwrap()));
    assert_eq!(stored.sealed, sent.sealed);
    let sealed = stored.sealed.as_ref().unwrap();
    let to = SealedFor {
        room: &stored.room,
        id: stored.id,
        sender: stored.sender,
    };
    assert_eq!(sealed.epoch, private.epoch);
    assert_eq!(
        private.key.open(sealed, &to),
        Ok(Opened::Text("Backstage gate code is 4711".into()))
    );
}

#[test]
fn protocol_doc_lists_every_error_code() {
    for code in ErrorCode::ALL {
        assert!(
            DOC.contains(&format!("| `{}` |", code.as_str())),
            "docs/protocol.md does not document {code}"
        );
    }
}

/// The examples are real: the hello proves its key against the challenge, the chats are
/// signed by it wherever they appear, the offer and answer sign their fingerprints, and the
/// hex dump is exactly what the first chat's signature covers.
#[test]
fn protocol_doc_signatures_hold() {
    let server: Vec<ServerFrame> = examples("## Relay → client")
        .into_iter()
        .map(|f| decode_server(f).unwrap())
        .collect();
    let client: Vec<ClientFrame> = examples("## Client → relay")
        .into_iter()
        .map(|f| decode_client(f, &Limits::default()).unwrap())
        .collect();
    let nonce = server
        .iter()
        .find_map(|f| match f {
            ServerFrame::Challenge(c) => Some(c.nonce),
            _ => None,
        })
        .expect("a challenge example");
    let hello = client
        .iter()
        .find_map(|f| match f {
            ClientFrame::Hello(h) => Some(h.clone()),
            _ => None,
        })
        .expect("a hello example");
    assert_eq!(DeviceId::of_key(&hello.key), hello.device);
    assert!(hello.key.verify_hello(hello.device, &nonce, &hello.proof));

    let chats: Vec<_> = client
        .iter()
        .filter_map(|f| match f {
            ClientFrame::Chat(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(chats.len(), 2);
    for chat in &chats {
        assert!(hello.key.verify_chat(&chat.signed(), &chat.sig), "{chat:?}");
        assert!(
            chat.id.belongs_to(hello.device),
            "an id of the sender's: {chat:?}"
        );
    }
    let hex: String = chats[0]
        .signed()
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(blocks("## Signatures", "hex"), [hex.as_str()]);

    let mut stored = 0;
    for frame in &server {
        let messages = match frame {
            ServerFrame::Chat(m) => vec![m.clone()],
            ServerFrame::Joined(j) => j.history.clone(),
            _ => continue,
        };
        for m in messages {
            let key = m.key.expect("signed");
            assert!(key.is_of(m.sender) && key.verify_chat(&m.signed(), &m.sig.unwrap()));
            assert!(m.id.belongs_to(m.sender), "an id of the sender's: {m:?}");
            stored += 1;
        }
    }
    assert_eq!(stored, 2, "the relay's chat and the joined history");

    let members: Vec<_> = server
        .iter()
        .flat_map(|f| match f {
            ServerFrame::Joined(j) => j.members.clone(),
            _ => Vec::new(),
        })
        .collect();
    let key_of = |device: DeviceId| members.iter().find(|m| m.device == device).unwrap().key;
    for member in &members {
        assert!(member.key.is_of(member.device));
    }
    let lines: Vec<&str> = examples("## Peer to peer")
        .into_iter()
        .flat_map(str::lines)
        .collect();
    let signals: Vec<PeerSignal> = lines
        .iter()
        .filter(|l| l.contains("\"kind\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Alice (the hello's device, the lower id) offers to John, who answers.
    let john = members
        .iter()
        .find(|m| m.device != hello.device)
        .unwrap()
        .device;
    assert!(hello.device < john);
    let mut checked = 0;
    for signal in signals {
        let (from, to, session, sdp, sig) = match signal {
            PeerSignal::Offer { session, sdp, sig } => (hello.device, john, session, sdp, sig),
            PeerSignal::Answer { session, sdp, sig } => (john, hello.device, session, sdp, sig),
            _ => continue,
        };
        assert!(key_of(from).verify_sdp(from, to, session, &sdp, &sig));
        checked += 1;
    }
    assert_eq!(checked, 2);
    let peer_chat = lines
        .iter()
        .find_map(|l| match decode_peer(l, &Limits::default()) {
            Ok(PeerFrame::Chat(c)) => Some(c),
            _ => None,
        })
        .unwrap();
    assert!(hello.key.verify_chat(&peer_chat.signed(), &peer_chat.sig));
    assert!(peer_chat.id.belongs_to(hello.device));
}

#[test]
fn the_keepalive_examples_ask_and_grant_an_interval() {
    let [ping, pong] = examples("## Keepalive")[..] else {
        panic!("the Keepalive section shows one ping and one pong");
    };
    let Ok(ClientFrame::Ping(ping)) = decode_client(ping, &Limits::default()) else {
        panic!("{ping} is a ping");
    };
    let Ok(ServerFrame::Pong(pong)) = decode_server(pong) else {
        panic!("{pong} is a pong");
    };
    assert_eq!(ping.keepalive_s, Some(120));
    assert_eq!(pong.keepalive_s, Some(120));
    assert_eq!(ping.nonce, pong.nonce);
}
