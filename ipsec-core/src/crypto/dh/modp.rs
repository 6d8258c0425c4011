//! MODP groups (RFC 2409 §6, RFC 3526) with constant-time exponentiation.
//!
//! Arithmetic is crypto-bigint's Montgomery form with a runtime modulus
//! (`FixedMontyParams`/`FixedMontyForm`) over a `Uint` of exactly the modulus' limb count;
//! the exponentiation is `pow_bounded_exp`, a fixed-window ladder whose running time depends
//! on the exponent *bound* (public) and not on the exponent's value. The Montgomery
//! parameters of each prime are computed once and cached.
//!
//! # Private exponent length
//!
//! The exponent x is not drawn from the whole group: a random exponent of 2s bits gives s
//! bits of security against the best known attacks (Pollard rho/kangaroo on the exponent)
//! as long as the group itself offers s bits (NIST SP 800-56A Rev. 3 §5.6.1.1.1 and
//! Appendix D for these safe-prime groups; RFC 3526 §8 gives the same reasoning and a
//! table of exponent sizes). A short exponent is also what makes MODP affordable: the cost
//! is linear in the exponent length.
//!
//! | group | modulus | strength (SP 800-56A D / RFC 3526 §8) | exponent bits here |
//! |---|---|---|---|
//! | 1 | 768 | ~60 (weak) | 256 |
//! | 2 | 1024 | 80 (weak) | 256 |
//! | 5 | 1536 | 90-120 (weak) | 256 (RFC 3526: 180-240) |
//! | 14 | 2048 | 112 / 110-160 | 256 (SP 800-56A: 224; RFC 3526: 220-320) |
//! | 15 | 3072 | 128 / 130-210 | 320 (SP 800-56A: 256; RFC 3526: 260-420) |
//! | 16 | 4096 | 152 / 150-240 | 320 (SP 800-56A: 304; RFC 3526: 300-480) |
//! | 17 | 6144 | 176 / 170-270 | 384 (SP 800-56A: 352; RFC 3526: 340-540) |
//! | 18 | 8192 | 200 / 190-310 | 448 (SP 800-56A: 400; RFC 3526: 380-620) |
//!
//! Rule: at least twice the SP 800-56A strength, at least the lower RFC 3526 exponent size
//! and at least 256 bits, rounded up to whole 64-bit limbs. 2048 bits with a 256-bit exponent
//! is the configuration DESIGN.md benchmarked.

use std::sync::OnceLock;

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Limb, Odd, U768, U1024, U1536, U2048, U3072, U4096, U6144, U8192, Uint};
use ring::rand::SecureRandom;
use zeroize::{Zeroize, Zeroizing};

use super::DhGroup;
use crate::crypto::{CryptoError, Secret};

/// The 768-bit MODP prime, RFC 2409 §6.1 (group 1).
const MODP_768: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF",
);

/// The 1024-bit MODP prime, RFC 2409 §6.2 (group 2).
const MODP_1024: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
);

/// The 1536-bit MODP prime, RFC 3526 §2 (group 5).
const MODP_1536: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF",
);

/// The 2048-bit MODP prime, RFC 3526 §3 (group 14).
const MODP_2048: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
);

/// The 3072-bit MODP prime, RFC 3526 §4 (group 15).
const MODP_3072: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);

/// The 4096-bit MODP prime, RFC 3526 §5 (group 16).
const MODP_4096: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7",
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8",
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2",
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9",
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF",
);

/// The 6144-bit MODP prime, RFC 3526 §6 (group 17).
const MODP_6144: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7",
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8",
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2",
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9",
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C93402849236C3FAB4D27C7026",
    "C1D4DCB2602646DEC9751E763DBA37BDF8FF9406AD9E530EE5DB382F413001AE",
    "B06A53ED9027D831179727B0865A8918DA3EDBEBCF9B14ED44CE6CBACED4BB1B",
    "DB7F1447E6CC254B332051512BD7AF426FB8F401378CD2BF5983CA01C64B92EC",
    "F032EA15D1721D03F482D7CE6E74FEF6D55E702F46980C82B5A84031900B1C9E",
    "59E7C97FBEC7E8F323A97A7E36CC88BE0F1D45B7FF585AC54BD407B22B4154AA",
    "CC8F6D7EBF48E1D814CC5ED20F8037E0A79715EEF29BE32806A1D58BB7C5DA76",
    "F550AA3D8A1FBFF0EB19CCB1A313D55CDA56C9EC2EF29632387FE8D76E3C0468",
    "043E8F663F4860EE12BF2D5B0B7474D6E694F91E6DCC4024FFFFFFFFFFFFFFFF",
);

