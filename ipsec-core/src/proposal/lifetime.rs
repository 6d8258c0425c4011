//! SA lifetimes: what the Life Type / Life Duration attribute pairs say (RFC 2407 §4.5, RFC 2409
//! Appendix A), the responder's `proposal-check` (obey, claim, strict, exact) as the operator
//! manual defines it, and RESPONDER-LIFETIME (RFC 2407 §4.6.3.1).
//!
//! The manual, `/ip ipsec peer proposal-check`:
//!
//! - **claim**: take the shortest of proposed and configured lifetimes and notify the initiator
//!   about it;
//! - **exact**: require lifetimes to be the same;
//! - **obey**: accept whatever is sent by an initiator;
//! - **strict**: if the proposed lifetime is longer than the configured one, reject the
//!   proposal, otherwise accept the proposed lifetime.
//!
//! Each rule is applied to seconds and to kilobytes separately. An absent limit is unlimited,
//! except that a phase-2 proposal without any seconds limit has RFC 2407 §4.5's default of
//! 28800 seconds ("when unspecified, the default value of 28800 seconds (8 hours) shall be
//! assumed").

use crate::config::ProposalCheck;
use crate::wire::attributes::phase2_type;
use crate::wire::{DataAttribute, LifeType, Phase2Attribute};

use super::ProposalError;

/// RFC 2407 §4.5: the phase-2 lifetime when none is proposed.
pub const DEFAULT_PHASE2_SECONDS: u64 = 28_800;

/// The limits of one SA; `None` means no limit in that unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lifetime {
    /// Seconds.
    pub seconds: Option<u64>,
    /// Kilobytes (1024 bytes).
    pub kilobytes: Option<u64>,
}

impl Lifetime {
    /// A lifetime in seconds only.
    pub const fn seconds(seconds: u64) -> Self {
        Lifetime {
            seconds: Some(seconds),
            kilobytes: None,
        }
    }

    /// From configuration: `lifetime` and `lifebytes` (bytes, rounded up to whole kilobytes).
    pub fn from_config(lifetime: std::time::Duration, lifebytes: Option<u64>) -> Self {
        Lifetime {
            seconds: Some(lifetime.as_secs().max(1)),
            kilobytes: lifebytes.map(|b| b.div_ceil(1024).max(1)),
        }
    }

    /// The phase-2 reading of a proposal: no seconds limit means RFC 2407's 28800 seconds.
    pub fn with_phase2_default(self) -> Self {
        Lifetime {
            seconds: Some(self.seconds.unwrap_or(DEFAULT_PHASE2_SECONDS)),
            kilobytes: self.kilobytes,
        }
    }

    /// The shorter of two lifetimes, unit by unit.
    pub fn min(self, other: Lifetime) -> Lifetime {
        Lifetime {
            seconds: min_limit(self.seconds, other.seconds),
            kilobytes: min_limit(self.kilobytes, other.kilobytes),
        }
    }

    /// The attributes announcing this lifetime in a phase-2 transform or in a
    /// RESPONDER-LIFETIME notification: (SA Life Type, SA Life Duration) pairs, seconds first.
    pub fn phase2_attributes(&self) -> Vec<DataAttribute<'static>> {
        let mut out = Vec::with_capacity(4);
        if let Some(s) = self.seconds {
            out.push(Phase2Attribute::SaLifeType(LifeType::Seconds).to_raw());
            out.push(Phase2Attribute::SaLifeDuration(s).to_raw());
        }
        if let Some(k) = self.kilobytes {
            out.push(Phase2Attribute::SaLifeType(LifeType::Kilobytes).to_raw());
            out.push(Phase2Attribute::SaLifeDuration(k).to_raw());
        }
        out
    }

    /// Reads the (Life Type, Life Duration) pairs among `attributes` (phase-1 or phase-2
    /// numbering given by `types`), ignoring every other attribute. A duration without a
    /// preceding type, a type without a duration, an unknown life type or a zero duration is
    /// malformed (RFC 2407 §4.5: "the SA Life Type MUST be followed by an SA Life Duration").
    pub fn from_attributes(
        attributes: &[DataAttribute<'_>],
        types: LifeAttributeTypes,
    ) -> Result<Lifetime, ProposalError> {
        let mut out = Lifetime::default();
        let mut pending: Option<LifeType> = None;
        for a in attributes {
            if a.ty == types.life_type {
                if pending.is_some() {
                    return Err(ProposalError::Malformed("life type without duration"));
                }
                let value = a
                    .require_basic()
                    .map_err(|_| ProposalError::Malformed("life type not basic"))?;
                pending = Some(LifeType::from(value));
            } else if a.ty == types.life_duration {
                let value = a
                    .as_u64()
                    .map_err(|_| ProposalError::Malformed("life duration length"))?;
                if value == 0 {
                    return Err(ProposalError::Malformed("zero life duration"));
                }
                match pending.take() {
                    Some(LifeType::Seconds) => out.seconds = Some(value),
                    Some(LifeType::Kilobytes) => out.kilobytes = Some(value),
                    Some(LifeType::Unknown(_)) => {
                        return Err(ProposalError::Malformed("unknown life type"));
                    }
                    None => return Err(ProposalError::Malformed("life duration without type")),
                }
            }
        }
        if pending.is_some() {
            return Err(ProposalError::Malformed("life type without duration"));
        }
        Ok(out)
    }
}

