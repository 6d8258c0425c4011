//! `ikeload`: plays many IKEv1 road-warrior clients (PSK + XAuth + mode-config + quick mode)
//! against a concentrator, from many source addresses, at a given rate or as fast as possible,
//! and reports tunnels per second, set-up latency, failures by cause and tunnels held.
//!
//! ```text
//! ip route add local 100.80.0.0/13 dev lo          # in the generator's namespace (AnyIP)
//! ikeload run --server 198.18.0.2 --clients 1000 --rate 0 --dh ecp256 --json out.json
//! ikeload server-config iked --clients 1000 > iked.toml   # the matching server
//! ikeload server-config swanctl > swanctl.conf             # the same for strongSwan
//! ```
//!
//! `scripts/bench-tunnels.sh` runs it against iked and strongSwan charon side by side.

mod fleet;
mod flood;
mod floor;
mod net;
mod profile;
mod report;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use profile::{Dh, Exchange, Profile};

#[derive(Parser)]
#[command(name = "ikeload", about = "IKEv1 road-warrior load generator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Play the clients.
    Run(RunArgs),
    /// Print the server configuration that serves these clients.
    ServerConfig {
        /// iked TOML or strongSwan swanctl.conf.
        kind: ServerKind,
        /// How many clients (iked needs one [[user]] per client).
        #[arg(long, default_value_t = 1)]
        clients: usize,
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Measure the limit the DH arithmetic alone sets: how many responder-side DH
    /// computations (one key pair and one shared secret per tunnel) one core does per second.
    DhLimit {
        /// modp2048 or ecp256.
        #[arg(long, default_value = "ecp256")]
        dh: Dh,
        /// How long to measure.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// Answer `udp-floor`'s datagrams and nothing else (the responder half of the UDP floor).
    UdpEcho {
        /// The port to answer on.
        #[arg(long, default_value_t = 500)]
        port: u16,
        /// Read and answer with recvmmsg/sendmmsg, up to 64 datagrams per call.
        #[arg(long)]
        batched: bool,
    },
    /// Send the datagrams of road-warrior set-ups to `udp-echo`, as `run` would to a
    /// concentrator: the floor the kernel's UDP path sets (the echo's CPU time per tunnel).
    UdpFloor {
        /// Where `udp-echo` listens.
        #[arg(long, default_value = "198.18.0.2")]
        server: Ipv4Addr,
        /// How many tunnels.
        #[arg(long, default_value_t = 100_000)]
        tunnels: u32,
        /// The first tunnel's source address (the namespace must route the range to itself).
        #[arg(long, default_value = "100.80.0.1")]
        first_address: Ipv4Addr,
        /// Most tunnels in progress at once.
        #[arg(long, default_value_t = 256)]
        max_in_flight: u32,
        /// Seconds the run may last at most.
        #[arg(long, default_value_t = 120)]
        limit: u64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ServerKind {
    Iked,
    Swanctl,
}

#[derive(Args)]
struct ProfileArgs {
    /// The concentrator's address.
    #[arg(long, default_value = "198.18.0.2")]
    server: Ipv4Addr,
    /// Phase 1 exchange: aggressive or main.
    #[arg(long, default_value = "aggressive")]
    exchange: Exchange,
    /// Phase 1 DH group: modp2048 or ecp256.
    #[arg(long, default_value = "ecp256")]
    dh: Dh,
    /// Group pre-shared key.
    #[arg(long, default_value = "ikeload group secret")]
    psk: String,
    /// Every user's XAuth password (users are user0, user1, ...).
    #[arg(long, default_value = "ikeload password")]
    password: String,
    /// Client DPD interval in seconds (0: off; needed to notice a restarted server).
    #[arg(long, default_value_t = 0)]
    client_dpd: u32,
    /// Server DPD interval in seconds (0: off).
    #[arg(long, default_value_t = 0)]
    server_dpd: u32,
}

impl ProfileArgs {
    fn profile(&self) -> Profile {
        Profile {
            server: self.server,
            exchange: self.exchange,
            dh: self.dh,
            psk: self.psk.clone(),
            password: self.password.clone(),
            client_dpd: self.client_dpd,
            server_dpd: self.server_dpd,
        }
    }
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    profile: ProfileArgs,
    /// How many clients.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// The first client's source address (the namespace must route the range to itself).
    #[arg(long, default_value = "100.80.0.1")]
    first_address: Ipv4Addr,
    /// New clients per second; 0: as fast as --max-in-flight allows.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Most clients negotiating at once.
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// Seconds before an attempt counts as failed.
    #[arg(long, default_value_t = 60)]
    attempt_timeout: u64,
    /// Seconds the set-up phase may last at most.
    #[arg(long, default_value_t = 600)]
    setup_limit: u64,
    /// Seconds to hold the tunnels after the set-up phase.
    #[arg(long, default_value_t = 0)]
    hold: u64,
    /// Start again after a failed attempt or a lost tunnel (1-3 s later).
    #[arg(long)]
    reconnect: bool,
    /// Do not claim a NAT (raw ESP instead of ESP in UDP; IKE stays on port 500).
    #[arg(long)]
    no_nat: bool,
    /// Leave the tunnels at the end instead of deleting them.
    #[arg(long)]
    leave: bool,
    /// Write the report (JSON) here when the set-up phase ends, before holding.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Write the final report (JSON) here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Spoofed phase 1 first messages per second (0: no flood).
    #[arg(long, default_value_t = 0.0)]
    flood_rate: f64,
    /// First spoofed source address.
    #[arg(long, default_value = "100.88.0.1")]
    flood_first: Ipv4Addr,
    /// How many spoofed source addresses.
    #[arg(long, default_value_t = 65_000)]
    flood_sources: u32,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::ServerConfig {
            kind,
            clients,
            profile,
        } => {
            let p = profile.profile();
            match kind {
                ServerKind::Iked => print!("{}", p.iked_server(clients)),
                ServerKind::Swanctl => print!("{}", p.swanctl()),
            }
            Ok(())
        }
        Command::Run(args) => run(args),
        Command::DhLimit { dh, seconds } => dh_limit(dh, seconds),
        Command::UdpEcho { port, batched } => floor::echo(port, batched),
        Command::UdpFloor {
            server,
            tunnels,
            first_address,
            max_in_flight,
            limit,
        } => floor::run(&floor::Options {
            server: SocketAddr::from((server, 500)),
            tunnels,
            first_address,
            max_in_flight: max_in_flight.max(1),
            limit: Duration::from_secs(limit),
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ikeload: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> Result<(), String> {
    let profile = args.profile.profile();
    let flood = if args.flood_rate > 0.0 {
        Some(flood::Flood::new(
            &profile.client_template()?,
            args.flood_rate,
            args.flood_first,
            args.flood_sources,
        )?)
    } else {
        None
    };
    let options = fleet::Options {
        clients: args.clients,
        first_address: args.first_address,
        rate: args.rate,
        max_in_flight: args.max_in_flight.max(1),
        attempt_timeout: Duration::from_secs(args.attempt_timeout),
        setup_limit: Duration::from_secs(args.setup_limit),
        hold: Duration::from_secs(args.hold),
        reconnect: args.reconnect,
        nat: !args.no_nat,
        delete_at_end: !args.leave,
        ready_file: args.ready_file,
    };
    let report = fleet::Fleet::new(options, profile)?.run(flood)?;
    println!("{report}");
    if let Some(path) = args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Prints tunnels per second that one core's DH arithmetic allows (a responder makes one key
/// pair and one shared secret per tunnel; PFS is off in the profile).
fn dh_limit(dh: Dh, seconds: f64) -> Result<(), String> {
    use ipsec_core::crypto::dh::{DhGroup, KeyPair};
    let group = match dh {
        Dh::Modp2048 => DhGroup::Modp2048,
        Dh::Ecp256 => DhGroup::Ecp256,
    };
    let rng = ring::rand::SystemRandom::new();
    let peer = KeyPair::generate(group, &rng).map_err(|e| e.to_string())?;
    let peer_public = peer.public().to_vec();
    let start = std::time::Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        let ours = KeyPair::generate(group, &rng).map_err(|e| e.to_string())?;
        group
            .check_public(&peer_public)
            .map_err(|e| e.to_string())?;
        ours.agree(&peer_public).map_err(|e| e.to_string())?;
        n += 1;
    }
    let per_second = n as f64 / start.elapsed().as_secs_f64();
    println!(
        "{{\"dh\": \"{dh}\", \"tunnels_per_second\": {per_second:.1}, \"us_per_tunnel\": {:.1}}}",
        1e6 / per_second
    );
    Ok(())
}
