//! The inbound worker: raw ESP and NAT-T sockets → SA by SPI → decapsulate → inner policy
//! check → TUN.
//!
//! One thread owns every inbound SA. In userspace mode it is also the only reader of the
//! NAT-T sockets: datagrams with the non-ESP marker (four zero bytes, RFC 3948 §2.2) are IKE
//! and go to the daemon's queue, a single 0xFF byte is a NAT-keepalive (RFC 3948 §2.3), the
//! rest is ESP-in-UDP. (The sockets have no `UDP_ENCAP_ESPINUDP` in this mode, or the kernel
//! would take the ESP for itself.)

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

use std::io::IoSliceMut;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg};
use tokio::sync::mpsc::UnboundedSender;
use tun_rs::SyncDevice;

use super::tun_io::TunWriter;

use super::counters::{DropReason, SaCounters, Totals};
use super::esp_glue::{Expiry, Inbound};
use super::packet::{adjust_transport_checksum, fix_transport_checksum, flow, ipv4_outer, rebuild};
use super::spd::Selector;
use super::{DpEvent, KeySweep, WAKE};
use crate::udp::{IkeSocket, recv_pktinfo};

/// Datagrams read from one socket per wake-up before the others and the commands get a turn.
pub const BATCH: usize = 64;

/// Buffers and headers of one `recvmmsg(2)`, allocated once.
struct RecvBatch {
    bufs: Vec<Vec<u8>>,
    headers: MultiHeaders<SockaddrStorage>,
}

impl RecvBatch {
    fn new() -> Self {
        RecvBatch {
            bufs: (0..BATCH).map(|_| vec![0u8; 65_536]).collect(),
            headers: MultiHeaders::preallocate(BATCH, None),
        }
    }
}

/// One inbound SA.
pub struct InSa {
    /// SPI (ours).
    pub spi: u32,
    /// ESP state.
    pub esp: Inbound,
    /// Tunnel mode.
    pub tunnel: bool,
    /// Whether the peer sends it in UDP.
    pub encap: bool,
    /// Transport mode through a NAT: (our address as the peer knows it, the peer's original
    /// address), from its NAT-OA payloads (RFC 3947 §5.2): what its checksums cover.
    pub nat_oa: Option<(IpAddr, IpAddr)>,
    /// The traffic it may carry, outbound view (reversed for the check); `None`: any.
    pub selector: Option<Selector>,
    /// Transport mode through a NAT: the address local programs know the peer by
    /// ([`super::alias`]), the source of its decapsulated packets instead of the NAT's.
    pub alias: Option<IpAddr>,
    /// Published counters.
    pub counters: Arc<SaCounters>,
}

/// What the control side tells the worker.
pub enum InCmd {
    /// A new SA.
    Add(Box<InSa>),
    /// Forget an SA.
    Del(u32),
}

/// Hands an IKE datagram that arrived on the NAT-T port to the daemon: (local, remote, bytes);
/// `false` if its queue is full.
pub type IkeSink = Box<dyn Fn(SocketAddr, SocketAddr, &[u8]) -> bool + Send>;

/// The worker's sockets.
pub struct InSockets {
    /// Raw ESP, IPv4 (datagrams come with their IP header).
    pub raw4: Option<Arc<OwnedFd>>,
    /// Raw ESP, IPv6 (without: addresses from recvmsg and IPV6_PKTINFO).
    pub raw6: Option<Arc<OwnedFd>>,
    /// NAT-T sockets.
    pub udp: Vec<Arc<IkeSocket>>,
}

/// The inbound worker's state.
pub struct Worker {
    tun: Arc<SyncDevice>,
    sockets: InSockets,
    cmds: Receiver<InCmd>,
    events: UnboundedSender<DpEvent>,
    totals: Arc<Totals>,
    ike: IkeSink,
    /// Boxed: an SA is about 350 bytes (its keys are expanded only while it carries
    /// traffic), and a table of them inline would also pay that for every empty slot (up
    /// to half of them).
    sas: HashMap<u32, Box<InSa>>,
    /// Decrypted payload, and the rebuilt transport-mode packet.
    plain: Vec<u8>,
    rebuilt: Vec<u8>,
    /// Decrypted packets on their way into the TUN.
    writer: TunWriter,
    /// When the SAs' idle keys are given back next.
    key_sweep: KeySweep,
}

