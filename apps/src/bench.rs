//! Benchmarks behind `umbra bench`: protocol costs (time, bytes, rounds, error) and the raw
//! GEMM kernel, and end-to-end training and inference workloads ([`train`]). Benchmarks are
//! commands, never timed tests.

use std::time::Instant;

use mpc::{CompareMode, CrypTensor, LinkProfile, Session, SessionConfig, run_local_over};
use serde::Serialize;
use tensor::{Conv2dParams, Pool2dParams, RingTensor, kernel};

pub mod peers;
pub mod train;

/// One protocol benchmark result (one JSON line).
#[derive(Debug, Clone, Serialize)]
pub struct OpRow {
    /// Benchmark name, e.g. `mul_1e6`.
    pub name: String,
    /// Number of parties.
    pub parties: usize,
    /// `inproc` (threads and channels), `quic` or `tcp` (separate processes).
    pub transport: &'static str,
    /// The emulated link (`none`, or round-trip time and bandwidth), in-process only.
    pub link: String,
    /// The comparison mode (`circuit` or `fss`).
    pub compare: &'static str,
    /// Elements of the output (or of the operand, for `reveal`).
    pub elements: usize,
    /// Wall time of the op with the dealer's work included (slowest party), seconds.
    pub wall_s: f64,
    /// Wall time of the op with its tuples prefetched: the online phase alone.
    pub online_wall_s: f64,
    /// Payload bytes sent by the busiest party during the op.
    pub bytes_sent_per_party: u64,
    /// Frames sent by the busiest party.
    pub messages_per_party: u64,
    /// Communication rounds (most of any party).
    pub rounds: u64,
    /// Payload bytes the dealer sent the party that receives most (party 0: its
    /// corrections), in the run with the dealer's work included.
    pub dealer_bytes_per_party: u64,
    /// Trips to the dealer in that run (party 0 waits on each).
    pub dealer_round_trips: u64,
    /// Largest absolute error of the revealed result against an `f64` oracle.
    pub max_abs_err: f64,
    /// Elements off by more than 1% of `max(1, |true value|)`: with the opt-in 2-party
    /// local truncation these are its documented rare failures (see the README), so they are
    /// counted rather than hidden; with the exact default there should be none.
    pub gross_errors: usize,
    /// CrypTen's floor on this link (rounds times the one-way delay, plus its bytes where
    /// measured; [`peers`]), seconds; `null` without a link or a measurement.
    pub crypten_floor_s: Option<f64>,
    /// SPU's floor on this link, likewise.
    pub spu_floor_s: Option<f64>,
}

/// One GEMM kernel benchmark result.
#[derive(Debug, Clone, Serialize)]
pub struct GemmRow {
    /// Always `gemm`.
    pub name: &'static str,
    /// The dispatched kernel (`avx512dq`, `avx2`, `portable`).
    pub backend: &'static str,
    /// Square size `n` (an `n x n x n` product).
    pub n: usize,
    /// Worker threads.
    pub threads: usize,
    /// Best time over the repetitions, seconds.
    pub wall_s: f64,
    /// Multiply-accumulates per second, in billions.
    pub gmac_per_s: f64,
}

/// Deterministic test data: `n` reals in `[-range, range)`.
fn data(seed: u64, n: usize, range: f64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * range
        })
        .collect()
}

/// Encodes and decodes, so the f64 oracle sees the same inputs as the protocol.
fn quantize(v: &[f64]) -> Vec<f64> {
    v.iter()
        .map(|&x| tensor::fixed::decode(tensor::fixed::encode(x, 16).expect("in range"), 16))
        .collect()
}

/// The op under test, on the shared inputs.
type OpFn = Box<dyn Fn(&[CrypTensor]) -> mpc::Result<CrypTensor> + Sync>;
/// The exact result in `f64`, computed on demand (the 1024^3 one takes a while).
type OracleFn = Box<dyn Fn() -> Vec<f64> + Sync>;

struct OpSpec {
    name: String,
    inputs: Vec<(Vec<usize>, Vec<f64>)>,
    op: OpFn,
    oracle: OracleFn,
}

impl OpSpec {
    fn new(name: String, inputs: Vec<(Vec<usize>, Vec<f64>)>, op: OpFn, oracle: OracleFn) -> Self {
        Self {
            name,
            inputs,
            op,
            oracle,
        }
    }
}

fn matmul_oracle(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for p in 0..k {
            let av = a[i * k + p];
            for j in 0..n {
                out[i * n + j] += av * b[p * n + j];
            }
        }
    }
    out
}

