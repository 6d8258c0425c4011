//! `iked profile`: the binary reads a road-warrior configuration (an iOS peer, an Android
//! peer, a Windows L2TP/IPsec peer, users) and writes what a device imports or types.
//!
//! - `--format mobileconfig` is a property list (parsed with the `plist` crate; also checked
//!   with `plistutil` when it is installed) with the Configuration and VPN payload keys;
//! - `--format windows` is an `Add-VpnConnection` call with the L2TP parameters;
//! - `--format android` has the fields of Android's VPN screen;
//! - an unknown user, and a Windows script for an XAuth peer, are refused with a message;
//! - the user's password appears only with `--include-password`;
//! - `--output` writes mode 0600 and never replaces a file.
//!
//! No privileges needed.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use plist::{Dictionary, Value};

const CONF: &str = r#"
[daemon]
listen = ["198.51.100.1"]

[[peer]]
name = "iphones"
address = "0.0.0.0/0"
auth-method = "pre-shared-key-xauth"
secret = "iphone group secret"
passive = true
profile = "ios"
remote-id = "key-id:corp"
generate-policy = "port-strict"
policy-group = "phones"
mode-config = "phones-cfg"

[[peer]]
name = "androids"
address = "0.0.0.0/0"
auth-method = "pre-shared-key-xauth"
secret = "android group secret"
passive = true
profile = "android"
remote-id = "key-id:droids"
generate-policy = "port-strict"
policy-group = "phones"
mode-config = "phones-cfg"

[[peer]]
name = "laptops"
address = "0.0.0.0/0"
secret = "l2tp machine secret"
passive = true
profile = "windows-l2tp"
generate-policy = "port-strict"
policy-group = "l2tp"

[[proposal]]
name = "phones"
enc-algorithms = ["aes-256-cbc", "aes-128-cbc"]
auth-algorithms = ["sha1", "sha256"]
pfs-group = "none"

[[policy]]
template = true
group = "phones"
src-address = "100.64.8.0/24"
dst-address = "100.64.9.0/24"
tunnel = true
proposal = "phones"

[[policy]]
template = true
group = "l2tp"
src-address = "198.51.100.1/32"
dst-address = "0.0.0.0/0"
protocol = "udp"
src-port = 1701
proposal = "phones"

[[policy-group]]
name = "phones"

[[policy-group]]
name = "l2tp"

[[mode-config]]
name = "phones-cfg"
address-pool = "phones"
address-prefix-length = 24
split-include = ["100.64.8.0/24"]
static-dns = ["100.64.8.53"]

[[user]]
name = "alice"
password = "alice's password"

[[user]]
name = "bob"
password = "bob's password"
address = "100.64.9.200"

[[ip-pool]]
name = "phones"
ranges = ["100.64.9.10-100.64.9.99"]
"#;

struct Env {
    dir: tempfile::TempDir,
    conf: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("iked.toml");
        std::fs::write(&conf, CONF).unwrap();
        Env { dir, conf }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_iked"))
            .arg("profile")
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .output()
            .unwrap()
    }

    /// stdout of a run that must succeed.
    fn ok(&self, args: &[&str]) -> Vec<u8> {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "iked profile {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// stderr of a run that must fail.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "iked profile {args:?} succeeded");
        assert!(out.stdout.is_empty(), "nothing on stdout when refused");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

fn text(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap()
}

fn dict<'a>(d: &'a Dictionary, k: &str) -> &'a Dictionary {
    d.get(k)
        .and_then(Value::as_dictionary)
        .unwrap_or_else(|| panic!("no dictionary {k}"))
}

fn string<'a>(d: &'a Dictionary, k: &str) -> &'a str {
    d.get(k)
        .and_then(Value::as_string)
        .unwrap_or_else(|| panic!("no string {k}"))
}

