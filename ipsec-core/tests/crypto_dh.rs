//! Diffie-Hellman groups: agreement both ways for every group, known answers (MODP against
//! values computed once with Python's `pow()`, RFC 5903 §8 for groups 19-21, RFC 7748 §6.1
//! for X25519), fixed-length encodings, and rejection of bad public values.
//!
//! *ring* cannot import private keys, so for groups 19, 20 and 31 the RFC private values are
//! run through a small, slow, independent reference implementation below (affine
//! short-Weierstrass arithmetic and the RFC 7748 ladder over crypto-bigint), first checked
//! against the RFC vectors, then used to cross-check the *ring*-backed key pairs: ours
//! agreeing with the RFC's public value must give what the reference computes from the RFC's
//! private value and our public value.

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, U256, U384, Uint};
use ipsec_core::crypto::{CryptoError, DhGroup, KeyPair, Secret};
use ring::rand::SystemRandom;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(char::is_whitespace, "")).unwrap()
}

// ---------------------------------------------------------------------------------------
// Every group: agreement both ways, lengths, encodings.

/// The 8192-bit group is slow without optimisation; it still runs, just once.
#[test]
fn every_group_agrees_both_ways() {
    let rng = SystemRandom::new();
    for group in DhGroup::ALL {
        let a = group.generate(&rng).unwrap();
        let b = KeyPair::generate(group, &rng).unwrap();
        assert_eq!(a.public.len(), group.public_len(), "{group:?}");
        assert_eq!(b.public().len(), group.public_len(), "{group:?}");
        assert_ne!(a.public, b.public);
        group.check_public(&a.public).unwrap();
        let (a_pub, b_pub) = (a.public.clone(), b.public.clone());
        let s1 = a.agree(&b_pub).unwrap();
        let s2 = b.agree(&a_pub).unwrap();
        assert_eq!(s1, s2, "{group:?}");
        assert_eq!(s1.len(), group.shared_secret_len(), "{group:?}");
        assert_eq!(DhGroup::from_id(group.id()), Some(group));
    }
}

#[test]
fn group_table() {
    let ids: Vec<u16> = DhGroup::ALL.iter().map(|g| g.id()).collect();
    assert_eq!(ids, [1, 2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 31]);
    for id in [0u16, 3, 4, 6, 13, 22, 23, 24, 25, 26, 30, 32, 65535] {
        assert_eq!(DhGroup::from_id(id), None, "{id}");
    }
    let weak: Vec<u16> = DhGroup::ALL
        .iter()
        .filter(|g| g.is_weak())
        .map(|g| g.id())
        .collect();
    assert_eq!(weak, [1, 2, 5]);
    assert_eq!(DhGroup::Modp2048.public_len(), 256);
    assert_eq!(DhGroup::Ecp256.public_len(), 64);
    assert_eq!(DhGroup::Ecp521.public_len(), 132);
    assert_eq!(DhGroup::Ecp521.shared_secret_len(), 66);
    assert_eq!(DhGroup::Curve25519.public_len(), 32);
    let kp = DhGroup::Modp768.generate(&SystemRandom::new()).unwrap();
    let dbg = format!("{kp:?}");
    assert!(dbg.contains("redacted"), "{dbg}");
}

// ---------------------------------------------------------------------------------------
// MODP known answers (Python: pow(2, x, p), pow(gy, x, p)).

const X: &str = "8f1a7c3e5d2b4096a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718";
const Y: &str = "3c5e7f9102b4d6f8a0c2e4f60819a2b3c4d5e6f708192a3b4c5d6e7f80910213";

fn modp_kat(group: DhGroup, gx: &str, gy: &str, gxy: &str) {
    let a = KeyPair::from_private(group, &h(X)).unwrap();
    let b = KeyPair::from_private(group, &h(Y)).unwrap();
    assert_eq!(hex::encode(&a.public), gx);
    assert_eq!(hex::encode(&b.public), gy);
    let (a_pub, b_pub) = (a.public.clone(), b.public.clone());
    assert_eq!(hex::encode(a.agree(&b_pub).unwrap().as_bytes()), gxy);
    assert_eq!(hex::encode(b.agree(&a_pub).unwrap().as_bytes()), gxy);
}