/// The attribute type numbers of Life Type and Life Duration, which differ between phase 1
/// (RFC 2409 Appendix A: 11, 12) and phase 2 (RFC 2407 §4.5: 1, 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifeAttributeTypes {
    /// Life Type.
    pub life_type: u16,
    /// Life Duration.
    pub life_duration: u16,
}

impl LifeAttributeTypes {
    /// Phase 1 (ISAKMP SA) numbering.
    pub const PHASE1: LifeAttributeTypes = LifeAttributeTypes {
        life_type: crate::wire::attributes::phase1_type::LIFE_TYPE,
        life_duration: crate::wire::attributes::phase1_type::LIFE_DURATION,
    };
    /// Phase 2 (IPsec SA) numbering.
    pub const PHASE2: LifeAttributeTypes = LifeAttributeTypes {
        life_type: phase2_type::SA_LIFE_TYPE,
        life_duration: phase2_type::SA_LIFE_DURATION,
    };
}

fn min_limit(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (Some(a), None) | (None, Some(a)) => Some(a),
        (None, None) => None,
    }
}

/// `a` is longer than `b` (`None` is unlimited).
fn longer(a: Option<u64>, b: Option<u64>) -> bool {
    match (a, b) {
        (None, None) => false,
        (None, Some(_)) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => a > b,
    }
}

/// The outcome of a responder's lifetime check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifetimeDecision {
    /// The lifetime the SA gets.
    pub lifetime: Lifetime,
    /// What to announce in a RESPONDER-LIFETIME notification (`claim` when ours is shorter
    /// than proposed), if anything.
    pub notify: Option<Lifetime>,
}

/// The responder's `proposal-check` of a proposed phase-2 lifetime against the configured
/// one. `proposed` is read with [`Lifetime::with_phase2_default`] by the caller.
pub fn check(
    rule: ProposalCheck,
    proposed: Lifetime,
    configured: Lifetime,
) -> Result<LifetimeDecision, ProposalError> {
    match rule {
        ProposalCheck::Obey => Ok(LifetimeDecision {
            lifetime: proposed,
            notify: None,
        }),
        ProposalCheck::Claim => {
            let lifetime = proposed.min(configured);
            Ok(LifetimeDecision {
                lifetime,
                notify: (lifetime != proposed).then_some(lifetime),
            })
        }
        ProposalCheck::Strict => {
            if longer(proposed.seconds, configured.seconds)
                || longer(proposed.kilobytes, configured.kilobytes)
            {
                Err(ProposalError::Lifetime(rule))
            } else {
                Ok(LifetimeDecision {
                    lifetime: proposed,
                    notify: None,
                })
            }
        }
        ProposalCheck::Exact => {
            if proposed == configured {
                Ok(LifetimeDecision {
                    lifetime: proposed,
                    notify: None,
                })
            } else {
                Err(ProposalError::Lifetime(rule))
            }
        }
    }
}