fn conv_oracle(x: &[f64], w: &[f64], batch: usize) -> Vec<f64> {
    let mut conv = vec![0.0; batch * 16 * 24 * 24];
    for b in 0..batch {
        for o in 0..16 {
            for i in 0..24 {
                for j in 0..24 {
                    let mut acc = 0.0;
                    for ki in 0..5 {
                        for kj in 0..5 {
                            acc += x[b * 784 + (i + ki) * 28 + j + kj] * w[o * 25 + ki * 5 + kj];
                        }
                    }
                    conv[((b * 16 + o) * 24 + i) * 24 + j] = acc;
                }
            }
        }
    }
    conv
}

/// Row maxima of a `[rows, cols]` matrix.
fn row_max(x: &[f64], cols: usize) -> Vec<f64> {
    x.chunks(cols)
        .map(|r| r.iter().copied().fold(f64::MIN, f64::max))
        .collect()
}

fn specs(size_scale: f64) -> Vec<OpSpec> {
    let sc = |n: usize| ((n as f64 * size_scale).round() as usize).max(1);
    let mut v = Vec::new();
    let n = sc(1_000_000);
    let (x, y) = (quantize(&data(1, n, 8.0)), quantize(&data(2, n, 8.0)));
    let elementwise = |f: fn(f64, f64) -> f64, x: &[f64], y: &[f64]| -> OracleFn {
        let (x, y) = (x.to_vec(), y.to_vec());
        Box::new(move || x.iter().zip(&y).map(|(a, b)| f(*a, *b)).collect())
    };
    v.push(OpSpec::new(
        format!("mul_{n}"),
        vec![(vec![n], x.clone()), (vec![n], y.clone())],
        Box::new(|t| t[0].mul(&t[1])),
        elementwise(|a, b| a * b, &x, &y),
    ));
    v.push(OpSpec::new(
        format!("square_{n}"),
        vec![(vec![n], x.clone())],
        Box::new(|t| t[0].square()),
        elementwise(|a, _| a * a, &x, &x),
    ));
    for m in [sc(256), sc(1024)] {
        let (a, b) = (
            quantize(&data(3, m * m, 1.0)),
            quantize(&data(4, m * m, 1.0)),
        );
        let (oa, ob) = (a.clone(), b.clone());
        v.push(OpSpec::new(
            format!("matmul_{m}x{m}x{m}"),
            vec![(vec![m, m], a), (vec![m, m], b)],
            Box::new(|t| t[0].matmul(&t[1])),
            Box::new(move || matmul_oracle(&oa, &ob, m, m, m)),
        ));
    }
    let batch = sc(64);
    let (xi, wi) = (
        quantize(&data(5, batch * 784, 1.0)),
        quantize(&data(6, 400, 1.0)),
    );
    let (ox, ow) = (xi.clone(), wi.clone());
    v.push(OpSpec::new(
        format!("conv2d_{batch}x1x28x28_16x1x5x5"),
        vec![(vec![batch, 1, 28, 28], xi), (vec![16, 1, 5, 5], wi)],
        Box::new(|t| t[0].conv2d(&t[1], &Conv2dParams::default())),
        Box::new(move || conv_oracle(&ox, &ow, batch)),
    ));
    v.push(OpSpec::new(
        format!("reveal_{n}"),
        vec![(vec![n], x.clone())],
        Box::new(|t| Ok(CrypTensor::Public(t[0].reveal()?))),
        elementwise(|a, _| a, &x, &x),
    ));
    // Comparisons and the functions built on them.
    for len in [sc(10_000), n] {
        let xs = x[..len].to_vec();
        v.push(OpSpec::new(
            format!("relu_{len}"),
            vec![(vec![len], xs.clone())],
            Box::new(|t| t[0].relu()),
            elementwise(|a, _| a.max(0.0), &xs, &xs),
        ));
    }
    let b01 = |c: bool| if c { 1.0 } else { 0.0 };
    v.push(OpSpec::new(
        format!("lt_{n}"),
        vec![(vec![n], x.clone()), (vec![n], y.clone())],
        Box::new(|t| t[0].lt(&t[1])),
        {
            let (x, y) = (x.clone(), y.clone());
            Box::new(move || x.iter().zip(&y).map(|(a, b)| b01(a < b)).collect())
        },
    ));
    // eq on data with about half ties
    let y_eq: Vec<f64> = x
        .iter()
        .zip(&y)
        .enumerate()
        .map(|(i, (a, b))| if i % 2 == 0 { *a } else { *b })
        .collect();
    v.push(OpSpec::new(
        format!("eq_{n}"),
        vec![(vec![n], x.clone()), (vec![n], y_eq.clone())],
        Box::new(|t| t[0].eq(&t[1])),
        {
            let x = x.clone();
            Box::new(move || x.iter().zip(&y_eq).map(|(a, b)| b01(a == b)).collect())
        },
    ));
    for cols in [10, 100] {
        let rows = sc(100_000 / cols);
        let m = quantize(&data(7, rows * cols, 8.0));
        let om = m.clone();
        v.push(OpSpec::new(
            format!("max_{rows}x{cols}_dim1"),
            vec![(vec![rows, cols], m)],
            Box::new(|t| t[0].amax(1, false)),
            Box::new(move || row_max(&om, cols)),
        ));
    }
    // Nonlinear functions on 10^5 elements of their documented domains.
    let m = sc(100_000);
    let lin = |lo: f64, hi: f64| -> Vec<f64> {
        quantize(
            &(0..m)
                .map(|i| lo + (hi - lo) * i as f64 / (m.max(2) - 1) as f64)
                .collect::<Vec<_>>(),
        )
    };
    type Unary = (
        &'static str,
        f64,
        f64,
        fn(&CrypTensor) -> mpc::Result<CrypTensor>,
        fn(f64) -> f64,
    );
    let unary: [Unary; 7] = [
        ("exp", -16.0, 8.0, |t| t.exp(), f64::exp),
        ("log", 0.01, 100.0, |t| t.log(), f64::ln),
        ("reciprocal", 0.01, 100.0, |t| t.reciprocal(), |x| 1.0 / x),
        ("sqrt", 0.01, 100.0, |t| t.sqrt(), f64::sqrt),
        (
            "inv_sqrt",
            0.01,
            100.0,
            |t| t.inv_sqrt(),
            |x| 1.0 / x.sqrt(),
        ),
        (
            "sigmoid",
            -20.0,
            20.0,
            |t| t.sigmoid(),
            |x| 1.0 / (1.0 + (-x).exp()),
        ),
        ("tanh", -10.0, 10.0, |t| t.tanh(), f64::tanh),
    ];
    for (name, lo, hi, op, f) in unary {
        let xs = lin(lo, hi);
        let ox = xs.clone();
        v.push(OpSpec::new(
            format!("{name}_{m}"),
            vec![(vec![m], xs)],
            Box::new(move |t| op(&t[0])),
            Box::new(move || ox.iter().map(|&x| f(x)).collect()),
        ));
    }
    let (rows, cols) = (sc(1000), 100);
    let logits = quantize(&data(9, rows * cols, 8.0));
    let ol = logits.clone();
    v.push(OpSpec::new(
        format!("softmax_{rows}x{cols}"),
        vec![(vec![rows, cols], logits)],
        Box::new(|t| t[0].softmax(1)),
        Box::new(move || mpc::approx::softmax_f64(&ol, cols)),
    ));
    let pb = sc(64);
    let img = quantize(&data(8, pb * 16 * 24 * 24, 4.0));
    let oimg = img.clone();
    v.push(OpSpec::new(
        format!("max_pool2d_2x2_{pb}x16x24x24"),
        vec![(vec![pb, 16, 24, 24], img)],
        Box::new(|t| t[0].max_pool2d(&Pool2dParams::square(2))),
        Box::new(move || {
            let mut out = Vec::with_capacity(pb * 16 * 144);
            for p in 0..pb * 16 {
                for i in 0..12 {
                    for j in 0..12 {
                        let at = |a: usize, b: usize| oimg[(p * 24 + 2 * i + a) * 24 + 2 * j + b];
                        out.push(at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1)));
                    }
                }
            }
            out
        }),
    ));
    v
}

