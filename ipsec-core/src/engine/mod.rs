//! The sans-IO IKEv1 engine: it owns every ISAKMP SA and IPsec SA and is the only public
//! driver of the protocol.
//!
//! Like quinn-proto, the engine never touches sockets, threads, the clock or netlink. The
//! driver hands it what happened (a datagram arrived, time passed, an operator or the kernel
//! asked for a tunnel) and polls what to do (datagrams to send, SAs to install or remove):
//!
//! ```text
//! let mut engine = Engine::new(config, rng, EngineOptions::default());
//! engine.initiate(now, "office")?;                 // or engine.acquire(now, PolicyId(0))
//! loop {
//!     while let Some(t) = engine.poll_transmit() { socket.send_to(&t.payload, t.remote) }
//!     while let Some(e) = engine.poll_event() { /* InstallSa, DeleteSa, PeerUp, ... */ }
//!     wait for a datagram or engine.poll_timeout();
//!     engine.handle_datagram(now, local, remote, &payload);   // or
//!     engine.handle_timeout(now);
//! }
//! ```
//!
//! # API
//! - [`Engine::new`] with the validated [`Snapshot`], a `ring` [`SecureRandom`] and
//!   [`EngineOptions`]; [`Engine::with_spi_allocator`] replaces the SPI source (the seam for
//!   kernel-allocated SPIs); [`Engine::set_config`] installs a reloaded configuration (running
//!   SAs keep the terms they were negotiated with).
//! - [`Engine::handle_datagram`]: a UDP payload as received on `local` from `remote`. On the
//!   NAT-T port it is classified with [`wire::framing`](crate::wire::framing): the non-ESP
//!   marker is stripped, keepalives are ignored, ESP-in-UDP is the dataplane's (counted and
//!   dropped here).
//! - [`Engine::initiate`] (phase 1 and a quick mode for each of the peer's policies),
//!   [`Engine::acquire`] (on demand, a kernel ACQUIRE for one policy),
//!   [`Engine::terminate`] (deletes sent, [`Event::DeleteSa`] emitted),
//!   [`Engine::sa_expired`] (a kernel byte-lifetime EXPIRE).
//! - [`Engine::handle_timeout`] / [`Engine::poll_timeout`]: retransmissions, timeouts,
//!   rekeying, expiry, NAT-keepalives. Time comes only from the `now` arguments.
//! - [`Engine::poll_transmit`] ([`Transmit`]: addresses, ports and the payload, non-ESP marker
//!   included on the NAT-T port), [`Engine::poll_event`] ([`Event`]).
//! - Credentials and wall clock (RSA signatures). The engine reads no files and no clock: the
//!   driver reads the files the configuration names (`certificate`, `ca`,
//!   `remote-certificate`, CRL files), builds per configured peer a
//!   [`LocalSigner`](crate::pki::LocalSigner) and a [`PeerVerifier`](crate::pki::PeerVerifier)
//!   and installs them with [`Engine::set_credentials`] ([`Credentials`], by peer name;
//!   reload them with the configuration). [`Engine::set_wall_clock`]`(now, UnixTime)` pairs
//!   one `Instant` with the wall-clock time; certificate validity is then checked at
//!   `unix + (t - now)` for the `now` of each later call (so simulated time ages certificates
//!   too). Without credentials, [`Engine::initiate`] fails with
//!   [`EngineError::NoCredentials`] and a responder refuses with [`Reject::NoCredentials`];
//!   without a wall clock the peer's certificate is refused ([`Reject::NoWallClock`]).
//!
//!   ```text
//!   let signer   = LocalSigner::from_pem_bundle(&fs::read(peer.certificate)?)?;
//!   let verifier = PeerVerifier::new(TrustStore::from_pem(&fs::read(peer.ca)?)?)
//!                      .with_crls(&[&fs::read(crl_file)?])?;
//!   engine.set_credentials(Credentials::new().with_local(&peer.name, signer)
//!                                            .with_verifier(&peer.name, verifier));
//!   engine.set_wall_clock(Instant::now(), UnixTime::from(SystemTime::now()));
//!   ```
//! - [`Engine::stats`] ([`Stats`]: every rejection by its typed [`Reject`] reason),
//!   [`Engine::isakmp_sas`] and [`Engine::ipsec_sas`] (what is up, for listings and tests).
//!
//! # Behaviour
//! - Phase 1: main and aggressive mode, both roles, pre-shared keys and RSA signatures with
//!   X.509 certificates (XAuth and hybrid are a typed "unsupported"). The responder chooses
//!   the peer by address prefix, exchange mode and ID as the manual says; in main mode, where
//!   the ID arrives encrypted with a key that depends on the pre-shared key, each candidate
//!   peer's key is tried (with signatures, each candidate's CA).
//! - RSA signatures: main mode sends CR payloads naming the CAs we trust for the peer in
//!   MM3/MM4 (aggressive mode in AM1/AM2) and `CERT*, SIG` instead of HASH_I/HASH_R in
//!   MM5/MM6 (AM2/AM3); peers that send no CR are answered all the same. The peer's
//!   certificates are validated at the wall-clock time (chain to its configured CA, validity,
//!   CRLs, key usage), its ID against the certificate (unless `remote-id = ignore`), then its
//!   signature; each failure is a typed [`Reject`] ([`Reject::UnknownCa`],
//!   [`Reject::CertificateExpired`], [`Reject::CertificateRevoked`],
//!   [`Reject::CertificateIdMismatch`], [`Reject::InvalidCertificate`],
//!   [`Reject::InvalidSignature`], [`Reject::NoCredentials`], [`Reject::NoWallClock`]) and
//!   earns the peer an unprotected INVALID-CERTIFICATE, AUTHENTICATION-FAILED or
//!   INVALID-SIGNATURE notification.
//! - Quick mode: both roles, PFS or not, tunnel or transport, several per ISAKMP SA; the
//!   responder looks the proposed selectors up among the policies (then the peer's policy
//!   group templates with `generate-policy`), and applies the peer's `proposal-check`.
//! - Informational: authenticated notifications and deletes both ways; INITIAL-CONTACT
//!   removes the peer's older SAs; R-U-THERE is answered.
//! - NAT-T (RFC 3947 and drafts 02/03): Vendor IDs, NAT-D, floating to port 4500 after main
//!   mode message 4 (aggressive mode message 2), UDP-encapsulated modes, keepalives. A peer
//!   that *claims* to be behind a NAT is treated as being behind one.
//! - Reliability: our last message is retransmitted with exponential backoff until answered
//!   or until the retransmissions are used up ([`EngineOptions::retransmit_tries`]); a
//!   retransmission of the peer's message is answered with our stored reply; duplicates are
//!   dropped and counted; every state has a timeout; half-open negotiations are capped in
//!   total and per source address.
//! - Rekeying: an IPsec SA's initiator starts its replacement at a randomised point before
//!   its lifetime ends (the responder later, as a fallback, unless the peer did it), and
//!   deletes the old pair once the new one has been up for
//!   [`EngineOptions::rekey_delete_delay`] (make-before-break). Phase 1 is re-established
//!   before it expires by the side that initiated it. Rekeys by the peer and overlapping SAs
//!   are accepted.
//!
//! The protocol state machines are in the crate-private `phase1` and `phase2` modules; the
//! proposals in [`proposal`](crate::proposal). No input can make the engine panic.

