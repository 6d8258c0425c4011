//! The NAT-D hash (RFC 3947 §3.2; the same in draft-ietf-ipsec-nat-t-ike-02/03).
//!
//! Each side sends the hash of the address and port it sends to, then of each address and
//! port it sends from; a receiver that cannot reproduce a hash from the addresses it sees
//! knows there is a NAT on the path (and on which side), and both sides float to UDP 4500.

use std::net::{IpAddr, SocketAddr};

use super::Cookie;
use crate::crypto::HashAlgorithm;

/// HASH(CKY-I | CKY-R | IP | Port), with the negotiated phase-1 hash (not the PRF): IP is 4
/// or 16 bytes in network order, Port 2 bytes in network order.
pub fn nat_d_hash(
    hash: HashAlgorithm,
    cky_i: &Cookie,
    cky_r: &Cookie,
    addr: SocketAddr,
) -> Vec<u8> {
    let port = addr.port().to_be_bytes();
    match addr.ip() {
        IpAddr::V4(ip) => hash.digest(&[cky_i, cky_r, &ip.octets(), &port]),
        IpAddr::V6(ip) => hash.digest(&[cky_i, cky_r, &ip.octets(), &port]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_exactly_cookies_address_and_port() {
        let (i, r) = ([1u8; 8], [2u8; 8]);
        let a: SocketAddr = "198.18.0.1:500".parse().unwrap();
        let mut chunk = vec![1u8; 8];
        chunk.extend_from_slice(&[2; 8]);
        chunk.extend_from_slice(&[198, 18, 0, 1, 0x01, 0xf4]);
        assert_eq!(
            nat_d_hash(HashAlgorithm::Sha1, &i, &r, a),
            HashAlgorithm::Sha1.digest(&[&chunk])
        );
        let b: SocketAddr = "198.18.0.1:4500".parse().unwrap();
        assert_ne!(
            nat_d_hash(HashAlgorithm::Sha1, &i, &r, a),
            nat_d_hash(HashAlgorithm::Sha1, &i, &r, b)
        );
        let v6: SocketAddr = "[2001:db8::1]:500".parse().unwrap();
        assert_eq!(nat_d_hash(HashAlgorithm::Sha256, &i, &r, v6).len(), 32);
    }
}
