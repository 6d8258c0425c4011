//! Quick mode (RFC 2409 §5.5), both roles.
//!
//! Every message is authenticated by its HASH before anything in it is believed: a message
//! whose HASH does not verify is dropped and the exchange goes on (it may have been forged or
//! corrupted); a message that authenticates but cannot be accepted ends the exchange
//! ([`Failure::fatal`]).

use std::borrow::Cow;
use std::net::IpAddr;

use ring::rand::SecureRandom;

use crate::crypto::esp::EspTransform;
use crate::crypto::ikev1::{qm_hash1, qm_hash2, qm_hash3};
use crate::crypto::{KeyPair, Secret, ct_eq};
use crate::engine::{Reject, TrafficSelector};
use crate::phase1::nat::NatState;
use crate::phase1::protect::{self, at_most_one, one};
use crate::phase1::{Phase1Sa, random_bytes};
use crate::proposal::lifetime::{self, LifeAttributeTypes, Lifetime};
use crate::proposal::phase2::{
    self, Mode, Phase2Choice, Phase2Terms, ResponderRules, UdpEncapsulation,
};
use crate::wire::sa::DOI_IPSEC;
use crate::wire::{
    Cookie, ExchangeType, Identification, Message, NatOa, Notification, NotifyType, Payload,
    PayloadType, ProtocolId, SecurityAssociation,
};

use super::keys::{self, ChildKeys};
use super::selector;

/// Why a quick-mode message was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The reason.
    pub reject: Reject,
    /// The message authenticated but is unacceptable: the exchange is over (the peer may be
    /// told). Otherwise the message is dropped and the exchange continues.
    pub fatal: bool,
}

impl Failure {
    fn drop(reject: Reject) -> Self {
        Failure {
            reject,
            fatal: false,
        }
    }
}

fn fatal(reject: Reject) -> Failure {
    Failure {
        reject,
        fatal: true,
    }
}

trait Fatal<T> {
    fn fatal(self) -> Result<T, Failure>;
}

impl<T, E: Into<Reject>> Fatal<T> for Result<T, E> {
    fn fatal(self) -> Result<T, Failure> {
        self.map_err(|e| fatal(e.into()))
    }
}

/// A negotiated IPsec SA pair.
pub(crate) struct Negotiated {
    /// Cipher and integrity.
    pub esp: EspTransform,
    /// Our SPI (inbound).
    pub our_spi: u32,
    /// The peer's SPI (outbound).
    pub peer_spi: u32,
    /// Both directions' keys.
    pub keys: ChildKeys,
    /// The SA's lifetime.
    pub lifetime: Lifetime,
    /// Tunnel or transport.
    pub mode: Mode,
    /// UDP encapsulation.
    pub udp: UdpEncapsulation,
    /// The traffic selector, our view.
    pub selector: TrafficSelector,
    /// The original addresses the peer's NAT-OA payloads announced, for a UDP-encapsulated
    /// transport-mode pair (RFC 3947 §5.2); `None` otherwise or when the peer sent none.
    pub nat_oa: Option<OriginalAddresses>,
}

/// The addresses a transport-mode peer behind a NAT put in the pseudo-headers of its TCP and
/// UDP checksums, as its NAT-OA payloads told us (RFC 3947 §5.2, RFC 3948 §3.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OriginalAddresses {
    /// Our address as the peer knows it.
    pub local: IpAddr,
    /// The peer's own (original, pre-NAT) address.
    pub remote: IpAddr,
}

/// The NAT-OA payloads of a message: the first is NAT-OAi, the second NAT-OAr (RFC 3947
/// §5.2); the drafts' peers may send only their own address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PeerNatOa {
    initiator: IpAddr,
    responder: Option<IpAddr>,
}

/// Reads the NAT-OA payloads of `chain`, under either numbering (a peer that negotiated a
/// draft may still use the RFC numbers, and the other way round). None is fine: older peers
/// do not send them. A malformed one, or more than two, refuses the message.
fn peer_nat_oa(chain: &crate::wire::PayloadChain<'_>) -> Result<Option<PeerNatOa>, Reject> {
    let mut found = chain.iter().filter_map(|p| match p.ty() {
        PayloadType::NatOa => Some(NatOa::parse(p.body(), false)),
        PayloadType::NatOaDraft => Some(NatOa::parse(p.body(), true)),
        _ => None,
    });
    let first = match found.next() {
        None => return Ok(None),
        Some(oa) => oa?.address.to_canonical(),
    };
    let second = match found.next() {
        None => None,
        Some(oa) => Some(oa?.address.to_canonical()),
    };
    if found.next().is_some() {
        return Err(Reject::MissingPayload("NAT-OAi and NAT-OAr"));
    }
    Ok(Some(PeerNatOa {
        initiator: first,
        responder: second,
    }))
}

