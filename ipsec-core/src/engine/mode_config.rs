//! Mode-config (draft-dukes-ike-mode-cfg-02): the client's virtual address, DNS servers and
//! split networks, over transaction exchanges.
//!
//! Server (`passive` peer whose `mode-config` is a responder one): answers a client's REQUEST
//! ("pull", what iOS, Android, macOS and strongSwan do) with what it asked for among the
//! address (the user's `[[user]]` address, the XAuth verdict's, or a lease from the pool:
//! the same user gets the same address again), netmask (`address-prefix-length`), DNS
//! servers, Cisco Unity split-include (the 14-byte form), save-password (no) and the
//! application version. The address is reported with [`Event::AddressAssigned`], and quick
//! modes from the client must then use it as their remote selector.
//!
//! Client (a peer with `mode-config = request-only` or a non-responder `[[mode-config]]`):
//! after XAuth (or phase 1 without it) it asks for its address, accepts a pushed SET too,
//! reports what it got with [`Event::ModeConfigReceived`] (the driver applies it) and uses
//! the address as the local selector of its quick modes.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use crate::config::{DnsServers, IpPrefix, ModeConfigRef};
use crate::wire::{
    CfgType, ConfigAttribute, ConfigAttributeType as T, ConfigValue, UnitySplitNetwork,
};

use super::event::Event;
use super::ike::IkeId;
use super::transaction::{Asked, Attributes, CfgState, TxKind, XauthState};
use super::{Engine, Reject};

/// What a mode-config client received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceivedConfig {
    /// The virtual address.
    pub address: Option<IpAddr>,
    /// Its prefix length (from INTERNAL_IP4_NETMASK or the IPv6 address attribute).
    pub prefix_len: Option<u8>,
    /// DNS servers.
    pub dns: Vec<IpAddr>,
    /// Networks to send through the tunnel (Cisco Unity split-include); empty for all.
    pub split_include: Vec<IpPrefix>,
    /// Networks to reach directly despite the tunnel (Cisco Unity local LAN).
    pub local_lan: Vec<IpPrefix>,
    /// Domains to resolve with the tunnel's DNS servers (Cisco Unity split DNS).
    pub split_dns: Vec<String>,
    /// Default DNS domain (Cisco Unity).
    pub default_domain: Option<String>,
    /// Login banner (Cisco Unity).
    pub banner: Option<String>,
}

/// What a client asks for (the attributes of a pull REQUEST).
const REQUESTED: [T; 8] = [
    T::InternalIp4Address,
    T::InternalIp4Netmask,
    T::InternalIp4Dns,
    T::UnitySplitInclude,
    T::UnityLocalLan,
    T::UnitySplitDnsName,
    T::UnityDefDomain,
    T::UnityBanner,
];

impl Engine {
    /// Whether we are a mode-config client of the peer of `id`.
    pub(super) fn wants_mode_config(&self, id: IkeId) -> bool {
        let Some(name) = self
            .ike
            .get(&id)
            .and_then(|sa| sa.established())
            .map(|e| &e.sa.peer_name)
        else {
            return false;
        };
        let Some(peer) = self.config.peer(name) else {
            return false;
        };
        !peer.passive
            && match &peer.mode_config {
                ModeConfigRef::None => false,
                ModeConfigRef::RequestOnly => true,
                ModeConfigRef::Named(n) => self.config.mode_config(n).is_some_and(|m| !m.responder),
            }
    }

    /// Client: asks for an address and the rest.
    pub(super) fn request_mode_config(&mut self, now: Instant, id: IkeId) {
        let attrs: Vec<ConfigAttribute<'_>> = REQUESTED
            .iter()
            .map(|&ty| ConfigAttribute {
                ty,
                value: ConfigValue::Empty,
            })
            .collect();
        if let Some(stage) = self.stage_mut(id) {
            stage.cfg = CfgState::Requested;
        }
        if let Err(reason) =
            self.start_transaction(now, id, TxKind::CfgRequest, CfgType::Request, &attrs)
        {
            self.config_stage_failed(now, id, reason);
        }
    }

    /// Server: a client's REQUEST (pull), answered with what it asked for.
    pub(super) fn mode_config_request(
        &mut self,
        now: Instant,
        id: IkeId,
        asked: Asked,
        attrs: Attributes,
    ) -> Result<(), Reject> {
        let (reply, address, pid, user, fresh) = self.server_config(id, Some(&attrs))?;
        self.answer_transaction(now, id, asked, CfgType::Reply, &reply)?;
        self.address_given(id, pid, user, address, fresh);
        Ok(())
    }

