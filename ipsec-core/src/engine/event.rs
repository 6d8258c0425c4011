//! What the engine asks its driver to do: [`Transmit`]s and [`Event`]s.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::{AddrRange, IpPrefix};
use crate::crypto::esp::{EspKeys, EspTransform};
use crate::proposal::phase2::Mode;
use crate::wire::Cookie;

use super::stats::Reject;

/// A UDP datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Source address and port. The address may be unspecified (`0.0.0.0`) before the engine
    /// has learnt which of its addresses the peer reaches: the driver then lets routing pick.
    pub local: SocketAddr,
    /// Destination.
    pub remote: SocketAddr,
    /// The UDP payload: an ISAKMP message, preceded by the non-ESP marker when sent from or to
    /// the NAT-T port; or a single 0xFF NAT-keepalive.
    pub payload: Vec<u8>,
}

/// A handle on one remote peer: the phase 1 and phase 2 SAs negotiated with one configured
/// peer at one remote address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u64);

/// A configured policy: [`Policy::index`](crate::config::Policy::index), its position among
/// the `[[policy]]` tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyId(pub usize);

/// The ISAKMP SA's "SPI": the cookie pair (RFC 2408 §2.5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IsakmpSpi {
    /// CKY-I.
    pub initiator: Cookie,
    /// CKY-R.
    pub responder: Cookie,
}

/// Direction of an IPsec SA, seen from this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// Packets we receive: the SPI is ours.
    Inbound,
    /// Packets we send: the SPI is the peer's.
    Outbound,
}

/// The addresses of one side of a traffic selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TsAddr {
    /// A prefix (an ID_IPV4_ADDR / ID_IPV6_ADDR is a host prefix).
    Prefix(IpPrefix),
    /// A range that is not a prefix (ID_IPV4_ADDR_RANGE / ID_IPV6_ADDR_RANGE).
    Range(AddrRange),
}

impl TsAddr {
    /// The first and last addresses.
    pub fn range(&self) -> AddrRange {
        match self {
            TsAddr::Prefix(p) => p.range(),
            TsAddr::Range(r) => *r,
        }
    }

    /// Whether every address of `self` lies in `prefix`.
    pub fn within(&self, prefix: &IpPrefix) -> bool {
        match self {
            TsAddr::Prefix(p) => prefix.covers(p),
            TsAddr::Range(r) => prefix.contains(r.start()) && prefix.contains(r.end()),
        }
    }

    /// Whether this is IPv4.
    pub fn is_ipv4(&self) -> bool {
        self.range().start().is_ipv4()
    }
}

/// Which traffic an IPsec SA carries, seen from this host (RFC 2409 §5.5 ID payloads).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// Our side's addresses.
    pub local: TsAddr,
    /// The peer's side.
    pub remote: TsAddr,
    /// IP protocol, 0 for all.
    pub protocol: u8,
    /// Our side's port, 0 for all.
    pub local_port: u16,
    /// The peer's port, 0 for all.
    pub remote_port: u16,
}

/// UDP encapsulation of ESP (RFC 3948): the outer UDP ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpEncap {
    /// Our port (normally 4500).
    pub local_port: u16,
    /// The peer's port (4500, or what its NAT maps it to).
    pub remote_port: u16,
}

/// When an IPsec SA expires. Times count from installation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SaLifetime {
    /// The negotiated lifetime: the SA must be gone by then.
    pub hard: Duration,
    /// When the engine starts replacing it (it schedules this itself; a kernel may use it
    /// to warn).
    pub soft: Duration,
    /// The negotiated byte limit (hard), if any.
    pub hard_bytes: Option<u64>,
    /// Our soft byte limit, if any: report it with
    /// [`Engine::sa_expired`](super::Engine::sa_expired).
    pub soft_bytes: Option<u64>,
}

/// One direction of an IPsec SA to install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallSa {
    /// The peer.
    pub peer: PeerId,
    /// The policy it was negotiated for, if it came from one.
    pub policy: Option<PolicyId>,
    /// Direction.
    pub direction: Direction,
    /// Its SPI.
    pub spi: u32,
    /// Outer source address.
    pub src: IpAddr,
    /// Outer destination address.
    pub dst: IpAddr,
    /// Tunnel or transport.
    pub mode: Mode,
    /// UDP encapsulation, when NAT-T is in use.
    pub encap: Option<UdpEncap>,
    /// Cipher and integrity.
    pub transform: EspTransform,
    /// Keys of this direction.
    pub keys: EspKeys,
    /// Traffic selectors (the same for both directions, from this host's view).
    pub selector: TrafficSelector,
    /// Lifetimes.
    pub lifetime: SaLifetime,
    /// The SPI of the SA of the same direction it replaces (a rekey), if any: the old one is
    /// deleted later by a [`DeleteSa`].
    pub replaces: Option<u32>,
    /// The original addresses of a UDP-encapsulated transport-mode SA, from the peer's NAT-OA
    /// payloads (RFC 3947 §5.2); `None` in tunnel mode, without NAT-T, or when the peer sent
    /// none (older peers do not). The same on both directions of a pair.
    pub nat_oa: Option<NatOa>,
}

/// The addresses a transport-mode peer behind a NAT used in the pseudo-header of its TCP and
/// UDP checksums, as its NAT-OA payloads told us (RFC 3947 §5.2).
///
/// A NAT rewrites the outer (and, in transport mode, only) IP header but cannot see the
/// checksums inside ESP. After decapsulating an inbound packet, the driver fixes them up
/// incrementally (RFC 3948 §3.1.2, RFC 1624): `remote` becomes the packet's source and `local`
/// its destination. Packets we send need nothing: the peer does the same with ours. A kernel
/// takes `remote` as the SA's encapsulation original address (XFRMA_ENCAP `encap_oa`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NatOa {
    /// Our address as the peer knows it (its NAT-OA for us; our own address if it sent only
    /// its own).
    pub local: IpAddr,
    /// The peer's original (pre-NAT) address.
    pub remote: IpAddr,
}

