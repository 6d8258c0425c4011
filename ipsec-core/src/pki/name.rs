//! X.500 distinguished names: the DER as received, a printable form for logs, and a
//! normalised form for comparison.
//!
//! Two names are the same if their DER is identical, or else if they have the same RDNs in the
//! same order, each with the same set of (attribute type, value) pairs, where string values are
//! compared after a simplified RFC 4518 preparation: decoded from their ASN.1 string type
//! (PrintableString, UTF8String, IA5String, TeletexString as Latin-1, BMPString,
//! UniversalString), leading and trailing spaces removed, inner runs of white space collapsed to
//! one space, and case folded. This is what lets a peer's ID_DER_ASN1_DN encoded with
//! UTF8String match a certificate subject encoded with PrintableString (RFC 5280 §7.1,
//! RFC 4945 §3.1.5). This is not academic: strongSwan encodes an ID_DER_ASN1_DN configured as
//! a string with PrintableString for every attribute, while OpenSSL writes O and CN of a
//! certificate as UTF8String (`vectors/strongswan-mm-rsa-aes128-sha256-modp2048`). No crate implements LDAP string preparation, so it is written here; full
//! RFC 4518 (Unicode normalisation, insignificant-character handling) is not attempted.

use std::fmt;

use x509_parser::asn1_rs::Tag;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use super::MAX_NAME_TEXT;
use super::error::{Object, PkiError, Result};

/// One attribute value, normalised.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    /// A string type, prepared for comparison.
    Text(String),
    /// Any other type: tag and content, compared exactly.
    Raw(u32, Vec<u8>),
}

/// An RDN: its (attribute type OID bytes, value) pairs, sorted (an RDN is a SET).
type Rdn = Vec<(Vec<u8>, Value)>;

/// A distinguished name (certificate subject or issuer, CRL issuer, or an ID_DER_ASN1_DN).
#[derive(Clone)]
pub struct DistinguishedName {
    der: Vec<u8>,
    text: String,
    normalised: Vec<Rdn>,
}

impl DistinguishedName {
    /// Parses a DER-encoded Name (the whole input).
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let (rest, name) = X509Name::from_der(der).map_err(|_| PkiError::Malformed {
            object: Object::Certificate,
            reason: "invalid distinguished name",
        })?;
        if !rest.is_empty() {
            return Err(PkiError::Malformed {
                object: Object::Certificate,
                reason: "trailing bytes after a distinguished name",
            });
        }
        Ok(Self::from_parsed(&name))
    }

    pub(crate) fn from_parsed(name: &X509Name<'_>) -> Self {
        let mut normalised = Vec::new();
        for rdn in name.iter_rdn() {
            let mut set: Rdn = rdn
                .iter()
                .map(|atv| {
                    let value = atv.attr_value();
                    let v = match prepare(value.tag(), value.data) {
                        Some(s) => Value::Text(s),
                        None => Value::Raw(value.tag().0, value.data.to_vec()),
                    };
                    (atv.attr_type().as_bytes().to_vec(), v)
                })
                .collect();
            set.sort();
            normalised.push(set);
        }
        let mut text = name.to_string();
        truncate(&mut text, MAX_NAME_TEXT);
        DistinguishedName {
            der: name.as_raw().to_vec(),
            text,
            normalised,
        }
    }

    /// The DER encoding, as it appeared (this is the body of an ID_DER_ASN1_DN).
    pub fn as_der(&self) -> &[u8] {
        &self.der
    }

    /// Whether `self` and `other` name the same entity (see the module documentation).
    pub fn matches(&self, other: &DistinguishedName) -> bool {
        self.der == other.der || self.normalised == other.normalised
    }

    /// Whether this is the empty name (an end-entity certificate may have one and carry its
    /// names in subjectAltName only).
    pub fn is_empty(&self) -> bool {
        self.normalised.is_empty()
    }
}

impl fmt::Display for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DistinguishedName({:?})", self.text)
    }
}

impl PartialEq for DistinguishedName {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other)
    }
}

impl Eq for DistinguishedName {}

/// Decodes a string-typed attribute value and prepares it; `None` for other types or bad
/// encodings (those are then compared exactly).
fn prepare(tag: Tag, data: &[u8]) -> Option<String> {
    let decoded: String = match tag {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::NumericString => {
            std::str::from_utf8(data).ok()?.to_string()
        }
        // Teletex is formally T.61; in practice Latin-1.
        Tag::TeletexString => data.iter().map(|&b| char::from(b)).collect(),
        Tag::BmpString => {
            if !data.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()?
        }
        Tag::UniversalString => {
            if !data.len().is_multiple_of(4) {
                return None;
            }
            data.chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect::<Option<String>>()?
        }
        _ => return None,
    };
    let mut out = String::with_capacity(decoded.len());
    for word in decoded.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    Some(out)
}

/// Cuts `s` to at most `max` characters (on a character boundary), marking the cut.
pub(crate) fn truncate(s: &mut String, max: usize) {
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
        s.push('…');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preparation_folds_case_and_space() {
        assert_eq!(
            prepare(Tag::PrintableString, b"  ikv  Test\tPKI ").as_deref(),
            Some("ikv test pki")
        );
        assert_eq!(
            prepare(Tag::BmpString, &[0, b'A', 0, b'b']).as_deref(),
            Some("ab")
        );
        assert_eq!(prepare(Tag::BmpString, &[0]), None);
        assert_eq!(prepare(Tag::OctetString, b"x"), None);
    }

    #[test]
    fn truncates_on_char_boundary() {
        let mut s = "ééé".to_string();
        truncate(&mut s, 2);
        assert_eq!(s, "éé…");
        let mut t = "ab".to_string();
        truncate(&mut t, 2);
        assert_eq!(t, "ab");
    }
}
