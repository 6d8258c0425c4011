//! Just enough IP to match packets against policies and to rebuild a transport-mode header.
//!
//! Every accessor is length-checked: packets from the TUN come from local software, packets
//! from the network are hostile, and both go through here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a policy selector looks at (RFC 4301 §4.4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol (IPv6: the fixed header's Next Header).
    pub proto: u8,
    /// Source port (TCP, UDP, SCTP, UDP-Lite; 0 otherwise or in a non-first fragment).
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
}

fn ports(proto: u8, l4: &[u8]) -> (u16, u16) {
    match proto {
        6 | 17 | 132 | 136 if l4.len() >= 4 => (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        ),
        _ => (0, 0),
    }
}

/// The selector fields of an IPv4 or IPv6 packet, `None` if it is neither.
pub fn flow(p: &[u8]) -> Option<Flow> {
    match p.first()? >> 4 {
        4 if p.len() >= 20 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            if ihl < 20 || p.len() < ihl {
                return None;
            }
            let proto = p[9];
            let first = u16::from_be_bytes([p[6], p[7]]) & 0x1fff == 0;
            let (sport, dport) = if first {
                ports(proto, &p[ihl..])
            } else {
                (0, 0)
            };
            Some(Flow {
                src: IpAddr::V4(Ipv4Addr::new(p[12], p[13], p[14], p[15])),
                dst: IpAddr::V4(Ipv4Addr::new(p[16], p[17], p[18], p[19])),
                proto,
                sport,
                dport,
            })
        }
        6 if p.len() >= 40 => {
            let a = |o: usize| {
                let mut b = [0u8; 16];
                b.copy_from_slice(&p[o..o + 16]);
                IpAddr::V6(Ipv6Addr::from(b))
            };
            let proto = p[6];
            let (sport, dport) = ports(proto, &p[40..]);
            Some(Flow {
                src: a(8),
                dst: a(24),
                proto,
                sport,
                dport,
            })
        }
        _ => None,
    }
}

/// The outer source and destination of a raw IPv4 datagram and where its payload starts.
pub fn ipv4_outer(p: &[u8]) -> Option<(IpAddr, IpAddr, usize)> {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    if ihl < 20 || p.len() < ihl || total < ihl {
        return None;
    }
    Some((
        IpAddr::V4(Ipv4Addr::new(p[12], p[13], p[14], p[15])),
        IpAddr::V4(Ipv4Addr::new(p[16], p[17], p[18], p[19])),
        ihl,
    ))
}

/// RFC 1071 checksum.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Transport mode delivers only the upper-layer payload (RFC 4303 §3.1.1): the IP header is
/// rebuilt from the outer one, with the ESP Next Header as its protocol. Writes header and
/// payload into `out`; `false` if the addresses are of different families or too long.
pub fn rebuild(src: IpAddr, dst: IpAddr, proto: u8, payload: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let Ok(total) = u16::try_from(20 + payload.len()) else {
                return false;
            };
            let mut h = [0u8; 20];
            h[0] = 0x45;
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h[6] = 0x40; // DF: the sender's datagram was not fragmented (transport mode).
            h[8] = 64;
            h[9] = proto;
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            let c = checksum(&h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            out.extend_from_slice(&h);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let Ok(len) = u16::try_from(payload.len()) else {
                return false;
            };
            let mut h = [0u8; 40];
            h[0] = 0x60;
            h[4..6].copy_from_slice(&len.to_be_bytes());
            h[6] = proto;
            h[7] = 64;
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
            out.extend_from_slice(&h);
        }
        _ => return false,
    }
    out.extend_from_slice(payload);
    true
}

