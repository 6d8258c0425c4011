//! Phase 1 with RSA signatures and X.509 certificates (vectors/pki): main and aggressive
//! mode, both roles, with and without PFS, tunnel and transport; and the PKI failures
//! (expired by the wall clock, unknown CA, revoked by a CRL, ID not in the certificate, a
//! tampered SIG), each refused with its typed reason and leaving no SA.

mod engine_sim;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use engine_sim::{
    MOON, SUN, Scenario, Side, Sim, Y2030, credentials, established, pairs_match, read, rsa_config,
    rsa_sim, start,
};
use ipsec_core::engine::{Credentials, EngineError, EngineOptions, Event, Phase, Reject, UdpEncap};
use ipsec_core::pki::{LocalSigner, PeerVerifier, TrustStore, UnixTime};
use ipsec_core::proposal::phase2::Mode;
use ipsec_core::wire::{ExchangeType, Message, Notification, PayloadType};

/// 2046-01-01T00:00:00Z: after every one.
const Y2046: i64 = 2_398_291_200;

fn handshake(s: &Scenario, initiator: usize) {
    let mut sim = rsa_sim(s, &MOON, &SUN, 1);
    start(&mut sim, initiator);
    assert!(
        sim.run_until(Duration::from_secs(20), established),
        "no SA pair for {s:?}: a {:?}\nb {:?}\nstats a {:?}\nstats b {:?}",
        sim.nodes[0].events,
        sim.nodes[1].events,
        sim.nodes[0].engine.stats(),
        sim.nodes[1].engine.stats()
    );
    let (a, b) = (&sim.nodes[0], &sim.nodes[1]);
    assert!(pairs_match(a, b));
    let mode = a.outbound().next().unwrap().mode;
    assert_eq!(
        mode,
        if s.tunnel {
            Mode::Tunnel
        } else {
            Mode::Transport
        }
    );
    for n in [a, b] {
        assert_eq!(
            n.engine.stats().total_rejected(),
            0,
            "{:?}",
            n.engine.stats()
        );
        assert_eq!(n.count(|e| matches!(e, Event::IsakmpSaUp { .. })), 1);
        assert_eq!(n.engine.isakmp_sas().len(), 1);
        assert_eq!(n.engine.ipsec_sas().len(), 1);
    }
    // Each side knows the other by the address in its certificate.
    let ids: Vec<_> = [a, b]
        .iter()
        .map(|n| n.engine.isakmp_sas()[0].remote_id.clone())
        .collect();
    assert_eq!(
        ids[0],
        Some(ipsec_core::config::Identity::Address(
            engine_sim::B.parse().unwrap()
        ))
    );
    assert_eq!(
        ids[1],
        Some(ipsec_core::config::Identity::Address(
            engine_sim::A.parse().unwrap()
        ))
    );
}

#[test]
fn main_and_aggressive_rsa_both_roles_pfs_and_modes() {
    for mode in ["main", "aggressive"] {
        for (pfs, tunnel) in [("none", true), ("modp2048", true), ("none", false)] {
            for initiator in [0, 1] {
                let s = Scenario {
                    exchange_mode: mode,
                    pfs_group: pfs,
                    tunnel,
                    ..Scenario::default()
                };
                handshake(&s, initiator);
            }
        }
    }
}

#[test]
fn rsa_with_ecp256_pfs_and_transport() {
    for mode in ["main", "aggressive"] {
        let s = Scenario {
            exchange_mode: mode,
            pfs_group: "ecp256",
            tunnel: false,
            ..Scenario::default()
        };
        handshake(&s, 0);
    }
}

#[test]
fn rsa_behind_forced_udp_encapsulation_still_authenticates() {
    // NAT-T floats main mode to port 4500 before MM5: the CERT/SIG messages go there.
    let s = Scenario::default();
    let mut sim = Sim::new(3);
    let options = EngineOptions {
        force_udp_encapsulation: true,
        ..EngineOptions::default()
    };
    sim.add("a", engine_sim::A, rsa_config(&s, true, &MOON), options);
    sim.add(
        "b",
        engine_sim::B,
        rsa_config(&s, false, &SUN),
        EngineOptions::default(),
    );
    let now = sim.now;
    sim.nodes[0].engine.set_credentials(credentials("b", &MOON));
    sim.nodes[1].engine.set_credentials(credentials("a", &SUN));
    for n in &mut sim.nodes {
        n.engine.set_wall_clock(now, UnixTime::from_secs(Y2030));
    }
    start(&mut sim, 0);
    assert!(sim.run_until(Duration::from_secs(20), established));
    let encap = sim.nodes[0].outbound().next().unwrap().encap;
    assert!(matches!(encap, Some(UdpEncap { .. })));
}

