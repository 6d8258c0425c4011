//! A full configuration (site-to-site, road warriors with XAuth and mode-config, L2TP/IPsec):
//! every object read, typed and resolved, and a round trip through `to_toml_string`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipsec_core::config::{
    AuthMethod, Config, Dataplane, DhGroup, DnsServers, Dpd, EspAuth, EspEncryption, EspTransform,
    ExchangeMode, GeneratePolicy, Identity, IkeEncryption, IkeHash, IpProtocol, IpsecProtocol,
    LogLevel, ModeConfigRef, MyId, PolicyAction, PolicyLevel, PortSpec, ProposalCheck, RemoteId,
    XauthRole,
};
use ipsec_core::crypto::Secret;

const EXAMPLE: &str = r#"
# A concentrator: one site-to-site tunnel, iOS/Android road warriors, Windows L2TP/IPsec.

[daemon]
listen = ["192.0.2.1", "2001:db8::1"]
port = 500
nat-t-port = 4500
control-socket = "/run/iked/iked.sock"
dataplane = "kernel"
log-level = "debug"

[[peer]]
name = "office"
comment = "branch office"
address = "203.0.113.7/32"
local-address = "192.0.2.1"
exchange-mode = "main"
auth-method = "rsa-signature"
certificate = "certs/hq.pem"
ca = "certs/ca.pem"
my-id = "fqdn:hq.example.com"
remote-id = "fqdn:office.example.com"
dh-group = ["ecp256", "modp2048"]
enc-algorithm = ["aes-256", "aes-128"]
hash-algorithm = ["sha256", "sha1"]
lifetime = "8h"
lifebytes = 1000000000
dpd-interval = "30s"
dpd-maximum-failures = 3
send-initial-contact = true

[[peer]]
name = "road-warriors"
auth-method = "pre-shared-key-xauth"
exchange-mode = "aggressive"
secret = "0x00112233445566778899aabbccddeeff"
passive = true
nat-traversal = true
send-initial-contact = false
generate-policy = "port-strict"
policy-group = "road-warriors"
mode-config = "rw-cfg"
proposal-check = "obey"
dh-group = "modp2048,modp1024"
dpd-interval = "disable-dpd"

[[peer]]
name = "l2tp"
address = "0.0.0.0/0"
exchange-mode = "main-l2tp"
secret = "l2tp shared secret"
passive = true
nat-traversal = true
generate-policy = "port-override"
policy-group = "l2tp"

[[peer]]
name = "v6-site"
address = "2001:db8:100::/48"
secret = "v6 secret"
remote-id = "address:2001:db8:100::1"

[[proposal]]
name = "default"
enc-algorithms = ["aes-128-cbc", "aes-256-cbc"]
lifetime = "8h"
pfs-group = "none"

[[proposal]]
name = "site"
auth-algorithms = ["sha256", "sha1"]
enc-algorithms = ["aes-256-gcm", "aes-128-gcm", "aes-256-cbc"]
lifetime = "1h"
lifebytes = 4000000000
pfs-group = "ecp256"

[[policy]]
comment = "site-to-site"
src-address = "10.1.0.0/16"
dst-address = "10.2.0.0/16"
tunnel = true
sa-src-address = "192.0.2.1"
sa-dst-address = "203.0.113.7"
proposal = "site"
priority = 10

[[policy]]
src-address = "10.1.0.0/16"
dst-address = "10.2.99.0/24"
action = "discard"
priority = 20

[[policy]]
src-address = "2001:db8:1::/48"
dst-address = "2001:db8:100::/48"
tunnel = true
sa-dst-address = "2001:db8:100::1"
level = "unique"

[[policy]]
src-address = "192.0.2.1"
dst-address = "198.51.100.9"
protocol = "udp"
src-port = 1701
dst-port = "any"
level = "use"
ipsec-protocols = "esp"

[[policy]]
comment = "road warriors may reach the workstations and the servers"
template = true
group = "road-warriors"
src-address = "10.5.8.0/24"
dst-address = "10.5.9.0/24"

