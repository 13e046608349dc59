//! The `umbra` command line: demos, benchmarks, and running real parties (keygen, dealer,
//! party, launch).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use party::{MemberEnv, Timeouts, Transport};

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
        demo: Demo,
    },
    /// Measure protocols or kernels.
    Bench {
        #[command(subcommand)]
        bench: Bench,
    },
    /// Make a key pair and certificate per member and the cluster file that pins them.
    ///
    /// Copy cluster.toml to every member, and each member's own .key/.crt to it only.
    Keygen {
        /// Number of parties.
        #[arg(long)]
        parties: usize,
        /// Also make the dealer's key (it is listed last in --hosts).
        #[arg(long)]
        dealer: bool,
        /// Directory to write into.
        #[arg(long)]
        out: PathBuf,
        /// Comma-separated `host` or `host:port` per member, parties in order then the dealer
        /// (default: everyone on 127.0.0.1, ports counting up from --port).
        #[arg(long, value_delimiter = ',')]
        hosts: Vec<String>,
        /// Port for hosts given without one.
        #[arg(long, default_value_t = 7100)]
        port: u16,
        /// Replace an existing cluster file and its keys.
        #[arg(long)]
        force: bool,
    },
    /// Print a fresh random session id (give the same one to every party of a run).
    Session,
    /// Run PROGRAM as one party of a multi-host session (one `umbra party` per host).
    ///
    /// PROGRAM joins through `umbra::init()`, which reads the settings from the environment.
    /// Exits with PROGRAM's exit status.
    Party {
        /// The cluster file (from `umbra keygen`).
        #[arg(long, alias = "config")]
        cluster: PathBuf,
        /// This party's index.
        #[arg(long)]
        id: u16,
        /// Session id, 32 hex digits, the same on every party (`umbra session` makes one).
        #[arg(long, env = "UMBRA_SESSION")]
        session: String,
        /// Private key (default: party-ID.key beside the cluster file).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Certificate (default: party-ID.crt beside the cluster file).
        #[arg(long)]
        cert: Option<PathBuf>,
        /// Listen on this address instead of the cluster file's (e.g. 0.0.0.0:7100).
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
        #[command(flatten)]
        net: NetArgs,
        /// The program and its arguments, after `--`.
        #[arg(last = true, required = true)]
        program: Vec<String>,
    },
    /// Serve correlated randomness (Beaver triples and friends) to the parties of a cluster.
    Dealer {
        /// The cluster file (from `umbra keygen --dealer`).
        #[arg(long, alias = "config")]
        cluster: PathBuf,
        /// Private key (default: dealer.key beside the cluster file).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Certificate (default: dealer.crt beside the cluster file).
        #[arg(long)]
        cert: Option<PathBuf>,
        /// Exit after this many sessions have ended (default: serve forever).
        #[arg(long)]
        sessions: Option<usize>,
        /// Listen on this address instead of the cluster file's.
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Run PROGRAM as N local parties (torchrun-style): fresh keys, a dealer, one process per
    /// party on 127.0.0.1, output prefixed with the party, non-zero exit if any party fails.
    Launch {
        /// Number of parties.
        #[arg(long, default_value_t = 2)]
        parties: usize,
        /// Start a dealer (needed by anything that multiplies or compares).
        #[arg(long)]
        dealer: bool,
        #[command(flatten)]
        net: NetArgs,
        /// The program and its arguments, after `--`.
        #[arg(last = true, required = true)]
        program: Vec<String>,
    },
    /// Small party programs for tests and first steps (run them under `umbra launch`).
    #[command(hide = true)]
    Testprog {
        #[command(subcommand)]
        prog: Testprog,
    },
}

/// Network settings shared by `party`, `dealer` and `launch`.
#[derive(clap::Args, Clone, Copy)]
struct NetArgs {
    /// `quic` or `tcp` (both TLS 1.3 with pinned certificates).
    #[arg(long, default_value = "quic")]
    transport: TransportArg,
    /// How long a receive waits for a peer, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    recv_timeout_ms: u64,
    /// How long set-up waits for every peer to connect, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    connect_timeout_ms: u64,
    /// QUIC: how long a silent connection lives before the peer counts as dead, in ms.
    #[arg(long, default_value_t = 10_000)]
    idle_timeout_ms: u64,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TransportArg {
    Quic,
    Tcp,
}

impl NetArgs {
    fn transport(&self) -> Transport {
        match self.transport {
            TransportArg::Quic => Transport::Quic,
            TransportArg::Tcp => Transport::Tcp,
        }
    }

    /// Member `me`'s settings: these network settings, and the default key files unless
    /// `key` / `cert` are given.
    fn member(
        &self,
        cluster: PathBuf,
        me: u16,
        session: [u8; 16],
        key: Option<PathBuf>,
        cert: Option<PathBuf>,
        bind: Option<std::net::SocketAddr>,
    ) -> MemberEnv {
        let mut env = MemberEnv::new(cluster, me, session, self.transport(), self.timeouts());
        env.key = key.unwrap_or(env.key);
        env.cert = cert.unwrap_or(env.cert);
        env.bind = bind;
        env
    }