#[test]
fn modp1024_known_answer() {
    modp_kat(
        DhGroup::Modp1024,
        "7e561bd90d65a8ad800b1a620df6c3c53b42bfbc4a167a7618a3f193863e994445dd76e5d3808562bc4d340360439690071958a1459916e156dcca0e39acf4887b5c13786f15a6077c5fa0520b900c9970064046d87ca4b03dafd87688a1c00f9b6fb037d0e78e6bf078d2301f74ae07d52330a3db60ba7e670ad43578321e52",
        "0d6bb8e746a7c7ccc8747de808b14878fc9074d257345b15154087c265256d22b02bfe9d58e5cef7ab63ec104615342af713b3e7944d79c2c37e007e0ca69665021999238b22d8e9177031704c5f2a39831623970b27f57a62b2edd0a8c061d2571a3196f9896f2eb9f8c0b0948e9df087fbdf99970a5d8707fb28be657a5130",
        "844ebe47ebd9bd500ba362a8cf5588cf69bdfe2cd75243fb12b1f916d72f1cb87a057059996a60d991fff5fe2d271d7581758bb01f717b94486d8478fdaf96f7015a8482d2146c21c94a410f4de47963088431f26a398af4b3d8909e6f1bc7f9b6e1d3a6aaa6d4978ef8e7e41905189dc52fd668f55b1e6f81e6c4de2e941a88",
    );
}

#[test]
fn modp2048_known_answer() {
    modp_kat(
        DhGroup::Modp2048,
        "b1abbaaf1f7b16b6abaf177efc8c74f0e465454b0580655960ffe6111a451041490f0efe54d238538309386972a79ad29a572d6a3e9974f4ac1ab2cac59eb733b3e2ae20f299b5079887258816f82c49bc6fd38230b4a669279c9f51dc2dcaeeadb74c4b15dd97a9dc61f665da5253554962cae7582cb2484cefb1a2855b31c02b986f34abea5c2e39d3d0a53078300df1dee766d42e872dc6c2b2e7fbde14c80cf0c20dfcffc36208abf36778a3c1b8e0ba8bafec2ceebaa6de4fc93d40ecace9410e0fe15ee6c1165154efdb141764cd962ad4097a529b2ca4b609f9c7d9e9ee4d6054af16b7514d7e07e5d11cf0fd1e7dec9441220d0c996e45d8c1e5ab30",
        "e89c33c1758ecb99c8654a78b2311d65b57400823ab47d168f5def6a5f693a303057352f5fa7037d17aeaf3b0940cc2e72d07b67bfbd0058d76b83dd54622cdb62d9dd0bef6ab2e648b9049233dac03e4f85154f4e87102350dcf26b8bf118dc61cbff06b9140e585d066407e64f6da63e783fb5d2dd7615ba1eebdfdf8e9d85e113299a6590ea3572e7af242399bfde0a707a0d26a777b90364230be6b591cbb3d7ae72a8f7df9a7f691dc3e9605ea94028cf402e968cb3c41ae08b4dbcf133226f6c6eb1a0975ff58083e7580fcbbe6c97165e023e894de5ba265ddd9737bf39d8fc91ae7f871d138694abd3fcf9b0510d2f4ae13b5bf25930b3db6eb3ec5d",
        "72b83e697b019997745d79f6d23045c89a4b5f30ae60dd28a7fcf587b8da466a0d5484ac4e01b4e7fe0eef0c5c2120bf58d9f2e45448bbfd0aaa6f7a94f6f0fe65a92314e77a62cb120fb9901a3b6eb65587d6af2dea57d129618fb38c96566f7c74c747bed5b725c3c6c45bb9626bb268a893854d7a6a82048eb2b660e68e80e211cd5ce4c230ada8eb99e2acf41c10c707c881ce34e119c47c7ad9333c9bf0100d927fb68f4edced87176e8719e0da2cb26ee1182ce31bd1beeca7f199b0d1eb34c9dd97fee566a907b6190f24ada68e90ec00cd1f608ec323cfc1203a935b69522be752f64011fc6dd13db932f42ab363cd8d64a7e2b533c011e00c42c105",
    );
}

