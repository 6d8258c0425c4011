//! The adapter between the daemon and the IKE engine (`ipsec_core::engine`).
//!
//! The daemon talks only to [`IkeDriver`], in its own types ([`Transmit`], [`DriverEvent`],
//! [`SaInstall`], ...), so that the engine's API can change without touching the rest of
//! `iked`: this file is the only one that names `ipsec_core::engine`.
//!
//! - With the `engine` feature (the default), [`new_driver`] gives [`EngineDriver`], which owns
//!   an [`Engine`](ipsec_core::engine::Engine) and translates both ways.
//! - Without it, [`NotWired`]: the daemon still runs its sockets, kernel policies and control
//!   socket, drops received IKE datagrams (counted), and answers every request that needs the
//!   engine with [`DriverError::NotWired`]. Nothing is negotiated and nothing pretends to be.

// Without the engine nothing produces SAs or refusals; the types stay for the daemon's code.
#![cfg_attr(not(feature = "engine"), allow(dead_code))]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipsec_core::config::Snapshot;
use ipsec_core::engine::Credentials;

use crate::control::{Counter, EngineState, PeerRow};

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Source address and port; the address may be unspecified (routing picks).
    pub local: SocketAddr,
    /// Destination.
    pub remote: SocketAddr,
    /// UDP payload (non-ESP marker included on the NAT-T port).
    pub payload: Vec<u8>,
}

/// The traffic an SA carries, from this host's view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SaSelector {
    /// Our side.
    pub local: xfrm::Prefix,
    /// The peer's side.
    pub remote: xfrm::Prefix,
    /// IP protocol, 0 for all.
    pub protocol: u8,
    /// Our port, 0 for all.
    pub local_port: u16,
    /// The peer's port, 0 for all.
    pub remote_port: u16,
}

/// Lifetimes of an SA, from installation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaLifetimes {
    /// The SA must be gone by then (the engine deletes it; the kernel's hard limit is a
    /// backstop set a little later).
    pub hard: Duration,
    /// When the engine starts replacing it.
    pub soft: Duration,
    /// Hard byte limit.
    pub hard_bytes: Option<u64>,
    /// Soft byte limit (the kernel reports it; the driver tells the engine).
    pub soft_bytes: Option<u64>,
}

/// One direction of an ESP SA to install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaInstall {
    /// The configured peer's name, when known.
    pub peer: Option<Arc<str>>,
    /// The session (one peer at one remote address) it belongs to.
    pub session: Option<u64>,
    /// The `[[policy]]` index (from 0) it was negotiated for, if any.
    pub policy: Option<usize>,
    /// Inbound (our SPI) or outbound.
    pub inbound: bool,
    /// SPI.
    pub spi: u32,
    /// Outer source.
    pub src: IpAddr,
    /// Outer destination.
    pub dst: IpAddr,
    /// Tunnel (else transport) mode.
    pub tunnel: bool,
    /// ESP-in-UDP: (our port, the peer's port).
    pub encap: Option<(u16, u16)>,
    /// Algorithms and keys, as the kernel takes them.
    pub transform: xfrm::EspTransform,
    /// Traffic selector, when it is expressible as prefixes.
    pub selector: Option<SaSelector>,
    /// Lifetimes.
    pub lifetime: SaLifetimes,
    /// The SPI of the SA it replaces, if a rekey.
    pub replaces: Option<u32>,
    /// Anti-replay window in packets (inbound SAs; `[daemon] replay-window`).
    pub replay_window: u32,
    /// Transport mode through a NAT: the addresses the peer's TCP/UDP checksums cover, from
    /// its NAT-OA payloads (RFC 3947 §5.2): (ours as the peer knows it, the peer's original).
    /// The userspace dataplane fixes inbound checksums with them (RFC 3948 §3.1.2); the kernel
    /// gets the peer's as the SA's encapsulation original address.
    pub nat_oa: Option<(IpAddr, IpAddr)>,
}

/// One direction of an SA to remove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaDelete {
    /// SPI.
    pub spi: u32,
    /// Outer source, as installed.
    pub src: IpAddr,
    /// Outer destination, as installed.
    pub dst: IpAddr,
    /// Inbound or outbound.
    pub inbound: bool,
    /// Why, for the log.
    pub reason: String,
}

/// One direction of an installed SA to move to the peer's new NAT mapping (same SPI, keys
/// and sequence numbers; new outer addresses and UDP ports).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaMove {
    /// SPI.
    pub spi: u32,
    /// Inbound or outbound.
    pub inbound: bool,
    /// Outer destination before the move (with the SPI, the kernel's key).
    pub old_dst: IpAddr,
    /// New outer source.
    pub src: IpAddr,
    /// New outer destination.
    pub dst: IpAddr,
    /// New UDP encapsulation: (our port, the peer's port).
    pub encap: Option<(u16, u16)>,
}

