//! ESP through a real kernel: the host kernel has no ESP, so `kernel_esp_in_vm` boots Debian's
//! kernel under qemu with `tests/vm/run.sh` and runs this very test binary inside it, filtered
//! to the `guest_` tests. Those run only there (the harness sets `IKEV1_VM=1`), each with two
//! network namespaces joined by a veth:
//!
//! ```text
//!  198.51.100.1 (lo) [A] 198.18.0.1 --veth-- 198.18.0.2 [B] (lo) 203.0.113.1
//! ```
//!
//! SAs are installed the way the daemon will: the receiver allocates the SPI, the sender adds
//! the outbound SA with `add_sa`, the receiver completes its larval SA with `update_sa`.

mod common;

use std::net::{IpAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::NetNs;
use xfrm::*;

const A_OUT: &str = "198.18.0.1";
const B_OUT: &str = "198.18.0.2";
const A_IN: &str = "198.51.100.1";
const B_IN: &str = "203.0.113.1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn prefix(s: &str) -> Prefix {
    let (a, l) = s.split_once('/').unwrap();
    Prefix::new(ip(a), l.parse().unwrap()).unwrap()
}

fn in_vm() -> bool {
    std::env::var_os("IKEV1_VM").is_some()
}

macro_rules! guest_only {
    () => {
        if !in_vm() {
            eprintln!("SKIPPED: runs inside the kernel VM (started by kernel_esp_in_vm)");
            return;
        }
    };
}

