//! What belongs to the daemon: how the SAs, policies, routes and addresses it installs are
//! tagged, so that a flush removes only those and a restart finds what a crashed run left.
//!
//! The kernel keeps no "owner" for XFRM objects, so the tag is carried in fields the daemon
//! chooses and that do not change how traffic is matched:
//! - **SAs**: the `reqid` lies in [`Owner::reqid_min`]`..=`[`Owner::reqid_max`]. Every SA the
//!   daemon installs (and every larval SA from SPI allocation or an ACQUIRE of one of our
//!   policies, since the kernel copies the template's reqid) carries such a reqid.
//! - **Policies**: the policy `index`, which the kernel lets user space choose (it only demands
//!   `index & 7 == direction`, and keeps its own counter for the others, which starts at 8 and
//!   grows by 8). Ours have [`Owner::policy_index_prefix`] in their top 12 bits:
//!   `index = prefix << 20 | slot << 3 | direction`. Policies without templates (block, clear
//!   bypass) have no reqid, which is why the reqid alone cannot tag policies.
//! - **Routes and addresses** (virtual IPs): the rtnetlink protocol field ([`Owner::rt_protocol`],
//!   `RTPROT_*` for routes, `IFA_PROTO` for addresses).
//!
//! The client also keeps a registry of what this run installed, so a flush still finds an object
//! whose tag the kernel could not honour (an index already taken by a foreign policy).

use crate::types::Direction;

/// The daemon's tag on kernel objects. Two daemons in one network namespace need disjoint tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// Lowest reqid of ours.
    pub reqid_min: u32,
    /// Highest reqid of ours.
    pub reqid_max: u32,
    /// Top 12 bits of the index of our policies (0x001..=0xfff).
    pub policy_index_prefix: u16,
    /// rtnetlink protocol number of our routes and addresses.
    pub rt_protocol: u8,
}

impl Default for Owner {
    /// reqids 0x6b69_0000..=0x6b69_ffff, policy indexes 0x6b7x_xxxx, routes with protocol 158.
    fn default() -> Self {
        Owner {
            reqid_min: 0x6b69_0000,
            reqid_max: 0x6b69_ffff,
            policy_index_prefix: 0x6b7,
            rt_protocol: 158,
        }
    }
}

/// Number of policy index slots under one prefix (17 bits: `slot << 3` below bit 20).
pub(crate) const POLICY_SLOTS: u32 = 1 << 17;

impl Owner {
    /// True if `reqid` is one of ours.
    pub fn owns_reqid(&self, reqid: u32) -> bool {
        (self.reqid_min..=self.reqid_max).contains(&reqid)
    }

    /// True if a policy with this index is one of ours.
    pub fn owns_policy_index(&self, index: u32) -> bool {
        index >> 20 == u32::from(self.policy_index_prefix & 0xfff)
    }

    /// The tagged policy index for a slot and direction.
    pub fn policy_index(&self, slot: u32, dir: Direction) -> u32 {
        (u32::from(self.policy_index_prefix & 0xfff) << 20)
            | ((slot % POLICY_SLOTS) << 3)
            | u32::from(dir.to_nl())
    }

    /// The `n`-th reqid of our range (wrapping), for callers that number their tunnels.
    pub fn reqid(&self, n: u32) -> u32 {
        let span = self
            .reqid_max
            .saturating_sub(self.reqid_min)
            .saturating_add(1);
        if span == 0 {
            // The range covers every u32.
            return n;
        }
        self.reqid_min + n % span
    }

    pub(crate) fn check(&self) -> crate::Result<()> {
        if self.reqid_min == 0 || self.reqid_min > self.reqid_max {
            return Err(crate::Error::Invalid(format!(
                "owner reqid range {:#x}..={:#x} is empty or includes 0",
                self.reqid_min, self.reqid_max
            )));
        }
        if self.policy_index_prefix == 0 || self.policy_index_prefix > 0xfff {
            return Err(crate::Error::Invalid(format!(
                "owner policy index prefix {:#x} must be 0x001..=0xfff",
                self.policy_index_prefix
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_index_encodes_direction_and_prefix() {
        let o = Owner::default();
        for (slot, dir) in [
            (0, Direction::In),
            (5, Direction::Out),
            (POLICY_SLOTS + 3, Direction::Fwd),
        ] {
            let idx = o.policy_index(slot, dir);
            assert_eq!(idx & 7, u32::from(dir.to_nl()));
            assert!(o.owns_policy_index(idx));
        }
        // The kernel's own indexes (8, 16, ... | dir) are not ours.
        assert!(!o.owns_policy_index(8 | 1));
        assert!(!o.owns_policy_index(0x0010_0001));
    }

    #[test]
    fn reqid_range() {
        let o = Owner::default();
        assert!(o.owns_reqid(o.reqid(0)));
        assert!(o.owns_reqid(o.reqid(0x1_0000 + 7)));
        assert!(!o.owns_reqid(1));
        assert!(o.check().is_ok());
        let bad = Owner { reqid_min: 0, ..o };
        assert!(bad.check().is_err());
    }
}
