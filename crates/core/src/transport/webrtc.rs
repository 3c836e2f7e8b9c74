//! The P2P route's I/O: WebRTC peer connections with one reliable, ordered data channel each
//! (webrtc-rs). What to connect and when is decided by [`crate::router::links`]; this module
//! only carries out its actions and reports back what the network did, as [`PeerEvent`]s on a
//! bounded channel, tagged with the attempt's session so that late news of an abandoned
//! attempt is recognised.
//!
//! Offers and answers carry every ICE candidate (gathering completes before they are sent):
//! two signaling frames per link instead of one per candidate, which matters on a relay that
//! rate-limits each connection.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use festival_proto::{DeviceId, DeviceKey, IceServer, PeerSignal, SessionId};
use tokio::sync::mpsc;
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::{API, APIBuilder};
use webrtc::data_channel::RTCDataChannel;
use webrtc::data_channel::data_channel_message::DataChannelMessage;
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice::network_type::NetworkType;
use webrtc::ice_transport::ice_connection_state::RTCIceConnectionState;
use webrtc::ice_transport::ice_server::RTCIceServer;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;

/// The data channel's label: both sides open exactly this one.
const CHANNEL: &str = "festival";
/// How long ICE gathering may take before the description is sent with what was found.
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest text sent on a data channel: webrtc-rs closes the channel on a message of 65,536
/// bytes or more.
pub(crate) const MAX_MESSAGE: usize = 65_535;

/// What happened on the P2P network.
#[derive(Debug)]
pub(crate) enum PeerEvent {
    /// A description is ready: send this signal to the peer through the relay.
    Signal { peer: DeviceId, signal: PeerSignal },
    /// The ICE connection state changed (for diagnostics).
    Ice {
        peer: DeviceId,
        session: SessionId,
        state: String,
    },
    /// The data channel opened.
    Open { peer: DeviceId, session: SessionId },
    /// The attempt or the link failed or closed.
    Closed {
        peer: DeviceId,
        session: SessionId,
        reason: String,
    },
    /// A text message arrived on the data channel.
    Text {
        peer: DeviceId,
        session: SessionId,
        text: String,
    },
}

struct Conn {
    session: SessionId,
    pc: Arc<RTCPeerConnection>,
    channel: Option<Arc<RTCDataChannel>>,
}

/// Every peer connection of one engine.
pub(crate) struct Webrtc {
    api: Arc<API>,
    ice_servers: Vec<RTCIceServer>,
    events: mpsc::Sender<PeerEvent>,
    /// Signs the DTLS fingerprints of every offer and answer made here.
    key: DeviceKey,
    /// Filled in by the spawned set-up tasks, so that `send` finds the channel at once.
    conns: Arc<std::sync::Mutex<HashMap<DeviceId, Conn>>>,
}

impl Webrtc {
    /// A P2P transport reporting to `events`. `loopback_only`: gather only loopback
    /// candidates (tests and benchmarks on one machine); otherwise every interface but
    /// loopback, over UDP/IPv4 and IPv6. Offers and answers are signed with `key`.
    pub(crate) fn new(
        events: mpsc::Sender<PeerEvent>,
        loopback_only: bool,
        key: DeviceKey,
    ) -> Self {
        let mut settings = SettingEngine::default();
        if loopback_only {
            // Everything stays on this machine: loopback candidates only, and no multicast
            // queries on the network around it.
            settings.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
            settings.set_include_loopback_candidate(true);
            settings.set_network_types(vec![NetworkType::Udp4]);
            settings.set_ip_filter(Box::new(|ip: IpAddr| ip.is_loopback()));
        } else {
            // Browsers name their host candidates `<uuid>.local` to hide their addresses.
            // Dropping them left this side with no address to check until the browser's own
            // checks got through (never, behind a firewall that drops what this side did
            // not ask for); one mDNS query (a few ms on a LAN) gives it. Our own candidates
            // keep their addresses: they cost the other side no lookup.
            settings.set_ice_multicast_dns_mode(MulticastDnsMode::QueryOnly);
            // No loopback candidates (webrtc-rs leaves them out by default): a peer on
            // another machine cannot use them, and a browser on this one cancels the
            // 127.0.0.1 pair this side nominates and stalls in "checking" for a minute.
            settings.set_network_types(vec![NetworkType::Udp4, NetworkType::Udp6]);
            // An IPv6 link-local address cannot be bound without its interface's scope.
            settings.set_ip_filter(Box::new(|ip: IpAddr| match ip {
                IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 != 0xfe80,
                IpAddr::V4(_) => true,
            }));
        }
        // A browser that answers checks this side's candidates before its answer arrives
        // here, so its first pair is peer-reflexive, and the offering side waits 1 s before
        // nominating such a pair (in case a better candidate trickles in). Every candidate
        // came in the description, so there is nothing to wait for.
        settings.set_prflx_acceptance_min_wait(Some(Duration::ZERO));
        let api = APIBuilder::new().with_setting_engine(settings).build();
        Self {
            api: Arc::new(api),
            ice_servers: Vec::new(),
            events,
            key,
            conns: Arc::default(),
        }
    }

