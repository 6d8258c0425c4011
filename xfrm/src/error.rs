//! Typed errors of the crate.

use std::time::Duration;

/// What went wrong talking to the kernel, or with what we were asked to install.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel refused a request: `errno` is the positive errno it answered with.
    #[error("{op}: the kernel refused the request: {}", errno_text(*.errno))]
    Kernel {
        /// The operation, e.g. "add SA".
        op: &'static str,
        /// Positive errno (ENOENT, EEXIST, EINVAL, ...).
        errno: i32,
    },
    /// No answer from the kernel in time (the request is bounded by [`crate::Xfrm::set_timeout`]).
    #[error("{op}: no answer from the kernel within {timeout:?}")]
    Timeout {
        /// The operation.
        op: &'static str,
        /// The bound that passed.
        timeout: Duration,
    },
    /// The netlink connection task is gone (socket closed or the task ended).
    #[error("{op}: the netlink connection is closed")]
    ConnectionClosed {
        /// The operation.
        op: &'static str,
    },
    /// The kernel answered with a message we did not expect for this request.
    #[error("{op}: unexpected reply from the kernel")]
    UnexpectedReply {
        /// The operation.
        op: &'static str,
    },
    /// A message from the kernel could not be decoded.
    #[error("malformed message from the kernel: {0}")]
    Decode(String),
    /// A socket call failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// A key has the wrong length for its algorithm.
    #[error("{alg}: key is {got} bytes, expected {expected}")]
    KeyLength {
        /// The algorithm.
        alg: &'static str,
        /// Length given.
        got: usize,
        /// Length the algorithm needs.
        expected: usize,
    },
    /// A request that cannot be expressed or makes no sense (mixed address families, a prefix
    /// longer than the address, an AEAD with a separate integrity algorithm, ...).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Not found where the caller needed it (e.g. an interface name).
    #[error("not found: {0}")]
    NotFound(String),
    /// The crate's async API was called outside a tokio runtime.
    #[error("no tokio runtime: the xfrm client must be created inside one")]
    NoRuntime,
}

impl Error {
    /// The positive errno the kernel answered with, if it was a kernel refusal.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// The object does not exist (ESRCH for SAs, ENOENT for policies, routes, addresses).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.errno(),
            Some(libc::ENOENT) | Some(libc::ESRCH) | Some(libc::EADDRNOTAVAIL)
        ) || matches!(self, Error::NotFound(_))
    }

    /// The object already exists (EEXIST).
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc::EEXIST)
    }

    pub(crate) fn from_xfrmnl(op: &'static str, e: xfrmnetlink::Error) -> Self {
        match e {
            xfrmnetlink::Error::NetlinkError(msg) => match msg.code {
                Some(code) => Error::Kernel {
                    op,
                    errno: code.get().saturating_neg(),
                },
                // An ACK is not an error; netlink-proto filters them, so this does not happen.
                None => Error::UnexpectedReply { op },
            },
            xfrmnetlink::Error::RequestFailed => Error::ConnectionClosed { op },
            xfrmnetlink::Error::UnexpectedMessage(_) => Error::UnexpectedReply { op },
            other => Error::Invalid(format!("{op}: {other}")),
        }
    }

    pub(crate) fn from_rtnl(op: &'static str, e: rtnetlink::Error) -> Self {
        match e {
            rtnetlink::Error::NetlinkError(msg) => match msg.code {
                Some(code) => Error::Kernel {
                    op,
                    errno: code.get().saturating_neg(),
                },
                None => Error::UnexpectedReply { op },
            },
            rtnetlink::Error::RequestFailed => Error::ConnectionClosed { op },
            rtnetlink::Error::UnexpectedMessage(_) => Error::UnexpectedReply { op },
            other => Error::Invalid(format!("{op}: {other}")),
        }
    }
}

fn errno_text(errno: i32) -> String {
    format!(
        "{} (errno {errno})",
        std::io::Error::from_raw_os_error(errno)
    )
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
