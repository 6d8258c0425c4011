//! Fuzz target `radius_packet`: datagrams as iked's RADIUS sockets receive them, from a server
//! (replies to an outstanding Access-Request and accounting record) or from a dynamic
//! authorization client (Disconnect/CoA on UDP 3799).
//!
//! Input: one selector byte, then the datagram. Checks: nothing panics; a packet that decodes
//! encodes back to the same attributes; no reply is taken as an answer unless its Response
//! Authenticator checks out (the fuzzer does not know the secret, so none may be); a forged
//! Disconnect-Request is never accepted as a request.
//! Seeds: `fuzz/seeds/radius_packet` (RFC 2865 §7 examples, a Disconnect-Request).
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use radius::attr::{self, Attribute};
use radius::{
    Client, ClientOptions, DasClient, DynamicAuthorization, Event, Packet, Password, Received,
    ServerConfig,
};

const SECRET: &[u8] = b"a secret the fuzzer cannot see";

fn server() -> SocketAddr {
    "198.18.7.2:1812".parse().expect("address")
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    if let Ok(p) = Packet::decode(data) {
        let again = Packet::decode(&p.encode().expect("decoded attributes fit"))
            .expect("encoded packets decode");
        assert_eq!(again.attributes, p.attributes);
    }
    let _ = radius::crypto::unhide_password(data, SECRET, &[0; 16]);
    match selector % 3 {
        0 | 1 => {
            let now = Instant::now();
            let mut c = Client::new(
                vec![ServerConfig {
                    name: "fuzz".into(),
                    auth: Some(server()),
                    acct: Some("198.18.7.2:1813".parse().expect("address")),
                    secret: SECRET.to_vec().into(),
                    timeout: Duration::from_secs(1),
                    retries: 1,
                }],
                ClientOptions::default(),
                Box::new(|b: &mut [u8]| b.fill(7)),
            );
            let from = if selector % 3 == 0 {
                c.access(
                    now,
                    vec![Attribute::bytes(attr::USER_NAME, "alice")],
                    Password::Pap(b"pw".to_vec().into()),
                );
                server()
            } else {
                c.accounting(now, vec![Attribute::u32(attr::ACCT_STATUS_TYPE, 1)]);
                "198.18.7.2:1813".parse().expect("address")
            };
            let _ = c.poll_transmit();
            assert!(c.handle_datagram(now, from, data).is_err());
            assert!(!matches!(
                c.poll_event(),
                Some(Event::Access { .. } | Event::Accounted { .. })
            ));
        }
        _ => {
            let mut das = DynamicAuthorization::new(vec![DasClient {
                address: server().ip(),
                secret: SECRET.to_vec().into(),
            }]);
            assert!(!matches!(
                das.handle(server(), data),
                Ok(Received::Request(_) | Received::Resend(_))
            ));
        }
    }
});
