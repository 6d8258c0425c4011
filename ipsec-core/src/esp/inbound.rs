//! [`Inbound`]: ESP decapsulation for one inbound SA (RFC 4303 §3.4).

use core::fmt;

use crate::crypto::esp::EspEncryption;
use crate::proposal::phase2::Mode;

use super::ip::{self, protocol};
use super::keys::{CbcDecrypt, Keyed, Protection};
use super::lifetime::Lifetime;
use super::{Counters, EspError, Expiry, ReplayWindow, SaConfig, trailer};

/// What [`Inbound::decapsulate`] delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decapsulated {
    /// The sequence number (with ESN, the inferred 64-bit value).
    pub sequence: u64,
    /// The Next Header: 4 or 41 in tunnel mode, the upper-layer protocol in transport mode
    /// (to rebuild the IP header), 59 for a dummy packet.
    pub next_header: u8,
    /// A dummy packet (Next Header 59, RFC 4303 §2.6): authentic, counted, but with nothing
    /// to deliver (`out` is empty). Drop it silently.
    pub dummy: bool,
    /// A lifetime limit this packet reached, reported once per limit.
    pub expiry: Option<Expiry>,
}

/// One inbound ESP SA: anti-replay window, ICV, decryption, padding.
///
/// [`Inbound::decapsulate`] allocates nothing when `out` has room for the packet.
pub struct Inbound {
    spi: u32,
    mode: Mode,
    esn: bool,
    encryption: EspEncryption,
    icv_len: usize,
    protection: Keyed<CbcDecrypt>,
    window: ReplayWindow,
    lifetime: Lifetime,
    counters: Counters,
}

