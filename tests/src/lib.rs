//! Shared helpers for the integration tests (capture reading, vector files).
//!
//! - [`vectors_dir`] / [`vector`]: where the known-answer captures live (`<repo>/vectors`).
//! - [`pcap`]: read a capture (pcap or pcapng; Ethernet, Linux cooked SLL/SLL2, raw IP) into the
//!   UDP datagrams (IKE on 500/4500, ESP-in-UDP, NAT-T keepalives) and raw ESP packets it holds.
//! - [`replay`]: a passive IKEv1 observer that re-derives every key of a capture and decrypts it.
//! - [`charon_log`]: the hex dumps (`LABEL => N bytes @ 0x...` + rows) of a strongSwan charon log.
//! - [`lab`]: network-namespace lab for interop tests (strongSwan charon, libreswan pluto, ike-scan,
//!   tcpdump; namespaces and processes always cleaned up, also on panic). Needs root.

pub mod engine_driver;
pub mod lab;
pub mod replay;

use std::path::{Path, PathBuf};

/// Absolute path of the repository's `vectors/` directory (`CARGO_MANIFEST_DIR/../vectors`).
pub fn vectors_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).join("vectors")
}

/// `vectors_dir().join(rel)`, e.g. `vector("strongswan-mm-psk/kat-mm-qm-psk.pcap")`.
pub fn vector(rel: impl AsRef<Path>) -> PathBuf {
    vectors_dir().join(rel)
}

pub mod pcap {
    //! Reading captures into IPv4/IPv6 UDP datagrams and raw ESP packets.
    //!
    //! Link types: Ethernet (with 802.1Q/802.1ad tags), Linux cooked capture v1 (SLL, what
    //! `tcpdump -i any` wrote before libpcap 1.10) and v2 (SLL2), raw IP (DLT_RAW, LINKTYPE_IPV4/6),
    //! BSD loopback (NULL/LOOP). Files: classic pcap (any endianness and timestamp resolution)
    //! and pcapng. IPv4 fragments are reassembled. Frames that are neither UDP nor ESP are
    //! skipped but still counted, so [`UdpDatagram::index`] is always the frame number in the file.

    use std::borrow::Cow;
    use std::collections::HashMap;
    use std::fmt;
    use std::fs::File;
    use std::io::{BufReader, Read};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::path::Path;
    use std::time::Duration;

    use ipsec_core::wire::framing::{IKE_PORT, NAT_T_PORT};
    use ipsec_core::wire::{Datagram, classify_nat_t};
    use pcap_file::DataLink;
    use pcap_file::pcap::PcapReader;
    use pcap_file::pcapng::{Block, PcapNgReader};

