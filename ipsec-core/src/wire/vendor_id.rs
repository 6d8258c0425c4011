//! The Vendor ID payload (RFC 2408 §3.16) and recognition of the Vendor IDs that announce
//! IKEv1 extensions.
//!
//! The byte values below are facts taken from strongSwan's
//! `src/libcharon/sa/ikev1/tasks/isakmp_vendor.c` (its `vendor_ids[]` and `vendor_natt_ids[]`
//! tables; most are MD5 hashes of a name) and, for draft-ietf-ipsec-nat-t-ike-01, from the
//! Vendor ID lists of ike-scan-style scanners; all of them agree with Wireshark's ISAKMP
//! dissector on the strongSwan capture in `vectors/`.

use super::codec::Writer;
use super::error::WireError;

/// XAuth, MD5("draft-ietf-ipsra-isakmp-xauth-06.txt") truncated to 8 bytes.
pub const VID_XAUTH: [u8; 8] = [0x09, 0x00, 0x26, 0x89, 0xdf, 0xd6, 0xb7, 0x12];
/// Dead Peer Detection, RFC 3706 §5.1 (last two bytes: version 1.0).
pub const VID_DPD: [u8; 16] = [
    0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00,
];
/// CISCO-UNITY; the last two bytes are the version (major, minor), 1.0 here.
pub const VID_CISCO_UNITY: [u8; 16] = [
    0x12, 0xf5, 0xf2, 0x8c, 0x45, 0x71, 0x68, 0xa9, 0x70, 0x2d, 0x9f, 0xe2, 0x74, 0xcc, 0x01, 0x00,
];
/// "FRAGMENTATION" (MD5), the Cisco/Microsoft IKE fragmentation extension, without the
/// 4-byte capability word that usually follows.
pub const VID_FRAGMENTATION: [u8; 16] = [
    0x40, 0x48, 0xb7, 0xd5, 0x6e, 0xbc, 0xe8, 0x85, 0x25, 0xe7, 0xde, 0x7f, 0x00, 0xd6, 0xc2, 0xd3,
];
/// Capability bit of [`VID_FRAGMENTATION`]: fragmentation of Main and Aggressive Mode
/// messages (0x40000000 would be base-mode fragmentation; Cisco sends 0xc0000000).
pub const FRAGMENTATION_CAPABILITY_IKE: u32 = 0x8000_0000;
/// "MS NT5 ISAKMPOAKLEY", followed by a 4-byte Windows version.
pub const VID_MS_NT5_ISAKMPOAKLEY: [u8; 16] = [
    0x1e, 0x2b, 0x51, 0x69, 0x05, 0x99, 0x1c, 0x7d, 0x7c, 0x96, 0xfc, 0xbf, 0xb5, 0x87, 0xe4, 0x61,
];
/// NAT-T, MD5("RFC 3947").
pub const VID_NATT_RFC3947: [u8; 16] = [
    0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45, 0x2f,
];
/// MD5("draft-ietf-ipsec-nat-t-ike-03").
pub const VID_NATT_DRAFT_03: [u8; 16] = [
    0x7d, 0x94, 0x19, 0xa6, 0x53, 0x10, 0xca, 0x6f, 0x2c, 0x17, 0x9d, 0x92, 0x15, 0x52, 0x9d, 0x56,
];
/// MD5("draft-ietf-ipsec-nat-t-ike-02").
pub const VID_NATT_DRAFT_02: [u8; 16] = [
    0xcd, 0x60, 0x46, 0x43, 0x35, 0xdf, 0x21, 0xf8, 0x7c, 0xfd, 0xb2, 0xfc, 0x68, 0xb6, 0xa4, 0x48,
];
/// MD5("draft-ietf-ipsec-nat-t-ike-02\n"), the variant with a newline that many clients send.
pub const VID_NATT_DRAFT_02_N: [u8; 16] = [
    0x90, 0xcb, 0x80, 0x91, 0x3e, 0xbb, 0x69, 0x6e, 0x08, 0x63, 0x81, 0xb5, 0xec, 0x42, 0x7b, 0x1f,
];
/// MD5("draft-ietf-ipsec-nat-t-ike-01").
pub const VID_NATT_DRAFT_01: [u8; 16] = [
    0x16, 0xf6, 0xca, 0x16, 0xe4, 0xa4, 0x06, 0x6d, 0x83, 0x82, 0x1a, 0x0f, 0x0a, 0xea, 0xa8, 0x62,
];
/// MD5("draft-ietf-ipsec-nat-t-ike-00").
pub const VID_NATT_DRAFT_00: [u8; 16] = [
    0x44, 0x85, 0x15, 0x2d, 0x18, 0xb6, 0xbb, 0xcd, 0x0b, 0xe8, 0xa8, 0x46, 0x95, 0x79, 0xdd, 0xcc,
];
/// strongSwan, MD5("strongSwan").
pub const VID_STRONGSWAN: [u8; 16] = [
    0x88, 0x2f, 0xe5, 0x6d, 0x6f, 0xd2, 0x0d, 0xbc, 0x22, 0x51, 0x61, 0x3b, 0x2e, 0xbe, 0x5b, 0xeb,
];

/// The NAT-Traversal variants a Vendor ID can announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NatTVersion {
    /// draft-ietf-ipsec-nat-t-ike-00 (no longer negotiated by current peers).
    Draft00,
    /// draft-ietf-ipsec-nat-t-ike-01.
    Draft01,
    /// draft-ietf-ipsec-nat-t-ike-02.
    Draft02,
    /// draft-ietf-ipsec-nat-t-ike-02 with the trailing newline.
    Draft02N,
    /// draft-ietf-ipsec-nat-t-ike-03.
    Draft03,
    /// RFC 3947.
    Rfc3947,
}

