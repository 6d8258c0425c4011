//! One X.509 certificate, parsed once with `x509-parser` into the owned fields that validation
//! and ID matching need.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ring::signature as rs;
use x509_parser::asn1_rs::{Any, Class, Tag};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_PKCS1_SHA1WITHRSA, OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA,
    OID_PKCS1_SHA512WITHRSA, OID_SHA1_WITH_RSA, OID_SIG_ECDSA_WITH_SHA256,
    OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ED25519, OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER,
    OID_X509_EXT_BASIC_CONSTRAINTS, OID_X509_EXT_EXTENDED_KEY_USAGE, OID_X509_EXT_KEY_USAGE,
    OID_X509_EXT_SUBJECT_ALT_NAME, OID_X509_EXT_SUBJECT_KEY_IDENTIFIER,
};
use x509_parser::prelude::FromDer;
use x509_parser::x509::AlgorithmIdentifier;

use super::error::{Object, PkiError, Result};
use super::keys::{KeyType, PublicKey};
use super::name::DistinguishedName;
use super::{Limits, UnixTime, pem};
use crate::wire::IdValue;

/// id-kp-ipsecIKE (RFC 4945 §5.1.3.12).
const OID_KP_IPSEC_IKE: &str = "1.3.6.1.5.5.7.3.17";

/// keyUsage bits (RFC 5280 §4.2.1.3), as `x509-parser` numbers them.
pub(crate) const KU_DIGITAL_SIGNATURE: u16 = 1;
pub(crate) const KU_NON_REPUDIATION: u16 = 1 << 1;
pub(crate) const KU_KEY_CERT_SIGN: u16 = 1 << 5;
pub(crate) const KU_CRL_SIGN: u16 = 1 << 6;

/// A subjectAltName entry that can carry an IKE identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubjectAltName {
    /// dNSName (matches ID_FQDN).
    Dns(String),
    /// rfc822Name (matches ID_USER_FQDN).
    Email(String),
    /// iPAddress (matches ID_IPV4_ADDR / ID_IPV6_ADDR).
    Ip(IpAddr),
}

/// The signature algorithms this module verifies on certificates and CRLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureAlgorithm {
    RsaPkcs1Sha1,
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
    EcdsaSha256,
    EcdsaSha384,
    Ed25519,
}

impl SignatureAlgorithm {
    /// The algorithm of `outer` (which must equal the signed copy `inner`).
    pub(crate) fn from_ids(
        outer: &AlgorithmIdentifier<'_>,
        inner: &AlgorithmIdentifier<'_>,
        subject: &DistinguishedName,
    ) -> Result<Self> {
        if outer != inner {
            return Err(PkiError::SignatureAlgorithmMismatch {
                subject: subject.to_string(),
            });
        }
        let oid = &outer.algorithm;
        Ok(
            if *oid == OID_PKCS1_SHA1WITHRSA || *oid == OID_SHA1_WITH_RSA {
                SignatureAlgorithm::RsaPkcs1Sha1
            } else if *oid == OID_PKCS1_SHA256WITHRSA {
                SignatureAlgorithm::RsaPkcs1Sha256
            } else if *oid == OID_PKCS1_SHA384WITHRSA {
                SignatureAlgorithm::RsaPkcs1Sha384
            } else if *oid == OID_PKCS1_SHA512WITHRSA {
                SignatureAlgorithm::RsaPkcs1Sha512
            } else if *oid == OID_SIG_ECDSA_WITH_SHA256 {
                SignatureAlgorithm::EcdsaSha256
            } else if *oid == OID_SIG_ECDSA_WITH_SHA384 {
                SignatureAlgorithm::EcdsaSha384
            } else if *oid == OID_SIG_ED25519 {
                SignatureAlgorithm::Ed25519
            } else {
                return Err(PkiError::UnsupportedSignatureAlgorithm {
                    oid: oid.to_id_string(),
                });
            },
        )
    }

