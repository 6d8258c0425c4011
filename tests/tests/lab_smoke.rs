//! The namespace lab itself (`ipsec_tests::lab`) against real peers, without our engine:
//! charon ↔ charon (main mode PSK, a ping through the kernel-libipsec tunnel), ike-scan against
//! charon, aggressive mode PSK + XAuth + mode config through a NAT, pluto ↔ charon, and the
//! cleanup guarantees (panic, stale leftovers). Needs root (CI runs as root); with
//! IKT_ALLOW_SKIP=1 a non-root run skips instead of failing.

use std::net::Ipv4Addr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use ipsec_tests::lab::{
    Charon, IKE_FILTER, IkeScan, Lab, Nat, Pluto, ScanMode, ScanOutcome, Tcpdump, sweep_stale,
};

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// swanctl.conf for main mode PSK between the two hosts of `two_hosts()` (from the lab's
/// mm-psk-initiator/-responder configs, lab addresses).
fn mm_psk(initiator: bool) -> String {
    let (me, peer, lts, rts) = if initiator {
        (
            "198.18.0.1",
            "198.18.0.2",
            "198.51.100.1/32",
            "203.0.113.1/32",
        )
    } else {
        (
            "198.18.0.2",
            "198.18.0.1",
            "203.0.113.1/32",
            "198.51.100.1/32",
        )
    };
    format!(
        r#"
connections {{
  mm-psk {{
    version = 1
    aggressive = no
    local_addrs = {me}
    remote_addrs = {peer}
    proposals = aes128-sha256-modp2048
    local {{
      auth = psk
      id = {me}
    }}
    remote {{
      auth = psk
      id = {peer}
    }}
    children {{
      net {{
        mode = tunnel
        local_ts = {lts}
        remote_ts = {rts}
        esp_proposals = aes128-sha1
        start_action = none
      }}
    }}
  }}
}}
secrets {{
  ike-mm {{
    id-a = 198.18.0.1
    id-b = 198.18.0.2
    secret = "ikt-interop-psk-1"
  }}
}}
"#
    )
}

#[test]
fn charon_charon_main_mode_psk_and_ping_through_the_tunnel() {
    let Some(lab) = Lab::new("mm-psk") else {
        return;
    };
    let net = lab.two_hosts().unwrap();
    let resp = Charon::start(&net.b, &mm_psk(false)).unwrap();
    let init = Charon::start(&net.a, &mm_psk(true)).unwrap();
    let mut cap = Tcpdump::start(&net.a, "eth0", IKE_FILTER).unwrap();
    let ready = lab.elapsed();

    let t = Instant::now();
    let out = init.initiate("net").unwrap();
    let handshake = t.elapsed();
    assert!(
        out.stdout.contains("CHILD_SA net{1} established"),
        "{}",
        out.stdout
    );
    assert!(init.child_installed("net").unwrap());
    resp.wait_child_installed("net", SECS(5)).unwrap();
    assert!(resp.ike_established("mm-psk").unwrap());

    // kernel-libipsec: route in table 220 via ipsec0, ESP-in-UDP on 4500
    net.a.wait_route(220, "203.0.113.1", SECS(5)).unwrap();
    let ping = net
        .a
        .ping_until(Some(net.a.inner()), net.b.inner(), SECS(5))
        .unwrap();
    init.terminate_ike("mm-psk").unwrap();

    let capture = cap.capture().unwrap();
    let ike = capture.ike();
    assert!(ike.len() >= 9, "MM 6 + QM 3 messages, got {}", ike.len());
    assert!(
        capture.esp_in_udp().len() >= 2,
        "ping request and reply as ESP-in-UDP"
    );
    eprintln!(
        "timing: lab+charons+tcpdump {ready:?}, MM+QM {handshake:?}, first ping {ping:?}, \
         total {:?}",
        lab.elapsed()
    );
}

