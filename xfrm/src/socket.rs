//! Per-socket settings the IKE daemon needs on its UDP sockets.
//!
//! Hand-written: these are `setsockopt` calls on an ordinary socket, not netlink messages, so
//! neither `xfrmnetlink` nor `rtnetlink` offers them (nor does `nix` or `socket2`). The policy
//! structure itself (`struct xfrm_userpolicy_info`) is emitted by `netlink-packet-xfrm`'s
//! [`UserPolicyInfo`]; only the system call is ours.
//!
//! - [`bypass`]: `IP_XFRM_POLICY` / `IPV6_XFRM_POLICY` with an "allow, no template" policy in
//!   both directions. Per-socket policies take precedence over the SPD, so IKE messages go out
//!   and come in clear even when a policy covers the peer's whole address (as strongSwan,
//!   libreswan and racoon do for their IKE sockets).
//! - [`set_udp_encap`]: `UDP_ENCAP` = `UDP_ENCAP_ESPINUDP` on the NAT-T socket (port 4500), so
//!   the kernel takes ESP-in-UDP datagrams (non-zero first four bytes) off it and decapsulates
//!   them through the SAs, and hands only IKE (non-ESP marker) to the daemon (RFC 3948).
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use netlink_packet_core::Emitable;
use netlink_packet_xfrm as nl;
use netlink_packet_xfrm::UserPolicyInfo;

use crate::error::{Error, Result};
use crate::types::Lifetime;

/// `UDP_ENCAP_ESPINUDP` from `<linux/udp.h>` (libc has `UDP_ENCAP`, not this value).
const UDP_ENCAP_ESPINUDP: libc::c_int = nl::UDP_ENCAP_ESPINUDP as libc::c_int;

fn setsockopt_bytes(
    fd: &impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &[u8],
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(value.len())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: the fd is borrowed for the call, `value` is a valid buffer of `len` bytes that
    // the kernel only reads.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_fd().as_raw_fd(),
            level,
            name,
            value.as_ptr().cast(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn socket_domain(fd: &impl AsFd) -> io::Result<libc::c_int> {
    let mut domain: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `domain` and `len` are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&mut domain as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(domain)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The `xfrm_userpolicy_info` of an "allow in clear" per-socket policy.
fn bypass_policy(family: u16, dir: u8) -> [u8; nl::XFRM_USER_POLICY_INFO_LEN] {
    let mut p = UserPolicyInfo::default();
    // The kernel refuses a socket policy whose selector family is neither AF_INET nor
    // AF_INET6; the selector is otherwise all zero (any).
    p.selector.family = family;
    p.direction = dir;
    p.action = nl::XFRM_POLICY_ALLOW;
    p.lifetime_cfg = Lifetime::default().to_nl();
    let mut buf = [0u8; nl::XFRM_USER_POLICY_INFO_LEN];
    p.emit(&mut buf);
    buf
}

/// Lets this socket's traffic bypass IPsec policies in both directions (for IKE sockets).
///
/// The option is chosen from the socket's domain. The all-zero selector matches every flow
/// whatever its family, so on a dual-stack IPv6 socket it covers IPv4-mapped traffic too.
pub fn bypass(fd: &impl AsFd) -> Result<()> {
    let io_err = |source| Error::Io {
        op: "socket bypass policy",
        source,
    };
    let domain = socket_domain(fd).map_err(io_err)?;
    let (level, name, family) = match domain {
        libc::AF_INET => (libc::IPPROTO_IP, libc::IP_XFRM_POLICY, libc::AF_INET),
        libc::AF_INET6 => (libc::IPPROTO_IPV6, libc::IPV6_XFRM_POLICY, libc::AF_INET6),
        other => {
            return Err(Error::Invalid(format!(
                "bypass policies apply to IPv4/IPv6 sockets, not domain {other}"
            )));
        }
    };
    for dir in [nl::XFRM_POLICY_IN, nl::XFRM_POLICY_OUT] {
        setsockopt_bytes(fd, level, name, &bypass_policy(family as u16, dir)).map_err(io_err)?;
    }
    Ok(())
}

/// Makes the kernel decapsulate ESP-in-UDP arriving on this UDP socket (RFC 3948), leaving
/// IKE messages (with the non-ESP marker) to the application. Needed on the NAT-T socket.
pub fn set_udp_encap(fd: &impl AsFd) -> Result<()> {
    setsockopt_bytes(
        fd,
        libc::IPPROTO_UDP,
        libc::UDP_ENCAP,
        &UDP_ENCAP_ESPINUDP.to_ne_bytes(),
    )
    .map_err(|source| Error::Io {
        op: "UDP_ENCAP_ESPINUDP",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bypass_policy_layout_is_the_kernels() {
        let b = bypass_policy(libc::AF_INET as u16, nl::XFRM_POLICY_OUT);
        assert_eq!(b.len(), 168);
        // sel.family sits after daddr, saddr (16 + 16) and four u16 ports/masks.
        assert_eq!(u16::from_ne_bytes([b[40], b[41]]), libc::AF_INET as u16);
        // dir, action at 160, 161 (after sel 56, lft 64, curlft 32, priority, index).
        assert_eq!(b[160], nl::XFRM_POLICY_OUT);
        assert_eq!(b[161], nl::XFRM_POLICY_ALLOW);
        // Infinite byte limits.
        assert_eq!(&b[56..64], &u64::MAX.to_ne_bytes());
    }

    #[test]
    fn udp_encap_refused_on_tcp_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(set_udp_encap(&l).is_err());
    }
}
