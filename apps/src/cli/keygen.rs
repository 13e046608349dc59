//! `umbra keygen`: keys, certificates and the cluster file.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use party::attest::{PolicyFile, TeeKind};

// The arguments of `umbra keygen` (the variant in main.rs carries the help text).
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Number of parties.
    #[arg(long)]
    pub(crate) parties: usize,
    /// Also make the dealer's key (it is listed last in --hosts).
    #[arg(long)]
    pub(crate) dealer: bool,
    /// An attested dealer in this TEE (`tdx`, `snp`, `sgx`): no key is made for it (it makes
    /// its own inside the TEE); the cluster file pins its measurement instead.
    #[arg(long, conflicts_with = "dealer")]
    pub(crate) dealer_attest: Option<TeeKind>,
    /// With --dealer-attest: the measurement to pin, hex: MRTD (tdx), the launch
    /// measurement (snp), MRENCLAVE (sgx), the executable's SHA-256 (insecure-test-only).
    /// `umbra dealer --attest KIND --print-evidence` prints it.
    #[arg(long, requires = "dealer_attest")]
    pub(crate) measurement: Option<String>,
    /// TDX: an RTMR to pin, as `INDEX=HEX` (repeat the flag). RTMR1 and RTMR2 (kernel,
    /// initrd, command line) are required; RTMR0 (firmware configuration) and RTMR3
    /// (extended by the guest at run time) are optional.
    #[arg(long, requires = "dealer_attest")]
    pub(crate) rtmr: Vec<String>,
    /// SEV-SNP: the lowest reported TCB accepted, `BOOTLOADER,TEE,SNP,MICROCODE`.
    #[arg(long, requires = "dealer_attest", value_delimiter = ',', num_args = 4)]
    pub(crate) min_tcb: Vec<u8>,
    /// SEV-SNP: the VMPL the report must come from (default 0).
    #[arg(long, requires = "dealer_attest")]
    pub(crate) vmpl: Option<u32>,
    /// SGX: MRSIGNER to pin (with --isv-prod-id; instead of or besides --measurement).
    #[arg(long, requires = "dealer_attest")]
    pub(crate) mrsigner: Option<String>,
    /// SGX: the enclave's product id.
    #[arg(long, requires = "dealer_attest")]
    pub(crate) isv_prod_id: Option<u16>,
    /// SGX: the lowest security version accepted.
    #[arg(long, requires = "dealer_attest")]
    pub(crate) min_isv_svn: Option<u16>,
    /// TDX/SGX: a TCB status to accept (repeat the flag; default UpToDate only).
    #[arg(long, requires = "dealer_attest")]
    pub(crate) tcb_status: Vec<String>,
    /// TDX/SGX: Intel's collateral (JSON) for the dealer's platform; it is copied beside
    /// the cluster file as dealer-collateral.json.
    #[arg(long, requires = "dealer_attest")]
    pub(crate) collateral: Option<PathBuf>,
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
    let dealer_attest = match args.dealer_attest {
        None => None,
        Some(kind) => Some(policy(&args, kind)?),
    };
    let Args {
        parties,
        dealer,
        out,
        hosts,
        port,
        force,
        ..
    } = args;
    let path = party::keygen::keygen(&party::keygen::KeygenOptions {
        parties,
        dealer,
        dealer_attest,
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

/// The `[dealer.attest]` policy the flags describe (checked again, with the collateral, by
/// keygen itself).
fn policy(a: &Args, kind: TeeKind) -> Result<PolicyFile> {
    let misplaced = [
        ("--rtmr", !a.rtmr.is_empty(), TeeKind::Tdx),
        ("--min-tcb", !a.min_tcb.is_empty(), TeeKind::Snp),
        ("--vmpl", a.vmpl.is_some(), TeeKind::Snp),
        ("--mrsigner", a.mrsigner.is_some(), TeeKind::Sgx),
        ("--isv-prod-id", a.isv_prod_id.is_some(), TeeKind::Sgx),
        ("--min-isv-svn", a.min_isv_svn.is_some(), TeeKind::Sgx),
    ];
    if let Some((flag, _, only)) = misplaced
        .iter()
        .find(|(_, given, only)| *given && *only != kind)
    {
        bail!("{flag} applies to a {only} dealer, not {kind}");
    }
    let mut p = PolicyFile {
        tee: kind.name().into(),
        ..PolicyFile::default()
    };
    match kind {
        TeeKind::Tdx => {
            p.mrtd = a.measurement.clone();
            for arg in &a.rtmr {
                let (slot, value) = match arg.split_once('=') {
                    Some(("0", v)) => (&mut p.rtmr0, v),
                    Some(("1", v)) => (&mut p.rtmr1, v),
                    Some(("2", v)) => (&mut p.rtmr2, v),
                    Some(("3", v)) => (&mut p.rtmr3, v),
                    _ => bail!(
                        "--rtmr {arg}: write INDEX=HEX with INDEX 0 to 3, e.g. --rtmr 1=0084…"
                    ),
                };
                if slot.replace(value.to_string()).is_some() {
                    bail!("--rtmr {arg}: that RTMR is already given");
                }
            }
        }
        TeeKind::Sgx => {
            p.mrenclave = a.measurement.clone();
            p.mrsigner = a.mrsigner.clone();
            p.isv_prod_id = a.isv_prod_id;
            p.min_isv_svn = a.min_isv_svn;
        }
        TeeKind::Snp => {
            p.measurement = a.measurement.clone();
            if !a.min_tcb.is_empty() {
                p.min_tcb = Some(
                    a.min_tcb[..]
                        .try_into()
                        .context("--min-tcb takes four numbers: BOOTLOADER,TEE,SNP,MICROCODE")?,
                );
            }
            p.vmpl = a.vmpl;
        }
        TeeKind::InsecureTestOnly => p.measurement = a.measurement.clone(),
    }
    if !a.tcb_status.is_empty() {
        p.tcb_statuses = Some(a.tcb_status.clone());
    }
    if let Some(src) = &a.collateral {
        std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
        let dst = a.out.join("dealer-collateral.json");
        std::fs::copy(src, &dst).with_context(|| {
            format!(
                "copying the collateral {} to {}",
                src.display(),
                dst.display()
            )
        })?;
        p.collateral = Some("dealer-collateral.json".into());
    }
    Ok(p)
}
