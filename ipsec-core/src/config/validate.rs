//! From a [`Config`] to a [`Snapshot`]: references resolved, meaning checked.
//!
//! Every check reports and goes on, so one run lists every problem of the file. Each
//! message names the object and the key and says what was expected.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::error::{ConfigError, ErrorKind, ObjectKind, ObjectRef, Warning};
use super::raw::{self, Config};
use super::snapshot::{
    Daemon, DnsServers, Dpd, IpPool, ModeConfig, Peer, Policy, PolicyGroup, Proposal, RadiusServer,
    Snapshot, User, XauthCredentials,
};
use super::source::SourceMap;
use super::value::{
    Address, AuthMethod, DpdInterval, EspAuth, EspEncryption, GeneratePolicy, ModeConfigRef,
    PfsGroup, PolicyAction, PortSpec, RemoteId, Time, decode_secret,
};

/// Lifetimes are carried in 32-bit attributes (RFC 2407 §4.5 allows longer ones, but no
/// implementation we meet sends them), so longer ones are refused.
const MAX_LIFETIME_SECS: u64 = u32::MAX as u64;

/// The manual's ranges.
const MAX_LIFEBYTES: u64 = u32::MAX as u64;
const MIN_PRIORITY: i32 = -2_147_483_646;

pub(crate) struct Ctx<'a> {
    file: &'a str,
    map: Option<&'a SourceMap>,
    origins: Option<&'a HashMap<ObjectKind, Vec<usize>>>,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<Warning>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        file: &'a str,
        map: Option<&'a SourceMap>,
        origins: Option<&'a HashMap<ObjectKind, Vec<usize>>>,
    ) -> Self {
        Ctx {
            file,
            map,
            origins,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn obj(&self, kind: ObjectKind, position: usize, name: Option<&str>) -> ObjectRef {
        let index = self
            .origins
            .and_then(|o| o.get(&kind))
            .and_then(|v| v.get(position).copied())
            .unwrap_or(position);
        ObjectRef {
            kind,
            index,
            name: name.map(str::to_owned),
        }
    }

    fn line(&self, obj: &ObjectRef, key: Option<&str>) -> Option<u32> {
        self.map?.line_for(obj.kind, obj.index, key)
    }

    fn error(&mut self, obj: &ObjectRef, key: &str, kind: ErrorKind, message: impl Into<String>) {
        let key = (!key.is_empty()).then_some(key);
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            line: self.line(obj, key),
            object: Some(obj.clone()),
            key: key.map(str::to_owned),
            kind,
            message: message.into(),
        });
    }

    fn warn(&mut self, obj: &ObjectRef, key: &str, message: impl Into<String>) {
        let key = (!key.is_empty()).then_some(key);
        self.warnings.push(Warning {
            file: self.file.to_owned(),
            line: self.line(obj, key),
            object: Some(obj.clone()),
            key: key.map(str::to_owned),
            message: message.into(),
        });
    }

    /// "line N" of another object's key, for messages that point at two places.
    fn at(&self, obj: &ObjectRef, key: &str) -> String {
        match self.line(obj, Some(key)) {
            Some(line) => format!("{obj} (line {line})"),
            None => obj.to_string(),
        }
    }
}

/// Names of one kind: name to position, with duplicates and empty names reported.
fn names<'c>(
    ctx: &mut Ctx<'_>,
    kind: ObjectKind,
    items: impl Iterator<Item = &'c str>,
    reserved: &[&str],
) -> HashMap<&'c str, usize> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (pos, name) in items.enumerate() {
        let obj = ctx.obj(kind, pos, Some(name));
        if name.trim().is_empty() {
            ctx.error(
                &obj,
                "name",
                ErrorKind::InvalidValue,
                "expected a non-empty name",
            );
            continue;
        }
        if reserved.contains(&name) {
            ctx.error(
                &obj,
                "name",
                ErrorKind::InvalidValue,
                format!("{name:?} is reserved; expected another name"),
            );
            continue;
        }
        if let Some(&first) = seen.get(name) {
            let first = ctx.obj(kind, first, Some(name));
            let msg = format!("duplicate name; {} has it already", ctx.at(&first, "name"));
            ctx.error(&obj, "name", ErrorKind::Duplicate, msg);
            continue;
        }
        seen.insert(name, pos);
    }
    seen
}

/// A non-empty list without repeats; weak entries produce a warning naming them.
fn check_list<T: PartialEq + core::fmt::Display + Copy>(
    ctx: &mut Ctx<'_>,
    obj: &ObjectRef,
    key: &str,
    list: &[T],
    weak: impl Fn(T) -> Option<&'static str>,
) {
    if list.is_empty() {
        ctx.error(
            obj,
            key,
            ErrorKind::InvalidValue,
            "expected at least one value",
        );
    }
    for (i, v) in list.iter().enumerate() {
        if list[..i].contains(v) {
            ctx.error(
                obj,
                key,
                ErrorKind::Duplicate,
                format!("{v} is listed twice; expected each value once"),
            );
        } else if let Some(why) = weak(*v) {
            ctx.warn(
                obj,
                key,
                format!("{key} includes {v}: {why}; used only because it is configured"),
            );
        }
    }
}

fn check_lifetime(ctx: &mut Ctx<'_>, obj: &ObjectRef, key: &str, t: Time) -> Duration {
    let secs = t.0.as_secs();
    if secs == 0 {
        ctx.error(
            obj,
            key,
            ErrorKind::InvalidValue,
            "expected a time above 0s, got 0s",
        );
    } else if secs > MAX_LIFETIME_SECS {
        ctx.error(
            obj,
            key,
            ErrorKind::InvalidValue,
            format!("expected at most {MAX_LIFETIME_SECS}s, got {t}"),
        );
    }
    t.0
}

