//! Data attributes (RFC 2408 §3.3) and their typed meanings in transforms: the phase-1
//! (ISAKMP SA) attributes of RFC 2409 Appendix A and the phase-2 (IPsec SA) attributes of
//! RFC 2407 §4.5.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! !A!       Attribute Type        !    AF=0  Attribute Length     !
//! !F!                             !    AF=1  Attribute Value      !
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! .                   AF=0  Attribute Value                       .
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The raw layer ([`DataAttribute`]) keeps the form as received (TV = [`AttributeValue::Basic`],
//! TLV = [`AttributeValue::Variable`]) so that re-emission is byte-exact. The typed layers
//! ([`Phase1Attribute`], [`Phase2Attribute`]) are views decoded on demand, because the meaning
//! of an attribute type depends on the protocol of the enclosing proposal.

use std::borrow::Cow;

use super::MAX_ATTRIBUTES;
use super::codec::{Reader, Writer, len_u16, wire_enum};
use super::error::{EmitError, WireError};

/// The Attribute Format bit: set for TV (basic), clear for TLV (variable).
pub const ATTRIBUTE_FORMAT_TV: u16 = 0x8000;

/// A data attribute value in the form it was (or will be) sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttributeValue<'a> {
    /// AF=1: a 16-bit value in the Type/Value form.
    Basic(u16),
    /// AF=0: a value of 0..=65535 bytes in the Type/Length/Value form. Owned only when a
    /// typed value was converted for emission.
    Variable(Cow<'a, [u8]>),
}

/// One data attribute (RFC 2408 §3.3). `ty` is the 15-bit Attribute Type without the AF bit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataAttribute<'a> {
    /// Attribute Type, 0..=0x7fff.
    pub ty: u16,
    /// The value and its format.
    pub value: AttributeValue<'a>,
}

impl<'a> DataAttribute<'a> {
    /// A TV (basic) attribute.
    pub fn basic(ty: u16, value: u16) -> Self {
        DataAttribute {
            ty,
            value: AttributeValue::Basic(value),
        }
    }

    /// A TLV (variable) attribute borrowing its value.
    pub fn variable(ty: u16, value: &'a [u8]) -> Self {
        DataAttribute {
            ty,
            value: AttributeValue::Variable(Cow::Borrowed(value)),
        }
    }

    /// A TLV (variable) attribute from a borrowed or owned value.
    pub fn from_cow(ty: u16, value: Cow<'a, [u8]>) -> Self {
        DataAttribute {
            ty,
            value: AttributeValue::Variable(value),
        }
    }

