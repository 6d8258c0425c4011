//! The file as written: one serde struct per `[[table]]`, with the manual's property names
//! (kebab-case) and defaults.
//!
//! These structs only check types and spellings; cross-references and meaning are checked
//! when a [`Config`] becomes a [`Snapshot`](super::Snapshot). Unknown keys are refused
//! (`deny_unknown_fields`), so a misspelt property is an error rather than a silent default.
//!
//! Where we depart from a manual default because it is unsafe, the field's doc comment says
//! so and why. Defaults that the manual leaves blank are also described on the field.

use serde::{Deserialize, Serialize};

use super::value::{
    AddrRange, Address, AuthMethod, ClientProfile, Dataplane, DhGroup, DpdInterval, EspAuth,
    EspEncryption, ExchangeMode, GeneratePolicy, IkeEncryption, IkeHash, IpPrefix, IpProtocol,
    IpsecProtocol, LogLevel, ModeConfigRef, MyId, PfsGroup, PolicyAction, PolicyLevel, PortSpec,
    ProposalCheck, RemoteId, SecretText, Time, one_or_many,
};

/// A whole configuration file: arrays of tables `[[peer]]`, `[[proposal]]`, `[[policy]]`,
/// `[[policy-group]]`, `[[mode-config]]`, `[[user]]`, `[[ip-pool]]` and a `[daemon]` table.
///
/// Two objects exist without being written, as in the manual: the proposal `default` and the
/// policy group `default`. Writing `[[proposal]] name = "default"` replaces the built-in one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// `[[peer]]`: phase 1 settings per remote peer (address prefix).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peer: Vec<Peer>,
    /// `[[proposal]]`: phase 2 algorithm sets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proposal: Vec<Proposal>,
    /// `[[policy]]`: traffic selectors and what to do with them; templates with
    /// `template = true`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy: Vec<Policy>,
    /// `[[policy-group]]`: named sets of policy templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_group: Vec<PolicyGroup>,
    /// `[[mode-config]]`: address and DNS settings pushed to (or requested from) a peer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mode_config: Vec<ModeConfig>,
    /// `[[user]]`: XAuth users.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user: Vec<User>,
    /// `[[ip-pool]]`: address pools for mode-config.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_pool: Vec<IpPool>,
    /// `[[radius]]`: RADIUS servers for XAuth, accounting and dynamic authorization.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub radius: Vec<Radius>,
    /// `[daemon]`: sockets, control socket, dataplane and logging of `iked`.
    #[serde(default)]
    pub daemon: Daemon,
}

