//! Addresses and routes for road-warrior clients' virtual IPs (rtnetlink).
//!
//! Everything this module installs carries the owner's protocol number ([`Owner::rt_protocol`]):
//! `rtm_protocol` on routes, `IFA_PROTO` on addresses (Linux 6.1+; older kernels ignore it), so
//! [`NetConfig::flush_owned`] removes only the daemon's.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use futures::TryStreamExt;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressProtocol};
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
};
use rtnetlink::{AddressMessageBuilder, RouteMessageBuilder};

use crate::client::{DEFAULT_TIMEOUT, DUMP_TIMEOUT};
use crate::error::{Error, Result};
use crate::owner::Owner;
use crate::types::Prefix;

/// A route to install or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteConfig {
    /// Destination prefix.
    pub dst: Prefix,
    /// Next hop; `None` for a route straight out of `oif` (scope link).
    pub gateway: Option<IpAddr>,
    /// Output interface index.
    pub oif: Option<u32>,
    /// Preferred source address (the virtual IP, so that traffic leaves with it).
    pub pref_src: Option<IpAddr>,
    /// Routing table (default: main).
    pub table: Option<u32>,
    /// Metric (RTA_PRIORITY).
    pub metric: Option<u32>,
}

impl RouteConfig {
    /// A route to `dst` in the main table.
    pub fn new(dst: Prefix) -> Self {
        RouteConfig {
            dst,
            gateway: None,
            oif: None,
            pref_src: None,
            table: None,
            metric: None,
        }
    }
}

/// An address as the kernel lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressInfo {
    /// Interface index.
    pub ifindex: u32,
    /// Address (IFA_LOCAL, else IFA_ADDRESS).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// IFA_PROTO, when set.
    pub protocol: Option<u8>,
}

/// A route as the kernel lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInfo {
    /// Destination.
    pub dst: Prefix,
    /// Gateway.
    pub gateway: Option<IpAddr>,
    /// Output interface.
    pub oif: Option<u32>,
    /// Preferred source.
    pub pref_src: Option<IpAddr>,
    /// Table.
    pub table: u32,
    /// Metric.
    pub metric: Option<u32>,
    /// Protocol (RTPROT_*).
    pub protocol: u8,
}

/// An rtnetlink connection for the daemon's addresses and routes.
#[derive(Debug)]
pub struct NetConfig {
    handle: rtnetlink::Handle,
    conn: tokio::task::JoinHandle<()>,
    protocol: u8,
    timeout: Duration,
}

