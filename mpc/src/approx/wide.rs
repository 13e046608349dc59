//! Wide-domain `reciprocal`, `log`, `sqrt` and `inv_sqrt`: exponent normalisation.
//!
//! The input `x = v/2^f` is split privately into a mantissa and an exponent
//! ([`normalize::top_bit_indicators`]: the top set bit `i` of `v` as 0/1 indicators). One
//! product by the public-weighted sum `c = Σ_i [top = i]·2^{61-i}` and one exact truncation
//! give the mantissa `m = v/2^{i+1} ∈ [1/2, 1)` at scale `f`; the function runs on that fixed
//! interval (a Chebyshev polynomial, or Goldschmidt steps for the signed reciprocal), and the
//! exponent comes back through another public-weighted sum of the same indicators: added for
//! `log` (`(i + 1 - f)·ln 2`), multiplied in for the others (`2^{±(i+1-f)/2}`, `2^{f-1-i}`),
//! with one more exact truncation.
//!
//! The two truncations always use the dealer protocol: their operands are near `2^62`, where
//! the 2-party local truncation would fail about every fourth time. The top binade
//! (`v ≥ 2^62`, `|x| ≥ 2^46` at 16 bits) is too high to normalise by a product: its mantissa
//! comes from the top bits of `v`'s binary sharing instead, which the same B2A round converts.

use tensor::RingTensor;

use crate::cryptensor::{CrypTensor, Shared};
use crate::error::{Error, Result};
use crate::protocols::{normalize, truncate};

use super::chebyshev::chebyshev_coeffs;
use super::exp_log::powers;
use super::{add_f64, goldschmidt, lin_comb_extra, mul_many, relabel};

/// Largest session scale of the wide-domain functions: their output scaling multiplies a
/// value at scale `f` by up to `2^{2f+1}` before an exact truncation, which must stay below
/// `2^62`.
pub const WIDE_MAX_FRAC_BITS: u32 = 20;

/// Degree of the Chebyshev polynomials on the mantissa interval (3 rounds of powers; the
/// interpolation error is below 1e-7 for every function here, under the 16-bit ULP).
const DEGREE: usize = 8;

/// Goldschmidt steps of the signed reciprocal on `|m| ∈ [1/2, 1]`: the start is within 1/17,
/// so three steps reach `17^-8 ≈ 1.4e-10`.
const RECIPROCAL_STEPS: usize = 3;

/// The value `log` returns for `x ≤ 0` (where PyTorch returns `-inf` or NaN): `ln 2^{-(f+1)}`,
/// below the logarithm of every positive value the format holds.
fn log_floor(f: u32) -> f64 {
    -f64::from(f + 1) * std::f64::consts::LN_2
}

/// A normalised input: the mantissa and the indicators it came from.
struct Normalized {
    /// `m ∈ [1/2, 1]` (signed like `x` when folded), flat, at the input's scale.
    m: CrypTensor,
    /// The indicators, `[n, 64 + high]` at scale 0 (see [`normalize::top_bit_indicators`]).
    bits: CrypTensor,
}

/// `Σ_r bits[:, r]·w(r)` for each of the public integer weightings `ws`, in one local
/// product by a `[rows, ws.len()]` table: flat `[n]` sums at scale 0.
fn weighted_columns(bits: &CrypTensor, ws: &[&dyn Fn(usize) -> i64]) -> Result<Vec<CrypTensor>> {
    let (n, rows) = (bits.shape()[0], bits.shape()[1]);
    let data: Vec<u64> = (0..rows)
        .flat_map(|r| ws.iter().map(move |w| w(r) as u64))
        .collect();
    let table = CrypTensor::Public(RingTensor::from_raw(&[rows, ws.len()], data, 0)?);
    let sums = bits.matmul(&table)?;
    (0..ws.len())
        .map(|c| sums.narrow(1, c, 1)?.reshape(&[n]))
        .collect()
}

/// One weighting of [`weighted_columns`], read at `frac` bits.
fn weighted(bits: &CrypTensor, frac: u32, w: impl Fn(usize) -> i64) -> Result<CrypTensor> {
    let [sum]: [CrypTensor; 1] = weighted_columns(bits, &[&w])?
        .try_into()
        .expect("one weighting");
    Ok(relabel(&sum, frac))
}

