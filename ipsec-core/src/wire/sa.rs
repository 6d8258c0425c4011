//! The Security Association payload (RFC 2408 §3.4, IPsec DOI RFC 2407 §4.6.1) with its
//! Proposal (RFC 2408 §3.5) and Transform (RFC 2408 §3.6) substructures.
//!
//! ```text
//! SA body:        DOI (4) | Situation (4, + labeled-domain data if SIT_SECRECY/INTEGRITY)
//!                 | Proposal payloads ...
//! Proposal:       generic header (next 2 or 0) | Proposal # | Protocol-Id | SPI Size
//!                 | # of Transforms | SPI | Transform payloads ...
//! Transform:      generic header (next 3 or 0) | Transform # | Transform-Id | RESERVED2 (2)
//!                 | SA Attributes ...
//! ```
//!
//! The payload is decoded completely: every proposal, transform and (raw) attribute, with all
//! length fields, counts and RESERVED fields checked. Attributes stay raw
//! ([`DataAttribute`]) because their meaning depends on the proposal's protocol:
//! [`Transform::phase1_attributes`] and [`Transform::phase2_attributes`] give the typed views.

use super::attributes::{
    DataAttribute, Phase1Attribute, Phase2Attribute, emit_attributes, parse_attributes,
};
use super::codec::{Reader, Writer, len_u8, len_u16, wire_enum, with_generic_header};
use super::error::{EmitError, WireError};
use super::payload::{GENERIC_HEADER_LEN, PayloadType};
use super::{MAX_PROPOSALS, MAX_TRANSFORMS};

/// The IPsec DOI (RFC 2407 §4.2), the only one IKEv1 uses.
pub const DOI_IPSEC: u32 = 1;
/// The generic ISAKMP DOI (RFC 2408 §3.4); appears in Delete/Notification payloads about the
/// ISAKMP SA from some implementations.
pub const DOI_ISAKMP: u32 = 0;

/// Situation bits of the IPsec DOI (RFC 2407 §4.2).
pub mod situation {
    /// SIT_IDENTITY_ONLY: the SA is identified by the identities in the ID payloads.
    pub const IDENTITY_ONLY: u32 = 0x01;
    /// SIT_SECRECY: labeled secrecy; labeled-domain data follows.
    pub const SECRECY: u32 = 0x02;
    /// SIT_INTEGRITY: labeled integrity; labeled-domain data follows.
    pub const INTEGRITY: u32 = 0x04;
    /// Every bit RFC 2407 defines.
    pub const DEFINED: u32 = IDENTITY_ONLY | SECRECY | INTEGRITY;
}

wire_enum! {
    /// Protocol-Id of a proposal, notification or delete (RFC 2407 §4.4.1).
    pub enum ProtocolId: u8 {
        /// PROTO_ISAKMP.
        Isakmp = 1,
        /// PROTO_IPSEC_AH.
        Ah = 2,
        /// PROTO_IPSEC_ESP.
        Esp = 3,
        /// PROTO_IPCOMP.
        IpComp = 4,
    }
}

wire_enum! {
    /// ISAKMP transform identifiers (RFC 2407 §4.4.2).
    pub enum IsakmpTransformId: u8 {
        /// KEY_IKE.
        KeyIke = 1,
    }
}

wire_enum! {
    /// AH transform identifiers (RFC 2407 §4.4.3, IANA; SHA-2 RFC 4868, XCBC RFC 3566,
    /// GMAC RFC 4543).
    pub enum AhTransformId: u8 {
        /// AH_MD5.
        Md5 = 2,
        /// AH_SHA.
        Sha = 3,
        /// AH_DES.
        Des = 4,
        /// AH_SHA2-256.
        Sha2_256 = 5,
        /// AH_SHA2-384.
        Sha2_384 = 6,
        /// AH_SHA2-512.
        Sha2_512 = 7,
        /// AH_RIPEMD.
        Ripemd = 8,
        /// AH_AES-XCBC-MAC.
        AesXcbcMac = 9,
        /// AH_RSA.
        Rsa = 10,
        /// AH_AES-128-GMAC.
        Aes128Gmac = 11,
        /// AH_AES-192-GMAC.
        Aes192Gmac = 12,
        /// AH_AES-256-GMAC.
        Aes256Gmac = 13,
    }
}