/// Per-party measurement of one op.
struct PartyRun {
    /// Time of each measured repetition.
    elapsed: Vec<f64>,
    /// Communication of the last repetition.
    stats: mpc::CommStats,
    /// What the dealer sent in the last repetition.
    dealer: mpc::DealerStats,
    /// The revealed result of the last repetition.
    revealed: Vec<f64>,
}

/// Untimed repetitions before the measured ones: they warm up the allocator's per-thread
/// heaps and the caches, as any benchmark harness does.
const WARMUP: usize = 1;

/// One party's measurement of `spec` on its session.
fn measure(s: &Session, spec: &OpSpec, prefetch: bool, reps: usize) -> mpc::Result<PartyRun> {
    let inputs = spec
        .inputs
        .iter()
        .enumerate()
        .map(|(i, (shape, vals))| s.share_f64(shape, vals, i % s.n_parties()))
        .collect::<mpc::Result<Vec<_>>>()?;
    let mut elapsed = Vec::with_capacity(reps);
    let mut last = None;
    let mut requests = Vec::new();
    for rep in 0..WARMUP + reps {
        // The warm-up records the op's tuple requests; the online measurement prefetches
        // exactly those before each timed repetition.
        if prefetch && rep >= WARMUP {
            s.prefetch(&requests)?;
        }
        // One tiny round so that all parties start the clock together.
        s.share_f64(&[1], &[0.0], 0)?.reveal()?;
        s.reset_stats();
        let t0 = Instant::now();
        let (out, made) = s.record_requests(|| (spec.op)(&inputs))?;
        let t = t0.elapsed().as_secs_f64();
        if rep < WARMUP {
            requests = made;
        }
        let stats = (s.stats(), s.dealer_stats());
        if rep >= WARMUP {
            elapsed.push(t);
        }
        last = Some((out, stats));
    }
    let (out, (stats, dealer)) = last.expect("at least one repetition");
    let revealed = out.reveal_f64()?.into_vec();
    Ok(PartyRun {
        elapsed,
        stats,
        dealer,
        revealed,
    })
}