/// `round(v·2^frac)` as a ring integer.
fn fixed(v: f64, frac: u32) -> Result<i64> {
    Ok(tensor::fixed::encode(v, frac)? as i64)
}

/// Divides a private value by `2^bits` with the dealer protocol, whatever the session's
/// truncation mode (the operands here are too large for the local one).
fn exact_shift(x: &CrypTensor, bits: u32, round: bool) -> Result<CrypTensor> {
    let half = CrypTensor::Public(RingTensor::scalar_raw(
        u64::from(round) << (bits - 1),
        x.frac_bits(),
    ));
    match x.add(&half)? {
        CrypTensor::Private(Shared { share, session, .. }) => {
            let out = truncate::with_dealer(&session, share, 1 << bits)?;
            Ok(CrypTensor::Private(Shared::new(out, session)))
        }
        CrypTensor::Public(t) => Ok(CrypTensor::Public(t.shr_arith(bits))),
    }
}

/// The session scale check of every wide-domain function.
fn check_scale(op: &'static str, f: u32) -> Result<()> {
    if f > WIDE_MAX_FRAC_BITS {
        return Err(Error::InvalidArgument {
            op,
            reason: format!(
                "the full-domain form needs at most {WIDE_MAX_FRAC_BITS} fractional bits, the \
                 input has {f}; use ApproxConfig {{ domain: Domain::Narrow, .. }}"
            ),
        });
    }
    Ok(())
}

/// Splits `x` into mantissa and exponent indicators (module docs).
///
/// `fold_sign`: the signed form (column 63 is the sign, the mantissa carries it). Otherwise
/// negative inputs and 0 get the mantissa `3/4` (the middle of the interval) and no exponent
/// indicator among columns `0..63`, so the caller's weights decide their result.
fn normalize_input(x: &Shared, fold_sign: bool) -> Result<Normalized> {
    let f = x.frac_bits();
    let n = x.share.numel();
    let high = if fold_sign { 0 } else { f };
    let ind = normalize::top_bit_indicators(&x.session, &x.share, fold_sign, high)?;
    let bits = CrypTensor::Private(Shared::new(ind, x.session.clone()));
    let v = relabel(&x.with(x.share.clone()).reshape(&[n])?, 0);
    if fold_sign {
        // top bit j of the folded word: |v| ≤ 2^j, so v·2^{62-j} ∈ [-2^62, 2^62)
        let c = weighted(&bits, 0, |j| if j < 63 { 1 << (62 - j) } else { 0 })?;
        let m = relabel(&exact_shift(&v.mul(&c)?, 62 - f, true)?, f);
        return Ok(Normalized { m, bits });
    }
    // top bit i ≤ 61: v·2^{61-i} ∈ [2^61, 2^62); the top binade i = 62 from v's top f bits;
    // 3/4 where no bit below the sign is set (x ≤ 0), 0 elsewhere
    let three_quarters = fixed(0.75, f)?;
    let [c, top, below_sign]: [CrypTensor; 3] = weighted_columns(
        &bits,
        &[
            &|i| if i < 62 { 1 << (61 - i) } else { 0 },
            &|r| if r >= 64 { 1 << (r - 64) } else { 0 },
            &|r| if r < 63 { -three_quarters } else { 0 },
        ],
    )?
    .try_into()
    .expect("three weightings");
    let b62 = bits.narrow(1, 62, 1)?.reshape(&[n])?;
    let out = mul_many(&[(&v, &c), (&b62, &top)])?;
    let normal = relabel(&exact_shift(&out[0], 62 - f, true)?, f);
    let none = add_f64(&relabel(&below_sign, f), 0.75)?;
    let m = normal.add(&relabel(&out[1], f))?.add(&none)?;
    Ok(Normalized { m, bits })
}

/// `y · w / 2^g` for the public-weighted sum `w` of the indicators (an exact truncation),
/// reshaped to `shape`.
fn rescale(
    y: &CrypTensor,
    bits: &CrypTensor,
    g: u32,
    shape: &[usize],
    w: impl Fn(usize) -> i64,
) -> Result<CrypTensor> {
    let f = y.frac_bits();
    let d = weighted(bits, 0, w)?;
    let raw = relabel(y, 0).mul(&d)?;
    relabel(&exact_shift(&raw, g, false)?, f).reshape(shape)
}