/// `[[peer]]` (`/ip ipsec peer`): how to run phase 1 with peers whose address is in
/// `address`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Peer {
    /// Unique name, used by `iked up NAME` and in messages. Required (the manual's peers are
    /// anonymous; ours need a name to be referred to).
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// A disabled peer is never selected. Default `false`.
    #[serde(default)]
    pub disabled: bool,
    /// Remote addresses this peer applies to; the most specific prefix wins. Default
    /// `0.0.0.0/0` (any IPv4 peer), as in the manual's road-warrior examples.
    #[serde(default = "default_peer_address")]
    pub address: IpPrefix,
    /// Remote IKE port. Default 500.
    #[serde(default = "default_ike_port")]
    pub port: u16,
    /// Local address to use and to accept on; any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_address: Option<Address>,
    /// `main` (default), `aggressive`, `main-l2tp` (alias `l2tp-main`). `base` is refused.
    #[serde(default = "default_exchange_mode")]
    pub exchange_mode: ExchangeMode,
    /// Default `pre-shared-key`.
    #[serde(default = "default_auth_method")]
    pub auth_method: AuthMethod,
    /// Pre-shared key; `0x` followed by hex digits means those bytes. Required by the
    /// pre-shared-key methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretText>,
    /// Our certificate and private key (a file path, PEM or DER), for `rsa-signature`, and for
    /// the responder of `rsa-signature-hybrid`. `none` is the same as absent. Relative paths
    /// are relative to the configuration file (the daemon resolves them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// The peer's certificate (file path); when absent the peer's received certificate is
    /// checked against `ca`. `none` is the same as absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_certificate: Option<String>,
    /// CA certificate (file path) that the peer's certificate must chain to. `none` is the
    /// same as absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// Certificate revocation lists (file paths, PEM with `X509 CRL` blocks or DER) that the
    /// peer's certificate chain is checked against, in addition to `ca`: a certificate listed
    /// in one of them is refused. Empty (the default) checks no CRL; `none` entries are
    /// ignored. Relative paths are relative to the configuration file (the daemon resolves
    /// them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crl: Vec<String>,
    /// The identity we send: `auto` (default: our address), `address:IP`, `fqdn:NAME`,
    /// `user-fqdn:NAME`, `key-id:NAME`.
    #[serde(default)]
    pub my_id: MyId,
    /// The identity we expect of the peer (alias `peer-id`): `auto` (default), `ignore`, or
    /// an identity as in `my-id`.
    #[serde(default, alias = "peer-id")]
    pub remote_id: RemoteId,
    /// Phase 1 Diffie-Hellman groups, in our order of preference.
    ///
    /// Default `modp2048`. The manual's default, `modp1024`, is unsafe: 1024-bit MODP groups
    /// are within reach of precomputation (Logjam), and the house rule is that weak algorithms
    /// are used only where the configuration names them.
    #[serde(default = "default_dh_groups", deserialize_with = "one_or_many")]
    pub dh_group: Vec<DhGroup>,
    /// Phase 1 ciphers, in our order of preference. Default `aes-128`.
    #[serde(default = "default_ike_encryption", deserialize_with = "one_or_many")]
    pub enc_algorithm: Vec<IkeEncryption>,
    /// Phase 1 hashes (and PRFs), in our order of preference. Default `sha1`.
    #[serde(default = "default_ike_hash", deserialize_with = "one_or_many")]
    pub hash_algorithm: Vec<IkeHash>,
    /// Phase 1 lifetime. Default `1d`.
    #[serde(default = "default_phase1_lifetime")]
    pub lifetime: Time,
    /// Phase 1 lifetime in bytes, 0 for none. Default 0.
    #[serde(default)]
    pub lifebytes: u64,
    /// Dead peer detection interval, or `disable-dpd`. Default `2m`.
    #[serde(default = "default_dpd_interval")]
    pub dpd_interval: DpdInterval,
    /// Unanswered DPD probes before the peer is declared dead, 1..100. Default 5.
    #[serde(default = "default_dpd_maximum_failures")]
    pub dpd_maximum_failures: u32,
    /// NAT traversal (RFC 3947, ESP in UDP). Default `false`.
    #[serde(default)]
    pub nat_traversal: bool,
    /// Only respond, never initiate; also makes us the XAuth server. Default `false`.
    #[serde(default)]
    pub passive: bool,
    /// Not in the manual (whose peers come up on demand only): bring this peer's phase 1 and
    /// the quick modes of its policies up when the daemon starts, and when a reload adds it,
    /// like strongSwan's `start_action = start`. Needs a single-host `address` and
    /// `passive = false`. Default `false`.
    #[serde(default)]
    pub auto_start: bool,
    /// Send INITIAL-CONTACT after phase 1 so that the peer drops our older SAs. Default
    /// `true`.
    #[serde(default = "yes")]
    pub send_initial_contact: bool,
    /// `no` (default), `port-override`, `port-strict`.
    #[serde(default = "default_generate_policy")]
    pub generate_policy: GeneratePolicy,
    /// Group whose templates bound the policies this peer may generate; `none` for no group.
    /// Alias `policy-template-group` (the later name of the same property).
    ///
    /// Default `default` (the manual leaves it blank; the policy's `group` default is
    /// `default`, so templates and peers meet there). Unlike the reference product, no group
    /// has a built-in catch-all template: a peer that generates policies gets only what its
    /// group's templates allow, and generate-policy without a template is an error.
    #[serde(default = "default_group", alias = "policy-template-group")]
    pub policy_group: String,
    /// Phase 2 lifetime check as responder: `obey`, `claim`, `strict`, `exact`.
    ///
    /// Default `claim`. The manual's default, `obey`, lets an initiator impose any lifetime,
    /// however long (keys in use for days or without a byte limit); `claim` keeps ours as the
    /// upper bound, accepts shorter ones, and tells the initiator (RESPONDER-LIFETIME), so it
    /// still interoperates.
    #[serde(default = "default_proposal_check")]
    pub proposal_check: ProposalCheck,
    /// `none` (default), `request-only`, or the name of a `[[mode-config]]`.
    #[serde(default)]
    pub mode_config: ModeConfigRef,
    /// XAuth user name when we are the XAuth client (`passive = false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xauth_login: Option<String>,
    /// XAuth password when we are the XAuth client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xauth_password: Option<SecretText>,
    /// Not in the manual: `ios`, `android` or `windows-l2tp` fills in the phase-1 terms
    /// that client sends for every key not written here (`config::profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ClientProfile>,
    /// Not in the manual: the peer computes HMAC-SHA2-256 for ESP truncated to 96 bits
    /// instead of 128 (Linux before 2.6.33 and the Android releases built on it; strongSwan's
    /// `sha256_96`, libreswan's `sha2-truncbug`). Default `false`.
    #[serde(default, rename = "sha256-96")]
    pub sha256_96: bool,
}