/// The 8192-bit MODP prime, RFC 3526 §7 (group 18).
const MODP_8192: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7",
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8",
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2",
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9",
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C93402849236C3FAB4D27C7026",
    "C1D4DCB2602646DEC9751E763DBA37BDF8FF9406AD9E530EE5DB382F413001AE",
    "B06A53ED9027D831179727B0865A8918DA3EDBEBCF9B14ED44CE6CBACED4BB1B",
    "DB7F1447E6CC254B332051512BD7AF426FB8F401378CD2BF5983CA01C64B92EC",
    "F032EA15D1721D03F482D7CE6E74FEF6D55E702F46980C82B5A84031900B1C9E",
    "59E7C97FBEC7E8F323A97A7E36CC88BE0F1D45B7FF585AC54BD407B22B4154AA",
    "CC8F6D7EBF48E1D814CC5ED20F8037E0A79715EEF29BE32806A1D58BB7C5DA76",
    "F550AA3D8A1FBFF0EB19CCB1A313D55CDA56C9EC2EF29632387FE8D76E3C0468",
    "043E8F663F4860EE12BF2D5B0B7474D6E694F91E6DBE115974A3926F12FEE5E4",
    "38777CB6A932DF8CD8BEC4D073B931BA3BC832B68D9DD300741FA7BF8AFC47ED",
    "2576F6936BA424663AAB639C5AE4F5683423B4742BF1C978238F16CBE39D652D",
    "E3FDB8BEFC848AD922222E04A4037C0713EB57A81A23F0C73473FC646CEA306B",
    "4BCBC8862F8385DDFA9D4B7FA2C087E879683303ED5BDD3A062B3CF5B3A278A6",
    "6D2A13F83F44F82DDF310EE074AB6A364597E899A0255DC164F31CC50846851D",
    "F9AB48195DED7EA1B1D510BD7EE74D73FAF36BC31ECFA268359046F4EB879F92",
    "4009438B481C6CD7889A002ED5EE382BC9190DA6FC026E479558E4475677E9AA",
    "9E3050E2765694DFC81F56E880B96E7160C980DD98EDD3DFFFFFFFFFFFFFFFFF",
);
/// Private exponent length in bits for `group` (see the module docs for the reasoning).
pub(super) const fn exponent_bits(group: DhGroup) -> u32 {
    match group {
        DhGroup::Modp768 | DhGroup::Modp1024 | DhGroup::Modp1536 | DhGroup::Modp2048 => 256,
        DhGroup::Modp3072 | DhGroup::Modp4096 => 320,
        DhGroup::Modp6144 => 384,
        _ => 448,
    }
}

/// The Montgomery parameters of a prime given in hex, computed once per group.
fn params<const L: usize>(
    cell: &'static OnceLock<FixedMontyParams<L>>,
    prime_hex: &str,
) -> &'static FixedMontyParams<L> {
    cell.get_or_init(|| {
        let p = Uint::<L>::from_be_hex(prime_hex);
        // The primes are constants checked by the tests; an even one cannot occur.
        let p = Odd::new(p)
            .into_option()
            .expect("MODP primes are odd constants");
        // The modulus is public: the variable-time setup is fine.
        FixedMontyParams::new_vartime(p)
    })
}

/// Runs `$body` with `$p` bound to the cached parameters of `$group`'s prime.
macro_rules! with_params {
    ($group:expr, |$p:ident| $body:expr) => {{
        static P768: OnceLock<FixedMontyParams<{ U768::LIMBS }>> = OnceLock::new();
        static P1024: OnceLock<FixedMontyParams<{ U1024::LIMBS }>> = OnceLock::new();
        static P1536: OnceLock<FixedMontyParams<{ U1536::LIMBS }>> = OnceLock::new();
        static P2048: OnceLock<FixedMontyParams<{ U2048::LIMBS }>> = OnceLock::new();
        static P3072: OnceLock<FixedMontyParams<{ U3072::LIMBS }>> = OnceLock::new();
        static P4096: OnceLock<FixedMontyParams<{ U4096::LIMBS }>> = OnceLock::new();
        static P6144: OnceLock<FixedMontyParams<{ U6144::LIMBS }>> = OnceLock::new();
        static P8192: OnceLock<FixedMontyParams<{ U8192::LIMBS }>> = OnceLock::new();
        match $group {
            DhGroup::Modp768 => {
                let $p = params(&P768, MODP_768);
                $body
            }
            DhGroup::Modp1024 => {
                let $p = params(&P1024, MODP_1024);
                $body
            }
            DhGroup::Modp1536 => {
                let $p = params(&P1536, MODP_1536);
                $body
            }
            DhGroup::Modp2048 => {
                let $p = params(&P2048, MODP_2048);
                $body
            }
            DhGroup::Modp3072 => {
                let $p = params(&P3072, MODP_3072);
                $body
            }
            DhGroup::Modp4096 => {
                let $p = params(&P4096, MODP_4096);
                $body
            }
            DhGroup::Modp6144 => {
                let $p = params(&P6144, MODP_6144);
                $body
            }
            _ => {
                let $p = params(&P8192, MODP_8192);
                $body
            }
        }
    }};
}

/// A private exponent: big-endian, left-padded to the modulus length, and the number of
/// low-order bits the exponentiation runs over (public).
pub(super) struct Exponent {
    bytes: Secret,
    bits: u32,
}