/// Runs a negotiation that must fail; returns the sim after every timeout has passed.
fn failing(s: &Scenario, a: &Side, b: &Side, initiator: usize) -> Sim {
    let mut sim = rsa_sim(s, a, b, 7);
    start(&mut sim, initiator);
    sim.run_for(Duration::from_secs(400), |_| {});
    assert!(!established(&sim));
    sim
}

/// Refused on the exchange's last message (main mode MM6 by the initiator, aggressive mode
/// AM3 by the responder): that message is not acknowledged, so its sender had already
/// authenticated the other side and holds an ISAKMP SA the refusing side does not have.
/// Nothing is installed anywhere; the quick mode over that SA times out.
fn assert_refused_on_last_message(sim: &Sim, refused_by: usize, initiator: usize) {
    for n in &sim.nodes {
        assert!(n.installed.is_empty(), "{}: {:?}", n.name, n.installed);
        assert!(n.engine.ipsec_sas().is_empty(), "{}", n.name);
    }
    let refuser = &sim.nodes[refused_by];
    assert!(refuser.engine.isakmp_sas().is_empty());
    assert_eq!(refuser.count(|e| matches!(e, Event::IsakmpSaUp { .. })), 0);
    assert!(
        sim.nodes[initiator]
            .events
            .iter()
            .any(|e| matches!(e, Event::NegotiationFailed { .. }))
    );
}

/// No SA anywhere, nothing installed, and the initiator saw phase 1 fail.
fn assert_nothing_left(sim: &Sim, initiator: usize) {
    for n in &sim.nodes {
        assert!(n.installed.is_empty(), "{}: {:?}", n.name, n.installed);
        assert!(
            n.engine.isakmp_sas().is_empty(),
            "{}: {:?}\n{:?}",
            n.name,
            n.engine.isakmp_sas(),
            n.events
        );
        assert!(n.engine.ipsec_sas().is_empty(), "{}", n.name);
        assert_eq!(n.count(|e| matches!(e, Event::IsakmpSaUp { .. })), 0);
    }
    assert!(
        sim.nodes[initiator].events.iter().any(|e| matches!(
            e,
            Event::NegotiationFailed {
                phase: Phase::One,
                ..
            }
        )),
        "{:?}",
        sim.nodes[initiator].events
    );
}

/// The error notifications (type numbers) node `from` sent in plain Informational exchanges.
fn notifications_sent(sim: &Sim, from: usize) -> Vec<u16> {
    sim.sent
        .iter()
        .filter(|p| p.from == from)
        .filter_map(|p| {
            let bytes = if p.src.port() == 4500 {
                &p.payload[4..]
            } else {
                &p.payload[..]
            };
            let msg = Message::parse(bytes).ok()?;
            if msg.header.exchange_type != ExchangeType::Informational {
                return None;
            }
            let chain = msg.payloads()?;
            let n = chain.filter(PayloadType::Notification).next()?;
            Some(Notification::parse(n.body()).ok()?.notify_type.value())
        })
        .collect()
}

fn check_failure(a: Side, b: Side, expected: Reject, refused_by: usize) {
    for mode in ["main", "aggressive"] {
        let s = Scenario {
            exchange_mode: mode,
            ..Scenario::default()
        };
        let initiator = 0;
        let sim = failing(&s, &a, &b, initiator);
        let stats = sim.nodes[refused_by].engine.stats();
        assert!(
            stats.rejected(expected) >= 1,
            "{mode}: expected {expected:?} at node {refused_by}: {stats:?}"
        );
        let code = match expected {
            Reject::CertificateIdMismatch => 24,
            Reject::InvalidSignature => 25,
            _ => 17,
        };
        assert!(
            notifications_sent(&sim, refused_by).contains(&code),
            "{mode}: {expected:?} should send notification {code}"
        );
        let last_message = (mode == "aggressive") == (refused_by != initiator);
        if last_message {
            assert_refused_on_last_message(&sim, refused_by, initiator);
        } else {
            assert_nothing_left(&sim, initiator);
        }
    }
}