/// Every MODP group, pinned by SHA-256 of g^X and of (g^Y)^X (full values from Python's
/// `pow()` with the RFC 2409/3526 primes, which were checked against OpenSSL's built-in
/// RFC 3526 groups).
#[test]
fn every_modp_group_known_answer_digest() {
    use ipsec_core::crypto::HashAlgorithm;
    let cases = [
        (
            DhGroup::Modp768,
            "81df582a528fc3d19a30870a883a05a822df93837c973301db39385e98893cf5",
            "5e24318376b7d9dad6351c472d5cbac6a5639ad818e18705405aa6955f9f0b68",
        ),
        (
            DhGroup::Modp1024,
            "64087d0a23c9175698a57976d5f6d868830ff709df40dc4472a992232cbd8452",
            "2a71d1dc1093d2a7a1cbb76447456ca8db84d3247115454f5eb9ea6d01475358",
        ),
        (
            DhGroup::Modp1536,
            "6debb9de18d964373d8e170db6cf561a3da436cc6115ddcaa0b10e37e1975fd6",
            "8f44c61675f713a4f073735db8419ae3a176ebd975096835ed7459d9874979ff",
        ),
        (
            DhGroup::Modp2048,
            "aa03df7e93b5df6ffc729f2b2b006ebec81a73cd0db6ea0e44fc7ec6913da17c",
            "274c88df2d43a6fd1e72e94829c2b017e646e4dfe9d39251e4db32a77c8120db",
        ),
        (
            DhGroup::Modp3072,
            "a8c1a5bbb56ad38e8ee6e3d9272ba0af64c32a8ec38aafc8a223c95e7254a8c9",
            "a976abfb2fc9dd214adf9bdb4ec90aa25f292898bb238897ae7290d4023f3d01",
        ),
        (
            DhGroup::Modp4096,
            "d48e045d08461923d53b93ca2c1b3e3055ce76ae236c5e297038f7ad595b36c6",
            "ca959dad4b4696a9ff8c6978157f9ecd6c9f00e94644b21a674af123f3b94262",
        ),
        (
            DhGroup::Modp6144,
            "5308411783605be60e63eeca0bce87694817abc3e53d55dea6bfc849440b7751",
            "2ec6f0682784c39fb13a82c14d222667c838719964dfe9f37aedd86bede6e3ea",
        ),
        (
            DhGroup::Modp8192,
            "1fcaad6144f0dcf7443a2180a0f65145d1de73f9bcb05cbfdb8d03c21b0e4a50",
            "5c1b38efe65d836d1eb73b4593f90d453638a3e7a84f361d937fa6e8336f7df0",
        ),
    ];
    let sha256 = |b: &[u8]| hex::encode(HashAlgorithm::Sha256.digest(&[b]));
    for (group, gx, gxy) in cases {
        let a = KeyPair::from_private(group, &h(X)).unwrap();
        let b = KeyPair::from_private(group, &h(Y)).unwrap();
        assert_eq!(sha256(&a.public), gx, "{group:?} g^x");
        let shared = a.agree(&b.public).unwrap();
        assert_eq!(shared.len(), group.shared_secret_len());
        assert_eq!(sha256(shared.as_bytes()), gxy, "{group:?} g^xy");
    }
}

