//! Trust anchors, certificate path validation and the verified peer.
//!
//! Path validation follows RFC 5280 §6 in the parts an IKE peer needs: from the end-entity
//! certificate, an issuer is looked for by name among the configured CAs first, then among the
//! certificates the peer sent; each candidate must be a CA (basicConstraints cA, keyUsage
//! keyCertSign if present), valid at `now`, must have signed the certificate below it, and must
//! allow the number of intermediates below it (pathLenConstraint). The search backtracks over
//! candidates with the same name, within [`Limits::max_chain_len`] and a budget of signature
//! checks. Once a path is found, the configured CRLs are applied to every certificate in it
//! but the anchor.

use super::cert::{Certificate, KU_DIGITAL_SIGNATURE, KU_KEY_CERT_SIGN, KU_NON_REPUDIATION, hex};
use super::crl::Crl;
use super::error::{PkiError, Result};
use super::keys::{KeyType, PublicKey};
use super::name::DistinguishedName;
use super::{Limits, UnixTime};
use crate::wire::{AuthMethod, IdValue};

/// The configured CA certificates (the peer's `ca`), which certificate paths must end in.
///
/// An anchor is trusted as configured: its own signature is not checked, but it must be a CA
/// (basicConstraints cA, or a version 1 certificate, which has no extensions) and it must be
/// valid at the time of each validation.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    anchors: Vec<Certificate>,
}

impl TrustStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every certificate of `input` (PEM with one or more `CERTIFICATE` blocks, or one DER
    /// certificate) as an anchor.
    pub fn from_pem(input: &[u8]) -> Result<Self> {
        let mut store = Self::new();
        store.add_pem_or_der(input, &Limits::default())?;
        Ok(store)
    }

    /// Adds every certificate of `input`; returns how many.
    pub fn add_pem_or_der(&mut self, input: &[u8], limits: &Limits) -> Result<usize> {
        let certs = Certificate::all_from_pem_or_der(input, limits)?;
        let n = certs.len();
        for cert in certs {
            self.add(cert)?;
        }
        Ok(n)
    }

    /// Adds one anchor; refused if it is not a CA. Adding the same certificate twice is a no-op.
    pub fn add(&mut self, cert: Certificate) -> Result<()> {
        anchor_may_issue(&cert)?;
        if !self.anchors.contains(&cert) {
            self.anchors.push(cert);
        }
        Ok(())
    }

    /// The anchors.
    pub fn anchors(&self) -> &[Certificate] {
        &self.anchors
    }

    /// The DER subject names of the anchors: the Certification Authority field of the
    /// CERTREQ payloads we send (RFC 4945 §3.2.4), one per CA.
    pub fn ca_names(&self) -> impl Iterator<Item = &[u8]> {
        self.anchors.iter().map(|a| a.subject().as_der())
    }

    /// Whether there is no anchor.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }
}

fn anchor_may_issue(cert: &Certificate) -> Result<()> {
    // A v1 certificate has no basicConstraints and may be an anchor (RFC 5280 §6.1, trust
    // anchors are configured, not derived); a v3 CA must say so.
    let is_ca = if cert.has_basic_constraints() {
        cert.is_ca()
    } else {
        cert.version() == 0
    };
    if !is_ca {
        return Err(PkiError::NotCa {
            subject: cert.subject().to_string(),
        });
    }
    if !cert.key_usage_allows(KU_KEY_CERT_SIGN) {
        return Err(PkiError::KeyUsage {
            subject: cert.subject().to_string(),
            needed: "keyCertSign",
        });
    }
    Ok(())
}

/// Validates peers' certificates against the configured CAs, CRLs and, optionally, a pinned
/// `remote-certificate`. Built once per configuration; [`PeerVerifier::verify`] is called per
/// phase-1 negotiation and never mutates it.
#[derive(Debug, Clone, Default)]
pub struct PeerVerifier {
    trust: TrustStore,
    crls: Vec<Crl>,
    pinned: Option<Certificate>,
    limits: Limits,
}

