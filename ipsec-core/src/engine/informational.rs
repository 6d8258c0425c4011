//! Informational exchanges (RFC 2409 §5.7): authenticated notifications and deletes, both
//! ways.
//!
//! ```text
//! HDR*, HASH(1), N/D        HASH(1) = prf(SKEYID_a, M-ID | N/D)
//! ```
//!
//! Received: Delete of ESP SPIs (the sender's inbound SPIs, our outbound ones) and of ISAKMP
//! SAs; INITIAL-CONTACT; R-U-THERE (answered with R-U-THERE-ACK, RFC 3706); error
//! notifications about a quick mode we started (matched by the SPI of our proposal). Each
//! message ID is taken once: a repeated one is a duplicate.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Instant;

use crate::crypto::ct_eq;
use crate::crypto::ikev1::informational_hash;
use crate::phase1::protect;
use crate::wire::sa::DOI_IPSEC;
use crate::wire::{
    Delete, ExchangeType, Message, Notification, NotifyType, Payload, PayloadType, ProtocolId,
};

use super::event::DeleteReason;
use super::ike::{Exchange, IkeId, IkeSa};
use super::{Engine, Reject};

/// How many informational message IDs are remembered per ISAKMP SA.
const RECENT_INFORMATIONAL: usize = 64;

/// What a received informational message asks for.
enum Action {
    Ack(u32),
    InitialContact,
    DeleteIsakmp([u8; 16]),
    DeleteEsp(u32),
    PeerError(u16, Option<u32>),
}

