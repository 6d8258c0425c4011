//! Replays a captured IKEv1 exchange as a passive observer that knows the pre-shared key and the
//! Diffie-Hellman shared secrets (which charon logs; the private values never leave it).
//!
//! From those and the public values on the wire this module re-derives everything the two
//! peers derived — SKEYID, SKEYID_d/a/e, the phase-1 encryption key (RFC 2409 Appendix B), the
//! IV chains, HASH_I/HASH_R, quick-mode HASH(1)/(2)/(3), KEYMAT and the ESP keys — decrypts
//! every encrypted ISAKMP message and every ESP packet, and refuses to go on at the first hash
//! or ICV that does not verify. Every decrypted payload chain is also re-emitted and must give
//! the same bytes. It is the known-answer test of `ipsec_core::wire` and `ipsec_core::crypto`
//! together, and what the README's `decode-capture` example prints.

use std::collections::HashMap;
use std::net::SocketAddr;

use ipsec_core::crypto::esp::{EspEncryption, EspIntegrity, EspKeys, EspTransform, split_keymat};
use ipsec_core::crypto::ikev1::{
    IvChain, Phase1Auth, Phase1Keys, Phase1Transcript, informational_hash, keymat, qm_hash1,
    qm_hash2, qm_hash3, transaction_hash,
};
use ipsec_core::crypto::{Cipher, HashAlgorithm, Prf, Secret, ct_eq};
use ipsec_core::wire::{
    AuthMethod, Body, Cookie, Datagram, ExchangeType, Message, Payload, PayloadChain, PayloadType,
    Phase1Attribute, Phase2Attribute, ProtocolId, SecurityAssociation, TrailingBytes, classify,
    emit_chain, emit_message,
};

use crate::pcap::Capture;

/// What the observer knows besides the capture.
pub struct Secrets {
    /// The pre-shared key.
    pub psk: Secret,
    /// The phase-1 Diffie-Hellman shared secret g^xy.
    pub g_xy: Secret,
    /// The quick-mode (PFS) shared secrets, in the order of the quick modes that use PFS.
    pub pfs_g_xy: Vec<Secret>,
}

/// A replay that stopped: what went wrong, and at which captured frame.
#[derive(Debug)]
pub struct ReplayError {
    /// The capture's frame number (1-based), 0 if not tied to one.
    pub frame: usize,
    /// What went wrong.
    pub reason: String,
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "frame {}: {}", self.frame, self.reason)
    }
}

impl std::error::Error for ReplayError {}

fn fail<T>(frame: usize, reason: impl Into<String>) -> Result<T, ReplayError> {
    Err(ReplayError {
        frame,
        reason: reason.into(),
    })
}

/// Everything phase 1 produced.
#[derive(Debug)]
pub struct Phase1 {
    /// Main mode (identity protection) or aggressive mode.
    pub exchange: ExchangeType,
    /// The initiator's address.
    pub initiator: SocketAddr,
    /// CKY-I.
    pub cky_i: Cookie,
    /// CKY-R.
    pub cky_r: Cookie,
    /// The negotiated cipher.
    pub cipher: Cipher,
    /// The negotiated hash (used for the IVs).
    pub hash: HashAlgorithm,
    /// The PRF (HMAC of the hash).
    pub prf: Prf,
    /// The DH group number.
    pub group: u16,
    /// SKEYID..., the encryption key.
    pub keys: Phase1Keys,
    /// hash(g^xi | g^xr), truncated to the block size.
    pub initial_iv: Vec<u8>,
    /// HASH_I, as received and verified.
    pub hash_i: Vec<u8>,
    /// HASH_R, as received and verified.
    pub hash_r: Vec<u8>,
    /// The responder's address (of the first message, before any float to 4500).
    pub responder: SocketAddr,
    /// NAT-D payload bodies as received, in order, with whether the initiator sent them.
    pub nat_d: Vec<(bool, Vec<u8>)>,
}

