//! The validated, immutable configuration that the engine reads.
//!
//! A [`Snapshot`] is built only by validation
//! ([`Config::from_toml_str`](super::Config::from_toml_str) or
//! [`Config::validate`](super::Config::validate)), so every reference in it resolves and every
//! object is consistent. It has no setters: a reload builds a new snapshot and the
//! running one stays in force until the new one is complete.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::crypto::Secret;

use super::error::Warning;
use super::value::{
    AddrRange, AuthMethod, Dataplane, DhGroup, EspAuth, EspEncryption, ExchangeMode,
    GeneratePolicy, Identity, IkeEncryption, IkeHash, IpPrefix, IpProtocol, IpsecProtocol,
    LogLevel, ModeConfigRef, MyId, PolicyAction, PolicyLevel, PortSpec, ProposalCheck, RemoteId,
};

/// A validated configuration.
#[derive(Debug)]
pub struct Snapshot {
    pub(crate) file: String,
    pub(crate) peers: Vec<Peer>,
    pub(crate) proposals: Vec<Proposal>,
    pub(crate) policies: Vec<Policy>,
    /// Indices into `policies` of the enabled non-template policies, highest priority first
    /// (file order among equals).
    pub(crate) installed: Vec<usize>,
    pub(crate) policy_groups: Vec<PolicyGroup>,
    pub(crate) mode_configs: Vec<ModeConfig>,
    pub(crate) users: Vec<User>,
    /// User name → index in `users`, built by the first [`Snapshot::user`].
    pub(crate) user_index: std::sync::OnceLock<std::collections::HashMap<String, usize>>,
    pub(crate) ip_pools: Vec<IpPool>,
    pub(crate) radius: Vec<RadiusServer>,
    pub(crate) daemon: Daemon,
    pub(crate) warnings: Vec<Warning>,
}

impl Snapshot {
    /// The file name it was read from (as given to the parser).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Accepted settings that deserve attention (weak algorithms, aggressive mode with a
    /// pre-shared key, settings without effect), in file order. The daemon logs them.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Every peer, disabled ones included, in file order.
    pub fn peers(&self) -> &[Peer] {
        &self.peers
    }