    /// Verifies `signature` over `signed` with the issuer key `key`, through *ring*.
    /// `Ok(false)` is a bad signature; `Err` a policy refusal (SHA-1).
    pub(crate) fn verify(
        self,
        key: &PublicKey,
        signed: &[u8],
        signature: &[u8],
        limits: &Limits,
        subject: &DistinguishedName,
    ) -> Result<bool> {
        use SignatureAlgorithm as A;
        let alg: &dyn rs::VerificationAlgorithm = match (self, key.key_type()) {
            (A::RsaPkcs1Sha1, KeyType::Rsa) => {
                if !limits.allow_sha1 {
                    return Err(PkiError::WeakSignatureAlgorithm {
                        subject: subject.to_string(),
                    });
                }
                &rs::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
            }
            (A::RsaPkcs1Sha256, KeyType::Rsa) => &rs::RSA_PKCS1_2048_8192_SHA256,
            (A::RsaPkcs1Sha384, KeyType::Rsa) => &rs::RSA_PKCS1_2048_8192_SHA384,
            (A::RsaPkcs1Sha512, KeyType::Rsa) => &rs::RSA_PKCS1_2048_8192_SHA512,
            (A::EcdsaSha256, KeyType::EcdsaP256) => &rs::ECDSA_P256_SHA256_ASN1,
            (A::EcdsaSha384, KeyType::EcdsaP256) => &rs::ECDSA_P256_SHA384_ASN1,
            (A::EcdsaSha256, KeyType::EcdsaP384) => &rs::ECDSA_P384_SHA256_ASN1,
            (A::EcdsaSha384, KeyType::EcdsaP384) => &rs::ECDSA_P384_SHA384_ASN1,
            (A::Ed25519, KeyType::Ed25519) => &rs::ED25519,
            // The issuer's key cannot have made a signature of this kind.
            _ => return Ok(false),
        };
        Ok(rs::UnparsedPublicKey::new(alg, key.ring_bytes())
            .verify(signed, signature)
            .is_ok())
    }
}

/// A parsed X.509 certificate. Cheap to clone relative to a handshake; immutable.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    tbs: Vec<u8>,
    signature: Vec<u8>,
    signature_algorithm: SignatureAlgorithm,
    subject: DistinguishedName,
    issuer: DistinguishedName,
    serial: Vec<u8>,
    not_before: i64,
    not_after: i64,
    public_key: PublicKey,
    /// basicConstraints: (cA, pathLenConstraint); `None` when the extension is absent.
    basic_constraints: Option<(bool, Option<u32>)>,
    /// keyUsage bits; `None` when the extension is absent (any usage).
    key_usage: Option<u16>,
    /// A critical extendedKeyUsage that allows neither ipsecIKE nor any usage.
    eku_forbids_ike: bool,
    sans: Vec<SubjectAltName>,
    version: u32,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("serial", &hex(&self.serial))
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("key", &self.public_key)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

fn malformed(reason: &'static str) -> PkiError {
    PkiError::Malformed {
        object: Object::Certificate,
        reason,
    }
}

impl Certificate {
    /// Parses one DER certificate (the whole input) with the default [`Limits`].
    pub fn from_der(der: &[u8]) -> Result<Self> {
        Self::from_der_with(der, &Limits::default())
    }

    /// Parses one DER certificate (the whole input, at most `limits.max_certificate_size`).
    pub fn from_der_with(der: &[u8], limits: &Limits) -> Result<Self> {
        if der.len() > limits.max_certificate_size {
            return Err(PkiError::TooLarge {
                object: Object::Certificate,
                size: der.len(),
                max: limits.max_certificate_size,
            });
        }
        let (rest, x509) = X509Certificate::from_der(der).map_err(|_| malformed("invalid DER"))?;
        if !rest.is_empty() {
            return Err(malformed("trailing bytes after the certificate"));
        }
        check_outer_tags(der).ok_or(malformed("unexpected tag outside tbsCertificate"))?;
        Self::from_parsed(der, &x509)
    }

    /// Every certificate in `input`: PEM (`CERTIFICATE` blocks; other blocks, such as a
    /// private key in the same file, are skipped) or a single DER certificate.
    pub fn all_from_pem_or_der(input: &[u8], limits: &Limits) -> Result<Vec<Self>> {
        pem::der_objects(
            input,
            &["CERTIFICATE", "X509 CERTIFICATE"],
            Object::Certificate,
            limits.max_certificate_size,
        )?
        .iter()
        .map(|der| Self::from_der_with(der, limits))
        .collect()
    }

    /// The first certificate in `input` (PEM or DER).
    pub fn from_pem_or_der(input: &[u8]) -> Result<Self> {
        let limits = Limits::default();
        Self::all_from_pem_or_der(input, &limits)?
            .into_iter()
            .next()
            .ok_or(PkiError::Missing {
                object: Object::Certificate,
            })
    }

