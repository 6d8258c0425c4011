//! Unit-level check of the derivation chain against a real strongSwan 5.9.8 exchange
//! (vectors/strongswan-mm-psk: main mode PSK, aes128-sha256-modp2048, quick mode
//! aes128-sha1 without PFS).
//!
//! Inputs and expected values come from the charon logs' hex dumps (parsed below); the
//! nonces of main mode and two ESP packets come from the capture (`tshark`). The full
//! pcap-driven test lives in the workspace `tests/` crate; this one pins the crypto layer:
//! SKEYID..Ka, the IVs, HASH_I/HASH_R, every CBC encryption and decryption of the
//! exchange, HASH(1..3), the informational HASH, KEYMAT and the ESP keys.

use ipsec_core::crypto::esp::{EspEncryption, EspIntegrity, EspTransform, split_keymat};
use ipsec_core::crypto::ikev1::{
    IvChain, Phase1Auth, Phase1Keys, Phase1Transcript, informational_hash, keymat, phase2_iv,
    qm_hash1, qm_hash2, qm_hash3,
};
use ipsec_core::crypto::{Cipher, HashAlgorithm, Prf, Secret, ct_eq};

const INITIATOR_LOG: &str =
    include_str!("../../vectors/strongswan-mm-psk/kat-charon-a-initiator.log");
const RESPONDER_LOG: &str =
    include_str!("../../vectors/strongswan-mm-psk/kat-charon-b-responder.log");

const PSK: &str = "ssp-interop-psk-1";
/// Main-mode nonce bodies (capture frames 3 and 4).
const NI_B: &str = "92d4649c2bcbce24e4965e04f1223ea4db14058e2ad702be6eff2bbf74920d27";
const NR_B: &str = "05f92aaa9d2e0fd8a2cf8366d2f9506ab66b568212da861a4b7644a68ac12f0b";
const QM_MID: u32 = 1454602273;
const INFO_MIDS: [u32; 2] = [3099192065, 2107335144];
/// ESP-in-UDP payloads of capture frames 10 (initiator -> responder) and 11 (back).
const ESP_FRAME_10: &str = "b05991d4000000017da29735126ea742406f44bc766ba80442b5e68a4198ffa6f3f1ca20aa377ec0309f595027ed8644ab7bc8f35d3ca1f7c1ebbfa15ba5c308984bf79170910dd9db2602c023378e4179ccdafe1931adc46e9ad843f4f778eef8db6421e95c1e5e9344cba16fd1190f72fba003db1d5d73bc064108f937caeb4d5ba97a";
const ESP_FRAME_11: &str = "5053b40000000001bb09a89198c55f5dd52fd57863aaac7e2d15eb264137d296ea6750bc6e6166d860f2775f63f77f5d5cfced5db48ee5d499550f19130ca7d70a3f2759d0d9d4c40db9d16a586cdf37342099880c4e6ccbd331497b90ac48594942041be70c3ca41adf8134fec0786b08d4c9cd64acbcfccfc03a5ae4803c79039a1e4a";

/// One charon hex dump: "<label> => N bytes @ 0x..." followed by "  off: XX XX ...  ascii".
struct Dump {
    /// 0-based line of the "=> N bytes" header.
    line: usize,
    label: String,
    bytes: Vec<u8>,
}

/// The text after charon's "<conn|n> " tag (or after the "[SUBSYS] " part if untagged).
fn message(line: &str) -> &str {
    if let Some(i) = line.find("> ") {
        &line[i + 2..]
    } else if let Some(i) = line.find("] ") {
        &line[i + 2..]
    } else {
        line
    }
}

