//! KEYMAT: the keys of a phase-2 SA (RFC 2409 §5.5).

use super::check_len;
use crate::crypto::{CryptoError, Prf, Secret};

/// KEYMAT for one direction of one SA: `len` bytes of
///
/// ```text
/// K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)
/// Ki = prf(SKEYID_d, Ki-1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)
/// KEYMAT = K1 | K2 | ...  (truncated to len)
/// ```
///
/// - `pfs_g_xy`: the quick-mode Diffie-Hellman shared secret when PFS was negotiated
///   (a KE payload in quick mode), else `None`.
/// - `protocol`: the protocol ID of the proposal (ESP = 3, AH = 2, IPCOMP = 4).
/// - `spi`: the SPI *of the direction being keyed*, as in the proposal: the SPI the
///   receiving side chose. Inbound keys use our SPI, outbound keys the peer's.
/// - `ni_b`, `nr_b`: the quick-mode nonce bodies (initiator's, responder's), not phase 1's.
/// - `len`: the encryption key length plus the integrity key length
///   ([`EspTransform::keymat_len`](crate::crypto::esp::EspTransform::keymat_len)).
#[allow(clippy::too_many_arguments)] // the RFC's inputs, each named
pub fn keymat(
    prf: Prf,
    skeyid_d: &Secret,
    pfs_g_xy: Option<&Secret>,
    protocol: u8,
    spi: &[u8],
    ni_b: &[u8],
    nr_b: &[u8],
    len: usize,
) -> Result<Secret, CryptoError> {
    check_len(len)?;
    let gxy: &[u8] = pfs_g_xy.map_or(&[], |s| s.as_bytes());
    let proto = [protocol];
    let key = skeyid_d.as_bytes();
    let mut out = Secret::with_capacity(len + prf.output_len());
    let mut k = prf.compute_secret(key, &[gxy, &proto, spi, ni_b, nr_b]);
    loop {
        out.extend_from_slice(k.as_bytes());
        if out.len() >= len {
            break;
        }
        k = prf.compute_secret(key, &[k.as_bytes(), gxy, &proto, spi, ni_b, nr_b]);
    }
    out.truncate(len);
    Ok(out)
}
