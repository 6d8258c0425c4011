//! The IPsec SA proposal of quick mode (RFC 2409 §5.5, RFC 2407 §4.4.4 and §4.5).
//!
//! We offer one ESP proposal carrying our SPI, with one transform per configured
//! (cipher, integrity) pair; each transform repeats the PFS group, the encapsulation mode and
//! the lifetime. Encapsulation modes under NAT-T are UDP-Encapsulated-Tunnel/Transport: 3/4
//! with RFC 3947, 61443/61444 with the drafts (RFC 3947 §5.2; draft-ietf-ipsec-nat-t-ike-02
//! §5.2).
//!
//! A received SA may AND several protocols under one proposal number (RFC 2408 §4.2, e.g.
//! IPCOMP with ESP); we implement ESP alone, so such proposals are passed over.

use crate::config::ProposalCheck;
use crate::crypto::DhGroup;
use crate::crypto::esp::{EspEncryption, EspIntegrity, EspTransform};
use crate::wire::sa::DOI_IPSEC;
use crate::wire::{
    AuthAlgorithm, DataAttribute, EncapsulationMode, GroupDescription, Phase2Attribute, Proposal,
    ProtocolId, SecurityAssociation, Situation, Transform,
};

use super::ProposalError;
use super::lifetime::{self, LifeAttributeTypes, Lifetime, LifetimeDecision};

/// IPsec mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Tunnel mode: the whole packet is protected, new outer addresses.
    Tunnel,
    /// Transport mode: host to host.
    Transport,
}

/// How the encapsulation mode is numbered, which also says whether ESP is UDP-encapsulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UdpEncapsulation {
    /// Plain ESP: modes 1 and 2.
    None,
    /// ESP in UDP, RFC 3947 numbering: 3 and 4.
    Rfc3947,
    /// ESP in UDP, draft numbering: 61443 and 61444.
    Draft,
}

/// The Encapsulation Mode attribute for `mode` under `udp`.
pub fn encapsulation_mode(mode: Mode, udp: UdpEncapsulation) -> EncapsulationMode {
    match (mode, udp) {
        (Mode::Tunnel, UdpEncapsulation::None) => EncapsulationMode::Tunnel,
        (Mode::Transport, UdpEncapsulation::None) => EncapsulationMode::Transport,
        (Mode::Tunnel, UdpEncapsulation::Rfc3947) => EncapsulationMode::UdpTunnel,
        (Mode::Transport, UdpEncapsulation::Rfc3947) => EncapsulationMode::UdpTransport,
        (Mode::Tunnel, UdpEncapsulation::Draft) => EncapsulationMode::UdpTunnelDraft,
        (Mode::Transport, UdpEncapsulation::Draft) => EncapsulationMode::UdpTransportDraft,
    }
}

/// The mode and encapsulation an Encapsulation Mode attribute names, if known.
pub fn split_encapsulation_mode(m: EncapsulationMode) -> Option<(Mode, UdpEncapsulation)> {
    Some(match m {
        EncapsulationMode::Tunnel => (Mode::Tunnel, UdpEncapsulation::None),
        EncapsulationMode::Transport => (Mode::Transport, UdpEncapsulation::None),
        EncapsulationMode::UdpTunnel => (Mode::Tunnel, UdpEncapsulation::Rfc3947),
        EncapsulationMode::UdpTransport => (Mode::Transport, UdpEncapsulation::Rfc3947),
        EncapsulationMode::UdpTunnelDraft => (Mode::Tunnel, UdpEncapsulation::Draft),
        EncapsulationMode::UdpTransportDraft => (Mode::Transport, UdpEncapsulation::Draft),
        EncapsulationMode::Unknown(_) => return None,
    })
}

/// What one side wants for an IPsec SA: the policy's proposal and mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase2Terms {
    /// ESP transforms, our preference first.
    pub transforms: Vec<EspTransform>,
    /// PFS group, if any.
    pub pfs: Option<DhGroup>,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Configured lifetime.
    pub lifetime: Lifetime,
}