fn parse_dumps(log: &str) -> Vec<Dump> {
    let mut dumps: Vec<Dump> = Vec::new();
    let mut in_dump = false;
    for (lineno, line) in log.lines().enumerate() {
        let msg = message(line);
        if let Some((label, rest)) = msg.split_once(" => ")
            && rest.contains(" bytes @ ")
        {
            dumps.push(Dump {
                line: lineno,
                label: label.trim().to_string(),
                bytes: Vec::new(),
            });
            in_dump = true;
            continue;
        }
        let trimmed = msg.trim_start();
        let hex_line = trimmed
            .split_once(": ")
            .filter(|(off, _)| !off.is_empty() && off.bytes().all(|b| b.is_ascii_digit()));
        match (in_dump, hex_line) {
            (true, Some((_, data))) => {
                // 16 bytes "XX " take at most 47 characters; the ASCII column follows.
                let hex_part: String = data.chars().take(47).collect();
                let dump = dumps.last_mut().expect("in a dump");
                for tok in hex_part.split_whitespace() {
                    dump.bytes
                        .push(u8::from_str_radix(tok, 16).expect("hex byte in dump"));
                }
            }
            _ => in_dump = false,
        }
    }
    dumps
}

struct Log {
    text: String,
    dumps: Vec<Dump>,
}

impl Log {
    fn new(text: &str) -> Self {
        Log {
            text: text.to_string(),
            dumps: parse_dumps(text),
        }
    }

    /// The payload data of the first NONCE_V1 payload that charon generated (`generating`) or
    /// parsed (`parsing`): the dump that follows the payload's "rule 10 CHUNK_DATA" line.
    fn nonce(&self, verb: &str) -> &[u8] {
        let start = self
            .text
            .lines()
            .position(|l| {
                l.contains(&format!("{verb} payload of type NONCE_V1"))
                    || l.contains(&format!("{verb} NONCE_V1 payload,"))
            })
            .unwrap_or_else(|| panic!("no {verb} NONCE_V1"));
        let chunk = self
            .text
            .lines()
            .enumerate()
            .skip(start)
            .find(|(_, l)| l.contains("rule 10 CHUNK_DATA"))
            .map(|(i, _)| i)
            .expect("nonce CHUNK_DATA rule");
        &self
            .dumps
            .iter()
            .find(|d| d.line > chunk)
            .expect("nonce dump")
            .bytes
    }

    /// The first message ID other than 0 that has an IV logged (the quick mode).
    fn first_phase2_mid(&self) -> u32 {
        self.dumps
            .iter()
            .filter_map(|d| d.label.strip_prefix("next IV for MID "))
            .map(|mid| mid.parse::<u32>().expect("MID"))
            .find(|&mid| mid != 0)
            .expect("a phase-2 exchange")
    }

    /// The `nth` (0-based) dump with this label.
    fn get(&self, label: &str, nth: usize) -> &[u8] {
        &self
            .dumps
            .iter()
            .filter(|d| d.label == label)
            .nth(nth)
            .unwrap_or_else(|| panic!("no dump #{nth} labelled {label:?}"))
            .bytes
    }
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// Total length of the ISAKMP payload chain at the start of `buf` (padding excluded).
fn payload_chain_len(buf: &[u8]) -> usize {
    let mut off = 0;
    loop {
        let next = buf[off];
        let len = u16::from_be_bytes([buf[off + 2], buf[off + 3]]) as usize;
        off += len;
        if next == 0 {
            return off;
        }
    }
}

struct Fixture {
    log: Log,
    keys: Phase1Keys,
    g_xy: Secret,
    hash_i_data: Vec<u8>,
}

impl Fixture {
    fn new() -> Self {
        let log = Log::new(INITIATOR_LOG);
        let g_xy = Secret::from_slice(log.get("shared Diffie Hellman secret", 0));
        assert_eq!(g_xy.len(), 256);
        let hash_i_data = log.get("HASH_I data", 0).to_vec();
        assert_eq!(hash_i_data.len(), 588);
        let psk = Secret::from(PSK);
        let keys = Phase1Keys::derive(
            Prf::HmacSha256,
            Cipher::AesCbc128,
            Phase1Auth::PreSharedKey(&psk),
            &h(NI_B),
            &h(NR_B),
            &g_xy,
            &hash_i_data[512..520].try_into().unwrap(),
            &hash_i_data[520..528].try_into().unwrap(),
        )
        .unwrap();
        Fixture {
            log,
            keys,
            g_xy,
            hash_i_data,
        }
    }