    /// The peer called `name`.
    pub fn peer(&self, name: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.name == name)
    }

    /// The peers a responder may use for a phase 1 from `remote` in `exchange_mode`, in the
    /// manual's selection order.
    ///
    /// 1. Address: among the enabled peers whose `address` contains `remote`, only those with
    ///    the most specific (longest) prefix remain. A more specific peer claims its addresses
    ///    even when it does not allow the initiator's mode: there is no fallback to a wider
    ///    prefix.
    /// 2. Exchange mode: of those, the peers whose `exchange-mode` is the initiator's
    ///    (`main` and `main-l2tp` are the same here, as the manual says).
    /// 3. ID: the result is in file order; [`Snapshot::select_peer`] narrows it by the
    ///    initiator's ID once known (aggressive mode: message 1; main mode: message 5).
    ///
    /// IPv4-mapped IPv6 addresses count as IPv4. The local address is not considered; see
    /// [`Snapshot::peer_for_local`].
    pub fn peer_for(&self, remote: IpAddr, exchange_mode: ExchangeMode) -> Vec<&Peer> {
        self.candidates(None, remote, exchange_mode)
    }

    /// As [`Snapshot::peer_for`], also skipping peers whose `local-address` is set to an
    /// address other than `local` (the address the datagram arrived on).
    pub fn peer_for_local(
        &self,
        local: IpAddr,
        remote: IpAddr,
        exchange_mode: ExchangeMode,
    ) -> Vec<&Peer> {
        self.candidates(Some(local), remote, exchange_mode)
    }

    fn candidates(&self, local: Option<IpAddr>, remote: IpAddr, mode: ExchangeMode) -> Vec<&Peer> {
        let matching = || {
            self.peers.iter().filter(move |p| {
                !p.disabled
                    && p.address.contains(remote)
                    && match (local, p.local_address) {
                        (Some(local), Some(mine)) => local.to_canonical() == mine.to_canonical(),
                        _ => true,
                    }
            })
        };
        let Some(best) = matching().map(|p| p.address.prefix_len()).max() else {
            return Vec::new();
        };
        matching()
            .filter(|p| p.address.prefix_len() == best && p.exchange_mode.same_class(mode))
            .collect()
    }

    /// The peer for a phase 1 from `remote` in `exchange_mode` whose initiator sent `id`:
    /// among [`Snapshot::peer_for`]'s candidates (or [`Snapshot::peer_for_local`]'s when
    /// `local` is given), the first whose `remote-id` names `id`, else the first whose
    /// `remote-id` is `auto` or `ignore`.
    pub fn select_peer(
        &self,
        local: Option<IpAddr>,
        remote: IpAddr,
        exchange_mode: ExchangeMode,
        id: &Identity,
    ) -> Option<&Peer> {
        let candidates = self.candidates(local, remote, exchange_mode);
        candidates
            .iter()
            .find(|p| matches!(&p.remote_id, RemoteId::Id(want) if want.matches(id)))
            .or_else(|| {
                candidates
                    .iter()
                    .find(|p| matches!(p.remote_id, RemoteId::Auto | RemoteId::Ignore))
            })
            .copied()
    }

    /// The peer to initiate phase 1 with for traffic to `remote` (a policy's
    /// `sa-dst-address`): the enabled peer with the most specific `address` containing it
    /// (the first in file order among equals), unless that peer is passive.
    pub fn initiator_peer(&self, remote: IpAddr) -> Option<&Peer> {
        let mut best: Option<&Peer> = None;
        for p in self
            .peers
            .iter()
            .filter(|p| !p.disabled && p.address.contains(remote))
        {
            if best.is_none_or(|b| p.address.prefix_len() > b.address.prefix_len()) {
                best = Some(p);
            }
        }
        best.filter(|p| !p.passive)
    }

    /// Every proposal, the built-in `default` included, in file order (`default` first when
    /// it is not written).
    pub fn proposals(&self) -> &[Proposal] {
        &self.proposals
    }

    /// The proposal called `name`.
    pub fn proposal(&self, name: &str) -> Option<&Proposal> {
        self.proposals.iter().find(|p| p.name == name)
    }

    /// The enabled policies that are not templates, in the order they are matched: highest
    /// `priority` first, file order among equals. These are what the daemon installs.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> + '_ {
        self.installed.iter().map(|&i| &self.policies[i])
    }

    /// Every `[[policy]]`, templates and disabled ones included, in file order.
    pub fn all_policies(&self) -> &[Policy] {
        &self.policies
    }

    /// The enabled templates of policy group `group`, in file order.
    pub fn templates_of<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a Policy> + 'a {
        self.policies
            .iter()
            .filter(move |p| p.template && !p.disabled && p.group == group)
    }

    /// Every policy group, the built-in `default` included.
    pub fn policy_groups(&self) -> &[PolicyGroup] {
        &self.policy_groups
    }

    /// The policy group called `name`.
    pub fn policy_group(&self, name: &str) -> Option<&PolicyGroup> {
        self.policy_groups.iter().find(|g| g.name == name)
    }

    /// Every mode-config.
    pub fn mode_configs(&self) -> &[ModeConfig] {
        &self.mode_configs
    }

    /// The mode-config called `name`.
    pub fn mode_config(&self, name: &str) -> Option<&ModeConfig> {
        self.mode_configs.iter().find(|m| m.name == name)
    }

    /// Every XAuth user.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// The XAuth user called `name`.
    pub fn user(&self, name: &str) -> Option<&User> {
        // Indexed on first use: a concentrator may have 100,000 users, and a linear search
        // per XAuth login was a visible part of its set-up time.
        let index = self.user_index.get_or_init(|| {
            let mut m = std::collections::HashMap::with_capacity(self.users.len());
            for (i, u) in self.users.iter().enumerate() {
                m.entry(u.name.clone()).or_insert(i);
            }
            m
        });
        index.get(name).and_then(|&i| self.users.get(i))
    }

    /// The enabled RADIUS servers, in file order (failover order).
    pub fn radius(&self) -> &[RadiusServer] {
        &self.radius
    }

    /// Whether XAuth users of the peer called `peer` are checked with RADIUS.
    pub fn radius_for(&self, peer: &str) -> bool {
        self.radius
            .iter()
            .any(|r| r.authentication_port != 0 && r.serves(peer))
    }

    /// Every address pool.
    pub fn ip_pools(&self) -> &[IpPool] {
        &self.ip_pools
    }

    /// The address pool called `name`.
    pub fn ip_pool(&self, name: &str) -> Option<&IpPool> {
        self.ip_pools.iter().find(|p| p.name == name)
    }

    /// The `[daemon]` settings.
    pub fn daemon(&self) -> &Daemon {
        &self.daemon
    }
}

