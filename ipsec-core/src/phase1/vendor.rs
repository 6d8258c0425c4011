//! The Vendor IDs we send and what the peer's announce (RFC 2408 §3.16): NAT traversal
//! (RFC 3947 and the drafts, RFC 3947 §3.1), Dead Peer Detection (RFC 3706 §5.1), IKE
//! fragmentation (Cisco/Microsoft), and with XAuth the XAuth and Cisco Unity Vendor IDs that
//! Cisco-style clients (iOS, macOS) look for.

use crate::wire::vendor_id::{VID_CISCO_UNITY, VID_DPD, VID_FRAGMENTATION, VID_XAUTH};
use crate::wire::{KnownVendor, NatTVersion, Payload, PayloadChain, PayloadType, VendorId};

/// The NAT-T versions we speak, preferred first. Drafts 00 and 01 differ in their hashing
/// and are not negotiated by current peers.
pub(crate) const NAT_T_VERSIONS: [NatTVersion; 4] = [
    NatTVersion::Rfc3947,
    NatTVersion::Draft03,
    NatTVersion::Draft02N,
    NatTVersion::Draft02,
];

/// "FRAGMENTATION" with the capability word for main and aggressive mode (0x80000000).
const VID_FRAGMENTATION_IKE: [u8; 20] = {
    let mut v = [0u8; 20];
    let mut i = 0;
    while i < 16 {
        v[i] = VID_FRAGMENTATION[i];
        i += 1;
    }
    v[16] = 0x80;
    v
};

/// The Vendor IDs both sides send: DPD, fragmentation, and with XAuth, XAuth and Unity.
fn common_vids(xauth: bool) -> Vec<Payload<'static>> {
    let mut out = vec![
        Payload::VendorId(VendorId { data: &VID_DPD }),
        Payload::VendorId(VendorId {
            data: &VID_FRAGMENTATION_IKE,
        }),
    ];
    if xauth {
        out.push(Payload::VendorId(VendorId { data: &VID_XAUTH }));
        out.push(Payload::VendorId(VendorId {
            data: &VID_CISCO_UNITY,
        }));
    }
    out
}

/// The initiator's Vendor IDs: [`common_vids`], and every NAT-T version when NAT traversal
/// is enabled.
pub(crate) fn initiator_vids(nat_traversal: bool, xauth: bool) -> Vec<Payload<'static>> {
    let mut out = common_vids(xauth);
    if nat_traversal {
        out.extend(NAT_T_VERSIONS.iter().map(|v| {
            Payload::VendorId(VendorId {
                data: v.vendor_id().as_slice(),
            })
        }));
    }
    out
}

/// The responder's Vendor IDs: [`common_vids`], and the one NAT-T version it chose.
pub(crate) fn responder_vids(nat_t: Option<NatTVersion>, xauth: bool) -> Vec<Payload<'static>> {
    let mut out = common_vids(xauth);
    if let Some(v) = nat_t {
        out.push(Payload::VendorId(VendorId {
            data: v.vendor_id().as_slice(),
        }));
    }
    out
}

/// What the peer's Vendor IDs announce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PeerVendors {
    /// The best NAT-T version both of us speak.
    pub nat_t: Option<NatTVersion>,
    /// Dead Peer Detection.
    pub dpd: bool,
}

/// Reads the Vendor ID payloads of `chain`.
pub(crate) fn scan(chain: &PayloadChain<'_>) -> PeerVendors {
    let mut found = PeerVendors::default();
    let mut versions = Vec::new();
    for p in chain.filter(PayloadType::VendorId) {
        match KnownVendor::recognise(p.body()) {
            Some(KnownVendor::Dpd) => found.dpd = true,
            Some(KnownVendor::NatT(v)) => versions.push(v),
            _ => {}
        }
    }
    found.nat_t = NAT_T_VERSIONS
        .iter()
        .copied()
        .find(|v| versions.contains(v));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{PayloadChain, TrailingBytes, emit_chain};

    fn chain_of(vids: &[&'static [u8]]) -> Vec<u8> {
        let payloads: Vec<Payload<'_>> = vids
            .iter()
            .map(|v| Payload::VendorId(VendorId { data: v }))
            .collect();
        let mut out = Vec::new();
        emit_chain(&payloads, &mut out).unwrap();
        out
    }

    #[test]
    fn best_common_nat_t_version_and_dpd() {
        let bytes = chain_of(&[
            NatTVersion::Draft02.vendor_id(),
            &VID_DPD,
            NatTVersion::Draft03.vendor_id(),
        ]);
        let chain =
            PayloadChain::parse(PayloadType::VendorId, &bytes, TrailingBytes::Forbidden).unwrap();
        let v = scan(&chain);
        assert_eq!(v.nat_t, Some(NatTVersion::Draft03));
        assert!(v.dpd);
        // Drafts 00/01 are not negotiated.
        let bytes = chain_of(&[NatTVersion::Draft01.vendor_id()]);
        let chain =
            PayloadChain::parse(PayloadType::VendorId, &bytes, TrailingBytes::Forbidden).unwrap();
        assert_eq!(scan(&chain), PeerVendors::default());
        // A draft version means draft payload numbers and encapsulation modes.
        let state = super::super::nat::NatState {
            version: NatTVersion::Draft02N,
            local_behind: false,
            remote_behind: true,
        };
        assert_eq!(
            state.udp(),
            crate::proposal::phase2::UdpEncapsulation::Draft
        );
        assert_eq!(
            super::super::nat::numbering(state.version),
            crate::wire::NatNumbering::Draft
        );
    }
}