    fn transcript(&self) -> Phase1Transcript<'_> {
        let d = &self.hash_i_data;
        Phase1Transcript {
            g_xi: &d[0..256],
            g_xr: &d[256..512],
            cky_i: d[512..520].try_into().unwrap(),
            cky_r: d[520..528].try_into().unwrap(),
            sai_b: &d[528..580],
        }
    }
}

#[test]
fn skeyid_chain_and_encryption_key() {
    let f = Fixture::new();
    let s = &f.keys.skeyids;
    assert_eq!(s.skeyid.as_bytes(), f.log.get("SKEYID", 0));
    assert_eq!(s.skeyid_d.as_bytes(), f.log.get("SKEYID_d", 0));
    assert_eq!(s.skeyid_a.as_bytes(), f.log.get("SKEYID_a", 0));
    assert_eq!(s.skeyid_e.as_bytes(), f.log.get("SKEYID_e", 0));
    assert_eq!(
        f.keys.encryption_key.as_bytes(),
        f.log.get("encryption key Ka", 0)
    );
    assert_eq!(f.g_xy.len(), 256);

    // The responder derived the same values.
    let r = Log::new(RESPONDER_LOG);
    assert_eq!(s.skeyid.as_bytes(), r.get("SKEYID", 0));
    assert_eq!(s.skeyid_e.as_bytes(), r.get("SKEYID_e", 0));
    assert_eq!(
        f.keys.encryption_key.as_bytes(),
        r.get("encryption key Ka", 0)
    );
    assert_eq!(r.get("initial IV", 0), f.log.get("initial IV", 0));
}

#[test]
fn initial_iv_and_hash_i_hash_r() {
    let f = Fixture::new();
    let t = f.transcript();
    assert_eq!(
        t.phase1_iv(HashAlgorithm::Sha256, 16),
        f.log.get("initial IV", 0)
    );

    let idii_b = &f.hash_i_data[580..588];
    let hash_i = t.hash_i(Prf::HmacSha256, &f.keys.skeyids.skeyid, idii_b);
    assert!(ct_eq(&hash_i, f.log.get("HASH_I", 0)));

    let hash_r_data = f.log.get("HASH_R data", 0);
    assert_eq!(hash_r_data.len(), 588);
    let idir_b = &hash_r_data[580..588];
    let hash_r = t.hash_r(Prf::HmacSha256, &f.keys.skeyids.skeyid, idir_b);
    assert_eq!(hash_r, f.log.get("HASH_R", 0));
}

/// Encrypts the `n`th logged "plain" + `pad`th "padding" with the chain and checks the IV
/// used (`iv`th "IV" dump) and the ciphertext (`n`th "encrypted").
fn check_outbound(
    log: &Log,
    ivs: &mut IvChain,
    ka: &Secret,
    mid: u32,
    iv: usize,
    n: usize,
    pad: usize,
) {
    assert_eq!(ivs.current_iv(mid), log.get("IV", iv), "IV #{iv}");
    let mut buf = log.get("plain", n).to_vec();
    buf.extend_from_slice(log.get("padding", pad));
    ivs.encrypt(ka, mid, &mut buf).unwrap();
    assert_eq!(buf, log.get("encrypted", n), "encrypted #{n}");
}

/// Decrypts the `n`th logged "encrypted" and checks it against the `n`th "plain".
fn check_inbound(log: &Log, ivs: &mut IvChain, ka: &Secret, mid: u32, n: usize) {
    let mut buf = log.get("encrypted", n).to_vec();
    ivs.decrypt(ka, mid, &mut buf).unwrap();
    assert_eq!(buf, log.get("plain", n), "plain #{n}");
}