/// A validated `[[peer]]`. The authentication fields that its `auth_method` needs are
/// present: `secret` for the pre-shared-key methods, `certificate` and `ca` or
/// `remote_certificate` where the method signs or verifies, `xauth` for an XAuth client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Unique name.
    pub name: String,
    /// Free text.
    pub comment: Option<String>,
    /// Never selected when set.
    pub disabled: bool,
    /// Remote addresses this peer applies to.
    pub address: IpPrefix,
    /// Remote IKE port.
    pub port: u16,
    /// Local address to use and accept on, if restricted.
    pub local_address: Option<IpAddr>,
    /// Phase 1 exchange mode.
    pub exchange_mode: ExchangeMode,
    /// Phase 1 authentication method.
    pub auth_method: AuthMethod,
    /// The pre-shared key (decoded from `0x` hex when so written); `Some` exactly for the
    /// pre-shared-key methods.
    pub secret: Option<Secret>,
    /// Our certificate and key file.
    pub certificate: Option<PathBuf>,
    /// The peer's certificate file.
    pub remote_certificate: Option<PathBuf>,
    /// The CA certificate file.
    pub ca: Option<PathBuf>,
    /// The CRL files applied to the peer's certificate chain (`crl`); empty where this side
    /// does not verify a certificate.
    pub crl: Vec<PathBuf>,
    /// The identity we send.
    pub my_id: MyId,
    /// The identity we expect.
    pub remote_id: RemoteId,
    /// Diffie-Hellman groups, our preference first.
    pub dh_groups: Vec<DhGroup>,
    /// Phase 1 ciphers, our preference first.
    pub enc_algorithms: Vec<IkeEncryption>,
    /// Phase 1 hashes, our preference first.
    pub hash_algorithms: Vec<IkeHash>,
    /// Phase 1 lifetime (more than zero).
    pub lifetime: Duration,
    /// Phase 1 byte limit, if any.
    pub lifebytes: Option<u64>,
    /// Dead peer detection, if enabled.
    pub dpd: Option<Dpd>,
    /// NAT traversal.
    pub nat_traversal: bool,
    /// Respond only; XAuth server.
    pub passive: bool,
    /// Initiate at daemon start (our extension, `auto-start`).
    pub auto_start: bool,
    /// Send INITIAL-CONTACT.
    pub send_initial_contact: bool,
    /// Whether and how this peer may generate policies.
    pub generate_policy: GeneratePolicy,
    /// The group whose templates bound generated policies (it has at least one enabled
    /// template when `generate_policy` is not `No`).
    pub policy_group: Option<String>,
    /// Phase 2 lifetime check as responder.
    pub proposal_check: ProposalCheck,
    /// Mode-config (a `Named` one exists).
    pub mode_config: ModeConfigRef,
    /// Our XAuth credentials when we are the XAuth client.
    pub xauth: Option<XauthCredentials>,
    /// ESP with HMAC-SHA2-256 uses 96-bit ICVs with this peer (Android quirk).
    pub sha256_96: bool,
}

impl Peer {
    /// Whether a received identity is acceptable under `remote-id`.
    pub fn accepts_id(&self, id: &Identity) -> bool {
        match &self.remote_id {
            RemoteId::Auto | RemoteId::Ignore => true,
            RemoteId::Id(want) => want.matches(id),
        }
    }

    /// Whether this peer runs XAuth, and as server (`passive`) or client.
    pub fn xauth_role(&self) -> Option<XauthRole> {
        self.auth_method.uses_xauth().then_some(if self.passive {
            XauthRole::Server
        } else {
            XauthRole::Client
        })
    }

    /// The phase 1 transforms we propose or accept: every combination of cipher, hash and
    /// group, in our order of preference (cipher first, then hash, then group).
    pub fn phase1_transforms(&self) -> Vec<Phase1Transform> {
        let mut out = Vec::new();
        for &enc in &self.enc_algorithms {
            for &hash in &self.hash_algorithms {
                for &group in &self.dh_groups {
                    out.push(Phase1Transform { enc, hash, group });
                }
            }
        }
        out
    }
}

/// One phase 1 transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Phase1Transform {
    /// Cipher.
    pub enc: IkeEncryption,
    /// Hash and PRF.
    pub hash: IkeHash,
    /// Diffie-Hellman group.
    pub group: DhGroup,
}

/// Which side of XAuth we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XauthRole {
    /// We ask for user names and passwords (`passive = true`).
    Server,
    /// We answer with `xauth-login` and `xauth-password`.
    Client,
}

/// Dead peer detection settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dpd {
    /// Silence before a probe (more than zero).
    pub interval: Duration,
    /// Unanswered probes before the peer is dead (1..100).
    pub maximum_failures: u32,
}

/// XAuth client credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XauthCredentials {
    /// User name.
    pub login: String,
    /// Password.
    pub password: Secret,
}

