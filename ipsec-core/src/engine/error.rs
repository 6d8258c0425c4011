//! [`EngineError`]: why a call of the driver ([`Engine::initiate`](super::Engine::initiate),
//! [`Engine::acquire`](super::Engine::acquire), ...) was refused.

use super::stats::Reject;

/// Why an API call could not be carried out. Problems with received datagrams are never
/// errors of a call: they are [`Reject`] reasons in [`Stats`](super::Stats).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// No peer of that name.
    #[error("no peer named {0:?}")]
    UnknownPeer(String),
    /// The peer is disabled.
    #[error("peer {0:?} is disabled")]
    PeerDisabled(String),
    /// The peer is `passive`: it only responds.
    #[error("peer {0:?} is passive")]
    PeerPassive(String),
    /// No policy with that index, or it is not an `encrypt` policy.
    #[error("no encrypt policy #{0}")]
    UnknownPolicy(usize),
    /// No peer is configured for the policy's `sa-dst-address`.
    #[error("no peer for policy #{0}")]
    NoPeerForPolicy(usize),
    /// The peer's address is a prefix and no policy names a host in it: nothing to connect
    /// to.
    #[error("peer {0:?}: no remote address to initiate to")]
    NoRemoteAddress(String),
    /// Our own address is needed (aggressive mode sends `my-id auto` in its first message)
    /// and none is configured (`local-address`, a policy's `sa-src-address`).
    #[error("peer {0:?}: no local address for my-id auto")]
    NoLocalAddress(String),
    /// The configured authentication method is not implemented yet.
    #[error("authentication method {0} is not supported yet")]
    UnsupportedAuth(&'static str),
    /// RSA signatures: the driver gave no signer or verifier for this peer
    /// ([`Engine::set_credentials`](super::Engine::set_credentials)).
    #[error("peer {0:?}: no certificate credentials")]
    NoCredentials(String),
    /// The configuration gives nothing to propose.
    #[error("nothing to propose: {0}")]
    NothingToPropose(&'static str),
    /// Too many negotiations already.
    #[error("limit reached: {0}")]
    Limit(&'static str),
    /// Random numbers, building a message.
    #[error("internal error: {0}")]
    Internal(Reject),
}

impl From<Reject> for EngineError {
    fn from(r: Reject) -> Self {
        EngineError::Internal(r)
    }
}
