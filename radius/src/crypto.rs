//! The MD5-based protections RADIUS uses: User-Password hiding (RFC 2865 §5.2), CHAP-Password
//! (RFC 2865 §5.3, RFC 1994), the Response Authenticator (RFC 2865 §3), the Request
//! Authenticator of Accounting-, Disconnect- and CoA-Requests (RFC 2866 §3, RFC 5176 §2.3) and
//! Message-Authenticator, HMAC-MD5 over the packet (RFC 3579 §3.2).
//!
//! Hand-written on purpose: no maintained crate does the sans-IO client side of these (the
//! `radius` crates on crates.io bring their own async servers and older digest generations);
//! the primitives are RustCrypto's `md-5` and `hmac`.

use hmac::{KeyInit, Mac};
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

use crate::attr::MESSAGE_AUTHENTICATOR;
use crate::packet::{EncodeError, HEADER_LEN, Packet};

type HmacMd5 = hmac::Hmac<Md5>;

/// How a packet's Authenticator field is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seal {
    /// Access-Request: a random Request Authenticator, chosen by the caller.
    AccessRequest([u8; 16]),
    /// Accounting-, Disconnect- and CoA-Request: MD5 over the packet with a zero
    /// authenticator and the secret (RFC 2866 §3, RFC 5176 §2.3).
    Computed,
    /// Any reply: MD5 over the packet with the request's authenticator and the secret.
    Response([u8; 16]),
}

/// Why a received packet's authenticators do not check out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Authenticator does not match (wrong shared secret or forged packet)")]
    Authenticator,
    #[error("Message-Authenticator does not match")]
    MessageAuthenticator,
    #[error("Message-Authenticator is not 16 octets")]
    MessageAuthenticatorLength,
    #[error("no Message-Authenticator where one is required")]
    MissingMessageAuthenticator,
    #[error("malformed packet")]
    Malformed,
}

/// Encodes `packet` with its authenticators filled in. With `message_authenticator`, a
/// Message-Authenticator is added (if the packet has none) and computed.
pub fn seal(
    packet: &Packet,
    secret: &[u8],
    how: Seal,
    message_authenticator: bool,
) -> Result<Vec<u8>, EncodeError> {
    let mut p = packet.clone();
    if message_authenticator && p.attribute(MESSAGE_AUTHENTICATOR).is_none() {
        p.attributes.push(crate::attr::Attribute::bytes(
            MESSAGE_AUTHENTICATOR,
            [0; 16],
        ));
    }
    p.authenticator = match how {
        Seal::AccessRequest(a) | Seal::Response(a) => a,
        Seal::Computed => [0; 16],
    };
    let mut bytes = p.encode()?;
    if let Some(at) = message_authenticator_at(&bytes) {
        bytes[at..at + 16].fill(0);
        let mac = hmac_md5(secret, &bytes);
        bytes[at..at + 16].copy_from_slice(&mac);
    }
    if !matches!(how, Seal::AccessRequest(_)) {
        let digest = md5_with_secret(&bytes, secret);
        bytes[4..20].copy_from_slice(&digest);
    }
    Ok(bytes)
}

/// What a received packet is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verify {
    /// A reply to a request whose Request Authenticator was this.
    Response([u8; 16]),
    /// A Disconnect- or CoA-Request (and Accounting-Request): MD5 with a zero authenticator.
    Computed,
}

