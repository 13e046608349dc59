//! `umbra launch`: run a program as N local parties (torchrun-style).

use anyhow::Result;

use super::net::NetArgs;

// The arguments of `umbra launch` (the variant in main.rs carries the help text).
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Number of parties.
    #[arg(long, default_value_t = 2)]
    pub(crate) parties: usize,
    /// Start a dealer (needed by anything that multiplies or compares).
    #[arg(long)]
    pub(crate) dealer: bool,
    #[command(flatten)]
    pub(crate) net: NetArgs,
    /// The program and its arguments, after `--`.
    #[arg(last = true, required = true)]
    pub(crate) program: Vec<String>,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let Args {
        parties,
        dealer,
        net,
        program,
    } = args;
    let code = party::launch::launch(&party::launch::LaunchOptions {
        parties,
        dealer,
        program,
        transport: net.transport(),
        timeouts: net.timeouts(),
        umbra_exe: party::launch::current_exe()?,
        prefix: true,
    })?;
    std::process::exit(code)
}
