//! The generator's two UDP sockets (IKE 500 and NAT-T 4500), bound to the wildcard address
//! with `IP_PKTINFO`, so that one socket serves every client address: the namespace routes a
//! whole prefix to itself (`ip route add local <prefix> dev lo`, the "AnyIP" trick), a
//! datagram's destination (from `IP_PKTINFO`) says which client it is for, and a send sets its
//! source with `IP_PKTINFO`'s `ipi_spec_dst`.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::sys::socket::{
    self, ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn, SockaddrStorage, sockopt,
};

/// A nonblocking IPv4 UDP socket on `0.0.0.0:port` that sends from, and reports, any local
/// address.
pub struct AnySocket {
    socket: UdpSocket,
    port: u16,
}

impl AnySocket {
    /// Binds `0.0.0.0:port` with `IP_PKTINFO` and large buffers.
    pub fn bind(port: u16) -> io::Result<Self> {
        let socket = UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))?;
        socket.set_nonblocking(true)?;
        let fd = socket.as_fd();
        socket::setsockopt(&fd, sockopt::Ipv4PacketInfo, &true).map_err(io::Error::from)?;
        // Bursts of thousands of replies must not be dropped by a small default buffer; the
        // kernel caps these at net.core.rmem_max / wmem_max unless the script raises them.
        if socket::setsockopt(&fd, sockopt::RcvBufForce, &(16 << 20)).is_err() {
            let _ = socket::setsockopt(&fd, sockopt::RcvBuf, &(16 << 20));
        }
        let _ = socket::setsockopt(&fd, sockopt::SndBuf, &(4 << 20));
        Ok(AnySocket { socket, port })
    }

    /// The descriptor, for `poll`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// One datagram if one is waiting: (length, sender, our address and port).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr, SocketAddr)>> {
        let mut cmsg = nix::cmsg_space!(libc::in_pktinfo);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = match socket::recvmsg::<SockaddrStorage>(
            self.socket.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(m) => m,
            Err(nix::errno::Errno::EAGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(remote) = msg.address.as_ref().and_then(|a| a.as_sockaddr_in()) else {
            return Ok(None);
        };
        let remote = SocketAddr::V4(SocketAddrV4::from(*remote));
        let mut local = Ipv4Addr::UNSPECIFIED;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::Ipv4PacketInfo(i) = c {
                    local = Ipv4Addr::from(u32::from_be(i.ipi_addr.s_addr));
                }
            }
        }
        Ok(Some((
            msg.bytes,
            remote,
            SocketAddr::from((local, self.port)),
        )))
    }

    /// Sends `payload` to `remote` from `src`. A full send buffer drops the datagram (the
    /// engines retransmit, as over a lossy network).
    pub fn send(&self, payload: &[u8], src: Ipv4Addr, remote: SocketAddr) -> io::Result<()> {
        let SocketAddr::V4(remote) = remote else {
            return Err(io::Error::other("IPv6 is not supported by the generator"));
        };
        let info = pktinfo(src);
        let iov = [IoSlice::new(payload)];
        match socket::sendmsg(
            self.socket.as_raw_fd(),
            &iov,
            &[ControlMessage::Ipv4PacketInfo(&info)],
            MsgFlags::MSG_DONTWAIT,
            Some(&SockaddrIn::from(remote)),
        ) {
            Ok(_) | Err(nix::errno::Errno::EAGAIN) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The `IP_PKTINFO` that sends from `src`.
pub fn pktinfo(src: Ipv4Addr) -> libc::in_pktinfo {
    libc::in_pktinfo {
        ipi_ifindex: 0,
        ipi_spec_dst: libc::in_addr {
            s_addr: u32::from(src).to_be(),
        },
        ipi_addr: libc::in_addr { s_addr: 0 },
    }
}