mod child;
mod credentials;
mod error;
mod event;
mod exchanges;
mod fragment;
mod handshake;
mod id_set;
use id_set::PushExact as _;
mod ike;
mod informational;
mod lease;
mod mode_config;
mod nat_mapping;
mod options;
mod peer;
mod quick;
mod spi;
mod stats;
mod timers;
mod transaction;
mod xauth;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use ring::rand::SecureRandom;

use crate::config::{Peer, PolicyAction, Snapshot};
use crate::wire::{Cookie, Datagram, Message, framing};

pub use credentials::{Credentials, CredentialsCause, CredentialsError, WallClock};
pub use error::EngineError;
pub use event::{
    DeleteReason, DeleteSa, Direction, DownReason, Event, InstallSa, IsakmpSpi, MoveSa, NatOa,
    PeerId, Phase, PolicyId, SaLifetime, TrafficSelector, Transmit, TsAddr, UdpEncap,
};
pub use ike::Role;
pub use mode_config::ReceivedConfig;
pub use options::EngineOptions;
pub use spi::{RandomSpis, SpiAllocator};
pub use stats::{Reject, Stats};
pub use xauth::{XauthRequest, XauthVerdict};

use child::{ChildId, ChildSa};
use ike::{IkeId, IkeSa};
use peer::PeerSession;

/// What one ISAKMP SA looks like from outside (see [`Engine::isakmp_sas`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsakmpSaInfo {
    /// Its cookies.
    pub spi: IsakmpSpi,
    /// The peer, once known.
    pub peer: Option<PeerId>,
    /// The configured peer's name, once known.
    pub peer_name: Option<String>,
    /// Main or aggressive mode.
    pub exchange: crate::wire::ExchangeType,
    /// When the negotiation started.
    pub created: Instant,
    /// The negotiated suite, once established.
    pub suite: Option<crate::proposal::phase1::Phase1Suite>,
    /// The peer's identity, once established (if the configuration can name it).
    pub remote_id: Option<crate::config::Identity>,
    /// The peer announced Dead Peer Detection.
    pub peer_dpd: bool,
    /// NAT-T: (we are behind a NAT, the peer is), once established with NAT-T.
    pub nat: Option<(bool, bool)>,
    /// Who initiated it.
    pub role: Role,
    /// Phase 1 is complete.
    pub established: bool,
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's.
    pub remote: SocketAddr,
}

