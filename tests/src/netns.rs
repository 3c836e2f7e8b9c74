//! A scenario in a network namespace of its own: the test binary runs the one test again
//! inside new network and PID namespaces (`unshare`, from util-linux; as root, or with user
//! namespaces), so that its traffic stays inside, is counted by the namespace's own counters,
//! and everything it started ends with it.

use std::process::{Child, Command, Output, Stdio};

/// Set in the copy of a test that runs inside its own namespace.
const INSIDE: &str = "FESTIVAL_TEST_NETNS";

/// Whether this is the copy of the test running inside its own namespace.
pub fn inside() -> bool {
    std::env::var_os(INSIDE).is_some()
}

/// Runs the test named `test` of this binary again inside its own network and PID
/// namespaces, prints what it printed, and fails if it failed.
pub fn run_test_inside(test: &str) {
    finished_inside(spawn_test_inside(test, &[]));
}

/// Starts the test named `test` of this binary again inside network and PID namespaces of
/// its own, with `env` set, its output captured: several run side by side.
pub fn spawn_test_inside(test: &str, env: &[(&str, &str)]) -> Child {
    Command::new("unshare")
        .args([
            "--map-root-user",
            "--net",
            "--pid",
            "--fork",
            "--mount-proc",
            "--",
        ])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux) runs")
}

/// Waits for a test started by [`spawn_test_inside`], prints what it printed, fails if it
/// failed, and returns its output.
pub fn finished_inside(child: Child) -> Output {
    let output = child.wait_with_output().expect("the test inside ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the test failed in its own network namespace:\n{stdout}\n{stderr}"
    );
    output
}

/// Runs `program` with `args` (split at spaces) inside the namespace, and fails if it fails.
pub fn run(program: &str, args: &str) {
    let status = Command::new(program)
        .args(args.split(' '))
        .status()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(status.success(), "{program} {args}");
}

/// What the namespace has sent so far at the IP layer: packets and their bytes, IP and
/// transport headers included (`Ip: OutRequests` in `/proc/net/snmp`, `IpExt: OutOctets` in
/// `/proc/net/netstat`). On loopback every packet is sent once, so this is all its traffic.
pub fn ip_sent() -> (u64, u64) {
    (
        counter("/proc/net/snmp", "Ip:", "OutRequests"),
        counter("/proc/net/netstat", "IpExt:", "OutOctets"),
    )
}

/// One counter of a `/proc/net` table: a header line and a value line, both starting with
/// `prefix`.
fn counter(file: &str, prefix: &str, name: &str) -> u64 {
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines = text.lines().filter(|l| l.starts_with(prefix));
    let (names, values) = (lines.next().unwrap(), lines.next().unwrap());
    let at = names
        .split_whitespace()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("{file} has no {name}"));
    values.split_whitespace().nth(at).unwrap().parse().unwrap()
}