[[policy]]
template = true
group = "road-warriors"
src-address = "10.5.7.0/24"
dst-address = "10.5.9.0/24"
protocol = 6

[[policy]]
template = true
group = "l2tp"
src-address = "0.0.0.0/0"
dst-address = "0.0.0.0/0"
protocol = "udp"
src-port = 1701

[[policy]]
disabled = true
src-address = "10.1.0.0/16"
dst-address = "10.2.0.0/16"
tunnel = true
sa-dst-address = "203.0.113.7"

[[policy-group]]
name = "road-warriors"

[[policy-group]]
name = "l2tp"
comment = "Windows and Android L2TP/IPsec"

[[mode-config]]
name = "rw-cfg"
address-pool = "rw-pool"
address-prefix-length = 24
split-include = ["10.5.8.0/24", "10.5.7.0/24"]
static-dns = ["10.5.8.53"]

[[user]]
name = "alice"
password = "alice's password"

[[user]]
name = "bob"
password = "0xnot-hex-on-purpose"
address = "10.5.9.200"

[[ip-pool]]
name = "rw-pool"
ranges = ["10.5.9.10-10.5.9.99", "10.5.9.128/26"]
"#;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn example_is_read_typed_and_resolved() {
    let snap = Config::from_toml_str(EXAMPLE, "example.toml").unwrap_or_else(|errors| {
        panic!(
            "{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert_eq!(snap.file(), "example.toml");

    let d = snap.daemon();
    assert_eq!(d.listen, vec![ip("192.0.2.1"), ip("2001:db8::1")]);
    assert_eq!((d.port, d.nat_t_port), (500, 4500));
    assert_eq!(d.control_socket, PathBuf::from("/run/iked/iked.sock"));
    assert_eq!(d.dataplane, Dataplane::Kernel);
    assert_eq!(d.log_level, LogLevel::Debug);

    assert_eq!(snap.peers().len(), 4);
    let office = snap.peer("office").unwrap();
    assert_eq!(office.comment.as_deref(), Some("branch office"));
    assert_eq!(office.address.to_string(), "203.0.113.7/32");
    assert_eq!(office.local_address, Some(ip("192.0.2.1")));
    assert_eq!(office.auth_method, AuthMethod::RsaSignature);
    assert_eq!(office.secret, None);
    assert_eq!(office.certificate, Some(PathBuf::from("certs/hq.pem")));
    assert_eq!(office.ca, Some(PathBuf::from("certs/ca.pem")));
    assert_eq!(office.remote_certificate, None);
    assert_eq!(
        office.my_id,
        MyId::Id(Identity::Fqdn("hq.example.com".into()))
    );
    assert_eq!(
        office.remote_id,
        RemoteId::Id(Identity::Fqdn("office.example.com".into()))
    );
    assert_eq!(office.dh_groups, vec![DhGroup::Ecp256, DhGroup::Modp2048]);
    assert_eq!(
        office.enc_algorithms,
        vec![IkeEncryption::Aes256, IkeEncryption::Aes128]
    );
    assert_eq!(office.hash_algorithms, vec![IkeHash::Sha256, IkeHash::Sha1]);
    assert_eq!(office.lifetime, Duration::from_secs(8 * 3600));
    assert_eq!(office.lifebytes, Some(1_000_000_000));
    assert_eq!(
        office.dpd,
        Some(Dpd {
            interval: Duration::from_secs(30),
            maximum_failures: 3
        })
    );
    assert_eq!(office.phase1_transforms().len(), 8);
    assert_eq!(office.xauth_role(), None);

    let rw = snap.peer("road-warriors").unwrap();
    assert_eq!(rw.exchange_mode, ExchangeMode::Aggressive);
    assert_eq!(
        rw.secret,
        Some(Secret::from(
            &[
                0x00u8, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc,
                0xdd, 0xee, 0xff
            ][..]
        ))
    );
    assert!(rw.passive && rw.nat_traversal && !rw.send_initial_contact);
    assert_eq!(rw.generate_policy, GeneratePolicy::PortStrict);
    assert_eq!(rw.policy_group.as_deref(), Some("road-warriors"));
    assert_eq!(rw.mode_config, ModeConfigRef::Named("rw-cfg".into()));
    assert_eq!(rw.proposal_check, ProposalCheck::Obey);
    assert_eq!(rw.dh_groups, vec![DhGroup::Modp2048, DhGroup::Modp1024]);
    assert_eq!(rw.dpd, None);
    assert_eq!(rw.xauth_role(), Some(XauthRole::Server));
    assert_eq!(rw.xauth, None);

    let l2tp = snap.peer("l2tp").unwrap();
    assert_eq!(l2tp.exchange_mode, ExchangeMode::MainL2tp);
    assert_eq!(l2tp.secret, Some(Secret::from("l2tp shared secret")));

    let v6 = snap.peer("v6-site").unwrap();
    assert!(v6.address.contains(ip("2001:db8:100::1")));

    // The written `default` replaces the built-in one.
    assert_eq!(snap.proposals().len(), 2);
    let default = snap.proposal("default").unwrap();
    assert_eq!(default.pfs_group, None);
    assert_eq!(default.lifetime, Duration::from_secs(8 * 3600));
    let site = snap.proposal("site").unwrap();
    assert_eq!(site.pfs_group, Some(DhGroup::Ecp256));
    assert_eq!(site.lifebytes, Some(4_000_000_000));
    assert_eq!(
        site.transforms(),
        vec![
            EspTransform {
                enc: EspEncryption::Aes256Gcm,
                auth: None
            },
            EspTransform {
                enc: EspEncryption::Aes128Gcm,
                auth: None
            },
            EspTransform {
                enc: EspEncryption::Aes256Cbc,
                auth: Some(EspAuth::Sha256)
            },
            EspTransform {
                enc: EspEncryption::Aes256Cbc,
                auth: Some(EspAuth::Sha1)
            },
        ]
    );

    // Installed policies: enabled, not templates, by priority.
    let installed: Vec<_> = snap.policies().collect();
    assert_eq!(
        installed.iter().map(|p| p.index).collect::<Vec<_>>(),
        vec![1, 0, 2, 3]
    );
    let s2s = installed[1];
    assert!(s2s.tunnel);
    assert_eq!(s2s.proposal, "site");
    assert_eq!(s2s.sa_dst_address, Some(ip("203.0.113.7")));
    assert_eq!(s2s.action, PolicyAction::Encrypt);
    assert_eq!(installed[0].action, PolicyAction::Discard);
    assert_eq!(installed[2].level, PolicyLevel::Unique);
    let transport = installed[3];
    assert_eq!(transport.protocol, IpProtocol::UDP);
    assert_eq!(transport.src_port, PortSpec::Port(1701));
    assert_eq!(transport.ipsec_protocols, IpsecProtocol::Esp);
    // Transport mode: the SA endpoints are the two hosts.
    assert_eq!(transport.sa_src_address, Some(ip("192.0.2.1")));
    assert_eq!(transport.sa_dst_address, Some(ip("198.51.100.9")));
    assert_eq!(snap.all_policies().len(), 8);

    let rw_templates: Vec<_> = snap.templates_of("road-warriors").collect();
    assert_eq!(rw_templates.len(), 2);
    assert_eq!(rw_templates[1].protocol, IpProtocol::TCP);
    assert!(rw_templates[0].admits(
        &"10.5.8.0/25".parse().unwrap(),
        &"10.5.9.17".parse().unwrap(),
        IpProtocol::UDP,
        PortSpec::Any,
        PortSpec::Port(53),
    ));
    assert!(!rw_templates[0].admits(
        &"10.5.0.0/16".parse().unwrap(),
        &"10.5.9.17".parse().unwrap(),
        IpProtocol::All,
        PortSpec::Any,
        PortSpec::Any,
    ));
    assert_eq!(snap.templates_of("l2tp").count(), 1);
    assert_eq!(snap.templates_of("default").count(), 0);
    assert_eq!(snap.policy_groups().len(), 3);
    assert!(snap.policy_group("default").is_some());

    let mc = snap.mode_config("rw-cfg").unwrap();
    assert_eq!(mc.address_pool.as_deref(), Some("rw-pool"));
    assert_eq!(mc.address_prefix_length, 24);
    assert_eq!(mc.split_include.len(), 2);
    assert_eq!(mc.dns, DnsServers::Static(vec![ip("10.5.8.53")]));
    assert!(mc.responder);

    assert_eq!(
        snap.user("alice").unwrap().password,
        Secret::from("alice's password")
    );
    // A user's password is text even when it starts with 0x.
    assert_eq!(
        snap.user("bob").unwrap().password,
        Secret::from("0xnot-hex-on-purpose")
    );
    assert_eq!(snap.user("bob").unwrap().address, Some(ip("10.5.9.200")));

    let pool = snap.ip_pool("rw-pool").unwrap();
    assert!(pool.contains(ip("10.5.9.10")));
    assert!(pool.contains(ip("10.5.9.191")));
    assert!(!pool.contains(ip("10.5.9.100")));

    // The weak settings are warnings that name them.
    let warnings: Vec<String> = snap.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert!(warnings[0].starts_with(
        "example.toml:35: peer \"road-warriors\": key \"exchange-mode\": warning: aggressive"
    ));
    assert!(warnings[1].starts_with(
        "example.toml:44: peer \"road-warriors\": key \"dh-group\": warning: dh-group includes \
         modp1024"
    ));
}

#[test]
fn round_trip_through_toml() {
    let config = Config::parse(EXAMPLE, "example.toml").unwrap();
    let text = config.to_toml_string().unwrap();
    let again = Config::parse(&text, "written.toml")
        .unwrap_or_else(|e| panic!("{e:?}\n--- written:\n{text}"));
    assert_eq!(config, again);
    // Writing is stable.
    assert_eq!(text, again.to_toml_string().unwrap());

    let a = Config::from_toml_str(EXAMPLE, "example.toml").unwrap();
    let b = Config::from_toml_str(&text, "written.toml").unwrap();
    assert_eq!(a.peers(), b.peers());
    assert_eq!(a.proposals(), b.proposals());
    assert_eq!(a.all_policies(), b.all_policies());
    assert_eq!(
        a.policies().collect::<Vec<_>>(),
        b.policies().collect::<Vec<_>>()
    );
    assert_eq!(a.policy_groups(), b.policy_groups());
    assert_eq!(a.mode_configs(), b.mode_configs());
    assert_eq!(a.users(), b.users());
    assert_eq!(a.ip_pools(), b.ip_pools());
    assert_eq!(a.daemon(), b.daemon());
    assert_eq!(a.warnings().len(), b.warnings().len());
}

#[test]
fn a_config_built_in_code_validates_without_lines() {
    let mut config = Config::parse(EXAMPLE, "example.toml").unwrap();
    let snap = config.validate("built").unwrap();
    assert_eq!(snap.peers().len(), 4);
    assert!(snap.warnings().iter().all(|w| w.line.is_none()));

    config.policy[0].proposal = "missing".into();
    let errors = config.validate("built").unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].to_string(),
        "built: policy #1: key \"proposal\": no [[proposal]] is named \"missing\"; expected the \
         name of one (or default)"
    );
}

#[test]
fn secrets_do_not_reach_debug_output() {
    let config = Config::parse(EXAMPLE, "example.toml").unwrap();
    let snap = Config::from_toml_str(EXAMPLE, "example.toml").unwrap();
    let text = format!("{config:?} {snap:?}");
    for secret in [
        "l2tp shared secret",
        "alice's password",
        "00112233445566778899aabbccddeeff",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into Debug");
    }
}

#[test]
fn a_snapshot_can_be_shared_between_threads() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<ipsec_core::config::Snapshot>();
    shared::<ipsec_core::config::ConfigError>();
}
