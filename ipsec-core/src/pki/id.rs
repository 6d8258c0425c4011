//! Binding the peer's ID payload to its certificate (RFC 4945 §3, for IKEv1).
//!
//! - ID_DER_ASN1_DN: equal to the certificate's subject (DER equality, or the normalised
//!   comparison of [`DistinguishedName::matches`]). An empty subject never matches.
//! - ID_FQDN: equal to a subjectAltName dNSName, ASCII case-insensitively (RFC 4945 §3.1.2;
//!   a trailing dot is ignored; no wildcards: RFC 4945 does not define them for IKE).
//! - ID_USER_FQDN: equal to a subjectAltName rfc822Name, the local part exactly and the
//!   domain case-insensitively (RFC 5280 §4.2.1.6).
//! - ID_IPV4_ADDR / ID_IPV6_ADDR: equal to a subjectAltName iPAddress (RFC 4945 §3.1.1).
//! - Other types (subnets and ranges, which RFC 4945 §3.1.3/§3.1.4 forbid in phase 1;
//!   ID_KEY_ID, which names no certificate field; ID_DER_ASN1_GN): refused as unsupported.

use std::net::IpAddr;

use super::cert::{Certificate, SubjectAltName};
use super::error::{PkiError, Result};
use super::name::{DistinguishedName, truncate};
use crate::wire::IdValue;

pub(crate) fn check(cert: &Certificate, id: &IdValue<'_>) -> Result<()> {
    let found = match *id {
        IdValue::DerAsn1Dn(der) => {
            !cert.subject().is_empty()
                && (cert.subject().as_der() == der
                    || DistinguishedName::from_der(der).is_ok_and(|dn| dn.matches(cert.subject())))
        }
        IdValue::Fqdn(name) => std::str::from_utf8(name).is_ok_and(|name| {
            let want = name.strip_suffix('.').unwrap_or(name);
            cert.subject_alt_names().iter().any(|san| match san {
                SubjectAltName::Dns(d) => {
                    d.strip_suffix('.').unwrap_or(d).eq_ignore_ascii_case(want)
                }
                _ => false,
            })
        }),
        IdValue::UserFqdn(name) => std::str::from_utf8(name).is_ok_and(|name| {
            cert.subject_alt_names().iter().any(|san| match san {
                SubjectAltName::Email(e) => same_mailbox(e, name),
                _ => false,
            })
        }),
        IdValue::Ipv4(a) => has_ip(cert, IpAddr::V4(a)),
        IdValue::Ipv6(a) => has_ip(cert, IpAddr::V6(a)),
        _ => {
            return Err(PkiError::UnsupportedIdType {
                id_type: id.id_type().value(),
            });
        }
    };
    if found {
        Ok(())
    } else {
        Err(PkiError::IdMismatch {
            id: describe(id),
            subject: cert.subject().to_string(),
        })
    }
}

fn has_ip(cert: &Certificate, ip: IpAddr) -> bool {
    cert.subject_alt_names().contains(&SubjectAltName::Ip(ip))
}

fn same_mailbox(a: &str, b: &str) -> bool {
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.eq_ignore_ascii_case(db),
        (None, None) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// A printable form of an ID for errors and logs (bounded, no control characters).
pub(crate) fn describe(id: &IdValue<'_>) -> String {
    let text = |b: &[u8]| -> String {
        String::from_utf8_lossy(b)
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    };
    let mut s = match *id {
        IdValue::Ipv4(a) => format!("ipv4:{a}"),
        IdValue::Ipv6(a) => format!("ipv6:{a}"),
        IdValue::Fqdn(b) => format!("fqdn:{}", text(b)),
        IdValue::UserFqdn(b) => format!("user-fqdn:{}", text(b)),
        IdValue::DerAsn1Dn(b) => match DistinguishedName::from_der(b) {
            Ok(dn) => format!("dn:{dn}"),
            Err(_) => "dn:<malformed>".to_string(),
        },
        _ => format!("type {}", id.id_type().value()),
    };
    truncate(&mut s, super::MAX_NAME_TEXT);
    s
}