    /// The TLV value (borrowed or owned as it is); a TV is [`WireError::AttributeFormat`].
    pub fn variable_value(&self) -> Result<Cow<'a, [u8]>, WireError> {
        match &self.value {
            AttributeValue::Variable(v) => Ok(v.clone()),
            AttributeValue::Basic(_) => Err(WireError::AttributeFormat { ty: self.ty }),
        }
    }

    /// A TLV (variable) attribute owning its value.
    pub fn variable_owned(ty: u16, value: Vec<u8>) -> Self {
        DataAttribute {
            ty,
            value: AttributeValue::Variable(Cow::Owned(value)),
        }
    }

    /// The basic value, if this is a TV attribute.
    pub fn as_basic(&self) -> Option<u16> {
        match self.value {
            AttributeValue::Basic(v) => Some(v),
            AttributeValue::Variable(_) => None,
        }
    }

    /// The variable value, if this is a TLV attribute.
    pub fn as_variable(&self) -> Option<&[u8]> {
        match &self.value {
            AttributeValue::Basic(_) => None,
            AttributeValue::Variable(v) => Some(v),
        }
    }

    /// The value as an unsigned integer of up to 64 bits, accepting both forms: RFC 2409
    /// Appendix A, "Variable length attributes MAY be encoded as basic attributes if their
    /// value can fit into two octets". A TLV of 1..=8 bytes is read big-endian; an empty or
    /// longer one is [`WireError::AttributeLength`].
    pub fn as_u64(&self) -> Result<u64, WireError> {
        match &self.value {
            AttributeValue::Basic(v) => Ok(u64::from(*v)),
            AttributeValue::Variable(bytes) => {
                if bytes.is_empty() || bytes.len() > 8 {
                    return Err(WireError::AttributeLength {
                        ty: self.ty,
                        length: bytes.len(),
                    });
                }
                Ok(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
            }
        }
    }

    /// The value of an attribute that RFC 2409/2407 define as Basic; a TLV is
    /// [`WireError::AttributeFormat`] ("Attributes described as basic MUST NOT be encoded as
    /// variable", RFC 2409 Appendix A).
    pub fn require_basic(&self) -> Result<u16, WireError> {
        self.as_basic()
            .ok_or(WireError::AttributeFormat { ty: self.ty })
    }

    /// The bytes of an attribute that must be Variable (a group prime, a private algorithm);
    /// a TV is [`WireError::AttributeFormat`].
    pub fn require_variable(&self) -> Result<&[u8], WireError> {
        self.as_variable()
            .ok_or(WireError::AttributeFormat { ty: self.ty })
    }

    /// An attribute carrying `value` in the shortest form: TV if it fits in 16 bits, else a
    /// TLV of the minimal number of bytes (RFC 2409 Appendix A allows both for variable
    /// attributes such as Life Duration).
    pub fn integer(ty: u16, value: u64) -> DataAttribute<'static> {
        match u16::try_from(value) {
            Ok(v) => DataAttribute::basic(ty, v),
            Err(_) => {
                let bytes = value.to_be_bytes();
                let skip = (value.leading_zeros() / 8) as usize;
                let minimal = bytes.get(skip..).unwrap_or(&bytes).to_vec();
                DataAttribute::variable_owned(ty, minimal)
            }
        }
    }

    /// Make the value owned, detaching the attribute from the input buffer.
    pub fn into_owned(self) -> DataAttribute<'static> {
        DataAttribute {
            ty: self.ty,
            value: match self.value {
                AttributeValue::Basic(v) => AttributeValue::Basic(v),
                AttributeValue::Variable(v) => AttributeValue::Variable(Cow::Owned(v.into_owned())),
            },
        }
    }

    /// Encoded size in bytes.
    pub fn wire_len(&self) -> usize {
        match &self.value {
            AttributeValue::Basic(_) => 4,
            AttributeValue::Variable(v) => 4usize.saturating_add(v.len()),
        }
    }

    /// Read one attribute from `r`.
    pub(crate) fn read(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let raw_type = r.u16()?;
        let ty = raw_type & !ATTRIBUTE_FORMAT_TV;
        if raw_type & ATTRIBUTE_FORMAT_TV != 0 {
            let value = r.u16()?;
            Ok(DataAttribute::basic(ty, value))
        } else {
            let length = r.u16()?;
            let available = r.remaining();
            let value = r
                .take(usize::from(length))
                .map_err(|_| WireError::AttributeOverrun {
                    ty,
                    length,
                    available,
                })?;
            Ok(DataAttribute::variable(ty, value))
        }
    }

    /// Write this attribute.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        if self.ty & ATTRIBUTE_FORMAT_TV != 0 {
            return Err(EmitError::Invalid {
                what: "attribute type above 0x7fff",
            });
        }
        match &self.value {
            AttributeValue::Basic(v) => {
                out.put_u16(self.ty | ATTRIBUTE_FORMAT_TV);
                out.put_u16(*v);
            }
            AttributeValue::Variable(v) => {
                out.put_u16(self.ty);
                out.put_u16(len_u16("attribute value", v.len())?);
                out.put_slice(v);
            }
        }
        Ok(())
    }
}

