//! The full handshake grid of issue 3: {main, aggressive} × {PSK, RSA} × {no PFS, modp2048,
//! ecp256} × {tunnel, transport}, each cell started by either node (48 handshakes), two
//! engines under simulated time.
//!
//! One test per row (exchange mode × authentication × PFS group), each running its four cells
//! (tunnel/transport × initiator A/B), so that the rows run in parallel. Every handshake must
//! install both directions on both sides with matching keys (the initiator's outbound SA is the
//! responder's inbound SA of the same SPI, and the reverse), the requested encapsulation mode,
//! the requested PFS group, and no rejection counted anywhere.
//!
//! The engine does not report the PFS group of an IPsec SA (neither `InstallSa` nor
//! `IpsecSaInfo` carries it), so the group is checked on the wire: quick mode's first two
//! messages (which carry the KE payloads) must be longer than without PFS (same encapsulation
//! and initiator) by
//! exactly the KE payload of the group plus its Group Description attribute, up to the
//! cipher's block padding.

mod engine_sim;

use std::time::Duration;

use engine_sim::{MOON, SUN, Scenario, Sim, established, pairs_match, rsa_sim, start};
use ipsec_core::engine::{Direction, EngineOptions, Event};
use ipsec_core::proposal::phase2::Mode;
use ipsec_core::wire::{ExchangeType, Message};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Auth {
    Psk,
    Rsa,
}

/// One cell of the grid, and which node (0 = A, 1 = B) initiates.
#[derive(Clone, Copy, Debug)]
struct Cell {
    mode: &'static str,
    auth: Auth,
    pfs: &'static str,
    tunnel: bool,
    initiator: usize,
}

impl Cell {
    fn scenario(&self) -> Scenario {
        Scenario {
            exchange_mode: self.mode,
            pfs_group: self.pfs,
            tunnel: self.tunnel,
            ..Scenario::default()
        }
    }

    fn sim(&self) -> Sim {
        let s = self.scenario();
        match self.auth {
            Auth::Psk => s.sim(1, EngineOptions::default()),
            Auth::Rsa => rsa_sim(&s, &MOON, &SUN, 1),
        }
    }
}

/// The length of the first quick mode message node `from` sent (QM1 from the initiator, QM2
/// from the responder).
fn first_quick_mode_len(sim: &Sim, from: usize) -> usize {
    sim.sent
        .iter()
        .filter(|p| p.from == from)
        .find_map(|p| {
            let bytes = if p.src.port() == 4500 {
                &p.payload[4..]
            } else {
                &p.payload[..]
            };
            let msg = Message::parse(bytes).ok()?;
            (msg.header.exchange_type == ExchangeType::QuickMode).then_some(bytes.len())
        })
        .unwrap_or_else(|| panic!("node {from} sent no quick mode message"))
}

/// The length of the KE payload (with its generic header) of a PFS group, plus the 4-byte
/// Group Description attribute (TV) of its single transform.
fn pfs_overhead(pfs: &str) -> usize {
    let ke = match pfs {
        "none" => return 0,
        "modp2048" => 256,
        // RFC 5903: x || y.
        "ecp256" => 64,
        other => panic!("no KE length for {other}"),
    };
    4 + ke + 4
}

