//! `iked template NAME`: a commented starting configuration for a common setup, with fresh
//! random secrets, and the other files the setup needs (nftables rules, the L2TP server's
//! xl2tpd and pppd files, the other end's configuration).
//!
//! The texts are the files of `examples/` (one source of truth: what the tests check there is
//! what the command prints). Every `CHANGE-ME-...` placeholder becomes a random secret, the
//! same placeholder the same secret in every file of one run (so that a group secret in
//! `iked.toml` and in the unit's own file agree), and `--server` replaces the example's
//! server address 198.51.100.1. Nothing is applied: firewall rules are printed or written,
//! never loaded.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use ring::rand::{SecureRandom, SystemRandom};

/// `iked template`.
#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// Which setup; without it, the list of setups.
    #[arg(value_enum, value_name = "NAME")]
    pub name: Option<TemplateName>,
    /// List the setups, one line each.
    #[arg(long)]
    pub list: bool,
    /// Write iked.toml and the other files into this directory (created if missing) instead
    /// of printing them; an existing file is never replaced.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The server's public IPv4 address, in place of the example's 198.51.100.1.
    #[arg(long, value_name = "ADDRESS")]
    pub server: Option<Ipv4Addr>,
}

/// The setups `iked template` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TemplateName {
    /// Two gateways join their LANs, pre-shared key.
    SiteToSitePsk,
    /// Two gateways join their LANs, RSA certificates.
    SiteToSiteCert,
    /// iPhone/Mac/Android built-in clients: group secret + XAuth, mode-config.
    Roadwarrior,
    /// iPhone/Mac/Android: server certificate + XAuth (hybrid RSA), mode-config.
    RoadwarriorHybrid,
    /// L2TP/IPsec for Windows, macOS and Android, with xl2tpd + pppd.
    L2tp,
    /// Roaming units with a fixed inner address and a LAN behind them.
    MobileUnit,
}

/// The example address of the server (RFC 5737) that `--server` replaces.
const EXAMPLE_SERVER: &str = "198.51.100.1";

/// One setup: its `iked.toml` and the other files, as in `examples/`.
struct Template {
    name: TemplateName,
    summary: &'static str,
    config: &'static str,
    /// (file name under `--out`, text).
    files: &'static [(&'static str, &'static str)],
    next_steps: &'static str,
}

macro_rules! example {
    ($path:literal) => {
        include_str!(concat!("../../examples/", $path))
    };
}

const COMMON_STEPS: &str = "\
Then, on the server:
  install -m 0600 iked.toml /etc/iked/iked.toml
  iked check-config -c /etc/iked/iked.toml   # every mistake with file:line, object and key
  systemctl enable --now iked                # or: iked run -c /etc/iked/iked.toml
  iked status; iked sas                      # once a peer is up
See docs/templates.md for the client side of every setup.
";

const TEMPLATES: &[Template] = &[
    Template {
        name: TemplateName::SiteToSitePsk,
        summary: "two gateways join their LANs, pre-shared key",
        config: example!("site-to-site-psk.toml"),
        files: &[("nftables.nft", example!("nftables/site-to-site.nft"))],
        next_steps: "\
1. Replace the example addresses (198.51.100.1 = this gateway, 203.0.113.1 = the other one,
   198.19.1.0/24 and 198.19.2.0/24 = the two LANs) in iked.toml and nftables.nft.
2. The other gateway gets the same file with both sides swapped and the SAME secret (or the
   strongSwan configuration in docs/templates.md). Copy the secret over a secure channel.
3. Merge nftables.nft into your firewall: the NAT bypass rule must come before the masquerade.
",
    },
    Template {
        name: TemplateName::SiteToSiteCert,
        summary: "two gateways join their LANs, RSA certificates",
        config: example!("site-to-site-cert.toml"),
        files: &[("nftables.nft", example!("nftables/site-to-site.nft"))],
        next_steps: "\
1. Replace the example addresses and names (198.51.100.1 = this gateway, 203.0.113.1 = the
   other one, gw-a/gw-b.example.net = the names in the certificates' subjectAltName).
2. Put the certificates next to iked.toml: certs/gw-a.pem (this gateway's certificate, chain
   and private key, mode 0600), certs/ca.pem (the CA), certs/ca.crl.pem (its CRL).
   check-config reads them and refuses the file while they are missing.
3. The other gateway: the same file with both sides swapped and its own certificate.
4. Merge nftables.nft into your firewall: the NAT bypass rule must come before the masquerade.
",
    },
    Template {
        name: TemplateName::Roadwarrior,
        summary: "iPhone/Mac/Android built-in clients: group secret + XAuth, mode-config",
        config: example!("roadwarrior-xauth-psk.toml"),
        files: &[("nftables.nft", example!("nftables/roadwarrior.nft"))],
        next_steps: "\
1. Replace the example addresses (198.51.100.1 = this server, 198.19.1.0/24 = the LAN,
   198.19.9.x = the client pool, 198.19.1.53 = the DNS server) and the users.