#[test]
fn expired_certificate_by_the_wall_clock() {
    // B's clock says 2046: A's certificate (and the CA) expired in 2045.
    let b = Side {
        wall: Y2046,
        crl: None,
        ..SUN
    };
    check_failure(MOON, b, Reject::CertificateExpired, 1);
    // The initiator's clock: B's certificate is refused by A.
    let a = Side {
        wall: Y2046,
        crl: None,
        ..MOON
    };
    check_failure(a, SUN, Reject::CertificateExpired, 0);
}

#[test]
fn wall_clock_moves_with_the_engine_clock() {
    // Valid at the start (2044-12-31T00:00Z), expired one day later of simulated time.
    let b = Side {
        wall: 2_366_841_600 - 86_400,
        crl: None,
        ..SUN
    };
    let s = Scenario::default();
    let mut sim = rsa_sim(&s, &MOON, &b, 2);
    sim.run_for(Duration::from_secs(2 * 86_400), |_| {});
    start(&mut sim, 0);
    sim.run_for(Duration::from_secs(400), |_| {});
    assert!(!established(&sim));
    assert!(
        sim.nodes[1]
            .engine
            .stats()
            .rejected(Reject::CertificateExpired)
            >= 1
    );
    assert_nothing_left(&sim, 0);
}

#[test]
fn certificate_from_an_unknown_ca() {
    // `other` has moon's subject and SANs but is issued by an unrelated root.
    let a = Side {
        cert: "other.pem",
        key: "other.key.pem",
        ..MOON
    };
    check_failure(a, SUN, Reject::UnknownCa, 1);
}

#[test]
fn revoked_certificate() {
    let a = Side {
        cert: "revoked.pem",
        key: "revoked.key.pem",
        my_id: Some("fqdn:revoked.ikv.test"),
        ..MOON
    };
    check_failure(a, SUN, Reject::CertificateRevoked, 1);
}

#[test]
fn id_not_in_the_certificate() {
    let a = Side {
        my_id: Some("fqdn:sun.ikv.test"),
        ..MOON
    };
    check_failure(a, SUN, Reject::CertificateIdMismatch, 1);
    // The responder claims an ID its certificate does not carry.
    let b = Side {
        my_id: Some("fqdn:moon.ikv.test"),
        ..SUN
    };
    check_failure(MOON, b, Reject::CertificateIdMismatch, 0);
}

#[test]
fn tampered_signature_in_aggressive_mode() {
    let s = Scenario {
        exchange_mode: "aggressive",
        ..Scenario::default()
    };
    // One datagram per message (no IKE fragmentation), so that AM2 can be held and altered.
    let whole = EngineOptions {
        fragment_size: 65_535,
        ..EngineOptions::default()
    };
    let mut sim = engine_sim::rsa_sim_with(&s, &MOON, &SUN, 4, whole);
    // Hold back AM2 (B to A) and deliver it with one bit of its SIG flipped.
    let held: Rc<RefCell<Vec<engine_sim::PacketInfo>>> = Rc::default();
    let h = Rc::clone(&held);
    sim.filter = Some(Box::new(move |p| {
        if p.from == 1 {
            h.borrow_mut().push(p.clone());
            return true;
        }
        false
    }));
    start(&mut sim, 0);
    assert!(sim.run_until(Duration::from_secs(5), |_| !held.borrow().is_empty()));
    let am2 = held.borrow()[0].clone();
    let mut bytes = am2.payload.clone();
    let offset = {
        let msg = Message::parse(&bytes).expect("AM2");
        let sig = msg
            .payloads()
            .expect("plain AM2")
            .filter(PayloadType::Signature)
            .next()
            .expect("SIG in AM2")
            .body();
        assert!(
            msg.payloads()
                .unwrap()
                .filter(PayloadType::Certificate)
                .count()
                >= 2,
            "sun's certificate and its intermediate"
        );
        sig.as_ptr() as usize - bytes.as_ptr() as usize + 10
    };
    bytes[offset] ^= 0x01;
    let now = sim.now;
    sim.nodes[0]
        .engine
        .handle_datagram(now, am2.dst, am2.src, &bytes);
    sim.collect();
    assert_eq!(
        sim.nodes[0]
            .engine
            .stats()
            .rejected(Reject::InvalidSignature),
        1
    );
    assert!(notifications_sent(&sim, 0).contains(&25));
    sim.run_for(Duration::from_secs(400), |_| {});
    assert_nothing_left(&sim, 0);
}

