//! Phase-1 and per-exchange IVs and their CBC chaining (RFC 2409 Appendix B).
//!
//! IKEv1 never sends an IV. Both sides compute it:
//!
//! - Phase 1 (main and aggressive mode, message ID 0): the first IV is
//!   hash(g^xi | g^xr) truncated to the cipher's block size, with the negotiated *hash*
//!   (not the PRF). Each later phase-1 message uses the last ciphertext block of the
//!   previous encrypted message, whichever side sent it.
//! - Every later exchange (quick mode, informational, mode-config/XAuth transactions) has its
//!   own chain, keyed by its message ID: the first IV is hash(last phase-1 CBC block | M-ID)
//!   truncated, then again the last ciphertext block of the previous message *of that
//!   exchange*. This is why a response must be encrypted with the chain state left by the
//!   request it answers (strongSwan logs this as "next IV for MID ...").
//!
//! [`IvChain`] keeps these states. Encrypting advances a chain at once (what we send is
//! final). Decrypting only records the candidate next IV: the caller [`confirms`] it after the
//! message authenticated (HASH checked), so that a forged or corrupted packet cannot
//! desynchronise the chain. This is the update/confirm split strongSwan's `iv_manager` uses.
//!
//! Retransmissions: a retransmitted request must be answered by resending the cached response,
//! not by decrypting it again, since the chain has moved on.
//!
//! [`confirms`]: IvChain::confirm

use crate::crypto::{Cipher, CryptoError, HashAlgorithm, Secret};

/// The initial phase-1 IV: hash(g^xi | g^xr) truncated to `block_len` (Appendix B).
pub fn phase1_iv(hash: HashAlgorithm, g_xi: &[u8], g_xr: &[u8], block_len: usize) -> Vec<u8> {
    let mut iv = hash.digest(&[g_xi, g_xr]);
    iv.truncate(block_len);
    iv
}

/// The initial IV of the exchange with message ID `message_id`:
/// hash(last phase-1 CBC block | M-ID) truncated to `block_len` (Appendix B).
pub fn phase2_iv(
    hash: HashAlgorithm,
    last_phase1_block: &[u8],
    message_id: u32,
    block_len: usize,
) -> Vec<u8> {
    let mut iv = hash.digest(&[last_phase1_block, &message_id.to_be_bytes()]);
    iv.truncate(block_len);
    iv
}

/// One cipher block, inline: IVs are at most 16 bytes (AES), and a heap vector per IV was
/// two allocations per exchange chain of every ISAKMP SA (a quarter of a kilobyte per
/// tunnel).
#[derive(Debug, Clone, Copy)]
struct Block {
    len: u8,
    bytes: [u8; 16],
}

