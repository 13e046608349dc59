//! The `umbra` command line: demos and benchmarks (keygen, dealer, party and launch arrive
//! with the network milestone).

use anyhow::Result;

// mimalloc keeps freed pages for reuse instead of returning large blocks to the OS; with
// glibc's default malloc every multi-megabyte share buffer is a fresh mmap, and the page
// faults on first touch cost more than the protocol arithmetic (measured: 2x on a 10^6 mul).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Parser, Subcommand};

/// umbra: secure multi-party machine learning.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a demo on built-in data, in-process, with no network access.
    Demo {
        #[command(subcommand)]
        demo: Demo,
    },
    /// Measure protocols or kernels.
    Bench {
        #[command(subcommand)]
        bench: Bench,
    },
}

#[derive(Subcommand)]
enum Demo {
    /// Secret-share two matrices from two owners, multiply them privately, reveal the product.
    Matmul {
        /// Number of parties (at least 2).
        #[arg(long, default_value_t = 3)]
        parties: usize,
    },
}

#[derive(Subcommand)]
enum Bench {
    /// Private ops (mul, square, matmul, conv2d, reveal): time, bytes, rounds and error.
    Ops {
        /// Number of parties (at least 2).
        #[arg(long, default_value_t = 2)]
        parties: usize,
        /// Transport; only `inproc` (threads and channels) exists so far.
        #[arg(long, default_value = "inproc")]
        transport: String,
        /// Scale every problem size by this factor (1.0 = the documented sizes).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Run only the benchmarks whose name starts with this (e.g. `mul`, `matmul_1024`).
        #[arg(long)]
        only: Option<String>,
        /// Measured repetitions per op, after one warm-up (the best is reported).
        #[arg(long, default_value_t = 3)]
        reps: usize,
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

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo {
            demo: Demo::Matmul { parties },
        } => {
            print!("{}", umbra::demo::matmul(parties)?.report());
        }
        Command::Bench {
            bench:
                Bench::Ops {
                    parties,
                    transport,
                    scale,
                    only,
                    reps,
                    json,
                },
        } => {
            if transport != "inproc" {
                anyhow::bail!(
                    "unknown transport `{transport}`: only `inproc` is available in this build"
                );
            }
            if !(scale > 0.0 && scale <= 1.0) {
                anyhow::bail!("--scale must be in (0, 1], got {scale}");
            }
            if !json {
                println!(
                    "{:<34} {:>7} {:>10} {:>10} {:>14} {:>6} {:>10} {:>6}",
                    "op",
                    "parties",
                    "wall s",
                    "online s",
                    "bytes/party",
                    "rounds",
                    "max err",
                    "gross"
                );
            }
            umbra::bench::ops(parties, scale, only.as_deref(), reps.max(1), |r| {
                if json {
                    println!("{}", serde_json::to_string(r).expect("serialisable"));
                } else {
                    println!(
                        "{:<34} {:>7} {:>10.4} {:>10.4} {:>14} {:>6} {:>10.2e} {:>6}",
                        r.name,
                        r.parties,
                        r.wall_s,
                        r.online_wall_s,
                        r.bytes_sent_per_party,
                        r.rounds,
                        r.max_abs_err,
                        r.gross_errors
                    );
                }
            })?;
        }
        Command::Bench {
            bench:
                Bench::Accuracy {
                    parties,
                    json,
                    markdown,
                },
        } => {
            let rows = umbra::bench::accuracy(parties)?;
            if markdown {
                print!("{}", umbra::bench::accuracy_markdown(&rows));
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
        Command::Bench {
            bench: Bench::Gemm { reps, json },
        } => {
            umbra::bench::gemm(reps, |r| {
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
