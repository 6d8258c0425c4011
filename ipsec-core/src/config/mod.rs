//! Typed configuration: the operator manual's `/ip ipsec` objects, read from TOML and
//! validated once into an immutable [`Snapshot`].
//!
//! The file is arrays of tables named after the manual's menus, with its property names
//! (kebab-case), meanings and defaults:
//!
//! ```
//! use ipsec_core::config::{Config, ExchangeMode};
//!
//! let text = r#"
//! [daemon]
//! listen = ["192.0.2.1"]
//!
//! [[peer]]
//! name = "office"
//! address = "203.0.113.0/24"
//! secret = "correct horse battery staple"
//! dh-group = ["ecp256", "modp2048"]
//!
//! [[proposal]]
//! name = "site"
//! enc-algorithms = ["aes-256-gcm", "aes-128-cbc"]
//! pfs-group = "ecp256"
//!
//! [[policy]]
//! src-address = "10.1.0.0/16"
//! dst-address = "10.2.0.0/16"
//! tunnel = true
//! sa-dst-address = "203.0.113.7"
//! proposal = "site"
//! "#;
//! let snapshot = Config::from_toml_str(text, "site.toml").expect("a valid file");
//! let remote = "203.0.113.7".parse().unwrap();
//! assert_eq!(snapshot.peer_for(remote, ExchangeMode::Main)[0].name, "office");
//! assert_eq!(snapshot.policies().next().unwrap().proposal, "site");
//!
//! let bad = "[[peer]]\nname = \"x\"\nsecret = \"s\"\nlifetime = \"1y\"\n";
//! let errors = Config::from_toml_str(bad, "site.toml").unwrap_err();
//! assert_eq!(
//!     errors[0].to_string(),
//!     "site.toml:4: peer \"x\": key \"lifetime\": expected a time such as 30m, 8h, 1d, 1h30m, \
//!      3600s or 00:30:00, got \"1y\""
//! );
//! ```
//!
//! - [`raw`]: the file as written ([`Config`] and one struct per table), serde with
//!   `deny_unknown_fields`; defaults are documented on each field, and where we depart
//!   from the manual because its default is unsafe, the field says why (`dh-group`,
//!   `pfs-group`, `proposal-check`, `policy-group`, user `password`, policy addresses).
//! - [`value`]: the value types (algorithm keywords, prefixes, times such as `1d` or `30m`,
//!   identities such as `fqdn:vpn.example.com`, ports, protocols, secrets).
//! - [`Snapshot`]: the validated configuration with the lookups the engine needs:
//!   [`Snapshot::peer_for`] (the manual's peer selection order), [`Snapshot::proposal`],
//!   [`Snapshot::policies`], [`Snapshot::templates_of`].
//! - [`ConfigError`] and [`Warning`]: each names the file, line, object and key, and says
//!   what was expected: `site.toml:12: peer "office": key "dh-group": expected one of
//!   modp768, ..., got "modp9999"`. Weak algorithms and aggressive mode with a pre-shared
//!   key are accepted only when written, and each use is a [`Warning`] naming the setting.
//!
//! The configuration does no I/O: certificate paths are checked for presence, not read.

pub mod error;
mod profile;
pub mod raw;
mod snapshot;
mod source;
mod validate;
pub mod value;

pub use error::{ConfigError, ErrorKind, ObjectKind, ObjectRef, Warning};
pub use raw::Config;
pub use snapshot::{
    Daemon, DnsServers, Dpd, EspTransform, IpPool, ModeConfig, Peer, Phase1Transform, Policy,
    PolicyGroup, Proposal, RadiusServer, Snapshot, User, XauthCredentials, XauthRole,
};
pub use value::{
    AddrRange, AuthMethod, Dataplane, DhGroup, DpdInterval, EspAuth, EspEncryption, ExchangeMode,
    GeneratePolicy, Identity, IkeEncryption, IkeHash, IpPrefix, IpProtocol, IpsecProtocol,
    LogLevel, ModeConfigRef, MyId, PfsGroup, PolicyAction, PolicyLevel, PortSpec, ProposalCheck,
    RemoteId, Time, ValueError,
};

impl Config {
    /// Reads and validates a configuration file: its text and its name (for messages).
    ///
    /// On success the snapshot carries the [`Warning`]s; on failure every error found is
    /// returned, ordered by line.
    pub fn from_toml_str(text: &str, file_name: &str) -> Result<Snapshot, Vec<ConfigError>> {
        let parsed = source::parse(text, file_name);
        if parsed.errors.iter().any(|e| e.kind == ErrorKind::Syntax) {
            return Err(parsed.errors);
        }
        let mut ctx = validate::Ctx::new(file_name, Some(&parsed.map), Some(&parsed.origins));
        let snapshot = validate::validate(&parsed.config, &mut ctx, &parsed.failed_names);
        let mut errors = parsed.errors;
        errors.append(&mut ctx.errors);
        finish(snapshot, errors, ctx.warnings)
    }

    /// Reads a file into its raw form, checking types and spellings but not meaning (no
    /// references, no cross-checks). Errors carry lines as in [`Config::from_toml_str`].
    pub fn parse(text: &str, file_name: &str) -> Result<Config, Vec<ConfigError>> {
        let mut parsed = source::parse(text, file_name);
        if parsed.errors.is_empty() {
            Ok(parsed.config)
        } else {
            sort(&mut parsed.errors);
            Err(parsed.errors)
        }
    }

    /// Validates a configuration built in code (or read with [`Config::parse`]). Messages
    /// name `file_name`, objects and keys, but no lines.
    pub fn validate(&self, file_name: &str) -> Result<Snapshot, Vec<ConfigError>> {
        let mut ctx = validate::Ctx::new(file_name, None, None);
        let snapshot = validate::validate(self, &mut ctx, &[]);
        finish(snapshot, ctx.errors, ctx.warnings)
    }

    /// The configuration as TOML, every property written out (defaults included), so that
    /// [`Config::parse`] gives back an equal `Config`. Secrets are written in clear, as in
    /// the original file.
    pub fn to_toml_string(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }
}

fn finish(
    snapshot: Option<Snapshot>,
    mut errors: Vec<ConfigError>,
    mut warnings: Vec<Warning>,
) -> Result<Snapshot, Vec<ConfigError>> {
    match snapshot {
        Some(mut snapshot) if errors.is_empty() => {
            warnings.sort_by_key(|w| w.line);
            snapshot.warnings = warnings;
            Ok(snapshot)
        }
        _ => {
            sort(&mut errors);
            Err(errors)
        }
    }
}

fn sort(errors: &mut [ConfigError]) {
    errors.sort_by_key(|e| e.line);
}