fn run_spec(
    spec: &OpSpec,
    parties: usize,
    link: Option<LinkProfile>,
    compare: CompareMode,
    prefetch: bool,
    reps: usize,
) -> mpc::Result<Vec<PartyRun>> {
    let config = SessionConfig {
        compare,
        ..SessionConfig::default()
    };
    run_local_over(parties, config, link, |s| measure(&s, spec, prefetch, reps))
}

/// Every party's measurement, gathered at every party: each party shares its timings (in
/// nanoseconds) and counts as integers, and all are revealed. Public numbers, gathered after
/// the timed work.
fn gather(s: &Session, mine: PartyRun) -> mpc::Result<Vec<PartyRun>> {
    let reps = mine.elapsed.len();
    let mut words: Vec<i64> = mine.elapsed.iter().map(|t| (t * 1e9) as i64).collect();
    words.extend([
        mine.stats.bytes_sent as i64,
        mine.stats.bytes_received as i64,
        mine.stats.messages_sent as i64,
        mine.stats.rounds as i64,
        mine.dealer.bytes_received as i64,
        mine.dealer.tuples as i64,
        mine.dealer.round_trips as i64,
    ]);
    let shape = [words.len()];
    let mut all = Vec::with_capacity(s.n_parties());
    for p in 0..s.n_parties() {
        let shared = if p == s.party() {
            s.share(&RingTensor::from_i64(&shape, &words)?, p)?
        } else {
            s.share_from(&shape, 0, p)?
        };
        let w: Vec<i64> = shared
            .reveal()?
            .as_slice()
            .iter()
            .map(|&v| v as i64)
            .collect();
        all.push(PartyRun {
            elapsed: w[..reps].iter().map(|&ns| ns as f64 / 1e9).collect(),
            stats: mpc::CommStats {
                bytes_sent: w[reps] as u64,
                bytes_received: w[reps + 1] as u64,
                messages_sent: w[reps + 2] as u64,
                rounds: w[reps + 3] as u64,
            },
            dealer: mpc::DealerStats {
                bytes_received: w[reps + 4] as u64,
                tuples: w[reps + 5] as u64,
                round_trips: w[reps + 6] as u64,
            },
            revealed: if p == s.party() {
                mine.revealed.clone()
            } else {
                Vec::new()
            },
        });
    }
    // Put this party's revealed result first, where `row` reads it.
    all.swap(0, s.party());
    Ok(all)
}

/// The op's time in repetition `rep` is the slowest party's; the reported time is the best
/// repetition.
fn best_time(runs: &[PartyRun]) -> f64 {
    let reps = runs[0].elapsed.len();
    (0..reps)
        .map(|r| runs.iter().map(|p| p.elapsed[r]).fold(0.0, f64::max))
        .fold(f64::INFINITY, f64::min)
}

/// How a row names its comparison mode.
pub fn compare_name(mode: CompareMode) -> &'static str {
    match mode {
        CompareMode::Circuit => "circuit",
        CompareMode::Fss => "fss",
    }
}

