//! The mesh report a device sends the relay for the organisers' dashboard: built by a pure
//! function from the counters and link diagnostics the engine already keeps, and paced by a
//! pure state machine: at most one per interval, only when something changed, none at all
//! when the user turned reporting off.

use std::time::{Duration, Instant};

use festival_proto::{
    AttemptCounts, Limits, LinkReport, LinkReportState, MAX_REPORT_RTT_MS, Report, RouteCounts,
};

use crate::router::links::LinkState;
use crate::stats::{ByRoute, PeerDiagnostics, Stats};

/// How often a device reports at most, by default: the dashboard is for people watching a
/// field, not for a profiler, and each report costs a phone a radio wake-up.
pub(super) const DEFAULT_EVERY: Duration = Duration::from_secs(30);

/// This device's report: its links (open or opening) with their round trips, and its
/// counters by route.
pub(crate) fn build(stats: &Stats, peers: &[PeerDiagnostics]) -> Report {
    let counts = |by: &ByRoute| RouteCounts {
        p2p: by.p2p,
        relay: by.relay,
        poll: by.poll,
    };
    Report {
        links: peers
            .iter()
            .filter_map(|peer| {
                let state = match peer.link? {
                    LinkState::Open => LinkReportState::Open,
                    LinkState::Requested | LinkState::Connecting => LinkReportState::Connecting,
                };
                Some(LinkReport {
                    peer: peer.device,
                    state,
                    rtt_ms: peer.rtt_ms.map(millis),
                })
            })
            .take(Limits::MAX_REPORT_LINKS)
            .collect(),
        received: counts(&stats.delivered),
        sent: counts(&stats.sent),
        attempts: AttemptCounts {
            opened: stats.p2p.opened,
            failed: stats.p2p.failures,
        },
        relay_rtt_ms: stats.rtt_ms.map(millis),
    }
}

/// A round trip in whole milliseconds, within what the relay accepts.
fn millis(ms: f64) -> u32 {
    // The cast saturates; NaN becomes 0.
    (ms.round() as u32).min(MAX_REPORT_RTT_MS)
}

/// When a report goes out.
#[derive(Debug)]
pub(crate) struct Pacer {
    every: Option<Duration>,
    /// The interval configured, before a power mode slowed it.
    configured: Option<Duration>,
    last: Option<Sent>,
}

#[derive(Debug)]
struct Sent {
    at: Instant,
    /// The relay link it went on: a new link means a relay that may have forgotten it.
    link: u64,
    material: Report,
}

impl Pacer {
    /// At most one report per `every`; `None`: never report.
    pub(crate) fn new(every: Option<Duration>) -> Self {
        Self {
            every,
            configured: every,
            last: None,
        }
    }

    /// Reports no more often than every `floor` either (a power mode's bookkeeping period),
    /// and never when reporting is off.
    pub(crate) fn slow_to(&mut self, floor: Duration) {
        self.every = self.configured.map(|every| every.max(floor));
    }

    /// Whether a report could go out now (cheap: check before building one).
    pub(crate) fn may_send(&self, now: Instant) -> bool {
        match (self.every, &self.last) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(every), Some(last)) => now.duration_since(last.at) >= every,
        }
    }

    /// `report`, to send now on relay link number `link`, if it may go and differs from the
    /// last one sent in a way a dashboard would show; `None` otherwise.
    pub(crate) fn offer(&mut self, report: Report, link: u64, now: Instant) -> Option<Report> {
        if !self.may_send(now) {
            return None;
        }
        let material = material(&report);
        if let Some(last) = &self.last
            && last.link == link
            && last.material == material
        {
            return None;
        }
        self.last = Some(Sent {
            at: now,
            link,
            material,
        });
        Some(report)
    }
}

/// The report as far as a change matters: round trips in steps of about a quarter, so that
/// the jitter of every ping does not count as a change.
fn material(report: &Report) -> Report {
    let step = |rtt: u32| (f64::from(rtt) + 1.0).log(1.25).round() as u32;
    let mut material = report.clone();
    for link in &mut material.links {
        link.rtt_ms = link.rtt_ms.map(step);
    }
    material.relay_rtt_ms = material.relay_rtt_ms.map(step);
    material
}

#[cfg(test)]
mod tests {
    use festival_proto::{ClientFrame, DeviceId, encode};

    use super::*;
    use crate::router::links::LinkCounters;

    fn peer(link: Option<LinkState>, rtt: Option<f64>) -> PeerDiagnostics {
        PeerDiagnostics {
            device: DeviceId::random(),
            name: None,
            link,
            ice: None,
            rtt_ms: rtt,
            cooldown_ms: None,
        }
    }