/// One quick mode.
#[derive(Debug)]
pub struct QuickMode {
    /// Its message ID.
    pub message_id: u32,
    /// HASH(1), HASH(2), HASH(3) as received and verified.
    pub hashes: [Vec<u8>; 3],
    /// The PFS group, if any.
    pub pfs_group: Option<u16>,
    /// The negotiated ESP transform.
    pub transform: EspTransform,
    /// The encapsulation mode attribute (1 tunnel, 2 transport, 3/4 UDP, 61443/61444 drafts).
    pub encapsulation: Option<u16>,
    /// The initiator's SPI (the SA the initiator receives on).
    pub spi_i: u32,
    /// The responder's SPI.
    pub spi_r: u32,
    /// Keys of initiator→responder traffic (KEYMAT with the responder's SPI).
    pub keys_i_to_r: EspKeys,
    /// Keys of responder→initiator traffic (KEYMAT with the initiator's SPI).
    pub keys_r_to_i: EspKeys,
}

/// One informational or transaction exchange message.
#[derive(Debug)]
pub struct Informational {
    /// Frame number.
    pub frame: usize,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Message ID.
    pub message_id: u32,
    /// Payload types after HASH.
    pub payloads: Vec<PayloadType>,
    /// SPIs of Delete payloads, by protocol.
    pub deletes: Vec<(ProtocolId, Vec<Vec<u8>>)>,
}

/// One decrypted and authenticated ESP packet.
#[derive(Debug)]
pub struct EspPacket {
    /// Frame number.
    pub frame: usize,
    /// SPI.
    pub spi: u32,
    /// Sequence number.
    pub sequence: u32,
    /// Next header (4 = IPv4 in tunnel mode).
    pub next_header: u8,
    /// The inner packet.
    pub inner: Vec<u8>,
}

/// One ISAKMP message as seen.
#[derive(Debug)]
pub struct MessageSummary {
    /// Frame number.
    pub frame: usize,
    /// Sender.
    pub src: SocketAddr,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Message ID.
    pub message_id: u32,
    /// Whether it was encrypted.
    pub encrypted: bool,
    /// Its payloads (after decryption), one short description each (see [`describe`]).
    pub payloads: Vec<String>,
}

/// The result of a replay.
#[derive(Debug)]
pub struct Replay {
    /// Phase 1.
    pub phase1: Phase1,
    /// The quick modes, in order.
    pub quick_modes: Vec<QuickMode>,
    /// Informational and transaction messages.
    pub informational: Vec<Informational>,
    /// ESP packets.
    pub esp: Vec<EspPacket>,
    /// Every ISAKMP message.
    pub messages: Vec<MessageSummary>,
}

/// Phase-1 values collected from the messages as they come.
#[derive(Default)]
struct Phase1Collect {
    exchange: Option<ExchangeType>,
    initiator: Option<SocketAddr>,
    cky_i: Cookie,
    cky_r: Cookie,
    sai_b: Option<Vec<u8>>,
    chosen: Option<Vec<u8>>,
    g_xi: Option<Vec<u8>>,
    g_xr: Option<Vec<u8>>,
    ni_b: Option<Vec<u8>>,
    nr_b: Option<Vec<u8>>,
    idii_b: Option<Vec<u8>>,
    idir_b: Option<Vec<u8>>,
    hash_i: Option<Vec<u8>>,
    hash_r: Option<Vec<u8>>,
    responder: Option<SocketAddr>,
    nat_d: Vec<(bool, Vec<u8>)>,
}

/// The negotiated phase-1 suite, read from the responder's SA.
struct Suite {
    cipher: Cipher,
    hash: HashAlgorithm,
    group: u16,
}

/// State of one quick mode while it runs.
struct QuickCollect {
    messages: usize,
    hashes: Vec<Vec<u8>>,
    ni_b: Vec<u8>,
    nr_b: Vec<u8>,
    spi_i: Option<u32>,
    spi_r: Option<u32>,
    chosen: Option<(EspTransform, Option<u16>, Option<u16>)>,
}

