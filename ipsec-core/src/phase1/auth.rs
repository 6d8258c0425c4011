//! Phase-1 authentication: the seam where authentication methods plug in.
//!
//! Pre-shared keys, pre-shared keys followed by XAuth, and RSA signatures with X.509
//! certificates are implemented. XAuth changes nothing in phase 1 itself but the
//! Authentication Method attribute (XAUTHInitPreShared, 65001: draft-beaulieu-ike-xauth-02
//! §7.2); the user is authenticated afterwards in a transaction exchange (the engine's
//! `transaction` module).
//!
//! Hybrid authentication (draft-ietf-ipsec-isakmp-hybrid-auth-05, methods 64221/64222):
//! only the responder (the concentrator, `passive`) is authenticated in phase 1, with its
//! certificate and signature; the initiator (the remote user) sends a plain HASH_I computed
//! with the signature-mode SKEYID (§3.2: `SKEYID = prf(Ni_b | Nr_b, g^xy)`), which proves
//! nothing about it, and is authenticated by XAuth right after. So the server signs and
//! checks a hash; the client hashes and checks the server's certificate and signature.
//!
//! RSA signatures (RFC 2409 §5.1): SKEYID = prf(Ni_b | Nr_b, g^xy); we prove our identity
//! with a SIG payload over HASH_I/HASH_R made by the driver-provided
//! [`LocalSigner`](crate::pki::LocalSigner), preceded by CERT payloads (our certificate and
//! its intermediates). The peer's proof is checked with its
//! [`PeerVerifier`](crate::pki::PeerVerifier): the chain to its CA at the engine's wall-clock
//! time, CRLs, its ID against the certificate (unless `remote-id = ignore`), then the SIG.

use std::sync::Arc;

use crate::config::{self, Peer, RemoteId};
use crate::crypto::ikev1::Phase1Auth;
use crate::crypto::{Secret, ct_eq};
use crate::engine::{Credentials, Reject};
use crate::pki::{LocalSigner, PeerVerifier, UnixTime};
use crate::wire::{
    AuthMethod, CertEncoding, Certificate, CertificateRequest, Identification, Payload,
    PayloadChain, PayloadType,
};

/// The credentials of one RSA-signature peer.
#[derive(Clone, Debug)]
pub(crate) struct RsaCredentials {
    /// Our key and certificate chain.
    pub signer: Option<Arc<LocalSigner>>,
    /// How the peer's certificates are checked.
    pub verifier: Option<Arc<PeerVerifier>>,
    /// `remote-id = ignore`: the ID is not bound to the certificate.
    pub ignore_id: bool,
}

/// How we prove our identity in phase 1 and check the peer's proof.
#[derive(Clone, Debug)]
pub(crate) enum Authenticator {
    /// A pre-shared key (RFC 2409 §5.4): SKEYID = prf(key, Ni_b | Nr_b); the proof is the
    /// HASH_I/HASH_R payload itself.
    PreSharedKey(Secret),
    /// RSA signatures with certificates (RFC 2409 §5.1).
    RsaSignature(RsaCredentials),
    /// A pre-shared key (phase 1 exactly as [`Authenticator::PreSharedKey`]) followed by
    /// XAuth.
    PreSharedKeyXauth(Secret),
    /// Hybrid RSA with XAuth: the server signs, the client sends HASH_I.
    RsaSignatureHybrid {
        /// Our signer (server) or the server's verifier (client).
        credentials: RsaCredentials,
        /// We are the server (`passive`): we sign and check the client's hash.
        server: bool,
    },
    /// A pre-shared-key peer without a secret (validation prevents it): never authenticates.
    NoSecret,
}

/// What the peer sent as proof of its identity.
pub(crate) struct PeerProof<'a> {
    /// The HASH payload body, if any.
    pub hash: Option<&'a [u8]>,
    /// The SIG payload body, if any.
    pub sig: Option<&'a [u8]>,
    /// The data of its X.509 CERT payloads, in order.
    pub certs: Vec<&'a [u8]>,
}

impl<'a> PeerProof<'a> {
    /// Collects HASH, SIG and CERT payloads from `chain` (HASH and SIG at most once).
    pub fn from_chain(chain: &PayloadChain<'a>) -> Result<Self, Reject> {
        let hash = super::protect::at_most_one(chain, PayloadType::Hash, "HASH")?.map(|p| p.body());
        let sig =
            super::protect::at_most_one(chain, PayloadType::Signature, "SIG")?.map(|p| p.body());
        let mut certs = Vec::new();
        for p in chain.filter(PayloadType::Certificate) {
            let c = Certificate::parse(p.body())?;
            if c.encoding == CertEncoding::X509Signature {
                certs.push(c.data);
            }
        }
        Ok(PeerProof { hash, sig, certs })
    }
}