    fn timeouts(&self) -> Timeouts {
        Timeouts {
            recv: Duration::from_millis(self.recv_timeout_ms),
            connect: Duration::from_millis(self.connect_timeout_ms),
            idle: Duration::from_millis(self.idle_timeout_ms),
        }
    }
}

#[derive(Subcommand)]
enum Testprog {
    /// relu(X·W) with X from party 0 and W from party 1; prints `RESULT [..]`.
    MatmulRelu,
    /// Party VICTIM crashes (abort) after set-up; the others then attempt a private product.
    Crash {
        #[arg(long, default_value_t = 1)]
        victim: usize,
    },
    /// Party VICTIM stops responding for SECS seconds after set-up.
    Stall {
        #[arg(long, default_value_t = 1)]
        victim: usize,
        #[arg(long, default_value_t = 30)]
        secs: u64,
    },
    /// Party VICTIM exits with CODE after set-up.
    Exit {
        #[arg(long, default_value_t = 1)]
        victim: usize,
        #[arg(long, default_value_t = 3)]
        code: i32,
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
    /// Private logistic regression on the breast-cancer data: features from party 0, labels
    /// from party 1, the model from party 2 (if any); reports the test accuracy.
    Logreg {
        /// Number of parties (at least 2).
        #[arg(long, default_value_t = 3)]
        parties: usize,
        /// Passes over the 455 training rows.
        #[arg(long, default_value_t = 10)]
        epochs: usize,
        /// Rows per SGD step.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Learning rate.
        #[arg(long, default_value_t = 0.5)]
        lr: f64,
    },
    /// Private training of an MLP (64-128-10) on the digits, the training rows split between
    /// parties 0 and 1, the model from party 2 (if any); compares with plaintext training.
    Digits {
        /// Number of parties (at least 2).
        #[arg(long, default_value_t = 2)]
        parties: usize,
        /// Passes over the 1438 training rows.
        #[arg(long, default_value_t = 10)]
        epochs: usize,
        /// Rows per SGD step.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Learning rate (SGD with momentum 0.9).
        #[arg(long, default_value_t = 0.05)]
        lr: f64,
    },
    /// Private inference of a LeNet-style CNN: the model from party 0, 28x28 images from
    /// party 1; the logits (revealed to party 1) are checked against plaintext f64.
    Lenet {
        /// Number of parties (at least 2).
        #[arg(long, default_value_t = 2)]
        parties: usize,
        /// Images in the batch.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Instead of the demo: retrain the weights in plaintext and write them to this
        /// safetensors file (how data/lenet_digits.safetensors was made).
        #[arg(long, value_name = "PATH")]
        train_weights: Option<PathBuf>,
        /// Epochs for --train-weights.
        #[arg(long, default_value_t = 8)]
        epochs: usize,
    },
}

#[derive(Subcommand)]
enum Bench {
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

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo {
            demo: Demo::Matmul { parties },
        } => {
            print!("{}", umbra::demo::matmul(parties)?.report());
        }
        Command::Demo {
            demo:
                Demo::Logreg {
                    parties,
                    epochs,
                    batch_size,
                    lr,
                },
        } => {
            use umbra::demo::logreg;
            let cfg = logreg::Config {
                epochs,
                batch_size,
                lr,
                ..logreg::Config::default()
            };
            let r = umbra::demo::in_process(parties, 0, |s| logreg::run(s, &cfg))?;
            print!("{}", r.render());
        }
        Command::Demo {
            demo:
                Demo::Digits {
                    parties,
                    epochs,
                    batch_size,
                    lr,
                },
        } => {
            use umbra::demo::digits;
            let cfg = digits::Config {
                epochs,
                batch_size,
                lr,
                ..digits::Config::default()
            };
            let r = umbra::demo::in_process(parties, 0, |s| digits::run(s, &cfg))?;
            print!("{}", r.render());
        }
        Command::Demo {
            demo:
                Demo::Lenet {
                    parties,
                    batch,
                    train_weights,
                    epochs,
                },
        } => {
            use umbra::demo::lenet;
            if let Some(path) = train_weights {
                let (dict, acc) = lenet::train_weights(epochs, true)?;
                dict.save(&path, safetensors::Dtype::F32)?;
                println!(
                    "wrote {} ({} tensors); plaintext test accuracy {:.2}%",
                    path.display(),
                    dict.len(),
                    100.0 * acc
                );
                return Ok(());
            }
            let cfg = lenet::Config {
                batch,
                ..lenet::Config::default()
            };
            let r = umbra::demo::in_process(parties, lenet::INPUT_OWNER, |s| lenet::run(s, &cfg))?
                .expect("the input owner's report");
            print!("{}", r.render());
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
            if !(scale > 0.0 && scale <= 1.0) {
                anyhow::bail!("--scale must be in (0, 1], got {scale}");
            }
            let transport = parse_transport(&transport)?;
            let networked = transport != "inproc";
            relaunch_as_parties(transport, parties)?;
            let header = || {
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
                )
            };
            let print = |r: &umbra::bench::OpRow| {
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
            };
            if networked {
                let s = umbra::init()?;
                if !json && s.party() == 0 {
                    header();
                }
                umbra::bench::ops_networked(
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
                umbra::bench::ops(parties, scale, only.as_deref(), reps.max(1), print)?;
            }
        }
        Command::Bench {
            bench:
                Bench::Train {
                    parties,
                    transport,
                    only,
                    reps,
                    json,
                },
        } => {
            let transport = parse_transport(&transport)?;
            relaunch_as_parties(transport, parties)?;
            let header = || {
                println!(
                    "{:<30} {:>7} {:>8} {:>10} {:>10} {:>14} {:>7}",
                    "workload", "parties", "via", "wall s", "online s", "bytes/party", "rounds"
                )
            };
            let print = |r: &umbra::bench::train::TrainRow| {
                if json {
                    println!("{}", serde_json::to_string(r).expect("serialisable"));
                } else {
                    println!(
                        "{:<30} {:>7} {:>8} {:>10.4} {:>10.4} {:>14} {:>7}",
                        r.name,
                        r.parties,
                        r.transport,
                        r.wall_s,
                        r.online_wall_s,
                        r.bytes_sent_per_party,
                        r.rounds
                    );
                }
            };
            if transport != "inproc" {
                let s = umbra::init()?;
                if !json && s.party() == 0 {
                    header();
                }
                umbra::bench::train::train_networked(
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
                umbra::bench::train::train(parties, only.as_deref(), reps.max(1), print)?;
            }
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
            bench:
                Bench::Net {
                    transport,
                    mib,
                    reps,
                    rounds,
                    json,
                },
        } => {
            let transport = NetArgs {
                transport,
                recv_timeout_ms: 0,
                connect_timeout_ms: 0,
                idle_timeout_ms: 0,
            }
            .transport();
            for r in umbra::bench::net(transport, mib.max(1), reps.max(1), rounds.max(1))? {
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
        Command::Keygen {
            parties,
            dealer,
            out,
            hosts,
            port,
            force,
        } => {
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
        }
        Command::Session => {
            println!("{}", party::wire::hex(&party::env::fresh_session()?));
        }
        Command::Party {
            cluster,
            id,
            session,
            key,
            cert,
            bind,
            net,
            program,
        } => {
            let session = party::wire::unhex::<16>(&session)
                .map_err(|e| anyhow::anyhow!("--session: {e}"))?;
            let env = net.member(cluster, id, session, key, cert, bind);
            // Fail here, with the reason, rather than in the program.
            env.node_config()?;
            let status = std::process::Command::new(&program[0])
                .args(&program[1..])
                .envs(env.to_env())
                .status()
                .with_context(|| format!("starting {}", program[0]))?;
            std::process::exit(exit_code(status));
        }
        Command::Dealer {
            cluster,
            key,
            cert,
            sessions,
            bind,
            net,
        } => {
            let env = net.member(cluster, party::wire::DEALER, [0; 16], key, cert, bind);
            party::dealer::serve(env.node_config()?, sessions)?;
        }
        Command::Launch {
            parties,
            dealer,
            net,
            program,
        } => {
            let code = party::launch::launch(&party::launch::LaunchOptions {
                parties,
                dealer,
                program,
                transport: net.transport(),
                timeouts: net.timeouts(),
                umbra_exe: party::launch::current_exe()?,
                prefix: true,
            })?;
            std::process::exit(code);
        }
        Command::Testprog { prog } => testprog(prog)?,
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
        prefix: false,
    })?;
    std::process::exit(code);
}

/// A child's exit status as this process's exit code: its own code, or 128 + the signal
/// that killed it (the shell's convention).
fn exit_code(status: std::process::ExitStatus) -> i32 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return 128 + sig;
        }
    }
    status.code().unwrap_or(1)
}

fn testprog(prog: Testprog) -> Result<()> {
    let s = umbra::init()?;
    let me = s.party();
    match prog {
        Testprog::MatmulRelu => {
            let out = umbra::testprog::matmul_relu(&s)?;
            println!("RESULT {}", serde_json::to_string(&out)?);
        }
        Testprog::Crash { victim } => {
            umbra::testprog::one_mul(&s)?;
            if me == victim {
                eprintln!("party {me}: crashing on purpose");
                std::process::abort();
            }
            umbra::testprog::one_mul(&s)?;
        }
        Testprog::Stall { victim, secs } => {
            umbra::testprog::one_mul(&s)?;
            if me == victim {
                eprintln!("party {me}: stalling for {secs} s on purpose");
                std::thread::sleep(Duration::from_secs(secs));
                return Ok(());
            }
            umbra::testprog::one_mul(&s)?;
        }
        Testprog::Exit { victim, code } => {
            if me == victim {
                eprintln!("party {me}: exiting with {code} on purpose");
                std::process::exit(code);
            }
            umbra::testprog::one_mul(&s)?;
        }
    }
    Ok(())
}
