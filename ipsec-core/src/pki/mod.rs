//! Phase-1 authentication by signatures with X.509 certificates (RFC 2409 §5.1, RFC 4945,
//! RFC 4754): certificates, CRLs, chain validation, ID ↔ certificate binding, and the
//! signatures carried in SIG payloads.
//!
//! Sans-IO like the rest of the crate: the daemon reads the files, the engine passes bytes and
//! the current wall-clock time; this module never touches the file system or the clock and
//! answers with verdicts ([`PkiError`] for every refusal).
//!
//! # How the engine uses it
//!
//! ```text
//! // once, when the configuration is loaded (files read by the daemon):
//! let signer   = LocalSigner::from_pem(key_pem, cert_chain_pem)?;        // or from_pem_bundle
//! let verifier = PeerVerifier::new(TrustStore::from_pem(ca_pem)?)
//!                    .with_crls(&[crl_bytes])?;                          // optional
//!                    // .with_pinned_certificate(remote_cert)             // `remote-certificate`
//!
//! // main mode message 5/6 (or aggressive mode 2/3), we send:
//! let hash_i = transcript.hash_i(prf, &skeyid, idii_b);  // SKEYID = skeyid(prf, Phase1Auth::Signature, ..)
//! let sig    = signer.sign(&hash_i)?;                    // SIG payload body
//! // ID payload: ID_DER_ASN1_DN with signer.id_der_asn1_dn(), or an FQDN/address in its SAN;
//! // CERT payload(s): X509Signature (4) with signer.certificate_der(), then intermediates_der().
//!
//! // we receive IDir, CERT payload(s), SIG:
//! let peer = verifier.verify(now, &[cert_payload_data, ..], &id_value)?;   // chain, CRL, ID
//! //  (remote-id = ignore: verifier.verify_certificates(now, certs) skips the ID binding)
//! peer.check_auth_method(negotiated_auth_method)?;                        // RSA vs ECDSA
//! peer.verify_signature(&hash_r, sig_payload_body)?;
//! // then check the ID against the configured remote-id (config::Peer::accepts_id)
//! ```
//!
//! The configuration's `certificate` file holds our certificate and key together
//! ([`LocalSigner::from_pem_bundle`]); `ca` is one or more CA certificates
//! ([`TrustStore::from_pem`]); `remote-certificate` pins the peer's certificate
//! ([`PeerVerifier::with_pinned_certificate`]). The CERTREQ payloads we send name our CAs
//! ([`TrustStore::ca_names`]). `now` is wall-clock time ([`UnixTime`], from a `SystemTime`).
//!
//! - [`Certificate`]: one parsed X.509 certificate (DER or PEM), with the fields validation needs.
//! - [`TrustStore`]: the configured CA certificates (`ca`), the trust anchors.
//! - [`Crl`]: a certificate revocation list (DER or PEM) from a file.
//! - [`PeerVerifier`]: chain building to an anchor, validity at `now`, basic constraints, key
//!   usage, path length, CRLs, the peer's ID against the certificate; yields a [`VerifiedPeer`].
//! - [`VerifiedPeer`]: the authenticated end-entity certificate and its key;
//!   [`VerifiedPeer::verify_signature`] checks SIG payloads.
//! - [`LocalSigner`]: our private key and certificate chain; [`LocalSigner::sign`] makes SIG
//!   payloads.
//!
//! # Signatures in IKEv1
//!
//! RFC 2409 §5.1 signs HASH_I / HASH_R themselves, not a digest of them:
//!
//! - RSA: PKCS#1 v1.5 type 1 padding around the raw hash, *without* the DigestInfo that
//!   RFC 8017 §9.2 puts in (strongSwan's `SIGN_RSA_EMSA_PKCS1_NULL`). *ring* always adds a
//!   DigestInfo, so these come from the RustCrypto `rsa` crate (`Pkcs1v15Sign::new_unprefixed`);
//!   see [`keys`] for the crate version and its side-channel caveat.
//! - ECDSA (RFC 4754, auth methods 9 and 10): ECDSA over HASH_I used directly as the message
//!   digest (strongSwan's `SIGN_ECDSA_WITH_NULL`), encoded as fixed-length r | s. *ring* always
//!   hashes the message itself, so these come from RustCrypto `p256` / `p384` (prehash API,
//!   RFC 6979 deterministic nonces). P-521 (method 11) is not supported.
//!
//! Certificate and CRL signatures (RSA PKCS#1 v1.5 with SHA-256/384/512, SHA-1 only when
//! [`Limits::allow_sha1`] is set; ECDSA P-256/P-384 with SHA-256/384; Ed25519) are verified by
//! *ring*. RSA-PSS and DSA certificates are refused with a typed error.
//!
//! # What is checked (and what is not)
//!
//! Checked: the path from the peer's certificate through received intermediates to a configured
//! CA (issuer/subject names, issuer signatures), validity periods of every certificate at
//! `now`, basicConstraints cA on issuers, keyUsage keyCertSign/cRLSign on issuers and
//! digitalSignature/nonRepudiation on the end entity when present, pathLenConstraint, critical
//! extendedKeyUsage (RFC 4945 §5.1.3.12), unknown critical extensions (refused), bounds on
//! sizes and chain length, CRLs (issuer, signature, thisUpdate/nextUpdate, serials).
//!
//! Not done: name constraints and certificate policies (certificates that mark them critical are
//! refused, so nothing is silently accepted), OCSP, fetching CRLs or certificates (a CRL is
//! only what the operator configured), indirect and delta CRLs (refused), wildcard names.
//! An issuer without a configured CRL is accepted (no CRL means no revocation information,
//! as strongSwan's default `relaxed` policy); a configured CRL that applies but is expired or
//! badly signed makes validation fail.
//!
//! Nothing here panics on input bytes: every refusal is a [`PkiError`]. Private keys are
//! zeroized when dropped (the key types of `rsa`, `p256` and `p384` do this), and the DER of a
//! private key decoded from PEM lives in a [`Zeroizing`](zeroize::Zeroizing) buffer.