/// Host side: boots the VM and runs the `guest_` tests of this binary inside.
#[test]
fn kernel_esp_in_vm() {
    if in_vm() {
        return;
    }
    require_root!();
    if Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_err()
    {
        common::skip_or_fail("qemu-system-x86_64 missing (install tests/vm/apt-packages.txt)");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vm/run.sh");
    let exe = std::env::current_exe().unwrap();
    // How many guest tests there are, to check that all of them ran in the guest.
    let list = Command::new(&exe)
        .args(["guest_", "--ignored", "--list", "--format=terse"])
        .output()
        .unwrap();
    let expected = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|l| l.ends_with(": test"))
        .count();
    assert!(expected > 0);
    let t0 = Instant::now();
    let out = Command::new(&script)
        .args(["--timeout", "600"])
        .arg(&exe)
        .args([
            "guest_",
            "--ignored",
            "--test-threads=1",
            "--color=never",
            "--nocapture",
        ])
        .output()
        .expect("run tests/vm/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    eprintln!("kernel VM run: {:.1?}", t0.elapsed());
    assert!(out.status.success(), "guest tests failed: {:?}", out.status);
    let summary = format!("test result: ok. {expected} passed; 0 failed");
    assert!(stdout.contains(&summary), "guest tests did not all run");
}

fn key(len: usize, seed: u8) -> Key {
    Key::new(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<_>>(),
    )
}

fn transform(enc: Encryption, integ: Integrity, seed: u8) -> EspTransform {
    EspTransform::new(
        enc,
        key(enc.key_len(), seed),
        integ,
        key(integ.key_len(), seed ^ 0x5a),
    )
    .unwrap()
}

/// Two namespaces on a veth, each with an "inside" address on lo routed over the other.
struct Pair {
    a: NetNs,
    b: NetNs,
}

fn pair(tag: &str) -> Pair {
    let a = NetNs::new(&format!("{tag}a"));
    let b = NetNs::new(&format!("{tag}b"));
    a.ip(&[
        "link",
        "add",
        "va",
        "type",
        "veth",
        "peer",
        "name",
        "vb",
        "netns",
        b.name(),
    ]);
    a.ip(&["addr", "add", &format!("{A_OUT}/24"), "dev", "va"]);
    b.ip(&["addr", "add", &format!("{B_OUT}/24"), "dev", "vb"]);
    a.ip(&["addr", "add", &format!("{A_IN}/32"), "dev", "lo"]);
    b.ip(&["addr", "add", &format!("{B_IN}/32"), "dev", "lo"]);
    a.ip(&["link", "set", "va", "up"]);
    b.ip(&["link", "set", "vb", "up"]);
    a.ip(&["route", "add", "203.0.113.0/24", "via", B_OUT, "src", A_IN]);
    b.ip(&["route", "add", "198.51.100.0/24", "via", A_OUT, "src", B_IN]);
    Pair { a, b }
}

fn reqids() -> (u32, u32) {
    let o = Owner::default();
    (o.reqid(1), o.reqid(2))
}

/// Tunnel-mode policies between the inside networks, on both sides.
fn tunnel_policies(p: &Pair) {
    let (ab, ba) = reqids();
    let (a_net, b_net) = (prefix("198.51.100.0/24"), prefix("203.0.113.0/24"));
    let side = |local: Prefix, remote: Prefix, me: &str, peer: &str, out: u32, inb: u32| {
        let (me, peer) = (ip(me), ip(peer));
        vec![
            PolicyConfig::ipsec(
                Selector::new(local, remote),
                Direction::Out,
                Template::esp_tunnel(me, peer, out),
            ),
            PolicyConfig::ipsec(
                Selector::new(remote, local),
                Direction::In,
                Template::esp_tunnel(peer, me, inb),
            ),
            PolicyConfig::ipsec(
                Selector::new(remote, local),
                Direction::Fwd,
                Template::esp_tunnel(peer, me, inb),
            ),
        ]
    };
    for (ns, pols) in [
        (&p.a, side(a_net, b_net, A_OUT, B_OUT, ab, ba)),
        (&p.b, side(b_net, a_net, B_OUT, A_OUT, ba, ab)),
    ] {
        ns.run(move || async move {
            let x = Xfrm::new(Owner::default()).unwrap();
            for pol in &pols {
                x.add_policy(pol).await.unwrap();
            }
        });
    }
}

/// Installs one SA pair the daemon's way; returns (SPI a->b, SPI b->a).
fn install_sas(
    p: &Pair,
    mode: Mode,
    t_ab: &EspTransform,
    t_ba: &EspTransform,
    tweak: impl Fn(&mut SaConfig) + Clone + Send + 'static,
) -> (u32, u32) {
    let (ab, ba) = reqids();
    let (a, b) = (ip(A_OUT), ip(B_OUT));
    // Each receiver allocates the SPI of its inbound SA.
    let spi_ab = p.b.run(move || async move {
        let x = Xfrm::new(Owner::default()).unwrap();
        x.alloc_spi(&SpiRequest::esp(a, b, mode, ab)).await.unwrap()
    });
    let spi_ba = p.a.run(move || async move {
        let x = Xfrm::new(Owner::default()).unwrap();
        x.alloc_spi(&SpiRequest::esp(b, a, mode, ba)).await.unwrap()
    });
    let mut sa_ab = SaConfig::esp(a, b, spi_ab, mode, ab, t_ab.clone());
    let mut sa_ba = SaConfig::esp(b, a, spi_ba, mode, ba, t_ba.clone());
    tweak(&mut sa_ab);
    tweak(&mut sa_ba);
    let (ab1, ba1) = (sa_ab.clone(), sa_ba.clone());
    p.a.run(move || async move {
        let x = Xfrm::new(Owner::default()).unwrap();
        x.add_sa(&ab1).await.unwrap();
        x.update_sa(&ba1).await.unwrap();
    });
    p.b.run(move || async move {
        let x = Xfrm::new(Owner::default()).unwrap();
        x.update_sa(&sa_ab).await.unwrap();
        x.add_sa(&sa_ba).await.unwrap();
    });
    (spi_ab, spi_ba)
}

/// `ping -c 3` from one address to another (iputils if the host has it, else busybox).
fn ping_args<'a>(from: &'a str, to: &'a str) -> Vec<&'a str> {
    let mut args = if Path::new("/usr/bin/ping").exists() || Path::new("/bin/ping").exists() {
        vec!["ping"]
    } else {
        vec!["busybox", "ping"]
    };
    args.extend_from_slice(&["-c", "3", "-i", "0.2", "-W", "2", "-I", from, to]);
    args
}

fn ping(ns: &NetNs, from: &str, to: &str) -> bool {
    let out = ns.exec(&ping_args(from, to));
    if !out.status.success() {
        eprintln!(
            "ping {from} -> {to} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success()
}

/// Reads an SA in namespace `ns`.
fn sa_info(ns: &NetNs, id: SaId) -> SaInfo {
    ns.run(move || async move {
        let x = Xfrm::new(Owner::default()).unwrap();
        x.get_sa(&id).await.unwrap()
    })
}

fn xfrm_stat(ns: &NetNs) -> String {
    let out = ns.exec(&["cat", "/proc/net/xfrm_stat"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim_end().ends_with(" 0") && !l.trim_end().ends_with("\t0"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
#[ignore = "runs inside the kernel VM, started by kernel_esp_in_vm"]
fn guest_esp_transforms_tunnel_mode() {
    guest_only!();
    let p = pair("tun");
    tunnel_policies(&p);
    let cases = [
        (Encryption::AesCbc128, Integrity::HmacSha1_96),
        (Encryption::AesCbc192, Integrity::HmacSha256_128),
        (Encryption::AesCbc256, Integrity::HmacSha384_192),
        (Encryption::AesCbc256, Integrity::HmacSha512_256),
        (Encryption::AesCbc128, Integrity::HmacMd5_96),
        (Encryption::TripleDesCbc, Integrity::HmacSha1_96),
        (Encryption::Null, Integrity::HmacSha256_128),
        (Encryption::AesGcm16_128, Integrity::None),
        (Encryption::AesGcm16_192, Integrity::None),
        (Encryption::AesGcm16_256, Integrity::None),
    ];
    let mut failed = Vec::new();
    for (i, (enc, integ)) in cases.into_iter().enumerate() {
        let t0 = Instant::now();
        let (spi_ab, spi_ba) = install_sas(
            &p,
            Mode::Tunnel,
            &transform(enc, integ, i as u8),
            &transform(enc, integ, 0x80 | i as u8),
            |_| {},
        );
        let ok = ping(&p.a, A_IN, B_IN);
        let out = sa_info(&p.a, SaId::esp(ip(A_OUT), ip(B_OUT), spi_ab));
        let inb = sa_info(&p.a, SaId::esp(ip(B_OUT), ip(A_OUT), spi_ba));
        let peer_in = sa_info(&p.b, SaId::esp(ip(A_OUT), ip(B_OUT), spi_ab));
        println!(
            "{enc} + {integ}: ping {} out {} pkts/{} B (oseq {}), in {} pkts/{} B, peer in {} pkts, {:.1?}",
            if ok { "ok" } else { "FAILED" },
            out.counters.current.packets,
            out.counters.current.bytes,
            out.counters.oseq,
            inb.counters.current.packets,
            inb.counters.current.bytes,
            peer_in.counters.current.packets,
            t0.elapsed()
        );
        let good = ok
            && out.algorithms.encryption == Some(enc)
            && out.algorithms.integrity == Some(integ)
            && !out.larval
            && !inb.larval
            && out.counters.current.packets >= 3
            && out.counters.current.bytes > 0
            && out.counters.oseq >= 3
            && peer_in.counters.current.packets >= 3
            && inb.counters.current.packets >= 1
            && inb.counters.integrity_failures == 0;
        if !good {
            failed.push(format!(
                "{enc} + {integ}: {out:?} {inb:?}; A: {}; B: {}",
                xfrm_stat(&p.a),
                xfrm_stat(&p.b)
            ));
        }
        for ns in [&p.a, &p.b] {
            ns.run(move || async move {
                let x = Xfrm::new(Owner::default()).unwrap();
                x.delete_sa(&SaId::esp(ip(A_OUT), ip(B_OUT), spi_ab))
                    .await
                    .unwrap();
                x.delete_sa(&SaId::esp(ip(B_OUT), ip(A_OUT), spi_ba))
                    .await
                    .unwrap();
            });
        }
    }
    // Without SAs, the policies hold traffic back (ACQUIRE, no clear text).
    assert!(!ping(&p.a, A_IN, B_IN), "traffic passed without SAs");
    for ns in [&p.a, &p.b] {
        let r = ns.run(|| async { Xfrm::new(Owner::default()).unwrap().flush_owned().await });
        assert_eq!(r.unwrap().policies, 3);
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
#[ignore = "runs inside the kernel VM, started by kernel_esp_in_vm"]
fn guest_udp_encapsulation() {
    guest_only!();
    let p = pair("nat");
    tunnel_policies(&p);
    // The kernel takes ESP-in-UDP only off a socket with UDP_ENCAP_ESPINUDP (the daemon's
    // port-4500 socket); keep one open on each side while traffic flows.
    let open = |addr: &'static str| {
        move || {
            let s = UdpSocket::bind((addr, 4500)).unwrap();
            socket::set_udp_encap(&s).unwrap();
            socket::bypass(&s).unwrap();
            s
        }
    };
    let _sa = p.a.run_blocking(open(A_OUT));
    let _sb = p.b.run_blocking(open(B_OUT));
    let t = transform(Encryption::AesCbc128, Integrity::HmacSha256_128, 9);
    let (spi_ab, spi_ba) = install_sas(&p, Mode::Tunnel, &t, &t, |sa| {
        sa.encap = Some(UdpEncap::new(4500, 4500));
    });
    assert!(ping(&p.a, A_IN, B_IN), "ping through ESP-in-UDP");
    let out = sa_info(&p.a, SaId::esp(ip(A_OUT), ip(B_OUT), spi_ab));
    let inb = sa_info(&p.a, SaId::esp(ip(B_OUT), ip(A_OUT), spi_ba));
    println!(
        "ESP-in-UDP: out {:?} {} pkts, in {} pkts",
        out.encap, out.counters.current.packets, inb.counters.current.packets
    );
    assert_eq!(out.encap, Some(UdpEncap::new(4500, 4500)));
    assert!(out.counters.current.packets >= 3);
    assert!(inb.counters.current.packets >= 1);
    // The ESP really went inside UDP: the peer's UDP layer saw the datagrams.
    let snmp = p.b.exec(&["cat", "/proc/net/snmp"]);
    let snmp = String::from_utf8_lossy(&snmp.stdout);
    let udp: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Udp:")).collect();
    let (names, values) = (udp[0].split_whitespace(), udp[1].split_whitespace());
    let in_dgrams: u64 = names
        .zip(values)
        .find(|(n, _)| *n == "InDatagrams")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    assert!(in_dgrams >= 3, "{snmp}");
    for ns in [&p.a, &p.b] {
        let r = ns.run(|| async { Xfrm::new(Owner::default()).unwrap().flush_owned().await });
        assert_eq!(
            r.unwrap(),
            FlushReport {
                sas: 2,
                policies: 3
            }
        );
    }
}

#[test]
#[ignore = "runs inside the kernel VM, started by kernel_esp_in_vm"]
fn guest_transport_mode_with_esn_and_marks() {
    guest_only!();
    let p = pair("trn");
    let (ab, ba) = reqids();
    for (ns, me, peer, out, inb) in [(&p.a, A_OUT, B_OUT, ab, ba), (&p.b, B_OUT, A_OUT, ba, ab)] {
        let (me, peer) = (prefix(&format!("{me}/32")), prefix(&format!("{peer}/32")));
        ns.run(move || async move {
            let x = Xfrm::new(Owner::default()).unwrap();
            x.add_policy(&PolicyConfig::ipsec(
                Selector::new(me, peer),
                Direction::Out,
                Template::esp_transport(out),
            ))
            .await
            .unwrap();
            x.add_policy(&PolicyConfig::ipsec(
                Selector::new(peer, me),
                Direction::In,
                Template::esp_transport(inb),
            ))
            .await
            .unwrap();
        });
    }
    let t = transform(Encryption::AesGcm16_128, Integrity::None, 3);
    let (spi_ab, spi_ba) = install_sas(&p, Mode::Transport, &t, &t, |sa| {
        sa.replay = Replay {
            window: 128,
            esn: true,
        };
    });
    assert!(ping(&p.a, A_OUT, B_OUT), "ping in transport mode");
    let out = sa_info(&p.a, SaId::esp(ip(A_OUT), ip(B_OUT), spi_ab));
    let inb = sa_info(&p.a, SaId::esp(ip(B_OUT), ip(A_OUT), spi_ba));
    println!(
        "transport+ESN: out {} pkts oseq {}, in {} pkts seq {} window {}",
        out.counters.current.packets,
        out.counters.oseq,
        inb.counters.current.packets,
        inb.counters.seq,
        inb.replay_window
    );
    assert_eq!(out.mode, Mode::Transport);
    assert!(out.esn && inb.esn);
    assert_eq!(inb.replay_window, 128);
    assert!(out.counters.oseq >= 3);
    assert!(inb.counters.seq >= 1);

    // Marks: an SA with a mark is found (and deleted) only with it; output marks read back.
    p.a.run(|| async {
        let x = Xfrm::new(Owner::default()).unwrap();
        let mut sa = SaConfig::esp(
            ip(A_OUT),
            ip("198.18.0.3"),
            0x7777,
            Mode::Tunnel,
            x.owner().reqid(7),
            transform(Encryption::AesCbc256, Integrity::HmacSha256_128, 1),
        );
        sa.mark = Some(Mark {
            value: 0x42,
            mask: 0xff,
        });
        sa.output_mark = Some(Mark {
            value: 0x100,
            mask: 0xf00,
        });
        sa.lifetime.hard_bytes = Some(1 << 30);
        x.add_sa(&sa).await.unwrap();
        let got = x.get_sa(&sa.id()).await.unwrap();
        assert_eq!(got.id.mark, sa.mark);
        assert_eq!(got.output_mark, sa.output_mark);
        assert_eq!(got.lifetime.hard_bytes, Some(1 << 30));
        let unmarked = SaId {
            mark: None,
            ..sa.id()
        };
        assert!(x.get_sa(&unmarked).await.unwrap_err().is_not_found());
        x.delete_sa(&sa.id()).await.unwrap();
        assert!(x.get_sa(&sa.id()).await.unwrap_err().is_not_found());
    });
    for ns in [&p.a, &p.b] {
        let r = ns.run(|| async { Xfrm::new(Owner::default()).unwrap().flush_owned().await });
        assert_eq!(
            r.unwrap(),
            FlushReport {
                sas: 2,
                policies: 2
            }
        );
    }
}

#[test]
#[ignore = "runs inside the kernel VM, started by kernel_esp_in_vm"]
fn guest_expire_events() {
    guest_only!();
    let p = pair("exp");
    tunnel_policies(&p);
    let t = transform(Encryption::AesCbc128, Integrity::HmacSha1_96, 5);
    // a->b expires softly after 2 packets: time to rekey.
    let (spi_ab, _) = install_sas(&p, Mode::Tunnel, &t, &t, |sa| {
        sa.lifetime.soft_packets = Some(2);
    });
    p.a.run(move || async move {
        let x = Xfrm::new(Owner::default()).unwrap();
        let mut mon = Monitor::new(&[Group::Expire]).unwrap();
        // And one SA (unused) with a short soft and hard time limit.
        let mut timed = SaConfig::esp(
            ip(A_OUT),
            ip(B_OUT),
            0x5151,
            Mode::Tunnel,
            x.owner().reqid(9),
            transform(Encryption::AesGcm16_256, Integrity::None, 6),
        );
        timed.lifetime.soft_add_seconds = Some(1);
        timed.lifetime.hard_add_seconds = Some(2);
        let t0 = Instant::now();
        x.add_sa(&timed).await.unwrap();

        // This thread is in namespace A: so is the ping it starts.
        let out = common::run(&ping_args(A_IN, B_IN));
        assert!(out.status.success(), "ping: {out:?}");

        let (mut soft_packets, mut soft_time, mut hard_time) = (None, None, None);
        let deadline = tokio::time::sleep(Duration::from_secs(20));
        tokio::pin!(deadline);
        while soft_packets.is_none() || soft_time.is_none() || hard_time.is_none() {
            let ev = tokio::select! {
                ev = mon.next() => ev.unwrap(),
                _ = &mut deadline => panic!(
                    "expire events missing: packets {soft_packets:?} soft {soft_time:?} hard {hard_time:?}"
                ),
            };
            let Event::Expire(e) = ev else { continue };
            println!("EXPIRE {} hard={} after {:.1?}", e.sa.id, e.hard, t0.elapsed());
            match (e.sa.id.spi, e.hard) {
                (s, false) if s == spi_ab => {
                    assert!(e.sa.counters.current.packets >= 2);
                    soft_packets = Some(t0.elapsed());
                }
                (0x5151, false) => soft_time = Some(t0.elapsed()),
                (0x5151, true) => {
                    assert!(soft_time.is_some(), "hard before soft");
                    hard_time = Some(t0.elapsed());
                }
                _ => {}
            }
        }
        let (soft, hard) = (soft_time.unwrap(), hard_time.unwrap());
        assert!(soft >= Duration::from_millis(900), "{soft:?}");
        assert!(hard >= Duration::from_millis(1900) && hard > soft, "{hard:?}");
        // After the hard expiry the kernel has deleted the SA.
        assert!(x.get_sa(&timed.id()).await.unwrap_err().is_not_found());
        // The soft packet limit only warns: the SA still works.
        let sa = x
            .get_sa(&SaId::esp(ip(A_OUT), ip(B_OUT), spi_ab))
            .await
            .unwrap();
        assert!(sa.counters.current.packets >= 3);
        x.flush_owned().await.unwrap();
    });
}