/// Replays `capture`. Retransmitted (byte-identical) ISAKMP messages are skipped.
pub fn replay(capture: &Capture, secrets: &Secrets) -> Result<Replay, ReplayError> {
    let mut p1 = Phase1Collect::default();
    let mut keys: Option<(Phase1Keys, Suite, IvChain, Vec<u8>)> = None;
    let mut quick: HashMap<u32, QuickCollect> = HashMap::new();
    let mut quick_done = Vec::new();
    let mut informational = Vec::new();
    let mut messages = Vec::new();
    let mut esp = Vec::new();
    let mut seen: Vec<&[u8]> = Vec::new();
    let mut pfs = secrets.pfs_g_xy.iter();

    for d in &capture.udp {
        let frame = d.index;
        let local_port = d.dst.port();
        let datagram = match classify(local_port, &d.payload) {
            Ok(datagram) => datagram,
            Err(e) => return fail(frame, format!("UDP framing: {e}")),
        };
        let bytes = match datagram {
            Datagram::Ike(bytes) => bytes,
            Datagram::Esp { packet, .. } => {
                esp.push(decrypt_esp(frame, packet, &quick_done)?);
                continue;
            }
            _ => continue,
        };
        if seen.contains(&bytes) {
            continue;
        }
        seen.push(bytes);
        let message = Message::parse(bytes).or_else(|e| fail(frame, format!("ISAKMP: {e}")))?;
        let header = message.header;
        let from_initiator = match p1.initiator {
            None => {
                p1.initiator = Some(d.src);
                p1.responder = Some(d.dst);
                p1.exchange = Some(header.exchange_type);
                p1.cky_i = header.initiator_cookie;
                true
            }
            // By IP address only: the exchange floats from port 500 to 4500 (RFC 3947 §4).
            Some(initiator) => initiator.ip() == d.src.ip(),
        };
        if header.responder_cookie != [0; 8] {
            p1.cky_r = header.responder_cookie;
        }

        // Decrypt if needed; the phase-1 keys exist once both KEs and nonces went by.
        let mut plaintext = Vec::new();
        let chain = match &message.body {
            Body::Plain(chain) => chain.clone(),
            Body::Encrypted(ciphertext) => {
                if keys.is_none() {
                    keys = Some(derive_phase1(frame, &p1, secrets)?);
                }
                let Some((k, _, iv_chain, _)) = keys.as_mut() else {
                    return fail(frame, "no phase-1 keys");
                };
                plaintext.extend_from_slice(ciphertext);
                iv_chain
                    .decrypt(&k.encryption_key, header.message_id, &mut plaintext)
                    .or_else(|e| fail(frame, format!("decrypt: {e}")))?;
                iv_chain.confirm(header.message_id);
                PayloadChain::parse(header.next_payload, &plaintext, TrailingBytes::Allowed)
                    .or_else(|e| fail(frame, format!("decrypted payloads: {e}")))?
            }
        };
        let decoded = chain
            .decode()
            .or_else(|e| fail(frame, format!("payload: {e}")))?;
        check_re_emit(frame, &message, &chain, &decoded)?;
        messages.push(MessageSummary {
            frame,
            src: d.src,
            exchange: header.exchange_type,
            message_id: header.message_id,
            encrypted: header.flags.encrypted(),
            payloads: decoded.iter().map(describe).collect(),
        });

        if header.message_id == 0 {
            collect_phase1(&mut p1, &chain, from_initiator);
            continue;
        }
        // A phase-2 exchange: authenticated with SKEYID_a.
        if keys.is_none() {
            keys = Some(derive_phase1(frame, &p1, secrets)?);
        }
        let Some((k, _, _, _)) = keys.as_ref() else {
            return fail(frame, "no phase-1 keys");
        };
        let prf = k.prf;
        let skeyid_a = &k.skeyids.skeyid_a;
        let received = match chain.payloads().first().map(|p| (p.ty(), p.body())) {
            Some((PayloadType::Hash, h)) => h.to_vec(),
            _ => return fail(frame, "phase-2 message without HASH first"),
        };
        let rest = chain.bytes_from(1).unwrap_or_default();
        let mid = header.message_id;
        match header.exchange_type {
            ExchangeType::QuickMode => {
                let q = quick.entry(mid).or_insert_with(|| QuickCollect {
                    messages: 0,
                    hashes: Vec::new(),
                    ni_b: Vec::new(),
                    nr_b: Vec::new(),
                    spi_i: None,
                    spi_r: None,
                    chosen: None,
                });
                q.messages += 1;
                let nonce = chain
                    .find(PayloadType::Nonce)
                    .map(|p| p.body().to_vec())
                    .unwrap_or_default();
                let expected = match q.messages {
                    1 => {
                        q.ni_b = nonce;
                        q.spi_i = first_spi(&chain);
                        qm_hash1(prf, skeyid_a, mid, &[rest])
                    }
                    2 => {
                        q.nr_b = nonce;
                        q.spi_r = first_spi(&chain);
                        q.chosen = Some(chosen_esp(frame, &chain)?);
                        qm_hash2(prf, skeyid_a, mid, &q.ni_b, &[rest])
                    }
                    3 => qm_hash3(prf, skeyid_a, mid, &q.ni_b, &q.nr_b),
                    _ => return fail(frame, "fourth quick-mode message"),
                };
                if !ct_eq(&expected, &received) {
                    return fail(frame, format!("quick-mode HASH({}) mismatch", q.messages));
                }
                q.hashes.push(received);
                if q.messages == 3 {
                    let Some(q) = quick.remove(&mid) else {
                        return fail(frame, "quick mode vanished");
                    };
                    quick_done.push(finish_quick(frame, k, mid, q, &mut pfs)?);
                }
            }
            ExchangeType::Informational | ExchangeType::Transaction => {
                let expected = if header.exchange_type == ExchangeType::Informational {
                    informational_hash(prf, skeyid_a, mid, &[rest])
                } else {
                    transaction_hash(prf, skeyid_a, mid, &[rest])
                };
                if !ct_eq(&expected, &received) {
                    return fail(frame, "informational HASH(1) mismatch");
                }
                let deletes = decoded
                    .iter()
                    .filter_map(|p| match p {
                        Payload::Delete(del) => {
                            Some((del.protocol, del.spis().map(<[u8]>::to_vec).collect()))
                        }
                        _ => None,
                    })
                    .collect();
                informational.push(Informational {
                    frame,
                    exchange: header.exchange_type,
                    message_id: mid,
                    payloads: chain.iter().skip(1).map(|p| p.ty()).collect(),
                    deletes,
                });
            }
            other => return fail(frame, format!("unexpected exchange {other:?}")),
        }
    }

    let Some((keys, suite, _, initial_iv)) = keys else {
        return fail(0, "phase 1 never completed");
    };
    let phase1 = verify_phase1(&p1, keys, suite, initial_iv)?;
    Ok(Replay {
        phase1,
        quick_modes: quick_done,
        informational,
        esp,
        messages,
    })
}

