//! An Apple configuration profile (`.mobileconfig`, an XML property list) for the built-in
//! VPN client of iOS, iPadOS and macOS.
//!
//! One `com.apple.vpn.managed` payload: `VPNType` `IPSec` (the "Cisco IPsec" client: group
//! name as a KEY_ID, group secret or hybrid, XAuth) or `L2TP` (a `PPP` dictionary for the
//! user plus an `IPSec` dictionary for the machine secret). Key names and values follow
//! Apple's profile reference for `com.apple.vpn.managed`: `SharedSecret` is data, hybrid
//! authentication is `SharedSecret` with a `LocalIdentifier` that ends in "hybrid" and no
//! secret, and a certificate the device must trust goes in its own `com.apple.security.root`
//! payload (intermediates in `com.apple.security.pkcs1`).

use plist::{Dictionary, Value};
use ring::rand::{SecureRandom, SystemRandom};

use super::model::{ExportError, Kind, Setup};

/// The profile as XML.
pub fn render(s: &Setup) -> Result<Vec<u8>, ExportError> {
    let rng = SystemRandom::new();
    let id = identifier(s);
    let mut content = Vec::new();
    for (i, ca) in s.ca.iter().enumerate() {
        let mut p = Dictionary::new();
        let (kind, file) = if ca.self_signed {
            ("com.apple.security.root", format!("iked-ca-{i}.cer"))
        } else {
            (
                "com.apple.security.pkcs1",
                format!("iked-intermediate-{i}.cer"),
            )
        };
        header(&mut p, kind, &format!("{id}.ca{i}"), &ca.subject, &rng)?;
        p.insert("PayloadCertificateFileName".into(), file.into());
        p.insert("PayloadContent".into(), Value::Data(ca.der.clone()));
        content.push(Value::Dictionary(p));
    }
    content.push(Value::Dictionary(vpn_payload(s, &id, &rng)?));

    let mut top = Dictionary::new();
    header(
        &mut top,
        "Configuration",
        &id,
        &format!("VPN {}", s.name),
        &rng,
    )?;
    top.insert(
        "PayloadDescription".into(),
        format!("VPN to {} for {} ({})", s.server, s.user, s.kind.describe()).into(),
    );
    top.insert("PayloadContent".into(), Value::Array(content));
    let mut out = Vec::new();
    Value::Dictionary(top)
        .to_writer_xml(&mut out)
        .map_err(|e| ExportError::Output {
            path: "mobileconfig".into(),
            reason: e.to_string(),
        })?;
    out.push(b'\n');
    Ok(out)
}

fn vpn_payload(s: &Setup, id: &str, rng: &SystemRandom) -> Result<Dictionary, ExportError> {
    let mut p = Dictionary::new();
    header(
        &mut p,
        "com.apple.vpn.managed",
        &format!("{id}.vpn"),
        "VPN",
        rng,
    )?;
    p.insert("UserDefinedName".into(), s.name.clone().into());
    let mut ipsec = Dictionary::new();
    match s.kind {
        Kind::XauthPsk | Kind::XauthHybrid => {
            p.insert("VPNType".into(), "IPSec".into());
            ipsec.insert("RemoteAddress".into(), s.server.clone().into());
            ipsec.insert("AuthenticationMethod".into(), "SharedSecret".into());
            let group = s.group.clone().unwrap_or_default();
            let local_id = if s.kind == Kind::XauthHybrid {
                // Apple: for hybrid authentication the group name ends in "hybrid".
                format!("{group}[hybrid]")
            } else {
                group
            };
            ipsec.insert("LocalIdentifier".into(), local_id.into());
            ipsec.insert("LocalIdentifierType".into(), "KeyID".into());
            if let Some(psk) = &s.psk {
                ipsec.insert("SharedSecret".into(), Value::Data(psk.as_bytes().to_vec()));
            }
            ipsec.insert("XAuthEnabled".into(), 1.into());
            ipsec.insert("XAuthName".into(), s.user.clone().into());
            if let Some(pw) = s.password_text() {
                ipsec.insert("XAuthPassword".into(), pw.to_owned().into());
            }
            ipsec.insert("PromptForVPNPIN".into(), false.into());
            // Without Unity split-include the server routes everything into the tunnel.
            let mut ipv4 = Dictionary::new();
            ipv4.insert(
                "OverridePrimary".into(),
                i64::from(s.split_include.is_empty()).into(),
            );
            p.insert("IPv4".into(), Value::Dictionary(ipv4));
        }
        Kind::L2tpPsk => {
            p.insert("VPNType".into(), "L2TP".into());
            let mut ppp = Dictionary::new();
            ppp.insert("AuthName".into(), s.user.clone().into());
            if let Some(pw) = s.password_text() {
                ppp.insert("AuthPassword".into(), pw.to_owned().into());
            }
            ppp.insert("CommRemoteAddress".into(), s.server.clone().into());
            p.insert("PPP".into(), Value::Dictionary(ppp));
            ipsec.insert("AuthenticationMethod".into(), "SharedSecret".into());
            ipsec.insert("LocalIdentifierType".into(), "KeyID".into());
            if let Some(psk) = &s.psk {
                ipsec.insert("SharedSecret".into(), Value::Data(psk.as_bytes().to_vec()));
            }
        }
    }
    p.insert("IPSec".into(), Value::Dictionary(ipsec));
    Ok(p)
}