#[test]
fn missing_credentials_are_typed() {
    let s = Scenario::default();
    let mut sim = Sim::new(9);
    sim.add(
        "a",
        engine_sim::A,
        rsa_config(&s, true, &MOON),
        EngineOptions::default(),
    );
    let now = sim.now;
    assert_eq!(
        sim.nodes[0].engine.initiate(now, "b"),
        Err(EngineError::NoCredentials("b".into()))
    );
    // With credentials but no wall clock, the peer's certificate cannot be checked.
    let mut sim = rsa_sim(&s, &MOON, &SUN, 9);
    sim.nodes[1] = {
        let mut n = Sim::new(9);
        n.add(
            "b",
            engine_sim::B,
            rsa_config(&s, false, &SUN),
            EngineOptions::default(),
        );
        let mut node = n.nodes.remove(0);
        node.engine.set_credentials(credentials("a", &SUN));
        node
    };
    start(&mut sim, 0);
    sim.run_for(Duration::from_secs(400), |_| {});
    assert!(sim.nodes[1].engine.stats().rejected(Reject::NoWallClock) >= 1);
    assert_nothing_left(&sim, 0);
}

#[test]
fn pinned_remote_certificate() {
    use ipsec_core::pki::Certificate;
    for (pinned, ok) in [("moon.pem", true), ("other.pem", false)] {
        let s = Scenario::default();
        let mut sim = rsa_sim(&s, &MOON, &SUN, 11);
        // B pins A's certificate (`remote-certificate`) and trusts no CA.
        let mut chain = read(SUN.cert);
        chain.extend(read("intermediate.pem"));
        let signer = LocalSigner::from_pem(&read(SUN.key), &chain).unwrap();
        let verifier = PeerVerifier::new(TrustStore::new())
            .with_pinned_certificate(Certificate::from_pem_or_der(&read(pinned)).unwrap());
        sim.nodes[1].engine.set_credentials(
            Credentials::new()
                .with_local("a", signer)
                .with_verifier("a", verifier),
        );
        start(&mut sim, 0);
        if ok {
            assert!(sim.run_until(Duration::from_secs(20), established));
        } else {
            sim.run_for(Duration::from_secs(400), |_| {});
            assert!(
                sim.nodes[1]
                    .engine
                    .stats()
                    .rejected(Reject::InvalidCertificate)
                    >= 1,
                "{:?}",
                sim.nodes[1].engine.stats()
            );
            assert_nothing_left(&sim, 0);
        }
    }
}

/// The files a configuration names become per-peer credentials; a bad file is reported with
/// the peer, the key and the path.
#[test]
fn credentials_from_the_configuration_files() {
    let text = |certificate: &str, ca: &str| {
        format!(
            "[[peer]]\nname = \"sun\"\naddress = \"198.18.0.2\"\nauth-method = \"rsa-signature\"\n\
             certificate = \"{}\"\nca = \"{}\"\ncrl = [\"{}\"]\n",
            engine_sim::pki(certificate),
            engine_sim::pki(ca),
            engine_sim::pki("ca.crl.pem"),
        )
    };
    let load = |text: &str| {
        let config = ipsec_core::config::Config::from_toml_str(text, "rsa.toml").unwrap();
        Credentials::from_config(&config, |p| std::fs::read(p))
    };
    let creds = load(&text("moon.bundle.pem", "ca.pem")).unwrap();
    assert!(creds.signer("sun").is_some());
    assert!(creds.verifier("sun").is_some());

    let missing = load(&text("absent.pem", "ca.pem")).unwrap_err();
    assert_eq!((missing.peer.as_str(), missing.key), ("sun", "certificate"));
    assert!(matches!(
        missing.cause,
        ipsec_core::engine::CredentialsCause::Read(_)
    ));
    assert!(
        missing
            .to_string()
            .starts_with("peer \"sun\": certificate = \""),
        "{missing}"
    );

    // A private key where the CA certificate belongs.
    let wrong = load(&text("moon.bundle.pem", "moon.key.pem")).unwrap_err();
    assert_eq!(wrong.key, "ca");
    assert!(
        matches!(wrong.cause, ipsec_core::engine::CredentialsCause::Pki(_)),
        "{wrong}"
    );
}
