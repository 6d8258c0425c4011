//! The keys of a new IPsec SA pair (RFC 2409 §5.5): KEYMAT per direction, split into the
//! ESP keys.
//!
//! Each direction is keyed with the SPI *the receiving side* chose: the keys of the SA we
//! receive on use our SPI, those of the SA we send on use the peer's. The nonces are always
//! in the order initiator, responder, whoever computes them.

use crate::crypto::Secret;
use crate::crypto::esp::{EspKeys, EspTransform, split_keymat};
use crate::crypto::ikev1::keymat;
use crate::engine::Reject;
use crate::phase1::Phase1Sa;
use crate::wire::ProtocolId;

/// Both directions' keys.
pub(crate) struct ChildKeys {
    /// For the SA we receive on (our SPI).
    pub inbound: EspKeys,
    /// For the SA we send on (the peer's SPI).
    pub outbound: EspKeys,
}

/// KEYMAT for both directions, split for `esp`.
pub(crate) fn derive(
    p1: &Phase1Sa,
    pfs_g_xy: Option<&Secret>,
    esp: &EspTransform,
    our_spi: u32,
    peer_spi: u32,
    ni_b: &[u8],
    nr_b: &[u8],
) -> Result<ChildKeys, Reject> {
    let one = |spi: u32| -> Result<EspKeys, Reject> {
        let km = keymat(
            p1.keys.prf,
            &p1.keys.skeyids.skeyid_d,
            pfs_g_xy,
            ProtocolId::Esp.value(),
            &spi.to_be_bytes(),
            ni_b,
            nr_b,
            esp.keymat_len(),
        )?;
        Ok(split_keymat(&km, esp)?)
    };
    Ok(ChildKeys {
        inbound: one(our_spi)?,
        outbound: one(peer_spi)?,
    })
}
