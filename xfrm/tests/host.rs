//! The xfrm crate against the host kernel, each test in a network namespace of its own:
//! policies, SPI allocation, per-socket bypass, ACQUIRE, flush-only-ours and crash cleanup,
//! addresses and routes. (ESP SAs need a kernel with ESP: see `kernel_vm.rs`.)
//!
//! Needs root; skipped (with a message) otherwise.

mod common;

use std::collections::HashSet;
use std::net::{IpAddr, UdpSocket};
use std::time::Duration;

use common::NetNs;
use xfrm::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn prefix(s: &str) -> Prefix {
    let (a, l) = s.split_once('/').unwrap();
    Prefix::new(ip(a), l.parse().unwrap()).unwrap()
}

fn tunnel_policies(reqid_out: u32, reqid_in: u32) -> Vec<PolicyConfig> {
    let local = prefix("198.51.100.0/24");
    let remote = prefix("203.0.113.0/24");
    let (me, peer) = (ip("198.18.0.1"), ip("198.18.0.2"));
    vec![
        PolicyConfig::ipsec(
            Selector::new(local, remote),
            Direction::Out,
            Template::esp_tunnel(me, peer, reqid_out),
        )
        .with_priority(2000),
        PolicyConfig::ipsec(
            Selector::new(remote, local),
            Direction::In,
            Template::esp_tunnel(peer, me, reqid_in),
        )
        .with_priority(2001),
        PolicyConfig::ipsec(
            Selector::new(remote, local),
            Direction::Fwd,
            Template::esp_tunnel(peer, me, reqid_in),
        )
        .with_priority(2002),
    ]
}

#[test]
fn policies_add_dump_update_delete() {
    require_root!();
    let ns = NetNs::new("pol");
    let listing = ns.run(|| async {
        let x = Xfrm::new(Owner::default()).unwrap();
        let o = *x.owner();
        let mut installed = tunnel_policies(o.reqid(1), o.reqid(2));
        // A block policy with protocol and ports, and a transport-mode one with a mark.
        installed.push(
            PolicyConfig::new(
                Selector::new(prefix("198.51.100.7/32"), prefix("203.0.113.0/25"))
                    .with_proto(17)
                    .with_sport(1701)
                    .with_dport(1701),
                Direction::Out,
                Action::Block,
            )
            .with_priority(10),
        );
        let mut transport = PolicyConfig::ipsec(
            Selector::new(prefix("198.18.0.1/32"), prefix("198.18.0.2/32")).with_proto(17),
            Direction::Out,
            Template::esp_transport(o.reqid(3)),
        );
        transport.mark = Some(Mark {
            value: 0x10,
            mask: 0xf0,
        });
        installed.push(transport);
        // IPv6, tunnel mode.
        installed.push(PolicyConfig::ipsec(
            Selector::new(prefix("2001:db8:1::/48"), prefix("2001:db8:2::/48")),
            Direction::Out,
            Template::esp_tunnel(ip("2001:db8::1"), ip("2001:db8::2"), o.reqid(4)),
        ));
        let mut indexes = Vec::new();
        for p in &installed {
            indexes.push(x.add_policy(p).await.unwrap());
        }
        // Adding the same policy again is refused.
        let again = x.add_policy(&installed[0]).await.unwrap_err();
        assert!(again.is_exists(), "{again}");

        let dump = x.dump_policies().await.unwrap();
        assert_eq!(dump.len(), installed.len(), "{dump:#?}");
        for (p, idx) in installed.iter().zip(&indexes) {
            let got = dump
                .iter()
                .find(|d| d.id() == p.id())
                .unwrap_or_else(|| panic!("{p:?} not in {dump:#?}"));
            assert_eq!(got.index, *idx);
            assert!(o.owns_policy_index(got.index));
            assert!(x.owns_policy(got));
            assert_eq!(got.action, p.action);
            assert_eq!(got.priority, p.priority);
            assert_eq!(got.templates, p.templates);
            assert_eq!(got.mark, p.mark);
            assert_eq!(x.get_policy(&p.id()).await.unwrap(), *got);
        }

        // Update keeps the index and changes the priority.
        let changed = installed[0].clone().with_priority(77);
        let returned = x.update_policy(&changed).await.unwrap();
        let got = x.get_policy(&changed.id()).await.unwrap();
        assert_eq!((got.priority, got.index), (77, indexes[0]));
        // ... and says so: an ACQUIRE names the policy by that index.
        assert_eq!(returned, indexes[0]);

        let listing = common::sh(&["ip", "xfrm", "policy", "list"]);
        // The block policy by its index, the others by selector.
        x.delete_policy_index(indexes[3]).await.unwrap();
        for (i, p) in installed.iter().enumerate() {
            if i != 3 {
                x.delete_policy(&p.id()).await.unwrap();
            }
        }
        let gone = x.delete_policy(&installed[0].id()).await.unwrap_err();
        assert!(gone.is_not_found(), "{gone}");
        assert!(x.dump_policies().await.unwrap().is_empty());
        listing
    });
    // iproute2 sees what we installed, as we meant it.
    assert!(
        listing.contains("src 198.51.100.0/24 dst 203.0.113.0/24"),
        "{listing}"
    );
    assert!(listing.contains("dir fwd priority 2002"), "{listing}");
    assert!(
        listing.contains("proto udp sport 1701 dport 1701"),
        "{listing}"
    );
    assert!(listing.contains("action block"), "{listing}");
    assert!(listing.contains("mark 0x10/0xf0"), "{listing}");
    assert!(
        listing.contains("tmpl src 198.18.0.2 dst 198.18.0.1"),
        "{listing}"
    );
    assert!(
        listing.contains("proto esp reqid 1802043394 mode tunnel"),
        "{listing}"
    );
    assert!(listing.contains("mode transport"), "{listing}");
    assert!(
        listing.contains("src 2001:db8:1::/48 dst 2001:db8:2::/48"),
        "{listing}"
    );
}