/// The keys every payload has.
fn header(
    p: &mut Dictionary,
    kind: &str,
    id: &str,
    display: &str,
    rng: &SystemRandom,
) -> Result<(), ExportError> {
    p.insert("PayloadType".into(), kind.to_owned().into());
    p.insert("PayloadVersion".into(), 1.into());
    p.insert("PayloadIdentifier".into(), id.to_owned().into());
    p.insert("PayloadUUID".into(), uuid_v4(rng)?.into());
    p.insert("PayloadDisplayName".into(), display.to_owned().into());
    Ok(())
}

/// A random (version 4) UUID, RFC 9562 §5.4, upper case as Apple writes them.
pub fn uuid_v4(rng: &SystemRandom) -> Result<String, ExportError> {
    let mut b = [0u8; 16];
    rng.fill(&mut b).map_err(|_| ExportError::Output {
        path: "mobileconfig".into(),
        reason: "the system random generator failed".to_owned(),
    })?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02X}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// A reverse-DNS identifier that is the same for the same server, peer and user, so that
/// importing a newer profile replaces the older one.
fn identifier(s: &Setup) -> String {
    let clean = |t: &str| -> String {
        t.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    let base = if s.server.parse::<std::net::IpAddr>().is_ok() {
        format!("iked.{}", clean(&s.server))
    } else {
        let mut labels: Vec<&str> = s.server.trim_end_matches('.').split('.').collect();
        labels.reverse();
        format!("{}.iked", labels.join("."))
    };
    format!("{base}.{}.{}", clean(&s.peer), clean(&s.user))
}

#[cfg(test)]
mod tests {
    use super::super::model::Format;
    use super::super::model::tests::{CONF, req, setup};
    use super::*;

    fn parse(bytes: &[u8]) -> Dictionary {
        Value::from_reader_xml(bytes)
            .unwrap()
            .into_dictionary()
            .unwrap()
    }

    fn dict<'a>(d: &'a Dictionary, k: &str) -> &'a Dictionary {
        d.get(k).and_then(Value::as_dictionary).unwrap()
    }

    #[test]
    fn cisco_ipsec_profile() {
        let s = setup(CONF, &req(Format::Mobileconfig)).unwrap();
        let top = parse(&render(&s).unwrap());
        assert_eq!(top["PayloadType"].as_string(), Some("Configuration"));
        assert_eq!(top["PayloadVersion"].as_signed_integer(), Some(1));
        let content = top["PayloadContent"].as_array().unwrap();
        assert_eq!(content.len(), 1);
        let vpn = content[0].as_dictionary().unwrap();
        assert_eq!(
            vpn["PayloadType"].as_string(),
            Some("com.apple.vpn.managed")
        );
        assert_eq!(vpn["VPNType"].as_string(), Some("IPSec"));
        let ipsec = dict(vpn, "IPSec");
        assert_eq!(ipsec["RemoteAddress"].as_string(), Some("198.51.100.1"));
        assert_eq!(ipsec["LocalIdentifier"].as_string(), Some("corp"));
        assert_eq!(ipsec["LocalIdentifierType"].as_string(), Some("KeyID"));
        assert_eq!(ipsec["SharedSecret"].as_data(), Some(&b"group secret"[..]));
        assert_eq!(ipsec["XAuthName"].as_string(), Some("alice"));
        assert!(!ipsec.contains_key("XAuthPassword"));
        assert_eq!(
            dict(vpn, "IPv4")["OverridePrimary"].as_signed_integer(),
            Some(0)
        );
        assert_ne!(top["PayloadUUID"], vpn["PayloadUUID"]);
    }

    #[test]
    fn l2tp_profile_with_password() {
        let mut r = req(Format::Mobileconfig);
        r.peer = Some("laptops");
        r.include_password = true;
        let s = setup(CONF, &r).unwrap();
        let top = parse(&render(&s).unwrap());
        let vpn = top["PayloadContent"].as_array().unwrap()[0]
            .as_dictionary()
            .unwrap();
        assert_eq!(vpn["VPNType"].as_string(), Some("L2TP"));
        let ppp = dict(vpn, "PPP");
        assert_eq!(ppp["AuthName"].as_string(), Some("alice"));
        assert_eq!(ppp["AuthPassword"].as_string(), Some("alice pw"));
        assert_eq!(ppp["CommRemoteAddress"].as_string(), Some("198.51.100.1"));
        let ipsec = dict(vpn, "IPSec");
        assert_eq!(
            ipsec["AuthenticationMethod"].as_string(),
            Some("SharedSecret")
        );
        assert_eq!(ipsec["SharedSecret"].as_data(), Some(&b"l2tp secret"[..]));
    }

    #[test]
    fn hybrid_profile_carries_the_ca() {
        let pki = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors/pki");
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("server.pem");
        let mut pem = Vec::new();
        for f in ["sun.key.pem", "sun.pem", "intermediate.pem"] {
            pem.extend(std::fs::read(pki.join(f)).unwrap());
        }
        std::fs::write(&bundle, pem).unwrap();
        let conf = CONF.replacen(
            "auth-method = \"pre-shared-key-xauth\"\nsecret = \"group secret\"",
            &format!(
                "auth-method = \"rsa-signature-hybrid\"\ncertificate = \"{}\"\nca = \"{}\"",
                bundle.display(),
                pki.join("ca.pem").display()
            ),
            1,
        );
        let s = setup(&conf, &req(Format::Mobileconfig)).unwrap();
        assert_eq!(s.kind, Kind::XauthHybrid);
        assert!(s.psk.is_none());
        let top = parse(&render(&s).unwrap());
        let content = top["PayloadContent"].as_array().unwrap();
        let kinds: Vec<_> = content
            .iter()
            .map(|p| {
                p.as_dictionary().unwrap()["PayloadType"]
                    .as_string()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "com.apple.security.pkcs1",
                "com.apple.security.root",
                "com.apple.vpn.managed"
            ]
        );
        let root = content[1].as_dictionary().unwrap();
        let ca_der = ipsec_core::pki::Certificate::from_pem_or_der(
            &std::fs::read(pki.join("ca.pem")).unwrap(),
        )
        .unwrap();
        assert_eq!(root["PayloadContent"].as_data(), Some(ca_der.der()));
        let ipsec = dict(content[2].as_dictionary().unwrap(), "IPSec");
        assert_eq!(ipsec["LocalIdentifier"].as_string(), Some("corp[hybrid]"));
        assert_eq!(
            ipsec["AuthenticationMethod"].as_string(),
            Some("SharedSecret")
        );
        assert!(!ipsec.contains_key("SharedSecret"));

        // Android gets the same CA as PEM to install.
        let s = setup(
            &conf.replace(
                "profile = \"ios\"",
                "profile = \"android\"\nexchange-mode = \"main\"",
            ),
            &{
                let mut r = req(Format::Android);
                r.peer = Some("iphones");
                r
            },
        )
        .unwrap();
        let t = super::super::android::render(&s).unwrap();
        assert!(t.contains("IPSec Hybrid RSA"), "{t}");
        assert!(t.contains("-----BEGIN CERTIFICATE-----"), "{t}");
    }

    #[test]
    fn uuids_are_version_4() {
        let rng = SystemRandom::new();
        let u = uuid_v4(&rng).unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "A" | "B"));
        assert_ne!(u, uuid_v4(&rng).unwrap());
    }
}