impl Peer {
    /// A peer with every default, as `[[peer]] name = "..."` gives.
    pub fn new(name: impl Into<String>) -> Self {
        Peer {
            name: name.into(),
            comment: None,
            disabled: false,
            address: default_peer_address(),
            port: default_ike_port(),
            local_address: None,
            exchange_mode: default_exchange_mode(),
            auth_method: default_auth_method(),
            secret: None,
            certificate: None,
            remote_certificate: None,
            ca: None,
            crl: Vec::new(),
            my_id: MyId::Auto,
            remote_id: RemoteId::Auto,
            dh_group: default_dh_groups(),
            enc_algorithm: default_ike_encryption(),
            hash_algorithm: default_ike_hash(),
            lifetime: default_phase1_lifetime(),
            lifebytes: 0,
            dpd_interval: default_dpd_interval(),
            dpd_maximum_failures: default_dpd_maximum_failures(),
            nat_traversal: false,
            passive: false,
            auto_start: false,
            send_initial_contact: true,
            generate_policy: default_generate_policy(),
            policy_group: default_group(),
            proposal_check: default_proposal_check(),
            mode_config: ModeConfigRef::None,
            xauth_login: None,
            xauth_password: None,
            profile: None,
            sha256_96: false,
        }
    }
}

/// `[[proposal]]` (`/ip ipsec proposal`): the algorithms offered and accepted in quick mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Proposal {
    /// Unique name, referred to by policies. `default` replaces the built-in proposal.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// A disabled proposal cannot be used by an enabled policy. Default `false`.
    #[serde(default)]
    pub disabled: bool,
    /// ESP integrity algorithms. Default `sha1`. Not used with AES-GCM.
    #[serde(default = "default_esp_auth", deserialize_with = "one_or_many")]
    pub auth_algorithms: Vec<EspAuth>,
    /// ESP ciphers. Default `aes-128-cbc`.
    #[serde(default = "default_esp_encryption", deserialize_with = "one_or_many")]
    pub enc_algorithms: Vec<EspEncryption>,
    /// SA lifetime. Default `30m`.
    #[serde(default = "default_phase2_lifetime")]
    pub lifetime: Time,
    /// SA lifetime in bytes, 0 for none. Default 0.
    #[serde(default)]
    pub lifebytes: u64,
    /// Perfect forward secrecy group, or `none`.
    ///
    /// Default `modp2048`. The manual's default, `modp1024`, is unsafe (see the peer's
    /// `dh-group`).
    #[serde(default = "default_pfs_group")]
    pub pfs_group: PfsGroup,
}