/// How a row names its link: `none`, or `RTTms,MBITMbit/s`.
pub fn link_name(link: Option<LinkProfile>) -> String {
    match link {
        None => "none".into(),
        Some(l) => format!(
            "{}ms,{}Mbit/s",
            l.rtt.as_secs_f64() * 1e3,
            l.bits_per_s / 1e6
        ),
    }
}

/// Runs the protocol benchmarks for `parties` in-process parties. `size_scale` shrinks every
/// size (1.0 is the full benchmark); `only` keeps the benchmarks whose name starts with it.
///
/// # Errors
/// A protocol failure.
pub fn ops(
    parties: usize,
    size_scale: f64,
    only: Option<&str>,
    reps: usize,
    link: Option<LinkProfile>,
    compare: CompareMode,
    mut emit: impl FnMut(&OpRow),
) -> mpc::Result<Vec<OpRow>> {
    let mut rows = Vec::new();
    for spec in selected(size_scale, only) {
        let with_dealer = run_spec(&spec, parties, link, compare, false, reps)?;
        let online = run_spec(&spec, parties, link, compare, true, reps)?;
        let mut row = row(&spec, parties, "inproc", link, &with_dealer, &online);
        row.compare = compare_name(compare);
        emit(&row);
        rows.push(row);
    }
    Ok(rows)
}

/// [`ops`] as one party of a networked session (each party a process, started by
/// `umbra launch` or `umbra party`). Every party runs it; rows are emitted at party 0 only.
///
/// # Errors
/// A protocol or network failure.
pub fn ops_networked(
    s: &Session,
    transport: &'static str,
    size_scale: f64,
    only: Option<&str>,
    reps: usize,
    mut emit: impl FnMut(&OpRow),
) -> mpc::Result<Vec<OpRow>> {
    let mut rows = Vec::new();
    for spec in selected(size_scale, only) {
        let with_dealer = gather(s, measure(s, &spec, false, reps)?)?;
        let online = gather(s, measure(s, &spec, true, reps)?)?;
        let mut row = row(&spec, s.n_parties(), transport, None, &with_dealer, &online);
        row.compare = compare_name(s.config().compare);
        if s.party() == 0 {
            emit(&row);
        }
        rows.push(row);
    }
    Ok(rows)
}

/// The benchmarks `only` names: the one with exactly that name if there is one (so
/// `relu_10000` does not also run `relu_1000000`), else those whose name starts with it.
fn selected(size_scale: f64, only: Option<&str>) -> Vec<OpSpec> {
    let all = specs(size_scale);
    let exact = only.is_some_and(|o| all.iter().any(|s| s.name == o));
    let wanted = |name: &str| match only {
        None => true,
        Some(o) if exact => name == o,
        Some(o) => name.starts_with(o),
    };
    all.into_iter().filter(|s| wanted(&s.name)).collect()
}

fn row(
    spec: &OpSpec,
    parties: usize,
    transport: &'static str,
    link: Option<LinkProfile>,
    with_dealer: &[PartyRun],
    online: &[PartyRun],
) -> OpRow {
    let oracle = (spec.oracle)();
    let errors: Vec<(f64, f64)> = with_dealer[0]
        .revealed
        .iter()
        .zip(&oracle)
        .map(|(a, b)| ((a - b).abs(), *b))
        .collect();
    let max_abs_err = errors.iter().map(|e| e.0).fold(0.0, f64::max);
    let gross_errors = errors
        .iter()
        .filter(|(e, want)| *e > 0.01 * want.abs().max(1.0))
        .count();
    let most = |f: fn(&PartyRun) -> u64| with_dealer.iter().map(f).max().unwrap_or(0);
    let (crypten_floor_s, spu_floor_s) = peers::floors(&spec.name, oracle.len(), link);
    OpRow {
        name: spec.name.clone(),
        parties,
        transport,
        link: link_name(link),
        compare: compare_name(CompareMode::Circuit),
        elements: oracle.len(),
        wall_s: best_time(with_dealer),
        online_wall_s: best_time(online),
        bytes_sent_per_party: most(|r| r.stats.bytes_sent),
        messages_per_party: most(|r| r.stats.messages_sent),
        rounds: most(|r| r.stats.rounds),
        dealer_bytes_per_party: most(|r| r.dealer.bytes_received),
        dealer_round_trips: most(|r| r.dealer.round_trips),
        max_abs_err,
        gross_errors,
        crypten_floor_s,
        spu_floor_s,
    }
}