impl Exponent {
    /// A fresh random exponent of [`exponent_bits`] bits (x >= 2).
    pub(super) fn generate(group: DhGroup, rng: &dyn SecureRandom) -> Result<Self, CryptoError> {
        let len = group.public_len();
        let bits = exponent_bits(group);
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        let start = len - (bits as usize) / 8;
        // x < 2 happens with probability 2^-255; the loop bound only keeps it finite.
        for _ in 0..16 {
            rng.fill(&mut bytes[start..])
                .map_err(|_| CryptoError::Rng)?;
            if is_at_least_two(&bytes) {
                return Ok(Exponent {
                    bytes: Secret::from_slice(&bytes),
                    bits,
                });
            }
        }
        Err(CryptoError::Rng)
    }

    /// A known exponent (tests): 1 to modulus-length big-endian bytes, 1 < x < p-1.
    pub(super) fn from_bytes(group: DhGroup, private: &[u8]) -> Result<Self, CryptoError> {
        let len = group.public_len();
        if private.is_empty() || private.len() > len {
            return Err(CryptoError::InvalidPrivateValue {
                group: group.id(),
                reason: "expected 1 to modulus-length bytes",
            });
        }
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        bytes[len - private.len()..].copy_from_slice(private);
        if !is_at_least_two(&bytes) || check_range(group, &bytes).is_err() {
            return Err(CryptoError::InvalidPrivateValue {
                group: group.id(),
                reason: "not in 2..p-2",
            });
        }
        Ok(Exponent {
            bytes: Secret::from_slice(&bytes),
            bits: (private.len() * 8) as u32,
        })
    }
}

/// Whether a big-endian number is >= 2 (used on private values: constant time over the
/// bytes, the answer is public and almost always true).
fn is_at_least_two(bytes: &[u8]) -> bool {
    let (last, high) = match bytes.split_last() {
        Some(split) => split,
        None => return false,
    };
    let mut acc = 0u8;
    for b in high {
        acc |= b;
    }
    (acc | (last & 0xFE)) != 0
}

fn decode<const L: usize>(bytes: &[u8]) -> Uint<L> {
    // Callers check `bytes.len()` against the group; all moduli are whole limbs.
    debug_assert_eq!(bytes.len(), L * Limb::BYTES);
    Uint::<L>::from_be_slice(bytes)
}

fn range_ok<const L: usize>(p: &FixedMontyParams<L>, y: &Uint<L>) -> bool {
    let p_minus_1 = p.modulus().as_ref().wrapping_sub(&Uint::ONE);
    *y > Uint::ONE && *y < p_minus_1
}

/// 1 < y < p-1 for a modulus-length big-endian value (length checked by the caller).
fn check_range(group: DhGroup, bytes: &[u8]) -> Result<(), CryptoError> {
    let ok = with_params!(group, |p| range_ok(p, &decode(bytes)));
    if ok {
        Ok(())
    } else {
        Err(CryptoError::InvalidPublicValue {
            group: group.id(),
            reason: "not in 2..p-2",
        })
    }
}

/// Validates a received public value: exact modulus length and 1 < y < p-1 (y = 0, 1 and
/// p-1 would force the shared secret into {0, 1, p-1}).
pub(super) fn check_public(group: DhGroup, public: &[u8]) -> Result<(), CryptoError> {
    if public.len() != group.public_len() {
        return Err(CryptoError::InvalidPublicValue {
            group: group.id(),
            reason: "wrong length for the group",
        });
    }
    check_range(group, public)
}

/// base^x mod p, big-endian, modulus length, in constant time over x's `bits` low bits.
fn pow<const L: usize>(
    p: &FixedMontyParams<L>,
    base: &Uint<L>,
    x: &Exponent,
) -> Zeroizing<Vec<u8>> {
    let mut exponent: Uint<L> = decode(x.bytes.as_bytes());
    let mut result = FixedMontyForm::new(base, p).pow_bounded_exp(&exponent, x.bits);
    let mut value = result.retrieve();
    let mut encoded = value.to_be_bytes();
    let out = Zeroizing::new(encoded.as_slice().to_vec());
    exponent.zeroize();
    result.zeroize();
    value.zeroize();
    encoded.zeroize();
    out
}

/// g^x mod p with g = 2 (every IKE MODP group uses generator 2).
pub(super) fn public_value(group: DhGroup, x: &Exponent) -> Vec<u8> {
    with_params!(group, |p| pow(p, &Uint::from_u8(2), x).to_vec())
}

/// g^xy = y^x mod p after validating y.
pub(super) fn agree(
    group: DhGroup,
    x: &Exponent,
    peer_public: &[u8],
) -> Result<Secret, CryptoError> {
    check_public(group, peer_public)?;
    let shared = with_params!(group, |p| pow(p, &decode(peer_public), x));
    // With 1 < y < p-1 in a safe-prime group and 2 <= x < q, y^x is never 1; keep the check
    // so that a bug cannot turn into a known key.
    if !is_at_least_two(&shared) {
        return Err(CryptoError::DegenerateSharedSecret { group: group.id() });
    }
    Ok(Secret::from_slice(&shared))
}