#[test]
fn in_process_sockets_live_in_the_namespaces() {
    let Some(lab) = Lab::new("sockets") else {
        return;
    };
    let net = lab.two_hosts().unwrap();
    // as our engine's driver will: sockets made inside the namespaces, used from this thread
    let a = net.a.bind_udp("198.18.0.1:500").unwrap();
    let b = net.b.bind_udp("198.18.0.2:500").unwrap();
    b.set_read_timeout(Some(SECS(2))).unwrap();
    a.send_to(b"ikt", "198.18.0.2:500").unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = b.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ikt");
    assert_eq!(from.to_string(), "198.18.0.1:500");
    // the host's namespace has no such address
    assert!(std::net::UdpSocket::bind("198.18.0.1:0").is_err());
    let inside = net
        .a
        .run_in(|| std::thread::current().name().map(str::to_string));
    assert!(inside.unwrap().unwrap().starts_with("in-ikt-"));
}

#[test]
fn ike_scan_gets_a_main_mode_handshake_from_charon() {
    let Some(lab) = Lab::new("ike-scan") else {
        return;
    };
    let net = lab.two_hosts().unwrap();
    let _resp = Charon::start(&net.b, &mm_psk(false)).unwrap();
    let target = net.b.addr();

    let t = Instant::now();
    let ok = IkeScan::main_mode(target)
        .trans("7/128,4,1,14")
        .run(&net.a)
        .unwrap();
    let took = t.elapsed();
    assert_eq!(
        ok.outcome,
        ScanOutcome::Handshake(ScanMode::Main),
        "{}",
        ok.output.stdout
    );
    let sa = ok.sa().expect("SA in the answer");
    assert!(
        sa.contains("Enc=AES") && sa.contains("KeyLength=128") && sa.contains("Group=14"),
        "{sa}"
    );
    assert!(
        !ok.vendor_ids().is_empty(),
        "charon sends vendor IDs: {:?}",
        ok.details
    );

    // a proposal charon does not accept: NO-PROPOSAL-CHOSEN
    let no = IkeScan::main_mode(target)
        .trans("5,1,1,2")
        .run(&net.a)
        .unwrap();
    assert_eq!(no.notify_code(), Some(14), "{}", no.output.stdout);

    // nobody listens on port 501: no response (bounded by retry/timeout)
    let none = IkeScan::main_mode(target)
        .dport(501)
        .retry(2, 100)
        .run(&net.a)
        .unwrap();
    assert_eq!(
        none.outcome,
        ScanOutcome::NoResponse,
        "{}",
        none.output.stdout
    );
    eprintln!(
        "timing: handshake probe {took:?}, total {:?}",
        lab.elapsed()
    );
}

const AM_XAUTH_SERVER: &str = r#"
connections {
  rw-xauth {
    version = 1
    aggressive = yes
    local_addrs = 198.18.0.2
    pools = rw-pool
    proposals = aes256-sha1-modp1024,aes128-sha1-modp1024,3des-sha1-modp1024
    dpd_delay = 30s
    send_certreq = no
    local {
      auth = psk
      id = vpn.ikt.test
    }
    remote-1 {
      auth = psk
      id = keyid:ikt-group
    }
    remote-2 {
      auth = xauth
    }
    children {
      rw {
        local_ts = 203.0.113.0/24
        esp_proposals = aes256-sha1,aes128-sha1,3des-sha1
      }
    }
  }
}
pools {
  rw-pool {
    addrs = 100.100.100.0/28
    dns = 203.0.113.53
    split_include = 203.0.113.0/24
  }
}
secrets {
  ike-group {
    id-1 = vpn.ikt.test
    id-2 = keyid:ikt-group
    secret = "ikt-group-psk"
  }
  xauth-alice {
    id = alice
    secret = "alice-pass"
  }
}
"#;