/// What one IPsec SA pair looks like from outside (see [`Engine::ipsec_sas`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpsecSaInfo {
    /// The peer.
    pub peer: PeerId,
    /// The policy, if any.
    pub policy: Option<PolicyId>,
    /// Inbound SPI.
    pub inbound_spi: u32,
    /// Outbound SPI.
    pub outbound_spi: u32,
    /// Selector, our view.
    pub selector: TrafficSelector,
    /// A replacement is up and this pair is about to be deleted.
    pub replaced: bool,
    /// We started the quick mode.
    pub initiator: bool,
    /// Cipher and integrity.
    pub transform: crate::crypto::esp::EspTransform,
    /// Tunnel or transport.
    pub mode: crate::proposal::phase2::Mode,
    /// UDP encapsulation.
    pub encap: Option<UdpEncap>,
    /// The negotiated lifetime.
    pub lifetime: crate::proposal::Lifetime,
    /// When it was installed.
    pub installed: Instant,
    /// When it expires.
    pub expires: Instant,
}

/// Which object a timer belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum TimerKey {
    Ike(IkeId),
    Child(ChildId),
}

/// The IKEv1 engine. See the [module documentation](self).
pub struct Engine {
    config: Arc<Snapshot>,
    rng: Arc<dyn SecureRandom + Send + Sync>,
    options: EngineOptions,
    spis: Box<dyn SpiAllocator>,
    next_id: u64,
    /// Values boxed here and in `children` and `peers`: a map node holds eleven entries,
    /// full or not, and these are 220 to 310 bytes each (boxing saved 0.5 KB per tunnel).
    ike: BTreeMap<IkeId, Box<IkeSa>>,
    /// Both cookies → SA.
    by_spi: BTreeMap<[u8; 16], IkeId>,
    /// Our CKY-I → SA, until the responder's cookie is known.
    initiated: BTreeMap<Cookie, IkeId>,
    /// The peer's CKY-I and address → our half-open responder SA (for retransmitted first
    /// messages, which carry no responder cookie).
    responding: BTreeMap<(Cookie, SocketAddr), IkeId>,
    children: BTreeMap<ChildId, Box<ChildSa>>,
    peers: BTreeMap<PeerId, Box<PeerSession>>,
    timers: BTreeSet<(Instant, TimerKey)>,
    scheduled: BTreeMap<TimerKey, Instant>,
    half_open: BTreeMap<IpAddr, usize>,
    half_open_total: usize,
    /// The half-open responder negotiations, oldest first (ids grow with time).
    half_open_ids: BTreeSet<IkeId>,
    /// Peer sessions by their peer's address (canonical): a superset, checked against
    /// `peers` on every lookup and rebuilt when it grows past twice their number. A linear
    /// search over the sessions for each new phase 1 was 65 % of the responder's time with
    /// 70,000 road warriors.
    sessions_by_ip: std::collections::HashMap<IpAddr, Vec<PeerId>>,
    sessions_indexed: usize,
    /// Peer sessions by XAuth user, a superset kept like `sessions_by_ip`.
    sessions_by_user: std::collections::HashMap<Arc<str>, Vec<PeerId>>,
    users_indexed: usize,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    queued_rejections: usize,
    stats: Stats,
    credentials: Arc<Credentials>,
    wall_clock: Option<WallClock>,
    leases: lease::Leases,
    /// IKE fragments being reassembled.
    reassembly: fragment::Reassembly,
    /// CKY-I of the ISAKMP SAs whose peer takes fragments.
    fragmenting: BTreeSet<crate::wire::Cookie>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("isakmp_sas", &self.ike.len())
            .field("ipsec_sas", &self.children.len())
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with no SAs.
    pub fn new(
        config: Arc<Snapshot>,
        rng: Arc<dyn SecureRandom + Send + Sync>,
        options: EngineOptions,
    ) -> Self {
        Engine {
            config,
            rng,
            options,
            spis: Box::new(RandomSpis::default()),
            next_id: 1,
            ike: BTreeMap::new(),
            by_spi: BTreeMap::new(),
            initiated: BTreeMap::new(),
            responding: BTreeMap::new(),
            children: BTreeMap::new(),
            peers: BTreeMap::new(),
            timers: BTreeSet::new(),
            scheduled: BTreeMap::new(),
            half_open: BTreeMap::new(),
            half_open_total: 0,
            half_open_ids: BTreeSet::new(),
            sessions_by_ip: std::collections::HashMap::new(),
            sessions_indexed: 0,
            sessions_by_user: std::collections::HashMap::new(),
            users_indexed: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            queued_rejections: 0,
            stats: Stats::default(),
            credentials: Arc::new(Credentials::default()),
            wall_clock: None,
            leases: lease::Leases::default(),
            reassembly: fragment::Reassembly::default(),
            fragmenting: BTreeSet::new(),
        }
    }

