//! The value types of the configuration: keywords, prefixes, times, identities, ports.
//!
//! Each type parses the operator manual's spelling (`modp2048`, `1d`, `fqdn:vpn.example.com`,
//! `203.0.113.0/24`, `any`) and prints it back the same way, so a configuration survives a
//! round trip through [`Config::to_toml_string`](super::Config::to_toml_string). Every parse
//! error says what was expected and what was found (`expected one of ..., got "x"`); the
//! caller adds the file, line, object and key.

use core::fmt;
use core::str::FromStr;
use std::net::IpAddr;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use zeroize::Zeroizing;

/// Why a value was not accepted; the message says what was expected and what was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueError(String);

impl ValueError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ValueError(message.into())
    }

    fn expected(expected: &str, got: &str) -> Self {
        ValueError(format!("expected {expected}, got {got:?}"))
    }

    /// The message, without location.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValueError {}

/// Deserializes any `FromStr<Err = ValueError>` type from a TOML string, with `expecting`
/// describing the value when the TOML type is wrong (an integer where a keyword belongs).
fn deserialize_str<'de, D, T>(deserializer: D, expecting: impl Into<String>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = ValueError>,
{
    struct StrVisitor<T>(String, core::marker::PhantomData<T>);
    impl<T: FromStr<Err = ValueError>> Visitor<'_> for StrVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            v.parse().map_err(|e: ValueError| E::custom(e))
        }
    }
    deserializer.deserialize_str(StrVisitor(expecting.into(), core::marker::PhantomData))
}

/// Defines a keyword enum: the manual's spellings, optional aliases, and spellings that the
/// manual knows but we refuse (with the reason).
macro_rules! keywords {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal $(| $alias:literal)*, )+
        }
        $( refuse { $( $rtext:literal => $reason:literal, )+ } )?
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in the order the manual lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The configuration spelling.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            fn expected() -> String {
                let names: &[&str] = &[$($text,)+];
                format!("one of {}", names.join(", "))
            }
        }

        impl FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, ValueError> {
                match s {
                    $( $text $(| $alias)* => Ok($name::$variant), )+
                    $( $( $rtext => Err(ValueError::new(format!(
                        "{:?} is refused: {}; expected {}", s, $reason, Self::expected()
                    ))), )+ )?
                    _ => Err(ValueError::expected(&Self::expected(), s)),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize_str(d, Self::expected())
            }
        }
    };
}

keywords! {
    /// Phase 1 exchange mode (`exchange-mode`).
    ///
    /// `main` and `main-l2tp` are the same exchange (identity protection, RFC 2409 §5); the
    /// manual says so and they are therefore one class for peer selection.
    /// `main-l2tp` relaxes RFC 2409 §5.4 so that pre-shared keys can be used in main mode with
    /// peers whose address is not known in advance (L2TP/IPsec road warriors).
    pub enum ExchangeMode {
        /// Main mode (identity protection).
        Main = "main",
        /// Aggressive mode: three messages, identities in the clear.
        Aggressive = "aggressive",
        /// Main mode with the RFC 2409 §5.4 relaxation for L2TP/IPsec clients.
        MainL2tp = "main-l2tp" | "l2tp-main",
    }
    refuse {
        "base" => "base mode is obsolete and not implemented",
    }
}

impl ExchangeMode {
    /// Whether two modes select the same peers: `main` and `main-l2tp` are one class.
    pub fn same_class(self, other: ExchangeMode) -> bool {
        self.is_main() == other.is_main()
    }

    /// Main mode or main-l2tp.
    pub fn is_main(self) -> bool {
        matches!(self, ExchangeMode::Main | ExchangeMode::MainL2tp)
    }
}

keywords! {
    /// A client profile (`profile`, our extension): the phase-1 terms a built-in VPN client
    /// sends, filled in for the keys a `[[peer]]` does not write (see `config::profile`).
    pub enum ClientProfile {
        /// Apple iOS and macOS "Cisco IPsec" (XAuth PSK, hybrid or certificates).
        Ios = "ios",
        /// Android's legacy "IPsec Xauth PSK" (and "IPsec Hybrid RSA").
        Android = "android",
        /// Windows' built-in L2TP/IPsec client.
        WindowsL2tp = "windows-l2tp",
    }
}

keywords! {
    /// Phase 1 authentication method (`auth-method`).
    pub enum AuthMethod {
        /// Pre-shared key (`secret`).
        PreSharedKey = "pre-shared-key",
        /// RSA signatures with X.509 certificates.
        RsaSignature = "rsa-signature",
        /// Pre-shared key, then XAuth user name and password; `passive` picks the side.
        PreSharedKeyXauth = "pre-shared-key-xauth",
        /// The responder signs with its certificate, the initiator authenticates by XAuth.
        RsaSignatureHybrid = "rsa-signature-hybrid",
    }
    refuse {
        "rsa-key" => "raw RSA keys are not supported, use rsa-signature with certificates",
    }
}