#[test]
fn modp_values_are_left_padded_to_the_modulus_length() {
    // g^2 = 4: a 96-byte public value with 95 leading zero bytes.
    let kp = KeyPair::from_private(DhGroup::Modp768, &[2]).unwrap();
    assert_eq!(kp.public.len(), 96);
    assert_eq!(kp.public[95], 4);
    assert!(kp.public[..95].iter().all(|&b| b == 0));

    // A shared secret whose first byte is zero (found with Python): x = 141, y = 0x1234567.
    let shared = "002dfb90aa0b101ec0049c5dec3aa67b07eaed96fc844a70e82e3504478e021ed479a8ab24c6c599a12b34d25ff18caa8243e306f23d89aef38edb2dd8c891ff39fbb8524542c8dfde1b4842b7279b993672c9157d34874572d863b747501530";
    let a = KeyPair::from_private(DhGroup::Modp768, &[141]).unwrap();
    let b = KeyPair::from_private(DhGroup::Modp768, &h("01234567")).unwrap();
    let (a_pub, b_pub) = (a.public.clone(), b.public.clone());
    let s1 = a.agree(&b_pub).unwrap();
    assert_eq!(s1.len(), 96);
    assert_eq!(hex::encode(s1.as_bytes()), shared);
    assert_eq!(b.agree(&a_pub).unwrap(), s1);
}

/// The primes of groups 1 and 2 (RFC 2409 §6.1, §6.2), written out here independently of
/// the library's table so that the boundary tests (p-2 accepted, p-1 and p refused) pin it.
fn modp_prime(group: DhGroup) -> Vec<u8> {
    let hexes = [
        (
            DhGroup::Modp768,
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF",
        ),
        (
            DhGroup::Modp1024,
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
        ),
    ];
    let (_, p) = hexes
        .iter()
        .find(|(g, _)| *g == group)
        .expect("prime listed");
    h(p)
}

fn minus(mut v: Vec<u8>, n: u8) -> Vec<u8> {
    let mut borrow = n as u16;
    for b in v.iter_mut().rev() {
        let (r, o) = (*b as u16).overflowing_sub(borrow);
        *b = r as u8;
        borrow = if o { 1 } else { 0 };
        if borrow == 0 {
            break;
        }
    }
    v
}

#[test]
fn modp_public_value_validation() {
    for group in [DhGroup::Modp768, DhGroup::Modp1024] {
        let len = group.public_len();
        let p = modp_prime(group);
        assert_eq!(p.len(), len);
        let mut one = vec![0u8; len];
        one[len - 1] = 1;
        let mut two = vec![0u8; len];
        two[len - 1] = 2;
        let bad = [
            ("0", vec![0u8; len]),
            ("1", one),
            ("p-1", minus(p.clone(), 1)),
            ("p", p.clone()),
            ("2^n-1 > p", vec![0xff; len]),
            ("short", vec![7u8; len - 1]),
            ("long", vec![7u8; len + 1]),
            ("empty", Vec::new()),
        ];
        for (what, value) in bad {
            let err = group.check_public(&value).unwrap_err();
            assert!(
                matches!(err, CryptoError::InvalidPublicValue { group: g, .. } if g == group.id()),
                "{group:?} {what}: {err:?}"
            );
            let kp = KeyPair::from_private(group, &h(X)).unwrap();
            assert!(kp.agree(&value).is_err(), "{group:?} {what}");
        }
        // 2 and p-2 are the extremes that are accepted.
        group.check_public(&two).unwrap();
        group.check_public(&minus(p.clone(), 2)).unwrap();
        let kp = KeyPair::from_private(group, &h(X)).unwrap();
        kp.agree(&minus(p, 2)).unwrap();
    }
    // A 255-byte value (leading zero stripped by a sloppy peer) is refused, not padded.
    let kp = KeyPair::from_private(DhGroup::Modp2048, &h(X)).unwrap();
    let peer = KeyPair::from_private(DhGroup::Modp2048, &[2]).unwrap();
    assert!(kp.agree(&peer.public[1..]).is_err());
}