fn weak_dh(g: super::value::DhGroup) -> Option<&'static str> {
    g.is_weak()
        .then_some("groups of 1024 bits and less are within reach of precomputation (Logjam)")
}

/// `none` (and the manual's blank) for a file path.
fn path(value: &Option<String>) -> Option<PathBuf> {
    value
        .as_deref()
        .filter(|v| !v.is_empty() && *v != "none")
        .map(PathBuf::from)
}

/// The manual's `::` (and `0.0.0.0`) mean "not set".
fn unspecified_to_none(addr: Option<Address>) -> Option<IpAddr> {
    addr.map(|a| a.0).filter(|a| !a.is_unspecified())
}

pub(crate) fn validate(
    config: &Config,
    ctx: &mut Ctx<'_>,
    failed_names: &[(ObjectKind, String)],
) -> Option<Snapshot> {
    let failed = |kind: ObjectKind, name: &str| {
        failed_names
            .iter()
            .any(|(k, n)| *k == kind && n.as_str() == name)
    };

    // Names first, so that references can be checked in any order.
    let proposal_names = names(
        ctx,
        ObjectKind::Proposal,
        config.proposal.iter().map(|p| p.name.as_str()),
        &[],
    );
    let group_names = names(
        ctx,
        ObjectKind::PolicyGroup,
        config.policy_group.iter().map(|g| g.name.as_str()),
        &["none"],
    );
    let pool_names = names(
        ctx,
        ObjectKind::IpPool,
        config.ip_pool.iter().map(|p| p.name.as_str()),
        &["none"],
    );
    let mode_config_names = names(
        ctx,
        ObjectKind::ModeConfig,
        config.mode_config.iter().map(|m| m.name.as_str()),
        &["none", "request-only"],
    );
    names(
        ctx,
        ObjectKind::User,
        config.user.iter().map(|u| u.name.as_str()),
        &[],
    );
    names(
        ctx,
        ObjectKind::Peer,
        config.peer.iter().map(|p| p.name.as_str()),
        &[],
    );

    let proposals = proposals(ctx, config);
    let ip_pools = ip_pools(ctx, config);
    let mode_configs = mode_configs(ctx, config, &ip_pools, |n| {
        pool_names.contains_key(n) || failed(ObjectKind::IpPool, n)
    });
    let users = users(ctx, config, &ip_pools);

    let mut policy_groups = Vec::new();
    if !group_names.contains_key("default") {
        policy_groups.push(PolicyGroup {
            name: "default".to_owned(),
            comment: None,
        });
    }
    policy_groups.extend(config.policy_group.iter().map(|g| PolicyGroup {
        name: g.name.clone(),
        comment: g.comment.clone(),
    }));
    let group_exists = |n: &str| {
        n == "default" || group_names.contains_key(n) || failed(ObjectKind::PolicyGroup, n)
    };
    let proposal_state = |n: &str| -> Option<bool> {
        // Some(enabled) when the proposal exists (the built-in default is enabled).
        if let Some(&pos) = proposal_names.get(n) {
            return Some(!config.proposal[pos].disabled);
        }
        (n == "default" || failed(ObjectKind::Proposal, n)).then_some(true)
    };

    let policies = policies(ctx, config, &group_exists, &proposal_state);
    let peers = peers(
        ctx,
        config,
        &policies,
        &group_exists,
        &|n| mode_config_names.contains_key(n) || failed(ObjectKind::ModeConfig, n),
        &mode_configs,
        !config.user.is_empty() || !config.radius.is_empty(),
    );
    let daemon = daemon(ctx, &config.daemon);
    let radius = radius(ctx, config);

    let mut snapshot = Snapshot {
        file: ctx.file.to_owned(),
        peers,
        proposals,
        installed: Vec::new(),
        policies,
        policy_groups,
        mode_configs,
        users,
        user_index: std::sync::OnceLock::new(),
        ip_pools,
        radius,
        daemon,
        warnings: Vec::new(),
    };

    // Every policy that must negotiate needs a peer to negotiate with.
    for (pos, policy) in snapshot.policies.iter().enumerate() {
        if policy.disabled || policy.template || policy.action != PolicyAction::Encrypt {
            continue;
        }
        let Some(dst) = policy.sa_dst_address else {
            continue;
        };
        if !snapshot
            .peers
            .iter()
            .any(|p| !p.disabled && p.address.contains(dst))
        {
            let obj = ctx.obj(ObjectKind::Policy, pos, None);
            ctx.error(
                &obj,
                "sa-dst-address",
                ErrorKind::UnknownReference,
                format!(
                    "no enabled [[peer]] has an address containing {dst}; expected a peer to \
                     negotiate this policy's SAs with"
                ),
            );
        }
    }

    let mut installed: Vec<usize> = snapshot
        .policies
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.disabled && !p.template)
        .map(|(i, _)| i)
        .collect();
    installed.sort_by_key(|&i| core::cmp::Reverse(snapshot.policies[i].priority));
    snapshot.installed = installed;

    ctx.errors.is_empty().then_some(snapshot)
}