impl PeerVerifier {
    /// Peers must chain to one of `trust`'s anchors.
    pub fn new(trust: TrustStore) -> Self {
        PeerVerifier {
            trust,
            ..Self::default()
        }
    }

    /// Replaces the [`Limits`] (set them before adding CRLs, whose size they bound).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The peer's end-entity certificate must be exactly `cert` (`remote-certificate`). With
    /// no anchors, the pinned certificate is trusted as it is (its validity period and key
    /// usage are still checked); with anchors, it must also chain to one of them. A peer that
    /// sends no CERT payload is then checked against the pinned certificate.
    pub fn with_pinned_certificate(mut self, cert: Certificate) -> Self {
        self.pinned = Some(cert);
        self
    }

    /// Adds the CRLs in each input (PEM with `X509 CRL` blocks, or one DER CRL per input).
    pub fn with_crls(mut self, inputs: &[&[u8]]) -> Result<Self> {
        for input in inputs {
            for crl in Crl::all_from_pem_or_der(input, &self.limits)? {
                self.add_crl(crl)?;
            }
        }
        Ok(self)
    }

    /// Adds one CRL. If its issuer is a configured CA, its signature is checked now, so that a
    /// wrong file is reported when the configuration is loaded; CRLs of intermediate CAs are
    /// checked when a path through them is validated.
    pub fn add_crl(&mut self, crl: Crl) -> Result<()> {
        let mut by_name = self
            .trust
            .anchors()
            .iter()
            .filter(|a| a.subject().matches(crl.issuer()))
            .peekable();
        if by_name.peek().is_some() {
            let mut first_err = None;
            let signed = by_name.any(|a| match crl.check_signed_by(a, &self.limits) {
                Ok(()) => true,
                Err(e) => {
                    first_err.get_or_insert(e);
                    false
                }
            });
            if !signed && let Some(e) = first_err {
                return Err(e);
            }
        }
        self.crls.push(crl);
        Ok(())
    }

