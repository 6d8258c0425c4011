//! Phase 1: main mode and aggressive mode (RFC 2409 §5), initiator and responder, as explicit
//! state machines.
//!
//! ```text
//! Main mode (identity protection)           Aggressive mode
//!  I -> R  HDR, SA, VID*                     I -> R  HDR, SA, KE, Ni, IDii, VID*
//!  R -> I  HDR, SA, VID*                     R -> I  HDR, SA, KE, Nr, IDir, HASH_R, VID*, NAT-D*
//!  I -> R  HDR, KE, Ni, NAT-D, NAT-D         I -> R  HDR*, HASH_I, NAT-D*, [N(INITIAL-CONTACT)]
//!  R -> I  HDR, KE, Nr, NAT-D, NAT-D
//!  I -> R  HDR*, IDii, HASH_I, [N(INITIAL-CONTACT)]     (on port 4500 if a NAT was found)
//!  R -> I  HDR*, IDir, HASH_R
//! ```
//!
//! With RSA signatures, HASH_I/HASH_R are replaced by `CERT*, SIG` (the signed hash), and
//! the KE messages of main mode (MM3, MM4) and aggressive mode's first two carry CR payloads
//! naming the CAs we trust for the peer (RFC 2409 §5.1).
//!
//! Each mode and role is an enum of the states between messages ([`main_mode::Initiator`],
//! [`main_mode::Responder`], [`aggressive::Initiator`], [`aggressive::Responder`]); each
//! state holds exactly what the next step needs. A step takes one received message and
//! either refuses it ([`Reject`], state unchanged, unless it had to consume the DH key pair)
//! or moves on and says what to send ([`Progress`]). Retransmission, duplicate detection,
//! timeouts and port floating are the engine's: this module knows only the protocol.
//!
//! Supporting modules: [`auth`] (the authentication seam: pre-shared keys, RSA signatures), [`ident`]
//! (ID payloads), [`nat`] (NAT-D), [`vendor`] (Vendor IDs), [`protect`] (emission,
//! encryption, payload lookup).

pub(crate) mod aggressive;
pub(crate) mod auth;
pub(crate) mod ident;
pub(crate) mod main_mode;
pub(crate) mod nat;
pub(crate) mod protect;
pub(crate) mod vendor;

use std::net::SocketAddr;
use std::time::Duration;

use ring::rand::SecureRandom;

use crate::config::{Identity, MyId, Peer, RemoteId, Snapshot};
use crate::crypto::ikev1::{IvChain, Phase1Keys};
use crate::engine::{EngineOptions, Reject};
use crate::proposal::phase1::{Phase1Algorithms, Phase1Suite};
use crate::wire::{
    Cookie, Identification, Message, NatD, Notification, NotifyType, Payload, PayloadChain,
    PayloadType, SecurityAssociation,
};

use auth::Authenticator;
use ident::identity_of;
use nat::NatState;
use vendor::PeerVendors;

/// What a phase-1 step may look at besides the message.
pub(crate) struct Ctx<'a> {
    /// Randomness (nonces, DH keys).
    pub rng: &'a dyn SecureRandom,
    /// Engine options.
    pub options: &'a EngineOptions,
    /// The configuration.
    pub config: &'a Snapshot,
    /// Our address and port, as the last message arrived on (or as we send from).
    pub local: SocketAddr,
    /// The peer's.
    pub remote: SocketAddr,
    /// CKY-I.
    pub cky_i: Cookie,
    /// CKY-R (zero until the responder chose it).
    pub cky_r: Cookie,
    /// Whether to send INITIAL-CONTACT if we are the initiator and the peer asks for it:
    /// the engine says yes only when no other SA with this peer exists.
    pub initial_contact: bool,
    /// The driver's certificates and keys (RSA signatures).
    pub credentials: &'a crate::engine::Credentials,
    /// Wall-clock time, for certificate validity (none if the driver set no wall clock).
    pub wall: Option<crate::pki::UnixTime>,
}

