//! The seed's `MeshMetrics`, computed from the reports: overall, per room, and the graph.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use festival_proto::{DeviceId, LinkReportState, Report, RoomName, RouteCounts};
use serde::Serialize;

use super::Mesh;

/// Most nodes the graph holds: a phone cannot draw 10,000, and an organiser looks for where
/// the mesh is thin, not at each device. Devices with links come first.
pub(crate) const MAX_GRAPH_NODES: usize = 300;
/// Rooms listed as the busiest.
pub(crate) const BUSIEST_ROOMS: usize = 10;

/// The mesh's figures for one scope (the whole relay, or one room).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Aggregate {
    /// Devices connected (in the room).
    pub(crate) users: usize,
    /// Devices with at least one open direct link (inside the scope).
    pub(crate) p2p_active_users: usize,
    /// Open direct links, each counted once whichever side reported it.
    pub(crate) p2p_links: usize,
    /// Links opened per link opened or failed, over the devices' reports (`None`: no attempt).
    pub(crate) link_success_rate: Option<f64>,
    /// Round trip to the relay, milliseconds, over the devices that measured one.
    pub(crate) relay_latency: Latency,
    /// Round trip over direct links, milliseconds, one value per reported link.
    pub(crate) p2p_latency: Latency,
    /// Messages shown on the devices, by the route they came by (summed counters).
    pub(crate) messages: RouteCounts,
    /// The same as shares of the total, from 0 to 1 (`None` before any message).
    pub(crate) route_share: Option<RouteShare>,
    /// Devices that sent a report.
    pub(crate) reporting: usize,
}

/// The average and the 95th percentile of a set of round trips.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub(crate) struct Latency {
    /// The mean, milliseconds.
    pub(crate) avg: Option<f64>,
    /// The 95th percentile (nearest rank), milliseconds.
    pub(crate) p95: Option<f64>,
    /// How many values.
    pub(crate) samples: usize,
}

/// Shares of messages by route, summing to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct RouteShare {
    /// Direct.
    pub(crate) p2p: f64,
    /// The relay's WebSocket.
    pub(crate) relay: f64,
    /// Long-poll.
    pub(crate) poll: f64,
}

/// One device in the graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Node {
    /// The device.
    pub(crate) id: DeviceId,
    /// Its display name.
    pub(crate) name: String,
    /// Whether it has an open direct link.
    pub(crate) p2p: bool,
}

/// One direct link in the graph, `a` < `b`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Edge {
    /// One end.
    pub(crate) a: DeviceId,
    /// The other.
    pub(crate) b: DeviceId,
    /// Open, or still connecting.
    pub(crate) state: LinkReportState,
    /// The round trip reported for it (the mean of both sides' when both reported).
    pub(crate) rtt_ms: Option<f64>,
}

/// The topology: devices and their direct links.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Graph {
    /// Devices, linked ones first, at most [`MAX_GRAPH_NODES`].
    pub(crate) nodes: Vec<Node>,
    /// Links between the nodes shown.
    pub(crate) edges: Vec<Edge>,
    /// Devices left out of `nodes`.
    pub(crate) hidden: usize,
}

/// One room's figures, for the busiest rooms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct RoomSummary {
    /// The room.
    pub(crate) room: RoomName,
    /// Its figures.
    #[serde(flatten)]
    pub(crate) figures: Aggregate,
}

/// Everything the dashboard shows at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Snapshot {
    /// When, Unix milliseconds.
    pub(crate) at: i64,
    /// The whole relay.
    pub(crate) overall: Aggregate,
    /// The rooms with the most users, busiest first.
    pub(crate) busiest_rooms: Vec<RoomSummary>,
    /// The whole relay's topology.
    pub(crate) graph: Graph,
}