/// Parse a sequence of data attributes filling `buf` exactly, at most [`MAX_ATTRIBUTES`].
pub fn parse_attributes(buf: &[u8]) -> Result<Vec<DataAttribute<'_>>, WireError> {
    let mut r = Reader::new(buf, "data attribute");
    // Each attribute takes at least 4 bytes, so this never over-reserves.
    let mut out = Vec::with_capacity((buf.len() / 4).min(MAX_ATTRIBUTES));
    while !r.is_empty() {
        if out.len() >= MAX_ATTRIBUTES {
            return Err(WireError::TooManyAttributes {
                limit: MAX_ATTRIBUTES,
            });
        }
        out.push(DataAttribute::read(&mut r)?);
    }
    Ok(out)
}

/// Emit a sequence of data attributes (at most [`MAX_ATTRIBUTES`], so that what is emitted
/// parses).
pub fn emit_attributes(
    attributes: &[DataAttribute<'_>],
    out: &mut Vec<u8>,
) -> Result<(), EmitError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(EmitError::TooLong {
            what: "data attributes",
            length: attributes.len(),
            max: MAX_ATTRIBUTES,
        });
    }
    attributes.iter().try_for_each(|a| a.emit(out))
}

wire_enum! {
    /// Phase-1 Encryption Algorithm values (RFC 2409 Appendix A, IANA "IPSEC Registry",
    /// RFC 3602 for AES-CBC, RFC 4312 for Camellia).
    pub enum EncryptionAlgorithm: u16 {
        /// DES-CBC.
        DesCbc = 1,
        /// IDEA-CBC.
        IdeaCbc = 2,
        /// Blowfish-CBC.
        BlowfishCbc = 3,
        /// RC5-R16-B64-CBC.
        Rc5R16B64Cbc = 4,
        /// 3DES-CBC.
        TripleDesCbc = 5,
        /// CAST-CBC.
        CastCbc = 6,
        /// AES-CBC (RFC 3602), with a Key Length attribute.
        AesCbc = 7,
        /// Camellia-CBC (RFC 4312).
        CamelliaCbc = 8,
    }
}

wire_enum! {
    /// Phase-1 Hash Algorithm values (RFC 2409 Appendix A; SHA-2 from RFC 4868/IANA).
    pub enum HashAlgorithm: u16 {
        /// MD5.
        Md5 = 1,
        /// SHA-1.
        Sha1 = 2,
        /// Tiger.
        Tiger = 3,
        /// SHA2-256.
        Sha2_256 = 4,
        /// SHA2-384.
        Sha2_384 = 5,
        /// SHA2-512.
        Sha2_512 = 6,
    }
}

wire_enum! {
    /// Phase-1 Authentication Method values (RFC 2409 Appendix A; ECDSA from RFC 4754; the
    /// hybrid and XAuth values from draft-ietf-ipsec-isakmp-hybrid-auth-05 and
    /// draft-beaulieu-ike-xauth-02 §7.2, in the private-use range).
    pub enum AuthMethod: u16 {
        /// Pre-shared key.
        PreSharedKey = 1,
        /// DSS signatures.
        DssSignatures = 2,
        /// RSA signatures.
        RsaSignatures = 3,
        /// Encryption with RSA.
        RsaEncryption = 4,
        /// Revised encryption with RSA.
        RevisedRsaEncryption = 5,
        /// ECDSA with SHA-256 on the P-256 curve (RFC 4754).
        EcdsaP256 = 9,
        /// ECDSA with SHA-384 on the P-384 curve (RFC 4754).
        EcdsaP384 = 10,
        /// ECDSA with SHA-512 on the P-521 curve (RFC 4754).
        EcdsaP521 = 11,
        /// Hybrid: initiator authenticated by XAuth, responder by RSA signature.
        HybridInitRsa = 64221,
        /// Hybrid, responder side.
        HybridRespRsa = 64222,
        /// Hybrid with DSS, initiator.
        HybridInitDss = 64223,
        /// Hybrid with DSS, responder.
        HybridRespDss = 64224,
        /// XAuth with pre-shared key, initiator.
        XauthInitPreShared = 65001,
        /// XAuth with pre-shared key, responder.
        XauthRespPreShared = 65002,
        /// XAuth with DSS, initiator.
        XauthInitDss = 65003,
        /// XAuth with DSS, responder.
        XauthRespDss = 65004,
        /// XAuth with RSA signatures, initiator.
        XauthInitRsa = 65005,
        /// XAuth with RSA signatures, responder.
        XauthRespRsa = 65006,
        /// XAuth with RSA encryption, initiator.
        XauthInitRsaEncryption = 65007,
        /// XAuth with RSA encryption, responder.
        XauthRespRsaEncryption = 65008,
        /// XAuth with revised RSA encryption, initiator.
        XauthInitRsaRevisedEncryption = 65009,
        /// XAuth with revised RSA encryption, responder.
        XauthRespRsaRevisedEncryption = 65010,
    }
}