fn proposals(ctx: &mut Ctx<'_>, config: &Config) -> Vec<Proposal> {
    let mut out = Vec::new();
    if !config.proposal.iter().any(|p| p.name == "default") {
        let builtin = raw::Proposal::new("default");
        out.push(Proposal {
            name: builtin.name,
            comment: None,
            disabled: false,
            auth_algorithms: builtin.auth_algorithms,
            enc_algorithms: builtin.enc_algorithms,
            lifetime: builtin.lifetime.0,
            lifebytes: None,
            pfs_group: match builtin.pfs_group {
                PfsGroup::None => None,
                PfsGroup::Group(g) => Some(g),
            },
        });
    }
    for (pos, p) in config.proposal.iter().enumerate() {
        let obj = ctx.obj(ObjectKind::Proposal, pos, Some(&p.name));
        check_list(
            ctx,
            &obj,
            "enc-algorithms",
            &p.enc_algorithms,
            |e| match e {
                EspEncryption::Des => Some("DES has a 56-bit key"),
                EspEncryption::Null => Some("null sends the traffic unencrypted"),
                _ => None,
            },
        );
        let needs_auth = p.enc_algorithms.iter().any(|e| !e.is_aead());
        check_list(
            ctx,
            &obj,
            "auth-algorithms",
            &p.auth_algorithms,
            |a| match a {
                EspAuth::Md5 => Some("HMAC-MD5 is deprecated (RFC 8221)"),
                EspAuth::Null if needs_auth => {
                    Some("null leaves the non-AEAD ciphers without integrity protection")
                }
                _ => None,
            },
        );
        if p.enc_algorithms.contains(&EspEncryption::Null)
            && p.auth_algorithms.contains(&EspAuth::Null)
        {
            ctx.error(
                &obj,
                "auth-algorithms",
                ErrorKind::Conflict,
                "null with enc-algorithms null would protect nothing; expected an integrity \
                 algorithm",
            );
        }
        let lifetime = check_lifetime(ctx, &obj, "lifetime", p.lifetime);
        let pfs_group = match p.pfs_group {
            PfsGroup::None => None,
            PfsGroup::Group(g) => {
                if let Some(why) = weak_dh(g) {
                    ctx.warn(
                        &obj,
                        "pfs-group",
                        format!("{g}: {why}; used only because it is configured"),
                    );
                }
                Some(g)
            }
        };
        out.push(Proposal {
            name: p.name.clone(),
            comment: p.comment.clone(),
            disabled: p.disabled,
            auth_algorithms: p.auth_algorithms.clone(),
            enc_algorithms: p.enc_algorithms.clone(),
            lifetime,
            lifebytes: (p.lifebytes != 0).then_some(p.lifebytes),
            pfs_group,
        });
    }
    out
}

fn ip_pools(ctx: &mut Ctx<'_>, config: &Config) -> Vec<IpPool> {
    let mut out: Vec<IpPool> = Vec::new();
    for (pos, p) in config.ip_pool.iter().enumerate() {
        let obj = ctx.obj(ObjectKind::IpPool, pos, Some(&p.name));
        if p.ranges.is_empty() {
            ctx.error(
                &obj,
                "ranges",
                ErrorKind::MissingKey,
                "expected at least one range such as \"10.0.0.2-10.0.0.254\"",
            );
        }
        for (i, r) in p.ranges.iter().enumerate() {
            let clash = p.ranges[..i]
                .iter()
                .find(|o| o.overlaps(r))
                .map(|o| format!("{o} of this pool"))
                .or_else(|| {
                    out.iter().find_map(|pool| {
                        pool.ranges
                            .iter()
                            .find(|o| o.overlaps(r))
                            .map(|o| format!("{o} of ip-pool {:?}", pool.name))
                    })
                });
            if let Some(clash) = clash {
                ctx.error(
                    &obj,
                    "ranges",
                    ErrorKind::Conflict,
                    format!("{r} overlaps {clash}; expected each address in one range only"),
                );
            }
        }
        out.push(IpPool {
            name: p.name.clone(),
            comment: p.comment.clone(),
            ranges: p.ranges.clone(),
        });
    }
    out
}

fn mode_configs(
    ctx: &mut Ctx<'_>,
    config: &Config,
    pools: &[IpPool],
    pool_exists: impl Fn(&str) -> bool,
) -> Vec<ModeConfig> {
    let mut out = Vec::new();
    for (pos, m) in config.mode_config.iter().enumerate() {
        let obj = ctx.obj(ObjectKind::ModeConfig, pos, Some(&m.name));
        let address_pool = m
            .address_pool
            .as_deref()
            .filter(|p| !p.is_empty() && *p != "none");
        if let Some(pool) = address_pool
            && !pool_exists(pool)
        {
            ctx.error(
                &obj,
                "address-pool",
                ErrorKind::UnknownReference,
                format!("no [[ip-pool]] is named {pool:?}; expected the name of one, or none"),
            );
        }
        let v6_pool = address_pool
            .and_then(|n| pools.iter().find(|p| p.name == n))
            .and_then(|p| p.ranges.first())
            .is_some_and(|r| r.start().is_ipv6());
        let max = if v6_pool { 128 } else { 32 };
        let address_prefix_length = match m.address_prefix_length {
            None => max,
            Some(len) if (1..=max).contains(&len) => len,
            Some(len) => {
                ctx.error(
                    &obj,
                    "address-prefix-length",
                    ErrorKind::InvalidValue,
                    format!("expected 1..{max}, got {len}"),
                );
                max
            }
        };
        for prefix in &m.local_lan {
            if !prefix.is_ipv4() {
                ctx.error(
                    &obj,
                    "local-lan",
                    ErrorKind::InvalidValue,
                    format!("{prefix}: expected an IPv4 prefix (Cisco Unity carries IPv4 only)"),
                );
            }
        }
        for prefix in &m.split_include {
            if !prefix.is_ipv4() {
                ctx.error(
                    &obj,
                    "split-include",
                    ErrorKind::InvalidValue,
                    format!(
                        "expected IPv4 prefixes (the Cisco Unity split list is IPv4 only), got \
                         {prefix}"
                    ),
                );
            }
        }
        let dns = if !m.send_dns {
            DnsServers::None
        } else if !m.static_dns.is_empty() {
            if m.system_dns == Some(true) {
                ctx.error(
                    &obj,
                    "system-dns",
                    ErrorKind::Conflict,
                    "true conflicts with static-dns; expected one source of DNS servers",
                );
            }
            DnsServers::Static(m.static_dns.iter().map(|a| a.0).collect())
        } else if m.system_dns.unwrap_or(true) {
            DnsServers::System
        } else {
            DnsServers::None
        };
        if !m.responder && address_pool.is_some() {
            ctx.warn(
                &obj,
                "address-pool",
                "has no effect with responder = false (an initiator requests its address)",
            );
        }
        out.push(ModeConfig {
            name: m.name.clone(),
            comment: m.comment.clone(),
            address_pool: address_pool.map(str::to_owned),
            address_prefix_length,
            split_include: m.split_include.clone(),
            dns,
            responder: m.responder,
            local_lan: m.local_lan.clone(),
            default_domain: m.default_domain.clone().filter(|d| !d.is_empty()),
            split_dns: m
                .split_dns
                .iter()
                .filter(|d| !d.is_empty())
                .cloned()
                .collect(),
            banner: m.banner.clone().filter(|b| !b.is_empty()),
            save_password: m.save_password,
            push: m.push,
        });
    }
    out
}