/// A validated `[[proposal]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Unique name.
    pub name: String,
    /// Free text.
    pub comment: Option<String>,
    /// Not usable by enabled policies when set.
    pub disabled: bool,
    /// Integrity algorithms (ignored for AEAD ciphers).
    pub auth_algorithms: Vec<EspAuth>,
    /// Ciphers.
    pub enc_algorithms: Vec<EspEncryption>,
    /// SA lifetime (more than zero).
    pub lifetime: Duration,
    /// SA byte limit, if any.
    pub lifebytes: Option<u64>,
    /// PFS group, if any.
    pub pfs_group: Option<DhGroup>,
}

impl Proposal {
    /// The ESP transforms offered, in preference order: each cipher with each integrity
    /// algorithm, except that AEAD ciphers appear once and without one (RFC 4106 §8.4), and
    /// `null` integrity is `None`.
    pub fn transforms(&self) -> Vec<EspTransform> {
        let mut out = Vec::new();
        for &enc in &self.enc_algorithms {
            if enc.is_aead() {
                out.push(EspTransform { enc, auth: None });
                continue;
            }
            for &auth in &self.auth_algorithms {
                let auth = (auth != EspAuth::Null).then_some(auth);
                out.push(EspTransform { enc, auth });
            }
        }
        out
    }
}

/// One ESP transform of a proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EspTransform {
    /// Cipher.
    pub enc: EspEncryption,
    /// Integrity algorithm; `None` for AEAD ciphers and for `null`.
    pub auth: Option<EspAuth>,
}

/// A validated `[[policy]]` or template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Position among the `[[policy]]` tables of the file, from 0 (`policy #1` is 0).
    pub index: usize,
    /// Free text.
    pub comment: Option<String>,
    /// Matches nothing when set.
    pub disabled: bool,
    /// Source selector.
    pub src_address: IpPrefix,
    /// Destination selector.
    pub dst_address: IpPrefix,
    /// Source port selector (only with a protocol that has ports).
    pub src_port: PortSpec,
    /// Destination port selector.
    pub dst_port: PortSpec,
    /// Protocol selector.
    pub protocol: IpProtocol,
    /// What to do with matching packets.
    pub action: PolicyAction,
    /// What to do without an SA.
    pub level: PolicyLevel,
    /// ESP or AH.
    pub ipsec_protocols: IpsecProtocol,
    /// Tunnel (`true`) or transport mode.
    pub tunnel: bool,
    /// Our SA address: in transport mode the `src-address` host when not written; in tunnel
    /// mode `None` means the address the route to the peer leaves from.
    pub sa_src_address: Option<IpAddr>,
    /// The peer's SA address: set for every enabled non-template `encrypt` policy (in
    /// transport mode, the `dst-address` host when not written).
    pub sa_dst_address: Option<IpAddr>,
    /// Proposal name (it exists).
    pub proposal: String,
    /// Larger first.
    pub priority: i32,
    /// A template of `group` rather than a policy.
    pub template: bool,
    /// The group of a template (`default` when not written).
    pub group: String,
}

impl Policy {
    /// Whether `other` is the same policy in another configuration: the same traffic to the
    /// same SA endpoints, wherever it stands in the file and whatever its proposal, level or
    /// priority. A reload renumbers policies (their index is the position); this is what
    /// follows one across it.
    pub fn same_as(&self, other: &Policy) -> bool {
        (
            self.src_address,
            self.dst_address,
            self.src_port,
            self.dst_port,
            self.protocol,
            self.tunnel,
            self.sa_src_address,
            self.sa_dst_address,
            self.template,
        ) == (
            other.src_address,
            other.dst_address,
            other.src_port,
            other.dst_port,
            other.protocol,
            other.tunnel,
            other.sa_src_address,
            other.sa_dst_address,
            other.template,
        )
    }

    /// Whether this template admits a policy that a peer asks for, given in the template's
    /// direction (`src` on our side): both prefixes must lie inside the template's, the
    /// protocol must be the template's unless it is `all`, and so must the ports unless they
    /// are `any` (the engine ignores ports for `generate-policy = port-override`).
    pub fn admits(
        &self,
        src: &IpPrefix,
        dst: &IpPrefix,
        protocol: IpProtocol,
        src_port: PortSpec,
        dst_port: PortSpec,
    ) -> bool {
        let port_ok = |mine: PortSpec, theirs: PortSpec| mine == PortSpec::Any || mine == theirs;
        self.src_address.covers(src)
            && self.dst_address.covers(dst)
            && (self.protocol == IpProtocol::All || self.protocol == protocol)
            && port_ok(self.src_port, src_port)
            && port_ok(self.dst_port, dst_port)
    }
}

