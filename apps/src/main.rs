//! The `umbra` command line: demos, benchmarks, and running real parties (keygen, dealer,
//! party, launch).

mod cli;

use anyhow::Result;

// mimalloc keeps freed pages for reuse instead of returning large blocks to the OS; with
// glibc's default malloc every multi-megabyte share buffer is a fresh mmap, and the page
// faults on first touch cost more than the protocol arithmetic (measured: 2x on a 10^6 mul).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Parser, Subcommand};

/// umbra: secure multi-party machine learning.
///
/// Try it on one machine: `umbra demo matmul` (in-process parties), then
/// `umbra launch --parties 3 --dealer -- umbra testprog matmul-relu` (one process per party,
/// talking over authenticated QUIC on 127.0.0.1).
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
        demo: cli::demo::Demo,
    },
    /// Run an ONNX model privately on .npy inputs: the weights from party 0, the inputs from
    /// the last party, the outputs revealed to it alone (in-process, or with --party under
    /// `umbra launch` / `umbra party`).
    Infer(cli::infer::Args),
    /// Measure protocols or kernels.
    Bench {
        #[command(subcommand)]
        bench: cli::bench::Bench,
    },
    /// Make a key pair and certificate per member and the cluster file that pins them.
    ///
    /// Copy cluster.toml to every member, and each member's own .key/.crt to it only.
    Keygen(cli::keygen::Args),
    /// Print a fresh random session id (give the same one to every party of a run).
    Session,
    /// Run PROGRAM as one party of a multi-host session (one `umbra party` per host).
    ///
    /// PROGRAM joins through `umbra::init()`, which reads the settings from the environment.
    /// Exits with PROGRAM's exit status.
    Party(cli::party::Args),
    /// Serve correlated randomness (Beaver triples and friends) to the parties of a cluster.
    ///
    /// With `--attest tdx|snp|sgx` it runs inside a TEE: its TLS key is made there and the
    /// platform's evidence binding it travels in its certificate, checked by every party.
    Dealer(cli::dealer::Args),
    /// Check an attested dealer's evidence offline against a cluster file's policy.
    Attest {
        #[command(subcommand)]
        cmd: cli::attest::Attest,
    },
    /// Run PROGRAM as N local parties (torchrun-style): fresh keys, a dealer, one process per
    /// party on 127.0.0.1, output prefixed with the party, non-zero exit if any party fails.
    Launch(cli::launch::Args),
    /// Small party programs for tests and first steps (run them under `umbra launch`).
    #[command(hide = true)]
    Testprog {
        #[command(subcommand)]
        prog: cli::testprog::Testprog,
    },
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings, and the dealer's and the
/// links' notices). No log line carries a share, seed or key: the types that hold them print
/// `..` in their `Debug`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,party=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// mimalloc's option numbers in its v3 `mi_option_e` (the `libmimalloc-sys` crate does not
/// name these two).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory mapped and committed for reuse instead of returning it to the OS after
/// 10 ms (mimalloc's default): a private query frees and reallocates the same hundreds of
/// megabytes of shares every round, and each page given back faults in, zeroed, on the next
/// touch. Measured on MiniLM (2 parties in-process): system time 8.4 s -> 2.1 s, the run's
/// wall time -25%. A `MIMALLOC_*` variable in the environment still wins.
#[allow(unsafe_code)]
fn tune_allocator() {
    for (var, option, value) in [
        ("MIMALLOC_PURGE_DELAY", MI_OPTION_PURGE_DELAY, -1),
        (
            "MIMALLOC_ARENA_EAGER_COMMIT",
            MI_OPTION_ARENA_EAGER_COMMIT,
            1,
        ),
    ] {
        if std::env::var_os(var).is_none() {
            // SAFETY: mimalloc's option setters are plain stores into its option table; this
            // runs first in `main`, before any other thread exists (they are not thread safe).
            unsafe { libmimalloc_sys::mi_option_set(option, value) };
        }
    }
}

fn main() -> Result<()> {
    tune_allocator();
    party::signals::die_with_supervisor();
    init_logging();
    match Cli::parse().command {
        Command::Demo { demo } => cli::demo::run(demo),
        Command::Bench { bench } => cli::bench::run(bench),
        Command::Infer(args) => cli::infer::run(args),
        Command::Keygen(args) => cli::keygen::run(args),
        Command::Session => cli::session::run(),
        Command::Party(args) => cli::party::run(args),
        Command::Dealer(args) => cli::dealer::run(args),
        Command::Launch(args) => cli::launch::run(args),
        Command::Attest { cmd } => cli::attest::run(cmd),
        Command::Testprog { prog } => cli::testprog::run(prog),
    }
}