fn users(ctx: &mut Ctx<'_>, config: &Config, pools: &[IpPool]) -> Vec<User> {
    let mut out: Vec<User> = Vec::new();
    for (pos, u) in config.user.iter().enumerate() {
        let obj = ctx.obj(ObjectKind::User, pos, Some(&u.name));
        if u.password.is_empty() {
            ctx.error(
                &obj,
                "password",
                ErrorKind::MissingKey,
                "expected a non-empty password",
            );
        }
        let address = u.address.map(|a| a.0);
        if let Some(addr) = address {
            if let Some(other) = out.iter().find(|o| o.address == Some(addr)) {
                let msg = format!(
                    "{addr} is already the address of user {:?}; expected one user per address",
                    other.name
                );
                ctx.error(&obj, "address", ErrorKind::Duplicate, msg);
            }
            if let Some(pool) = pools.iter().find(|p| p.contains(addr)) {
                ctx.warn(
                    &obj,
                    "address",
                    format!(
                        "{addr} is inside ip-pool {:?}, which may hand it to another client",
                        pool.name
                    ),
                );
            }
        }
        out.push(User {
            name: u.name.clone(),
            comment: u.comment.clone(),
            password: crate::crypto::Secret::from(u.password.expose()),
            address,
            routes: u.routes.clone(),
        });
    }
    out
}

fn radius(ctx: &mut Ctx<'_>, config: &Config) -> Vec<RadiusServer> {
    let mut out = Vec::new();
    for (pos, r) in config.radius.iter().enumerate() {
        let obj = ctx.obj(ObjectKind::Radius, pos, None);
        if r.secret.is_empty() {
            ctx.error(
                &obj,
                "secret",
                ErrorKind::MissingKey,
                "expected a non-empty shared secret",
            );
        }
        if r.authentication_port == 0 && r.accounting_port == 0 && !r.incoming {
            ctx.warn(
                &obj,
                "authentication-port",
                "no authentication, accounting or incoming: the server is not used",
            );
        }
        if r.timeout.0.is_zero() {
            ctx.error(
                &obj,
                "timeout",
                ErrorKind::InvalidValue,
                "expected a time above 0s",
            );
        }
        if r.retries > 10 {
            ctx.error(
                &obj,
                "retries",
                ErrorKind::InvalidValue,
                format!("expected 0..10, got {}", r.retries),
            );
        }
        for name in &r.peers {
            if !config.peer.iter().any(|p| &p.name == name) {
                ctx.error(
                    &obj,
                    "peers",
                    ErrorKind::UnknownReference,
                    format!("no [[peer]] named {name:?}"),
                );
            }
        }
        if r.disabled {
            continue;
        }
        out.push(RadiusServer {
            comment: r.comment.clone(),
            address: r.address.0,
            secret: crate::crypto::Secret::from(r.secret.expose()),
            authentication_port: r.authentication_port,
            accounting_port: r.accounting_port,
            timeout: r.timeout.0,
            retries: r.retries,
            peers: r.peers.clone(),
            incoming: r.incoming,
        });
    }
    if out.len() > 16 {
        let obj = ctx.obj(ObjectKind::Radius, 16, None);
        ctx.error(
            &obj,
            "address",
            ErrorKind::InvalidValue,
            "expected at most 16 servers",
        );
    }
    out
}