    /// Server with `push = true`: after XAuth, SET the configuration unasked (the client
    /// acknowledges it).
    pub(super) fn push_mode_config(&mut self, now: Instant, id: IkeId) {
        let (set, address, pid, user, fresh) = match self.server_config(id, None) {
            Ok(c) => c,
            Err(reason) => return self.config_stage_failed(now, id, reason),
        };
        if let Err(reason) = self.start_transaction(now, id, TxKind::CfgSet, CfgType::Set, &set) {
            return self.config_stage_failed(now, id, reason);
        }
        self.address_given(id, pid, user, address, fresh);
    }

    /// Whether the server side of `id` pushes its configuration.
    pub(super) fn pushes_mode_config(&self, id: IkeId) -> bool {
        self.responder_mode_config(id).is_some_and(|m| m.push)
    }

    /// The responder `[[mode-config]]` of the peer of `id`.
    fn responder_mode_config(&self, id: IkeId) -> Option<&crate::config::ModeConfig> {
        let e = self.ike.get(&id)?.established()?;
        let peer = self.config.peer(&e.sa.peer_name)?;
        let ModeConfigRef::Named(name) = &peer.mode_config else {
            return None;
        };
        self.config.mode_config(name).filter(|m| m.responder)
    }

    /// Records the address handed to the peer of `id` and reports it once.
    fn address_given(
        &mut self,
        id: IkeId,
        pid: super::PeerId,
        user: Option<String>,
        address: IpAddr,
        fresh: bool,
    ) {
        if let Some(stage) = self.stage_mut(id) {
            stage.address = Some(address);
            stage.cfg = CfgState::Done;
        }
        if fresh {
            self.stats.addresses_assigned += 1;
            self.events.push_back(Event::AddressAssigned {
                peer: pid,
                user,
                address,
            });
        }
    }

    /// Server: the configuration for the peer of `id`: the attributes (those `asked` for,
    /// or everything configured for a push), the address (leased now unless the SA has
    /// one), the session, the user, and whether the address is new to this SA.
    #[allow(clippy::type_complexity)]
    fn server_config(
        &mut self,
        id: IkeId,
        asked: Option<&Attributes>,
    ) -> Result<
        (
            Vec<ConfigAttribute<'static>>,
            IpAddr,
            super::PeerId,
            Option<String>,
            bool,
        ),
        Reject,
    > {
        let sa = self.ike.get(&id).ok_or(Reject::UnknownSa)?;
        let e = sa.established().ok_or(Reject::UnexpectedMessage)?;
        if !matches!(e.stage.xauth, XauthState::NotUsed | XauthState::Succeeded) {
            return Err(Reject::XauthPending);
        }
        let pid = sa.peer.ok_or(Reject::UnknownSa)?;
        let config = std::sync::Arc::clone(&self.config);
        let mc = self
            .responder_mode_config(id)
            .cloned()
            .ok_or(Reject::NoModeConfig)?;
        // The lease's owner: the XAuth user, else the peer's identity, else its address.
        let owner = match (&e.stage.user, &e.sa.remote_id) {
            (Some(u), _) => format!("user:{u}"),
            (None, Some(id)) => format!("id:{id:?}"),
            (None, None) => format!("addr:{}", sa.remote.ip()),
        };
        let fixed = e.stage.granted.or_else(|| {
            e.stage
                .user
                .as_deref()
                .and_then(|u| config.user(u))
                .and_then(|u| u.address)
        });
        let user = e.stage.user.as_deref().map(str::to_owned);
        let prefix = e.stage.granted_prefix;
        let had = e.stage.address;
        let pool = mc.address_pool.as_deref().and_then(|p| config.ip_pool(p));
        let address = match had {
            Some(a) => a,
            None => self
                .leases
                .acquire(&owner, fixed, pool, pid)
                .ok_or(Reject::NoAddress)?,
        };
        let reply = config_attributes(&mc, address, prefix, asked, &self.options.system_dns);
        Ok((reply, address, pid, user, had.is_none()))
    }