    /// One UDP datagram. `index` is the 1-based frame number in the capture (tshark's
    /// `frame.number`, the numbering used in the vectors' READMEs).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct UdpDatagram {
        pub index: usize,
        pub timestamp: Duration,
        pub src: SocketAddr,
        pub dst: SocketAddr,
        /// UDP payload (for port 4500: including the non-ESP marker, if any).
        pub payload: Vec<u8>,
    }

    /// What a UDP datagram carries (RFC 3948 demultiplexing on port 4500).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum UdpKind {
        /// An ISAKMP message: any datagram to/from port 500 that is not a keepalive, or a port
        /// 4500 datagram starting with the 4-byte zero non-ESP marker.
        Ike,
        /// ESP-in-UDP (port 4500, first four bytes are a non-zero SPI).
        EspInUdp,
        /// NAT-T keepalive: a single 0xFF byte.
        NatKeepalive,
        /// Anything else (other ports, or a runt datagram on 4500).
        Other,
    }

    impl UdpDatagram {
        /// The codec's view of this datagram (RFC 3948 demultiplexing, done by
        /// `ipsec_core::wire::framing`): port 4500 on either side means NAT-T framing.
        fn classified(&self) -> Option<Datagram<'_>> {
            let nat_t = self.src.port() == NAT_T_PORT || self.dst.port() == NAT_T_PORT;
            if nat_t {
                classify_nat_t(&self.payload).ok()
            } else if self.src.port() == IKE_PORT || self.dst.port() == IKE_PORT {
                (self.payload != [0xff]).then_some(Datagram::Ike(&self.payload))
            } else {
                None
            }
        }

        pub fn kind(&self) -> UdpKind {
            match self.classified() {
                Some(Datagram::Ike(_)) => UdpKind::Ike,
                Some(Datagram::Esp { .. }) => UdpKind::EspInUdp,
                Some(Datagram::NatKeepalive) => UdpKind::NatKeepalive,
                None if self.payload == [0xff] => UdpKind::NatKeepalive,
                None => UdpKind::Other,
            }
        }

        /// The ISAKMP message (the non-ESP marker removed on port 4500), if this is one.
        pub fn ike(&self) -> Option<&[u8]> {
            match self.classified() {
                Some(Datagram::Ike(m)) => Some(m),
                _ => None,
            }
        }

        /// The ESP packet (from the SPI on), if this is ESP-in-UDP.
        pub fn esp(&self) -> Option<&[u8]> {
            match self.classified() {
                Some(Datagram::Esp { packet, .. }) => Some(packet),
                _ => None,
            }
        }
    }

    /// A raw ESP packet (IP protocol 50); `payload` starts at the SPI.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct EspPacket {
        pub index: usize,
        pub timestamp: Duration,
        pub src: IpAddr,
        pub dst: IpAddr,
        pub payload: Vec<u8>,
    }

    impl EspPacket {
        pub fn spi(&self) -> Option<u32> {
            self.payload
                .get(..4)
                .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
        }
    }

    /// One interesting frame, in capture order.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Packet {
        Udp(UdpDatagram),
        Esp(EspPacket),
    }

    /// Everything [`read`] found.
    #[derive(Clone, Debug, Default)]
    pub struct Capture {
        /// Link type of the file (of the first interface for pcapng).
        pub datalink: Option<DataLink>,
        /// Number of frames in the file (including ones that are neither UDP nor ESP).
        pub frames: usize,
        /// UDP datagrams in capture order.
        pub udp: Vec<UdpDatagram>,
        /// Raw ESP (IP protocol 50) packets in capture order.
        pub esp: Vec<EspPacket>,
    }

    impl Capture {
        /// The ISAKMP messages (non-ESP marker stripped) with their datagrams, in order.
        pub fn ike(&self) -> Vec<(&UdpDatagram, &[u8])> {
            self.udp
                .iter()
                .filter_map(|d| d.ike().map(|m| (d, m)))
                .collect()
        }

        /// The ESP-in-UDP datagrams, in order.
        pub fn esp_in_udp(&self) -> Vec<&UdpDatagram> {
            self.udp
                .iter()
                .filter(|d| d.kind() == UdpKind::EspInUdp)
                .collect()
        }

        /// UDP datagrams and raw ESP packets merged in capture order.
        pub fn packets(&self) -> Vec<Packet> {
            let mut all: Vec<Packet> = self
                .udp
                .iter()
                .cloned()
                .map(Packet::Udp)
                .chain(self.esp.iter().cloned().map(Packet::Esp))
                .collect();
            all.sort_by_key(|p| match p {
                Packet::Udp(d) => d.index,
                Packet::Esp(e) => e.index,
            });
            all
        }
    }

    #[derive(Debug)]
    pub enum Error {
        Io(std::io::Error),
        Pcap(pcap_file::PcapError),
        /// Neither a pcap nor a pcapng file.
        NotACapture,
        UnsupportedLinkType(DataLink),
        /// A frame was captured shorter than it was on the wire (snaplen too small).
        Truncated {
            index: usize,
        },
        /// A frame's headers do not add up.
        Malformed {
            index: usize,
            what: &'static str,
        },
    }

    impl fmt::Display for Error {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Error::Io(e) => write!(f, "I/O error: {e}"),
                Error::Pcap(e) => write!(f, "pcap error: {e}"),
                Error::NotACapture => write!(f, "not a pcap or pcapng file"),
                Error::UnsupportedLinkType(l) => write!(f, "unsupported link type {l:?}"),
                Error::Truncated { index } => write!(f, "frame {index} is truncated (snaplen)"),
                Error::Malformed { index, what } => write!(f, "frame {index}: malformed {what}"),
            }
        }
    }

    impl std::error::Error for Error {}

    impl From<std::io::Error> for Error {
        fn from(e: std::io::Error) -> Self {
            Error::Io(e)
        }
    }

    impl From<pcap_file::PcapError> for Error {
        fn from(e: pcap_file::PcapError) -> Self {
            Error::Pcap(e)
        }
    }

    /// Read a capture file: UDP datagrams and raw ESP packets.
    pub fn read(path: impl AsRef<Path>) -> Result<Capture, Error> {
        let mut data = Vec::new();
        BufReader::new(File::open(path)?).read_to_end(&mut data)?;
        parse(&data)
    }

    /// Only the UDP datagrams of a capture file.
    pub fn read_udp(path: impl AsRef<Path>) -> Result<Vec<UdpDatagram>, Error> {
        Ok(read(path)?.udp)
    }

    /// Parse a capture held in memory.
    pub fn parse(data: &[u8]) -> Result<Capture, Error> {
        let magic = data.get(..4).ok_or(Error::NotACapture)?;
        let mut cap = Capture::default();
        let mut frag = Reassembly::default();
        match magic {
            [0x0a, 0x0d, 0x0d, 0x0a] => {
                let mut reader = PcapNgReader::new(data)?;
                let mut links: Vec<DataLink> = Vec::new();
                while let Some(block) = reader.next_block() {
                    let (iface, ts, orig_len, bytes): (u32, Duration, u32, Cow<'_, [u8]>) =
                        match block? {
                            Block::SectionHeader(_) => {
                                links.clear();
                                continue;
                            }
                            Block::InterfaceDescription(idb) => {
                                cap.datalink.get_or_insert(idb.linktype);
                                links.push(idb.linktype);
                                continue;
                            }
                            Block::EnhancedPacket(epb) => {
                                (epb.interface_id, epb.timestamp, epb.original_len, epb.data)
                            }
                            Block::SimplePacket(spb) => {
                                (0, Duration::ZERO, spb.original_len, spb.data)
                            }
                            Block::Packet(pb) => (
                                u32::from(pb.interface_id),
                                Duration::from_micros(pb.timestamp),
                                pb.original_len,
                                pb.data,
                            ),
                            _ => continue,
                        };
                    cap.frames += 1;
                    let link = *links.get(iface as usize).ok_or(Error::Malformed {
                        index: cap.frames,
                        what: "pcapng interface id",
                    })?;
                    frame(&mut cap, &mut frag, link, ts, orig_len as usize, &bytes)?;
                }
            }
            [0xa1, 0xb2, 0xc3, 0xd4]
            | [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d]
            | [0x4d, 0x3c, 0xb2, 0xa1] => {
                let mut reader = PcapReader::new(data).map_err(|e| match e {
                    pcap_file::PcapError::InvalidField(_) => Error::NotACapture,
                    e => Error::Pcap(e),
                })?;
                let link = reader.header().datalink;
                cap.datalink = Some(link);
                while let Some(pkt) = reader.next_packet() {
                    let pkt = pkt?;
                    cap.frames += 1;
                    frame(
                        &mut cap,
                        &mut frag,
                        link,
                        pkt.timestamp,
                        pkt.orig_len as usize,
                        &pkt.data,
                    )?;
                }
            }
            _ => return Err(Error::NotACapture),
        }
        Ok(cap)
    }

    const ETH_IPV4: u16 = 0x0800;
    const ETH_IPV6: u16 = 0x86dd;

    fn be16(b: &[u8], at: usize) -> Option<u16> {
        b.get(at..at + 2).map(|x| u16::from_be_bytes([x[0], x[1]]))
    }

    fn frame(
        cap: &mut Capture,
        frag: &mut Reassembly,
        link: DataLink,
        ts: Duration,
        orig_len: usize,
        data: &[u8],
    ) -> Result<(), Error> {
        let index = cap.frames;
        if data.len() < orig_len {
            return Err(Error::Truncated { index });
        }
        let bad = |what| Error::Malformed { index, what };
        // (ethertype, network-layer bytes)
        let (ethertype, l3): (u16, &[u8]) = match link {
            DataLink::ETHERNET => {
                let mut off = 12;
                let mut et = be16(data, off).ok_or(bad("Ethernet header"))?;
                while et == 0x8100 || et == 0x88a8 {
                    off += 4;
                    et = be16(data, off).ok_or(bad("VLAN tag"))?;
                }
                (et, &data[off + 2..])
            }
            DataLink::LINUX_SLL => (
                be16(data, 14).ok_or(bad("SLL header"))?,
                data.get(16..).ok_or(bad("SLL header"))?,
            ),
            DataLink::LINUX_SLL2 => (
                be16(data, 0).ok_or(bad("SLL2 header"))?,
                data.get(20..).ok_or(bad("SLL2 header"))?,
            ),
            DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => match data.first().map(|b| b >> 4) {
                Some(4) => (ETH_IPV4, data),
                Some(6) => (ETH_IPV6, data),
                _ => return Ok(()),
            },
            DataLink::NULL | DataLink::LOOP => {
                let af = data.get(..4).ok_or(bad("loopback header"))?;
                let (le, be) = (
                    u32::from_le_bytes(af.try_into().unwrap()),
                    u32::from_be_bytes(af.try_into().unwrap()),
                );
                let et = if le == 2 || be == 2 {
                    ETH_IPV4
                } else if [24, 28, 30].contains(&le) || [24, 28, 30].contains(&be) {
                    ETH_IPV6
                } else {
                    return Ok(());
                };
                (et, &data[4..])
            }
            other => return Err(Error::UnsupportedLinkType(other)),
        };
        match ethertype {
            ETH_IPV4 => ipv4(cap, frag, index, ts, l3),
            ETH_IPV6 => ipv6(cap, index, ts, l3),
            _ => Ok(()),
        }
    }

    /// IPv4 fragment reassembly keyed by (src, dst, protocol, identification).
    #[derive(Default)]
    struct Reassembly {
        pending: HashMap<(Ipv4Addr, Ipv4Addr, u8, u16), Fragments>,
    }

    #[derive(Default)]
    struct Fragments {
        parts: Vec<(usize, Vec<u8>)>,
        total: Option<usize>,
    }

    impl Fragments {
        fn complete(&mut self) -> Option<Vec<u8>> {
            let total = self.total?;
            self.parts.sort_by_key(|(off, _)| *off);
            let mut out = Vec::with_capacity(total);
            for (off, part) in &self.parts {
                if *off > out.len() {
                    return None; // hole
                }
                let skip = out.len() - off;
                if skip < part.len() {
                    out.extend_from_slice(&part[skip..]);
                }
            }
            (out.len() >= total).then(|| {
                out.truncate(total);
                out
            })
        }
    }

    fn ipv4(
        cap: &mut Capture,
        frag: &mut Reassembly,
        index: usize,
        ts: Duration,
        p: &[u8],
    ) -> Result<(), Error> {
        let bad = |what| Error::Malformed { index, what };
        if p.len() < 20 || p[0] >> 4 != 4 {
            return Err(bad("IPv4 header"));
        }
        let ihl = usize::from(p[0] & 0x0f) * 4;
        let total = usize::from(be16(p, 2).unwrap());
        if ihl < 20 || total < ihl || total > p.len() {
            return Err(bad("IPv4 lengths"));
        }
        let id = be16(p, 4).unwrap();
        let flags_off = be16(p, 6).unwrap();
        let more = flags_off & 0x2000 != 0;
        let offset = usize::from(flags_off & 0x1fff) * 8;
        let proto = p[9];
        let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
        let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
        let body = &p[ihl..total]; // drops Ethernet padding
        let body: Cow<'_, [u8]> = if more || offset != 0 {
            let key = (src, dst, proto, id);
            let entry = frag.pending.entry(key).or_default();
            entry.parts.push((offset, body.to_vec()));
            if !more {
                entry.total = Some(offset + body.len());
            }
            match entry.complete() {
                Some(whole) => {
                    frag.pending.remove(&key);
                    Cow::Owned(whole)
                }
                None => return Ok(()),
            }
        } else {
            Cow::Borrowed(body)
        };
        transport(
            cap,
            index,
            ts,
            IpAddr::V4(src),
            IpAddr::V4(dst),
            proto,
            &body,
        )
    }

    fn ipv6(cap: &mut Capture, index: usize, ts: Duration, p: &[u8]) -> Result<(), Error> {
        let bad = |what| Error::Malformed { index, what };
        if p.len() < 40 || p[0] >> 4 != 6 {
            return Err(bad("IPv6 header"));
        }
        let plen = usize::from(be16(p, 4).unwrap());
        let body = p.get(40..40 + plen).ok_or(bad("IPv6 payload length"))?;
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap());
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap());
        // no extension headers on the paths this is used for; skip anything else
        transport(cap, index, ts, IpAddr::V6(src), IpAddr::V6(dst), p[6], body)
    }

    fn transport(
        cap: &mut Capture,
        index: usize,
        timestamp: Duration,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        body: &[u8],
    ) -> Result<(), Error> {
        match proto {
            17 => {
                let len = usize::from(be16(body, 4).ok_or(Error::Malformed {
                    index,
                    what: "UDP header",
                })?);
                if len < 8 || len > body.len() {
                    return Err(Error::Malformed {
                        index,
                        what: "UDP length",
                    });
                }
                cap.udp.push(UdpDatagram {
                    index,
                    timestamp,
                    src: SocketAddr::new(src, be16(body, 0).unwrap()),
                    dst: SocketAddr::new(dst, be16(body, 2).unwrap()),
                    payload: body[8..len].to_vec(),
                });
            }
            50 => cap.esp.push(EspPacket {
                index,
                timestamp,
                src,
                dst,
                payload: body.to_vec(),
            }),
            _ => {}
        }
        Ok(())
    }
}