impl AuthMethod {
    /// Methods that authenticate with the `secret`.
    pub fn uses_psk(self) -> bool {
        matches!(
            self,
            AuthMethod::PreSharedKey | AuthMethod::PreSharedKeyXauth
        )
    }

    /// Methods followed by an XAuth exchange.
    pub fn uses_xauth(self) -> bool {
        matches!(
            self,
            AuthMethod::PreSharedKeyXauth | AuthMethod::RsaSignatureHybrid
        )
    }
}

keywords! {
    /// Diffie-Hellman group (`dh-group`, `pfs-group`).
    pub enum DhGroup {
        /// RFC 2409 group 1. Weak.
        Modp768 = "modp768",
        /// RFC 2409 group 2. Weak.
        Modp1024 = "modp1024",
        /// RFC 3526 group 5.
        Modp1536 = "modp1536",
        /// RFC 3526 group 14.
        Modp2048 = "modp2048",
        /// RFC 3526 group 15.
        Modp3072 = "modp3072",
        /// RFC 3526 group 16.
        Modp4096 = "modp4096",
        /// RFC 3526 group 17.
        Modp6144 = "modp6144",
        /// RFC 3526 group 18.
        Modp8192 = "modp8192",
        /// RFC 5903 group 19 (NIST P-256).
        Ecp256 = "ecp256",
        /// RFC 5903 group 20 (NIST P-384).
        Ecp384 = "ecp384",
        /// RFC 5903 group 21 (NIST P-521).
        Ecp521 = "ecp521",
        /// RFC 8031 group 31 (X25519).
        Curve25519 = "curve25519",
    }
    refuse {
        "ec2n155" => "EC2N groups are obsolete and not implemented",
        "ec2n185" => "EC2N groups are obsolete and not implemented",
    }
}

impl DhGroup {
    /// The IANA "Group Description" number used in IKEv1 attributes.
    pub fn group_number(self) -> u16 {
        match self {
            DhGroup::Modp768 => 1,
            DhGroup::Modp1024 => 2,
            DhGroup::Modp1536 => 5,
            DhGroup::Modp2048 => 14,
            DhGroup::Modp3072 => 15,
            DhGroup::Modp4096 => 16,
            DhGroup::Modp6144 => 17,
            DhGroup::Modp8192 => 18,
            DhGroup::Ecp256 => 19,
            DhGroup::Ecp384 => 20,
            DhGroup::Ecp521 => 21,
            DhGroup::Curve25519 => 31,
        }
    }

    /// modp768 and modp1024 are within reach of precomputation attacks (Logjam).
    pub fn is_weak(self) -> bool {
        matches!(self, DhGroup::Modp768 | DhGroup::Modp1024)
    }
}

keywords! {
    /// Phase 1 (ISAKMP SA) cipher (`enc-algorithm` of a peer).
    pub enum IkeEncryption {
        /// DES-CBC, 56-bit key. Weak.
        Des = "des",
        /// 3DES-CBC.
        TripleDes = "3des",
        /// AES-CBC, 128-bit key.
        Aes128 = "aes-128",
        /// AES-CBC, 192-bit key.
        Aes192 = "aes-192",
        /// AES-CBC, 256-bit key.
        Aes256 = "aes-256",
    }
    refuse {
        "blowfish" => "not implemented",
        "camellia-128" => "not implemented",
        "camellia-192" => "not implemented",
        "camellia-256" => "not implemented",
    }
}

impl IkeEncryption {
    /// DES: a 56-bit key is brute-forced in hours.
    pub fn is_weak(self) -> bool {
        self == IkeEncryption::Des
    }
}

keywords! {
    /// Phase 1 hash and PRF (`hash-algorithm` of a peer).
    pub enum IkeHash {
        /// MD5. Weak.
        Md5 = "md5",
        /// SHA-1.
        Sha1 = "sha1",
        /// SHA2-256.
        Sha256 = "sha256",
        /// SHA2-384.
        Sha384 = "sha384",
        /// SHA2-512.
        Sha512 = "sha512",
    }
}

impl IkeHash {
    /// MD5 collisions are practical.
    pub fn is_weak(self) -> bool {
        self == IkeHash::Md5
    }
}

keywords! {
    /// ESP cipher of a phase 2 proposal (`enc-algorithms`).
    pub enum EspEncryption {
        /// DES-CBC. Weak.
        Des = "des",
        /// 3DES-CBC.
        TripleDes = "3des",
        /// AES-CBC, 128-bit key.
        Aes128Cbc = "aes-128-cbc",
        /// AES-CBC, 192-bit key.
        Aes192Cbc = "aes-192-cbc",
        /// AES-CBC, 256-bit key.
        Aes256Cbc = "aes-256-cbc",
        /// AES-GCM with a 16-byte ICV (RFC 4106), 128-bit key. Needs no `auth-algorithms`.
        Aes128Gcm = "aes-128-gcm",
        /// AES-GCM with a 16-byte ICV (RFC 4106), 256-bit key. Needs no `auth-algorithms`.
        Aes256Gcm = "aes-256-gcm",
        /// ESP_NULL (RFC 2410): no encryption.
        Null = "null",
    }
    refuse {
        "aes-192-gcm" => "not implemented",
        "aes-128-ctr" => "not implemented",
        "aes-192-ctr" => "not implemented",
        "aes-256-ctr" => "not implemented",
        "blowfish" => "not implemented",
        "twofish" => "not implemented",
        "camellia-128" => "not implemented",
        "camellia-192" => "not implemented",
        "camellia-256" => "not implemented",
    }
}

