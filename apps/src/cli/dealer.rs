//! `umbra dealer`: serve correlated randomness to a cluster's parties.

use std::path::PathBuf;

use anyhow::Result;

use super::net::NetArgs;

// The arguments of `umbra dealer` (the variant in main.rs carries the help text).
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The cluster file (from `umbra keygen --dealer`).
    #[arg(long, alias = "config")]
    pub(crate) cluster: PathBuf,
    /// Private key (default: dealer.key beside the cluster file).
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    /// Certificate (default: dealer.crt beside the cluster file).
    #[arg(long)]
    pub(crate) cert: Option<PathBuf>,
    /// Exit after this many sessions have ended (default: serve forever).
    #[arg(long)]
    pub(crate) sessions: Option<usize>,
    /// Listen on this address instead of the cluster file's.
    #[arg(long)]
    pub(crate) bind: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub(crate) net: NetArgs,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let Args {
        cluster,
        key,
        cert,
        sessions,
        bind,
        net,
    } = args;
    let env = net.member(cluster, party::wire::DEALER, [0; 16], key, cert, bind);
    party::dealer::serve(env.node_config()?, sessions)?;
    Ok(())
}