/// Replays every encrypted message of the initiator's side through one IvChain. In the
/// initiator log the "plain"/"encrypted" dumps are, in order: MM5, MM6, QM1, QM2, QM3 and
/// two informational deletes; "IV" and "padding" appear only for outbound messages.
#[test]
fn iv_chain_and_cbc_over_the_whole_exchange() {
    let f = Fixture::new();
    let log = &f.log;
    let t = f.transcript();
    let ka = &f.keys.encryption_key;
    let mut ivs = IvChain::new(HashAlgorithm::Sha256, Cipher::AesCbc128, t.g_xi, t.g_xr);
    assert_eq!(ivs.phase1_iv(), log.get("initial IV", 0));

    // Main mode 5 (ours) and 6 (theirs).
    check_outbound(log, &mut ivs, ka, 0, 0, 0, 0);
    assert_eq!(ivs.current_iv(0), log.get("next IV for MID 0", 0));
    check_inbound(log, &mut ivs, ka, 0, 1);
    assert!(ivs.confirm(0));
    assert_eq!(ivs.phase1_iv(), log.get("next IV for MID 0", 1));

    // Quick mode: the first IV is hash(last phase-1 block | M-ID), then chained.
    let qm_label = format!("next IV for MID {QM_MID}");
    assert_eq!(ivs.current_iv(QM_MID), log.get(&qm_label, 0));
    check_outbound(log, &mut ivs, ka, QM_MID, 1, 2, 1); // QM1
    assert_eq!(ivs.current_iv(QM_MID), log.get(&qm_label, 1));
    // QM2 arrives. Until it is confirmed (its HASH(2) checked) the chain does not move.
    check_inbound(log, &mut ivs, ka, QM_MID, 3);
    assert_eq!(ivs.current_iv(QM_MID), log.get(&qm_label, 1));
    assert!(ivs.confirm(QM_MID));
    assert!(!ivs.confirm(QM_MID), "nothing left to confirm");
    assert_eq!(ivs.current_iv(QM_MID), log.get(&qm_label, 2));
    check_outbound(log, &mut ivs, ka, QM_MID, 2, 4, 2); // QM3
    assert_eq!(ivs.current_iv(QM_MID), log.get(&qm_label, 3));
    ivs.forget(QM_MID);

    // The two informational exchanges (deletes) each start a chain from phase 1.
    for (n, mid) in INFO_MIDS.into_iter().enumerate() {
        assert_eq!(
            ivs.current_iv(mid),
            log.get(&format!("next IV for MID {mid}"), 0)
        );
        check_outbound(log, &mut ivs, ka, mid, 3 + n, 5 + n, 3 + n);
        ivs.forget(mid);
    }
    // Phase 1 was not touched by the later exchanges.
    assert_eq!(ivs.phase1_iv(), log.get("next IV for MID 0", 1));
}

#[test]
fn quick_mode_and_informational_hashes() {
    let f = Fixture::new();
    let log = &f.log;
    let prf = Prf::HmacSha256;
    let skeyid_a = &f.keys.skeyids.skeyid_a;
    let seed = log.get("initiator SA seed", 0);
    let (ni_b, nr_b) = (&seed[5..37], &seed[37..69]);

    // HASH(1): QM1 plain is HASH(4 + 32) followed by the rest, no padding in the dump.
    let qm1 = log.get("plain", 2);
    assert_eq!(payload_chain_len(qm1), qm1.len());
    let hash1 = qm_hash1(prf, skeyid_a, QM_MID, &[&qm1[36..]]);
    assert_eq!(hash1, log.get("Hash(1)", 0));
    assert_eq!(&qm1[4..36], &hash1[..]);

    // HASH(2): QM2 plain (decrypted, padding included).
    let qm2 = log.get("plain", 3);
    let end = payload_chain_len(qm2);
    let hash2 = qm_hash2(prf, skeyid_a, QM_MID, ni_b, &[&qm2[36..end]]);
    assert_eq!(hash2, log.get("Hash(2)", 0));
    assert!(ct_eq(&qm2[4..36], &hash2));

    // HASH(3).
    let hash3 = qm_hash3(prf, skeyid_a, QM_MID, ni_b, nr_b);
    assert_eq!(hash3, log.get("Hash(3)", 0));
    assert_eq!(&log.get("plain", 4)[4..36], &hash3[..]);

    // Informational HASH(1) of the two deletes.
    for (n, mid) in INFO_MIDS.into_iter().enumerate() {
        let msg = log.get("plain", 5 + n);
        let hash = informational_hash(prf, skeyid_a, mid, &[&msg[36..]]);
        assert_eq!(hash, log.get("Hash", n), "informational {mid}");
    }
}

