//! A member that lies over a direct link, as issue 11's outsider would: a raw WebRTC peer on
//! loopback (not the engine: it speaks the protocol from the doc, and lies where it can)
//! links with Bob's engine through a real relay. Its offer with a fingerprint it did not
//! sign is refused with an event; over the link it then sends Alice's signature on words she
//! did not write. Bob's engine shows that message once, marked forged and as the liar's, not
//! Alice's; keeps it out of history; and still takes the liar's genuinely signed message under
//! the very id the forgery used.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::Arc;

use festival_core::{Authenticity, Delivered, Event};
use festival_proto::{
    ClientFrame, DeviceId, DeviceKey, DisplayName, Hello, Join, MessageId, PROTOCOL_VERSION,
    PeerChat, PeerFrame, PeerSignal, RoomName, ServerFrame, SessionId, SignalSend, Signature,
    decode_server, encode,
};
use festival_tests::{Member, TestRelay, WAIT};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use webrtc::api::APIBuilder;
use webrtc::api::setting_engine::SettingEngine;
use webrtc::data_channel::RTCDataChannel;
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice::network_type::NetworkType;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;

const ROOM: &str = "Camp";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_direct_message_is_marked_and_not_shown_as_its_claimed_sender() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path()).await;
    let url = relay.url();
    let alice = Member::start(&url, dir.path(), "Alice").await;
    let bob = Member::start(&url, dir.path(), "Bob").await;
    alice.engine.join(ROOM).await.unwrap();
    bob.engine.join(ROOM).await.unwrap();
    // Alice says something Bob sees as hers.
    let said = alice.engine.send(ROOM, "meet at the gate").await.unwrap();
    let said_id = said.id;
    tokio::time::timeout(WAIT, said.acked())
        .await
        .unwrap()
        .unwrap();
    let original: Delivered = bob
        .until("Alice's message", |events| {
            events.iter().find_map(|e| match e {
                Event::Message {
                    message,
                    authenticity: Authenticity::Verified,
                    ..
                } if message.id == said_id => Some(message.clone()),
                _ => None,
            })
        })
        .await;
    let alices_sig = original.sig.unwrap();

    // Mallory: the lower device id, so that she offers (as the doc says the lower one does).
    let mut mallory = Liar::join(&url, bob.device()).await;
    let mallory_device = mallory.key.device();

    // 1. An offer whose fingerprint is signed by another key: Bob refuses the link.
    let stranger = DeviceKey::generate();
    let (pc, _) = mallory
        .offer(bob.device(), SessionId(1), Some(&stranger))
        .await;
    let reason = bob
        .until("the unsigned offer refused", |events| {
            events.iter().find_map(|e| match e {
                Event::Peer {
                    device,
                    open: false,
                    reason: Some(reason),
                } if *device == mallory_device && reason.contains("DTLS fingerprint") => {
                    Some(reason.clone())
                }
                _ => None,
            })
        })
        .await;
    assert!(
        reason.contains("not signed by the device's key"),
        "{reason}"
    );
    pc.close().await.unwrap();

    // 2. A properly signed offer: the link opens.
    let (pc, channel) = mallory.offer(bob.device(), SessionId(2), None).await;
    let answer = mallory.answer_from(bob.device(), SessionId(2)).await;
    pc.set_remote_description(RTCSessionDescription::answer(answer).unwrap())
        .await
        .unwrap();
    bob.wait_link_to(mallory_device).await;
    channel.open().await;

    // 3. Alice's signature on words she did not write, under a new id, over the link.
    let room = RoomName::parse(ROOM).unwrap();
    let taken = MessageId::of_device(mallory_device, original.sent_at);
    let forged = PeerChat {
        id: taken,
        room: room.clone(),
        body: "Alice: change of plan, go to the bar".into(),
        sealed: None,
        sent_at: original.sent_at,
        prev: None,
        sig: alices_sig,
    };
    channel.send(&PeerFrame::Chat(forged)).await;
    let shown = bob
        .until("the forged message", |events| {
            events.iter().find_map(|e| match e {
                Event::Message {
                    message,
                    authenticity,
                    ..
                } if message.id == taken => Some((message.clone(), *authenticity)),
                _ => None,
            })
        })
        .await;
    assert_eq!(shown.1, Authenticity::Forged);
    assert_eq!(shown.0.sender, mallory_device, "never shown as Alice's");
    assert_ne!(shown.0.from.as_str(), "Alice");

    // 4. The same id, now honestly signed by Mallory: shown, verified, as hers: a forgery
    // does not take an id away from the one who signs it.
    let mut honest = PeerChat {
        id: taken,
        room,
        body: "hi, Mallory here".into(),
        sealed: None,
        sent_at: original.sent_at + 1,
        prev: None,
        sig: Signature::from_bytes([0; 64]),
    };
    honest.sig = mallory.key.sign_chat(&honest.signed());
    channel.send(&PeerFrame::Chat(honest)).await;
    bob.until("Mallory's own message", |events| {
        events.iter().find_map(|e| match e {
            Event::Message {
                message,
                authenticity: Authenticity::Verified,
                ..
            } if message.id == taken && message.sender == mallory_device => Some(()),
            _ => None,
        })
    })
    .await;

    let forged_shown: Vec<_> = bob
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message {
                message,
                authenticity,
                ..
            } if message.body.contains("go to the bar") => Some(authenticity),
            _ => None,
        })
        .collect();
    assert_eq!(forged_shown, [Authenticity::Forged], "shown once, marked");
    let history = bob.engine.history(ROOM, 50).await.unwrap();
    assert!(
        history.iter().all(|m| !m.body.contains("go to the bar")),
        "the forgery is not in Bob's history: {history:?}"
    );
    let kept = history.iter().find(|m| m.id == taken).unwrap();
    assert_eq!(
        (kept.body.as_str(), kept.sender, kept.authenticity),
        ("hi, Mallory here", mallory_device, Authenticity::Verified)
    );
    pc.close().await.unwrap();
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}