fn am_xauth_client(user: &str) -> String {
    format!(
        r#"
connections {{
  rw-xauth {{
    version = 1
    aggressive = yes
    remote_addrs = 198.18.0.2
    vips = 0.0.0.0
    proposals = aes256-sha1-modp1024
    dpd_delay = 30s
    local-1 {{
      auth = psk
      id = keyid:ikt-group
    }}
    local-2 {{
      auth = xauth
      xauth_id = {user}
    }}
    remote {{
      auth = psk
      id = vpn.ikt.test
    }}
    children {{
      rw {{
        remote_ts = 203.0.113.0/24
        esp_proposals = aes256-sha1
        start_action = none
      }}
    }}
  }}
}}
secrets {{
  ike-group {{
    id-1 = vpn.ikt.test
    id-2 = keyid:ikt-group
    secret = "ikt-group-psk"
  }}
  xauth-user {{
    id = {user}
    secret = "alice-pass"
  }}
}}
"#
    )
}

#[test]
fn charon_aggressive_mode_psk_xauth_through_nat() {
    let Some(lab) = Lab::new("am-xauth-nat") else {
        return;
    };
    let resolv_before = std::fs::read("/etc/resolv.conf").ok();
    let mut nat = lab.nat().unwrap();
    nat.add_client().unwrap();
    assert_eq!(nat.clients.len(), 2);
    let server = Charon::builder(&nat.server)
        .aggressive_psk(true)
        .start(AM_XAUTH_SERVER)
        .unwrap();
    let mut cap = Tcpdump::start(&nat.server, "eth0", IKE_FILTER).unwrap();

    // ike-scan through the NAT: an aggressive mode probe with the group name (KEY_ID) and
    // XAuth-PSK auth (65001) gets the server's KE, nonce, identity and HASH_R at once
    let agg = IkeScan::aggressive(Ipv4Addr::new(198, 18, 0, 2), "ikt-group")
        .idtype(11)
        .trans("7/256,2,65001,2")
        .dhgroup(2)
        .run(nat.client())
        .unwrap();
    assert_eq!(
        agg.outcome,
        ScanOutcome::Handshake(ScanMode::Aggressive),
        "{}",
        agg.output.stdout
    );
    assert_eq!(agg.id(), Some("ID(Type=ID_FQDN, Value=vpn.ikt.test)"));
    assert!(
        agg.details.iter().any(|d| d.starts_with("Hash(")),
        "{:?}",
        agg.details
    );

    let c1 = Charon::start(nat.client(), &am_xauth_client("alice")).unwrap();

    let t = Instant::now();
    let out = c1.initiate("rw").unwrap();
    let handshake = t.elapsed();
    assert!(
        out.stdout.contains("XAuth authentication of 'alice'"),
        "{}",
        out.stdout
    );
    assert!(c1.child_installed("rw").unwrap());
    server.wait_child_installed("rw", SECS(5)).unwrap();
    let sas = c1.list_sas().unwrap();
    assert!(
        sas.contains("100.100.100.1"),
        "virtual IP from the pool: {sas}"
    );
    // the resolve plugin wrote the pool's DNS server into charon's own file, not the host's
    assert!(
        c1.resolv_conf().contains("203.0.113.53"),
        "{}",
        c1.resolv_conf()
    );
    assert_eq!(std::fs::read("/etc/resolv.conf").ok(), resolv_before);
    // through the tunnel from the virtual IP
    let vip = Ipv4Addr::new(100, 100, 100, 1);
    nat.client()
        .ping_until(Some(vip), Ipv4Addr::new(203, 0, 113, 1), SECS(5))
        .unwrap();

    // the second client behind the same NAT comes up too, with the next address
    let c2 = Charon::start(&nat.clients[1], &am_xauth_client("alice")).unwrap();
    c2.initiate("rw").unwrap();
    assert!(c2.list_sas().unwrap().contains("100.100.100.2"));
    server.wait_log("100.100.100.2", SECS(5)).unwrap();

    // the server saw the clients only as the NAT's address, from remapped ports
    let capture = cap.capture().unwrap();
    let ports: Vec<u16> = capture
        .ike()
        .iter()
        .filter(|(d, _)| d.src.ip() == std::net::IpAddr::V4(Nat::PUBLIC))
        .map(|(d, _)| d.src.port())
        .collect();
    assert!(!ports.is_empty());
    assert!(
        ports.iter().all(|p| (40000..=40999).contains(p)),
        "source ports remapped: {ports:?}"
    );
    eprintln!(
        "timing: AM+XAuth+ModeCfg+QM through NAT {handshake:?}, total {:?}",
        lab.elapsed()
    );
}