impl AuthMethod {
    /// Whether the method includes XAuth (the hybrid and XAuth values of
    /// draft-beaulieu-ike-xauth-02 §7.2).
    pub fn is_xauth(self) -> bool {
        matches!(self.value(), 64221..=64224 | 65001..=65010)
    }
}

wire_enum! {
    /// Group Description values (RFC 2409 §6, RFC 3526, RFC 5903, RFC 5114; the same numbers
    /// in phase 2 for PFS, RFC 2407 §4.5).
    pub enum GroupDescription: u16 {
        /// 768-bit MODP group (RFC 2409 §6.1).
        Modp768 = 1,
        /// 1024-bit MODP group (RFC 2409 §6.2).
        Modp1024 = 2,
        /// EC2N group on GP[2^155] (RFC 2409 §6.3).
        Ec2n155 = 3,
        /// EC2N group on GP[2^185] (RFC 2409 §6.4).
        Ec2n185 = 4,
        /// 1536-bit MODP group (RFC 3526 §2).
        Modp1536 = 5,
        /// 2048-bit MODP group (RFC 3526 §3).
        Modp2048 = 14,
        /// 3072-bit MODP group (RFC 3526 §4).
        Modp3072 = 15,
        /// 4096-bit MODP group (RFC 3526 §5).
        Modp4096 = 16,
        /// 6144-bit MODP group (RFC 3526 §6).
        Modp6144 = 17,
        /// 8192-bit MODP group (RFC 3526 §7).
        Modp8192 = 18,
        /// 256-bit random ECP group (RFC 5903).
        Ecp256 = 19,
        /// 384-bit random ECP group (RFC 5903).
        Ecp384 = 20,
        /// 521-bit random ECP group (RFC 5903).
        Ecp521 = 21,
        /// 1024-bit MODP group with 160-bit prime order subgroup (RFC 5114).
        Modp1024S160 = 22,
        /// 2048-bit MODP group with 224-bit prime order subgroup (RFC 5114).
        Modp2048S224 = 23,
        /// 2048-bit MODP group with 256-bit prime order subgroup (RFC 5114).
        Modp2048S256 = 24,
        /// 192-bit random ECP group (RFC 5114).
        Ecp192 = 25,
        /// 224-bit random ECP group (RFC 5114).
        Ecp224 = 26,
        /// Curve25519 (RFC 8031, IKEv2 registry; some IKEv1 stacks use it too).
        Curve25519 = 31,
        /// Curve448 (RFC 8031).
        Curve448 = 32,
    }
}

wire_enum! {
    /// Group Type (RFC 2409 Appendix A), for New Group Mode and private groups.
    pub enum GroupType: u16 {
        /// MODP.
        Modp = 1,
        /// ECP.
        Ecp = 2,
        /// EC2N.
        Ec2n = 3,
    }
}

wire_enum! {
    /// Life Type (RFC 2409 Appendix A, RFC 2407 §4.5).
    pub enum LifeType: u16 {
        /// The following Life Duration counts seconds.
        Seconds = 1,
        /// The following Life Duration counts kilobytes.
        Kilobytes = 2,
    }
}

