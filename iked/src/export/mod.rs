//! `iked profile --user NAME --format F`: what a person imports or types on a device.
//! (Being written.)

use std::process::ExitCode;

use clap::Args;

/// `iked profile`.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The user (`[[user]] name`).
    #[arg(long)]
    pub user: String,
}

/// Write the profile.
pub fn run(args: &ProfileArgs) -> ExitCode {
    eprintln!("iked profile --user {}: not written yet", args.user);
    ExitCode::FAILURE
}