impl Authenticator {
    /// The authenticator a configured peer calls for, with the driver's credentials.
    pub fn for_peer(peer: &Peer, credentials: &Credentials) -> Self {
        match (peer.auth_method, &peer.secret) {
            (config::AuthMethod::PreSharedKey, Some(psk)) => {
                Authenticator::PreSharedKey(psk.clone())
            }
            // Validation guarantees the secret; without one the method cannot work either.
            (config::AuthMethod::PreSharedKey, None) => Authenticator::NoSecret,
            (config::AuthMethod::RsaSignature, _) => Authenticator::RsaSignature(RsaCredentials {
                signer: credentials.signer(&peer.name).cloned(),
                verifier: credentials.verifier(&peer.name).cloned(),
                ignore_id: matches!(peer.remote_id, RemoteId::Ignore),
            }),
            (config::AuthMethod::PreSharedKeyXauth, Some(psk)) => {
                Authenticator::PreSharedKeyXauth(psk.clone())
            }
            (config::AuthMethod::PreSharedKeyXauth, None) => Authenticator::NoSecret,
            (config::AuthMethod::RsaSignatureHybrid, _) => Authenticator::RsaSignatureHybrid {
                credentials: RsaCredentials {
                    signer: credentials.signer(&peer.name).cloned(),
                    verifier: credentials.verifier(&peer.name).cloned(),
                    ignore_id: matches!(peer.remote_id, RemoteId::Ignore),
                },
                server: peer.passive,
            },
        }
    }