#[test]
fn keymat_and_esp_packets() {
    let f = Fixture::new();
    let log = &f.log;
    let transform = EspTransform::new(EspEncryption::AesCbc128, EspIntegrity::HmacSha1_96).unwrap();
    assert_eq!(transform.keymat_len(), 36);

    let mut keys = Vec::new();
    for dir in ["initiator", "responder"] {
        let seed = log.get(&format!("{dir} SA seed"), 0);
        assert_eq!(seed.len(), 69);
        assert_eq!(seed[0], 3, "protocol ESP");
        let km = keymat(
            Prf::HmacSha256,
            &f.keys.skeyids.skeyid_d,
            None,
            seed[0],
            &seed[1..5],
            &seed[5..37],
            &seed[37..69],
            transform.keymat_len(),
        )
        .unwrap();
        let esp = split_keymat(&km, &transform).unwrap();
        assert_eq!(
            esp.encryption.as_bytes(),
            log.get(&format!("encryption {dir} key"), 0)
        );
        assert_eq!(
            esp.integrity.as_bytes(),
            log.get(&format!("integrity {dir} key"), 0)
        );
        assert!(esp.salt.is_none());
        keys.push((seed[1..5].to_vec(), esp));
    }

    // Authenticate and decrypt the first ESP packet in each direction (RFC 4303 §2, RFC 3602:
    // SPI | seq | IV(16) | ciphertext | ICV(12)).
    for (frame, (spi, esp)) in [ESP_FRAME_10, ESP_FRAME_11].iter().zip(&keys) {
        let pkt = h(frame);
        assert_eq!(
            &pkt[0..4],
            &spi[..],
            "the initiator keys go with the initiator's outbound SPI"
        );
        let icv_at = pkt.len() - 12;
        assert!(
            transform
                .integrity
                .verify(&esp.integrity, &[&pkt[..icv_at]], &pkt[icv_at..])
        );
        let mut body = pkt[24..icv_at].to_vec();
        transform
            .encryption
            .decrypt_cbc(&esp.encryption, &pkt[8..24], &mut body)
            .unwrap();
        let next_header = body[body.len() - 1];
        let pad_len = body[body.len() - 2] as usize;
        assert_eq!(next_header, 4, "IPv4 in tunnel mode");
        // Self-describing padding 1, 2, 3, ... (RFC 4303 §2.4).
        let pad = &body[body.len() - 2 - pad_len..body.len() - 2];
        assert!(pad.iter().enumerate().all(|(i, &b)| b as usize == i + 1));
        // Inner IPv4: 198.51.100.1 <-> 203.0.113.1.
        assert_eq!(body[0] >> 4, 4);
        let (src, dst) = (&body[12..16], &body[16..20]);
        assert!(
            (src == [198, 51, 100, 1] && dst == [203, 0, 113, 1])
                || (src == [203, 0, 113, 1] && dst == [198, 51, 100, 1])
        );
    }
}

/// The settings of one capture directory (from its README).
struct Capture {
    dir: &'static str,
    log: &'static str,
    psk: &'static str,
    prf: Prf,
    hash: HashAlgorithm,
    cipher: Cipher,
    public_len: usize,
    esp: EspTransform,
    /// Length of the quick-mode DH secret with PFS.
    pfs_len: Option<usize>,
}