fn policies(
    ctx: &mut Ctx<'_>,
    config: &Config,
    group_exists: &dyn Fn(&str) -> bool,
    proposal_state: &dyn Fn(&str) -> Option<bool>,
) -> Vec<Policy> {
    let mut out: Vec<Policy> = Vec::new();
    for (pos, p) in config.policy.iter().enumerate() {
        let obj = ctx.obj(ObjectKind::Policy, pos, None);
        let index = obj.index;
        if p.src_address.is_ipv4() != p.dst_address.is_ipv4() {
            ctx.error(
                &obj,
                "dst-address",
                ErrorKind::Conflict,
                format!(
                    "expected the family of src-address {}, got {}",
                    p.src_address, p.dst_address
                ),
            );
        }
        for (key, port) in [("src-port", p.src_port), ("dst-port", p.dst_port)] {
            if port != PortSpec::Any && !p.protocol.has_ports() {
                ctx.error(
                    &obj,
                    key,
                    ErrorKind::Conflict,
                    format!(
                        "a port needs a protocol with ports; expected protocol tcp, udp, sctp, \
                         dccp or udp-lite, got {}",
                        p.protocol
                    ),
                );
            }
        }
        if p.priority < MIN_PRIORITY {
            ctx.error(
                &obj,
                "priority",
                ErrorKind::InvalidValue,
                format!("expected {MIN_PRIORITY}..2147483647, got {}", p.priority),
            );
        }
        match proposal_state(&p.proposal) {
            None => ctx.error(
                &obj,
                "proposal",
                ErrorKind::UnknownReference,
                format!(
                    "no [[proposal]] is named {:?}; expected the name of one (or default)",
                    p.proposal
                ),
            ),
            Some(false) if !p.disabled && p.action == PolicyAction::Encrypt => ctx.error(
                &obj,
                "proposal",
                ErrorKind::Conflict,
                format!(
                    "proposal {:?} is disabled; expected an enabled proposal",
                    p.proposal
                ),
            ),
            Some(_) => {}
        }
        let group = p.group.clone().unwrap_or_else(raw::default_group);
        let mut sa_src = unspecified_to_none(p.sa_src_address);
        let mut sa_dst = unspecified_to_none(p.sa_dst_address);
        if p.template {
            if !group_exists(&group) {
                ctx.error(
                    &obj,
                    "group",
                    ErrorKind::UnknownReference,
                    format!(
                        "no [[policy-group]] is named {group:?}; expected the name of one (or \
                         default)"
                    ),
                );
            }
            if p.action != PolicyAction::Encrypt {
                ctx.error(
                    &obj,
                    "action",
                    ErrorKind::Conflict,
                    format!(
                        "a template admits policies to encrypt; expected encrypt, got {}",
                        p.action
                    ),
                );
            }
        } else {
            if p.group.is_some() {
                ctx.warn(&obj, "group", "has no effect without template = true");
            }
            if p.action == PolicyAction::Encrypt {
                if let (Some(s), Some(d)) = (sa_src, sa_dst)
                    && s.is_ipv4() != d.is_ipv4()
                {
                    ctx.error(
                        &obj,
                        "sa-dst-address",
                        ErrorKind::Conflict,
                        format!("expected the family of sa-src-address {s}, got {d}"),
                    );
                }
                if p.tunnel {
                    if sa_dst.is_none() {
                        ctx.error(
                            &obj,
                            "sa-dst-address",
                            ErrorKind::MissingKey,
                            "tunnel mode needs the peer's address; expected sa-dst-address",
                        );
                    }
                } else {
                    // Transport mode protects only packets between the SA endpoints
                    // themselves (the manual's note on tunnel).
                    for (key, sa_key, prefix, sa) in [
                        ("src-address", "sa-src-address", p.src_address, &mut sa_src),
                        ("dst-address", "sa-dst-address", p.dst_address, &mut sa_dst),
                    ] {
                        if !prefix.is_host() {
                            ctx.error(
                                &obj,
                                key,
                                ErrorKind::Conflict,
                                format!(
                                    "transport mode protects traffic between the two hosts \
                                     only; expected a single address, got {prefix} (or use \
                                     tunnel = true)"
                                ),
                            );
                        } else if let Some(addr) = *sa {
                            if !prefix.contains(addr) {
                                ctx.error(
                                    &obj,
                                    sa_key,
                                    ErrorKind::Conflict,
                                    format!(
                                        "in transport mode expected {}, the {key} host, got \
                                         {addr}",
                                        prefix.addr()
                                    ),
                                );
                            }
                        } else {
                            *sa = Some(prefix.addr());
                        }
                    }
                }
            }
            if !p.disabled
                && let Some(dup) = out.iter().find(|o| {
                    !o.disabled
                        && !o.template
                        && o.src_address == p.src_address
                        && o.dst_address == p.dst_address
                        && o.protocol == p.protocol
                        && o.src_port == p.src_port
                        && o.dst_port == p.dst_port
                        && o.priority == p.priority
                })
            {
                let first = ObjectRef {
                    kind: ObjectKind::Policy,
                    index: dup.index,
                    name: None,
                };
                let msg = format!(
                    "the same selectors and priority as {}; expected distinct policies",
                    ctx.at(&first, "src-address")
                );
                ctx.error(&obj, "src-address", ErrorKind::Duplicate, msg);
            }
        }
        out.push(Policy {
            index,
            comment: p.comment.clone(),
            disabled: p.disabled,
            src_address: p.src_address,
            dst_address: p.dst_address,
            src_port: p.src_port,
            dst_port: p.dst_port,
            protocol: p.protocol,
            action: p.action,
            level: p.level,
            ipsec_protocols: p.ipsec_protocols,
            tunnel: p.tunnel,
            sa_src_address: sa_src,
            sa_dst_address: sa_dst,
            proposal: p.proposal.clone(),
            priority: p.priority,
            template: p.template,
            group,
        });
    }
    out
}

/// For a configuration built in code (no file to tell which keys are written): whether
/// `key` of `p` still has its default value, so that a profile may fill it.
fn same_as_default(p: &super::raw::Peer, d: &super::raw::Peer, key: &str) -> bool {
    match key {
        "exchange-mode" => p.exchange_mode == d.exchange_mode,
        "dh-group" => p.dh_group == d.dh_group,
        "enc-algorithm" => p.enc_algorithm == d.enc_algorithm,
        "hash-algorithm" => p.hash_algorithm == d.hash_algorithm,
        "lifetime" => p.lifetime == d.lifetime,
        "dpd-interval" => p.dpd_interval == d.dpd_interval,
        "nat-traversal" => p.nat_traversal == d.nat_traversal,
        "proposal-check" => p.proposal_check == d.proposal_check,
        _ => false,
    }
}

