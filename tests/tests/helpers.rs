//! Tests of the test helpers themselves (tests/src/lib.rs) against the captures in vectors/.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ipsec_tests::charon_log::{self, Direction};
use ipsec_tests::pcap::{self, Packet, UdpKind};
use ipsec_tests::{vector, vectors_dir};
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

const REF_PCAP: &str = "strongswan-mm-psk/kat-mm-qm-psk.pcap";
const REF_ILOG: &str = "strongswan-mm-psk/kat-charon-a-initiator.log";
const REF_RLOG: &str = "strongswan-mm-psk/kat-charon-b-responder.log";

fn log(rel: &str) -> String {
    charon_log::read(vector(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// ISAKMP header fields: (initiator cookie, exchange type, flags, message id, length)
fn isakmp_header(m: &[u8]) -> ([u8; 8], u8, u8, u32, usize) {
    assert!(m.len() >= 28, "ISAKMP message shorter than its header");
    (
        m[..8].try_into().unwrap(),
        m[18],
        m[19],
        u32::from_be_bytes(m[20..24].try_into().unwrap()),
        u32::from_be_bytes(m[24..28].try_into().unwrap()) as usize,
    )
}

#[test]
fn vectors_dir_is_absolute_and_holds_the_reference_capture() {
    let d = vectors_dir();
    assert!(d.is_absolute(), "{}", d.display());
    assert!(d.ends_with("vectors"));
    assert!(vector(REF_PCAP).is_file());
    assert!(d.join("nist-acvp-ikev1-kdf.txt").is_file());
}

// ---------------------------------------------------------------------------------------------
// the reference capture (strongswan-mm-psk)

#[test]
fn reference_capture_packets() {
    let cap = pcap::read(vector(REF_PCAP)).unwrap();
    assert_eq!(cap.datalink, Some(DataLink::ETHERNET));
    assert_eq!(cap.frames, 17);
    assert_eq!(cap.udp.len(), 17);
    assert!(cap.esp.is_empty(), "kernel-libipsec only does ESP-in-UDP");
    let idx: Vec<usize> = cap.udp.iter().map(|d| d.index).collect();
    assert_eq!(idx, (1..=17).collect::<Vec<_>>());

    let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    assert_eq!(cap.udp[0].src, SocketAddr::new(a, 500));
    assert_eq!(cap.udp[0].dst, SocketAddr::new(b, 500));
    assert_eq!(cap.udp[1].src, SocketAddr::new(b, 500));
    // main mode 1-4 on 500, everything after that on 4500
    for d in &cap.udp[..4] {
        assert_eq!((d.src.port(), d.dst.port()), (500, 500));
    }
    for d in &cap.udp[4..] {
        assert_eq!((d.src.port(), d.dst.port()), (4500, 4500));
    }
    assert!(cap.udp.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));

    let kinds: Vec<UdpKind> = cap.udp.iter().map(|d| d.kind()).collect();
    let mut want = vec![UdpKind::Ike; 9];
    want.extend([UdpKind::EspInUdp; 6]);
    want.extend([UdpKind::Ike; 2]);
    assert_eq!(kinds, want);

    // 9 ISAKMP (6 main mode, 3 quick mode) + 2 informational, all under one cookie pair
    let ike = cap.ike();
    assert_eq!(ike.len(), 11);
    let exch: Vec<u8> = ike.iter().map(|(_, m)| isakmp_header(m).1).collect();
    assert_eq!(exch, [2, 2, 2, 2, 2, 2, 32, 32, 32, 5, 5]);
    let cookie = isakmp_header(ike[0].1).0;
    for (d, m) in &ike {
        let (ck, _, _, _, len) = isakmp_header(m);
        assert_eq!(ck, cookie);
        assert_eq!(
            len,
            m.len(),
            "frame {}: ISAKMP length vs UDP payload",
            d.index
        );
        let marker = if d.dst.port() == 4500 { 4 } else { 0 };
        assert_eq!(d.payload.len(), m.len() + marker);
    }
    // main mode 5/6 and everything after are encrypted
    let enc: Vec<bool> = ike
        .iter()
        .map(|(_, m)| isakmp_header(m).2 & 1 == 1)
        .collect();
    assert_eq!(
        enc,
        [
            false, false, false, false, true, true, true, true, true, true, true
        ]
    );

    // ESP-in-UDP: two SPIs, sequence numbers 1..3 each way
    let esp = cap.esp_in_udp();
    assert_eq!(esp.len(), 6);
    let spi_seq: Vec<(u32, u32)> = esp
        .iter()
        .map(|d| {
            let e = d.esp().unwrap();
            (
                u32::from_be_bytes(e[..4].try_into().unwrap()),
                u32::from_be_bytes(e[4..8].try_into().unwrap()),
            )
        })
        .collect();
    assert_eq!(
        spi_seq,
        [
            (0xb05991d4, 1),
            (0x5053b400, 1),
            (0xb05991d4, 2),
            (0x5053b400, 2),
            (0xb05991d4, 3),
            (0x5053b400, 3)
        ]
    );
    assert_eq!(cap.packets().len(), 17);
}

#[test]
fn reference_initiator_log_dumps() {
    let ilog = log(REF_ILOG);
    let skeyid_d = charon_log::find(&ilog, "SKEYID_d");
    assert_eq!(skeyid_d.len(), 1);
    assert_eq!(skeyid_d[0].len(), 32);
    assert_eq!(
        &skeyid_d[0][..8],
        &hex::decode("009DDCA8003EF6C1").unwrap()[..]
    );
    assert_eq!(
        &skeyid_d[0][16..],
        &hex::decode("12CC9152DDBFBB0D8FC75021DE5E2128").unwrap()[..]
    );

    let dh = charon_log::first(&ilog, "shared Diffie Hellman secret").unwrap();
    assert_eq!(dh.len(), 256);
    assert_eq!(&dh[..4], &[0xCB, 0xF6, 0x23, 0xED]);
    for (label, len) in [
        ("SKEYID", 32),
        ("SKEYID_a", 32),
        ("SKEYID_e", 32),
        ("encryption key Ka", 16),
        ("initial IV", 16),
        ("HASH_I", 32),
        ("encryption initiator key", 16),
        ("encryption responder key", 16),
        ("integrity initiator key", 20),
        ("integrity responder key", 20),
    ] {
        let v = charon_log::find(&ilog, label);
        assert_eq!(v.len(), 1, "{label}");
        assert_eq!(v[0].len(), len, "{label}");
    }

    // every dump has exactly the announced length; empty labels and 0-byte dumps are kept
    let all = charon_log::parse(&ilog);
    let headers = ilog.lines().filter(|l| l.contains(" bytes @ ")).count();
    assert_eq!(
        all.len(),
        headers,
        "every dump in the reference log is complete"
    );
    assert!(all.iter().any(|d| d.label.is_empty() && d.data.len() == 8));
    assert!(all.iter().any(|d| d.data.is_empty()));
    let d = all.iter().find(|d| d.label == "SKEYID_d").unwrap();
    assert_eq!(
        (d.thread, d.group.as_str(), d.ike.as_deref()),
        (16, "IKE", Some("mm-psk|1"))
    );
    assert_eq!(d.line, 1628);
    assert_eq!(charon_log::dumps(&ilog).len(), all.len());

    // both sides derived the same keys
    let rlog = log(REF_RLOG);
    for label in [
        "shared Diffie Hellman secret",
        "SKEYID_d",
        "encryption key Ka",
        "encryption initiator key",
    ] {
        assert_eq!(
            charon_log::find(&ilog, label),
            charon_log::find(&rlog, label),
            "{label}"
        );
    }
}

#[test]
fn reference_log_and_capture_agree() {
    let cap = pcap::read(vector(REF_PCAP)).unwrap();
    let ilog = log(REF_ILOG);
    // every encrypted ISAKMP message appears as an `encrypted` dump (sent or received)
    let encrypted = charon_log::find(&ilog, "encrypted");
    for (d, m) in cap.ike() {
        if isakmp_header(m).2 & 1 == 1 {
            assert!(
                encrypted.iter().any(|e| e[..] == m[28..]),
                "frame {}",
                d.index
            );
        }
    }
    // the ESP SAs charon installed are the SPIs on the wire
    let sas = charon_log::esp_sas(&ilog);
    assert_eq!(sas.len(), 2);
    let out = sas
        .iter()
        .find(|s| s.direction == Direction::Outbound)
        .unwrap();
    let inb = sas
        .iter()
        .find(|s| s.direction == Direction::Inbound)
        .unwrap();
    assert_eq!(out.spi, 0xb05991d4);
    assert_eq!(inb.spi, 0x5053b400);
    assert_eq!(out.src, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(out.encryption.as_deref(), Some("AES_CBC"));
    assert_eq!(out.encryption_key_bits, Some(128));
    assert_eq!(out.integrity.as_deref(), Some("HMAC_SHA1_96"));
}

// ---------------------------------------------------------------------------------------------
// the lab captures made by tests/lab/make-capture.sh

struct Lab {
    dir: &'static str,
    aggressive: bool,
    frames: usize,
    dh: usize,
    prf: usize,
    ka: usize,
    iv: usize,
    esp_enc: usize,
    esp_integ: Option<usize>,
    pfs_dh: Option<usize>,
    enc_alg: &'static str,
    integ_alg: Option<&'static str>,
}

const LABS: &[Lab] = &[
    Lab {
        dir: "strongswan-am-keyid-aes128-sha256-modp2048",
        aggressive: true,
        frames: 14,
        dh: 256,
        prf: 32,
        ka: 16,
        iv: 16,
        esp_enc: 16,
        esp_integ: Some(32),
        pfs_dh: None,
        enc_alg: "AES_CBC",
        integ_alg: Some("HMAC_SHA2_256_128"),
    },
    Lab {
        dir: "strongswan-am-aes256-sha1-modp1024",
        aggressive: true,
        frames: 14,
        dh: 128,
        prf: 20,
        ka: 32,
        iv: 16,
        esp_enc: 32,
        esp_integ: Some(20),
        pfs_dh: None,
        enc_alg: "AES_CBC",
        integ_alg: Some("HMAC_SHA1_96"),
    },
    Lab {
        dir: "strongswan-mm-3des-md5-modp1536",
        aggressive: false,
        frames: 17,
        dh: 192,
        prf: 16,
        ka: 24,
        iv: 8,
        esp_enc: 24,
        esp_integ: Some(16),
        pfs_dh: None,
        enc_alg: "3DES_CBC",
        integ_alg: Some("HMAC_MD5_96"),
    },
    Lab {
        dir: "strongswan-mm-ecp256-pfs",
        aggressive: false,
        frames: 17,
        dh: 32,
        prf: 32,
        ka: 16,
        iv: 16,
        esp_enc: 20,
        esp_integ: None,
        pfs_dh: Some(32),
        enc_alg: "AES_GCM_16",
        integ_alg: None,
    },
    Lab {
        dir: "strongswan-mm-3des-sha1-modp2048-pfs",
        aggressive: false,
        frames: 17,
        dh: 256,
        prf: 20,
        ka: 24,
        iv: 8,
        esp_enc: 32,
        esp_integ: Some(32),
        pfs_dh: Some(256),
        enc_alg: "AES_CBC",
        integ_alg: Some("HMAC_SHA2_256_128"),
    },
];

#[test]
fn lab_captures() {
    for lab in LABS {
        let dir = vectors_dir().join(lab.dir);
        let cap =
            pcap::read(dir.join("capture.pcap")).unwrap_or_else(|e| panic!("{}: {e}", lab.dir));
        assert_eq!(cap.datalink, Some(DataLink::ETHERNET), "{}", lab.dir);
        assert_eq!(cap.frames, lab.frames, "{}", lab.dir);
        assert_eq!(cap.udp.len(), lab.frames, "{}", lab.dir);
        let p1 = if lab.aggressive { 3 } else { 6 };
        let exch: Vec<u8> = cap.ike().iter().map(|(_, m)| isakmp_header(m).1).collect();
        let mut want = vec![if lab.aggressive { 4 } else { 2 }; p1];
        want.extend([32, 32, 32, 5, 5]);
        assert_eq!(exch, want, "{}", lab.dir);
        assert_eq!(cap.esp_in_udp().len(), 6, "{}", lab.dir);
        let init = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
        let resp = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(
            (cap.udp[0].src, cap.udp[0].dst),
            (SocketAddr::new(init, 500), SocketAddr::new(resp, 500))
        );
        // the float to 4500: after AM message 2 / MM message 4
        let floated = cap.udp.iter().position(|d| d.dst.port() == 4500).unwrap();
        assert_eq!(floated, if lab.aggressive { 2 } else { 4 }, "{}", lab.dir);

        let ilog = charon_log::read(dir.join("initiator.log")).unwrap();
        let rlog = charon_log::read(dir.join("responder.log")).unwrap();
        let one = |log: &str, label: &str| {
            let v = charon_log::find(log, label);
            assert_eq!(v.len(), 1, "{}: {label}", lab.dir);
            v.into_iter().next().unwrap()
        };
        for log in [&ilog, &rlog] {
            assert_eq!(
                one(log, "shared Diffie Hellman secret").len(),
                lab.dh,
                "{}",
                lab.dir
            );
            for l in ["SKEYID", "SKEYID_d", "SKEYID_a", "SKEYID_e"] {
                assert_eq!(one(log, l).len(), lab.prf, "{}: {l}", lab.dir);
            }
            assert_eq!(one(log, "encryption key Ka").len(), lab.ka, "{}", lab.dir);
            assert_eq!(one(log, "initial IV").len(), lab.iv, "{}", lab.dir);
            assert_eq!(
                one(log, "encryption initiator key").len(),
                lab.esp_enc,
                "{}",
                lab.dir
            );
            assert_eq!(
                one(log, "encryption responder key").len(),
                lab.esp_enc,
                "{}",
                lab.dir
            );
            match lab.esp_integ {
                Some(n) => assert_eq!(one(log, "integrity initiator key").len(), n, "{}", lab.dir),
                None => assert!(
                    charon_log::find(log, "integrity initiator key").is_empty(),
                    "{}",
                    lab.dir
                ),
            }
            let seed = one(log, "initiator SA seed");
            match lab.pfs_dh {
                Some(n) => {
                    let qm_dh = one(log, "DH secret");
                    assert_eq!(qm_dh.len(), n, "{}", lab.dir);
                    assert_eq!(
                        &seed[..n],
                        &qm_dh[..],
                        "{}: seed starts with g(qm)^xy",
                        lab.dir
                    );
                    assert_eq!(seed[n], 3, "{}: protocol ESP", lab.dir);
                }
                None => {
                    assert!(charon_log::find(log, "DH secret").is_empty(), "{}", lab.dir);
                    assert_eq!(seed[0], 3, "{}: protocol ESP", lab.dir);
                }
            }
        }
        for l in [
            "shared Diffie Hellman secret",
            "SKEYID_d",
            "encryption key Ka",
            "encryption initiator key",
            "DH secret",
        ] {
            assert_eq!(
                charon_log::find(&ilog, l),
                charon_log::find(&rlog, l),
                "{}: {l}",
                lab.dir
            );
        }

        // the log's encrypted dumps are the capture's encrypted messages
        let encrypted = charon_log::find(&ilog, "encrypted");
        for (d, m) in cap.ike() {
            if isakmp_header(m).2 & 1 == 1 {
                assert!(
                    encrypted.iter().any(|e| e[..] == m[28..]),
                    "{}: frame {}",
                    lab.dir,
                    d.index
                );
            }
        }
        // ESP SAs: SPIs on the wire, algorithms; the initiator SA seed names the outbound SPI
        let sas = charon_log::esp_sas(&ilog);
        assert_eq!(sas.len(), 2, "{}", lab.dir);
        let out = sas
            .iter()
            .find(|s| s.direction == Direction::Outbound)
            .unwrap();
        let inb = sas
            .iter()
            .find(|s| s.direction == Direction::Inbound)
            .unwrap();
        assert_eq!(out.encryption.as_deref(), Some(lab.enc_alg), "{}", lab.dir);
        assert_eq!(out.integrity.as_deref(), lab.integ_alg, "{}", lab.dir);
        let off = lab.pfs_dh.unwrap_or(0) + 1;
        assert_eq!(
            seed_spi(&one(&ilog, "initiator SA seed"), off),
            out.spi,
            "{}",
            lab.dir
        );
        assert_eq!(
            seed_spi(&one(&ilog, "responder SA seed"), off),
            inb.spi,
            "{}",
            lab.dir
        );
        for d in cap.esp_in_udp() {
            let spi = u32::from_be_bytes(d.esp().unwrap()[..4].try_into().unwrap());
            let want = if d.src.ip() == init { out.spi } else { inb.spi };
            assert_eq!(spi, want, "{}: frame {}", lab.dir, d.index);
        }
    }
}

fn seed_spi(seed: &[u8], off: usize) -> u32 {
    u32::from_be_bytes(seed[off..off + 4].try_into().unwrap())
}

// ---------------------------------------------------------------------------------------------
// synthetic input: link types, raw ESP, fragments, log corner cases

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, id: u16, frag: u16, body: &[u8]) -> Vec<u8> {
    let mut p = vec![
        0x45,
        0,
        0,
        0,
        (id >> 8) as u8,
        id as u8,
        (frag >> 8) as u8,
        frag as u8,
        64,
        proto,
        0,
        0,
    ];
    p.extend(src);
    p.extend(dst);
    p.extend(body);
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend(sport.to_be_bytes());
    u.extend(dport.to_be_bytes());
    u.extend(((payload.len() + 8) as u16).to_be_bytes());
    u.extend([0, 0]);
    u.extend(payload);
    u
}

fn write_pcap(link: DataLink, frames: &[Vec<u8>]) -> Vec<u8> {
    let header = PcapHeader {
        datalink: link,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(Vec::new(), header).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(&PcapPacket::new(
            Duration::from_millis(i as u64),
            f.len() as u32,
            f,
        ))
        .unwrap();
    }
    w.into_writer()
}

#[test]
fn linux_cooked_sll_and_sll2() {
    let ike = {
        let mut m = vec![0u8; 4]; // non-ESP marker
        m.extend([0x11; 28]);
        m
    };
    let ip = ipv4(
        [100, 64, 0, 1],
        [198, 18, 0, 2],
        17,
        1,
        0,
        &udp(40001, 4500, &ike),
    );
    // SLL: packet type, ARPHRD, addr len, addr[8], protocol
    let mut sll = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend(&ip);
    // SLL2: protocol, reserved, ifindex, ARPHRD, packet type, addr len, addr[8]
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend(&ip);
    for (link, frame) in [
        (DataLink::LINUX_SLL, sll),
        (DataLink::LINUX_SLL2, sll2),
        (DataLink::RAW, ip.clone()),
    ] {
        let cap = pcap::parse(&write_pcap(link, &[frame])).unwrap();
        assert_eq!(cap.datalink, Some(link));
        assert_eq!(cap.udp.len(), 1, "{link:?}");
        let d = &cap.udp[0];
        assert_eq!(d.src, "100.64.0.1:40001".parse().unwrap());
        assert_eq!(d.dst, "198.18.0.2:4500".parse().unwrap());
        assert_eq!(d.kind(), UdpKind::Ike);
        assert_eq!(d.ike().unwrap(), &[0x11; 28][..]);
    }
}

#[test]
fn raw_esp_keepalive_padding_and_fragments() {
    let eth = |ip: Vec<u8>| {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        f.extend(ip);
        while f.len() < 60 {
            f.push(0); // Ethernet padding must not end up in the payload
        }
        f
    };
    let esp_body: Vec<u8> = [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, 9, 9].to_vec();
    let big: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    let whole = udp(500, 500, &big);
    let (a, b) = whole.split_at(1480);
    let frames = vec![
        eth(ipv4([203, 0, 113, 9], [198, 18, 0, 1], 50, 7, 0, &esp_body)),
        eth(ipv4(
            [198, 18, 0, 1],
            [198, 18, 0, 2],
            17,
            8,
            0,
            &udp(4500, 4500, &[0xff]),
        )),
        eth(ipv4(
            [198, 18, 0, 1],
            [198, 18, 0, 2],
            1,
            9,
            0,
            &[8, 0, 0, 0],
        )), // ICMP: skipped
        eth(ipv4([198, 18, 0, 1], [198, 18, 0, 2], 17, 10, 0x2000, a)),
        eth(ipv4(
            [198, 18, 0, 1],
            [198, 18, 0, 2],
            17,
            10,
            (1480 / 8) as u16,
            b,
        )),
    ];
    let cap = pcap::parse(&write_pcap(DataLink::ETHERNET, &frames)).unwrap();
    assert_eq!(cap.frames, 5);
    assert_eq!(cap.esp.len(), 1);
    assert_eq!(cap.esp[0].index, 1);
    assert_eq!(cap.esp[0].spi(), Some(0xdeadbeef));
    assert_eq!(cap.esp[0].payload, esp_body);
    assert_eq!(cap.udp.len(), 2);
    assert_eq!(cap.udp[0].index, 2);
    assert_eq!(cap.udp[0].kind(), UdpKind::NatKeepalive);
    assert_eq!(cap.udp[0].payload, [0xff]);
    assert_eq!(
        cap.udp[1].index, 5,
        "reassembled datagram carries the last fragment's frame number"
    );
    assert_eq!(cap.udp[1].payload, big);
    assert_eq!(cap.udp[1].kind(), UdpKind::Ike);
    let order: Vec<usize> = cap
        .packets()
        .iter()
        .map(|p| match p {
            Packet::Udp(d) => d.index,
            Packet::Esp(e) => e.index,
        })
        .collect();
    assert_eq!(order, [1, 2, 5]);
    assert!(matches!(
        pcap::parse(b"not a capture"),
        Err(pcap::Error::NotACapture)
    ));
}

#[test]
fn charon_log_corner_cases() {
    let log = "\
12:00:00.000 05[ENC] <c|1> first => 20 bytes @ 0x55d0
12:00:00.000 07[IKE] <c|1> other => 4 bytes @ 0x1
12:00:00.000 05[ENC] <c|1>    0: 00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF  AB CD EF 01 23 45 67
12:00:00.000 07[IKE] <c|1>    0: DE AD BE EF                                      ....
12:00:00.000 05[ENC] <c|1>   16: 01 02 03 04                                      AB CD
12:00:00.000 09[CFG] cut => 32 bytes @ 0x2
12:00:00.000 09[CFG]    0: 00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF  ................
12:00:00.000 09[CFG] something else entirely
06[NET]    => 0 bytes @ (nil)
Nov 22 12:00:00 10[CHD] <c|1> state change: CREATED => CONNECTING
Nov 22 12:00:00 10[CHD] no ike name => 2 bytes @ 0x7f
Nov 22 12:00:00 10[CHD]    0: C0 FF                                            ..
";
    let d = charon_log::parse(log);
    let got: Vec<(&str, usize)> = d.iter().map(|d| (d.label.as_str(), d.data.len())).collect();
    assert_eq!(
        got,
        [("first", 20), ("other", 4), ("", 0), ("no ike name", 2)]
    );
    assert_eq!(d[0].data[16..], [1, 2, 3, 4]);
    assert_eq!(d[1].data, [0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(d[2].thread, 6);
    assert_eq!(d[3].ike, None);
    assert_eq!(d[3].data, [0xc0, 0xff]);
    assert!(
        charon_log::find(log, "cut").is_empty(),
        "a dump cut short is dropped"
    );
    assert_eq!(
        charon_log::first(log, "other"),
        Some(vec![0xde, 0xad, 0xbe, 0xef])
    );
}
