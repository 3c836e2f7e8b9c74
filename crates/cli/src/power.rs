//! The power policy as `festival chat` runs it: the machine's own battery and network (or
//! `FESTIVAL_POWER` in place of the battery), each mode change applied to the engine and
//! printed, and `/power` to show or override it.

use std::time::Instant;

use anyhow::Context;
use festival_core::Engine;
use festival_core::power::{
    self, Mode, ModeChange, Monitor, NetworkState, Scripted, SystemNetwork, SystemPower,
};
use serde_json::json;

use crate::output::{Printer, println_flush};

/// The monitor over this machine's sources, with `FESTIVAL_POWER` (if set) standing in for
/// the battery. A machine whose interfaces cannot be watched reads as "network, kind
/// unknown", which the policy treats like Wi-Fi.
pub(crate) fn monitor() -> anyhow::Result<Monitor> {
    let power_override = power::env_override::from_env()
        .with_context(|| format!("{} is not a power reading", power::env_override::ENV))?;
    let network: Box<dyn power::NetworkSource> = match SystemNetwork::watch() {
        Ok(network) => Box::new(network),
        Err(e) => {
            tracing::warn!("{e}; the network counts as unknown");
            Box::new(Scripted::new(NetworkState::UNKNOWN))
        }
    };
    Monitor::start(Box::new(SystemPower), network, power_override)
        .context("reading the power and network state")
}

/// Applies the current mode's budget to the engine.
pub(crate) async fn apply(engine: &Engine, monitor: &Monitor) -> anyhow::Result<()> {
    engine.set_power_budget(monitor.budget()).await?;
    Ok(())
}

/// Reads the sources now; a change is applied and printed.
pub(crate) async fn poll(engine: &Engine, monitor: &mut Monitor, printer: Printer) {
    #[allow(clippy::disallowed_methods)] // A binary's edge: the monitor's clock.
    let now = Instant::now();
    match monitor.poll(now) {
        Ok(Some(change)) => changed(engine, printer, &change).await,
        Ok(None) => {}
        Err(e) => tracing::warn!("{e}"),
    }
}

/// Applies a mode change to the engine and prints it. Leaving offline reconnects at once, so
/// that the outbox does not wait out a backoff.
async fn changed(engine: &Engine, printer: Printer, change: &ModeChange) {
    if let Err(e) = engine.set_power_budget(change.to.budget()).await {
        println_flush(&format!("! {e}"));
        return;
    }
    if change.from == Mode::Offline {
        let _ = engine.reconnect().await;
    }
    if printer.json {
        printer.json_line(&json!({"event": "power", "change": change}));
    } else {
        println_flush(&format!("* power: {change}"));
    }
}

/// `/power`, `/power battery:15` (an override, as `FESTIVAL_POWER` takes), `/power auto`
/// (the machine's own reading again).
pub(crate) async fn command(engine: &Engine, monitor: &mut Monitor, printer: Printer, arg: &str) {
    let reading = match arg {
        "" => return show(monitor, printer),
        "auto" => None,
        reading => match power::env_override::parse(reading) {
            Ok(reading) => Some(reading),
            Err(e) => return println_flush(&format!("! {e}")),
        },
    };
    match monitor.set_override(reading) {
        Ok(Some(change)) => changed(engine, printer, &change).await,
        Ok(None) => {}
        Err(e) => println_flush(&format!("! {e}")),
    }
    show(monitor, printer);
}

fn show(monitor: &Monitor, printer: Printer) {
    let policy = monitor.policy();
    let budget = monitor.budget();
    if printer.json {
        printer.json_line(&json!({
            "event": "power", "mode": policy.mode(), "why": policy.why(), "budget": budget,
        }));
        return;
    }
    let waiting = match policy.wake_at() {
        Some(_) => " (a better mode is settling)",
        None => "",
    };
    println_flush(&format!(
        "* power: {} ({}){waiting}; direct links: {} in rooms of up to {} ({} on a phone); relay keepalive {} s; timers every {} s",
        policy.mode(),
        policy.why(),
        budget.max_links,
        budget.auto_group,
        budget.max_links_mobile,
        budget.keepalive.as_secs(),
        budget.tick.as_secs_f32(),
    ));
}