#[test]
fn modp_private_value_validation() {
    assert!(KeyPair::from_private(DhGroup::Modp768, &[]).is_err());
    assert!(KeyPair::from_private(DhGroup::Modp768, &[1]).is_err());
    assert!(KeyPair::from_private(DhGroup::Modp768, &[0, 0, 1]).is_err());
    assert!(KeyPair::from_private(DhGroup::Modp768, &[0xff; 96]).is_err());
    assert!(KeyPair::from_private(DhGroup::Modp768, &[1; 97]).is_err());
    assert!(KeyPair::from_private(DhGroup::Modp768, &[0, 2]).is_ok());
    for g in [DhGroup::Ecp256, DhGroup::Ecp384, DhGroup::Curve25519] {
        assert!(matches!(
            KeyPair::from_private(g, &[1; 32]),
            Err(CryptoError::UnsupportedGroupOperation { .. })
        ));
    }
}

// ---------------------------------------------------------------------------------------
// Reference short-Weierstrass arithmetic (a = -3), affine, variable time. Tests only.

struct Curve<const L: usize> {
    p: FixedMontyParams<L>,
    b: FixedMontyForm<L>,
    g: (FixedMontyForm<L>, FixedMontyForm<L>),
}

type Point<const L: usize> = Option<(FixedMontyForm<L>, FixedMontyForm<L>)>;

impl<const L: usize> Curve<L> {
    fn new(p: &str, b: &str, gx: &str, gy: &str) -> Self {
        let params = FixedMontyParams::new_vartime(Odd::new(Uint::<L>::from_be_hex(p)).unwrap());
        let f = |s: &str| FixedMontyForm::new(&Uint::<L>::from_be_hex(s), &params);
        Curve {
            b: f(b),
            g: (f(gx), f(gy)),
            p: params,
        }
    }

    fn elem(&self, bytes: &[u8]) -> FixedMontyForm<L> {
        FixedMontyForm::new(&Uint::<L>::from_be_slice(bytes), &self.p)
    }

    fn int(&self, n: u64) -> FixedMontyForm<L> {
        FixedMontyForm::new(&Uint::<L>::from_u64(n), &self.p)
    }

    fn eq(a: &FixedMontyForm<L>, b: &FixedMontyForm<L>) -> bool {
        a.retrieve() == b.retrieve()
    }

    fn on_curve(&self, (x, y): &(FixedMontyForm<L>, FixedMontyForm<L>)) -> bool {
        let rhs = x.square() * x - self.int(3) * x + self.b;
        Self::eq(&y.square(), &rhs)
    }

    fn add(&self, p: Point<L>, q: Point<L>) -> Point<L> {
        let (Some((x1, y1)), Some((x2, y2))) = (p, q) else {
            return p.or(q);
        };
        let lambda = if Self::eq(&x1, &x2) {
            if !Self::eq(&y1, &y2) || Self::eq(&y1, &self.int(0)) {
                return None;
            }
            (self.int(3) * x1.square() - self.int(3)) * (self.int(2) * y1).invert().unwrap()
        } else {
            (y2 - y1) * (x2 - x1).invert().unwrap()
        };
        let x3 = lambda.square() - x1 - x2;
        let y3 = lambda * (x1 - x3) - y1;
        Some((x3, y3))
    }

    fn mul(&self, k: &[u8], point: Point<L>) -> Point<L> {
        let mut acc = None;
        for byte in k {
            for bit in (0..8).rev() {
                acc = self.add(acc, acc);
                if byte >> bit & 1 == 1 {
                    acc = self.add(acc, point);
                }
            }
        }
        acc
    }

    /// x ‖ y, each coordinate field-length big-endian.
    fn encode(&self, point: Point<L>) -> Vec<u8> {
        let (x, y) = point.expect("not the identity");
        let mut out = x.retrieve().to_be_bytes().as_slice().to_vec();
        out.extend_from_slice(y.retrieve().to_be_bytes().as_slice());
        out
    }

    fn decode(&self, public: &[u8]) -> Point<L> {
        let n = public.len() / 2;
        let point = (self.elem(&public[..n]), self.elem(&public[n..]));
        assert!(self.on_curve(&point));
        Some(point)
    }

    fn public(&self, private: &[u8]) -> Vec<u8> {
        self.encode(self.mul(private, Some(self.g)))
    }

