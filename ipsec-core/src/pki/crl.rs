//! Certificate revocation lists (RFC 5280 §5), read from a configured file.
//!
//! A CRL is parsed once; whether it applies to a certificate (its issuer name is the
//! certificate's issuer), whether its signature verifies with that issuer's key and whether it
//! is current are decided during chain validation, where the issuer's certificate is known.
//! Indirect CRLs (certificateIssuer entries), delta CRLs and partitioned CRLs
//! (issuingDistributionPoint) are refused when marked critical, as RFC 5280 requires of
//! critical extensions one does not process.

use std::fmt;

use x509_parser::oid_registry::{
    OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, OID_X509_EXT_CRL_NUMBER, OID_X509_EXT_INVALIDITY_DATE,
    OID_X509_EXT_REASON_CODE,
};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::cert::{Certificate, KU_CRL_SIGN, SignatureAlgorithm, minimal};
use super::error::{Object, PkiError, Result};
use super::name::DistinguishedName;
use super::{Limits, UnixTime, pem};

/// A parsed CRL.
#[derive(Clone)]
pub struct Crl {
    issuer: DistinguishedName,
    this_update: i64,
    next_update: Option<i64>,
    /// Revoked serial numbers, minimal big-endian, sorted.
    revoked: Vec<Vec<u8>>,
    tbs: Vec<u8>,
    signature: Vec<u8>,
    signature_algorithm: SignatureAlgorithm,
}

impl fmt::Debug for Crl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crl")
            .field("issuer", &self.issuer)
            .field("this_update", &self.this_update)
            .field("next_update", &self.next_update)
            .field("revoked", &self.revoked.len())
            .finish_non_exhaustive()
    }
}

fn malformed(reason: &'static str) -> PkiError {
    PkiError::Malformed {
        object: Object::Crl,
        reason,
    }
}

impl Crl {
    /// Parses one DER CRL (the whole input) with the default [`Limits`].
    pub fn from_der(der: &[u8]) -> Result<Self> {
        Self::from_der_with(der, &Limits::default())
    }

    /// Parses one DER CRL (the whole input, at most `limits.max_crl_size`).
    pub fn from_der_with(der: &[u8], limits: &Limits) -> Result<Self> {
        if der.len() > limits.max_crl_size {
            return Err(PkiError::TooLarge {
                object: Object::Crl,
                size: der.len(),
                max: limits.max_crl_size,
            });
        }
        let (rest, crl) =
            CertificateRevocationList::from_der(der).map_err(|_| malformed("invalid DER"))?;
        if !rest.is_empty() {
            return Err(malformed("trailing bytes after the CRL"));
        }
        let issuer = DistinguishedName::from_parsed(crl.issuer());
        let signature_algorithm = SignatureAlgorithm::from_ids(
            &crl.signature_algorithm,
            &crl.tbs_cert_list.signature,
            &issuer,
        )?;
        let critical =
            |oid: &x509_parser::oid_registry::Oid<'_>| PkiError::UnsupportedCriticalExtension {
                object: Object::Crl,
                subject: issuer.to_string(),
                oid: oid.to_id_string(),
            };
        for ext in crl.extensions() {
            let known = ext.oid == OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER
                || ext.oid == OID_X509_EXT_CRL_NUMBER;
            if ext.critical && !known {
                return Err(critical(&ext.oid));
            }
        }
        let mut revoked = Vec::with_capacity(crl.tbs_cert_list.revoked_certificates.len());
        for entry in crl.iter_revoked_certificates() {
            for ext in entry.extensions() {
                let known =
                    ext.oid == OID_X509_EXT_REASON_CODE || ext.oid == OID_X509_EXT_INVALIDITY_DATE;
                if ext.critical && !known {
                    return Err(critical(&ext.oid));
                }
            }
            revoked.push(minimal(entry.raw_serial()).to_vec());
        }
        revoked.sort_unstable();
        revoked.dedup();
        Ok(Crl {
            issuer,
            this_update: crl.last_update().timestamp(),
            next_update: crl.next_update().map(|t| t.timestamp()),
            revoked,
            tbs: crl.tbs_cert_list.as_ref().to_vec(),
            signature: crl.signature_value.data.to_vec(),
            signature_algorithm,
        })
    }

    /// Every CRL in `input`: PEM (`X509 CRL` blocks) or a single DER CRL.
    pub fn all_from_pem_or_der(input: &[u8], limits: &Limits) -> Result<Vec<Self>> {
        pem::der_objects(input, &["X509 CRL"], Object::Crl, limits.max_crl_size)?
            .iter()
            .map(|der| Self::from_der_with(der, limits))
            .collect()
    }

    /// The issuer.
    pub fn issuer(&self) -> &DistinguishedName {
        &self.issuer
    }

    /// thisUpdate.
    pub fn this_update(&self) -> UnixTime {
        UnixTime::from_secs(self.this_update)
    }

    /// nextUpdate, if the CRL has one.
    pub fn next_update(&self) -> Option<UnixTime> {
        self.next_update.map(UnixTime::from_secs)
    }

    /// Whether the serial number `serial` (big-endian) is listed.
    pub fn is_revoked(&self, serial: &[u8]) -> bool {
        self.revoked
            .binary_search_by(|s| s.as_slice().cmp(minimal(serial)))
            .is_ok()
    }

    /// Whether this CRL speaks for certificates issued by `issuer` (by name).
    pub(crate) fn applies_to(&self, cert: &Certificate) -> bool {
        self.issuer.matches(cert.issuer())
    }

    /// Checks that `issuer` signed this CRL and may sign CRLs (keyUsage cRLSign when present).
    pub(crate) fn check_signed_by(&self, issuer: &Certificate, limits: &Limits) -> Result<()> {
        let bad = || PkiError::BadCrlSignature {
            issuer: self.issuer.to_string(),
        };
        if !self.issuer.matches(issuer.subject()) {
            return Err(bad());
        }
        if !issuer.key_usage_allows(KU_CRL_SIGN) {
            return Err(PkiError::KeyUsage {
                subject: issuer.subject().to_string(),
                needed: "cRLSign",
            });
        }
        let good = self.signature_algorithm.verify(
            issuer.public_key(),
            &self.tbs,
            &self.signature,
            limits,
            &self.issuer,
        )?;
        if good { Ok(()) } else { Err(bad()) }
    }

    /// Checks that the CRL is current at `now`: thisUpdate ≤ now ≤ nextUpdate.
    pub(crate) fn check_current(&self, now: UnixTime) -> Result<()> {
        if now.secs() < self.this_update {
            return Err(PkiError::CrlNotYetValid {
                issuer: self.issuer.to_string(),
                this_update: self.this_update,
            });
        }
        if let Some(next) = self.next_update
            && now.secs() > next
        {
            return Err(PkiError::CrlExpired {
                issuer: self.issuer.to_string(),
                next_update: next,
            });
        }
        Ok(())
    }
}