/// RFC 3948 §3.1.2: in transport mode through a NAT, the TCP or UDP checksum inside covers
/// the addresses the peer's stack used (its private one), not those of the rebuilt header.
/// ESP has already authenticated the payload, so recomputing the checksum over the new
/// pseudo-header (RFC 793 §3.1, RFC 768, RFC 8200 §8.1) loses little, and needs no NAT-OA:
/// the fallback for peers that send none ([`adjust_transport_checksum`] otherwise).
/// `packet` is what [`rebuild`] wrote. A UDP/IPv4 checksum of zero (none sent) stays zero.
pub fn fix_transport_checksum(packet: &mut [u8]) {
    let (proto, l4_at, addrs) = match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 20 => (packet[9], 20, 12..20),
        Some(6) if packet.len() >= 40 => (packet[6], 40, 8..40),
        _ => return,
    };
    let at = match proto {
        6 => 16, // the TCP checksum's offset
        17 => 6, // UDP's
        _ => return,
    };
    let l4_len = packet.len() - l4_at;
    if l4_len < at + 2 {
        return;
    }
    let field = l4_at + at..l4_at + at + 2;
    if proto == 17 && l4_at == 20 && packet[field.clone()] == [0, 0] {
        return;
    }
    let Ok(len) = u32::try_from(l4_len) else {
        return;
    };
    packet[field.clone()].copy_from_slice(&[0, 0]);
    let mut sum = ones_sum(&packet[addrs], 0);
    sum = ones_sum(&len.to_be_bytes(), sum);
    sum = ones_sum(&[0, 0, 0, proto], sum);
    sum = ones_sum(&packet[l4_at..], sum);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let mut c = !(sum as u16);
    if proto == 17 && c == 0 {
        c = 0xffff; // RFC 768: a computed zero is sent as all ones.
    }
    packet[field].copy_from_slice(&c.to_be_bytes());
}

/// RFC 3948 §3.1.2 with the peer's NAT-OA: its TCP or UDP checksum covers the pseudo-header
/// `orig_src` → `orig_dst` (its own original address, ours as it knew it); the checksum is
/// moved incrementally (RFC 1624 eqn. 3) to the addresses of the rebuilt header, so that a
/// checksum that was wrong before ESP stays wrong. `packet` is what [`rebuild`] wrote. Falls
/// back to [`fix_transport_checksum`] when the original addresses are of another family. A
/// UDP/IPv4 checksum of zero (none sent) stays zero.
pub fn adjust_transport_checksum(packet: &mut [u8], orig_src: IpAddr, orig_dst: IpAddr) {
    let mut old = [0u8; 32];
    let (proto, l4_at, addrs, old) = match (packet.first().map(|b| b >> 4), orig_src, orig_dst) {
        (Some(4), IpAddr::V4(s), IpAddr::V4(d)) if packet.len() >= 20 => {
            old[..4].copy_from_slice(&s.octets());
            old[4..8].copy_from_slice(&d.octets());
            (packet[9], 20, 12..20, &old[..8])
        }
        (Some(6), IpAddr::V6(s), IpAddr::V6(d)) if packet.len() >= 40 => {
            old[..16].copy_from_slice(&s.octets());
            old[16..].copy_from_slice(&d.octets());
            (packet[6], 40, 8..40, &old[..])
        }
        _ => return fix_transport_checksum(packet),
    };
    let at = match proto {
        6 => 16,
        17 => 6,
        _ => return,
    };
    if packet.len() - l4_at < at + 2 {
        return;
    }
    let field = l4_at + at..l4_at + at + 2;
    let hc = u16::from_be_bytes([packet[field.start], packet[field.start + 1]]);
    if proto == 17 && l4_at == 20 && hc == 0 {
        return;
    }
    // HC' = ~(~HC + ~m + m'): ~m is the sum of the complemented old address words.
    let mut sum = ones_sum(&(!hc).to_be_bytes(), 0);
    for w in old.chunks(2) {
        sum += u64::from(!u16::from_be_bytes([w[0], w[1]]));
    }
    sum = ones_sum(&packet[addrs], sum);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let mut c = !(sum as u16);
    if proto == 17 && c == 0 {
        c = 0xffff; // RFC 768: a computed zero is sent as all ones.
    }
    packet[field].copy_from_slice(&c.to_be_bytes());
}

/// Points a packet that local software sent to `from` at `to` instead: the destination in
/// its header (and the IPv4 header checksum), and its TCP or UDP checksum moved with it
/// (RFC 1624), as a NAT would. `false` (packet untouched) if it is not addressed to `from`,
/// `to` is of the other family, or it has IPv4 options. A non-first fragment has no TCP/UDP
/// header to fix.
pub fn retarget(packet: &mut [u8], from: IpAddr, to: IpAddr) -> bool {
    let Some(f) = flow(packet) else {
        return false;
    };
    if f.dst != from {
        return false;
    }
    let first_fragment = match (packet[0] >> 4, to) {
        (4, IpAddr::V4(t)) if packet[0] & 0x0f == 5 => {
            packet[16..20].copy_from_slice(&t.octets());
            packet[10..12].copy_from_slice(&[0, 0]);
            let c = checksum(&packet[..20]);
            packet[10..12].copy_from_slice(&c.to_be_bytes());
            u16::from_be_bytes([packet[6], packet[7]]) & 0x1fff == 0
        }
        (6, IpAddr::V6(t)) => {
            packet[24..40].copy_from_slice(&t.octets());
            true
        }
        _ => return false,
    };
    if first_fragment {
        adjust_transport_checksum(packet, f.src, from);
    }
    true
}

