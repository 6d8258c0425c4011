//! `iked sas` and `iked policies` for the userspace dataplane: the same rows as the kernel
//! path's, made from what the control side knows and the workers' counters.

use std::sync::atomic::Ordering::Relaxed;

use xfrm::Direction;

use super::Userspace;
use super::counters::SaCounters;
use super::spd::{Action, EntryId};
use crate::control::{PolicyRow, SaRow};
use crate::driver::IkeDriver;

impl Userspace {
    /// Every SA's counters (`Dataplane::counters`).
    pub fn counters(&self) -> Vec<super::SaCount> {
        self.sas.values().map(|m| count(m)).collect()
    }

    /// One SA's counters.
    pub fn counters_of(&self, spi: u32) -> Option<super::SaCount> {
        self.sas.get(&spi).map(|m| count(m))
    }

    /// The SAs, as `iked sas` shows them.
    pub fn list_sas(&self, driver: &dyn IkeDriver) -> Vec<SaRow> {
        let states = driver.sa_states();
        let mut rows: Vec<SaRow> = self
            .sas
            .values()
            .map(|m| {
                let sa = &m.sa;
                let engine = states.get(&sa.spi).cloned();
                let c = &m.counters;
                let u32c = |a: &std::sync::atomic::AtomicU64| {
                    u32::try_from(a.load(Relaxed)).unwrap_or(u32::MAX)
                };
                SaRow {
                    spi: format!("{:#010x}", sa.spi),
                    protocol: "esp".into(),
                    src_address: sa.src.to_string(),
                    dst_address: sa.dst.to_string(),
                    direction: if sa.inbound { "in" } else { "out" }.into(),
                    mode: if sa.tunnel { "tunnel" } else { "transport" }.into(),
                    reqid: sa.policy.map_or(0, |p| self.owner.reqid(p + 1)),
                    state: if engine.as_ref().is_some_and(|e| e.replaced) {
                        "dying"
                    } else {
                        "mature"
                    }
                    .into(),
                    enc_algorithm: Some(sa.encryption.to_string()),
                    auth_algorithm: (sa.integrity != xfrm::Integrity::None)
                        .then(|| sa.integrity.to_string()),
                    encap: sa.encap.map(|(ours, theirs)| {
                        if sa.inbound {
                            format!("{theirs}:{ours}")
                        } else {
                            format!("{ours}:{theirs}")
                        }
                    }),
                    current_bytes: c.bytes.load(Relaxed),
                    current_packets: c.packets.load(Relaxed),
                    replay: if sa.inbound { sa.replay_window } else { 0 },
                    replay_drops: u32c(&c.replay),
                    integrity_failures: u32c(&c.integrity),
                    add_time: m.added.into(),
                    soft_lifetime: Some(sa.soft_secs.into()),
                    hard_lifetime: Some(sa.hard_secs.into()),
                    soft_bytes: sa.soft_bytes,
                    hard_bytes: sa.hard_bytes,
                    peer: sa
                        .peer
                        .clone()
                        .or_else(|| engine.and_then(|e| e.peer))
                        .map(|p| p.to_string()),
                    policy: sa.policy.map(|i| i as usize + 1),
                    alias: m.alias.as_ref().map(|a| a.alias.to_string()),
                }
            })
            .collect();
        rows.sort_by(|a, b| (&a.dst_address, &a.spi).cmp(&(&b.dst_address, &b.spi)));
        rows
    }

    /// The SPD, as `iked policies` shows the kernel's: `out`, `in` and (tunnel) `fwd` rows.
    pub fn list_policies(&self) -> Vec<PolicyRow> {
        let mut rows = Vec::new();
        for (slot, e) in self.spd.entries().iter().enumerate() {
            let sas = || self.sas.values().filter(|m| m.entry == Some(e.id));
            let sum = |inbound: bool, f: fn(&SaCounters) -> u64| -> u64 {
                sas()
                    .filter(|m| m.sa.inbound == inbound)
                    .map(|m| f(&m.counters))
                    .sum()
            };
            let (tunnel, action) = match e.action {
                Action::Encrypt { tunnel } => (tunnel, "encrypt"),
                Action::Discard => (false, "discard"),
                Action::Bypass => (false, "none"),
            };
            let reqid = match e.id {
                EntryId::Config(i) if action == "encrypt" => {
                    self.owner.reqid(u32::try_from(i).unwrap_or(0) + 1)
                }
                _ => 0,
            };
            let mut dirs = vec![(Direction::Out, false), (Direction::In, true)];
            if tunnel {
                dirs.push((Direction::Fwd, true));
            }
            for (dir, reversed) in dirs {
                let s = &e.selector;
                let (src, dst, sport, dport) = if reversed {
                    (s.dst, s.src, s.dport, s.sport)
                } else {
                    (s.src, s.dst, s.sport, s.dport)
                };
                let (sa_src, sa_dst) = if reversed {
                    (e.sa_dst, e.sa_src)
                } else {
                    (e.sa_src, e.sa_dst)
                };
                let counted = dir != Direction::Fwd;
                rows.push(PolicyRow {
                    policy: match e.id {
                        EntryId::Config(i) => Some(i + 1),
                        EntryId::Generated(_) => None,
                    },
                    direction: match dir {
                        Direction::In => "in",
                        Direction::Out => "out",
                        Direction::Fwd => "fwd",
                    }
                    .into(),
                    src_address: src.to_string(),
                    dst_address: dst.to_string(),
                    protocol: if s.proto == 0 {
                        "all".into()
                    } else {
                        s.proto.to_string()
                    },
                    src_port: sport.map_or_else(|| "any".into(), |n| n.to_string()),
                    dst_port: dport.map_or_else(|| "any".into(), |n| n.to_string()),
                    action: action.into(),
                    level: e.level.into(),
                    ipsec_protocol: if action == "encrypt" {
                        "esp".into()
                    } else {
                        String::new()
                    },
                    tunnel,
                    sa_src_address: sa_src.filter(|_| tunnel).map(|a| a.to_string()),
                    sa_dst_address: sa_dst.filter(|_| tunnel).map(|a| a.to_string()),
                    priority: e.priority,
                    index: self
                        .owner
                        .policy_index(u32::try_from(slot).unwrap_or(0), dir),
                    reqid,
                    ph2_state: match action {
                        "encrypt" if sas().next().is_some() => "established".into(),
                        "encrypt" => "no-phase2".into(),
                        _ => String::new(),
                    },
                    bytes: if counted {
                        sum(reversed, |c| c.bytes.load(Relaxed))
                    } else {
                        0
                    },
                    packets: if counted {
                        sum(reversed, |c| c.packets.load(Relaxed))
                    } else {
                        0
                    },
                });
            }
        }
        rows
    }
}

fn count(m: &super::SaMeta) -> super::SaCount {
    super::SaCount {
        spi: m.sa.spi,
        inbound: m.sa.inbound,
        bytes: m.counters.bytes.load(Relaxed),
        packets: m.counters.packets.load(Relaxed),
    }
}
