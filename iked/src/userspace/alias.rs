//! Local addresses for transport-mode clients behind a NAT (`[daemon] transport-nat-aliases`).
//!
//! In transport mode the inner packet keeps the outer addresses, so every client behind one
//! NAT reaches local programs from the NAT's address. Clients that also use the same ports
//! (L2TP/IPsec clients all send from UDP 1701) are then one and the same peer to the local
//! program (xl2tpd), and the replies of all of them match the first client's SA. The kernel's
//! XFRM cannot tell such SAs apart (it looks SAs up by addresses, not by the NAT-T port).
//! The userspace dataplane can: it shows each such client under an address of its own
//! (inbound: the source after decapsulation; outbound: the destination is turned back into
//! the NAT's before encapsulation, the TCP/UDP checksum following both ways, RFC 1624).
//!
//! A client is its NAT mapping: (public address, UDP port). Both directions of its SAs, and
//! the SAs that replace them on rekeying, share its alias; the alias is free again when the
//! last of them is deleted.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipsec_core::config::IpPrefix;

/// Aliases in use and where they come from.
#[derive(Debug, Default)]
pub struct NatAliases {
    prefix: Option<IpPrefix>,
    /// (public address, port) → (alias, SAs using it).
    by_client: HashMap<(IpAddr, u16), (IpAddr, usize)>,
    used: BTreeSet<IpAddr>,
}

/// At most this many addresses of the prefix are tried for a new alias (the scan is bounded
/// even for an IPv6 /64).
const SCAN: u128 = 1 << 16;

impl NatAliases {
    /// The prefix new aliases come from (`None`: none are made). Aliases in use stay.
    pub fn set_prefix(&mut self, prefix: Option<IpPrefix>) {
        self.prefix = prefix;
    }

    /// The alias of the client at `public`:`port` for one more SA; a new one if it had none.
    /// `None` when no prefix is configured or every address of it is taken.
    pub fn acquire(&mut self, public: IpAddr, port: u16) -> Option<IpAddr> {
        if let Some((alias, n)) = self.by_client.get_mut(&(public, port)) {
            *n += 1;
            return Some(*alias);
        }
        let prefix = self.prefix?;
        let alias = self.free(prefix)?;
        self.used.insert(alias);
        self.by_client.insert((public, port), (alias, 1));
        Some(alias)
    }

    /// One SA of the client at `public`:`port` is gone; its alias is freed with the last.
    pub fn release(&mut self, public: IpAddr, port: u16) {
        if let Some((alias, n)) = self.by_client.get_mut(&(public, port)) {
            *n -= 1;
            if *n == 0 {
                let alias = *alias;
                self.used.remove(&alias);
                self.by_client.remove(&(public, port));
            }
        }
    }

    /// The lowest free host address of `prefix` (not the network's first address, nor, in
    /// IPv4, its last).
    fn free(&self, prefix: IpPrefix) -> Option<IpAddr> {
        let (base, bits) = match prefix.addr() {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 32u32),
            IpAddr::V6(a) => (u128::from(a), 128u32),
        };
        let host_bits = bits - u32::from(prefix.prefix_len());
        let size = if host_bits >= 128 {
            u128::MAX
        } else {
            1u128 << host_bits
        };
        let last = if bits == 32 { size - 1 } else { size };
        (1..last.min(SCAN)).find_map(|i| {
            let n = base + i;
            let a = if bits == 32 {
                IpAddr::V4(Ipv4Addr::from(u32::try_from(n).ok()?))
            } else {
                IpAddr::V6(Ipv6Addr::from(n))
            };
            (!self.used.contains(&a)).then_some(a)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_alias_per_nat_mapping_until_its_last_sa_goes() {
        let mut a = NatAliases::default();
        assert_eq!(a.acquire(ip("198.18.0.254"), 40001), None, "no prefix");
        a.set_prefix(Some("100.127.0.0/30".parse().unwrap()));
        let first = a.acquire(ip("198.18.0.254"), 40001).unwrap();
        assert_eq!(first, ip("100.127.0.1"));
        // The other direction of the same client.
        assert_eq!(a.acquire(ip("198.18.0.254"), 40001), Some(first));
        let second = a.acquire(ip("198.18.0.254"), 40002).unwrap();
        assert_eq!(second, ip("100.127.0.2"));
        // /30: .1 and .2 only (not the network's or the broadcast address).
        assert_eq!(a.acquire(ip("198.18.0.254"), 40003), None);
        a.release(ip("198.18.0.254"), 40001);
        assert_eq!(a.acquire(ip("198.18.0.254"), 40003), None, "still in use");
        a.release(ip("198.18.0.254"), 40001);
        assert_eq!(a.acquire(ip("198.18.0.254"), 40003), Some(first));
        // A release of an unknown client changes nothing.
        a.release(ip("198.18.0.1"), 1);
        assert_eq!(a.acquire(ip("198.18.0.254"), 40002), Some(second));
    }

    #[test]
    fn ipv6_prefixes_are_scanned_boundedly() {
        let mut a = NatAliases::default();
        a.set_prefix(Some("2001:db8:a::/64".parse().unwrap()));
        assert_eq!(
            a.acquire(ip("2001:db8::1"), 4500),
            Some(ip("2001:db8:a::1"))
        );
    }
}
