//! Attribute types and values used by a NAS (RFC 2865 §5, RFC 2866 §5, RFC 5176 §3, RFC 3579
//! §3.2), named as in the RFCs. Only what iked sends or reads is listed; anything else passes
//! through as a number.

/// One attribute: its type and raw value (1 to 253 bytes, RFC 2865 §5).
#[derive(Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Type.
    pub ty: u8,
    /// Value, as on the wire.
    pub value: Vec<u8>,
}

impl std::fmt::Debug for Attribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Passwords stay out of logs.
        if self.ty == USER_PASSWORD || self.ty == CHAP_PASSWORD {
            return write!(f, "{}=<hidden>", self.ty);
        }
        write!(f, "{}=", self.ty)?;
        match std::str::from_utf8(&self.value) {
            Ok(s) if s.chars().all(|c| !c.is_control()) => write!(f, "{s:?}"),
            _ => {
                for b in &self.value {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

impl Attribute {
    /// A text or string attribute.
    pub fn bytes(ty: u8, value: impl Into<Vec<u8>>) -> Self {
        Attribute {
            ty,
            value: value.into(),
        }
    }

    /// An `integer` attribute (4 octets, network order).
    pub fn u32(ty: u8, value: u32) -> Self {
        Attribute {
            ty,
            value: value.to_be_bytes().to_vec(),
        }
    }

    /// An `address` attribute.
    pub fn ipv4(ty: u8, value: std::net::Ipv4Addr) -> Self {
        Attribute {
            ty,
            value: value.octets().to_vec(),
        }
    }

    /// The value as an `integer`, if it is 4 octets.
    pub fn as_u32(&self) -> Option<u32> {
        Some(u32::from_be_bytes(self.value.as_slice().try_into().ok()?))
    }

    /// The value as an `address`, if it is 4 octets.
    pub fn as_ipv4(&self) -> Option<std::net::Ipv4Addr> {
        let o: [u8; 4] = self.value.as_slice().try_into().ok()?;
        Some(o.into())
    }

    /// The value as text, if it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }
}

// RFC 2865 §5.
pub const USER_NAME: u8 = 1;
pub const USER_PASSWORD: u8 = 2;
pub const CHAP_PASSWORD: u8 = 3;
pub const NAS_IP_ADDRESS: u8 = 4;
pub const NAS_PORT: u8 = 5;
pub const SERVICE_TYPE: u8 = 6;
pub const FRAMED_PROTOCOL: u8 = 7;
pub const FRAMED_IP_ADDRESS: u8 = 8;
pub const FRAMED_IP_NETMASK: u8 = 9;
pub const REPLY_MESSAGE: u8 = 18;
pub const STATE: u8 = 24;
pub const FRAMED_ROUTE: u8 = 22;
pub const CLASS: u8 = 25;
pub const VENDOR_SPECIFIC: u8 = 26;
pub const SESSION_TIMEOUT: u8 = 27;
pub const IDLE_TIMEOUT: u8 = 28;
pub const CALLED_STATION_ID: u8 = 30;
pub const CALLING_STATION_ID: u8 = 31;
pub const NAS_IDENTIFIER: u8 = 32;
pub const PROXY_STATE: u8 = 33;
// RFC 2866 §5.
pub const ACCT_STATUS_TYPE: u8 = 40;
pub const ACCT_DELAY_TIME: u8 = 41;
pub const ACCT_INPUT_OCTETS: u8 = 42;
pub const ACCT_OUTPUT_OCTETS: u8 = 43;
pub const ACCT_SESSION_ID: u8 = 44;
pub const ACCT_AUTHENTIC: u8 = 45;
pub const ACCT_SESSION_TIME: u8 = 46;
pub const ACCT_INPUT_PACKETS: u8 = 47;
pub const ACCT_OUTPUT_PACKETS: u8 = 48;
pub const ACCT_TERMINATE_CAUSE: u8 = 49;
// RFC 2869 §5.
pub const ACCT_INPUT_GIGAWORDS: u8 = 52;
pub const ACCT_OUTPUT_GIGAWORDS: u8 = 53;
pub const EVENT_TIMESTAMP: u8 = 55;
pub const CHAP_CHALLENGE: u8 = 60;
pub const NAS_PORT_TYPE: u8 = 61;
pub const MESSAGE_AUTHENTICATOR: u8 = 80;
pub const ACCT_INTERIM_INTERVAL: u8 = 85;
pub const NAS_PORT_ID: u8 = 87;
// RFC 3162.
pub const NAS_IPV6_ADDRESS: u8 = 95;
// RFC 5176 §3.5.
pub const ERROR_CAUSE: u8 = 101;

/// Service-Type Framed (RFC 2865 §5.6).
pub const SERVICE_TYPE_FRAMED: u32 = 2;
/// NAS-Port-Type Virtual (RFC 2865 §5.41): a VPN port.
pub const NAS_PORT_TYPE_VIRTUAL: u32 = 5;
/// Acct-Authentic RADIUS (RFC 2866 §5.6).
pub const ACCT_AUTHENTIC_RADIUS: u32 = 1;

/// Acct-Status-Type (RFC 2866 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcctStatus {
    Start = 1,
    Stop = 2,
    InterimUpdate = 3,
    AccountingOn = 7,
    AccountingOff = 8,
}

/// Acct-Terminate-Cause (RFC 2866 §5.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminateCause {
    UserRequest = 1,
    LostCarrier = 2,
    LostService = 3,
    IdleTimeout = 4,
    SessionTimeout = 5,
    AdminReset = 6,
    AdminReboot = 7,
    PortError = 8,
    NasError = 9,
    NasRequest = 10,
    NasReboot = 11,
}

/// Error-Cause (RFC 5176 §3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCause {
    ResidualSessionContextRemoved = 201,
    UnsupportedAttribute = 401,
    MissingAttribute = 402,
    NasIdentificationMismatch = 403,
    InvalidRequest = 404,
    UnsupportedService = 405,
    InvalidAttributeValue = 407,
    SessionContextNotFound = 503,
    SessionContextNotRemovable = 504,
    ResourcesUnavailable = 506,
}