/// Benchmarks the raw GEMM kernel at 256, 512 and 1024 cubed, single-threaded and with all
/// threads; best of `reps` runs.
pub fn gemm(reps: usize, mut emit: impl FnMut(&GemmRow)) -> Vec<GemmRow> {
    let mut rows = Vec::new();
    let all = kernel::default_threads();
    for n in [256, 512, 1024] {
        let a: Vec<u64> = (0..n * n)
            .map(|i| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let b: Vec<u64> = (0..n * n)
            .map(|i| (i as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9))
            .collect();
        let mut c = vec![0u64; n * n];
        let mut threads = vec![1];
        if all > 1 {
            threads.push(all);
        }
        for t in threads {
            let best = (0..reps.max(1))
                .map(|_| {
                    let t0 = Instant::now();
                    kernel::gemm(n, n, n, &a, n, &b, n, &mut c, n, false, t);
                    t0.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min);
            let row = GemmRow {
                name: "gemm",
                backend: kernel::backend_name(),
                n,
                threads: t,
                wall_s: best,
                gmac_per_s: (n * n * n) as f64 / best / 1e9,
            };
            emit(&row);
            rows.push(row);
        }
    }
    rows
}

/// One row of the accuracy table, as printed by `umbra bench accuracy`.
#[derive(Debug, Clone, Serialize)]
pub struct AccuracyRow {
    /// The function as called.
    pub function: String,
    /// The swept input domain.
    pub domain: String,
    /// Number of parties.
    pub parties: usize,
    /// Largest absolute error against `f64`.
    pub max_abs_err: f64,
    /// Largest relative error where the true value is at least 0.01 in magnitude.
    pub max_rel_err: f64,
    /// Communication rounds of one call.
    pub rounds: u64,
    /// Bytes sent per input element by party 0.
    pub bytes_per_element: f64,
}

/// Measures every nonlinear function over its documented domain (see [`mpc::approx`]).
///
/// # Errors
/// A protocol failure.
pub fn accuracy(parties: usize) -> mpc::Result<Vec<AccuracyRow>> {
    Ok(mpc::approx::accuracy_table(parties)?
        .into_iter()
        .map(|r| AccuracyRow {
            function: r.function,
            domain: r.domain,
            parties,
            max_abs_err: r.max_abs_err,
            max_rel_err: r.max_rel_err,
            rounds: r.rounds,
            bytes_per_element: r.bytes_per_element,
        })
        .collect())
}

/// The accuracy table as Markdown (what `docs/accuracy.md` holds).
pub fn accuracy_markdown(rows: &[AccuracyRow]) -> String {
    let mut s = String::from(
        "| function | domain | parties | max abs err | max rel err | rounds | bytes/element |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {:.2e} | {:.2e} | {} | {:.1} |\n",
            r.function,
            r.domain,
            r.parties,
            r.max_abs_err,
            r.max_rel_err,
            r.rounds,
            r.bytes_per_element
        ));
    }
    s
}

/// One transport benchmark result.
#[derive(Debug, Clone, Serialize)]
pub struct NetRow {
    /// `bulk_exchange` (both directions at once), `bulk_one_way` or `round_trip`.
    pub name: &'static str,
    /// `quic` or `tcp`.
    pub transport: String,
    /// Payload bytes per frame.
    pub frame_bytes: usize,
    /// Bulk: payload gigabits per second in each direction (both directions at once).
    pub gbit_s_per_direction: f64,
    /// Round trip: microseconds per round (send a frame, receive the peer's).
    pub us_per_round: f64,
}