/// Our quick-mode SA payload: one ESP proposal with `spi` and a transform per entry of
/// `terms.transforms`.
pub fn offer<'s>(
    terms: &Phase2Terms,
    udp: UdpEncapsulation,
    spi: &'s [u8; 4],
) -> Result<SecurityAssociation<'s>, ProposalError> {
    if terms.transforms.is_empty() {
        return Err(ProposalError::NothingToOffer("no ESP transform"));
    }
    if terms.transforms.len() > usize::from(u8::MAX) {
        return Err(ProposalError::NothingToOffer(
            "more than 255 ESP transforms",
        ));
    }
    let mode = encapsulation_mode(terms.mode, udp);
    let transforms = terms
        .transforms
        .iter()
        .zip(1u8..)
        .map(|(t, number)| Transform {
            number,
            transform_id: t.encryption.transform_id(),
            attributes: attributes(t, terms.pfs, mode, terms.lifetime),
        })
        .collect();
    Ok(SecurityAssociation {
        doi: DOI_IPSEC,
        situation: Situation::IDENTITY_ONLY,
        proposals: vec![Proposal {
            number: 1,
            protocol: ProtocolId::Esp,
            spi,
            transforms,
        }],
    })
}

fn attributes(
    t: &EspTransform,
    pfs: Option<DhGroup>,
    mode: EncapsulationMode,
    life: Lifetime,
) -> Vec<DataAttribute<'static>> {
    let mut out = life.phase2_attributes();
    out.push(Phase2Attribute::EncapsulationMode(mode).to_raw());
    if let Some(a) = t.integrity.ike_id() {
        out.push(Phase2Attribute::AuthenticationAlgorithm(AuthAlgorithm::from(a)).to_raw());
    }
    if let Some(bits) = t.encryption.key_bits() {
        out.push(Phase2Attribute::KeyLength(bits).to_raw());
    }
    if let Some(g) = pfs {
        out.push(Phase2Attribute::GroupDescription(GroupDescription::from(g.id())).to_raw());
    }
    out
}

/// One received ESP transform in our terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedTransform {
    /// Cipher and integrity.
    pub esp: EspTransform,
    /// PFS group.
    pub pfs: Option<DhGroup>,
    /// Encapsulation mode, if the attribute was present.
    pub mode: Option<(Mode, UdpEncapsulation)>,
    /// Lifetime as proposed (no default applied).
    pub lifetime: Lifetime,
}

/// Reads a received ESP transform. `Ok(None)`: well-formed, but not something we implement
/// (an unknown cipher, ESN, an attribute we do not know).
pub fn decode(t: &Transform<'_>) -> Result<Option<ReceivedTransform>, ProposalError> {
    let (mut key_bits, mut auth, mut group, mut mode) = (None, None, None, None);
    let mut understood = true;
    for attr in t.phase2_attributes() {
        match attr.map_err(|_| ProposalError::Malformed("phase-2 attribute"))? {
            Phase2Attribute::SaLifeType(_) | Phase2Attribute::SaLifeDuration(_) => {}
            Phase2Attribute::KeyLength(k) => key_bits = Some(k),
            Phase2Attribute::AuthenticationAlgorithm(a) => auth = Some(a.value()),
            Phase2Attribute::GroupDescription(g) => match DhGroup::from_id(g.value()) {
                Some(g) => group = Some(g),
                None => understood = false,
            },
            Phase2Attribute::EncapsulationMode(m) => match split_encapsulation_mode(m) {
                Some(m) => mode = Some(m),
                None => understood = false,
            },
            // RFC 3168: a statement about the tunnel's ECN handling, no negotiation.
            Phase2Attribute::EcnTunnel(_) => {}
            // RFC 4304: 0 means 32-bit sequence numbers, which is what we do.
            Phase2Attribute::ExtendedSequenceNumber(0) => {}
            _ => understood = false,
        }
    }
    let lifetime = Lifetime::from_attributes(&t.attributes, LifeAttributeTypes::PHASE2)?;
    if !understood {
        return Ok(None);
    }
    let Some(enc) = EspEncryption::from_ike(t.transform_id, key_bits) else {
        return Ok(None);
    };
    let Some(integ) = EspIntegrity::from_ike(auth) else {
        return Ok(None);
    };
    let Ok(esp) = EspTransform::new(enc, integ) else {
        return Ok(None);
    };
    Ok(Some(ReceivedTransform {
        esp,
        pfs: group,
        mode,
        lifetime,
    }))
}

/// What the responder checks a quick-mode offer against.
#[derive(Clone, Copy, Debug)]
pub struct ResponderRules<'a> {
    /// The matching policy's terms.
    pub terms: &'a Phase2Terms,
    /// Whether UDP-encapsulated modes may be accepted (NAT-T was negotiated in phase 1).
    pub nat_t: bool,
    /// The peer's `proposal-check`.
    pub check: ProposalCheck,
}

