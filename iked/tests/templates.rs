//! `iked template` and the configurations of `examples/`: every example and every template's
//! output passes `iked check-config`, secrets are fresh on every run, `--out` writes the files
//! and never replaces one, and the L2TP server's files have what xl2tpd and pppd need.
//! No privileges needed (the nftables syntax check runs only as root with `nft` installed).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TEMPLATES: &[&str] = &[
    "site-to-site-psk",
    "site-to-site-cert",
    "roadwarrior",
    "roadwarrior-hybrid",
    "l2tp",
    "mobile-unit",
];

const EXAMPLES: &[&str] = &[
    "l2tp.toml",
    "mobile-unit-client.toml",
    "mobile-unit.toml",
    "roadwarrior-hybrid-rsa.toml",
    "roadwarrior-xauth-psk.toml",
    "site-to-site-cert.toml",
    "site-to-site-psk.toml",
];

fn iked(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iked"))
        .args(args)
        .output()
        .expect("iked runs")
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// The certificate files the examples name (`certs/...`, relative to the configuration),
/// from the test PKI of `vectors/pki` (moon: an RSA end entity with its key; the root CA).
fn put_certs(dir: &Path) {
    let pki = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors/pki");
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    for (from, to) in [
        ("moon.bundle.pem", "gw-a.pem"),
        ("moon.bundle.pem", "vpn-server.pem"),
        ("ca.pem", "ca.pem"),
        ("ca.crl.pem", "ca.crl.pem"),
    ] {
        std::fs::copy(pki.join(from), certs.join(to)).unwrap();
    }
}

fn check_config(file: &Path) -> Output {
    iked(&["check-config", "-c", file.to_str().unwrap()])
}

fn assert_passes(file: &Path, what: &str) {
    let out = check_config(file);
    assert!(
        out.status.success(),
        "{what}: check-config failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The values of `secret`, `password` and `xauth-password` lines.
fn secrets(toml: &str) -> Vec<String> {
    toml.lines()
        .filter_map(|l| {
            let (key, value) = l.split_once('=')?;
            let key = key.trim();
            ["secret", "password", "xauth-password"]
                .contains(&key)
                .then(|| value.split('"').nth(1).unwrap_or_default().to_owned())
        })
        .collect()
}

fn template_stdout(args: &[&str]) -> String {
    let mut all = vec!["template"];
    all.extend_from_slice(args);
    let out = iked(&all);
    assert!(out.status.success(), "iked {all:?}: {out:?}");
    assert!(out.stderr.is_empty(), "iked {all:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_example_passes_check_config() {
    let found: BTreeSet<String> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    let expected: BTreeSet<String> = EXAMPLES.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(found, expected, "examples/*.toml changed: update EXAMPLES");

    let dir = tempfile::tempdir().unwrap();
    put_certs(dir.path());
    for name in EXAMPLES {
        let text = std::fs::read_to_string(examples_dir().join(name)).unwrap();
        // Secrets in the examples are placeholders that nobody could mistake for real ones.
        for s in secrets(&text) {
            assert!(s.starts_with("CHANGE-ME-"), "{name}: secret {s:?}");
        }
        let file = dir.path().join(name);
        std::fs::write(&file, &text).unwrap();
        assert_passes(&file, name);
    }
}

#[test]
fn the_certificate_examples_need_their_files() {
    // check-config reads the certificates: without them the file is refused, naming the key.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::copy(examples_dir().join("site-to-site-cert.toml"), &file).unwrap();
    let out = check_config(&file);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("certificate = \"certs/gw-a.pem\""),
        "{out:?}"
    );
}

#[test]
fn every_template_prints_a_configuration_that_passes() {
    let dir = tempfile::tempdir().unwrap();
    put_certs(dir.path());
    for name in TEMPLATES {
        let text = template_stdout(&[name]);
        assert!(!text.contains("CHANGE-ME"), "{name}");
        // Every setup but the certificate one has a secret to fill in.
        assert_eq!(
            secrets(&text).is_empty(),
            *name == "site-to-site-cert",
            "{name}"
        );
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, &text).unwrap();
        assert_passes(&file, name);
        // The other files follow as comment sections.
        assert!(text.contains("\n# ==== nftables.nft "), "{name}");
    }
}

#[test]
fn two_runs_give_different_secrets() {
    for name in TEMPLATES {
        let a = secrets(&template_stdout(&[name]));
        let b = secrets(&template_stdout(&[name]));
        assert_eq!(a.len(), b.len(), "{name}");
        for (x, y) in a.iter().zip(&b) {
            assert_ne!(x, y, "{name}");
            assert!(x.len() >= 24, "{name}: {x}");
        }
    }
}

#[test]
fn server_replaces_the_example_address() {
    let text = template_stdout(&["roadwarrior", "--server", "203.0.113.5"]);
    assert!(text.contains("listen = [\"203.0.113.5\"]"), "{text}");
    assert!(!text.contains("198.51.100.1"), "{text}");
    let l2tp = template_stdout(&["l2tp", "--server", "203.0.113.5"]);
    assert!(l2tp.contains("src-address = \"203.0.113.5/32\""), "{l2tp}");
    assert!(
        !iked(&["template", "l2tp", "--server", "vpn.example"])
            .status
            .success()
    );
}

#[test]
fn without_a_name_the_templates_are_listed() {
    for args in [&["template"][..], &["template", "--list"][..]] {
        let out = iked(args);
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        for name in TEMPLATES {
            assert!(
                text.lines().any(|l| l.trim_start().starts_with(name)),
                "{name}: {text}"
            );
        }
    }
    assert!(!iked(&["template", "no-such-setup"]).status.success());
}

#[test]
fn out_writes_the_files_and_never_replaces_one() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l2tp");
    let d = dir.to_str().unwrap();
    let out = iked(&["template", "l2tp", "--out", d]);
    assert!(out.status.success(), "{out:?}");
    let files = [
        "iked.toml",
        "nftables.nft",
        "xl2tpd.conf",
        "options.xl2tpd",
        "chap-secrets",
        "README.txt",
    ];
    for f in files {
        assert!(dir.join(f).is_file(), "{f}");
    }
    for f in ["iked.toml", "chap-secrets"] {
        let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{f} is readable by others: {mode:o}");
    }
    assert_passes(&dir.join("iked.toml"), "l2tp --out");
    let chap = std::fs::read_to_string(dir.join("chap-secrets")).unwrap();
    assert!(!chap.contains("CHANGE-ME"), "{chap}");
    assert!(
        chap.lines()
            .any(|l| l.starts_with("\"alice\"") && l.contains("l2tp-server")),
        "{chap}"
    );

    // A second run refuses, names the file, and changes nothing.
    let before = std::fs::read_to_string(dir.join("iked.toml")).unwrap();
    let again = iked(&["template", "l2tp", "--out", d]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("refusing to overwrite"), "{err}");
    assert!(err.contains("iked.toml"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("iked.toml")).unwrap(),
        before
    );
    // Even one existing file stops the whole run.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("README.txt"), "mine").unwrap();
    let o = other.to_str().unwrap();
    assert!(
        !iked(&["template", "mobile-unit", "--out", o])
            .status
            .success()
    );
    assert!(!other.join("iked.toml").exists());
    assert_eq!(
        std::fs::read_to_string(other.join("README.txt")).unwrap(),
        "mine"
    );

    // The mobile unit's own configuration comes along and shares the server's secrets.
    let units = tmp.path().join("units");
    let out = iked(&["template", "mobile-unit", "--out", units.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert_passes(&units.join("unit-1.toml"), "unit-1.toml");
    let server = secrets(&std::fs::read_to_string(units.join("iked.toml")).unwrap());
    let unit = secrets(&std::fs::read_to_string(units.join("unit-1.toml")).unwrap());
    for s in &unit {
        assert!(server.contains(s), "{s} is not the server's");
    }
}

/// `iked profile` writes the clients' side from what the templates write.
#[test]
fn the_client_profiles_come_from_the_templates() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, format) in [
        ("roadwarrior", "mobileconfig"),
        ("roadwarrior", "android"),
        ("l2tp", "windows"),
        ("l2tp", "mobileconfig"),
        ("l2tp", "android"),
    ] {
        let dir = tmp.path().join(name);
        if !dir.exists() {
            let out = iked(&["template", name, "--out", dir.to_str().unwrap()]);
            assert!(out.status.success(), "{out:?}");
        }
        let conf = dir.join("iked.toml");
        let group = secrets(&std::fs::read_to_string(&conf).unwrap())[0].clone();
        let out = iked(&[
            "profile",
            "-c",
            conf.to_str().unwrap(),
            "--user",
            "alice",
            "--format",
            format,
        ]);
        assert!(out.status.success(), "{name} {format}: {out:?}");
        // (A .mobileconfig may carry the secret as base64 data.)
        assert!(
            format == "mobileconfig" || String::from_utf8_lossy(&out.stdout).contains(&group),
            "{name} {format}: the group secret is missing"
        );
    }
    // The L2TP user's password is the same in iked.toml (for `iked profile`) and for pppd.
    let l2tp = tmp.path().join("l2tp");
    let user = secrets(&std::fs::read_to_string(l2tp.join("iked.toml")).unwrap())[1].clone();
    let chap = std::fs::read_to_string(l2tp.join("chap-secrets")).unwrap();
    assert!(chap.contains(&format!("\"{user}\"")), "{chap}");
}

/// `key = value` pairs of one `[section]` of an xl2tpd.conf (`;` starts a comment).
fn xl2tpd_section(text: &str, section: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with(';') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            inside = line == format!("[{section}]");
            continue;
        }
        if inside && let Some((k, v)) = line.split_once('=') {
            out.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    out
}

#[test]
fn the_l2tp_server_files_have_what_xl2tpd_and_pppd_need() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l2tp");
    assert!(
        iked(&["template", "l2tp", "--out", dir.to_str().unwrap()])
            .status
            .success()
    );
    for conf in [
        std::fs::read_to_string(dir.join("xl2tpd.conf")).unwrap(),
        std::fs::read_to_string(examples_dir().join("l2tp/xl2tpd.conf")).unwrap(),
    ] {
        let lns = xl2tpd_section(&conf, "lns default");
        let get = |k: &str| {
            lns.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert!(get("ip range").is_some_and(|v| v.contains('-')), "{lns:?}");
        assert!(get("local ip").is_some(), "{lns:?}");
        for (k, v) in [
            ("require chap", "yes"),
            ("refuse pap", "yes"),
            ("require authentication", "yes"),
            ("ppp debug", "no"),
            ("pppoptfile", "/etc/ppp/options.xl2tpd"),
            ("length bit", "yes"),
        ] {
            assert_eq!(get(k), Some(v), "{k}: {lns:?}");
        }
    }
    let options = std::fs::read_to_string(dir.join("options.xl2tpd")).unwrap();
    let lines: Vec<&str> = options
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    for want in [
        "auth",
        "require-mschap-v2",
        "refuse-pap",
        "refuse-chap",
        "mtu 1400",
        "mru 1400",
        "proxyarp",
        "nodefaultroute",
        "noccp",
        "lcp-echo-interval 30",
        "lcp-echo-failure 4",
    ] {
        assert!(lines.contains(&want), "{want}: {lines:?}");
    }
    assert!(lines.iter().any(|l| l.starts_with("ms-dns ")), "{lines:?}");
    // MS-CHAPv2 is what every client uses: it must not be refused.
    assert!(!lines.iter().any(|l| l.contains("refuse-mschap-v2")));
}

#[test]
fn the_nftables_rules_parse() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let nft = Command::new("nft").arg("--version").output();
    if !root || nft.is_err() {
        eprintln!("skipped: needs root and nft");
        return;
    }
    for entry in std::fs::read_dir(examples_dir().join("nftables")).unwrap() {
        let path = entry.unwrap().path();
        let out = Command::new("nft")
            .args(["-c", "-f"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {out:?}", path.display());
    }
}
