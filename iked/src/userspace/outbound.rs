//! The outbound worker: TUN → SPD → SA → ESP → raw socket or NAT-T socket.
//!
//! One thread owns every outbound SA (no locks on the packet path). It drains its command
//! channel between batches, reads up to [`BATCH`] packets per wake-up, encapsulates each
//! into a buffer of its [`SendBatch`] and sends the batch with `sendmmsg(2)`, one call per
//! run of packets that leave through the same socket from the same address. Buffers and
//! message headers are allocated once.

use std::collections::HashMap;
use std::io;
use std::io::IoSlice;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, sendmmsg};
use tokio::sync::mpsc::UnboundedSender;
use tun_rs::SyncDevice;

use super::counters::{DropReason, SaCounters, Totals};
use super::esp_glue::{Expiry, Outbound};
use super::packet::{flow, retarget};
use super::spd::{Action, EntryId, Spd};
use super::tun_io::TunReader;
use super::{DpEvent, KeySweep, WAKE};
use crate::udp::IkeSocket;

/// Packets read from the TUN per wake-up before the command channel is looked at again.
pub const BATCH: usize = 64;

/// At most one ACQUIRE per policy this often (the kernel's is per larval SA; the engine
/// also ignores duplicates while negotiating).
const ACQUIRE_INTERVAL: Duration = Duration::from_secs(1);

/// A policy's SAs: the one new packets take, and older ones a rekey has not removed yet.
/// (One map, not a current SA by policy and a list by policy: 60 bytes per road warrior.)
struct PolicySas {
    current: u32,
    older: Vec<u32>,
}

impl PolicySas {
    /// `spi` is the policy's newest SA.
    fn make_current(&mut self, spi: u32) {
        if self.current == spi {
            return;
        }
        if !self.older.contains(&self.current) {
            self.older.push(self.current);
        }
        self.older.retain(|s| *s != spi);
        self.current = spi;
    }

    /// Removes `spi`; whether the policy has an SA left.
    fn remove(&mut self, spi: u32) -> bool {
        if self.current == spi {
            // An older SA of the same policy may still be alive (rekey overlap).
            let Some(i) = (0..self.older.len()).max_by_key(|i| self.older[*i]) else {
                return false;
            };
            self.current = self.older.swap_remove(i);
        } else {
            self.older.retain(|s| *s != spi);
        }
        if self.older.is_empty() {
            self.older = Vec::new();
        }
        true
    }
}

/// One outbound SA.
pub struct OutSa {
    /// SPI.
    pub spi: u32,
    /// Which policy it serves.
    pub entry: EntryId,
    /// ESP state.
    pub esp: Outbound,
    /// Outer source (ours).
    pub src: IpAddr,
    /// Outer destination (the peer).
    pub dst: IpAddr,
    /// ESP-in-UDP (our port, the peer's port).
    pub encap: Option<(u16, u16)>,
    /// Transport mode through a NAT: the address local programs know the peer by
    /// ([`super::alias`]); packets to it go to `dst` instead.
    pub alias: Option<IpAddr>,
    /// Published counters.
    pub counters: Arc<SaCounters>,
}

/// What the control side tells the worker.
pub enum OutCmd {
    /// A new policy snapshot.
    Spd(Arc<Spd>),
    /// A new SA; it becomes its policy's current one.
    Add(Box<OutSa>),
    /// Forget an SA.
    Del(u32),
    /// The peer's NAT mapping changed: new outer addresses and ESP-in-UDP ports.
    Move {
        /// SPI.
        spi: u32,
        /// New outer source.
        src: IpAddr,
        /// New outer destination.
        dst: IpAddr,
        /// New (our port, the peer's port).
        encap: Option<(u16, u16)>,
    },
}

/// The worker's sockets.
pub struct OutSockets {
    /// Raw ESP, IPv4.
    pub raw4: Option<Arc<OwnedFd>>,
    /// Raw ESP, IPv6.
    pub raw6: Option<Arc<OwnedFd>>,
    /// The NAT-T sockets (ESP-in-UDP, RFC 3948).
    pub udp: Vec<Arc<IkeSocket>>,
}