impl fmt::Debug for Inbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No key material.
        f.debug_struct("Inbound")
            .field("spi", &format_args!("{:08x}", self.spi))
            .field("mode", &self.mode)
            .field("encryption", &self.encryption.name())
            .field("esn", &self.esn)
            .field("window", &self.window.size())
            .field("highest", &self.window.highest())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Inbound {
    /// Expands the keys of `config` and allocates the replay window.
    pub fn new(config: &SaConfig) -> Result<Self, EspError> {
        if config.spi == 0 {
            return Err(EspError::InvalidConfig("SPI 0 is reserved"));
        }
        let t = config.transform;
        Ok(Inbound {
            spi: config.spi,
            mode: config.mode,
            esn: config.esn,
            encryption: t.encryption,
            icv_len: if t.encryption.is_aead() {
                16
            } else {
                t.integrity.icv_len()
            },
            protection: Keyed::new(&t, &config.keys)?,
            window: ReplayWindow::new(config.replay_window)?,
            lifetime: Lifetime::new(config.lifetime),
            counters: Counters::default(),
        })
    }

    /// Verifies and decrypts one ESP packet (`esp` starts at the SPI: the payload of a raw
    /// protocol 50 packet, or of an ESP-in-UDP datagram).
    ///
    /// In order (RFC 4303 §3.4): lengths, SPI, the anti-replay window (before any crypto,
    /// §3.4.3), the ICV (constant time, §3.4.4), decryption, then the window is updated,
    /// the padding and Next Header checked. Tunnel mode: `out` receives the inner IP packet
    /// (Next Header 4/41, version and length consistent; TFC padding after it dropped).
    /// Transport mode: `out` receives the upper-layer payload, and
    /// [`Decapsulated::next_header`] its protocol. On error `out` is empty: unauthenticated
    /// plaintext never leaves.
    pub fn decapsulate(&mut self, esp: &[u8], out: &mut Vec<u8>) -> Result<Decapsulated, EspError> {
        let result = self.open(esp, out);
        if let Err(e) = &result {
            out.clear();
            self.counters.record(e);
        }
        result
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

    /// The anti-replay window.
    pub fn window(&self) -> &ReplayWindow {
        &self.window
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The worst lifetime limit reached so far (`None`: none).
    pub fn expiry(&self) -> Option<Expiry> {
        self.lifetime.state()
    }

    fn open(&mut self, esp: &[u8], out: &mut Vec<u8>) -> Result<Decapsulated, EspError> {
        self.lifetime.check()?;
        let len = esp.len();
        let truncated = EspError::Truncated { len };
        let Some((header, rest)) = esp.split_first_chunk::<8>() else {
            return Err(truncated);
        };
        let [s0, s1, s2, s3, q0, q1, q2, q3] = *header;
        let spi = u32::from_be_bytes([s0, s1, s2, s3]);
        if spi != self.spi {
            return Err(EspError::WrongSpi {
                expected: self.spi,
                got: spi,
            });
        }
        let low = u32::from_be_bytes([q0, q1, q2, q3]);

        // Lengths: IV, at least the trailer (a whole block for CBC), ICV.
        let iv_len = self.encryption.iv_len();
        let block = self.encryption.cbc_cipher().map(|c| c.block_len());
        let ciphertext_len = rest
            .len()
            .checked_sub(iv_len + self.icv_len)
            .filter(|&n| n >= block.unwrap_or(2))
            .ok_or(truncated)?;
        if let Some(block) = block
            && !ciphertext_len.is_multiple_of(block)
        {
            return Err(EspError::BadLength {
                len: ciphertext_len,
                block,
            });
        }

        // RFC 4303 §3.4.3: the replay check comes first, on the (inferred) number.
        let sequence = if self.esn {
            self.window.infer_esn(low).ok_or(EspError::OutsideWindow {
                sequence: u64::from(low),
            })?
        } else {
            u64::from(low)
        };
        self.window.check(sequence)?;
        let high = self.esn.then_some((sequence >> 32) as u32);

        let (iv, body) = rest.split_at_checked(iv_len).ok_or(truncated)?;
        out.clear();
        match self.protection.get()? {
            Protection::Gcm(gcm) => {
                let iv: [u8; 8] = iv.try_into().map_err(|_| truncated)?;
                // RFC 4106 §5: AAD = SPI | sequence number, or SPI | 64-bit ESN.
                let mut aad = [0u8; 12];
                aad[..4].copy_from_slice(&spi.to_be_bytes());
                let aad_len = match high {
                    Some(_) => {
                        aad[4..].copy_from_slice(&sequence.to_be_bytes());
                        12
                    }
                    None => {
                        aad[4..8].copy_from_slice(&low.to_be_bytes());
                        8
                    }
                };
                out.extend_from_slice(body);
                let plain = gcm.open(&iv, aad.get(..aad_len).unwrap_or_default(), out)?;
                out.truncate(plain);
            }
            Protection::Cbc { cipher, integrity } => {
                let (authenticated, icv) = esp
                    .split_at_checked(len.saturating_sub(self.icv_len))
                    .ok_or(truncated)?;
                if !integrity.verify(authenticated, high, icv) {
                    return Err(EspError::Authentication);
                }
                out.extend_from_slice(body.get(..ciphertext_len).ok_or(truncated)?);
                if !cipher.decrypt(iv, out) {
                    // Unreachable: lengths checked above.
                    return Err(EspError::BadLength {
                        len: ciphertext_len,
                        block: block.unwrap_or(1),
                    });
                }
            }
            Protection::Null { integrity } => {
                let (authenticated, icv) = esp
                    .split_at_checked(len.saturating_sub(self.icv_len))
                    .ok_or(truncated)?;
                if !integrity.verify(authenticated, high, icv) {
                    return Err(EspError::Authentication);
                }
                out.extend_from_slice(body.get(..ciphertext_len).ok_or(truncated)?);
            }
        }
        // Authentic: only now may the window move (RFC 4303 §3.4.3).
        self.window.accept(sequence);

        let next_header = trailer::strip(out)?;
        if next_header == protocol::NO_NEXT_HEADER {
            out.clear();
            self.counters.dummy = self.counters.dummy.saturating_add(1);
            self.counters.delivered(0);
            let expiry = self.lifetime.count(0);
            return Ok(Decapsulated {
                sequence,
                next_header,
                dummy: true,
                expiry,
            });
        }
        if self.mode == Mode::Tunnel {
            let inner = ip::inner_packet_len(next_header, out)?;
            out.truncate(inner);
        }
        self.counters.delivered(out.len());
        let expiry = self.lifetime.count(out.len());
        Ok(Decapsulated {
            sequence,
            next_header,
            dummy: false,
            expiry,
        })
    }
}