/// A policy group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyGroup {
    /// Unique name.
    pub name: String,
    /// Free text.
    pub comment: Option<String>,
}

/// DNS servers that a mode-config responder sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsServers {
    /// None (`send-dns = false`, or no system DNS and no `static-dns`).
    None,
    /// The host's own resolvers (`system-dns`).
    System,
    /// These (`static-dns`).
    Static(Vec<IpAddr>),
}

/// A validated `[[mode-config]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModeConfig {
    /// Unique name.
    pub name: String,
    /// Free text.
    pub comment: Option<String>,
    /// The pool to assign from (it exists).
    pub address_pool: Option<String>,
    /// Prefix length sent with the address.
    pub address_prefix_length: u8,
    /// Networks the client should tunnel (IPv4); empty for everything.
    pub split_include: Vec<IpPrefix>,
    /// DNS servers to send.
    pub dns: DnsServers,
    /// A responder's (hand out) or an initiator's (request) configuration.
    pub responder: bool,
    /// Networks the client reaches directly (Cisco Unity local LAN, IPv4).
    pub local_lan: Vec<IpPrefix>,
    /// Default DNS domain (Cisco Unity).
    pub default_domain: Option<String>,
    /// Split-DNS domains (Cisco Unity).
    pub split_dns: Vec<String>,
    /// Login banner (Cisco Unity).
    pub banner: Option<String>,
    /// The client may save the XAuth password (Cisco Unity).
    pub save_password: bool,
    /// Push the configuration after XAuth as well as answering requests.
    pub push: bool,
}

/// A validated XAuth `[[user]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Unique user name.
    pub name: String,
    /// Free text.
    pub comment: Option<String>,
    /// Password (not empty).
    pub password: Secret,
    /// Address assigned to this user, if fixed.
    pub address: Option<IpAddr>,
    /// Networks behind the user's client, which its quick modes may name.
    pub routes: Vec<IpPrefix>,
}

/// A validated, enabled `[[radius]]` server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RadiusServer {
    /// Free text.
    pub comment: Option<String>,
    /// Address.
    pub address: IpAddr,
    /// Shared secret (not empty).
    pub secret: Secret,
    /// Access-Request port, 0 for none.
    pub authentication_port: u16,
    /// Accounting port, 0 for none.
    pub accounting_port: u16,
    /// Wait for an answer this long before sending again.
    pub timeout: Duration,
    /// Retransmissions before the next server.
    pub retries: u32,
    /// The peers it serves; empty for all.
    pub peers: Vec<String>,
    /// Takes Disconnect/CoA requests from it.
    pub incoming: bool,
}

impl RadiusServer {
    /// Whether it serves the peer called `peer`.
    pub fn serves(&self, peer: &str) -> bool {
        self.peers.is_empty() || self.peers.iter().any(|p| p == peer)
    }
}

/// A validated `[[ip-pool]]`: ranges that overlap no other range of any pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpPool {
    /// Unique name.
    pub name: String,
    /// Free text.
    pub comment: Option<String>,
    /// Address ranges, at least one.
    pub ranges: Vec<AddrRange>,
}

impl IpPool {
    /// Whether `addr` belongs to the pool.
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.ranges.iter().any(|r| r.contains(addr))
    }
}

/// The validated `[daemon]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Daemon {
    /// Addresses to listen on.
    pub listen: Vec<IpAddr>,
    /// IKE port.
    pub port: u16,
    /// NAT-T port.
    pub nat_t_port: u16,
    /// Control socket path.
    pub control_socket: PathBuf,
    /// ESP dataplane.
    pub dataplane: Dataplane,
    /// Log verbosity.
    pub log_level: LogLevel,
    /// Anti-replay window of inbound SAs (packets, 0..=4096).
    pub replay_window: u32,
    /// IKE messages longer than this go in fragments (bytes).
    pub fragment_size: usize,
    /// Userspace dataplane: the addresses under which transport-mode clients behind a NAT
    /// appear locally, one each (see `raw::Daemon::transport_nat_aliases`).
    pub transport_nat_aliases: Option<IpPrefix>,
    /// RADIUS NAS-Identifier.
    pub nas_identifier: String,
    /// RADIUS Interim-Update interval; zero for none.
    pub radius_interim_update: Duration,
    /// RFC 5176 port, when some server has `incoming`.
    pub radius_incoming_port: u16,
    /// How long a silent RADIUS server is skipped.
    pub radius_hold_down: Duration,
    /// Replies without Message-Authenticator are dropped.
    pub radius_require_message_authenticator: bool,
    /// Accounting records kept while no server answers.
    pub radius_accounting_buffer: usize,
}
