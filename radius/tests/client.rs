//! The client against a simulated server, with simulated time: replies and their checks,
//! retransmission, failover and hold-down, accounting kept while no server answers, the
//! bounded buffer, and dynamic authorization.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use radius::attr::{self, Attribute};
use radius::crypto::{self, Seal, Verify};
use radius::{
    AccessOutcome, Client, ClientOptions, Code, DasClient, DasKind, DynamicAuthorization, Event,
    Packet, Password, Received, ServerConfig,
};
use zeroize::Zeroizing;

const SECRET: &[u8] = b"testing123";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn server(name: &str, ip: &str) -> ServerConfig {
    ServerConfig {
        name: name.into(),
        auth: Some(addr(&format!("{ip}:1812"))),
        acct: Some(addr(&format!("{ip}:1813"))),
        secret: Zeroizing::new(SECRET.to_vec()),
        timeout: Duration::from_secs(2),
        retries: 2,
    }
}

fn client(servers: Vec<ServerConfig>, options: ClientOptions) -> Client {
    let mut n = 0u8;
    Client::new(
        servers,
        options,
        Box::new(move |buf: &mut [u8]| {
            for b in buf {
                n = n.wrapping_add(37);
                *b = n;
            }
        }),
    )
}

/// What a server answers: the request decoded, the reply sealed with the request's
/// authenticator and a Message-Authenticator.
fn answer(request: &[u8], code: Code, attributes: Vec<Attribute>) -> (Packet, Vec<u8>) {
    let q = Packet::decode(request).unwrap();
    let reply = Packet {
        code,
        identifier: q.identifier,
        authenticator: [0; 16],
        attributes,
    };
    let bytes = crypto::seal(&reply, SECRET, Seal::Response(q.authenticator), true).unwrap();
    (q, bytes)
}

fn user(name: &str) -> Vec<Attribute> {
    vec![
        Attribute::bytes(attr::USER_NAME, name),
        Attribute::u32(attr::NAS_PORT_TYPE, attr::NAS_PORT_TYPE_VIRTUAL),
    ]
}

fn pap(p: &str) -> Password {
    Password::Pap(Zeroizing::new(p.as_bytes().to_vec()))
}

#[test]
fn an_accept_carries_the_servers_attributes_and_the_password_is_hidden() {
    let now = Instant::now();
    let mut c = client(vec![server("a", "198.18.7.2")], ClientOptions::default());
    let id = c.access(now, user("alice"), pap("wonderland"));
    let t = c.poll_transmit().unwrap();
    assert_eq!(t.to, addr("198.18.7.2:1812"));
    let q = Packet::decode(&t.payload).unwrap();
    assert_eq!(q.code, Code::AccessRequest);
    let hidden = q.attribute(attr::USER_PASSWORD).unwrap();
    assert_eq!(
        crypto::unhide_password(&hidden.value, SECRET, &q.authenticator).unwrap(),
        b"wonderland"
    );
    // Message-Authenticator: checked the way a server does (request authenticator in place).
    assert!(q.attribute(attr::MESSAGE_AUTHENTICATOR).is_some());
    let framed = Attribute::ipv4(attr::FRAMED_IP_ADDRESS, "198.19.9.50".parse().unwrap());
    let (_, reply) = answer(&t.payload, Code::AccessAccept, vec![framed.clone()]);
    c.handle_datagram(now, t.to, &reply).unwrap();
    match c.poll_event() {
        Some(Event::Access {
            id: got,
            outcome:
                AccessOutcome::Accept {
                    server: 0,
                    attributes,
                },
        }) => {
            assert_eq!(got, id);
            assert!(attributes.contains(&framed));
        }
        other => panic!("{other:?}"),
    }
    // The same reply again is no longer expected.
    assert!(c.handle_datagram(now, t.to, &reply).is_err());
    assert_eq!(c.stats().unknown_identifier, 1);
}

#[test]
fn chap_sends_a_challenge_and_its_md5() {
    let now = Instant::now();
    let mut c = client(vec![server("a", "198.18.7.2")], ClientOptions::default());
    c.access(
        now,
        user("bob"),
        Password::Chap(Zeroizing::new(b"pw".to_vec())),
    );
    let q = Packet::decode(&c.poll_transmit().unwrap().payload).unwrap();
    let challenge = &q.attribute(attr::CHAP_CHALLENGE).unwrap().value;
    let chap = &q.attribute(attr::CHAP_PASSWORD).unwrap().value;
    assert_eq!(
        chap[..],
        crypto::chap_password(chap[0], b"pw", challenge)[..]
    );
    assert!(q.attribute(attr::USER_PASSWORD).is_none());
}

