//! [`PkiError`]: every reason a certificate, CRL, key or signature is refused.

use std::fmt;

/// Which kind of object a parse or size error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Object {
    /// An X.509 certificate.
    Certificate,
    /// A certificate revocation list.
    Crl,
    /// A private key.
    PrivateKey,
    /// A PEM file or block.
    Pem,
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Object::Certificate => "certificate",
            Object::Crl => "CRL",
            Object::PrivateKey => "private key",
            Object::Pem => "PEM data",
        })
    }
}

/// Why the PKI layer refused something. Certificate-specific variants carry the subject (or
/// issuer) as an RFC 4514-like string so that the caller can log it once with the peer's
/// address; none of them carries secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    // ---- input framing and parsing ------------------------------------------------------
    /// The object is larger than the configured bound.
    #[error("{object} of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// What was too large.
        object: Object,
        /// Its size.
        size: usize,
        /// The limit ([`Limits`](super::Limits)).
        max: usize,
    },
    /// The bytes are not a valid DER/PEM encoding of the object.
    #[error("malformed {object}: {reason}")]
    Malformed {
        /// What failed to parse.
        object: Object,
        /// What was wrong (static text, no input echoed).
        reason: &'static str,
    },
    /// A PEM input held no block of the expected kind.
    #[error("no {object} found in the input")]
    Missing {
        /// What was looked for.
        object: Object,
    },
    /// A PEM block with a label this module does not read (e.g. an encrypted private key).
    #[error("unsupported PEM block \"{label}\"")]
    UnsupportedPemLabel {
        /// The label, e.g. `ENCRYPTED PRIVATE KEY`.
        label: String,
    },

    // ---- chain building -----------------------------------------------------------------
    /// The peer sent no certificate and none is configured for it.
    #[error("the peer sent no certificate")]
    NoPeerCertificate,
    /// More certificates than [`Limits::max_peer_certificates`](super::Limits).
    #[error("{count} certificates received, at most {max} are examined")]
    TooManyCertificates {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Path building examined too many candidate issuers (a peer sending certificates that
    /// all sign each other); bounded so that it cannot cost more than a few signature checks.
    #[error("certificate path building exceeded its budget of {max} signature checks")]
    PathBuildingBudget {
        /// The budget.
        max: usize,
    },
    /// No path to a configured CA within [`Limits::max_chain_len`](super::Limits).
    #[error("certificate chain longer than {max}")]
    ChainTooLong {
        /// The limit.
        max: usize,
    },
    /// No configured CA (and no received intermediate) issued this certificate.
    #[error("no trusted issuer for \"{subject}\" (issuer \"{issuer}\")")]
    UnknownIssuer {
        /// The certificate whose issuer was not found.
        subject: String,
        /// Its issuer name.
        issuer: String,
    },
    /// The certificate is not yet valid at the given time.
    #[error("certificate \"{subject}\" is not valid before {not_before} (UNIX time)")]
    NotYetValid {
        /// Subject.
        subject: String,
        /// notBefore, UNIX seconds.
        not_before: i64,
    },
    /// The certificate expired before the given time.
    #[error("certificate \"{subject}\" expired at {not_after} (UNIX time)")]
    Expired {
        /// Subject.
        subject: String,
        /// notAfter, UNIX seconds.
        not_after: i64,
    },
    /// The issuer's signature over the certificate does not verify.
    #[error("bad signature on certificate \"{subject}\"")]
    BadCertificateSignature {
        /// Subject of the certificate whose signature failed.
        subject: String,
    },
    /// The outer signatureAlgorithm differs from the TBS signature field (RFC 5280 §4.1.1.2).
    #[error("certificate \"{subject}\": signatureAlgorithm differs from tbsCertificate.signature")]
    SignatureAlgorithmMismatch {
        /// Subject.
        subject: String,
    },
    /// A signature algorithm this module does not verify (RSA-PSS, DSA, GOST, ...).
    #[error("unsupported signature algorithm {oid}")]
    UnsupportedSignatureAlgorithm {
        /// Its OID, dotted.
        oid: String,
    },
    /// SHA-1 signatures are refused unless [`Limits::allow_sha1`](super::Limits) is set.
    #[error("SHA-1 signature on \"{subject}\" refused (weak; allow it explicitly)")]
    WeakSignatureAlgorithm {
        /// Subject of the certificate or issuer of the CRL.
        subject: String,
    },
    /// A public key this module cannot use (unknown algorithm or curve, bad encoding, size).
    #[error("unsupported or invalid public key: {reason}")]
    UnsupportedPublicKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An issuer in the path is not a CA (basicConstraints cA absent or false).
    #[error("\"{subject}\" issued a certificate but is not a CA")]
    NotCa {
        /// The would-be issuer.
        subject: String,
    },
    /// A key usage the role needs is missing (RFC 5280 §4.2.1.3, RFC 4945 §5.1.3.2).
    #[error("certificate \"{subject}\" lacks key usage {needed}")]
    KeyUsage {
        /// Subject.
        subject: String,
        /// e.g. `keyCertSign`, `cRLSign`, `digitalSignature or nonRepudiation`.
        needed: &'static str,
    },
    /// A critical extendedKeyUsage without id-kp-ipsecIKE or anyExtendedKeyUsage
    /// (RFC 4945 §5.1.3.12).
    #[error("certificate \"{subject}\" has a critical extendedKeyUsage without ipsecIKE")]
    ExtendedKeyUsage {
        /// Subject.
        subject: String,
    },
    /// A CA's pathLenConstraint is exceeded (RFC 5280 §4.2.1.9).
    #[error("path length constraint of \"{subject}\" exceeded")]
    PathLenExceeded {
        /// The constraining CA.
        subject: String,
    },
    /// A critical extension this module does not process (RFC 5280 §4.2).
    #[error("{object} \"{subject}\" has an unsupported critical extension {oid}")]
    UnsupportedCriticalExtension {
        /// Certificate or CRL.
        object: Object,
        /// Subject (certificate) or issuer (CRL).
        subject: String,
        /// The extension's OID, dotted.
        oid: String,
    },
    /// The received end-entity certificate is not the configured `remote-certificate`.
    #[error("the peer's certificate \"{subject}\" is not the configured remote certificate")]
    NotPinnedCertificate {
        /// Subject of what was received.
        subject: String,
    },

    // ---- revocation ---------------------------------------------------------------------
    /// The certificate's serial number is on its issuer's CRL.
    #[error("certificate \"{subject}\" (serial {serial}) is revoked")]
    Revoked {
        /// Subject.
        subject: String,
        /// Serial number, hex.
        serial: String,
    },
    /// A CRL whose issuer name matches does not verify with that issuer's key.
    #[error("bad signature on the CRL of \"{issuer}\"")]
    BadCrlSignature {
        /// The CRL's issuer.
        issuer: String,
    },
    /// The CRL's nextUpdate has passed.
    #[error("the CRL of \"{issuer}\" expired at {next_update} (UNIX time)")]
    CrlExpired {
        /// The CRL's issuer.
        issuer: String,
        /// nextUpdate, UNIX seconds.
        next_update: i64,
    },
    /// The CRL's thisUpdate is in the future.
    #[error("the CRL of \"{issuer}\" is not valid before {this_update} (UNIX time)")]
    CrlNotYetValid {
        /// The CRL's issuer.
        issuer: String,
        /// thisUpdate, UNIX seconds.
        this_update: i64,
    },

    // ---- identities ---------------------------------------------------------------------
    /// The peer's ID payload is not carried by its certificate (RFC 4945 §3).
    #[error("ID {id} does not match certificate \"{subject}\"")]
    IdMismatch {
        /// The ID, printable.
        id: String,
        /// The certificate's subject.
        subject: String,
    },
    /// An ID type that cannot be bound to a certificate (subnets, ranges, ...).
    #[error("ID type {id_type} cannot be matched against a certificate")]
    UnsupportedIdType {
        /// The ID type number (RFC 2407 §4.6.2.1).
        id_type: u8,
    },

    // ---- signatures (SIG payload) and keys ----------------------------------------------
    /// The SIG payload does not verify with the peer's key.
    #[error("signature verification failed")]
    BadSignature,
    /// The value to sign or verify is empty or larger than [`MAX_HASH_LEN`](super::MAX_HASH_LEN).
    #[error("hash of {len} bytes cannot be signed or verified")]
    BadHashLength {
        /// Its length.
        len: usize,
    },
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate \"{subject}\"")]
    KeyMismatch {
        /// The certificate's subject.
        subject: String,
    },
    /// A private key type or size this module does not sign with.
    #[error("unsupported private key: {reason}")]
    UnsupportedPrivateKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The peer's key cannot make signatures of the negotiated authentication method (an
    /// ECDSA certificate under RSA signatures, or the reverse).
    #[error("a {key:?} key cannot authenticate with auth method {method}")]
    AuthMethodMismatch {
        /// The key's type.
        key: super::KeyType,
        /// The negotiated method (RFC 2409 Appendix A number).
        method: u16,
    },
    /// The signing operation itself failed.
    #[error("signing failed")]
    SigningFailed,
}

/// Shorthand.
pub type Result<T, E = PkiError> = std::result::Result<T, E>;