#[test]
fn pluto_completes_main_mode_with_charon() {
    let Some(lab) = Lab::new("pluto-mm") else {
        return;
    };
    let net = lab.two_hosts().unwrap();
    let resp = Charon::start(&net.b, &mm_psk(false)).unwrap();
    let conns = r#"
conn mm-psk
	ikev2=no
	authby=secret
	left=198.18.0.1
	leftid=198.18.0.1
	leftsubnet=198.51.100.1/32
	right=198.18.0.2
	rightid=198.18.0.2
	rightsubnet=203.0.113.1/32
	ike=aes128-sha2_256-modp2048
	esp=aes128-sha1
	pfs=no
	auto=add
"#;
    let pluto = Pluto::start(
        &net.a,
        conns,
        "198.18.0.1 198.18.0.2 : PSK \"ikt-interop-psk-1\"\n",
    )
    .unwrap();
    let t = Instant::now();
    let out = pluto.initiate("mm-psk").unwrap();
    let took = t.elapsed();
    let text = out.combined();
    // main mode completes (floated to 4500: charon's kernel-libipsec fakes NAT)...
    assert!(text.contains("IKE SA established"), "{text}");
    resp.wait_ike_established("mm-psk", SECS(5)).unwrap();
    // ...quick mode is negotiated but this host's kernel has no ESP: pluto fails at SA install
    assert!(text.contains("sent Quick Mode request"), "{text}");
    assert!(
        text.contains("netlink response for Add SA") && text.contains("Protocol not supported"),
        "expected the kernel SA install failure: {text}"
    );
    eprintln!(
        "timing: pluto MM+QM attempt {took:?}, total {:?}",
        lab.elapsed()
    );
}

#[test]
fn pluto_responds_to_charon_main_mode() {
    let Some(lab) = Lab::new("pluto-resp") else {
        return;
    };
    let net = lab.two_hosts().unwrap();
    let conns = r#"
conn mm-psk
	ikev2=no
	authby=secret
	left=198.18.0.2
	leftid=198.18.0.2
	leftsubnet=203.0.113.1/32
	right=198.18.0.1
	rightid=198.18.0.1
	rightsubnet=198.51.100.1/32
	ike=aes128-sha2_256-modp2048
	esp=aes128-sha1
	pfs=no
	auto=add
"#;
    let pluto = Pluto::start(
        &net.b,
        conns,
        "198.18.0.1 198.18.0.2 : PSK \"ikt-interop-psk-1\"\n",
    )
    .unwrap();
    let init = Charon::start(&net.a, &mm_psk(true)).unwrap();
    // main mode only (quick mode would fail at pluto's kernel SA install on this host)
    let t = Instant::now();
    init.initiate_ike("mm-psk").unwrap();
    let took = t.elapsed();
    assert!(init.ike_established("mm-psk").unwrap());
    pluto
        .wait_log("\"mm-psk\" #1: IKE SA established", SECS(5))
        .unwrap();
    let status = pluto.status().unwrap();
    assert!(status.contains("STATE_MAIN_R3"), "{status}");
    eprintln!(
        "timing: charon -> pluto MM {took:?}, total {:?}",
        lab.elapsed()
    );
}

fn ns_exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