wire_enum! {
    /// ESP transform identifiers (RFC 2407 §4.4.4, IANA; AES-CBC RFC 3602, AES-CTR RFC 3686,
    /// CCM RFC 4309, GCM RFC 4106, GMAC RFC 4543, Camellia RFC 4312).
    pub enum EspTransformId: u8 {
        /// ESP_DES_IV64.
        DesIv64 = 1,
        /// ESP_DES.
        Des = 2,
        /// ESP_3DES.
        TripleDes = 3,
        /// ESP_RC5.
        Rc5 = 4,
        /// ESP_IDEA.
        Idea = 5,
        /// ESP_CAST.
        Cast = 6,
        /// ESP_BLOWFISH.
        Blowfish = 7,
        /// ESP_3IDEA.
        TripleIdea = 8,
        /// ESP_DES_IV32.
        DesIv32 = 9,
        /// ESP_RC4.
        Rc4 = 10,
        /// ESP_NULL.
        Null = 11,
        /// ESP_AES (CBC, RFC 3602).
        AesCbc = 12,
        /// ESP_AES-CTR (RFC 3686).
        AesCtr = 13,
        /// ESP_AES-CCM with an 8-byte ICV.
        AesCcm8 = 14,
        /// ESP_AES-CCM with a 12-byte ICV.
        AesCcm12 = 15,
        /// ESP_AES-CCM with a 16-byte ICV.
        AesCcm16 = 16,
        /// ESP_AES-GCM with an 8-byte ICV.
        AesGcm8 = 18,
        /// ESP_AES-GCM with a 12-byte ICV.
        AesGcm12 = 19,
        /// ESP_AES-GCM with a 16-byte ICV.
        AesGcm16 = 20,
        /// ESP_SEED_CBC (RFC 4196).
        SeedCbc = 21,
        /// ESP_CAMELLIA (RFC 4312).
        Camellia = 22,
        /// ESP_NULL_AUTH_AES-GMAC (RFC 4543).
        NullAuthAesGmac = 23,
    }
}

wire_enum! {
    /// IPCOMP transform identifiers (RFC 2407 §4.4.5).
    pub enum IpcompTransformId: u8 {
        /// IPCOMP_OUI.
        Oui = 1,
        /// IPCOMP_DEFLATE.
        Deflate = 2,
        /// IPCOMP_LZS.
        Lzs = 3,
        /// IPCOMP_LZJH.
        Lzjh = 4,
    }
}

/// A Transform-Id interpreted in the namespace of its proposal's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransformId {
    /// In an ISAKMP proposal.
    Isakmp(IsakmpTransformId),
    /// In an AH proposal.
    Ah(AhTransformId),
    /// In an ESP proposal.
    Esp(EspTransformId),
    /// In an IPCOMP proposal.
    IpComp(IpcompTransformId),
    /// In a proposal of an unknown protocol.
    Other(u8),
}

impl TransformId {
    /// Interpret `id` for `protocol`.
    pub fn new(protocol: ProtocolId, id: u8) -> Self {
        match protocol {
            ProtocolId::Isakmp => TransformId::Isakmp(id.into()),
            ProtocolId::Ah => TransformId::Ah(id.into()),
            ProtocolId::Esp => TransformId::Esp(id.into()),
            ProtocolId::IpComp => TransformId::IpComp(id.into()),
            ProtocolId::Unknown(_) => TransformId::Other(id),
        }
    }
}

/// Labeled-domain data that follows the Situation bitmap when SIT_SECRECY or SIT_INTEGRITY is
/// set (RFC 2407 §4.6.1). Levels and bitmaps are kept as sent, without their zero padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LabeledDomain<'a> {
    /// Labeled Domain Identifier (RFC 2407 §4.6.1.1).
    pub domain: u32,
    /// Secrecy Level (Secrecy Length octets).
    pub secrecy_level: &'a [u8],
    /// Secrecy Category Length in bits.
    pub secrecy_category_bits: u16,
    /// Secrecy Category Bitmap, `ceil(bits / 8)` bytes.
    pub secrecy_categories: &'a [u8],
    /// Integrity Level.
    pub integrity_level: &'a [u8],
    /// Integrity Category Length in bits.
    pub integrity_category_bits: u16,
    /// Integrity Category Bitmap, `ceil(bits / 8)` bytes.
    pub integrity_categories: &'a [u8],
}

