//! A festival day replayed against the power policy on a manual clock: the battery runs from
//! 100 % down to 5 % over twelve hours with a charge at hour six, the phone moves between the
//! camp's Wi-Fi and cellular, loses the network at the main stage, and the level reading
//! wobbles by a percent as real gauges do. Prints the mode timeline; asserts the modes the
//! day calls for and that no threshold is crossed more than once per real crossing.

use std::time::{Duration, Instant};

use festival_core::power::{Mode, ModeChange, NetworkState, Policy, PowerState};

const MINUTE: Duration = Duration::from_secs(60);

/// The battery at minute `m` of the day: drains 100 -> 52 % by 6 h, charges for 40 minutes
/// (to 90 %), then drains to 5 % by 12 h. The gauge wobbles by one percent around the true
/// level every other minute, as real gauges do.
fn battery(m: u32) -> PowerState {
    let (level, charging) = match m {
        0..360 => (100.0 - 48.0 * f64::from(m) / 360.0, false),
        360..400 => (52.0 + 38.0 * f64::from(m - 360) / 40.0, true),
        _ => (90.0 - 85.0 * f64::from(m - 400) / 320.0, false),
    };
    let wobble = if m.is_multiple_of(2) { 0.0 } else { 1.0 };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let percent = (level + wobble).clamp(0.0, 100.0).round() as u8;
    let state = PowerState::battery(percent);
    if charging { state.charging() } else { state }
}

/// Wi-Fi at the camp, cellular on the field, nothing in the crush at the main stage.
fn network(m: u32) -> NetworkState {
    match m {
        0..120 => NetworkState::WIFI,
        120..300 => NetworkState::CELLULAR,
        300..330 => NetworkState::NONE,
        330..420 => NetworkState::WIFI,
        420..600 => NetworkState::CELLULAR,
        _ => NetworkState::WIFI,
    }
}

/// The food court's Wi-Fi, minutes 200 to 215 on the field: it comes up for ten seconds a
/// minute, reported by the network callback each second.
fn flicker(m: u32, s: u32) -> Option<NetworkState> {
    ((200..215).contains(&m) && (5..15).contains(&s)).then_some(NetworkState::WIFI)
}

/// The mode a policy with no memory would pick: no hysteresis, no settling.
fn memoryless(power: PowerState, network: NetworkState) -> Mode {
    Policy::new(power, network).mode()
}

#[test]
#[allow(clippy::disallowed_methods)] // The day's one real instant; the rest are offsets.
fn a_festival_day_moves_through_the_modes_without_flapping() {
    let t0 = Instant::now();
    let mut policy = Policy::new(battery(0), network(0));
    let mut timeline: Vec<(u32, ModeChange)> = Vec::new();
    let mut naive = (memoryless(battery(0), network(0)), 0u32);
    for m in 0..720u32 {
        // One reading a second, as a phone's callbacks would report changes.
        for s in 0..60u32 {
            let now = t0 + MINUTE * m + Duration::from_secs(u64::from(s));
            let net = flicker(m, s).unwrap_or(network(m));
            if let Some(change) = policy.update(battery(m), net, now) {
                timeline.push((m, change));
            }
            let mode = memoryless(battery(m), net);
            if mode != naive.0 {
                naive = (mode, naive.1 + 1);
            }
        }
    }

    println!("minute  time   change");
    for (m, change) in &timeline {
        println!("{m:>6}  {:02}:{:02}  {change}", m / 60, m % 60);
    }
    println!(
        "{} mode changes in 12 h; a policy without hysteresis or settling: {}",
        timeline.len(),
        naive.1
    );

    use Mode::{AggressiveP2p as A, Minimal as M, Offline as O, RelayOnly as R, SelectiveP2p as S};
    let changes: Vec<_> = timeline.iter().map(|(m, c)| (*m, c.from, c.to)).collect();
    assert_eq!(
        changes,
        [
            (120, A, R), // onto cellular: the relay
            (300, R, O), // no network at the main stage
            (330, O, S), // back on Wi-Fi at once, battery 56 %: selective
            (360, S, A), // charging counts as plenty (after settling)
            (420, A, R), // cellular again at 85 %
            (662, R, M), // 20 % on Wi-Fi: minimal, once, whatever the gauge's wobble
        ],
        "{timeline:#?}"
    );
    // The wobble (a percent every other minute) and the flickering Wi-Fi did move a
    // memoryless policy: each of its extra changes is a flap avoided.
    assert!(
        naive.1 > 20,
        "the day exercises the hysteresis: {}",
        naive.1
    );
}
