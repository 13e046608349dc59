//! `umbra launch`: run a program as N local parties (torchrun-style).

use anyhow::Result;
use party::attest::TeeKind;

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
    /// Run the dealer attested. Only `insecure-test-only` runs on this machine (unsigned
    /// evidence, for trying the attested path where there is no TEE); a real TEE dealer
    /// runs as `umbra dealer --attest` inside its confidential VM or enclave.
    #[arg(long, requires = "dealer")]
    pub(crate) attest: Option<TeeKind>,
    /// With --attest: pin this measurement (64 hex digits) instead of the dealer's own, to
    /// see every party refuse a dealer whose measurement differs.
    #[arg(long, requires = "attest")]
    pub(crate) expect_measurement: Option<String>,
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
        attest,
        expect_measurement,
        net,
        program,
    } = args;
    let attest_test = match attest {
        None => None,
        Some(TeeKind::InsecureTestOnly) => Some(
            expect_measurement
                .map(|m| party::wire::unhex::<32>(&m))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--expect-measurement: {e}"))?,
        ),
        Some(kind) => anyhow::bail!(
            "--attest {kind}: the launcher runs the dealer on this machine, which is not a {}; \
             run `umbra dealer --attest {kind}` inside the TEE and `umbra party` on each host \
             (README: the attested dealer)",
            kind.label()
        ),
    };
    let code = party::launch::launch(&party::launch::LaunchOptions {
        parties,
        dealer,
        program,
        transport: net.transport(),
        timeouts: net.timeouts(),
        umbra_exe: party::launch::current_exe()?,
        attest_test,
        prefix: true,
    })?;
    std::process::exit(code)
}
