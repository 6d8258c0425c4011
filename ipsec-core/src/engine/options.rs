//! [`EngineOptions`]: the engine's tunables that are not part of the operator's configuration
//! (timers, limits, ports).

use std::time::Duration;

/// Tunables of an [`Engine`](super::Engine). `Default` gives values suitable for production.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineOptions {
    /// Our IKE port (source port of what we initiate on port 500).
    pub ike_port: u16,
    /// Our NAT-T port (RFC 3947 §4): where we float to when a NAT is detected.
    pub nat_t_port: u16,
    /// The first retransmission interval; each next one doubles (1, 2, 4, 8, 16 s).
    pub retransmit_initial: Duration,
    /// How many times a message is retransmitted before the exchange gives up. After the
    /// last retransmission the exchange waits one more doubled interval, so with the defaults
    /// an exchange fails 63 s after its message was first sent.
    pub retransmit_tries: u32,
    /// Most half-open phase 1 negotiations (responder side, peer not yet authenticated) in
    /// total.
    pub max_half_open: usize,
    /// Most half-open phase 1 negotiations from one source address.
    pub max_half_open_per_source: usize,
    /// Most concurrent phase-2 exchanges (quick modes, waiting informational) per ISAKMP SA.
    pub max_exchanges_per_sa: usize,
    /// The initiator of an SA rekeys it when this fraction of its lifetime is left...
    pub rekey_margin: f64,
    /// ... minus up to this further random fraction (so that many SAs made at once are not
    /// all rekeyed at once, and both peers do not rekey together).
    pub rekey_fuzz: f64,
    /// Make-before-break: how long the old IPsec SA lives on after its replacement is up
    /// here, before it is deleted. Quick mode's last message (QM3) is not acknowledged: if
    /// it is lost, the responder installs the new SA only when its retransmitted QM2 brings
    /// QM3 again (after 1, 3, 7, 15, 31 s with the default retransmissions). Deleting the
    /// old SA earlier would leave the responder without a usable SA meanwhile; 30 s covers
    /// four retransmissions.
    pub rekey_delete_delay: Duration,
    /// Length of the nonces we send (RFC 2409 §5: 8..=256).
    pub nonce_len: usize,
    /// Interval of NAT-keepalives (RFC 3948 §2.3) sent while we are behind a NAT; `None`
    /// disables them.
    pub nat_keepalive: Option<Duration>,
    /// Pretend to be behind a NAT (send a random NAT-D hash for our own address) so that ESP
    /// is UDP-encapsulated even without a NAT, as strongSwan's `encap = yes` does.
    pub force_udp_encapsulation: bool,
    /// Most [`Event::Rejected`](super::Event::Rejected) events queued at once; further
    /// rejections are only counted.
    pub max_queued_rejections: usize,
    /// XAuth server: credentials are checked by the driver ([`Event::XauthVerify`] and
    /// [`Engine::xauth_verdict`]) instead of against the `[[user]]` table.
    ///
    /// [`Event::XauthVerify`]: super::Event::XauthVerify
    /// [`Engine::xauth_verdict`]: super::Engine::xauth_verdict
    pub xauth_external: bool,
    /// XAuth server: attempts a client gets before XAUTH-STATUS FAIL.
    pub xauth_tries: u32,
    /// How long XAuth and mode-config may take after phase 1 (a client waiting for an XAuth
    /// server that never asks gives up then).
    pub config_stage_timeout: Duration,
    /// DNS servers a mode-config responder with `system-dns` hands out (the driver reads
    /// the host's resolvers).
    pub system_dns: Vec<std::net::IpAddr>,
    /// IKE fragmentation: a message longer than this (bytes of UDP payload) goes in
    /// fragments to a peer that takes them.
    pub fragment_size: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            ike_port: 500,
            nat_t_port: 4500,
            retransmit_initial: Duration::from_secs(1),
            retransmit_tries: 5,
            max_half_open: 1024,
            max_half_open_per_source: 16,
            max_exchanges_per_sa: 16,
            rekey_margin: 0.1,
            rekey_fuzz: 0.1,
            rekey_delete_delay: Duration::from_secs(30),
            nonce_len: 32,
            nat_keepalive: Some(Duration::from_secs(20)),
            force_udp_encapsulation: false,
            max_queued_rejections: 256,
            xauth_external: false,
            xauth_tries: 3,
            config_stage_timeout: Duration::from_secs(60),
            system_dns: Vec::new(),
            fragment_size: 1280,
        }
    }
}

impl EngineOptions {
    /// The wait after the `sent`-th transmission of a message (1 = the first sending):
    /// `retransmit_initial * 2^(sent-1)`, capped to avoid overflow.
    pub fn retransmit_interval(&self, sent: u32) -> Duration {
        let shift = sent.saturating_sub(1).min(16);
        self.retransmit_initial.saturating_mul(1u32 << shift)
    }

    /// How long an exchange may run in total: every retransmission interval and the final
    /// wait (63 s with the defaults). Also how long a finished exchange keeps its last
    /// message, to answer a retransmission of the peer's.
    pub fn exchange_lifetime(&self) -> Duration {
        (1..=self.retransmit_tries.saturating_add(1))
            .map(|n| self.retransmit_interval(n))
            .fold(Duration::ZERO, Duration::saturating_add)
    }
}
