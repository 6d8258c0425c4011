//! The RADIUS sockets: one unconnected client socket per server group and address family
//! (ephemeral port; RFC 2865 identifiers are per source port), and the dynamic authorization
//! port (RFC 5176, UDP 3799) on every `listen` address. Reader tasks feed one channel.
//!
//! RADIUS traffic follows the routing table and the IPsec policies like any other local
//! traffic (a server across a site-to-site tunnel is reached through it).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6, sockopt};
use radius::client::Transmit;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::warn;

use super::Aaa;

/// A datagram from a RADIUS socket.
#[derive(Debug)]
pub struct RadiusIn {
    /// The client group's socket it came to, or `None` for the dynamic authorization port.
    pub group: Option<usize>,
    /// Which dynamic authorization socket (for the answer).
    pub socket: usize,
    pub from: SocketAddr,
    pub data: Vec<u8>,
}

/// A client group's sockets: IPv4 and IPv6, each if one of its servers has that family.
type GroupSockets = (Option<Arc<UdpSocket>>, Option<Arc<UdpSocket>>);

/// The sockets.
pub struct RadiusSockets {
    groups: Vec<GroupSockets>,
    incoming: Vec<Arc<UdpSocket>>,
}

impl RadiusSockets {
    /// Opens what `aaa` needs and starts their readers.
    pub fn open(aaa: &Aaa, listen: &[IpAddr], tx: &mpsc::Sender<RadiusIn>) -> io::Result<Self> {
        let mut groups = Vec::new();
        for g in 0..aaa.groups() {
            let (v4, v6) = aaa.families(g);
            let open = |want: bool, any: IpAddr| -> io::Result<Option<Arc<UdpSocket>>> {
                if !want {
                    return Ok(None);
                }
                let s = Arc::new(bind(SocketAddr::new(any, 0))?);
                tokio::spawn(read(Arc::clone(&s), Some(g), 0, tx.clone()));
                Ok(Some(s))
            };
            groups.push((
                open(v4, Ipv4Addr::UNSPECIFIED.into())?,
                open(v6, Ipv6Addr::UNSPECIFIED.into())?,
            ));
        }
        let mut incoming = Vec::new();
        if let Some(port) = aaa.incoming_port() {
            for &ip in listen {
                let s = Arc::new(bind(SocketAddr::new(ip, port)).map_err(|e| {
                    io::Error::new(e.kind(), format!("{}: {e}", SocketAddr::new(ip, port)))
                })?);
                tokio::spawn(read(Arc::clone(&s), None, incoming.len(), tx.clone()));
                incoming.push(s);
            }
        }
        Ok(RadiusSockets { groups, incoming })
    }

    /// Where Disconnect/CoA are taken.
    pub fn incoming(&self) -> Vec<SocketAddr> {
        self.incoming
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// Sends a client datagram of group `g`.
    pub async fn send(&self, g: usize, t: &Transmit) {
        let Some((v4, v6)) = self.groups.get(g) else {
            return;
        };
        let socket = if t.to.is_ipv4() { v4 } else { v6 };
        if let Some(s) = socket
            && let Err(e) = s.send_to(&t.payload, t.to).await
        {
            warn!("sending to RADIUS server {}: {e}", t.to);
        }
    }

    /// Answers a dynamic authorization client from the socket its request came to.
    pub async fn answer(&self, socket: usize, to: SocketAddr, payload: &[u8]) {
        if let Some(s) = self.incoming.get(socket)
            && let Err(e) = s.send_to(payload, to).await
        {
            warn!("answering {to}: {e}");
        }
    }
}

/// A UDP socket on `addr`; IPv6 ones are IPv6-only, so that `0.0.0.0` and `::` can both be
/// bound to the same port.
fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
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
    )?;
    match addr {
        SocketAddr::V4(a) => socket::bind(fd.as_raw_fd(), &SockaddrIn::from(a))?,
        SocketAddr::V6(a) => {
            socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
            socket::bind(fd.as_raw_fd(), &SockaddrIn6::from(a))?;
        }
    }
    UdpSocket::from_std(std::net::UdpSocket::from(fd))
}

async fn read(
    socket: Arc<UdpSocket>,
    group: Option<usize>,
    index: usize,
    tx: mpsc::Sender<RadiusIn>,
) {
    // RFC 2865 §3: 4096 octets at most; one more to see that a datagram is too long.
    let mut buf = vec![0u8; radius::packet::MAX_LEN + 1];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let from = SocketAddr::new(from.ip().to_canonical(), from.port());
                let d = RadiusIn {
                    group,
                    socket: index,
                    from,
                    data: buf[..n].to_vec(),
                };
                if tx.send(d).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                warn!("RADIUS socket: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
