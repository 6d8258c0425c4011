//! What a device needs to reach this server, derived from the configuration: which peer it
//! talks to, the server's address, how phase 1 authenticates (group PSK, hybrid RSA, or the
//! L2TP/IPsec PSK), the group name, the user, and the CA for hybrid setups.
//!
//! The output formats (`mobileconfig`, `windows`, `android`) only render a [`Setup`]; every
//! decision and every refusal is made here, with a typed [`ExportError`].

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipsec_core::config::raw::Config as RawConfig;
use ipsec_core::config::value::ClientProfile;
use ipsec_core::config::{
    AuthMethod, ExchangeMode, Identity, ModeConfigRef, Peer, RemoteId, Snapshot,
};
use ipsec_core::crypto::Secret;

use super::certs::{self, CaCertificate};

/// The output format (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An Apple configuration profile for iOS, iPadOS and macOS.
    Mobileconfig,
    /// A PowerShell script for Windows' built-in L2TP/IPsec client.
    Windows,
    /// The fields of Android's (legacy) VPN screen, as text.
    Android,
}

impl Format {
    /// What the device is, for messages.
    pub fn device(self) -> &'static str {
        match self {
            Format::Mobileconfig => "iOS/macOS",
            Format::Windows => "Windows",
            Format::Android => "Android",
        }
    }

    /// The `profile` written for peers meant for this device, preferred when several peers
    /// would do.
    fn preferred_profile(self) -> ClientProfile {
        match self {
            Format::Mobileconfig => ClientProfile::Ios,
            Format::Windows => ClientProfile::WindowsL2tp,
            Format::Android => ClientProfile::Android,
        }
    }
}

/// How the device authenticates and tunnels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// "Cisco IPsec" / "IPsec Xauth PSK": a group name and pre-shared key, then XAuth.
    XauthPsk,
    /// "IPsec Hybrid RSA": the server signs with its certificate, the device logs in by XAuth.
    XauthHybrid,
    /// L2TP over transport-mode IPsec with a pre-shared key; the user logs in to PPP.
    L2tpPsk,
}

impl Kind {
    /// What the device's VPN type is called, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::XauthPsk => "XAuth with a group pre-shared key",
            Kind::XauthHybrid => "XAuth with hybrid RSA (server certificate)",
            Kind::L2tpPsk => "L2TP/IPsec with a pre-shared key",
        }
    }
}

/// Everything a device needs, checked and ready to render.
#[derive(Debug)]
pub struct Setup {
    /// The `[[peer]]` the device will match.
    pub peer: String,
    /// The connection's name on the device.
    pub name: String,
    /// Host name or address the device dials.
    pub server: String,
    /// Authentication and tunnel type.
    pub kind: Kind,
    /// The group name (sent as a KEY_ID identity) for the XAuth kinds.
    pub group: Option<String>,
    /// The pre-shared key for the PSK kinds (bytes as configured; `0x` hex decoded).
    pub psk: Option<Secret>,
    /// The user name (XAuth, or PPP for L2TP).
    pub user: String,
    /// The user's password, only when asked for (`--include-password`); UTF-8.
    pub password: Option<Secret>,
    /// The CA certificates the device must trust for the server's certificate (hybrid),
    /// the trust anchor last.
    pub ca: Vec<CaCertificate>,
    /// Networks routed into the tunnel (mode-config `split-include`); empty for everything.
    pub split_include: Vec<String>,
}

impl Setup {
    /// The pre-shared key as text, for the formats that type it into a text field.
    pub fn psk_text(&self) -> Result<Option<&str>, ExportError> {
        match &self.psk {
            None => Ok(None),
            Some(s) => {
                std::str::from_utf8(s.as_bytes())
                    .map(Some)
                    .map_err(|_| ExportError::BinaryPsk {
                        peer: self.peer.clone(),
                    })
            }
        }
    }

    /// The password as text (checked to be UTF-8 when the setup was built).
    pub fn password_text(&self) -> Option<&str> {
        self.password
            .as_ref()
            .and_then(|p| std::str::from_utf8(p.as_bytes()).ok())
    }
}