#[test]
fn spi_allocation_is_unique_and_in_range() {
    require_root!();
    let ns = NetNs::new("spi");
    ns.run(|| async {
        let x = Xfrm::new(Owner::default()).unwrap();
        let (peer, me) = (ip("198.18.0.2"), ip("198.18.0.1"));
        let mut req = SpiRequest::esp(peer, me, Mode::Tunnel, x.owner().reqid(5));
        req.min = 0xc000_1000;
        req.max = 0xc000_10ff;
        let mut seen = HashSet::new();
        for _ in 0..40 {
            let spi = x.alloc_spi(&req).await.unwrap();
            assert!((req.min..=req.max).contains(&spi), "{spi:#x}");
            assert!(seen.insert(spi), "SPI {spi:#x} handed out twice");
        }
        // IPv6 too.
        let v6 = SpiRequest::esp(ip("2001:db8::2"), ip("2001:db8::1"), Mode::Transport, 9);
        let spi6 = x.alloc_spi(&v6).await.unwrap();
        assert!(spi6 >= 0x100);

        let sas = x.dump_sas().await.unwrap();
        let larval: Vec<_> = sas.iter().filter(|s| seen.contains(&s.id.spi)).collect();
        assert_eq!(larval.len(), 40);
        for s in &larval {
            assert!(s.larval, "{s:?}");
            assert_eq!(s.reqid, x.owner().reqid(5));
            assert_eq!((s.id.src, s.id.dst), (peer, me));
        }
        // A range of one SPI: the second request finds it taken.
        let mut one = req;
        one.min = 0xd000_0000;
        one.max = 0xd000_0000;
        assert_eq!(x.alloc_spi(&one).await.unwrap(), 0xd000_0000);
        let err = x.alloc_spi(&one).await.unwrap_err();
        assert!(matches!(err, Error::Kernel { .. }), "{err}");

        // The v6 one has reqid 9 (not ours) but this client made it: flushed too.
        // Everything goes, including the SPI-less larval SA the failed allocation left.
        assert_eq!(x.dump_sas().await.unwrap().len(), 43);
        let report = x.flush_owned().await.unwrap();
        let left = common::sh(&["ip", "xfrm", "state"]);
        assert!(left.is_empty(), "{left}");
        assert_eq!(report.sas, 43);
    });
}