impl Proposal {
    /// A proposal with every default; `Proposal::new("default")` is the built-in one.
    pub fn new(name: impl Into<String>) -> Self {
        Proposal {
            name: name.into(),
            comment: None,
            disabled: false,
            auth_algorithms: default_esp_auth(),
            enc_algorithms: default_esp_encryption(),
            lifetime: default_phase2_lifetime(),
            lifebytes: 0,
            pfs_group: default_pfs_group(),
        }
    }
}

/// `[[policy]]` (`/ip ipsec policy`): which traffic to protect, and how; with
/// `template = true`, a template bounding the policies that peers may generate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Policy {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// A disabled policy matches nothing. Default `false`.
    #[serde(default)]
    pub disabled: bool,
    /// Source prefix. Required: the manual shows no usable default, and a catch-all selector
    /// written by omission would be unsafe.
    pub src_address: IpPrefix,
    /// Destination prefix. Required, like `src-address`.
    pub dst_address: IpPrefix,
    /// `any` (default) or a port.
    #[serde(default)]
    pub src_port: PortSpec,
    /// `any` (default) or a port.
    #[serde(default)]
    pub dst_port: PortSpec,
    /// `all` (default), a protocol name, or a number.
    #[serde(default)]
    pub protocol: IpProtocol,
    /// `encrypt` (default), `discard`, `none`.
    #[serde(default = "default_action")]
    pub action: PolicyAction,
    /// `require` (default), `use`, `unique`.
    #[serde(default = "default_level")]
    pub level: PolicyLevel,
    /// `esp` (default) or `ah`.
    #[serde(default = "default_ipsec_protocol")]
    pub ipsec_protocols: IpsecProtocol,
    /// Tunnel mode (`true`) or transport mode (`false`, default).
    #[serde(default)]
    pub tunnel: bool,
    /// Outer source address (our end). The manual's default `::` means unset, as does
    /// `0.0.0.0`; in transport mode it is the `src-address` host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sa_src_address: Option<Address>,
    /// Outer destination address (the peer). Unset by default (`::`); in transport mode it is
    /// the `dst-address` host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sa_dst_address: Option<Address>,
    /// Proposal used for this policy's SAs. Default `default`.
    #[serde(default = "default_proposal_name")]
    pub proposal: String,
    /// Larger is matched first, -2147483646..2147483647. Default 0.
    #[serde(default)]
    pub priority: i32,
    /// Whether this is a template of `group` rather than a policy. Default `false`.
    #[serde(default)]
    pub template: bool,
    /// The policy group of a template. Default `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl Policy {
    /// A policy between two prefixes with every other property at its default.
    pub fn new(src_address: IpPrefix, dst_address: IpPrefix) -> Self {
        Policy {
            comment: None,
            disabled: false,
            src_address,
            dst_address,
            src_port: PortSpec::Any,
            dst_port: PortSpec::Any,
            protocol: IpProtocol::All,
            action: default_action(),
            level: default_level(),
            ipsec_protocols: default_ipsec_protocol(),
            tunnel: false,
            sa_src_address: None,
            sa_dst_address: None,
            proposal: default_proposal_name(),
            priority: 0,
            template: false,
            group: None,
        }
    }
}

/// `[[policy-group]]` (`/ip ipsec policy group`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PolicyGroup {
    /// Unique name. `default` always exists.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `[[mode-config]]` (`/ip ipsec mode-config`): what a responder hands out, or what an