/// Checks a received packet's Authenticator and, if present (or `require_ma`), its
/// Message-Authenticator. Says whether a Message-Authenticator was there.
pub fn verify(
    bytes: &[u8],
    secret: &[u8],
    against: Verify,
    require_ma: bool,
) -> Result<bool, AuthError> {
    let len = packet_len(bytes).ok_or(AuthError::Malformed)?;
    let mut copy = bytes[..len].to_vec();
    let received: [u8; 16] = copy[4..20].try_into().map_err(|_| AuthError::Malformed)?;
    let base = match against {
        Verify::Response(a) => a,
        Verify::Computed => [0; 16],
    };
    copy[4..20].copy_from_slice(&base);
    let expected = md5_with_secret(&copy, secret);
    if !bool::from(expected.ct_eq(&received)) {
        return Err(AuthError::Authenticator);
    }
    match find_attribute(&copy, MESSAGE_AUTHENTICATOR) {
        None if require_ma => Err(AuthError::MissingMessageAuthenticator),
        None => Ok(false),
        Some((at, vlen)) => {
            if vlen != 16 {
                return Err(AuthError::MessageAuthenticatorLength);
            }
            let got: [u8; 16] = copy[at..at + 16]
                .try_into()
                .map_err(|_| AuthError::Malformed)?;
            copy[at..at + 16].fill(0);
            let mac = hmac_md5(secret, &copy);
            if bool::from(mac.ct_eq(&got)) {
                Ok(true)
            } else {
                Err(AuthError::MessageAuthenticator)
            }
        }
    }
}

/// User-Password (RFC 2865 §5.2): the password padded with zeros to a multiple of 16 octets
/// (at most 128), each block XORed with MD5(secret + previous block), the first with
/// MD5(secret + Request Authenticator). Longer passwords are cut at 128 octets.
pub fn hide_password(password: &[u8], secret: &[u8], request_authenticator: &[u8; 16]) -> Vec<u8> {
    let password = &password[..password.len().min(128)];
    let padded = password.len().div_ceil(16).max(1) * 16;
    let mut out = password.to_vec();
    out.resize(padded, 0);
    let mut previous = *request_authenticator;
    for block in out.chunks_mut(16) {
        let key = md5_concat(secret, &previous);
        for (b, k) in block.iter_mut().zip(key) {
            *b ^= k;
        }
        previous.copy_from_slice(block);
    }
    out
}

