//! What the relay counts, exported at `GET /metrics` in Prometheus text format.

use std::sync::atomic::AtomicU64;

use festival_proto::{CloseCode, ErrorCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::mesh::Aggregate;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabel {
    route: &'static str,
    stat: &'static str,
}

/// The relay's counters and gauges. Cheap to share: every metric is an atomic.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) connections: Gauge,
    pub(crate) rooms: Gauge,
    pub(crate) members: Gauge,
    pub(crate) messages_relayed: Counter,
    pub(crate) messages_stored: Counter,
    pub(crate) messages_duplicate: Counter,
    pub(crate) messages_delivered: Counter,
    pub(crate) messages_sequenced: Counter,
    pub(crate) fanout_bytes: Counter,
    pub(crate) signals_relayed: Counter,
    pub(crate) idle_disconnects: Counter,
    pub(crate) poll_sessions: Gauge,
    pub(crate) poll_waiting: Gauge,
    pub(crate) mesh_reports: Counter,
    pub(crate) mesh_users: Gauge,
    pub(crate) mesh_reporting: Gauge,
    pub(crate) mesh_p2p_active_users: Gauge,
    pub(crate) mesh_p2p_links: Gauge,
    mesh_link_success: Gauge<f64, AtomicU64>,
    mesh_latency: Family<LatencyLabel, Gauge<f64, AtomicU64>>,
    mesh_messages: Family<RouteLabel, Gauge>,
    pub(crate) admin_actions: Counter,
    pub(crate) admin_refused: Counter,
    errors: Family<CodeLabel, Counter>,
    closes: Family<ReasonLabel, Counter>,
}