/// Read `len` bytes then the zero padding to the next 32-bit boundary (RFC 2407 §4.6.1: "MUST
/// be padded with zero (0) to align on the next 32-bit boundary").
fn read_padded<'a>(r: &mut Reader<'a>, len: usize) -> Result<&'a [u8], WireError> {
    let value = r.take(len)?;
    r.reserved((4 - len % 4) % 4, "situation padding")?;
    Ok(value)
}

fn write_padded(out: &mut Vec<u8>, value: &[u8]) {
    out.put_slice(value);
    out.extend(std::iter::repeat_n(0u8, (4 - value.len() % 4) % 4));
}

impl<'a> LabeledDomain<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let domain = r.u32()?;
        let secrecy_len = r.u16()?;
        r.reserved(2, "situation")?;
        let secrecy_level = read_padded(r, usize::from(secrecy_len))?;
        let secrecy_category_bits = r.u16()?;
        r.reserved(2, "situation")?;
        let secrecy_categories = read_padded(r, usize::from(secrecy_category_bits).div_ceil(8))?;
        let integrity_len = r.u16()?;
        r.reserved(2, "situation")?;
        let integrity_level = read_padded(r, usize::from(integrity_len))?;
        let integrity_category_bits = r.u16()?;
        r.reserved(2, "situation")?;
        let integrity_categories =
            read_padded(r, usize::from(integrity_category_bits).div_ceil(8))?;
        Ok(LabeledDomain {
            domain,
            secrecy_level,
            secrecy_category_bits,
            secrecy_categories,
            integrity_level,
            integrity_category_bits,
            integrity_categories,
        })
    }

    fn emit(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        let bitmap_ok = |bits: u16, map: &[u8]| usize::from(bits).div_ceil(8) == map.len();
        if !bitmap_ok(self.secrecy_category_bits, self.secrecy_categories)
            || !bitmap_ok(self.integrity_category_bits, self.integrity_categories)
        {
            return Err(EmitError::Invalid {
                what: "situation category bitmap length",
            });
        }
        out.put_u32(self.domain);
        out.put_u16(len_u16("secrecy level", self.secrecy_level.len())?);
        out.put_u16(0);
        write_padded(out, self.secrecy_level);
        out.put_u16(self.secrecy_category_bits);
        out.put_u16(0);
        write_padded(out, self.secrecy_categories);
        out.put_u16(len_u16("integrity level", self.integrity_level.len())?);
        out.put_u16(0);
        write_padded(out, self.integrity_level);
        out.put_u16(self.integrity_category_bits);
        out.put_u16(0);
        write_padded(out, self.integrity_categories);
        Ok(())
    }
}

/// The IPsec DOI Situation (RFC 2407 §4.2, §4.6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Situation<'a> {
    /// The bitmap: [`situation::IDENTITY_ONLY`] and friends.
    pub bits: u32,
    /// Present exactly when SIT_SECRECY or SIT_INTEGRITY is set.
    pub labeled: Option<LabeledDomain<'a>>,
}

impl Situation<'static> {
    /// SIT_IDENTITY_ONLY, what every IKEv1 implementation sends.
    pub const IDENTITY_ONLY: Situation<'static> = Situation {
        bits: situation::IDENTITY_ONLY,
        labeled: None,
    };
}

/// A transform (RFC 2408 §3.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform<'a> {
    /// Transform #.
    pub number: u8,
    /// Transform-Id, in the namespace of the proposal's protocol ([`TransformId::new`]).
    pub transform_id: u8,
    /// SA attributes, raw and in order.
    pub attributes: Vec<DataAttribute<'a>>,
}

impl<'a> Transform<'a> {
    /// The Transform-Id in the namespace of `protocol`.
    pub fn id(&self, protocol: ProtocolId) -> TransformId {
        TransformId::new(protocol, self.transform_id)
    }

    /// The attributes as phase-1 (ISAKMP SA) attributes, RFC 2409 Appendix A.
    pub fn phase1_attributes(
        &self,
    ) -> impl Iterator<Item = Result<Phase1Attribute<'a>, WireError>> + '_ {
        self.attributes.iter().map(Phase1Attribute::decode)
    }