pub mod charon_log {
    //! Hex dumps in a strongSwan charon file log.
    //!
    //! charon logs a chunk (`%B`) as a header line and 16-byte rows, each line with the usual
    //! prefix (`[time ]TT[GRP] [<conn|N> ]`):
    //!
    //! ```text
    //! 01:45:28.988 16[IKE] <mm-psk|1> SKEYID_d => 32 bytes @ 0x7f1330002500
    //! 01:45:28.988 16[IKE] <mm-psk|1>    0: 00 9D DC A8 00 3E F6 C1 2A 0A 38 06 BE 39 03 A2  .....>..*.8..9..
    //! 01:45:28.988 16[IKE] <mm-psk|1>   16: 12 CC 91 52 DD BF BB 0D 8F C7 50 21 DE 5E 21 28  ...R......P!.^!(
    //! ```
    //!
    //! Rows are matched to their header by thread number and must continue at the right offset;
    //! exactly N bytes are taken (the ASCII column is ignored), so every returned dump has the
    //! length its header announces. A dump that is cut short is dropped. `=> 0 bytes @ (nil)` gives
    //! an empty dump. The label is the text between the prefix and `=>`, trimmed (it is empty for
    //! the payload-field dumps of the parser/generator at `enc` level 3).

    use std::collections::HashMap;
    use std::net::IpAddr;
    use std::path::Path;

