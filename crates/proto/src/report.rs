//! `report`: what a client tells the relay about its direct links, for the organisers' mesh
//! dashboard. Only numbers, ids and states: nothing a person typed, so nothing to normalise,
//! and a size bounded by [`Limits::MAX_REPORT_LINKS`](crate::Limits::MAX_REPORT_LINKS).

use serde::{Deserialize, Serialize};

use crate::{DeviceId, ErrorCode, Limits, ProtoError};

/// A client's view of the mesh around it: its direct links and its counters since it started.
/// The relay keeps the latest per device and forgets it when the device leaves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Each device this one has, or is opening, a direct link with.
    #[serde(default)]
    pub links: Vec<LinkReport>,
    /// Messages shown here, by the route they came by.
    #[serde(default)]
    pub received: RouteCounts,
    /// Messages sent from here, by route.
    #[serde(default)]
    pub sent: RouteCounts,
    /// Direct link attempts and how they ended.
    #[serde(default)]
    pub attempts: AttemptCounts,
    /// The last ping round trip to the relay, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_rtt_ms: Option<u32>,
}

/// One direct link as its device sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkReport {
    /// The other device.
    pub peer: DeviceId,
    /// Where the link stands.
    pub state: LinkReportState,
    /// The last ping round trip over it, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<u32>,
}

/// Where a reported link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkReportState {
    /// Being opened (offer, answer, ICE).
    Connecting,
    /// The data channel is open.
    Open,
}

/// Messages by route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteCounts {
    /// Over direct data channels.
    #[serde(default)]
    pub p2p: u64,
    /// Over the relay's WebSocket.
    #[serde(default)]
    pub relay: u64,
    /// Over the relay's HTTP long-poll.
    #[serde(default)]
    pub poll: u64,
}

/// Direct link attempts: how many links opened and how many attempts failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptCounts {
    /// Links that opened.
    #[serde(default)]
    pub opened: u64,
    /// Attempts that failed (timed out, refused, ICE failed).
    #[serde(default)]
    pub failed: u64,
}

/// The longest round trip a report may name: anything slower is not a working link.
pub const MAX_REPORT_RTT_MS: u32 = 60_000;

impl Report {
    /// Checks what serde cannot: the number of links, no link to the nil device or twice to
    /// one device, round trips in range.
    pub(crate) fn validate(&self) -> Result<(), ProtoError> {
        let bad = |message: String| Err(ProtoError::new(ErrorCode::InvalidField, message));
        if self.links.len() > Limits::MAX_REPORT_LINKS {
            return bad(format!(
                "report names {} links; at most {} are allowed",
                self.links.len(),
                Limits::MAX_REPORT_LINKS
            ));
        }
        let rtts = self.links.iter().filter_map(|l| l.rtt_ms);
        if let Some(rtt) = rtts
            .chain(self.relay_rtt_ms)
            .find(|&rtt| rtt > MAX_REPORT_RTT_MS)
        {
            return bad(format!(
                "a round trip of {rtt} ms; at most {MAX_REPORT_RTT_MS} ms is allowed"
            ));
        }
        for (i, link) in self.links.iter().enumerate() {
            if link.peer.is_nil() {
                return Err(ProtoError::new(
                    ErrorCode::InvalidId,
                    "report names the nil device",
                ));
            }
            if self.links[..i].iter().any(|l| l.peer == link.peer) {
                return bad(format!("report names device {} twice", link.peer));
            }
        }
        Ok(())
    }
}
