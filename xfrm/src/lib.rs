//! Linux XFRM (and rtnetlink) client for `iked`: SAs, policies, SPIs, counters,
//! ACQUIRE/EXPIRE events, per-socket bypass, and the virtual IPs of road-warrior clients.
//!
//! Built on `xfrmnetlink` (the request connection and its request types),
//! `netlink-packet-xfrm` (every XFRM message and attribute) and `rtnetlink` (addresses and
//! routes). Hand-written, each said where it is:
//! - [`socket`]: the `IP_XFRM_POLICY`/`IPV6_XFRM_POLICY` and `UDP_ENCAP` socket options (not
//!   netlink; the policy bytes still come from `netlink-packet-xfrm`);
//! - [`events`]: a length-checked decoder of the multicast messages, since the crate's message
//!   parsers index their fixed headers unchecked.
//!
//! Everything is async on tokio: create a [`Xfrm`], [`Monitor`] or [`NetConfig`] inside a
//! runtime with its IO and time drivers (`enable_all`), in the network namespace it should act
//! on (sockets keep the namespace of the thread that opened them). Every request is bounded in
//! time ([`Error::Timeout`]); malformed kernel messages are errors, not panics.
//!
//! # What belongs to the daemon
//! [`Owner`] tags what the daemon installs (reqid range for SAs, policy index prefix, route
//! protocol); [`Xfrm::flush_owned`] and [`Xfrm::cleanup_leftovers`] remove exactly that, and
//! leave other software's SAs and policies alone.
//!
//! ```no_run
//! # async fn demo() -> xfrm::Result<()> {
//! use xfrm::*;
//! let x = Xfrm::new(Owner::default())?;
//! x.cleanup_leftovers().await?; // whatever a crashed run left
//! let (local, peer) = ("198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap());
//! let reqid = x.owner().reqid(1);
//! let spi_in = x.alloc_spi(&SpiRequest::esp(peer, local, Mode::Tunnel, reqid)).await?;
//! let t = EspTransform::new(
//!     Encryption::AesGcm16_128, Key::new(vec![7; 20]), Integrity::None, Key::default())?;
//! x.update_sa(&SaConfig::esp(peer, local, spi_in, Mode::Tunnel, reqid, t)).await?;
//! # Ok(()) }
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod alg;
pub mod blocking;
mod client;
mod error;
pub mod events;
mod owner;
mod policy;
pub mod route;
mod sa;
pub mod socket;
mod types;

pub use alg::{Encryption, EspTransform, Integrity, Key, SaAlgorithms};
pub use blocking::BlockingSpis;
pub use client::{DEFAULT_TIMEOUT, DUMP_TIMEOUT, FlushReport, Xfrm};
pub use error::{Error, Result};
pub use events::{Acquire, Event, Expire, Group, Mapping, Monitor};
pub use owner::Owner;
pub use policy::{PolicyConfig, PolicyFlags, PolicyId, PolicyInfo, Template};
pub use route::{AddressInfo, NetConfig, RouteConfig, RouteInfo};
pub use sa::{Replay, SaConfig, SaCounters, SaFlags, SaId, SaInfo, SpiRequest, UdpEncap};
pub use types::{
    Action, Direction, IpsecProto, Lifetime, LifetimeCurrent, Mark, Mode, Prefix, Selector,
};
