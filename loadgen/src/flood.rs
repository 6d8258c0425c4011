//! A flood of phase 1 first messages (main mode MM1 or aggressive mode AM1) from spoofed
//! sources: every datagram is a copy of one real first message with a fresh initiator cookie,
//! sent from a random address of a prefix the generator's namespace routes to itself. The
//! spoofed "clients" never answer, so each one leaves the responder a half-open negotiation
//! (RFC 2408 §2.5.3's denial-of-service concern); the server's replies to them arrive here and
//! are counted as unclaimed.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipsec_core::config::Config;
use ipsec_core::engine::{Engine, EngineOptions};

use crate::net::AnySocket;
use crate::profile::Profile;

/// Spoofed first messages at a fixed rate.
pub struct Flood {
    first_message: Vec<u8>,
    server: SocketAddr,
    first_source: u32,
    sources: u32,
    interval: Duration,
    next: Instant,
    rng: u64,
}

impl Flood {
    /// `rate` first messages per second from `sources` addresses starting at `first_source`.
    pub fn new(
        template: &Config,
        rate: f64,
        first_source: Ipv4Addr,
        sources: u32,
    ) -> Result<Self, String> {
        // One real first message, made by an engine with the clients' own configuration.
        let snapshot = Profile::client(template, first_source, 0)?;
        let mut engine = Engine::new(
            Arc::new(snapshot),
            Arc::new(ring::rand::SystemRandom::new()),
            EngineOptions::default(),
        );
        let now = Instant::now();
        engine
            .initiate(now, "gw")
            .map_err(|e| format!("flood template: {e}"))?;
        let t = engine
            .poll_transmit()
            .ok_or("flood template: the engine sent nothing")?;
        Ok(Flood {
            first_message: t.payload,
            server: t.remote,
            first_source: u32::from(first_source),
            sources: sources.max(1),
            interval: Duration::from_secs_f64(1.0 / rate.max(1.0)),
            next: now,
            rng: 0x2545_F491_4F6C_DD1D ^ u64::from(now.elapsed().subsec_nanos()),
        })
    }

    /// When the next spoofed message is due.
    pub fn next_due(&self) -> Instant {
        self.next
    }

    /// Sends the messages due by `now` (at most 1,000 per call, so a late loop does not
    /// burst); returns how many were sent.
    pub fn send_due(&mut self, now: Instant, socket: &AnySocket) -> u64 {
        let mut sent = 0;
        let mut msg = self.first_message.clone();
        while self.next <= now && sent < 1000 {
            let r = self.random();
            // A fresh CKY-I (the first 8 octets of the ISAKMP header, RFC 2408 §3.1).
            msg[..8].copy_from_slice(&r.to_be_bytes());
            let source = Ipv4Addr::from(self.first_source + (r >> 40) as u32 % self.sources);
            if socket.send(&msg, source, self.server).is_ok() {
                sent += 1;
            }
            self.next += self.interval;
        }
        if self.next + self.interval * 1000 < now {
            // Far behind (the loop was busy): skip rather than catch up in a burst.
            self.next = now;
        }
        sent
    }

    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}