impl Metrics {
    /// All metrics at zero, registered for export.
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("festival");
        let metrics = Self {
            connections: Gauge::default(),
            rooms: Gauge::default(),
            members: Gauge::default(),
            messages_relayed: Counter::default(),
            messages_stored: Counter::default(),
            messages_duplicate: Counter::default(),
            messages_delivered: Counter::default(),
            messages_sequenced: Counter::default(),
            fanout_bytes: Counter::default(),
            signals_relayed: Counter::default(),
            idle_disconnects: Counter::default(),
            poll_sessions: Gauge::default(),
            poll_waiting: Gauge::default(),
            mesh_reports: Counter::default(),
            mesh_users: Gauge::default(),
            mesh_reporting: Gauge::default(),
            mesh_p2p_active_users: Gauge::default(),
            mesh_p2p_links: Gauge::default(),
            mesh_link_success: Gauge::default(),
            mesh_latency: Family::default(),
            mesh_messages: Family::default(),
            admin_actions: Counter::default(),
            admin_refused: Counter::default(),
            errors: Family::default(),
            closes: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "connections",
            "Open WebSocket connections",
            metrics.connections.clone(),
        );
        registry.register(
            "rooms",
            "Rooms with at least one member",
            metrics.rooms.clone(),
        );
        registry.register(
            "members",
            "Room members (devices), summed over rooms",
            metrics.members.clone(),
        );
        registry.register(
            "messages_relayed",
            "Chat messages received from clients and passed to their room (retries included)",
            metrics.messages_relayed.clone(),
        );
        registry.register(
            "messages_stored",
            "Chat messages stored and sequenced",
            metrics.messages_stored.clone(),
        );
        registry.register(
            "messages_duplicate",
            "Retried chat messages recognised by id and not stored again",
            metrics.messages_duplicate.clone(),
        );
        registry.register(
            "messages_delivered",
            "Chat frames queued to member connections (fan-out)",
            metrics.messages_delivered.clone(),
        );
        registry.register(
            "messages_sequenced",
            "Short `sequenced` notices sent instead of a chat frame to members its sender reached directly",
            metrics.messages_sequenced.clone(),
        );
        registry.register(
            "fanout_bytes",
            "Bytes of chat and sequenced frames queued to member connections",
            metrics.fanout_bytes.clone(),
        );
        registry.register(
            "signals_relayed",
            "WebRTC signaling payloads passed between devices",
            metrics.signals_relayed.clone(),
        );
        registry.register(
            "poll_sessions",
            "Open HTTP long-poll sessions",
            metrics.poll_sessions.clone(),
        );
        registry.register(
            "poll_waiting",
            "Long-poll requests waiting for frames now",
            metrics.poll_waiting.clone(),
        );
        registry.register(
            "idle_disconnects",
            "Connections dropped after sending nothing, not even a pong, for the idle timeout",
            metrics.idle_disconnects.clone(),
        );
        registry.register(
            "errors",
            "Error frames sent, by code",
            metrics.errors.clone(),
        );
        registry.register(
            "closes",
            "Connections the relay closed, by reason",
            metrics.closes.clone(),
        );
        registry.register(
            "mesh_reports",
            "Mesh reports received from clients",
            metrics.mesh_reports.clone(),
        );
        registry.register(
            "mesh_users",
            "Devices connected (the dashboard's total users)",
            metrics.mesh_users.clone(),
        );
        registry.register(
            "mesh_reporting_users",
            "Connected devices that sent a mesh report",
            metrics.mesh_reporting.clone(),
        );
        registry.register(
            "mesh_p2p_active_users",
            "Devices with at least one open direct link, as reported",
            metrics.mesh_p2p_active_users.clone(),
        );
        registry.register(
            "mesh_p2p_links",
            "Open direct links between connected devices, each counted once",
            metrics.mesh_p2p_links.clone(),
        );
        registry.register(
            "mesh_link_success_ratio",
            "Direct links opened per link opened or failed, over the reports",
            metrics.mesh_link_success.clone(),
        );
        registry.register(
            "mesh_latency_ms",
            "Round trip per route over the reports, milliseconds: the mean and the 95th percentile",
            metrics.mesh_latency.clone(),
        );
        registry.register(
            "mesh_messages",
            "Messages shown on the reporting devices, by the route they came by (sum of their counters)",
            metrics.mesh_messages.clone(),
        );
        registry.register(
            "admin_actions",
            "Admin actions done (announcements, clears, removals)",
            metrics.admin_actions.clone(),
        );
        registry.register(
            "admin_refused",
            "Admin API requests refused for a missing or wrong token",
            metrics.admin_refused.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// Shows the mesh's overall figures as gauges.
    pub(crate) fn mesh(&self, overall: &Aggregate) {
        let gauge = |value: usize| i64::try_from(value).unwrap_or(i64::MAX);
        self.mesh_users.set(gauge(overall.users));
        self.mesh_reporting.set(gauge(overall.reporting));
        self.mesh_p2p_active_users
            .set(gauge(overall.p2p_active_users));
        self.mesh_p2p_links.set(gauge(overall.p2p_links));
        self.mesh_link_success
            .set(overall.link_success_rate.unwrap_or(f64::NAN));
        for (route, latency) in [
            ("relay", overall.relay_latency),
            ("p2p", overall.p2p_latency),
        ] {
            for (stat, value) in [("avg", latency.avg), ("p95", latency.p95)] {
                self.mesh_latency
                    .get_or_create(&LatencyLabel { route, stat })
                    .set(value.unwrap_or(f64::NAN));
            }
        }
        let counted = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        for (route, n) in [
            ("p2p", overall.messages.p2p),
            ("relay", overall.messages.relay),
            ("poll", overall.messages.poll),
        ] {
            self.mesh_messages
                .get_or_create(&RouteLabel { route })
                .set(counted(n));
        }
    }

    /// Counts an error frame.
    pub(crate) fn error(&self, code: ErrorCode) {
        self.errors
            .get_or_create(&CodeLabel {
                code: code.as_str(),
            })
            .inc();
    }

    /// Counts a connection the relay closed.
    pub(crate) fn closed(&self, code: CloseCode) {
        let reason = match code {
            CloseCode::Normal => "normal",
            CloseCode::GoingAway => "going_away",
            CloseCode::ProtocolError => "protocol_error",
            CloseCode::InvalidPayload => "invalid_payload",
            CloseCode::PolicyViolation => "abuse",
            CloseCode::TooBig => "too_big",
            CloseCode::SlowConsumer => "slow_consumer",
            _ => "other",
        };
        self.closes.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// The Prometheus text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