/// Our NAT-OAi and NAT-OAr (RFC 3947 §5.2), each as this side sees it, for a UDP-encapsulated
/// transport-mode SA: `addresses` are the ISAKMP SA's (initiator's, responder's). Nothing
/// without NAT-T, in tunnel mode (the inner header carries the addresses; "SHOULD NOT send"),
/// or while an address is still unknown (unspecified).
fn our_nat_oa(
    nat: Option<NatState>,
    udp: UdpEncapsulation,
    mode: Mode,
    addresses: (IpAddr, IpAddr),
) -> Vec<Payload<'static>> {
    let (Some(nat), UdpEncapsulation::Rfc3947 | UdpEncapsulation::Draft, Mode::Transport) =
        (nat, udp, mode)
    else {
        return Vec::new();
    };
    let (i, r) = (addresses.0.to_canonical(), addresses.1.to_canonical());
    if i.is_unspecified() || r.is_unspecified() {
        return Vec::new();
    }
    // The numbering of the negotiated NAT-T version, as for NAT-D in phase 1.
    let numbering = crate::phase1::nat::numbering(nat.version);
    [i, r]
        .into_iter()
        .map(|address| Payload::NatOa(NatOa { address, numbering }))
        .collect()
}

/// What the driver gets from the peer's NAT-OA payloads: only for a UDP-encapsulated
/// transport-mode pair. `peer_initiated`: the peer sent QM1 (its own address is NAT-OAi).
/// `local` is our address, for a peer that sent only its own.
fn original_addresses(
    peer: Option<PeerNatOa>,
    udp: UdpEncapsulation,
    mode: Mode,
    peer_initiated: bool,
    local: IpAddr,
) -> Option<OriginalAddresses> {
    let peer = peer?;
    if udp == UdpEncapsulation::None || mode != Mode::Transport {
        return None;
    }
    Some(match (peer_initiated, peer.responder) {
        (true, r) => OriginalAddresses {
            local: r.unwrap_or(local.to_canonical()),
            remote: peer.initiator,
        },
        (false, Some(r)) => OriginalAddresses {
            local: peer.initiator,
            remote: r,
        },
        // A lone NAT-OA is the sender's own address (draft-ietf-ipsec-nat-t-ike-02 §5.2).
        (false, None) => OriginalAddresses {
            local: local.to_canonical(),
            remote: peer.initiator,
        },
    })
}

fn header(cookies: (Cookie, Cookie), message_id: u32) -> crate::wire::Header {
    protect::header(cookies.0, cookies.1, ExchangeType::QuickMode, message_id)
}

/// Decrypts a quick-mode message and checks its leading HASH with `expected(rest)`. Returns
/// the plaintext and the IV chain to keep once the caller accepts the message.
fn open_and_verify(
    p1: &Phase1Sa,
    msg: &Message<'_>,
    expected: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Result<protect::Opened, Failure> {
    let ciphertext = msg
        .ciphertext()
        .ok_or(Failure::drop(Reject::UnexpectedMessage))?;
    let opened = protect::open(&p1.keys, &p1.iv, &msg.header, ciphertext).map_err(Failure::drop)?;
    {
        let chain =
            protect::parse_decrypted(&msg.header, &opened.plaintext).map_err(Failure::drop)?;
        let hash = protect::leading_hash(&chain).map_err(Failure::drop)?;
        let rest = chain.bytes_from(1).unwrap_or_default();
        if !ct_eq(&expected(rest), hash) {
            return Err(Failure::drop(Reject::AuthenticationFailed));
        }
    }
    Ok(opened)
}

/// The bodies of IDci and IDcr.
type IdPair<'a> = (&'a [u8], &'a [u8]);

/// The ID payloads of a quick-mode message: none, or exactly two (IDci, IDcr).
fn id_pair<'a>(chain: &crate::wire::PayloadChain<'a>) -> Result<Option<IdPair<'a>>, Reject> {
    let ids: Vec<&[u8]> = chain
        .filter(PayloadType::Identification)
        .map(|p| p.body())
        .collect();
    match ids.as_slice() {
        [] => Ok(None),
        [ci, cr] => Ok(Some((ci, cr))),
        _ => Err(Reject::MissingPayload("IDci and IDcr")),
    }
}