/// The outbound worker's state.
pub struct Worker {
    tun: Arc<SyncDevice>,
    sockets: OutSockets,
    cmds: Receiver<OutCmd>,
    events: UnboundedSender<DpEvent>,
    totals: Arc<Totals>,
    spd: Arc<Spd>,
    /// Boxed: an SA is about 350 bytes (its keys are expanded only while it carries
    /// traffic), and a table of them inline would also pay that for every empty slot (up
    /// to half of them).
    sas: HashMap<u32, Box<OutSa>>,
    /// Each policy's SAs (more than one during a rekey): a delete finds the policy's other
    /// SA here, not by scanning every SA (a quarter of iked's CPU while 100 000 road
    /// warriors connected).
    by_entry: HashMap<EntryId, PolicySas>,
    last_acquire: HashMap<EntryId, Instant>,
    /// A packet to an alias, retargeted at the NAT's address before encapsulation.
    retargeted: Vec<u8>,
    /// When the SAs' idle keys are given back next.
    key_sweep: KeySweep,
}

impl Worker {
    /// A worker over these resources.
    pub fn new(
        tun: Arc<SyncDevice>,
        sockets: OutSockets,
        cmds: Receiver<OutCmd>,
        events: UnboundedSender<DpEvent>,
        totals: Arc<Totals>,
    ) -> Self {
        Worker {
            tun,
            sockets,
            cmds,
            events,
            totals,
            spd: Arc::new(Spd::default()),
            sas: HashMap::new(),
            by_entry: HashMap::new(),
            last_acquire: HashMap::new(),
            retargeted: Vec::with_capacity(65_536),
            key_sweep: KeySweep::new(),
        }
    }