/// `plistutil` (libplist) also reads it, where it is installed.
fn plistutil_accepts(path: &Path) {
    let Ok(out) = Command::new("plistutil")
        .arg("-i")
        .arg(path)
        .arg("-f")
        .arg("bin")
        .arg("-o")
        .arg(path.with_extension("bin"))
        .output()
    else {
        eprintln!("plistutil not installed; checked with the plist crate only");
        return;
    };
    assert!(
        out.status.success(),
        "plistutil: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mobileconfig_for_the_ios_peer() {
    let env = Env::new();
    let xml = env.ok(&["--user", "alice", "--format", "mobileconfig"]);
    let top = Value::from_reader_xml(&xml[..])
        .unwrap()
        .into_dictionary()
        .unwrap();
    assert_eq!(string(&top, "PayloadType"), "Configuration");
    assert_eq!(top["PayloadVersion"].as_signed_integer(), Some(1));
    for k in ["PayloadIdentifier", "PayloadUUID", "PayloadDisplayName"] {
        assert!(!string(&top, k).is_empty(), "{k}");
    }
    let uuid = string(&top, "PayloadUUID");
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "4", "version 4: {uuid}");

    let content = top["PayloadContent"].as_array().unwrap();
    assert_eq!(content.len(), 1, "no CA payload for a PSK peer");
    let vpn = content[0].as_dictionary().unwrap();
    assert_eq!(string(vpn, "PayloadType"), "com.apple.vpn.managed");
    assert_eq!(vpn["PayloadVersion"].as_signed_integer(), Some(1));
    assert_ne!(string(vpn, "PayloadUUID"), uuid);
    assert!(
        string(vpn, "PayloadIdentifier").starts_with(string(&top, "PayloadIdentifier")),
        "the VPN payload's identifier extends the profile's"
    );
    assert!(!string(vpn, "UserDefinedName").is_empty());
    assert_eq!(string(vpn, "VPNType"), "IPSec");
    let ipsec = dict(vpn, "IPSec");
    assert_eq!(string(ipsec, "RemoteAddress"), "198.51.100.1");
    assert_eq!(string(ipsec, "AuthenticationMethod"), "SharedSecret");
    assert_eq!(string(ipsec, "LocalIdentifier"), "corp");
    assert_eq!(string(ipsec, "LocalIdentifierType"), "KeyID");
    assert_eq!(
        ipsec["SharedSecret"].as_data(),
        Some(&b"iphone group secret"[..])
    );
    assert_eq!(ipsec["XAuthEnabled"].as_signed_integer(), Some(1));
    assert_eq!(string(ipsec, "XAuthName"), "alice");
    assert!(!ipsec.contains_key("XAuthPassword"));
    assert_eq!(ipsec["PromptForVPNPIN"].as_boolean(), Some(false));

    // Two runs: two UUIDs, one identifier (a newer profile replaces the older).
    let again =
        Value::from_reader_xml(&env.ok(&["--user", "alice", "--format", "mobileconfig"])[..])
            .unwrap()
            .into_dictionary()
            .unwrap();
    assert_ne!(string(&again, "PayloadUUID"), uuid);
    assert_eq!(
        string(&again, "PayloadIdentifier"),
        string(&top, "PayloadIdentifier")
    );
}

#[test]
fn mobileconfig_for_the_l2tp_peer_and_output_file() {
    let env = Env::new();
    let out = env.dir.path().join("alice.mobileconfig");
    let o = out.to_str().unwrap();
    let args = [
        "--user",
        "alice",
        "--format",
        "mobileconfig",
        "--peer",
        "laptops",
        "--server",
        "vpn.example.com",
        "--output",
        o,
    ];
    assert!(env.ok(&args).is_empty(), "nothing on stdout with --output");
    let mode = std::fs::metadata(&out).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "it holds the PSK");
    plistutil_accepts(&out);
    let top = Value::from_file(&out).unwrap().into_dictionary().unwrap();
    let vpn = top["PayloadContent"].as_array().unwrap()[0]
        .as_dictionary()
        .unwrap();
    assert_eq!(string(vpn, "VPNType"), "L2TP");
    let ppp = dict(vpn, "PPP");
    assert_eq!(string(ppp, "AuthName"), "alice");
    assert_eq!(string(ppp, "CommRemoteAddress"), "vpn.example.com");
    assert!(!ppp.contains_key("AuthPassword"));
    let ipsec = dict(vpn, "IPSec");
    assert_eq!(string(ipsec, "AuthenticationMethod"), "SharedSecret");
    assert_eq!(string(ipsec, "LocalIdentifierType"), "KeyID");
    assert_eq!(
        ipsec["SharedSecret"].as_data(),
        Some(&b"l2tp machine secret"[..])
    );

    // Never over an existing file.
    let before = std::fs::read(&out).unwrap();
    let err = env.fails(&args);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