    /// The configuration name of the method (for errors).
    pub fn name(&self) -> &'static str {
        match self {
            Authenticator::PreSharedKey(_) => "pre-shared-key",
            Authenticator::RsaSignature(_) => "rsa-signature",
            Authenticator::PreSharedKeyXauth(_) => "pre-shared-key-xauth",
            Authenticator::RsaSignatureHybrid { .. } => "rsa-signature-hybrid",
            Authenticator::NoSecret => "pre-shared-key without a secret",
        }
    }

    /// Whether this method is implemented.
    pub fn is_supported(&self) -> bool {
        matches!(
            self,
            Authenticator::PreSharedKey(_)
                | Authenticator::PreSharedKeyXauth(_)
                | Authenticator::RsaSignature(_)
                | Authenticator::RsaSignatureHybrid { .. }
        )
    }

    /// Whether we have what we need to authenticate (RSA: a signer and a verifier).
    pub fn has_credentials(&self) -> bool {
        match self {
            Authenticator::RsaSignature(c) => c.signer.is_some() && c.verifier.is_some(),
            Authenticator::RsaSignatureHybrid {
                credentials: c,
                server: true,
            } => c.signer.is_some(),
            Authenticator::RsaSignatureHybrid {
                credentials: c,
                server: false,
            } => c.verifier.is_some(),
            _ => true,
        }
    }

    /// Whether the *peer* proves itself with CERT and SIG payloads instead of HASH (with
    /// hybrid, only the server signs, and this is asked of the server).
    pub fn signs(&self) -> bool {
        matches!(self, Authenticator::RsaSignature(_))
    }

    /// The Authentication Method attribute we propose and accept (as initiator; the XAuth
    /// values are the initiator's, draft-beaulieu-ike-xauth-02 §7.2).
    pub fn method(&self) -> AuthMethod {
        match self {
            Authenticator::PreSharedKey(_) | Authenticator::NoSecret => AuthMethod::PreSharedKey,
            Authenticator::RsaSignature(_) => AuthMethod::RsaSignatures,
            Authenticator::PreSharedKeyXauth(_) => AuthMethod::XauthInitPreShared,
            Authenticator::RsaSignatureHybrid { .. } => AuthMethod::HybridInitRsa,
        }
    }

    /// The input to SKEYID (RFC 2409 §5).
    pub fn skeyid_input(&self) -> Result<Phase1Auth<'_>, Reject> {
        match self {
            Authenticator::PreSharedKey(psk) | Authenticator::PreSharedKeyXauth(psk) => {
                Ok(Phase1Auth::PreSharedKey(psk))
            }
            Authenticator::RsaSignature(_) | Authenticator::RsaSignatureHybrid { .. } => {
                Ok(Phase1Auth::Signature)
            }
            _ => Err(Reject::UnsupportedAuth),
        }
    }

    /// The proof to send, given HASH_I or HASH_R: with a pre-shared key, the hash itself in a
    /// HASH payload; with signatures, our certificates and a signature of the hash.
    pub fn prove(&self, hash: Vec<u8>) -> Result<Proof, Reject> {
        match self {
            Authenticator::PreSharedKey(_) | Authenticator::PreSharedKeyXauth(_) => {
                Ok(Proof::Hash(hash))
            }
            Authenticator::RsaSignatureHybrid { server: false, .. } => Ok(Proof::Hash(hash)),
            Authenticator::RsaSignature(c)
            | Authenticator::RsaSignatureHybrid {
                credentials: c,
                server: true,
            } => {
                let signer = c.signer.as_ref().ok_or(Reject::NoCredentials)?;
                let sig = signer.sign(&hash)?;
                let mut certs = vec![signer.certificate_der().to_vec()];
                certs.extend(signer.intermediates_der().map(<[u8]>::to_vec));
                Ok(Proof::Signature { certs, sig })
            }
            _ => Err(Reject::UnsupportedAuth),
        }
    }

    /// The CERTREQ payloads we send (signatures): one per CA we trust for this peer, or one
    /// naming no CA.
    pub fn cert_requests(&self) -> Vec<Vec<u8>> {
        let c = match self {
            Authenticator::RsaSignature(c)
            | Authenticator::RsaSignatureHybrid {
                credentials: c,
                server: false,
            } => c,
            _ => return Vec::new(),
        };
        let mut names: Vec<Vec<u8>> = c
            .verifier
            .as_ref()
            .map(|v| v.trust_store().ca_names().map(<[u8]>::to_vec).collect())
            .unwrap_or_default();
        if names.is_empty() {
            names.push(Vec::new());
        }
        names
    }

    /// Checks the peer's proof against the expected HASH_I/HASH_R: a pre-shared key's HASH in
    /// constant time; with signatures, the certificate chain at `now` (wall clock), the ID
    /// payload against the certificate, then the SIG.
    pub fn verify(
        &self,
        expected: &[u8],
        proof: &PeerProof<'_>,
        id: &Identification<'_>,
        now: Option<UnixTime>,
    ) -> Result<(), Reject> {
        match self {
            Authenticator::PreSharedKey(_)
            | Authenticator::PreSharedKeyXauth(_)
            | Authenticator::RsaSignatureHybrid { server: true, .. } => match proof.hash {
                Some(h) if ct_eq(expected, h) => Ok(()),
                Some(_) => Err(Reject::AuthenticationFailed),
                None => Err(Reject::MissingPayload("HASH")),
            },
            Authenticator::RsaSignature(c)
            | Authenticator::RsaSignatureHybrid {
                credentials: c,
                server: false,
            } => {
                let verifier = c.verifier.as_ref().ok_or(Reject::NoCredentials)?;
                let sig = proof.sig.ok_or(Reject::MissingPayload("SIG"))?;
                // No CERT payload: the verifier uses the pinned `remote-certificate`, or
                // refuses (NoPeerCertificate, i.e. a missing CERT).
                let now = now.ok_or(Reject::NoWallClock)?;
                let peer = if c.ignore_id {
                    verifier.verify_certificates(now, &proof.certs)?
                } else {
                    let value = id.value()?;
                    verifier.verify(now, &proof.certs, &value)?
                };
                peer.check_auth_method(AuthMethod::RsaSignatures)?;
                peer.verify_signature(expected, sig)?;
                Ok(())
            }
            _ => Err(Reject::UnsupportedAuth),
        }
    }

    /// Whether two authenticators derive the same SKEYID (then trying both to decrypt is
    /// useless): equal pre-shared keys, or both signatures.
    pub fn same_key(&self, other: &Authenticator) -> bool {
        match (self, other) {
            (
                Authenticator::PreSharedKey(a) | Authenticator::PreSharedKeyXauth(a),
                Authenticator::PreSharedKey(b) | Authenticator::PreSharedKeyXauth(b),
            ) => a == b,
            (Authenticator::RsaSignature(_), Authenticator::RsaSignature(_))
            | (
                Authenticator::RsaSignatureHybrid { .. },
                Authenticator::RsaSignatureHybrid { .. },
            ) => true,
            _ => false,
        }
    }
}

/// What goes into the message as proof of identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Proof {
    /// A HASH payload (pre-shared keys).
    Hash(Vec<u8>),
    /// CERT payloads (X.509 signature, DER; ours first) and a SIG payload.
    Signature {
        /// The certificates.
        certs: Vec<Vec<u8>>,
        /// The signature.
        sig: Vec<u8>,
    },
}

impl Proof {
    /// The payloads that carry it (CERT* SIG, or HASH).
    pub fn payloads(&self) -> Vec<Payload<'_>> {
        match self {
            Proof::Hash(h) => vec![Payload::Hash(h)],
            Proof::Signature { certs, sig } => certs
                .iter()
                .map(|c| {
                    Payload::Certificate(Certificate {
                        encoding: CertEncoding::X509Signature,
                        data: c,
                    })
                })
                .chain(std::iter::once(Payload::Signature(sig)))
                .collect(),
        }
    }
}

/// CERTREQ payloads for `authorities` (X.509 signature certificates).
pub(crate) fn cert_request_payloads(authorities: &[Vec<u8>]) -> Vec<Payload<'_>> {
    authorities
        .iter()
        .map(|a| {
            Payload::CertificateRequest(CertificateRequest {
                cert_type: CertEncoding::X509Signature,
                authority: a,
            })
        })
        .collect()
}
