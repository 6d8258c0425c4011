//! Road warriors in simulation: XAuth (draft-beaulieu-ike-xauth-02) and mode-config
//! (draft-dukes-ike-mode-cfg-02) between an iked client and an iked concentrator, main and
//! aggressive mode: the user authenticates, gets an address from the pool (or its own), and
//! the quick mode runs from that address through a generated policy; a wrong password is
//! refused after the bounded attempts; the verdict may come from the driver; a returning
//! user gets its address again.

mod engine_sim;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use engine_sim::{A, B, Sim, established};
use ipsec_core::config::Config;
use ipsec_core::engine::{Direction, EngineOptions, Event, Phase, Reject, TsAddr, XauthVerdict};

/// The concentrator at B: XAuth PSK road warriors with a pool and split-include.
fn gateway(mode: &str) -> String {
    format!(
        r#"
[[peer]]
name = "rw"
address = "0.0.0.0/0"
auth-method = "pre-shared-key-xauth"
exchange-mode = "{mode}"
secret = "group secret"
passive = true
generate-policy = "port-strict"
policy-group = "rw"
mode-config = "rw-cfg"
dh-group = ["modp2048"]

[[proposal]]
name = "p"
enc-algorithms = ["aes-128-gcm"]
lifetime = "1h"
pfs-group = "none"

[[policy]]
template = true
group = "rw"
src-address = "10.5.8.0/24"
dst-address = "100.64.9.0/24"
tunnel = true
proposal = "p"

[[policy-group]]
name = "rw"

[[mode-config]]
name = "rw-cfg"
address-pool = "pool"
address-prefix-length = 24
split-include = ["10.5.8.0/24"]
static-dns = ["10.5.8.53"]

[[user]]
name = "alice"
password = "alice pw"

[[user]]
name = "bob"
password = "bob pw"
address = "100.64.9.200"

[[ip-pool]]
name = "pool"
ranges = ["100.64.9.10-100.64.9.20"]
"#
    )
}

/// A client at A with user `login` and `password`, asking for an address.
fn client(mode: &str, login: &str, password: &str) -> String {
    format!(
        r#"
[[peer]]
name = "gw"
address = "{B}/32"
local-address = "{A}"
auth-method = "pre-shared-key-xauth"
exchange-mode = "{mode}"
secret = "group secret"
xauth-login = "{login}"
xauth-password = "{password}"
mode-config = "request-only"
dh-group = ["modp2048"]

[[proposal]]
name = "p"
enc-algorithms = ["aes-128-gcm"]
lifetime = "1h"
pfs-group = "none"

[[policy]]
src-address = "0.0.0.0/0"
dst-address = "10.5.8.0/24"
tunnel = true
sa-dst-address = "{B}"
proposal = "p"
"#
    )
}

fn sim(mode: &str, login: &str, password: &str, gw_options: EngineOptions) -> Sim {
    let mut sim = Sim::new(11);
    let c = Config::from_toml_str(&client(mode, login, password), "client").unwrap();
    let g = Config::from_toml_str(&gateway(mode), "gw").unwrap();
    sim.add("client", A, Arc::new(c), EngineOptions::default());
    sim.add("gw", B, Arc::new(g), gw_options);
    sim
}

fn assigned(sim: &Sim, node: usize) -> Vec<IpAddr> {
    sim.nodes[node]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::AddressAssigned { address, .. } => Some(*address),
            _ => None,
        })
        .collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The client's inbound SA selector's local side: its virtual address.
fn tunnel_inner_address(sim: &Sim) -> Option<TsAddr> {
    sim.nodes[0]
        .installed
        .values()
        .find(|s| s.direction == Direction::Inbound)
        .map(|s| s.selector.local)
}

fn connect(sim: &mut Sim) -> bool {
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "gw").unwrap();
    sim.run_until(Duration::from_secs(20), established)
}