    fn ecdh(&self, private: &[u8], peer: &[u8]) -> Vec<u8> {
        let shared = self.encode(self.mul(private, self.decode(peer)));
        shared[..shared.len() / 2].to_vec()
    }
}

fn p256() -> Curve<{ U256::LIMBS }> {
    Curve::new(
        "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
        "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b",
        "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
        "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
    )
}

fn p384() -> Curve<{ U384::LIMBS }> {
    Curve::new(
        "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
        "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef",
        "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7",
        "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f",
    )
}

/// RFC 5903 §8: i, g^i (x ‖ y), r, g^r, and the shared x coordinate.
struct Rfc5903 {
    i: &'static str,
    gi: &'static str,
    r: &'static str,
    gr: &'static str,
    girx: &'static str,
}

const RFC5903_256: Rfc5903 = Rfc5903 {
    i: "c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433",
    gi: "dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180
         5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3",
    r: "c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53",
    gr: "d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63
         56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab",
    girx: "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de",
};

const RFC5903_384: Rfc5903 = Rfc5903 {
    i: "099f3c7034d4a2c699884d73a375a67f7624ef7c6b3c0f160647b67414dce655e35b538041e649ee3faef896783ab194",
    gi: "667842d7d180ac2cde6f74f37551f55755c7645c20ef73e31634fe72b4c55ee6de3ac808acb4bdb4c88732aee95f41aa
         9482ed1fc0eeb9cafc4984625ccfc23f65032149e0e144ada024181535a0f38eeb9fcff3c2c947dae69b4c634573a81c",
    r: "41cb0779b4bdb85d47846725fbec3c9430fab46cc8dc5060855cc9bda0aa2942e0308312916b8ed2960e4bd55a7448fc",
    gr: "e558dbef53eecde3d3fccfc1aea08a89a987475d12fd950d83cfa41732bc509d0d1ac43a0336def96fda41d0774a3571
         dcfbec7aacf3196472169e838430367f66eebe3c6e70c416dd5f0c68759dd1fff83fa40142209dff5eaad96db9e6386c",
    girx: "11187331c279962d93d604243fd592cb9d0a926f422e47187521287e7156c5c4d603135569b9e9d09cf5d4a270f59746",
};

const RFC5903_521: Rfc5903 = Rfc5903 {
    i: "0037ade9319a89f4dabdb3ef411aaccca5123c61acab57b5393dce47608172a095aa85a30fe1c2952c6771d937ba9777f5957b2639bab072462f68c27a57382d4a52",
    gi: "0015417e84dbf28c0ad3c278713349dc7df153c897a1891bd98bab4357c9ecbee1e3bf42e00b8e380aeae57c2d107564941885942af5a7f4601723c4195d176ced3e
         017cae20b6641d2eeb695786d8c946146239d099e18e1d5a514c739d7cb4a10ad8a788015ac405d7799dc75e7b7d5b6cf2261a6a7f1507438bf01beb6ca3926f9582",
    r: "0145ba99a847af43793fdd0e872e7cdfa16be30fdc780f97bccc3f078380201e9c677d600b343757a3bdbf2a3163e4c2f869cca7458aa4a4effc311f5cb151685eb9",
    gr: "00d0b3975ac4b799f5bea16d5e13e9af971d5e9b984c9f39728b5e5739735a219b97c356436adc6e95bb0352f6be64a6c2912d4ef2d0433ced2b6171640012d9460f
         015c68226383956e3bd066e797b623c27ce0eac2f551a10c2c724d9852077b87220b6536c5c408a1d2aebb8e86d678ae49cb57091f4732296579ab44fcd17f0fc56a",
    girx: "01144c7d79ae6956bc8edb8e7c787c4521cb086fa64407f97894e5e6b2d79b04d1427e73ca4baa240a34786859810c06b3c715a3a8cc3151f2bee417996d19f3ddea",
};

