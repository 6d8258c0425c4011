//! The seam between the dataplane and ESP packet processing (`ipsec_core::esp`).
//!
//! The workers see only [`Outbound`], [`Inbound`], [`EspError`] and [`Expiry`], re-exported
//! from there, and build SAs with [`new_outbound`] / [`new_inbound`] from what the driver
//! gives the kernel path ([`SaInstall`]). Should the engine's API move, only this file follows.

use std::sync::OnceLock;

use ipsec_core::crypto::Secret;
use ipsec_core::crypto::esp::{EspEncryption, EspIntegrity, EspKeys, EspTransform};
pub use ipsec_core::esp::{EspError, Expiry, Inbound, Outbound};
use ipsec_core::esp::{LifetimeLimits, Mode, SaConfig};

use crate::driver::SaInstall;

/// The SA configuration for one direction. The driver hands over the kernel's form of the
/// transform, which carries the AES-GCM salt as the last four bytes of the key (RFC 4106
/// §8.1): it is split back off here.
fn config(sa: &SaInstall) -> Result<SaConfig, EspError> {
    use xfrm::{Encryption as E, Integrity as I};
    let t = &sa.transform;
    let encryption = match t.encryption {
        E::TripleDesCbc => EspEncryption::TripleDesCbc,
        E::AesCbc128 => EspEncryption::AesCbc128,
        E::AesCbc192 => EspEncryption::AesCbc192,
        E::AesCbc256 => EspEncryption::AesCbc256,
        E::AesGcm16_128 => EspEncryption::AesGcm16_128,
        E::AesGcm16_256 => EspEncryption::AesGcm16_256,
        E::Null => EspEncryption::Null,
        #[allow(unreachable_patterns)]
        _ => return Err(EspError::InvalidConfig("encryption algorithm")),
    };
    let integrity = match t.integrity {
        I::None => EspIntegrity::None,
        I::HmacMd5_96 => EspIntegrity::HmacMd5_96,
        I::HmacSha1_96 => EspIntegrity::HmacSha1_96,
        I::HmacSha256_128 => EspIntegrity::HmacSha256_128,
        I::HmacSha256_96 => EspIntegrity::HmacSha256_96,
        I::HmacSha384_192 => EspIntegrity::HmacSha384_192,
        I::HmacSha512_256 => EspIntegrity::HmacSha512_256,
        #[allow(unreachable_patterns)]
        _ => return Err(EspError::InvalidConfig("integrity algorithm")),
    };
    let transform = EspTransform::new(encryption, integrity)
        .map_err(|_| EspError::InvalidConfig("transform"))?;
    let key = t.enc_key.as_bytes();
    let (key, salt) = if encryption.is_aead() {
        let split = key
            .len()
            .checked_sub(4)
            .ok_or(EspError::InvalidConfig("AES-GCM key without salt"))?;
        (&key[..split], Some(Secret::from_slice(&key[split..])))
    } else {
        (key, None)
    };
    let keys = EspKeys {
        encryption: Secret::from_slice(key),
        salt,
        integrity: Secret::from_slice(t.auth_key.as_bytes()),
    };
    let mode = if sa.tunnel {
        Mode::Tunnel
    } else {
        Mode::Transport
    };
    let mut c = SaConfig::new(sa.spi, transform, keys, mode);
    c.replay_window = sa.replay_window;
    c.lifetime = LifetimeLimits {
        soft_bytes: sa.lifetime.soft_bytes,
        hard_bytes: sa.lifetime.hard_bytes,
        ..LifetimeLimits::default()
    };
    Ok(c)
}

/// The sending half of `sa`.
pub fn new_outbound(sa: &SaInstall) -> Result<Outbound, EspError> {
    // Only drawn from once per SA (the CBC IV key).
    static RNG: OnceLock<ring::rand::SystemRandom> = OnceLock::new();
    Outbound::new(&config(sa)?, RNG.get_or_init(ring::rand::SystemRandom::new))
}

/// The receiving half of `sa`.
pub fn new_inbound(sa: &SaInstall) -> Result<Inbound, EspError> {
    Inbound::new(&config(sa)?)
}