    /// The anchors.
    pub fn trust_store(&self) -> &TrustStore {
        &self.trust
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Validates the peer's certificates (the data of its CERT payloads with encoding X.509
    /// Signature, DER, end entity first or at least present; intermediates in any order) at
    /// `now`, and checks that `peer_id` (its ID payload) is carried by the end-entity
    /// certificate. See the module documentation for what is checked.
    pub fn verify(
        &self,
        now: impl Into<UnixTime>,
        peer_certificates: &[&[u8]],
        peer_id: &IdValue<'_>,
    ) -> Result<VerifiedPeer> {
        let peer = self.verify_certificates(now, peer_certificates)?;
        peer.check_id(peer_id)?;
        Ok(peer)
    }

    /// [`PeerVerifier::verify`] without the ID check, for `remote-id = ignore` (a warning in
    /// the configuration: any certificate from the CA may then claim any identity).
    pub fn verify_certificates(
        &self,
        now: impl Into<UnixTime>,
        peer_certificates: &[&[u8]],
    ) -> Result<VerifiedPeer> {
        let now = now.into();
        let limits = &self.limits;
        if peer_certificates.len() > limits.max_peer_certificates {
            return Err(PkiError::TooManyCertificates {
                count: peer_certificates.len(),
                max: limits.max_peer_certificates,
            });
        }
        let mut received = peer_certificates
            .iter()
            .map(|der| Certificate::from_der_with(der, limits))
            .collect::<Result<Vec<_>>>()?;

        // The end entity: the pinned certificate if configured, else the first non-CA
        // certificate (RFC 4945 §3.2 wants it first; not every peer obeys).
        let end_entity = match &self.pinned {
            Some(pinned) => match received.iter().position(|c| !c.is_ca()) {
                Some(i) if received[i] != *pinned => {
                    return Err(PkiError::NotPinnedCertificate {
                        subject: received[i].subject().to_string(),
                    });
                }
                Some(i) => received.remove(i),
                None => match received.iter().position(|c| c == pinned) {
                    Some(i) => received.remove(i),
                    None => pinned.clone(),
                },
            },
            None => {
                if received.is_empty() {
                    return Err(PkiError::NoPeerCertificate);
                }
                let i = received.iter().position(|c| !c.is_ca()).unwrap_or(0);
                received.remove(i)
            }
        };
        let intermediates = received;

        end_entity.check_validity(now)?;
        if !end_entity.key_usage_allows(KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION) {
            // RFC 4945 §5.1.3.2, as strongSwan's is_compliant_cert.
            return Err(PkiError::KeyUsage {
                subject: end_entity.subject().to_string(),
                needed: "digitalSignature or nonRepudiation",
            });
        }
        if end_entity.eku_forbids_ike() {
            return Err(PkiError::ExtendedKeyUsage {
                subject: end_entity.subject().to_string(),
            });
        }

        let chain = if self.trust.is_empty() && self.pinned.is_some() {
            vec![end_entity]
        } else {
            let mut search = Search {
                verifier: self,
                now,
                pool: &intermediates,
                used: vec![false; intermediates.len()],
                budget: signature_budget(limits),
            };
            let mut path = vec![&end_entity];
            search.extend(&mut path)?;
            let chain: Vec<Certificate> = path.into_iter().cloned().collect();
            self.check_revocation(&chain, now)?;
            chain
        };
        Ok(VerifiedPeer { chain })
    }

    /// Applies the CRLs to each certificate of `chain` (end entity first) but the anchor.
    fn check_revocation(&self, chain: &[Certificate], now: UnixTime) -> Result<()> {
        for pair in chain.windows(2) {
            let (cert, issuer) = (&pair[0], &pair[1]);
            for crl in self.crls.iter().filter(|c| c.applies_to(cert)) {
                crl.check_signed_by(issuer, &self.limits)?;
                crl.check_current(now)?;
                if crl.is_revoked(cert.serial()) {
                    return Err(PkiError::Revoked {
                        subject: cert.subject().to_string(),
                        serial: hex(cert.serial()),
                    });
                }
            }
        }
        Ok(())
    }
}

/// How many issuer signatures one path search may check: enough for any honest chain
/// (every received certificate tried under every position), small enough that certificates
/// crafted to all sign each other cannot make the search expensive.
fn signature_budget(limits: &Limits) -> usize {
    (limits.max_peer_certificates + 2).saturating_mul(limits.max_chain_len)
}

struct Search<'a> {
    verifier: &'a PeerVerifier,
    now: UnixTime,
    pool: &'a [Certificate],
    used: Vec<bool>,
    budget: usize,
}

impl<'a> Search<'a> {
    /// Extends `path` (end entity first, its last element not yet issued) to an anchor.
    fn extend(&mut self, path: &mut Vec<&'a Certificate>) -> Result<()> {
        let max = self.verifier.limits.max_chain_len;
        if path.len() >= max {
            return Err(PkiError::ChainTooLong { max });
        }
        let Some(&child) = path.last() else {
            return Err(PkiError::NoPeerCertificate);
        };
        let mut err: Option<PkiError> = None;
        let anchors = self.verifier.trust.anchors();
        for anchor in anchors
            .iter()
            .filter(|a| a.subject().matches(child.issuer()))
        {
            match self.accept(child, anchor, path, true) {
                Ok(()) => {
                    path.push(anchor);
                    return Ok(());
                }
                Err(e) => {
                    err.get_or_insert(e);
                }
            }
        }
        for i in 0..self.pool.len() {
            let candidate = &self.pool[i];
            if self.used[i] || !candidate.subject().matches(child.issuer()) {
                continue;
            }
            if let Err(e) = self.accept(child, candidate, path, false) {
                err.get_or_insert(e);
                continue;
            }
            self.used[i] = true;
            path.push(candidate);
            match self.extend(path) {
                Ok(()) => return Ok(()),
                Err(e @ PkiError::PathBuildingBudget { .. }) => return Err(e),
                Err(e) => {
                    // What went wrong further up is more telling than a failure here.
                    err = Some(e);
                    path.pop();
                    self.used[i] = false;
                }
            }
        }
        Err(err.unwrap_or_else(|| PkiError::UnknownIssuer {
            subject: child.subject().to_string(),
            issuer: child.issuer().to_string(),
        }))
    }