/// The quick-mode initiator, QM1 sent.
pub(crate) struct Initiator {
    message_id: u32,
    terms: Phase2Terms,
    udp: UdpEncapsulation,
    selector: TrafficSelector,
    our_spi: u32,
    ni: Vec<u8>,
    key: Option<KeyPair>,
    ids: (Vec<u8>, Vec<u8>),
    local: IpAddr,
}

/// What an initiator needs to start.
pub(crate) struct Request<'a> {
    /// The ISAKMP SA's cookies.
    pub cookies: (Cookie, Cookie),
    /// A fresh, unused message ID.
    pub message_id: u32,
    /// Our SPI for the inbound SA.
    pub our_spi: u32,
    /// What to propose.
    pub terms: Phase2Terms,
    /// The traffic selector, our view.
    pub selector: TrafficSelector,
    /// UDP encapsulation (from phase 1's NAT detection).
    pub udp: UdpEncapsulation,
    /// The ISAKMP SA's addresses (ours, the peer's): our NAT-OAi and NAT-OAr.
    pub addresses: (IpAddr, IpAddr),
    /// Randomness.
    pub rng: &'a dyn SecureRandom,
    /// Nonce length.
    pub nonce_len: usize,
}

impl Initiator {
    /// QM1.
    pub fn start(p1: &mut Phase1Sa, r: Request<'_>) -> Result<(Self, Vec<u8>), Reject> {
        let ni = random_bytes(r.rng, r.nonce_len.clamp(8, 256))?;
        let key = match r.terms.pfs {
            Some(g) => Some(g.generate(r.rng)?),
            None => None,
        };
        let spi = r.our_spi.to_be_bytes();
        let sa = phase2::offer(&r.terms, r.udp, &spi)?;
        let (idci, idcr) = selector::initiator_ids(&r.selector);
        let ids = (
            crate::phase1::ident::id_body(&idci)?,
            crate::phase1::ident::id_body(&idcr)?,
        );
        let mut rest = vec![Payload::SecurityAssociation(sa), Payload::Nonce(&ni)];
        if let Some(k) = &key {
            rest.push(Payload::KeyExchange(&k.public));
        }
        rest.push(Payload::Identification(idci));
        rest.push(Payload::Identification(idcr));
        // After the IDs, where strongSwan puts them; HASH(1) covers them.
        rest.extend(our_nat_oa(p1.nat, r.udp, r.terms.mode, r.addresses));
        let (prf, mid) = (p1.keys.prf, r.message_id);
        let skeyid_a = p1.keys.skeyids.skeyid_a.clone();
        let message = protect::seal_hashed(
            &p1.keys,
            &mut p1.iv,
            &header(r.cookies, mid),
            &rest,
            |rest| qm_hash1(prf, &skeyid_a, mid, &[rest]),
        )?;
        Ok((
            Initiator {
                message_id: mid,
                terms: r.terms,
                udp: r.udp,
                selector: r.selector,
                our_spi: r.our_spi,
                ni,
                key,
                ids,
                local: r.addresses.0,
            },
            message,
        ))
    }

    /// Our SPI.
    pub fn our_spi(&self) -> u32 {
        self.our_spi
    }

