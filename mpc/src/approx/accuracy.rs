//! The accuracy table: every function run privately on a sweep of its domain, against `f64`.

use crate::cryptensor::CrypTensor;
use crate::error::Result;
use crate::local::run_local;
use crate::session::SessionConfig;

use super::erf_f64;

/// One row of the accuracy table.
#[derive(Debug, Clone, PartialEq)]
pub struct AccuracyRow {
    /// The function, as called (`exp`, `pow(-3)`, `var(dim=1, correction=1)`, ...).
    pub function: String,
    /// The swept domain, e.g. `[-16, 8]`.
    pub domain: String,
    /// Largest `|got - want|` over the sweep.
    pub max_abs_err: f64,
    /// Largest `|got - want| / |want|` over the points with `|want| ≥ 0.01` (below that the
    /// 16-bit grid alone costs more than 0.15 %).
    pub max_rel_err: f64,
    /// Communication rounds of party 0 for the whole call.
    pub rounds: u64,
    /// Bytes party 0 sent, divided by the number of input elements.
    pub bytes_per_element: f64,
}

/// A private operation under measurement.
pub type Op<'a> = &'a (dyn Fn(&CrypTensor) -> Result<CrypTensor> + Sync);

/// Runs `op` privately among `parties` in-process parties on `inputs` (shared by party 0 at
/// the session's default 16 fractional bits) and compares the revealed result with
/// `oracle` applied to the *encoded* inputs (so input quantization is not counted as error).
///
/// The run uses a fixed test seed so that the table reproduces; the parties are threads of
/// this process, so the seed protects nothing anyway.
///
/// # Errors
/// Inputs that cannot be encoded, `op` failing, or `parties < 2`.
///
/// # Security
/// A measurement tool: it reveals the result to every party by design.
pub fn measure(
    parties: usize,
    function: &str,
    domain: &str,
    shape: &[usize],
    inputs: &[f64],
    op: Op<'_>,
    oracle: &dyn Fn(&[f64]) -> Vec<f64>,
) -> Result<AccuracyRow> {
    let config = SessionConfig {
        insecure_test_seed: Some(0x6163_6375_7261_6379),
        ..SessionConfig::default()
    };
    let plain = tensor::RingTensor::from_f64(shape, inputs, config.frac_bits)?;
    let encoded = plain.to_f64();
    let out = run_local(parties, config, |s| {
        let x = s.share(&plain, 0)?;
        s.reset_stats();
        let y = op(&x)?;
        let stats = s.stats();
        Ok((y.reveal_f64()?, stats))
    })?;
    let (got, stats) = &out[0];
    let want = oracle(&encoded);
    let (mut abs, mut rel) = (0.0f64, 0.0f64);
    for (g, w) in got.iter().zip(&want) {
        let e = (g - w).abs();
        abs = abs.max(e);
        if w.abs() >= 0.01 {
            rel = rel.max(e / w.abs());
        }
    }
    Ok(AccuracyRow {
        function: function.to_string(),
        domain: domain.to_string(),
        max_abs_err: abs,
        max_rel_err: rel,
        rounds: stats.rounds,
        bytes_per_element: stats.bytes_sent as f64 / inputs.len() as f64,
    })
}

/// `n` points evenly spaced on `[lo, hi]`, ends included.
pub fn linspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| lo + (hi - lo) * i as f64 / (n - 1).max(1) as f64)
        .collect()
}

/// `n` points evenly spaced in `log` on `[lo, hi]` (both positive), ends included.
pub fn logspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    linspace(lo.ln(), hi.ln(), n)
        .into_iter()
        .map(f64::exp)
        .collect()
}

fn map(f: fn(f64) -> f64) -> impl Fn(&[f64]) -> Vec<f64> {
    move |xs| xs.iter().map(|&x| f(x)).collect()
}