#[test]
fn xauth_and_mode_config_pull_main_and_aggressive() {
    for mode in ["main", "aggressive"] {
        let mut sim = sim(mode, "alice", "alice pw", EngineOptions::default());
        assert!(connect(&mut sim), "{mode}: {:?}", sim.nodes[0].events);
        let addr = assigned(&sim, 1);
        assert_eq!(addr, vec![ip("100.64.9.10")], "{mode}");
        let got = sim.nodes[0]
            .events
            .iter()
            .find_map(|e| match e {
                Event::ModeConfigReceived { config, .. } => Some(config.clone()),
                _ => None,
            })
            .expect("no mode-config at the client");
        assert_eq!(got.address, Some(ip("100.64.9.10")));
        assert_eq!(got.prefix_len, Some(24));
        assert_eq!(got.dns, vec![ip("10.5.8.53")]);
        assert_eq!(got.split_include, vec!["10.5.8.0/24".parse().unwrap()]);
        assert_eq!(
            tunnel_inner_address(&sim),
            Some(TsAddr::Prefix("100.64.9.10/32".parse().unwrap())),
            "{mode}"
        );
        assert!(
            sim.nodes[1]
                .events
                .iter()
                .any(|e| matches!(e, Event::UserAuthenticated { user, .. } if user == "alice"))
        );
        for n in &sim.nodes {
            assert_eq!(n.engine.stats().xauth_succeeded, 1, "{}", n.name);
            assert_eq!(
                n.engine.stats().total_rejected(),
                0,
                "{}: {:?}",
                n.name,
                n.events
            );
        }
    }
}

#[test]
fn a_wrong_password_is_refused_after_three_attempts() {
    let mut sim = sim("main", "alice", "guess", EngineOptions::default());
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "gw").unwrap();
    sim.run_for(Duration::from_secs(30), |_| {});
    assert!(sim.nodes[0].installed.is_empty() && sim.nodes[1].installed.is_empty());
    assert_eq!(sim.nodes[1].engine.stats().xauth_failed, 3);
    assert!(
        sim.nodes[0].events.iter().any(|e| matches!(
            e,
            Event::NegotiationFailed {
                phase: Phase::One,
                reason: Reject::XauthFailed,
                ..
            }
        )),
        "{:?}",
        sim.nodes[0].events
    );
    // Both sides dropped the ISAKMP SA.
    for n in &sim.nodes {
        assert!(
            n.engine.isakmp_sas().is_empty(),
            "{}: {:?}",
            n.name,
            n.engine.isakmp_sas()
        );
    }
    assert!(assigned(&sim, 1).is_empty());
}

#[test]
fn a_fixed_user_address_and_the_same_address_on_return() {
    let mut sim = sim("aggressive", "bob", "bob pw", EngineOptions::default());
    assert!(connect(&mut sim));
    assert_eq!(assigned(&sim, 1), vec![ip("100.64.9.200")]);

    let mut sim = sim_with_two_users();
    assert!(connect(&mut sim));
    let first = assigned(&sim, 1);
    let now = sim.now;
    let peer = sim.nodes[0].engine.peers()[0].0;
    sim.nodes[0].engine.terminate(now, peer);
    sim.run_for(Duration::from_secs(5), |_| {});
    assert!(sim.nodes[1].installed.is_empty());
    assert!(connect(&mut sim));
    let both = assigned(&sim, 1);
    assert_eq!(both.len(), 2);
    assert_eq!(both[0], both[1], "{both:?} (first {first:?})");
}

fn sim_with_two_users() -> Sim {
    sim("main", "alice", "alice pw", EngineOptions::default())
}

#[test]
fn the_driver_can_give_the_verdict_and_the_address() {
    let options = EngineOptions {
        xauth_external: true,
        ..EngineOptions::default()
    };
    let mut sim = sim("main", "carol", "from radius\\u0000", options);
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "gw").unwrap();
    let asked = |s: &Sim| {
        s.nodes[1].events.iter().find_map(|e| match e {
            Event::XauthVerify {
                request,
                user,
                password,
                ..
            } => Some((*request, user.clone(), password.as_bytes().to_vec())),
            _ => None,
        })
    };
    assert!(sim.run_until(Duration::from_secs(10), |s| asked(s).is_some()));
    let (request, user, password) = asked(&sim).unwrap();
    assert_eq!(user, "carol");
    // The NUL that Android appends is gone.
    assert_eq!(password, b"from radius");
    // Nothing moves until the verdict.
    sim.run_for(Duration::from_secs(2), |_| {});
    assert!(sim.nodes[0].installed.is_empty());
    let now = sim.now;
    sim.nodes[1].engine.xauth_verdict(
        now,
        request,
        XauthVerdict {
            accept: true,
            address: Some(ip("100.64.9.77")),
            ..XauthVerdict::default()
        },
    );
    assert!(sim.run_until(Duration::from_secs(10), established));
    assert_eq!(assigned(&sim, 1), vec![ip("100.64.9.77")]);
}

