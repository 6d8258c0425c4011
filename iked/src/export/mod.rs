//! `iked profile --user NAME --format F`: what a person imports or types on a device to
//! reach this server.
//!
//! - [`model`]: what the client needs, derived from the configuration (peer, server address,
//!   group, PSK, user, CA), and every refusal as a typed [`ExportError`].
//! - [`mobileconfig`]: an Apple configuration profile (iOS, iPadOS, macOS).
//! - [`windows`]: a PowerShell script for Windows' L2TP/IPsec client.
//! - [`android`]: the fields of Android's VPN screen.
//! - [`certs`]: the CA certificates for hybrid RSA.
//!
//! The output holds the group or L2TP secret (and the user's password only with
//! `--include-password`): `--output` writes it with mode 0600 and never over an existing file.

mod android;
mod certs;
mod mobileconfig;
mod model;
mod windows;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use ipsec_core::config::Config;

pub use model::{ExportError, Format};

/// `iked profile`.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The user (`[[user]] name`).
    #[arg(long)]
    pub user: String,
    /// What to write: an Apple .mobileconfig, a Windows PowerShell script, or the fields of
    /// Android's VPN screen.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Configuration file (TOML).
    #[arg(
        short = 'c',
        long = "config",
        value_name = "FILE",
        default_value = "/etc/iked/iked.toml"
    )]
    pub config: PathBuf,
    /// The `[[peer]]` the device connects to (default: the one road-warrior peer for that
    /// device).
    #[arg(long, value_name = "NAME")]
    pub peer: Option<String>,
    /// Host name or address the device dials (default: the peer's local-address, else the
    /// single `[daemon] listen` address).
    #[arg(long, value_name = "HOST")]
    pub server: Option<String>,
    /// Group name the device sends (XAuth peers whose remote-id is auto; default: the peer's
    /// name; a `remote-id = "key-id:GROUP"` decides it).
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// The connection's name on the device (default: "SERVER (PEER)").
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// CA certificate (PEM or DER) the device must trust, for hybrid RSA peers (default: the
    /// chain in the peer's certificate file, else its `ca`).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Put the user's password in the output too (otherwise the device asks for it).
    #[arg(long)]
    pub include_password: bool,
    /// Write to FILE (mode 0600; an existing file is never replaced) instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Write the profile.
pub fn run(args: &ProfileArgs) -> ExitCode {
    match export(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("iked profile: {e}");
            ExitCode::FAILURE
        }
    }
}

fn export(args: &ProfileArgs) -> Result<(), ExportError> {
    let config_error = |lines: Vec<String>| ExportError::Config(lines.join("\n"));
    let loaded = crate::config::load(&args.config).map_err(|e| config_error(e.lines()))?;
    // The snapshot keeps a peer's `profile` only as its effect; the file as written says
    // which device each peer is for.
    let text = std::fs::read_to_string(&args.config)
        .map_err(|e| config_error(vec![format!("{}: {e}", args.config.display())]))?;
    let raw = Config::parse(&text, &args.config.display().to_string())
        .map_err(|errors| config_error(errors.iter().map(ToString::to_string).collect()))?;
    let src = model::Source {
        snapshot: &loaded.snapshot,
        raw: &raw,
        dir: args.config.parent().unwrap_or(Path::new(".")),
    };
    let req = model::Request {
        user: &args.user,
        format: args.format,
        peer: args.peer.as_deref(),
        server: args.server.as_deref(),
        group: args.group.as_deref(),
        name: args.name.as_deref(),
        ca: args.ca.as_deref(),
        include_password: args.include_password,
    };
    let setup = model::build(&src, &req)?;
    if args.server.is_none()
        && let Ok(std::net::IpAddr::V4(a)) = setup.server.parse()
        && (a.is_private()
            || a.is_loopback()
            || a.is_link_local()
            || a.octets()[0] == 100 && a.octets()[1] & 0xc0 == 64)
    {
        // The listen address is not what a phone on the internet dials when a router
        // forwards to it; say so rather than write a profile that cannot connect.
        eprintln!(
            "iked profile: note: the server address {} is private; if devices connect from \
             the internet, give the public name or address with --server",
            setup.server
        );
    }
    let bytes = render(&setup, args.format)?;
    match &args.output {
        Some(path) => write_new(path, &bytes)?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)
                .and_then(|()| out.flush())
                .map_err(|e| ExportError::Output {
                    path: "stdout".into(),
                    reason: e.to_string(),
                })?;
        }
    }
    if let Some(path) = &args.output {
        eprintln!(
            "iked profile: wrote {} for {} via peer {:?} ({}); it holds secrets",
            path.display(),
            setup.user,
            setup.peer,
            setup.kind.describe()
        );
    }
    Ok(())
}

/// The output of `format` for `setup`.
fn render(setup: &model::Setup, format: Format) -> Result<Vec<u8>, ExportError> {
    match format {
        Format::Mobileconfig => mobileconfig::render(setup),
        Format::Windows => windows::render(setup).map(String::into_bytes),
        Format::Android => android::render(setup).map(String::into_bytes),
    }
}

/// Creates `path` with mode 0600 (it holds secrets) and writes `bytes`; an existing file is
/// an error, never replaced.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| ExportError::Output {
        path: path.to_owned(),
        reason: if e.kind() == std::io::ErrorKind::AlreadyExists {
            "already exists; not replaced (it may be someone's profile): remove it or choose \
             another --output"
                .to_owned()
        } else {
            e.to_string()
        },
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn output_is_private_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.mobileconfig");
        write_new(&p, b"one").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let e = write_new(&p, b"two").unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
    }
}