#[test]
fn windows_script_for_the_l2tp_peer() {
    let env = Env::new();
    let t = text(env.ok(&["--user", "bob", "--format", "windows"]));
    for want in [
        "Add-VpnConnection",
        "-Name '198.51.100.1 (laptops)'",
        "-ServerAddress '198.51.100.1'",
        "-TunnelType L2tp",
        "-L2tpPsk 'l2tp machine secret'",
        "-AuthenticationMethod MSChapv2",
        "-EncryptionLevel Required",
        "-RememberCredential",
        "-Force",
        "# Set-ItemProperty -Path 'HKLM:\\SYSTEM\\CurrentControlSet\\Services\\PolicyAgent'",
        "-Name 'AssumeUDPEncapsulationContextOnSendRule' -Type DWord -Value 2",
    ] {
        assert!(t.contains(want), "{want:?} in\n{t}");
    }
    assert!(!t.contains("iphone group secret"));
    assert!(!t.contains("bob's password"));
    let t = text(env.ok(&[
        "--user",
        "bob",
        "--format",
        "windows",
        "--include-password",
        "--name",
        "Corp VPN",
    ]));
    assert!(t.contains("-Name 'Corp VPN'"), "{t}");
    assert!(
        t.contains("rasdial 'Corp VPN' 'bob' 'bob''s password'"),
        "{t}"
    );
}

#[test]
fn android_fields() {
    let env = Env::new();
    let t = text(env.ok(&["--user", "alice", "--format", "android"]));
    for want in [
        "Type:                 IPSec Xauth PSK",
        "Server address:       198.51.100.1",
        "IPSec identifier:     droids",
        "IPSec pre-shared key: android group secret",
        "Username:             alice",
        "Password:",
    ] {
        assert!(t.contains(want), "{want:?} in\n{t}");
    }
    assert!(!t.contains("alice's password"));
    let t = text(env.ok(&[
        "--user", "alice", "--format", "android", "--peer", "laptops",
    ]));
    assert!(t.contains("Type:                 L2TP/IPSec PSK"), "{t}");
    assert!(
        t.contains("IPSec pre-shared key: l2tp machine secret"),
        "{t}"
    );
}

#[test]
fn password_only_with_the_flag() {
    let env = Env::new();
    for format in ["mobileconfig", "android", "windows"] {
        let without = env.ok(&["--user", "alice", "--format", format]);
        assert!(
            !String::from_utf8_lossy(&without).contains("alice's password"),
            "{format} without --include-password"
        );
        let with = env.ok(&["--user", "alice", "--format", format, "--include-password"]);
        assert!(
            String::from_utf8_lossy(&with).contains("alice&apos;s password")
                || String::from_utf8_lossy(&with).contains("alice's password")
                || String::from_utf8_lossy(&with).contains("alice''s password"),
            "{format} with --include-password:\n{}",
            String::from_utf8_lossy(&with)
        );
    }
    let xml = env.ok(&[
        "--user",
        "alice",
        "--format",
        "mobileconfig",
        "--include-password",
    ]);
    let top = Value::from_reader_xml(&xml[..])
        .unwrap()
        .into_dictionary()
        .unwrap();
    let vpn = top["PayloadContent"].as_array().unwrap()[0]
        .as_dictionary()
        .unwrap();
    assert_eq!(
        string(dict(vpn, "IPSec"), "XAuthPassword"),
        "alice's password"
    );
}

#[test]
fn refusals() {
    let env = Env::new();
    let err = env.fails(&["--user", "mallory", "--format", "mobileconfig"]);
    assert!(err.contains("no [[user]] called \"mallory\""), "{err}");
    assert!(err.contains("\"alice\""), "names the users: {err}");

    let err = env.fails(&[
        "--user", "alice", "--format", "windows", "--peer", "iphones",
    ]);
    assert!(err.contains("Windows"), "{err}");
    assert!(err.contains("L2TP"), "{err}");
    assert!(err.contains("XAuth"), "{err}");

    let err = env.fails(&[
        "--user", "alice", "--format", "android", "--peer", "iphones",
    ]);
    assert!(err.contains("main mode"), "{err}");

    let err = env.fails(&["--user", "alice", "--format", "android", "--peer", "nope"]);
    assert!(err.contains("no [[peer]] called \"nope\""), "{err}");

    let err = env.fails(&[
        "--user",
        "alice",
        "--format",
        "windows",
        "--server",
        "x'; Remove-Item",
    ]);
    assert!(err.contains("--server"), "{err}");

    // No Windows (L2TP) peer at all.
    let only_phones = CONF.replace("profile = \"windows-l2tp\"\n", "disabled = true\n");
    std::fs::write(&env.conf, only_phones).unwrap();
    let err = env.fails(&["--user", "alice", "--format", "windows"]);
    assert!(err.contains("Windows"), "{err}");

    // A configuration with errors is refused with its messages.
    std::fs::write(&env.conf, "[[peer]]\nname = 1\n").unwrap();
    let err = env.fails(&["--user", "alice", "--format", "android"]);
    assert!(err.contains("iked.toml:2"), "{err}");
}