#[test]
fn a_panicking_test_leaves_no_namespace_or_process() {
    let Some(lab) = Lab::new("panic") else {
        return;
    };
    let mut names = Vec::new();
    let mut pids = Vec::new();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let net = lab.two_hosts().unwrap();
        names.push(net.a.name().to_string());
        names.push(net.b.name().to_string());
        let charon = Charon::start(&net.b, &mm_psk(false)).unwrap();
        pids.push(charon.pid());
        let cap = Tcpdump::start(&net.a, "eth0", IKE_FILTER).unwrap();
        let _ = cap.path();
        let sleeper = net.a.spawn(&["sleep", "600"]).unwrap();
        pids.push(sleeper.pid());
        // a process the test forgot (no guard at all): the namespace's drop kills it
        let orphan = net
            .a
            .command(&["sleep", "600"])
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        pids.push(orphan.id());
        std::mem::forget(orphan);
        assert!(names.iter().all(|n| ns_exists(n)));
        panic!("deliberate panic inside a lab test");
    }));
    assert!(result.is_err());
    for n in &names {
        assert!(!ns_exists(n), "namespace {n} left behind");
    }
    // no process left (zombies of the forgotten child do not count: nobody waits for it)
    std::thread::sleep(Duration::from_millis(100));
    for pid in &pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        assert!(
            stat.is_empty() || state.starts_with('Z'),
            "process {pid} still running: {stat}"
        );
    }
    let ip = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&ip.stdout);
    assert!(!list.contains(lab.id()), "{list}");
}

#[test]
fn sweep_removes_namespaces_of_dead_runs() {
    let Some(_lab) = Lab::new("sweep") else {
        return;
    };
    // a pid that existed and is gone: a child we ran to completion
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    assert!(!std::path::Path::new(&format!("/proc/{dead}")).exists());
    let stale = format!("ikt-{dead}-0-stale-a");
    let st = std::process::Command::new("ip")
        .args(["netns", "add", &stale])
        .status()
        .unwrap();
    assert!(st.success());
    let dir = std::env::temp_dir().join(format!("ikt-{dead}-0-stale-a-charon-x"));
    std::fs::create_dir_all(&dir).unwrap();
    // (a concurrent test's Lab::new may sweep them first: check the result, not who did it)
    let swept = sweep_stale();
    assert!(!ns_exists(&stale), "{swept:?}");
    assert!(!dir.exists(), "{swept:?}");
}

/// Is `pid` gone (or a zombie: dead, only not reaped yet)?
fn process_gone(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.is_empty()
        || stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
}

/// Helper for `a_killed_test_binary_leaves_no_process_and_the_next_lab_sweeps`: does something
/// only in the test binary that test starts (and kills).
#[test]
#[ignore = "helper, run by a_killed_test_binary_leaves_no_process_and_the_next_lab_sweeps"]
fn helper_lab_then_wait_to_be_killed() {
    if std::env::var_os("IKT_HELPER_KILLED").is_none() {
        return;
    }
    let lab = Lab::new("killed").expect("lab");
    let net = lab.two_hosts().unwrap();
    let charon = Charon::start(&net.b, &mm_psk(false)).unwrap();
    let sleeper = net.a.spawn(&["sleep", "600"]).unwrap();
    println!(
        "READY {} {} {} {}",
        charon.pid(),
        sleeper.pid(),
        net.a.name(),
        net.b.name()
    );
    std::thread::sleep(SECS(60));
}

#[test]
fn a_killed_test_binary_leaves_no_process_and_the_next_lab_sweeps() {
    use std::io::BufRead;
    let Some(_lab) = Lab::new("killed-parent") else {
        return;
    };
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_lab_then_wait_to_be_killed",
            "--ignored",
            "--nocapture",
        ])
        .env("IKT_HELPER_KILLED", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.strip_prefix("READY ") {
                let _ = tx.send(rest.to_string());
                break;
            }
        }
    });
    let ready = rx.recv_timeout(SECS(15));
    // SIGKILL: no destructor runs in the child
    let _ = child.kill();
    let _ = child.wait();
    let ready = ready.expect("helper did not get ready within 15 s");
    let f: Vec<&str> = ready.split_whitespace().collect();
    let pids: Vec<u32> = f[..2].iter().map(|p| p.parse().unwrap()).collect();
    // the death signal took the daemons down with the test binary
    let t = Instant::now();
    while !pids.iter().all(|p| process_gone(*p)) && t.elapsed() < SECS(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in &pids {
        assert!(
            process_gone(*p),
            "process {p} outlived its killed test binary"
        );
    }
    // its namespaces are left (no destructor ran) until a sweep: any Lab::new does one
    let swept = sweep_stale();
    for ns in &f[2..] {
        assert!(!ns_exists(ns), "{ns} not swept: {swept:?}");
    }
}
