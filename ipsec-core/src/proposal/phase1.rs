//! The ISAKMP SA proposal (RFC 2409 §5, Appendix A; RFC 2408 §3.4-3.6).
//!
//! A phase-1 SA payload has one proposal (protocol ISAKMP, no SPI) with one transform
//! (`KEY_IKE`) per acceptable combination of cipher, hash, authentication method and group,
//! each with the lifetime. The responder answers with the one transform it chose, echoed as
//! received.

use crate::config::Phase1Transform;
use crate::crypto::{Cipher, DhGroup, HashAlgorithm};
use crate::wire::sa::DOI_IPSEC;
use crate::wire::{
    AuthMethod, DataAttribute, EncryptionAlgorithm, GroupDescription, IsakmpTransformId,
    Phase1Attribute, Proposal, ProtocolId, SecurityAssociation, Situation, Transform,
};

use super::lifetime::{LifeAttributeTypes, Lifetime};
use super::{ProposalError, dh_group, ike_cipher, ike_hash};

/// A phase-1 transform in crypto terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Phase1Algorithms {
    /// Cipher (with its key length).
    pub cipher: Cipher,
    /// Hash; the PRF is its HMAC (RFC 2409 §4).
    pub hash: HashAlgorithm,
    /// Diffie-Hellman group.
    pub group: DhGroup,
}

impl Phase1Algorithms {
    /// The configured transforms resolved to crypto types, order kept.
    pub fn from_config(transforms: &[Phase1Transform]) -> Vec<Phase1Algorithms> {
        transforms
            .iter()
            .filter_map(|t| {
                Some(Phase1Algorithms {
                    cipher: ike_cipher(t.enc),
                    hash: ike_hash(t.hash),
                    group: dh_group(t.group)?,
                })
            })
            .collect()
    }
}

/// A negotiated ISAKMP SA suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Phase1Suite {
    /// Cipher, hash and group.
    pub algorithms: Phase1Algorithms,
    /// Authentication method (as on the wire).
    pub auth: AuthMethod,
    /// The lifetime in the chosen transform.
    pub lifetime: Lifetime,
}

/// Our phase-1 SA payload: one ISAKMP proposal with a transform for each of `ours`, numbered
/// from 1 in our order of preference.
pub fn offer(
    ours: &[Phase1Algorithms],
    auth: AuthMethod,
    lifetime: Lifetime,
) -> Result<SecurityAssociation<'static>, ProposalError> {
    if ours.is_empty() {
        return Err(ProposalError::NothingToOffer("no phase-1 transform"));
    }
    if ours.len() > usize::from(u8::MAX) {
        return Err(ProposalError::NothingToOffer(
            "more than 255 phase-1 transforms",
        ));
    }
    let transforms = ours
        .iter()
        .zip(1u8..)
        .map(|(a, number)| Transform {
            number,
            transform_id: IsakmpTransformId::KeyIke.value(),
            attributes: attributes(a, auth, lifetime),
        })
        .collect();
    Ok(SecurityAssociation {
        doi: DOI_IPSEC,
        situation: Situation::IDENTITY_ONLY,
        proposals: vec![Proposal {
            number: 1,
            protocol: ProtocolId::Isakmp,
            spi: &[],
            transforms,
        }],
    })
}

fn attributes(
    a: &Phase1Algorithms,
    auth: AuthMethod,
    life: Lifetime,
) -> Vec<DataAttribute<'static>> {
    let mut out = vec![
        Phase1Attribute::EncryptionAlgorithm(EncryptionAlgorithm::from(a.cipher.ike_id())).to_raw(),
    ];
    if let Some(bits) = a.cipher.ike_key_bits() {
        out.push(Phase1Attribute::KeyLength(bits).to_raw());
    }
    out.push(Phase1Attribute::HashAlgorithm(a.hash.ike_id().into()).to_raw());
    out.push(Phase1Attribute::AuthenticationMethod(auth).to_raw());
    out.push(Phase1Attribute::GroupDescription(GroupDescription::from(a.group.id())).to_raw());
    if let Some(s) = life.seconds {
        out.push(Phase1Attribute::LifeType(crate::wire::LifeType::Seconds).to_raw());
        out.push(Phase1Attribute::LifeDuration(s).to_raw());
    }
    if let Some(k) = life.kilobytes {
        out.push(Phase1Attribute::LifeType(crate::wire::LifeType::Kilobytes).to_raw());
        out.push(Phase1Attribute::LifeDuration(k).to_raw());
    }
    out
}

