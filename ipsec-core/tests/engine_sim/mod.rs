//! A small simulated network for engine tests: engines exchange `Transmit`s through a queue
//! with seeded, deterministic loss, duplication, reordering and delay; simulated time jumps to
//! the next packet or timeout. Optional NATs rewrite source addresses and ports.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipsec_core::config::{Config, Snapshot};
use ipsec_core::engine::{
    Credentials, DeleteSa, Direction, Engine, EngineOptions, Event, InstallSa, Transmit,
};
use ipsec_core::pki::{LocalSigner, PeerVerifier, TrustStore, UnixTime};

/// xorshift64*: deterministic randomness for the network.
#[derive(Clone, Debug)]
pub struct SimRng(u64);

impl SimRng {
    pub fn new(seed: u64) -> Self {
        SimRng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// In [0, 1).
    pub fn fraction(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.fraction() < p
    }
}

/// A source NAT in front of a node: rewrites (private address, port) to (public, new port).
#[derive(Clone, Debug)]
pub struct Nat {
    pub public: IpAddr,
    out: BTreeMap<u16, u16>,
    back: BTreeMap<u16, u16>,
    next: u16,
}

impl Nat {
    pub fn new(public: IpAddr) -> Self {
        Nat {
            public,
            out: BTreeMap::new(),
            back: BTreeMap::new(),
            next: 31_000,
        }
    }
    /// A NAT whose mappings start at `first` (two nodes behind one public address need
    /// disjoint port ranges).
    pub fn with_ports(public: IpAddr, first: u16) -> Self {
        Nat {
            next: first,
            ..Nat::new(public)
        }
    }
    /// A static port forward: the public `port` leads to the same port inside (a server
    /// behind a NAT).
    pub fn forward(&mut self, port: u16) {
        self.out.insert(port, port);
        self.back.insert(port, port);
    }

    /// The NAT forgets its mappings (a reboot, an idle timeout): the next packets get new
    /// public ports.
    pub fn rebind(&mut self) {
        self.out.clear();
        self.back.clear();
        self.next = self.next.wrapping_add(1000);
    }
    fn map(&mut self, port: u16) -> u16 {
        if let Some(p) = self.out.get(&port) {
            return *p;
        }
        let p = self.next;
        self.next += 1;
        self.out.insert(port, p);
        self.back.insert(p, port);
        p
    }
}

/// One engine on the network.
pub struct Node {
    pub name: &'static str,
    pub engine: Engine,
    pub addr: IpAddr,
    pub nat: Option<Nat>,
    /// Installed SAs by (direction, SPI), from the events.
    pub installed: BTreeMap<(Direction, u32), InstallSa>,
    pub events: Vec<Event>,
    pub deleted: Vec<DeleteSa>,
    pub bad_deletes: usize,
}

impl Node {
    pub fn outbound(&self) -> impl Iterator<Item = &InstallSa> {
        self.installed
            .iter()
            .filter(|((d, _), _)| *d == Direction::Outbound)
            .map(|(_, s)| s)
    }
    pub fn inbound(&self) -> impl Iterator<Item = &InstallSa> {
        self.installed
            .iter()
            .filter(|((d, _), _)| *d == Direction::Inbound)
            .map(|(_, s)| s)
    }
    pub fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|e| f(e)).count()
    }
}

/// What a packet looked like on the wire.
#[derive(Clone, Debug)]
pub struct PacketInfo {
    pub from: usize,
    pub to: usize,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
    /// Index among all packets sent so far.
    pub seq: u64,
}

struct InFlight {
    to: usize,
    local: SocketAddr,
    remote: SocketAddr,
    payload: Vec<u8>,
}

pub type Filter = Box<dyn FnMut(&PacketInfo) -> bool>;