/// One direction of an installed IPsec SA whose peer is now elsewhere: its NAT mapping
/// changed (an authenticated IKE message came from a new address or port on the NAT-T
/// port). Keys, SPI and sequence numbers stay; only the outer addresses and UDP ports move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoveSa {
    /// The peer.
    pub peer: PeerId,
    /// Direction.
    pub direction: Direction,
    /// Its SPI.
    pub spi: u32,
    /// Outer source address before the move (with `dst`, how the driver finds it).
    pub old_src: IpAddr,
    /// Outer destination address before the move.
    pub old_dst: IpAddr,
    /// New outer source address.
    pub src: IpAddr,
    /// New outer destination address.
    pub dst: IpAddr,
    /// New UDP encapsulation ports.
    pub encap: Option<UdpEncap>,
}

/// One direction of an IPsec SA to remove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteSa {
    /// The peer.
    pub peer: PeerId,
    /// Direction.
    pub direction: Direction,
    /// Its SPI.
    pub spi: u32,
    /// Outer source address, as installed.
    pub src: IpAddr,
    /// Outer destination address, as installed.
    pub dst: IpAddr,
    /// Why.
    pub reason: DeleteReason,
}

/// Why SAs go away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeleteReason {
    /// A newer SA replaced it.
    Rekeyed,
    /// Its lifetime ran out.
    Expired,
    /// The peer sent a Delete.
    DeletedByPeer,
    /// The peer sent INITIAL-CONTACT: it lost its state.
    InitialContact,
    /// [`Engine::terminate`](super::Engine::terminate).
    Terminated,
    /// Dead peer detection: the peer stopped answering (RFC 3706).
    DeadPeer,
    /// Installed (inbound, by the quick-mode responder at QM2) for a quick mode that then
    /// failed or timed out.
    Abandoned,
}

/// Why a peer went down, or why a negotiation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DownReason {
    /// All its SAs were deleted or expired.
    NoSasLeft,
    /// [`Engine::terminate`](super::Engine::terminate).
    Terminated,
    /// Phase 1 failed before any SA existed.
    Phase1Failed,
    /// Dead peer detection: it stopped answering (RFC 3706); every SA with it is gone.
    DeadPeer,
}

/// Which negotiation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Main or aggressive mode.
    One,
    /// Quick mode.
    Two,
}

/// Something the driver should act on or know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The first ISAKMP SA with a peer is up.
    PeerUp {
        /// The peer.
        peer: PeerId,
        /// Its configuration name.
        name: String,
        /// Our address.
        local: SocketAddr,
        /// Its address.
        remote: SocketAddr,
    },
    /// The peer has no SA left.
    PeerDown {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: DownReason,
    },
    /// An ISAKMP SA was established (the first with a peer, or a phase 1 rekey).
    IsakmpSaUp {
        /// The peer.
        peer: PeerId,
        /// Its cookies.
        spi: IsakmpSpi,
    },
    /// An ISAKMP SA is gone.
    IsakmpSaDown {
        /// The peer.
        peer: PeerId,
        /// Its cookies.
        spi: IsakmpSpi,
    },
    /// Install one direction of an IPsec SA.
    InstallSa(Box<InstallSa>),
    /// Remove one direction of an IPsec SA.
    DeleteSa(DeleteSa),
    /// Move one direction of an IPsec SA to the peer's new NAT mapping.
    MoveSa(MoveSa),
    /// A negotiation failed (timeout, refused proposal, authentication).
    NegotiationFailed {
        /// The peer, if known.
        peer: Option<PeerId>,
        /// The remote address.
        remote: SocketAddr,
        /// Phase 1 or 2.
        phase: Phase,
        /// Why.
        reason: Reject,
    },
    /// XAuth server with [`EngineOptions::xauth_external`](super::EngineOptions): check these
    /// credentials and answer with [`Engine::xauth_verdict`](super::Engine::xauth_verdict).
    XauthVerify {
        /// What to answer to.
        request: super::XauthRequest,
        /// The peer.
        peer: PeerId,
        /// The user name the client sent.
        user: String,
        /// The password it sent (a trailing NUL removed).
        password: crate::crypto::Secret,
        /// The client's public address and port (RADIUS Calling-Station-Id).
        remote: SocketAddr,
    },
    /// XAuth server: a user authenticated.
    UserAuthenticated {
        /// The peer.
        peer: PeerId,
        /// The XAuth user name.
        user: String,
    },
    /// Mode-config server: the peer got this virtual address (its quick modes must use it).
    AddressAssigned {
        /// The peer.
        peer: PeerId,
        /// The XAuth user, if any.
        user: Option<String>,
        /// The address.
        address: IpAddr,
    },
    /// Mode-config client: the server's configuration, to apply (address, routes, DNS).
    ModeConfigReceived {
        /// The peer (the server).
        peer: PeerId,
        /// What it sent.
        config: Box<super::ReceivedConfig>,
    },
    /// A datagram was rejected (also counted in [`Stats`](super::Stats)). Bounded by
    /// [`EngineOptions::max_queued_rejections`](super::EngineOptions::max_queued_rejections).
    Rejected {
        /// Where it arrived.
        local: SocketAddr,
        /// Who sent it.
        remote: SocketAddr,
        /// Why.
        reason: Reject,
    },
}
