//! Value syntax: hex secrets, times, prefixes, ranges, identities, ports, protocols, lists.

use std::net::IpAddr;
use std::time::Duration;

use ipsec_core::config::{
    AddrRange, Config, DhGroup, DpdInterval, ExchangeMode, Identity, IpPrefix, IpProtocol, MyId,
    PfsGroup, PortSpec, RemoteId, Time,
};
use ipsec_core::crypto::Secret;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn secret_of(value: &str) -> Result<Option<Secret>, String> {
    let text = format!("[[peer]]\nname = \"p\"\nsecret = {value}\n");
    Config::from_toml_str(&text, "t.toml")
        .map(|s| s.peer("p").unwrap().secret.clone())
        .map_err(|e| e[0].message.clone())
}

#[test]
fn hex_secrets() {
    assert_eq!(
        secret_of("\"0x00ff10\""),
        Ok(Some(Secret::from(&[0x00u8, 0xff, 0x10][..])))
    );
    assert_eq!(
        secret_of("\"0xDEADbeef\""),
        Ok(Some(Secret::from(&[0xdeu8, 0xad, 0xbe, 0xef][..])))
    );
    // Only a leading "0x" means hex; "0X" and other text are the UTF-8 bytes.
    assert_eq!(secret_of("\"0XDEAD\""), Ok(Some(Secret::from("0XDEAD"))));
    assert_eq!(secret_of("\"x0dead\""), Ok(Some(Secret::from("x0dead"))));
    assert_eq!(
        secret_of("\"pässwörd\""),
        Ok(Some(Secret::from("pässwörd".as_bytes())))
    );
    for bad in ["\"0x1\"", "\"0x\"", "\"0x0g\"", "\"0x 00\""] {
        assert!(
            secret_of(bad)
                .unwrap_err()
                .starts_with("expected \"0x\" followed by"),
            "{bad}"
        );
    }
}

#[test]
fn times_in_the_manual_syntax() {
    let secs = |s: &str| s.parse::<Time>().map(|t| t.0.as_secs());
    assert_eq!(secs("1d"), Ok(86_400));
    assert_eq!(secs("8h"), Ok(28_800));
    assert_eq!(secs("30m"), Ok(1_800));
    assert_eq!(secs("3600s"), Ok(3_600));
    assert_eq!(secs("1w"), Ok(604_800));
    assert_eq!(secs("1h30m"), Ok(5_400));
    assert_eq!(secs("1d2h3m4s"), Ok(93_784));
    assert_eq!(secs("00:30:00"), Ok(1_800));
    assert_eq!(secs("25:00:00"), Ok(90_000));
    assert_eq!(secs("45"), Ok(45));
    assert_eq!(secs("0s"), Ok(0));
    for bad in [
        "",
        "h",
        "1x",
        "30m1h",
        "1h1h",
        "1.5h",
        "-1h",
        "1 h",
        "00:60:00",
        "1:2",
        "99999999999999999999w",
    ] {
        let e = bad.parse::<Time>().unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("expected a time such as 30m, 8h, 1d, 1h30m, 3600s or 00:30:00, got {bad:?}")
        );
    }
    // Printed back in the shortest form.
    for (secs, text) in [
        (0, "0s"),
        (59, "59s"),
        (1_800, "30m"),
        (5_400, "1h30m"),
        (86_400, "1d"),
        (694_861, "1w1d1h1m1s"),
    ] {
        assert_eq!(Time(Duration::from_secs(secs)).to_string(), text);
        assert_eq!(text.parse::<Time>().unwrap().0.as_secs(), secs);
    }
}

#[test]
fn times_in_the_file() {
    let lifetime = |value: &str| {
        let text = format!("[[proposal]]\nname = \"x\"\nlifetime = {value}\n");
        Config::from_toml_str(&text, "t.toml")
            .map(|s| s.proposal("x").unwrap().lifetime)
            .map_err(|e| e[0].to_string())
    };
    assert_eq!(lifetime("\"8h\""), Ok(Duration::from_secs(28_800)));
    assert_eq!(lifetime("3600"), Ok(Duration::from_secs(3_600)));
    assert_eq!(lifetime("\"3600\""), Ok(Duration::from_secs(3_600)));
    assert_eq!(
        lifetime("-5"),
        Err(
            "t.toml:3: proposal \"x\": key \"lifetime\": expected a time such as 30m, 8h, 1d, \
             1h30m, 3600s or 00:30:00, got -5"
                .to_owned()
        )
    );
    assert_eq!(
        lifetime("1.5"),
        Err(
            "t.toml:3: proposal \"x\": key \"lifetime\": expected a time such as 30m, 8h, 1d, \
             1h30m, 3600s or 00:30:00, got floating point 1.5"
                .to_owned()
        )
    );
}

