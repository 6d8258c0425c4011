//! Certificate (RFC 2408 §3.9) and Certificate Request (RFC 2408 §3.10) payloads.
//!
//! ```text
//! CERT body:  Cert Encoding (1) | Certificate Data ...
//! CR body:    Cert. Type (1)    | Certificate Authority ...   (may be empty: any CA)
//! ```

use super::codec::{Reader, Writer, wire_enum};
use super::error::{EmitError, WireError};

wire_enum! {
    /// Certificate Encoding (RFC 2408 §3.9).
    pub enum CertEncoding: u8 {
        /// PKCS #7 wrapped X.509 certificate.
        Pkcs7 = 1,
        /// PGP Certificate.
        Pgp = 2,
        /// DNS Signed Key.
        DnsSignedKey = 3,
        /// X.509 Certificate - Signature.
        X509Signature = 4,
        /// X.509 Certificate - Key Exchange.
        X509KeyExchange = 5,
        /// Kerberos Tokens.
        Kerberos = 6,
        /// Certificate Revocation List (CRL).
        Crl = 7,
        /// Authority Revocation List (ARL).
        Arl = 8,
        /// SPKI Certificate.
        Spki = 9,
        /// X.509 Certificate - Attribute.
        X509Attribute = 10,
        /// Raw RSA key (RFC 4945 §3.2 notes its IKEv1 use).
        RawRsaKey = 11,
        /// Hash and URL of X.509 certificate.
        HashUrlX509 = 12,
        /// Hash and URL of X.509 bundle.
        HashUrlBundle = 13,
    }
}

/// The Certificate payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Certificate<'a> {
    /// Certificate Encoding.
    pub encoding: CertEncoding,
    /// Certificate Data, never empty.
    pub data: &'a [u8],
}

impl<'a> Certificate<'a> {
    /// Parse a CERT body.
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "certificate payload");
        let encoding = CertEncoding::from(r.u8()?);
        let data = r.rest();
        if data.is_empty() {
            return Err(WireError::Empty {
                what: "certificate data",
            });
        }
        Ok(Certificate { encoding, data })
    }

    /// Write the body.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        if self.data.is_empty() {
            return Err(EmitError::Invalid {
                what: "empty certificate data",
            });
        }
        out.put_u8(self.encoding.value());
        out.put_slice(self.data);
        Ok(())
    }
}

/// The Certificate Request payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertificateRequest<'a> {
    /// Requested certificate type.
    pub cert_type: CertEncoding,
    /// Acceptable certificate authority (a DER DN for X.509); empty means any.
    pub authority: &'a [u8],
}

impl<'a> CertificateRequest<'a> {
    /// Parse a CR body.
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "certificate request payload");
        let cert_type = CertEncoding::from(r.u8()?);
        Ok(CertificateRequest {
            cert_type,
            authority: r.rest(),
        })
    }

    /// Write the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(self.cert_type.value());
        out.put_slice(self.authority);
    }
}