impl Ctx<'_> {
    /// A fresh nonce of the configured length (8..=256 bytes, RFC 2409 §5).
    pub fn nonce(&self) -> Result<Vec<u8>, Reject> {
        random_bytes(self.rng, self.options.nonce_len.clamp(8, 256))
    }
}

/// `n` random bytes.
pub(crate) fn random_bytes(rng: &dyn SecureRandom, n: usize) -> Result<Vec<u8>, Reject> {
    let mut v = vec![0u8; n];
    rng.fill(&mut v)
        .map_err(|_| Reject::Internal("random number generator"))?;
    Ok(v)
}

/// An established ISAKMP SA: what phase 2 and informational exchanges need.
pub(crate) struct Phase1Sa {
    /// The configured peer it authenticated as.
    pub peer_name: String,
    /// The negotiated suite.
    pub suite: Phase1Suite,
    /// SKEYID_d/a/e and the encryption key.
    pub keys: Phase1Keys,
    /// The IV state (phase 1 and one chain per later exchange).
    pub iv: IvChain,
    /// NAT-T, if both sides announced it.
    pub nat: Option<NatState>,
    /// The peer announced DPD.
    pub peer_dpd: bool,
    /// The peer's identity, when it is one the configuration can name.
    pub remote_id: Option<Identity>,
    /// The peer sent INITIAL-CONTACT in phase 1.
    pub initial_contact: bool,
    /// How long the SA lives: the shorter of the proposed and our configured lifetime.
    pub lifetime: Duration,
}

/// The next step of a negotiation.
pub(crate) enum Progress {
    /// Send `message` and wait for the peer's next one (retransmitting `message`).
    Continue {
        /// Our message.
        message: Vec<u8>,
        /// Move to the NAT-T port before sending it (RFC 3947 §4).
        float: bool,
    },
    /// Phase 1 is complete.
    Done {
        /// The SA.
        sa: Box<Phase1Sa>,
        /// Our last message, if this step sends one (it is not retransmitted: only resent
        /// when the peer's previous message comes again).
        message: Option<Vec<u8>>,
        /// Move to the NAT-T port before sending it.
        float: bool,
    },
}

/// A phase 1 negotiation in progress.
pub(crate) enum Handshake {
    /// Main mode, we initiated.
    MainInitiator(main_mode::Initiator),
    /// Main mode, the peer initiated.
    MainResponder(main_mode::Responder),
    /// Aggressive mode, we initiated.
    AggressiveInitiator(aggressive::Initiator),
    /// Aggressive mode, the peer initiated.
    AggressiveResponder(aggressive::Responder),
}

impl Handshake {
    /// Takes the peer's next message.
    pub fn handle(&mut self, ctx: &Ctx<'_>, msg: &Message<'_>) -> Result<Progress, Reject> {
        match self {
            Handshake::MainInitiator(s) => s.handle(ctx, msg),
            Handshake::MainResponder(s) => s.handle(ctx, msg),
            Handshake::AggressiveInitiator(s) => s.handle(ctx, msg),
            Handshake::AggressiveResponder(s) => s.handle(ctx, msg),
        }
    }

    /// A step consumed state it cannot get back (the DH key pair): the negotiation is over.
    pub fn is_dead(&self) -> bool {
        match self {
            Handshake::MainInitiator(s) => s.is_dead(),
            Handshake::MainResponder(s) => s.is_dead(),
            Handshake::AggressiveInitiator(s) => s.is_dead(),
            Handshake::AggressiveResponder(s) => s.is_dead(),
        }
    }

    /// The configured peer, once known.
    pub fn peer_name(&self) -> Option<&str> {
        match self {
            Handshake::MainInitiator(s) => Some(s.peer_name()),
            Handshake::MainResponder(_) => None,
            Handshake::AggressiveInitiator(s) => Some(s.peer_name()),
            Handshake::AggressiveResponder(s) => Some(s.peer_name()),
        }
    }
}