/// Every decoded chain must emit back to the bytes it came from (without the cipher padding).
fn check_re_emit(
    frame: usize,
    message: &Message<'_>,
    chain: &PayloadChain<'_>,
    decoded: &[Payload<'_>],
) -> Result<(), ReplayError> {
    let mut out = Vec::new();
    let same = match message.body {
        Body::Plain(_) => {
            emit_message(&message.header, decoded, &mut out).is_ok() && out == message.bytes
        }
        Body::Encrypted(_) => emit_chain(decoded, &mut out).is_ok() && out == chain.bytes(),
    };
    if same {
        Ok(())
    } else {
        fail(frame, "re-emitted payloads differ from the received bytes")
    }
}

fn collect_phase1(p1: &mut Phase1Collect, chain: &PayloadChain<'_>, from_initiator: bool) {
    for p in chain {
        let body = Some(p.body().to_vec());
        match (p.ty(), from_initiator) {
            (PayloadType::SecurityAssociation, true) => p1.sai_b = body,
            (PayloadType::SecurityAssociation, false) => p1.chosen = body,
            (PayloadType::KeyExchange, true) => p1.g_xi = body,
            (PayloadType::KeyExchange, false) => p1.g_xr = body,
            (PayloadType::Nonce, true) => p1.ni_b = body,
            (PayloadType::Nonce, false) => p1.nr_b = body,
            (PayloadType::Identification, true) => p1.idii_b = body,
            (PayloadType::Identification, false) => p1.idir_b = body,
            (PayloadType::Hash, true) => p1.hash_i = body,
            (PayloadType::Hash, false) => p1.hash_r = body,
            (PayloadType::NatD | PayloadType::NatDDraft, by_initiator) => {
                p1.nat_d.push((by_initiator, p.body().to_vec()));
            }
            _ => {}
        }
    }
}

/// Reads the responder's chosen phase-1 transform.
fn phase1_suite(frame: usize, chosen_sa: &[u8]) -> Result<Suite, ReplayError> {
    let sa = SecurityAssociation::parse(chosen_sa).or_else(|e| fail(frame, format!("SA: {e}")))?;
    let Some(transform) = sa.proposals.first().and_then(|p| p.transforms.first()) else {
        return fail(frame, "responder's SA has no transform");
    };
    let (mut enc, mut key_bits, mut hash, mut group, mut auth) = (None, None, None, None, None);
    for attr in transform.phase1_attributes() {
        match attr.or_else(|e| fail(frame, format!("attribute: {e}")))? {
            Phase1Attribute::EncryptionAlgorithm(e) => enc = Some(e.value()),
            Phase1Attribute::KeyLength(k) => key_bits = Some(k),
            Phase1Attribute::HashAlgorithm(h) => hash = Some(h.value()),
            Phase1Attribute::GroupDescription(g) => group = Some(g.value()),
            Phase1Attribute::AuthenticationMethod(a) => auth = Some(a),
            _ => {}
        }
    }
    if auth != Some(AuthMethod::PreSharedKey) {
        return fail(
            frame,
            format!("only PSK captures are replayed, got {auth:?}"),
        );
    }
    let cipher = enc
        .and_then(|e| Cipher::from_ike(e, key_bits))
        .ok_or_else(|| ReplayError {
            frame,
            reason: format!("cipher {enc:?}/{key_bits:?}"),
        })?;
    let hash = hash
        .and_then(HashAlgorithm::from_ike_id)
        .ok_or_else(|| ReplayError {
            frame,
            reason: format!("hash {hash:?}"),
        })?;
    let Some(group) = group else {
        return fail(frame, "no group");
    };
    Ok(Suite {
        cipher,
        hash,
        group,
    })
}

fn need<'a>(frame: usize, v: &'a Option<Vec<u8>>, what: &str) -> Result<&'a [u8], ReplayError> {
    v.as_deref().ok_or_else(|| ReplayError {
        frame,
        reason: format!("{what} not seen before the first encrypted message"),
    })
}