/// The network.
pub struct Sim {
    pub nodes: Vec<Node>,
    pub start: Instant,
    pub now: Instant,
    queue: BTreeMap<(Instant, u64), InFlight>,
    seq: u64,
    order: u64,
    pub rng: SimRng,
    pub loss: f64,
    pub duplicate: f64,
    pub reorder: f64,
    pub delay: Duration,
    /// Return true to drop a packet.
    pub filter: Option<Filter>,
    pub sent: Vec<PacketInfo>,
    pub keep_log: bool,
    pub unroutable: usize,
}

impl Sim {
    pub fn new(seed: u64) -> Self {
        let start = Instant::now();
        Sim {
            nodes: Vec::new(),
            start,
            now: start,
            queue: BTreeMap::new(),
            seq: 0,
            order: 0,
            rng: SimRng::new(seed),
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            delay: Duration::from_millis(5),
            filter: None,
            sent: Vec::new(),
            keep_log: true,
            unroutable: 0,
        }
    }

    pub fn add(
        &mut self,
        name: &'static str,
        addr: &str,
        config: Arc<Snapshot>,
        options: EngineOptions,
    ) -> usize {
        let rng = Arc::new(ring::rand::SystemRandom::new());
        self.nodes.push(Node {
            name,
            engine: Engine::new(config, rng, options),
            addr: addr.parse().unwrap(),
            nat: None,
            installed: BTreeMap::new(),
            events: Vec::new(),
            deleted: Vec::new(),
            bad_deletes: 0,
        });
        self.nodes.len() - 1
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Moves transmits into the network and events into the nodes' logs.
    pub fn collect(&mut self) {
        for i in 0..self.nodes.len() {
            while let Some(t) = self.nodes[i].engine.poll_transmit() {
                self.route(i, t);
            }
            while let Some(e) = self.nodes[i].engine.poll_event() {
                let n = &mut self.nodes[i];
                match &e {
                    Event::InstallSa(s) => {
                        let prev = n.installed.insert((s.direction, s.spi), (**s).clone());
                        assert!(
                            prev.is_none(),
                            "{}: SA {:08x} installed twice",
                            n.name,
                            s.spi
                        );
                    }
                    Event::DeleteSa(d) => {
                        if n.installed.remove(&(d.direction, d.spi)).is_none() {
                            n.bad_deletes += 1;
                        }
                        n.deleted.push(d.clone());
                    }
                    _ => {}
                }
                n.events.push(e);
            }
        }
    }

    fn route(&mut self, from: usize, t: Transmit) {
        let mut src = t.local;
        if src.ip().is_unspecified() {
            src.set_ip(self.nodes[from].addr);
        }
        if let Some(nat) = &mut self.nodes[from].nat {
            let port = nat.map(src.port());
            src = SocketAddr::new(nat.public, port);
        }
        let dst = t.remote;
        // Behind a shared public address, the node is the one that mapped the port.
        let target = self.nodes.iter().position(|n| {
            n.addr == dst.ip()
                || n.nat
                    .as_ref()
                    .is_some_and(|x| x.public == dst.ip() && x.back.contains_key(&dst.port()))
        });
        let Some(to) = target else {
            self.unroutable += 1;
            return;
        };
        let local = match &self.nodes[to].nat {
            Some(nat) if nat.public == dst.ip() => match nat.back.get(&dst.port()) {
                Some(p) => SocketAddr::new(self.nodes[to].addr, *p),
                None => {
                    self.unroutable += 1;
                    return;
                }
            },
            _ => dst,
        };
        let info = PacketInfo {
            from,
            to,
            src,
            dst,
            payload: t.payload.clone(),
            seq: self.seq,
        };
        self.seq += 1;
        let drop = self.filter.as_mut().is_some_and(|f| f(&info)) || self.rng.chance(self.loss);
        if self.keep_log {
            self.sent.push(info);
        }
        if drop {
            return;
        }
        let copies = if self.rng.chance(self.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut delay = self.delay;
            if self.rng.chance(self.reorder) {
                delay += Duration::from_millis(1 + self.rng.next_u64() % 50);
            }
            self.order += 1;
            self.queue.insert(
                (self.now + delay, self.order),
                InFlight {
                    to,
                    local,
                    remote: src,
                    payload: t.payload.clone(),
                },
            );
        }
    }

    /// The next moment something happens.
    pub fn next_time(&self) -> Option<Instant> {
        let p = self.queue.keys().next().map(|(t, _)| *t);
        let t = self
            .nodes
            .iter()
            .filter_map(|n| n.engine.poll_timeout())
            .min();
        match (p, t) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// One step: deliver the next packet or fire the due timers. False when idle.
    pub fn step(&mut self) -> bool {
        self.collect();
        let Some(t) = self.next_time() else {
            return false;
        };
        self.now = self.now.max(t);
        if let Some((&key, _)) = self.queue.iter().next()
            && key.0 <= self.now
        {
            let p = self.queue.remove(&key).unwrap();
            let now = self.now;
            self.nodes[p.to]
                .engine
                .handle_datagram(now, p.local, p.remote, &p.payload);
        } else {
            let now = self.now;
            for n in &mut self.nodes {
                if n.engine.poll_timeout().is_some_and(|t| t <= now) {
                    n.engine.handle_timeout(now);
                }
            }
        }
        self.collect();
        true
    }

    /// Runs until `cond` holds or `limit` of simulated time passed. True if `cond` held.
    pub fn run_until(&mut self, limit: Duration, mut cond: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            self.collect();
            if cond(self) {
                return true;
            }
            match self.next_time() {
                Some(t) if t <= end => {
                    self.step();
                }
                _ => {
                    self.now = self.now.max(end);
                    return cond(self);
                }
            }
        }
    }

    /// Runs `d` of simulated time, calling `check` after every step.
    pub fn run_for(&mut self, d: Duration, mut check: impl FnMut(&Sim)) {
        let end = self.now + d;
        loop {
            self.collect();
            check(self);
            match self.next_time() {
                Some(t) if t <= end => {
                    self.step();
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
    }
}

/// Whether every outbound SA of `a` is installed inbound at `b` with the same keys and
/// transform, and the reverse.
pub fn pairs_match(a: &Node, b: &Node) -> bool {
    let check = |x: &Node, y: &Node| {
        x.outbound().all(|o| {
            y.installed
                .get(&(Direction::Inbound, o.spi))
                .is_some_and(|i| i.keys == o.keys && i.transform == o.transform && i.mode == o.mode)
        })
    };
    check(a, b) && check(b, a)
}

/// A usable pair: an outbound SA of `a` that `b` receives on, and one the other way.
pub fn usable(a: &Node, b: &Node) -> bool {
    let one = |x: &Node, y: &Node| {
        x.outbound().any(|o| {
            y.installed
                .get(&(Direction::Inbound, o.spi))
                .is_some_and(|i| i.keys == o.keys)
        })
    };
    one(a, b) && one(b, a)
}

/// Settings of a two-node scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub exchange_mode: &'static str,
    pub dh_group: &'static str,
    pub pfs_group: &'static str,
    pub tunnel: bool,
    pub nat_traversal: bool,
    pub ike_enc: &'static str,
    pub ike_hash: &'static str,
    pub esp_enc: &'static str,
    pub esp_auth: &'static str,
    pub p1_lifetime: &'static str,
    pub p2_lifetime: &'static str,
    pub proposal_check: &'static str,
    pub secret_a: &'static str,
    pub secret_b: &'static str,
    /// A's peer address for B (B's address, or the public address in front of B).
    pub b_seen_at: &'static str,
    /// B's peer prefix for A.
    pub a_prefix: &'static str,
    /// Where B sees A (its policy's sa-dst-address): A, or the NAT in front of A.
    pub a_seen_at: &'static str,
    pub passive_b: bool,
    pub extra_a: &'static str,
    pub extra_b: &'static str,
}

pub const A: &str = "198.18.0.1";
pub const B: &str = "198.18.0.2";

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            exchange_mode: "main",
            dh_group: "modp2048",
            pfs_group: "none",
            tunnel: true,
            nat_traversal: true,
            ike_enc: "aes-128",
            ike_hash: "sha256",
            esp_enc: "aes-128-cbc",
            esp_auth: "sha1",
            p1_lifetime: "1d",
            p2_lifetime: "30m",
            proposal_check: "claim",
            secret_a: "correct horse battery staple",
            secret_b: "correct horse battery staple",
            b_seen_at: B,
            a_prefix: "198.18.0.1/32",
            a_seen_at: A,
            passive_b: false,
            extra_a: "",
            extra_b: "",
        }
    }
}