    fn from_parsed(der: &[u8], x509: &X509Certificate<'_>) -> Result<Self> {
        let subject = DistinguishedName::from_parsed(x509.subject());
        let issuer = DistinguishedName::from_parsed(x509.issuer());
        let signature_algorithm = SignatureAlgorithm::from_ids(
            &x509.signature_algorithm,
            &x509.tbs_certificate.signature,
            &subject,
        )?;
        let public_key = PublicKey::from_spki(x509.public_key())?;
        let version = x509.version().0;
        if version > 2 {
            return Err(malformed("unknown version"));
        }
        if version < 2 && !x509.extensions().is_empty() {
            return Err(malformed("extensions in a v1/v2 certificate"));
        }

        let mut basic_constraints = None;
        let mut key_usage = None;
        let mut eku_forbids_ike = false;
        let mut sans = Vec::new();
        let mut seen: Vec<&[u8]> = Vec::new();
        for ext in x509.extensions() {
            let oid = ext.oid.as_bytes();
            if seen.contains(&oid) {
                return Err(malformed("duplicate extension"));
            }
            seen.push(oid);
            let processed = ext.oid == OID_X509_EXT_BASIC_CONSTRAINTS
                || ext.oid == OID_X509_EXT_KEY_USAGE
                || ext.oid == OID_X509_EXT_SUBJECT_ALT_NAME
                || ext.oid == OID_X509_EXT_EXTENDED_KEY_USAGE
                || ext.oid == OID_X509_EXT_SUBJECT_KEY_IDENTIFIER
                || ext.oid == OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER;
            if ext.critical && !processed {
                return Err(PkiError::UnsupportedCriticalExtension {
                    object: Object::Certificate,
                    subject: subject.to_string(),
                    oid: ext.oid.to_id_string(),
                });
            }
            match ext.parsed_extension() {
                ParsedExtension::BasicConstraints(bc) => {
                    basic_constraints = Some((bc.ca, bc.path_len_constraint));
                }
                ParsedExtension::KeyUsage(ku) => key_usage = Some(ku.flags),
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    let ike = eku.any
                        || eku
                            .other
                            .iter()
                            .any(|o| o.to_id_string() == OID_KP_IPSEC_IKE);
                    eku_forbids_ike = ext.critical && !ike;
                }
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(d) => {
                                sans.push(SubjectAltName::Dns(d.to_string()))
                            }
                            GeneralName::RFC822Name(e) => {
                                sans.push(SubjectAltName::Email(e.to_string()));
                            }
                            GeneralName::IPAddress(ip) => {
                                if let Ok(a) = <[u8; 4]>::try_from(*ip) {
                                    sans.push(SubjectAltName::Ip(Ipv4Addr::from(a).into()));
                                } else if let Ok(a) = <[u8; 16]>::try_from(*ip) {
                                    sans.push(SubjectAltName::Ip(Ipv6Addr::from(a).into()));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                ParsedExtension::ParseError { .. } if processed || ext.critical => {
                    return Err(malformed("invalid extension"));
                }
                _ => {}
            }
        }
        Ok(Certificate {
            der: der.to_vec(),
            tbs: x509.tbs_certificate.as_ref().to_vec(),
            signature: x509.signature_value.data.to_vec(),
            signature_algorithm,
            subject,
            issuer,
            serial: minimal(x509.raw_serial()).to_vec(),
            not_before: x509.validity().not_before.timestamp(),
            not_after: x509.validity().not_after.timestamp(),
            public_key,
            basic_constraints,
            key_usage,
            eku_forbids_ike,
            sans,
            version,
        })
    }

    /// The DER encoding (what a CERT payload carries with encoding X.509 Signature, 4).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject.
    pub fn subject(&self) -> &DistinguishedName {
        &self.subject
    }

    /// The issuer.
    pub fn issuer(&self) -> &DistinguishedName {
        &self.issuer
    }

    /// The serial number (big-endian, without leading zero octets).
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    /// notBefore, UNIX seconds.
    pub fn not_before(&self) -> UnixTime {
        UnixTime::from_secs(self.not_before)
    }

    /// notAfter, UNIX seconds.
    pub fn not_after(&self) -> UnixTime {
        UnixTime::from_secs(self.not_after)
    }

    /// The subject's public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The subjectAltName entries that can carry IKE identities.
    pub fn subject_alt_names(&self) -> &[SubjectAltName] {
        &self.sans
    }

    /// Whether basicConstraints says cA.
    pub fn is_ca(&self) -> bool {
        matches!(self.basic_constraints, Some((true, _)))
    }

    /// Whether the certificate is valid at `now` (notBefore ≤ now ≤ notAfter, RFC 5280
    /// §4.1.2.5: both ends inclusive).
    pub fn check_validity(&self, now: UnixTime) -> Result<()> {
        if now.secs() < self.not_before {
            Err(PkiError::NotYetValid {
                subject: self.subject.to_string(),
                not_before: self.not_before,
            })
        } else if now.secs() > self.not_after {
            Err(PkiError::Expired {
                subject: self.subject.to_string(),
                not_after: self.not_after,
            })
        } else {
            Ok(())
        }
    }

    /// Whether `id` (the peer's ID payload) is carried by this certificate (RFC 4945 §3):
    /// ID_DER_ASN1_DN equal to the subject; ID_FQDN, ID_USER_FQDN, ID_IPV4_ADDR and
    /// ID_IPV6_ADDR equal to a subjectAltName dNSName, rfc822Name or iPAddress.
    pub fn check_id(&self, id: &IdValue<'_>) -> Result<()> {
        super::id::check(self, id)
    }

    /// The ID_DER_ASN1_DN body naming this certificate's subject.
    pub fn id_der_asn1_dn(&self) -> Vec<u8> {
        self.subject.as_der().to_vec()
    }

    pub(crate) fn key_usage_allows(&self, bits: u16) -> bool {
        self.key_usage.is_none_or(|ku| ku & bits != 0)
    }

    pub(crate) fn path_len(&self) -> Option<u32> {
        self.basic_constraints.and_then(|(_, p)| p)
    }

    pub(crate) fn has_basic_constraints(&self) -> bool {
        self.basic_constraints.is_some()
    }

    pub(crate) fn version(&self) -> u32 {
        self.version
    }

    pub(crate) fn eku_forbids_ike(&self) -> bool {
        self.eku_forbids_ike
    }

    /// Self-issued: subject and issuer are the same name (RFC 5280 §6.1).
    pub(crate) fn is_self_issued(&self) -> bool {
        self.subject.matches(&self.issuer)
    }

    /// Verifies that `issuer`'s key made this certificate's signature.
    pub(crate) fn signature_valid_from(
        &self,
        issuer: &Certificate,
        limits: &Limits,
    ) -> Result<bool> {
        self.signature_algorithm.verify(
            &issuer.public_key,
            &self.tbs,
            &self.signature,
            limits,
            &self.subject,
        )
    }
}

/// Checks the tags of the parts of `Certificate ::= SEQUENCE { tbsCertificate,
/// signatureAlgorithm SEQUENCE { algorithm OID, .. }, signatureValue BIT STRING }` that the
/// signature does not cover. `x509-parser` 0.18 reads those without looking at their tags (a
/// flipped tag bit there still parsed, and the signature still verified), so different byte
/// strings could pass as the same certificate; this walk with `asn1-rs` closes that. Written
/// here because the parser offers no strict mode.
fn check_outer_tags(der: &[u8]) -> Option<()> {
    fn element(input: &[u8], tag: Tag, constructed: bool) -> Option<(&[u8], Any<'_>)> {
        let (rest, any) = Any::from_der(input).ok()?;
        let h = &any.header;
        (h.class() == Class::Universal && h.tag() == tag && h.is_constructed() == constructed)
            .then_some((rest, any))
    }
    let (rest, cert) = element(der, Tag::Sequence, true)?;
    if !rest.is_empty() {
        return None;
    }
    let (rest, _tbs) = element(cert.data, Tag::Sequence, true)?;
    let (rest, alg) = element(rest, Tag::Sequence, true)?;
    element(alg.data, Tag::Oid, false)?;
    let (rest, _sig) = element(rest, Tag::BitString, false)?;
    rest.is_empty().then_some(())
}

/// An INTEGER's content without redundant leading zero octets.
pub(crate) fn minimal(serial: &[u8]) -> &[u8] {
    let zeros = serial.iter().take_while(|&&b| b == 0).count();
    &serial[zeros.min(serial.len().saturating_sub(1))..]
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