    /// Uses the STUN/TURN servers the relay handed out for the next connections.
    pub(crate) fn set_ice_servers(&mut self, servers: &[IceServer]) {
        self.ice_servers = servers
            .iter()
            .map(|s| RTCIceServer {
                urls: s.urls.clone(),
                username: s.username.clone().unwrap_or_default(),
                credential: s.credential.clone().unwrap_or_default(),
            })
            .collect();
    }

    /// Starts an attempt as the offerer: a new peer connection and channel, then an offer.
    pub(crate) fn offer(&self, peer: DeviceId, session: SessionId) {
        let setup = self.setup(peer, session);
        let key = self.key.clone();
        tokio::spawn(async move {
            let result = async {
                let pc = setup.connect().await?;
                let channel = pc.create_data_channel(CHANNEL, None).await?;
                setup.set_channel(&channel);
                setup.watch_channel(&channel);
                let offer = pc.create_offer(None).await?;
                let sdp = setup.describe(&pc, offer).await?;
                let sig = key.sign_sdp(peer, session, &sdp);
                Ok::<_, webrtc::Error>(PeerSignal::Offer { session, sdp, sig })
            }
            .await;
            setup.report(result).await;
        });
    }

    /// Answers the peer's offer for `session` with a new peer connection.
    pub(crate) fn answer(&self, peer: DeviceId, session: SessionId, sdp: String) {
        let setup = self.setup(peer, session);
        let key = self.key.clone();
        tokio::spawn(async move {
            let result = async {
                let pc = setup.connect().await?;
                let on_channel = setup.clone();
                pc.on_data_channel(Box::new(move |channel: Arc<RTCDataChannel>| {
                    if channel.label() == CHANNEL {
                        // Registered before its events, so that a reply finds it.
                        on_channel.set_channel(&channel);
                        on_channel.watch_channel(&channel);
                    }
                    Box::pin(async {})
                }));
                pc.set_remote_description(RTCSessionDescription::offer(sdp)?)
                    .await?;
                let answer = pc.create_answer(None).await?;
                let sdp = setup.describe(&pc, answer).await?;
                let sig = key.sign_sdp(peer, session, &sdp);
                Ok::<_, webrtc::Error>(PeerSignal::Answer { session, sdp, sig })
            }
            .await;
            setup.report(result).await;
        });
    }

    /// Completes the offerer's side with the peer's answer.
    pub(crate) fn accept(&self, peer: DeviceId, session: SessionId, sdp: String) {
        let Some(pc) = self.pc(peer, session) else {
            return;
        };
        let events = self.events.clone();
        tokio::spawn(async move {
            let result = match RTCSessionDescription::answer(sdp) {
                Ok(answer) => pc.set_remote_description(answer).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                let reason = format!("the peer's answer was refused: {e}");
                let _ = events
                    .send(PeerEvent::Closed {
                        peer,
                        session,
                        reason,
                    })
                    .await;
            }
        });
    }

    /// Sends `text` on the open channel of `session` to `peer`. False if there is none or
    /// the write failed (the link is then reported closed by its own events).
    pub(crate) async fn send(&self, peer: DeviceId, session: SessionId, text: String) -> bool {
        if text.len() > MAX_MESSAGE {
            return false;
        }
        let channel = {
            let conns = lock(&self.conns);
            conns
                .get(&peer)
                .filter(|c| c.session == session)
                .and_then(|c| c.channel.clone())
        };
        match channel {
            Some(channel) => channel.send_text(text).await.is_ok(),
            None => false,
        }
    }

    /// Closes the connection of `session` to `peer`, if it is the current one.
    pub(crate) fn close(&self, peer: DeviceId, session: SessionId) {
        let conn = {
            let mut conns = lock(&self.conns);
            match conns.get(&peer) {
                Some(c) if c.session == session => conns.remove(&peer),
                _ => None,
            }
        };
        if let Some(conn) = conn {
            tokio::spawn(async move {
                let _ = conn.pc.close().await;
            });
        }
    }

    /// Closes every connection (the engine is shutting down).
    pub(crate) async fn close_all(&self) {
        let conns: Vec<_> = lock(&self.conns).drain().map(|(_, c)| c).collect();
        for conn in conns {
            let _ = conn.pc.close().await;
        }
    }

    fn pc(&self, peer: DeviceId, session: SessionId) -> Option<Arc<RTCPeerConnection>> {
        lock(&self.conns)
            .get(&peer)
            .filter(|c| c.session == session)
            .map(|c| Arc::clone(&c.pc))
    }

