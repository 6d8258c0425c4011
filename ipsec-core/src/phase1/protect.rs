//! Building and opening ISAKMP messages: plaintext emission, encryption with the phase-1 key
//! and IV chain (RFC 2409 Appendix B), and payload lookup helpers.
//!
//! Encrypted messages are padded with zeros to the cipher's block size (RFC 2409 Appendix B;
//! the padding is not part of any payload and every peer finds the end of the chain from the
//! payload lengths). Received messages are decrypted on a *copy* of the IV chain: only once
//! the message authenticates does the caller keep the copy and confirm the new IV, so a
//! forged message cannot desynchronise or evict the chain (see
//! [`IvChain`](crate::crypto::ikev1::IvChain)).

use crate::crypto::ikev1::{IvChain, Phase1Keys};
use crate::engine::Reject;
use crate::wire::{
    Cookie, ExchangeType, Flags, Header, Payload, PayloadChain, PayloadType, RawPayload,
    TrailingBytes, emit_chain, emit_encrypted_message, emit_message,
};

/// A header for a message to send (Next Payload and Length are computed on emission).
pub(crate) fn header(
    cky_i: Cookie,
    cky_r: Cookie,
    exchange: ExchangeType,
    message_id: u32,
) -> Header {
    Header {
        initiator_cookie: cky_i,
        responder_cookie: cky_r,
        next_payload: PayloadType::None,
        exchange_type: exchange,
        flags: Flags::NONE,
        message_id,
        length: 0,
    }
}

/// A plaintext message.
pub(crate) fn emit_plain(header: &Header, payloads: &[Payload<'_>]) -> Result<Vec<u8>, Reject> {
    let mut out = Vec::new();
    emit_message(header, payloads, &mut out)?;
    Ok(out)
}

/// An encrypted message carrying `payloads`.
pub(crate) fn seal(
    keys: &Phase1Keys,
    iv: &mut IvChain,
    header: &Header,
    payloads: &[Payload<'_>],
) -> Result<Vec<u8>, Reject> {
    let mut plain = Vec::new();
    let first = emit_chain(payloads, &mut plain)?;
    encrypt(keys, iv, header, first, plain)
}

/// An encrypted message `HASH(hash_of(rest)) | rest`: the quick-mode and informational form,
/// where the hash covers every payload after the HASH payload, headers included.
pub(crate) fn seal_hashed(
    keys: &Phase1Keys,
    iv: &mut IvChain,
    header: &Header,
    rest: &[Payload<'_>],
    hash_of: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Result<Vec<u8>, Reject> {
    let mut rest_bytes = Vec::new();
    let next = emit_chain(rest, &mut rest_bytes)?;
    let hash = hash_of(&rest_bytes);
    let mut plain = Vec::with_capacity(4 + hash.len() + rest_bytes.len());
    Payload::Hash(&hash).emit(next, &mut plain)?;
    plain.extend_from_slice(&rest_bytes);
    encrypt(keys, iv, header, PayloadType::Hash, plain)
}

fn encrypt(
    keys: &Phase1Keys,
    iv: &mut IvChain,
    header: &Header,
    first: PayloadType,
    mut plain: Vec<u8>,
) -> Result<Vec<u8>, Reject> {
    let block = keys.cipher.block_len();
    let padded = plain.len().div_ceil(block).max(1) * block;
    plain.resize(padded, 0);
    iv.encrypt(&keys.encryption_key, header.message_id, &mut plain)?;
    let mut out = Vec::with_capacity(28 + plain.len());
    emit_encrypted_message(header, first, &plain, &mut out)?;
    Ok(out)
}

/// A decrypted message body and the IV chain as it will be once the message is accepted.
pub(crate) struct Opened {
    /// The plaintext payloads, padding included.
    pub plaintext: Vec<u8>,
    /// A copy of the chain with this message decrypted: keep it and
    /// [`confirm`](IvChain::confirm) once the message authenticated.
    pub iv: IvChain,
}

/// Decrypts `ciphertext` of a message with `header`, on a copy of `iv`.
pub(crate) fn open(
    keys: &Phase1Keys,
    iv: &IvChain,
    header: &Header,
    ciphertext: &[u8],
) -> Result<Opened, Reject> {
    if !ciphertext.len().is_multiple_of(keys.cipher.block_len()) {
        return Err(Reject::DecryptFailed);
    }
    let mut trial = iv.clone();
    let mut plaintext = ciphertext.to_vec();
    trial
        .decrypt(&keys.encryption_key, header.message_id, &mut plaintext)
        .map_err(|_| Reject::DecryptFailed)?;
    Ok(Opened {
        plaintext,
        iv: trial,
    })
}

/// Walks a decrypted payload chain; a chain that does not parse means a wrong key or a
/// corrupted message.
pub(crate) fn parse_decrypted<'a>(
    header: &Header,
    plaintext: &'a [u8],
) -> Result<PayloadChain<'a>, Reject> {
    PayloadChain::parse(header.next_payload, plaintext, TrailingBytes::Allowed)
        .map_err(|_| Reject::DecryptFailed)
}

/// The one payload of type `ty`: missing or repeated is [`Reject::MissingPayload`].
pub(crate) fn one<'c, 'a>(
    chain: &'c PayloadChain<'a>,
    ty: PayloadType,
    what: &'static str,
) -> Result<&'c RawPayload<'a>, Reject> {
    let mut it = chain.filter(ty);
    match (it.next(), it.next()) {
        (Some(p), None) => Ok(p),
        _ => Err(Reject::MissingPayload(what)),
    }
}

/// The payload of type `ty` if there is one; repeated is [`Reject::MissingPayload`].
pub(crate) fn at_most_one<'c, 'a>(
    chain: &'c PayloadChain<'a>,
    ty: PayloadType,
    what: &'static str,
) -> Result<Option<&'c RawPayload<'a>>, Reject> {
    let mut it = chain.filter(ty);
    match (it.next(), it.next()) {
        (p, None) => Ok(p),
        _ => Err(Reject::MissingPayload(what)),
    }
}

/// The bodies of every NAT-D payload (RFC or draft numbering), in order.
pub(crate) fn natd_bodies<'a>(chain: &PayloadChain<'a>) -> Vec<&'a [u8]> {
    chain
        .iter()
        .filter(|p| matches!(p.ty(), PayloadType::NatD | PayloadType::NatDDraft))
        .map(RawPayload::body)
        .filter(|b| !b.is_empty())
        .collect()
}

/// The HASH payload first in the chain, as quick mode and informational exchanges require
/// (RFC 2409 §5.5: "the HASH payload MUST immediately follow the ISAKMP header").
pub(crate) fn leading_hash<'a>(chain: &PayloadChain<'a>) -> Result<&'a [u8], Reject> {
    match chain.get(0) {
        Some(p) if p.ty() == PayloadType::Hash && !p.body().is_empty() => Ok(p.body()),
        _ => Err(Reject::MissingPayload("HASH first")),
    }
}
