//! What a UDP datagram carries, on port 500 or on the NAT-T port 4500 (RFC 3948 §2.2, §2.3;
//! RFC 3947 §4).
//!
//! On port 4500 three things share the port: a NAT-keepalive (one 0xFF byte, RFC 3948
//! §2.3), an IKE message behind a 4-byte Non-ESP Marker of zeros (RFC 3948 §2.2), and ESP
//! whose first 4 bytes are its SPI, never zero (RFC 3948 §2.1: "the SPI field in the ESP
//! header MUST NOT be a zero value"). On port 500 the datagram is the IKE message itself.

use super::error::WireError;

/// The 4-byte Non-ESP Marker (RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// The NAT-keepalive payload (RFC 3948 §2.3).
pub const NAT_KEEPALIVE: u8 = 0xff;
/// The IKE port.
pub const IKE_PORT: u16 = 500;
/// The NAT-T port.
pub const NAT_T_PORT: u16 = 4500;

/// A classified UDP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Datagram<'a> {
    /// An ISAKMP message (after the Non-ESP Marker on port 4500).
    Ike(&'a [u8]),
    /// A NAT-keepalive: nothing to do.
    NatKeepalive,
    /// An ESP packet (UDP-encapsulated), starting with its SPI.
    Esp {
        /// The SPI, from the first 4 bytes.
        spi: u32,
        /// The whole ESP packet, SPI included.
        packet: &'a [u8],
    },
}

/// Classify the payload of a UDP datagram received on port 4500.
///
/// A single 0xFF is a keepalive; 4 zero bytes start IKE; anything else of at least 8 bytes
/// (SPI and sequence number, RFC 4303 §2) is ESP. Everything else is
/// [`WireError::InvalidEncapsulation`]: a lone byte other than 0xFF, fewer than 4 bytes, or
/// an ESP header cut short.
pub fn classify_nat_t(payload: &[u8]) -> Result<Datagram<'_>, WireError> {
    if payload == [NAT_KEEPALIVE] {
        return Ok(Datagram::NatKeepalive);
    }
    let invalid = WireError::InvalidEncapsulation(payload.len());
    let (first, rest) = payload.split_at_checked(4).ok_or(invalid)?;
    let spi = u32::from_be_bytes(first.try_into().map_err(|_| invalid)?);
    if spi == 0 {
        return Ok(Datagram::Ike(rest));
    }
    if payload.len() < 8 {
        return Err(invalid);
    }
    Ok(Datagram::Esp {
        spi,
        packet: payload,
    })
}

/// Classify the payload of a UDP datagram received on port 500: always IKE, no marker.
/// (Keepalives and ESP are never sent to port 500.)
pub fn classify_ike_port(payload: &[u8]) -> Datagram<'_> {
    Datagram::Ike(payload)
}

/// Classify by destination port: [`NAT_T_PORT`] uses [`classify_nat_t`], any other port is
/// treated like port 500 (a port-500 peer behind a port-translating NAT arrives elsewhere).
pub fn classify(local_port: u16, payload: &[u8]) -> Result<Datagram<'_>, WireError> {
    if local_port == NAT_T_PORT {
        classify_nat_t(payload)
    } else {
        Ok(classify_ike_port(payload))
    }
}

/// Append the Non-ESP Marker: call before emitting an IKE message to be sent on port 4500.
pub fn emit_non_esp_marker(out: &mut Vec<u8>) {
    out.extend_from_slice(&NON_ESP_MARKER);
}
