//! Traffic selectors as quick-mode ID payloads (RFC 2409 §5.5, RFC 2407 §4.6.2): IDci is the
//! initiator's side, IDcr the responder's; an address, a subnet or a range with a protocol
//! and a port.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::{AddrRange, IpPrefix, Policy, PortSpec};
use crate::engine::{Reject, TrafficSelector, TsAddr};
use crate::wire::{IdValue, Identification};

/// The ID payload for one side of a selector.
pub(crate) fn id_for(addr: &TsAddr, protocol: u8, port: u16) -> Identification<'static> {
    let value = match *addr {
        TsAddr::Prefix(p) => match p.addr() {
            IpAddr::V4(a) if p.is_host() => IdValue::Ipv4(a),
            IpAddr::V6(a) if p.is_host() => IdValue::Ipv6(a),
            IpAddr::V4(a) => IdValue::Ipv4Subnet {
                addr: a,
                mask: Ipv4Addr::from(mask_v4(p.prefix_len())),
            },
            IpAddr::V6(a) => IdValue::Ipv6Subnet {
                addr: a,
                mask: Ipv6Addr::from(mask_v6(p.prefix_len())),
            },
        },
        TsAddr::Range(r) => match (r.start(), r.end()) {
            (IpAddr::V4(start), IpAddr::V4(end)) => IdValue::Ipv4Range { start, end },
            (IpAddr::V6(start), IpAddr::V6(end)) => IdValue::Ipv6Range { start, end },
            // AddrRange never mixes families; keep the start alone rather than fail.
            (IpAddr::V4(a), _) => IdValue::Ipv4(a),
            (IpAddr::V6(a), _) => IdValue::Ipv6(a),
        },
    };
    let id = Identification::new(value, protocol, port);
    Identification {
        id_type: id.id_type,
        protocol: id.protocol,
        port: id.port,
        data: std::borrow::Cow::Owned(id.data.into_owned()),
    }
}

fn mask_v4(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32u32.saturating_sub(u32::from(len)))
        .unwrap_or(0)
}

fn mask_v6(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128u32.saturating_sub(u32::from(len)))
        .unwrap_or(0)
}

/// The prefix length of a contiguous IPv4 mask.
fn prefix_len_v4(mask: u32) -> Option<u8> {
    let len = u8::try_from(mask.leading_ones()).ok()?;
    (mask_v4(len) == mask).then_some(len)
}

/// The prefix length of a contiguous IPv6 mask.
fn prefix_len_v6(mask: u128) -> Option<u8> {
    let len = u8::try_from(mask.leading_ones()).ok()?;
    (mask_v6(len) == mask).then_some(len)
}

/// One side of a selector from a received ID payload: (addresses, protocol, port).
pub(crate) fn ts_of(id: &Identification<'_>) -> Result<(TsAddr, u8, u16), Reject> {
    let addr = match id.value().map_err(|_| Reject::InvalidSelector)? {
        IdValue::Ipv4(a) => TsAddr::Prefix(IpPrefix::host(IpAddr::V4(a))),
        IdValue::Ipv6(a) => TsAddr::Prefix(IpPrefix::host(IpAddr::V6(a))),
        IdValue::Ipv4Subnet { addr, mask } => {
            let len = prefix_len_v4(u32::from(mask)).ok_or(Reject::InvalidSelector)?;
            let net = Ipv4Addr::from(u32::from(addr) & u32::from(mask));
            TsAddr::Prefix(IpPrefix::new(IpAddr::V4(net), len).ok_or(Reject::InvalidSelector)?)
        }
        IdValue::Ipv6Subnet { addr, mask } => {
            let len = prefix_len_v6(u128::from(mask)).ok_or(Reject::InvalidSelector)?;
            let net = Ipv6Addr::from(u128::from(addr) & u128::from(mask));
            TsAddr::Prefix(IpPrefix::new(IpAddr::V6(net), len).ok_or(Reject::InvalidSelector)?)
        }
        IdValue::Ipv4Range { start, end } => TsAddr::Range(
            AddrRange::new(IpAddr::V4(start), IpAddr::V4(end)).ok_or(Reject::InvalidSelector)?,
        ),
        IdValue::Ipv6Range { start, end } => TsAddr::Range(
            AddrRange::new(IpAddr::V6(start), IpAddr::V6(end)).ok_or(Reject::InvalidSelector)?,
        ),
        _ => return Err(Reject::InvalidSelector),
    };
    Ok((addr, id.protocol, id.port))
}

