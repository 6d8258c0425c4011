//! The embedding example (`examples/embed.rs`, built as `target/<profile>/examples/embed` of
//! `ipsec-core`) against strongSwan's charon in lab namespaces: the example in namespace a
//! (198.18.0.1), charon in b (198.18.0.2), main mode PSK, ESP tunnel
//! 198.51.100.1/32 === 203.0.113.1/32.
//!
//! - `embed_initiates_to_charon`: a configuration file, `--initiate charon`;
//! - `charon_initiates_to_embed`: the example's built-in configuration, charon initiates.
//!
//! Each checks the example's printed events (phase 1 up in the right role, both directions of
//! the IPsec SA, no key material), charon's `--list-sas` and log, and the clean stop after
//! `--sas 1 --linger 2`: the example exits 0 and charon sees the Deletes. The example is built
//! by `cargo test --workspace`; a run of this file alone builds it (`cargo build -p ipsec-core
//! --example embed`) unless `IKT_EMBED_BIN` names a binary. Needs root (CI is root); with
//! IKT_ALLOW_SKIP=1 a non-root run skips.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use ipsec_tests::charon_log;
use ipsec_tests::lab::{Charon, Lab, LabError, Proc, TwoHosts, wait_for};

const SECS: fn(u64) -> Duration = Duration::from_secs;
/// The example's built-in pre-shared key (`BUILT_IN` in examples/embed.rs).
const BUILT_IN_PSK: &str = "embed-example-psk";
const FILE_PSK: &str = "ikt-embed-example-psk-2";

/// The example binary: `IKT_EMBED_BIN`, else next to this test's binary
/// (`target/<profile>/deps/..` → `target/<profile>/examples/embed`), built (or brought up to
/// date) with the cargo that runs this test.
fn embed_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("IKT_EMBED_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary in target/<profile>/deps");
    let bin = profile_dir.join("examples").join("embed");
    let mut cargo = Command::new(env!("CARGO"));
    cargo.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "build",
        "--quiet",
        "-p",
        "ipsec-core",
        "--example",
        "embed",
    ]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cargo.arg("--release");
    }
    // Without the variables cargo set for this test process: build scripts (ring's) track
    // CARGO_PKG_* and CARGO_MANIFEST_DIR, and would rebuild for the nested build and again for
    // the next `cargo test`.
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CFG_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| k.starts_with(p))
            || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"].contains(&&*k)
        {
            cargo.env_remove(&key);
        }
    }
    // The same target directory as this test binary (CARGO_TARGET_DIR or the default).
    if let Some(target) = profile_dir.parent() {
        cargo.env("CARGO_TARGET_DIR", target);
    }
    let out = ipsec_tests::lab::run(cargo, SECS(300)).expect("cargo build --example embed");
    assert!(
        out.success(),
        "building the example failed:\n{}",
        out.describe()
    );
    assert!(bin.is_file(), "{} missing after the build", bin.display());
    bin
}

/// charon's side: main mode PSK `eng`, CHILD `net`.
fn charon_conf(psk: &str) -> String {
    format!(
        r#"
connections {{
  eng {{
    version = 1
    aggressive = no
    local_addrs = 198.18.0.2
    remote_addrs = 198.18.0.1
    proposals = aes128-sha256-modp2048
    local {{
      auth = psk
    }}
    remote {{
      auth = psk
    }}
    children {{
      net {{
        mode = tunnel
        local_ts = 203.0.113.1/32
        remote_ts = 198.51.100.1/32
        esp_proposals = aes128-sha1
        start_action = none
      }}
    }}
  }}
}}
secrets {{
  ike-eng {{
    id-a = 198.18.0.2
    id-b = 198.18.0.1
    secret = "{psk}"
  }}
}}
"#
    )
}

/// The example's configuration file for the initiator scenario (peer `charon`).
fn embed_toml() -> String {
    format!(
        r#"
[daemon]
listen = ["198.18.0.1"]

[[peer]]
name = "charon"
address = "198.18.0.2/32"
local-address = "198.18.0.1"
exchange-mode = "main"
secret = "{FILE_PSK}"
dh-group = ["modp2048"]
enc-algorithm = ["aes-128"]
hash-algorithm = ["sha256"]
nat-traversal = true

[[proposal]]
name = "p"
enc-algorithms = ["aes-128-cbc"]
auth-algorithms = ["sha1"]
pfs-group = "none"

[[policy]]
src-address = "198.51.100.1/32"
dst-address = "203.0.113.1/32"
tunnel = true
sa-src-address = "198.18.0.1"
sa-dst-address = "198.18.0.2"
proposal = "p"
"#
    )
}

/// Waits (bounded) until the example printed a line containing `needle`; fails at once if it
/// exited without printing it.
fn wait_output(embed: &mut Proc, charon: &Charon, needle: &str, timeout: Duration) -> String {
    wait_for(timeout, &format!("example output {needle:?}"), || {
        let line = embed
            .output()
            .lines()
            .find(|l| l.contains(needle))
            .map(str::to_string);
        if line.is_none() && !embed.is_running() {
            return Err(LabError::Other(format!(
                "the example exited ({:?}) before printing {needle:?}",
                embed.exit_status()
            )));
        }
        Ok(line)
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}\n--- example output:\n{}\n--- charon log:\n{}",
            embed.output(),
            charon.log_tail(30)
        )
    })
}

