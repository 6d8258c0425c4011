//! Peer sessions: the SAs negotiated with one configured peer at one remote address, and the
//! quick modes waiting for its phase 1.

use std::net::SocketAddr;

use super::child::{ChildId, ChildRequest};
use super::id_set::IdSet;
use super::ike::IkeId;

/// One remote peer.
pub(crate) struct PeerSession {
    /// The configured peer's name.
    pub name: String,
    /// Where the peer is (IKE port as configured, or as last seen).
    pub remote: SocketAddr,
    /// Our address towards it (possibly unspecified until learnt).
    pub local: SocketAddr,
    /// Its ISAKMP SAs, negotiating or established.
    pub ike: IdSet<IkeId>,
    /// Its IPsec SA pairs.
    pub children: IdSet<ChildId>,
    /// Quick modes to run once a phase 1 is up.
    pub pending: Vec<ChildRequest>,
    /// `PeerUp` was reported.
    pub up: bool,
    /// The XAuth user authenticated on it (we are the server).
    pub user: Option<std::sync::Arc<str>>,
    /// The peer's phase-1 identity, once authenticated.
    pub identity: Option<crate::config::Identity>,
}

impl PeerSession {
    /// A new session with nothing in it.
    pub fn new(name: String, remote: SocketAddr, local: SocketAddr) -> Self {
        PeerSession {
            name,
            remote,
            local,
            ike: IdSet::default(),
            children: IdSet::default(),
            pending: Vec::new(),
            up: false,
            user: None,
            identity: None,
        }
    }

    /// Nothing left: no SA, nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.ike.is_empty() && self.children.is_empty() && self.pending.is_empty()
    }
}