#[derive(Clone, Copy)]
enum Source {
    Raw4,
    Raw6,
    /// A NAT-T socket bound to this port.
    Udp(u16),
}

impl Worker {
    /// A worker over these resources.
    pub fn new(
        tun: Arc<SyncDevice>,
        sockets: InSockets,
        cmds: Receiver<InCmd>,
        events: UnboundedSender<DpEvent>,
        totals: Arc<Totals>,
        ike: IkeSink,
    ) -> Self {
        Worker {
            sockets,
            cmds,
            events,
            totals,
            ike,
            sas: HashMap::new(),
            plain: Vec::with_capacity(65_536),
            rebuilt: Vec::with_capacity(65_536),
            writer: TunWriter::new(&tun),
            tun,
            key_sweep: KeySweep::new(),
        }
    }

    fn commands(&mut self) -> bool {
        loop {
            match self.cmds.try_recv() {
                Ok(InCmd::Add(sa)) => {
                    self.sas.insert(sa.spi, sa);
                }
                Ok(InCmd::Del(spi)) => {
                    self.sas.remove(&spi);
                }
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Runs until the control side drops its sender.
    pub fn run(mut self) {
        let mut buf = vec![0u8; 65_536];
        // Made here: its message headers hold raw pointers and stay on this thread.
        let mut batch = RecvBatch::new();
        let raw4 = self.sockets.raw4.clone();
        let raw6 = self.sockets.raw6.clone();
        let udp = self.sockets.udp.clone();
        let mut sources: Vec<(BorrowedFd<'_>, Source)> = Vec::new();
        if let Some(r) = &raw4 {
            sources.push((r.as_fd(), Source::Raw4));
        }
        if let Some(r) = &raw6 {
            sources.push((r.as_fd(), Source::Raw6));
        }
        for u in &udp {
            sources.push((u.fd(), Source::Udp(u.bound().port())));
        }
        while self.commands() {
            if self.key_sweep.due() {
                for sa in self.sas.values_mut() {
                    sa.esp.drop_idle_keys();
                }
            }
            let mut fds: Vec<PollFd<'_>> = sources
                .iter()
                .map(|(fd, _)| PollFd::new(*fd, PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, PollTimeout::from(WAKE)) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    tracing::error!("inbound worker: poll: {e}");
                    std::thread::sleep(Duration::from_millis(WAKE.into()));
                    continue;
                }
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(fds);
            for (i, &(fd, src)) in sources.iter().enumerate() {
                if !ready[i] {
                    continue;
                }
                match src {
                    Source::Raw4 => self.drain_raw4(fd, &mut batch),
                    Source::Raw6 | Source::Udp(_) => self.drain(fd, src, &mut buf),
                }
            }
            self.flush_tun();
        }
    }

    /// Reads raw IPv4 ESP with `recvmmsg(2)`, [`BATCH`] datagrams per call, until the socket
    /// is empty or [`BATCH`] calls were made (the other sockets get their turn).
    fn drain_raw4(&mut self, fd: BorrowedFd<'_>, b: &mut RecvBatch) {
        use std::os::fd::AsRawFd;
        for _ in 0..BATCH {
            let mut lens = [0usize; BATCH];
            let n = {
                let mut slices: Vec<[IoSliceMut<'_>; 1]> = b
                    .bufs
                    .iter_mut()
                    .map(|x| [IoSliceMut::new(&mut x[..])])
                    .collect();
                match recvmmsg(
                    fd.as_raw_fd(),
                    &mut b.headers,
                    &mut slices,
                    MsgFlags::MSG_DONTWAIT,
                    None,
                ) {
                    Ok(r) => {
                        let mut k = 0;
                        for (m, len) in r.zip(lens.iter_mut()) {
                            *len = m.bytes;
                            k += 1;
                        }
                        k
                    }
                    Err(nix::errno::Errno::EAGAIN) => return,
                    Err(e) => {
                        tracing::debug!("inbound recvmmsg: {e}");
                        return;
                    }
                }
            };
            for (buf, &len) in b.bufs.iter().zip(&lens[..n]) {
                let data = &buf[..len.min(buf.len())];
                match ipv4_outer(data) {
                    Some((s, d, ihl)) => self.esp(&data[ihl..], s, d, false),
                    None => self.totals.count(DropReason::InTruncated),
                }
            }
            if n < BATCH {
                return;
            }
        }
    }

    /// Reads up to [`BATCH`] datagrams from the IPv6 raw socket or a NAT-T socket.
    fn drain(&mut self, fd: BorrowedFd<'_>, src: Source, buf: &mut [u8]) {
        // One recvmsg per datagram: these need the destination address from a control
        // message (IPv6 raw sockets carry no IP header; NAT-T sockets may be wildcards).
        let port = match src {
            Source::Udp(p) => p,
            Source::Raw4 | Source::Raw6 => 0,
        };
        let unspec = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);
        for _ in 0..BATCH {
            let (n, remote, local) = match recv_pktinfo(fd, buf, unspec, port) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::debug!("inbound receive: {e}");
                    return;
                }
            };
            let data = &buf[..n.min(buf.len())];
            match src {
                Source::Udp(_) => self.udp(data, remote, local),
                _ => self.esp(data, remote.ip(), local.ip(), false),
            }
        }
    }

    /// A datagram on the NAT-T port (RFC 3948 §2.2).
    fn udp(&mut self, data: &[u8], remote: SocketAddr, local: SocketAddr) {
        if data.len() >= 4 && data[..4] == [0, 0, 0, 0] {
            if !(self.ike)(local, remote, data) {
                self.totals.count(DropReason::InIkeQueueFull);
            }
        } else if data == [0xff] {
            self.totals.keepalives.fetch_add(1, Relaxed);
        } else {
            self.esp(data, remote.ip(), local.ip(), true);
        }
    }

    fn esp(&mut self, esp: &[u8], src: IpAddr, dst: IpAddr, udp: bool) {
        if esp.len() < 8 {
            return self.totals.count(DropReason::InTruncated);
        }
        let spi = u32::from_be_bytes([esp[0], esp[1], esp[2], esp[3]]);
        let Some(sa) = self.sas.get_mut(&spi) else {
            return self.totals.count(DropReason::InNoState);
        };
        if sa.encap != udp {
            return self.totals.count(DropReason::InEncapMismatch);
        }
        let d = match sa.esp.decapsulate(esp, &mut self.plain) {
            Ok(d) => d,
            Err(e) => {
                sa.counters.refused(&e);
                return self.totals.drop_in(&e);
            }
        };
        if let Some(x) = d.expiry {
            let _ = self.events.send(DpEvent::Expired {
                spi,
                hard: x == Expiry::Hard,
            });
        }
        if d.dummy {
            // A dummy packet (RFC 4303 §2.6): authenticated, then dropped silently.
            return;
        }
        let packet: &[u8] = if sa.tunnel {
            &self.plain
        } else {
            let src = sa.alias.unwrap_or(src);
            if !rebuild(src, dst, d.next_header, &self.plain, &mut self.rebuilt) {
                return self.totals.count(DropReason::InMalformed);
            }
            // RFC 3948 §3.1.2: with the peer's NAT-OA, an incremental fix from the addresses
            // its checksum covers (which keeps a corrupted checksum corrupted); without, a
            // recomputation.
            match sa.nat_oa {
                Some((local, remote)) if udp => {
                    adjust_transport_checksum(&mut self.rebuilt, remote, local)
                }
                None if udp => fix_transport_checksum(&mut self.rebuilt),
                _ => {}
            }
            &self.rebuilt
        };
        // RFC 4301 §5.2 step 4: the inner packet must be one the SA was negotiated for. A
        // transport-mode SA through a NAT carries the peer's private address inside.
        if let Some(sel) = &sa.selector
            && (sa.tunnel || !udp)
            && !flow(packet).is_some_and(|f| sel.matches_in(&f))
        {
            return self.totals.count(DropReason::InPolicyMismatch);
        }
        sa.counters.delivered(self.plain.len());
        match self.writer.push(&self.tun, packet) {
            Ok(()) => {
                self.totals.in_packets.fetch_add(1, Relaxed);
            }
            Err(e) => {
                tracing::trace!("TUN write: {e}");
                self.totals.count(DropReason::InTunError);
            }
        }
    }

    /// Writes the decrypted packets still queued for the TUN (with offloads).
    fn flush_tun(&mut self) {
        if let Err(e) = self.writer.flush(&self.tun) {
            tracing::trace!("TUN write: {e}");
            self.totals.count(DropReason::InTunError);
        }
    }
}
