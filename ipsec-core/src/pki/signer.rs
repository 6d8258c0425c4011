//! Our side: the private key, our certificate and the intermediates we send with it.

use super::cert::Certificate;
use super::error::{Object, PkiError, Result};
use super::keys::{KeyType, PrivateKey};
use super::name::DistinguishedName;
use super::{Limits, pem};
use crate::wire::AuthMethod;

/// Private keys are small; this bounds what is decoded from a key block.
const MAX_KEY_SIZE: usize = 16 * 1024;

/// Signs our SIG payloads and provides what goes with them: the CERT payload(s) and the
/// subject for an ID_DER_ASN1_DN.
///
/// The certificate is the one (of those given) whose public key matches the private key; the
/// others are kept, in the order given, as intermediates to send after it.
#[derive(Debug)]
pub struct LocalSigner {
    key: PrivateKey,
    certificate: Certificate,
    intermediates: Vec<Certificate>,
}

impl LocalSigner {
    /// From a private key (PEM: PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY` or SEC1
    /// `EC PRIVATE KEY`, unencrypted; or the same as DER) and a certificate chain (PEM with one
    /// or more `CERTIFICATE` blocks, or one DER certificate).
    pub fn from_pem(key: &[u8], certificate_chain: &[u8]) -> Result<Self> {
        let limits = Limits::default();
        let key = read_key(key)?;
        let certs = Certificate::all_from_pem_or_der(certificate_chain, &limits)?;
        Self::assemble(key, certs)
    }

    /// From one PEM file holding the certificate, its private key and optionally
    /// intermediates (the configuration's `certificate` file, "certificate and key").
    pub fn from_pem_bundle(bundle: &[u8]) -> Result<Self> {
        Self::from_pem(bundle, bundle)
    }

    /// From DER: the private key (PKCS#8, PKCS#1 or SEC1), our certificate and intermediates.
    pub fn from_der(key: &[u8], certificate: &[u8], intermediates: &[&[u8]]) -> Result<Self> {
        let key = PrivateKey::from_der(key)?;
        let mut certs = vec![Certificate::from_der(certificate)?];
        for der in intermediates {
            certs.push(Certificate::from_der(der)?);
        }
        let signer = Self::assemble(key, certs)?;
        Ok(signer)
    }

    fn assemble(key: PrivateKey, mut certs: Vec<Certificate>) -> Result<Self> {
        let Some(i) = certs.iter().position(|c| key.matches(c.public_key())) else {
            return Err(match certs.first() {
                Some(c) => PkiError::KeyMismatch {
                    subject: c.subject().to_string(),
                },
                None => PkiError::Missing {
                    object: Object::Certificate,
                },
            });
        };
        let certificate = certs.remove(i);
        Ok(LocalSigner {
            key,
            certificate,
            intermediates: certs,
        })
    }

    /// Signs HASH_I (we are the initiator) or HASH_R (responder) for our SIG payload
    /// (RFC 2409 §5.1; see [`keys`](super::keys) for the encodings).
    pub fn sign(&self, hash: &[u8]) -> Result<Vec<u8>> {
        self.key.sign_ike(hash)
    }

    /// Our certificate, DER: the data of our first CERT payload (encoding X.509 Signature, 4).
    pub fn certificate_der(&self) -> &[u8] {
        self.certificate.der()
    }

    /// Our certificate, parsed.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The intermediates given with our certificate, DER, to send in further CERT payloads.
    pub fn intermediates_der(&self) -> impl Iterator<Item = &[u8]> {
        self.intermediates.iter().map(Certificate::der)
    }

    /// The body of an ID_DER_ASN1_DN payload naming us: our certificate's subject, DER.
    pub fn id_der_asn1_dn(&self) -> Vec<u8> {
        self.certificate.id_der_asn1_dn()
    }

    /// Our certificate's subject.
    pub fn subject(&self) -> &DistinguishedName {
        self.certificate.subject()
    }

    /// RSA or ECDSA P-256/P-384.
    pub fn key_type(&self) -> KeyType {
        self.key.key_type()
    }

    /// The phase-1 authentication method our key implies without XAuth (RSA signatures,
    /// ECDSA-256, ECDSA-384), for the proposals we make.
    pub fn auth_method(&self) -> AuthMethod {
        match self.key.key_type() {
            KeyType::EcdsaP256 => AuthMethod::EcdsaP256,
            KeyType::EcdsaP384 => AuthMethod::EcdsaP384,
            KeyType::Rsa | KeyType::Ed25519 => AuthMethod::RsaSignatures,
        }
    }
}

/// The private key in `input`: the first key block of a PEM file (`PRIVATE KEY`,
/// `RSA PRIVATE KEY`, `EC PRIVATE KEY`; other blocks such as certificates are skipped), or DER.
fn read_key(input: &[u8]) -> Result<PrivateKey> {
    if !pem::is_pem(input) {
        if input.len() > MAX_KEY_SIZE {
            return Err(PkiError::TooLarge {
                object: Object::PrivateKey,
                size: input.len(),
                max: MAX_KEY_SIZE,
            });
        }
        return PrivateKey::from_der(input);
    }
    for block in pem::blocks(
        input,
        MAX_KEY_SIZE.max(Limits::default().max_certificate_size),
    )? {
        match block.label.as_str() {
            "PRIVATE KEY" => return PrivateKey::from_pkcs8_der(&block.der),
            "RSA PRIVATE KEY" => return PrivateKey::from_pkcs1_der(&block.der),
            "EC PRIVATE KEY" => return PrivateKey::from_sec1_der(&block.der),
            "ENCRYPTED PRIVATE KEY" => {
                return Err(PkiError::UnsupportedPemLabel { label: block.label });
            }
            _ => {}
        }
    }
    Err(PkiError::Missing {
        object: Object::PrivateKey,
    })
}