/// The responder's choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase2Choice {
    /// Cipher and integrity.
    pub esp: EspTransform,
    /// PFS group (a KE payload must accompany it).
    pub pfs: Option<DhGroup>,
    /// Tunnel or transport.
    pub mode: Mode,
    /// UDP encapsulation as proposed.
    pub udp: UdpEncapsulation,
    /// The SA's lifetime and what to announce with RESPONDER-LIFETIME.
    pub decision: LifetimeDecision,
    /// The initiator's SPI (the SA it receives on: our outbound SPI).
    pub peer_spi: u32,
    /// The number of the chosen proposal.
    pub proposal_number: u8,
    /// The chosen transform as received, to echo.
    pub transform: Transform<'static>,
}

impl Phase2Choice {
    /// The responder's SA payload: the chosen proposal with our SPI and the chosen transform.
    pub fn reply<'s>(&self, spi: &'s [u8; 4]) -> SecurityAssociation<'s> {
        SecurityAssociation {
            doi: DOI_IPSEC,
            situation: Situation::IDENTITY_ONLY,
            proposals: vec![Proposal {
                number: self.proposal_number,
                protocol: ProtocolId::Esp,
                spi,
                transforms: vec![self.transform.clone()],
            }],
        }
    }
}

fn spi_u32(spi: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(spi).ok().map(u32::from_be_bytes)
}

/// The responder's choice among the initiator's proposals: the first of our transforms (our
/// preference) that was offered with our PFS group, a compatible mode and an acceptable
/// lifetime. A lifetime refused by `proposal-check` is reported as such when nothing else was
/// acceptable.
pub fn choose(
    offered: &SecurityAssociation<'_>,
    rules: ResponderRules<'_>,
) -> Result<Phase2Choice, ProposalError> {
    let mut candidates = Vec::new();
    for p in &offered.proposals {
        let alone = offered
            .proposals
            .iter()
            .filter(|q| q.number == p.number)
            .count()
            == 1;
        if !alone || p.protocol != ProtocolId::Esp {
            continue;
        }
        let Some(peer_spi) = spi_u32(p.spi) else {
            return Err(ProposalError::Malformed("ESP SPI is not 4 bytes"));
        };
        if peer_spi < 256 {
            // RFC 4303 §2.1: SPIs 1..255 are reserved, 0 is never sent.
            return Err(ProposalError::Malformed("reserved ESP SPI"));
        }
        for t in &p.transforms {
            if let Some(r) = decode(t)? {
                candidates.push((p.number, peer_spi, t, r));
            }
        }
    }
    let terms = rules.terms;
    let mut lifetime_refused = false;
    for ours in &terms.transforms {
        for (number, peer_spi, t, r) in &candidates {
            if r.esp != *ours || r.pfs != terms.pfs {
                continue;
            }
            let (mode, udp) = r.mode.unwrap_or((terms.mode, UdpEncapsulation::None));
            if mode != terms.mode || (udp != UdpEncapsulation::None && !rules.nat_t) {
                continue;
            }
            let proposed = r.lifetime.with_phase2_default();
            let decision = match lifetime::check(rules.check, proposed, terms.lifetime) {
                Ok(d) => d,
                Err(_) => {
                    lifetime_refused = true;
                    continue;
                }
            };
            return Ok(Phase2Choice {
                esp: r.esp,
                pfs: r.pfs,
                mode,
                udp,
                decision,
                peer_spi: *peer_spi,
                proposal_number: *number,
                transform: Transform {
                    number: t.number,
                    transform_id: t.transform_id,
                    attributes: t
                        .attributes
                        .iter()
                        .cloned()
                        .map(DataAttribute::into_owned)
                        .collect(),
                },
            });
        }
    }
    if lifetime_refused {
        Err(ProposalError::Lifetime(rules.check))
    } else {
        Err(ProposalError::NoProposalChosen)
    }
}

/// What the initiator takes from the responder's SA payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// Cipher and integrity.
    pub esp: EspTransform,
    /// The responder's SPI (the SA it receives on: our outbound SPI).
    pub peer_spi: u32,
    /// The lifetime: ours, shortened by the responder's echo if that is shorter.
    pub lifetime: Lifetime,
}

