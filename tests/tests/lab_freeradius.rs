//! The lab's FreeRADIUS (`ipsec_tests::lab::FreeRadius`) against radclient, without our engine:
//! Access-Accept (with the users file's reply items and a Message-Authenticator) and
//! Access-Reject, an Accounting-Request recorded by the detail module, a Disconnect-Request sent
//! from the server's namespace to a NAS, and stop/restart with the records kept. Needs root (CI
//! runs as root); with IKT_ALLOW_SKIP=1 a non-root run skips instead of failing.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ipsec_core::crypto::HashAlgorithm;
use ipsec_tests::lab::{FreeRadius, Lab, Netns, Output};

const SECRET: &str = "testing123";

const USERS: &str = "alice Cleartext-Password := \"wonderland\"\n\
                     \tFramed-IP-Address = 198.19.9.50, Session-Timeout = 600, Class = \"gold\"\n";

/// `radclient -x -r 1 -t TIMEOUT TARGET CODE testing123` in `ns`, `attrs` on stdin.
fn radclient(ns: &Netns, target: &str, code: &str, attrs: &str, timeout_s: u32) -> Output {
    let script = "printf '%s' \"$1\" | radclient -x -r 1 -t \"$2\" \"$3\" \"$4\" \"$5\"";
    let t = timeout_s.to_string();
    ns.exec(&["sh", "-c", script, "sh", attrs, &t, target, code, SECRET])
        .unwrap()
}

/// What radclient printed about the reply (after its "Received" line).
fn received(out: &Output) -> &str {
    out.stdout
        .find("Received ")
        .map_or("", |i| &out.stdout[i..])
}

/// A NAS answering one Disconnect-Request on `sock` with a Disconnect-ACK; returns the request.
fn answer_one_disconnect(sock: UdpSocket) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
        let mut buf = [0u8; 4096];
        let (n, from) = sock.recv_from(&mut buf).expect("a Disconnect-Request");
        let req = buf[..n].to_vec();
        // Disconnect-ACK (41), same identifier, no attributes; Response Authenticator =
        // MD5(code | id | length | request authenticator | attributes | secret)
        let mut ack = vec![41, req[1], 0, 20];
        let auth = HashAlgorithm::Md5.digest(&[&ack, &req[4..20], SECRET.as_bytes()]);
        ack.extend_from_slice(&auth);
        sock.send_to(&ack, from).unwrap();
        req
    })
}