2. Merge nftables.nft into your firewall (NAT bypass, MSS clamping, UDP 500/4500 and ESP in).
3. For each user: iked profile -c /etc/iked/iked.toml --user alice --format mobileconfig
   (iPhone, iPad, Mac) or --format android (the fields to type).
",
    },
    Template {
        name: TemplateName::RoadwarriorHybrid,
        summary: "iPhone/Mac/Android: server certificate + XAuth (hybrid RSA), mode-config",
        config: example!("roadwarrior-hybrid-rsa.toml"),
        files: &[("nftables.nft", example!("nftables/roadwarrior.nft"))],
        next_steps: "\
1. Put the server's certificate, chain and private key in certs/vpn-server.pem next to
   iked.toml (mode 0600); its subjectAltName must name what the devices dial
   (vpn.example.net in the template: change my-id to match).
2. Replace the example addresses and the users; merge nftables.nft into your firewall.
3. For each user: iked profile -c /etc/iked/iked.toml --user alice --format mobileconfig
   (carries the CA) or --format android (install the CA on the phone first).
",
    },
    Template {
        name: TemplateName::L2tp,
        summary: "L2TP/IPsec for Windows, macOS and Android, with xl2tpd + pppd",
        config: example!("l2tp.toml"),
        files: &[
            ("nftables.nft", example!("nftables/l2tp.nft")),
            ("xl2tpd.conf", example!("l2tp/xl2tpd.conf")),
            ("options.xl2tpd", example!("l2tp/options.xl2tpd")),
            ("chap-secrets", example!("l2tp/chap-secrets")),
        ],
        next_steps: "\
1. apt install xl2tpd ppp (or your distribution's packages), then
   install -m 0644 xl2tpd.conf /etc/xl2tpd/xl2tpd.conf
   install -m 0644 options.xl2tpd /etc/ppp/options.xl2tpd
   install -m 0600 chap-secrets /etc/ppp/chap-secrets   (or add its line to yours)
   systemctl restart xl2tpd
2. Replace the example addresses (198.51.100.1 = this server; 198.19.1.x = the LAN, its DNS
   server and the PPP range in xl2tpd.conf) and add a chap-secrets line per user.
3. Merge nftables.nft into your firewall: it also drops L2TP that did not come through IPsec.
4. Clients: iked profile -c /etc/iked/iked.toml --user alice --format windows|mobileconfig|android.
   Windows, when this server is behind a NAT, also needs the registry value
   AssumeUDPEncapsulationContextOnSendRule = 2 (docs/templates.md).
",
    },
    Template {
        name: TemplateName::MobileUnit,
        summary: "roaming units with a fixed inner address and a LAN behind them",
        config: example!("mobile-unit.toml"),
        files: &[
            ("nftables.nft", example!("nftables/mobile-unit.nft")),
            ("unit-1.toml", example!("mobile-unit-client.toml")),
        ],
        next_steps: "\
1. Replace the example addresses (198.51.100.1 = this server, 198.19.1.0/24 = the office LAN,
   198.19.40.x = the units' inner addresses, 198.19.64.0/18 = their LANs) and add a [[user]]
   per unit with its address and routes.
2. unit-1.toml is unit 1's own iked configuration (same group secret and password as here):
   install it on the unit as /etc/iked/iked.toml (mode 0600). For another unit, copy it and
   change xauth-login, xauth-password and its LAN.
3. Merge nftables.nft into the office firewall.
",
    },
];

fn template(name: TemplateName) -> &'static Template {
    TEMPLATES
        .iter()
        .find(|t| t.name == name)
        .expect("every name has a template")
}