/// The example's SA is up on both sides, it stops by itself (exit 0) and charon sees the
/// Deletes. `peer` is the peer's name in the example's configuration, `role` ours.
fn check_tunnel_and_stop(mut embed: Proc, charon: &Charon, peer: &str, role: &str) {
    let phase1 = wait_output(&mut embed, charon, "phase 1 up:", SECS(15));
    assert!(
        phase1.contains(&format!("phase 1 up: {peer} 198.18.0.1:")),
        "{phase1}"
    );
    assert!(phase1.contains("<-> 198.18.0.2:"), "{phase1}");
    assert!(phase1.contains(&format!("main mode as {role}")), "{phase1}");
    assert!(phase1.contains("AES-128-CBC"), "{phase1}");
    let out = wait_output(&mut embed, charon, "phase 2 up: Outbound", SECS(15));
    let inb = wait_output(&mut embed, charon, "phase 2 up: Inbound", SECS(2));
    for l in [&out, &inb] {
        assert!(l.contains("Tunnel"), "{l}");
        assert!(l.contains("198.51.100.1/32 === 203.0.113.1/32"), "{l}");
        // charon's kernel-libipsec fakes NAT: ESP is UDP-encapsulated on 4500
        assert!(l.contains("encap Some((4500, 4500))"), "{l}");
    }
    // charon agrees, while the example lingers
    charon
        .wait_child_installed("net", SECS(5))
        .unwrap_or_else(|e| panic!("{e}\n--- example:\n{}", embed.output()));
    assert!(charon.ike_established("eng").unwrap());
    let log = charon.log();
    assert!(
        log.contains("CHILD_SA net{"),
        "charon log has no CHILD_SA net"
    );
    // the example prints SA parameters, never keys: none of the keys charon logged appear
    for label in ["encryption initiator key", "encryption responder key"] {
        let key =
            charon_log::first(&log, label).unwrap_or_else(|| panic!("charon logged no {label:?}"));
        let key = hex::encode(key);
        let printed = embed.output().to_lowercase().replace(' ', "");
        assert!(
            !printed.contains(&key),
            "the example printed a key:\n{printed}"
        );
    }

    // --sas 1 --linger 2: it stops by itself and deletes what it made
    let status = embed
        .wait_exit(SECS(10))
        .unwrap_or_else(|e| panic!("{e}\n--- example:\n{}", embed.output()));
    let printed = embed.output();
    assert!(status.success(), "exit {status:?}:\n{printed}");
    assert!(
        printed.contains(&format!("terminating {peer}")),
        "{printed}"
    );
    assert!(printed.contains("deleted: Inbound"), "{printed}");
    assert!(printed.contains("deleted: Outbound"), "{printed}");
    assert!(printed.contains("stopped after"), "{printed}");
    assert!(printed.contains("with 1 IPsec SA(s)"), "{printed}");
    wait_for(
        SECS(5),
        "charon's IKE and CHILD SAs gone after the Deletes",
        || {
            let sas = charon.list_sas()?;
            Ok((!sas.contains("eng:") && !sas.contains("net:")).then_some(()))
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n--- charon log:\n{}", charon.log_tail(30)));
    // charon's worker threads may take the two Deletes in either order; when the ISAKMP one
    // comes first, the CHILD_SA goes with the IKE_SA and the ESP Delete is not logged
    charon.wait_log("received DELETE for", SECS(2)).unwrap();
}

fn lab_with_charon(name: &str, psk: &str) -> Option<(Lab, TwoHosts, Charon)> {
    let lab = Lab::new(name)?;
    let net = lab.two_hosts().unwrap();
    let charon = Charon::start(&net.b, &charon_conf(psk)).unwrap();
    Some((lab, net, charon))
}

#[test]
fn embed_initiates_to_charon() {
    let bin = embed_bin();
    let Some((_lab, net, charon)) = lab_with_charon("embed-init", FILE_PSK) else {
        return;
    };
    let dir = tempfile::Builder::new()
        .prefix("ikt-embed-example-")
        .tempdir()
        .unwrap();
    let config = dir.path().join("embed.toml");
    std::fs::write(&config, embed_toml()).unwrap();
    let mut embed = net
        .a
        .spawn(&[
            bin.to_str().unwrap(),
            config.to_str().unwrap(),
            "--initiate",
            "charon",
            "--sas",
            "1",
            "--linger",
            "2",
            "--timeout",
            "20",
        ])
        .unwrap();
    wait_output(&mut embed, &charon, "initiating to charon", SECS(5));
    check_tunnel_and_stop(embed, &charon, "charon", "Initiator");
}

#[test]
fn charon_initiates_to_embed() {
    let bin = embed_bin();
    let Some((_lab, net, charon)) = lab_with_charon("embed-resp", BUILT_IN_PSK) else {
        return;
    };
    // the built-in configuration: listen on 198.18.0.1, peer "office" at 198.18.0.2
    let mut embed = net
        .a
        .spawn(&[
            bin.to_str().unwrap(),
            "--sas",
            "1",
            "--linger",
            "2",
            "--timeout",
            "20",
        ])
        .unwrap();
    wait_output(&mut embed, &charon, "listening on 198.18.0.1", SECS(5));
    let out = charon
        .initiate("net")
        .unwrap_or_else(|e| panic!("charon initiate: {e}\n--- example:\n{}", embed.output()));
    assert!(out.stdout.contains("established"), "{}", out.stdout);
    check_tunnel_and_stop(embed, &charon, "office", "Responder");
}
