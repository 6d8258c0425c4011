//! The IKE UDP sockets (500 and 4500, IPv4 and IPv6).
//!
//! Each socket asks for the datagram's destination address (`IP_PKTINFO` /
//! `IPV6_RECVPKTINFO`), because a socket bound to the wildcard address does not otherwise say
//! which of our addresses the peer reached, and the engine needs it (NAT-D hashes, the
//! address it answers from). Sending from a wildcard socket sets the source address the same
//! way. IPv6 sockets are `IPV6_V6ONLY`, so that `0.0.0.0` and `::` can both be bound.
//! Every socket gets the IKE bypass policy; NAT-T sockets also `UDP_ENCAP_ESPINUDP` with the
//! kernel dataplane. With the userspace one, sockets carry `SO_MARK` instead and the NAT-T
//! ones are read by its inbound worker (ESP-in-UDP there, IKE handed back to the daemon).

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sys::socket::{
    self, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
    SockaddrIn, SockaddrIn6, SockaddrStorage, sockopt,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Receive buffer of the IKE sockets (bytes).
const IKE_RECEIVE_BUFFER: usize = 4 << 20;

/// Largest IKE datagram we read; longer ones are truncated and the engine rejects them.
pub const MAX_DATAGRAM: usize = 65_535;

/// Why a socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// A system call failed.
    #[error("{addr}: {op}: {source}")]
    Io {
        /// The address being bound.
        addr: SocketAddr,
        /// What failed.
        op: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The IKE bypass policy or UDP encapsulation could not be set.
    #[error("{addr}: {source}")]
    Xfrm {
        /// The address being bound.
        addr: SocketAddr,
        /// The error.
        source: xfrm::Error,
    },
}

/// One bound IKE socket.
#[derive(Debug)]
pub struct IkeSocket {
    socket: UdpSocket,
    bound: SocketAddr,
}

impl IkeSocket {
    /// Binds `addr` with the IKE bypass policy; `nat_t` also sets `UDP_ENCAP_ESPINUDP`, unless
    /// `userspace` (the userspace dataplane reads ESP-in-UDP itself, and the kernel would
    /// swallow it); `userspace` also marks the socket so that its packets bypass the routes
    /// into the TUN (see `userspace::net`). Must be called inside a tokio runtime.
    pub fn bind(addr: SocketAddr, nat_t: bool, userspace: bool) -> Result<Self, SocketError> {
        let io = |op| {
            move |e: nix::Error| SocketError::Io {
                addr,
                op,
                source: io::Error::from(e),
            }
        };
        let family = if addr.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        let fd: OwnedFd = socket::socket(
            family,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .map_err(io("socket"))?;
        // Thousands of clients connecting at once send bursts that overflow the default
        // 208 KiB buffer while the engine is busy with a DH (the clients then wait a whole
        // retransmission interval). As root, past net.core.rmem_max; else what it allows.
        if socket::setsockopt(&fd, sockopt::RcvBufForce, &IKE_RECEIVE_BUFFER).is_err() {
            let _ = socket::setsockopt(&fd, sockopt::RcvBuf, &IKE_RECEIVE_BUFFER);
        }
        match addr {
            SocketAddr::V4(a) => {
                socket::setsockopt(&fd, sockopt::Ipv4PacketInfo, &true)
                    .map_err(io("IP_PKTINFO"))?;
                socket::bind(fd.as_raw_fd(), &SockaddrIn::from(a)).map_err(io("bind"))?;
            }
            SocketAddr::V6(a) => {
                socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true).map_err(io("IPV6_V6ONLY"))?;
                socket::setsockopt(&fd, sockopt::Ipv6RecvPacketInfo, &true)
                    .map_err(io("IPV6_RECVPKTINFO"))?;
                socket::bind(fd.as_raw_fd(), &SockaddrIn6::from(a)).map_err(io("bind"))?;
            }
        }
        xfrm::socket::bypass(&fd).map_err(|source| SocketError::Xfrm { addr, source })?;
        if userspace {
            crate::userspace::net::mark(&fd).map_err(|source| SocketError::Io {
                addr,
                op: "SO_MARK",
                source,
            })?;
        } else if nat_t {
            xfrm::socket::set_udp_encap(&fd)
                .map_err(|source| SocketError::Xfrm { addr, source })?;
        }
        let std_socket = std::net::UdpSocket::from(fd);
        let bound = std_socket.local_addr().map_err(|source| SocketError::Io {
            addr,
            op: "getsockname",
            source,
        })?;
        let socket = UdpSocket::from_std(std_socket).map_err(|source| SocketError::Io {
            addr,
            op: "register with tokio",
            source,
        })?;
        Ok(IkeSocket { socket, bound })
    }

    /// The address and port bound.
    pub fn bound(&self) -> SocketAddr {
        self.bound
    }

    /// The descriptor, for the userspace dataplane's workers (which read and send ESP-in-UDP
    /// on the NAT-T socket from their own threads, without tokio).
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Whether this socket is bound to the wildcard address.
    pub fn is_wildcard(&self) -> bool {
        self.bound.ip().is_unspecified()
    }

    /// Receives one datagram into `buf`: its length, the sender, and the address it was sent
    /// to (ours, with our port).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, SocketAddr)> {
        let port = self.bound.port();
        let fallback = self.bound.ip();
        self.socket
            .async_io(Interest::READABLE, || {
                recv_pktinfo(self.socket.as_fd(), buf, fallback, port)
            })
            .await
    }

    /// Sends `payload` to `remote`, from `local` when it is one of our specific addresses and
    /// this socket is bound to the wildcard (else from whatever routing picks).
    pub async fn send(
        &self,
        payload: &[u8],
        remote: SocketAddr,
        local: Option<IpAddr>,
    ) -> io::Result<()> {
        let src = local.filter(|l| !l.is_unspecified() && self.is_wildcard());
        self.socket
            .async_io(Interest::WRITABLE, || {
                send_pktinfo(self.socket.as_fd(), payload, remote, src)
            })
            .await
            .map(|_| ())
    }
}