impl Mesh {
    /// The dashboard's view now (`at` in Unix milliseconds).
    pub(crate) fn snapshot(&self, at: i64) -> Snapshot {
        let rooms = self.rooms_by_device();
        let everyone: BTreeSet<DeviceId> = self.devices.keys().copied().collect();
        let mut by_room: BTreeMap<&RoomName, BTreeSet<DeviceId>> = BTreeMap::new();
        for (device, joined) in &rooms {
            for room in joined {
                by_room.entry(room).or_default().insert(*device);
            }
        }
        let mut busiest: Vec<(&RoomName, &BTreeSet<DeviceId>)> = by_room
            .iter()
            .map(|(room, devices)| (*room, devices))
            .collect();
        busiest.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
        Snapshot {
            at,
            overall: self.aggregate(&everyone),
            busiest_rooms: busiest
                .into_iter()
                .take(BUSIEST_ROOMS)
                .map(|(room, devices)| RoomSummary {
                    room: room.clone(),
                    figures: self.aggregate(devices),
                })
                .collect(),
            graph: self.graph(&everyone),
        }
    }

    /// One room's figures and topology (`None`: nobody is in it).
    pub(crate) fn room(&self, room: &RoomName) -> Option<(Aggregate, Graph)> {
        let devices: BTreeSet<DeviceId> = self
            .conns
            .values()
            .filter(|c| c.rooms.contains(room))
            .map(|c| c.device)
            .collect();
        (!devices.is_empty()).then(|| (self.aggregate(&devices), self.graph(&devices)))
    }