/// Runs one cell; returns (QM1, QM2) lengths.
fn handshake(c: Cell) -> (usize, usize) {
    let mut sim = c.sim();
    start(&mut sim, c.initiator);
    assert!(
        sim.run_until(Duration::from_secs(20), established),
        "no SA pair for {c:?}: a {:?}\nb {:?}\nstats a {:?}\nstats b {:?}",
        sim.nodes[0].events,
        sim.nodes[1].events,
        sim.nodes[0].engine.stats(),
        sim.nodes[1].engine.stats()
    );
    // Let any last message (QM3, retransmissions that should not happen) settle.
    sim.run_for(Duration::from_secs(2), |_| {});
    let (a, b) = (&sim.nodes[0], &sim.nodes[1]);
    assert!(pairs_match(a, b), "{c:?}");
    let want_mode = if c.tunnel {
        Mode::Tunnel
    } else {
        Mode::Transport
    };
    for n in [a, b] {
        // Exactly one InstallSa per direction.
        let installs: Vec<_> = n
            .events
            .iter()
            .filter_map(|e| match e {
                Event::InstallSa(s) => Some(s.direction),
                _ => None,
            })
            .collect();
        assert_eq!(installs.len(), 2, "{c:?} {}: {installs:?}", n.name);
        assert!(installs.contains(&Direction::Inbound), "{c:?} {}", n.name);
        assert!(installs.contains(&Direction::Outbound), "{c:?} {}", n.name);
        assert_eq!(n.installed.len(), 2, "{c:?} {}", n.name);
        assert_eq!(
            n.engine.stats().total_rejected(),
            0,
            "{c:?} {}: {:?}",
            n.name,
            n.engine.stats()
        );
        assert_eq!(n.count(|e| matches!(e, Event::IsakmpSaUp { .. })), 1);
        assert_eq!(
            n.count(|e| matches!(e, Event::NegotiationFailed { .. })),
            0,
            "{c:?} {}",
            n.name
        );
        assert_eq!(n.engine.isakmp_sas().len(), 1);
        let ipsec = n.engine.ipsec_sas();
        assert_eq!(ipsec.len(), 1, "{c:?} {}", n.name);
        assert_eq!(ipsec[0].mode, want_mode, "{c:?} {}", n.name);
        assert_eq!(
            ipsec[0].initiator,
            (n.name == "a") == (c.initiator == 0),
            "{c:?} {}",
            n.name
        );
        assert_eq!(n.bad_deletes, 0);
    }
    // The initiator's outbound keys are the responder's inbound keys for the same SPI, and
    // the other way round; everything but the keys' direction agrees.
    let (init, resp) = if c.initiator == 0 { (a, b) } else { (b, a) };
    for (x, y) in [(init, resp), (resp, init)] {
        let out = x.outbound().next().unwrap();
        let inb = &y.installed[&(Direction::Inbound, out.spi)];
        assert_eq!(out.keys, inb.keys, "{c:?}");
        assert_eq!(out.transform, inb.transform, "{c:?}");
        assert_eq!((out.src, out.dst), (inb.src, inb.dst), "{c:?}");
        assert_eq!(out.mode, want_mode, "{c:?}");
        assert_eq!(inb.mode, want_mode, "{c:?}");
        assert_eq!(out.selector.local, inb.selector.remote, "{c:?}");
        assert_eq!(out.selector.remote, inb.selector.local, "{c:?}");
        assert_ne!(out.spi, x.inbound().next().unwrap().spi, "{c:?}");
    }
    // The two directions have different keys.
    assert_ne!(
        init.outbound().next().unwrap().keys,
        init.inbound().next().unwrap().keys,
        "{c:?}"
    );
    // The ISAKMP SA is of the requested exchange.
    let exchange = if c.mode == "main" {
        ExchangeType::IdentityProtection
    } else {
        ExchangeType::Aggressive
    };
    for n in [a, b] {
        assert_eq!(n.engine.isakmp_sas()[0].exchange, exchange, "{c:?}");
    }
    (
        first_quick_mode_len(&sim, c.initiator),
        first_quick_mode_len(&sim, 1 - c.initiator),
    )
}

/// One row: the four cells of (exchange mode, authentication, PFS group), with the PFS group
/// checked against the same cells without PFS.
fn row(mode: &'static str, auth: Auth, pfs: &'static str) {
    for tunnel in [true, false] {
        for initiator in [0, 1] {
            let cell = Cell {
                mode,
                auth,
                pfs,
                tunnel,
                initiator,
            };
            let (qm1, qm2) = handshake(cell);
            let (base1, base2) = if pfs == "none" {
                (qm1, qm2)
            } else {
                // Quick mode does not depend on phase 1's exchange or authentication (the
                // same PRF and cipher): the cheapest cell without PFS is the reference.
                handshake(Cell {
                    mode: "main",
                    auth: Auth::Psk,
                    pfs: "none",
                    ..cell
                })
            };
            let want = pfs_overhead(pfs) as i64;
            for (got, base, which) in [(qm1, base1, "QM1"), (qm2, base2, "QM2")] {
                let extra = got as i64 - base as i64;
                // AES-CBC pads to 16 bytes: the difference is `want` give or take a block.
                assert!(
                    (extra - want).abs() < 16,
                    "{cell:?}: {which} is {got} bytes, {base} without PFS: {extra} more, \
                     expected about {want} for {pfs}"
                );
            }
        }
    }
}

macro_rules! rows {
    ($($name:ident: $mode:literal, $auth:ident, $pfs:literal;)*) => {
        $(
            #[test]
            fn $name() {
                row($mode, Auth::$auth, $pfs);
            }
        )*

        /// The rows above are the whole grid, each once.
        #[test]
        fn the_rows_cover_the_grid() {
            let mut rows = vec![$(($mode, Auth::$auth, $pfs)),*];
            let mut all = Vec::new();
            for mode in ["main", "aggressive"] {
                for auth in [Auth::Psk, Auth::Rsa] {
                    for pfs in ["none", "modp2048", "ecp256"] {
                        all.push((mode, auth, pfs));
                    }
                }
            }
            let key = |r: &(&str, Auth, &str)| format!("{r:?}");
            rows.sort_by_key(key);
            all.sort_by_key(key);
            assert_eq!(rows, all);
        }
    };
}

rows! {
    main_psk_no_pfs: "main", Psk, "none";
    main_psk_modp2048: "main", Psk, "modp2048";
    main_psk_ecp256: "main", Psk, "ecp256";
    main_rsa_no_pfs: "main", Rsa, "none";
    main_rsa_modp2048: "main", Rsa, "modp2048";
    main_rsa_ecp256: "main", Rsa, "ecp256";
    aggressive_psk_no_pfs: "aggressive", Psk, "none";
    aggressive_psk_modp2048: "aggressive", Psk, "modp2048";
    aggressive_psk_ecp256: "aggressive", Psk, "ecp256";
    aggressive_rsa_no_pfs: "aggressive", Rsa, "none";
    aggressive_rsa_modp2048: "aggressive", Rsa, "modp2048";
    aggressive_rsa_ecp256: "aggressive", Rsa, "ecp256";
}