#[test]
fn dpd_interval() {
    assert_eq!(
        "disable-dpd".parse::<DpdInterval>(),
        Ok(DpdInterval::Disabled)
    );
    assert_eq!(
        "2m".parse::<DpdInterval>(),
        Ok(DpdInterval::Every(Time(Duration::from_secs(120))))
    );
    assert_eq!(
        "never".parse::<DpdInterval>().unwrap_err().to_string(),
        "expected a time such as 2m, 30s or 1h, or \"disable-dpd\", got \"never\""
    );
    let snap = Config::from_toml_str(
        "[[peer]]\nname = \"p\"\nsecret = \"s\"\ndpd-interval = 10\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(
        snap.peer("p").unwrap().dpd.unwrap().interval,
        Duration::from_secs(10)
    );
}

#[test]
fn prefixes() {
    let p: IpPrefix = "203.0.113.0/24".parse().unwrap();
    assert_eq!((p.addr(), p.prefix_len()), (ip("203.0.113.0"), 24));
    assert!(p.contains(ip("203.0.113.255")));
    assert!(!p.contains(ip("203.0.114.0")));
    assert!(!p.contains(ip("2001:db8::1")));
    // Dual-stack sockets report IPv4 peers as mapped addresses.
    assert!(p.contains(ip("::ffff:203.0.113.7")));
    let host: IpPrefix = "203.0.113.7".parse().unwrap();
    assert!(host.is_host());
    assert_eq!(host.to_string(), "203.0.113.7/32");
    let v6: IpPrefix = "2001:db8::/32".parse().unwrap();
    assert!(v6.contains(ip("2001:db8:ffff::1")));
    assert!(!v6.contains(ip("2001:db9::1")));
    assert!("::/0".parse::<IpPrefix>().unwrap().is_default());
    assert!(p.covers(&"203.0.113.128/25".parse().unwrap()));
    assert!(!p.covers(&"203.0.112.0/23".parse().unwrap()));

    assert_eq!(
        "203.0.113.5/24"
            .parse::<IpPrefix>()
            .unwrap_err()
            .to_string(),
        "\"203.0.113.5/24\" has host bits set; expected a network prefix such as \
         \"203.0.113.0/24\""
    );
    assert_eq!(
        "10.0.0.0/33".parse::<IpPrefix>().unwrap_err().to_string(),
        "expected a prefix length 0..32 after \"/\", got \"10.0.0.0/33\""
    );
    assert_eq!(
        "office".parse::<IpPrefix>().unwrap_err().to_string(),
        "expected an IP prefix such as 203.0.113.0/24, 2001:db8::/32 or an address, got \
         \"office\""
    );
    assert!("10.0.0.0/+8".parse::<IpPrefix>().is_err());
}

#[test]
fn ranges() {
    let r: AddrRange = "10.0.0.2-10.0.0.254".parse().unwrap();
    assert_eq!((r.start(), r.end()), (ip("10.0.0.2"), ip("10.0.0.254")));
    assert_eq!(r.to_string(), "10.0.0.2-10.0.0.254");
    let p: AddrRange = "10.0.1.0/30".parse().unwrap();
    assert_eq!(p.to_string(), "10.0.1.0-10.0.1.3");
    let one: AddrRange = "10.0.2.1".parse().unwrap();
    assert_eq!(one.to_string(), "10.0.2.1");
    assert!(!r.overlaps(&p));
    assert!(r.overlaps(&"10.0.0.254-10.0.1.1".parse().unwrap()));
    assert!("10.0.0.1-2001:db8::1".parse::<AddrRange>().is_err());
    assert!("2001:db8::1-2001:db8::ff".parse::<AddrRange>().is_ok());
}