#[test]
fn xauth_survives_loss_and_duplication() {
    for seed in 0..8 {
        let mut sim = sim("main", "alice", "alice pw", EngineOptions::default());
        sim.rng = engine_sim::SimRng::new(seed);
        sim.loss = 0.2;
        sim.duplicate = 0.1;
        assert!(connect_within(&mut sim, 120), "seed {seed}");
        assert_eq!(assigned(&sim, 1).len(), 1, "seed {seed}");
    }
}

fn connect_within(sim: &mut Sim, secs: u64) -> bool {
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "gw").unwrap();
    sim.run_until(Duration::from_secs(secs), established)
}

/// A client that comes back from a new address (new network, new NAT mapping) logs in
/// again: its old session goes at once and it keeps its inner address.
#[test]
fn a_returning_user_from_a_new_address_replaces_its_old_session() {
    let mut sim = sim("main", "alice", "alice pw", EngineOptions::default());
    assert!(connect(&mut sim));
    let moved = client("main", "alice", "alice pw").replace(A, "198.18.0.3");
    let c = Config::from_toml_str(&moved, "moved").unwrap();
    sim.add("moved", "198.18.0.3", Arc::new(c), EngineOptions::default());
    // The first address goes silent (the laptop left that network).
    sim.filter = Some(Box::new(|p| p.from == 0 || p.to == 0));
    let now = sim.now;
    sim.nodes[2].engine.initiate(now, "gw").unwrap();
    let ok = sim.run_until(Duration::from_secs(20), |s| {
        engine_sim::usable(&s.nodes[2], &s.nodes[1]) && s.nodes[1].installed.len() == 2
    });
    assert!(ok, "{:?}", sim.nodes[1].events);
    let addrs = assigned(&sim, 1);
    assert_eq!(addrs.len(), 2);
    assert_eq!(addrs[0], addrs[1]);
    assert_eq!(
        sim.nodes[1].engine.peers().len(),
        1,
        "{:?}",
        sim.nodes[1].engine.peers()
    );
}

/// Two users behind one NAT (same public address, different ports) get sessions and
/// addresses of their own.
#[test]
fn two_users_behind_one_nat() {
    let mut sim = Sim::new(5);
    let g = Config::from_toml_str(&gateway("aggressive"), "gw").unwrap();
    let c1 = Config::from_toml_str(&client("aggressive", "alice", "alice pw"), "c1").unwrap();
    let c2 = client("aggressive", "bob", "bob pw").replace(A, "10.9.0.2");
    let c2 = Config::from_toml_str(&c2, "c2").unwrap();
    sim.add("c1", A, Arc::new(c1), EngineOptions::default());
    sim.add("gw", B, Arc::new(g), EngineOptions::default());
    sim.add("c2", "10.9.0.2", Arc::new(c2), EngineOptions::default());
    let public: IpAddr = "198.18.0.100".parse().unwrap();
    sim.nodes[0].nat = Some(engine_sim::Nat::new(public));
    sim.nodes[2].nat = Some(engine_sim::Nat::with_ports(public, 41_000));
    for i in [0, 2] {
        let now = sim.now;
        sim.nodes[i].engine.initiate(now, "gw").unwrap();
    }
    let ok = sim.run_until(Duration::from_secs(30), |s| {
        engine_sim::usable(&s.nodes[0], &s.nodes[1]) && engine_sim::usable(&s.nodes[2], &s.nodes[1])
    });
    assert!(ok, "{:?}", sim.nodes[1].events);
    let mut addrs = assigned(&sim, 1);
    addrs.sort();
    assert_eq!(addrs, vec![ip("100.64.9.10"), ip("100.64.9.200")]);
    assert_eq!(sim.nodes[1].engine.peers().len(), 2);
}

