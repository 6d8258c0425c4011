//! Every default: the manual's, or ours where the manual's is unsafe (documented on the raw
//! field).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipsec_core::config::raw;
use ipsec_core::config::{
    AuthMethod, Config, Dataplane, DhGroup, DnsServers, Dpd, EspAuth, EspEncryption, ExchangeMode,
    GeneratePolicy, IkeEncryption, IkeHash, IpProtocol, IpsecProtocol, LogLevel, ModeConfigRef,
    MyId, PolicyAction, PolicyLevel, PortSpec, ProposalCheck, RemoteId,
};
use ipsec_core::crypto::Secret;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn an_empty_file_is_a_valid_configuration() {
    let snap = Config::from_toml_str("", "empty.toml").unwrap();
    assert!(snap.peers().is_empty());
    assert_eq!(snap.policies().count(), 0);
    assert!(snap.warnings().is_empty());
    // The manual's built-in objects.
    assert_eq!(snap.proposals().len(), 1);
    assert_eq!(snap.proposals()[0].name, "default");
    assert_eq!(snap.policy_groups().len(), 1);
    assert_eq!(snap.policy_groups()[0].name, "default");
}

#[test]
fn peer_defaults() {
    let snap = Config::from_toml_str("[[peer]]\nname = \"p\"\nsecret = \"s\"\n", "t.toml").unwrap();
    let p = snap.peer("p").unwrap();
    assert_eq!(p.comment, None);
    assert!(!p.disabled);
    assert_eq!(p.address.to_string(), "0.0.0.0/0");
    assert_eq!(p.port, 500);
    assert_eq!(p.local_address, None);
    assert_eq!(p.exchange_mode, ExchangeMode::Main);
    assert_eq!(p.auth_method, AuthMethod::PreSharedKey);
    assert_eq!(p.secret, Some(Secret::from("s")));
    assert_eq!(
        (&p.certificate, &p.remote_certificate, &p.ca),
        (&None, &None, &None)
    );
    assert!(p.crl.is_empty());
    assert_eq!(p.my_id, MyId::Auto);
    assert_eq!(p.remote_id, RemoteId::Auto);
    // Ours: the manual's modp1024 is weak.
    assert_eq!(p.dh_groups, vec![DhGroup::Modp2048]);
    assert_eq!(p.enc_algorithms, vec![IkeEncryption::Aes128]);
    assert_eq!(p.hash_algorithms, vec![IkeHash::Sha1]);
    assert_eq!(p.lifetime, Duration::from_secs(86_400));
    assert_eq!(p.lifebytes, None);
    assert_eq!(
        p.dpd,
        Some(Dpd {
            interval: Duration::from_secs(120),
            maximum_failures: 5
        })
    );
    assert!(!p.nat_traversal);
    assert!(!p.passive);
    assert!(p.send_initial_contact);
    assert_eq!(p.generate_policy, GeneratePolicy::No);
    assert_eq!(p.policy_group.as_deref(), Some("default"));
    // Ours: the manual's obey lets the initiator choose any lifetime.
    assert_eq!(p.proposal_check, ProposalCheck::Claim);
    assert_eq!(p.mode_config, ModeConfigRef::None);
    assert_eq!(p.xauth, None);
    // The defaults carry no weak algorithm, hence no warning.
    assert!(snap.warnings().is_empty());
}