    /// QM2: on success the SA pair and QM3.
    pub fn on_qm2(
        &mut self,
        p1: &mut Phase1Sa,
        cookies: (Cookie, Cookie),
        msg: &Message<'_>,
    ) -> Result<(Negotiated, Vec<u8>), Failure> {
        let (prf, mid) = (p1.keys.prf, self.message_id);
        let opened = open_and_verify(p1, msg, |rest| {
            qm_hash2(prf, &p1.keys.skeyids.skeyid_a, mid, &self.ni, &[rest])
        })?;
        let chain = protect::parse_decrypted(&msg.header, &opened.plaintext).fatal()?;
        let sa = one(&chain, PayloadType::SecurityAssociation, "SA").fatal()?;
        let sa = SecurityAssociation::parse(sa.body()).fatal()?;
        let accepted = phase2::accept(&sa, &self.terms, self.udp).fatal()?;
        let nr = one(&chain, PayloadType::Nonce, "Nonce").fatal()?.body();
        Payload::decode(PayloadType::Nonce, nr).fatal()?;
        let ke = at_most_one(&chain, PayloadType::KeyExchange, "KE").fatal()?;
        if let Some((ci, cr)) = id_pair(&chain).fatal()?
            && (ci != self.ids.0.as_slice() || cr != self.ids.1.as_slice())
        {
            return Err(fatal(Reject::InvalidSelector));
        }
        let nat_oa = original_addresses(
            peer_nat_oa(&chain).fatal()?,
            self.udp,
            self.terms.mode,
            false,
            self.local,
        );
        let mut lifetime = accepted.lifetime;
        for n in chain.filter(PayloadType::Notification) {
            let n = Notification::parse(n.body()).fatal()?;
            if n.notify_type == NotifyType::ResponderLifetime {
                let attrs = n.responder_lifetime().fatal()?;
                let announced =
                    Lifetime::from_attributes(&attrs, LifeAttributeTypes::PHASE2).fatal()?;
                lifetime = lifetime::apply_responder_lifetime(lifetime, announced);
            }
        }
        let g_xy = match (self.terms.pfs, ke) {
            (Some(group), Some(ke)) => {
                group.check_public(ke.body()).fatal()?;
                let key = self.key.take().ok_or(fatal(Reject::UnexpectedMessage))?;
                Some(key.agree(ke.body()).fatal()?)
            }
            (None, None) => None,
            _ => return Err(fatal(Reject::BadProposal("KE payload and PFS disagree"))),
        };
        let keys = keys::derive(
            p1,
            g_xy.as_ref(),
            &accepted.esp,
            self.our_spi,
            accepted.peer_spi,
            &self.ni,
            nr,
        )
        .fatal()?;
        let nr = nr.to_vec();
        drop(chain);
        p1.iv = opened.iv;
        p1.iv.confirm(mid);
        let hash3 = qm_hash3(prf, &p1.keys.skeyids.skeyid_a, mid, &self.ni, &nr);
        let qm3 = protect::seal(
            &p1.keys,
            &mut p1.iv,
            &header(cookies, mid),
            &[Payload::Hash(&hash3)],
        )
        .fatal()?;
        p1.iv.forget(mid);
        Ok((
            Negotiated {
                esp: accepted.esp,
                our_spi: self.our_spi,
                peer_spi: accepted.peer_spi,
                keys,
                lifetime,
                mode: self.terms.mode,
                udp: self.udp,
                selector: self.selector,
                nat_oa,
            },
            qm3,
        ))
    }
}

/// An authenticated QM1, before the responder looks for a policy.
pub(crate) struct FirstMessage {
    iv: crate::crypto::ikev1::IvChain,
    sa: Vec<u8>,
    ni: Vec<u8>,
    ke: Option<Vec<u8>>,
    ids: Option<(Vec<u8>, Vec<u8>)>,
    nat_oa: Option<PeerNatOa>,
    /// The proposed selector, our view (`None`: no ID payloads, host to host).
    pub selector: Option<TrafficSelector>,
    /// The encapsulation modes proposed: whether any transform asks for tunnel mode.
    pub wants_tunnel: bool,
}

/// Reads and authenticates QM1.
pub(crate) fn read_first(p1: &Phase1Sa, msg: &Message<'_>) -> Result<FirstMessage, Failure> {
    let (prf, mid) = (p1.keys.prf, msg.header.message_id);
    let opened = open_and_verify(p1, msg, |rest| {
        qm_hash1(prf, &p1.keys.skeyids.skeyid_a, mid, &[rest])
    })?;
    let chain = protect::parse_decrypted(&msg.header, &opened.plaintext).fatal()?;
    let sa = one(&chain, PayloadType::SecurityAssociation, "SA")
        .fatal()?
        .body();
    let parsed = SecurityAssociation::parse(sa).fatal()?;
    let wants_tunnel = parsed.proposals.iter().any(|p| {
        p.transforms.iter().any(|t| {
            matches!(
                phase2::decode(t),
                Ok(Some(r)) if matches!(r.mode, Some((Mode::Tunnel, _)))
            )
        })
    });
    let ni = one(&chain, PayloadType::Nonce, "Nonce").fatal()?.body();
    Payload::decode(PayloadType::Nonce, ni).fatal()?;
    let ke = at_most_one(&chain, PayloadType::KeyExchange, "KE")
        .fatal()?
        .map(|p| p.body().to_vec());
    let ids = id_pair(&chain).fatal()?;
    let nat_oa = peer_nat_oa(&chain).fatal()?;
    let selector = match ids {
        Some((ci, cr)) => {
            let ci = Identification::parse(ci).fatal()?;
            let cr = Identification::parse(cr).fatal()?;
            Some(selector::responder_view(&ci, &cr).fatal()?)
        }
        None => None,
    };
    Ok(FirstMessage {
        sa: sa.to_vec(),
        ni: ni.to_vec(),
        ke,
        ids: ids.map(|(a, b)| (a.to_vec(), b.to_vec())),
        nat_oa,
        selector,
        wants_tunnel,
        iv: opened.iv,
    })
}

