//! The control socket: a line-delimited JSON protocol between `iked status` & co. and the
//! running daemon, over a Unix stream socket.
//!
//! Each request is one JSON object on one line, tagged by `cmd`; the daemon answers each with
//! one line, either `{"ok": REPLY}` or `{"error": {"kind": ..., "message": ...}}`:
//!
//! ```text
//! > {"cmd":"status"}
//! < {"ok":{"status":{"engine":"running","peers":[...]}}}
//! > {"cmd":"up","name":"office"}
//! < {"ok":{"done":{"message":"initiating peer \"office\""}}}
//! > {"cmd":"flush","what":"esp"}
//! < {"ok":{"done":{"message":"flushed 2 SAs","count":2}}}
//! > {"cmd":"sas"}
//! < {"error":{"kind":"kernel","message":"dump SAs: ..."}}
//! ```
//!
//! A connection may carry several requests in turn. Lines longer than [`MAX_LINE`] bytes are
//! refused and the connection closed.

pub mod client;
pub mod server;

use serde::{Deserialize, Serialize};

use crate::cli::FlushWhat;

/// Longest reply line the client reads (bytes, newline excluded). The daemon is trusted, but
/// a listing of 100,000 tunnels is tens of MiB (1 MiB failed at about 5,000 peers).
pub const MAX_LINE: usize = 512 << 20;
/// Longest request line the daemon accepts: requests are small.
pub const MAX_REQUEST: usize = 4096;

/// A request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Remote peers.
    Status,
    /// Installed SAs.
    Sas,
    /// Installed policies.
    Policies,
    /// Statistics.
    Stats,
    /// Initiate to a peer.
    Up {
        /// Peer name.
        name: String,
    },
    /// Terminate a peer.
    Down {
        /// Peer name.
        name: String,
    },
    /// Terminate every peer.
    KillConnections,
    /// Delete installed SAs.
    Flush {
        /// Which.
        what: FlushWhat,
    },
}

/// The answer to a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Response {
    /// It worked.
    Ok(Reply),
    /// It did not.
    Error(ProtoError),
}

/// A failed request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtoError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// For people.
    pub message: String,
}

/// Kinds of failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The request could not be parsed.
    BadRequest,
    /// It needs the IKE engine, which this build does not drive.
    NotWired,
    /// The engine refused it (unknown peer, passive peer, ...).
    Refused,
    /// The kernel refused or did not answer.
    Kernel,
    /// The daemon is shutting down or overloaded.
    Unavailable,
}

/// The data of a successful reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reply {
    /// `status`.
    Status(StatusReply),
    /// `sas`.
    Sas(Vec<SaRow>),
    /// `policies`.
    Policies(Vec<PolicyRow>),
    /// `stats`.
    Stats(StatsReply),
    /// `up`, `down`, `kill-connections`, `flush`.
    Done(DoneReply),
}

/// Whether the daemon drives the IKE engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineState {
    /// The engine negotiates.
    Running,
    /// This build has no engine (see `iked/src/driver.rs`): no negotiation happens.
    NotWired,
}

/// `status`: the daemon and its remote peers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct StatusReply {
    /// The daemon's version.
    pub version: String,
    /// Process id.
    pub pid: u32,
    /// The configuration file in force.
    pub config: String,
    /// Seconds since start.
    pub uptime: u64,
    /// Whether negotiations happen.
    pub engine: EngineState,
    /// The UDP sockets listened on.
    pub listening: Vec<String>,
    /// Phase 1 SAs (the manual's remote peers), empty when the engine is not wired.
    pub peers: Vec<PeerRow>,
    /// RADIUS servers (`[[radius]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub radius: Vec<crate::aaa::RadiusRow>,
    /// RADIUS accounting records not yet acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_accounting_backlog: Option<usize>,
}

/// One phase 1 SA (the manual's `/ip ipsec remote-peers`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PeerRow {
    /// Configured peer name, once known.
    pub name: Option<String>,
    /// Our address and port.
    pub local_address: String,
    /// The peer's address and port.
    pub remote_address: String,
    /// `initiator` or `responder`.
    pub side: String,
    /// `established` or `negotiating`.
    pub state: String,
    /// Seconds since the negotiation started.
    pub age: u64,
    /// Exchange (`main`, `aggressive`).
    pub exchange: String,
    /// Negotiated suite, once established.
    pub suite: Option<String>,
    /// The peer's identity, once established.
    pub remote_id: Option<String>,
    /// NAT-T: who is behind a NAT (`local`, `remote`, `both`), if anyone.
    pub nat: Option<String>,
    /// Cookies `CKY-I:CKY-R` in hex.
    pub cookies: String,
    /// IPsec SA pairs with this peer.
    pub ph2_total: usize,
}