/// Hybrid authentication (methods 64221/64222): the concentrator proves itself with its
/// certificate (sun, with its intermediate), the client only with XAuth; main and aggressive
/// mode. A client that does not trust the server's CA refuses it.
#[test]
fn hybrid_rsa_server_certificate_and_client_xauth() {
    use engine_sim::{SUN, Y2030, credentials, pki};
    use ipsec_core::pki::UnixTime;
    for mode in ["main", "aggressive"] {
        let hybrid_gw = gateway(mode).replace(
            "auth-method = \"pre-shared-key-xauth\"\n",
            &format!(
                "auth-method = \"rsa-signature-hybrid\"\ncertificate = \"{}\"\n",
                pki("sun.pem")
            ),
        );
        let hybrid_gw = hybrid_gw.replace("secret = \"group secret\"\n", "");
        let hybrid_client = client(mode, "alice", "alice pw")
            .replace(
                "auth-method = \"pre-shared-key-xauth\"\n",
                &format!(
                    "auth-method = \"rsa-signature-hybrid\"\nca = \"{}\"\n",
                    pki("ca.pem")
                ),
            )
            .replace("secret = \"group secret\"\n", "");
        let mut sim = Sim::new(21);
        let c = Config::from_toml_str(&hybrid_client, "client").unwrap();
        let g = Config::from_toml_str(&hybrid_gw, "gw").unwrap();
        sim.add("client", A, Arc::new(c), EngineOptions::default());
        sim.add("gw", B, Arc::new(g), EngineOptions::default());
        let now = sim.now;
        sim.nodes[0].engine.set_credentials(credentials("gw", &SUN));
        sim.nodes[1].engine.set_credentials(credentials("rw", &SUN));
        for n in &mut sim.nodes {
            n.engine.set_wall_clock(now, UnixTime::from_secs(Y2030));
        }
        assert!(connect(&mut sim), "{mode}: {:?}", sim.nodes[0].events);
        assert_eq!(assigned(&sim, 1), vec![ip("100.64.9.10")], "{mode}");
        let sa = &sim.nodes[0].engine.isakmp_sas()[0];
        assert_eq!(
            sa.suite.map(|s| s.auth),
            Some(ipsec_core::wire::AuthMethod::HybridInitRsa),
            "{mode}"
        );
    }
}

/// A Cisco Unity client proposes everything (0.0.0.0/0) on the concentrator's side; the
/// concentrator accepts and narrows its SA to the template's networks.
#[test]
fn a_client_asking_for_everything_gets_the_template() {
    let mut sim = Sim::new(17);
    let wide = client("main", "alice", "alice pw").replace(
        "dst-address = \"10.5.8.0/24\"",
        "dst-address = \"0.0.0.0/0\"",
    );
    let c = Config::from_toml_str(&wide, "client").unwrap();
    let g = Config::from_toml_str(&gateway("main"), "gw").unwrap();
    sim.add("client", A, Arc::new(c), EngineOptions::default());
    sim.add("gw", B, Arc::new(g), EngineOptions::default());
    assert!(connect(&mut sim), "{:?}", sim.nodes[1].events);
    let gw_sel = sim.nodes[1]
        .installed
        .values()
        .map(|s| s.selector)
        .next()
        .unwrap();
    assert_eq!(gw_sel.local, TsAddr::Prefix("10.5.8.0/24".parse().unwrap()));
    assert_eq!(
        gw_sel.remote,
        TsAddr::Prefix("100.64.9.10/32".parse().unwrap())
    );
    let client_sel = sim.nodes[0]
        .installed
        .values()
        .map(|s| s.selector)
        .next()
        .unwrap();
    assert_eq!(
        client_sel.remote,
        TsAddr::Prefix("0.0.0.0/0".parse().unwrap())
    );
}