#[test]
fn freeradius_authenticates_accounts_disconnects_and_restarts() {
    let Some(lab) = Lab::new("freeradius") else {
        return;
    };
    let net = lab.two_hosts().unwrap();
    let t = Instant::now();
    let mut radius = FreeRadius::builder(&net.b)
        .client("198.18.0.0/15", SECRET)
        .users(USERS)
        .start()
        .unwrap();
    let start_took = t.elapsed();
    assert!(radius.is_running());
    let auth = "198.18.0.2:1812";
    let acct = "198.18.0.2:1813";

    // Access-Accept with the reply items, signed (the request carries a Message-Authenticator)
    let ok_attrs = "User-Name = \"alice\"\nUser-Password = \"wonderland\"\n\
                    Message-Authenticator = 0x00\n";
    let t = Instant::now();
    let ok = radclient(&net.a, auth, "auth", ok_attrs, 3);
    let auth_took = t.elapsed();
    assert!(ok.success(), "{}", ok.describe());
    let reply = received(&ok);
    assert!(reply.starts_with("Received Access-Accept"), "{}", ok.stdout);
    assert!(reply.contains("Framed-IP-Address = 198.19.9.50"), "{reply}");
    assert!(reply.contains("Session-Timeout = 600"), "{reply}");
    assert!(
        reply.contains("Class = 0x676f6c64"),
        "Class \"gold\": {reply}"
    );
    assert!(reply.contains("Message-Authenticator = 0x"), "{reply}");

    // a wrong password: Access-Reject at once (reject_delay = 0), also signed
    let bad = radclient(
        &net.a,
        auth,
        "auth",
        "User-Name = \"alice\"\nUser-Password = \"queen\"\n",
        3,
    );
    assert!(!bad.success(), "{}", bad.describe());
    let reply = received(&bad);
    assert!(
        reply.starts_with("Received Access-Reject"),
        "{}",
        bad.stdout
    );
    assert!(reply.contains("Message-Authenticator = 0x"), "{reply}");

    // accounting Start, recorded by the detail module
    let start = "Acct-Status-Type = Start\nAcct-Session-Id = \"x1\"\nUser-Name = \"alice\"\n\
                 Acct-Input-Octets = 100\nFramed-IP-Address = 198.19.9.50\n";
    let out = radclient(&net.a, acct, "acct", start, 3);
    assert!(out.success(), "{}", out.describe());
    assert!(
        received(&out).starts_with("Received Accounting-Response"),
        "{}",
        out.stdout
    );
    let rec = radius
        .wait_accounting(
            |r| r.get("Acct-Session-Id").map(String::as_str) == Some("x1"),
            Duration::from_secs(5),
        )
        .unwrap();
    assert_eq!(rec["Acct-Status-Type"], "Start", "{rec:?}");
    assert_eq!(rec["User-Name"], "alice", "{rec:?}");
    assert_eq!(rec["Acct-Input-Octets"], "100", "{rec:?}");
    assert_eq!(rec["Framed-IP-Address"], "198.19.9.50", "{rec:?}");
    assert_eq!(rec["NAS-IP-Address"], "198.18.0.1", "{rec:?}");

    // a Disconnect-Request from the server's namespace to a NAS (here: this test in net.a)
    let nas = net.a.bind_udp("198.18.0.1:3799").unwrap();
    let nas = answer_one_disconnect(nas);
    let target: SocketAddr = "198.18.0.1:3799".parse().unwrap();
    let dm = radius
        .radclient(
            target,
            "disconnect",
            SECRET,
            "User-Name = \"alice\"\nAcct-Session-Id = \"x1\"\n",
        )
        .unwrap();
    let req = nas.join().unwrap();
    assert_eq!(req[0], 40, "Disconnect-Request: {req:02x?}");
    assert!(
        req.windows(5).any(|w| w == b"alice"),
        "User-Name: {req:02x?}"
    );
    assert!(dm.success(), "{}", dm.describe());
    assert!(
        received(&dm).starts_with("Received Disconnect-ACK"),
        "{}",
        dm.stdout
    );

    // stopped: no answer
    radius.stop();
    assert!(!radius.is_running());
    let none = radclient(&net.a, auth, "auth", ok_attrs, 1);
    assert!(!none.success(), "{}", none.describe());
    assert!(received(&none).is_empty(), "{}", none.stdout);

    // restarted: answers again, the earlier record is still there
    let t = Instant::now();
    radius.restart().unwrap();
    let restart_took = t.elapsed();
    assert!(radius.is_running());
    let again = radclient(&net.a, auth, "auth", ok_attrs, 3);
    assert!(again.success(), "{}", again.describe());
    assert!(
        received(&again).starts_with("Received Access-Accept"),
        "{}",
        again.stdout
    );
    let records = radius.accounting();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["Acct-Session-Id"], "x1");
    assert!(radius.dir().join("raddb/radiusd.conf").is_file());
    assert!(radius.log().contains("Ready to process requests"));

    eprintln!(
        "timing: start {start_took:?}, Access-Request {auth_took:?}, restart {restart_took:?}, \
         total {:?}",
        lab.elapsed()
    );
}

#[test]
fn a_broken_users_file_fails_the_start_with_the_servers_output() {
    let Some(lab) = Lab::new("freeradius-bad") else {
        return;
    };
    let net = lab.two_hosts().unwrap();
    let t = Instant::now();
    let err = FreeRadius::builder(&net.b)
        .client("198.18.0.0/15", SECRET)
        .users("alice Cleartext-Password := \"x\"\n\tFramed-IP-Address = = ,\n")
        .start()
        .err()
        .expect("a users file with a syntax error must fail the start");
    let msg = err.to_string();
    assert!(msg.contains("exited at start"), "{msg}");
    assert!(
        msg.contains("authorize"),
        "the output names the file: {msg}"
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}
