//! Benchmarks behind `umbra bench`: protocol costs (time, bytes, rounds, error) and the raw
//! GEMM kernel. Benchmarks are commands, never timed tests.

use std::time::Instant;

use mpc::{CrypTensor, Session, SessionConfig, TupleRequest, run_local};
use serde::Serialize;
use tensor::{Conv2dParams, kernel};

/// One protocol benchmark result (one JSON line).
#[derive(Debug, Clone, Serialize)]
pub struct OpRow {
    /// Benchmark name, e.g. `mul_1e6`.
    pub name: String,
    /// Number of parties.
    pub parties: usize,
    /// `inproc` (threads and channels) for now.
    pub transport: &'static str,
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
    /// Largest absolute error of the revealed result against an `f64` oracle.
    pub max_abs_err: f64,
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

/// The tuples an op will ask for, given the session (its truncation mode matters).
type RequestsFn = Box<dyn Fn(&Session) -> Vec<TupleRequest> + Sync>;
/// The op under test, on the shared inputs.
type OpFn = Box<dyn Fn(&[CrypTensor]) -> mpc::Result<CrypTensor> + Sync>;

struct OpSpec {
    name: String,
    inputs: Vec<(Vec<usize>, Vec<f64>)>,
    requests: RequestsFn,
    op: OpFn,
    /// The exact result in `f64`, computed on demand (the 1024^3 one takes a while).
    oracle: Box<dyn Fn() -> Vec<f64> + Sync>,
}

/// The requests a product rescaled by the session's truncation needs, after `product`.
fn with_trunc(s: &Session, product: TupleRequest, out_shape: Vec<usize>) -> Vec<TupleRequest> {
    let mut v = vec![product];
    if !s.uses_local_trunc() {
        v.push(TupleRequest::Trunc {
            shape: out_shape,
            divisor: 1 << 16,
        });
    }
    v
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

fn specs(size_scale: f64) -> Vec<OpSpec> {
    let sc = |n: usize| ((n as f64 * size_scale).round() as usize).max(1);
    let mut v = Vec::new();
    let n = sc(1_000_000);
    let (x, y) = (quantize(&data(1, n, 8.0)), quantize(&data(2, n, 8.0)));
    v.push(OpSpec {
        name: format!("mul_{n}"),
        inputs: vec![(vec![n], x.clone()), (vec![n], y.clone())],
        requests: Box::new(move |s| {
            with_trunc(
                s,
                TupleRequest::Mul {
                    a: vec![n],
                    b: vec![n],
                },
                vec![n],
            )
        }),
        op: Box::new(|t| t[0].mul(&t[1])),
        oracle: {
            let (x, y) = (x.clone(), y.clone());
            Box::new(move || x.iter().zip(&y).map(|(a, b)| a * b).collect())
        },
    });
    v.push(OpSpec {
        name: format!("square_{n}"),
        inputs: vec![(vec![n], x.clone())],
        requests: Box::new(move |s| {
            with_trunc(s, TupleRequest::Square { shape: vec![n] }, vec![n])
        }),
        op: Box::new(|t| t[0].square()),
        oracle: {
            let x = x.clone();
            Box::new(move || x.iter().map(|a| a * a).collect())
        },
    });
    for m in [sc(256), sc(1024)] {
        let (a, b) = (
            quantize(&data(3, m * m, 1.0)),
            quantize(&data(4, m * m, 1.0)),
        );
        v.push(OpSpec {
            name: format!("matmul_{m}x{m}x{m}"),
            inputs: vec![(vec![m, m], a.clone()), (vec![m, m], b.clone())],
            requests: Box::new(move |s| {
                with_trunc(
                    s,
                    TupleRequest::Matmul {
                        a: vec![m, m],
                        b: vec![m, m],
                    },
                    vec![m, m],
                )
            }),
            op: Box::new(|t| t[0].matmul(&t[1])),
            oracle: {
                let (a, b) = (a.clone(), b.clone());
                Box::new(move || matmul_oracle(&a, &b, m, m, m))
            },
        });
    }
    let batch = sc(64);
    let (xs, ws) = (vec![batch, 1, 28, 28], vec![16, 1, 5, 5]);
    let (xi, wi) = (
        quantize(&data(5, batch * 784, 1.0)),
        quantize(&data(6, 400, 1.0)),
    );
    let p = Conv2dParams::default();
    let mut conv = vec![0.0; batch * 16 * 24 * 24];
    for b in 0..batch {
        for o in 0..16 {
            for i in 0..24 {
                for j in 0..24 {
                    let mut acc = 0.0;
                    for ki in 0..5 {
                        for kj in 0..5 {
                            acc += xi[b * 784 + (i + ki) * 28 + j + kj] * wi[o * 25 + ki * 5 + kj];
                        }
                    }
                    conv[((b * 16 + o) * 24 + i) * 24 + j] = acc;
                }
            }
        }
    }
    let (xs2, ws2) = (xs.clone(), ws.clone());
    v.push(OpSpec {
        name: format!("conv2d_{batch}x1x28x28_16x1x5x5"),
        inputs: vec![(xs, xi), (ws, wi)],
        requests: Box::new(move |s| {
            with_trunc(
                s,
                TupleRequest::Conv2d {
                    x: xs2.clone(),
                    w: ws2.clone(),
                    params: p,
                },
                vec![batch, 16, 24, 24],
            )
        }),
        op: Box::new(move |t| t[0].conv2d(&t[1], &p)),
        oracle: Box::new(move || conv.clone()),
    });
    v.push(OpSpec {
        name: format!("reveal_{n}"),
        inputs: vec![(vec![n], x.clone())],
        requests: Box::new(|_| Vec::new()),
        op: Box::new(|t| Ok(CrypTensor::Public(t[0].reveal()?))),
        oracle: Box::new(move || x.clone()),
    });
    v
}

/// Per-party measurement of one op.
struct PartyRun {
    /// Time of each measured repetition.
    elapsed: Vec<f64>,
    /// Communication of the last repetition.
    stats: mpc::CommStats,
    /// The revealed result of the last repetition.
    revealed: Vec<f64>,
}

/// Untimed repetitions before the measured ones: they warm up the allocator's per-thread
/// heaps and the caches, as any benchmark harness does.
const WARMUP: usize = 1;

fn run_spec(
    spec: &OpSpec,
    parties: usize,
    prefetch: bool,
    reps: usize,
) -> mpc::Result<Vec<PartyRun>> {
    run_local(parties, SessionConfig::default(), |s| {
        let inputs = spec
            .inputs
            .iter()
            .enumerate()
            .map(|(i, (shape, vals))| s.share_f64(shape, vals, i % s.n_parties()))
            .collect::<mpc::Result<Vec<_>>>()?;
        let mut elapsed = Vec::with_capacity(reps);
        let mut last = None;
        for rep in 0..WARMUP + reps {
            if prefetch {
                s.prefetch(&(spec.requests)(&s))?;
            }
            // One tiny round so that all parties start the clock together.
            s.share_f64(&[1], &[0.0], 0)?.reveal()?;
            s.reset_stats();
            let t0 = Instant::now();
            let out = (spec.op)(&inputs)?;
            let t = t0.elapsed().as_secs_f64();
            let stats = s.stats();
            if rep >= WARMUP {
                elapsed.push(t);
            }
            last = Some((out, stats));
        }
        let (out, stats) = last.expect("at least one repetition");
        let revealed = out.reveal_f64()?;
        Ok(PartyRun {
            elapsed,
            stats,
            revealed,
        })
    })
}

/// The op's time in repetition `rep` is the slowest party's; the reported time is the best
/// repetition.
fn best_time(runs: &[PartyRun]) -> f64 {
    let reps = runs[0].elapsed.len();
    (0..reps)
        .map(|r| runs.iter().map(|p| p.elapsed[r]).fold(0.0, f64::max))
        .fold(f64::INFINITY, f64::min)
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
    mut emit: impl FnMut(&OpRow),
) -> mpc::Result<Vec<OpRow>> {
    let mut rows = Vec::new();
    let wanted = |name: &str| only.is_none_or(|o| name.starts_with(o));
    for spec in specs(size_scale).into_iter().filter(|s| wanted(&s.name)) {
        let with_dealer = run_spec(&spec, parties, false, reps)?;
        let online = run_spec(&spec, parties, true, reps)?;
        let oracle = (spec.oracle)();
        let max_abs_err = with_dealer[0]
            .revealed
            .iter()
            .zip(&oracle)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let row = OpRow {
            name: spec.name.clone(),
            parties,
            transport: "inproc",
            elements: oracle.len(),
            wall_s: best_time(&with_dealer),
            online_wall_s: best_time(&online),
            bytes_sent_per_party: with_dealer
                .iter()
                .map(|r| r.stats.bytes_sent)
                .max()
                .unwrap_or(0),
            messages_per_party: with_dealer
                .iter()
                .map(|r| r.stats.messages_sent)
                .max()
                .unwrap_or(0),
            rounds: with_dealer
                .iter()
                .map(|r| r.stats.rounds)
                .max()
                .unwrap_or(0),
            max_abs_err,
        };
        emit(&row);
        rows.push(row);
    }
    Ok(rows)
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
