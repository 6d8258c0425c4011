//! Traffic through the lab's namespaces (`ipsec_tests::lab`): iperf3 transfers, the
//! daemons' SAs and counters, their logs on failure. Shared by the userspace and
//! strongSwan tests.

use std::net::Ipv4Addr;
use std::time::Duration;

use ipsec_tests::lab::Netns;
use serde_json::Value;

use super::Daemon;

/// Prints the daemons' logs if the test panics.
pub struct Logs<'a>(pub Vec<&'a Daemon>);

impl Drop for Logs<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for d in &self.0 {
                eprintln!("---- {} ----\n{}", d.log.display(), d.log_text());
            }
        }
    }
}

/// A counter of `iked stats --json` (the `kernel` table).
pub fn counter(d: &Daemon, name: &str) -> u64 {
    let v = d.json(&["stats"]);
    v["kernel"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["value"].as_u64())
        .unwrap_or_else(|| panic!("no counter {name} in {v}"))
}

/// The first SA of `iked sas --json` in direction `dir` (`in`, `out`).
pub fn sa(d: &Daemon, dir: &str) -> Value {
    let v = d.json(&["sas"]);
    v.as_array()
        .unwrap()
        .iter()
        .find(|s| s["direction"] == dir)
        .cloned()
        .unwrap_or_else(|| panic!("no {dir} SA in {v}"))
}

/// An iperf3 TCP transfer of `secs` seconds from `client` to `server`; bits/s received.
pub fn iperf(client: &Netns, server: &Netns, src: Ipv4Addr, dst: Ipv4Addr, secs: u32) -> f64 {
    let t = secs.to_string();
    let mut last = String::new();
    for _ in 0..5 {
        // A one-off server per attempt, given a moment to listen.
        let _srv = server
            .spawn(&["iperf3", "-s", "-1", "-B", &dst.to_string()])
            .expect("iperf3 server");
        std::thread::sleep(Duration::from_millis(300));
        let out = client
            .exec_timeout(
                &[
                    "iperf3",
                    "-c",
                    &dst.to_string(),
                    "-B",
                    &src.to_string(),
                    "-t",
                    &t,
                    "-J",
                ],
                Duration::from_secs(u64::from(secs) + 20),
            )
            .expect("iperf3 client");
        let bps = serde_json::from_str::<Value>(&out.stdout)
            .ok()
            .and_then(|v| v["end"]["sum_received"]["bits_per_second"].as_f64());
        match bps {
            Some(b) if out.success() => return b,
            _ => last = format!("{}{}", out.stdout, out.stderr),
        }
    }
    panic!("iperf3 {src} -> {dst} failed: {last}");
}