#[test]
fn forged_and_unsigned_replies_are_dropped_and_counted() {
    let now = Instant::now();
    let options = ClientOptions {
        require_message_authenticator: true,
        ..ClientOptions::default()
    };
    let mut c = client(vec![server("a", "198.18.7.2")], options);
    c.access(now, user("alice"), pap("x"));
    let t = c.poll_transmit().unwrap();
    let q = Packet::decode(&t.payload).unwrap();
    let reply = Packet {
        code: Code::AccessAccept,
        identifier: q.identifier,
        authenticator: [0; 16],
        attributes: vec![],
    };
    let wrong_secret =
        crypto::seal(&reply, b"guess", Seal::Response(q.authenticator), true).unwrap();
    assert!(c.handle_datagram(now, t.to, &wrong_secret).is_err());
    let unsigned = crypto::seal(&reply, SECRET, Seal::Response(q.authenticator), false).unwrap();
    assert!(c.handle_datagram(now, t.to, &unsigned).is_err());
    assert!(c.handle_datagram(now, t.to, &[1, 2, 3]).is_err());
    assert_eq!(c.stats().bad_authenticator, 2);
    assert_eq!(c.stats().malformed, 1);
    assert_eq!(c.poll_event(), None);
    // From another address it is not an answer either.
    let (_, good) = answer(&t.payload, Code::AccessReject, vec![]);
    assert!(
        c.handle_datagram(now, addr("198.18.7.9:1812"), &good)
            .is_err()
    );
    c.handle_datagram(now, t.to, &good).unwrap();
    assert!(matches!(
        c.poll_event(),
        Some(Event::Access {
            outcome: AccessOutcome::Reject { .. },
            ..
        })
    ));
}

#[test]
fn a_silent_server_is_retried_then_failed_over_and_held_down() {
    let t0 = Instant::now();
    let options = ClientOptions {
        hold_down: Duration::from_secs(30),
        ..ClientOptions::default()
    };
    let mut c = client(
        vec![server("a", "198.18.7.2"), server("b", "198.18.8.2")],
        options,
    );
    c.access(t0, user("alice"), pap("x"));
    let first = c.poll_transmit().unwrap();
    // Two retransmissions, the same octets, two seconds apart.
    let mut now;
    for _ in 0..2 {
        now = c.poll_timeout().unwrap();
        c.handle_timeout(now);
        assert_eq!(c.poll_transmit().unwrap(), first);
    }
    now = c.poll_timeout().unwrap();
    assert_eq!(now - t0, Duration::from_secs(6));
    c.handle_timeout(now);
    assert_eq!(c.poll_event(), Some(Event::ServerDead { server: 0 }));
    let second = c.poll_transmit().unwrap();
    assert_eq!(second.to, addr("198.18.8.2:1812"));
    let (_, reply) = answer(&second.payload, Code::AccessAccept, vec![]);
    c.handle_datagram(now, second.to, &reply).unwrap();
    assert!(matches!(
        c.poll_event(),
        Some(Event::Access {
            outcome: AccessOutcome::Accept { server: 1, .. },
            ..
        })
    ));
    // While held down, new requests go to the second server first...
    c.access(now, user("bob"), pap("y"));
    assert_eq!(c.poll_transmit().unwrap().to, addr("198.18.8.2:1812"));
    // ...and after the hold-down to the first again.
    let later = now + Duration::from_secs(31);
    c.access(later, user("carol"), pap("z"));
    let t = c.poll_transmit().unwrap();
    assert_eq!(t.to, addr("198.18.7.2:1812"));
    assert_eq!(c.servers(later)[0].timeouts, 1);
    assert_eq!(c.stats().retransmissions, 2);
    assert_eq!(c.stats().failovers, 1);
}