/// The selector of a configured policy, from our side.
pub(crate) fn of_policy(p: &Policy) -> TrafficSelector {
    let port = |s: PortSpec| match s {
        PortSpec::Any => 0,
        PortSpec::Port(n) => n,
    };
    TrafficSelector {
        local: TsAddr::Prefix(p.src_address),
        remote: TsAddr::Prefix(p.dst_address),
        protocol: p.protocol.number().unwrap_or(0),
        local_port: port(p.src_port),
        remote_port: port(p.dst_port),
    }
}

/// Host to host: the selector of a quick mode without ID payloads (RFC 2409 §5.5: the
/// phase-1 addresses).
pub(crate) fn host_to_host(local: IpAddr, remote: IpAddr) -> TrafficSelector {
    TrafficSelector {
        local: TsAddr::Prefix(IpPrefix::host(local.to_canonical())),
        remote: TsAddr::Prefix(IpPrefix::host(remote.to_canonical())),
        protocol: 0,
        local_port: 0,
        remote_port: 0,
    }
}

/// IDci and IDcr for a selector of ours when we initiate: IDci is our side.
pub(crate) fn initiator_ids(
    ts: &TrafficSelector,
) -> (Identification<'static>, Identification<'static>) {
    (
        id_for(&ts.local, ts.protocol, ts.local_port),
        id_for(&ts.remote, ts.protocol, ts.remote_port),
    )
}

/// Our view of the selector a peer proposed (IDci is its side, IDcr ours).
pub(crate) fn responder_view(
    idci: &Identification<'_>,
    idcr: &Identification<'_>,
) -> Result<TrafficSelector, Reject> {
    let (remote, proto_i, remote_port) = ts_of(idci)?;
    let (local, proto_r, local_port) = ts_of(idcr)?;
    if proto_i != proto_r || remote.is_ipv4() != local.is_ipv4() {
        return Err(Reject::InvalidSelector);
    }
    Ok(TrafficSelector {
        local,
        remote,
        protocol: proto_i,
        local_port,
        remote_port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let ts = TrafficSelector {
            local: TsAddr::Prefix("10.1.0.0/16".parse().unwrap()),
            remote: TsAddr::Prefix("10.2.3.4".parse().unwrap()),
            protocol: 6,
            local_port: 0,
            remote_port: 443,
        };
        let (ci, cr) = initiator_ids(&ts);
        // The responder sees the mirror image.
        let seen = responder_view(&ci, &cr).unwrap();
        assert_eq!(seen.local, ts.remote);
        assert_eq!(seen.remote, ts.local);
        assert_eq!(seen.local_port, 443);
        assert_eq!(seen.protocol, 6);
        let range = TsAddr::Range(
            AddrRange::new("10.0.0.5".parse().unwrap(), "10.0.0.9".parse().unwrap()).unwrap(),
        );
        assert_eq!(ts_of(&id_for(&range, 0, 0)).unwrap().0, range);
        let v6 = TsAddr::Prefix("2001:db8::/48".parse().unwrap());
        assert_eq!(ts_of(&id_for(&v6, 0, 0)).unwrap().0, v6);
    }

    #[test]
    fn non_contiguous_masks_and_names_are_refused() {
        let bad = Identification::new(
            IdValue::Ipv4Subnet {
                addr: "10.0.0.0".parse().unwrap(),
                mask: "255.0.255.0".parse().unwrap(),
            },
            0,
            0,
        );
        assert_eq!(ts_of(&bad), Err(Reject::InvalidSelector));
        let name = Identification::new(IdValue::Fqdn(b"example.com"), 0, 0);
        assert_eq!(ts_of(&name), Err(Reject::InvalidSelector));
        let zero = Identification::new(
            IdValue::Ipv4Subnet {
                addr: "0.0.0.0".parse().unwrap(),
                mask: "0.0.0.0".parse().unwrap(),
            },
            0,
            0,
        );
        assert_eq!(
            ts_of(&zero).unwrap().0,
            TsAddr::Prefix("0.0.0.0/0".parse().unwrap())
        );
    }
}
