//! Nonlinear functions on secret-shared tensors: `exp`, `log`, `reciprocal`, `sqrt`,
//! `inv_sqrt`, integer `pow`, `cos`/`sin`, `erf`, the statistics `var`, `std`, `norm`, and
//! (on the comparisons of [`crate::compare`]) `sigmoid`, `tanh`, `softmax`, `log_softmax`,
//! `gelu`, the signed reciprocal and private division.
//!
//! Every function is a sequence of additions, public scalings and Beaver products, so it
//! reveals nothing and its cost does not depend on the data. Each method documents its input
//! domain, its method, its measured error and its cost (rounds and bytes sent per element,
//! 2 parties; [`accuracy_table`] regenerates the numbers). Iteration counts live in
//! [`ApproxConfig`]; the plain methods use [`ApproxConfig::default`], the `_with` variants take
//! a config.
//!
//! Where umbra departs from CrypTen (reference: CrypTen's `configs/default.yaml` and
//! `functions/approximations.py`):
//! - **exp** keeps CrypTen's repeated squaring but replaces its `1 + x/2^k` seed by a degree-4
//!   Taylor seed and carries `u = e^y - 1` at `16 + k` fractional bits, dropping one bit per
//!   squaring ([`CrypTensor::exp`]). The `2^k` amplification of the seed's rounding error,
//!   which dominates CrypTen's error, disappears: relative error about 2e-5 above 1 instead of 4.9 %.
//! - **reciprocal** and **inv_sqrt** need no `exp` for their initial guess: a linear guess
//!   tuned to the domain bound, then Goldschmidt steps (reciprocal) or Newton steps (inverse
//!   square root) that are self-correcting.
//! - **cos/sin** use the same extended-precision squaring on `e^{ix}` (10 rounds instead of
//!   CrypTen's 28).
//! - **erf** is a Chebyshev expansion of `erf(x)/x` in `x²` evaluated with Clenshaw's
//!   recurrence (accurate on the whole `[-4, 4]`, where CrypTen's 8-term Taylor series is
//!   useless beyond `|x| ≈ 2`).
//!
//! **Full domain by default.** `reciprocal`, division, `log`, `sqrt` and `inv_sqrt` run in
//! their full-domain forms ([`Domain::Full`], see `wide.rs`): the top bit of the input is
//! found privately, the input is scaled into `[1/2, 1)`, the function runs there and the
//! exponent is put back, so every magnitude the format holds is accurate (2 parties, exact
//! truncation: log 24 rounds, reciprocal 27, sqrt and inv_sqrt 26). The method descriptions below that name a
//! domain such as `[0.01, 100]` describe the [`Domain::Narrow`] forms. `exp` clamps its
//! input to where its squarings hold (`[-16, 18.7]` at 16 bits; below, `e^-16`; above, a
//! documented saturation), unless [`Domain::Narrow`] asks it not to.
//!
//! **Every input elsewhere too.** The other functions take every input the format holds:
//! clamps are exact at the ring's ends ([`CrypTensor::clamp`] tells the wrapped ends apart
//! by the input's own sign), `sigmoid`, `tanh`, `silu`, `softplus` and `gelu` never multiply
//! the unbounded input (`silu(x) = relu(x) - |x_c|σ(-|x_c|)` and the like, on a clamped
//! `x_c`), and `cos`/`sin` reduce modulo `2π` exactly below 2^46. Integer powers and
//! products hold while `|x^n| < 2^(63-2f)` (2^31 at 16 bits): the product of two 16-bit
//! encodings is held at 32 fractional bits before its truncation, as in every 64-bit
//! fixed-point MPC framework. `mpc/tests/wide_domain.rs` checks each function over the
//! whole range at 2 and 3 parties, with its bound.
//!
//! Fixed point limits everything here: at 16 fractional bits one ULP is `1.5e-5`, so a
//! result near `0.01` cannot be better than `1.5e-3` relative. Relative errors below are
//! taken over the points where `|f(x)| ≥ 0.01`; absolute errors over the whole domain.
//!
//! Products are truncated exactly by default (the dealer protocol, one round per
//! truncation), at every party count. `SessionConfig { trunc: TruncMode::LocalProbabilistic,
//! .. }` opts 2-party sessions into local truncation: no round, but an error of about 2^32 in
//! value with probability `|z|·2^-64` per element for a product `z` at 32 fractional bits
//! (measured before the default changed: `log` on 10^5 points of `[0.01, 100]` hit one such
//! element in about half of the runs). The 2-party round and byte counts in the function docs
//! below were measured with that local truncation; every truncation adds one round and 8 bytes
//! per element under the default, and docs/accuracy.md has the measured costs of both.