/// What a mode-config server gave us as its client (draft-dukes-ike-mode-cfg-02): the
/// virtual address our quick modes use as their local selector, to put on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualIp {
    /// The configured peer (the server).
    pub peer: String,
    /// The virtual address.
    pub address: IpAddr,
    /// The prefix length the server sent, for the log only: the address is installed as a
    /// host address, since the server's "netmask" says nothing about what is on-link for us.
    pub prefix_len: Option<u8>,
    /// DNS servers: logged, not applied.
    pub dns: Vec<IpAddr>,
    /// Networks the server wants tunnelled (Cisco Unity split-include); empty for "what the
    /// policies say".
    pub split_include: Vec<xfrm::Prefix>,
}

/// An XAuth user's credentials to check (a peer served by `[[radius]]`); answered with
/// [`IkeDriver::xauth_verdict`].
#[derive(Clone, PartialEq, Eq)]
pub struct XauthCheck {
    /// The request, for the answer.
    pub request: u64,
    /// The session it belongs to.
    pub session: u64,
    /// The configured peer's name.
    pub peer: String,
    /// The user name the client sent.
    pub user: String,
    /// The password the client sent.
    pub password: zeroize::Zeroizing<Vec<u8>>,
    /// Our IKE address.
    pub local: Option<SocketAddr>,
    /// The client's IKE address (behind a NAT: the NAT's).
    pub remote: SocketAddr,
}

impl std::fmt::Debug for XauthCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XauthCheck")
            .field("request", &self.request)
            .field("session", &self.session)
            .field("peer", &self.peer)
            .field("user", &self.user)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

/// The answer to an [`XauthCheck`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XauthAnswer {
    /// The credentials are good.
    pub accept: bool,
    /// The address mode-config gives the user (RADIUS Framed-IP-Address).
    pub address: Option<IpAddr>,
    /// Its prefix length (Framed-IP-Netmask).
    pub prefix_len: Option<u8>,
    /// Networks behind the client (Framed-Route).
    pub routes: Vec<ipsec_core::config::IpPrefix>,
}

/// Why a session ended, for accounting (RFC 2866 Acct-Terminate-Cause).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// All its SAs were deleted (by the peer, or expired).
    SasGone,
    /// Terminated here (operator, RADIUS, timeouts).
    Terminated,
    /// Dead peer detection.
    DeadPeer,
    /// Phase 1 never completed.
    Failed,
}

/// What accounting needs to know of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The XAuth user authenticated.
    User { session: u64, user: String },
    /// Mode-config gave the session this address.
    Address { session: u64, address: IpAddr },
    /// The session is over.
    Down { session: u64, end: SessionEnd },
}

/// What the engine asks the daemon to do or know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriverEvent {
    /// Install an SA in the kernel.
    InstallSa(Box<SaInstall>),
    /// Remove an SA from the kernel.
    DeleteSa(SaDelete),
    /// Move an SA to the peer's new NAT mapping.
    MoveSa(SaMove),
    /// Mode-config client: put this virtual address on an interface and route the tunnelled
    /// networks from it.
    VirtualIp(Box<VirtualIp>),
    /// Mode-config client: the session that got `address` from `peer` is gone; remove what
    /// [`DriverEvent::VirtualIp`] added.
    VirtualIpGone {
        /// The configured peer.
        peer: String,
        /// The address it had given.
        address: IpAddr,
    },
    /// Check an XAuth user's credentials elsewhere (RADIUS).
    XauthVerify(Box<XauthCheck>),
    /// A session's user, address or end (RADIUS accounting).
    Session(SessionEvent),
    /// Something to log at info level (peer up/down, phase 1 SAs).
    Info(String),
    /// Something to log at warn level (failed negotiations, rejected datagrams).
    Warn(String),
}

/// What the engine knows of one installed SA (by SPI).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaState {
    /// Peer name.
    pub peer: Option<Arc<str>>,
    /// A replacement is up; it is deleted soon.
    pub replaced: bool,
}

/// Why a driver call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// This build does not drive the engine.
    #[error(
        "the IKE engine is not wired into this build of iked (built without the `engine` \
         feature): nothing is negotiated"
    )]
    NotWired,
    /// The engine refused (unknown or passive peer, limits, ...).
    #[error("{0}")]
    Refused(String),
}

