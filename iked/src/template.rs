//! `iked template NAME`: a commented starting configuration for a common setup, with fresh
//! random secrets. (Being written.)

use std::process::ExitCode;

use clap::Args;

/// `iked template`.
#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// Which setup.
    pub name: String,
}

/// Print the template.
pub fn run(args: &TemplateArgs) -> ExitCode {
    eprintln!("iked template {}: not written yet", args.name);
    ExitCode::FAILURE
}