/// The initiator's check of the responder's SA: one ESP proposal with a 4-byte SPI and one
/// transform, which must be one we offered (same PFS group, same encapsulation mode).
pub fn accept(
    reply: &SecurityAssociation<'_>,
    terms: &Phase2Terms,
    udp: UdpEncapsulation,
) -> Result<Accepted, ProposalError> {
    let [proposal] = reply.proposals.as_slice() else {
        return Err(ProposalError::ReplyMismatch("not exactly one proposal"));
    };
    if proposal.protocol != ProtocolId::Esp {
        return Err(ProposalError::ReplyMismatch("proposal not for ESP"));
    }
    let peer_spi =
        spi_u32(proposal.spi).ok_or(ProposalError::Malformed("ESP SPI is not 4 bytes"))?;
    if peer_spi < 256 {
        return Err(ProposalError::Malformed("reserved ESP SPI"));
    }
    let [transform] = proposal.transforms.as_slice() else {
        return Err(ProposalError::ReplyMismatch("not exactly one transform"));
    };
    let r = decode(transform)?.ok_or(ProposalError::ReplyMismatch("unknown transform"))?;
    if !terms.transforms.contains(&r.esp) || r.pfs != terms.pfs {
        return Err(ProposalError::ReplyMismatch("transform we did not offer"));
    }
    if let Some(m) = r.mode
        && m != (terms.mode, udp)
    {
        return Err(ProposalError::ReplyMismatch("encapsulation mode"));
    }
    Ok(Accepted {
        esp: r.esp,
        peer_spi,
        lifetime: terms.lifetime.min(r.lifetime),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esp(e: EspEncryption, i: EspIntegrity) -> EspTransform {
        EspTransform::new(e, i).unwrap()
    }

    fn terms(
        transforms: Vec<EspTransform>,
        pfs: Option<DhGroup>,
        mode: Mode,
        secs: u64,
    ) -> Phase2Terms {
        Phase2Terms {
            transforms,
            pfs,
            mode,
            lifetime: Lifetime::seconds(secs),
        }
    }

    fn parse_back(sa: &SecurityAssociation<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        sa.emit(&mut out).unwrap();
        out
    }

    fn rules(t: &Phase2Terms, check: ProposalCheck) -> ResponderRules<'_> {
        ResponderRules {
            terms: t,
            nat_t: true,
            check,
        }
    }

    #[test]
    fn responder_prefers_its_order_and_echoes() {
        let cbc = esp(EspEncryption::AesCbc128, EspIntegrity::HmacSha1_96);
        let gcm = esp(EspEncryption::AesGcm16_256, EspIntegrity::None);
        let init = terms(vec![cbc, gcm], Some(DhGroup::Ecp256), Mode::Tunnel, 3600);
        let spi = 0x1234_5678u32.to_be_bytes();
        let bytes = parse_back(&offer(&init, UdpEncapsulation::None, &spi).unwrap());
        let offered = SecurityAssociation::parse(&bytes).unwrap();
        let resp = terms(vec![gcm, cbc], Some(DhGroup::Ecp256), Mode::Tunnel, 3600);
        let c = choose(&offered, rules(&resp, ProposalCheck::Claim)).unwrap();
        assert_eq!(c.esp, gcm);
        assert_eq!(c.peer_spi, 0x1234_5678);
        assert_eq!(c.mode, Mode::Tunnel);
        assert_eq!(c.decision.notify, None);
        let rspi = 0x9abc_def0u32.to_be_bytes();
        let reply = parse_back(&c.reply(&rspi));
        let reply = SecurityAssociation::parse(&reply).unwrap();
        let a = accept(&reply, &init, UdpEncapsulation::None).unwrap();
        assert_eq!(a.esp, gcm);
        assert_eq!(a.peer_spi, 0x9abc_def0);
        assert_eq!(a.lifetime, Lifetime::seconds(3600));
    }

    #[test]
    fn pfs_must_match() {
        let cbc = esp(EspEncryption::AesCbc128, EspIntegrity::HmacSha1_96);
        let init = terms(vec![cbc], None, Mode::Tunnel, 3600);
        let spi = 0x1000u32.to_be_bytes();
        let offered = offer(&init, UdpEncapsulation::None, &spi).unwrap();
        let resp = terms(vec![cbc], Some(DhGroup::Modp2048), Mode::Tunnel, 3600);
        assert_eq!(
            choose(&offered, rules(&resp, ProposalCheck::Obey)),
            Err(ProposalError::NoProposalChosen)
        );
    }

    #[test]
    fn mode_must_match_and_udp_needs_nat_t() {
        let cbc = esp(EspEncryption::AesCbc128, EspIntegrity::HmacSha1_96);
        let init = terms(vec![cbc], None, Mode::Transport, 3600);
        let spi = 0x1000u32.to_be_bytes();
        let offered = offer(&init, UdpEncapsulation::Rfc3947, &spi).unwrap();
        let tunnel = terms(vec![cbc], None, Mode::Tunnel, 3600);
        assert!(choose(&offered, rules(&tunnel, ProposalCheck::Obey)).is_err());
        let transport = terms(vec![cbc], None, Mode::Transport, 3600);
        let c = choose(&offered, rules(&transport, ProposalCheck::Obey)).unwrap();
        assert_eq!(c.udp, UdpEncapsulation::Rfc3947);
        let no_nat_t = ResponderRules {
            terms: &transport,
            nat_t: false,
            check: ProposalCheck::Obey,
        };
        assert!(choose(&offered, no_nat_t).is_err());
        // The draft numbering is understood too.
        let draft = offer(&init, UdpEncapsulation::Draft, &spi).unwrap();
        let c = choose(&draft, rules(&transport, ProposalCheck::Obey)).unwrap();
        assert_eq!(c.udp, UdpEncapsulation::Draft);
    }

    #[test]
    fn proposal_check_rules_apply_to_the_offer() {
        let cbc = esp(EspEncryption::AesCbc128, EspIntegrity::HmacSha1_96);
        let init = terms(vec![cbc], None, Mode::Tunnel, 7200);
        let spi = 0x1000u32.to_be_bytes();
        let offered = offer(&init, UdpEncapsulation::None, &spi).unwrap();
        let resp = terms(vec![cbc], None, Mode::Tunnel, 3600);
        // obey: 7200
        let c = choose(&offered, rules(&resp, ProposalCheck::Obey)).unwrap();
        assert_eq!(c.decision.lifetime, Lifetime::seconds(7200));
        // claim: 3600, announced
        let c = choose(&offered, rules(&resp, ProposalCheck::Claim)).unwrap();
        assert_eq!(c.decision.lifetime, Lifetime::seconds(3600));
        assert_eq!(c.decision.notify, Some(Lifetime::seconds(3600)));
        // strict and exact: refused, as a lifetime problem
        assert_eq!(
            choose(&offered, rules(&resp, ProposalCheck::Strict)),
            Err(ProposalError::Lifetime(ProposalCheck::Strict))
        );
        assert_eq!(
            choose(&offered, rules(&resp, ProposalCheck::Exact)),
            Err(ProposalError::Lifetime(ProposalCheck::Exact))
        );
    }

    #[test]
    fn no_lifetime_proposed_means_eight_hours() {
        let cbc = esp(EspEncryption::AesCbc128, EspIntegrity::HmacSha1_96);
        let mut init = terms(vec![cbc], None, Mode::Tunnel, 1);
        init.lifetime = Lifetime::default();
        let spi = 0x1000u32.to_be_bytes();
        let offered = offer(&init, UdpEncapsulation::None, &spi).unwrap();
        let resp = terms(vec![cbc], None, Mode::Tunnel, 28_800);
        let c = choose(&offered, rules(&resp, ProposalCheck::Exact)).unwrap();
        assert_eq!(c.decision.lifetime, Lifetime::seconds(28_800));
    }

    #[test]
    fn anded_proposals_and_other_protocols_are_passed_over() {
        let cbc = esp(EspEncryption::AesCbc128, EspIntegrity::HmacSha1_96);
        let init = terms(vec![cbc], None, Mode::Tunnel, 3600);
        let spi = 0x1000u32.to_be_bytes();
        let mut offered = offer(&init, UdpEncapsulation::None, &spi).unwrap();
        let mut ipcomp = offered.proposals[0].clone();
        ipcomp.protocol = ProtocolId::IpComp;
        offered.proposals.push(ipcomp);
        assert_eq!(
            choose(&offered, rules(&init, ProposalCheck::Obey)),
            Err(ProposalError::NoProposalChosen)
        );
    }

    #[test]
    fn initiator_refuses_other_transforms_and_modes() {
        let cbc = esp(EspEncryption::AesCbc128, EspIntegrity::HmacSha1_96);
        let sha2 = esp(EspEncryption::AesCbc128, EspIntegrity::HmacSha256_128);
        let init = terms(vec![cbc], None, Mode::Tunnel, 3600);
        let other = terms(vec![sha2], None, Mode::Tunnel, 3600);
        let spi = 0x1000u32.to_be_bytes();
        let reply = offer(&other, UdpEncapsulation::None, &spi).unwrap();
        assert!(accept(&reply, &init, UdpEncapsulation::None).is_err());
        let reply = offer(&init, UdpEncapsulation::Rfc3947, &spi).unwrap();
        assert!(accept(&reply, &init, UdpEncapsulation::None).is_err());
        let reserved = 200u32.to_be_bytes();
        let reply = offer(&init, UdpEncapsulation::None, &reserved).unwrap();
        assert!(accept(&reply, &init, UdpEncapsulation::None).is_err());
    }
}
