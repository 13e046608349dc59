//! `umbra dealer`: serve correlated randomness to a cluster's parties, with a pinned key or,
//! inside a TEE, with a fresh key and evidence that binds it (`--attest`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use party::attest::{ProduceOptions, TeeKind};

use super::net::NetArgs;

// The arguments of `umbra dealer` (the variant in main.rs carries the help text).
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The cluster file (from `umbra keygen --dealer` or `--dealer-attest`).
    #[arg(long, alias = "config", required_unless_present = "print_evidence")]
    pub(crate) cluster: Option<PathBuf>,
    /// Private key (default: dealer.key beside the cluster file; not with --attest).
    #[arg(long, conflicts_with = "attest")]
    pub(crate) key: Option<PathBuf>,
    /// Certificate (default: dealer.crt beside the cluster file; not with --attest).
    #[arg(long, conflicts_with = "attest")]
    pub(crate) cert: Option<PathBuf>,
    /// Run attested: make the TLS key inside this TEE (`tdx`, `snp`, `sgx`) and put the
    /// platform's evidence binding it into the certificate. Fails at start when the TEE's
    /// interface is not there. `insecure-test-only` makes unsigned evidence for tests.
    #[arg(long)]
    pub(crate) attest: Option<TeeKind>,
    /// With --attest: print this dealer's evidence (TEE, measurement to pin) and exit.
    #[arg(long, requires = "attest")]
    pub(crate) print_evidence: bool,
    /// With --print-evidence: also write the attested certificate (PEM) here, for
    /// `umbra attest verify`.
    #[arg(long, requires = "print_evidence")]
    pub(crate) evidence_out: Option<PathBuf>,
    /// SEV-SNP: the chip's VCEK certificate, when the host's certificate table lacks it.
    #[arg(long)]
    pub(crate) vcek: Option<PathBuf>,
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
        attest,
        print_evidence,
        evidence_out,
        vcek,
        sessions,
        bind,
        max_request_elements,
        max_session_elements,
        session_idle_s,
        net,
    } = args;
    let produce = ProduceOptions {
        vcek,
        ..ProduceOptions::default()
    };
    let attested = match attest {
        Some(kind) => Some(party::attest::attested_identity(kind, &produce)?),
        None => None,
    };
    if print_evidence {
        let (identity, evidence) = attested.expect("--print-evidence requires --attest");
        println!(
            "dealer evidence: {} ({} bytes in the certificate extension)",
            evidence.kind().label(),
            evidence.encode().len()
        );
        println!("pin it in the cluster file:\n\n[dealer.attest]");
        println!("tee = \"{}\"", evidence.kind());
        for line in evidence.policy_lines() {
            println!("{line}");
        }
        if let Some(out) = evidence_out {
            std::fs::write(&out, identity.cert_pem())
                .with_context(|| format!("writing {}", out.display()))?;
            println!("\nwrote the attested certificate to {}", out.display());
        }
        return Ok(());
    }
    let cluster = cluster.expect("clap requires --cluster");
    let limits = party::dealer::DealerLimits {
        max_request_elements,
        max_session_elements,
        session_idle: std::time::Duration::from_secs(session_idle_s),
    };
    let env = net.member(cluster, party::wire::DEALER, [0; 16], key, cert, bind);
    let cfg = match attested {
        None => env.node_config()?,
        Some((identity, evidence)) => {
            let c = party::Cluster::load(&env.cluster)?;
            let Some(policy) = c.dealer.as_ref().and_then(|d| d.policy()) else {
                bail!(
                    "--attest: {} pins the dealer's certificate by fingerprint; an attested dealer \
                     needs a [dealer.attest] policy (umbra keygen --dealer-attest)",
                    env.cluster.display()
                );
            };
            eprintln!(
                "umbra dealer: attested as {} ({}); the cluster file asks for {}",
                evidence.kind().label(),
                evidence.policy_lines().join(", "),
                policy.tee
            );
            party::NodeConfig {
                cluster: c,
                me: party::wire::DEALER,
                identity,
                session: [0; 16],
                transport: env.transport,
                timeouts: env.timeouts,
                bind: env.bind,
            }
        }
    };
    party::dealer::serve_with(cfg, sessions, limits)?;
    Ok(())
}