mod accuracy;
mod activations;
mod chebyshev;
mod exp_log;
mod roots;
mod spline;
mod stats;
mod trig;
mod unary;
mod wide;

pub use accuracy::{AccuracyRow, Op, accuracy_table, linspace, logspace, measure, softmax_f64};
pub use chebyshev::erf_f64;
pub use wide::WIDE_MAX_FRAC_BITS;

use tensor::RingTensor;

use crate::cryptensor::CrypTensor;
use crate::error::{Error, Result};

/// Iteration counts and domain bounds of the nonlinear functions.
///
/// The defaults give the accuracy stated on each function. Raising an iteration count costs
/// the rounds and bytes stated per iteration on the function; lowering it trades accuracy.
///
/// # Examples
/// ```
/// use mpc::approx::ApproxConfig;
/// let wide = ApproxConfig { reciprocal_max: 1000.0, reciprocal_iterations: 6, ..ApproxConfig::default() };
/// assert!(wide.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApproxConfig {
    /// Squarings in `exp` (`k`, default 8; 1..=14). More squarings push the point where
    /// `exp` of a very negative input stops saturating to 0 further out (about `-2.7·2^k`).
    pub exp_squarings: u32,
    /// Householder iterations in `log` (default 2).
    pub log_iterations: usize,
    /// Order of each Householder iteration in `log` (terms of `log(1-h)`, default 8).
    pub log_order: usize,
    /// Refresh iterations in `reciprocal` (default 5); each is one product `x·y` and
    /// [`ApproxConfig::reciprocal_steps`] Goldschmidt steps.
    pub reciprocal_iterations: usize,
    /// Goldschmidt steps per refresh in `reciprocal` (default 3).
    pub reciprocal_steps: usize,
    /// Upper end `b` of the `reciprocal` domain `[b/10^4, b]` (default 100). Inputs up to
    /// `b/0.9` converge; larger ones diverge.
    pub reciprocal_max: f64,
    /// Newton iterations in `inv_sqrt` (default 12).
    pub inv_sqrt_iterations: usize,
    /// Upper end `b` of the `inv_sqrt` domain `[b/10^4, b]` (default 100).
    pub inv_sqrt_max: f64,
    /// Complex squarings in `cos`/`sin` (default 8; 1..=14).
    pub trig_squarings: u32,
    /// Chebyshev terms in `erf` (default 12).
    pub erf_terms: usize,
    /// Which form of `exp`, `reciprocal`, division, `log`, `sqrt` and `inv_sqrt` runs
    /// (default [`Domain::Full`]: every input the format holds).
    pub domain: Domain,
}

/// The input range `reciprocal`, division, `log`, `sqrt` and `inv_sqrt` are built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Domain {
    /// Every value the fixed-point format represents (`|x|` from `2^-f` to `2^{63-f}`), by
    /// exponent normalisation; the reciprocal and division take either sign. Needs a session
    /// scale of at most [`WIDE_MAX_FRAC_BITS`]. For `exp`: the input clamped to where the
    /// squarings hold.
    #[default]
    Full,
    /// The cheaper iterations tuned to `[b/10^4, b]` (`b = reciprocal_max`, `inv_sqrt_max`;
    /// `[0.01, 100]` for `log`; `exp` without its clamp), for callers who know their range:
    /// outside it they diverge or lose accuracy as each function documents, without any
    /// error.
    Narrow,
}

impl Default for ApproxConfig {
    fn default() -> Self {
        Self {
            exp_squarings: 8,
            log_iterations: 2,
            log_order: 8,
            reciprocal_iterations: 5,
            reciprocal_steps: 3,
            reciprocal_max: 100.0,
            inv_sqrt_iterations: 12,
            inv_sqrt_max: 100.0,
            trig_squarings: 8,
            erf_terms: 12,
            domain: Domain::Full,
        }
    }
}

impl ApproxConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// A squaring count outside 1..=14 (more would overflow the 62-bit product scale), a
    /// zero iteration count where one is needed, or a non-positive or non-finite domain bound.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| {
            Err(Error::InvalidArgument {
                op: "approx config",
                reason,
            })
        };
        for (name, k) in [
            ("exp_squarings", self.exp_squarings),
            ("trig_squarings", self.trig_squarings),
        ] {
            if !(1..=14).contains(&k) {
                return bad(format!("{name} = {k} must be in 1..=14"));
            }
        }
        for (name, n) in [
            ("log_order", self.log_order),
            ("reciprocal_iterations", self.reciprocal_iterations),
            ("reciprocal_steps", self.reciprocal_steps),
            ("erf_terms", self.erf_terms),
        ] {
            if n == 0 {
                return bad(format!("{name} must be at least 1"));
            }
        }
        for (name, b) in [
            ("reciprocal_max", self.reciprocal_max),
            ("inv_sqrt_max", self.inv_sqrt_max),
        ] {
            if !(b.is_finite() && b > 0.0 && b < 1e6) {
                return bad(format!("{name} = {b} must be in (0, 1e6)"));
            }
        }
        Ok(())
    }
}

