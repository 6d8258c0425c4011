//! What a run measured: tunnels established per second, set-up latency percentiles, failures
//! by cause, tunnels held; printed as text and written as JSON for the benchmark script.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// Collects set-up latencies and failures while the run goes on.
#[derive(Debug, Default)]
pub struct Recorder {
    latencies_us: Vec<u64>,
    failures: BTreeMap<String, u64>,
    first_start: Option<Duration>,
    last_up: Option<Duration>,
}

impl Recorder {
    /// A client started its first attempt at `at` (since the run began).
    pub fn started(&mut self, at: Duration) {
        self.first_start.get_or_insert(at);
    }

    /// A tunnel came up `latency` after its attempt began, at `at` since the run began.
    pub fn up(&mut self, at: Duration, latency: Duration) {
        self.latencies_us
            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        self.last_up = Some(at);
    }

    /// An attempt failed, or a held tunnel went down, for `cause`.
    pub fn failed(&mut self, cause: String) {
        *self.failures.entry(cause).or_insert(0) += 1;
    }

    /// The summary, with `held` tunnels up at the end.
    pub fn report(&self, clients: usize, held: usize, extra: Extra) -> Report {
        let mut l = self.latencies_us.clone();
        l.sort_unstable();
        let pct = |p: f64| -> f64 {
            if l.is_empty() {
                return 0.0;
            }
            let i = ((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1;
            l[i] as f64 / 1000.0
        };
        let span = match (self.first_start, self.last_up) {
            (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
            _ => 0.0,
        };
        let established = l.len() as u64;
        Report {
            clients,
            established,
            held,
            setup_seconds: span,
            tunnels_per_second: if span > 0.0 {
                established as f64 / span
            } else {
                0.0
            },
            latency_ms_p50: pct(0.50),
            latency_ms_p99: pct(0.99),
            latency_ms_max: l.last().map_or(0.0, |&v| v as f64 / 1000.0),
            failures: self.failures.clone(),
            extra,
        }
    }
}

/// Counters of the run that are not about latency.
#[derive(Debug, Default, Serialize)]
pub struct Extra {
    /// Datagrams sent and received by the clients.
    pub datagrams_sent: u64,
    /// Datagrams received for a client.
    pub datagrams_received: u64,
    /// Datagrams that arrived for no client (replies to spoofed flood sources, strays).
    pub datagrams_unclaimed: u64,
    /// Spoofed first messages sent by the flood.
    pub flood_sent: u64,
    /// Retransmissions by the clients' engines.
    pub retransmissions: u64,
    /// Attempts started again after a failure or a lost tunnel.
    pub reconnects: u64,
    /// Wall-clock seconds the whole run took.
    pub run_seconds: f64,
    /// CPU seconds the generator used (user + system).
    pub cpu_seconds: f64,
}

/// The result of a run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Clients the run played.
    pub clients: usize,
    /// Tunnels established (a client whose tunnel came up twice counts twice).
    pub established: u64,
    /// Tunnels up at the end.
    pub held: usize,
    /// From the first attempt to the last tunnel up.
    pub setup_seconds: f64,
    /// `established / setup_seconds`.
    pub tunnels_per_second: f64,
    /// Set-up latency (first message sent to both IPsec SAs installed), median.
    pub latency_ms_p50: f64,
    /// 99th percentile.
    pub latency_ms_p99: f64,
    /// Maximum.
    pub latency_ms_max: f64,
    /// Failed attempts and lost tunnels by cause.
    pub failures: BTreeMap<String, u64>,
    /// Other counters.
    #[serde(flatten)]
    pub extra: Extra,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "clients {}  established {}  held {}  in {:.2} s  = {:.1} tunnels/s",
            self.clients, self.established, self.held, self.setup_seconds, self.tunnels_per_second
        )?;
        writeln!(
            f,
            "set-up latency ms: p50 {:.1}  p99 {:.1}  max {:.1}",
            self.latency_ms_p50, self.latency_ms_p99, self.latency_ms_max
        )?;
        writeln!(
            f,
            "datagrams sent {} received {} unclaimed {}  retransmissions {}  reconnects {}  flood {}",
            self.extra.datagrams_sent,
            self.extra.datagrams_received,
            self.extra.datagrams_unclaimed,
            self.extra.retransmissions,
            self.extra.reconnects,
            self.extra.flood_sent
        )?;
        write!(
            f,
            "generator: {:.2} s wall, {:.2} s CPU",
            self.extra.run_seconds, self.extra.cpu_seconds
        )?;
        for (cause, n) in &self.failures {
            write!(f, "\nfailed: {n} × {cause}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_rate() {
        let mut r = Recorder::default();
        r.started(Duration::from_secs(1));
        for ms in 1..=100u64 {
            r.up(
                Duration::from_millis(1000 + ms * 10),
                Duration::from_millis(ms),
            );
        }
        r.failed("timeout".into());
        let rep = r.report(101, 100, Extra::default());
        assert_eq!(rep.latency_ms_p50, 50.0);
        assert_eq!(rep.latency_ms_p99, 99.0);
        assert_eq!(rep.latency_ms_max, 100.0);
        assert!((rep.tunnels_per_second - 100.0).abs() < 1e-9);
        assert_eq!(rep.failures["timeout"], 1);
    }
}
