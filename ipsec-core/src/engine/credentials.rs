//! [`Credentials`] and the wall clock: what RSA-signature authentication needs from the
//! driver, since the engine reads no files and no clock.
//!
//! The configuration snapshot names files (`certificate`, `ca`, `remote-certificate`); the
//! driver reads them, builds a [`LocalSigner`] and a [`PeerVerifier`] (CA, CRLs, pinned
//! certificate) per configured peer and hands them over with
//! [`Engine::set_credentials`](super::Engine::set_credentials). Certificate validity is a
//! wall-clock fact: [`Engine::set_wall_clock`](super::Engine::set_wall_clock) ties one
//! `Instant` to one [`UnixTime`]; the engine derives the wall time of every later `now` from
//! it (`unix + (now - instant)`), so simulated time moves certificate time along with it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::pki::{LocalSigner, PeerVerifier, UnixTime};

/// The credentials of the configured peers, by peer name.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// Our private key and certificate chain used with each peer (`certificate`).
    pub local: HashMap<String, Arc<LocalSigner>>,
    /// How each peer's certificates are checked: its trust anchors (`ca`), CRLs, and the
    /// pinned `remote-certificate`.
    pub verifiers: HashMap<String, Arc<PeerVerifier>>,
}

impl Credentials {
    /// No credentials.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds our signer for `peer`.
    pub fn with_local(mut self, peer: &str, signer: LocalSigner) -> Self {
        self.local.insert(peer.to_owned(), Arc::new(signer));
        self
    }

    /// Adds the verifier of `peer`'s certificates.
    pub fn with_verifier(mut self, peer: &str, verifier: PeerVerifier) -> Self {
        self.verifiers.insert(peer.to_owned(), Arc::new(verifier));
        self
    }

    /// Our signer for `peer`.
    pub fn signer(&self, peer: &str) -> Option<&Arc<LocalSigner>> {
        self.local.get(peer)
    }

    /// The verifier for `peer`.
    pub fn verifier(&self, peer: &str) -> Option<&Arc<PeerVerifier>> {
        self.verifiers.get(peer)
    }
}

/// One `Instant` paired with the wall-clock time it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallClock {
    /// The reference instant.
    pub instant: Instant,
    /// The wall-clock time at `instant`.
    pub unix: UnixTime,
}

impl WallClock {
    /// The wall-clock time at `now` (whole seconds; saturating).
    pub fn at(&self, now: Instant) -> UnixTime {
        let secs = if now >= self.instant {
            i64::try_from((now - self.instant).as_secs()).unwrap_or(i64::MAX)
        } else {
            -i64::try_from((self.instant - now).as_secs()).unwrap_or(i64::MAX)
        };
        UnixTime::from_secs(self.unix.secs().saturating_add(secs))
    }
}
