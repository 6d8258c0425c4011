//! A sans-IO RADIUS client for a VPN concentrator (the NAS): it never touches sockets or the
//! clock. The daemon feeds it datagrams and the time and sends what it gives.
//!
//! - [`packet`]: the wire format (RFC 2865 §3), decoded defensively.
//! - [`attr`]: the attributes a NAS uses, named as in RFC 2865/2866/2869/5176.
//! - [`crypto`]: User-Password hiding, CHAP, Request/Response Authenticators,
//!   Message-Authenticator (RFC 3579 §3.2).
//! - [`client`]: Access-Request and accounting with retransmission, failover and a bounded
//!   accounting buffer.
//! - [`dynauth`]: Disconnect- and CoA-Requests (RFC 5176) from configured clients.

pub mod attr;
pub mod client;
pub mod crypto;
pub mod dynauth;
pub mod packet;

pub use attr::Attribute;
pub use client::{AccessOutcome, Client, ClientOptions, Event, Password, RequestId, ServerConfig};
pub use dynauth::{DasClient, DasKind, DasRequest, DynamicAuthorization, Received};
pub use packet::{Code, Packet};
