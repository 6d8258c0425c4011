//! One route through the TUN per mode-config pool, not one per road warrior.
//!
//! A road warrior's policy names its virtual address, which comes from a pool: a route per
//! address cost a netlink round trip per tunnel and, with 100,000 clients, as many kernel
//! routes and entries in our table of them. A pool's addresses are ours to hand out and
//! reach no other way, so the pool's prefixes go to the TUN once; an address without a
//! tunnel then meets no policy in the outbound worker and is dropped there, rather than
//! leaving in clear by the default route.

use std::net::IpAddr;

use ipsec_core::config::Snapshot;
use xfrm::Prefix;

/// The prefixes that exactly cover every pool range of `config`.
pub fn pool_prefixes(config: &Snapshot) -> Vec<Prefix> {
    config
        .ip_pools()
        .iter()
        .flat_map(|p| p.ranges.iter())
        .flat_map(|r| covering(r.start(), r.end()))
        .collect()
}

/// The fewest prefixes whose union is `start..=end` (at most two per bit of the family).
pub fn covering(start: IpAddr, end: IpAddr) -> Vec<Prefix> {
    let (bits, mut cur, end) = match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => {
            (32u32, u128::from(u32::from(s)), u128::from(u32::from(e)))
        }
        (IpAddr::V6(s), IpAddr::V6(e)) => (128, u128::from(s), u128::from(e)),
        _ => return Vec::new(),
    };
    let addr = |v: u128| -> IpAddr {
        if bits == 32 {
            IpAddr::from((v as u32).to_be_bytes())
        } else {
            IpAddr::from(v.to_be_bytes())
        }
    };
    let mut out = Vec::new();
    while cur <= end && out.len() < 2 * bits as usize {
        // The largest block aligned at `cur` that ends by `end` (never the whole space).
        let mut host_bits = 0;
        while host_bits + 1 < bits {
            let Some(size) = 1u128.checked_shl(host_bits + 1) else {
                break;
            };
            if cur % size != 0 || cur + (size - 1) > end {
                break;
            }
            host_bits += 1;
        }
        if let Ok(p) = Prefix::new(addr(cur), (bits - host_bits) as u8) {
            out.push(p);
        }
        let Some(next) = cur.checked_add(1u128 << host_bits) else {
            break;
        };
        cur = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(start: &str, end: &str) -> Vec<String> {
        covering(start.parse().unwrap(), end.parse().unwrap())
            .iter()
            .map(|p| format!("{}/{}", p.addr(), p.prefix_len()))
            .collect()
    }

    #[test]
    fn ranges_become_the_fewest_prefixes() {
        assert_eq!(strings("100.64.0.0", "100.64.255.255"), ["100.64.0.0/16"]);
        assert_eq!(
            strings("10.0.0.2", "10.0.0.254")[..2],
            ["10.0.0.2/31", "10.0.0.4/30"]
        );
        let all = strings("10.0.0.2", "10.0.0.254");
        assert_eq!(all.last().unwrap(), "10.0.0.254/32");
        // Every address once: 253 addresses.
        let n: u32 = covering("10.0.0.2".parse().unwrap(), "10.0.0.254".parse().unwrap())
            .iter()
            .map(|p| 1u32 << (32 - u32::from(p.prefix_len())))
            .sum();
        assert_eq!(n, 253);
        assert_eq!(strings("10.0.0.7", "10.0.0.7"), ["10.0.0.7/32"]);
        assert_eq!(strings("2001:db8::", "2001:db8::ffff"), ["2001:db8::/112"]);
        assert!(strings("10.0.0.9", "10.0.0.8").is_empty());
        assert!(covering("10.0.0.1".parse().unwrap(), "::1".parse().unwrap()).is_empty());
        // The largest ranges stay bounded.
        assert_eq!(
            strings("0.0.0.0", "255.255.255.255"),
            ["0.0.0.0/1", "128.0.0.0/1"]
        );
        assert_eq!(
            strings("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").len(),
            2
        );
    }
}
