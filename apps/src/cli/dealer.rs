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
    /// Most ring elements one tuple request may ask for (all its slots together); a larger
    /// request is refused to its session only.
    #[arg(long, default_value_t = party::dealer::DealerLimits::default().max_request_elements)]
    pub(crate) max_request_elements: u64,
    /// Most ring elements one session may ask for over its whole run.
    #[arg(long, default_value_t = party::dealer::DealerLimits::default().max_session_elements)]
    pub(crate) max_session_elements: u64,
    /// A session none of whose parties is connected is forgotten after this many seconds.
    #[arg(long, default_value_t = party::dealer::DealerLimits::default().session_idle.as_secs())]
    pub(crate) session_idle_s: u64,
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
        max_request_elements,
        max_session_elements,
        session_idle_s,
        net,
    } = args;
    let limits = party::dealer::DealerLimits {
        max_request_elements,
        max_session_elements,
        session_idle: std::time::Duration::from_secs(session_idle_s),
    };
    let env = net.member(cluster, party::wire::DEALER, [0; 16], key, cert, bind);
    party::dealer::serve_with(env.node_config()?, sessions, limits)?;
    Ok(())
}