mod cert;
mod chain;
mod crl;
mod error;
mod id;
pub mod keys;
mod name;
mod pem;
mod signer;

pub use cert::{Certificate, SubjectAltName};
pub use chain::{PeerVerifier, TrustStore, VerifiedPeer};
pub use crl::Crl;
pub use error::{Object, PkiError, Result};
pub use keys::{KeyType, PublicKey};
pub use name::DistinguishedName;
pub use signer::LocalSigner;

use std::time::{SystemTime, UNIX_EPOCH};

/// The largest value [`LocalSigner::sign`] signs and [`VerifiedPeer::verify_signature`]
/// verifies: the output of the largest PRF (HMAC-SHA2-512).
pub const MAX_HASH_LEN: usize = 64;

/// A point in wall-clock time, in seconds since the UNIX epoch (negative before it).
///
/// Validity periods are wall-clock facts; the engine passes the time it was given. Build it from
/// a [`SystemTime`] (`UnixTime::from(SystemTime::now())` in the daemon) or from seconds (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(i64);

impl UnixTime {
    /// `secs` seconds after 1970-01-01T00:00:00Z.
    pub const fn from_secs(secs: i64) -> Self {
        UnixTime(secs)
    }

    /// Seconds since the epoch.
    pub const fn secs(self) -> i64 {
        self.0
    }
}

impl From<SystemTime> for UnixTime {
    fn from(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => UnixTime(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            Err(e) => UnixTime(
                i64::try_from(e.duration().as_secs())
                    .map(|s| -s)
                    .unwrap_or(i64::MIN),
            ),
        }
    }
}

/// Bounds and policy for parsing and validation. The defaults suit a VPN concentrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest certificate accepted, in bytes (DER). Default 16 KiB; real ones are 1-2 KiB.
    pub max_certificate_size: usize,
    /// Largest CRL accepted, in bytes (DER). Default 8 MiB (it comes from a configured file).
    pub max_crl_size: usize,
    /// Most certificates examined from one peer (CERT payloads). Default 8.
    pub max_peer_certificates: usize,
    /// Most certificates in a path, end entity and anchor included. Default 8.
    pub max_chain_len: usize,
    /// Accept SHA-1 signatures on certificates and CRLs. Default `false` (weak: only where the
    /// configuration asks for it).
    pub allow_sha1: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_certificate_size: 16 * 1024,
            max_crl_size: 8 * 1024 * 1024,
            max_peer_certificates: 8,
            max_chain_len: 8,
            allow_sha1: false,
        }
    }
}

/// At most this many PEM blocks are read from one input.
const MAX_PEM_BLOCKS: usize = 64;

/// Certificate subjects and issuers are shown in errors cut to this many characters.
const MAX_NAME_TEXT: usize = 256;