/// Reads one received transform. `Ok(None)`: well-formed but not something we implement
/// (an algorithm we lack, a private group, a PRF attribute, an attribute we do not know).
pub fn decode(t: &Transform<'_>) -> Result<Option<Phase1Suite>, ProposalError> {
    if t.transform_id != IsakmpTransformId::KeyIke.value() {
        return Ok(None);
    }
    let (mut enc, mut key_bits, mut hash, mut auth, mut group) = (None, None, None, None, None);
    let mut understood = true;
    for attr in t.phase1_attributes() {
        match attr.map_err(|_| ProposalError::Malformed("phase-1 attribute"))? {
            Phase1Attribute::EncryptionAlgorithm(e) => enc = Some(e),
            Phase1Attribute::KeyLength(k) => key_bits = Some(k),
            Phase1Attribute::HashAlgorithm(h) => hash = Some(h),
            Phase1Attribute::AuthenticationMethod(a) => auth = Some(a),
            Phase1Attribute::GroupDescription(g) => group = Some(g),
            Phase1Attribute::LifeType(_) | Phase1Attribute::LifeDuration(_) => {}
            _ => understood = false,
        }
    }
    let lifetime = Lifetime::from_attributes(&t.attributes, LifeAttributeTypes::PHASE1)?;
    let (Some(enc), Some(hash), Some(auth), Some(group)) = (enc, hash, auth, group) else {
        // RFC 2409 Appendix A: these four are mandatory.
        return Err(ProposalError::Malformed(
            "phase-1 transform lacks a mandatory attribute",
        ));
    };
    if !understood {
        return Ok(None);
    }
    let cipher = Cipher::from_ike(enc.value(), key_bits);
    let hash = HashAlgorithm::from_ike_id(hash.value());
    let group = DhGroup::from_id(group.value());
    Ok(match (cipher, hash, group) {
        (Some(cipher), Some(hash), Some(group)) => Some(Phase1Suite {
            algorithms: Phase1Algorithms {
                cipher,
                hash,
                group,
            },
            auth,
            lifetime,
        }),
        _ => None,
    })
}

/// The responder's choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    /// What was chosen.
    pub suite: Phase1Suite,
    /// The number of the proposal it came from.
    pub proposal_number: u8,
    /// The transform, as received, to echo.
    pub transform: Transform<'static>,
}

impl Chosen {
    /// The responder's SA payload: the chosen transform alone, echoed as received.
    pub fn reply(&self) -> SecurityAssociation<'static> {
        SecurityAssociation {
            doi: DOI_IPSEC,
            situation: Situation::IDENTITY_ONLY,
            proposals: vec![Proposal {
                number: self.proposal_number,
                protocol: ProtocolId::Isakmp,
                spi: &[],
                transforms: vec![self.transform.clone()],
            }],
        }
    }
}