impl EspEncryption {
    /// AEAD transforms carry their own integrity; `auth-algorithms` does not apply to them.
    pub fn is_aead(self) -> bool {
        matches!(self, EspEncryption::Aes128Gcm | EspEncryption::Aes256Gcm)
    }

    /// DES.
    pub fn is_weak(self) -> bool {
        self == EspEncryption::Des
    }
}

keywords! {
    /// ESP integrity algorithm of a phase 2 proposal (`auth-algorithms`).
    pub enum EspAuth {
        /// HMAC-MD5-96. Weak.
        Md5 = "md5",
        /// HMAC-SHA1-96.
        Sha1 = "sha1",
        /// HMAC-SHA2-256-128.
        Sha256 = "sha256",
        /// HMAC-SHA2-512-256.
        Sha512 = "sha512",
        /// No integrity (only meaningful with AES-GCM).
        Null = "null",
    }
}

impl EspAuth {
    /// MD5.
    pub fn is_weak(self) -> bool {
        self == EspAuth::Md5
    }
}

keywords! {
    /// Whether a peer may create policies that are not configured (`generate-policy`).
    pub enum GeneratePolicy {
        /// Only configured policies.
        No = "no",
        /// Generate, forcing the policy to any port.
        PortOverride = "port-override",
        /// Generate with the ports of the peer's proposal, which must match a template.
        PortStrict = "port-strict",
    }
}

keywords! {
    /// How the responder treats the initiator's phase 2 lifetimes (`proposal-check`).
    pub enum ProposalCheck {
        /// Accept whatever the initiator sends.
        Obey = "obey",
        /// Take the shorter of proposed and configured, and tell the initiator
        /// (RESPONDER-LIFETIME).
        Claim = "claim",
        /// Reject a proposed lifetime longer than ours, otherwise accept it.
        Strict = "strict",
        /// Require the same lifetimes.
        Exact = "exact",
    }
}

keywords! {
    /// What a policy does with matching packets (`action`).
    pub enum PolicyAction {
        /// Apply IPsec (negotiating SAs when needed).
        Encrypt = "encrypt",
        /// Drop.
        Discard = "discard",
        /// Pass unchanged.
        None = "none",
    }
}

keywords! {
    /// What to do when a policy's SA is missing (`level`).
    pub enum PolicyLevel {
        /// Drop the packet and acquire an SA.
        Require = "require",
        /// Send the packet as is and do not acquire.
        Use = "use",
        /// Drop and acquire an SA used by this policy only.
        Unique = "unique",
    }
}

keywords! {
    /// IPsec protocol applied by a policy (`ipsec-protocols`).
    pub enum IpsecProtocol {
        /// ESP (RFC 4303).
        Esp = "esp",
        /// AH (RFC 4302).
        Ah = "ah",
    }
}

keywords! {
    /// Which dataplane carries ESP (`[daemon] dataplane`).
    pub enum Dataplane {
        /// The kernel's XFRM when usable, the userspace dataplane otherwise.
        Auto = "auto",
        /// Linux XFRM.
        Kernel = "kernel",
        /// The userspace (TUN) dataplane.
        Userspace = "userspace",
    }
}

keywords! {
    /// Log verbosity (`[daemon] log-level`).
    pub enum LogLevel {
        /// Errors only.
        Error = "error",
        /// Warnings and errors.
        Warn = "warn",
        /// Normal operation.
        Info = "info",
        /// Protocol detail.
        Debug = "debug",
        /// Everything.
        Trace = "trace",
    }
}

// ---------------------------------------------------------------------------------------------
// Prefixes and ranges

/// An IPv4 or IPv6 prefix: `203.0.113.0/24`, `2001:db8::/32`, or a single address (a host
/// prefix, /32 or /128).
///
/// Host bits must be zero: `203.0.113.5/24` is refused rather than silently widened, because
/// it usually means a typo in the address or the length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

impl IpPrefix {
    /// A prefix; `None` when `len` is too long for the family or host bits are set.
    pub fn new(addr: IpAddr, len: u8) -> Option<Self> {
        let prefix = IpPrefix { addr, len };
        (len <= max_len(addr) && prefix.network() == addr).then_some(prefix)
    }