/// The quick-mode responder, QM2 sent.
pub(crate) struct Responder {
    message_id: u32,
    ni: Vec<u8>,
    nr: Vec<u8>,
    choice: Phase2Choice,
    our_spi: u32,
    g_xy: Option<Secret>,
    selector: TrafficSelector,
    nat_oa: Option<OriginalAddresses>,
}

/// What a responder needs to answer.
pub(crate) struct Answer<'a> {
    /// The ISAKMP SA's cookies.
    pub cookies: (Cookie, Cookie),
    /// The rules: the policy's terms, NAT-T, proposal-check.
    pub rules: ResponderRules<'a>,
    /// The selector the SA will carry.
    pub selector: TrafficSelector,
    /// Our SPI.
    pub our_spi: u32,
    /// The ISAKMP SA's addresses (ours, the peer's): our NAT-OAr and NAT-OAi.
    pub addresses: (IpAddr, IpAddr),
    /// Randomness.
    pub rng: &'a dyn SecureRandom,
    /// Nonce length.
    pub nonce_len: usize,
}

impl Responder {
    /// Chooses and answers with QM2. Every failure here is fatal (the message
    /// authenticated).
    pub fn start(
        p1: &mut Phase1Sa,
        first: FirstMessage,
        mid: u32,
        a: Answer<'_>,
    ) -> Result<(Self, Vec<u8>), Reject> {
        let sa = SecurityAssociation::parse(&first.sa)?;
        let choice = phase2::choose(&sa, a.rules)?;
        let (g_xy, our_public) = match (choice.pfs, &first.ke) {
            (Some(group), Some(ke)) => {
                group.check_public(ke)?;
                let key = group.generate(a.rng)?;
                let public = key.public.clone();
                (Some(key.agree(ke)?), Some(public))
            }
            (None, None) => (None, None),
            _ => return Err(Reject::BadProposal("KE payload and PFS disagree")),
        };
        let nr = random_bytes(a.rng, a.nonce_len.clamp(8, 256))?;
        let spi = a.our_spi.to_be_bytes();
        let peer_spi = choice.peer_spi.to_be_bytes();
        let lifetime_data = match choice.decision.notify {
            Some(l) => {
                let mut out = Vec::new();
                crate::wire::emit_attributes(&l.phase2_attributes(), &mut out)?;
                Some(out)
            }
            None => None,
        };
        let mut rest = vec![
            Payload::SecurityAssociation(choice.reply(&spi)),
            Payload::Nonce(&nr),
        ];
        if let Some(public) = &our_public {
            rest.push(Payload::KeyExchange(public));
        }
        if let Some((ci, cr)) = &first.ids {
            rest.push(Payload::Identification(Identification::parse(ci)?));
            rest.push(Payload::Identification(Identification::parse(cr)?));
        }
        // RFC 3947 §5.2: only if we selected UDP-encapsulated transport mode; NAT-OAi is
        // the initiator's address as we see it.
        rest.extend(our_nat_oa(
            p1.nat,
            choice.udp,
            choice.mode,
            (a.addresses.1, a.addresses.0),
        ));
        let nat_oa = original_addresses(first.nat_oa, choice.udp, choice.mode, true, a.addresses.0);
        if let Some(data) = &lifetime_data {
            // RFC 2407 §4.6.3.1, about the initiator's SA (its SPI).
            rest.push(Payload::Notification(Notification {
                doi: DOI_IPSEC,
                protocol: ProtocolId::Esp,
                spi: &peer_spi,
                notify_type: NotifyType::ResponderLifetime,
                data: Cow::Borrowed(data),
            }));
        }
        p1.iv = first.iv;
        p1.iv.confirm(mid);
        let prf = p1.keys.prf;
        let skeyid_a = p1.keys.skeyids.skeyid_a.clone();
        let ni = first.ni;
        let message = protect::seal_hashed(
            &p1.keys,
            &mut p1.iv,
            &header(a.cookies, mid),
            &rest,
            |rest| qm_hash2(prf, &skeyid_a, mid, &ni, &[rest]),
        )?;
        Ok((
            Responder {
                message_id: mid,
                ni,
                nr,
                choice,
                our_spi: a.our_spi,
                g_xy,
                selector: a.selector,
                nat_oa,
            },
            message,
        ))
    }