fn check_ring_ecp<const L: usize>(group: DhGroup, curve: &Curve<L>, v: &Rfc5903) {
    // The reference reproduces the RFC.
    assert_eq!(curve.public(&h(v.i)), h(v.gi), "{group:?} g^i");
    assert_eq!(curve.public(&h(v.r)), h(v.gr), "{group:?} g^r");
    assert_eq!(curve.ecdh(&h(v.i), &h(v.gr)), h(v.girx), "{group:?} g^ir");
    // Our ring-backed pair agrees with the RFC's responder: the secret is the x coordinate
    // of r * (our public), and our public value is a correctly encoded curve point.
    let rng = SystemRandom::new();
    for _ in 0..2 {
        let ours = KeyPair::generate(group, &rng).unwrap();
        let expected = curve.ecdh(&h(v.r), &ours.public);
        let shared = ours.agree(&h(v.gr)).unwrap();
        assert_eq!(shared.as_bytes(), &expected[..], "{group:?}");
    }
}

#[test]
fn ecp256_rfc5903() {
    check_ring_ecp(DhGroup::Ecp256, &p256(), &RFC5903_256);
}

#[test]
fn ecp384_rfc5903() {
    check_ring_ecp(DhGroup::Ecp384, &p384(), &RFC5903_384);
}

#[test]
fn ecp521_rfc5903_with_injected_private_values() {
    let v = &RFC5903_521;
    let i = KeyPair::from_private(DhGroup::Ecp521, &h(v.i)).unwrap();
    let r = KeyPair::from_private(DhGroup::Ecp521, &h(v.r)).unwrap();
    assert_eq!(i.public, h(v.gi));
    assert_eq!(r.public, h(v.gr));
    assert_eq!(i.agree(&h(v.gr)).unwrap().as_bytes(), &h(v.girx)[..]);
    assert_eq!(r.agree(&h(v.gi)).unwrap().as_bytes(), &h(v.girx)[..]);
    DhGroup::Ecp521.check_public(&h(v.gi)).unwrap();
    // Out-of-range scalars.
    assert!(KeyPair::from_private(DhGroup::Ecp521, &[0u8; 66]).is_err());
    assert!(KeyPair::from_private(DhGroup::Ecp521, &[0xffu8; 66]).is_err());
    assert!(KeyPair::from_private(DhGroup::Ecp521, &[1u8; 67]).is_err());
}