    /// Applies commands; `false` when the control side is gone (shutdown).
    fn commands(&mut self) -> bool {
        loop {
            match self.cmds.try_recv() {
                Ok(OutCmd::Spd(s)) => self.spd = s,
                Ok(OutCmd::Add(sa)) => {
                    let (spi, entry) = (sa.spi, sa.entry);
                    if let Some(old) = self.sas.insert(spi, sa)
                        && old.entry != entry
                    {
                        self.forget(old.entry, spi);
                    }
                    match self.by_entry.get_mut(&entry) {
                        Some(p) => p.make_current(spi),
                        None => {
                            let p = PolicySas {
                                current: spi,
                                older: Vec::new(),
                            };
                            self.by_entry.insert(entry, p);
                        }
                    }
                }
                Ok(OutCmd::Move {
                    spi,
                    src,
                    dst,
                    encap,
                }) => {
                    if let Some(sa) = self.sas.get_mut(&spi) {
                        sa.src = src;
                        sa.dst = dst;
                        sa.encap = encap;
                    }
                }
                Ok(OutCmd::Del(spi)) => {
                    if let Some(sa) = self.sas.remove(&spi) {
                        self.forget(sa.entry, spi);
                    }
                }
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// SA `spi` of policy `entry` is gone: an older SA of the policy (rekey overlap) takes
    /// over, or the policy has none left.
    fn forget(&mut self, entry: EntryId, spi: u32) {
        if let Some(p) = self.by_entry.get_mut(&entry)
            && !p.remove(spi)
        {
            self.by_entry.remove(&entry);
        }
    }

    /// Runs until the control side drops its sender.
    pub fn run(mut self) {
        let mut reader = TunReader::new(&self.tun);
        // Made here: its message headers hold raw pointers and stay on this thread.
        let mut batch = SendBatch::new();
        let mut warned = false;
        while self.commands() {
            if self.key_sweep.due() {
                for sa in self.sas.values_mut() {
                    sa.esp.drop_idle_keys();
                }
            }
            let mut fds = [PollFd::new(self.tun.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(WAKE)) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    tracing::error!("outbound worker: poll: {e}");
                    std::thread::sleep(Duration::from_millis(WAKE.into()));
                    continue;
                }
            }
            for _ in 0..BATCH {
                match reader.read(&self.tun) {
                    Ok(n) => {
                        for i in 0..n {
                            self.packet(reader.packet(i), &mut batch);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        if !warned {
                            tracing::warn!("reading the TUN: {e}");
                            warned = true;
                        }
                        break;
                    }
                }
            }
            self.flush(&mut batch);
        }
    }

    fn flush(&self, batch: &mut SendBatch) {
        let (sent, failed) = batch.flush();
        self.totals.out_packets.fetch_add(sent, Relaxed);
        for _ in 0..failed {
            self.totals.count(DropReason::OutSendError);
        }
    }

    fn acquire(&mut self, id: EntryId) {
        let EntryId::Config(index) = id else { return };
        let now = Instant::now();
        if self
            .last_acquire
            .get(&id)
            .is_some_and(|t| now.duration_since(*t) < ACQUIRE_INTERVAL)
        {
            return;
        }
        self.last_acquire.insert(id, now);
        self.totals.acquires.fetch_add(1, Relaxed);
        let _ = self.events.send(DpEvent::Acquire(index));
    }

    fn packet(&mut self, pkt: &[u8], batch: &mut SendBatch) {
        let Some(f) = flow(pkt) else {
            return self.totals.count(DropReason::OutMalformed);
        };
        let spd = Arc::clone(&self.spd);
        let Some(entry) = spd.lookup_out(&f) else {
            return self.totals.count(DropReason::OutNoPolicy);
        };
        match entry.action {
            Action::Discard => return self.totals.count(DropReason::OutPolicyBlock),
            Action::Bypass => return self.totals.count(DropReason::OutBypass),
            Action::Encrypt { .. } => {}
        }
        let Some(sa) = self
            .by_entry
            .get(&entry.id)
            .and_then(|p| self.sas.get_mut(&p.current))
        else {
            self.totals.count(DropReason::OutNoState);
            return self.acquire(entry.id);
        };
        let Some(dest) = destination(&self.sockets, sa.src, sa.dst, sa.encap) else {
            return self.totals.count(DropReason::OutNoSocket);
        };
        let pkt = match sa.alias {
            Some(alias) => {
                // RFC 1624 incremental update: the checksum now covers the NAT's address, as
                // if the local program had sent there; the peer fixes it with our NAT-OA.
                self.retargeted.clear();
                self.retargeted.extend_from_slice(pkt);
                if !retarget(&mut self.retargeted, alias, sa.dst) {
                    return self.totals.count(DropReason::OutMalformed);
                }
                &self.retargeted[..]
            }
            None => pkt,
        };
        match sa.esp.encapsulate(pkt, batch.next()) {
            Ok(r) => {
                if let Some(x) = r.expiry {
                    let _ = self.events.send(DpEvent::Expired {
                        spi: sa.spi,
                        hard: x == Expiry::Hard,
                    });
                }
                sa.counters.delivered(pkt.len());
                if batch.push(dest) {
                    self.flush(batch);
                }
            }
            Err(e) => {
                sa.counters.refused(&e);
                self.totals.count(DropReason::OutStateError);
            }
        }
    }
}

/// Where one ESP packet goes: a socket, the address, and our source address when the socket
/// is not bound to it (`IP_PKTINFO`).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Dest {
    fd: RawFd,
    to: SocketAddr,
    from: Option<IpAddr>,
}

/// Raw IP protocol 50, or UDP from our NAT-T port (RFC 3948 §2.1); `None` when no socket
/// fits.
fn destination(
    s: &OutSockets,
    src: IpAddr,
    dst: IpAddr,
    encap: Option<(u16, u16)>,
) -> Option<Dest> {
    let from = (!src.is_unspecified()).then_some(src);
    match encap {
        None => {
            let raw = if dst.is_ipv4() { &s.raw4 } else { &s.raw6 }.as_ref()?;
            Some(Dest {
                fd: raw.as_raw_fd(),
                to: SocketAddr::new(dst, 0),
                from,
            })
        }
        Some((ours, theirs)) => {
            let fits = |u: &&Arc<IkeSocket>| {
                u.bound().port() == ours && u.bound().is_ipv4() == dst.is_ipv4()
            };
            let u = s
                .udp
                .iter()
                .filter(fits)
                .find(|u| u.bound().ip() == src)
                .or_else(|| s.udp.iter().filter(fits).find(|u| u.is_wildcard()))?;
            Some(Dest {
                fd: u.fd().as_raw_fd(),
                to: SocketAddr::new(dst, theirs),
                from: from.filter(|_| u.is_wildcard()),
            })
        }
    }
}

/// Encapsulated packets waiting for one `sendmmsg(2)`.
pub struct SendBatch {
    bufs: Vec<Vec<u8>>,
    dests: Vec<Dest>,
    addrs: Vec<Option<SockaddrStorage>>,
    /// Message headers without control messages, with an IPv4 and with an IPv6 `PKTINFO`
    /// (nix repeats one control message set over a call, sized per family).
    plain: MultiHeaders<SockaddrStorage>,
    info4: MultiHeaders<SockaddrStorage>,
    info6: MultiHeaders<SockaddrStorage>,
}

impl SendBatch {
    fn new() -> Self {
        SendBatch {
            bufs: (0..BATCH)
                .map(|_| Vec::with_capacity(65_536 + 128))
                .collect(),
            dests: Vec::with_capacity(BATCH),
            addrs: Vec::with_capacity(BATCH),
            plain: MultiHeaders::preallocate(BATCH, None),
            info4: MultiHeaders::preallocate(BATCH, Some(nix::cmsg_space!(libc::in_pktinfo))),
            info6: MultiHeaders::preallocate(BATCH, Some(nix::cmsg_space!(libc::in6_pktinfo))),
        }
    }

    /// The buffer for the next packet.
    fn next(&mut self) -> &mut Vec<u8> {
        let i = self.dests.len();
        &mut self.bufs[i]
    }

    /// Commits the buffer [`SendBatch::next`] gave; `true` when the batch is full.
    fn push(&mut self, d: Dest) -> bool {
        self.dests.push(d);
        self.dests.len() == BATCH
    }

    /// Sends everything: (sent, failed).
    fn flush(&mut self) -> (u64, usize) {
        let n = self.dests.len();
        let (mut sent, mut failed) = (0u64, 0usize);
        let mut i = 0;
        while i < n {
            let key = (self.dests[i].fd, self.dests[i].from);
            let mut j = i + 1;
            while j < n && (self.dests[j].fd, self.dests[j].from) == key {
                j += 1;
            }
            let ok = self.send_run(i, j);
            sent += ok as u64;
            failed += (j - i) - ok;
            i = j;
        }
        self.dests.clear();
        (sent, failed)
    }

    /// One `sendmmsg` for packets `i..j` (same socket, same source); how many left.
    fn send_run(&mut self, i: usize, j: usize) -> usize {
        let Dest { fd, from, .. } = self.dests[i];
        self.addrs.clear();
        self.addrs.extend(self.dests[i..j].iter().map(|d| {
            Some(match d.to {
                SocketAddr::V4(a) => SockaddrStorage::from(a),
                SocketAddr::V6(a) => SockaddrStorage::from(a),
            })
        }));
        let slices: Vec<[IoSlice<'_>; 1]> =
            self.bufs[i..j].iter().map(|b| [IoSlice::new(b)]).collect();
        let flags = MsgFlags::MSG_DONTWAIT;
        let r = match from {
            Some(IpAddr::V4(s)) => {
                let info = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(s).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                let c = [ControlMessage::Ipv4PacketInfo(&info)];
                sendmmsg(fd, &mut self.info4, &slices, &self.addrs, c, flags).map(|r| r.count())
            }
            Some(IpAddr::V6(s)) => {
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: s.octets(),
                    },
                    ipi6_ifindex: 0,
                };
                let c = [ControlMessage::Ipv6PacketInfo(&info)];
                sendmmsg(fd, &mut self.info6, &slices, &self.addrs, c, flags).map(|r| r.count())
            }
            None => {
                let c: [ControlMessage<'_>; 0] = [];
                sendmmsg(fd, &mut self.plain, &slices, &self.addrs, c, flags).map(|r| r.count())
            }
        };
        match r {
            Ok(k) => k,
            Err(e) => {
                tracing::trace!("sendmmsg: {e}");
                0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PolicySas;

    #[test]
    fn a_rekey_overlap_falls_back_to_the_older_sa() {
        let mut p = PolicySas {
            current: 0x100,
            older: Vec::new(),
        };
        // Rekeyed: the new SA is current, the old one stays until deleted.
        p.make_current(0x200);
        assert_eq!((p.current, &p.older[..]), (0x200, &[0x100][..]));
        p.make_current(0x200);
        assert_eq!(p.older, [0x100]);
        // The new one deleted first: the old one carries the traffic again.
        assert!(p.remove(0x200));
        assert_eq!((p.current, p.older.capacity()), (0x100, 0));
        // The usual order: the old one deleted, then the last.
        p.make_current(0x300);
        assert!(p.remove(0x100));
        assert_eq!((p.current, p.older.len()), (0x300, 0));
        assert!(!p.remove(0x300));
    }
}