/// The blocking allocator (for the sans-IO engine's synchronous SPI seam) gets the same
/// larval SAs as the async client.
#[test]
fn blocking_spi_allocation_then_update() {
    require_root!();
    let ns = NetNs::new("bspi");
    ns.run(|| async {
        let x = Xfrm::new(Owner::default()).unwrap();
        let (peer, me) = (ip("198.18.0.2"), ip("198.18.0.1"));
        let mut spis = BlockingSpis::new(Duration::from_secs(2)).unwrap();
        let mut req = SpiRequest::esp(peer, me, Mode::Tunnel, x.owner().reqid(7));
        req.min = 0xc100_0000;
        req.max = 0xc100_00ff;
        let mut seen = HashSet::new();
        for _ in 0..20 {
            let spi = spis.alloc_spi(&req).unwrap();
            assert!((req.min..=req.max).contains(&spi), "{spi:#x}");
            assert!(seen.insert(spi), "SPI {spi:#x} handed out twice");
        }
        let mut one = req;
        one.min = 0xd100_0000;
        one.max = 0xd100_0000;
        assert_eq!(spis.alloc_spi(&one).unwrap(), 0xd100_0000);
        let err = spis.alloc_spi(&one).unwrap_err();
        assert!(matches!(err, Error::Kernel { .. }), "{err}");

        // Completing a larval SA with update_sa needs kernel ESP: iked's VM tests do it (the
        // daemon installs every inbound SA on a kernel-allocated SPI).
        let sas = x.dump_sas().await.unwrap();
        assert!(
            sas.iter()
                .filter(|s| seen.contains(&s.id.spi))
                .all(|s| s.larval)
        );
        // Ours by reqid: the next start's clean-up would find them.
        assert!(
            sas.iter()
                .filter(|s| seen.contains(&s.id.spi))
                .all(|s| s.reqid == x.owner().reqid(7))
        );
    });
}

#[test]
fn socket_bypass_lets_ike_through_block_policies() {
    require_root!();
    // Two namespaces on a veth: loopback traffic never meets XFRM (lo has disable_xfrm).
    let a = NetNs::new("bypa");
    let b = NetNs::new("bypb");
    a.ip(&[
        "link",
        "add",
        "va",
        "type",
        "veth",
        "peer",
        "name",
        "vb",
        "netns",
        b.name(),
    ]);
    a.ip(&["addr", "add", "198.18.7.1/24", "dev", "va"]);
    b.ip(&["addr", "add", "198.18.7.2/24", "dev", "vb"]);
    a.ip(&["link", "set", "va", "up"]);
    b.ip(&["link", "set", "vb", "up"]);
    let peer = b.run_blocking(|| {
        let s = UdpSocket::bind("198.18.7.2:500").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s
    });
    a.run(move || async move {
        let x = Xfrm::new(Owner::default()).unwrap();
        let (me, them) = (prefix("198.18.7.1/32"), prefix("198.18.7.2/32"));
        x.add_policy(&PolicyConfig::new(
            Selector::new(me, them).with_proto(17),
            Direction::Out,
            Action::Block,
        ))
        .await
        .unwrap();
        x.add_policy(&PolicyConfig::new(
            Selector::new(them, me).with_proto(17),
            Direction::In,
            Action::Block,
        ))
        .await
        .unwrap();
        let to = peer.local_addr().unwrap();

        // Without bypass, the block policy refuses the datagram at send time.
        let plain = UdpSocket::bind("198.18.7.1:4501").unwrap();
        plain
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let err = plain.send_to(b"clear?", to).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");

        // With bypass, it goes out, and the answer comes in through the inbound block policy.
        let ike = UdpSocket::bind("198.18.7.1:500").unwrap();
        ike.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        socket::bypass(&ike).unwrap();
        ike.send_to(b"isakmp", to).unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"isakmp");
        assert_eq!(from, ike.local_addr().unwrap());
        peer.send_to(b"answer", from).unwrap();
        let (n, _) = ike.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"answer");

        // The same answer to the socket without bypass is dropped by the inbound policy.
        peer.send_to(b"answer", plain.local_addr().unwrap())
            .unwrap();
        assert!(plain.recv_from(&mut buf).is_err());

        // IPv6 sockets take the IPv6 option; UDP_ENCAP is accepted on UDP sockets.
        let v6 = UdpSocket::bind("[::1]:0").unwrap();
        socket::bypass(&v6).unwrap();
        socket::set_udp_encap(&v6).unwrap();
        assert_eq!(x.flush_owned().await.unwrap().policies, 2);
    });
}