impl NatTVersion {
    /// Whether this version uses the draft payload numbers (130/131) and encapsulation modes
    /// (61443/61444), as the 02/03 drafts do; RFC 3947 uses 20/21 and 3/4.
    pub fn uses_draft_numbers(self) -> bool {
        !matches!(self, NatTVersion::Rfc3947)
    }

    /// The Vendor ID bytes announcing this version.
    pub fn vendor_id(self) -> &'static [u8; 16] {
        match self {
            NatTVersion::Draft00 => &VID_NATT_DRAFT_00,
            NatTVersion::Draft01 => &VID_NATT_DRAFT_01,
            NatTVersion::Draft02 => &VID_NATT_DRAFT_02,
            NatTVersion::Draft02N => &VID_NATT_DRAFT_02_N,
            NatTVersion::Draft03 => &VID_NATT_DRAFT_03,
            NatTVersion::Rfc3947 => &VID_NATT_RFC3947,
        }
    }
}

/// A recognised Vendor ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KnownVendor {
    /// XAuth (draft-beaulieu-ike-xauth-02).
    Xauth,
    /// Dead Peer Detection (RFC 3706).
    Dpd,
    /// Cisco Unity client extensions, with the version in the last two bytes.
    CiscoUnity {
        /// Major version.
        major: u8,
        /// Minor version.
        minor: u8,
    },
    /// IKE fragmentation, with the capability word if one was sent (Windows sends none).
    CiscoFragmentation {
        /// The 4 bytes after the hash, big-endian.
        capabilities: Option<u32>,
    },
    /// Microsoft Windows, "MS NT5 ISAKMPOAKLEY" with the version word that follows.
    MsNt5Isakmpoakley {
        /// Windows IKE version (e.g. 2 for Windows 2000, 5 for Vista/2008 and later).
        version: u32,
    },
    /// NAT-Traversal.
    NatT(NatTVersion),
    /// strongSwan.
    StrongSwan,
}

impl KnownVendor {
    /// Recognise `vid`.
    pub fn recognise(vid: &[u8]) -> Option<KnownVendor> {
        if vid == VID_XAUTH {
            return Some(KnownVendor::Xauth);
        }
        if vid == VID_DPD {
            return Some(KnownVendor::Dpd);
        }
        if vid == VID_STRONGSWAN {
            return Some(KnownVendor::StrongSwan);
        }
        for v in [
            NatTVersion::Rfc3947,
            NatTVersion::Draft03,
            NatTVersion::Draft02N,
            NatTVersion::Draft02,
            NatTVersion::Draft01,
            NatTVersion::Draft00,
        ] {
            if vid == v.vendor_id() {
                return Some(KnownVendor::NatT(v));
            }
        }
        if let Some((prefix, version)) = vid.split_at_checked(14)
            && prefix == VID_CISCO_UNITY.get(..14).unwrap_or_default()
            && let [major, minor] = *version
        {
            return Some(KnownVendor::CiscoUnity { major, minor });
        }
        if let Some((prefix, rest)) = vid.split_at_checked(16) {
            if prefix == VID_FRAGMENTATION {
                match <[u8; 4]>::try_from(rest) {
                    Ok(caps) => {
                        return Some(KnownVendor::CiscoFragmentation {
                            capabilities: Some(u32::from_be_bytes(caps)),
                        });
                    }
                    Err(_) if rest.is_empty() => {
                        return Some(KnownVendor::CiscoFragmentation { capabilities: None });
                    }
                    Err(_) => return None,
                }
            }
            if prefix == VID_MS_NT5_ISAKMPOAKLEY
                && let Ok(version) = <[u8; 4]>::try_from(rest)
            {
                return Some(KnownVendor::MsNt5Isakmpoakley {
                    version: u32::from_be_bytes(version),
                });
            }
        }
        None
    }

    /// The Vendor ID bytes announcing this extension (what [`KnownVendor::recognise`] maps
    /// back to `self`).
    pub fn to_bytes(&self) -> Vec<u8> {
        match *self {
            KnownVendor::Xauth => VID_XAUTH.to_vec(),
            KnownVendor::Dpd => VID_DPD.to_vec(),
            KnownVendor::StrongSwan => VID_STRONGSWAN.to_vec(),
            KnownVendor::NatT(v) => v.vendor_id().to_vec(),
            KnownVendor::CiscoUnity { major, minor } => {
                let mut v = VID_CISCO_UNITY.to_vec();
                v.truncate(14);
                v.extend_from_slice(&[major, minor]);
                v
            }
            KnownVendor::CiscoFragmentation { capabilities } => {
                let mut v = VID_FRAGMENTATION.to_vec();
                if let Some(c) = capabilities {
                    v.extend_from_slice(&c.to_be_bytes());
                }
                v
            }
            KnownVendor::MsNt5Isakmpoakley { version } => {
                let mut v = VID_MS_NT5_ISAKMPOAKLEY.to_vec();
                v.extend_from_slice(&version.to_be_bytes());
                v
            }
        }
    }
}

/// The Vendor ID payload body: opaque bytes (may be empty; RFC 2408 §3.16 bounds it by the
/// payload length only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VendorId<'a> {
    /// The Vendor ID.
    pub data: &'a [u8],
}

impl<'a> VendorId<'a> {
    /// Parse a Vendor ID body. Never fails; the `Result` keeps the decoder signatures uniform.
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        Ok(VendorId { data: body })
    }

    /// The extension this Vendor ID announces, if known.
    pub fn known(&self) -> Option<KnownVendor> {
        KnownVendor::recognise(self.data)
    }

    /// Write the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_slice(self.data);
    }
}