fn captures() -> Vec<Capture> {
    use EspEncryption as E;
    use EspIntegrity as I;
    let esp = |e, i| EspTransform::new(e, i).unwrap();
    vec![
        Capture {
            dir: "strongswan-mm-psk",
            log: "kat-charon-a-initiator.log",
            psk: PSK,
            prf: Prf::HmacSha256,
            hash: HashAlgorithm::Sha256,
            cipher: Cipher::AesCbc128,
            public_len: 256,
            esp: esp(E::AesCbc128, I::HmacSha1_96),
            pfs_len: None,
        },
        Capture {
            dir: "strongswan-am-aes256-sha1-modp1024",
            log: "initiator.log",
            psk: "ikv-capture-psk-1",
            prf: Prf::HmacSha1,
            hash: HashAlgorithm::Sha1,
            cipher: Cipher::AesCbc256,
            public_len: 128,
            esp: esp(E::AesCbc256, I::HmacSha1_96),
            pfs_len: None,
        },
        Capture {
            dir: "strongswan-am-keyid-aes128-sha256-modp2048",
            log: "initiator.log",
            psk: "ikv-capture-psk-5",
            prf: Prf::HmacSha256,
            hash: HashAlgorithm::Sha256,
            cipher: Cipher::AesCbc128,
            public_len: 256,
            esp: esp(E::AesCbc128, I::HmacSha256_128),
            pfs_len: None,
        },
        Capture {
            dir: "strongswan-mm-3des-md5-modp1536",
            log: "initiator.log",
            psk: "ikv-capture-psk-2",
            prf: Prf::HmacMd5,
            hash: HashAlgorithm::Md5,
            cipher: Cipher::TripleDesCbc,
            public_len: 192,
            esp: esp(E::TripleDesCbc, I::HmacMd5_96),
            pfs_len: None,
        },
        Capture {
            dir: "strongswan-mm-3des-sha1-modp2048-pfs",
            log: "initiator.log",
            psk: "ikv-capture-psk-4",
            prf: Prf::HmacSha1,
            hash: HashAlgorithm::Sha1,
            cipher: Cipher::TripleDesCbc,
            public_len: 256,
            esp: esp(E::AesCbc256, I::HmacSha256_128),
            pfs_len: Some(256),
        },
        Capture {
            dir: "strongswan-mm-ecp256-pfs",
            log: "initiator.log",
            psk: "ikv-capture-psk-3",
            prf: Prf::HmacSha256,
            hash: HashAlgorithm::Sha256,
            cipher: Cipher::AesCbc128,
            public_len: 64,
            esp: esp(E::AesGcm16_128, I::None),
            pfs_len: Some(32),
        },
    ]
}

/// Length of SAi_b at the start of `data`: DOI (4), situation (4), then the chain of
/// proposal payloads (each with its generic header).
fn sa_body_len(data: &[u8]) -> usize {
    8 + payload_chain_len(&data[8..])
}