fn name_str(name: TemplateName) -> String {
    name.to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

/// The list printed by `iked template` and `iked template --list`.
fn list() -> String {
    let mut out = String::from("iked template NAME [--out DIR] [--server ADDRESS], NAME one of:\n");
    for t in TEMPLATES {
        out.push_str(&format!("  {:<20} {}\n", name_str(t.name), t.summary));
    }
    out
}

/// Readable, unambiguous characters (no 0/O, 1/l/I): people type these secrets into phones.
const ALPHABET: &[u8] = b"23456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";

/// A fresh secret: 24 characters of [`ALPHABET`] (about 140 bits), in groups of 6.
fn fresh_secret(rng: &dyn SecureRandom) -> Result<String, ring::error::Unspecified> {
    // Rejection sampling keeps every character equally likely.
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
    let mut chars = Vec::with_capacity(24);
    while chars.len() < 24 {
        let mut buf = [0u8; 32];
        rng.fill(&mut buf)?;
        for b in buf {
            if b < limit && chars.len() < 24 {
                chars.push(ALPHABET[usize::from(b) % ALPHABET.len()]);
            }
        }
    }
    let groups: Vec<&str> = chars
        .chunks(6)
        .map(|c| std::str::from_utf8(c).expect("ASCII"))
        .collect();
    Ok(groups.join("-"))
}

const PLACEHOLDER: &str = "CHANGE-ME-";

/// `text` with every `CHANGE-ME-...` token replaced by its secret in `secrets`, drawing a
/// fresh one for a token not seen before.
fn fill_secrets(
    text: &str,
    secrets: &mut BTreeMap<String, String>,
    new_secret: &mut dyn FnMut() -> Result<String, ring::error::Unspecified>,
) -> Result<String, ring::error::Unspecified> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(PLACEHOLDER) {
        out.push_str(&rest[..at]);
        let token_len = rest[at..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(rest.len() - at);
        let token = &rest[at..at + token_len];
        if !secrets.contains_key(token) {
            secrets.insert(token.to_owned(), new_secret()?);
        }
        out.push_str(&secrets[token]);
        rest = &rest[at + token_len..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `text` with the address `from` replaced by `to` wherever it stands alone (not as part of
/// 198.51.100.10 or 2198.51.100.1).
fn replace_address(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    while let Some(at) = rest.find(from) {
        let before = rest[..at]
            .chars()
            .next_back()
            .or(if at == 0 { prev } else { None });
        let mut after = rest[at + from.len()..].chars();
        let (next, next2) = (after.next(), after.next());
        // A dot continues the address only when a digit follows ("198.51.100.1." ends a
        // sentence).
        let joined_before = before.is_some_and(|c| c.is_ascii_digit() || c == '.');
        let joined_after = next.is_some_and(|c| c.is_ascii_digit())
            || (next == Some('.') && next2.is_some_and(|c| c.is_ascii_digit()));
        out.push_str(&rest[..at]);
        out.push_str(if joined_before || joined_after {
            from
        } else {
            to
        });
        prev = from.chars().next_back();
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

/// The files of one run of a template: `iked.toml` first, then the others, then README.txt.
fn render(
    t: &Template,
    server: Option<Ipv4Addr>,
    new_secret: &mut dyn FnMut() -> Result<String, ring::error::Unspecified>,
) -> Result<Vec<(String, String)>, ring::error::Unspecified> {
    let mut secrets = BTreeMap::new();
    let server = server.map(|s| s.to_string());
    let mut one = |text: &str| -> Result<String, ring::error::Unspecified> {
        let text = fill_secrets(text, &mut secrets, new_secret)?;
        Ok(match &server {
            Some(s) => replace_address(&text, EXAMPLE_SERVER, s),
            None => text,
        })
    };
    let name = name_str(t.name);
    let header = format!(
        "# Written by `iked template {name}`: the project's example with fresh random secrets\n\
         # in place of its placeholders. Keep this file mode 0600.\n\n"
    );
    let mut files = vec![("iked.toml".to_owned(), header + &one(t.config)?)];
    for (file, text) in t.files {
        files.push(((*file).to_owned(), one(text)?));
    }
    let mut readme = format!("Next steps for `iked template {name}` ({}):\n\n", t.summary);
    readme.push_str(t.next_steps);
    readme.push('\n');
    readme.push_str(COMMON_STEPS);
    files.push(("README.txt".to_owned(), one(&readme)?));
    Ok(files)
}

/// Everything on one stream: the TOML first, the other files after it as comments, so that
/// `iked template NAME > iked.toml` is still a valid configuration.
fn to_stdout(files: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (name, text)) in files.iter().enumerate() {
        if i == 0 {
            out.push_str(text);
            continue;
        }
        let bar = "=".repeat(70usize.saturating_sub(name.len()));
        out.push_str(&format!("\n# ==== {name} {bar}\n"));
        for line in text.lines() {
            if line.is_empty() {
                out.push_str("#\n");
            } else {
                out.push_str("# ");
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push_str(&format!("# ==== end of {name}\n"));
    }
    out
}

/// Files holding secrets (configurations, PPP passwords) are written 0600, the others 0644.
fn mode_of(name: &str) -> u32 {
    if name.ends_with(".toml") || name == "chap-secrets" {
        0o600
    } else {
        0o644
    }
}

/// Writes `files` into `dir`, refusing (before writing anything) if any of them exists.
fn write_out(dir: &Path, files: &[(String, String)]) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let existing: Vec<String> = files
        .iter()
        .map(|(name, _)| dir.join(name))
        .filter(|p| p.symlink_metadata().is_ok())
        .map(|p| p.display().to_string())
        .collect();
    if !existing.is_empty() {
        return Err(format!(
            "refusing to overwrite {}; expected a directory without them",
            existing.join(", ")
        ));
    }
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode_of(name))
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        f.write_all(text.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// `iked template`.
pub fn run(args: &TemplateArgs) -> ExitCode {
    let name = match (args.name, args.list) {
        (Some(name), false) => name,
        _ => {
            print!("{}", list());
            return ExitCode::SUCCESS;
        }
    };
    let rng = SystemRandom::new();
    let files = match render(template(name), args.server, &mut || fresh_secret(&rng)) {
        Ok(f) => f,
        Err(_) => {
            eprintln!("iked template: the system's random number generator failed");
            return ExitCode::FAILURE;
        }
    };
    match &args.out {
        None => {
            print!("{}", to_stdout(&files));
            ExitCode::SUCCESS
        }
        Some(dir) => match write_out(dir, &files) {
            Ok(written) => {
                for p in written {
                    println!("wrote {}", p.display());
                }
                print!("\n{}", files.last().map(|(_, t)| t.as_str()).unwrap_or(""));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("iked template: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> impl FnMut() -> Result<String, ring::error::Unspecified> {
        let mut n = 0;
        move || {
            n += 1;
            Ok(format!("secret{n}"))
        }
    }

    #[test]
    fn every_name_has_one_template() {
        for name in TemplateName::value_variants() {
            assert_eq!(TEMPLATES.iter().filter(|t| t.name == *name).count(), 1);
            assert!(list().contains(&name_str(*name)));
        }
        assert_eq!(TEMPLATES.len(), TemplateName::value_variants().len());
    }

    #[test]
    fn a_placeholder_is_one_secret_in_every_file() {
        let t = template(TemplateName::MobileUnit);
        let files = render(t, None, &mut counter()).unwrap();
        for (name, text) in &files {
            assert!(!text.contains(PLACEHOLDER), "{name}");
        }
        let server = &files[0].1;
        let unit = &files.iter().find(|(n, _)| n == "unit-1.toml").unwrap().1;
        // The group secret and unit-1's password appear on both sides, identical.
        let group = server
            .lines()
            .find(|l| l.starts_with("secret = "))
            .unwrap()
            .to_owned();
        assert!(unit.lines().any(|l| l.starts_with(&group)), "{group}");
    }

    #[test]
    fn every_rendered_configuration_validates() {
        for t in TEMPLATES {
            let files = render(t, Some(Ipv4Addr::new(198, 18, 0, 1)), &mut counter()).unwrap();
            assert_eq!(files[0].0, "iked.toml");
            let r = ipsec_core::config::Config::from_toml_str(&files[0].1, "t.toml");
            assert!(r.is_ok(), "{}: {:?}", name_str(t.name), r.err());
            assert!(!files[0].1.contains(EXAMPLE_SERVER), "{}", name_str(t.name));
            // The stdout form is the same TOML: the other files are comments.
            let r = ipsec_core::config::Config::from_toml_str(&to_stdout(&files), "t.toml");
            assert!(r.is_ok(), "{}: {:?}", name_str(t.name), r.err());
        }
    }

    #[test]
    fn secrets_are_long_readable_and_fresh() {
        let rng = SystemRandom::new();
        let a = fresh_secret(&rng).unwrap();
        let b = fresh_secret(&rng).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 24 + 3);
        assert!(a.bytes().all(|c| c == b'-' || ALPHABET.contains(&c)), "{a}");
    }

    #[test]
    fn only_the_whole_address_is_replaced() {
        let t = "a 198.51.100.1 b 198.51.100.10 c \"198.51.100.1/32\" d 2198.51.100.1 e \
                 198.51.100.1.5 f 198.51.100.1.";
        assert_eq!(
            replace_address(t, EXAMPLE_SERVER, "203.0.113.9"),
            "a 203.0.113.9 b 198.51.100.10 c \"203.0.113.9/32\" d 2198.51.100.1 e \
             198.51.100.1.5 f 203.0.113.9."
        );
        assert_eq!(replace_address("198.51.100.1", EXAMPLE_SERVER, "x"), "x");
    }

    #[test]
    fn the_token_ends_at_a_quote() {
        let mut s = BTreeMap::new();
        let out = fill_secrets(
            "\"CHANGE-ME-a\" CHANGE-ME-b-c\nCHANGE-ME-a",
            &mut s,
            &mut counter(),
        )
        .unwrap();
        assert_eq!(out, "\"secret1\" secret2\nsecret1");
    }
}