/// Power-basis coefficients of the degree-`deg` Chebyshev interpolant of `g` on `[-1, 1]`.
fn poly_coeffs(g: impl Fn(f64) -> f64, deg: usize) -> Vec<f64> {
    let c = chebyshev_coeffs(g, deg + 1);
    let mut out = vec![0.0; deg + 1];
    // T_0 = 1, T_1 = t, T_{j+1} = 2t·T_j - T_{j-1}, as monomial coefficients
    let mut prev = vec![0.0; deg + 1];
    prev[0] = 1.0;
    let mut cur = vec![0.0; deg + 1];
    out[0] = c[0];
    if deg >= 1 {
        cur[1] = 1.0;
        out[1] = c[1];
    }
    for cj in c.iter().skip(2) {
        let mut next = vec![0.0; deg + 1];
        for k in 0..deg {
            next[k + 1] = 2.0 * cur[k];
        }
        for (n, p) in next.iter_mut().zip(&prev) {
            *n -= p;
        }
        for (o, n) in out.iter_mut().zip(&next) {
            *o += cj * n;
        }
        prev = cur;
        cur = next;
    }
    out
}

/// `p(t) - p(0)` for the polynomial with power coefficients `a` (`a[0]` left out), `t`
/// private in `[-1, 1]`: 3 rounds of powers, then one public linear combination.
fn poly_without_constant(t: &CrypTensor, a: &[f64]) -> Result<CrypTensor> {
    let pw = powers(t, a.len() - 1)?;
    let refs: Vec<&CrypTensor> = pw.iter().collect();
    lin_comb_extra(&refs, &a[1..], COEFF_EXTRA)
}

/// Extra fractional bits of the polynomial coefficients.
const COEFF_EXTRA: u32 = 4;

/// The mantissa's polynomial argument `t = 4m - 3 ∈ [-1, 1)` for `m ∈ [1/2, 1)`.
fn to_unit(m: &CrypTensor) -> Result<CrypTensor> {
    add_f64(&m.mul_int(4)?, -3.0)
}

/// The polynomial of `g` on the mantissa interval, as a function of `t = 4m - 3`.
fn mantissa_poly(g: impl Fn(f64) -> f64) -> Vec<f64> {
    poly_coeffs(|t| g((t + 3.0) / 4.0), DEGREE)
}

/// `1/x` for either sign, on the whole fixed-point range (module docs).
fn reciprocal(x: &Shared) -> Result<CrypTensor> {
    let f = x.frac_bits();
    check_scale("reciprocal", f)?;
    let shape = x.shape().to_vec();
    let Normalized { m, bits } = normalize_input(x, true)?;
    // y0 = (1 - 2s)·48/17 - 32/17·m: within 1/17 of 1/m for |m| ∈ [1/2, 1], either sign
    let minus_two_starts = -2 * fixed(48.0 / 17.0, f)?;
    let signed = weighted(&bits, f, |r| if r == 63 { minus_two_starts } else { 0 })?;
    let y0 = add_f64(&signed, 48.0 / 17.0)?.sub(&m.mul_f64(32.0 / 17.0)?)?;
    let y = goldschmidt(&m, y0, RECIPROCAL_STEPS)?;
    // 1/x = (1/m)·2^{f-j} for the top bit j of the folded word; at scale 2^g, nothing past
    // 2^{2f+1} (whose reciprocal rounds to 0) is kept
    let g = (f + 8).min(61 - 2 * f);
    rescale(&y, &bits, g, &shape, |j| {
        if j < 63 && j <= (g + f) as usize {
            1 << (g + f - j as u32)
        } else {
            0
        }
    })
}

