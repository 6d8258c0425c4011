//! Batched TUN reads and writes with the kernel's segmentation offloads (virtio-net header,
//! `IFF_VNET_HDR` + `TUNSETOFFLOAD`), when the TUN has them.
//!
//! Without offloads every packet costs one `read(2)` or `write(2)` on the TUN, and for TCP
//! those system calls are most of the dataplane's time (docs/benchmarks.md). With them the
//! local TCP stack hands the outbound worker up to 64 KiB at once, which is split here into
//! MTU-sized segments before ESP (GSO), and the inbound worker's decrypted TCP segments of one
//! flow go back to the kernel coalesced into one write (GRO). The virtio-net framing, the
//! segmentation and the coalescing are tun-rs's (`recv_multiple`, `send_multiple`, a port of
//! wireguard-go's); this module only keeps the buffers, so the packet path allocates nothing
//! once they have grown.

use std::io;

use tun_rs::{GROTable, IDEAL_BATCH_SIZE, SyncDevice, VIRTIO_NET_HDR_LEN};

/// Room for one segment: the TUN's MTU and headers, with slack.
const SEGMENT: usize = 4096;

/// Reads from the TUN: one packet, or the segments of one offloaded super-packet.
pub struct TunReader {
    offload: bool,
    /// The raw read (virtio-net header + up to 64 KiB) with offloads; the packet without.
    raw: Vec<u8>,
    segments: Vec<Vec<u8>>,
    sizes: Vec<usize>,
}

impl TunReader {
    /// Buffers for `tun` (offloads as the device was opened).
    pub fn new(tun: &SyncDevice) -> Self {
        let offload = tun.tcp_gso();
        TunReader {
            offload,
            raw: vec![0; VIRTIO_NET_HDR_LEN + 65_536],
            segments: if offload {
                vec![vec![0; SEGMENT]; IDEAL_BATCH_SIZE]
            } else {
                Vec::new()
            },
            sizes: vec![0; IDEAL_BATCH_SIZE],
        }
    }

    /// Reads once; returns how many packets [`TunReader::packet`] now has.
    pub fn read(&mut self, tun: &SyncDevice) -> io::Result<usize> {
        if self.offload {
            tun.recv_multiple(&mut self.raw, &mut self.segments, &mut self.sizes, 0)
        } else {
            self.sizes[0] = tun.recv(&mut self.raw)?;
            Ok(1)
        }
    }

    /// Packet `i` of the last read.
    pub fn packet(&self, i: usize) -> &[u8] {
        let n = self.sizes[i];
        if self.offload {
            &self.segments[i][..n.min(SEGMENT)]
        } else {
            &self.raw[..n.min(self.raw.len())]
        }
    }
}

/// Writes to the TUN: at once without offloads; with them, queued and written coalesced by
/// [`TunWriter::flush`] (which the worker calls after each batch, and which runs by itself
/// when the queue is full).
pub struct TunWriter {
    offload: bool,
    queue: Vec<Vec<u8>>,
    queued: usize,
    gro: GROTable,
}

impl TunWriter {
    /// Buffers for `tun` (offloads as the device was opened).
    pub fn new(tun: &SyncDevice) -> Self {
        let offload = tun.tcp_gso();
        TunWriter {
            offload,
            queue: if offload {
                (0..IDEAL_BATCH_SIZE)
                    .map(|_| Vec::with_capacity(VIRTIO_NET_HDR_LEN + SEGMENT))
                    .collect()
            } else {
                Vec::new()
            },
            queued: 0,
            gro: GROTable::default(),
        }
    }

    /// Writes or queues one packet. An error is a failed write (of this packet, or with
    /// offloads of the queued ones).
    pub fn push(&mut self, tun: &SyncDevice, packet: &[u8]) -> io::Result<()> {
        if !self.offload {
            return tun.send(packet).map(|_| ());
        }
        let b = &mut self.queue[self.queued];
        b.clear();
        b.resize(VIRTIO_NET_HDR_LEN, 0);
        b.extend_from_slice(packet);
        self.queued += 1;
        if self.queued == self.queue.len() {
            return self.flush(tun);
        }
        Ok(())
    }

    /// Writes what is queued (coalescing TCP and UDP segments of the same flow).
    pub fn flush(&mut self, tun: &SyncDevice) -> io::Result<()> {
        if self.queued == 0 {
            return Ok(());
        }
        let n = std::mem::take(&mut self.queued);
        tun.send_multiple(&mut self.gro, &mut self.queue[..n], VIRTIO_NET_HDR_LEN)
            .map(|_| ())
    }
}