    /// The single-address prefix of `addr`.
    pub fn host(addr: IpAddr) -> Self {
        IpPrefix {
            addr,
            len: max_len(addr),
        }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether this is `0.0.0.0/0` or `::/0`.
    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    /// Whether this prefix holds exactly one address.
    pub fn is_host(&self) -> bool {
        self.len == max_len(self.addr)
    }

    /// Whether it is an IPv4 prefix.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// Whether `addr` lies inside. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, as a
    /// dual-stack socket reports IPv4 peers) count as their IPv4 address.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        match (self.addr, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => mask_v4(u32::from(a), self.len) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(a)) => mask_v6(u128::from(a), self.len) == u128::from(net),
            _ => false,
        }
    }

    /// Whether every address of `other` is inside `self`.
    pub fn covers(&self, other: &IpPrefix) -> bool {
        other.len >= self.len && self.contains(other.addr)
    }

    /// The first and last addresses.
    pub fn range(&self) -> AddrRange {
        match self.addr {
            IpAddr::V4(a) => {
                let start = u32::from(a);
                let host = u32::MAX.checked_shr(u32::from(self.len)).unwrap_or(0);
                AddrRange {
                    start: self.addr,
                    end: IpAddr::V4((start | host).into()),
                }
            }
            IpAddr::V6(a) => {
                let start = u128::from(a);
                let host = u128::MAX.checked_shr(u32::from(self.len)).unwrap_or(0);
                AddrRange {
                    start: self.addr,
                    end: IpAddr::V6((start | host).into()),
                }
            }
        }
    }

    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(mask_v4(u32::from(a), self.len).into()),
            IpAddr::V6(a) => IpAddr::V6(mask_v6(u128::from(a), self.len).into()),
        }
    }
}

fn max_len(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn mask_v4(a: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        a & (u32::MAX << (32 - u32::from(len)))
    }
}

fn mask_v6(a: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        a & (u128::MAX << (128 - u32::from(len)))
    }
}

const PREFIX_EXPECTED: &str = "an IP prefix such as 203.0.113.0/24, 2001:db8::/32 or an address";

impl FromStr for IpPrefix {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let Some((addr, len)) = s.split_once('/') else {
            return s
                .parse::<IpAddr>()
                .map(IpPrefix::host)
                .map_err(|_| ValueError::expected(PREFIX_EXPECTED, s));
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| ValueError::expected(PREFIX_EXPECTED, s))?;
        let len: u8 = match len.parse::<u8>() {
            Ok(n) if n <= max_len(addr) && !len.starts_with('+') => n,
            _ => {
                return Err(ValueError::new(format!(
                    "expected a prefix length 0..{} after \"/\", got {s:?}",
                    max_len(addr)
                )));
            }
        };
        let prefix = IpPrefix { addr, len };
        if prefix.network() != addr {
            return Err(ValueError::new(format!(
                "{s:?} has host bits set; expected a network prefix such as \"{}/{len}\"",
                prefix.network()
            )));
        }
        Ok(prefix)
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl Serialize for IpPrefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpPrefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_str(d, "an IP prefix string such as \"203.0.113.0/24\"")
    }
}

/// An inclusive range of addresses of one family: `10.0.0.2-10.0.0.254`, a prefix
/// `10.0.0.0/24` (all of its addresses), or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddrRange {
    start: IpAddr,
    end: IpAddr,
}

impl AddrRange {
    /// A range; `None` when the families differ or `start > end`.
    pub fn new(start: IpAddr, end: IpAddr) -> Option<Self> {
        let ok = match (start, end) {
            (IpAddr::V4(a), IpAddr::V4(b)) => a <= b,
            (IpAddr::V6(a), IpAddr::V6(b)) => a <= b,
            _ => false,
        };
        ok.then_some(AddrRange { start, end })
    }

    /// First address.
    pub fn start(&self) -> IpAddr {
        self.start
    }

    /// Last address.
    pub fn end(&self) -> IpAddr {
        self.end
    }

    /// Whether `addr` is inside (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        match (self.start, self.end, addr) {
            (IpAddr::V4(s), IpAddr::V4(e), IpAddr::V4(a)) => s <= a && a <= e,
            (IpAddr::V6(s), IpAddr::V6(e), IpAddr::V6(a)) => s <= a && a <= e,
            _ => false,
        }
    }

    /// Whether the two ranges share an address.
    pub fn overlaps(&self, other: &AddrRange) -> bool {
        self.contains(other.start)
            || self.contains(other.end)
            || other.contains(self.start)
            || other.contains(self.end)
    }
}

const RANGE_EXPECTED: &str = "an address range such as 10.0.0.2-10.0.0.254, a prefix or an address";

impl FromStr for AddrRange {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        if let Some((a, b)) = s.split_once('-') {
            let (Ok(start), Ok(end)) = (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>())
            else {
                return Err(ValueError::expected(RANGE_EXPECTED, s));
            };
            return AddrRange::new(start, end).ok_or_else(|| {
                ValueError::new(format!(
                    "expected a range whose first address is not after its last, \
                     both of one family, got {s:?}"
                ))
            });
        }
        match s.parse::<IpPrefix>() {
            Ok(prefix) => Ok(prefix.range()),
            Err(e) if s.contains('/') => Err(e),
            Err(_) => Err(ValueError::expected(RANGE_EXPECTED, s)),
        }
    }
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

