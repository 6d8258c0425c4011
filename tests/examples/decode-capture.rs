//! Decodes a captured IKEv1 exchange end to end with `ipsec-core`.
//!
//! ```sh
//! cargo run -p ipsec-tests --example decode-capture                 # the built-in default
//! cargo run -p ipsec-tests --example decode-capture -- PCAP LOG PSK # any capture with its charon log
//! ```
//!
//! Every ISAKMP message is parsed; with the PSK and the Diffie-Hellman secrets that charon
//! logged, the phase-1 keys are derived, the encrypted messages decrypted and their hashes
//! verified, and the ESP keys derived and used to authenticate and decrypt the ESP packets.

use std::process::ExitCode;

use ipsec_core::crypto::Secret;
use ipsec_tests::replay::{Secrets, replay};
use ipsec_tests::{charon_log, pcap, vector};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (pcap_path, log_path, psk) = match args.as_slice() {
        [] => (
            vector("strongswan-mm-psk/kat-mm-qm-psk.pcap"),
            vector("strongswan-mm-psk/kat-charon-a-initiator.log"),
            "ssp-interop-psk-1".to_string(),
        ),
        [p, l, k] => (p.into(), l.into(), k.clone()),
        _ => {
            eprintln!("usage: decode-capture [PCAP CHARON-LOG PSK]");
            return ExitCode::from(2);
        }
    };
    let capture = match pcap::read(&pcap_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", pcap_path.display());
            return ExitCode::FAILURE;
        }
    };
    let log = match charon_log::read(&log_path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{}: {e}", log_path.display());
            return ExitCode::FAILURE;
        }
    };
    let Some(g_xy) = charon_log::first(&log, "shared Diffie Hellman secret") else {
        eprintln!(
            "{}: no 'shared Diffie Hellman secret' dump",
            log_path.display()
        );
        return ExitCode::FAILURE;
    };
    let secrets = Secrets {
        psk: Secret::from(psk.as_str()),
        g_xy: Secret::new(g_xy),
        pfs_g_xy: charon_log::find(&log, "DH secret")
            .into_iter()
            .map(Secret::new)
            .collect(),
    };
    println!("capture {}: {} frames", pcap_path.display(), capture.frames);
    let r = match replay(&capture, &secrets) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("replay failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("\nISAKMP messages:");
    for m in &r.messages {
        println!(
            "  #{:<3} {:<21} {:?} mid={:08x}{} [{}]",
            m.frame,
            m.src.to_string(),
            m.exchange,
            m.message_id,
            if m.encrypted { " (decrypted)" } else { "" },
            m.payloads.join(" ")
        );
    }
    let p1 = &r.phase1;
    let k = &p1.keys;
    println!(
        "\nphase 1 ({:?}): {} / {:?} / DH group {}; HASH_I and HASH_R verified",
        p1.exchange,
        p1.cipher.name(),
        p1.prf,
        p1.group
    );
    let hex = |s: &Secret| hex::encode(s.as_bytes());
    println!("  SKEYID   {}", hex(&k.skeyids.skeyid));
    println!("  SKEYID_d {}", hex(&k.skeyids.skeyid_d));
    println!("  SKEYID_a {}", hex(&k.skeyids.skeyid_a));
    println!("  SKEYID_e {}", hex(&k.skeyids.skeyid_e));
    println!("  Ka       {}", hex(&k.encryption_key));
    println!("  IV       {}", hex::encode(&p1.initial_iv));
    for q in &r.quick_modes {
        println!(
            "\nquick mode mid={:08x}: ESP {} + {}, PFS {:?}, HASH(1..3) verified",
            q.message_id,
            q.transform.encryption.name(),
            q.transform.integrity.name(),
            q.pfs_group
        );
        for (dir, spi, keys) in [
            ("I->R", q.spi_r, &q.keys_i_to_r),
            ("R->I", q.spi_i, &q.keys_r_to_i),
        ] {
            println!(
                "  {dir} SPI {spi:08x}: encryption {} integrity {}",
                hex(&keys.encryption),
                hex(&keys.integrity)
            );
        }
    }
    println!("\nESP packets (ICV verified, decrypted):");
    for p in &r.esp {
        let ip = &p.inner;
        let addr = |o: usize| {
            ip.get(o..o + 4).map_or("?".into(), |a| {
                format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
            })
        };
        println!(
            "  #{:<3} SPI {:08x} seq {:<3} inner IPv{} {} -> {} proto {} ({} bytes)",
            p.frame,
            p.spi,
            p.sequence,
            ip.first().map_or(0, |b| b >> 4),
            addr(12),
            addr(16),
            ip.get(9).copied().unwrap_or(0),
            ip.len()
        );
    }
    println!("\nevery key matches what the peers derived: the capture decrypts and authenticates.");
    ExitCode::SUCCESS
}