impl Drop for NetConfig {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn address_message(ifindex: u32, addr: IpAddr, prefix_len: u8) -> Result<AddressMessage> {
    Prefix::new(addr, prefix_len)?;
    Ok(match addr {
        IpAddr::V4(a) => AddressMessageBuilder::<Ipv4Addr>::new()
            .index(ifindex)
            .address(a, prefix_len)
            .build(),
        IpAddr::V6(a) => AddressMessageBuilder::<Ipv6Addr>::new()
            .index(ifindex)
            .address(a, prefix_len)
            .build(),
    })
}

impl NetConfig {
    /// Opens the connection (inside a tokio runtime; in the calling thread's namespace).
    pub fn new(owner: &Owner) -> Result<Self> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|source| Error::Io {
            op: "open rtnetlink socket",
            source,
        })?;
        Ok(NetConfig {
            handle,
            conn: rt.spawn(conn),
            protocol: owner.rt_protocol,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    async fn bounded<T>(
        &self,
        op: &'static str,
        timeout: Duration,
        fut: impl Future<Output = std::result::Result<T, rtnetlink::Error>>,
    ) -> Result<T> {
        let r = match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r.map_err(|e| Error::from_rtnl(op, e)),
            Err(_) => Err(Error::Timeout { op, timeout }),
        };
        // A request whose connection died before the answer sees its reply stream end, which
        // the request types read as success: do not believe it.
        if self.conn.is_finished() {
            return Err(Error::ConnectionClosed { op });
        }
        r
    }

    /// The index of the interface with this name.
    pub async fn link_index(&self, name: &str) -> Result<u32> {
        let req = self.handle.link().get().match_name(name.to_string());
        let fut = async move {
            let mut s = std::pin::pin!(req.execute());
            s.try_next().await
        };
        match self.bounded("get link", self.timeout, fut).await {
            Ok(Some(m)) => Ok(m.header.index),
            Ok(None) => Err(Error::NotFound(format!("interface {name}"))),
            Err(e) if e.errno() == Some(libc::ENODEV) => {
                Err(Error::NotFound(format!("interface {name}")))
            }
            Err(e) => Err(e),
        }
    }

    /// The name of the interface with this index.
    pub async fn link_name(&self, index: u32) -> Result<String> {
        let req = self.handle.link().get().match_index(index);
        let fut = async move {
            let mut s = std::pin::pin!(req.execute());
            s.try_next().await
        };
        let m = self
            .bounded("get link", self.timeout, fut)
            .await?
            .ok_or_else(|| Error::NotFound(format!("interface #{index}")))?;
        m.attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::IfName(n) => Some(n.clone()),
                _ => None,
            })
            .ok_or_else(|| Error::NotFound(format!("name of interface #{index}")))
    }

    /// Adds an address to an interface, tagged as ours.
    pub async fn add_address(&self, ifindex: u32, addr: IpAddr, prefix_len: u8) -> Result<()> {
        let mut req = self.handle.address().add(ifindex, addr, prefix_len);
        Prefix::new(addr, prefix_len)?;
        req.message_mut()
            .attributes
            .push(AddressAttribute::Protocol(AddressProtocol::Other(
                self.protocol,
            )));
        self.bounded("add address", self.timeout, req.execute())
            .await
    }

    /// Removes an address from an interface.
    pub async fn del_address(&self, ifindex: u32, addr: IpAddr, prefix_len: u8) -> Result<()> {
        let msg = address_message(ifindex, addr, prefix_len)?;
        let req = self.handle.address().del(msg);
        self.bounded("delete address", self.timeout, req.execute())
            .await
    }

    /// Lists addresses (of one interface, or all).
    pub async fn addresses(&self, ifindex: Option<u32>) -> Result<Vec<AddressInfo>> {
        let mut req = self.handle.address().get();
        if let Some(i) = ifindex {
            req = req.set_link_index_filter(i);
        }
        let msgs: Vec<AddressMessage> = self
            .bounded("list addresses", DUMP_TIMEOUT, req.execute().try_collect())
            .await?;
        Ok(msgs
            .iter()
            .filter_map(|m| {
                let mut local = None;
                let mut address = None;
                let mut protocol = None;
                for a in &m.attributes {
                    match a {
                        AddressAttribute::Local(ip) => local = Some(*ip),
                        AddressAttribute::Address(ip) => address = Some(*ip),
                        AddressAttribute::Protocol(p) => protocol = Some(u8::from(*p)),
                        _ => {}
                    }
                }
                Some(AddressInfo {
                    ifindex: m.header.index,
                    addr: local.or(address)?,
                    prefix_len: m.header.prefix_len,
                    protocol,
                })
            })
            .collect())
    }

    fn route_message(&self, r: &RouteConfig, for_delete: bool) -> Result<RouteMessage> {
        let mut b = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(r.dst.addr(), r.dst.prefix_len())
            .map_err(|e| Error::Invalid(e.to_string()))?;
        if let Some(gw) = r.gateway {
            b = b.gateway(gw).map_err(|e| Error::Invalid(e.to_string()))?;
        }
        if let Some(src) = r.pref_src {
            b = b
                .pref_source(src)
                .map_err(|e| Error::Invalid(e.to_string()))?;
        }
        if let Some(oif) = r.oif {
            b = b.output_interface(oif);
        }
        if let Some(t) = r.table {
            b = b.table_id(t);
        }
        if let Some(m) = r.metric {
            b = b.priority(m);
        }
        b = b.protocol(RouteProtocol::from(self.protocol));
        b = if for_delete {
            // Match whatever scope the route has.
            b.scope(RouteScope::NoWhere)
        } else if r.gateway.is_none() {
            b.scope(RouteScope::Link)
        } else {
            b.scope(RouteScope::Universe)
        };
        Ok(b.build())
    }

    /// Adds a route, tagged as ours.
    pub async fn add_route(&self, r: &RouteConfig) -> Result<()> {
        let msg = self.route_message(r, false)?;
        let req = self.handle.route().add(msg);
        self.bounded("add route", self.timeout, req.execute()).await
    }

    /// Removes a route (only one of ours: the protocol must match).
    pub async fn del_route(&self, r: &RouteConfig) -> Result<()> {
        let msg = self.route_message(r, true)?;
        self.del_route_msg(msg).await
    }

    async fn del_route_msg(&self, msg: RouteMessage) -> Result<()> {
        let req = self.handle.route().del(msg);
        self.bounded("delete route", self.timeout, req.execute())
            .await
    }

    async fn dump_routes(&self, v6: bool) -> Result<Vec<RouteMessage>> {
        let filter = if v6 {
            RouteMessageBuilder::<Ipv6Addr>::new().build()
        } else {
            RouteMessageBuilder::<Ipv4Addr>::new().build()
        };
        let req = self.handle.route().get(filter);
        self.bounded("list routes", DUMP_TIMEOUT, req.execute().try_collect())
            .await
    }

    /// Lists the routes of one family, all tables.
    pub async fn routes(&self, v6: bool) -> Result<Vec<RouteInfo>> {
        Ok(self
            .dump_routes(v6)
            .await?
            .iter()
            .filter_map(route_info)
            .collect())
    }

    /// Removes every route and address tagged as ours; returns (routes, addresses) removed.
    pub async fn flush_owned(&self) -> Result<(usize, usize)> {
        let mut routes = 0;
        for v6 in [false, true] {
            for m in self.dump_routes(v6).await? {
                if u8::from(m.header.protocol) != self.protocol {
                    continue;
                }
                let mut del = RouteMessage::default();
                del.header = m.header.clone();
                del.header.scope = RouteScope::NoWhere;
                del.attributes = m
                    .attributes
                    .iter()
                    .filter(|a| {
                        matches!(
                            a,
                            RouteAttribute::Destination(_)
                                | RouteAttribute::Table(_)
                                | RouteAttribute::Oif(_)
                                | RouteAttribute::Gateway(_)
                                | RouteAttribute::Priority(_)
                        )
                    })
                    .cloned()
                    .collect();
                match self.del_route_msg(del).await {
                    Ok(()) => routes += 1,
                    Err(e) if e.errno() == Some(libc::ESRCH) || e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let mut addrs = 0;
        for a in self.addresses(None).await? {
            if a.protocol != Some(self.protocol) {
                continue;
            }
            match self.del_address(a.ifindex, a.addr, a.prefix_len).await {
                Ok(()) => addrs += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok((routes, addrs))
    }
}

fn route_info(m: &RouteMessage) -> Option<RouteInfo> {
    let mut dst = None;
    let mut gateway = None;
    let mut oif = None;
    let mut pref_src = None;
    let mut table = u32::from(m.header.table);
    let mut metric = None;
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => dst = route_ip(d),
            RouteAttribute::Gateway(g) => gateway = route_ip(g),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::PrefSource(s) => pref_src = route_ip(s),
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Priority(p) => metric = Some(*p),
            _ => {}
        }
    }
    let dst = match dst {
        Some(ip) => ip,
        None => match m.header.address_family {
            AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            _ => return None,
        },
    };
    Some(RouteInfo {
        dst: Prefix::new(dst, m.header.destination_prefix_length).ok()?,
        gateway,
        oif,
        pref_src,
        table: if table == 0 {
            u32::from(RouteHeader::RT_TABLE_MAIN)
        } else {
            table
        },
        metric,
        protocol: u8::from(m.header.protocol),
    })
}