fn peers(
    ctx: &mut Ctx<'_>,
    config: &Config,
    policies: &[Policy],
    group_exists: &dyn Fn(&str) -> bool,
    mode_config_exists: &dyn Fn(&str) -> bool,
    mode_configs: &[ModeConfig],
    have_users: bool,
) -> Vec<Peer> {
    let mut out: Vec<Peer> = Vec::new();
    for (pos, p) in config.peer.iter().enumerate() {
        let obj = ctx.obj(ObjectKind::Peer, pos, Some(&p.name));
        let profiled;
        let p = match p.profile {
            Some(profile) => {
                let map = ctx.map;
                let defaults = super::raw::Peer::new(p.name.clone());
                profiled = super::profile::apply(p, profile, |key| match map {
                    Some(m) => m.has_key(obj.kind, obj.index, key).unwrap_or(false),
                    None => !same_as_default(p, &defaults, key),
                });
                let weak = super::profile::weak_parts(&profiled);
                if !weak.is_empty() {
                    ctx.warn(
                        &obj,
                        "profile",
                        format!(
                            "profile {profile} accepts what that client sends, weak parts \
                             included: {}",
                            weak.join(", ")
                        ),
                    );
                }
                &profiled
            }
            None => p,
        };
        let method = p.auth_method;

        if p.port == 0 {
            ctx.error(
                &obj,
                "port",
                ErrorKind::InvalidValue,
                "expected 1..65535, got 0",
            );
        }
        let local_address = p.local_address.map(|a| a.0);
        if let Some(local) = local_address
            && local.is_ipv4() != p.address.is_ipv4()
        {
            ctx.error(
                &obj,
                "local-address",
                ErrorKind::Conflict,
                format!(
                    "expected an address of the family of address {}, got {local}",
                    p.address
                ),
            );
        }

        // Authentication.
        let secret = match (&p.secret, method.uses_psk()) {
            (Some(text), true) if !text.is_empty() => match decode_secret(text.expose()) {
                Ok(secret) => Some(secret),
                Err(e) => {
                    ctx.error(&obj, "secret", ErrorKind::InvalidValue, e.message());
                    None
                }
            },
            (_, true) => {
                ctx.error(
                    &obj,
                    "secret",
                    ErrorKind::MissingKey,
                    format!("auth-method {method} needs a secret; expected a non-empty secret"),
                );
                None
            }
            (Some(text), false) if !text.is_empty() => {
                ctx.warn(
                    &obj,
                    "secret",
                    format!("has no effect with auth-method {method}"),
                );
                None
            }
            _ => None,
        };
        let certificate = path(&p.certificate);
        let remote_certificate = path(&p.remote_certificate);
        let ca = path(&p.ca);
        let crl: Vec<PathBuf> = p
            .crl
            .iter()
            .filter(|v| !v.is_empty() && *v != "none")
            .map(PathBuf::from)
            .collect();
        let we_sign = method == AuthMethod::RsaSignature
            || (method == AuthMethod::RsaSignatureHybrid && p.passive);
        let we_verify = method == AuthMethod::RsaSignature
            || (method == AuthMethod::RsaSignatureHybrid && !p.passive);
        if we_sign && certificate.is_none() {
            ctx.error(
                &obj,
                "certificate",
                ErrorKind::MissingKey,
                format!(
                    "auth-method {method}{} signs with our certificate; expected certificate = \
                     a certificate file with its private key",
                    if method == AuthMethod::RsaSignatureHybrid {
                        " as responder (passive = true)"
                    } else {
                        ""
                    }
                ),
            );
        }
        if we_verify && remote_certificate.is_none() && ca.is_none() {
            ctx.error(
                &obj,
                "ca",
                ErrorKind::MissingKey,
                format!(
                    "auth-method {method} verifies the peer's certificate; expected ca (the CA \
                     file it must chain to) or remote-certificate"
                ),
            );
        }
        if !we_sign && certificate.is_some() {
            ctx.warn(
                &obj,
                "certificate",
                format!("has no effect with auth-method {method} on this side"),
            );
        }
        if !we_verify && (remote_certificate.is_some() || ca.is_some() || !crl.is_empty()) {
            let key = if ca.is_some() {
                "ca"
            } else if remote_certificate.is_some() {
                "remote-certificate"
            } else {
                "crl"
            };
            ctx.warn(
                &obj,
                key,
                format!("has no effect with auth-method {method} on this side"),
            );
        }
        if p.exchange_mode == super::value::ExchangeMode::Aggressive && method.uses_psk() {
            ctx.warn(
                &obj,
                "exchange-mode",
                format!(
                    "aggressive with auth-method {method}: the responder's hash lets anyone \
                     who can start a negotiation attack the pre-shared key offline; used only \
                     because it is configured"
                ),
            );
        }
        if p.remote_id == RemoteId::Ignore && we_verify {
            ctx.warn(
                &obj,
                "remote-id",
                "ignore with certificates: any certificate from the CA may claim any identity",
            );
        }

        // XAuth.
        let xauth = match (method.uses_xauth(), p.passive) {
            (true, false) => {
                let login = p.xauth_login.as_deref().filter(|l| !l.is_empty());
                let password = p.xauth_password.as_ref().filter(|pw| !pw.is_empty());
                if login.is_none() {
                    ctx.error(
                        &obj,
                        "xauth-login",
                        ErrorKind::MissingKey,
                        format!(
                            "auth-method {method} as XAuth client (passive = false) needs a user \
                             name; expected xauth-login"
                        ),
                    );
                }
                if password.is_none() {
                    ctx.error(
                        &obj,
                        "xauth-password",
                        ErrorKind::MissingKey,
                        format!(
                            "auth-method {method} as XAuth client (passive = false) needs a \
                             password; expected a non-empty xauth-password"
                        ),
                    );
                }
                login
                    .zip(password)
                    .map(|(login, password)| XauthCredentials {
                        login: login.to_owned(),
                        password: crate::crypto::Secret::from(password.expose()),
                    })
            }
            (uses, passive) => {
                let key = if p.xauth_login.is_some() {
                    Some("xauth-login")
                } else if p.xauth_password.is_some() {
                    Some("xauth-password")
                } else {
                    None
                };
                if let Some(key) = key {
                    let why = if uses {
                        "has no effect on the XAuth server (passive = true)".to_owned()
                    } else {
                        format!("has no effect with auth-method {method}")
                    };
                    ctx.warn(&obj, key, why);
                }
                if uses && passive && !have_users {
                    ctx.warn(
                        &obj,
                        "auth-method",
                        format!(
                            "{method} as XAuth server, but no [[user]] is configured: every \
                             login will fail"
                        ),
                    );
                }
                None
            }
        };

        // Algorithms and lifetimes.
        check_list(ctx, &obj, "dh-group", &p.dh_group, weak_dh);
        check_list(ctx, &obj, "enc-algorithm", &p.enc_algorithm, |e| {
            e.is_weak().then_some("DES has a 56-bit key")
        });
        check_list(ctx, &obj, "hash-algorithm", &p.hash_algorithm, |h| {
            h.is_weak().then_some("MD5 collisions are practical")
        });
        let lifetime = check_lifetime(ctx, &obj, "lifetime", p.lifetime);
        if p.lifebytes > MAX_LIFEBYTES {
            ctx.error(
                &obj,
                "lifebytes",
                ErrorKind::InvalidValue,
                format!("expected 0..{MAX_LIFEBYTES}, got {}", p.lifebytes),
            );
        }
        let dpd = match p.dpd_interval {
            DpdInterval::Disabled => None,
            DpdInterval::Every(t) => {
                if t.0.is_zero() {
                    ctx.error(
                        &obj,
                        "dpd-interval",
                        ErrorKind::InvalidValue,
                        "expected a time above 0s or disable-dpd, got 0s",
                    );
                }
                Some(Dpd {
                    interval: t.0,
                    maximum_failures: p.dpd_maximum_failures,
                })
            }
        };
        if !(1..=100).contains(&p.dpd_maximum_failures) {
            ctx.error(
                &obj,
                "dpd-maximum-failures",
                ErrorKind::InvalidValue,
                format!("expected 1..100, got {}", p.dpd_maximum_failures),
            );
        }

        // References.
        let policy_group = (p.policy_group != "none").then(|| p.policy_group.clone());
        match &policy_group {
            Some(g) if !group_exists(g) => ctx.error(
                &obj,
                "policy-group",
                ErrorKind::UnknownReference,
                format!("no [[policy-group]] is named {g:?}; expected the name of one, or none"),
            ),
            Some(g) if p.generate_policy != GeneratePolicy::No => {
                let has_template = policies
                    .iter()
                    .any(|t| t.template && !t.disabled && &t.group == g);
                if !has_template {
                    let msg = format!(
                        "generate-policy = {} needs a template that bounds what the peer may \
                         ask for; expected an enabled [[policy]] with template = true and \
                         group = {g:?}",
                        p.generate_policy
                    );
                    ctx.error(&obj, "policy-group", ErrorKind::Conflict, msg);
                }
            }
            None if p.generate_policy != GeneratePolicy::No => ctx.error(
                &obj,
                "policy-group",
                ErrorKind::Conflict,
                format!(
                    "generate-policy = {} needs a policy group with templates; expected a \
                     group name, got none",
                    p.generate_policy
                ),
            ),
            _ => {}
        }
        if p.auto_start && p.passive {
            ctx.error(
                &obj,
                "auto-start",
                ErrorKind::Conflict,
                "a passive peer never initiates; expected auto-start = false or passive = false",
            );
        } else if p.auto_start && !p.address.is_host() {
            ctx.error(
                &obj,
                "auto-start",
                ErrorKind::Conflict,
                format!(
                    "cannot initiate to a range of addresses ({}); expected a single-host \
                     address",
                    p.address
                ),
            );
        }
        if p.passive && p.mode_config == ModeConfigRef::RequestOnly {
            ctx.warn(
                &obj,
                "mode-config",
                "request-only has no effect on a passive peer (the responder hands settings out)",
            );
        }
        if let ModeConfigRef::Named(name) = &p.mode_config {
            if !mode_config_exists(name) {
                ctx.error(
                    &obj,
                    "mode-config",
                    ErrorKind::UnknownReference,
                    format!(
                        "no [[mode-config]] is named {name:?}; expected the name of one, none or \
                         request-only"
                    ),
                );
            } else if p.passive && mode_configs.iter().any(|m| &m.name == name && !m.responder) {
                ctx.error(
                    &obj,
                    "mode-config",
                    ErrorKind::Conflict,
                    format!(
                        "a passive peer hands out settings; expected a mode-config with \
                         responder = true, but {name:?} has responder = false"
                    ),
                );
            }
        }

        let peer = Peer {
            name: p.name.clone(),
            comment: p.comment.clone(),
            disabled: p.disabled,
            address: p.address,
            port: p.port,
            local_address,
            exchange_mode: p.exchange_mode,
            auth_method: method,
            secret,
            certificate: if we_sign { certificate } else { None },
            remote_certificate: if we_verify { remote_certificate } else { None },
            ca: if we_verify { ca } else { None },
            crl: if we_verify { crl } else { Vec::new() },
            my_id: p.my_id.clone(),
            remote_id: p.remote_id.clone(),
            dh_groups: p.dh_group.clone(),
            enc_algorithms: p.enc_algorithm.clone(),
            hash_algorithms: p.hash_algorithm.clone(),
            lifetime,
            lifebytes: (p.lifebytes != 0).then_some(p.lifebytes),
            dpd,
            nat_traversal: p.nat_traversal,
            passive: p.passive,
            auto_start: p.auto_start,
            send_initial_contact: p.send_initial_contact,
            generate_policy: p.generate_policy,
            policy_group,
            proposal_check: p.proposal_check,
            mode_config: p.mode_config.clone(),
            xauth,
            sha256_96: p.sha256_96,
        };

        // Two enabled peers that no step of the selection can tell apart.
        if !peer.disabled
            && let Some(other) = out.iter().find(|o| {
                !o.disabled
                    && o.address == peer.address
                    && o.local_address == peer.local_address
                    && o.exchange_mode.same_class(peer.exchange_mode)
                    && o.remote_id == peer.remote_id
            })
        {
            let first = config
                .peer
                .iter()
                .position(|q| q.name == other.name)
                .map(|i| ctx.obj(ObjectKind::Peer, i, Some(&other.name)));
            let first = first.map_or_else(
                || format!("peer {:?}", other.name),
                |f| ctx.at(&f, "address"),
            );
            let msg = format!(
                "the same address, local-address, exchange mode and remote-id as {first}, so \
                 one of them could never be selected; expected a different remote-id"
            );
            ctx.error(&obj, "address", ErrorKind::Duplicate, msg);
        }
        out.push(peer);
    }
    out
}