/// The same raw values read at `frac` fractional bits (a free multiplication by a power of
/// two: `relabel(x, f + k)` is `x / 2^k` exactly).
pub(crate) fn relabel(x: &CrypTensor, frac: u32) -> CrypTensor {
    match x {
        CrypTensor::Public(t) => CrypTensor::Public(t.clone().with_frac_bits(frac)),
        CrypTensor::Private(s) => s.with(s.share.clone().with_frac_bits(frac)),
    }
}

/// Smallest scale the nonlinear functions compute at: below it their extra-precision steps
/// (up to 4 bits below the working scale) would have nothing to work with.
pub(crate) const MIN_FRAC_BITS: u32 = 12;

/// An input below the session's fixed-point scale (e.g. an integer tensor) promoted to it, so
/// that `sigmoid` of the integers `[1, 2]` is computed at full precision; `None` when the
/// input is already at (or above) that scale.
///
/// # Errors
/// A session scale below [`MIN_FRAC_BITS`].
pub(crate) fn promote(x: &CrypTensor) -> Result<Option<CrypTensor>> {
    let target = x
        .session()
        .map_or(tensor::DEFAULT_FRAC_BITS, |s| s.config().frac_bits);
    if target < MIN_FRAC_BITS {
        return Err(Error::InvalidArgument {
            op: "nonlinear function",
            reason: format!(
                "needs at least {MIN_FRAC_BITS} fractional bits, the session uses {target}"
            ),
        });
    }
    let f = x.frac_bits();
    if f >= target {
        return Ok(None);
    }
    Ok(Some(relabel(&x.mul_int(1i64 << (target - f))?, target)))
}

/// `x · s` for a public real `s` that may be tiny (e.g. `1e-7`): `s` is encoded with `m` extra
/// fractional bits so that it keeps about 20 significant bits, and the product is divided by
/// `2^m` afterwards (free for 2 parties, one round otherwise). `mul_f64` alone would round such
/// an `s` to a few ULP, or to zero.
pub(crate) fn mul_const_precise(x: &CrypTensor, s: f64) -> Result<CrypTensor> {
    let f = x.frac_bits();
    let scaled = s.abs() * 2f64.powi(f as i32);
    let want = if scaled > 0.0 {
        (20.0 - scaled.log2()).ceil().max(0.0) as u32
    } else {
        0
    };
    let m = want.min(62u32.saturating_sub(2 * f));
    if m == 0 {
        return x.mul_f64(s);
    }
    let p = x.mul(&constant(s, f + m)?)?;
    Ok(relabel(&p.div_int(1u64 << m)?, f))
}

/// A public scalar `v` at `frac` fractional bits.
pub(crate) fn constant(v: f64, frac: u32) -> Result<CrypTensor> {
    Ok(CrypTensor::Public(RingTensor::scalar_raw(
        tensor::fixed::encode(v, frac)?,
        frac,
    )))
}

/// `x + v` for a public real `v` (local).
pub(crate) fn add_f64(x: &CrypTensor, v: f64) -> Result<CrypTensor> {
    x.add(&constant(v, x.frac_bits())?)
}

/// `x + v` for a public real `v`, encoded at `x`'s scale (at the session's for an integer
/// `x`, which is first promoted). Local.
///
/// # Errors
/// `v` cannot be encoded.
pub fn add_scalar(x: &CrypTensor, v: f64) -> Result<CrypTensor> {
    match promote(x)? {
        Some(p) => add_f64(&p, v),
        None => add_f64(x, v),
    }
}

/// `v - x` for a public real `v` (local).
pub(crate) fn rsub_f64(v: f64, x: &CrypTensor) -> Result<CrypTensor> {
    constant(v, x.frac_bits())?.sub(x)
}

