//! The driver's one step for the mesh report: build it from what the engine keeps, and send
//! it when the pacer says so.

use festival_proto::ClientFrame;

use super::{Driver, read_clock};
use crate::engine::link::Link;
use crate::engine::mesh_report;
use crate::transport::TransportError;

impl Driver {
    /// Sends this device's mesh report on `link` if one is due and something changed.
    pub(super) async fn report_mesh(&mut self, link: &mut Link) -> Result<(), TransportError> {
        let now = read_clock();
        if !self.reporter.may_send(now) {
            return Ok(());
        }
        let report = mesh_report::build(&self.snapshot(), &self.peer_diagnostics(now));
        match self.reporter.offer(report, self.links_opened, now) {
            Some(report) => self.send(link, &ClientFrame::Report(report)).await,
            None => Ok(()),
        }
    }
}