    /// Uses `spis` for inbound SPIs instead of the engine's random allocator.
    pub fn with_spi_allocator(mut self, spis: Box<dyn SpiAllocator>) -> Self {
        self.spis = spis;
        self
    }

    /// Installs a new configuration. Running SAs keep what they negotiated; new negotiations
    /// (rekeys included) use the new configuration. Policies are numbered by their position
    /// in the file, so a reload that adds, removes or moves one renumbers the others: every
    /// SA and pending request follows its policy to the new number ([`Policy::same_as`]);
    /// one whose policy is gone keeps running without a policy until it expires or is
    /// deleted, and is not rekeyed for it.
    ///
    /// [`Policy::same_as`]: crate::config::Policy::same_as
    pub fn set_config(&mut self, config: Arc<Snapshot>) {
        let old = std::mem::replace(&mut self.config, config);
        let new = Arc::clone(&self.config);
        let follow = |id: &mut Option<PolicyId>| {
            if let Some(PolicyId(i)) = *id {
                *id = old
                    .all_policies()
                    .iter()
                    .find(|p| p.index == i)
                    .and_then(|p| new.all_policies().iter().find(|q| q.same_as(p)))
                    .map(|q| PolicyId(q.index));
            }
        };
        for c in self.children.values_mut() {
            follow(&mut c.policy);
        }
        for s in self.peers.values_mut() {
            for r in &mut s.pending {
                follow(&mut r.policy);
            }
        }
        for sa in self.ike.values_mut() {
            if let Some(e) = sa.established_mut() {
                for x in e.exchanges.values_mut() {
                    if let ike::Exchange::QuickInitiator { request, .. }
                    | ike::Exchange::QuickResponder { request, .. } = x
                    {
                        follow(&mut request.policy);
                    }
                }
            }
        }
    }

    /// Installs the certificates, keys and trust anchors of the configured peers (RSA
    /// signatures). Negotiations started afterwards use them; running ones keep theirs.
    pub fn set_credentials(&mut self, credentials: Credentials) {
        self.credentials = Arc::new(credentials);
    }

    /// The credentials in use.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Tells the engine that `now` is wall-clock time `unix`. Certificate validity (and CRL
    /// freshness) is then checked at `unix + (t - now)` for every later `t` the driver
    /// passes. Call it again to correct for wall-clock steps. Without it, RSA-signature
    /// authentication fails with [`Reject::NoWallClock`].
    pub fn set_wall_clock(&mut self, now: Instant, unix: crate::pki::UnixTime) {
        self.wall_clock = Some(WallClock { instant: now, unix });
    }

    /// The wall-clock time at `now`, if a wall clock was set.
    pub fn wall_time(&self, now: Instant) -> Option<crate::pki::UnixTime> {
        self.wall_clock.map(|w| w.at(now))
    }

    /// The configuration in use.
    pub fn config(&self) -> &Snapshot {
        &self.config
    }