/// initiator asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ModeConfig {
    /// Unique name; `none` and `request-only` are reserved.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The `[[ip-pool]]` to assign addresses from; `none` or absent for none (then only users
    /// with an `address` get one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_pool: Option<String>,
    /// Prefix length sent with the address. The manual leaves the default blank; ours is the
    /// host length, 32 (128 for an IPv6 pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_prefix_length: Option<u8>,
    /// Networks to tunnel, sent with the Cisco Unity extension (IPv4 only). Default none:
    /// the client tunnels everything.
    #[serde(default, deserialize_with = "one_or_many")]
    pub split_include: Vec<IpPrefix>,
    /// Whether to send DNS servers. Default `true`.
    #[serde(default = "yes")]
    pub send_dns: bool,
    /// DNS servers to send; when given they are sent instead of the system's.
    #[serde(default, deserialize_with = "one_or_many")]
    pub static_dns: Vec<Address>,
    /// Send the host's own DNS servers. Default: `true` unless `static-dns` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_dns: Option<bool>,
    /// Whether this is a responder's configuration (hand out) rather than an initiator's
    /// (request). Default `true`.
    #[serde(default = "yes")]
    pub responder: bool,
    /// Not in the manual (Cisco Unity, for iOS/macOS/Cisco clients): networks the client
    /// reaches directly even with a full tunnel (UNITY_LOCAL_LAN). IPv4. Default none.
    #[serde(default, deserialize_with = "one_or_many")]
    pub local_lan: Vec<IpPrefix>,
    /// Not in the manual: the DNS domain the client appends (UNITY_DEF_DOMAIN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_domain: Option<String>,
    /// Not in the manual: domains the client resolves through the tunnel's DNS servers only
    /// (UNITY_SPLITDNS_NAME), an array of names. Default none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub split_dns: Vec<String>,
    /// Not in the manual: text the client shows on connecting (UNITY_BANNER).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
    /// Not in the manual: whether the client may store the XAuth password
    /// (UNITY_SAVE_PASSWD). Default `false`.
    #[serde(default)]
    pub save_password: bool,
    /// Not in the manual: a responder also pushes the configuration (ISAKMP_CFG_SET) right
    /// after XAuth, for clients that wait for it rather than ask. Default `false` (answer
    /// requests only: iOS, Android, macOS, Windows and strongSwan all ask).
    #[serde(default)]
    pub push: bool,
}

impl ModeConfig {
    /// A mode-config with every default.
    pub fn new(name: impl Into<String>) -> Self {
        ModeConfig {
            name: name.into(),
            comment: None,
            address_pool: None,
            address_prefix_length: None,
            split_include: Vec::new(),
            send_dns: true,
            static_dns: Vec::new(),
            system_dns: None,
            responder: true,
            local_lan: Vec::new(),
            default_domain: None,
            split_dns: Vec::new(),
            banner: None,
            save_password: false,
            push: false,
        }
    }
}

/// `[[user]]` (`/ip ipsec user`): an XAuth user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct User {
    /// User name, unique.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Password. Must not be empty (the manual's blank default would let anyone in who knows
    /// the name).
    #[serde(default)]
    pub password: SecretText,
    /// Address assigned to this user instead of one from the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// Not in the manual: networks behind this user's client (a mobile unit's LAN; RADIUS
    /// Framed-Route). Its quick modes may name them as its side; without them, a client
    /// that got an address from us may only name that address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<IpPrefix>,
}

/// `[[ip-pool]]` (`/ip pool`): addresses handed out by mode-config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct IpPool {
    /// Unique name.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Ranges (`10.0.0.2-10.0.0.254`), prefixes or addresses. At least one.
    #[serde(default, deserialize_with = "one_or_many")]
    pub ranges: Vec<AddrRange>,
}

/// `[[radius]]` (RouterOS' `/radius`, not in the IPsec manual): a RADIUS server. XAuth users
/// of the peers it serves are checked with it (RFC 2865) instead of the `[[user]]` table, their
/// sessions are accounted to it (RFC 2866), and with `incoming` it may disconnect them or
/// change their session timeout (RFC 5176). Several servers: tried in file order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Radius {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The server's address.
    pub address: Address,
    /// Shared secret. Must not be empty.
    #[serde(default)]
    pub secret: SecretText,
    /// Access-Request port. Default 1812; 0: this server does not authenticate.
    #[serde(default = "default_radius_auth_port")]
    pub authentication_port: u16,
    /// Accounting port. Default 1813; 0: this server takes no accounting.
    #[serde(default = "default_radius_acct_port")]
    pub accounting_port: u16,
    /// How long to wait for an answer before sending again. Default 2s.
    #[serde(default = "default_radius_timeout")]
    pub timeout: Time,
    /// Retransmissions before the next server is tried. Default 2.
    #[serde(default = "default_radius_retries")]
    pub retries: u32,
    /// The `[[peer]]`s whose XAuth users it checks and accounts. Default: every peer.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Accept Disconnect- and CoA-Requests (RFC 5176) from this address with this secret.
    #[serde(default)]
    pub incoming: bool,
    /// Not used while set.
    #[serde(default)]
    pub disabled: bool,
}

