//! `iked`: the IKEv1/IPsec concentrator daemon and its CLI.
//!
//! The daemon (UDP sockets, timers, XFRM, control socket) is built on top of the `ipsec-core`
//! engine in a later step; until then this binary only says so, so that nobody mistakes it for
//! a working daemon.

use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--version") {
        println!("iked {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "iked {}: the daemon is not implemented yet; the engine's codec and crypto are.\n\
         Try: cargo run -p ipsec-tests --example decode-capture",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::from(2)
}
