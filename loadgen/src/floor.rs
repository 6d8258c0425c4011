//! The floor the kernel's UDP path sets under a concentrator: the same datagrams a
//! road-warrior set-up exchanges (count, sizes, order; aggressive mode, XAuth, mode-config,
//! quick mode, ecp256, measured with tcpdump on the benchmark's veth pair), answered by a
//! responder that does nothing else (`ikeload udp-echo`), one `recvmsg`/`sendmsg` with
//! `IP_PKTINFO` per datagram, as iked does. The server's CPU time per "tunnel" in this run is
//! what no IKE implementation on these sockets can go under; `scripts/bench-tunnels.sh`
//! measures it beside the DH limit, and the two together bound the set-up rate.
//!
//! The client (`ikeload udp-floor`) plays each tunnel from its own address, like the fleet:
//! it sends a step's datagram and, when the step has an answer, waits for it before the
//! next. A datagram's first byte asks for an answer, the next two say how long, the fourth
//! is the step (echoed back, so that a late answer to a resent step is not taken for the
//! next one's).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::net::AnySocket;

/// One tunnel's datagrams: (initiator's length, responder's answer length or 0 for none).
/// AM1/AM2, AM3/XAuth request, XAuth reply/status, XAuth ack, mode-config request/reply,
/// QM1/QM2, QM3: 7 received and 5 sent by the responder, as `ikeload run` exchanges them.
pub const STEPS: [(u16, u16); 7] = [
    (282, 315),
    (92, 92),
    (108, 76),
    (76, 0),
    (108, 108),
    (188, 188),
    (76, 0),
];