/// Phase-1 attribute type numbers (RFC 2409 Appendix A). "B" attributes are basic, "V"
/// variable.
pub mod phase1_type {
    /// Encryption Algorithm (B).
    pub const ENCRYPTION_ALGORITHM: u16 = 1;
    /// Hash Algorithm (B).
    pub const HASH_ALGORITHM: u16 = 2;
    /// Authentication Method (B).
    pub const AUTHENTICATION_METHOD: u16 = 3;
    /// Group Description (B).
    pub const GROUP_DESCRIPTION: u16 = 4;
    /// Group Type (B).
    pub const GROUP_TYPE: u16 = 5;
    /// Group Prime/Irreducible Polynomial (V).
    pub const GROUP_PRIME: u16 = 6;
    /// Group Generator One (V).
    pub const GROUP_GENERATOR_ONE: u16 = 7;
    /// Group Generator Two (V).
    pub const GROUP_GENERATOR_TWO: u16 = 8;
    /// Group Curve A (V).
    pub const GROUP_CURVE_A: u16 = 9;
    /// Group Curve B (V).
    pub const GROUP_CURVE_B: u16 = 10;
    /// Life Type (B).
    pub const LIFE_TYPE: u16 = 11;
    /// Life Duration (V).
    pub const LIFE_DURATION: u16 = 12;
    /// PRF (B).
    pub const PRF: u16 = 13;
    /// Key Length (B).
    pub const KEY_LENGTH: u16 = 14;
    /// Field Size (B).
    pub const FIELD_SIZE: u16 = 15;
    /// Group Order (V).
    pub const GROUP_ORDER: u16 = 16;
}