/// What the daemon needs from an IKE engine. See the module documentation.
pub trait IkeDriver: Send {
    /// Whether negotiations happen.
    fn state(&self) -> EngineState;
    /// A reloaded configuration; running SAs keep their terms.
    /// A new configuration (SIGHUP) and the credentials read from the files it names.
    fn set_config(&mut self, config: Arc<Snapshot>, credentials: Credentials);
    /// A datagram received on `local` from `remote`.
    fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
    );
    /// Time passed: retransmissions, rekeys, expiries.
    fn handle_timeout(&mut self, now: Instant);
    /// When [`IkeDriver::handle_timeout`] is next due.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The next datagram to send.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// The next event.
    fn poll_event(&mut self) -> Option<DriverEvent>;
    /// Bring up the peer called `name`.
    fn initiate(&mut self, now: Instant, name: &str) -> Result<(), DriverError>;
    /// The kernel wants an SA for `[[policy]]` number `policy` (from 0).
    fn acquire(&mut self, now: Instant, policy: usize) -> Result<(), DriverError>;
    /// Terminate the peers called `name` (every peer for `None`); how many there were.
    fn terminate(&mut self, now: Instant, name: Option<&str>) -> Result<usize, DriverError>;
    /// The kernel reports an SA's byte limit (soft: rekey; hard: it is gone), or the SA was
    /// removed by an operator (`flush`).
    fn sa_expired(&mut self, now: Instant, spi: u32, hard: bool);
    /// ESP arrived on these inbound SAs since the last call (dead peer detection).
    fn esp_received(&mut self, now: Instant, spis: &[u32]);
    /// Phase 1 SAs, for `iked status`.
    fn peers(&self, now: Instant) -> Result<Vec<PeerRow>, DriverError>;
    /// What the engine knows of each installed SA, by SPI (both SPIs of a pair), built in
    /// one pass for a listing (a lookup per SA made listings O(n²)).
    fn sa_states(&self) -> HashMap<u32, SaState>;
    /// Counters, for `iked stats`.
    fn stats(&self) -> Result<Vec<Counter>, DriverError>;
    /// The answer to a [`DriverEvent::XauthVerify`]; stale requests are ignored.
    fn xauth_verdict(&mut self, now: Instant, request: u64, answer: XauthAnswer);
    /// Ends one session (RADIUS Disconnect, session or idle timeout); whether it existed.
    fn terminate_session(&mut self, now: Instant, session: u64) -> bool;
}

/// Where the engine's inbound SPIs come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpiSource {
    /// The kernel (XFRM `ALLOCSPI`): the SAs go into the kernel, whose SPIs must be unique
    /// among every SA of the host.
    Kernel,
    /// The engine's own allocator: with the userspace dataplane only our SAs share the SPI
    /// space, and a larval kernel SA per negotiation would cost a netlink round trip and a
    /// kernel search that grows with the SA count (43 % of iked's CPU at 100 000 tunnels).
    Engine,
}

/// The driver of this build.
pub fn new_driver(
    config: Arc<Snapshot>,
    credentials: Credentials,
    spis: SpiSource,
) -> Box<dyn IkeDriver> {
    #[cfg(feature = "engine")]
    {
        Box::new(EngineDriver::new(config, credentials, spis))
    }
    #[cfg(not(feature = "engine"))]
    {
        let _ = (config, credentials, spis);
        Box::new(NotWired::default())
    }
}

/// The driver of a build without the engine: it counts what it drops and refuses requests.
#[derive(Debug, Default)]
#[cfg_attr(feature = "engine", allow(dead_code))]
pub struct NotWired {
    dropped: u64,
    warned: bool,
    events: std::collections::VecDeque<DriverEvent>,
}

impl IkeDriver for NotWired {
    fn state(&self) -> EngineState {
        EngineState::NotWired
    }
    fn set_config(&mut self, _config: Arc<Snapshot>, _credentials: Credentials) {}
    fn handle_datagram(&mut self, _: Instant, _: SocketAddr, remote: SocketAddr, _: &[u8]) {
        self.dropped += 1;
        if !self.warned {
            self.warned = true;
            self.events.push_back(DriverEvent::Warn(format!(
                "IKE datagram from {remote} dropped: {}",
                DriverError::NotWired
            )));
        }
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }
    fn poll_event(&mut self) -> Option<DriverEvent> {
        self.events.pop_front()
    }
    fn initiate(&mut self, _: Instant, _: &str) -> Result<(), DriverError> {
        Err(DriverError::NotWired)
    }
    fn acquire(&mut self, _: Instant, _: usize) -> Result<(), DriverError> {
        Err(DriverError::NotWired)
    }
    fn terminate(&mut self, _: Instant, _: Option<&str>) -> Result<usize, DriverError> {
        Err(DriverError::NotWired)
    }
    fn sa_expired(&mut self, _: Instant, _: u32, _: bool) {}
    fn esp_received(&mut self, _: Instant, _: &[u32]) {}
    fn peers(&self, _: Instant) -> Result<Vec<PeerRow>, DriverError> {
        Err(DriverError::NotWired)
    }
    fn sa_states(&self) -> HashMap<u32, SaState> {
        HashMap::new()
    }
    fn stats(&self) -> Result<Vec<Counter>, DriverError> {
        Err(DriverError::NotWired)
    }
    fn xauth_verdict(&mut self, _: Instant, _: u64, _: XauthAnswer) {}
    fn terminate_session(&mut self, _: Instant, _: u64) -> bool {
        false
    }
}

