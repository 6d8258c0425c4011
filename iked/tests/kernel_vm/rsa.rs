//! RSA signatures between two iked with the test PKI (`vectors/pki`): a is `moon` (under the
//! root CA, SAN 198.18.0.1), b is `sun` (under the intermediate, SAN 198.18.0.2); the IDs are
//! the addresses, checked against the certificates' SANs.
//!
//! ```text
//!  lo 198.51.100.1 [a: moon] 198.18.0.1 --veth-- 198.18.0.2 [b: sun] lo 203.0.113.1
//! ```

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipsec_tests::vector;

use super::support::{
    Conf, LogsOnPanic, PolicySpec, lab, out_bytes, ping, ping_until, route, sas, start_iked,
    stop_clean,
};

const A_INNER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const B_INNER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

/// Concatenates PKI files into `dir/name` (a key+certificate bundle, a CA bundle).
fn bundle(dir: &Path, name: &str, parts: &[&str]) -> PathBuf {
    let mut text = Vec::new();
    for p in parts {
        text.extend(std::fs::read(vector(format!("pki/{p}"))).unwrap());
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn rsa_auth(certificate: &Path, ca: &Path) -> String {
    format!(
        "auth-method = \"rsa-signature\"\ncertificate = \"{}\"\nca = \"{}\"",
        certificate.display(),
        ca.display()
    )
}

#[test]
#[ignore = "runs inside the kernel VM (started by site_to_site_in_vm)"]
fn guest_rsa_signatures() {
    if !super::support::in_guest() {
        return;
    }
    let lab = lab("rsa");
    let net = lab.two_hosts().unwrap();
    let (aa, ba) = (net.a.addr(), net.b.addr());
    route(&net.a, &format!("{B_INNER}/32"), ba, A_INNER);
    route(&net.b, &format!("{A_INNER}/32"), aa, B_INNER);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // moon trusts the root and the intermediate (sun's issuer); sun trusts the root.
    let moon_ca = bundle(d, "moon-ca.pem", &["ca.pem", "intermediate.pem"]);
    let sun_cert = bundle(d, "sun.bundle.pem", &["sun.pem", "sun.key.pem"]);
    let mut ca = Conf::new(aa, "sun", ba, PolicySpec::tunnel(A_INNER, B_INNER, aa, ba));
    ca.auth = rsa_auth(&vector("pki/moon.bundle.pem"), &moon_ca);
    let mut cb = Conf::new(ba, "moon", aa, PolicySpec::tunnel(B_INNER, A_INNER, ba, aa));
    cb.auth = rsa_auth(&sun_cert, &vector("pki/ca.pem"));
    let mut da = start_iked(&net.a, d, "a", &ca);
    let mut db = start_iked(&net.b, d, "b", &cb);
    let _logs = LogsOnPanic::of(&[&da, &db]);

    let took = ping_until(&net.a, A_INNER, B_INNER, Duration::from_secs(60));
    eprintln!("rsa: first ping answered after {took:.1?}");
    for (dm, name) in [(&da, "moon"), (&db, "sun")] {
        let status = dm.json(&["status"]);
        assert_eq!(
            status["peers"][0]["state"], "established",
            "{name}: {status}"
        );
        eprintln!("{name}: {}", status["peers"][0]);
        assert_eq!(sas(dm).len(), 2, "{name}");
    }
    let before = out_bytes(&da);
    assert!(ping(&net.a, A_INNER, B_INNER));
    assert!(out_bytes(&da) > before);

    stop_clean(&mut da, &net.a);
    stop_clean(&mut db, &net.b);
}