    /// One hex dump.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Dump {
        pub label: String,
        pub data: Vec<u8>,
        /// 1-based line number of the header line.
        pub line: usize,
        /// charon thread number (`16` in `16[IKE]`).
        pub thread: u32,
        /// log group (`IKE`, `CHD`, `ENC`, ...).
        pub group: String,
        /// IKE_SA name (`mm-psk|1`) if the log has `ike_name = yes` and the line carries one.
        pub ike: Option<String>,
    }

    /// Read a log file (lossy UTF-8).
    pub fn read(path: impl AsRef<Path>) -> std::io::Result<String> {
        Ok(String::from_utf8_lossy(&std::fs::read(path)?).into_owned())
    }

    struct Line<'a> {
        thread: u32,
        group: &'a str,
        ike: Option<&'a str>,
        body: &'a str,
    }

    /// Split `[prefix ]TT[GRP] [<ike> ]body`.
    fn split(line: &str) -> Option<Line<'_>> {
        let b = line.as_bytes();
        let mut search = 0;
        while let Some(rel) = line[search..].find('[') {
            let open = search + rel;
            search = open + 1;
            let digits = b[..open]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if digits == 0 {
                continue;
            }
            let close = match line[open + 1..].find(']') {
                Some(r) => open + 1 + r,
                None => return None,
            };
            let group = &line[open + 1..close];
            if group.is_empty() || !group.bytes().all(|c| c.is_ascii_uppercase()) {
                continue;
            }
            if b.get(close + 1) != Some(&b' ') {
                continue;
            }
            let thread = line[open - digits..open].parse().ok()?;
            let mut body = &line[close + 2..];
            let mut ike = None;
            if body.starts_with('<')
                && let Some(end) = body.find("> ")
            {
                ike = Some(&body[1..end]);
                body = &body[end + 2..];
            }
            return Some(Line {
                thread,
                group,
                ike,
                body,
            });
        }
        None
    }

    /// `LABEL => N bytes @ 0x...` / `@ (nil)`
    fn header(body: &str) -> Option<(&str, usize)> {
        let at = body.rfind("=> ")?;
        let rest = body[at + 3..].trim_end();
        let (n, tail) = rest.split_once(" bytes @ ")?;
        let ok_tail = tail == "(nil)"
            || (tail.starts_with("0x")
                && tail.len() > 2
                && tail[2..].bytes().all(|c| c.is_ascii_hexdigit()));
        if !ok_tail {
            return None;
        }
        Some((body[..at].trim(), n.parse().ok()?))
    }

    /// `   OFF: XX XX ...` -> (offset, rest after ": ")
    fn row(body: &str) -> Option<(usize, &str)> {
        let t = body.trim_start();
        let (off, rest) = t.split_once(": ")?;
        Some((off.parse().ok()?, rest))
    }

    fn hex_byte(tok: &str) -> Option<u8> {
        (tok.len() == 2)
            .then(|| u8::from_str_radix(tok, 16).ok())
            .flatten()
    }

    /// Every complete hex dump, in order of the header lines.
    pub fn parse(log: &str) -> Vec<Dump> {
        let mut done: Vec<Dump> = Vec::new();
        let mut pending: HashMap<u32, (Dump, usize)> = HashMap::new(); // thread -> (dump, expected len)
        for (i, raw) in log.lines().enumerate() {
            let Some(l) = split(raw) else { continue };
            if let Some((mut dump, want)) = pending.remove(&l.thread)
                && let Some((off, rest)) = row(l.body)
                && off == dump.data.len()
            {
                let n = (want - off).min(16);
                let bytes: Option<Vec<u8>> = rest.split(' ').take(n).map(hex_byte).collect();
                if let Some(bytes) = bytes.filter(|b| b.len() == n) {
                    dump.data.extend_from_slice(&bytes);
                    if dump.data.len() == want {
                        done.push(dump);
                    } else {
                        pending.insert(l.thread, (dump, want));
                    }
                    continue;
                }
            }
            // anything else from a thread with a pending dump: that dump was cut short (the
            // remove above dropped it); the line may start a new dump
            if let Some((label, n)) = header(l.body) {
                let dump = Dump {
                    label: label.to_string(),
                    data: Vec::with_capacity(n),
                    line: i + 1,
                    thread: l.thread,
                    group: l.group.to_string(),
                    ike: l.ike.map(str::to_string),
                };
                if n == 0 {
                    done.push(dump);
                } else {
                    pending.insert(l.thread, (dump, n));
                }
            }
        }
        done.sort_by_key(|d| d.line);
        done
    }

    /// `(label, bytes)` of every hex dump, in order.
    pub fn dumps(log: &str) -> Vec<(String, Vec<u8>)> {
        parse(log).into_iter().map(|d| (d.label, d.data)).collect()
    }

    /// All dumps with exactly this label, in order.
    pub fn find(log: &str, label: &str) -> Vec<Vec<u8>> {
        parse(log)
            .into_iter()
            .filter(|d| d.label == label)
            .map(|d| d.data)
            .collect()
    }

    /// The first dump with this label.
    pub fn first(log: &str, label: &str) -> Option<Vec<u8>> {
        parse(log)
            .into_iter()
            .find(|d| d.label == label)
            .map(|d| d.data)
    }

    /// Direction of an ESP SA as charon installs it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Direction {
        Inbound,
        Outbound,
    }

    /// An ESP SA from `adding inbound|outbound ESP SA` / `  SPI 0x..., src A dst B` (chd level 2+)
    /// and the following kernel-libipsec `using encryption|integrity algorithm X with key size N`.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct EspSa {
        pub direction: Direction,
        pub spi: u32,
        pub src: IpAddr,
        pub dst: IpAddr,
        /// strongSwan's name, e.g. `AES_CBC`, `3DES_CBC`, `AES_GCM_16` (None if not logged).
        pub encryption: Option<String>,
        /// Key size in bits as logged (for AEAD it includes the salt, e.g. 160 for AES-128-GCM).
        pub encryption_key_bits: Option<u32>,
        /// e.g. `HMAC_SHA1_96`; None for AEAD (`UNDEFINED`) or if not logged.
        pub integrity: Option<String>,
    }

    /// The ESP SAs a charon installed, in order. The `encryption initiator key` / `integrity
    /// initiator key` dumps belong to the SA carrying initiator→responder traffic (outbound on the
    /// initiator; its SPI was chosen by the responder).
    pub fn esp_sas(log: &str) -> Vec<EspSa> {
        let lines: Vec<Line<'_>> = log.lines().filter_map(split).collect();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let direction = match l.body {
                "adding inbound ESP SA" => Direction::Inbound,
                "adding outbound ESP SA" => Direction::Outbound,
                _ => continue,
            };
            let same = |x: &&Line<'_>| x.thread == l.thread;
            let mut next = lines[i + 1..].iter().filter(same);
            let Some(spi_line) = next.next() else {
                continue;
            };
            let Some(rest) = spi_line.body.trim_start().strip_prefix("SPI 0x") else {
                continue;
            };
            let Some((spi, rest)) = rest.split_once(", src ") else {
                continue;
            };
            let Some((src, dst)) = rest.split_once(" dst ") else {
                continue;
            };
            let (Ok(spi), Ok(src), Ok(dst)) = (
                u32::from_str_radix(spi, 16),
                src.parse(),
                dst.trim().parse(),
            ) else {
                continue;
            };
            let mut sa = EspSa {
                direction,
                spi,
                src,
                dst,
                encryption: None,
                encryption_key_bits: None,
                integrity: None,
            };
            for x in next.take(6) {
                let b = x.body.trim_start();
                if let Some(r) = b.strip_prefix("using encryption algorithm ") {
                    if let Some((alg, bits)) = r.split_once(" with key size ") {
                        sa.encryption = Some(alg.to_string());
                        sa.encryption_key_bits = bits.trim().parse().ok();
                    }
                } else if let Some(r) = b.strip_prefix("using integrity algorithm ")
                    && let Some((alg, _)) = r.split_once(" with key size ")
                {
                    sa.integrity = (alg != "UNDEFINED").then(|| alg.to_string());
                }
            }
            out.push(sa);
        }
        out
    }
}
