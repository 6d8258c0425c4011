//! The command line: one binary, `iked`, with the daemon (`run`), the configuration check
//! (`check-config`) and the control-socket client commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// IKEv1/IPsec concentrator daemon and its control client.
#[derive(Debug, Parser)]
#[command(name = "iked", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground (it never forks; systemd or another supervisor keeps
    /// it running).
    Run(RunArgs),
    /// Check a configuration file: print every error (file:line: object: key: expected ...)
    /// and warning; exit 1 if there are errors.
    CheckConfig(CheckArgs),
    /// Remote peers: phase 1 SAs with their addresses, side, state and established time.
    Status(ClientArgs),
    /// Installed SAs: algorithms, SPIs, addresses, byte counters, state, lifetimes.
    Sas(ClientArgs),
    /// Installed policies and their ph2-state.
    Policies(ClientArgs),
    /// Statistics: the kernel's XFRM error counters and the engine's counters.
    Stats(ClientArgs),
    /// Bring up the connection of the peer called NAME (phase 1 and its policies).
    Up(NamedArgs),
    /// Close every SA with the peer called NAME.
    Down(NamedArgs),
    /// Close every connection: all phase 2 SAs and phase 1 SAs.
    KillConnections(ClientArgs),
    /// Delete installed SAs of one type (default all); they are renegotiated on demand.
    Flush(FlushArgs),
    /// Show a site-to-site tunnel at work: two namespaces, two iked, a ping through the
    /// tunnel, `iked status` and `iked sas`; everything is removed afterwards (also on
    /// Ctrl-C). Needs root.
    Demo,
    /// Print a commented starting configuration (with fresh random secrets) for a common
    /// setup: site-to-site, road warriors, L2TP/IPsec, mobile units.
    Template(crate::template::TemplateArgs),
    /// Write what a user imports or types on a device to reach this server: an Apple
    /// .mobileconfig, a Windows PowerShell script, or the fields of Android's VPN screen.
    Profile(crate::export::ProfileArgs),
}

/// `iked run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configuration file (TOML).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: PathBuf,
    /// Stay in the foreground. iked always does; the flag is accepted so that service files
    /// and scripts can say so explicitly.
    #[arg(long)]
    pub foreground: bool,
    /// Log level, overriding `[daemon] log-level`.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub log_level: Option<LogLevelArg>,
    /// Control socket path, overriding `[daemon] control-socket`.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// `iked check-config`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Configuration file (TOML).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: PathBuf,
}

/// Options of every client command.
#[derive(Debug, Args, Clone)]
pub struct ClientArgs {
    /// Control socket of the running daemon (default: `[daemon] control-socket` of the file
    /// given with -c, else the built-in default).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Read the control socket path from this configuration file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the daemon's answer as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for the daemon's answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
}

/// A client command about one peer.
#[derive(Debug, Args)]
pub struct NamedArgs {
    /// Peer name (`[[peer]] name`).
    pub name: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `iked flush`.
#[derive(Debug, Args)]
pub struct FlushArgs {
    /// SA type to flush.
    #[arg(value_enum, default_value_t = FlushWhat::All)]
    pub what: FlushWhat,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `iked flush ah|esp|all` (the manual's `sa-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlushWhat {
    /// AH SAs only.
    Ah,
    /// ESP SAs only.
    Esp,
    /// Both.
    All,
}

/// `--log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevelArg {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Normal operation.
    Info,
    /// Protocol detail.
    Debug,
    /// Everything.
    Trace,
}