fn daemon(ctx: &mut Ctx<'_>, d: &raw::Daemon) -> Daemon {
    let obj = ObjectRef {
        kind: ObjectKind::Daemon,
        index: 0,
        name: None,
    };
    if d.listen.is_empty() {
        ctx.error(
            &obj,
            "listen",
            ErrorKind::InvalidValue,
            "expected at least one address",
        );
    }
    for (key, port) in [("port", d.port), ("nat-t-port", d.nat_t_port)] {
        if port == 0 {
            ctx.error(
                &obj,
                key,
                ErrorKind::InvalidValue,
                "expected 1..65535, got 0",
            );
        }
    }
    if d.port == d.nat_t_port {
        ctx.error(
            &obj,
            "nat-t-port",
            ErrorKind::Conflict,
            format!("expected a port other than port ({})", d.port),
        );
    }
    if d.control_socket.is_empty() {
        ctx.error(
            &obj,
            "control-socket",
            ErrorKind::InvalidValue,
            "expected a path",
        );
    }
    if d.replay_window > 4096 {
        ctx.error(
            &obj,
            "replay-window",
            ErrorKind::InvalidValue,
            format!("expected 0..4096 packets, got {}", d.replay_window),
        );
    }
    if !(576..=65535).contains(&d.fragment_size) {
        ctx.error(
            &obj,
            "fragment-size",
            ErrorKind::InvalidValue,
            format!("expected 576..65535 bytes, got {}", d.fragment_size),
        );
    }
    if let Some(p) = d.transport_nat_aliases {
        if d.dataplane == super::value::Dataplane::Kernel {
            ctx.warn(
                &obj,
                "transport-nat-aliases",
                "only the userspace dataplane uses it: with kernel XFRM only one transport-mode \
                 client per NAT can use a given port",
            );
        }
        if p.addr().is_ipv4() && p.prefix_len() > 30 || p.addr().is_ipv6() && p.prefix_len() > 126 {
            ctx.error(
                &obj,
                "transport-nat-aliases",
                ErrorKind::InvalidValue,
                format!(
                    "expected a prefix with room for clients, got /{}",
                    p.prefix_len()
                ),
            );
        }
    }
    if d.nas_identifier.is_empty() || d.nas_identifier.len() > 253 {
        ctx.error(
            &obj,
            "nas-identifier",
            ErrorKind::InvalidValue,
            "expected 1 to 253 characters",
        );
    }
    if d.radius_interim_update.0 > Duration::ZERO
        && d.radius_interim_update.0 < Duration::from_secs(1)
    {
        ctx.error(
            &obj,
            "radius-interim-update",
            ErrorKind::InvalidValue,
            "expected 0s (none) or at least 1s",
        );
    }
    if d.radius_accounting_buffer == 0 {
        ctx.error(
            &obj,
            "radius-accounting-buffer",
            ErrorKind::InvalidValue,
            "expected at least 1 record",
        );
    }
    Daemon {
        transport_nat_aliases: d.transport_nat_aliases,
        nas_identifier: d.nas_identifier.clone(),
        radius_interim_update: d.radius_interim_update.0,
        radius_incoming_port: d.radius_incoming_port,
        radius_hold_down: d.radius_hold_down.0,
        radius_require_message_authenticator: d.radius_require_message_authenticator,
        radius_accounting_buffer: d.radius_accounting_buffer as usize,
        listen: d.listen.iter().map(|a| a.0).collect(),
        port: d.port,
        nat_t_port: d.nat_t_port,
        control_socket: PathBuf::from(&d.control_socket),
        dataplane: d.dataplane,
        log_level: d.log_level,
        replay_window: d.replay_window,
        fragment_size: d.fragment_size as usize,
    }
}