#[test]
fn identities() {
    let id = |s: &str| s.parse::<MyId>();
    assert_eq!(id("auto"), Ok(MyId::Auto));
    assert_eq!(
        id("address:192.0.2.1"),
        Ok(MyId::Id(Identity::Address(ip("192.0.2.1"))))
    );
    assert_eq!(
        id("fqdn:vpn.example.com"),
        Ok(MyId::Id(Identity::Fqdn("vpn.example.com".into())))
    );
    assert_eq!(
        id("user-fqdn:alice@example.com"),
        Ok(MyId::Id(Identity::UserFqdn("alice@example.com".into())))
    );
    assert_eq!(
        id("key-id:group1"),
        Ok(MyId::Id(Identity::KeyId("group1".into())))
    );
    for bad in ["ignore", "fqdn:", "fqdn", "address:nope", "dn:CN=x", ""] {
        assert_eq!(
            id(bad).unwrap_err().to_string(),
            format!(
                "expected auto, address:IP, fqdn:NAME, user-fqdn:NAME or key-id:NAME, got {bad:?}"
            )
        );
    }
    assert_eq!("ignore".parse::<RemoteId>(), Ok(RemoteId::Ignore));
    assert_eq!("auto".parse::<RemoteId>(), Ok(RemoteId::Auto));
    assert_eq!(
        "nobody".parse::<RemoteId>().unwrap_err().to_string(),
        "expected auto, ignore, address:IP, fqdn:NAME, user-fqdn:NAME or key-id:NAME, got \
         \"nobody\""
    );
    // Names compare without regard to case, key IDs exactly.
    assert!(
        Identity::Fqdn("VPN.example.com".into()).matches(&Identity::Fqdn("vpn.EXAMPLE.com".into()))
    );
    assert!(!Identity::KeyId("A".into()).matches(&Identity::KeyId("a".into())));
    assert!(!Identity::Fqdn("a".into()).matches(&Identity::KeyId("a".into())));
    // Printed back as written.
    for text in [
        "auto",
        "fqdn:a.example",
        "user-fqdn:u@a.example",
        "address:2001:db8::1",
    ] {
        assert_eq!(text.parse::<MyId>().unwrap().to_string(), text);
    }
    // `peer-id` is the same key as `remote-id`.
    let snap = Config::from_toml_str(
        "[[peer]]\nname = \"p\"\nsecret = \"s\"\npeer-id = \"key-id:branch\"\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(
        snap.peer("p").unwrap().remote_id,
        RemoteId::Id(Identity::KeyId("branch".into()))
    );
}

#[test]
fn ports_and_protocols() {
    assert_eq!("any".parse::<PortSpec>(), Ok(PortSpec::Any));
    assert_eq!("1701".parse::<PortSpec>(), Ok(PortSpec::Port(1701)));
    assert!("65536".parse::<PortSpec>().is_err());
    assert!("-1".parse::<PortSpec>().is_err());
    assert_eq!("all".parse::<IpProtocol>(), Ok(IpProtocol::All));
    assert_eq!("udp".parse::<IpProtocol>(), Ok(IpProtocol::UDP));
    assert_eq!("l2tp".parse::<IpProtocol>(), Ok(IpProtocol::Number(115)));
    assert_eq!(
        "ipsec-esp".parse::<IpProtocol>(),
        Ok(IpProtocol::Number(50))
    );
    assert_eq!("47".parse::<IpProtocol>(), Ok(IpProtocol::Number(47)));
    assert_eq!(IpProtocol::Number(47).to_string(), "gre");
    assert_eq!(IpProtocol::Number(253).to_string(), "253");
    assert_eq!(
        "256".parse::<IpProtocol>().unwrap_err().to_string(),
        "expected \"all\", a protocol name such as tcp, udp, icmp, gre, or a number 0..255, got \
         \"256\""
    );

    let policy = |extra: &str| {
        let text = format!(
            "[[policy]]\naction = \"discard\"\nsrc-address = \"10.0.0.0/8\"\n\
             dst-address = \"10.0.0.0/8\"\n{extra}"
        );
        Config::from_toml_str(&text, "t.toml").map(|s| s.policies().next().unwrap().clone())
    };
    let p = policy("protocol = 6\nsrc-port = \"any\"\ndst-port = 443\n").unwrap();
    assert_eq!(
        (p.protocol, p.src_port, p.dst_port),
        (IpProtocol::TCP, PortSpec::Any, PortSpec::Port(443))
    );
    let e = policy("protocol = \"udp\"\ndst-port = 70000\n").unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "t.toml:6: policy #1: key \"dst-port\": expected \"any\" or a port 0..65535, got 70000"
    );
    let e = policy("protocol = 300\n").unwrap_err();
    assert_eq!(e[0].line, Some(5));
}