impl Engine {
    /// Sends `payloads` in a new informational exchange over the established `sa`.
    pub(super) fn send_informational_on(
        &mut self,
        sa: &mut IkeSa,
        payloads: &[Payload<'_>],
    ) -> Result<(), Reject> {
        let mid = self.new_message_id(sa)?;
        let header = protect::header(sa.cky_i, sa.cky_r, ExchangeType::Informational, mid);
        let e = sa
            .established_mut()
            .ok_or(Reject::Internal("no ISAKMP SA"))?;
        let prf = e.sa.keys.prf;
        let skeyid_a = e.sa.keys.skeyids.skeyid_a.clone();
        let message = protect::seal_hashed(&e.sa.keys, &mut e.sa.iv, &header, payloads, |rest| {
            informational_hash(prf, &skeyid_a, mid, &[rest])
        })?;
        e.sa.iv.forget(mid);
        self.stats.informational_sent += 1;
        self.send(sa.local, sa.remote, &message);
        Ok(())
    }

    /// [`Engine::send_informational_on`] for the SA `id`.
    pub(super) fn send_informational(
        &mut self,
        id: IkeId,
        payloads: &[Payload<'_>],
    ) -> Result<(), Reject> {
        let Some(mut sa) = self.ike.remove(&id) else {
            return Err(Reject::Internal("no ISAKMP SA"));
        };
        let result = self.send_informational_on(&mut sa, payloads);
        self.ike.insert(id, sa);
        result
    }

    /// Delete for our inbound ESP SPIs.
    pub(super) fn send_delete_esp(
        &mut self,
        _now: Instant,
        id: IkeId,
        spis: &[u32],
    ) -> Result<(), Reject> {
        if spis.is_empty() {
            return Ok(());
        }
        let bytes: Vec<u8> = spis.iter().flat_map(|s| s.to_be_bytes()).collect();
        let d = Delete::new(DOI_IPSEC, ProtocolId::Esp, 4, &bytes);
        self.send_informational(id, &[Payload::Delete(d)])
    }

    /// Delete for the ISAKMP SA itself.
    pub(super) fn send_delete_isakmp(&mut self, _now: Instant, id: IkeId) -> Result<(), Reject> {
        let spi = self
            .ike
            .get(&id)
            .map(|s| s.spi_bytes())
            .ok_or(Reject::Internal("no ISAKMP SA"))?;
        let d = Delete::new(DOI_IPSEC, ProtocolId::Isakmp, 16, &spi);
        self.send_informational(id, &[Payload::Delete(d)])
    }

    /// An error notification about a quick mode (`code`: RFC 2408 §3.14.1).
    pub(super) fn notify_error(&mut self, _now: Instant, sa: &mut IkeSa, code: u16, spi: &[u8]) {
        let n = Notification {
            doi: DOI_IPSEC,
            protocol: ProtocolId::Esp,
            spi,
            notify_type: NotifyType::from(code),
            data: Cow::Borrowed(&[]),
        };
        let _ = self.send_informational_on(sa, &[Payload::Notification(n)]);
    }

    /// An informational message.
    pub(super) fn on_informational(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message<'_>,
    ) {
        let h = &msg.header;
        let Some(ciphertext) = msg.ciphertext() else {
            return self.on_plain_informational(now, local, remote, msg);
        };
        let Some(id) = self
            .by_spi
            .get(&crate::phase1::cookie_pair(
                &h.initiator_cookie,
                &h.responder_cookie,
            ))
            .copied()
        else {
            return self.reject(local, remote, Reject::UnknownSa);
        };
        let mid = h.message_id;
        let Some(mut sa) = self.ike.remove(&id) else {
            return self.reject(local, remote, Reject::UnknownSa);
        };
        let actions = self.read_informational(&mut sa, msg, ciphertext, mid);
        if actions.is_ok() {
            // Any authenticated informational (an R-U-THERE-ACK among them) shows the peer
            // alive (RFC 3706 §5.3).
            sa.heard_from(now);
        }
        let pid = sa.peer;
        let authenticated = actions.is_ok();
        self.ike.insert(id, sa);
        if authenticated {
            // A DPD probe or a delete may be the first word after a NAT rebinding.
            self.follow_mapping(id, local, remote);
        }
        let actions = match actions {
            Ok(a) => a,
            Err(Some(reason)) => return self.reject(local, remote, reason),
            Err(None) => {
                self.stats.duplicates += 1;
                return;
            }
        };
        self.stats.informational_received += 1;
        let Some(pid) = pid else {
            return;
        };
        for action in actions {
            match action {
                Action::Ack(seq) => {
                    let Some(cookies) = self.ike.get(&id).map(|s| s.spi_bytes()) else {
                        continue;
                    };
                    let n = Notification::dpd(true, &cookies, seq);
                    let _ = self.send_informational(id, &[Payload::Notification(n)]);
                }
                Action::InitialContact => self.initial_contact(now, pid, id),
                Action::DeleteIsakmp(spi) => {
                    if let Some(target) = self.by_spi.get(&spi).copied()
                        && self.ike.get(&target).is_some_and(|t| t.peer == Some(pid))
                    {
                        self.remove_ike(now, target, false);
                    }
                }
                Action::DeleteEsp(spi) => {
                    let child = self.peers.get(&pid).and_then(|s| {
                        s.children
                            .iter()
                            .copied()
                            .find(|c| self.children.get(c).is_some_and(|c| c.peer_spi == spi))
                    });
                    if let Some(c) = child {
                        self.remove_child(now, c, DeleteReason::DeletedByPeer, false);
                    }
                }
                Action::PeerError(code, spi) => self.peer_error(now, id, pid, code, spi),
            }
        }
        self.reschedule_ike(id);
    }

    /// Decrypts and authenticates an informational message; `Err(None)` for a duplicate.
    fn read_informational(
        &mut self,
        sa: &mut IkeSa,
        msg: &Message<'_>,
        ciphertext: &[u8],
        mid: u32,
    ) -> Result<Vec<Action>, Option<Reject>> {
        let e = sa
            .established_mut()
            .ok_or(Some(Reject::UnexpectedMessage))?;
        if mid == 0 || e.exchanges.contains_key(&mid) {
            return Err(Some(Reject::UnexpectedMessage));
        }
        if e.recent_informational.contains(&mid) {
            return Err(None);
        }
        let opened = protect::open(&e.sa.keys, &e.sa.iv, &msg.header, ciphertext)?;
        let chain = protect::parse_decrypted(&msg.header, &opened.plaintext)?;
        let hash = protect::leading_hash(&chain)?;
        let rest = chain.bytes_from(1).unwrap_or_default();
        let expected = informational_hash(e.sa.keys.prf, &e.sa.keys.skeyids.skeyid_a, mid, &[rest]);
        if !ct_eq(&expected, hash) {
            return Err(Some(Reject::AuthenticationFailed));
        }
        let mut actions = Vec::new();
        for p in chain.iter().skip(1) {
            match p.ty() {
                PayloadType::Notification => {
                    let n = Notification::parse(p.body()).map_err(|e| Some(e.into()))?;
                    match n.notify_type {
                        NotifyType::DpdRUThere => {
                            if let Some(seq) = n.dpd_sequence() {
                                actions.push(Action::Ack(seq));
                            }
                        }
                        NotifyType::InitialContact => actions.push(Action::InitialContact),
                        t if t.is_error() => actions.push(Action::PeerError(
                            t.value(),
                            <[u8; 4]>::try_from(n.spi).ok().map(u32::from_be_bytes),
                        )),
                        _ => {}
                    }
                }
                PayloadType::Delete => {
                    let d = Delete::parse(p.body()).map_err(|e| Some(e.into()))?;
                    match (d.protocol, d.spi_size) {
                        (ProtocolId::Isakmp, 16) => {
                            for spi in d.spis() {
                                if let Ok(spi) = <[u8; 16]>::try_from(spi) {
                                    actions.push(Action::DeleteIsakmp(spi));
                                }
                            }
                        }
                        (ProtocolId::Esp, 4) => {
                            for spi in d.spis() {
                                if let Ok(spi) = <[u8; 4]>::try_from(spi) {
                                    actions.push(Action::DeleteEsp(u32::from_be_bytes(spi)));
                                }
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        drop(chain);
        e.sa.iv = opened.iv;
        e.sa.iv.confirm(mid);
        e.sa.iv.forget(mid);
        if e.recent_informational.len() >= RECENT_INFORMATIONAL {
            e.recent_informational.pop_front();
        }
        e.recent_informational.push_back(mid);
        Ok(actions)
    }

    /// An error notification: the quick mode we started with that SPI failed.
    fn peer_error(
        &mut self,
        now: Instant,
        id: IkeId,
        pid: super::PeerId,
        code: u16,
        spi: Option<u32>,
    ) {
        self.stats.reject(Reject::PeerError(code));
        let Some(sa) = self.ike.get_mut(&id) else {
            return;
        };
        let remote = sa.remote;
        let Some(e) = sa.established_mut() else {
            return;
        };
        let initiators: Vec<u32> = e
            .exchanges
            .iter()
            .filter(|(_, x)| matches!(x, Exchange::QuickInitiator { .. }))
            .map(|(mid, _)| *mid)
            .collect();
        // The SPI names the exchange; without one, only an unambiguous exchange is meant.
        let target = initiators.iter().copied().find(|mid| {
            spi.is_some() && e.exchanges.get(mid).and_then(Exchange::pending_spi) == spi
        });
        let target = match (target, spi, initiators.as_slice()) {
            (Some(t), _, _) => Some(t),
            (None, None, [only]) => Some(*only),
            _ => None,
        };
        let Some(mid) = target else {
            return;
        };
        if let Some(Exchange::QuickInitiator { qm, request, .. }) = e.exchanges.remove(&mid) {
            self.spis.release(qm.our_spi());
            self.reschedule_ike(id);
            self.quick_failed(now, pid, remote, &request, Reject::PeerError(code));
        }
    }
}