/// A typed phase-1 transform attribute (RFC 2409 Appendix A).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Phase1Attribute<'a> {
    /// Encryption Algorithm.
    EncryptionAlgorithm(EncryptionAlgorithm),
    /// Hash Algorithm.
    HashAlgorithm(HashAlgorithm),
    /// Authentication Method.
    AuthenticationMethod(AuthMethod),
    /// Group Description.
    GroupDescription(GroupDescription),
    /// Group Type.
    GroupType(GroupType),
    /// Group Prime/Irreducible Polynomial.
    GroupPrime(Cow<'a, [u8]>),
    /// Group Generator One.
    GroupGeneratorOne(Cow<'a, [u8]>),
    /// Group Generator Two.
    GroupGeneratorTwo(Cow<'a, [u8]>),
    /// Group Curve A.
    GroupCurveA(Cow<'a, [u8]>),
    /// Group Curve B.
    GroupCurveB(Cow<'a, [u8]>),
    /// Life Type.
    LifeType(LifeType),
    /// Life Duration, in the unit of the preceding Life Type (TV, or TLV of 1..=8 bytes).
    LifeDuration(u64),
    /// PRF (no PRFs were ever assigned for IKEv1; kept raw).
    Prf(u16),
    /// Key Length in bits, for variable-key-length ciphers.
    KeyLength(u16),
    /// Field Size in bits.
    FieldSize(u16),
    /// Group Order.
    GroupOrder(Cow<'a, [u8]>),
    /// Any other attribute type, kept raw.
    Other(DataAttribute<'a>),
}

impl<'a> Phase1Attribute<'a> {
    /// Interpret a raw attribute of a phase-1 (KEY_IKE) transform. Basic attributes in TLV
    /// form and variable ones in TV form (except Life Duration) are
    /// [`WireError::AttributeFormat`].
    pub fn decode(attr: &DataAttribute<'a>) -> Result<Self, WireError> {
        use phase1_type::*;
        let borrowed = |a: &DataAttribute<'a>| a.variable_value();
        Ok(match attr.ty {
            ENCRYPTION_ALGORITHM => {
                Phase1Attribute::EncryptionAlgorithm(attr.require_basic()?.into())
            }
            HASH_ALGORITHM => Phase1Attribute::HashAlgorithm(attr.require_basic()?.into()),
            AUTHENTICATION_METHOD => {
                Phase1Attribute::AuthenticationMethod(attr.require_basic()?.into())
            }
            GROUP_DESCRIPTION => Phase1Attribute::GroupDescription(attr.require_basic()?.into()),
            GROUP_TYPE => Phase1Attribute::GroupType(attr.require_basic()?.into()),
            GROUP_PRIME => Phase1Attribute::GroupPrime(borrowed(attr)?),
            GROUP_GENERATOR_ONE => Phase1Attribute::GroupGeneratorOne(borrowed(attr)?),
            GROUP_GENERATOR_TWO => Phase1Attribute::GroupGeneratorTwo(borrowed(attr)?),
            GROUP_CURVE_A => Phase1Attribute::GroupCurveA(borrowed(attr)?),
            GROUP_CURVE_B => Phase1Attribute::GroupCurveB(borrowed(attr)?),
            LIFE_TYPE => Phase1Attribute::LifeType(attr.require_basic()?.into()),
            LIFE_DURATION => Phase1Attribute::LifeDuration(attr.as_u64()?),
            PRF => Phase1Attribute::Prf(attr.require_basic()?),
            KEY_LENGTH => Phase1Attribute::KeyLength(attr.require_basic()?),
            FIELD_SIZE => Phase1Attribute::FieldSize(attr.require_basic()?),
            GROUP_ORDER => Phase1Attribute::GroupOrder(borrowed(attr)?),
            _ => Phase1Attribute::Other(attr.clone()),
        })
    }

    /// The raw attribute to emit. Life Duration takes the shortest form
    /// ([`DataAttribute::integer`]).
    pub fn to_raw(&self) -> DataAttribute<'a> {
        use phase1_type::*;
        match self {
            Phase1Attribute::EncryptionAlgorithm(v) => {
                DataAttribute::basic(ENCRYPTION_ALGORITHM, v.value())
            }
            Phase1Attribute::HashAlgorithm(v) => DataAttribute::basic(HASH_ALGORITHM, v.value()),
            Phase1Attribute::AuthenticationMethod(v) => {
                DataAttribute::basic(AUTHENTICATION_METHOD, v.value())
            }
            Phase1Attribute::GroupDescription(v) => {
                DataAttribute::basic(GROUP_DESCRIPTION, v.value())
            }
            Phase1Attribute::GroupType(v) => DataAttribute::basic(GROUP_TYPE, v.value()),
            Phase1Attribute::GroupPrime(b) => DataAttribute::from_cow(GROUP_PRIME, b.clone()),
            Phase1Attribute::GroupGeneratorOne(b) => {
                DataAttribute::from_cow(GROUP_GENERATOR_ONE, b.clone())
            }
            Phase1Attribute::GroupGeneratorTwo(b) => {
                DataAttribute::from_cow(GROUP_GENERATOR_TWO, b.clone())
            }
            Phase1Attribute::GroupCurveA(b) => DataAttribute::from_cow(GROUP_CURVE_A, b.clone()),
            Phase1Attribute::GroupCurveB(b) => DataAttribute::from_cow(GROUP_CURVE_B, b.clone()),
            Phase1Attribute::LifeType(v) => DataAttribute::basic(LIFE_TYPE, v.value()),
            Phase1Attribute::LifeDuration(v) => DataAttribute::integer(LIFE_DURATION, *v),
            Phase1Attribute::Prf(v) => DataAttribute::basic(PRF, *v),
            Phase1Attribute::KeyLength(v) => DataAttribute::basic(KEY_LENGTH, *v),
            Phase1Attribute::FieldSize(v) => DataAttribute::basic(FIELD_SIZE, *v),
            Phase1Attribute::GroupOrder(b) => DataAttribute::from_cow(GROUP_ORDER, b.clone()),
            Phase1Attribute::Other(a) => a.clone(),
        }
    }
}

wire_enum! {
    /// Encapsulation Mode (RFC 2407 §4.5; UDP modes from RFC 3947 §5.2 and, as 61443/61444,
    /// from draft-ietf-ipsec-nat-t-ike-02/03, still sent by older clients).
    pub enum EncapsulationMode: u16 {
        /// Tunnel.
        Tunnel = 1,
        /// Transport.
        Transport = 2,
        /// UDP-Encapsulated-Tunnel (RFC 3947).
        UdpTunnel = 3,
        /// UDP-Encapsulated-Transport (RFC 3947).
        UdpTransport = 4,
        /// UDP-Encapsulated-Tunnel, draft numbering.
        UdpTunnelDraft = 61443,
        /// UDP-Encapsulated-Transport, draft numbering.
        UdpTransportDraft = 61444,
    }
}

wire_enum! {
    /// Phase-2 Authentication Algorithm (RFC 2407 §4.5; SHA-2 from RFC 4868, AES-XCBC from
    /// RFC 3566, GMAC from RFC 4543).
    pub enum AuthAlgorithm: u16 {
        /// HMAC-MD5 (RFC 2403).
        HmacMd5 = 1,
        /// HMAC-SHA-1 (RFC 2404).
        HmacSha1 = 2,
        /// DES-MAC.
        DesMac = 3,
        /// KPDK.
        Kpdk = 4,
        /// HMAC-SHA2-256 (RFC 4868).
        HmacSha2_256 = 5,
        /// HMAC-SHA2-384 (RFC 4868).
        HmacSha2_384 = 6,
        /// HMAC-SHA2-512 (RFC 4868).
        HmacSha2_512 = 7,
        /// HMAC-RIPEMD-160 (RFC 2857).
        HmacRipemd = 8,
        /// AES-XCBC-MAC (RFC 3566).
        AesXcbcMac = 9,
        /// SIG-RSA (RFC 4359).
        SigRsa = 10,
        /// AES-128-GMAC (RFC 4543).
        Aes128Gmac = 11,
        /// AES-192-GMAC (RFC 4543).
        Aes192Gmac = 12,
        /// AES-256-GMAC (RFC 4543).
        Aes256Gmac = 13,
    }
}

wire_enum! {
    /// ECN Tunnel (RFC 3168 §9.2.1.1).
    pub enum EcnTunnel: u16 {
        /// ECN allowed at the tunnel ingress ("full functionality").
        Allowed = 1,
        /// ECN forbidden ("limited functionality").
        Forbidden = 2,
    }
}

/// Phase-2 attribute type numbers (RFC 2407 §4.5, RFC 3168 §9.2.1.1, RFC 4304 §2).
pub mod phase2_type {
    /// SA Life Type (B).
    pub const SA_LIFE_TYPE: u16 = 1;
    /// SA Life Duration (V).
    pub const SA_LIFE_DURATION: u16 = 2;
    /// Group Description (B).
    pub const GROUP_DESCRIPTION: u16 = 3;
    /// Encapsulation Mode (B).
    pub const ENCAPSULATION_MODE: u16 = 4;
    /// Authentication Algorithm (B).
    pub const AUTHENTICATION_ALGORITHM: u16 = 5;
    /// Key Length (B).
    pub const KEY_LENGTH: u16 = 6;
    /// Key Rounds (B).
    pub const KEY_ROUNDS: u16 = 7;
    /// Compress Dictionary Size (B).
    pub const COMPRESS_DICTIONARY_SIZE: u16 = 8;
    /// Compress Private Algorithm (V).
    pub const COMPRESS_PRIVATE_ALGORITHM: u16 = 9;
    /// ECN Tunnel (B), RFC 3168.
    pub const ECN_TUNNEL: u16 = 10;
    /// Extended (64-bit) Sequence Number (B), RFC 4304.
    pub const EXTENDED_SEQUENCE_NUMBER: u16 = 11;
}

/// A typed phase-2 (IPsec DOI) transform attribute (RFC 2407 §4.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Phase2Attribute<'a> {
    /// SA Life Type.
    SaLifeType(LifeType),
    /// SA Life Duration (TV, or TLV of 1..=8 bytes).
    SaLifeDuration(u64),
    /// Group Description (PFS group).
    GroupDescription(GroupDescription),
    /// Encapsulation Mode.
    EncapsulationMode(EncapsulationMode),
    /// Authentication Algorithm.
    AuthenticationAlgorithm(AuthAlgorithm),
    /// Key Length in bits.
    KeyLength(u16),
    /// Key Rounds.
    KeyRounds(u16),
    /// Compress Dictionary Size.
    CompressDictionarySize(u16),
    /// Compress Private Algorithm.
    CompressPrivateAlgorithm(Cow<'a, [u8]>),
    /// ECN Tunnel.
    EcnTunnel(EcnTunnel),
    /// Extended Sequence Number (RFC 4304: 1 = 64-bit sequence numbers).
    ExtendedSequenceNumber(u16),
    /// Any other attribute type, kept raw.
    Other(DataAttribute<'a>),
}

impl<'a> Phase2Attribute<'a> {
    /// Interpret a raw attribute of an AH/ESP/IPCOMP transform.
    pub fn decode(attr: &DataAttribute<'a>) -> Result<Self, WireError> {
        use phase2_type::*;
        Ok(match attr.ty {
            SA_LIFE_TYPE => Phase2Attribute::SaLifeType(attr.require_basic()?.into()),
            SA_LIFE_DURATION => Phase2Attribute::SaLifeDuration(attr.as_u64()?),
            GROUP_DESCRIPTION => Phase2Attribute::GroupDescription(attr.require_basic()?.into()),
            ENCAPSULATION_MODE => Phase2Attribute::EncapsulationMode(attr.require_basic()?.into()),
            AUTHENTICATION_ALGORITHM => {
                Phase2Attribute::AuthenticationAlgorithm(attr.require_basic()?.into())
            }
            KEY_LENGTH => Phase2Attribute::KeyLength(attr.require_basic()?),
            KEY_ROUNDS => Phase2Attribute::KeyRounds(attr.require_basic()?),
            COMPRESS_DICTIONARY_SIZE => {
                Phase2Attribute::CompressDictionarySize(attr.require_basic()?)
            }
            COMPRESS_PRIVATE_ALGORITHM => {
                Phase2Attribute::CompressPrivateAlgorithm(attr.variable_value()?)
            }
            ECN_TUNNEL => Phase2Attribute::EcnTunnel(attr.require_basic()?.into()),
            EXTENDED_SEQUENCE_NUMBER => {
                Phase2Attribute::ExtendedSequenceNumber(attr.require_basic()?)
            }
            _ => Phase2Attribute::Other(attr.clone()),
        })
    }

    /// The raw attribute to emit.
    pub fn to_raw(&self) -> DataAttribute<'a> {
        use phase2_type::*;
        match self {
            Phase2Attribute::SaLifeType(v) => DataAttribute::basic(SA_LIFE_TYPE, v.value()),
            Phase2Attribute::SaLifeDuration(v) => DataAttribute::integer(SA_LIFE_DURATION, *v),
            Phase2Attribute::GroupDescription(v) => {
                DataAttribute::basic(GROUP_DESCRIPTION, v.value())
            }
            Phase2Attribute::EncapsulationMode(v) => {
                DataAttribute::basic(ENCAPSULATION_MODE, v.value())
            }
            Phase2Attribute::AuthenticationAlgorithm(v) => {
                DataAttribute::basic(AUTHENTICATION_ALGORITHM, v.value())
            }
            Phase2Attribute::KeyLength(v) => DataAttribute::basic(KEY_LENGTH, *v),
            Phase2Attribute::KeyRounds(v) => DataAttribute::basic(KEY_ROUNDS, *v),
            Phase2Attribute::CompressDictionarySize(v) => {
                DataAttribute::basic(COMPRESS_DICTIONARY_SIZE, *v)
            }
            Phase2Attribute::CompressPrivateAlgorithm(b) => {
                DataAttribute::from_cow(COMPRESS_PRIVATE_ALGORITHM, b.clone())
            }
            Phase2Attribute::EcnTunnel(v) => DataAttribute::basic(ECN_TUNNEL, v.value()),
            Phase2Attribute::ExtendedSequenceNumber(v) => {
                DataAttribute::basic(EXTENDED_SEQUENCE_NUMBER, *v)
            }
            Phase2Attribute::Other(a) => a.clone(),
        }
    }
}