    /// The attributes as phase-2 (IPsec SA) attributes, RFC 2407 §4.5.
    pub fn phase2_attributes(
        &self,
    ) -> impl Iterator<Item = Result<Phase2Attribute<'a>, WireError>> + '_ {
        self.attributes.iter().map(Phase2Attribute::decode)
    }
}

/// A proposal (RFC 2408 §3.5). Proposals sharing a number form one AND-ed offer (e.g. AH and
/// ESP together, RFC 2408 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal<'a> {
    /// Proposal #.
    pub number: u8,
    /// Protocol-Id.
    pub protocol: ProtocolId,
    /// The sender's SPI (empty for ISAKMP in phase 1; 4 bytes for AH/ESP; 2 or 4 for IPCOMP).
    pub spi: &'a [u8],
    /// The transforms, at least one.
    pub transforms: Vec<Transform<'a>>,
}

/// The Security Association payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityAssociation<'a> {
    /// Domain of Interpretation; always [`DOI_IPSEC`] once parsed.
    pub doi: u32,
    /// The Situation.
    pub situation: Situation<'a>,
    /// The proposals, at least one.
    pub proposals: Vec<Proposal<'a>>,
}

/// Split a proposal or transform off the front of `r`: check its generic header (Next Payload
/// must be `expected` or 0, RESERVED zero, length within `r`), return (next, body).
fn read_substructure<'a>(
    r: &mut Reader<'a>,
    what: &'static str,
    expected: PayloadType,
) -> Result<(u8, &'a [u8]), WireError> {
    let available = r.remaining();
    let mut h = *r;
    let next = h.u8()?;
    if next != 0 && next != expected.value() {
        return Err(if expected == PayloadType::Proposal {
            WireError::ProposalNextPayload(next)
        } else {
            WireError::TransformNextPayload(next)
        });
    }
    h.reserved(1, what)?;
    let length = h.u16()?;
    if usize::from(length) < GENERIC_HEADER_LEN || usize::from(length) > available {
        return Err(WireError::SubstructureLength {
            what,
            length,
            available,
        });
    }
    let raw = r.take(usize::from(length))?;
    Ok((next, raw.get(GENERIC_HEADER_LEN..).unwrap_or_default()))
}