fn derive_phase1(
    frame: usize,
    p1: &Phase1Collect,
    secrets: &Secrets,
) -> Result<(Phase1Keys, Suite, IvChain, Vec<u8>), ReplayError> {
    let suite = phase1_suite(frame, need(frame, &p1.chosen, "responder SA")?)?;
    let prf = Prf::hmac(suite.hash);
    let g_xi = need(frame, &p1.g_xi, "KEi")?;
    let g_xr = need(frame, &p1.g_xr, "KEr")?;
    let keys = Phase1Keys::derive(
        prf,
        suite.cipher,
        Phase1Auth::PreSharedKey(&secrets.psk),
        need(frame, &p1.ni_b, "Ni")?,
        need(frame, &p1.nr_b, "Nr")?,
        &secrets.g_xy,
        &p1.cky_i,
        &p1.cky_r,
    )
    .or_else(|e| fail(frame, format!("phase-1 keys: {e}")))?;
    let iv_chain = IvChain::new(suite.hash, suite.cipher, g_xi, g_xr);
    let initial_iv = iv_chain.phase1_iv().to_vec();
    Ok((keys, suite, iv_chain, initial_iv))
}

/// HASH_I and HASH_R (RFC 2409 §5) against what was received.
fn verify_phase1(
    p1: &Phase1Collect,
    keys: Phase1Keys,
    suite: Suite,
    initial_iv: Vec<u8>,
) -> Result<Phase1, ReplayError> {
    let transcript = Phase1Transcript {
        g_xi: need(0, &p1.g_xi, "KEi")?,
        g_xr: need(0, &p1.g_xr, "KEr")?,
        cky_i: p1.cky_i,
        cky_r: p1.cky_r,
        sai_b: need(0, &p1.sai_b, "SAi")?,
    };
    let hash_i = transcript.hash_i(keys.prf, &keys.skeyids.skeyid, need(0, &p1.idii_b, "IDii")?);
    let hash_r = transcript.hash_r(keys.prf, &keys.skeyids.skeyid, need(0, &p1.idir_b, "IDir")?);
    if !ct_eq(&hash_i, need(0, &p1.hash_i, "HASH_I")?) {
        return fail(0, "HASH_I mismatch");
    }
    if !ct_eq(&hash_r, need(0, &p1.hash_r, "HASH_R")?) {
        return fail(0, "HASH_R mismatch");
    }
    Ok(Phase1 {
        exchange: p1.exchange.unwrap_or(ExchangeType::IdentityProtection),
        initiator: p1
            .initiator
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        cky_i: p1.cky_i,
        cky_r: p1.cky_r,
        cipher: suite.cipher,
        hash: suite.hash,
        prf: keys.prf,
        group: suite.group,
        keys,
        initial_iv,
        hash_i,
        hash_r,
        responder: p1
            .responder
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        nat_d: p1.nat_d.clone(),
    })
}

