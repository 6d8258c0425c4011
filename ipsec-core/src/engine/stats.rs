//! [`Stats`]: counters, and [`Reject`], the typed reason of every refused datagram or failed
//! negotiation.

use std::collections::BTreeMap;

use crate::crypto::CryptoError;
use crate::proposal::ProposalError;
use crate::wire::{EmitError, WireError};

/// Why a datagram was refused or a negotiation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
pub enum Reject {
    /// The codec refused it; the label is [`WireError::kind`].
    #[error("malformed: {0}")]
    Wire(&'static str),
    /// A datagram on the NAT-T port that is neither IKE, ESP nor a keepalive.
    #[error("invalid UDP encapsulation")]
    Framing,
    /// The cookies name no SA of ours.
    #[error("unknown ISAKMP SA")]
    UnknownSa,
    /// An exchange type we do not take here (or at all).
    #[error("unexpected exchange type")]
    UnexpectedExchange,
    /// A message that the exchange's state does not expect (wrong message ID, encrypted
    /// when it must not be or the reverse, a stale message).
    #[error("unexpected message")]
    UnexpectedMessage,
    /// A payload the message needs is missing, or appears more than once.
    #[error("missing or repeated payload: {0}")]
    MissingPayload(&'static str),
    /// No acceptable proposal.
    #[error("no proposal chosen")]
    NoProposalChosen,
    /// A proposal or reply that breaks the rules of its exchange.
    #[error("bad proposal: {0}")]
    BadProposal(&'static str),
    /// A lifetime refused by `proposal-check`.
    #[error("lifetime refused by proposal-check")]
    LifetimeRefused,
    /// No configured peer for this address, mode and ID.
    #[error("no matching peer configuration")]
    NoPeerConfig,
    /// The peer's identity is not the one configured.
    #[error("unacceptable identity")]
    UnacceptableId,
    /// The configured authentication method is not implemented yet.
    #[error("unsupported authentication method")]
    UnsupportedAuth,
    /// Too many half-open phase 1 negotiations (total or from this address).
    #[error("half-open limit")]
    HalfOpenLimit,
    /// Too many concurrent exchanges in one ISAKMP SA.
    #[error("exchange limit")]
    ExchangeLimit,
    /// An encrypted message that does not decrypt to a well-formed payload chain.
    #[error("decryption failed")]
    DecryptFailed,
    /// HASH_I/HASH_R or a phase-2 HASH did not verify (wrong key or a forged message).
    #[error("authentication failed")]
    AuthenticationFailed,
    /// A Diffie-Hellman public value that is not acceptable.
    #[error("invalid key exchange")]
    InvalidKeyExchange,
    /// A derived key is a weak key of its cipher (retried with fresh nonces).
    #[error("weak derived key")]
    WeakKey,
    /// Quick-mode traffic selectors that match no policy or template.
    #[error("no policy for the proposed traffic selectors")]
    NoPolicy,
    /// An ID payload that cannot be a traffic selector (non-contiguous mask, wrong family).
    #[error("invalid traffic selector")]
    InvalidSelector,
    /// The peer sent an error notification (the label is its type number).
    #[error("peer reported error {0}")]
    PeerError(u16),
    /// The exchange ran out of retransmissions.
    #[error("timeout")]
    Timeout,
    /// An SPI the engine could not allocate.
    #[error("no SPI available")]
    NoSpi,
    /// A failure on our side (random numbers, building a message).
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// RSA signatures: the driver gave no signer or verifier for this peer
    /// ([`Engine::set_credentials`](super::Engine::set_credentials)).
    #[error("no credentials for the peer")]
    NoCredentials,
    /// RSA signatures: no wall clock to check certificate validity with
    /// ([`Engine::set_wall_clock`](super::Engine::set_wall_clock)).
    #[error("no wall clock for certificate validation")]
    NoWallClock,
    /// The peer's certificate does not chain to its configured CA.
    #[error("certificate from an unknown CA")]
    UnknownCa,
    /// A certificate of the peer's chain is expired or not yet valid (at the wall clock).
    #[error("certificate expired or not yet valid")]
    CertificateExpired,
    /// A certificate of the peer's chain is revoked by a configured CRL.
    #[error("certificate revoked")]
    CertificateRevoked,
    /// The peer's ID payload is not an identity of its certificate.
    #[error("ID does not match the certificate")]
    CertificateIdMismatch,
    /// The peer's certificate is unusable for another reason (malformed, bad issuer
    /// signature, key usage, constraints, expired CRL, not the pinned certificate, key type).
    #[error("invalid certificate")]
    InvalidCertificate,
    /// The peer's SIG payload does not verify with its certificate's key.
    #[error("invalid signature")]
    InvalidSignature,
    /// An IKE fragment that cannot be taken (malformed, too many or too large, conflicting).
    #[error("bad IKE fragment")]
    Fragment,
    /// A quick mode or mode-config request before XAuth finished.
    #[error("XAuth not finished")]
    XauthPending,
    /// XAuth refused the user (or, as client, we have no credentials or were refused).
    #[error("XAuth failed")]
    XauthFailed,
    /// Mode-config: no address to assign (pool exhausted) or none received.
    #[error("no virtual address")]
    NoAddress,
    /// Mode-config asked of a peer without a responder mode-config, or pushed to one that
    /// did not ask.
    #[error("no mode-config for the peer")]
    NoModeConfig,
}

impl From<crate::pki::PkiError> for Reject {
    fn from(e: crate::pki::PkiError) -> Self {
        use crate::pki::PkiError as P;
        match e {
            P::UnknownIssuer { .. } => Reject::UnknownCa,
            P::Expired { .. } | P::NotYetValid { .. } => Reject::CertificateExpired,
            P::Revoked { .. } => Reject::CertificateRevoked,
            P::IdMismatch { .. } | P::UnsupportedIdType { .. } => Reject::CertificateIdMismatch,
            P::BadSignature | P::BadHashLength { .. } => Reject::InvalidSignature,
            P::NoPeerCertificate => Reject::MissingPayload("CERT"),
            P::SigningFailed | P::KeyMismatch { .. } | P::UnsupportedPrivateKey { .. } => {
                Reject::Internal("signing")
            }
            _ => Reject::InvalidCertificate,
        }
    }
}

impl From<WireError> for Reject {
    fn from(e: WireError) -> Self {
        Reject::Wire(e.kind())
    }
}

impl From<EmitError> for Reject {
    fn from(_: EmitError) -> Self {
        Reject::Internal("building a message")
    }
}

impl From<ProposalError> for Reject {
    fn from(e: ProposalError) -> Self {
        match e {
            ProposalError::NoProposalChosen => Reject::NoProposalChosen,
            ProposalError::Malformed(w) | ProposalError::ReplyMismatch(w) => Reject::BadProposal(w),
            ProposalError::Lifetime(_) => Reject::LifetimeRefused,
            ProposalError::NothingToOffer(_) => Reject::NoProposalChosen,
        }
    }
}

impl From<CryptoError> for Reject {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::InvalidPublicValue { .. } | CryptoError::DegenerateSharedSecret { .. } => {
                Reject::InvalidKeyExchange
            }
            CryptoError::WeakKey(_) => Reject::WeakKey,
            CryptoError::NotBlockAligned { .. } => Reject::DecryptFailed,
            CryptoError::Rng => Reject::Internal("random number generator"),
            _ => Reject::Internal("crypto"),
        }
    }
}

/// Counters. Every datagram handed to the engine is counted once under
/// `datagrams_received`, and, if refused, once under its [`Reject`] reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams given to [`Engine::handle_datagram`](super::Engine::handle_datagram).
    pub datagrams_received: u64,
    /// Of those, ISAKMP messages.
    pub ike_received: u64,
    /// NAT-keepalives received (ignored).
    pub keepalives_received: u64,
    /// ESP-in-UDP packets received on the NAT-T port (the dataplane's business; dropped).
    pub esp_in_udp_dropped: u64,
    /// Datagrams handed out by [`Engine::poll_transmit`](super::Engine::poll_transmit),
    /// retransmissions and keepalives included.
    pub datagrams_sent: u64,
    /// Retransmissions because an answer was late.
    pub retransmissions: u64,
    /// Retransmitted messages of the peer that we answered again with our stored reply.
    pub replies_resent: u64,
    /// Duplicate messages dropped.
    pub duplicates: u64,
    /// Phase 1 negotiations started (either role).
    pub phase1_started: u64,
    /// Phase 1 SAs established.
    pub phase1_established: u64,
    /// Phase 1 negotiations that failed.
    pub phase1_failed: u64,
    /// Half-open responder negotiations dropped to make room for a new one (the
    /// `max_half_open` table was full: a flood of first messages).
    pub half_open_evicted: u64,
    /// Quick modes started (either role).
    pub phase2_started: u64,
    /// IPsec SA pairs established.
    pub phase2_established: u64,
    /// Quick modes that failed.
    pub phase2_failed: u64,
    /// IPsec SAs (one direction each) installed.
    pub sas_installed: u64,
    /// IPsec SAs (one direction each) deleted.
    pub sas_deleted: u64,
    /// Informational exchanges received and authenticated.
    pub informational_received: u64,
    /// Informational exchanges sent.
    pub informational_sent: u64,
    /// DPD R-U-THERE probes sent (RFC 3706).
    pub dpd_probes_sent: u64,
    /// Peers declared dead by DPD, their SAs removed.
    pub dead_peers: u64,
    /// Rejections beyond the event queue's bound (counted, not reported as events).
    pub rejections_unreported: u64,
    /// XAuth logins accepted (server) or confirmed (client).
    pub xauth_succeeded: u64,
    /// XAuth attempts refused.
    pub xauth_failed: u64,
    /// Mode-config addresses handed out.
    pub addresses_assigned: u64,
    /// IPsec SA pairs moved to a peer's new NAT mapping.
    pub sas_moved: u64,
    /// Messages we sent in fragments.
    pub fragmented_sent: u64,
    /// Messages reassembled from fragments.
    pub fragmented_received: u64,
    rejected: BTreeMap<Reject, u64>,
}

impl Stats {
    /// How many times `reason` was counted.
    pub fn rejected(&self, reason: Reject) -> u64 {
        self.rejected.get(&reason).copied().unwrap_or(0)
    }

    /// Every reason counted so far, with its count.
    pub fn rejections(&self) -> impl Iterator<Item = (Reject, u64)> + '_ {
        self.rejected.iter().map(|(r, n)| (*r, *n))
    }

    /// All rejections together.
    pub fn total_rejected(&self) -> u64 {
        self.rejected.values().sum()
    }

    pub(crate) fn reject(&mut self, reason: Reject) {
        *self.rejected.entry(reason).or_insert(0) += 1;
    }
}