    fn setup(&self, peer: DeviceId, session: SessionId) -> Setup {
        Setup {
            peer,
            session,
            api: Arc::clone(&self.api),
            config: RTCConfiguration {
                ice_servers: self.ice_servers.clone(),
                ..RTCConfiguration::default()
            },
            events: self.events.clone(),
            conns: Arc::downgrade(&self.conns),
        }
    }
}

/// What a set-up task needs; the callbacks it installs hold clones of it.
#[derive(Clone)]
struct Setup {
    peer: DeviceId,
    session: SessionId,
    api: Arc<API>,
    config: RTCConfiguration,
    events: mpsc::Sender<PeerEvent>,
    conns: Weak<std::sync::Mutex<HashMap<DeviceId, Conn>>>,
}

impl Setup {
    /// A new peer connection, registered under the peer (replacing an older one) and
    /// watched for state changes.
    async fn connect(&self) -> Result<Arc<RTCPeerConnection>, webrtc::Error> {
        let pc = Arc::new(self.api.new_peer_connection(self.config.clone()).await?);
        let replaced = self.conns.upgrade().and_then(|conns| {
            lock(&conns).insert(
                self.peer,
                Conn {
                    session: self.session,
                    pc: Arc::clone(&pc),
                    channel: None,
                },
            )
        });
        if let Some(old) = replaced {
            tokio::spawn(async move {
                let _ = old.pc.close().await;
            });
        }
        let on_ice = self.clone();
        pc.on_ice_connection_state_change(Box::new(move |state: RTCIceConnectionState| {
            let setup = on_ice.clone();
            Box::pin(async move {
                setup
                    .emit(PeerEvent::Ice {
                        peer: setup.peer,
                        session: setup.session,
                        state: state.to_string(),
                    })
                    .await;
            })
        }));
        let on_state = self.clone();
        pc.on_peer_connection_state_change(Box::new(move |state: RTCPeerConnectionState| {
            let setup = on_state.clone();
            Box::pin(async move {
                if matches!(
                    state,
                    RTCPeerConnectionState::Failed
                        | RTCPeerConnectionState::Disconnected
                        | RTCPeerConnectionState::Closed
                ) {
                    setup
                        .closed(format!("the peer connection is {state}"))
                        .await;
                }
            })
        }));
        Ok(pc)
    }

    /// Sets the local description, waits for ICE gathering, and returns the SDP with every
    /// candidate in it.
    async fn describe(
        &self,
        pc: &RTCPeerConnection,
        description: RTCSessionDescription,
    ) -> Result<String, webrtc::Error> {
        let mut gathered = pc.gathering_complete_promise().await;
        pc.set_local_description(description).await?;
        let _ = tokio::time::timeout(GATHER_TIMEOUT, gathered.recv()).await;
        pc.local_description()
            .await
            .map(|d| d.sdp)
            .ok_or(webrtc::Error::ErrConnectionClosed)
    }

    fn set_channel(&self, channel: &Arc<RTCDataChannel>) {
        if let Some(conns) = self.conns.upgrade() {
            if let Some(conn) = lock(&conns).get_mut(&self.peer) {
                if conn.session == self.session {
                    conn.channel = Some(Arc::clone(channel));
                }
            }
        }
    }

    fn watch_channel(&self, channel: &RTCDataChannel) {
        let on_open = self.clone();
        channel.on_open(Box::new(move || {
            Box::pin(async move {
                on_open
                    .emit(PeerEvent::Open {
                        peer: on_open.peer,
                        session: on_open.session,
                    })
                    .await;
            })
        }));
        let on_message = self.clone();
        channel.on_message(Box::new(move |message: DataChannelMessage| {
            let setup = on_message.clone();
            Box::pin(async move {
                let Ok(text) = String::from_utf8(message.data.to_vec()) else {
                    setup
                        .closed("the peer sent bytes that are not UTF-8".into())
                        .await;
                    return;
                };
                setup
                    .emit(PeerEvent::Text {
                        peer: setup.peer,
                        session: setup.session,
                        text,
                    })
                    .await;
            })
        }));
        let on_close = self.clone();
        channel.on_close(Box::new(move || {
            let setup = on_close.clone();
            Box::pin(async move { setup.closed("the data channel closed".into()).await })
        }));
    }

    async fn report(&self, result: Result<PeerSignal, webrtc::Error>) {
        match result {
            Ok(signal) => {
                self.emit(PeerEvent::Signal {
                    peer: self.peer,
                    signal,
                })
                .await;
            }
            Err(e) => {
                self.closed(format!("setting up the link failed: {e}"))
                    .await
            }
        }
    }

    async fn closed(&self, reason: String) {
        self.emit(PeerEvent::Closed {
            peer: self.peer,
            session: self.session,
            reason,
        })
        .await;
    }

    async fn emit(&self, event: PeerEvent) {
        // The engine has stopped when nobody listens; there is no one left to tell.
        let _ = self.events.send(event).await;
    }
}

/// Locks the connection table. Nothing panics while holding it, so it is never poisoned;
/// if it were, the table is still consistent (every change is one insert or remove).
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