/// Natural logarithm on the whole positive fixed-point range; `log_floor(f)` for `x ≤ 0`.
fn log(x: &Shared) -> Result<CrypTensor> {
    let f = x.frac_bits();
    check_scale("log", f)?;
    let shape = x.shape().to_vec();
    let Normalized { m, bits } = normalize_input(x, false)?;
    let a = mantissa_poly(f64::ln);
    let poly = poly_without_constant(&to_unit(&m)?, &a)?;
    // log x = log m + (i + 1 - f)·ln 2 for the top bit i; x ≤ 0 (no indicator, t = 0) gives
    // exactly the floor
    let floor = log_floor(f);
    let mut exponent = vec![0i64; bits.shape()[1]];
    for (i, w) in exponent.iter_mut().enumerate().take(63) {
        let e = (i as f64 + 1.0 - f64::from(f)) * std::f64::consts::LN_2;
        *w = fixed(e + a[0] - floor, f)?;
    }
    add_f64(&poly.add(&weighted(&bits, f, |r| exponent[r])?)?, floor)?.reshape(&shape)
}

/// `x^{±1/2}` on the whole positive fixed-point range; 0 for `x ≤ 0`.
fn root(x: &Shared, op: &'static str, exponent: f64) -> Result<CrypTensor> {
    let f = x.frac_bits();
    check_scale(op, f)?;
    let shape = x.shape().to_vec();
    let Normalized { m, bits } = normalize_input(x, false)?;
    let a = mantissa_poly(|m| m.powf(exponent));
    let y = add_f64(&poly_without_constant(&to_unit(&m)?, &a)?, a[0])?;
    // x^e = m^e · 2^{e(i+1-f)}: the largest weight times m^e ≤ √2 must stay below 2^61
    let top = |i: f64| exponent * (i + 1.0 - f64::from(f));
    let peak = top(0.0).max(top(62.0));
    let g = (60.0 - f64::from(f) - peak).floor() as u32;
    rescale(&y, &bits, g, &shape, |i| {
        if i < 63 {
            (f64::from(g) + top(i as f64)).exp2().round() as i64
        } else {
            0
        }
    })
}

/// `√x` on the whole positive fixed-point range; 0 for `x ≤ 0`.
fn sqrt(x: &Shared) -> Result<CrypTensor> {
    root(x, "sqrt", 0.5)
}

/// `1/√x` on the whole positive fixed-point range; 0 for `x ≤ 0`.
fn inv_sqrt(x: &Shared) -> Result<CrypTensor> {
    root(x, "inv_sqrt", -0.5)
}

/// The four wide-domain functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    Reciprocal,
    Log,
    Sqrt,
    InvSqrt,
}

impl Function {
    /// The plaintext value, with the private form's conventions where the function has no
    /// finite value: `1/0 = 0`, `log(x ≤ 0) = ln 2^{-(f+1)}`, `√x = 1/√x = 0` for `x ≤ 0`.
    fn eval(self, x: f64, f: u32) -> f64 {
        match self {
            Function::Reciprocal if x == 0.0 => 0.0,
            Function::Reciprocal => 1.0 / x,
            Function::Log if x <= 0.0 => log_floor(f),
            Function::Log => x.ln(),
            Function::Sqrt | Function::InvSqrt if x <= 0.0 => 0.0,
            Function::Sqrt => x.sqrt(),
            Function::InvSqrt => 1.0 / x.sqrt(),
        }
    }
}

/// The full-domain form of `func` on a private or public tensor (a public one is computed in
/// `f64` and rounded once).
pub(crate) fn full_domain(x: &CrypTensor, func: Function) -> Result<CrypTensor> {
    match x {
        CrypTensor::Private(s) => match func {
            Function::Reciprocal => reciprocal(s),
            Function::Log => log(s),
            Function::Sqrt => sqrt(s),
            Function::InvSqrt => inv_sqrt(s),
        },
        CrypTensor::Public(t) => {
            let f = t.frac_bits();
            let vals: Vec<f64> = t.to_f64().iter().map(|&v| func.eval(v, f)).collect();
            Ok(CrypTensor::Public(RingTensor::from_f64(
                t.shape(),
                &vals,
                f,
            )?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_power_basis_matches_the_function() {
        let a = mantissa_poly(f64::ln);
        for k in 0..=100 {
            let m = 0.5 + 0.5 * f64::from(k) / 100.0;
            let t = 4.0 * m - 3.0;
            let p: f64 = a.iter().rev().fold(0.0, |acc, c| acc * t + c);
            assert!((p - m.ln()).abs() < 1e-7, "at {m}: {p} vs {}", m.ln());
        }
    }
}