/// One installed SA (the manual's `/ip ipsec installed-sa`), from the kernel's dump of the
/// daemon's SAs, with what the daemon knows of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SaRow {
    /// SPI, `0x` hex.
    pub spi: String,
    /// `esp`, `ah`, `comp`.
    pub protocol: String,
    /// Outer source.
    pub src_address: String,
    /// Outer destination.
    pub dst_address: String,
    /// `in`, `out`, or `unknown` (not installed by this run).
    pub direction: String,
    /// `tunnel`, `transport`, `beet`.
    pub mode: String,
    /// reqid.
    pub reqid: u32,
    /// `mature`, `dying` (replaced, deleted soon), `larval` (SPI allocated, no keys).
    pub state: String,
    /// Encryption algorithm.
    pub enc_algorithm: Option<String>,
    /// Integrity algorithm.
    pub auth_algorithm: Option<String>,
    /// ESP-in-UDP ports `sport:dport`.
    pub encap: Option<String>,
    /// Bytes processed.
    pub current_bytes: u64,
    /// Packets processed.
    pub current_packets: u64,
    /// Replay window.
    pub replay: u32,
    /// Packets dropped as replays.
    pub replay_drops: u32,
    /// Packets dropped for a bad ICV.
    pub integrity_failures: u32,
    /// When it was added (seconds since the epoch).
    pub add_time: u64,
    /// Soft lifetime in seconds since adding (when the engine rekeys it), if any.
    pub soft_lifetime: Option<u64>,
    /// Hard lifetime in seconds since adding (when the engine deletes it), if any.
    pub hard_lifetime: Option<u64>,
    /// Soft byte limit, if any.
    pub soft_bytes: Option<u64>,
    /// Hard byte limit, if any.
    pub hard_bytes: Option<u64>,
    /// The peer it was negotiated with, when installed by this run.
    pub peer: Option<String>,
    /// The `[[policy]]` it serves (`#n`, from 1), when known.
    pub policy: Option<usize>,
    /// Userspace dataplane, transport mode behind a NAT: the local address the peer appears
    /// under (`[daemon] transport-nat-aliases`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

/// One installed policy (the manual's `/ip ipsec policy print stats`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PolicyRow {
    /// `[[policy]]` number in the file (from 1); `None` for policies generated for a peer.
    pub policy: Option<usize>,
    /// `in`, `out`, `fwd`.
    pub direction: String,
    /// Source selector.
    pub src_address: String,
    /// Destination selector.
    pub dst_address: String,
    /// Protocol number, `all` for any.
    pub protocol: String,
    /// Source port or `any`.
    pub src_port: String,
    /// Destination port or `any`.
    pub dst_port: String,
    /// `encrypt`, `discard`, `none`.
    pub action: String,
    /// `require`, `use`, or empty when there is no template.
    pub level: String,
    /// `esp`, `ah`, or empty.
    pub ipsec_protocol: String,
    /// Tunnel mode.
    pub tunnel: bool,
    /// Template source.
    pub sa_src_address: Option<String>,
    /// Template destination.
    pub sa_dst_address: Option<String>,
    /// Kernel priority (lower wins).
    pub priority: u32,
    /// Kernel index.
    pub index: u32,
    /// reqid of the template, 0 when none.
    pub reqid: u32,
    /// `established` (an SA with this reqid is installed), `no-phase2`, or empty for policies
    /// without templates.
    pub ph2_state: String,
    /// Bytes matched.
    pub bytes: u64,
    /// Packets matched.
    pub packets: u64,
}

/// `stats`: the kernel's XFRM statistics by the manual's names, then the engine's counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct StatsReply {
    /// `/proc/net/xfrm_stat` of the daemon's network namespace, by the manual's names.
    pub kernel: Vec<Counter>,
    /// The IKE engine's counters; empty when it is not wired.
    pub engine: Vec<Counter>,
    /// Whether negotiations happen.
    pub engine_state: EngineState,
}

/// One named counter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Counter {
    /// Name, kebab-case.
    pub name: String,
    /// Value.
    pub value: u64,
}

/// What an action did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DoneReply {
    /// For people.
    pub message: String,
    /// How many objects it affected, when that means something.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
}

impl Response {
    /// An error reply.
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Self {
        Response::Error(ProtoError {
            kind,
            message: message.into(),
        })
    }

    /// A `done` reply.
    pub fn done(message: impl Into<String>, count: Option<usize>) -> Self {
        Response::Ok(Reply::Done(DoneReply {
            message: message.into(),
            count,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_by_cmd() {
        let r: Request = serde_json::from_str(r#"{"cmd":"up","name":"office"}"#).unwrap();
        assert_eq!(
            r,
            Request::Up {
                name: "office".into()
            }
        );
        let r: Request = serde_json::from_str(r#"{"cmd":"flush","what":"esp"}"#).unwrap();
        assert_eq!(
            r,
            Request::Flush {
                what: FlushWhat::Esp
            }
        );
        assert_eq!(
            serde_json::to_string(&Request::KillConnections).unwrap(),
            r#"{"cmd":"kill-connections"}"#
        );
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"reboot"}"#).is_err());
    }

    #[test]
    fn replies_round_trip() {
        let r = Response::done("flushed 2 SAs", Some(2));
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(
            s,
            r#"{"ok":{"done":{"message":"flushed 2 SAs","count":2}}}"#
        );
        assert_eq!(serde_json::from_str::<Response>(&s).unwrap(), r);
        let e = Response::error(ErrorKind::NotWired, "no engine");
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(s, r#"{"error":{"kind":"not-wired","message":"no engine"}}"#);
    }
}