    fn stats() -> Stats {
        Stats {
            delivered: ByRoute {
                p2p: 5,
                relay: 7,
                poll: 0,
            },
            p2p: LinkCounters {
                attempts: 3,
                opened: 2,
                failures: 1,
                declined: 0,
            },
            rtt_ms: Some(41.6),
            ..Stats::default()
        }
    }

    #[test]
    fn the_report_is_read_from_the_stats_and_the_links() {
        let peers = [
            peer(Some(LinkState::Open), Some(3.4)),
            peer(Some(LinkState::Requested), None),
            peer(None, None),
            peer(Some(LinkState::Open), Some(1e9)),
        ];
        let report = build(&stats(), &peers);
        let states: Vec<_> = report.links.iter().map(|l| l.state).collect();
        assert_eq!(
            states,
            [
                LinkReportState::Open,
                LinkReportState::Connecting,
                LinkReportState::Open
            ],
            "a cooling-down peer is no link"
        );
        assert_eq!(report.links[0].rtt_ms, Some(3));
        assert_eq!(report.links[2].rtt_ms, Some(MAX_REPORT_RTT_MS));
        assert_eq!((report.received.p2p, report.received.relay), (5, 7));
        assert_eq!((report.attempts.opened, report.attempts.failed), (2, 1));
        assert_eq!(report.relay_rtt_ms, Some(42));
        // What the relay accepts.
        let text = encode(&ClientFrame::Report(report));
        assert!(festival_proto::decode_client(&text, &Limits::default()).is_ok());
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn at_most_one_per_interval_only_on_change_and_none_when_off() {
        let t0 = Instant::now();
        let every = Duration::from_secs(30);
        let mut pacer = Pacer::new(Some(every));
        let report = build(&stats(), &[peer(Some(LinkState::Open), Some(10.0))]);
        assert!(
            pacer.offer(report.clone(), 1, t0).is_some(),
            "the first goes at once"
        );
        let later = t0 + Duration::from_secs(5);
        let mut changed = report.clone();
        changed.received.p2p += 1;
        assert!(!pacer.may_send(later));
        assert!(pacer.offer(changed.clone(), 1, later).is_none(), "too soon");
        let later = t0 + every;
        let mut jitter = report.clone();
        jitter.links[0].rtt_ms = Some(11);
        assert!(
            pacer.offer(jitter, 1, later).is_none(),
            "jitter is no change"
        );
        assert!(pacer.offer(changed.clone(), 1, later).is_some());
        let later = later + every;
        assert!(
            pacer.offer(changed.clone(), 1, later).is_none(),
            "unchanged"
        );
        assert!(
            pacer.offer(changed.clone(), 2, later).is_some(),
            "a new relay link hears it again"
        );

        let mut off = Pacer::new(None);
        off.slow_to(Duration::from_secs(600));
        assert!(!off.may_send(t0), "a power mode never turns reporting on");
        assert!(off.offer(report, 1, t0).is_none());
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn a_power_mode_slows_reports_to_its_bookkeeping_and_back() {
        let t0 = Instant::now();
        let every = Duration::from_secs(30);
        let ten_minutes = Duration::from_secs(600);
        let mut pacer = Pacer::new(Some(every));
        let mut report = build(&stats(), &[]);
        assert!(pacer.offer(report.clone(), 1, t0).is_some());
        pacer.slow_to(ten_minutes);
        report.received.relay += 1;
        assert!(pacer.offer(report.clone(), 1, t0 + every).is_none());
        assert!(pacer.offer(report.clone(), 1, t0 + ten_minutes).is_some());
        // A faster mode's tick is shorter than the configured interval, which applies again.
        pacer.slow_to(Duration::from_millis(500));
        report.received.relay += 1;
        assert!(pacer.offer(report, 1, t0 + ten_minutes + every).is_some());
    }

    #[test]
    fn a_report_is_small() {
        let none = encode(&ClientFrame::Report(build(&stats(), &[])));
        let peers: Vec<_> = (0..3)
            .map(|_| peer(Some(LinkState::Open), Some(12.0)))
            .collect();
        let three = encode(&ClientFrame::Report(build(&stats(), &peers)));
        let peers: Vec<_> = (0..8)
            .map(|_| peer(Some(LinkState::Open), Some(12.0)))
            .collect();
        let eight = encode(&ClientFrame::Report(build(&stats(), &peers)));
        println!(
            "mesh report: {} bytes with no link, {} with 3 (mobile cap), {} with 8 (desktop cap); \
             at most {} per hour",
            none.len(),
            three.len(),
            eight.len(),
            3600 / DEFAULT_EVERY.as_secs()
        );
        assert!(eight.len() < 1024, "{eight}");
    }
}