/// The SPI of the first proposal of the SA payload in a quick-mode message.
fn first_spi(chain: &PayloadChain<'_>) -> Option<u32> {
    let sa =
        SecurityAssociation::parse(chain.find(PayloadType::SecurityAssociation)?.body()).ok()?;
    let spi: [u8; 4] = sa.proposals.first()?.spi.try_into().ok()?;
    Some(u32::from_be_bytes(spi))
}

/// The responder's chosen ESP transform, PFS group and encapsulation mode.
fn chosen_esp(
    frame: usize,
    chain: &PayloadChain<'_>,
) -> Result<(EspTransform, Option<u16>, Option<u16>), ReplayError> {
    let Some(sa) = chain.find(PayloadType::SecurityAssociation) else {
        return fail(frame, "quick-mode reply without SA");
    };
    let sa = SecurityAssociation::parse(sa.body()).or_else(|e| fail(frame, format!("SA: {e}")))?;
    let Some(proposal) = sa.proposals.first() else {
        return fail(frame, "no proposal");
    };
    if proposal.protocol != ProtocolId::Esp {
        return fail(frame, format!("protocol {:?}", proposal.protocol));
    }
    let Some(transform) = proposal.transforms.first() else {
        return fail(frame, "no transform");
    };
    let (mut key_bits, mut auth, mut group, mut encap) = (None, None, None, None);
    for attr in transform.phase2_attributes() {
        match attr.or_else(|e| fail(frame, format!("attribute: {e}")))? {
            Phase2Attribute::KeyLength(k) => key_bits = Some(k),
            Phase2Attribute::AuthenticationAlgorithm(a) => auth = Some(a.value()),
            Phase2Attribute::GroupDescription(g) => group = Some(g.value()),
            Phase2Attribute::EncapsulationMode(m) => encap = Some(m.value()),
            _ => {}
        }
    }
    let enc =
        EspEncryption::from_ike(transform.transform_id, key_bits).ok_or_else(|| ReplayError {
            frame,
            reason: format!("ESP transform {}", transform.transform_id),
        })?;
    let integ = EspIntegrity::from_ike(auth).ok_or_else(|| ReplayError {
        frame,
        reason: format!("ESP auth {auth:?}"),
    })?;
    let t = EspTransform::new(enc, integ).or_else(|e| fail(frame, e.to_string()))?;
    Ok((t, group, encap))
}