/// The reverse of [`hide_password`] (what a server does; tests and the fuzz target use it).
/// Trailing zero padding is removed. `None` if the length is not a multiple of 16.
pub fn unhide_password(
    hidden: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Option<Vec<u8>> {
    if hidden.is_empty() || !hidden.len().is_multiple_of(16) || hidden.len() > 128 {
        return None;
    }
    let mut out = hidden.to_vec();
    let mut previous = *request_authenticator;
    for (i, block) in out.chunks_mut(16).enumerate() {
        let key = md5_concat(secret, &previous);
        previous.copy_from_slice(&hidden[i * 16..i * 16 + 16]);
        for (b, k) in block.iter_mut().zip(key) {
            *b ^= k;
        }
    }
    while out.last() == Some(&0) {
        out.pop();
    }
    Some(out)
}

/// CHAP-Password (RFC 2865 §5.3): the CHAP identifier, then MD5(identifier + password +
/// challenge) (RFC 1994 §4.1). The challenge goes in CHAP-Challenge (or is the Request
/// Authenticator when 16 octets).
pub fn chap_password(ident: u8, password: &[u8], challenge: &[u8]) -> [u8; 17] {
    let mut h = Md5::new();
    h.update([ident]);
    h.update(password);
    h.update(challenge);
    let mut out = [0u8; 17];
    out[0] = ident;
    out[1..].copy_from_slice(&h.finalize());
    out
}

fn md5_concat(a: &[u8], b: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(a);
    h.update(b);
    h.finalize().into()
}

fn md5_with_secret(packet: &[u8], secret: &[u8]) -> [u8; 16] {
    md5_concat(packet, secret)
}

fn hmac_md5(secret: &[u8], data: &[u8]) -> [u8; 16] {
    // HMAC takes keys of any length.
    let mut m = <HmacMd5 as KeyInit>::new_from_slice(secret).expect("HMAC accepts any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// The Length field, if it is within the datagram and 20..=4096.
fn packet_len(bytes: &[u8]) -> Option<usize> {
    let len = usize::from(u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]));
    (HEADER_LEN..=crate::packet::MAX_LEN)
        .contains(&len)
        .then_some(len)
        .filter(|l| *l <= bytes.len())
}

/// Offset and length of the first value of attribute `ty` in an encoded packet.
fn find_attribute(bytes: &[u8], ty: u8) -> Option<(usize, usize)> {
    let mut at = HEADER_LEN;
    while at + 2 <= bytes.len() {
        let (t, l) = (bytes[at], usize::from(bytes[at + 1]));
        if l < 2 || at + l > bytes.len() {
            return None;
        }
        if t == ty {
            return Some((at + 2, l - 2));
        }
        at += l;
    }
    None
}

fn message_authenticator_at(bytes: &[u8]) -> Option<usize> {
    find_attribute(bytes, MESSAGE_AUTHENTICATOR)
        .filter(|(_, l)| *l == 16)
        .map(|(at, _)| at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::{self, Attribute};
    use crate::packet::Code;

    /// RFC 2865 §7.1: "nemo" / "arctangent" with secret "xyzzy5461".
    #[test]
    fn rfc2865_example_password() {
        let ra: [u8; 16] = hex::decode("0f403f9473978057bd83d5cb98f4227a")
            .unwrap()
            .try_into()
            .unwrap();
        let hidden = hide_password(b"arctangent", b"xyzzy5461", &ra);
        assert_eq!(hex::encode(&hidden), "0dbe708d93d413ce3196e43f782a0aee");
        assert_eq!(
            unhide_password(&hidden, b"xyzzy5461", &ra).unwrap(),
            b"arctangent"
        );
    }

    /// RFC 2865 §7.1: the Access-Accept's Response Authenticator.
    #[test]
    fn rfc2865_example_response_authenticator() {
        let ra: [u8; 16] = hex::decode("0f403f9473978057bd83d5cb98f4227a")
            .unwrap()
            .try_into()
            .unwrap();
        let accept = hex::decode(
            "0200002686fe220e7624ba2a1005f6bf9b55e0b20606000000010f06000000000e06c0a80103",
        )
        .unwrap();
        assert_eq!(
            verify(&accept, b"xyzzy5461", Verify::Response(ra), false),
            Ok(false)
        );
        assert_eq!(
            verify(&accept, b"wrong", Verify::Response(ra), false),
            Err(AuthError::Authenticator)
        );
    }

    #[test]
    fn sealed_packets_verify_and_tampering_is_caught() {
        let p = Packet {
            code: Code::DisconnectRequest,
            identifier: 3,
            authenticator: [0; 16],
            attributes: vec![Attribute::bytes(attr::USER_NAME, "bob")],
        };
        let b = seal(&p, b"s3cret", Seal::Computed, true).unwrap();
        assert_eq!(verify(&b, b"s3cret", Verify::Computed, true), Ok(true));
        let mut t = b.clone();
        t[24] ^= 1;
        assert_eq!(
            verify(&t, b"s3cret", Verify::Computed, false),
            Err(AuthError::Authenticator)
        );
        let r = seal(&p, b"s3cret", Seal::Response([5; 16]), false).unwrap();
        assert_eq!(
            verify(&r, b"s3cret", Verify::Response([5; 16]), true),
            Err(AuthError::MissingMessageAuthenticator)
        );
        assert_eq!(
            verify(&r, b"s3cret", Verify::Response([5; 16]), false),
            Ok(false)
        );
    }

    #[test]
    fn chap_is_md5_of_ident_password_challenge() {
        let c = chap_password(1, b"pw", &[2; 16]);
        let mut h = Md5::new();
        h.update([1u8]);
        h.update(b"pw");
        h.update([2u8; 16]);
        assert_eq!(&c[1..], h.finalize().as_slice());
        assert_eq!(c[0], 1);
    }
}