#[cfg(feature = "engine")]
pub use wired::EngineDriver;

#[cfg(feature = "engine")]
mod wired {
    use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

    use ipsec_core::config::IpPrefix;
    use ipsec_core::crypto::esp::{EspEncryption, EspIntegrity, EspKeys, EspTransform};
    use ipsec_core::engine::{self as eng, Engine, EngineOptions, Event, PeerId, PolicyId, TsAddr};
    use ipsec_core::proposal::phase2::Mode;

    use super::*;

    /// The engine behind [`IkeDriver`].
    pub struct EngineDriver {
        engine: Engine,
        /// Names of the peers the engine has told us about (a peer's SAs may outlive its
        /// session entry when events are read late).
        names: BTreeMap<PeerId, Arc<str>>,
        /// One copy of each name, shared by every session and SA of that peer (a
        /// road-warrior template has one name for 100,000 sessions).
        interned: BTreeSet<Arc<str>>,
        /// Virtual addresses received as a mode-config client, by session, so that the
        /// session's end can take its address away (the engine's `PeerDown` does not say).
        vips: BTreeMap<PeerId, (String, IpAddr)>,
        /// Events made in pairs (a peer down and its address gone) wait here.
        pending: VecDeque<DriverEvent>,
    }

    impl std::fmt::Debug for EngineDriver {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("EngineDriver")
                .field("engine", &self.engine)
                .finish()
        }
    }

    impl EngineDriver {
        /// An engine for `config`, with its ports from `[daemon]`, the peers' credentials
        /// and the wall clock (certificate validity).
        pub fn new(config: Arc<Snapshot>, credentials: Credentials, spis: SpiSource) -> Self {
            let options = EngineOptions {
                ike_port: config.daemon().port,
                nat_t_port: config.daemon().nat_t_port,
                fragment_size: config.daemon().fragment_size,
                ..EngineOptions::default()
            };
            let rng = Arc::new(ring::rand::SystemRandom::new());
            let mut engine = Engine::new(config, rng, options);
            if spis == SpiSource::Kernel {
                match KernelSpis::new() {
                    Ok(k) => engine = engine.with_spi_allocator(Box::new(k)),
                    Err(e) => tracing::warn!(
                        "no XFRM socket for SPI allocation ({e}): choosing inbound SPIs at random"
                    ),
                }
            }
            engine.set_credentials(credentials);
            set_wall_clock(&mut engine);
            EngineDriver {
                engine,
                names: BTreeMap::new(),
                interned: BTreeSet::new(),
                vips: BTreeMap::new(),
                pending: VecDeque::new(),
            }
        }

        fn name(&mut self, peer: PeerId) -> Option<Arc<str>> {
            if let Some(n) = self.names.get(&peer) {
                return Some(Arc::clone(n));
            }
            let found = self.engine.peer_name(peer).map(str::to_owned)?;
            let n = self.intern(&found);
            self.names.insert(peer, Arc::clone(&n));
            Some(n)
        }

        fn intern(&mut self, name: &str) -> Arc<str> {
            if let Some(n) = self.interned.get(name) {
                return Arc::clone(n);
            }
            // Names of peers removed from the configuration go when nothing holds them.
            if self.interned.len() > 2 * self.names.len() + 64 {
                self.interned.retain(|n| Arc::strong_count(n) > 1);
            }
            let n: Arc<str> = Arc::from(name);
            self.interned.insert(Arc::clone(&n));
            n
        }

        /// The peer's name for messages ("" when unknown).
        fn name_string(&mut self, peer: PeerId) -> String {
            self.name(peer).map(|n| n.to_string()).unwrap_or_default()
        }

        fn translate(&mut self, e: Event) -> Option<DriverEvent> {
            Some(match e {
                Event::PeerUp {
                    peer,
                    name,
                    local,
                    remote,
                } => {
                    let n = self.intern(&name);
                    self.names.insert(peer, n);
                    DriverEvent::Info(format!("peer {name:?} up: {local} <-> {remote}"))
                }
                Event::PeerDown { peer, reason } => {
                    let name = self
                        .names
                        .remove(&peer)
                        .map_or_else(|| "?".into(), |n| n.to_string());
                    self.pending
                        .push_back(DriverEvent::Session(SessionEvent::Down {
                            session: peer.0,
                            end: match reason {
                                eng::DownReason::NoSasLeft => SessionEnd::SasGone,
                                eng::DownReason::Terminated => SessionEnd::Terminated,
                                eng::DownReason::Phase1Failed => SessionEnd::Failed,
                                eng::DownReason::DeadPeer => SessionEnd::DeadPeer,
                            },
                        }));
                    if let Some((vip_peer, address)) = self.vips.remove(&peer) {
                        self.pending.push_back(DriverEvent::VirtualIpGone {
                            peer: vip_peer,
                            address,
                        });
                    }
                    DriverEvent::Info(format!("peer {name:?} down: {reason:?}"))
                }
                Event::IsakmpSaUp { peer, spi } => DriverEvent::Info(format!(
                    "ISAKMP SA {} up with peer {:?}",
                    cookies(&spi),
                    self.name_string(peer)
                )),
                Event::IsakmpSaDown { peer, spi } => DriverEvent::Info(format!(
                    "ISAKMP SA {} down (peer {:?})",
                    cookies(&spi),
                    self.name_string(peer)
                )),
                Event::InstallSa(sa) => {
                    let name = self.name(sa.peer);
                    match install(&sa, name, sa.peer.0) {
                        Ok(i) => DriverEvent::InstallSa(Box::new(i)),
                        Err(why) => DriverEvent::Warn(format!(
                            "cannot install SA {:#010x} {} -> {}: {why}",
                            sa.spi, sa.src, sa.dst
                        )),
                    }
                }
                Event::MoveSa(m) => DriverEvent::MoveSa(SaMove {
                    spi: m.spi,
                    inbound: m.direction == eng::Direction::Inbound,
                    old_dst: m.old_dst,
                    src: m.src,
                    dst: m.dst,
                    encap: m.encap.map(|e| (e.local_port, e.remote_port)),
                }),
                Event::DeleteSa(d) => DriverEvent::DeleteSa(SaDelete {
                    spi: d.spi,
                    src: d.src,
                    dst: d.dst,
                    inbound: d.direction == eng::Direction::Inbound,
                    reason: format!("{:?}", d.reason),
                }),
                Event::NegotiationFailed {
                    peer,
                    remote,
                    phase,
                    reason,
                } => {
                    let name = peer.and_then(|p| self.name(p)).unwrap_or_default();
                    DriverEvent::Warn(format!(
                        "phase {} with {remote} (peer {name:?}) failed: {reason}",
                        match phase {
                            eng::Phase::One => 1,
                            eng::Phase::Two => 2,
                        }
                    ))
                }
                Event::Rejected {
                    local,
                    remote,
                    reason,
                } => DriverEvent::Warn(format!("datagram {remote} -> {local} rejected: {reason}")),
                // Peers served by [[radius]]: the daemon asks the RADIUS servers.
                Event::XauthVerify {
                    request,
                    peer,
                    user,
                    password,
                    remote,
                } => {
                    let local = self
                        .engine
                        .isakmp_sas()
                        .into_iter()
                        .find(|sa| sa.peer == Some(peer))
                        .map(|sa| sa.local);
                    DriverEvent::XauthVerify(Box::new(XauthCheck {
                        request: request.0,
                        session: peer.0,
                        peer: self.name_string(peer),
                        user,
                        password: zeroize::Zeroizing::new(password.as_bytes().to_vec()),
                        local,
                        remote,
                    }))
                }
                Event::UserAuthenticated { peer, user } => {
                    self.pending
                        .push_back(DriverEvent::Session(SessionEvent::User {
                            session: peer.0,
                            user: user.clone(),
                        }));
                    DriverEvent::Info(format!(
                        "XAuth user {user:?} authenticated (peer {:?})",
                        self.name_string(peer)
                    ))
                }
                Event::AddressAssigned {
                    peer,
                    user,
                    address,
                } => {
                    self.pending
                        .push_back(DriverEvent::Session(SessionEvent::Address {
                            session: peer.0,
                            address,
                        }));
                    DriverEvent::Info(format!(
                        "mode-config: {address} for {} (peer {:?})",
                        user.as_deref().unwrap_or("the peer"),
                        self.name_string(peer)
                    ))
                }
                Event::ModeConfigReceived { peer, config } => self.received(peer, &config),
            })
        }

        /// Mode-config client: the server's answer. Only an address is something to apply
        /// (DNS servers and split networks come along with it).
        fn received(&mut self, peer: PeerId, config: &eng::ReceivedConfig) -> DriverEvent {
            let name = self.name_string(peer);
            let Some(address) = config.address else {
                return DriverEvent::Warn(format!(
                    "mode-config from peer {name:?} without an address (DNS {:?}, \
                     split-include {:?}): nothing to apply",
                    config.dns, config.split_include
                ));
            };
            // A network that is not a prefix cannot be routed; the engine parsed it, so this
            // is only a check of the conversion.
            let split_include: Vec<xfrm::Prefix> = config
                .split_include
                .iter()
                .filter_map(|p| prefix(p).ok())
                .collect();
            let v = DriverEvent::VirtualIp(Box::new(VirtualIp {
                peer: name.clone(),
                address,
                prefix_len: config.prefix_len,
                dns: config.dns.clone(),
                split_include,
            }));
            // A second answer in the same session (a re-authentication) replaces the first:
            // the old address goes first, since the daemon keys addresses by peer name.
            match self.vips.insert(peer, (name, address)) {
                Some((old_peer, old)) if old != address => {
                    self.pending.push_back(v);
                    DriverEvent::VirtualIpGone {
                        peer: old_peer,
                        address: old,
                    }
                }
                _ => v,
            }
        }
    }

    fn cookies(spi: &eng::IsakmpSpi) -> String {
        format!("{}:{}", hex(&spi.initiator), hex(&spi.responder))
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn prefix(p: &IpPrefix) -> Result<xfrm::Prefix, String> {
        xfrm::Prefix::new(p.addr(), p.prefix_len()).map_err(|e| e.to_string())
    }

    fn ts_prefix(t: &TsAddr) -> Option<xfrm::Prefix> {
        match t {
            TsAddr::Prefix(p) => prefix(p).ok(),
            // An address range that is not a prefix has no XFRM selector; the SA is installed
            // without one (policies bound the traffic).
            TsAddr::Range(_) => None,
        }
    }

    /// The engine's SA as the kernel takes it.
    fn install(
        sa: &eng::InstallSa,
        peer: Option<Arc<str>>,
        session: u64,
    ) -> Result<SaInstall, String> {
        let transform = kernel_transform(&sa.transform, &sa.keys)?;
        let s = &sa.selector;
        let selector = match (ts_prefix(&s.local), ts_prefix(&s.remote)) {
            (Some(local), Some(remote)) => Some(SaSelector {
                local,
                remote,
                protocol: s.protocol,
                local_port: s.local_port,
                remote_port: s.remote_port,
            }),
            _ => None,
        };
        Ok(SaInstall {
            peer,
            session: Some(session),
            policy: sa.policy.map(|PolicyId(i)| i),
            inbound: sa.direction == eng::Direction::Inbound,
            spi: sa.spi,
            src: sa.src,
            dst: sa.dst,
            tunnel: sa.mode == Mode::Tunnel,
            encap: sa.encap.map(|e| (e.local_port, e.remote_port)),
            transform,
            selector,
            lifetime: SaLifetimes {
                hard: sa.lifetime.hard,
                soft: sa.lifetime.soft,
                hard_bytes: sa.lifetime.hard_bytes,
                soft_bytes: sa.lifetime.soft_bytes,
            },
            replaces: sa.replaces,
            // The daemon sets the configured window before installing.
            replay_window: 64,
            nat_oa: sa.nat_oa.map(|o| (o.local, o.remote)),
        })
    }

    fn kernel_transform(t: &EspTransform, keys: &EspKeys) -> Result<xfrm::EspTransform, String> {
        use xfrm::{Encryption as E, Integrity as I};
        let enc = match t.encryption {
            EspEncryption::TripleDesCbc => E::TripleDesCbc,
            EspEncryption::AesCbc128 => E::AesCbc128,
            EspEncryption::AesCbc192 => E::AesCbc192,
            EspEncryption::AesCbc256 => E::AesCbc256,
            EspEncryption::AesGcm16_128 => E::AesGcm16_128,
            EspEncryption::AesGcm16_256 => E::AesGcm16_256,
            EspEncryption::Null => E::Null,
        };
        let int = match t.integrity {
            EspIntegrity::None => I::None,
            EspIntegrity::HmacMd5_96 => I::HmacMd5_96,
            EspIntegrity::HmacSha1_96 => I::HmacSha1_96,
            EspIntegrity::HmacSha256_128 => I::HmacSha256_128,
            EspIntegrity::HmacSha256_96 => I::HmacSha256_96,
            EspIntegrity::HmacSha384_192 => I::HmacSha384_192,
            EspIntegrity::HmacSha512_256 => I::HmacSha512_256,
        };
        // The kernel takes the AES-GCM salt as the last four bytes of the key (RFC 4106 §8.1).
        let mut enc_key = keys.encryption.as_bytes().to_vec();
        if let Some(salt) = &keys.salt {
            enc_key.extend_from_slice(salt.as_bytes());
        }
        let t = xfrm::EspTransform::new(
            enc,
            xfrm::Key::new(enc_key),
            int,
            xfrm::Key::new(keys.integrity.as_bytes().to_vec()),
        );
        t.map_err(|e| e.to_string())
    }

    /// Inbound SPIs from the kernel (XFRM_MSG_ALLOCSPI): unique among every SA of the host,
    /// not only ours, and held as a larval SA that `Kernel::install_sa` completes. A larval SA
    /// of a negotiation that fails expires by itself (`net.core.xfrm_acq_expires`); it carries
    /// our reqid 0 tag, so a later start's clean-up finds it too.
    struct KernelSpis {
        socket: xfrm::BlockingSpis,
        reqid: u32,
    }

    impl KernelSpis {
        /// The engine runs on the daemon's only thread: a kernel that does not answer stalls
        /// it for at most this long.
        const TIMEOUT: Duration = Duration::from_millis(500);

        fn new() -> Result<Self, xfrm::Error> {
            Ok(KernelSpis {
                socket: xfrm::BlockingSpis::new(Self::TIMEOUT)?,
                reqid: xfrm::Owner::default().reqid(0),
            })
        }
    }

    impl eng::SpiAllocator for KernelSpis {
        fn allocate(
            &mut self,
            _: &dyn ring::rand::SecureRandom,
            local: IpAddr,
            remote: IpAddr,
        ) -> Option<u32> {
            let req = xfrm::SpiRequest::esp(remote, local, xfrm::Mode::Tunnel, self.reqid);
            self.socket
                .alloc_spi(&req)
                .inspect_err(|e| tracing::warn!("inbound SPI for {remote}: {e}"))
                .ok()
        }

        /// Nothing to do: an installed SA is deleted with the engine's `DeleteSa`, a larval
        /// one expires.
        fn release(&mut self, _: u32) {}
    }

    /// Certificate validity needs the wall clock, which the engine does not read: tie it to
    /// now. The engine moves it along with `Instant`, so a later jump of the system clock is
    /// only picked up at the next reload.
    fn set_wall_clock(engine: &mut Engine) {
        let unix = ipsec_core::pki::UnixTime::from(std::time::SystemTime::now());
        engine.set_wall_clock(Instant::now(), unix);
    }

    impl IkeDriver for EngineDriver {
        fn state(&self) -> EngineState {
            EngineState::Running
        }

        fn set_config(&mut self, config: Arc<Snapshot>, credentials: Credentials) {
            self.engine.set_config(config);
            self.engine.set_credentials(credentials);
            set_wall_clock(&mut self.engine);
        }

        fn handle_datagram(
            &mut self,
            now: Instant,
            local: SocketAddr,
            remote: SocketAddr,
            payload: &[u8],
        ) {
            self.engine.handle_datagram(now, local, remote, payload);
        }

        fn handle_timeout(&mut self, now: Instant) {
            self.engine.handle_timeout(now);
        }

        fn poll_timeout(&self) -> Option<Instant> {
            self.engine.poll_timeout()
        }

        fn poll_transmit(&mut self) -> Option<Transmit> {
            self.engine.poll_transmit().map(|t| Transmit {
                local: t.local,
                remote: t.remote,
                payload: t.payload,
            })
        }

        fn poll_event(&mut self) -> Option<DriverEvent> {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            while let Some(e) = self.engine.poll_event() {
                if let Some(d) = self.translate(e) {
                    return Some(d);
                }
            }
            None
        }

        fn initiate(&mut self, now: Instant, name: &str) -> Result<(), DriverError> {
            self.engine
                .initiate(now, name)
                .map(|_| ())
                .map_err(|e| DriverError::Refused(e.to_string()))
        }

        fn acquire(&mut self, now: Instant, policy: usize) -> Result<(), DriverError> {
            self.engine
                .acquire(now, PolicyId(policy))
                .map(|_| ())
                .map_err(|e| DriverError::Refused(e.to_string()))
        }

        fn terminate(&mut self, now: Instant, name: Option<&str>) -> Result<usize, DriverError> {
            let peers: Vec<PeerId> = self
                .engine
                .peers()
                .into_iter()
                .filter(|(_, n)| name.is_none_or(|want| want == n))
                .map(|(id, _)| id)
                .collect();
            if let Some(n) = name
                && peers.is_empty()
                && self.engine.config().peer(n).is_none()
            {
                return Err(DriverError::Refused(format!("no peer named {n:?}")));
            }
            for &p in &peers {
                self.engine.terminate(now, p);
            }
            Ok(peers.len())
        }

        fn sa_expired(&mut self, now: Instant, spi: u32, hard: bool) {
            self.engine.sa_expired(now, spi, hard);
        }

        fn esp_received(&mut self, now: Instant, spis: &[u32]) {
            self.engine.esp_received(now, spis);
        }

        fn peers(&self, now: Instant) -> Result<Vec<PeerRow>, DriverError> {
            // Counted once, not per ISAKMP SA: a listing of 100,000 peers stays O(n).
            let mut children: HashMap<PeerId, usize> = HashMap::new();
            for c in self.engine.ipsec_sas() {
                *children.entry(c.peer).or_default() += 1;
            }
            Ok(self
                .engine
                .isakmp_sas()
                .into_iter()
                .map(|sa| PeerRow {
                    name: sa.peer_name.clone(),
                    local_address: sa.local.to_string(),
                    remote_address: sa.remote.to_string(),
                    side: match sa.role {
                        eng::Role::Initiator => "initiator",
                        eng::Role::Responder => "responder",
                    }
                    .into(),
                    state: if sa.established {
                        "established"
                    } else {
                        "negotiating"
                    }
                    .into(),
                    age: now.saturating_duration_since(sa.created).as_secs(),
                    exchange: format!("{:?}", sa.exchange).to_lowercase(),
                    suite: sa.suite.map(|s| {
                        format!(
                            "{:?}/{:?}/{:?}",
                            s.algorithms.cipher, s.algorithms.hash, s.algorithms.group
                        )
                        .to_lowercase()
                    }),
                    remote_id: sa.remote_id.as_ref().map(ToString::to_string),
                    nat: sa.nat.and_then(|(local, remote)| match (local, remote) {
                        (true, true) => Some("both".into()),
                        (true, false) => Some("local".into()),
                        (false, true) => Some("remote".into()),
                        (false, false) => None,
                    }),
                    cookies: cookies(&sa.spi),
                    ph2_total: sa
                        .peer
                        .map_or(0, |p| children.get(&p).copied().unwrap_or(0)),
                })
                .collect())
        }

        fn sa_states(&self) -> HashMap<u32, SaState> {
            let mut out = HashMap::new();
            for c in self.engine.ipsec_sas() {
                let state = SaState {
                    peer: self
                        .names
                        .get(&c.peer)
                        .cloned()
                        .or_else(|| self.engine.peer_name(c.peer).map(Arc::from)),
                    replaced: c.replaced,
                };
                out.insert(c.inbound_spi, state.clone());
                out.insert(c.outbound_spi, state);
            }
            out
        }

        fn xauth_verdict(&mut self, now: Instant, request: u64, answer: XauthAnswer) {
            self.engine.xauth_verdict(
                now,
                eng::XauthRequest(request),
                eng::XauthVerdict {
                    accept: answer.accept,
                    address: answer.address,
                    prefix_len: answer.prefix_len,
                    routes: answer.routes,
                },
            );
        }

        fn terminate_session(&mut self, now: Instant, session: u64) -> bool {
            let peer = PeerId(session);
            if self.engine.peer_name(peer).is_none() {
                return false;
            }
            self.engine.terminate(now, peer);
            true
        }

        fn stats(&self) -> Result<Vec<Counter>, DriverError> {
            let s = self.engine.stats();
            let c = |name: &str, value: u64| Counter {
                name: name.into(),
                value,
            };
            let mut out = vec![
                c("datagrams-received", s.datagrams_received),
                c("ike-received", s.ike_received),
                c("keepalives-received", s.keepalives_received),
                c("esp-in-udp-dropped", s.esp_in_udp_dropped),
                c("datagrams-sent", s.datagrams_sent),
                c("retransmissions", s.retransmissions),
                c("replies-resent", s.replies_resent),
                c("duplicates", s.duplicates),
                c("phase1-started", s.phase1_started),
                c("phase1-established", s.phase1_established),
                c("phase1-failed", s.phase1_failed),
                c("half-open-evicted", s.half_open_evicted),
                c("phase2-started", s.phase2_started),
                c("phase2-established", s.phase2_established),
                c("phase2-failed", s.phase2_failed),
                c("sas-installed", s.sas_installed),
                c("sas-deleted", s.sas_deleted),
                c("informational-received", s.informational_received),
                c("informational-sent", s.informational_sent),
                c("dpd-probes-sent", s.dpd_probes_sent),
                c("dead-peers", s.dead_peers),
                c("rejected", s.total_rejected()),
                c("rejections-unreported", s.rejections_unreported),
            ];
            for (reason, n) in s.rejections() {
                out.push(Counter {
                    name: format!("rejected: {reason}"),
                    value: n,
                });
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_wired_refuses_and_says_why() {
        let mut d = NotWired::default();
        let now = Instant::now();
        assert_eq!(d.state(), EngineState::NotWired);
        assert_eq!(d.initiate(now, "x"), Err(DriverError::NotWired));
        assert_eq!(d.terminate(now, None), Err(DriverError::NotWired));
        let a: SocketAddr = "198.18.0.1:500".parse().unwrap();
        d.handle_datagram(now, a, a, b"x");
        d.handle_datagram(now, a, a, b"x");
        assert_eq!(d.dropped, 2);
        // Warned once, not per datagram.
        assert!(matches!(d.poll_event(), Some(DriverEvent::Warn(_))));
        assert_eq!(d.poll_event(), None);
        assert_eq!(d.poll_transmit(), None);
    }
}
