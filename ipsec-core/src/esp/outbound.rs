//! [`Outbound`]: ESP encapsulation for one outbound SA (RFC 4303 §3.1-3.3).

use core::fmt;

use ring::rand::SecureRandom;

use crate::crypto::esp::EspEncryption;
use crate::proposal::phase2::Mode;

use super::ip::{self, protocol};
use super::keys::{CbcEncrypt, IvGenerator, Keyed, MAX_ICV, Protection};
use super::lifetime::Lifetime;
use super::{Counters, EspError, Expiry, SaConfig, trailer};

/// Without ESN, the soft expiry that warns of the end of the 32-bit sequence space: 15/16 of
/// it used. At 1 Mpacket/s that leaves about 4.5 minutes for the rekey.
const SEQUENCE_SOFT_LIMIT: u64 = 0xF000_0000;

/// The largest payload [`Outbound::encapsulate_dummy`] generates (an IP packet's length).
const MAX_DUMMY_LEN: usize = 65535;

/// What [`Outbound::encapsulate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Encapsulated {
    /// The sequence number used (the full 64 bits with ESN; only the low 32 are sent).
    pub sequence: u64,
    /// A lifetime limit this packet reached, reported once per limit: tell the engine
    /// (`Engine::sa_expired(now, spi, expiry == Expiry::Hard)`).
    pub expiry: Option<Expiry>,
}

/// The payload to protect: borrowed bytes, or zeros for a dummy packet.
#[derive(Clone, Copy)]
enum Payload<'a> {
    Bytes(&'a [u8]),
    Zeros(usize),
}

impl Payload<'_> {
    fn len(self) -> usize {
        match self {
            Payload::Bytes(b) => b.len(),
            Payload::Zeros(n) => n,
        }
    }

    fn write(self, out: &mut Vec<u8>) {
        match self {
            Payload::Bytes(b) => out.extend_from_slice(b),
            Payload::Zeros(n) => out.resize(out.len() + n, 0),
        }
    }
}

/// One outbound ESP SA: sequence numbers, IVs, padding, encryption and ICV.
///
/// Created once per SA with its keys expanded; [`Outbound::encapsulate`] then allocates
/// nothing when `out` already has room for the packet (an MTU-sized buffer reused across
/// calls).
pub struct Outbound {
    spi: u32,
    mode: Mode,
    esn: bool,
    encryption: EspEncryption,
    icv_len: usize,
    protection: Keyed<CbcEncrypt>,
    /// CBC only; boxed so that AES-GCM SAs (most of them) do not carry its key schedule
    /// (176 bytes per SA in an SA table of 100,000).
    iv: Option<Box<IvGenerator>>,
    /// The next sequence number to send (RFC 4303 §3.3.3: the first packet carries 1).
    next: u64,
    /// Every sequence number was used.
    exhausted: bool,
    lifetime: Lifetime,
    counters: Counters,
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No key material.
        f.debug_struct("Outbound")
            .field("spi", &format_args!("{:08x}", self.spi))
            .field("mode", &self.mode)
            .field("encryption", &self.encryption.name())
            .field("esn", &self.esn)
            .field("next", &self.next)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// Expands the keys of `config`. `rng` is used here only: CBC transforms draw the key of
    /// their IV generator from it (see the module docs); GCM and NULL need no randomness.
    pub fn new(config: &SaConfig, rng: &dyn SecureRandom) -> Result<Self, EspError> {
        if config.spi == 0 {
            return Err(EspError::InvalidConfig("SPI 0 is reserved"));
        }
        let t = config.transform;
        let protection = Keyed::new(&t, &config.keys)?;
        let cbc = !t.encryption.is_aead() && t.encryption != EspEncryption::Null;
        let iv = match cbc {
            true => Some(Box::new(IvGenerator::new(rng)?)),
            false => None,
        };
        Ok(Outbound {
            spi: config.spi,
            mode: config.mode,
            esn: config.esn,
            encryption: t.encryption,
            icv_len: if t.encryption.is_aead() {
                16
            } else {
                t.integrity.icv_len()
            },
            protection,
            iv,
            next: 1,
            exhausted: false,
            lifetime: Lifetime::new(config.lifetime),
            counters: Counters::default(),
        })
    }

