//! `umbra bench`: protocols, workloads, accuracy, the transport and the GEMM kernel.

use anyhow::Result;
use clap::Subcommand;
use party::{MemberEnv, Timeouts};

use super::net::{NetArgs, TransportArg};

#[derive(Subcommand)]
pub(crate) enum Bench {
    /// Private ops (mul, square, matmul, conv2d, reveal): time, bytes, rounds and error.
    Ops {
        /// Number of parties (at least 2).
        #[arg(long, default_value_t = 2)]
        parties: usize,
        /// `inproc` (threads and channels, one process), or `quic` / `tcp` (one process per
        /// party on 127.0.0.1, through `umbra launch`).
        #[arg(long, default_value = "inproc")]
        transport: String,
        /// Scale every problem size by this factor (1.0 = the documented sizes).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Run only the benchmark of this name, or else those whose name starts with this
        /// (e.g. `mul`, `matmul_1024`).
        #[arg(long)]
        only: Option<String>,
        /// Measured repetitions per op, after one warm-up (the best is reported).
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Emulate every link (in-process only): `lan` (0.5 ms round trip, 1 Gbit/s), `wan`
        /// (40 ms, 100 Mbit/s), or `RTT_MS,MBIT_PER_S`.
        #[arg(long)]
        link: Option<String>,
        /// How comparisons are computed: `circuit` (binary circuits, any party count) or
        /// `fss` (dealer FSS keys, 2 parties: one round per comparison, more dealer traffic).
        #[arg(long, value_enum, default_value_t = CompareArg::Circuit)]
        compare: CompareArg,
        /// Print one JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Accuracy, rounds and bytes of every nonlinear function over its documented domain
    /// (the table in docs/accuracy.md is this command's `--markdown` output).
    Accuracy {
        /// Number of parties (at least 2).
        #[arg(long, default_value_t = 2)]
        parties: usize,
        /// Print one JSON object per line.
        #[arg(long)]
        json: bool,
        /// Print a Markdown table.
        #[arg(long, conflicts_with = "json")]
        markdown: bool,
    },
    /// Raw transport speed between two parties on loopback: bulk Gbit/s per direction and
    /// microseconds per lock-step round.
    Net {
        /// `quic` or `tcp`.
        #[arg(long, default_value = "quic")]
        transport: TransportArg,
        /// Frame size for the bulk exchange, MiB.
        #[arg(long, default_value_t = 64)]
        mib: usize,
        /// Bulk repetitions (the best is reported).
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Lock-step rounds for the latency figure.
        #[arg(long, default_value_t = 2000)]
        rounds: usize,
        /// Print one JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// End-to-end workloads: one SGD step of a 784-128-10 MLP (batch 64) and LeNet inference
    /// (batch 64 and 1): time, bytes and rounds per party.
    Train {
        /// Number of parties (at least 2).
        #[arg(long, default_value_t = 2)]
        parties: usize,
        /// `inproc` (threads and channels, one process), or `quic` / `tcp` (one process per
        /// party on 127.0.0.1, through `umbra launch`).
        #[arg(long, default_value = "inproc")]
        transport: String,
        /// Run only the workloads whose name starts with this (e.g. `mlp`, `lenet`).
        #[arg(long)]
        only: Option<String>,
        /// Measured repetitions per workload, after one warm-up (the best is reported).
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Emulate every link (in-process only): `lan` (0.5 ms round trip, 1 Gbit/s), `wan`
        /// (40 ms, 100 Mbit/s), or `RTT_MS,MBIT_PER_S`.
        #[arg(long)]
        link: Option<String>,
        /// How comparisons are computed: `circuit` or `fss` (see `bench ops --help`).
        #[arg(long, value_enum, default_value_t = CompareArg::Circuit)]
        compare: CompareArg,
        /// Print one JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The attested dealer's cost: appraising the sample TDX, SGX and SEV-SNP evidence
    /// (party/tests/fixtures/attest, at a time inside its collateral's validity), and the
    /// party-to-dealer TLS handshake in memory, pinned vs attested.
    Attest {
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 50)]
        reps: usize,
        /// Print one JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The raw wrapping-u64 GEMM kernel at 256, 512 and 1024 cubed.
    Gemm {
        /// Repetitions per size (the best is reported).
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Print one JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// The `--compare` option.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum CompareArg {
    /// Binary circuits on the shares.
    Circuit,
    /// Function secret sharing from the dealer (2 parties).
    Fss,
}

impl From<CompareArg> for mpc::CompareMode {
    fn from(c: CompareArg) -> Self {
        match c {
            CompareArg::Circuit => mpc::CompareMode::Circuit,
            CompareArg::Fss => mpc::CompareMode::Fss,
        }
    }
}

/// A networked party's session in comparison mode `compare`.
fn networked_session(compare: CompareArg) -> Result<mpc::Session> {
    Ok(umbra::init_with(mpc::SessionConfig {
        compare: compare.into(),
        ..mpc::SessionConfig::default()
    })?)
}

/// The `--link` option: only for in-process parties (real transports have real links).
fn emulated(link: Option<&str>, transport: &str) -> Result<Option<mpc::LinkProfile>> {
    match link {
        None => Ok(None),
        Some(_) if transport != "inproc" => {
            anyhow::bail!(
                "--link emulates links between in-process parties; drop it with --transport {transport}"
            )
        }
        Some(l) => Ok(Some(mpc::LinkProfile::parse(l)?)),
    }
}

pub(crate) fn run(bench: Bench) -> Result<()> {
    match bench {
        Bench::Ops {
            parties,
            transport,
            scale,
            only,
            reps,
            link,
            compare,
            json,
        } => {
            if !(scale > 0.0 && scale <= 1.0) {
                anyhow::bail!("--scale must be in (0, 1], got {scale}");
            }
            let transport = parse_transport(&transport)?;
            let link = emulated(link.as_deref(), transport)?;
            let networked = transport != "inproc";
            relaunch_as_parties(transport, parties)?;
            let header = || {
                println!(
                    "{:<34} {:>7} {:>10} {:>10} {:>14} {:>6} {:>14} {:>7} {:>10} {:>6}",
                    "op",
                    "parties",
                    "wall s",
                    "online s",
                    "bytes/party",
                    "rounds",
                    "dealer bytes",
                    "trips",
                    "max err",
                    "gross"
                )
            };
            let print = |r: &apps::bench::OpRow| {
                if json {
                    println!("{}", serde_json::to_string(r).expect("serialisable"));
                } else {
                    println!(
                        "{:<34} {:>7} {:>10.4} {:>10.4} {:>14} {:>6} {:>14} {:>7} {:>10.2e} {:>6}",
                        r.name,
                        r.parties,
                        r.wall_s,
                        r.online_wall_s,
                        r.bytes_sent_per_party,
                        r.rounds,
                        r.dealer_bytes_per_party,
                        r.dealer_round_trips,
                        r.max_abs_err,
                        r.gross_errors
                    );
                }
            };
            if networked {
                let s = networked_session(compare)?;
                if !json && s.party() == 0 {
                    header();
                }
                apps::bench::ops_networked(
                    &s,
                    transport,
                    scale,
                    only.as_deref(),
                    reps.max(1),
                    print,
                )?;
            } else {
                if !json {
                    header();
                }
                apps::bench::ops(
                    parties,
                    scale,
                    only.as_deref(),
                    reps.max(1),
                    link,
                    compare.into(),
                    print,
                )?;
            }
        }
        Bench::Train {
            parties,
            transport,
            only,
            reps,
            link,
            compare,
            json,
        } => {
            let transport = parse_transport(&transport)?;
            let link = emulated(link.as_deref(), transport)?;
            relaunch_as_parties(transport, parties)?;
            let header = || {
                println!(
                    "{:<30} {:>7} {:>8} {:>10} {:>10} {:>14} {:>7} {:>14} {:>7}",
                    "workload",
                    "parties",
                    "via",
                    "wall s",
                    "online s",
                    "bytes/party",
                    "rounds",
                    "dealer bytes",
                    "trips"
                )
            };
            let print = |r: &apps::bench::train::TrainRow| {
                if json {
                    println!("{}", serde_json::to_string(r).expect("serialisable"));
                } else {
                    println!(
                        "{:<30} {:>7} {:>8} {:>10.4} {:>10.4} {:>14} {:>7} {:>14} {:>7}",
                        r.name,
                        r.parties,
                        r.transport,
                        r.wall_s,
                        r.online_wall_s,
                        r.bytes_sent_per_party,
                        r.rounds,
                        r.dealer_bytes_per_party,
                        r.dealer_round_trips
                    );
                }
            };
            if transport != "inproc" {
                let s = networked_session(compare)?;
                if !json && s.party() == 0 {
                    header();
                }
                apps::bench::train::train_networked(
                    &s,
                    transport,
                    only.as_deref(),
                    reps.max(1),
                    print,
                )?;
            } else {
                if !json {
                    header();
                }
                apps::bench::train::train(
                    parties,
                    only.as_deref(),
                    reps.max(1),
                    link,
                    compare.into(),
                    print,
                )?;
            }
        }
        Bench::Accuracy {
            parties,
            json,
            markdown,
        } => {
            let rows = apps::bench::accuracy(parties)?;
            if markdown {
                print!("{}", apps::bench::accuracy_markdown(&rows));
            } else if json {
                for r in &rows {
                    println!("{}", serde_json::to_string(r).expect("serialisable"));
                }
            } else {
                println!(
                    "{:<28} {:<16} {:>10} {:>10} {:>6} {:>10}",
                    "function", "domain", "max abs", "max rel", "rounds", "B/element"
                );
                for r in &rows {
                    println!(
                        "{:<28} {:<16} {:>10.2e} {:>10.2e} {:>6} {:>10.1}",
                        r.function,
                        r.domain,
                        r.max_abs_err,
                        r.max_rel_err,
                        r.rounds,
                        r.bytes_per_element
                    );
                }
            }
        }
        Bench::Attest { reps, json } => {
            for r in apps::bench::attest(reps.max(1))? {
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    println!("{:<40} {:>9.3} ms  {}", r.name, r.ms, r.note);
                }
            }
        }
        Bench::Net {
            transport,
            mib,
            reps,
            rounds,
            json,
        } => {
            let transport = NetArgs {
                transport,
                recv_timeout_ms: 0,
                connect_timeout_ms: 0,
                idle_timeout_ms: 0,
            }
            .transport();
            for r in apps::bench::net(transport, mib.max(1), reps.max(1), rounds.max(1))? {
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else if r.name.starts_with("bulk") {
                    println!(
                        "{} {}, {} MiB frames: {:.2} Gbit/s per direction",
                        r.transport,
                        r.name,
                        r.frame_bytes >> 20,
                        r.gbit_s_per_direction
                    );
                } else {
                    println!(
                        "{} lock-step rounds, 8-byte frames: {:.1} us per round",
                        r.transport, r.us_per_round
                    );
                }
            }
        }
        Bench::Gemm { reps, json } => {
            apps::bench::gemm(reps, |r| {
                if json {
                    println!("{}", serde_json::to_string(r).expect("serialisable"));
                } else {
                    println!(
                        "{:<8} n={:<5} threads={:<2} {:>8.4} s {:>6.2} GMAC/s",
                        r.backend, r.n, r.threads, r.wall_s, r.gmac_per_s
                    );
                }
            });
        }
    }
    Ok(())
}

/// `inproc`, `quic` or `tcp`.
fn parse_transport(transport: &str) -> Result<&'static str> {
    Ok(match transport {
        "inproc" => "inproc",
        "quic" => "quic",
        "tcp" => "tcp",
        other => {
            anyhow::bail!("unknown transport `{other}`: expected `inproc`, `quic` or `tcp`")
        }
    })
}

/// For a networked benchmark started by hand: re-runs this very command as one process per
/// party (through the launcher) and exits with its status. Does nothing in-process or when
/// already running as a party.
fn relaunch_as_parties(transport: &'static str, parties: usize) -> Result<()> {
    if transport == "inproc" || MemberEnv::from_env()?.is_some() {
        return Ok(());
    }
    let mut program = std::env::args().collect::<Vec<_>>();
    program[0] = party::launch::current_exe()?.display().to_string();
    let code = party::launch::launch(&party::launch::LaunchOptions {
        parties,
        dealer: true,
        program,
        transport: transport.parse()?,
        timeouts: Timeouts::default(),
        umbra_exe: party::launch::current_exe()?,
        attest_test: None,
        prefix: false,
    })?;
    std::process::exit(code);
}