impl Serialize for AddrRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AddrRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_str(d, "an address range string such as \"10.0.0.2-10.0.0.254\"")
    }
}

/// An IP address read from a string (`"192.0.2.1"`), with the house error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Address(pub IpAddr);

impl FromStr for Address {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        s.parse()
            .map(Address)
            .map_err(|_| ValueError::expected("an IPv4 or IPv6 address", s))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_str(d, "an IP address string such as \"192.0.2.1\"")
    }
}

// ---------------------------------------------------------------------------------------------
// Times

/// A time in the manual's syntax: `30m`, `8h`, `1d`, `1w`, `3600s`, combinations in
/// decreasing units (`1h30m`, `1d12h`), `hh:mm:ss`, or a plain number of seconds (a TOML
/// integer or a string of digits). Whole seconds only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub Duration);

const TIME_EXPECTED: &str = "a time such as 30m, 8h, 1d, 1h30m, 3600s or 00:30:00";

const UNITS: [(char, u64); 5] = [
    ('w', 7 * 86_400),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

impl FromStr for Time {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let bad = || ValueError::expected(TIME_EXPECTED, s);
        if s.is_empty() {
            return Err(bad());
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse()
                .map(|n| Time(Duration::from_secs(n)))
                .map_err(|_| bad());
        }
        if s.contains(':') {
            let parts: Vec<&str> = s.split(':').collect();
            let [h, m, sec] = parts.as_slice() else {
                return Err(bad());
            };
            let num = |p: &str, max: Option<u64>| -> Result<u64, ValueError> {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                let n: u64 = p.parse().map_err(|_| bad())?;
                match max {
                    Some(max) if n > max => Err(bad()),
                    _ => Ok(n),
                }
            };
            let total = num(h, None)?
                .checked_mul(3600)
                .and_then(|t| t.checked_add(num(m, Some(59)).ok()? * 60))
                .and_then(|t| t.checked_add(num(sec, Some(59)).ok()?))
                .ok_or_else(bad)?;
            return Ok(Time(Duration::from_secs(total)));
        }
        let mut total: u64 = 0;
        let mut rest = s;
        let mut next_unit = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            let unit = rest[digits..].chars().next().ok_or_else(bad)?;
            let pos = UNITS[next_unit..]
                .iter()
                .position(|(u, _)| *u == unit)
                .ok_or_else(bad)?;
            let (_, secs) = UNITS[next_unit + pos];
            next_unit += pos + 1;
            total = n
                .checked_mul(secs)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(bad)?;
            rest = &rest[digits + unit.len_utf8()..];
        }
        Ok(Time(Duration::from_secs(total)))
    }
}

impl fmt::Display for Time {
    /// The shortest unit form: `1d`, `1h30m`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut secs = self.0.as_secs();
        if secs == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in UNITS {
            if secs >= size {
                write!(f, "{}{unit}", secs / size)?;
                secs %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

struct TimeVisitor;

impl Visitor<'_> for TimeVisitor {
    type Value = Time;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(TIME_EXPECTED)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Time, E> {
        v.parse().map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Time, E> {
        Ok(Time(Duration::from_secs(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Time, E> {
        u64::try_from(v)
            .map(|v| Time(Duration::from_secs(v)))
            .map_err(|_| E::custom(format!("expected {TIME_EXPECTED}, got {v}")))
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TimeVisitor)
    }
}

/// `dpd-interval`: a time, or `disable-dpd`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DpdInterval {
    /// Dead peer detection is off.
    Disabled,
    /// Probe after this much silence.
    Every(Time),
}

impl FromStr for DpdInterval {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        if s == "disable-dpd" {
            return Ok(DpdInterval::Disabled);
        }
        s.parse().map(DpdInterval::Every).map_err(|_| {
            ValueError::expected("a time such as 2m, 30s or 1h, or \"disable-dpd\"", s)
        })
    }
}

impl fmt::Display for DpdInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpdInterval::Disabled => f.write_str("disable-dpd"),
            DpdInterval::Every(t) => t.fmt(f),
        }
    }
}

impl Serialize for DpdInterval {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DpdInterval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DpdInterval;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a time such as \"2m\" or \"disable-dpd\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DpdInterval, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DpdInterval, E> {
                TimeVisitor.visit_u64(v).map(DpdInterval::Every)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DpdInterval, E> {
                TimeVisitor.visit_i64(v).map(DpdInterval::Every)
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------------
// Identities

/// An ISAKMP identity (RFC 2407 §4.6.2) as the configuration writes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// `address:IP`: ID_IPV4_ADDR or ID_IPV6_ADDR.
    Address(IpAddr),
    /// `fqdn:NAME`: ID_FQDN.
    Fqdn(String),
    /// `user-fqdn:NAME`: ID_USER_FQDN (`user@example.com`).
    UserFqdn(String),
    /// `key-id:NAME`: ID_KEY_ID, opaque bytes given as text.
    KeyId(String),
}

impl Identity {
    /// Whether a received identity is this one: addresses and key IDs exactly, names without
    /// regard to ASCII case (DNS names are case-insensitive).
    pub fn matches(&self, received: &Identity) -> bool {
        match (self, received) {
            (Identity::Address(a), Identity::Address(b)) => a.to_canonical() == b.to_canonical(),
            (Identity::Fqdn(a), Identity::Fqdn(b)) => a.eq_ignore_ascii_case(b),
            (Identity::UserFqdn(a), Identity::UserFqdn(b)) => a.eq_ignore_ascii_case(b),
            (Identity::KeyId(a), Identity::KeyId(b)) => a == b,
            _ => false,
        }
    }