fn default_radius_auth_port() -> u16 {
    1812
}
fn default_radius_acct_port() -> u16 {
    1813
}
fn default_radius_timeout() -> Time {
    Time(std::time::Duration::from_secs(2))
}
fn default_radius_retries() -> u32 {
    2
}

/// `[daemon]`: how `iked` runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Daemon {
    /// Addresses to listen on. Default `["0.0.0.0", "::"]`.
    #[serde(default = "default_listen", deserialize_with = "one_or_many")]
    pub listen: Vec<Address>,
    /// IKE port. Default 500.
    #[serde(default = "default_ike_port")]
    pub port: u16,
    /// NAT-T port (ESP in UDP). Default 4500.
    #[serde(default = "default_nat_t_port")]
    pub nat_t_port: u16,
    /// Control socket of `iked status` and friends. Default `/run/iked/control.sock`.
    #[serde(default = "default_control_socket")]
    pub control_socket: String,
    /// `auto` (default), `kernel`, `userspace`.
    #[serde(default = "default_dataplane")]
    pub dataplane: Dataplane,
    /// `error`, `warn`, `info` (default), `debug`, `trace`.
    #[serde(default = "default_log_level")]
    pub log_level: LogLevel,
    /// Not in the manual: the anti-replay window of inbound SAs, in packets (RFC 4303
    /// §3.4.3), 0 (no check) to 4096. Default 64, as RFC 4303 recommends; the kernel's own
    /// default is 32.
    #[serde(default = "default_replay_window")]
    pub replay_window: u32,
    /// Not in the manual: IKE fragmentation (Cisco/Microsoft) sends a message longer than
    /// this many bytes in fragments to a peer that takes them. Default 1280 (what strongSwan
    /// uses), 576 to 65535.
    #[serde(default = "default_fragment_size")]
    pub fragment_size: u32,
    /// Not in the manual: on the userspace dataplane, each transport-mode client behind a
    /// NAT is shown to local programs under its own address from this prefix instead of
    /// the NAT's, so that several clients behind one NAT can use the same ports
    /// (L2TP/IPsec: all of them send from UDP 1701). Unset: the NAT's address. With
    /// `dataplane = "auto"` it selects the userspace dataplane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_nat_aliases: Option<IpPrefix>,
    /// RADIUS NAS-Identifier (RFC 2865 §5.32). Default `iked`.
    #[serde(default = "default_nas_identifier")]
    pub nas_identifier: String,
    /// RADIUS Interim-Update interval (RFC 2866); a server's Acct-Interim-Interval overrides
    /// it per session. Default 0s: none unless the server asks.
    #[serde(default = "default_zero_time")]
    pub radius_interim_update: Time,
    /// UDP port for Disconnect- and CoA-Requests (RFC 5176), on every `listen` address, when
    /// some `[[radius]]` has `incoming = true`. Default 3799.
    #[serde(default = "default_radius_incoming_port")]
    pub radius_incoming_port: u16,
    /// How long a RADIUS server that did not answer is skipped. Default 30s.
    #[serde(default = "default_radius_hold_down")]
    pub radius_hold_down: Time,
    /// Drop Access-Accept/Reject without a Message-Authenticator (RFC 3579; the 2024
    /// Blast-RADIUS advice). Default no, for servers older than that.
    #[serde(default)]
    pub radius_require_message_authenticator: bool,
    /// The most accounting records kept while no RADIUS server answers. Default 10000.
    #[serde(default = "default_radius_accounting_buffer")]
    pub radius_accounting_buffer: u32,
}

