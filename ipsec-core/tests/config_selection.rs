//! Peer selection in the manual's order: most specific address prefix, then the initiator's
//! exchange mode (main and main-l2tp alike), then the ID.

use std::net::IpAddr;

use ipsec_core::config::{Config, ExchangeMode, Identity, Snapshot};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn snapshot(text: &str) -> Snapshot {
    Config::from_toml_str(text, "peers.toml").unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn names(peers: Vec<&ipsec_core::config::Peer>) -> Vec<&str> {
    peers.into_iter().map(|p| p.name.as_str()).collect()
}

const PEERS: &str = r#"
[[peer]]
name = "anyone-main"
secret = "s"
passive = true

[[peer]]
name = "anyone-aggressive"
exchange-mode = "aggressive"
secret = "s"
passive = true

[[peer]]
name = "net-main"
address = "203.0.113.0/24"
secret = "s"

[[peer]]
name = "host-main"
address = "203.0.113.7"
secret = "s"

[[peer]]
name = "host-l2tp-alice"
address = "203.0.113.7"
exchange-mode = "main-l2tp"
remote-id = "user-fqdn:alice@example.com"
secret = "s"

[[peer]]
name = "host-aggressive-bob"
address = "203.0.113.7"
exchange-mode = "aggressive"
remote-id = "fqdn:bob.example.com"
secret = "s"

[[peer]]
name = "host-aggressive-any"
address = "203.0.113.7"
exchange-mode = "aggressive"
secret = "s"

[[peer]]
name = "host-disabled"
address = "203.0.113.8"
secret = "s"
disabled = true

[[peer]]
name = "v6"
address = "2001:db8::/32"
secret = "s"
"#;

#[test]
fn the_most_specific_prefix_wins() {
    let snap = snapshot(PEERS);
    assert_eq!(
        names(snap.peer_for(ip("203.0.113.9"), ExchangeMode::Main)),
        vec!["net-main"]
    );
    assert_eq!(
        names(snap.peer_for(ip("198.51.100.1"), ExchangeMode::Main)),
        vec!["anyone-main"]
    );
    assert_eq!(
        names(snap.peer_for(ip("2001:db8::5"), ExchangeMode::Main)),
        vec!["v6"]
    );
    assert!(
        snap.peer_for(ip("2001:db9::5"), ExchangeMode::Main)
            .is_empty()
    );
    // IPv4-mapped addresses from a dual-stack socket select the IPv4 peers.
    assert_eq!(
        names(snap.peer_for(ip("::ffff:203.0.113.9"), ExchangeMode::Main)),
        vec!["net-main"]
    );
}

#[test]
fn then_the_exchange_mode_main_and_main_l2tp_alike() {
    let snap = snapshot(PEERS);
    let main = names(snap.peer_for(ip("203.0.113.7"), ExchangeMode::Main));
    assert_eq!(main, vec!["host-main", "host-l2tp-alice"]);
    assert_eq!(
        names(snap.peer_for(ip("203.0.113.7"), ExchangeMode::MainL2tp)),
        main
    );
    assert_eq!(
        names(snap.peer_for(ip("203.0.113.7"), ExchangeMode::Aggressive)),
        vec!["host-aggressive-bob", "host-aggressive-any"]
    );
    assert_eq!(
        names(snap.peer_for(ip("198.51.100.1"), ExchangeMode::Aggressive)),
        vec!["anyone-aggressive"]
    );
}

#[test]
fn a_more_specific_prefix_is_not_left_for_a_wider_one() {
    // 203.0.113.9 belongs to net-main (main mode only): an aggressive initiator from there
    // gets no peer, not the 0.0.0.0/0 aggressive one.
    let snap = snapshot(PEERS);
    assert!(
        snap.peer_for(ip("203.0.113.9"), ExchangeMode::Aggressive)
            .is_empty()
    );
}

#[test]
fn disabled_peers_are_never_selected() {
    let snap = snapshot(PEERS);
    assert_eq!(
        names(snap.peer_for(ip("203.0.113.8"), ExchangeMode::Main)),
        vec!["net-main"]
    );
}

#[test]
fn then_the_id() {
    let snap = snapshot(PEERS);
    let select = |mode, id: Identity| {
        snap.select_peer(None, ip("203.0.113.7"), mode, &id)
            .map(|p| p.name.as_str())
    };
    // An explicit remote-id that matches wins over auto, whatever the file order.
    assert_eq!(
        select(
            ExchangeMode::Main,
            Identity::UserFqdn("ALICE@example.com".into())
        ),
        Some("host-l2tp-alice")
    );
    assert_eq!(
        select(
            ExchangeMode::Aggressive,
            Identity::Fqdn("bob.example.com".into())
        ),
        Some("host-aggressive-bob")
    );
    // Anyone else gets the peer whose remote-id is auto.
    assert_eq!(
        select(
            ExchangeMode::Aggressive,
            Identity::Fqdn("carol.example.com".into())
        ),
        Some("host-aggressive-any")
    );
    assert_eq!(
        select(ExchangeMode::Main, Identity::Address(ip("203.0.113.7"))),
        Some("host-main")
    );
    let peer = snap.peer("host-aggressive-bob").unwrap();
    assert!(peer.accepts_id(&Identity::Fqdn("BOB.example.com".into())));
    assert!(!peer.accepts_id(&Identity::Fqdn("carol.example.com".into())));
}

#[test]
fn no_peer_when_no_id_fits() {
    let snap = snapshot(
        "[[peer]]\nname = \"only-alice\"\naddress = \"203.0.113.7\"\nsecret = \"s\"\n\
         remote-id = \"fqdn:alice.example\"\n",
    );
    assert!(
        snap.select_peer(
            None,
            ip("203.0.113.7"),
            ExchangeMode::Main,
            &Identity::Fqdn("mallory.example".into())
        )
        .is_none()
    );
}

#[test]
fn local_address_narrows_the_candidates() {
    let snap = snapshot(
        "[[peer]]\nname = \"on-a\"\nlocal-address = \"192.0.2.1\"\nsecret = \"s\"\n\
         remote-id = \"fqdn:a\"\n\
         [[peer]]\nname = \"on-b\"\nlocal-address = \"192.0.2.2\"\nsecret = \"s\"\n\
         remote-id = \"fqdn:b\"\n\
         [[peer]]\nname = \"anywhere\"\nsecret = \"s\"\n",
    );
    let remote = ip("198.51.100.1");
    assert_eq!(
        names(snap.peer_for_local(ip("192.0.2.2"), remote, ExchangeMode::Main)),
        vec!["on-b", "anywhere"]
    );
    assert_eq!(
        names(snap.peer_for(remote, ExchangeMode::Main)),
        vec!["on-a", "on-b", "anywhere"]
    );
    assert_eq!(
        snap.select_peer(
            Some(ip("192.0.2.1")),
            remote,
            ExchangeMode::Main,
            &Identity::Fqdn("b".into())
        )
        .map(|p| p.name.as_str()),
        Some("anywhere")
    );
}

#[test]
fn the_initiator_uses_the_most_specific_peer_unless_passive() {
    let snap = snapshot(PEERS);
    assert_eq!(
        snap.initiator_peer(ip("203.0.113.7"))
            .map(|p| p.name.as_str()),
        Some("host-main")
    );
    assert_eq!(
        snap.initiator_peer(ip("203.0.113.200"))
            .map(|p| p.name.as_str()),
        Some("net-main")
    );
    // The catch-all peers are passive: nothing to initiate to.
    assert!(snap.initiator_peer(ip("198.51.100.1")).is_none());
}