#[test]
fn acquire_event_for_policy_without_sa() {
    require_root!();
    let ns = NetNs::new("acq");
    ns.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    ns.ip(&["addr", "add", "198.18.1.1/24", "dev", "v0"]);
    ns.ip(&["link", "set", "v0", "up"]);
    ns.ip(&["link", "set", "v1", "up"]);
    ns.run(|| async {
        let x = Xfrm::new(Owner::default()).unwrap();
        let mut events = Monitor::new(&[Group::Acquire, Group::Expire]).unwrap();
        let reqid = x.owner().reqid(11);
        let (t_src, t_dst) = (ip("203.0.113.1"), ip("203.0.113.2"));
        let policy = PolicyConfig::ipsec(
            Selector::new(prefix("198.18.1.0/24"), prefix("198.18.1.2/32"))
                .with_proto(17)
                .with_dport(5555),
            Direction::Out,
            Template::esp_tunnel(t_src, t_dst, reqid),
        );
        let index = x.add_policy(&policy).await.unwrap();

        // Traffic that matches: the kernel has no SA and asks for one.
        let s = UdpSocket::bind("198.18.1.1:40000").unwrap();
        let _ = s.send_to(b"trigger", "198.18.1.2:5555");
        let acq = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match events.next().await.unwrap() {
                    Event::Acquire(a) => return a,
                    other => eprintln!("ignoring {other:?}"),
                }
            }
        })
        .await
        .expect("no ACQUIRE within 5 s");
        assert_eq!(acq.proto, IpsecProto::Esp);
        assert_eq!((acq.src, acq.dst), (t_src, t_dst));
        assert_eq!(acq.selector.src, prefix("198.18.1.1/32"));
        assert_eq!(acq.selector.dst, prefix("198.18.1.2/32"));
        assert_eq!(acq.selector.proto, 17);
        assert_eq!(acq.selector.sport, Some(40000));
        assert_eq!(acq.selector.dport, Some(5555));
        assert_eq!(acq.policy.index, index);
        assert!(x.owner().owns_policy_index(acq.policy.index));
        assert_eq!(acq.template().unwrap().reqid, reqid);
        assert_eq!(acq.policy.selector, policy.selector);

        // The larval SA the kernel made for it carries our reqid: the flush takes it too.
        let sas = x.dump_sas().await.unwrap();
        assert!(
            sas.iter()
                .any(|s| s.larval && s.reqid == reqid && s.id.dst == t_dst),
            "{sas:#?}"
        );
        let r = x.flush_owned().await.unwrap();
        assert_eq!(r.policies, 1);
        assert!(r.sas >= 1);
        assert_eq!(events.malformed(), 0);
    });
}

#[test]
fn flush_removes_only_ours_and_cleanup_finds_a_crashed_runs_leftovers() {
    require_root!();
    let ns = NetNs::new("own");
    // Foreign objects, installed by "another IKE daemon" with iproute2.
    ns.ip(&[
        "xfrm",
        "policy",
        "add",
        "src",
        "198.51.100.0/24",
        "dst",
        "203.0.113.0/24",
        "dir",
        "out",
        "tmpl",
        "src",
        "198.18.0.1",
        "dst",
        "198.18.0.9",
        "proto",
        "esp",
        "reqid",
        "7",
        "mode",
        "tunnel",
    ]);
    ns.ip(&[
        "xfrm",
        "state",
        "allocspi",
        "src",
        "198.18.0.9",
        "dst",
        "198.18.0.1",
        "proto",
        "esp",
        "reqid",
        "7",
        "mode",
        "tunnel",
    ]);

    // Run 1 installs and "crashes" (drops its client without flushing).
    ns.run(|| async {
        let x = Xfrm::new(Owner::default()).unwrap();
        let o = *x.owner();
        let mut pols = tunnel_policies(o.reqid(1), o.reqid(2));
        for p in &mut pols {
            // Other selectors than the foreign policy's.
            p.selector.src = prefix("198.51.100.64/26");
        }
        for p in &pols {
            x.add_policy(p).await.unwrap();
        }
        for _ in 0..3 {
            x.alloc_spi(&SpiRequest::esp(
                ip("198.18.0.2"),
                ip("198.18.0.1"),
                Mode::Tunnel,
                o.reqid(2),
            ))
            .await
            .unwrap();
        }
        assert_eq!(x.dump_policies().await.unwrap().len(), 4);
    });

    // Run 2 starts with the same owner: its clean-up removes run 1's objects, not the others'.
    ns.run(|| async {
        let x = Xfrm::new(Owner::default()).unwrap();
        let r = x.cleanup_leftovers().await.unwrap();
        assert_eq!(
            r,
            FlushReport {
                sas: 3,
                policies: 3
            }
        );
        let pols = x.dump_policies().await.unwrap();
        assert_eq!(pols.len(), 1, "{pols:#?}");
        assert_eq!(pols[0].templates[0].reqid, 7);
        assert!(!x.owns_policy(&pols[0]));
        let sas = x.dump_sas().await.unwrap();
        assert_eq!(sas.len(), 1, "{sas:#?}");
        assert_eq!(sas[0].reqid, 7);

        // A daemon with another tag in the same namespace: each flushes its own.
        let other = Owner {
            reqid_min: 0x100,
            reqid_max: 0x1ff,
            policy_index_prefix: 0x123,
            rt_protocol: 200,
        };
        let y = Xfrm::new(other).unwrap();
        let p = PolicyConfig::new(
            Selector::new(prefix("198.51.100.200/32"), prefix("203.0.113.200/32")),
            Direction::In,
            Action::Block,
        );
        y.add_policy(&p).await.unwrap();
        let q = PolicyConfig::new(
            Selector::new(prefix("198.51.100.201/32"), prefix("203.0.113.201/32")),
            Direction::In,
            Action::Block,
        );
        x.add_policy(&q).await.unwrap();
        assert_eq!(x.flush_owned().await.unwrap().policies, 1);
        let left: Vec<_> = x
            .dump_policies()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.selector)
            .collect();
        assert!(
            left.contains(&p.selector) && !left.contains(&q.selector),
            "{left:?}"
        );
        assert_eq!(y.flush_owned().await.unwrap().policies, 1);
    });
    let pols = ns.ip(&["xfrm", "policy", "list"]);
    assert!(pols.contains("reqid 7"), "{pols}");
    let sas = ns.ip(&["xfrm", "state", "list"]);
    assert!(sas.contains("reqid 7"), "{sas}");
}