/// KEYMAT for both directions (RFC 2409 §5.5), with the PFS secret if the quick mode had KE.
fn finish_quick<'s>(
    frame: usize,
    k: &Phase1Keys,
    message_id: u32,
    q: QuickCollect,
    pfs: &mut impl Iterator<Item = &'s Secret>,
) -> Result<QuickMode, ReplayError> {
    let (Some(spi_i), Some(spi_r), Some((transform, pfs_group, encapsulation))) =
        (q.spi_i, q.spi_r, q.chosen)
    else {
        return fail(frame, "quick mode without SPIs or transform");
    };
    let pfs_secret = match pfs_group {
        Some(_) => Some(pfs.next().ok_or_else(|| ReplayError {
            frame,
            reason: "quick mode uses PFS but no PFS secret was given".into(),
        })?),
        None => None,
    };
    let esp = ProtocolId::Esp.value();
    let derive = |spi: u32| -> Result<EspKeys, ReplayError> {
        let km = keymat(
            k.prf,
            &k.skeyids.skeyid_d,
            pfs_secret,
            esp,
            &spi.to_be_bytes(),
            &q.ni_b,
            &q.nr_b,
            transform.keymat_len(),
        )
        .or_else(|e| fail(frame, format!("KEYMAT: {e}")))?;
        split_keymat(&km, &transform).or_else(|e| fail(frame, format!("ESP keys: {e}")))
    };
    let [h1, h2, h3]: [Vec<u8>; 3] = q
        .hashes
        .try_into()
        .or_else(|_| fail(frame, "quick mode without three hashes"))?;
    Ok(QuickMode {
        message_id,
        hashes: [h1, h2, h3],
        pfs_group,
        transform,
        encapsulation,
        spi_i,
        spi_r,
        keys_i_to_r: derive(spi_r)?,
        keys_r_to_i: derive(spi_i)?,
    })
}