/// The initiator's reading of a RESPONDER-LIFETIME notification (RFC 2407 §4.6.3.1): the SA
/// gets the shorter of what it had and what the responder announced, unit by unit. (A
/// responder may only shorten a lifetime; a longer announcement is not obeyed.)
pub fn apply_responder_lifetime(ours: Lifetime, announced: Lifetime) -> Lifetime {
    ours.min(announced)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Lifetime = Lifetime::seconds(3600);
    const HALF: Lifetime = Lifetime::seconds(1800);

    fn both(s: u64, k: u64) -> Lifetime {
        Lifetime {
            seconds: Some(s),
            kilobytes: Some(k),
        }
    }

    #[test]
    fn obey_accepts_anything() {
        for proposed in [HOUR, HALF, both(100_000, 1), Lifetime::default()] {
            let d = check(ProposalCheck::Obey, proposed, HALF).unwrap();
            assert_eq!(d.lifetime, proposed);
            assert_eq!(d.notify, None);
        }
    }

    #[test]
    fn claim_takes_the_shorter_and_notifies_only_when_ours_is_shorter() {
        let d = check(ProposalCheck::Claim, HOUR, HALF).unwrap();
        assert_eq!(d.lifetime, HALF);
        assert_eq!(d.notify, Some(HALF));

        let d = check(ProposalCheck::Claim, HALF, HOUR).unwrap();
        assert_eq!(d.lifetime, HALF);
        assert_eq!(d.notify, None);

        let d = check(ProposalCheck::Claim, HALF, HALF).unwrap();
        assert_eq!(d.notify, None);
    }

    #[test]
    fn claim_works_unit_by_unit() {
        // Proposed: 1 h, no byte limit; configured: 2 h and 1000 kB → 1 h and 1000 kB, notify.
        let d = check(ProposalCheck::Claim, HOUR, both(7200, 1000)).unwrap();
        assert_eq!(d.lifetime, both(3600, 1000));
        assert_eq!(d.notify, Some(both(3600, 1000)));
    }

    #[test]
    fn strict_rejects_longer_accepts_shorter_as_proposed() {
        assert_eq!(
            check(ProposalCheck::Strict, HOUR, HALF),
            Err(ProposalError::Lifetime(ProposalCheck::Strict))
        );
        let d = check(ProposalCheck::Strict, HALF, HOUR).unwrap();
        assert_eq!(d.lifetime, HALF);
        assert_eq!(d.notify, None);
        let d = check(ProposalCheck::Strict, HALF, HALF).unwrap();
        assert_eq!(d.lifetime, HALF);
    }

    #[test]
    fn strict_counts_no_byte_limit_as_longer() {
        assert!(check(ProposalCheck::Strict, HALF, both(1800, 500)).is_err());
        // A byte limit where we have none is shorter: accepted.
        let d = check(ProposalCheck::Strict, both(1800, 500), HALF).unwrap();
        assert_eq!(d.lifetime, both(1800, 500));
    }

    #[test]
    fn exact_requires_equality() {
        assert!(check(ProposalCheck::Exact, HOUR, HALF).is_err());
        assert!(check(ProposalCheck::Exact, HALF, HOUR).is_err());
        assert!(check(ProposalCheck::Exact, both(1800, 5), HALF).is_err());
        let d = check(ProposalCheck::Exact, HALF, HALF).unwrap();
        assert_eq!(d.lifetime, HALF);
        assert_eq!(d.notify, None);
    }

    #[test]
    fn phase2_default_is_8_hours() {
        assert_eq!(
            Lifetime::default().with_phase2_default(),
            Lifetime::seconds(28_800)
        );
        assert_eq!(HALF.with_phase2_default(), HALF);
    }

    #[test]
    fn responder_lifetime_only_shortens() {
        assert_eq!(apply_responder_lifetime(HOUR, HALF), HALF);
        assert_eq!(apply_responder_lifetime(HALF, HOUR), HALF);
        assert_eq!(
            apply_responder_lifetime(HALF, both(7200, 10)),
            both(1800, 10)
        );
    }

    #[test]
    fn attributes_round_trip() {
        for l in [HOUR, both(100_000, 70_000), Lifetime::default()] {
            let attrs = l.phase2_attributes();
            assert_eq!(
                Lifetime::from_attributes(&attrs, LifeAttributeTypes::PHASE2).unwrap(),
                l
            );
        }
    }

    #[test]
    fn malformed_pairs_are_refused() {
        let t = LifeAttributeTypes::PHASE2;
        let dur = Phase2Attribute::SaLifeDuration(5).to_raw();
        let ty = Phase2Attribute::SaLifeType(LifeType::Seconds).to_raw();
        assert!(Lifetime::from_attributes(std::slice::from_ref(&dur), t).is_err());
        assert!(Lifetime::from_attributes(std::slice::from_ref(&ty), t).is_err());
        let zero = Phase2Attribute::SaLifeDuration(0).to_raw();
        assert!(Lifetime::from_attributes(&[ty.clone(), zero], t).is_err());
        let odd = Phase2Attribute::SaLifeType(LifeType::Unknown(9)).to_raw();
        assert!(Lifetime::from_attributes(&[odd, dur], t).is_err());
    }
}