/// The Cisco Unity extras (local LAN, default domain, split DNS, banner) reach the client,
/// pulled and, with `push = true`, pushed as well; the address is given once.
#[test]
fn unity_attributes_pulled_and_pushed() {
    for push in [false, true] {
        let gw = gateway("main").replace(
            "static-dns = [\"10.5.8.53\"]\n",
            &format!(
                "static-dns = [\"10.5.8.53\"]\nlocal-lan = [\"192.168.0.0/16\"]\n\
                 default-domain = \"corp.example\"\nsplit-dns = [\"corp.example\", \"lab.example\"]\n\
                 banner = \"Authorised users only\"\npush = {push}\n"
            ),
        );
        let mut sim = Sim::new(23);
        let c = Config::from_toml_str(&client("main", "alice", "alice pw"), "client").unwrap();
        let g = Config::from_toml_str(&gw, "gw").unwrap();
        sim.add("client", A, Arc::new(c), EngineOptions::default());
        sim.add("gw", B, Arc::new(g), EngineOptions::default());
        assert!(connect(&mut sim), "push {push}: {:?}", sim.nodes[0].events);
        sim.run_for(Duration::from_secs(2), |_| {});
        let got: Vec<_> = sim.nodes[0]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::ModeConfigReceived { config, .. } => Some(config.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(got.len(), 1, "push {push}: {got:?}");
        let got = &got[0];
        assert_eq!(got.local_lan, vec!["192.168.0.0/16".parse().unwrap()]);
        assert_eq!(got.default_domain.as_deref(), Some("corp.example"));
        assert_eq!(got.split_dns, vec!["corp.example", "lab.example"]);
        assert_eq!(got.banner.as_deref(), Some("Authorised users only"));
        assert_eq!(assigned(&sim, 1).len(), 1, "push {push}");
        for n in &sim.nodes {
            assert_eq!(
                n.engine.stats().total_rejected(),
                0,
                "{}: {:?}",
                n.name,
                n.events
            );
        }
    }
}

/// A mobile unit: a client with a network behind it (`[[user]] routes`). Its quick mode names
/// that network as its side (not its virtual address) and gets a tunnel for it; a user without
/// the route who asks for the same network is refused.
#[test]
fn a_mobile_unit_brings_its_routed_network() {
    let unit_net = "100.64.77.0/24";
    let gw = gateway("main").replace(
        "name = \"bob\"\npassword = \"bob pw\"",
        &format!("name = \"bob\"\npassword = \"bob pw\"\nroutes = [\"{unit_net}\"]"),
    ) + "\n[[policy]]\ntemplate = true\ngroup = \"rw\"\nsrc-address = \"10.5.8.0/24\"\n\
           dst-address = \"100.64.64.0/18\"\ntunnel = true\nproposal = \"p\"\n";
    for (login, password, admitted) in [("bob", "bob pw", true), ("alice", "alice pw", false)] {
        let c = client("main", login, password).replace(
            "src-address = \"0.0.0.0/0\"",
            &format!("src-address = \"{unit_net}\""),
        );
        let mut sim = Sim::new(12);
        let c = Config::from_toml_str(&c, "client").unwrap();
        let g = Config::from_toml_str(&gw, "gw").unwrap_or_else(|e| panic!("{e:?}"));
        sim.add("client", A, Arc::new(c), EngineOptions::default());
        sim.add("gw", B, Arc::new(g), EngineOptions::default());
        let up = connect_within(&mut sim, 20);
        assert_eq!(up, admitted, "{login}: {:?}", sim.nodes[1].events);
        if admitted {
            let sa = sim.nodes[1]
                .installed
                .values()
                .find(|s| s.direction == Direction::Inbound)
                .unwrap();
            assert_eq!(
                sa.selector.remote,
                TsAddr::Prefix(unit_net.parse().unwrap())
            );
            assert_eq!(
                assigned(&sim, 1),
                vec![ip("100.64.9.200")],
                "its own address too"
            );
        } else {
            assert!(sim.nodes[1].installed.is_empty());
            assert!(
                sim.nodes[1].events.iter().any(|e| matches!(
                    e,
                    Event::Rejected {
                        reason: Reject::NoPolicy,
                        ..
                    }
                )),
                "{:?}",
                sim.nodes[1].events
            );
        }
    }
}

/// A peer served by a `[[radius]]` server: its users go to the driver without
/// `xauth_external`, and the verdict's prefix length (Framed-IP-Netmask) is what the client
/// receives.
#[test]
fn a_peer_served_by_radius_asks_the_driver() {
    let mut sim = Sim::new(12);
    let c = Config::from_toml_str(&client("main", "dave", "pw"), "client").unwrap();
    let gw = format!(
        "{}\n[[radius]]\naddress = \"198.19.250.2\"\nsecret = \"s\"\npeers = [\"rw\"]\n",
        gateway("main")
    );
    let g = Config::from_toml_str(&gw, "gw").unwrap();
    assert!(g.radius_for("rw"));
    sim.add("client", A, Arc::new(c), EngineOptions::default());
    sim.add("gw", B, Arc::new(g), EngineOptions::default());
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "gw").unwrap();
    let asked = |s: &Sim| {
        s.nodes[1].events.iter().find_map(|e| match e {
            Event::XauthVerify { request, user, .. } => Some((*request, user.clone())),
            _ => None,
        })
    };
    assert!(sim.run_until(Duration::from_secs(10), |s| asked(s).is_some()));
    let (request, user) = asked(&sim).unwrap();
    assert_eq!(user, "dave", "not in [[user]]: only RADIUS knows dave");
    let now = sim.now;
    sim.nodes[1].engine.xauth_verdict(
        now,
        request,
        XauthVerdict {
            accept: true,
            address: Some(ip("100.64.9.78")),
            prefix_len: Some(28),
            ..XauthVerdict::default()
        },
    );
    assert!(sim.run_until(Duration::from_secs(10), established));
    let received = sim.nodes[0].events.iter().find_map(|e| match e {
        Event::ModeConfigReceived { config, .. } => Some(config.clone()),
        _ => None,
    });
    let received = received.expect("mode-config received");
    assert_eq!(received.address, Some(ip("100.64.9.78")));
    assert_eq!(received.prefix_len, Some(28));
}
