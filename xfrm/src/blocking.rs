//! A blocking XFRM_MSG_ALLOCSPI, for callers that cannot await: the sans-IO engine asks for
//! an inbound SPI in the middle of building a quick-mode message, through a plain
//! `FnMut`-style trait, and must have the answer before it returns.
//!
//! Hand-written on a plain `netlink_sys::Socket` because xfrmnetlink only offers the async
//! request (tokio); the message itself is still netlink-packet-xfrm's, built by
//! [`SpiRequest`]. One request is one datagram and one answer, bounded by a receive timeout,
//! so a wedged kernel costs at most that timeout, never a hang.

use std::time::Duration;

use netlink_packet_core::{NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
use netlink_packet_xfrm::XfrmMessage;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_XFRM};

use crate::error::{Error, Result};
use crate::sa::SpiRequest;

const OP: &str = "allocate SPI";

/// A netlink XFRM socket that allocates SPIs synchronously.
#[derive(Debug)]
pub struct BlockingSpis {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
    timeout: Duration,
}

impl BlockingSpis {
    /// Opens the socket; each request waits at most `timeout` for the kernel's answer.
    pub fn new(timeout: Duration) -> Result<Self> {
        let io = |source| Error::Io {
            op: "open XFRM socket",
            source,
        };
        let mut socket = Socket::new(NETLINK_XFRM).map_err(io)?;
        socket.bind_auto().map_err(io)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(io)?;
        set_receive_timeout(&socket, timeout).map_err(io)?;
        Ok(BlockingSpis {
            socket,
            seq: 0,
            buf: vec![0; 64 * 1024],
            timeout,
        })
    }

    /// Allocates an SPI as [`crate::Xfrm::alloc_spi`] does: the kernel holds it as a larval
    /// SA until an `update_sa` completes it or it expires (`net.core.xfrm_acq_expires`).
    pub fn alloc_spi(&mut self, req: &SpiRequest) -> Result<u32> {
        let mut msg = NetlinkMessage::from(XfrmMessage::AllocSpi(req.to_message()?));
        self.seq = self.seq.wrapping_add(1);
        msg.header.flags = NLM_F_REQUEST;
        msg.header.sequence_number = self.seq;
        msg.finalize();
        let mut out = vec![0; msg.buffer_len()];
        msg.serialize(&mut out);
        let io = |source| Error::Io { op: OP, source };
        self.socket.send(&out, 0).map_err(io)?;
        // Skip stale answers (of an earlier request that timed out) by sequence number.
        for _ in 0..8 {
            let n = self.receive()?;
            let reply = NetlinkMessage::<XfrmMessage>::deserialize(&self.buf[..n])
                .map_err(|e| Error::Decode(e.to_string()))?;
            if reply.header.sequence_number != self.seq {
                continue;
            }
            return match reply.payload {
                NetlinkPayload::InnerMessage(XfrmMessage::AddSa(m)) => {
                    let spi = m.user_sa_info.id.spi;
                    if (req.min..=req.max).contains(&spi) {
                        Ok(spi)
                    } else {
                        Err(Error::Decode(format!(
                            "allocated SPI {spi:#x} out of range"
                        )))
                    }
                }
                NetlinkPayload::Error(e) => Err(Error::Kernel {
                    op: OP,
                    errno: e.code.map_or(0, |c| -c.get()),
                }),
                _ => Err(Error::UnexpectedReply { op: OP }),
            };
        }
        Err(Error::UnexpectedReply { op: OP })
    }

    fn receive(&mut self) -> Result<usize> {
        match self.socket.recv(&mut &mut self.buf[..], 0) {
            Ok(n) => Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Err(Error::Timeout {
                    op: OP,
                    timeout: self.timeout,
                })
            }
            Err(source) => Err(Error::Io { op: OP, source }),
        }
    }
}

fn set_receive_timeout(socket: &Socket, timeout: Duration) -> std::io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt::ReceiveTimeout};
    let tv = nix::sys::time::TimeVal::new(
        i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        i64::from(timeout.subsec_micros()),
    );
    setsockopt(socket, ReceiveTimeout, &tv).map_err(std::io::Error::from)
}