/// A raw client of the relay with a WebRTC stack of its own.
struct Liar {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    key: DeviceKey,
}

impl Liar {
    /// Says hello with a key whose device id is below `below`, and joins the room.
    async fn join(url: &str, below: DeviceId) -> Liar {
        let key = std::iter::repeat_with(DeviceKey::generate)
            .find(|k| k.device() < below)
            .unwrap();
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut liar = Liar { ws, key };
        let ServerFrame::Challenge(challenge) = liar.next().await else {
            panic!("the relay's challenge first");
        };
        let hello = ClientFrame::Hello(Hello {
            v: PROTOCOL_VERSION,
            device: liar.key.device(),
            name: DisplayName::parse("Mallory").unwrap(),
            key: liar.key.public(),
            proof: liar.key.prove(&challenge.nonce),
        });
        liar.send(&hello).await;
        let join = ClientFrame::Join(Join {
            room: RoomName::parse(ROOM).unwrap(),
            since: None,
        });
        liar.send(&join).await;
        liar.until(|f| matches!(f, ServerFrame::Joined(_)).then_some(()))
            .await;
        liar
    }

    async fn send(&mut self, frame: &ClientFrame) {
        self.ws.send(Message::text(encode(frame))).await.unwrap();
    }

    async fn next(&mut self) -> ServerFrame {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time")
                .unwrap()
                .unwrap();
            if let Message::Text(text) = message {
                return decode_server(&text).unwrap();
            }
        }
    }

    async fn until<T>(&mut self, mut want: impl FnMut(ServerFrame) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.next())
                .await
                .expect("the expected frame in time");
            if let Some(found) = want(frame) {
                return found;
            }
        }
    }

    /// Offers `to` a link for `session`, its fingerprint signed by `signer` (her own key when
    /// `None`): the peer connection and its channel.
    async fn offer(
        &mut self,
        to: DeviceId,
        session: SessionId,
        signer: Option<&DeviceKey>,
    ) -> (Arc<RTCPeerConnection>, Channel) {
        let pc = Arc::new(
            loopback_api()
                .new_peer_connection(RTCConfiguration::default())
                .await
                .unwrap(),
        );
        let channel = Channel::new(pc.create_data_channel("festival", None).await.unwrap());
        let offer = pc.create_offer(None).await.unwrap();
        let mut gathered = pc.gathering_complete_promise().await;
        pc.set_local_description(offer).await.unwrap();
        let _ = tokio::time::timeout(WAIT, gathered.recv()).await;
        let sdp = pc.local_description().await.unwrap().sdp;
        // A stranger's signature names the stranger as the sender: it is not Mallory's.
        let sig = match signer {
            Some(other) => other.sign_sdp(to, session, &sdp),
            None => self.key.sign_sdp(to, session, &sdp),
        };
        let payload = serde_json::to_value(PeerSignal::Offer { session, sdp, sig }).unwrap();
        self.send(&ClientFrame::Signal(SignalSend {
            room: RoomName::parse(ROOM).unwrap(),
            to,
            payload,
        }))
        .await;
        (pc, channel)
    }

    /// The SDP of `from`'s answer for `session`, skipping its requests.
    async fn answer_from(&mut self, from: DeviceId, session: SessionId) -> String {
        self.until(|frame| match frame {
            ServerFrame::Signal(signal) if signal.from == from => {
                match serde_json::from_value(signal.payload).ok()? {
                    PeerSignal::Answer {
                        session: s, sdp, ..
                    } if s == session => Some(sdp),
                    _ => None,
                }
            }
            _ => None,
        })
        .await
    }
}

/// A WebRTC stack that gathers loopback candidates only, as the engines in these tests do.
fn loopback_api() -> webrtc::api::API {
    let mut settings = SettingEngine::default();
    settings.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
    settings.set_include_loopback_candidate(true);
    settings.set_network_types(vec![NetworkType::Udp4]);
    settings.set_ip_filter(Box::new(|ip: IpAddr| ip.is_loopback()));
    APIBuilder::new().with_setting_engine(settings).build()
}

/// A data channel and a way to wait until it is open.
struct Channel {
    channel: Arc<RTCDataChannel>,
    opened: tokio::sync::watch::Receiver<bool>,
}

impl Channel {
    fn new(channel: Arc<RTCDataChannel>) -> Self {
        let (open, opened) = tokio::sync::watch::channel(false);
        channel.on_open(Box::new(move || {
            let _ = open.send(true);
            Box::pin(async {})
        }));
        Channel { channel, opened }
    }

    async fn open(&self) {
        let mut opened = self.opened.clone();
        tokio::time::timeout(WAIT, opened.wait_for(|open| *open))
            .await
            .expect("the channel opens in time")
            .unwrap();
    }

    async fn send(&self, frame: &PeerFrame) {
        self.channel.send_text(encode(frame)).await.unwrap();
    }
}
