//! `umbra keygen`: keys, certificates and the cluster file.

use std::path::PathBuf;

use anyhow::Result;

// The arguments of `umbra keygen` (the variant in main.rs carries the help text).
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Number of parties.
    #[arg(long)]
    pub(crate) parties: usize,
    /// Also make the dealer's key (it is listed last in --hosts).
    #[arg(long)]
    pub(crate) dealer: bool,
    /// Directory to write into.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Comma-separated `host` or `host:port` per member, parties in order then the dealer
    /// (default: everyone on 127.0.0.1, ports counting up from --port).
    #[arg(long, value_delimiter = ',')]
    pub(crate) hosts: Vec<String>,
    /// Port for hosts given without one.
    #[arg(long, default_value_t = 7100)]
    pub(crate) port: u16,
    /// Replace an existing cluster file and its keys.
    #[arg(long)]
    pub(crate) force: bool,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let Args {
        parties,
        dealer,
        out,
        hosts,
        port,
        force,
    } = args;
    let path = party::keygen::keygen(&party::keygen::KeygenOptions {
        parties,
        dealer,
        hosts,
        base_port: port,
        out: out.clone(),
        force,
    })?;
    println!(
        "wrote {} and a key pair per member in {}",
        path.display(),
        out.display()
    );
    println!(
        "give cluster.toml to every member and each member only its own .key/.crt; \
             start each run with the same fresh `--session` (`umbra session` prints one)"
    );
    Ok(())
}