    fn reports<'a>(
        &'a self,
        scope: &'a BTreeSet<DeviceId>,
    ) -> impl Iterator<Item = (DeviceId, &'a Report)> + 'a {
        scope.iter().filter_map(|device| {
            let report = self.devices.get(device)?.report.as_ref()?;
            Some((*device, report))
        })
    }

    /// Links with both ends in `scope`, each once, keyed by their ends in order.
    fn edges(&self, scope: &BTreeSet<DeviceId>) -> BTreeMap<(DeviceId, DeviceId), Edge> {
        let mut edges: BTreeMap<(DeviceId, DeviceId), (Edge, Vec<u32>)> = BTreeMap::new();
        for (device, report) in self.reports(scope) {
            for link in report.links.iter().filter(|l| scope.contains(&l.peer)) {
                let key = (device.min(link.peer), device.max(link.peer));
                let (edge, rtts) = edges.entry(key).or_insert_with(|| {
                    let edge = Edge {
                        a: key.0,
                        b: key.1,
                        state: link.state,
                        rtt_ms: None,
                    };
                    (edge, Vec::new())
                });
                // Either side seeing it open is enough: the other may not have reported yet.
                if link.state == LinkReportState::Open {
                    edge.state = LinkReportState::Open;
                }
                rtts.extend(link.rtt_ms);
            }
        }
        edges
            .into_iter()
            .map(|(key, (mut edge, rtts))| {
                edge.rtt_ms = mean(rtts.iter().map(|&r| f64::from(r)));
                (key, edge)
            })
            .collect()
    }

    fn aggregate(&self, scope: &BTreeSet<DeviceId>) -> Aggregate {
        let edges = self.edges(scope);
        let open: Vec<&Edge> = edges
            .values()
            .filter(|e| e.state == LinkReportState::Open)
            .collect();
        let active: BTreeSet<DeviceId> = open.iter().flat_map(|e| [e.a, e.b]).collect();
        let (mut opened, mut failed) = (0u64, 0u64);
        let mut messages = RouteCounts::default();
        let mut relay_rtts = Vec::new();
        let mut p2p_rtts = Vec::new();
        let mut reporting = 0;
        for (_, report) in self.reports(scope) {
            reporting += 1;
            opened = opened.saturating_add(report.attempts.opened);
            failed = failed.saturating_add(report.attempts.failed);
            messages.p2p = messages.p2p.saturating_add(report.received.p2p);
            messages.relay = messages.relay.saturating_add(report.received.relay);
            messages.poll = messages.poll.saturating_add(report.received.poll);
            relay_rtts.extend(report.relay_rtt_ms.map(f64::from));
            p2p_rtts.extend(
                report
                    .links
                    .iter()
                    .filter(|l| l.state == LinkReportState::Open)
                    .filter_map(|l| l.rtt_ms.map(f64::from)),
            );
        }
        let tries = opened.saturating_add(failed);
        let total = messages
            .p2p
            .saturating_add(messages.relay)
            .saturating_add(messages.poll);
        Aggregate {
            users: scope.len(),
            p2p_active_users: active.len(),
            p2p_links: open.len(),
            link_success_rate: (tries > 0).then(|| opened as f64 / tries as f64),
            relay_latency: latency(relay_rtts),
            p2p_latency: latency(p2p_rtts),
            messages,
            route_share: (total > 0).then(|| RouteShare {
                p2p: messages.p2p as f64 / total as f64,
                relay: messages.relay as f64 / total as f64,
                poll: messages.poll as f64 / total as f64,
            }),
            reporting,
        }
    }

    fn graph(&self, scope: &BTreeSet<DeviceId>) -> Graph {
        let edges = self.edges(scope);
        let mut degree: HashMap<DeviceId, usize> = HashMap::new();
        for edge in edges.values() {
            *degree.entry(edge.a).or_default() += 1;
            *degree.entry(edge.b).or_default() += 1;
        }
        let mut devices: Vec<DeviceId> = scope.iter().copied().collect();
        devices.sort_by_key(|d| std::cmp::Reverse(degree.get(d).copied().unwrap_or(0)));
        let hidden = devices.len().saturating_sub(MAX_GRAPH_NODES);
        devices.truncate(MAX_GRAPH_NODES);
        let shown: BTreeSet<DeviceId> = devices.iter().copied().collect();
        let open: BTreeSet<DeviceId> = edges
            .values()
            .filter(|e| e.state == LinkReportState::Open)
            .flat_map(|e| [e.a, e.b])
            .collect();
        Graph {
            nodes: devices
                .into_iter()
                .filter_map(|id| {
                    let device = self.devices.get(&id)?;
                    Some(Node {
                        id,
                        name: device.name.as_str().to_owned(),
                        p2p: open.contains(&id),
                    })
                })
                .collect(),
            edges: edges
                .into_values()
                .filter(|e| shown.contains(&e.a) && shown.contains(&e.b))
                .collect(),
            hidden,
        }
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

fn latency(mut values: Vec<f64>) -> Latency {
    values.sort_by(f64::total_cmp);
    let p95 = (!values.is_empty()).then(|| {
        // Nearest rank: the smallest value at or above 95 % of them.
        let rank = (values.len() * 95).div_ceil(100).max(1);
        values[rank - 1]
    });
    Latency {
        avg: mean(values.iter().copied()),
        p95,
        samples: values.len(),
    }
}

#[cfg(test)]
mod tests {
    use festival_proto::{AttemptCounts, DisplayName, LinkReport};

    use super::*;

    fn room(text: &str) -> RoomName {
        RoomName::parse(text).unwrap()
    }

    fn link(peer: DeviceId, state: LinkReportState, rtt: Option<u32>) -> LinkReport {
        LinkReport {
            peer,
            state,
            rtt_ms: rtt,
        }
    }

    /// Three devices in "Camp", two linked directly (both report it), one also in "Bar".
    #[test]
    fn three_users_two_linked_one_link() {
        let mut mesh = Mesh::default();
        let [a, b, c] = [DeviceId::random(), DeviceId::random(), DeviceId::random()];
        let name = |n: &str| DisplayName::parse(n).unwrap();
        mesh.connection(1, a, &name("A"), vec![room("Camp")]);
        mesh.connection(2, b, &name("B"), vec![room("Camp")]);
        mesh.connection(3, c, &name("C"), vec![room("Camp"), room("Bar")]);
        mesh.report(
            a,
            Report {
                links: vec![link(b, LinkReportState::Open, Some(4))],
                received: RouteCounts {
                    p2p: 3,
                    relay: 1,
                    poll: 0,
                },
                attempts: AttemptCounts {
                    opened: 1,
                    failed: 1,
                },
                relay_rtt_ms: Some(10),
                ..Report::default()
            },
        );
        mesh.report(
            b,
            Report {
                links: vec![link(a, LinkReportState::Open, Some(6))],
                attempts: AttemptCounts {
                    opened: 1,
                    failed: 0,
                },
                relay_rtt_ms: Some(30),
                ..Report::default()
            },
        );
        mesh.report(
            c,
            Report {
                links: vec![link(DeviceId::random(), LinkReportState::Connecting, None)],
                relay_rtt_ms: Some(20),
                ..Report::default()
            },
        );
        let snapshot = mesh.snapshot(1);
        let o = &snapshot.overall;
        assert_eq!((o.users, o.p2p_active_users, o.p2p_links), (3, 2, 1));
        assert_eq!(o.link_success_rate, Some(2.0 / 3.0));
        assert_eq!(o.relay_latency.avg, Some(20.0));
        assert_eq!(o.relay_latency.p95, Some(30.0));
        assert_eq!(o.p2p_latency.avg, Some(5.0));
        assert_eq!(o.route_share.unwrap().p2p, 0.75);
        assert_eq!(
            snapshot.graph.nodes.len(),
            3,
            "a peer not connected is not drawn"
        );
        assert_eq!(snapshot.graph.edges.len(), 1);
        let edge = &snapshot.graph.edges[0];
        assert_eq!((edge.a, edge.b), (a.min(b), a.max(b)));
        assert_eq!(edge.rtt_ms, Some(5.0));
        assert_eq!(snapshot.busiest_rooms[0].room, room("Camp"));
        assert_eq!(snapshot.busiest_rooms[0].figures.users, 3);
        assert_eq!(snapshot.busiest_rooms[1].figures.users, 1);
        let (bar, graph) = mesh.room(&room("Bar")).unwrap();
        assert_eq!((bar.users, bar.p2p_links, graph.edges.len()), (1, 0, 0));
        assert!(mesh.room(&room("Nowhere")).is_none());
    }

    #[test]
    fn a_link_one_side_reports_counts_once_and_the_graph_is_capped() {
        let mut mesh = Mesh::default();
        let devices: Vec<DeviceId> = (0..MAX_GRAPH_NODES + 50)
            .map(|_| DeviceId::random())
            .collect();
        let name = DisplayName::parse("X").unwrap();
        for (i, device) in devices.iter().enumerate() {
            mesh.connection(i as u64, *device, &name, vec![room("Field")]);
        }
        mesh.report(
            devices[7],
            Report {
                links: vec![link(devices[9], LinkReportState::Open, None)],
                ..Report::default()
            },
        );
        let snapshot = mesh.snapshot(0);
        assert_eq!(snapshot.overall.p2p_links, 1);
        assert_eq!(snapshot.overall.p2p_active_users, 2);
        assert_eq!(snapshot.graph.nodes.len(), MAX_GRAPH_NODES);
        assert_eq!(snapshot.graph.hidden, 50);
        assert!(
            snapshot.graph.nodes[..2].iter().all(|n| n.p2p),
            "linked devices are drawn first"
        );
        assert_eq!(snapshot.graph.edges.len(), 1);
    }

    #[test]
    fn percentile_is_the_nearest_rank() {
        let l = latency((1..=100).map(f64::from).collect());
        assert_eq!((l.p95, l.avg, l.samples), (Some(95.0), Some(50.5), 100));
        assert_eq!(latency(vec![7.0]).p95, Some(7.0));
        assert_eq!(latency(Vec::new()), Latency::default());
    }
}
