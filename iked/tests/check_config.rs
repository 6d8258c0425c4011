//! `iked check-config`, `iked run` refusing a bad file, `--version`, and a client without a
//! daemon. No privileges needed.

mod common;

use std::path::Path;

use common::iked_cmd;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

const GOOD: &str = r#"
[daemon]
listen = ["198.18.0.1"]

[[peer]]
name = "office"
address = "198.18.0.2"
secret = "correct horse battery staple"

[[policy]]
src-address = "198.19.1.0/24"
dst-address = "198.19.2.0/24"
tunnel = true
sa-src-address = "198.18.0.1"
sa-dst-address = "198.18.0.2"
"#;

const BAD: &str = r#"[[peer]]
name = "office"
address = "198.18.0.2"
secret = "correct horse battery staple"

[[peer]]
name = "broken"
address = "198.18.0.3"
secret = "correct horse battery staple"
dh-group = "modp9999"

[[proposal]]
name = "site"
enc-algoritms = ["aes-128-cbc"]

[[policy]]
src-address = "198.19.1.0/24"
dst-address = "198.19.2.0/24"
tunnel = true
sa-dst-address = "198.18.0.2"
proposal = "nope"
"#;

fn bad_lines(file: &str) -> Vec<String> {
    vec![
        format!(
            "{file}:10: peer \"broken\": key \"dh-group\": expected one of modp768, modp1024, \
             modp1536, modp2048, modp3072, modp4096, modp6144, modp8192, ecp256, ecp384, \
             ecp521, curve25519, got \"modp9999\""
        ),
        format!(
            "{file}:14: proposal \"site\": key \"enc-algoritms\": unknown key; expected one of \
             name, comment, disabled, auth-algorithms, enc-algorithms, lifetime, lifebytes, \
             pfs-group"
        ),
        format!(
            "{file}:21: policy #1: key \"proposal\": no [[proposal]] is named \"nope\"; expected \
             the name of one (or default)"
        ),
    ]
}

fn lines(b: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(b)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_valid_file_passes() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "good.toml", GOOD);
    let out = iked_cmd(&["check-config", "-c", &f]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        lines(&out.stdout),
        vec![format!("{f}: ok (1 peers, 1 policies, 0 warnings)")]
    );
    assert!(out.stderr.is_empty(), "{out:?}");
}

#[test]
fn every_error_is_printed_with_file_line_object_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "bad.toml", BAD);
    let out = iked_cmd(&["check-config", "-c", &f]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&out.stderr), bad_lines(&f));
    assert!(out.stdout.is_empty());
}

#[test]
fn warnings_are_printed_and_the_file_passes() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "weak.toml",
        "[[peer]]\nname = \"legacy\"\naddress = \"198.18.0.2\"\n\
         secret = \"correct horse battery staple\"\ndh-group = \"modp1024\"\n",
    );
    let out = iked_cmd(&["check-config", "-c", &f]);
    assert!(out.status.success(), "{out:?}");
    let err = lines(&out.stderr);
    assert_eq!(err.len(), 1, "{err:?}");
    assert!(
        err[0].starts_with(&format!(
            "{f}:5: peer \"legacy\": key \"dh-group\": warning: dh-group includes modp1024"
        )),
        "{err:?}"
    );
    assert_eq!(
        lines(&out.stdout),
        vec![format!("{f}: ok (1 peers, 0 policies, 1 warnings)")]
    );
}

#[test]
fn a_missing_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("none.toml");
    let f = f.to_str().unwrap();
    let out = iked_cmd(&["check-config", "-c", f]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        lines(&out.stderr),
        vec![format!("{f}: No such file or directory (os error 2)")]
    );
}

#[test]
fn run_refuses_to_start_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "bad.toml", BAD);
    let sock = dir.path().join("s.sock");
    let out = iked_cmd(&["run", "-c", &f, "--socket", sock.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let mut want = bad_lines(&f);
    want.push(format!("iked: refusing to start: {f} has errors"));
    assert_eq!(lines(&out.stderr), want);
    assert!(!sock.exists());
}

#[test]
fn version() {
    let out = iked_cmd(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        lines(&out.stdout),
        vec![format!("iked {}", env!("CARGO_PKG_VERSION"))]
    );
}

#[test]
fn a_client_without_a_daemon_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("nobody.sock");
    let sock = sock.to_str().unwrap();
    let out = iked_cmd(&["status", "--socket", sock]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("iked: cannot reach iked at {sock}: ")),
        "{err}"
    );
    // The socket path can also come from the configuration file.
    let f = write(
        dir.path(),
        "c.toml",
        &format!("[daemon]\ncontrol-socket = {sock:?}\n"),
    );
    let out = iked_cmd(&["sas", "-c", &f, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(sock));
}

/// Certificate files are read at check time, relative to the configuration file; a missing
/// or wrong one names the peer, the key and the file.
#[test]
fn certificate_files_are_checked_relative_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors/pki");
    for f in ["moon.bundle.pem", "ca.pem", "ca.crl.pem", "moon.key.pem"] {
        std::fs::copy(pki.join(f), dir.path().join(f)).unwrap();
    }
    let rsa = |certificate: &str, ca: &str| {
        format!(
            "[[peer]]\nname = \"sun\"\naddress = \"198.18.0.2\"\nauth-method = \"rsa-signature\"\n\
             certificate = \"{certificate}\"\nca = \"{ca}\"\ncrl = [\"ca.crl.pem\"]\n"
        )
    };
    let good = write(dir.path(), "good.toml", &rsa("moon.bundle.pem", "ca.pem"));
    let out = iked_cmd(&["check-config", "-c", &good]);
    assert!(out.status.success(), "{out:?}");

    let missing = write(dir.path(), "missing.toml", &rsa("sun.bundle.pem", "ca.pem"));
    let out = iked_cmd(&["check-config", "-c", &missing]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "{missing}: peer \"sun\": certificate = \"sun.bundle.pem\": cannot read: "
        )),
        "{err}"
    );

    let wrong = write(
        dir.path(),
        "wrong.toml",
        &rsa("moon.bundle.pem", "moon.key.pem"),
    );
    let out = iked_cmd(&["check-config", "-c", &wrong]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("{wrong}: peer \"sun\": ca = \"moon.key.pem\": ")),
        "{err}"
    );
}

/// Every TOML example of iked/README.md (site-to-site, road warriors) is a valid file; the
/// road-warrior one names the weak parts its profile accepts.
#[test]
fn readme_examples_pass() {
    let readme = include_str!("../README.md");
    let dir = tempfile::tempdir().unwrap();
    let mut rest = readme;
    let mut n = 0;
    while let Some(at) = rest.find("```toml\n") {
        let start = at + "```toml\n".len();
        let len = rest[start..].find("```").unwrap();
        let file = write(
            dir.path(),
            &format!("iked{n}.toml"),
            &rest[start..start + len],
        );
        let out = iked_cmd(&["check-config", "-c", &file]);
        assert!(out.status.success(), "example {n}: {out:?}");
        if rest[start..start + len].contains("profile = \"ios\"") {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(text.contains("profile ios accepts"), "{text}");
        }
        rest = &rest[start + len..];
        n += 1;
    }
    assert!(n >= 2, "{n} examples");
}
