//! `umbra attest verify`: check a dealer's evidence offline against a cluster file's policy,
//! printing every check.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use party::attest::{Appraisal, Evidence, TeeKind, appraise, appraise_certificate};

#[derive(clap::Subcommand)]
pub(crate) enum Attest {
    /// Check evidence against the dealer policy of a cluster file and print every check.
    ///
    /// EVIDENCE is the dealer's certificate (PEM or DER, from `umbra dealer --print-evidence
    /// --evidence-out`), umbra's evidence blob, or a bare quote (TDX/SGX) or SNP report
    /// (with --vcek). Exits non-zero if any check fails.
    Verify {
        /// The cluster file whose `[dealer.attest]` policy to check against.
        #[arg(long)]
        cluster: PathBuf,
        /// The evidence file.
        evidence: PathBuf,
        /// Check the collateral at this time (Unix seconds) instead of now.
        #[arg(long)]
        at: Option<u64>,
        /// A bare SEV-SNP report's VCEK certificate (DER or PEM).
        #[arg(long)]
        vcek: Option<PathBuf>,
    },
}

pub(crate) fn run(cmd: Attest) -> Result<()> {
    let Attest::Verify {
        cluster,
        evidence,
        at,
        vcek,
    } = cmd;
    let c = party::Cluster::load(&cluster)?;
    let Some(policy) = c.dealer.as_ref().and_then(|d| d.policy()) else {
        bail!(
            "{} has no [dealer.attest] policy (its dealer, if any, is pinned by fingerprint)",
            cluster.display()
        );
    };
    let bytes =
        std::fs::read(&evidence).with_context(|| format!("reading {}", evidence.display()))?;
    let now = match at {
        Some(t) => t,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("the clock is before 1970")?
            .as_secs(),
    };
    let (what, appraisal): (&str, Appraisal) = if bytes.starts_with(b"-----BEGIN CERTIFICATE") {
        let p = pem::parse(&bytes).context("the PEM certificate")?;
        (
            "certificate",
            appraise_certificate(p.contents(), policy, now),
        )
    } else if bytes.first() == Some(&0x30) {
        ("certificate", appraise_certificate(&bytes, policy, now))
    } else if bytes.starts_with(b"UMBRAEV1") {
        let e = Evidence::decode(&bytes).map_err(anyhow::Error::msg)?;
        ("evidence", appraise(&e, None, policy, now))
    } else {
        let e = match policy.tee {
            TeeKind::Tdx => Evidence::Tdx { quote: bytes },
            TeeKind::Sgx => Evidence::Sgx { quote: bytes },
            TeeKind::Snp => {
                let Some(v) = vcek else {
                    bail!("a bare SEV-SNP report needs its VCEK: pass --vcek FILE");
                };
                let v = std::fs::read(&v).with_context(|| format!("reading {}", v.display()))?;
                let vcek = if v.starts_with(b"-----BEGIN") {
                    pem::parse(&v).context("the PEM VCEK")?.into_contents()
                } else {
                    v
                };
                Evidence::Snp {
                    report: bytes,
                    vcek,
                }
            }
            TeeKind::InsecureTestOnly => {
                bail!("test-only evidence travels in a certificate or an UMBRAEV1 blob")
            }
        };
        ("bare evidence", appraise(&e, None, policy, now))
    };
    println!(
        "{} ({what}) against the {} policy of {}, at Unix time {now}:",
        evidence.display(),
        policy.tee,
        cluster.display()
    );
    print!("{appraisal}");
    let elapsed = appraisal.elapsed;
    match appraisal.into_result() {
        Ok(v) => {
            println!("accepted: {v}");
            Ok(())
        }
        Err(r) => bail!("{r} (checked in {:.1} ms)", elapsed.as_secs_f64() * 1e3),
    }
}