    /// The options in use.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        let e = self.events.pop_front()?;
        if matches!(e, Event::Rejected { .. }) {
            self.queued_rejections = self.queued_rejections.saturating_sub(1);
        }
        Some(e)
    }

    /// When [`Engine::handle_timeout`] should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Every ISAKMP SA, half-open ones included.
    pub fn isakmp_sas(&self) -> Vec<IsakmpSaInfo> {
        self.ike
            .values()
            .map(|sa| IsakmpSaInfo {
                spi: sa.spi(),
                peer: sa.peer,
                peer_name: match &sa.state {
                    ike::IkeState::Negotiating(h) => h.peer_name().map(str::to_owned),
                    ike::IkeState::Established(e) => Some(e.sa.peer_name.clone()),
                },
                exchange: sa.exchange,
                created: sa.created,
                suite: sa.established().map(|e| e.sa.suite),
                remote_id: sa.established().and_then(|e| e.sa.remote_id.clone()),
                peer_dpd: sa.established().is_some_and(|e| e.sa.peer_dpd),
                nat: sa
                    .established()
                    .and_then(|e| e.sa.nat.map(|n| (n.local_behind, n.remote_behind))),
                role: sa.role,
                established: sa.established().is_some(),
                local: sa.local,
                remote: sa.remote,
            })
            .collect()
    }

    /// Every installed IPsec SA pair.
    pub fn ipsec_sas(&self) -> Vec<IpsecSaInfo> {
        self.children
            .values()
            .map(|c| IpsecSaInfo {
                peer: c.peer,
                policy: c.policy,
                inbound_spi: c.our_spi,
                outbound_spi: c.peer_spi,
                selector: c.selector,
                replaced: c.rekey == child::Rekey::Replaced,
                initiator: c.initiator,
                transform: c.esp,
                mode: c.mode,
                encap: c.encap,
                lifetime: c.lifetime,
                installed: c.installed,
                expires: c.hard_at,
            })
            .collect()
    }

    /// The configured name of one peer session (O(log n), unlike [`Engine::peers`]).
    pub fn peer_name(&self, peer: PeerId) -> Option<&str> {
        self.peers.get(&peer).map(|s| s.name.as_str())
    }

    /// The peers with at least one SA or negotiation.
    pub fn peers(&self) -> Vec<(PeerId, String)> {
        self.peers
            .iter()
            .map(|(id, s)| (*id, s.name.clone()))
            .collect()
    }

    /// A UDP payload as received on `local` from `remote`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
    ) {
        self.stats.datagrams_received += 1;
        let bytes = if local.port() == self.options.nat_t_port {
            match framing::classify_nat_t(payload) {
                Ok(Datagram::Ike(bytes)) => bytes,
                Ok(Datagram::NatKeepalive) => {
                    self.stats.keepalives_received += 1;
                    return;
                }
                Ok(Datagram::Esp { .. }) => {
                    self.stats.esp_in_udp_dropped += 1;
                    return;
                }
                Err(_) => return self.reject(local, remote, Reject::Framing),
            }
        } else {
            payload
        };
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(e) => return self.reject(local, remote, e.into()),
        };
        self.stats.ike_received += 1;
        if msg.header.next_payload == crate::wire::PayloadType::Fragment {
            return self.on_fragment(now, local, remote, &msg);
        }
        self.on_message(now, local, remote, &msg);
    }

    /// One IKE fragment: kept until its message is whole, which is then handled as if it
    /// had come in one datagram.
    fn on_fragment(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message<'_>,
    ) {
        let fragment = msg.payloads().and_then(|c| {
            let mut it = c.iter();
            match (it.next(), it.next()) {
                (Some(p), None) => crate::wire::Fragment::parse(p.body()).ok(),
                _ => None,
            }
        });
        let Some(fragment) = fragment else {
            return self.reject(local, remote, Reject::Fragment);
        };
        let whole = match self.reassembly.add(now, remote, &msg.header, &fragment) {
            Ok(Some(w)) => w,
            Ok(None) => return,
            Err(_) => return self.reject(local, remote, Reject::Fragment),
        };
        let inner = match Message::parse(&whole) {
            Ok(m) if m.header.next_payload != crate::wire::PayloadType::Fragment => m,
            Ok(_) => return self.reject(local, remote, Reject::Fragment),
            Err(e) => return self.reject(local, remote, e.into()),
        };
        self.stats.fragmented_received += 1;
        // A peer that sends fragments takes them too.
        self.peer_fragments(inner.header.initiator_cookie);
        self.on_message(now, local, remote, &inner);
    }

    /// The peer of the ISAKMP SA with CKY-I `cky_i` takes fragments. Entries go with their
    /// SA; those of first messages that never made one are pruned once they outnumber the
    /// SAs (amortised, so the set stays bounded by the SAs).
    fn peer_fragments(&mut self, cky_i: crate::wire::Cookie) {
        self.fragmenting.insert(cky_i);
        if self.fragmenting.len() > 2 * self.ike.len() + 64 {
            let live: BTreeSet<crate::wire::Cookie> =
                self.ike.values().map(|sa| sa.cky_i).collect();
            self.fragmenting.retain(|c| live.contains(c));
        }
    }

    /// Starts phase 1 with the peer called `name` (unless one is up or under way) and a quick
    /// mode for each of its policies: the enabled `encrypt` policies whose `sa-dst-address`
    /// this peer serves.
    pub fn initiate(&mut self, now: Instant, name: &str) -> Result<PeerId, EngineError> {
        let config = Arc::clone(&self.config);
        let peer = self.initiable_peer(&config, name)?;
        let (remote, local) = self.peer_addresses(&config, peer)?;
        let pid = self.session(peer, remote, local);
        let requests = self.policy_requests(&config, peer, remote.ip());
        if requests.is_empty() {
            self.ensure_phase1(now, pid)?;
        }
        for r in requests {
            self.request_child(now, pid, r)?;
        }
        Ok(pid)
    }

    /// Negotiates an IPsec SA for one policy (a kernel ACQUIRE): with the peer that serves
    /// its `sa-dst-address`, starting phase 1 if needed. Nothing happens if an SA or a
    /// negotiation for it exists.
    pub fn acquire(&mut self, now: Instant, policy: PolicyId) -> Result<PeerId, EngineError> {
        let config = Arc::clone(&self.config);
        let p = config
            .policies()
            .find(|p| p.index == policy.0 && p.action == PolicyAction::Encrypt)
            .ok_or(EngineError::UnknownPolicy(policy.0))?;
        let dst = p
            .sa_dst_address
            .ok_or(EngineError::NoPeerForPolicy(policy.0))?;
        let peer = config
            .initiator_peer(dst)
            .ok_or(EngineError::NoPeerForPolicy(policy.0))?;
        let peer = self.initiable_peer(&config, &peer.name)?;
        let remote = SocketAddr::new(dst, peer.port);
        let local = SocketAddr::new(
            peer.local_address
                .or(p.sa_src_address)
                .unwrap_or_else(|| unspecified(dst)),
            self.options.ike_port,
        );
        let pid = self.session(peer, remote, local);
        let request = self.policy_request(&config, p)?;
        self.request_child(now, pid, request)?;
        Ok(pid)
    }

    /// Ends everything with `peer`: Delete notifications for its IPsec SAs and ISAKMP SAs
    /// (when an ISAKMP SA is up to carry them), [`Event::DeleteSa`] for each IPsec SA,
    /// then [`Event::PeerDown`].
    pub fn terminate(&mut self, now: Instant, peer: PeerId) {
        self.end_session(now, peer, DeleteReason::Terminated, DownReason::Terminated);
    }

    /// Removes every SA of the session with `peer` (telling the peer, which is harmless
    /// when it is dead) and reports it down.
    fn end_session(&mut self, now: Instant, peer: PeerId, why: DeleteReason, down: DownReason) {
        let Some(session) = self.peers.get(&peer) else {
            return;
        };
        let children: Vec<ChildId> = session.children.iter().copied().collect();
        let ikes: Vec<IkeId> = session.ike.iter().copied().collect();
        let spis: Vec<u32> = children
            .iter()
            .filter_map(|c| self.children.get(c).map(|c| c.our_spi))
            .collect();
        if let Some(ike) = self.current_ike(peer) {
            let _ = self.send_delete_esp(now, ike, &spis);
        }
        // The session goes first, so that removing its SAs reports nothing on its own.
        let up = self.peers.remove(&peer).is_some_and(|s| s.up);
        self.leases.release(peer);
        for c in children {
            self.remove_child(now, c, why, false);
        }
        for id in ikes {
            self.remove_ike(now, id, true);
        }
        if up {
            self.events
                .push_back(Event::PeerDown { peer, reason: down });
        }
    }

    /// The dataplane saw ESP arrive on the inbound SAs with these SPIs since it last said
    /// so: their peers are alive, and dead peer detection, which probes only after
    /// `dpd-interval` without a sign of life (RFC 3706 §5.3 lets IPsec traffic count as
    /// one), leaves busy tunnels alone. One pass over the SAs whatever the number of SPIs.
    pub fn esp_received(&mut self, now: Instant, spis: &[u32]) {
        if spis.is_empty() {
            return;
        }
        let spis: BTreeSet<u32> = spis.iter().copied().collect();
        let alive: BTreeSet<PeerId> = self
            .children
            .values()
            .filter(|c| spis.contains(&c.our_spi))
            .map(|c| c.peer)
            .collect();
        for pid in alive {
            let ikes: Vec<IkeId> = self
                .peers
                .get(&pid)
                .map(|s| s.ike.iter().copied().collect())
                .unwrap_or_default();
            for id in ikes {
                if let Some(sa) = self.ike.get_mut(&id) {
                    sa.heard_from(now);
                }
                self.reschedule_ike(id);
            }
        }
    }

    /// The kernel reports that the IPsec SA with inbound or outbound SPI `spi` reached its
    /// soft (`hard = false`: rekey now) or hard (delete now) byte limit.
    pub fn sa_expired(&mut self, now: Instant, spi: u32, hard: bool) {
        let Some(id) = self
            .children
            .iter()
            .find(|(_, c)| c.our_spi == spi || c.peer_spi == spi)
            .map(|(id, _)| *id)
        else {
            return;
        };
        if hard {
            self.remove_child(now, id, DeleteReason::Expired, true);
        } else if let Some(c) = self.children.get_mut(&id) {
            c.soft_at = now;
            self.reschedule_child(id);
            self.handle_timeout(now);
        }
    }

    // --- helpers shared by the submodules ------------------------------------------------

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn random_bytes<const N: usize>(&self) -> Result<[u8; N], Reject> {
        let mut b = [0u8; N];
        self.rng
            .fill(&mut b)
            .map_err(|_| Reject::Internal("random number generator"))?;
        Ok(b)
    }

    /// A random fraction in [0, 1).
    fn random_fraction(&self) -> f64 {
        self.random_bytes::<4>()
            .map(|b| f64::from(u32::from_be_bytes(b)) / (f64::from(u32::MAX) + 1.0))
            .unwrap_or(0.5)
    }

    /// Counts a rejection and reports it (bounded).
    fn reject(&mut self, local: SocketAddr, remote: SocketAddr, reason: Reject) {
        self.stats.reject(reason);
        if self.queued_rejections < self.options.max_queued_rejections {
            self.queued_rejections += 1;
            self.events.push_back(Event::Rejected {
                local,
                remote,
                reason,
            });
        } else {
            self.stats.rejections_unreported += 1;
        }
    }

    /// Queues an ISAKMP message from `local` to `remote`, with the non-ESP marker on the
    /// NAT-T port.
    fn send(&mut self, local: SocketAddr, remote: SocketAddr, message: &[u8]) {
        if message.len() > self.options.fragment_size
            && let Some(cky_i) = message.get(..8).and_then(|c| <[u8; 8]>::try_from(c).ok())
            && self.fragmenting.contains(&cky_i)
        {
            // The same message always gets the same fragment ID, so that the peer can
            // complete it from the pieces of several retransmissions.
            let d = ike::digest(message);
            let id = u16::from_be_bytes([d[0], d[1]]);
            if let Some(pieces) = fragment::split(message, id, self.options.fragment_size) {
                self.stats.fragmented_sent += 1;
                for piece in pieces {
                    self.send_datagram(local, remote, &piece);
                }
                return;
            }
        }
        self.send_datagram(local, remote, message);
    }

    /// Queues one datagram, with the non-ESP marker on the NAT-T port.
    fn send_datagram(&mut self, local: SocketAddr, remote: SocketAddr, message: &[u8]) {
        let mut payload = Vec::with_capacity(message.len() + 4);
        if local.port() == self.options.nat_t_port {
            framing::emit_non_esp_marker(&mut payload);
        }
        payload.extend_from_slice(message);
        self.stats.datagrams_sent += 1;
        self.transmits.push_back(Transmit {
            local,
            remote,
            payload,
        });
    }

    fn schedule(&mut self, key: TimerKey, at: Option<Instant>) {
        if let Some(old) = self.scheduled.remove(&key) {
            self.timers.remove(&(old, key));
        }
        if let Some(at) = at {
            self.timers.insert((at, key));
            self.scheduled.insert(key, at);
        }
    }

    fn reschedule_ike(&mut self, id: IkeId) {
        let at = self.ike.get(&id).and_then(|s| s.deadline());
        self.schedule(TimerKey::Ike(id), at);
    }

    fn reschedule_child(&mut self, id: ChildId) {
        let at = self.children.get(&id).map(|c| c.deadline());
        self.schedule(TimerKey::Child(id), at);
    }

    /// The configured peer `name`, if we may initiate to it.
    fn initiable_peer<'c>(
        &self,
        config: &'c Snapshot,
        name: &str,
    ) -> Result<&'c Peer, EngineError> {
        let peer = config
            .peer(name)
            .ok_or_else(|| EngineError::UnknownPeer(name.to_owned()))?;
        if peer.disabled {
            return Err(EngineError::PeerDisabled(name.to_owned()));
        }
        if peer.passive {
            return Err(EngineError::PeerPassive(name.to_owned()));
        }
        Ok(peer)
    }

    /// Whether we may start negotiations with the session's peer.
    fn can_initiate(&self, pid: PeerId) -> bool {
        self.peers
            .get(&pid)
            .and_then(|s| self.config.peer(&s.name))
            .is_some_and(|p| !p.disabled && !p.passive)
    }

    /// Where to reach `peer` and from where: its address if it is a host, else the first
    /// policy's `sa-dst-address` inside its prefix.
    fn peer_addresses(
        &self,
        config: &Snapshot,
        peer: &Peer,
    ) -> Result<(SocketAddr, SocketAddr), EngineError> {
        let policy = config.policies().find(|p| {
            p.action == PolicyAction::Encrypt
                && p.sa_dst_address.is_some_and(|d| peer.address.contains(d))
        });
        let remote = if peer.address.is_host() {
            peer.address.addr()
        } else {
            policy
                .and_then(|p| p.sa_dst_address)
                .ok_or_else(|| EngineError::NoRemoteAddress(peer.name.clone()))?
        };
        let local = peer
            .local_address
            .or_else(|| {
                policy
                    .filter(|p| p.sa_dst_address == Some(remote))
                    .and_then(|p| p.sa_src_address)
            })
            .unwrap_or_else(|| unspecified(remote));
        Ok((
            SocketAddr::new(remote, peer.port),
            SocketAddr::new(local, self.options.ike_port),
        ))
    }

    /// The session with `peer` at `remote`, created if needed.
    fn session(&mut self, peer: &Peer, remote: SocketAddr, local: SocketAddr) -> PeerId {
        if let Some(id) = self
            .sessions_at(remote.ip())
            .into_iter()
            .find(|id| self.peers.get(id).is_some_and(|s| s.name == peer.name))
        {
            return id;
        }
        let id = PeerId(self.next_id());
        self.peers.insert(
            id,
            Box::new(PeerSession::new(peer.name.clone(), remote, local)),
        );
        self.index_session(id, remote.ip());
        id
    }

    /// The sessions whose peer is at `ip`, lowest id first (the order a search over `peers`
    /// would find them in).
    fn sessions_at(&self, ip: IpAddr) -> Vec<PeerId> {
        let ip = ip.to_canonical();
        let mut v: Vec<PeerId> = self
            .sessions_by_ip
            .get(&ip)
            .into_iter()
            .flatten()
            .copied()
            .filter(|id| {
                self.peers
                    .get(id)
                    .is_some_and(|s| s.remote.ip().to_canonical() == ip)
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Files session `pid` under its XAuth `user`.
    fn index_user(&mut self, pid: PeerId, user: &Arc<str>) {
        self.sessions_by_user
            .entry(Arc::clone(user))
            .or_default()
            .push_exact(pid);
        self.users_indexed += 1;
        if self.users_indexed > 2 * self.peers.len() + 64 {
            self.sessions_by_user.clear();
            self.users_indexed = 0;
            for (id, s) in &self.peers {
                if let Some(u) = &s.user {
                    self.sessions_by_user
                        .entry(u.clone())
                        .or_default()
                        .push_exact(*id);
                    self.users_indexed += 1;
                }
            }
        }
    }

    /// Files session `pid` under `ip` (at creation, and when its peer's address changes).
    fn index_session(&mut self, pid: PeerId, ip: IpAddr) {
        self.sessions_by_ip
            .entry(ip.to_canonical())
            .or_default()
            .push_exact(pid);
        self.sessions_indexed += 1;
        if self.sessions_indexed > 2 * self.peers.len() + 64 {
            // Amortised clean-up of sessions that are gone or have moved.
            self.sessions_by_ip.clear();
            self.sessions_indexed = self.peers.len();
            for (id, s) in &self.peers {
                self.sessions_by_ip
                    .entry(s.remote.ip().to_canonical())
                    .or_default()
                    .push_exact(*id);
            }
        }
    }

    /// The ISAKMP SA that new exchanges with `pid` use: the newest established one that has
    /// not been replaced.
    fn current_ike(&self, pid: PeerId) -> Option<IkeId> {
        let s = self.peers.get(&pid)?;
        s.ike
            .iter()
            .filter_map(|id| {
                let e = self.ike.get(id)?.established()?;
                (!e.replaced).then_some((e.since, *id))
            })
            .max()
            .map(|(_, id)| id)
    }

    /// Whether a phase 1 with `pid` is under way.
    fn negotiating_ike(&self, pid: PeerId) -> Option<IkeId> {
        let s = self.peers.get(&pid)?;
        s.ike.iter().copied().find(|id| {
            self.ike
                .get(id)
                .is_some_and(|sa| sa.established().is_none() && sa.role == Role::Initiator)
        })
    }

    /// Removes the session if it has nothing left, reporting `PeerDown`.
    fn check_session(&mut self, pid: PeerId, reason: DownReason) {
        if self.peers.get(&pid).is_some_and(|s| s.is_empty())
            && let Some(s) = self.peers.remove(&pid)
            && {
                self.leases.release(pid);
                s.up
            }
        {
            self.events.push_back(Event::PeerDown { peer: pid, reason });
        }
    }

    /// Half-open accounting.
    fn half_open_add(&mut self, addr: IpAddr) {
        *self.half_open.entry(addr).or_insert(0) += 1;
        self.half_open_total += 1;
    }

    fn half_open_remove(&mut self, addr: IpAddr) {
        if let Some(n) = self.half_open.get_mut(&addr) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.half_open.remove(&addr);
            }
        }
        self.half_open_total = self.half_open_total.saturating_sub(1);
    }
}

/// The unspecified address of `addr`'s family.
fn unspecified(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}