/// The responder's choice among `offered`: the first of `ours` (our order of preference) with
/// the authentication method `auth` that the initiator offered too.
pub fn choose(
    offered: &SecurityAssociation<'_>,
    ours: &[Phase1Algorithms],
    auth: AuthMethod,
) -> Result<Chosen, ProposalError> {
    let mut received = Vec::new();
    for p in &offered.proposals {
        if p.protocol != ProtocolId::Isakmp {
            return Err(ProposalError::Malformed("phase-1 proposal not for ISAKMP"));
        }
        for t in &p.transforms {
            if let Some(suite) = decode(t)? {
                received.push((p.number, t, suite));
            }
        }
    }
    for a in ours {
        if let Some((number, t, suite)) = received
            .iter()
            .find(|(_, _, s)| s.algorithms == *a && s.auth == auth)
        {
            return Ok(Chosen {
                suite: *suite,
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
    Err(ProposalError::NoProposalChosen)
}

/// The initiator's check of the responder's SA payload: one proposal for ISAKMP with one
/// transform, which must be one of `ours` with `auth`.
pub fn accept(
    reply: &SecurityAssociation<'_>,
    ours: &[Phase1Algorithms],
    auth: AuthMethod,
) -> Result<Phase1Suite, ProposalError> {
    let [proposal] = reply.proposals.as_slice() else {
        return Err(ProposalError::ReplyMismatch("not exactly one proposal"));
    };
    if proposal.protocol != ProtocolId::Isakmp {
        return Err(ProposalError::ReplyMismatch("proposal not for ISAKMP"));
    }
    let [transform] = proposal.transforms.as_slice() else {
        return Err(ProposalError::ReplyMismatch("not exactly one transform"));
    };
    let suite = decode(transform)?.ok_or(ProposalError::ReplyMismatch("unknown transform"))?;
    if suite.auth != auth || !ours.contains(&suite.algorithms) {
        return Err(ProposalError::ReplyMismatch("transform we did not offer"));
    }
    Ok(suite)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn algs(cipher: Cipher, hash: HashAlgorithm, group: DhGroup) -> Phase1Algorithms {
        Phase1Algorithms {
            cipher,
            hash,
            group,
        }
    }

    fn round_trip(sa: &SecurityAssociation<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        sa.emit(&mut out).unwrap();
        out
    }

    #[test]
    fn responder_chooses_by_its_own_preference() {
        let a = algs(Cipher::AesCbc128, HashAlgorithm::Sha256, DhGroup::Modp2048);
        let b = algs(Cipher::AesCbc256, HashAlgorithm::Sha1, DhGroup::Ecp256);
        let life = Lifetime::seconds(86_400);
        let offer = offer(&[a, b], AuthMethod::PreSharedKey, life).unwrap();
        let bytes = round_trip(&offer);
        let parsed = SecurityAssociation::parse(&bytes).unwrap();
        // The responder prefers b.
        let chosen = choose(&parsed, &[b, a], AuthMethod::PreSharedKey).unwrap();
        assert_eq!(chosen.suite.algorithms, b);
        assert_eq!(chosen.suite.lifetime, life);
        assert_eq!(chosen.transform.number, 2);
        // The initiator accepts the echo.
        let reply = round_trip(&chosen.reply());
        let reply = SecurityAssociation::parse(&reply).unwrap();
        let suite = accept(&reply, &[a, b], AuthMethod::PreSharedKey).unwrap();
        assert_eq!(suite.algorithms, b);
    }

    #[test]
    fn nothing_in_common_is_no_proposal_chosen() {
        let a = algs(Cipher::AesCbc128, HashAlgorithm::Sha256, DhGroup::Modp2048);
        let b = algs(Cipher::AesCbc128, HashAlgorithm::Sha256, DhGroup::Ecp256);
        let offer = offer(&[a], AuthMethod::PreSharedKey, Lifetime::seconds(60)).unwrap();
        assert_eq!(
            choose(&offer, &[b], AuthMethod::PreSharedKey),
            Err(ProposalError::NoProposalChosen)
        );
        // Same algorithms, other authentication method.
        assert_eq!(
            choose(&offer, &[a], AuthMethod::RsaSignatures),
            Err(ProposalError::NoProposalChosen)
        );
    }

    #[test]
    fn initiator_refuses_a_transform_it_did_not_offer() {
        let a = algs(Cipher::AesCbc128, HashAlgorithm::Sha256, DhGroup::Modp2048);
        let b = algs(Cipher::TripleDesCbc, HashAlgorithm::Sha1, DhGroup::Modp2048);
        let sneaky = offer(&[b], AuthMethod::PreSharedKey, Lifetime::seconds(60)).unwrap();
        assert!(matches!(
            accept(&sneaky, &[a], AuthMethod::PreSharedKey),
            Err(ProposalError::ReplyMismatch(_))
        ));
        // Two transforms in a reply are refused even if both were offered.
        let both = offer(&[a, b], AuthMethod::PreSharedKey, Lifetime::seconds(60)).unwrap();
        assert!(accept(&both, &[a, b], AuthMethod::PreSharedKey).is_err());
    }

    #[test]
    fn unknown_attributes_make_a_transform_unacceptable() {
        let a = algs(Cipher::AesCbc128, HashAlgorithm::Sha256, DhGroup::Modp2048);
        let mut sa = offer(&[a], AuthMethod::PreSharedKey, Lifetime::seconds(60)).unwrap();
        sa.proposals[0].transforms[0]
            .attributes
            .push(DataAttribute::basic(13, 1)); // PRF attribute
        assert_eq!(
            choose(&sa, &[a], AuthMethod::PreSharedKey),
            Err(ProposalError::NoProposalChosen)
        );
    }

    #[test]
    fn aes_without_key_length_is_not_chosen() {
        let a = algs(Cipher::AesCbc128, HashAlgorithm::Sha256, DhGroup::Modp2048);
        let mut sa = offer(&[a], AuthMethod::PreSharedKey, Lifetime::seconds(60)).unwrap();
        sa.proposals[0].transforms[0]
            .attributes
            .retain(|x| x.ty != 14);
        assert_eq!(
            choose(&sa, &[a], AuthMethod::PreSharedKey),
            Err(ProposalError::NoProposalChosen)
        );
    }
}
