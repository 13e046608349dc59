//! `umbra party`: run a program as one party of a multi-host session.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::net::NetArgs;

// The arguments of `umbra party` (the variant in main.rs carries the help text).
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The cluster file (from `umbra keygen`).
    #[arg(long, alias = "config")]
    pub(crate) cluster: PathBuf,
    /// This party's index.
    #[arg(long)]
    pub(crate) id: u16,
    /// Session id, 32 hex digits, the same on every party (`umbra session` makes one).
    #[arg(long, env = "UMBRA_SESSION")]
    pub(crate) session: String,
    /// Private key (default: party-ID.key beside the cluster file).
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    /// Certificate (default: party-ID.crt beside the cluster file).
    #[arg(long)]
    pub(crate) cert: Option<PathBuf>,
    /// Listen on this address instead of the cluster file's (e.g. 0.0.0.0:7100).
    #[arg(long)]
    pub(crate) bind: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub(crate) net: NetArgs,
    /// The program and its arguments, after `--`.
    #[arg(last = true, required = true)]
    pub(crate) program: Vec<String>,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let Args {
        cluster,
        id,
        session,
        key,
        cert,
        bind,
        net,
        program,
    } = args;
    let session =
        party::wire::unhex::<16>(&session).map_err(|e| anyhow::anyhow!("--session: {e}"))?;
    let env = net.member(cluster, id, session, key, cert, bind);
    // Fail here, with the reason, rather than in the program.
    env.node_config()?;
    let status = std::process::Command::new(&program[0])
        .args(&program[1..])
        .envs(env.to_env())
        .status()
        .with_context(|| format!("starting {}", program[0]))?;
    std::process::exit(exit_code(status))
}

/// A child's exit status as this process's exit code: its own code, or 128 + the signal
/// that killed it (the shell's convention).
fn exit_code(status: std::process::ExitStatus) -> i32 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return 128 + sig;
        }
    }
    status.code().unwrap_or(1)
}