/// Answers every datagram on `0.0.0.0:port` that asks for it, from the address it reached;
/// runs until killed. `batched`: up to [`BATCH`] datagrams per `recvmmsg(2)` and their
/// answers in one `sendmmsg(2)`, the floor with batching.
pub fn echo(port: u16, batched: bool) -> Result<(), String> {
    let socket = AnySocket::bind(port).map_err(|e| format!("bind {port}: {e}"))?;
    if batched {
        return echo_batched(&socket);
    }
    let mut buf = vec![0u8; 2048];
    let mut reply = vec![0u8; 2048];
    loop {
        let mut fds = [PollFd::new(socket.fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(1000u16)).map_err(|e| format!("poll: {e}"))?;
        while let Some((n, remote, local)) = socket.recv(&mut buf).map_err(|e| e.to_string())? {
            if n < 4 || buf[0] != 1 {
                continue;
            }
            let len = usize::from(u16::from_be_bytes([buf[1], buf[2]])).clamp(4, reply.len());
            // The header back, so that the client knows which step this answers.
            reply[..4].copy_from_slice(&buf[..4]);
            let SocketAddr::V4(l) = local else { continue };
            socket
                .send(&reply[..len], *l.ip(), remote)
                .map_err(|e| e.to_string())?;
        }
    }
}

/// What `udp-floor` plays.
pub struct Options {
    /// Where `udp-echo` listens.
    pub server: SocketAddr,
    /// How many tunnels.
    pub tunnels: u32,
    /// The first tunnel's source address (the namespace routes the range to itself).
    pub first_address: Ipv4Addr,
    /// Most tunnels in progress at once.
    pub max_in_flight: u32,
    /// Seconds the run may last at most.
    pub limit: Duration,
}

/// Plays the tunnels; prints a JSON line: tunnels done, seconds, tunnels per second,
/// resends (a step unanswered for 1 s is sent again).
pub fn run(o: &Options) -> Result<(), String> {
    let first = u32::from(o.first_address);
    if first.checked_add(o.tunnels).is_none() {
        return Err(format!(
            "{} tunnels from {} run past 255.255.255.255",
            o.tunnels, o.first_address
        ));
    }
    let socket = AnySocket::bind(500).map_err(|e| format!("bind 500: {e}"))?;
    // Per tunnel: the step it waits on (STEPS.len() when done) and when it sent it.
    let mut step = vec![0u8; o.tunnels as usize];
    let mut sent_at = vec![None::<Instant>; o.tunnels as usize];
    let mut payload = vec![0u8; 512];
    let (mut next, mut done, mut in_flight, mut resends) = (0u32, 0u32, 0u32, 0u64);
    let mut buf = vec![0u8; 2048];
    let start = Instant::now();
    let mut last_scan = start;

    // Sends tunnel i's current step, and the steps after it that wait for no answer.
    let mut advance =
        |i: u32, step: &mut [u8], sent_at: &mut [Option<Instant>]| -> Result<bool, String> {
            let src = Ipv4Addr::from(first + i);
            loop {
                let s = step[i as usize] as usize;
                let Some(&(len, answer)) = STEPS.get(s) else {
                    return Ok(true);
                };
                payload[0] = u8::from(answer > 0);
                payload[1..3].copy_from_slice(&answer.to_be_bytes());
                payload[3] = s as u8;
                socket
                    .send(&payload[..usize::from(len)], src, o.server)
                    .map_err(|e| e.to_string())?;
                if answer > 0 {
                    sent_at[i as usize] = Some(Instant::now());
                    return Ok(false);
                }
                step[i as usize] += 1;
            }
        };

    while done < o.tunnels && start.elapsed() < o.limit {
        while next < o.tunnels && in_flight < o.max_in_flight {
            in_flight += 1;
            if advance(next, &mut step, &mut sent_at)? {
                in_flight -= 1;
                done += 1;
            }
            next += 1;
        }
        let mut fds = [PollFd::new(socket.fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(100u16)).map_err(|e| format!("poll: {e}"))?;
        while let Some((n, _, local)) = socket.recv(&mut buf).map_err(|e| e.to_string())? {
            let SocketAddr::V4(l) = local else { continue };
            let i = u32::from(*l.ip()).wrapping_sub(first);
            if n < 4 || i >= next || sent_at[i as usize].is_none() || buf[3] != step[i as usize] {
                continue;
            }
            sent_at[i as usize] = None;
            step[i as usize] += 1;
            if advance(i, &mut step, &mut sent_at)? {
                in_flight -= 1;
                done += 1;
            }
        }
        // A datagram lost to a full buffer: send the step again (looked for every 100 ms).
        let now = Instant::now();
        if now - last_scan > Duration::from_millis(100) {
            last_scan = now;
            for i in 0..next {
                if sent_at[i as usize].is_some_and(|t| now - t > Duration::from_secs(1)) {
                    resends += 1;
                    advance(i, &mut step, &mut sent_at)?;
                }
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{{\"tunnels\": {done}, \"seconds\": {seconds:.3}, \"tunnels_per_second\": {:.1}, \
         \"resends\": {resends}}}",
        f64::from(done) / seconds
    );
    if done < o.tunnels {
        return Err(format!("{done} of {} tunnels in {seconds:.1} s", o.tunnels));
    }
    Ok(())
}

/// Datagrams per `recvmmsg`/`sendmmsg` of the batched echo.
const BATCH: usize = 64;

fn echo_batched(socket: &AnySocket) -> Result<(), String> {
    use std::io::{IoSlice, IoSliceMut};
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{
        ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg,
        sendmmsg,
    };

    let fd = socket.fd().as_raw_fd();
    let cmsg = Some(nix::cmsg_space!(libc::in_pktinfo));
    let mut received = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, cmsg.clone());
    let mut sending = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, cmsg);
    let mut bufs = vec![vec![0u8; 2048]; BATCH];
    let mut replies = vec![vec![0u8; 2048]; BATCH];
    // Per answer: its length, where to, and from which of our addresses.
    let mut answers: Vec<(usize, Option<SockaddrStorage>, Ipv4Addr)> = Vec::with_capacity(BATCH);
    loop {
        let mut fds = [PollFd::new(socket.fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(1000u16)).map_err(|e| format!("poll: {e}"))?;
        loop {
            answers.clear();
            {
                let mut slices: Vec<[IoSliceMut<'_>; 1]> =
                    bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
                let r = match recvmmsg(fd, &mut received, &mut slices, MsgFlags::MSG_DONTWAIT, None)
                {
                    Ok(r) => r,
                    Err(nix::errno::Errno::EAGAIN) => break,
                    Err(e) => return Err(format!("recvmmsg: {e}")),
                };
                for m in r {
                    let mut local = Ipv4Addr::UNSPECIFIED;
                    if let Ok(cmsgs) = m.cmsgs() {
                        for c in cmsgs {
                            if let ControlMessageOwned::Ipv4PacketInfo(i) = c {
                                local = Ipv4Addr::from(u32::from_be(i.ipi_addr.s_addr));
                            }
                        }
                    }
                    answers.push((m.bytes, m.address, local));
                }
            }
            let n = answers.len();
            let mut k = 0;
            for i in 0..n {
                let b = &bufs[i];
                if answers[i].0 < 4 || b[0] != 1 {
                    continue;
                }
                answers[i].0 = usize::from(u16::from_be_bytes([b[1], b[2]])).clamp(4, 2048);
                replies[k][..4].copy_from_slice(&b[..4]);
                answers.swap(k, i);
                k += 1;
            }
            // One sendmmsg per run of answers from the same address (nix gives a call one
            // set of control messages).
            let mut i = 0;
            while i < k {
                let from = answers[i].2;
                let mut j = i + 1;
                while j < k && answers[j].2 == from {
                    j += 1;
                }
                let slices: Vec<[IoSlice<'_>; 1]> = (i..j)
                    .map(|x| [IoSlice::new(&replies[x][..answers[x].0])])
                    .collect();
                let addrs: Vec<Option<SockaddrStorage>> =
                    answers[i..j].iter().map(|a| a.1).collect();
                let info = crate::net::pktinfo(from);
                let c = [ControlMessage::Ipv4PacketInfo(&info)];
                match sendmmsg(fd, &mut sending, &slices, &addrs, c, MsgFlags::MSG_DONTWAIT) {
                    Ok(_) | Err(nix::errno::Errno::EAGAIN) => {}
                    Err(e) => return Err(format!("sendmmsg: {e}")),
                }
                i = j;
            }
            if n < BATCH {
                break;
            }
        }
    }
}