    /// Our SPI.
    pub fn our_spi(&self) -> u32 {
        self.our_spi
    }

    /// QM3: the SA pair.
    pub fn on_qm3(&self, p1: &mut Phase1Sa, msg: &Message<'_>) -> Result<Negotiated, Failure> {
        let mid = self.message_id;
        let expected = qm_hash3(
            p1.keys.prf,
            &p1.keys.skeyids.skeyid_a,
            mid,
            &self.ni,
            &self.nr,
        );
        let opened = open_and_verify(p1, msg, |rest| {
            // HASH(3) covers no payloads; anything after it is ignored.
            let _ = rest;
            expected
        })?;
        let negotiated = self.negotiated(p1).fatal()?;
        p1.iv = opened.iv;
        p1.iv.confirm(mid);
        p1.iv.forget(mid);
        Ok(negotiated)
    }

    /// The SA pair as QM2 settled it. Everything KEYMAT needs is known once QM2 is sent, so
    /// the responder can install its inbound SA then (before the initiator, which switches
    /// to the new pair when QM2 arrives, sends on it); the outbound one waits for QM3.
    pub fn negotiated(&self, p1: &Phase1Sa) -> Result<Negotiated, Reject> {
        let keys = keys::derive(
            p1,
            self.g_xy.as_ref(),
            &self.choice.esp,
            self.our_spi,
            self.choice.peer_spi,
            &self.ni,
            &self.nr,
        )?;
        Ok(Negotiated {
            esp: self.choice.esp,
            our_spi: self.our_spi,
            peer_spi: self.choice.peer_spi,
            keys,
            lifetime: self.choice.decision.lifetime,
            mode: self.choice.mode,
            udp: self.choice.udp,
            selector: self.selector,
            nat_oa: self.nat_oa,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{NatNumbering, NatTVersion, PayloadChain, TrailingBytes};

    const A: &str = "198.18.0.1";
    const B: &str = "198.18.0.2";
    const NAT: &str = "203.0.113.9";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A payload chain of NAT-OA-like payloads: (type, body).
    fn chain_bytes(payloads: &[(u8, Vec<u8>)]) -> (u8, Vec<u8>) {
        let mut out = Vec::new();
        for (i, (_, body)) in payloads.iter().enumerate() {
            let next = payloads.get(i + 1).map_or(0, |p| p.0);
            let len = u16::try_from(4 + body.len()).unwrap();
            out.extend_from_slice(&[next, 0]);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(body);
        }
        (payloads.first().map_or(0, |p| p.0), out)
    }

    fn parse(payloads: &[(u8, Vec<u8>)]) -> Result<Option<PeerNatOa>, Reject> {
        let (first, bytes) = chain_bytes(payloads);
        let ty = PayloadType::from(first);
        let chain = PayloadChain::parse(ty, &bytes, TrailingBytes::Allowed).unwrap();
        peer_nat_oa(&chain)
    }

    fn v4(a: &str) -> Vec<u8> {
        let IpAddr::V4(a) = ip(a) else { panic!() };
        let mut b = vec![1, 0, 0, 0];
        b.extend_from_slice(&a.octets());
        b
    }

    fn nat_state(version: NatTVersion) -> Option<NatState> {
        Some(NatState {
            version,
            local_behind: true,
            remote_behind: false,
        })
    }

    #[test]
    fn built_in_order_with_the_negotiated_numbering() {
        let built = our_nat_oa(
            nat_state(NatTVersion::Rfc3947),
            UdpEncapsulation::Rfc3947,
            Mode::Transport,
            (ip(A), ip(B)),
        );
        let expect = |a: &str, numbering| {
            Payload::NatOa(NatOa {
                address: ip(a),
                numbering,
            })
        };
        assert_eq!(
            built,
            vec![
                expect(A, NatNumbering::Rfc3947),
                expect(B, NatNumbering::Rfc3947)
            ]
        );
        let draft = our_nat_oa(
            nat_state(NatTVersion::Draft02N),
            UdpEncapsulation::Draft,
            Mode::Transport,
            (ip(A), ip(B)),
        );
        assert!(
            draft
                .iter()
                .all(|p| p.ty() == PayloadType::NatOaDraft && matches!(p, Payload::NatOa(_)))
        );
        assert_eq!(draft.len(), 2);
        // Tunnel mode, no NAT-T, or an unknown address: none.
        for (nat, udp, mode, addrs) in [
            (
                nat_state(NatTVersion::Rfc3947),
                UdpEncapsulation::Rfc3947,
                Mode::Tunnel,
                (ip(A), ip(B)),
            ),
            (
                None,
                UdpEncapsulation::None,
                Mode::Transport,
                (ip(A), ip(B)),
            ),
            (
                nat_state(NatTVersion::Rfc3947),
                UdpEncapsulation::None,
                Mode::Transport,
                (ip(A), ip(B)),
            ),
            (
                nat_state(NatTVersion::Rfc3947),
                UdpEncapsulation::Rfc3947,
                Mode::Transport,
                (ip("0.0.0.0"), ip(B)),
            ),
        ] {
            assert!(our_nat_oa(nat, udp, mode, addrs).is_empty());
        }
    }

    #[test]
    fn parsed_in_either_numbering_and_hostile_ones_refused() {
        assert_eq!(parse(&[]), Ok(None));
        // RFC numbers, then the drafts', mixed.
        let two = parse(&[(21, v4(NAT)), (131, v4(B))]).unwrap().unwrap();
        assert_eq!(
            two,
            PeerNatOa {
                initiator: ip(NAT),
                responder: Some(ip(B))
            }
        );
        let one = parse(&[(131, v4(A))]).unwrap().unwrap();
        assert_eq!(one.responder, None);
        // Malformed: truncated, wrong ID type, IPv4 type with IPv6 length, empty; three.
        let mut v6_len = v4(A);
        v6_len.extend_from_slice(&[0; 12]);
        let mut fqdn = v4(A);
        fqdn[0] = 2;
        for bad in [vec![1, 0], fqdn, v6_len, vec![], vec![1, 0, 0, 0, 198]] {
            let r = parse(&[(21, v4(A)), (21, bad.clone())]);
            assert!(matches!(r, Err(Reject::Wire(_))), "{bad:?}: {r:?}");
        }
        let mut reserved = v4(A);
        reserved[1] = 7;
        assert!(parse(&[(21, reserved)]).is_err());
        assert_eq!(
            parse(&[(21, v4(A)), (21, v4(B)), (21, v4(A))]),
            Err(Reject::MissingPayload("NAT-OAi and NAT-OAr"))
        );
    }

    #[test]
    fn original_addresses_from_either_side() {
        let udp = UdpEncapsulation::Rfc3947;
        // We answered: the peer (initiator) sent its own address first.
        let from_initiator = PeerNatOa {
            initiator: ip("10.0.0.5"),
            responder: Some(ip(B)),
        };
        assert_eq!(
            original_addresses(Some(from_initiator), udp, Mode::Transport, true, ip(B)),
            Some(OriginalAddresses {
                local: ip(B),
                remote: ip("10.0.0.5")
            })
        );
        // We initiated: the responder sent us as it sees us, then itself.
        let from_responder = PeerNatOa {
            initiator: ip(NAT),
            responder: Some(ip(B)),
        };
        assert_eq!(
            original_addresses(Some(from_responder), udp, Mode::Transport, false, ip(A)),
            Some(OriginalAddresses {
                local: ip(NAT),
                remote: ip(B)
            })
        );
        // A lone NAT-OA is the sender's own address.
        let lone = PeerNatOa {
            initiator: ip(B),
            responder: None,
        };
        assert_eq!(
            original_addresses(Some(lone), udp, Mode::Transport, false, ip(A)),
            Some(OriginalAddresses {
                local: ip(A),
                remote: ip(B)
            })
        );
        // Tunnel mode or no encapsulation: ignored.
        assert_eq!(
            original_addresses(Some(lone), udp, Mode::Tunnel, false, ip(A)),
            None
        );
        assert_eq!(
            original_addresses(
                Some(lone),
                UdpEncapsulation::None,
                Mode::Transport,
                false,
                ip(A)
            ),
            None
        );
    }
}