/// Adds `data` as big-endian 16-bit words (odd length padded with zero) to `sum`.
fn ones_sum(data: &[u8], mut sum: u64) -> u64 {
    for c in data.chunks(2) {
        let w = match c {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u64::from(w);
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_of_udp_and_garbage() {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&28u16.to_be_bytes());
        p[9] = 17;
        p[12..16].copy_from_slice(&[198, 18, 0, 1]);
        p[16..20].copy_from_slice(&[198, 18, 0, 2]);
        p[20..22].copy_from_slice(&500u16.to_be_bytes());
        p[22..24].copy_from_slice(&4500u16.to_be_bytes());
        let f = flow(&p).unwrap();
        assert_eq!((f.proto, f.sport, f.dport), (17, 500, 4500));
        assert_eq!(flow(&p[..10]), None);
        assert_eq!(flow(&[0x4f]), None);
        assert_eq!(flow(&[]), None);
        assert!(ipv4_outer(&[0x41; 30]).is_none());
    }

    /// A UDP datagram whose checksum was made for other addresses verifies after the fix.
    #[test]
    fn transport_checksum_follows_the_rebuilt_addresses() {
        // UDP 1701 -> 1701, 4 bytes of payload, checksum computed for 10.0.0.5 -> 198.18.0.2.
        let mut udp = vec![0x06, 0xa5, 0x06, 0xa5, 0, 12, 0x12, 0x34, 1, 2, 3, 4];
        let mut for_private = Vec::new();
        assert!(rebuild(
            "10.0.0.5".parse().unwrap(),
            "198.18.0.2".parse().unwrap(),
            17,
            &udp,
            &mut for_private
        ));
        fix_transport_checksum(&mut for_private);
        udp[6..8].copy_from_slice(&for_private[26..28]);
        // Through the NAT: the outer source is the NAT's public address.
        let mut out = Vec::new();
        assert!(rebuild(
            "203.0.113.9".parse().unwrap(),
            "198.18.0.2".parse().unwrap(),
            17,
            &udp,
            &mut out
        ));
        // Verification: the sum over pseudo-header and datagram (checksum included) is 0xffff.
        let verifies = |p: &[u8]| {
            let mut v = Vec::new();
            v.extend_from_slice(&p[12..20]);
            v.extend_from_slice(&[0, 17, 0, 12]);
            v.extend_from_slice(&p[20..]);
            checksum(&v) == 0
        };
        assert!(verifies(&for_private));
        assert!(!verifies(&out), "the NAT broke it");
        fix_transport_checksum(&mut out);
        assert!(verifies(&out));
        // A UDP/IPv4 datagram sent without a checksum keeps none.
        let mut none = Vec::new();
        let mut bare = udp.clone();
        bare[6..8].copy_from_slice(&[0, 0]);
        assert!(rebuild(
            "203.0.113.9".parse().unwrap(),
            "198.18.0.2".parse().unwrap(),
            17,
            &bare,
            &mut none
        ));
        fix_transport_checksum(&mut none);
        assert_eq!(none[26..28], [0, 0]);
    }

    /// A packet sent to an alias leaves for the NAT's address with checksums that verify.
    #[test]
    fn retarget_moves_destination_and_checksums() {
        let (me, alias, public): (IpAddr, IpAddr, IpAddr) = (
            "198.18.0.2".parse().unwrap(),
            "100.127.0.1".parse().unwrap(),
            "198.18.0.254".parse().unwrap(),
        );
        let udp = [6u8, 0xa5, 6, 0xa5, 0, 12, 0x12, 0x34, 1, 2, 3, 4];
        let mut p = Vec::new();
        assert!(rebuild(me, alias, 17, &udp, &mut p));
        fix_transport_checksum(&mut p);
        let verifies = |p: &[u8]| {
            let mut v = p[12..20].to_vec();
            v.extend_from_slice(&[0, 17, 0, 12]);
            v.extend_from_slice(&p[20..]);
            checksum(&v) == 0 && checksum(&p[..20]) == 0
        };
        assert!(verifies(&p));
        assert!(
            !retarget(&mut p.clone(), public, alias),
            "not addressed there"
        );
        assert!(retarget(&mut p, alias, public));
        assert_eq!(flow(&p).unwrap().dst, public);
        assert!(verifies(&p));
        assert!(!retarget(&mut p, public, "2001:db8::1".parse().unwrap()));
        assert!(!retarget(&mut [0x45, 0, 0], alias, public), "truncated");
    }

    /// With the NAT-OA, the fix is incremental: a good checksum verifies after it, a bad one
    /// stays bad (a full recomputation would have hidden it).
    #[test]
    fn nat_oa_checksum_fix_is_incremental() {
        let private = "10.0.0.5".parse().unwrap();
        let public = "203.0.113.9".parse().unwrap();
        let ours = "198.18.0.2".parse().unwrap();
        let seen_as = "198.51.100.7".parse().unwrap();
        for proto in [17u8, 6] {
            // A UDP datagram or a TCP segment (20-byte header) with 5 bytes of payload.
            let mut l4 = if proto == 17 {
                vec![0x06, 0xa5, 0x06, 0xa5, 0, 13, 0x12, 0x34]
            } else {
                let mut t = vec![0u8; 20];
                t[0..4].copy_from_slice(&[0x04, 0x00, 0x00, 0x50]);
                t[12] = 0x50;
                t
            };
            l4.extend_from_slice(b"hello");
            let at = if proto == 17 { 6 } else { 16 };
            let verifies = |p: &[u8]| {
                let mut v = Vec::new();
                v.extend_from_slice(&p[12..20]);
                v.extend_from_slice(&[0, proto]);
                v.extend_from_slice(&u16::try_from(p.len() - 20).unwrap().to_be_bytes());
                v.extend_from_slice(&p[20..]);
                checksum(&v) == 0
            };
            // The peer's stack: its private address to ours as it knew it.
            let mut sent = Vec::new();
            assert!(rebuild(private, seen_as, proto, &l4, &mut sent));
            fix_transport_checksum(&mut sent);
            l4[at..at + 2].copy_from_slice(&sent[20 + at..22 + at]);
            assert!(verifies(&sent), "sent {proto}");
            let mut out = Vec::new();
            assert!(rebuild(public, ours, proto, &l4, &mut out));
            assert!(!verifies(&out));
            adjust_transport_checksum(&mut out, private, seen_as);
            assert!(verifies(&out), "{proto}");
            // Corrupted in transit before ESP (or by the sender): still detected.
            let mut bad = l4.clone();
            bad[at] ^= 0x01;
            assert!(rebuild(public, ours, proto, &bad, &mut out));
            adjust_transport_checksum(&mut out, private, seen_as);
            assert!(!verifies(&out), "{proto}");
            // Original addresses of the other family: recomputed.
            assert!(rebuild(public, ours, proto, &l4, &mut out));
            adjust_transport_checksum(&mut out, "2001:db8::1".parse().unwrap(), seen_as);
            assert!(verifies(&out));
        }
        // No UDP checksum sent: none added.
        let mut out = Vec::new();
        assert!(rebuild(
            public,
            ours,
            17,
            &[0, 1, 0, 2, 0, 8, 0, 0],
            &mut out
        ));
        adjust_transport_checksum(&mut out, private, seen_as);
        assert_eq!(out[26..28], [0, 0]);
        // Truncated and non-TCP/UDP packets are left alone, without panicking.
        adjust_transport_checksum(&mut out[..22], private, seen_as);
        adjust_transport_checksum(&mut [0x45], private, seen_as);
        adjust_transport_checksum(&mut [], private, seen_as);
    }

    #[test]
    fn rebuilt_header_checksums_to_zero() {
        let mut out = Vec::new();
        assert!(rebuild(
            "198.18.0.1".parse().unwrap(),
            "198.18.0.2".parse().unwrap(),
            1,
            &[8, 0, 0, 0],
            &mut out
        ));
        assert_eq!(checksum(&out[..20]), 0);
        assert_eq!(out.len(), 24);
    }
}
