//! The mesh report's step: built from what the machine keeps, sent on the relay link when
//! the pacer says so.

use std::time::Instant;

use festival_proto::ClientFrame;

use super::EngineState;
use crate::engine::mesh_report;

impl EngineState {
    /// Queues this device's mesh report for the relay if one is due and something changed.
    pub(super) fn report_mesh(&mut self, now: Instant) {
        if !self.reporter.may_send(now) {
            return;
        }
        let report = mesh_report::build(&self.stats(), &self.peer_diagnostics(now));
        if let Some(report) = self.reporter.offer(report, self.links_opened, now) {
            self.send_relay(now, ClientFrame::Report(report));
        }
    }
}