#[test]
fn no_server_answers_an_access_request() {
    let mut now = Instant::now();
    let mut c = client(vec![server("a", "198.18.7.2")], ClientOptions::default());
    let id = c.access(now, user("alice"), pap("x"));
    for _ in 0..3 {
        assert!(c.poll_transmit().is_some());
        now = c.poll_timeout().unwrap();
        c.handle_timeout(now);
    }
    assert_eq!(c.poll_event(), Some(Event::ServerDead { server: 0 }));
    assert_eq!(
        c.poll_event(),
        Some(Event::Access {
            id,
            outcome: AccessOutcome::NoServer
        })
    );
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn accounting_waits_for_a_server_and_arrives_in_order_with_its_delay() {
    let t0 = Instant::now();
    let options = ClientOptions {
        hold_down: Duration::from_secs(10),
        ..ClientOptions::default()
    };
    let mut c = client(vec![server("a", "198.18.7.2")], options);
    let start = |s: &str| {
        vec![
            Attribute::u32(attr::ACCT_STATUS_TYPE, attr::AcctStatus::Start as u32),
            Attribute::bytes(attr::ACCT_SESSION_ID, s),
        ]
    };
    let a = c.accounting(t0, start("s1"));
    let b = c.accounting(t0, start("s2"));
    // The server is down: a minute of silence.
    let mut now = t0;
    while now < t0 + Duration::from_secs(60) {
        while c.poll_transmit().is_some() {}
        now = c.poll_timeout().unwrap();
        c.handle_timeout(now);
    }
    assert_eq!(c.accounting_backlog(), 2);
    // It is back: the next try is answered, oldest first.
    while c.poll_transmit().is_some() {}
    now = c.poll_timeout().unwrap();
    c.handle_timeout(now);
    let sent: Vec<_> = std::iter::from_fn(|| c.poll_transmit()).collect();
    assert_eq!(sent.len(), 2);
    for (t, want) in sent.iter().zip(["s1", "s2"]) {
        let q = Packet::decode(&t.payload).unwrap();
        assert_eq!(q.code, Code::AccountingRequest);
        assert_eq!(t.to, addr("198.18.7.2:1813"));
        // The Request Authenticator is the computed one (RFC 2866 §3).
        assert_eq!(
            crypto::verify(&t.payload, SECRET, Verify::Computed, false),
            Ok(false)
        );
        assert_eq!(
            q.attribute(attr::ACCT_SESSION_ID).unwrap().value,
            want.as_bytes()
        );
        let delay = q
            .attribute(attr::ACCT_DELAY_TIME)
            .unwrap()
            .as_u32()
            .unwrap();
        assert!(delay >= 60, "Acct-Delay-Time {delay}");
        let (_, reply) = answer(&t.payload, Code::AccountingResponse, vec![]);
        c.handle_datagram(now, t.to, &reply).unwrap();
    }
    let done: Vec<_> = std::iter::from_fn(|| c.poll_event())
        .filter_map(|e| match e {
            Event::Accounted { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(done, vec![a, b]);
    assert_eq!(c.accounting_backlog(), 0);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn the_accounting_buffer_is_bounded() {
    let now = Instant::now();
    let options = ClientOptions {
        accounting_buffer: 3,
        accounting_window: 1,
        ..ClientOptions::default()
    };
    let mut c = client(vec![server("a", "198.18.7.2")], options);
    let ids: Vec<_> = (0..5)
        .map(|i| c.accounting(now, vec![Attribute::u32(attr::ACCT_SESSION_TIME, i)]))
        .collect();
    assert_eq!(c.accounting_backlog(), 3);
    assert_eq!(c.stats().accounting_dropped, 2);
    // The one in flight stays; the oldest queued ones went.
    let dropped: Vec<_> = std::iter::from_fn(|| c.poll_event()).collect();
    assert_eq!(
        dropped,
        vec![
            Event::AccountingDropped { id: ids[1] },
            Event::AccountingDropped { id: ids[2] }
        ]
    );
}

#[test]
fn dynamic_authorization_checks_the_client_and_answers_retransmissions_once() {
    let das_addr = addr("198.18.7.2:40000");
    let mut das = DynamicAuthorization::new(vec![DasClient {
        address: das_addr.ip(),
        secret: Zeroizing::new(SECRET.to_vec()),
    }]);
    let request = Packet {
        code: Code::DisconnectRequest,
        identifier: 9,
        authenticator: [0; 16],
        attributes: vec![Attribute::bytes(attr::USER_NAME, "alice")],
    };
    let bytes = crypto::seal(&request, SECRET, Seal::Computed, true).unwrap();
    let Ok(Received::Request(q)) = das.handle(das_addr, &bytes) else {
        panic!()
    };
    assert_eq!(q.kind, DasKind::Disconnect);
    assert!(q.message_authenticator);
    let ack = das.respond(&q, None);
    let auth: [u8; 16] = bytes[4..20].try_into().unwrap();
    assert_eq!(
        crypto::verify(&ack, SECRET, Verify::Response(auth), true),
        Ok(true)
    );
    assert_eq!(Packet::decode(&ack).unwrap().code, Code::DisconnectAck);
    assert_eq!(das.handle(das_addr, &bytes), Ok(Received::Resend(ack)));
    // Not from a configured client, or with another secret: dropped.
    assert!(das.handle(addr("198.18.9.9:1"), &bytes).is_err());
    let forged = crypto::seal(&request, b"nope", Seal::Computed, false).unwrap();
    let mut other = forged.clone();
    other[1] = 10;
    assert!(das.handle(das_addr, &other).is_err());
    assert_eq!(das.stats().bad_authenticator, 1);
    assert_eq!(das.stats().unknown_client, 1);
    // A NAK carries its Error-Cause.
    let coa = Packet {
        code: Code::CoaRequest,
        identifier: 11,
        ..request
    };
    let b = crypto::seal(&coa, SECRET, Seal::Computed, false).unwrap();
    let Ok(Received::Request(q)) = das.handle(das_addr, &b) else {
        panic!()
    };
    let nak =
        Packet::decode(&das.respond(&q, Some(attr::ErrorCause::SessionContextNotFound))).unwrap();
    assert_eq!(nak.code, Code::CoaNak);
    assert_eq!(
        nak.attribute(attr::ERROR_CAUSE).unwrap().as_u32(),
        Some(503)
    );
}
