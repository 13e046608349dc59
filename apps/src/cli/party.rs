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
    if id == party::wire::DEALER {
        anyhow::bail!(
            "--id {id} is the dealer's id; a party's id is its index in the cluster file (0, 1, ...)"
        );
    }
    let session =
        party::wire::unhex::<16>(&session).map_err(|e| anyhow::anyhow!("--session: {e}"))?;
    let env = net.member(cluster, id, session, key, cert, bind);
    // Fail here, with the reason, rather than in the program.
    env.node_config()?;
    // Termination signals go to the program, which then ends the session cleanly (its peers
    // see an abort, not a silent link); this process exits with its status.
    let signals = party::signals::Signals::catch()?;
    let mut child = std::process::Command::new(&program[0])
        .args(&program[1..])
        .envs(env.to_env())
        .env(
            party::signals::SUPERVISOR_ENV,
            std::process::id().to_string(),
        )
        .spawn()
        .with_context(|| format!("starting {}", program[0]))?;
    let mut forwarded = None;
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for the program")? {
            break status;
        }
        if let Some(sig) = signals.received()
            && forwarded != Some(sig)
        {
            party::signals::forward(&child, sig)?;
            forwarded = Some(sig);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
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