    /// Whether `issuer` may have issued `child`, the last certificate of `path`.
    fn accept(
        &mut self,
        child: &Certificate,
        issuer: &Certificate,
        path: &[&Certificate],
        is_anchor: bool,
    ) -> Result<()> {
        if is_anchor {
            anchor_may_issue(issuer)?;
        } else {
            if !issuer.is_ca() {
                return Err(PkiError::NotCa {
                    subject: issuer.subject().to_string(),
                });
            }
            if !issuer.key_usage_allows(KU_KEY_CERT_SIGN) {
                return Err(PkiError::KeyUsage {
                    subject: issuer.subject().to_string(),
                    needed: "keyCertSign",
                });
            }
        }
        issuer.check_validity(self.now)?;
        // pathLenConstraint: the most non-self-issued intermediate CAs below this issuer
        // (RFC 5280 §4.2.1.9); the end entity, path[0], does not count.
        if let Some(max) = issuer.path_len() {
            let below = path.iter().skip(1).filter(|c| !c.is_self_issued()).count();
            if u32::try_from(below).unwrap_or(u32::MAX) > max {
                return Err(PkiError::PathLenExceeded {
                    subject: issuer.subject().to_string(),
                });
            }
        }
        if self.budget == 0 {
            return Err(PkiError::PathBuildingBudget {
                max: signature_budget(&self.verifier.limits),
            });
        }
        self.budget -= 1;
        if child.signature_valid_from(issuer, &self.verifier.limits)? {
            Ok(())
        } else {
            Err(PkiError::BadCertificateSignature {
                subject: child.subject().to_string(),
            })
        }
    }
}

/// A peer whose certificate validated: the end-entity certificate, the path to the anchor,
/// and the key that must have made its SIG payload.
#[derive(Debug, Clone)]
pub struct VerifiedPeer {
    /// End entity first, the anchor last (just the end entity for a pinned certificate
    /// without anchors).
    chain: Vec<Certificate>,
}

impl VerifiedPeer {
    /// The peer's (end-entity) certificate.
    pub fn certificate(&self) -> &Certificate {
        // The chain is never empty: it is built starting from the end entity.
        &self.chain[0]
    }

    /// The validated path, end entity first, anchor last.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// The peer's subject name.
    pub fn subject(&self) -> &DistinguishedName {
        self.certificate().subject()
    }

    /// The peer's public key.
    pub fn public_key(&self) -> &PublicKey {
        self.certificate().public_key()
    }

    /// RSA or ECDSA (which decides the authentication method it can use).
    pub fn key_type(&self) -> KeyType {
        self.public_key().key_type()
    }

    /// Whether the peer's key fits the negotiated phase-1 authentication method.
    pub fn check_auth_method(&self, method: AuthMethod) -> Result<()> {
        if self.key_type().matches_auth_method(method) {
            Ok(())
        } else {
            Err(PkiError::AuthMethodMismatch {
                key: self.key_type(),
                method: method.value(),
            })
        }
    }

    /// Whether `id` is carried by the peer's certificate (see [`Certificate::check_id`]).
    pub fn check_id(&self, id: &IdValue<'_>) -> Result<()> {
        self.certificate().check_id(id)
    }

    /// Verifies the peer's SIG payload body over HASH_I (peer is the initiator) or HASH_R
    /// (peer is the responder), RFC 2409 §5.1.
    pub fn verify_signature(&self, hash: &[u8], signature: &[u8]) -> Result<()> {
        self.public_key().verify_ike_signature(hash, signature)
    }
}
