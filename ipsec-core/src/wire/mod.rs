//! The ISAKMP (RFC 2408) / IKEv1 (RFC 2409, IPsec DOI RFC 2407) wire codec.
//!
//! In the style of smoltcp's `wire`: received bytes are parsed into typed values that borrow
//! from them, and typed values are emitted back into bytes. Parsing never panics, never
//! allocates without a bound (see the `MAX_*` constants), and refuses bad input with a typed
//! [`WireError`] that names the RFC 2408 notification to answer with.
//!
//! # Layers
//! - [`framing`]: what a UDP datagram on port 500 or 4500 carries (RFC 3948): keepalive, IKE
//!   behind the Non-ESP Marker, or ESP.
//! - [`Message::parse`]: the [`Header`] (RFC 2408 §3.1) and either a plaintext
//!   [`PayloadChain`] or the ciphertext of an encrypted message.
//! - [`PayloadChain::parse`]: generic payload headers (RFC 2408 §3.2) walked and checked; each
//!   payload is a [`RawPayload`] exposing its type, bytes with header ([`RawPayload::raw`]) and
//!   body ([`RawPayload::body`], e.g. `SAi_b`, `IDii_b`), and [`PayloadChain::bytes_from`]
//!   gives "every payload after HASH" for quick-mode HASH(1). After decryption, parse the
//!   plaintext with [`TrailingBytes::Allowed`] to set the cipher padding aside.
//! - [`RawPayload::decode`] / [`Payload`]: typed payloads, one module each: [`sa`]
//!   (SA/proposal/transform), [`attributes`] (data attributes, phase-1 and phase-2 typed
//!   views), [`id`], [`cert`], [`notify`], [`delete`], [`vendor_id`], [`attribute_payload`]
//!   (mode-config/XAuth/Unity), [`nat`] (NAT-D/NAT-OA), [`fragment`] (IKE fragments).
//! - Emission: [`emit_message`] (plaintext message, header fixed up), [`emit_chain`] (the
//!   plaintext of an encrypted message, to be padded and encrypted by the caller), and
//!   [`emit_encrypted_message`] (header with the E flag plus ciphertext).
//!
//! # Strictness
//! Everything this parser accepts re-emits to the same bytes (less the at most 3 zero bytes of
//! alignment padding libreswan puts after a plaintext message's last payload, which
//! [`PayloadChain::trailing`] sets aside): RESERVED fields must be zero
//! (RFC 2408 §2.5.2, §5.3), the header Length must equal the datagram (§5.1), undefined flag
//! bits are refused (§3.1), and nested lengths and counts must agree exactly. Values the
//! codec has no name for (exchange types, payload types, attribute types, notify types, ID
//! types, ...) are kept as `Unknown(n)` for the engine to judge.

pub mod attribute_payload;
pub mod attributes;
pub mod cert;
mod codec;
pub mod delete;
mod error;
pub mod fragment;
pub mod framing;
pub mod header;
pub mod id;
mod message;
pub mod nat;
pub mod notify;
pub mod payload;
pub mod sa;
pub mod vendor_id;

pub use attribute_payload::{
    AttributePayload, CfgType, ConfigAttribute, ConfigAttributeType, ConfigValue, UnitySplitNetwork,
};
pub use attributes::{
    AttributeValue, AuthAlgorithm, AuthMethod, DataAttribute, EcnTunnel, EncapsulationMode,
    EncryptionAlgorithm, GroupDescription, GroupType, HashAlgorithm, LifeType, Phase1Attribute,
    Phase2Attribute, emit_attributes, parse_attributes,
};
pub use cert::{CertEncoding, Certificate, CertificateRequest};
pub use delete::Delete;
pub use error::{EmitError, WireError};
pub use fragment::Fragment;
pub use framing::{Datagram, classify, classify_ike_port, classify_nat_t, emit_non_esp_marker};
pub use header::{Cookie, ExchangeType, Flags, HEADER_LEN, Header};
pub use id::{IdType, IdValue, Identification};
pub use message::{Body, Message, emit_encrypted_message, emit_message};
pub use nat::{NatD, NatNumbering, NatOa};
pub use notify::{Notification, NotifyType};
pub use payload::{
    GENERIC_HEADER_LEN, MAX_ALIGNMENT_PADDING, Payload, PayloadChain, PayloadType, RawPayload,
    TrailingBytes, emit_chain,
};
pub use sa::{
    AhTransformId, EspTransformId, IpcompTransformId, IsakmpTransformId, LabeledDomain, Proposal,
    ProtocolId, SecurityAssociation, Situation, Transform, TransformId,
};
pub use vendor_id::{KnownVendor, NatTVersion, VendorId};

// Limits. Each is far above what real peers send and, together with the input length, bounds
// every allocation the parser makes.

/// Largest ISAKMP message accepted or emitted: one UDP datagram.
pub const MAX_MESSAGE_LEN: usize = 65_535;
/// Most payloads in one chain (real messages have about 2-20, mostly Vendor IDs).
pub const MAX_PAYLOADS: usize = 64;
/// Most proposals in one SA payload.
pub const MAX_PROPOSALS: usize = 64;
/// Most transforms in one SA payload, all proposals together (the per-proposal count is a
/// byte; clients offering every cipher × hash × group combination send a few dozen).
pub const MAX_TRANSFORMS: usize = 256;
/// Most data attributes in one transform, or in one mode-config Attribute payload.
pub const MAX_ATTRIBUTES: usize = 128;
/// Most networks in one Unity split-include / local-LAN attribute.
pub const MAX_SPLIT_NETWORKS: usize = 256;