    fn parse(s: &str, expected: &str) -> Result<Self, ValueError> {
        let bad = || ValueError::expected(expected, s);
        let (kind, value) = s.split_once(':').ok_or_else(bad)?;
        if value.is_empty() {
            return Err(bad());
        }
        match kind {
            "address" => value.parse().map(Identity::Address).map_err(|_| bad()),
            "fqdn" => Ok(Identity::Fqdn(value.to_owned())),
            "user-fqdn" => Ok(Identity::UserFqdn(value.to_owned())),
            "key-id" => Ok(Identity::KeyId(value.to_owned())),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Address(a) => write!(f, "address:{a}"),
            Identity::Fqdn(n) => write!(f, "fqdn:{n}"),
            Identity::UserFqdn(n) => write!(f, "user-fqdn:{n}"),
            Identity::KeyId(n) => write!(f, "key-id:{n}"),
        }
    }
}

const MY_ID_EXPECTED: &str = "auto, address:IP, fqdn:NAME, user-fqdn:NAME or key-id:NAME";
const REMOTE_ID_EXPECTED: &str =
    "auto, ignore, address:IP, fqdn:NAME, user-fqdn:NAME or key-id:NAME";

/// `my-id`: the identity we send.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum MyId {
    /// The local address (the manual's `auto`); with certificates, the engine may use the
    /// certificate's subject instead.
    #[default]
    Auto,
    /// This identity.
    Id(Identity),
}

impl FromStr for MyId {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        if s == "auto" {
            return Ok(MyId::Auto);
        }
        Identity::parse(s, MY_ID_EXPECTED).map(MyId::Id)
    }
}

impl fmt::Display for MyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MyId::Auto => f.write_str("auto"),
            MyId::Id(id) => id.fmt(f),
        }
    }
}

/// `remote-id` (alias `peer-id`): the identity we expect of the peer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum RemoteId {
    /// With certificates the peer's ID must match its certificate (subject or
    /// subjectAltName); with a pre-shared key any ID is accepted, the key authenticates.
    #[default]
    Auto,
    /// Any ID is accepted, even one its certificate does not carry (a warning with
    /// certificates: any holder of a certificate from the CA can then claim any name).
    Ignore,
    /// Exactly this identity.
    Id(Identity),
}

impl FromStr for RemoteId {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s {
            "auto" => Ok(RemoteId::Auto),
            "ignore" => Ok(RemoteId::Ignore),
            _ => Identity::parse(s, REMOTE_ID_EXPECTED).map(RemoteId::Id),
        }
    }
}

impl fmt::Display for RemoteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteId::Auto => f.write_str("auto"),
            RemoteId::Ignore => f.write_str("ignore"),
            RemoteId::Id(id) => id.fmt(f),
        }
    }
}

macro_rules! string_serde {
    ($ty:ty, $expecting:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize_str(d, $expecting)
            }
        }
    };
}

string_serde!(MyId, "an identity string such as \"fqdn:vpn.example.com\"");
string_serde!(
    RemoteId,
    "an identity string such as \"fqdn:peer.example.com\""
);

// ---------------------------------------------------------------------------------------------
// Other references and selectors

/// `pfs-group`: `none` or a Diffie-Hellman group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PfsGroup {
    /// No PFS: phase 2 keys derive from the phase 1 key alone.
    None,
    /// A fresh Diffie-Hellman exchange in every quick mode.
    Group(DhGroup),
}

impl FromStr for PfsGroup {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        if s == "none" {
            return Ok(PfsGroup::None);
        }
        s.parse().map(PfsGroup::Group).map_err(|e: ValueError| {
            if s.starts_with("ec2n") {
                e
            } else {
                ValueError::expected(&format!("none or {}", DhGroup::expected()), s)
            }
        })
    }
}

impl fmt::Display for PfsGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PfsGroup::None => f.write_str("none"),
            PfsGroup::Group(g) => g.fmt(f),
        }
    }
}