fn default_nas_identifier() -> String {
    "iked".to_owned()
}
fn default_zero_time() -> Time {
    Time(std::time::Duration::ZERO)
}
fn default_radius_incoming_port() -> u16 {
    3799
}
fn default_radius_hold_down() -> Time {
    Time(std::time::Duration::from_secs(30))
}
fn default_radius_accounting_buffer() -> u32 {
    10_000
}

impl Default for Daemon {
    fn default() -> Self {
        Daemon {
            listen: default_listen(),
            port: default_ike_port(),
            nat_t_port: default_nat_t_port(),
            control_socket: default_control_socket(),
            dataplane: default_dataplane(),
            log_level: default_log_level(),
            replay_window: default_replay_window(),
            fragment_size: default_fragment_size(),
            transport_nat_aliases: None,
            nas_identifier: default_nas_identifier(),
            radius_interim_update: default_zero_time(),
            radius_incoming_port: default_radius_incoming_port(),
            radius_hold_down: default_radius_hold_down(),
            radius_require_message_authenticator: false,
            radius_accounting_buffer: default_radius_accounting_buffer(),
        }
    }
}

fn default_replay_window() -> u32 {
    64
}

fn default_fragment_size() -> u32 {
    1280
}

// Defaults ------------------------------------------------------------------------------------

fn yes() -> bool {
    true
}
fn default_peer_address() -> IpPrefix {
    IpPrefix::new([0, 0, 0, 0].into(), 0).expect("0.0.0.0/0 is a prefix")
}
fn default_ike_port() -> u16 {
    500
}
fn default_nat_t_port() -> u16 {
    4500
}
fn default_exchange_mode() -> ExchangeMode {
    ExchangeMode::Main
}
fn default_auth_method() -> AuthMethod {
    AuthMethod::PreSharedKey
}
fn default_dh_groups() -> Vec<DhGroup> {
    vec![DhGroup::Modp2048]
}
fn default_ike_encryption() -> Vec<IkeEncryption> {
    vec![IkeEncryption::Aes128]
}
fn default_ike_hash() -> Vec<IkeHash> {
    vec![IkeHash::Sha1]
}
fn default_phase1_lifetime() -> Time {
    Time(std::time::Duration::from_secs(86_400))
}
fn default_phase2_lifetime() -> Time {
    Time(std::time::Duration::from_secs(30 * 60))
}
fn default_dpd_interval() -> DpdInterval {
    DpdInterval::Every(Time(std::time::Duration::from_secs(120)))
}
fn default_dpd_maximum_failures() -> u32 {
    5
}
fn default_generate_policy() -> GeneratePolicy {
    GeneratePolicy::No
}
pub(crate) fn default_group() -> String {
    "default".to_owned()
}
fn default_proposal_check() -> ProposalCheck {
    ProposalCheck::Claim
}
fn default_esp_auth() -> Vec<EspAuth> {
    vec![EspAuth::Sha1]
}
fn default_esp_encryption() -> Vec<EspEncryption> {
    vec![EspEncryption::Aes128Cbc]
}
fn default_pfs_group() -> PfsGroup {
    PfsGroup::Group(DhGroup::Modp2048)
}
fn default_action() -> PolicyAction {
    PolicyAction::Encrypt
}
fn default_level() -> PolicyLevel {
    PolicyLevel::Require
}
fn default_ipsec_protocol() -> IpsecProtocol {
    IpsecProtocol::Esp
}
pub(crate) fn default_proposal_name() -> String {
    "default".to_owned()
}
fn default_listen() -> Vec<Address> {
    vec![
        Address([0, 0, 0, 0].into()),
        Address(std::net::Ipv6Addr::UNSPECIFIED.into()),
    ]
}
fn default_control_socket() -> String {
    "/run/iked/control.sock".to_owned()
}
fn default_dataplane() -> Dataplane {
    Dataplane::Auto
}
fn default_log_level() -> LogLevel {
    LogLevel::Info
}