/// One `recvmsg` with the destination address from `IP_PKTINFO`/`IPV6_PKTINFO` (also used by
/// the userspace dataplane on its raw and NAT-T sockets).
pub(crate) fn recv_pktinfo(
    fd: std::os::fd::BorrowedFd<'_>,
    buf: &mut [u8],
    fallback: IpAddr,
    port: u16,
) -> io::Result<(usize, SocketAddr, SocketAddr)> {
    let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = socket::recvmsg::<SockaddrStorage>(
        fd.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    let remote = msg
        .address
        .as_ref()
        .and_then(|a| {
            if let Some(v4) = a.as_sockaddr_in() {
                Some(SocketAddr::V4(SocketAddrV4::from(*v4)))
            } else {
                a.as_sockaddr_in6()
                    .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
            }
        })
        .ok_or_else(|| io::Error::other("datagram without a source address"))?;
    let mut local = fallback;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            match c {
                ControlMessageOwned::Ipv4PacketInfo(i) => {
                    local = IpAddr::V4(Ipv4Addr::from(u32::from_be(i.ipi_addr.s_addr)));
                }
                ControlMessageOwned::Ipv6PacketInfo(i) => {
                    local = IpAddr::V6(Ipv6Addr::from(i.ipi6_addr.s6_addr));
                }
                _ => {}
            }
        }
    }
    Ok((msg.bytes, remote, SocketAddr::new(local, port)))
}

/// One `sendmsg`, from `src` when given (also used by the userspace dataplane).
pub(crate) fn send_pktinfo(
    fd: std::os::fd::BorrowedFd<'_>,
    payload: &[u8],
    remote: SocketAddr,
    src: Option<IpAddr>,
) -> io::Result<usize> {
    let iov = [IoSlice::new(payload)];
    let flags = MsgFlags::MSG_DONTWAIT;
    let raw = fd.as_raw_fd();
    let r = match (remote, src) {
        (SocketAddr::V4(r), Some(IpAddr::V4(s))) => {
            let info = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from(s).to_be(),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            socket::sendmsg(
                raw,
                &iov,
                &[ControlMessage::Ipv4PacketInfo(&info)],
                flags,
                Some(&SockaddrIn::from(r)),
            )
        }
        (SocketAddr::V6(r), Some(IpAddr::V6(s))) => {
            let info = libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: s.octets(),
                },
                ipi6_ifindex: 0,
            };
            socket::sendmsg(
                raw,
                &iov,
                &[ControlMessage::Ipv6PacketInfo(&info)],
                flags,
                Some(&SockaddrIn6::from(r)),
            )
        }
        (SocketAddr::V4(r), _) => {
            socket::sendmsg(raw, &iov, &[], flags, Some(&SockaddrIn::from(r)))
        }
        (SocketAddr::V6(r), _) => {
            socket::sendmsg(raw, &iov, &[], flags, Some(&SockaddrIn6::from(r)))
        }
    };
    r.map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binding needs no privileges on a high port, but the bypass policy needs CAP_NET_ADMIN:
    /// only the address bookkeeping is checked here when not root.
    #[tokio::test]
    async fn loopback_round_trip_with_pktinfo() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: needs root (IKE bypass policy)");
            return;
        }
        let a = IkeSocket::bind("127.0.0.1:0".parse().unwrap(), false, false).unwrap();
        let b = IkeSocket::bind("0.0.0.0:0".parse().unwrap(), false, false).unwrap();
        let to = SocketAddr::new("127.0.0.1".parse().unwrap(), b.bound().port());
        a.send(b"hello", to, None).await.unwrap();
        let mut buf = [0u8; 64];
        let (n, from, local) = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from, a.bound());
        assert_eq!(local, to);
        // And back, with the source chosen by pktinfo.
        b.send(b"back", from, Some(local.ip())).await.unwrap();
        let (n, from, _) = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"back");
        assert_eq!(from, to);
    }
}
