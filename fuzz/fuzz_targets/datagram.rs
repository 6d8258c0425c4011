//! Fuzz target `datagram`: a UDP datagram as the engine receives it.
//!
//! Input: 2 bytes of local UDP port (big-endian; 4500 selects the NAT-T framing, anything
//! else port-500 framing), then the UDP payload. The seeds in `seeds/datagram/` are every
//! UDP payload of the captures under `vectors/`, in this format (`make-seeds.sh`).
//!
//! Checks: nothing panics; every payload decodes fully (SA → proposals → transforms → typed
//! attributes, IDs, notifications, mode-config attributes, ...); a message that parses
//! re-emits to the identical bytes and re-parses to an equal value; an encrypted body parsed
//! as a padded plaintext chain (what the engine does after decryption) re-emits its chain
//! identically.
#![no_main]

use ipsec_core::wire::{
    Datagram, Message, Payload, PayloadChain, ProtocolId, TrailingBytes, classify, emit_chain,
    emit_message,
};
use libfuzzer_sys::fuzz_target;

fn exercise(p: &Payload<'_>) {
    match p {
        Payload::SecurityAssociation(sa) => {
            for prop in &sa.proposals {
                for t in &prop.transforms {
                    let _ = t.id(prop.protocol);
                    if prop.protocol == ProtocolId::Isakmp {
                        for a in t.phase1_attributes().flatten() {
                            let raw = a.to_raw();
                            assert_eq!(
                                ipsec_core::wire::Phase1Attribute::decode(&raw).as_ref(),
                                Ok(&a)
                            );
                        }
                    } else {
                        for a in t.phase2_attributes().flatten() {
                            let raw = a.to_raw();
                            assert_eq!(
                                ipsec_core::wire::Phase2Attribute::decode(&raw).as_ref(),
                                Ok(&a)
                            );
                        }
                    }
                }
            }
        }
        Payload::Identification(id) => {
            let v = id.value().expect("a parsed ID has a valid value");
            assert_eq!(v.id_type(), id.id_type);
            assert_eq!(&*v.to_data(), &*id.data);
        }
        Payload::Notification(n) => {
            let _ = (n.dpd_sequence(), n.replay_status(), n.responder_lifetime());
        }
        Payload::Delete(d) => assert_eq!(d.spis().count(), d.count()),
        Payload::VendorId(v) => {
            if let Some(k) = v.known() {
                assert_eq!(
                    ipsec_core::wire::KnownVendor::recognise(&k.to_bytes()),
                    Some(k)
                );
            }
        }
        Payload::Attribute(a) => {
            for c in a.typed().flatten() {
                let raw = c.to_raw().expect("a decoded config attribute re-encodes");
                assert_eq!(
                    ipsec_core::wire::ConfigAttribute::decode(&raw).as_ref(),
                    Ok(&c)
                );
            }
        }
        _ => {}
    }
}

fn check_chain(chain: &PayloadChain<'_>) -> Option<Vec<u8>> {
    let payloads = chain.decode().ok()?;
    payloads.iter().for_each(exercise);
    for k in 0..=chain.len() {
        let suffix = chain.bytes_from(k).expect("k within the chain");
        let mut again = Vec::new();
        emit_chain(payloads.get(k..).unwrap_or_default(), &mut again).expect("re-emits");
        assert_eq!(suffix, &again[..]);
    }
    let mut out = Vec::new();
    emit_chain(&payloads, &mut out).expect("a parsed chain re-emits");
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let Some((port, payload)) = data.split_at_checked(2) else {
        return;
    };
    let port = u16::from_be_bytes([port[0], port[1]]);
    let Ok(Datagram::Ike(bytes)) = classify(port, payload) else {
        return;
    };
    let Ok(msg) = Message::parse(bytes) else {
        return;
    };
    match (msg.payloads(), msg.ciphertext()) {
        (Some(chain), _) => {
            let Ok(payloads) = chain.decode() else {
                return;
            };
            let _ = check_chain(chain);
            let mut out = Vec::new();
            emit_message(&msg.header, &payloads, &mut out).expect("a parsed message re-emits");
            if chain.trailing().is_empty() {
                assert_eq!(out, bytes, "re-emission is byte-exact");
            } else {
                // Alignment padding is set aside and not re-emitted.
                assert!(chain.trailing().len() <= ipsec_core::wire::MAX_ALIGNMENT_PADDING);
                assert_eq!(out.len() + chain.trailing().len(), bytes.len());
                assert_eq!(
                    out.get(28..),
                    bytes.get(28..bytes.len() - chain.trailing().len())
                );
            }
            let again = Message::parse(&out).expect("re-emitted message parses");
            // The Length field shrinks by the padding that was set aside; all else is equal.
            let mut expected = msg.header;
            expected.length = u32::try_from(out.len()).expect("a re-emitted message fits");
            assert_eq!(again.header, expected);
            assert_eq!(again.payloads().map(|c| c.decode()), Some(Ok(payloads)));
        }
        (None, Some(body)) => {
            // Treat the ciphertext as if it were a decrypted body with padding.
            if let Ok(chain) =
                PayloadChain::parse(msg.header.next_payload, body, TrailingBytes::Allowed)
                && let Some(out) = check_chain(&chain)
            {
                assert_eq!(&out[..], chain.bytes());
                assert_eq!(chain.bytes().len() + chain.trailing().len(), body.len());
            }
        }
        (None, None) => unreachable!("a message is plain or encrypted"),
    }
});