    /// Client: the server pushed its configuration (SET); acknowledged with the types taken.
    pub(super) fn mode_config_set(
        &mut self,
        now: Instant,
        id: IkeId,
        asked: Asked,
        attrs: Attributes,
    ) -> Result<(), Reject> {
        if !self.wants_mode_config(id) {
            return Err(Reject::NoModeConfig);
        }
        let ack: Vec<ConfigAttribute<'_>> = attrs
            .list
            .iter()
            .map(|a| attr(a.ty, ConfigValue::Empty))
            .collect();
        self.answer_transaction(now, id, asked, CfgType::Ack, &ack)?;
        self.mode_config_received(now, id, attrs);
        Ok(())
    }

    /// Client: the configuration arrived (a REPLY to our pull, or a pushed SET).
    pub(super) fn mode_config_received(&mut self, now: Instant, id: IkeId, attrs: Attributes) {
        if self.stage(id).is_some_and(|s| s.cfg == CfgState::Done) {
            // Pushed and then answered (or the reverse): the first one counts.
            return;
        }
        let got = read_config(&attrs);
        let Some(address) = got.address else {
            return self.config_stage_failed(now, id, Reject::NoAddress);
        };
        let peer = self.ike.get(&id).and_then(|sa| sa.peer);
        let Some(stage) = self.stage_mut(id) else {
            return;
        };
        stage.address = Some(address);
        stage.cfg = CfgState::Done;
        let ready = stage.ready();
        if let Some(peer) = peer {
            self.events.push_back(Event::ModeConfigReceived {
                peer,
                config: Box::new(got),
            });
        }
        if ready {
            self.config_stage_ready(now, id);
        }
    }
}

/// The attributes a server sends: the address (always), and among the rest those `asked`
/// for (`None`: a push, everything configured). Split-include is sent when configured even
/// if not asked for: it is what makes a Cisco-style client route only those networks, and
/// clients that do not know it ignore it.
fn config_attributes(
    mc: &crate::config::ModeConfig,
    address: IpAddr,
    prefix: Option<u8>,
    asked: Option<&Attributes>,
    system_dns: &[IpAddr],
) -> Vec<ConfigAttribute<'static>> {
    let prefix = prefix.unwrap_or(mc.address_prefix_length);
    let wants = |ty| asked.is_none_or(|a| a.list.iter().any(|x| x.ty == ty));
    let mut out = Vec::new();
    match address {
        IpAddr::V4(a) => {
            out.push(attr(T::InternalIp4Address, ConfigValue::Ipv4(a)));
            if wants(T::InternalIp4Netmask) {
                let mask = Ipv4Addr::from(mask_of(prefix.min(32)));
                out.push(attr(T::InternalIp4Netmask, ConfigValue::Ipv4(mask)));
            }
        }
        IpAddr::V6(a) => out.push(attr(
            T::InternalIp6Address,
            ConfigValue::Ipv6Prefix {
                addr: a,
                prefix_len: prefix.min(128),
            },
        )),
    }
    let dns: Vec<IpAddr> = match &mc.dns {
        DnsServers::Static(list) => list.clone(),
        DnsServers::System => system_dns.to_vec(),
        DnsServers::None => Vec::new(),
    };
    for d in dns {
        match d {
            IpAddr::V4(d) if wants(T::InternalIp4Dns) => {
                out.push(attr(T::InternalIp4Dns, ConfigValue::Ipv4(d)));
            }
            IpAddr::V6(d) if wants(T::InternalIp6Dns) => {
                out.push(attr(T::InternalIp6Dns, ConfigValue::Ipv6(d)));
            }
            _ => {}
        }
    }
    let networks = |list: &[IpPrefix]| -> Vec<UnitySplitNetwork> {
        list.iter()
            .filter_map(|p| match p.addr() {
                IpAddr::V4(addr) => Some(UnitySplitNetwork {
                    addr,
                    mask: Ipv4Addr::from(mask_of(p.prefix_len())),
                    extra: Some([0; 6]),
                }),
                IpAddr::V6(_) => None,
            })
            .collect()
    };
    if !mc.split_include.is_empty() {
        out.push(attr(
            T::UnitySplitInclude,
            ConfigValue::Networks(networks(&mc.split_include)),
        ));
    }
    if !mc.local_lan.is_empty() && wants(T::UnityLocalLan) {
        out.push(attr(
            T::UnityLocalLan,
            ConfigValue::Networks(networks(&mc.local_lan)),
        ));
    }
    let text = |s: &str| ConfigValue::Bytes(s.as_bytes().to_vec().into());
    if let Some(d) = &mc.default_domain
        && wants(T::UnityDefDomain)
    {
        out.push(attr(T::UnityDefDomain, text(d)));
    }
    if !mc.split_dns.is_empty() && wants(T::UnitySplitDnsName) {
        out.push(attr(T::UnitySplitDnsName, text(&mc.split_dns.join(","))));
    }
    if let Some(b) = &mc.banner
        && wants(T::UnityBanner)
    {
        out.push(attr(T::UnityBanner, text(b)));
    }
    if asked.is_some_and(|a| a.list.iter().any(|x| x.ty == T::UnitySavePasswd)) {
        out.push(attr(
            T::UnitySavePasswd,
            ConfigValue::U16(u16::from(mc.save_password)),
        ));
    }
    if asked.is_some_and(|a| a.list.iter().any(|x| x.ty == T::ApplicationVersion)) {
        out.push(attr(
            T::ApplicationVersion,
            ConfigValue::Bytes(b"iked".as_slice().into()),
        ));
    }
    out
}