impl Scenario {
    pub fn side_text(&self, initiator: bool) -> String {
        let s = self;
        let (name, peer_addr, local, secret, lsub, rsub, sa_src, sa_dst, extra, passive) =
            if initiator {
                (
                    "b",
                    format!("{}/32", s.b_seen_at),
                    A,
                    s.secret_a,
                    "10.1.0.0/16",
                    "10.2.0.0/16",
                    A,
                    s.b_seen_at,
                    s.extra_a,
                    false,
                )
            } else {
                (
                    "a",
                    s.a_prefix.to_string(),
                    B,
                    s.secret_b,
                    "10.2.0.0/16",
                    "10.1.0.0/16",
                    B,
                    s.a_seen_at,
                    s.extra_b,
                    s.passive_b,
                )
            };
        let (lsub, rsub) = if s.tunnel {
            (lsub.to_string(), rsub.to_string())
        } else {
            (format!("{sa_src}/32"), format!("{sa_dst}/32"))
        };
        format!(
            r#"
[[peer]]
name = "{name}"
address = "{peer_addr}"
local-address = "{local}"
secret = "{secret}"
exchange-mode = "{mode}"
dh-group = ["{dh}"]
enc-algorithm = ["{ike_enc}"]
hash-algorithm = ["{ike_hash}"]
nat-traversal = {nat}
lifetime = "{p1}"
proposal-check = "{check}"
passive = {passive}

[[proposal]]
name = "p"
enc-algorithms = ["{esp_enc}"]
auth-algorithms = ["{esp_auth}"]
pfs-group = "{pfs}"
lifetime = "{p2}"

[[policy]]
src-address = "{lsub}"
dst-address = "{rsub}"
tunnel = {tunnel}
sa-src-address = "{sa_src}"
sa-dst-address = "{sa_dst}"
proposal = "p"
{extra}
"#,
            mode = s.exchange_mode,
            dh = s.dh_group,
            ike_enc = s.ike_enc,
            ike_hash = s.ike_hash,
            nat = s.nat_traversal,
            p1 = s.p1_lifetime,
            check = s.proposal_check,
            esp_enc = s.esp_enc,
            esp_auth = s.esp_auth,
            pfs = s.pfs_group,
            p2 = s.p2_lifetime,
            tunnel = s.tunnel,
        )
    }