#[test]
fn lists_are_arrays_or_comma_strings() {
    let groups = |value: &str| {
        let text = format!("[[peer]]\nname = \"p\"\nsecret = \"s\"\ndh-group = {value}\n");
        Config::from_toml_str(&text, "t.toml").map(|s| s.peer("p").unwrap().dh_groups.clone())
    };
    let want = vec![DhGroup::Ecp256, DhGroup::Curve25519, DhGroup::Modp3072];
    assert_eq!(
        groups("[\"ecp256\", \"curve25519\", \"modp3072\"]").unwrap(),
        want
    );
    assert_eq!(groups("\"ecp256,curve25519, modp3072\"").unwrap(), want);
    assert_eq!(groups("\"ecp384\"").unwrap(), vec![DhGroup::Ecp384]);
    // An element of the wrong type is reported on its key's line.
    let e = groups("[\n  \"ecp256\",\n  5,\n]").unwrap_err();
    assert_eq!(e[0].line, Some(6));
    assert_eq!(e[0].key.as_deref(), Some("dh-group"));
}

#[test]
fn keyword_spellings() {
    assert_eq!(
        "l2tp-main".parse::<ExchangeMode>(),
        Ok(ExchangeMode::MainL2tp)
    );
    assert_eq!(ExchangeMode::MainL2tp.to_string(), "main-l2tp");
    assert!(ExchangeMode::Main.same_class(ExchangeMode::MainL2tp));
    assert!(!ExchangeMode::Main.same_class(ExchangeMode::Aggressive));
    assert_eq!("none".parse::<PfsGroup>(), Ok(PfsGroup::None));
    assert_eq!(
        "modp1".parse::<PfsGroup>().unwrap_err().to_string(),
        "expected none or one of modp768, modp1024, modp1536, modp2048, modp3072, modp4096, \
         modp6144, modp8192, ecp256, ecp384, ecp521, curve25519, got \"modp1\""
    );
    // Group numbers as IKEv1 carries them.
    let numbers: Vec<u16> = DhGroup::ALL.iter().map(|g| g.group_number()).collect();
    assert_eq!(numbers, vec![1, 2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 31]);
    // Keywords are case-sensitive, as in the manual.
    assert!("MODP2048".parse::<DhGroup>().is_err());
}

#[test]
fn crl_files() {
    let peer = |extra: &str| {
        format!(
            "[[peer]]\nname = \"p\"\nauth-method = \"rsa-signature\"\ncertificate = \"me.pem\"\n\
             ca = \"ca.pem\"\n{extra}"
        )
    };
    // Absent: no CRL.
    let snap = Config::from_toml_str(&peer(""), "t.toml").unwrap();
    assert!(snap.peer("p").unwrap().crl.is_empty());
    // A list of files, in order; `none` and empty entries are dropped like `ca = "none"`.
    let snap = Config::from_toml_str(
        &peer("crl = [\"ca.crl.pem\", \"none\", \"\", \"/etc/ikv/intermediate.crl\"]\n"),
        "t.toml",
    )
    .unwrap();
    assert_eq!(
        snap.peer("p").unwrap().crl,
        vec![
            std::path::PathBuf::from("ca.crl.pem"),
            std::path::PathBuf::from("/etc/ikv/intermediate.crl")
        ]
    );
    assert!(snap.warnings().is_empty());
    // With a pinned remote-certificate instead of a CA, too.
    let snap = Config::from_toml_str(
        "[[peer]]\nname = \"p\"\nauth-method = \"rsa-signature\"\ncertificate = \"me.pem\"\n\
         remote-certificate = \"them.pem\"\ncrl = [\"ca.crl.pem\"]\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(snap.peer("p").unwrap().crl.len(), 1);
    // Not a list: an error on its key.
    let e = Config::from_toml_str(&peer("crl = 5\n"), "t.toml").unwrap_err();
    assert_eq!(e[0].key.as_deref(), Some("crl"));
    // A side that verifies no certificate ignores it, with a warning on the key.
    let snap = Config::from_toml_str(
        "[[peer]]\nname = \"psk\"\nsecret = \"s\"\ncrl = [\"ca.crl.pem\"]\n",
        "t.toml",
    )
    .unwrap();
    assert!(snap.peer("psk").unwrap().crl.is_empty());
    let w: Vec<String> = snap.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        vec![
            "t.toml:4: peer \"psk\": key \"crl\": warning: has no effect with auth-method \
             pre-shared-key on this side"
        ]
    );
}