/// The INITIAL-CONTACT notification about the ISAKMP SA `spi` (the two cookies, RFC 2407
/// §4.6.3.3: "the SPI ... MUST be set to the ISAKMP cookies").
pub(crate) fn initial_contact(spi: &[u8; 16]) -> Payload<'_> {
    Payload::Notification(Notification {
        doi: crate::wire::sa::DOI_IPSEC,
        protocol: crate::wire::ProtocolId::Isakmp,
        spi,
        notify_type: NotifyType::InitialContact,
        data: std::borrow::Cow::Borrowed(&[]),
    })
}

/// Whether `chain` carries an INITIAL-CONTACT notification.
pub(crate) fn has_initial_contact(chain: &PayloadChain<'_>) -> bool {
    chain.filter(PayloadType::Notification).any(|p| {
        Notification::parse(p.body()).is_ok_and(|n| n.notify_type == NotifyType::InitialContact)
    })
}

/// CKY-I | CKY-R.
pub(crate) fn cookie_pair(cky_i: &Cookie, cky_r: &Cookie) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(cky_i);
    out[8..].copy_from_slice(cky_r);
    out
}

/// The longest lifetime any SA gets, whatever is configured or proposed: one year. (Time
/// arithmetic stays far from overflow, and no key lives longer.)
pub(crate) const MAX_SA_LIFETIME: Duration = Duration::from_secs(365 * 86_400);

/// The SA lifetime: the shorter of the transform's and ours (at most a year).
pub(crate) fn sa_lifetime(suite: &Phase1Suite, ours: Duration) -> Duration {
    let l = match suite.lifetime.seconds {
        Some(s) => ours.min(Duration::from_secs(s)),
        None => ours,
    };
    l.clamp(Duration::from_secs(1), MAX_SA_LIFETIME)
}

/// What the initiator keeps from its configuration for the whole exchange (a reload of the
/// configuration does not change a running negotiation).
#[derive(Clone)]
pub(crate) struct PeerTerms {
    pub name: String,
    pub ours: Vec<Phase1Algorithms>,
    pub auth: Authenticator,
    pub lifetime: std::time::Duration,
    pub nat_traversal: bool,
    pub my_id: MyId,
    pub remote_id: RemoteId,
}

impl PeerTerms {
    pub fn of(peer: &Peer, credentials: &crate::engine::Credentials) -> Self {
        PeerTerms {
            name: peer.name.clone(),
            ours: Phase1Algorithms::from_config(&peer.phase1_transforms()),
            auth: Authenticator::for_peer(peer, credentials),
            lifetime: peer.lifetime,
            nat_traversal: peer.nat_traversal,
            my_id: peer.my_id.clone(),
            remote_id: peer.remote_id.clone(),
        }
    }

    pub fn accepts(&self, id: &Identification<'_>) -> bool {
        match &self.remote_id {
            RemoteId::Auto | RemoteId::Ignore => true,
            RemoteId::Id(want) => identity_of(id).is_some_and(|got| want.matches(&got)),
        }
    }
}

/// The NAT-D payloads we send.
pub(crate) fn natd_payloads<'h>(hashes: &'h [Vec<u8>; 2], state: PeerVendors) -> Vec<Payload<'h>> {
    let Some(version) = state.nat_t else {
        return Vec::new();
    };
    let numbering = nat::numbering(version);
    hashes
        .iter()
        .map(|h| Payload::NatD(NatD { hash: h, numbering }))
        .collect()
}

pub(crate) fn require_plain<'m, 'a>(
    msg: &'m Message<'a>,
) -> Result<&'m crate::wire::PayloadChain<'a>, Reject> {
    msg.payloads().ok_or(Reject::UnexpectedMessage)
}

pub(crate) fn sa_body(sa: &SecurityAssociation<'_>) -> Result<Vec<u8>, Reject> {
    let mut out = Vec::new();
    sa.emit(&mut out)?;
    Ok(out)
}