/// Softmax of each row of `cols` values, in `f64` with max subtraction: the oracle for the
/// private `softmax`.
pub fn softmax_f64(v: &[f64], cols: usize) -> Vec<f64> {
    v.chunks(cols)
        .flat_map(|row| {
            let m = row.iter().copied().fold(f64::MIN, f64::max);
            let s: f64 = row.iter().map(|a| (a - m).exp()).sum();
            row.iter()
                .map(move |a| (a - m).exp() / s)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Measures every function of the library on a sweep of its documented domain (1000 points
/// per function; the statistics on 100 rows of 10) with `parties` in-process parties and the
/// default [`super::ApproxConfig`].
///
/// # Errors
/// `parties < 2`, or a protocol failure.
///
/// # Security
/// A measurement tool: reveals its (synthetic) results.
///
/// # Examples
/// ```no_run
/// for row in mpc::approx::accuracy_table(2)? {
///     println!("{} on {}: {:.1e}", row.function, row.domain, row.max_abs_err);
/// }
/// # Ok::<(), mpc::Error>(())
/// ```
pub fn accuracy_table(parties: usize) -> Result<Vec<AccuracyRow>> {
    let n = 1000;
    let mut rows = Vec::new();
    let mut one = |name: &str, domain: &str, xs: Vec<f64>, op: Op<'_>, f: fn(f64) -> f64| {
        measure(parties, name, domain, &[xs.len()], &xs, op, &map(f)).map(|r| rows.push(r))
    };
    one(
        "exp",
        "[-16, 8]",
        linspace(-16.0, 8.0, n),
        &|x| x.exp(),
        f64::exp,
    )?;
    one(
        "log",
        "[0.01, 100]",
        logspace(0.01, 100.0, n),
        &|x| x.log(),
        f64::ln,
    )?;
    one(
        "reciprocal",
        "[0.01, 100]",
        logspace(0.01, 100.0, n),
        &|x| x.reciprocal(),
        f64::recip,
    )?;
    one(
        "inv_sqrt",
        "[0.01, 100]",
        logspace(0.01, 100.0, n),
        &|x| x.inv_sqrt(),
        |x| 1.0 / x.sqrt(),
    )?;
    one(
        "sqrt",
        "[0.01, 100]",
        logspace(0.01, 100.0, n),
        &|x| x.sqrt(),
        f64::sqrt,
    )?;
    one(
        "cos",
        "[-16, 16]",
        linspace(-16.0, 16.0, n),
        &|x| x.cos(),
        f64::cos,
    )?;
    one(
        "sin",
        "[-16, 16]",
        linspace(-16.0, 16.0, n),
        &|x| x.sin(),
        f64::sin,
    )?;
    one(
        "erf",
        "[-4, 4]",
        linspace(-4.0, 4.0, n),
        &|x| x.erf(),
        erf_f64,
    )?;
    one(
        "pow(2)",
        "[-64, 64]",
        linspace(-64.0, 64.0, n),
        &|x| x.pow(2),
        |x| x * x,
    )?;
    one(
        "pow(3)",
        "[-16, 16]",
        linspace(-16.0, 16.0, n),
        &|x| x.pow(3),
        |x| x.powi(3),
    )?;
    one(
        "pow(4)",
        "[-8, 8]",
        linspace(-8.0, 8.0, n),
        &|x| x.pow(4),
        |x| x.powi(4),
    )?;
    one(
        "pow(-1)",
        "[0.01, 100]",
        logspace(0.01, 100.0, n),
        &|x| x.pow(-1),
        f64::recip,
    )?;
    one(
        "pow(-2)",
        "[0.1, 100]",
        logspace(0.1, 100.0, n),
        &|x| x.pow(-2),
        |x| x.powi(-2),
    )?;
    one(
        "sigmoid",
        "[-20, 20]",
        linspace(-20.0, 20.0, n),
        &|x| x.sigmoid(),
        |x| 1.0 / (1.0 + (-x).exp()),
    )?;
    one(
        "tanh",
        "[-10, 10]",
        linspace(-10.0, 10.0, n),
        &|x| x.tanh(),
        f64::tanh,
    )?;
    one(
        "gelu",
        "[-8, 8]",
        linspace(-8.0, 8.0, n),
        &|x| x.gelu(),
        |x| 0.5 * x * (1.0 + erf_f64(x * std::f64::consts::FRAC_1_SQRT_2)),
    )?;
    one(
        "silu",
        "[-20, 20]",
        linspace(-20.0, 20.0, n),
        &|x| x.silu(),
        |x| x / (1.0 + (-x).exp()),
    )?;
    one(
        "softplus",
        "[-20, 20]",
        linspace(-20.0, 20.0, n),
        &|x| x.softplus(),
        |x| x.max(0.0) + (-x.abs()).exp().ln_1p(),
    )?;
    let signed: Vec<f64> = logspace(0.01, 100.0, n / 2)
        .into_iter()
        .flat_map(|v| [v, -v])
        .collect();
    one(
        "reciprocal_signed",
        "±[0.01, 100]",
        signed,
        &|x| x.reciprocal_signed(),
        f64::recip,
    )?;
    let (r, c) = (100, 10);
    let logits = linspace(-10.0, 10.0, r * c);
    let logits: Vec<f64> = (0..r * c).map(|i| logits[(i * 37) % (r * c)]).collect();
    let softmax_rows = move |v: &[f64]| softmax_f64(v, c);
    rows.push(measure(
        parties,
        "softmax(dim=1)",
        "100 rows of 10 in [-10, 10]",
        &[r, c],
        &logits,
        &|x| x.softmax(1),
        &softmax_rows,
    )?);
    rows.push(measure(
        parties,
        "log_softmax(dim=1)",
        "100 rows of 10 in [-10, 10]",
        &[r, c],
        &logits,
        &|x| x.log_softmax(1),
        &move |v: &[f64]| softmax_rows(v).into_iter().map(f64::ln).collect(),
    )?);
    let xs: Vec<f64> = linspace(-8.0, 8.0, r * c)
        .iter()
        .enumerate()
        .map(|(i, v)| if i % 2 == 0 { *v } else { -v * 0.5 })
        .collect();
    let rowwise = |f: fn(&[f64]) -> f64| move |v: &[f64]| v.chunks(c).map(f).collect::<Vec<f64>>();
    for (name, corr) in [
        ("var(dim=1, correction=0)", 0u64),
        ("var(dim=1, correction=1)", 1),
    ] {
        let oracle = rowwise(if corr == 0 { var_biased } else { var_unbiased });
        rows.push(measure(
            parties,
            name,
            "rows of 10 in [-8, 8]",
            &[r, c],
            &xs,
            &move |x| x.var(&[1], corr, false),
            &oracle,
        )?);
    }
    rows.push(measure(
        parties,
        "std(dim=1, correction=1)",
        "rows of 10 in [-8, 8]",
        &[r, c],
        &xs,
        &|x| x.std(&[1], 1, false),
        &rowwise(|v| var_unbiased(v).sqrt()),
    )?);
    let small: Vec<f64> = xs.iter().map(|v| v / 4.0).collect();
    rows.push(measure(
        parties,
        "norm(dim=1)",
        "rows of 10 in [-2, 2]",
        &[r, c],
        &small,
        &|x| x.norm(&[1], false),
        &rowwise(|v| v.iter().map(|a| a * a).sum::<f64>().sqrt()),
    )?);
    Ok(rows)
}

fn var_with(v: &[f64], correction: f64) -> f64 {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / (v.len() as f64 - correction)
}

fn var_biased(v: &[f64]) -> f64 {
    var_with(v, 0.0)
}

fn var_unbiased(v: &[f64]) -> f64 {
    var_with(v, 1.0)
}