    /// Protects one IP packet (v4 or v6, its IP length consistent with `packet`).
    ///
    /// Tunnel mode: the whole packet is the payload, Next Header 4 or 41. Transport mode: the
    /// payload after the IP header (IPv4 options skipped; IPv6 without extension headers) is
    /// protected with Next Header = the original protocol; the caller builds the outer IP
    /// header with protocol 50 (or UDP 4500).
    ///
    /// `out` is cleared and receives exactly the ESP packet: SPI, sequence number, IV,
    /// ciphertext (payload, padding, Pad Length, Next Header) and ICV, ready for a raw IP
    /// protocol 50 socket or, unchanged, a UDP 4500 socket (RFC 3948 §2.1: ESP-in-UDP has no
    /// marker). On error `out` is empty.
    pub fn encapsulate(
        &mut self,
        packet: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Encapsulated, EspError> {
        let split = match self.mode {
            Mode::Tunnel => ip::tunnel_payload(packet),
            Mode::Transport => ip::transport_payload(packet),
        };
        let result = split.and_then(|(next_header, payload)| {
            self.seal(Payload::Bytes(payload), next_header, out)
        });
        self.finish(result, out)
    }

    /// Protects `payload` as is with the given Next Header, for embedders that split the
    /// headers themselves.
    pub fn encapsulate_payload(
        &mut self,
        payload: &[u8],
        next_header: u8,
        out: &mut Vec<u8>,
    ) -> Result<Encapsulated, EspError> {
        let result = self.seal(Payload::Bytes(payload), next_header, out);
        self.finish(result, out)
    }

    /// A dummy packet (RFC 4303 §2.6: Next Header 59, dropped by the receiver) with `len`
    /// bytes of payload (at most 65535), for traffic flow confidentiality.
    pub fn encapsulate_dummy(
        &mut self,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<Encapsulated, EspError> {
        let result = if len > MAX_DUMMY_LEN {
            Err(EspError::InvalidPacket)
        } else {
            self.seal(Payload::Zeros(len), protocol::NO_NEXT_HEADER, out)
        };
        if result.is_ok() {
            self.counters.dummy = self.counters.dummy.saturating_add(1);
        }
        self.finish(result, out)
    }

    /// Moves the sequence counter forward so that the next packet carries `next` (for
    /// tests of exhaustion, or an embedder resuming an SA). It never moves back: a
    /// sequence number, and with GCM its IV, must not be used twice under one key.
    pub fn set_next_sequence(&mut self, next: u64) -> Result<(), EspError> {
        if next < self.next || next > self.max_sequence() || self.exhausted {
            return Err(EspError::InvalidConfig(
                "sequence numbers only move forward",
            ));
        }
        self.next = next;
        Ok(())
    }

    /// Gives back the expanded keys (about 560 bytes for AES-GCM) if no packet used them
    /// since the previous call; the next packet expands them again. A dataplane holding many
    /// idle SAs calls this periodically. Whether they were given back.
    pub fn drop_idle_keys(&mut self) -> bool {
        self.protection.drop_if_idle()
    }

    /// Whether the keys are expanded now (see [`Self::drop_idle_keys`]).
    pub fn keys_expanded(&self) -> bool {
        self.protection.is_expanded()
    }

    /// The SPI.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// Tunnel or transport.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The sequence number of the next packet.
    pub fn next_sequence(&self) -> u64 {
        self.next
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The worst lifetime limit reached so far (`None`: none).
    pub fn expiry(&self) -> Option<Expiry> {
        self.lifetime.state()
    }

    /// Bytes of ESP overhead for a payload of `payload_len` bytes: header, IV, padding,
    /// trailer and ICV (for MTU computations; the outer IP/UDP headers come on top).
    pub fn overhead(&self, payload_len: usize) -> usize {
        let pad = trailer::pad_len(payload_len, self.alignment());
        8 + self.encryption.iv_len() + pad + 2 + self.icv_len
    }

    fn max_sequence(&self) -> u64 {
        if self.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        }
    }

    /// Block size of the cipher, and at least 4 (RFC 4303 §2.4: the ciphertext ends on a
    /// 4-byte boundary).
    fn alignment(&self) -> usize {
        self.encryption
            .cbc_cipher()
            .map_or(4, |c| c.block_len())
            .max(4)
    }

    fn finish(
        &mut self,
        result: Result<Encapsulated, EspError>,
        out: &mut Vec<u8>,
    ) -> Result<Encapsulated, EspError> {
        if let Err(e) = &result {
            out.clear();
            self.counters.record(e);
        }
        result
    }

    fn seal(
        &mut self,
        payload: Payload<'_>,
        next_header: u8,
        out: &mut Vec<u8>,
    ) -> Result<Encapsulated, EspError> {
        // RFC 4303 §3.3.3: the counter must not cycle; a new SA is needed.
        if self.exhausted {
            return Err(EspError::SequenceExhausted);
        }
        self.lifetime.check()?;
        let sequence = self.next;
        let len = payload.len();
        let pad = trailer::pad_len(len, self.alignment());
        out.clear();
        out.reserve(self.overhead(len) + len);
        out.extend_from_slice(&self.spi.to_be_bytes());
        // Only the low 32 bits are sent (RFC 4303 §2.2.1).
        out.extend_from_slice(&(sequence as u32).to_be_bytes());
        let high = self.esn.then_some((sequence >> 32) as u32);
        match self.protection.get()? {
            Protection::Gcm(gcm) => {
                // RFC 4106 §3.1: the IV must not repeat under one key; the sequence number
                // (64 bits, never reused) is the counter that guarantees it.
                let iv = sequence.to_be_bytes();
                out.extend_from_slice(&iv);
                let start = out.len();
                payload.write(out);
                trailer::append(out, pad, next_header);
                // RFC 4106 §5: AAD = SPI | sequence number, or SPI | 64-bit ESN.
                let mut aad = [0u8; 12];
                aad[..4].copy_from_slice(&self.spi.to_be_bytes());
                let aad_len = match high {
                    Some(_) => {
                        aad[4..].copy_from_slice(&sequence.to_be_bytes());
                        12
                    }
                    None => {
                        aad[4..8].copy_from_slice(&(sequence as u32).to_be_bytes());
                        8
                    }
                };
                let icv = match (out.get_mut(start..), aad.get(..aad_len)) {
                    (Some(buf), Some(aad)) => gcm.seal(&iv, aad, buf),
                    _ => return Err(EspError::InvalidPacket),
                };
                out.extend_from_slice(&icv);
            }
            Protection::Cbc { cipher, integrity } => {
                let iv_len = self.encryption.iv_len();
                let iv_block = self.iv.as_ref().map(|g| g.iv(sequence)).unwrap_or_default();
                let iv = iv_block.get(..iv_len).unwrap_or_default();
                out.extend_from_slice(iv);
                let start = out.len();
                payload.write(out);
                trailer::append(out, pad, next_header);
                let encrypted = out
                    .get_mut(start..)
                    .is_some_and(|buf| cipher.encrypt(iv, buf));
                if !encrypted {
                    // Unreachable: the padding makes whole blocks and the IV has the block
                    // length. Refuse rather than send plaintext.
                    return Err(EspError::InvalidPacket);
                }
                append_icv(out, integrity, high);
            }
            Protection::Null { integrity } => {
                payload.write(out);
                trailer::append(out, pad, next_header);
                append_icv(out, integrity, high);
            }
        }
        let max = self.max_sequence();
        match sequence.checked_add(1) {
            Some(next) if sequence < max => self.next = next,
            _ => self.exhausted = true,
        }
        self.counters.delivered(len);
        let mut expiry = self.lifetime.count(len);
        if self.exhausted {
            expiry = expiry.max(self.lifetime.expire_hard());
        } else if !self.esn && sequence == SEQUENCE_SOFT_LIMIT {
            expiry = expiry.max(self.lifetime.expire_soft());
        }
        Ok(Encapsulated { sequence, expiry })
    }
}

/// Appends the ICV over everything so far (RFC 4303 §2.8; with ESN the high bits are
/// authenticated but not sent, §2.2.1).
fn append_icv(out: &mut Vec<u8>, integrity: &super::keys::Integrity, high: Option<u32>) {
    let (icv, n) = integrity.compute(out, high);
    out.extend_from_slice(icv.get(..n.min(MAX_ICV)).unwrap_or_default());
}