/// Elementwise products of several pairs in one Beaver round: the operands are flattened and
/// concatenated, multiplied once, and split again (shapes must agree within each pair).
pub(crate) fn mul_many(pairs: &[(&CrypTensor, &CrypTensor)]) -> Result<Vec<CrypTensor>> {
    if pairs.len() == 1 {
        return Ok(vec![pairs[0].0.mul(pairs[0].1)?]);
    }
    let flat = |t: &CrypTensor| t.flatten();
    let lhs: Vec<CrypTensor> = pairs.iter().map(|(a, _)| flat(a)).collect::<Result<_>>()?;
    let rhs: Vec<CrypTensor> = pairs.iter().map(|(_, b)| flat(b)).collect::<Result<_>>()?;
    let l = CrypTensor::concat(&lhs.iter().collect::<Vec<_>>(), 0)?;
    let r = CrypTensor::concat(&rhs.iter().collect::<Vec<_>>(), 0)?;
    split(&l.mul(&r)?, pairs.iter().map(|(a, _)| a.shape()))
}

/// Squares of several tensors in one round (one square pair per element).
pub(crate) fn square_many(xs: &[&CrypTensor]) -> Result<Vec<CrypTensor>> {
    if xs.len() == 1 {
        return Ok(vec![xs[0].square()?]);
    }
    let flat: Vec<CrypTensor> = xs.iter().map(|t| t.flatten()).collect::<Result<_>>()?;
    let joined = CrypTensor::concat(&flat.iter().collect::<Vec<_>>(), 0)?;
    split(&joined.square()?, xs.iter().map(|t| t.shape()))
}

/// Cuts a flat tensor back into pieces of the given shapes.
fn split<'a>(
    flat: &CrypTensor,
    shapes: impl Iterator<Item = &'a [usize]>,
) -> Result<Vec<CrypTensor>> {
    let mut out = Vec::new();
    let mut at = 0;
    for shape in shapes {
        let n = tensor::shape::numel(shape);
        out.push(flat.narrow(0, at, n)?.reshape(shape)?);
        at += n;
    }
    Ok(out)
}

/// `Σ c_i · t_i` for public reals `c_i` with a single truncation (the terms are stacked and
/// multiplied by a public coefficient tensor, then summed).
pub(crate) fn lin_comb(terms: &[&CrypTensor], coeffs: &[f64]) -> Result<CrypTensor> {
    lin_comb_extra(terms, coeffs, 0)
}

/// [`lin_comb`] with the coefficients encoded at `extra` more fractional bits, and the sum
/// divided by `2^extra` once (one more truncation): the coefficients' rounding, otherwise up to
/// half a ULP per term, shrinks by `2^extra`.
/// `[c_0·t_0, c_1·t_1, ...]` stacked along a new first dimension, the coefficients encoded
/// at `frac` fractional bits: one product by a public column, so one truncation for all.
pub(crate) fn scaled_stack(terms: &[&CrypTensor], coeffs: &[f64], frac: u32) -> Result<CrypTensor> {
    let stacked = CrypTensor::stack(terms, 0)?;
    let mut shape = vec![1; stacked.shape().len()];
    shape[0] = terms.len();
    stacked.mul(&CrypTensor::Public(RingTensor::from_f64(
        &shape, coeffs, frac,
    )?))
}

pub(crate) fn lin_comb_extra(
    terms: &[&CrypTensor],
    coeffs: &[f64],
    extra: u32,
) -> Result<CrypTensor> {
    let frac = terms[0].frac_bits();
    let sum = scaled_stack(terms, coeffs, frac + extra)?.sum(&[0], false)?;
    if extra == 0 {
        return Ok(sum);
    }
    Ok(relabel(&sum.div_int(1 << extra)?, frac))
}

/// Goldschmidt's reciprocal iteration for `1/x` from the guess `y`: `e = 1 - x·y`, then
/// `steps` steps `y ← y(1 + e), e ← e²` (the two products of a step share one round; the
/// last step needs only `y`). `steps + 1` rounds; the relative error goes from `e` to
/// `e^{2^steps}`.
pub(crate) fn goldschmidt(x: &CrypTensor, mut y: CrypTensor, steps: usize) -> Result<CrypTensor> {
    let mut e = rsub_f64(1.0, &x.mul(&y)?)?;
    for step in 0..steps {
        let one_plus_e = add_f64(&e, 1.0)?;
        if step + 1 == steps {
            y = y.mul(&one_plus_e)?;
        } else {
            let out = mul_many(&[(&y, &one_plus_e), (&e, &e)])?;
            let [ny, ne]: [CrypTensor; 2] = out.try_into().expect("two products");
            y = ny;
            e = ne;
        }
    }
    Ok(y)
}

/// A private-or-public tensor of ones shaped like `x`.
pub(crate) fn ones_like(x: &CrypTensor) -> Result<CrypTensor> {
    add_f64(&x.mul_int(0)?, 1.0)
}