/// Raw transport speed between two parties on loopback, each on its own thread with its own
/// network runtime and authenticated links: bulk exchange of `mib`-MiB frames in both
/// directions at once and in one direction (best of `reps` each), and lock-step rounds of
/// 8-byte frames.
///
/// # Errors
/// Keys or links could not be set up, or a link failed.
pub fn net(
    transport: party::Transport,
    mib: usize,
    reps: usize,
    rounds: usize,
) -> anyhow::Result<Vec<NetRow>> {
    use mpc::Comm;
    let dir = std::env::temp_dir().join(format!("umbra-bench-net-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ports: Vec<String> = party::launch::free_ports(2, transport)?
        .into_iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let cluster_path = party::keygen::keygen(&party::keygen::KeygenOptions {
        parties: 2,
        dealer: false,
        hosts: ports,
        base_port: 0,
        out: dir.clone(),
        force: true,
        dealer_attest: None,
    })?;
    let cluster = party::Cluster::load(&cluster_path)?;
    let frame = mib << 20;
    let results = std::thread::scope(|s| -> anyhow::Result<Vec<(f64, f64, f64)>> {
        let handles: Vec<_> = (0..2u16)
            .map(|me| {
                let cluster = cluster.clone();
                let dir = dir.clone();
                s.spawn(move || -> anyhow::Result<(f64, f64, f64)> {
                    let name = format!("party-{me}");
                    let identity = party::Identity::load(
                        &dir.join(format!("{name}.crt")),
                        &dir.join(format!("{name}.key")),
                    )?;
                    let mut c = party::connect_mesh(party::NodeConfig {
                        cluster,
                        me,
                        identity,
                        session: [9; 16],
                        transport,
                        timeouts: party::Timeouts::default(),
                        bind: None,
                    })?;
                    let peer = 1 - usize::from(me);
                    let payload = vec![me as u8; frame];
                    let mut best = f64::INFINITY;
                    for _ in 0..reps + 1 {
                        c.send(peer, vec![0; 8], "sync")?;
                        c.recv(peer, "sync")?;
                        let t = Instant::now();
                        c.send(peer, payload.clone(), "bulk")?;
                        let got = c.recv_expect(peer, frame, "bulk")?;
                        best = best.min(t.elapsed().as_secs_f64());
                        anyhow::ensure!(got[0] == peer as u8, "wrong payload");
                    }
                    // One way: party 0 sends, party 1 receives and acknowledges.
                    let mut one_way = f64::INFINITY;
                    for _ in 0..reps + 1 {
                        c.send(peer, vec![0; 8], "sync")?;
                        c.recv(peer, "sync")?;
                        let t = Instant::now();
                        if me == 0 {
                            c.send(peer, payload.clone(), "one way")?;
                            c.recv_expect(peer, 8, "ack")?;
                        } else {
                            c.recv_expect(peer, frame, "one way")?;
                            c.send(peer, vec![0; 8], "ack")?;
                        }
                        one_way = one_way.min(t.elapsed().as_secs_f64());
                    }
                    let t = Instant::now();
                    for _ in 0..rounds {
                        if me == 0 {
                            c.send(peer, vec![1; 8], "ping")?;
                            c.recv_expect(peer, 8, "pong")?;
                        } else {
                            c.recv_expect(peer, 8, "ping")?;
                            c.send(peer, vec![2; 8], "pong")?;
                        }
                    }
                    let per_round = t.elapsed().as_secs_f64() / rounds as f64 / 2.0;
                    Ok((best, one_way, per_round))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a party thread panicked"))?
            })
            .collect()
    });
    let _ = std::fs::remove_dir_all(&dir);
    let results = results?;
    let bulk = results.iter().map(|r| r.0).fold(0.0, f64::max);
    let one_way = results[0].1;
    let round = results[0].2;
    Ok(vec![
        NetRow {
            name: "bulk_exchange",
            transport: transport.to_string(),
            frame_bytes: frame,
            gbit_s_per_direction: frame as f64 * 8.0 / bulk / 1e9,
            us_per_round: 0.0,
        },
        NetRow {
            name: "bulk_one_way",
            transport: transport.to_string(),
            frame_bytes: frame,
            gbit_s_per_direction: frame as f64 * 8.0 / one_way / 1e9,
            us_per_round: 0.0,
        },
        NetRow {
            name: "round_trip",
            transport: transport.to_string(),
            frame_bytes: 8,
            gbit_s_per_direction: 0.0,
            us_per_round: round * 1e6,
        },
    ])
}

/// One figure of `bench attest`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AttestCost {
    /// What was timed.
    pub name: String,
    /// Median milliseconds.
    pub ms: f64,
    /// What it includes.
    pub note: String,
}

/// The attested dealer's costs: appraisal of the sample evidence per TEE, and the dealer
/// handshake pinned vs attested (test-only evidence: the same certificate, verifier and
/// policy code, with no platform signature to check; a TDX dealer's handshake adds the TDX
/// appraisal time to it).
///
/// # Errors
/// The fixtures are not beside the sources (run it from the repository), or a key or
/// handshake failed.
pub fn attest(reps: usize) -> anyhow::Result<Vec<AttestCost>> {
    use anyhow::Context;
    use party::attest::{Evidence, Policy, PolicyFile, TeeKind, appraise};
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../party/tests/fixtures/attest");
    let read = |n: &str| {
        std::fs::read(dir.join(n)).with_context(|| {
            format!(
                "the attestation fixture {} (run from the repository)",
                dir.join(n).display()
            )
        })
    };
    let at = 1_750_400_000;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let cases = [
        (
            "appraise TDX quote (dcap-qvl)",
            Evidence::Tdx { quote: read("tdx_quote")? },
            PolicyFile {
                tee: "tdx".into(),
                mrtd: Some("91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7".into()),
                rtmr1: Some("0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378".into()),
                rtmr2: Some("d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132".into()),
                collateral: Some("tdx_quote_collateral.json".into()),
                ..PolicyFile::default()
            },
        ),
        (
            "appraise SGX quote (dcap-qvl)",
            Evidence::Sgx { quote: read("sgx_quote")? },
            PolicyFile {
                tee: "sgx".into(),
                mrenclave: Some("33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb".into()),
                tcb_statuses: Some(vec!["ConfigurationAndSWHardeningNeeded".into()]),
                collateral: Some("sgx_quote_collateral.json".into()),
                ..PolicyFile::default()
            },
        ),
        (
            "appraise SEV-SNP report (sev)",
            Evidence::Snp { report: read("snp_report_milan.bin")?, vcek: read("snp_vcek_milan.der")? },
            PolicyFile {
                tee: "snp".into(),
                measurement: Some("7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f".into()),
                ..PolicyFile::default()
            },
        ),
    ];
    let mut out = Vec::new();
    for (name, evidence, file) in cases {
        let what = if matches!(evidence, Evidence::Snp { .. }) {
            "VCEK chain to AMD's ARK/ASK (RSA-4096), report signature, policy"
        } else {
            "PCK chain to Intel's root, quote and QE signatures, collateral, policy"
        };
        let policy = Policy::from_file(file, &dir).map_err(anyhow::Error::msg)?;
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            let a = appraise(&evidence, None, &policy, at);
            anyhow::ensure!(a.passed(), "{name} did not pass:\n{a}");
            times.push(a.elapsed.as_secs_f64() * 1e3);
        }
        out.push(AttestCost {
            name: name.into(),
            ms: median(times),
            note: format!("{what}; {} evidence bytes", evidence.encode().len()),
        });
    }
    let tmp = std::env::temp_dir().join(format!("umbra-bench-attest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let keys = |sub: &str, policy: Option<PolicyFile>| -> anyhow::Result<party::Cluster> {
        let path = party::keygen::keygen(&party::keygen::KeygenOptions {
            parties: 2,
            dealer: policy.is_none(),
            dealer_attest: policy,
            hosts: vec![],
            base_port: 7500,
            out: tmp.join(sub),
            force: true,
        })?;
        Ok(party::Cluster::load(&path)?)
    };
    let result = (|| -> anyhow::Result<()> {
        let pinned = keys("pinned", None)?;
        let p0 = party::Identity::load(
            &tmp.join("pinned/party-0.crt"),
            &tmp.join("pinned/party-0.key"),
        )?;
        let dealer = party::Identity::load(
            &tmp.join("pinned/dealer.crt"),
            &tmp.join("pinned/dealer.key"),
        )?;
        let t = party::dealer_handshake_time(&pinned, (0, &p0), &dealer, reps)?;
        out.push(AttestCost {
            name: "dealer handshake, pinned".into(),
            ms: t.as_secs_f64() * 1e3,
            note: "TLS 1.3 in memory, both sides, fingerprint check".into(),
        });
        let m = [0x5a; 32];
        let attested = keys(
            "attested",
            Some(PolicyFile {
                tee: TeeKind::InsecureTestOnly.name().into(),
                measurement: Some(party::wire::hex(&m)),
                ..PolicyFile::default()
            }),
        )?;
        let p0 = party::Identity::load(
            &tmp.join("attested/party-0.crt"),
            &tmp.join("attested/party-0.key"),
        )?;
        let (dealer, _) = party::attest::attested_identity(
            TeeKind::InsecureTestOnly,
            &party::attest::ProduceOptions {
                test_measurement: Some(m),
                ..Default::default()
            },
        )?;
        let t = party::dealer_handshake_time(&attested, (0, &p0), &dealer, reps)?;
        out.push(AttestCost {
            name: "dealer handshake, attested (test-only)".into(),
            ms: t.as_secs_f64() * 1e3,
            note: "the same, with the certificate parsed, evidence decoded, policy and key binding checked".into(),
        });
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result?;
    Ok(out)
}
