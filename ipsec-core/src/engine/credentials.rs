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
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::config::Snapshot;
use crate::pki::{Certificate, LocalSigner, PeerVerifier, PkiError, TrustStore, UnixTime};

/// Why [`Credentials::from_config`] failed: the peer and key whose file it was, and why.
#[derive(Debug)]
pub struct CredentialsError {
    /// The `[[peer]]` name.
    pub peer: String,
    /// The configuration key that names the file (`certificate`, `ca`, `remote-certificate`,
    /// `crl`).
    pub key: &'static str,
    /// The path as configured.
    pub path: PathBuf,
    /// What went wrong.
    pub cause: CredentialsCause,
}

/// The cause inside a [`CredentialsError`].
#[derive(Debug)]
pub enum CredentialsCause {
    /// The file could not be read.
    Read(std::io::Error),
    /// Its content is not what the key expects.
    Pki(PkiError),
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "peer \"{}\": {} = \"{}\": ",
            self.peer,
            self.key,
            self.path.display()
        )?;
        match &self.cause {
            CredentialsCause::Read(e) => write!(f, "cannot read: {e}"),
            CredentialsCause::Pki(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CredentialsError {}

fn peer_error(
    peer: &str,
    key: &'static str,
    path: &Path,
    cause: CredentialsCause,
) -> CredentialsError {
    CredentialsError {
        peer: peer.to_owned(),
        key,
        path: path.to_owned(),
        cause,
    }
}

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

    /// Builds every configured peer's credentials from the files its configuration names:
    /// `certificate` (our private key and chain, one PEM bundle), `ca` (trust anchors, PEM,
    /// several allowed), `remote-certificate` (a pinned peer certificate, PEM or DER) and
    /// `crl` (revocation lists). `read` fetches a file's bytes, so the engine stays free of
    /// I/O and the caller decides how relative paths resolve. Stops at the first bad file.
    pub fn from_config(
        config: &Snapshot,
        mut read: impl FnMut(&Path) -> std::io::Result<Vec<u8>>,
    ) -> Result<Self, CredentialsError> {
        let mut creds = Credentials::new();
        for peer in config.peers() {
            let mut file = |key: &'static str, path: &Path| -> Result<Vec<u8>, CredentialsError> {
                read(path).map_err(|e| peer_error(&peer.name, key, path, CredentialsCause::Read(e)))
            };
            let parsed =
                |key, path: &Path, e| peer_error(&peer.name, key, path, CredentialsCause::Pki(e));
            if let Some(path) = &peer.certificate {
                let signer = LocalSigner::from_pem_bundle(&file("certificate", path)?)
                    .map_err(|e| parsed("certificate", path, e))?;
                creds = creds.with_local(&peer.name, signer);
            }
            if peer.ca.is_none() && peer.remote_certificate.is_none() {
                continue;
            }
            let trust = match &peer.ca {
                Some(path) => {
                    TrustStore::from_pem(&file("ca", path)?).map_err(|e| parsed("ca", path, e))?
                }
                None => TrustStore::new(),
            };
            let mut verifier = PeerVerifier::new(trust);
            if let Some(path) = &peer.remote_certificate {
                let cert = Certificate::from_pem_or_der(&file("remote-certificate", path)?)
                    .map_err(|e| parsed("remote-certificate", path, e))?;
                verifier = verifier.with_pinned_certificate(cert);
            }
            for path in &peer.crl {
                verifier = verifier
                    .with_crls(&[&file("crl", path)?])
                    .map_err(|e| parsed("crl", path, e))?;
            }
            creds = creds.with_verifier(&peer.name, verifier);
        }
        Ok(creds)
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