string_serde!(PfsGroup, "\"none\" or a group name such as \"modp2048\"");

/// A peer's `mode-config`: `none`, `request-only`, or the name of a `[[mode-config]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum ModeConfigRef {
    /// No mode-config.
    #[default]
    None,
    /// As initiator, request an address and DNS without a local `[[mode-config]]`.
    RequestOnly,
    /// This `[[mode-config]]`.
    Named(String),
}

impl FromStr for ModeConfigRef {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        Ok(match s {
            "none" => ModeConfigRef::None,
            "request-only" => ModeConfigRef::RequestOnly,
            "" => return Err(ValueError::expected("none, request-only or a name", s)),
            _ => ModeConfigRef::Named(s.to_owned()),
        })
    }
}

impl fmt::Display for ModeConfigRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModeConfigRef::None => f.write_str("none"),
            ModeConfigRef::RequestOnly => f.write_str("request-only"),
            ModeConfigRef::Named(n) => f.write_str(n),
        }
    }
}

string_serde!(
    ModeConfigRef,
    "\"none\", \"request-only\" or a mode-config name"
);

/// `src-port` / `dst-port`: `any` or one port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PortSpec {
    /// Every port.
    #[default]
    Any,
    /// This port.
    Port(u16),
}

const PORT_EXPECTED: &str = "\"any\" or a port 0..65535";

impl FromStr for PortSpec {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        if s == "any" {
            return Ok(PortSpec::Any);
        }
        match s.parse::<u16>() {
            Ok(p) if !s.starts_with('+') => Ok(PortSpec::Port(p)),
            _ => Err(ValueError::expected(PORT_EXPECTED, s)),
        }
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortSpec::Any => f.write_str("any"),
            PortSpec::Port(p) => p.fmt(f),
        }
    }
}

impl Serialize for PortSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PortSpec::Any => s.serialize_str("any"),
            PortSpec::Port(p) => s.serialize_u16(*p),
        }
    }
}