/// A typed attribute.
fn attr(ty: T, value: ConfigValue<'static>) -> ConfigAttribute<'static> {
    ConfigAttribute { ty, value }
}

/// The IPv4 netmask of a prefix length.
fn mask_of(len: u8) -> u32 {
    match len {
        0 => 0,
        n => u32::MAX << (32 - u32::from(n.min(32))),
    }
}

/// The configuration in a REPLY or SET.
fn read_config(attrs: &Attributes) -> ReceivedConfig {
    let mut c = ReceivedConfig::default();
    let text = |b: &[u8]| {
        let t = String::from_utf8_lossy(b).trim_end_matches('\0').to_owned();
        (!t.is_empty()).then_some(t)
    };
    for a in &attrs.list {
        match (a.ty, &a.value) {
            (T::InternalIp4Address, ConfigValue::Ipv4(v)) if c.address.is_none() => {
                c.address = Some(IpAddr::V4(*v));
            }
            (T::InternalIp4Netmask, ConfigValue::Ipv4(m)) => {
                let m = u32::from(*m);
                // Only a contiguous mask is a prefix length.
                if m.leading_ones() + m.trailing_zeros() == 32 {
                    c.prefix_len = u8::try_from(m.leading_ones()).ok();
                }
            }
            (T::InternalIp6Address, ConfigValue::Ipv6Prefix { addr, prefix_len })
                if c.address.is_none() =>
            {
                c.address = Some(IpAddr::V6(*addr));
                c.prefix_len = Some((*prefix_len).min(128));
            }
            (T::InternalIp4Dns, ConfigValue::Ipv4(v)) => c.dns.push(IpAddr::V4(*v)),
            (T::InternalIp6Dns, ConfigValue::Ipv6(v)) => c.dns.push(IpAddr::V6(*v)),
            (T::UnitySplitInclude, ConfigValue::Networks(list)) => {
                c.split_include.extend(list.iter().filter_map(prefix_of));
            }
            (T::UnityLocalLan, ConfigValue::Networks(list)) => {
                c.local_lan.extend(list.iter().filter_map(prefix_of));
            }
            (T::UnitySplitDnsName, ConfigValue::Bytes(b)) => {
                if let Some(t) = text(b) {
                    c.split_dns.extend(
                        t.split(',')
                            .map(str::trim)
                            .filter(|d| !d.is_empty())
                            .map(str::to_owned),
                    );
                }
            }
            (T::UnityDefDomain, ConfigValue::Bytes(b)) => c.default_domain = text(b),
            (T::UnityBanner, ConfigValue::Bytes(b)) => c.banner = text(b),
            _ => {}
        }
    }
    c.dns.truncate(16);
    c.split_include.truncate(crate::wire::MAX_SPLIT_NETWORKS);
    c.local_lan.truncate(crate::wire::MAX_SPLIT_NETWORKS);
    c.split_dns.truncate(64);
    c
}

/// The prefix of a Unity network entry (a non-contiguous mask is no prefix).
fn prefix_of(n: &UnitySplitNetwork) -> Option<IpPrefix> {
    let m = u32::from(n.mask);
    if m.leading_ones() + m.trailing_zeros() != 32 {
        return None;
    }
    IpPrefix::new(IpAddr::V4(n.addr), u8::try_from(m.leading_ones()).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask_of(0), 0);
        assert_eq!(mask_of(24), 0xffff_ff00);
        assert_eq!(mask_of(32), u32::MAX);
    }
}
