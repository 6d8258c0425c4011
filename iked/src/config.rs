//! Reading the configuration file into a validated [`Snapshot`].

use std::fmt;
use std::path::{Path, PathBuf};

use ipsec_core::config::{Config, ConfigError, Snapshot};
use ipsec_core::engine::{Credentials, CredentialsError};

/// Why a configuration could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read.
    Read {
        /// The path as given.
        path: PathBuf,
        /// The system error.
        source: std::io::Error,
    },
    /// The file is not UTF-8 text.
    NotText {
        /// The path as given.
        path: PathBuf,
    },
    /// The file has errors; each names file, line, object and key.
    Invalid(Vec<ConfigError>),
    /// A certificate, CA or CRL file it names is missing or wrong.
    Credentials {
        /// The configuration file as given.
        path: PathBuf,
        /// The peer, key, file and cause.
        error: Box<CredentialsError>,
    },
}

/// A validated configuration and the credentials read from the files it names.
#[derive(Debug)]
pub struct Loaded {
    /// The configuration.
    pub snapshot: Snapshot,
    /// Per-peer signers and verifiers (RSA-signature peers).
    pub credentials: Credentials,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Read { path, source } => write!(f, "{}: {source}", path.display()),
            LoadError::NotText { path } => write!(f, "{}: not UTF-8 text", path.display()),
            LoadError::Credentials { path, error } => write!(f, "{}: {error}", path.display()),
            LoadError::Invalid(errors) => {
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

impl LoadError {
    /// One line per problem, as printed by `check-config` and logged by the daemon.
    pub fn lines(&self) -> Vec<String> {
        match self {
            LoadError::Invalid(errors) => errors.iter().map(ToString::to_string).collect(),
            other => vec![other.to_string()],
        }
    }
}

/// Reads and validates `path`, then reads the certificate, CA and CRL files it names
/// (relative paths are relative to the configuration file's directory). Messages name the
/// file as given on the command line.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let snapshot = load_snapshot(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let credentials =
        Credentials::from_config(&snapshot, |p| std::fs::read(dir.join(p))).map_err(|error| {
            LoadError::Credentials {
                path: path.to_owned(),
                error: Box::new(error),
            }
        })?;
    Ok(Loaded {
        snapshot,
        credentials,
    })
}

/// Reads and validates `path` alone.
pub fn load_snapshot(path: &Path) -> Result<Snapshot, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| LoadError::NotText {
        path: path.to_owned(),
    })?;
    Config::from_toml_str(&text, &path.display().to_string()).map_err(LoadError::Invalid)
}

/// The control socket a client should use: `--socket`, else the file's `[daemon]
/// control-socket` when `-c FILE` is given, else the built-in default (the same default the
/// daemon uses when its file does not set one).
pub fn client_socket(socket: Option<&Path>, config: Option<&Path>) -> Result<PathBuf, LoadError> {
    if let Some(s) = socket {
        return Ok(s.to_owned());
    }
    if let Some(c) = config {
        return Ok(load_snapshot(c)?.daemon().control_socket.clone());
    }
    Ok(default_socket())
}

/// The default control socket path (`[daemon] control-socket`'s default).
pub fn default_socket() -> PathBuf {
    PathBuf::from(ipsec_core::config::raw::Daemon::default().control_socket)
}