impl<'de> Deserialize<'de> for PortSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PortSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(PORT_EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortSpec, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortSpec, E> {
                u16::try_from(v)
                    .map(PortSpec::Port)
                    .map_err(|_| E::custom(format!("expected {PORT_EXPECTED}, got {v}")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortSpec, E> {
                u16::try_from(v)
                    .map(PortSpec::Port)
                    .map_err(|_| E::custom(format!("expected {PORT_EXPECTED}, got {v}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// `protocol`: `all`, a protocol name (the manual's list: `tcp`, `udp`, `icmp`, `gre`,
/// `ipsec-esp`, `l2tp`, ...), or a number 0..255.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    /// Every protocol.
    #[default]
    All,
    /// This IP protocol number.
    Number(u8),
}

/// Protocol names and numbers (IANA "Assigned Internet Protocol Numbers"), spelled as the
/// manual's menu does.
const PROTOCOL_NAMES: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("ggp", 3),
    ("ip-encap", 4),
    ("st", 5),
    ("tcp", 6),
    ("egp", 8),
    ("pup", 12),
    ("udp", 17),
    ("hmp", 20),
    ("xns-idp", 22),
    ("rdp", 27),
    ("iso-tp4", 29),
    ("dccp", 33),
    ("xtp", 36),
    ("ddp", 37),
    ("idpr-cmtp", 38),
    ("ipv6-encap", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("idrp", 45),
    ("rsvp", 46),
    ("gre", 47),
    ("ipsec-esp", 50),
    ("ipsec-ah", 51),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("rspf", 73),
    ("vmtp", 81),
    ("ospf", 89),
    ("ipip", 94),
    ("etherip", 97),
    ("encap", 98),
    ("pim", 103),
    ("vrrp", 112),
    ("l2tp", 115),
    ("sctp", 132),
    ("udp-lite", 136),
];

impl IpProtocol {
    /// TCP.
    pub const TCP: IpProtocol = IpProtocol::Number(6);
    /// UDP.
    pub const UDP: IpProtocol = IpProtocol::Number(17);
    /// SCTP.
    pub const SCTP: IpProtocol = IpProtocol::Number(132);

    /// Whether selectors of this protocol carry ports (TCP, UDP, SCTP, DCCP, UDP-Lite).
    pub fn has_ports(self) -> bool {
        matches!(self, IpProtocol::Number(6 | 17 | 33 | 132 | 136))
    }

    /// The protocol number; `None` for `all`.
    pub fn number(self) -> Option<u8> {
        match self {
            IpProtocol::All => None,
            IpProtocol::Number(n) => Some(n),
        }
    }
}

const PROTOCOL_EXPECTED: &str =
    "\"all\", a protocol name such as tcp, udp, icmp, gre, or a number 0..255";

impl FromStr for IpProtocol {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        if s == "all" {
            return Ok(IpProtocol::All);
        }
        if let Some((_, n)) = PROTOCOL_NAMES.iter().find(|(name, _)| *name == s) {
            return Ok(IpProtocol::Number(*n));
        }
        match s.parse::<u8>() {
            Ok(n) if !s.starts_with('+') => Ok(IpProtocol::Number(n)),
            _ => Err(ValueError::expected(PROTOCOL_EXPECTED, s)),
        }
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpProtocol::All => f.write_str("all"),
            IpProtocol::Number(n) => match PROTOCOL_NAMES.iter().find(|(_, m)| m == n) {
                Some((name, _)) => f.write_str(name),
                None => n.fmt(f),
            },
        }
    }
}

impl Serialize for IpProtocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpProtocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IpProtocol;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(PROTOCOL_EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IpProtocol, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IpProtocol, E> {
                u8::try_from(v)
                    .map(IpProtocol::Number)
                    .map_err(|_| E::custom(format!("expected {PROTOCOL_EXPECTED}, got {v}")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IpProtocol, E> {
                u8::try_from(v)
                    .map(IpProtocol::Number)
                    .map_err(|_| E::custom(format!("expected {PROTOCOL_EXPECTED}, got {v}")))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets and lists

/// A secret as written in the file (`secret`, `xauth-password`, a user's `password`): wiped
/// on drop, redacted in `Debug`, compared in constant time.
///
/// It serializes in clear, since it *is* the file's content: only write a serialized
/// configuration where the original file could be.
#[derive(Clone, Default)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Self {
        SecretText(Zeroizing::new(text.into()))
    }

    /// The text as written. Every call site is a place where the secret leaves this type.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretText(<redacted {} bytes>)", self.0.len())
    }
}

impl PartialEq for SecretText {
    fn eq(&self, other: &Self) -> bool {
        crate::crypto::ct_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for SecretText {}

impl Serialize for SecretText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SecretText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string (\"0x\" followed by hex digits for raw bytes)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretText, E> {
                Ok(SecretText::new(v))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<SecretText, E> {
                Ok(SecretText(Zeroizing::new(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Decodes a `secret`: `0x` followed by hex digits gives those bytes, anything else its
/// UTF-8 bytes (as the manual says).
pub(crate) fn decode_secret(text: &str) -> Result<crate::crypto::Secret, ValueError> {
    let Some(hex) = text.strip_prefix("0x") else {
        return Ok(crate::crypto::Secret::from_slice(text.as_bytes()));
    };
    let bad = || {
        ValueError::new(
            "expected \"0x\" followed by an even number of hex digits (or a secret that does \
             not start with \"0x\")",
        )
    };
    if hex.is_empty() || hex.len() % 2 != 0 {
        return Err(bad());
    }
    let mut bytes = crate::crypto::Secret::with_capacity(hex.len() / 2);
    for pair in hex.as_bytes().chunks_exact(2) {
        let hi = hex_digit(pair[0]).ok_or_else(bad)?;
        let lo = hex_digit(pair[1]).ok_or_else(bad)?;
        bytes.extend_from_slice(&[hi << 4 | lo]);
    }
    Ok(bytes)
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Deserializes a list written either as a TOML array (`["modp2048", "ecp256"]`) or, as in
/// the manual, as one string with commas (`"modp2048,ecp256"`).
pub(crate) fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + FromStr<Err = ValueError>,
{
    struct V<T>(core::marker::PhantomData<T>);
    impl<'de, T> Visitor<'de> for V<T>
    where
        T: Deserialize<'de> + FromStr<Err = ValueError>,
    {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of strings, or one string with commas")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<T>, E> {
            if v.trim().is_empty() {
                return Ok(Vec::new());
            }
            v.split(',')
                .map(|item| item.trim().parse().map_err(E::custom))
                .collect()
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element()? {
                out.push(item);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V(core::marker::PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = |s: &str| s.parse::<Time>().map(|t| t.0.as_secs());
        assert_eq!(t("1d"), Ok(86_400));
        assert_eq!(t("1h30m"), Ok(5_400));
        assert_eq!(t("00:30:00"), Ok(1_800));
        assert_eq!(t("90"), Ok(90));
        assert!(t("30m1h").is_err());
        assert!(t("1x").is_err());
        assert!(t("").is_err());
        assert!(t("m").is_err());
        assert_eq!(Time(Duration::from_secs(5_400)).to_string(), "1h30m");
        assert_eq!(Time(Duration::from_secs(8 * 86_400)).to_string(), "1w1d");
    }

    #[test]
    fn prefixes() {
        let p: IpPrefix = "203.0.113.0/24".parse().unwrap();
        assert!(p.contains("203.0.113.9".parse().unwrap()));
        assert!(p.contains("::ffff:203.0.113.9".parse().unwrap()));
        assert!(!p.contains("203.0.114.1".parse().unwrap()));
        assert!("203.0.113.5/24".parse::<IpPrefix>().is_err());
        assert!("0.0.0.0/0".parse::<IpPrefix>().unwrap().is_default());
        assert!("2001:db8::/129".parse::<IpPrefix>().is_err());
    }
}