/// Why no profile can be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The configuration could not be loaded.
    #[error("{0}")]
    Config(String),
    /// No `[[user]]` of that name.
    #[error("no [[user]] called {user:?} in {file} (users: {known})")]
    UnknownUser {
        /// The name asked for.
        user: String,
        /// The configuration file.
        file: String,
        /// The names that exist.
        known: String,
    },
    /// No `[[peer]]` of that name.
    #[error("no [[peer]] called {peer:?} (peers: {known})")]
    UnknownPeer {
        /// The name asked for.
        peer: String,
        /// The names that exist.
        known: String,
    },
    /// The named peer is not one a device can use.
    #[error("peer {peer:?} cannot serve {device} devices: {reason}")]
    UnusablePeer {
        /// The peer.
        peer: String,
        /// The device.
        device: &'static str,
        /// Why.
        reason: String,
    },
    /// Windows has no XAuth client.
    #[error(
        "peer {peer:?} runs {kind}, which Windows cannot do: its built-in client has no Cisco \
         IPsec/XAuth (only L2TP/IPsec and IKEv2, and iked does not do IKEv2); give Windows \
         users an L2TP/IPsec peer (profile = \"windows-l2tp\") and --peer NAME"
    )]
    WindowsNeedsL2tp {
        /// The peer.
        peer: String,
        /// What it runs.
        kind: &'static str,
    },
    /// No peer fits.
    #[error("no road-warrior peer in {file} serves {device} devices{why}")]
    NoPeer {
        /// The configuration file.
        file: String,
        /// The device.
        device: &'static str,
        /// Why the peers were passed over, for the message.
        why: String,
    },
    /// Several peers fit.
    #[error("several peers could serve {device} devices ({names}); choose one with --peer NAME")]
    AmbiguousPeer {
        /// The device.
        device: &'static str,
        /// Their names.
        names: String,
    },
    /// No address for the device to dial.
    #[error(
        "no server address: peer {peer:?} has no local-address and [daemon] listen is {listen}; \
         give the name or address devices reach with --server HOST"
    )]
    NoServerAddress {
        /// The peer.
        peer: String,
        /// The listen addresses.
        listen: String,
    },
    /// `--server` is not a host name or address.
    #[error("--server {0:?}: expected a host name or an IP address")]
    BadServer(String),
    /// `--group` where it has no meaning or conflicts with the peer's `remote-id`.
    #[error("--group {group:?}: {reason}")]
    BadGroup {
        /// The value.
        group: String,
        /// Why.
        reason: String,
    },
    /// The PSK is raw bytes that cannot be typed.
    #[error(
        "peer {peer:?}: the secret is binary (0x...) and cannot be typed into this device; \
         only the mobileconfig format carries binary secrets"
    )]
    BinaryPsk {
        /// The peer.
        peer: String,
    },
    /// The user's password is not text.
    #[error("user {user:?}: the password is not UTF-8 text")]
    BinaryPassword {
        /// The user.
        user: String,
    },
    /// The CA certificate for a hybrid peer could not be found or read.
    #[error("peer {peer:?}: {reason}")]
    Ca {
        /// The peer.
        peer: String,
        /// What went wrong.
        reason: String,
    },
    /// The output could not be written.
    #[error("{path}: {reason}")]
    Output {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// What the command line asks for, apart from the output.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The user.
    pub user: &'a str,
    /// The format.
    pub format: Format,
    /// `--peer`.
    pub peer: Option<&'a str>,
    /// `--server`.
    pub server: Option<&'a str>,
    /// `--group`.
    pub group: Option<&'a str>,
    /// `--name`.
    pub name: Option<&'a str>,
    /// `--ca`.
    pub ca: Option<&'a Path>,
    /// `--include-password`.
    pub include_password: bool,
}

/// The configuration as far as the export needs it: the validated snapshot, the `profile`
/// of each peer (the snapshot keeps only its effect), and the directory relative paths
/// start from.
pub struct Source<'a> {
    /// The validated configuration.
    pub snapshot: &'a Snapshot,
    /// The file as written (for `profile`).
    pub raw: &'a RawConfig,
    /// The configuration file's directory.
    pub dir: &'a Path,
}

