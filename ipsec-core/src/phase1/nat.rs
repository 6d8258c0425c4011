//! NAT discovery (RFC 3947 §3): the NAT-D hashes and what they reveal.
//!
//! Each side sends the hash of the address and port it sends *to* first, then of the
//! address and port it sends *from*:
//!
//! ```text
//! HASH = HASH(CKY-I | CKY-R | IP | Port)     (the negotiated phase-1 hash)
//! ```
//!
//! If the first hash the peer sent differs from the hash of our own address and port, a NAT
//! rewrote our packets: we are behind it. If none of the others matches the address and port
//! we see the peer at, the peer is behind a NAT. A peer may also *claim* to be behind a NAT
//! by sending a made-up hash for itself, to force UDP encapsulation (strongSwan does this
//! with `encap = yes` and always with kernel-libipsec): that reads exactly as a NAT in front
//! of the peer and is handled the same way.

use std::net::{IpAddr, SocketAddr};

use ring::rand::SecureRandom;

use crate::crypto::HashAlgorithm;
use crate::engine::Reject;
use crate::proposal::phase2::UdpEncapsulation;
use crate::wire::{Cookie, NatNumbering, NatTVersion};

/// What NAT-T negotiation found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NatState {
    /// The version both sides announced (our preference: RFC 3947 first).
    pub version: NatTVersion,
    /// A NAT rewrites our address (or we pretend so).
    pub local_behind: bool,
    /// A NAT rewrites the peer's address (or it pretends so).
    pub remote_behind: bool,
}

impl NatState {
    /// Whether any NAT is in the way: then IKE floats to port 4500 and ESP goes in UDP.
    pub fn detected(&self) -> bool {
        self.local_behind || self.remote_behind
    }

    /// How quick mode encodes the encapsulation mode.
    pub fn udp(&self) -> UdpEncapsulation {
        if !self.detected() {
            UdpEncapsulation::None
        } else if self.version.uses_draft_numbers() {
            UdpEncapsulation::Draft
        } else {
            UdpEncapsulation::Rfc3947
        }
    }
}

/// The NAT-D/NAT-OA payload numbering of a NAT-T version.
pub(crate) fn numbering(version: NatTVersion) -> NatNumbering {
    if version.uses_draft_numbers() {
        NatNumbering::Draft
    } else {
        NatNumbering::Rfc3947
    }
}

/// HASH(CKY-I | CKY-R | IP | Port) for `addr` (IPv4-mapped IPv6 hashed as IPv4).
pub(crate) fn natd_hash(
    hash: HashAlgorithm,
    cky_i: &Cookie,
    cky_r: &Cookie,
    addr: SocketAddr,
) -> Vec<u8> {
    let port = addr.port().to_be_bytes();
    match addr.ip().to_canonical() {
        IpAddr::V4(a) => hash.digest(&[cky_i, cky_r, &a.octets(), &port]),
        IpAddr::V6(a) => hash.digest(&[cky_i, cky_r, &a.octets(), &port]),
    }
}

/// The two hashes we send, in order: the peer's address (where we send to), then ours.
/// With `fake_local`, ours is random bytes of the same length: we claim a NAT.
pub(crate) fn our_hashes(
    hash: HashAlgorithm,
    cky_i: &Cookie,
    cky_r: &Cookie,
    local: SocketAddr,
    remote: SocketAddr,
    fake_local: bool,
    rng: &dyn SecureRandom,
) -> Result<[Vec<u8>; 2], Reject> {
    let theirs = natd_hash(hash, cky_i, cky_r, remote);
    let ours = if fake_local {
        let mut fake = vec![0u8; hash.output_len()];
        rng.fill(&mut fake)
            .map_err(|_| Reject::Internal("random number generator"))?;
        fake
    } else {
        natd_hash(hash, cky_i, cky_r, local)
    };
    Ok([theirs, ours])
}

/// Reads the peer's NAT-D hashes (in the order received): `(local_behind, remote_behind)`.
/// With fewer than two hashes nothing can be concluded and no NAT is assumed.
pub(crate) fn detect(
    hash: HashAlgorithm,
    cky_i: &Cookie,
    cky_r: &Cookie,
    local: SocketAddr,
    remote: SocketAddr,
    received: &[&[u8]],
) -> (bool, bool) {
    let [first, rest @ ..] = received else {
        return (false, false);
    };
    if rest.is_empty() {
        return (false, false);
    }
    let ours = natd_hash(hash, cky_i, cky_r, local);
    let theirs = natd_hash(hash, cky_i, cky_r, remote);
    let local_behind = *first != ours.as_slice();
    let remote_behind = !rest.contains(&theirs.as_slice());
    (local_behind, remote_behind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_link_no_nat_and_rewrites_detected() {
        let h = HashAlgorithm::Sha256;
        let (ci, cr) = ([1u8; 8], [2u8; 8]);
        let a: SocketAddr = "198.18.0.1:500".parse().unwrap();
        let b: SocketAddr = "198.18.0.2:500".parse().unwrap();
        let rng = ring::rand::SystemRandom::new();
        // a sends to b.
        let sent = our_hashes(h, &ci, &cr, a, b, false, &rng).unwrap();
        let refs: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
        assert_eq!(detect(h, &ci, &cr, b, a, &refs), (false, false));
        // a's packets arrive from a NAT at 203.0.113.9:4501.
        let nat: SocketAddr = "203.0.113.9:4501".parse().unwrap();
        assert_eq!(detect(h, &ci, &cr, b, nat, &refs), (false, true));
        // a claims a NAT.
        let fake = our_hashes(h, &ci, &cr, a, b, true, &rng).unwrap();
        let refs: Vec<&[u8]> = fake.iter().map(Vec::as_slice).collect();
        assert_eq!(detect(h, &ci, &cr, b, a, &refs), (false, true));
        // b is reached at an address it does not have (b behind a NAT, port-forwarded).
        let sent = our_hashes(h, &ci, &cr, a, nat, false, &rng).unwrap();
        let refs: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
        assert_eq!(detect(h, &ci, &cr, b, a, &refs), (true, false));
        assert_eq!(detect(h, &ci, &cr, b, a, &refs[..1]), (false, false));
    }
}
