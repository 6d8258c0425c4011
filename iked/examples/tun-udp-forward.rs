//! The benchmark's baseline (`scripts/bench-dataplane.sh`): the TUN path without encryption.
//!
//! Copies packets between a TUN device and a UDP socket, one thread per direction, one
//! packet per system call, no crypto and no header: what comes out of the TUN is sent as one
//! datagram to the peer, what arrives from the peer is written to the TUN. Same MTU (1400) and
//! transmit queue as iked's `iked0`. Two of these (one per namespace) make a plain tunnel
//! whose throughput is what the machine's TUN + UDP path can move.
//!
//! ```text
//! tun-udp-forward TUN-NAME LOCAL-ADDR:PORT PEER-ADDR:PORT
//! ```
//! Then route the peer's inner addresses into TUN-NAME (`ip route add ... dev TUN-NAME`).
//! Runs until killed.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use tun_rs::DeviceBuilder;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, name, local, peer] = args.as_slice() else {
        eprintln!("usage: tun-udp-forward TUN-NAME LOCAL-ADDR:PORT PEER-ADDR:PORT");
        std::process::exit(2);
    };
    let local: SocketAddr = local.parse().expect("LOCAL-ADDR:PORT");
    let peer: SocketAddr = peer.parse().expect("PEER-ADDR:PORT");
    let tun = Arc::new(
        DeviceBuilder::new()
            .name(name.as_str())
            .mtu(1400)
            .tx_queue_len(4096)
            .build_sync()
            .expect("TUN device"),
    );
    let sock = Arc::new(UdpSocket::bind(local).expect("bind"));
    sock.connect(peer).expect("connect");
    eprintln!("tun-udp-forward: {name} <-> {local} -> {peer}");

    let (t, s) = (tun.clone(), sock.clone());
    let up = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        loop {
            match t.recv(&mut buf) {
                Ok(n) => {
                    // A full socket buffer drops, as a congested link would.
                    let _ = s.send(&buf[..n]);
                }
                Err(e) => eprintln!("tun read: {e}"),
            }
        }
    });
    let mut buf = vec![0u8; 65536];
    loop {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let _ = tun.send(&buf[..n]);
            }
            // ECONNREFUSED while the peer's forwarder is not up yet.
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
        }
        if up.is_finished() {
            break;
        }
    }
}
