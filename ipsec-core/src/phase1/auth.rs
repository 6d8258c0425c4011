//! Phase-1 authentication: the seam where authentication methods plug in.
//!
//! Pre-shared keys are implemented. RSA signatures (and the XAuth/hybrid variants, which
//! authenticate phase 1 with a key or a signature and then run XAuth) are recognised and
//! refused with [`Reject::UnsupportedAuth`] until their implementation lands: a configured
//! peer with such a method never negotiates, as initiator (`Engine::initiate` fails) or as
//! responder (its transforms are not offered, so a proposal for it finds no match).

use crate::config::{self, Peer};
use crate::crypto::ikev1::Phase1Auth;
use crate::crypto::{Secret, ct_eq};
use crate::engine::Reject;
use crate::wire::AuthMethod;

/// How we prove our identity in phase 1 and check the peer's proof.
#[derive(Clone, Debug)]
pub(crate) enum Authenticator {
    /// A pre-shared key (RFC 2409 §5.4): SKEYID = prf(key, Ni_b | Nr_b); the proof is the
    /// HASH_I/HASH_R payload itself.
    PreSharedKey(Secret),
    /// RSA signatures with certificates (RFC 2409 §5.1): not implemented yet.
    RsaSignature,
    /// Pre-shared key followed by XAuth: not implemented yet.
    PreSharedKeyXauth,
    /// Hybrid RSA with XAuth: not implemented yet.
    RsaSignatureHybrid,
    /// A pre-shared-key peer without a secret (validation prevents it): never authenticates.
    NoSecret,
}

impl Authenticator {
    /// The authenticator a configured peer calls for.
    pub fn for_peer(peer: &Peer) -> Self {
        match (peer.auth_method, &peer.secret) {
            (config::AuthMethod::PreSharedKey, Some(psk)) => {
                Authenticator::PreSharedKey(psk.clone())
            }
            // Validation guarantees the secret; without one the method cannot work either.
            (config::AuthMethod::PreSharedKey, None) => Authenticator::NoSecret,
            (config::AuthMethod::RsaSignature, _) => Authenticator::RsaSignature,
            (config::AuthMethod::PreSharedKeyXauth, _) => Authenticator::PreSharedKeyXauth,
            (config::AuthMethod::RsaSignatureHybrid, _) => Authenticator::RsaSignatureHybrid,
        }
    }

    /// The configuration name of the method (for errors).
    pub fn name(&self) -> &'static str {
        match self {
            Authenticator::PreSharedKey(_) => "pre-shared-key",
            Authenticator::RsaSignature => "rsa-signature",
            Authenticator::PreSharedKeyXauth => "pre-shared-key-xauth",
            Authenticator::RsaSignatureHybrid => "rsa-signature-hybrid",
            Authenticator::NoSecret => "pre-shared-key without a secret",
        }
    }

    /// Whether this method is implemented.
    pub fn is_supported(&self) -> bool {
        matches!(self, Authenticator::PreSharedKey(_))
    }

    /// The Authentication Method attribute we propose and accept (as initiator; the XAuth
    /// values are the initiator's, draft-beaulieu-ike-xauth-02 §7.2).
    pub fn method(&self) -> AuthMethod {
        match self {
            Authenticator::PreSharedKey(_) | Authenticator::NoSecret => AuthMethod::PreSharedKey,
            Authenticator::RsaSignature => AuthMethod::RsaSignatures,
            Authenticator::PreSharedKeyXauth => AuthMethod::XauthInitPreShared,
            Authenticator::RsaSignatureHybrid => AuthMethod::HybridInitRsa,
        }
    }

    /// The input to SKEYID (RFC 2409 §5).
    pub fn skeyid_input(&self) -> Result<Phase1Auth<'_>, Reject> {
        match self {
            Authenticator::PreSharedKey(psk) => Ok(Phase1Auth::PreSharedKey(psk)),
            _ => Err(Reject::UnsupportedAuth),
        }
    }

    /// The proof to send, given HASH_I or HASH_R: with a pre-shared key, the hash itself in a
    /// HASH payload.
    pub fn prove(&self, hash: Vec<u8>) -> Result<Proof, Reject> {
        match self {
            Authenticator::PreSharedKey(_) => Ok(Proof::Hash(hash)),
            _ => Err(Reject::UnsupportedAuth),
        }
    }

    /// Checks the peer's proof (the received HASH payload body) against the expected
    /// HASH_I/HASH_R, in constant time.
    pub fn verify(&self, expected: &[u8], received_hash: Option<&[u8]>) -> Result<(), Reject> {
        match self {
            Authenticator::PreSharedKey(_) => match received_hash {
                Some(h) if ct_eq(expected, h) => Ok(()),
                Some(_) => Err(Reject::AuthenticationFailed),
                None => Err(Reject::MissingPayload("HASH")),
            },
            _ => Err(Reject::UnsupportedAuth),
        }
    }

    /// Whether two authenticators hold the same pre-shared key (then trying both is useless).
    pub fn same_key(&self, other: &Authenticator) -> bool {
        match (self, other) {
            (Authenticator::PreSharedKey(a), Authenticator::PreSharedKey(b)) => a == b,
            _ => false,
        }
    }
}

/// What goes into the message as proof of identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Proof {
    /// A HASH payload (pre-shared keys).
    Hash(Vec<u8>),
}