impl<'a> SecurityAssociation<'a> {
    /// Parse an SA payload body.
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "SA payload");
        let doi = r.u32()?;
        if doi != DOI_IPSEC {
            return Err(WireError::UnsupportedDoi(doi));
        }
        let bits = r.u32()?;
        if bits & !situation::DEFINED != 0 {
            return Err(WireError::UnsupportedSituation(bits));
        }
        let labeled = if bits & (situation::SECRECY | situation::INTEGRITY) != 0 {
            Some(LabeledDomain::read(&mut r)?)
        } else {
            None
        };

        if r.is_empty() {
            return Err(WireError::NoProposals);
        }
        let mut proposals = Vec::new();
        let mut transforms_seen = 0usize;
        loop {
            // A proposal announcing a successor that is not there fails in
            // read_substructure with Truncated.
            if proposals.len() >= MAX_PROPOSALS {
                return Err(WireError::TooManyProposals {
                    limit: MAX_PROPOSALS,
                });
            }
            let (next, pbody) = read_substructure(&mut r, "proposal", PayloadType::Proposal)?;
            let proposal = Self::parse_proposal(pbody, &mut transforms_seen)?;
            proposals.push(proposal);
            if next == 0 {
                break;
            }
        }
        // A last proposal (Next Payload 0) must end the SA payload, and a proposal announcing
        // another one must be followed by it: otherwise the lengths disagree.
        if !r.is_empty() {
            return Err(WireError::TrailingData {
                what: "SA payload",
                count: r.remaining(),
            });
        }
        Ok(SecurityAssociation {
            doi,
            situation: Situation { bits, labeled },
            proposals,
        })
    }

    fn parse_proposal(
        body: &'a [u8],
        transforms_seen: &mut usize,
    ) -> Result<Proposal<'a>, WireError> {
        let mut r = Reader::new(body, "proposal");
        let number = r.u8()?;
        let protocol = ProtocolId::from(r.u8()?);
        let spi_size = r.u8()?;
        let declared = r.u8()?;
        let spi = r.take(usize::from(spi_size))?;
        if declared == 0 {
            return Err(WireError::NoTransforms);
        }
        let mut transforms = Vec::with_capacity(usize::from(declared).min(r.remaining() / 8));
        let mut announced_more = true;
        while announced_more {
            if transforms.len() >= usize::from(declared) {
                return Err(WireError::TransformCountMismatch {
                    declared,
                    found: transforms.len().saturating_add(1),
                });
            }
            if r.is_empty() {
                return Err(WireError::TransformCountMismatch {
                    declared,
                    found: transforms.len(),
                });
            }
            if *transforms_seen >= MAX_TRANSFORMS {
                return Err(WireError::TooManyTransforms {
                    limit: MAX_TRANSFORMS,
                });
            }
            let (next, tbody) = read_substructure(&mut r, "transform", PayloadType::Transform)?;
            let mut t = Reader::new(tbody, "transform");
            let tnumber = t.u8()?;
            let transform_id = t.u8()?;
            t.reserved(2, "transform RESERVED2")?;
            let attributes = parse_attributes(t.rest())?;
            transforms.push(Transform {
                number: tnumber,
                transform_id,
                attributes,
            });
            *transforms_seen = transforms_seen.saturating_add(1);
            announced_more = next != 0;
        }
        if transforms.len() != usize::from(declared) {
            return Err(WireError::TransformCountMismatch {
                declared,
                found: transforms.len(),
            });
        }
        if !r.is_empty() {
            return Err(WireError::TrailingData {
                what: "proposal",
                count: r.remaining(),
            });
        }
        Ok(Proposal {
            number,
            protocol,
            spi,
            transforms,
        })
    }

    /// Write the SA payload body.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        if self.doi != DOI_IPSEC {
            return Err(EmitError::Invalid { what: "SA DOI" });
        }
        if self.situation.bits & !situation::DEFINED != 0
            || self.situation.labeled.is_some()
                != (self.situation.bits & (situation::SECRECY | situation::INTEGRITY) != 0)
        {
            return Err(EmitError::Invalid { what: "situation" });
        }
        if self.proposals.is_empty() {
            return Err(EmitError::Invalid {
                what: "SA without proposals",
            });
        }
        if self.proposals.len() > MAX_PROPOSALS {
            return Err(EmitError::TooLong {
                what: "proposals",
                length: self.proposals.len(),
                max: MAX_PROPOSALS,
            });
        }
        let total: usize = self.proposals.iter().map(|p| p.transforms.len()).sum();
        if total > MAX_TRANSFORMS {
            return Err(EmitError::TooLong {
                what: "transforms",
                length: total,
                max: MAX_TRANSFORMS,
            });
        }
        out.put_u32(self.doi);
        out.put_u32(self.situation.bits);
        if let Some(l) = &self.situation.labeled {
            l.emit(out)?;
        }
        let count = self.proposals.len();
        for (i, p) in self.proposals.iter().enumerate() {
            let next = if i + 1 < count {
                PayloadType::Proposal.value()
            } else {
                0
            };
            with_generic_header(out, next, "proposal length", |out| p.emit(out))?;
        }
        Ok(())
    }
}

impl Proposal<'_> {
    fn emit(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        if self.transforms.is_empty() {
            return Err(EmitError::Invalid {
                what: "proposal without transforms",
            });
        }
        out.put_u8(self.number);
        out.put_u8(self.protocol.value());
        out.put_u8(len_u8("SPI size", self.spi.len())?);
        out.put_u8(len_u8("transform count", self.transforms.len())?);
        out.put_slice(self.spi);
        let count = self.transforms.len();
        for (i, t) in self.transforms.iter().enumerate() {
            let next = if i + 1 < count {
                PayloadType::Transform.value()
            } else {
                0
            };
            with_generic_header(out, next, "transform length", |out| {
                out.put_u8(t.number);
                out.put_u8(t.transform_id);
                out.put_u16(0);
                emit_attributes(&t.attributes, out)
            })?;
        }
        Ok(())
    }
}