impl Source<'_> {
    fn profile_of(&self, peer: &str) -> Option<ClientProfile> {
        self.raw
            .peer
            .iter()
            .find(|p| p.name == peer)
            .and_then(|p| p.profile)
    }

    /// The peer's `ca` as written (`none` is absent).
    fn ca_of(&self, peer: &str) -> Option<PathBuf> {
        self.raw
            .peer
            .iter()
            .find(|p| p.name == peer)
            .and_then(|p| p.ca.as_deref())
            .filter(|c| *c != "none")
            .map(PathBuf::from)
    }
}

/// Builds the setup for `req` from `src`.
pub fn build(src: &Source<'_>, req: &Request<'_>) -> Result<Setup, ExportError> {
    let snap = src.snapshot;
    let user = snap
        .user(req.user)
        .ok_or_else(|| ExportError::UnknownUser {
            user: req.user.to_owned(),
            file: snap.file().to_owned(),
            known: names(snap.users().iter().map(|u| u.name.as_str())),
        })?;
    let (peer, kind) = pick_peer(src, req)?;
    let server = server_address(snap, peer, req.server)?;
    let group = match kind {
        Kind::XauthPsk | Kind::XauthHybrid => Some(group_name(peer, req.group)?),
        Kind::L2tpPsk => {
            if let Some(g) = req.group {
                return Err(ExportError::BadGroup {
                    group: g.to_owned(),
                    reason: format!(
                        "peer {:?} is L2TP/IPsec, whose clients send their address, not a \
                         group name",
                        peer.name
                    ),
                });
            }
            None
        }
    };
    let psk = match kind {
        Kind::XauthPsk | Kind::L2tpPsk => peer.secret.clone(),
        Kind::XauthHybrid => None,
    };
    let password = if req.include_password {
        if std::str::from_utf8(user.password.as_bytes()).is_err() {
            return Err(ExportError::BinaryPassword {
                user: user.name.clone(),
            });
        }
        Some(user.password.clone())
    } else {
        None
    };
    let ca = match kind {
        Kind::XauthHybrid => {
            let written = src.ca_of(&peer.name);
            certs::ca_for(peer, written.as_deref(), src.dir, req.ca).map_err(|reason| {
                ExportError::Ca {
                    peer: peer.name.clone(),
                    reason,
                }
            })?
        }
        _ => Vec::new(),
    };
    let split_include = match &peer.mode_config {
        ModeConfigRef::Named(n) if kind != Kind::L2tpPsk => snap
            .mode_config(n)
            .map(|m| m.split_include.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let name = match req.name {
        Some(n) if !n.trim().is_empty() => n.to_owned(),
        _ => format!("{} ({})", server, peer.name),
    };
    Ok(Setup {
        peer: peer.name.clone(),
        name,
        server,
        kind,
        group,
        psk,
        user: user.name.clone(),
        password,
        ca,
        split_include,
    })
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<String> = it.map(|n| format!("{n:?}")).collect();
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}

/// What the peer offers, or why a device cannot use it at all.
fn kind_of(peer: &Peer, profile: Option<ClientProfile>) -> Result<Kind, String> {
    if peer.disabled {
        return Err("it is disabled".to_owned());
    }
    let xauth_server = |k| {
        if peer.passive {
            Ok(k)
        } else {
            Err(
                "it is an XAuth client (passive = false); the XAuth server side needs \
                 passive = true"
                    .to_owned(),
            )
        }
    };
    match peer.auth_method {
        AuthMethod::PreSharedKeyXauth => xauth_server(Kind::XauthPsk),
        AuthMethod::RsaSignatureHybrid => xauth_server(Kind::XauthHybrid),
        AuthMethod::PreSharedKey
            if peer.exchange_mode == ExchangeMode::MainL2tp
                || profile == Some(ClientProfile::WindowsL2tp) =>
        {
            Ok(Kind::L2tpPsk)
        }
        AuthMethod::PreSharedKey => Err(
            "it authenticates by pre-shared key alone without exchange-mode = \"main-l2tp\" or \
             profile = \"windows-l2tp\", so it is not a road-warrior peer"
                .to_owned(),
        ),
        AuthMethod::RsaSignature => Err(
            "it authenticates by certificates on both sides (rsa-signature): the device would \
             need its own certificate and key, which this command does not issue; use \
             pre-shared-key-xauth or rsa-signature-hybrid"
                .to_owned(),
        ),
    }
}

/// Whether `format`'s client can use a peer of `kind` in its exchange mode.
fn fits(format: Format, peer: &Peer, kind: Kind) -> Result<(), ExportError> {
    let mode = peer.exchange_mode;
    let unusable = |reason: String| ExportError::UnusablePeer {
        peer: peer.name.clone(),
        device: format.device(),
        reason,
    };
    match (format, kind) {
        (Format::Windows, Kind::XauthPsk | Kind::XauthHybrid) => {
            Err(ExportError::WindowsNeedsL2tp {
                peer: peer.name.clone(),
                kind: kind.describe(),
            })
        }
        // iOS and macOS "Cisco IPsec" use aggressive mode with a group PSK and with hybrid
        // authentication (main mode only with certificates on both sides).
        (Format::Mobileconfig, Kind::XauthPsk | Kind::XauthHybrid)
            if mode != ExchangeMode::Aggressive =>
        {
            Err(unusable(format!(
                "iOS/macOS Cisco IPsec starts in aggressive mode but the peer has exchange-mode \
                 = \"{mode}\"; use a peer with profile = \"ios\""
            )))
        }
        // Android's racoon-based client and every L2TP/IPsec client use main mode.
        (Format::Android, Kind::XauthPsk | Kind::XauthHybrid) | (_, Kind::L2tpPsk)
            if !mode.is_main() =>
        {
            Err(unusable(format!(
                "the device starts in main mode but the peer has exchange-mode = \"{mode}\"{}",
                if kind == Kind::L2tpPsk {
                    ""
                } else {
                    "; use a peer with profile = \"android\""
                }
            )))
        }
        _ => Ok(()),
    }
}

fn pick_peer<'s>(src: &Source<'s>, req: &Request<'_>) -> Result<(&'s Peer, Kind), ExportError> {
    let snap = src.snapshot;
    let format = req.format;
    if let Some(name) = req.peer {
        let peer = snap.peer(name).ok_or_else(|| ExportError::UnknownPeer {
            peer: name.to_owned(),
            known: names(snap.peers().iter().map(|p| p.name.as_str())),
        })?;
        let kind =
            kind_of(peer, src.profile_of(name)).map_err(|reason| ExportError::UnusablePeer {
                peer: name.to_owned(),
                device: format.device(),
                reason,
            })?;
        fits(format, peer, kind)?;
        return Ok((peer, kind));
    }
    let mut fitting = Vec::new();
    let mut passed = Vec::new();
    for peer in snap.peers() {
        let profile = src.profile_of(&peer.name);
        let Ok(kind) = kind_of(peer, profile) else {
            continue;
        };
        // A road-warrior peer accepts anyone (an address prefix) or names its clients'
        // software; a peer for one fixed address is someone else's site.
        if peer.address.is_host() && profile.is_none() {
            continue;
        }
        match fits(format, peer, kind) {
            Ok(()) => fitting.push((peer, kind, profile)),
            Err(e) => passed.push(e.to_string()),
        }
    }
    match fitting.len() {
        1 => return Ok((fitting[0].0, fitting[0].1)),
        0 => {
            let why = if passed.is_empty() {
                String::new()
            } else {
                format!(": {}", passed.join("; "))
            };
            return Err(ExportError::NoPeer {
                file: snap.file().to_owned(),
                device: format.device(),
                why,
            });
        }
        _ => {}
    }
    let preferred: Vec<_> = fitting
        .iter()
        .filter(|(_, _, p)| *p == Some(format.preferred_profile()))
        .collect();
    if let [(peer, kind, _)] = preferred[..] {
        return Ok((peer, *kind));
    }
    Err(ExportError::AmbiguousPeer {
        device: format.device(),
        names: names(fitting.iter().map(|(p, _, _)| p.name.as_str())),
    })
}

/// `--server`, else the peer's `local-address`, else the single specific `[daemon] listen`
/// address.
fn server_address(
    snap: &Snapshot,
    peer: &Peer,
    server: Option<&str>,
) -> Result<String, ExportError> {
    if let Some(s) = server {
        return if valid_host(s) {
            Ok(s.to_owned())
        } else {
            Err(ExportError::BadServer(s.to_owned()))
        };
    }
    if let Some(a) = peer.local_address {
        return Ok(a.to_string());
    }
    let listen = &snap.daemon().listen;
    let specific: Vec<&IpAddr> = listen.iter().filter(|a| !a.is_unspecified()).collect();
    match specific[..] {
        [a] if specific.len() == listen.len() => Ok(a.to_string()),
        _ => Err(ExportError::NoServerAddress {
            peer: peer.name.clone(),
            listen: format!(
                "[{}]",
                listen
                    .iter()
                    .map(|a| format!("\"{a}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// A DNS name (letters, digits, hyphens, dots; labels of 1-63) or an IP address. Also keeps
/// anything that would need quoting out of the scripts and texts the formats write.
pub fn valid_host(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The group name the device sends as its KEY_ID identity: what the peer's `remote-id`
/// demands, else `--group`, else the peer's name (any ID is accepted with `remote-id` auto,
/// the group secret authenticates).
fn group_name(peer: &Peer, group: Option<&str>) -> Result<String, ExportError> {
    match (&peer.remote_id, group) {
        (RemoteId::Id(Identity::KeyId(want)), None) => Ok(want.clone()),
        (RemoteId::Id(Identity::KeyId(want)), Some(g)) if g == want => Ok(want.clone()),
        (RemoteId::Id(Identity::KeyId(want)), Some(g)) => Err(ExportError::BadGroup {
            group: g.to_owned(),
            reason: format!(
                "peer {:?} accepts only the group {want:?} (remote-id = \"key-id:{want}\")",
                peer.name
            ),
        }),
        (RemoteId::Id(other), _) => Err(ExportError::UnusablePeer {
            peer: peer.name.clone(),
            device: "XAuth",
            reason: format!(
                "it expects remote-id = \"{other}\", but these clients send their group name as \
                 a key-id; use remote-id = \"key-id:GROUP\" or \"auto\""
            ),
        }),
        (RemoteId::Auto | RemoteId::Ignore, Some("")) => Err(ExportError::BadGroup {
            group: String::new(),
            reason: "expected a group name".to_owned(),
        }),
        (RemoteId::Auto | RemoteId::Ignore, Some(g)) => Ok(g.to_owned()),
        (RemoteId::Auto | RemoteId::Ignore, None) => Ok(peer.name.clone()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ipsec_core::config::Config;

    pub(crate) const CONF: &str = r#"
[daemon]
listen = ["198.51.100.1"]

[[peer]]
name = "iphones"
address = "0.0.0.0/0"
auth-method = "pre-shared-key-xauth"
secret = "group secret"
passive = true
profile = "ios"
remote-id = "key-id:corp"
generate-policy = "port-strict"
policy-group = "rw"
mode-config = "rw-cfg"

[[peer]]
name = "droids"
address = "0.0.0.0/0"
auth-method = "pre-shared-key-xauth"
secret = "android secret"
passive = true
profile = "android"
remote-id = "key-id:droids"
generate-policy = "port-strict"
policy-group = "rw"
mode-config = "rw-cfg"

[[peer]]
name = "laptops"
address = "0.0.0.0/0"
secret = "l2tp secret"
passive = true
profile = "windows-l2tp"

[[peer]]
name = "office"
address = "203.0.113.7"
secret = "site secret"

[[proposal]]
name = "rw"
pfs-group = "none"

[[policy]]
template = true
group = "rw"
src-address = "10.5.8.0/24"
dst-address = "10.5.9.0/24"
tunnel = true
proposal = "rw"

[[policy]]
src-address = "10.1.0.0/24"
dst-address = "10.2.0.0/24"
tunnel = true
sa-dst-address = "203.0.113.7"

[[policy-group]]
name = "rw"

[[mode-config]]
name = "rw-cfg"
address-pool = "rw"
split-include = ["10.5.8.0/24"]

[[user]]
name = "alice"
password = "alice pw"

[[ip-pool]]
name = "rw"
ranges = ["10.5.9.10-10.5.9.99"]
"#;

    pub(crate) fn setup(conf: &str, req: &Request<'_>) -> Result<Setup, ExportError> {
        let snapshot = Config::from_toml_str(conf, "t.toml").expect("valid");
        let raw = Config::parse(conf, "t.toml").expect("valid");
        let src = Source {
            snapshot: &snapshot,
            raw: &raw,
            dir: Path::new("."),
        };
        build(&src, req)
    }

    pub(crate) fn req(format: Format) -> Request<'static> {
        Request {
            user: "alice",
            format,
            peer: None,
            server: None,
            group: None,
            name: None,
            ca: None,
            include_password: false,
        }
    }

    #[test]
    fn picks_the_peer_made_for_the_device() {
        let s = setup(CONF, &req(Format::Mobileconfig)).unwrap();
        assert_eq!((s.peer.as_str(), s.kind), ("iphones", Kind::XauthPsk));
        assert_eq!(s.group.as_deref(), Some("corp"));
        assert_eq!(s.server, "198.51.100.1");
        assert_eq!(s.split_include, ["10.5.8.0/24"]);
        assert!(s.password.is_none());
        let s = setup(CONF, &req(Format::Android)).unwrap();
        assert_eq!(
            (s.peer.as_str(), s.group.as_deref()),
            ("droids", Some("droids"))
        );
        let s = setup(CONF, &req(Format::Windows)).unwrap();
        assert_eq!((s.peer.as_str(), s.kind), ("laptops", Kind::L2tpPsk));
        assert_eq!(s.psk_text().unwrap(), Some("l2tp secret"));
    }

    #[test]
    fn refusals() {
        let mut r = req(Format::Windows);
        r.peer = Some("iphones");
        assert!(matches!(
            setup(CONF, &r),
            Err(ExportError::WindowsNeedsL2tp { .. })
        ));
        let mut r = req(Format::Android);
        r.peer = Some("iphones");
        let e = setup(CONF, &r).unwrap_err().to_string();
        assert!(e.contains("main mode"), "{e}");
        let mut r = req(Format::Mobileconfig);
        r.peer = Some("office");
        let e = setup(CONF, &r).unwrap_err().to_string();
        assert!(e.contains("not a road-warrior peer"), "{e}");
        let mut r = req(Format::Mobileconfig);
        r.user = "mallory";
        assert!(matches!(
            setup(CONF, &r),
            Err(ExportError::UnknownUser { .. })
        ));
        let mut r = req(Format::Mobileconfig);
        r.peer = Some("nope");
        assert!(matches!(
            setup(CONF, &r),
            Err(ExportError::UnknownPeer { .. })
        ));
        let mut r = req(Format::Mobileconfig);
        r.group = Some("other");
        assert!(matches!(setup(CONF, &r), Err(ExportError::BadGroup { .. })));
        let mut r = req(Format::Mobileconfig);
        r.server = Some("vpn.example.com; rm -rf /");
        assert!(matches!(setup(CONF, &r), Err(ExportError::BadServer(_))));
    }

    #[test]
    fn several_candidates_without_a_preference_are_ambiguous() {
        let conf = CONF.replace("profile = \"android\"\n", "");
        let conf = conf.replace("profile = \"ios\"\n", "exchange-mode = \"main\"\n");
        let e = setup(&conf, &req(Format::Android)).unwrap_err();
        assert!(matches!(e, ExportError::AmbiguousPeer { .. }), "{e}");
        assert!(e.to_string().contains("--peer"));
    }

    #[test]
    fn server_address_sources() {
        let conf = CONF.replace("listen = [\"198.51.100.1\"]", "listen = [\"0.0.0.0\"]");
        let e = setup(&conf, &req(Format::Windows)).unwrap_err();
        assert!(matches!(e, ExportError::NoServerAddress { .. }), "{e}");
        let mut r = req(Format::Windows);
        r.server = Some("vpn.example.com");
        assert_eq!(setup(&conf, &r).unwrap().server, "vpn.example.com");
        assert!(valid_host("2001:db8::1"));
        assert!(!valid_host("a..b"));
        assert!(!valid_host("-a.example"));
    }

    #[test]
    fn password_only_when_asked() {
        let mut r = req(Format::Mobileconfig);
        r.include_password = true;
        let s = setup(CONF, &r).unwrap();
        assert_eq!(s.password_text(), Some("alice pw"));
    }
}
