//! The few facts about IP headers ESP needs: which IP version a packet is, where the
//! transport-mode payload starts, and whether a decrypted tunnel-mode packet is consistent.
//! Everything is read with checked accessors: the bytes may be hostile.

use super::EspError;

/// IP protocol / Next Header numbers (IANA "Assigned Internet Protocol Numbers").
pub(super) mod protocol {
    /// IPv4 encapsulated in tunnel mode (RFC 4303 §2.6).
    pub const IPV4: u8 = 4;
    /// IPv6 encapsulated in tunnel mode.
    pub const IPV6: u8 = 41;
    /// "No Next Header": a dummy packet (RFC 4303 §2.6).
    pub const NO_NEXT_HEADER: u8 = 59;
}

/// IPv6 extension headers that may sit between the fixed header and the upper layer (RFC
/// 8200 §4, plus AH/ESP themselves, Mobility, HIP and Shim6). Transport mode would have to
/// keep some of them outside ESP (RFC 4303 §3.1.1); that is not supported.
const IPV6_EXTENSION_HEADERS: [u8; 9] = [0, 43, 44, 50, 51, 60, 135, 139, 140];

fn be16(packet: &[u8], at: usize) -> Option<usize> {
    let b = packet.get(at..at + 2)?;
    Some(usize::from(u16::from_be_bytes([b[0], b[1]])))
}

/// An IPv4 packet's header length and total length, if consistent: IHL of at least 5 words,
/// total length covering the header and within `packet`.
fn ipv4_lengths(packet: &[u8]) -> Option<(usize, usize)> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let header = usize::from(first & 0x0f) * 4;
    let total = be16(packet, 2)?;
    (header >= 20 && header <= total && total <= packet.len()).then_some((header, total))
}

/// An IPv6 packet's total length (fixed header + Payload Length), if within `packet`.
fn ipv6_length(packet: &[u8]) -> Option<usize> {
    if packet.first()? >> 4 != 6 {
        return None;
    }
    let total = be16(packet, 4)?.checked_add(40)?;
    (total <= packet.len()).then_some(total)
}

/// Tunnel mode, outbound: the Next Header for `packet` (4 or 41) and the packet itself,
/// without any bytes after its IP length (link-layer padding).
pub(super) fn tunnel_payload(packet: &[u8]) -> Result<(u8, &[u8]), EspError> {
    let (next_header, len) = match packet.first().map(|b| b >> 4) {
        Some(4) => (protocol::IPV4, ipv4_lengths(packet).map(|(_, t)| t)),
        Some(6) => (protocol::IPV6, ipv6_length(packet)),
        _ => (0, None),
    };
    let len = len.ok_or(EspError::InvalidPacket)?;
    let payload = packet.get(..len).ok_or(EspError::InvalidPacket)?;
    Ok((next_header, payload))
}

/// Transport mode, outbound: the upper-layer protocol and payload after the IP header
/// (RFC 4303 §3.1.1: ESP goes after the IP header, and its Next Header carries the
/// original protocol).
pub(super) fn transport_payload(packet: &[u8]) -> Result<(u8, &[u8]), EspError> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => {
            let (header, total) = ipv4_lengths(packet).ok_or(EspError::InvalidPacket)?;
            // More Fragments or a fragment offset: ESP transport mode protects whole
            // datagrams (RFC 4303 §3.3.4: fragmentation happens after ESP).
            let flags_offset = be16(packet, 6).ok_or(EspError::InvalidPacket)?;
            if flags_offset & 0x3fff != 0 {
                return Err(EspError::Fragment);
            }
            let protocol = *packet.get(9).ok_or(EspError::InvalidPacket)?;
            let payload = packet.get(header..total).ok_or(EspError::InvalidPacket)?;
            Ok((protocol, payload))
        }
        Some(6) => {
            let total = ipv6_length(packet).ok_or(EspError::InvalidPacket)?;
            let next = *packet.get(6).ok_or(EspError::InvalidPacket)?;
            if IPV6_EXTENSION_HEADERS.contains(&next) {
                return Err(EspError::UnsupportedExtensionHeader(next));
            }
            let payload = packet.get(40..total).ok_or(EspError::InvalidPacket)?;
            Ok((next, payload))
        }
        _ => Err(EspError::InvalidPacket),
    }
}

/// Tunnel mode, inbound: the length of the inner packet announced by `next_header`, which
/// must match its version. Bytes after that length are TFC padding (RFC 4303 §2.7) and are
/// dropped by the caller.
pub(super) fn inner_packet_len(next_header: u8, inner: &[u8]) -> Result<usize, EspError> {
    let len = match next_header {
        protocol::IPV4 => ipv4_lengths(inner).map(|(_, t)| t),
        protocol::IPV6 => ipv6_length(inner),
        other => return Err(EspError::BadNextHeader(other)),
    };
    len.ok_or(EspError::BadInnerPacket)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(protocol: u8, options: usize, payload: usize) -> Vec<u8> {
        let header = 20 + options;
        let total = header + payload;
        let mut p = vec![0u8; total];
        p[0] = 0x40 | (header / 4) as u8;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[9] = protocol;
        p
    }

    #[test]
    fn ipv4_options_are_skipped() {
        let p = v4(17, 8, 30);
        let (proto, payload) = transport_payload(&p).unwrap();
        assert_eq!((proto, payload.len()), (17, 30));
        assert_eq!(tunnel_payload(&p).unwrap().1.len(), 58);
    }

    #[test]
    fn inconsistent_headers_are_refused() {
        let mut p = v4(6, 0, 10);
        p[3] += 1; // total length beyond the packet
        assert_eq!(tunnel_payload(&p), Err(EspError::InvalidPacket));
        let mut p = v4(6, 0, 10);
        p[0] = 0x44; // IHL 4
        assert_eq!(transport_payload(&p), Err(EspError::InvalidPacket));
        let mut p = v4(6, 0, 10);
        p[6] = 0x20; // More Fragments
        assert_eq!(transport_payload(&p), Err(EspError::Fragment));
        assert_eq!(tunnel_payload(&[]), Err(EspError::InvalidPacket));
        assert_eq!(tunnel_payload(&[0x50; 40]), Err(EspError::InvalidPacket));
        let mut p6 = vec![0u8; 48];
        p6[0] = 0x60;
        p6[5] = 8;
        p6[6] = 44; // Fragment header
        assert_eq!(
            transport_payload(&p6),
            Err(EspError::UnsupportedExtensionHeader(44))
        );
        p6[6] = 17;
        assert_eq!(transport_payload(&p6).unwrap(), (17, &[0u8; 8][..]));
        assert_eq!(inner_packet_len(4, &p6), Err(EspError::BadInnerPacket));
        assert_eq!(inner_packet_len(41, &p6), Ok(48));
        assert_eq!(inner_packet_len(17, &p6), Err(EspError::BadNextHeader(17)));
    }
}