    pub fn config(&self, initiator: bool) -> Arc<Snapshot> {
        let text = self.side_text(initiator);
        match Config::from_toml_str(&text, if initiator { "a.toml" } else { "b.toml" }) {
            Ok(s) => Arc::new(s),
            Err(e) => panic!("config: {e:?}\n{text}"),
        }
    }

    /// A sim with A (initiator side, index 0) and B (index 1).
    pub fn sim(&self, seed: u64, options: EngineOptions) -> Sim {
        let mut sim = Sim::new(seed);
        sim.add("a", A, self.config(true), options.clone());
        sim.add("b", B, self.config(false), options);
        sim
    }
}

/// Both nodes have a matching pair installed.
pub fn established(sim: &Sim) -> bool {
    let (a, b) = (&sim.nodes[0], &sim.nodes[1]);
    a.installed.len() >= 2 && b.installed.len() >= 2 && usable(a, b)
}

// ---- RSA signatures with the test PKI (vectors/pki), shared by engine_rsa and engine_matrix.

/// 2030-01-01T00:00:00Z: inside every normal validity period of the test PKI.
pub const Y2030: i64 = 1_893_456_000;

/// The path of a file of the test PKI.
pub fn pki(file: &str) -> String {
    format!("{}/../vectors/pki/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// The contents of a file of the test PKI.
pub fn read(file: &str) -> Vec<u8> {
    std::fs::read(pki(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// One side's certificate material.
#[derive(Clone, Debug)]
pub struct Side {
    /// Certificate (PEM), then its key, then intermediates to send.
    pub cert: &'static str,
    pub key: &'static str,
    pub intermediates: &'static [&'static str],
    /// The CA this side trusts for its peer.
    pub ca: &'static str,
    /// A CRL this side applies.
    pub crl: Option<&'static str>,
    /// `my-id`, if not `auto` (the address).
    pub my_id: Option<&'static str>,
    /// Wall-clock time of this side at the start.
    pub wall: i64,
}

pub const MOON: Side = Side {
    cert: "moon.pem",
    key: "moon.key.pem",
    intermediates: &[],
    ca: "ca.pem",
    crl: Some("ca.crl.pem"),
    my_id: None,
    wall: Y2030,
};

pub const SUN: Side = Side {
    cert: "sun.pem",
    key: "sun.key.pem",
    intermediates: &["intermediate.pem"],
    ca: "ca.pem",
    crl: Some("ca.crl.pem"),
    my_id: None,
    wall: Y2030,
};

/// The scenario's configuration of one side, with `auth-method = rsa-signature`.
pub fn rsa_config(s: &Scenario, initiator: bool, side: &Side) -> Arc<Snapshot> {
    let text = s.side_text(initiator);
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("secret = ") {
            out.push_str(&format!(
                "auth-method = \"rsa-signature\"\ncertificate = \"{}\"\nca = \"{}\"\n",
                pki(side.cert),
                pki(side.ca)
            ));
            if let Some(id) = side.my_id {
                out.push_str(&format!("my-id = \"{id}\"\n"));
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    match Config::from_toml_str(&out, "rsa.toml") {
        Ok(c) => Arc::new(c),
        Err(e) => panic!("config: {e:?}\n{out}"),
    }
}

/// What the driver would build from the files the configuration names.
pub fn credentials(peer: &str, side: &Side) -> Credentials {
    let mut chain = read(side.cert);
    for i in side.intermediates {
        chain.extend(read(i));
    }
    let signer = LocalSigner::from_pem(&read(side.key), &chain).expect("signer");
    let mut verifier = PeerVerifier::new(TrustStore::from_pem(&read(side.ca)).expect("ca"));
    if let Some(crl) = side.crl {
        verifier = verifier.with_crls(&[&read(crl)]).expect("crl");
    }
    Credentials::new()
        .with_local(peer, signer)
        .with_verifier(peer, verifier)
}

/// A (index 0, 198.18.0.1) is `a`, B (index 1, 198.18.0.2) is `b`.
pub fn rsa_sim(s: &Scenario, a: &Side, b: &Side, seed: u64) -> Sim {
    rsa_sim_with(s, a, b, seed, EngineOptions::default())
}

/// [`rsa_sim`] with `options` on both nodes.
pub fn rsa_sim_with(s: &Scenario, a: &Side, b: &Side, seed: u64, options: EngineOptions) -> Sim {
    let mut sim = Sim::new(seed);
    sim.add("a", A, rsa_config(s, true, a), options.clone());
    sim.add("b", B, rsa_config(s, false, b), options);
    let now = sim.now;
    sim.nodes[0].engine.set_credentials(credentials("b", a));
    sim.nodes[1].engine.set_credentials(credentials("a", b));
    sim.nodes[0]
        .engine
        .set_wall_clock(now, UnixTime::from_secs(a.wall));
    sim.nodes[1]
        .engine
        .set_wall_clock(now, UnixTime::from_secs(b.wall));
    sim
}

/// Node `initiator` starts phase 1 with the other node.
pub fn start(sim: &mut Sim, initiator: usize) {
    let now = sim.now;
    let peer = if initiator == 0 { "b" } else { "a" };
    sim.nodes[initiator]
        .engine
        .initiate(now, peer)
        .expect("initiate");
}
