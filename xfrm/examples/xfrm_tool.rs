//! Looks at the kernel's XFRM state the way the daemon sees it (run as root):
//!
//! ```text
//! cargo run -p xfrm --example xfrm_tool -- sas           # SAs, with counters; * = the daemon's
//! cargo run -p xfrm --example xfrm_tool -- policies      # policies; * = the daemon's
//! cargo run -p xfrm --example xfrm_tool -- monitor [S]   # ACQUIRE/EXPIRE/MAPPING events for S s
//! cargo run -p xfrm --example xfrm_tool -- flush-owned   # remove what the daemon installed
//! ```
//!
//! "The daemon's" means tagged with the default [`Owner`].

use std::time::Duration;

use xfrm::{Event, Group, Monitor, Owner, Xfrm};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let x = Xfrm::new(Owner::default())?;
    let mark = |ours: bool| if ours { '*' } else { ' ' };
    match args.first().map(String::as_str) {
        Some("sas") => {
            for sa in x.dump_sas().await? {
                let c = &sa.counters;
                println!(
                    "{} {} reqid {:#x} {:?} {} {} {}{} bytes {} packets {} replay-drops {} icv-fail {}",
                    mark(x.owns_sa(&sa)),
                    sa.id,
                    sa.reqid,
                    sa.mode,
                    sa.algorithms
                        .encryption
                        .map_or("?".to_string(), |e| e.to_string()),
                    sa.algorithms
                        .integrity
                        .map_or("?".to_string(), |i| i.to_string()),
                    if sa.larval { "(larval) " } else { "" },
                    sa.encap
                        .map_or(String::new(), |e| format!("udp {}->{} ", e.sport, e.dport)),
                    c.current.bytes,
                    c.current.packets,
                    c.replay_drops + c.replay_window_drops,
                    c.integrity_failures,
                );
            }
        }
        Some("policies") => {
            for p in x.dump_policies().await? {
                println!(
                    "{} {:?} {} {:?} priority {} index {:#x} templates {:?}",
                    mark(x.owns_policy(&p)),
                    p.dir,
                    p.selector,
                    p.action,
                    p.priority,
                    p.index,
                    p.templates
                );
            }
        }
        Some("monitor") => {
            let secs = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
            let mut m = Monitor::new(&[Group::Acquire, Group::Expire, Group::Mapping])?;
            let deadline = tokio::time::sleep(Duration::from_secs(secs));
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    ev = m.next() => match ev? {
                        Event::Acquire(a) => println!(
                            "ACQUIRE {} -> {} {:?} for {} (policy {:#x})",
                            a.src, a.dst, a.proto, a.selector, a.policy.index
                        ),
                        Event::Expire(e) => println!(
                            "EXPIRE {} {} reqid {:#x} after {} bytes",
                            if e.hard { "hard" } else { "soft" },
                            e.sa.id,
                            e.sa.reqid,
                            e.sa.counters.current.bytes
                        ),
                        other => println!("{other:?}"),
                    },
                    _ = &mut deadline => break,
                }
            }
        }
        Some("flush-owned") => {
            let r = x.flush_owned().await?;
            println!("removed {} SAs, {} policies", r.sas, r.policies);
        }
        _ => {
            eprintln!("usage: xfrm_tool sas | policies | monitor [SECONDS] | flush-owned");
            std::process::exit(2);
        }
    }
    Ok(())
}
