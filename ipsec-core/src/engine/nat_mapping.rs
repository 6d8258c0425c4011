//! Following a peer's NAT mapping. A NAT may give the peer a new public port (or address)
//! at any time, typically after an idle spell; RFC 3947 §4 lets the side that is not behind
//! the NAT take the address of any authenticated message as the peer's new one, and the
//! ESP-in-UDP of RFC 3948 must then go there too. So when an authenticated message of an
//! ISAKMP SA with NAT-T arrives on the NAT-T port from elsewhere, the ISAKMP SA moves, and
//! every installed IPsec SA of the peer that used the old mapping moves with it
//! ([`Event::MoveSa`], both directions: keys, SPIs and sequence numbers stay).

use std::net::SocketAddr;

use super::Engine;
use super::child::ChildId;
use super::event::{Direction, Event, MoveSa, PeerId, UdpEncap};
use super::ike::IkeId;

impl Engine {
    /// An authenticated message of ISAKMP SA `id` came in on (`local`, `remote`): follow
    /// the peer there if that is a new NAT mapping.
    pub(super) fn follow_mapping(&mut self, id: IkeId, local: SocketAddr, remote: SocketAddr) {
        let Some(sa) = self.ike.get(&id) else {
            return;
        };
        let nat_t = sa.established().is_some_and(|e| e.sa.nat.is_some());
        let old = (sa.local, sa.remote);
        if !self.follows(nat_t, (local, remote), old) {
            return;
        }
        let pid = sa.peer;
        if let Some(sa) = self.ike.get_mut(&id) {
            sa.local = local;
            sa.remote = remote;
        }
        self.children_follow(pid, old, (local, remote));
    }

    /// The peer `pid` moved from `old` to `new` (ours, its): its UDP-encapsulated IPsec SAs
    /// on the old mapping move too.
    pub(super) fn children_follow(
        &mut self,
        pid: Option<PeerId>,
        old: (SocketAddr, SocketAddr),
        new: (SocketAddr, SocketAddr),
    ) {
        let Some(pid) = pid else {
            return;
        };
        if old == new {
            return;
        }
        let ids: Vec<ChildId> = self
            .peers
            .get(&pid)
            .map(|s| s.children.iter().copied().collect())
            .unwrap_or_default();
        let encap = UdpEncap {
            local_port: new.0.port(),
            remote_port: new.1.port(),
        };
        let (new_local, new_remote) = (new.0.ip().to_canonical(), new.1.ip().to_canonical());
        for id in ids {
            let Some(c) = self.children.get_mut(&id) else {
                continue;
            };
            let on_old = c.encap.is_some_and(|e| e.remote_port == old.1.port())
                && c.remote == old.1.ip().to_canonical();
            if !on_old {
                continue;
            }
            let (old_local, old_remote) = (c.local, c.remote);
            c.encap = Some(encap);
            c.remote = new_remote;
            if !new_local.is_unspecified() {
                c.local = new_local;
            }
            let (local, remote, ours, theirs) = (c.local, c.remote, c.our_spi, c.peer_spi);
            self.stats.sas_moved += 1;
            self.events.push_back(Event::MoveSa(MoveSa {
                peer: pid,
                direction: Direction::Outbound,
                spi: theirs,
                old_src: old_local,
                old_dst: old_remote,
                src: local,
                dst: remote,
                encap: Some(encap),
            }));
            self.events.push_back(Event::MoveSa(MoveSa {
                peer: pid,
                direction: Direction::Inbound,
                spi: ours,
                old_src: old_remote,
                old_dst: old_local,
                src: remote,
                dst: local,
                // Ports are ours and the peer's in both directions, as in InstallSa.
                encap: Some(encap),
            }));
        }
        if let Some(s) = self.peers.get_mut(&pid) {
            s.remote = std::net::SocketAddr::new(new.1.ip(), s.remote.port());
            self.index_session(pid, new.1.ip());
        }
    }
}