impl Block {
    /// The first 16 bytes of `b` at most (block lengths are 8 or 16).
    fn of(b: &[u8]) -> Self {
        let mut bytes = [0u8; 16];
        let n = b.len().min(16);
        bytes[..n].copy_from_slice(&b[..n]);
        Block {
            len: n as u8,
            bytes,
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

#[derive(Debug, Clone)]
struct IvState {
    message_id: u32,
    /// The IV for the next message of this exchange.
    iv: Block,
    /// The last ciphertext block of a received, not yet confirmed, message.
    pending: Option<Block>,
}

/// The CBC IV state of one ISAKMP SA: the phase-1 chain and one chain per later exchange.
///
/// Only the most recently used `max_exchanges` exchange chains are kept (least recently used
/// dropped first), which bounds the memory a peer can make us spend by opening exchanges.
#[derive(Debug, Clone)]
pub struct IvChain {
    hash: HashAlgorithm,
    cipher: Cipher,
    phase1: IvState,
    /// Most recently used first.
    exchanges: Vec<IvState>,
    max_exchanges: usize,
}

impl IvChain {
    /// How many concurrent exchange chains are kept by default.
    pub const DEFAULT_MAX_EXCHANGES: usize = 8;

    /// Starts the chain of a phase-1 SA with the initial IV hash(g^xi | g^xr).
    pub fn new(hash: HashAlgorithm, cipher: Cipher, g_xi: &[u8], g_xr: &[u8]) -> Self {
        IvChain {
            hash,
            cipher,
            phase1: IvState {
                message_id: 0,
                iv: Block::of(&phase1_iv(hash, g_xi, g_xr, cipher.block_len())),
                pending: None,
            },
            exchanges: Vec::new(),
            max_exchanges: Self::DEFAULT_MAX_EXCHANGES,
        }
    }

    /// Keeps at most `max` exchange chains besides phase 1 (at least 1).
    pub fn with_max_exchanges(mut self, max: usize) -> Self {
        self.max_exchanges = max.max(1);
        self.exchanges.truncate(self.max_exchanges);
        self
    }

    /// The cipher whose block size the IVs have.
    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// The current phase-1 IV: before any encrypted message the initial IV, afterwards the
    /// last confirmed phase-1 ciphertext block.
    pub fn phase1_iv(&self) -> &[u8] {
        self.phase1.iv.as_slice()
    }

    /// The IV the next message of exchange `message_id` will be encrypted or decrypted with
    /// (message ID 0 is phase 1). The first use of a message ID creates its chain from the
    /// current phase-1 IV.
    pub fn current_iv(&mut self, message_id: u32) -> &[u8] {
        self.state(message_id).iv.as_slice()
    }

    /// Encrypts `buf` (whole blocks, already padded) for exchange `message_id` and advances
    /// that chain to the last ciphertext block.
    pub fn encrypt(
        &mut self,
        key: &Secret,
        message_id: u32,
        buf: &mut [u8],
    ) -> Result<(), CryptoError> {
        let cipher = self.cipher;
        refuse_empty(buf, cipher)?;
        let state = self.state(message_id);
        cipher.encrypt(key.as_bytes(), state.iv.as_slice(), buf)?;
        state.iv = last_block(buf, cipher.block_len());
        state.pending = None;
        Ok(())
    }

    /// Decrypts `buf` (whole blocks) received in exchange `message_id`. The chain does not
    /// move until [`IvChain::confirm`] is called for this message ID; decrypting another
    /// message before that replaces the candidate.
    pub fn decrypt(
        &mut self,
        key: &Secret,
        message_id: u32,
        buf: &mut [u8],
    ) -> Result<(), CryptoError> {
        let cipher = self.cipher;
        refuse_empty(buf, cipher)?;
        let next = last_block(buf, cipher.block_len());
        let state = self.state(message_id);
        cipher.decrypt(key.as_bytes(), state.iv.as_slice(), buf)?;
        state.pending = Some(next);
        Ok(())
    }

    /// The message last decrypted in exchange `message_id` authenticated: its last ciphertext
    /// block becomes the chain's IV. Returns false if there was nothing to confirm.
    pub fn confirm(&mut self, message_id: u32) -> bool {
        let state = self.state(message_id);
        match state.pending.take() {
            Some(next) => {
                state.iv = next;
                true
            }
            None => false,
        }
    }

    /// Drops the chain of a finished exchange. (Phase 1, message ID 0, is never dropped.)
    pub fn forget(&mut self, message_id: u32) {
        self.exchanges.retain(|s| s.message_id != message_id);
        if self.exchanges.is_empty() {
            // Held SAs are mostly idle: no room kept for exchanges that may never come.
            self.exchanges = Vec::new();
        }
    }

    fn state(&mut self, message_id: u32) -> &mut IvState {
        if message_id == 0 {
            return &mut self.phase1;
        }
        let state = match self
            .exchanges
            .iter()
            .position(|s| s.message_id == message_id)
        {
            Some(i) => self.exchanges.remove(i),
            None => IvState {
                message_id,
                iv: Block::of(&phase2_iv(
                    self.hash,
                    self.phase1.iv.as_slice(),
                    message_id,
                    self.cipher.block_len(),
                )),
                pending: None,
            },
        };
        self.exchanges.insert(0, state);
        self.exchanges.truncate(self.max_exchanges);
        &mut self.exchanges[0]
    }
}

/// An encrypted ISAKMP message has at least one block; an empty one would leave an empty IV.
fn refuse_empty(buf: &[u8], cipher: Cipher) -> Result<(), CryptoError> {
    if buf.is_empty() {
        Err(CryptoError::InvalidLength {
            what: "encrypted ISAKMP payloads (at least one block)",
            expected: cipher.block_len(),
            got: 0,
        })
    } else {
        Ok(())
    }
}

/// The last `block_len` bytes of `buf` (all of it if shorter; the cipher then refuses the
/// length anyway).
fn last_block(buf: &[u8], block_len: usize) -> Block {
    Block::of(&buf[buf.len().saturating_sub(block_len)..])
}