#[test]
fn ecp_rejects_bad_points() {
    let rng = SystemRandom::new();
    for (group, v) in [
        (DhGroup::Ecp256, &RFC5903_256),
        (DhGroup::Ecp384, &RFC5903_384),
        (DhGroup::Ecp521, &RFC5903_521),
    ] {
        let good = h(v.gr);
        let mut off_curve = good.clone();
        *off_curve.last_mut().unwrap() ^= 1;
        let mut x_too_big = good.clone();
        let n = x_too_big.len() / 2;
        x_too_big[..n].fill(0xff);
        let mut with_prefix = vec![0x04];
        with_prefix.extend_from_slice(&good);
        let bad = [
            ("off curve", off_curve),
            ("zeros (identity encoding)", vec![0u8; good.len()]),
            ("coordinate >= p", x_too_big),
            ("0x04 prefix", with_prefix),
            ("x only", good[..n].to_vec()),
            ("empty", Vec::new()),
        ];
        for (what, value) in bad {
            let kp = KeyPair::generate(group, &rng).unwrap();
            let err = kp.agree(&value).unwrap_err();
            assert!(
                matches!(err, CryptoError::InvalidPublicValue { group: g, .. } if g == group.id()),
                "{group:?} {what}: {err:?}"
            );
        }
        let kp = KeyPair::generate(group, &rng).unwrap();
        kp.agree(&good).unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// X25519: reference ladder (RFC 7748 §5) and RFC 7748 §6.1.

fn x25519_reference(scalar: &[u8], u: &[u8]) -> Vec<u8> {
    let params = FixedMontyParams::new_vartime(
        Odd::new(U256::from_be_hex(
            "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed",
        ))
        .unwrap(),
    );
    let le = |bytes: &[u8]| {
        let mut be: Vec<u8> = bytes.iter().rev().copied().collect();
        be[0] &= 0x7f;
        U256::from_be_slice(&be)
    };
    let f = |n: u64| FixedMontyForm::new(&U256::from_u64(n), &params);
    let mut k: Vec<u8> = scalar.to_vec();
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    let x1 = FixedMontyForm::new(&le(u), &params);
    let (mut x2, mut z2, mut x3, mut z3) = (f(1), f(0), x1, f(1));
    let mut swap = false;
    for t in (0..255).rev() {
        let bit = (k[t / 8] >> (t % 8)) & 1 == 1;
        if swap != bit {
            std::mem::swap(&mut x2, &mut x3);
            std::mem::swap(&mut z2, &mut z3);
        }
        swap = bit;
        let a = x2 + z2;
        let aa = a.square();
        let b = x2 - z2;
        let bb = b.square();
        let e = aa - bb;
        let c = x3 + z3;
        let d = x3 - z3;
        let da = d * a;
        let cb = c * b;
        x3 = (da + cb).square();
        z3 = x1 * (da - cb).square();
        x2 = aa * bb;
        z2 = e * (aa + f(121665) * e);
    }
    if swap {
        std::mem::swap(&mut x2, &mut x3);
        std::mem::swap(&mut z2, &mut z3);
    }
    let out = (x2 * z2.invert_vartime().unwrap_or(f(0))).retrieve();
    out.to_be_bytes().as_slice().iter().rev().copied().collect()
}

const ALICE_PRIVATE: &str = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const ALICE_PUBLIC: &str = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
const BOB_PRIVATE: &str = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
const BOB_PUBLIC: &str = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
const SHARED: &str = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

#[test]
fn x25519_rfc7748() {
    let mut base = vec![0u8; 32];
    base[0] = 9;
    assert_eq!(
        hex::encode(x25519_reference(&h(ALICE_PRIVATE), &base)),
        ALICE_PUBLIC
    );
    assert_eq!(
        hex::encode(x25519_reference(&h(BOB_PRIVATE), &base)),
        BOB_PUBLIC
    );
    assert_eq!(
        hex::encode(x25519_reference(&h(ALICE_PRIVATE), &h(BOB_PUBLIC))),
        SHARED
    );

    // Our ring-backed pair against Bob's RFC values.
    let rng = SystemRandom::new();
    let ours = DhGroup::Curve25519.generate(&rng).unwrap();
    let expected = x25519_reference(&h(BOB_PRIVATE), &ours.public);
    assert_eq!(
        ours.agree(&h(BOB_PUBLIC)).unwrap().as_bytes(),
        &expected[..]
    );
}

#[test]
fn x25519_rejects_small_order_points_and_wrong_lengths() {
    let rng = SystemRandom::new();
    // Points of small order (RFC 7748 §6.1 / libsodium's blocklist): all give an all-zero
    // shared secret, which must be refused (RFC 8031 §2.3).
    let small_order = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ];
    for value in small_order {
        let kp = DhGroup::Curve25519.generate(&rng).unwrap();
        assert_eq!(
            kp.agree(&h(value)),
            Err(CryptoError::DegenerateSharedSecret { group: 31 }),
            "{value}"
        );
    }
    for len in [0usize, 31, 33, 64] {
        let kp = DhGroup::Curve25519.generate(&rng).unwrap();
        assert!(matches!(
            kp.agree(&vec![9u8; len]),
            Err(CryptoError::InvalidPublicValue { group: 31, .. })
        ));
    }
}

#[test]
fn shared_secrets_are_secrets() {
    let rng = SystemRandom::new();
    let a = DhGroup::Ecp256.generate(&rng).unwrap();
    let b = DhGroup::Ecp256.generate(&rng).unwrap();
    let b_pub = b.public.clone();
    let s: Secret = a.agree(&b_pub).unwrap();
    assert!(format!("{s:?}").contains("redacted"));
}