#[test]
fn raw_constructors_are_the_file_defaults() {
    let config = Config::parse(
        "[[peer]]\nname = \"p\"\n[[proposal]]\nname = \"x\"\n[[policy]]\n\
         src-address = \"10.0.0.0/8\"\ndst-address = \"10.0.0.0/8\"\n\
         [[mode-config]]\nname = \"m\"\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(config.peer[0], raw::Peer::new("p"));
    assert_eq!(config.proposal[0], raw::Proposal::new("x"));
    assert_eq!(
        config.policy[0],
        raw::Policy::new("10.0.0.0/8".parse().unwrap(), "10.0.0.0/8".parse().unwrap())
    );
    assert_eq!(config.mode_config[0], raw::ModeConfig::new("m"));
    assert_eq!(config.daemon, raw::Daemon::default());
}

#[test]
fn proposal_defaults_and_the_builtin_default() {
    let snap = Config::from_toml_str("[[proposal]]\nname = \"x\"\n", "t.toml").unwrap();
    let x = snap.proposal("x").unwrap();
    let builtin = snap.proposal("default").unwrap();
    for p in [x, builtin] {
        assert!(!p.disabled);
        assert_eq!(p.auth_algorithms, vec![EspAuth::Sha1]);
        assert_eq!(p.enc_algorithms, vec![EspEncryption::Aes128Cbc]);
        assert_eq!(p.lifetime, Duration::from_secs(30 * 60));
        assert_eq!(p.lifebytes, None);
        // Ours: the manual's modp1024 is weak.
        assert_eq!(p.pfs_group, Some(DhGroup::Modp2048));
    }
}

#[test]
fn policy_defaults() {
    let text = "[[peer]]\nname = \"p\"\naddress = \"198.51.100.9\"\nsecret = \"s\"\n\
                [[policy]]\nsrc-address = \"192.0.2.1\"\ndst-address = \"198.51.100.9\"\n";
    let snap = Config::from_toml_str(text, "t.toml").unwrap();
    let p = snap.policies().next().unwrap();
    assert_eq!(p.index, 0);
    assert_eq!(p.comment, None);
    assert!(!p.disabled);
    assert_eq!(p.src_port, PortSpec::Any);
    assert_eq!(p.dst_port, PortSpec::Any);
    assert_eq!(p.protocol, IpProtocol::All);
    assert_eq!(p.action, PolicyAction::Encrypt);
    assert_eq!(p.level, PolicyLevel::Require);
    assert_eq!(p.ipsec_protocols, IpsecProtocol::Esp);
    assert!(!p.tunnel);
    // Transport mode (the default): the SA endpoints are the hosts.
    assert_eq!(p.sa_src_address, Some(ip("192.0.2.1")));
    assert_eq!(p.sa_dst_address, Some(ip("198.51.100.9")));
    assert_eq!(p.proposal, "default");
    assert_eq!(p.priority, 0);
    assert!(!p.template);
    assert_eq!(p.group, "default");
}

#[test]
fn templates_default_to_the_default_group() {
    let text = "[[peer]]\nname = \"rw\"\nsecret = \"s\"\npassive = true\n\
                generate-policy = \"port-override\"\n\
                [[policy]]\ntemplate = true\nsrc-address = \"10.0.0.0/8\"\n\
                dst-address = \"0.0.0.0/0\"\n";
    let snap = Config::from_toml_str(text, "t.toml").unwrap();
    assert_eq!(snap.templates_of("default").count(), 1);
    assert_eq!(snap.policies().count(), 0);
    assert_eq!(
        snap.peer("rw").unwrap().policy_group.as_deref(),
        Some("default")
    );
}

#[test]
fn mode_config_defaults() {
    let snap = Config::from_toml_str(
        "[[mode-config]]\nname = \"m\"\n[[mode-config]]\nname = \"v6\"\naddress-pool = \"p6\"\n\
         [[ip-pool]]\nname = \"p6\"\nranges = \"2001:db8:5::/120\"\n",
        "t.toml",
    )
    .unwrap();
    let m = snap.mode_config("m").unwrap();
    assert_eq!(m.address_pool, None);
    assert_eq!(m.address_prefix_length, 32);
    assert!(m.split_include.is_empty());
    assert_eq!(m.dns, DnsServers::System);
    assert!(m.responder);
    assert_eq!(snap.mode_config("v6").unwrap().address_prefix_length, 128);
}

#[test]
fn dns_settings() {
    let dns = |extra: &str| {
        let text = format!("[[mode-config]]\nname = \"m\"\n{extra}");
        Config::from_toml_str(&text, "t.toml")
            .unwrap()
            .mode_config("m")
            .unwrap()
            .dns
            .clone()
    };
    assert_eq!(dns(""), DnsServers::System);
    assert_eq!(dns("send-dns = false\n"), DnsServers::None);
    assert_eq!(dns("system-dns = false\n"), DnsServers::None);
    assert_eq!(
        dns("static-dns = [\"10.0.0.53\", \"10.0.0.54\"]\n"),
        DnsServers::Static(vec![ip("10.0.0.53"), ip("10.0.0.54")])
    );
    assert_eq!(
        dns("static-dns = \"10.0.0.53\"\nsystem-dns = false\n"),
        DnsServers::Static(vec![ip("10.0.0.53")])
    );
    assert_eq!(
        dns("static-dns = \"10.0.0.53\"\nsend-dns = false\n"),
        DnsServers::None
    );
}

#[test]
fn user_and_pool_defaults() {
    let snap = Config::from_toml_str(
        "[[user]]\nname = \"u\"\npassword = \"pw\"\n[[ip-pool]]\nname = \"p\"\nranges = \"10.9.0.1\"\n",
        "t.toml",
    )
    .unwrap();
    let u = snap.user("u").unwrap();
    assert_eq!((u.address, u.comment.as_deref()), (None, None));
    let pool = snap.ip_pool("p").unwrap();
    assert_eq!(pool.ranges.len(), 1);
    assert!(pool.contains(ip("10.9.0.1")));
    assert!(!pool.contains(ip("10.9.0.2")));
}

#[test]
fn daemon_defaults() {
    let snap = Config::from_toml_str("[daemon]\n", "t.toml").unwrap();
    let d = snap.daemon();
    assert_eq!(d.listen, vec![ip("0.0.0.0"), ip("::")]);
    assert_eq!(d.port, 500);
    assert_eq!(d.nat_t_port, 4500);
    assert_eq!(d.control_socket, PathBuf::from("/run/iked/control.sock"));
    assert_eq!(d.dataplane, Dataplane::Auto);
    assert_eq!(d.log_level, LogLevel::Info);
    // Without the table, the same.
    let snap2 = Config::from_toml_str("", "t.toml").unwrap();
    assert_eq!(snap2.daemon(), d);
}

#[test]
fn xauth_client_and_server() {
    let snap = Config::from_toml_str(
        "[[peer]]\nname = \"client\"\naddress = \"203.0.113.1\"\n\
         auth-method = \"pre-shared-key-xauth\"\nsecret = \"123\"\nxauth-login = \"test\"\n\
         xauth-password = \"345\"\n\
         [[peer]]\nname = \"server\"\naddress = \"198.51.100.0/24\"\n\
         auth-method = \"pre-shared-key-xauth\"\nsecret = \"123\"\npassive = true\n\
         [[user]]\nname = \"test\"\npassword = \"345\"\n",
        "t.toml",
    )
    .unwrap();
    let client = snap.peer("client").unwrap();
    let creds = client.xauth.as_ref().unwrap();
    assert_eq!(creds.login, "test");
    assert_eq!(creds.password, Secret::from("345"));
    assert_eq!(snap.peer("server").unwrap().xauth, None);
    assert!(snap.warnings().is_empty(), "{:?}", snap.warnings());
}