/// Every capture (main and aggressive mode; MD5, SHA-1, SHA-256; 3DES with Appendix B
/// expansion from 16- and 20-byte SKEYID_e, AES-256 from a 20-byte SKEYID_e; PFS with MODP
/// and ECP; AES-GCM with its salt): the chain from g^xy and the nonces to the ESP keys.
#[test]
fn every_capture_derivation_chain() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../vectors");
    for cap in captures() {
        let path = format!("{root}/{}/{}", cap.dir, cap.log);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let log = Log::new(&text);
        let ctx = cap.dir;

        let g_xy = Secret::from_slice(log.get("shared Diffie Hellman secret", 0));
        let (ni_b, nr_b) = (
            log.nonce("generating").to_vec(),
            log.nonce("parsing").to_vec(),
        );
        assert!(ni_b.len() >= 8 && nr_b.len() >= 8, "{ctx}: nonces");
        let data = log.get("HASH_I data", 0);
        let n = cap.public_len;
        let t = Phase1Transcript {
            g_xi: &data[..n],
            g_xr: &data[n..2 * n],
            cky_i: data[2 * n..2 * n + 8].try_into().unwrap(),
            cky_r: data[2 * n + 8..2 * n + 16].try_into().unwrap(),
            sai_b: &data[2 * n + 16..2 * n + 16 + sa_body_len(&data[2 * n + 16..])],
        };
        let idii_b = &data[2 * n + 16 + t.sai_b.len()..];

        let psk = Secret::from(cap.psk);
        let keys = Phase1Keys::derive(
            cap.prf,
            cap.cipher,
            Phase1Auth::PreSharedKey(&psk),
            &ni_b,
            &nr_b,
            &g_xy,
            &t.cky_i,
            &t.cky_r,
        )
        .unwrap();
        let s = &keys.skeyids;
        assert_eq!(s.skeyid.as_bytes(), log.get("SKEYID", 0), "{ctx}: SKEYID");
        assert_eq!(
            s.skeyid_d.as_bytes(),
            log.get("SKEYID_d", 0),
            "{ctx}: SKEYID_d"
        );
        assert_eq!(
            s.skeyid_a.as_bytes(),
            log.get("SKEYID_a", 0),
            "{ctx}: SKEYID_a"
        );
        assert_eq!(
            s.skeyid_e.as_bytes(),
            log.get("SKEYID_e", 0),
            "{ctx}: SKEYID_e"
        );
        assert_eq!(
            keys.encryption_key.as_bytes(),
            log.get("encryption key Ka", 0),
            "{ctx}: Ka"
        );
        assert_eq!(
            t.phase1_iv(cap.hash, cap.cipher.block_len()),
            log.get("initial IV", 0),
            "{ctx}: initial IV"
        );
        assert_eq!(
            t.hash_i(cap.prf, &s.skeyid, idii_b),
            log.get("HASH_I", 0),
            "{ctx}: HASH_I"
        );
        let r_data = log.get("HASH_R data", 0);
        let idir_b = &r_data[2 * n + 16 + t.sai_b.len()..];
        assert_eq!(
            t.hash_r(cap.prf, &s.skeyid, idir_b),
            log.get("HASH_R", 0),
            "{ctx}: HASH_R"
        );

        // The first quick-mode IV follows from the final phase-1 IV.
        let mid = log.first_phase2_mid();
        let p1_ivs = log
            .dumps
            .iter()
            .filter(|d| d.label == "next IV for MID 0")
            .count();
        let last_p1 = log.get("next IV for MID 0", p1_ivs - 1);
        assert_eq!(
            phase2_iv(cap.hash, last_p1, mid, cap.cipher.block_len()),
            log.get(&format!("next IV for MID {mid}"), 0),
            "{ctx}: phase-2 IV"
        );

        // Quick mode: HASH(3) and KEYMAT from the SA seeds
        // ([g(qm)^xy |] protocol | SPI | Ni_b | Nr_b).
        let pfs_len = cap.pfs_len.unwrap_or(0);
        let pfs = cap
            .pfs_len
            .map(|_| Secret::from_slice(log.get("DH secret", 0)));
        for dir in ["initiator", "responder"] {
            let seed = log.get(&format!("{dir} SA seed"), 0);
            let (gqm, rest) = seed.split_at(pfs_len);
            if let Some(pfs) = &pfs {
                assert_eq!(gqm, pfs.as_bytes(), "{ctx}: PFS secret in the seed");
            }
            let (proto, spi, nonces) = (rest[0], &rest[1..5], &rest[5..]);
            let (qni, qnr) = nonces.split_at(nonces.len() / 2);
            if dir == "initiator" {
                assert_eq!(
                    qm_hash3(cap.prf, &s.skeyid_a, mid, qni, qnr),
                    log.get("Hash(3)", 0),
                    "{ctx}: HASH(3)"
                );
            }
            let km = keymat(
                cap.prf,
                &s.skeyid_d,
                pfs.as_ref(),
                proto,
                spi,
                qni,
                qnr,
                cap.esp.keymat_len(),
            )
            .unwrap();
            let esp = split_keymat(&km, &cap.esp).unwrap();
            // strongSwan logs the GCM salt as part of the encryption key.
            let mut enc = esp.encryption.as_bytes().to_vec();
            if let Some(salt) = &esp.salt {
                enc.extend_from_slice(salt.as_bytes());
            }
            assert_eq!(
                enc,
                log.get(&format!("encryption {dir} key"), 0),
                "{ctx}: {dir} encryption key"
            );
            if cap.esp.integrity != EspIntegrity::None {
                assert_eq!(
                    esp.integrity.as_bytes(),
                    log.get(&format!("integrity {dir} key"), 0),
                    "{ctx}: {dir} integrity key"
                );
            }
        }
    }
}