#[test]
fn addresses_and_routes_for_virtual_ips() {
    require_root!();
    let ns = NetNs::new("rt");
    ns.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    ns.ip(&["addr", "add", "198.18.3.1/24", "dev", "v0"]);
    ns.ip(&["link", "set", "v0", "up"]);
    ns.ip(&["link", "set", "v1", "up"]);
    // A foreign route that must survive our flush.
    ns.ip(&[
        "route",
        "add",
        "198.51.100.128/25",
        "dev",
        "v0",
        "table",
        "220",
    ]);
    let (addrs, table) = ns.run(|| async {
        let owner = Owner::default();
        let net = NetConfig::new(&owner).unwrap();
        let v0 = net.link_index("v0").await.unwrap();
        assert_eq!(net.link_name(v0).await.unwrap(), "v0");
        assert!(
            net.link_index("nonesuch0")
                .await
                .unwrap_err()
                .is_not_found()
        );

        let vip = ip("198.51.100.10");
        net.add_address(v0, vip, 32).await.unwrap();
        net.add_address(v0, ip("2001:db8:5::10"), 128)
            .await
            .unwrap();
        let listed = net.addresses(Some(v0)).await.unwrap();
        let mine = listed.iter().find(|a| a.addr == vip).unwrap();
        assert_eq!(mine.prefix_len, 32);
        assert_eq!(mine.protocol, Some(owner.rt_protocol));

        let mut r = RouteConfig::new(prefix("203.0.113.0/24"));
        r.oif = Some(v0);
        r.pref_src = Some(vip);
        r.table = Some(220);
        net.add_route(&r).await.unwrap();
        let mut gw = RouteConfig::new(prefix("203.0.113.128/25"));
        gw.gateway = Some(ip("198.18.3.2"));
        gw.metric = Some(50);
        net.add_route(&gw).await.unwrap();
        let routes = net.routes(false).await.unwrap();
        let got = routes
            .iter()
            .find(|x| x.dst == r.dst && x.table == 220)
            .unwrap_or_else(|| panic!("{routes:#?}"));
        assert_eq!((got.oif, got.pref_src), (Some(v0), Some(vip)));
        assert_eq!(got.protocol, owner.rt_protocol);
        let g = routes.iter().find(|x| x.dst == gw.dst).unwrap();
        assert_eq!((g.gateway, g.metric, g.table), (gw.gateway, Some(50), 254));

        let addrs = common::sh(&["ip", "addr", "show", "dev", "v0"]);
        let table = common::sh(&["ip", "route", "show", "table", "220"]);

        net.del_route(&gw).await.unwrap();
        assert!(net.del_route(&gw).await.unwrap_err().is_not_found());
        net.del_address(v0, ip("2001:db8:5::10"), 128)
            .await
            .unwrap();
        // What is left of ours (the VIP, the table-220 route) goes with the flush.
        assert_eq!(net.flush_owned().await.unwrap(), (1, 1));
        assert!(
            !net.addresses(Some(v0))
                .await
                .unwrap()
                .iter()
                .any(|a| a.addr == vip)
        );
        (addrs, table)
    });
    assert!(addrs.contains("inet 198.51.100.10/32"), "{addrs}");
    assert!(table.contains("203.0.113.0/24 dev v0 proto 158"), "{table}");
    assert!(table.contains("src 198.51.100.10"), "{table}");
    let after = ns.ip(&["route", "show", "table", "220"]);
    assert!(after.contains("198.51.100.128/25"), "{after}");
    assert!(!after.contains("203.0.113.0/24"), "{after}");
}