/// Authenticates and decrypts one ESP packet (RFC 4303 §3.4) with the keys of its SPI.
fn decrypt_esp(frame: usize, packet: &[u8], sas: &[QuickMode]) -> Result<EspPacket, ReplayError> {
    let Some((header, rest)) = packet.split_first_chunk::<8>() else {
        return fail(frame, "ESP packet shorter than its header");
    };
    let spi = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let sequence = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    let Some((transform, keys)) = sas.iter().find_map(|q| {
        if q.spi_r == spi {
            Some((q.transform, &q.keys_i_to_r))
        } else if q.spi_i == spi {
            Some((q.transform, &q.keys_r_to_i))
        } else {
            None
        }
    }) else {
        return fail(frame, format!("ESP SPI {spi:08x} of no quick mode"));
    };
    let enc = transform.encryption;
    let Some((iv, rest)) = rest.split_at_checked(enc.iv_len()) else {
        return fail(frame, "ESP packet shorter than its IV");
    };
    let mut plaintext = if enc.is_aead() {
        let Ok(iv) = <[u8; 8]>::try_from(iv) else {
            return fail(frame, "GCM IV is not 8 bytes");
        };
        let mut buf = rest.to_vec();
        let len = enc
            .open_gcm(keys, &iv, header, &mut buf)
            .or_else(|e| fail(frame, format!("ESP GCM: {e}")))?
            .len();
        buf.truncate(len);
        buf
    } else {
        let integ = transform.integrity;
        let Some(split) = rest.len().checked_sub(integ.icv_len()) else {
            return fail(frame, "ESP packet shorter than its ICV");
        };
        let (ciphertext, icv) = rest.split_at(split);
        if !integ.verify(&keys.integrity, &[header, iv, ciphertext], icv) {
            return fail(frame, "ESP ICV mismatch");
        }
        let mut buf = ciphertext.to_vec();
        enc.decrypt_cbc(&keys.encryption, iv, &mut buf)
            .or_else(|e| fail(frame, format!("ESP decrypt: {e}")))?;
        buf
    };
    // Trailer: Padding (1, 2, 3, ...) | Pad Length | Next Header (RFC 4303 §2.4-2.6).
    let (Some(next_header), Some(pad_len)) = (plaintext.pop(), plaintext.pop()) else {
        return fail(frame, "ESP payload shorter than its trailer");
    };
    let Some(inner_len) = plaintext.len().checked_sub(usize::from(pad_len)) else {
        return fail(frame, "ESP pad length beyond the payload");
    };
    let padding_ok = plaintext
        .get(inner_len..)
        .is_some_and(|pad| pad.iter().zip(1u8..).all(|(&b, i)| b == i));
    if !padding_ok {
        return fail(frame, "ESP padding is not 1, 2, 3, ...");
    }
    plaintext.truncate(inner_len);
    Ok(EspPacket {
        frame,
        spi,
        sequence,
        next_header,
        inner: plaintext,
    })
}

/// A one-line description of a payload, for people reading a replay.
pub fn describe(payload: &Payload<'_>) -> String {
    use ipsec_core::wire::IdValue;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match payload {
        Payload::SecurityAssociation(sa) => {
            let proposals: Vec<String> = sa
                .proposals
                .iter()
                .map(|p| {
                    format!(
                        "#{} {:?} spi={} {} transform(s)",
                        p.number,
                        p.protocol,
                        hex::encode(p.spi),
                        p.transforms.len()
                    )
                })
                .collect();
            format!("SA[{}]", proposals.join(", "))
        }
        Payload::KeyExchange(ke) => format!("KE({} bytes)", ke.len()),
        Payload::Identification(id) => match id.value() {
            Ok(IdValue::Ipv4(a)) => format!("ID(ipv4 {a})"),
            Ok(IdValue::Ipv6(a)) => format!("ID(ipv6 {a})"),
            Ok(IdValue::Fqdn(f)) => format!("ID(fqdn {})", text(f)),
            Ok(IdValue::UserFqdn(f)) => format!("ID(user-fqdn {})", text(f)),
            Ok(IdValue::KeyId(k)) => format!("ID(key-id {})", text(k)),
            Ok(other) => format!("ID({other:?})"),
            Err(e) => format!("ID(invalid: {e})"),
        },
        Payload::Hash(h) => format!("HASH({} bytes)", h.len()),
        Payload::Signature(s) => format!("SIG({} bytes)", s.len()),
        Payload::Nonce(n) => format!("NONCE({} bytes)", n.len()),
        Payload::Notification(n) => format!("N({:?})", n.notify_type),
        Payload::Delete(d) => format!("D({:?}, {} SPI(s))", d.protocol, d.count()),
        Payload::VendorId(v) => match v.known() {
            Some(known) => format!("VID({known:?})"),
            None => "VID(unknown)".to_string(),
        },
        Payload::NatD(_) => "NAT-D".to_string(),
        Payload::NatOa(oa) => format!("NAT-OA({oa:?})"),
        other => format!("{:?}", other.ty()),
    }
}
