//! `iked`: the IKEv1/IPsec concentrator daemon and its CLI.
//!
//! - `iked run -c FILE`: the daemon ([`daemon`]): UDP 500/4500, the kernel dataplane
//!   ([`kernel`]), the IKE engine behind [`driver`], the control socket ([`control`]).
//! - `iked check-config -c FILE`: every error with file, line, object and key.
//! - `iked demo`: two namespaces, two daemons, a tunnel, a ping ([`demo`]).
//! - `iked template NAME`: a starting configuration ([`template`]).
//! - `iked profile --user NAME`: a client profile for a device ([`export`]).
//! - `iked status|sas|policies|stats|up|down|kill-connections|flush`: clients of the control
//!   socket, with a table or `--json`.

mod aaa;
mod cli;
mod config;
mod control;
mod daemon;
mod demo;
mod driver;
mod export;
mod kernel;
mod logging;
mod notify;
mod table;
mod template;
mod udp;
mod userspace;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use cli::{Cli, ClientArgs, Command};

use control::Request;

/// mimalloc instead of glibc's malloc: a concentrator holds a few dozen small records per
/// tunnel, allocated between the short-lived buffers of thousands of concurrent set-ups.
/// glibc's per-chunk headers and the holes those buffers leave cost 1.3 KB per tunnel at
/// 100,000 tunnels (3976 against 2646 bytes resident per tunnel, `scripts/bench-tunnels.sh`,
/// ecp256, 2026-12-06), and its malloc/free were a tenth of the set-up CPU time.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => daemon::run(args),
        Command::Demo => demo::run(),
        Command::Template(args) => template::run(&args),
        Command::Profile(args) => export::run(&args),
        Command::CheckConfig(args) => check_config(&args.config),
        Command::Status(c) => client(&c, Request::Status),
        Command::Sas(c) => client(&c, Request::Sas),
        Command::Policies(c) => client(&c, Request::Policies),
        Command::Stats(c) => client(&c, Request::Stats),
        Command::Up(a) => client(&a.client, Request::Up { name: a.name }),
        Command::Down(a) => client(&a.client, Request::Down { name: a.name }),
        Command::KillConnections(c) => client(&c, Request::KillConnections),
        Command::Flush(a) => client(&a.client, Request::Flush { what: a.what }),
    }
}

fn check_config(path: &std::path::Path) -> ExitCode {
    match config::load(path) {
        Ok(config::Loaded { snapshot, .. }) => {
            for w in snapshot.warnings() {
                eprintln!("{w}");
            }
            println!(
                "{}: ok ({} peers, {} policies, {} warnings)",
                path.display(),
                snapshot.peers().len(),
                snapshot.policies().count(),
                snapshot.warnings().len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            for line in e.lines() {
                eprintln!("{line}");
            }
            ExitCode::FAILURE
        }
    }
}

fn client(args: &ClientArgs, req: Request) -> ExitCode {
    let path = match config::client_socket(args.socket.as_deref(), args.config.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            for line in e.lines() {
                eprintln!("{line}");
            }
            return ExitCode::FAILURE;
        }
    };
    control::client::run(&path, &req, args.json, Duration::from_secs(args.timeout))
}
