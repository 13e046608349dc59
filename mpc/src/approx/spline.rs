//! Piecewise polynomials selected by one batched comparison: the low-round form of the
//! saturating activations (`sigmoid`, `tanh`) and of the ramps (`gelu`, `silu`: an exact
//! ReLU, from the same circuit's sign bit, minus a spline of their bounded, even correction).
//!
//! A spline has knots `k_1 < … < k_K` and `K + 1` regions: a constant below `k_1`, a
//! constant from `k_K` on, and between neighbouring knots a degree-4 polynomial in the local
//! coordinate `t = x - m` (`m` the piece's centre). Evaluating it privately:
//! 1. one comparison circuit on `x` and the `K` stacked differences `x - k_i`, and one
//!    product round that corrects the differences that wrap at the ring's ends, give the
//!    integer bits `l_i = [x < k_i]` (2 parties: 9 rounds; 3 in the FSS mode);
//! 2. every region parameter `q` (the centre and the coefficients) is selected locally, being
//!    linear in the bits: `q(x) = q_K - Σ_i l_i·(q_i - q_{i-1})` with public differences;
//! 3. `t = x - m(x)` is local and small (`|t|` at most half a piece), so its powers `t², t³,
//!    t⁴` lose nothing to fixed point (2 products, each with its truncation: 4 rounds);
//! 4. `Σ_j a_j(x)·t^j` is one round of products, held at `2f + e` fractional bits (the
//!    coefficients carry `e` extra bits) and truncated once, rounding to nearest.
//!
//! 15 rounds at 2 parties in all, whatever the input: beyond the outer knots every selected
//! coefficient but the constant is exactly zero, so an unbounded `x` (whose `t^j` wrap) is
//! multiplied by exact zeros and never reaches the result.

use tensor::RingTensor;

use crate::cryptensor::CrypTensor;
use crate::error::{Error, Result};

use super::chebyshev::chebyshev_nodes;
use super::{constant, mul_many, relabel};

/// The polynomial degree of every piece.
const DEGREE: usize = 4;

/// Extra fractional bits of the selected coefficients (their rounding, times `t^4`, would
/// otherwise cost up to a few ULP). The products are held at `2f + EXTRA` bits: 48 at
/// `f = 16`, well below the ring's 63 for terms of magnitude below 2^14.
const EXTRA: u32 = 16;

/// Knots of the logistic function: equal-error pieces of degree 4 (each piece's Chebyshev
/// interpolant within 1e-5 of `σ`, grown greedily outward from 0), saturating beyond `±12`
/// (`σ(-12) = 6.1e-6`). Measured max error of the pieces: 1.1e-5 in `f64`.
pub(super) const SIGMOID_KNOTS: [f64; 11] = [
    -12.0, -8.7, -5.3, -2.95, -1.45, 0.0, 1.45, 2.95, 5.3, 8.7, 12.0,
];

/// Knots of GELU's correction `|x|·Φ(-|x|)` (`gelu(x) = relu(x) - |x|·Φ(-|x|)`): grown
/// greedily outward from its kink at 0 with each piece within 1e-5, and 0 beyond `±5.5`
/// (where the correction is 1.0e-7).
pub(super) const GELU_KNOTS: [f64; 11] = [
    -5.5, -3.9, -2.4, -1.55, -0.75, 0.0, 0.75, 1.55, 2.4, 3.9, 5.5,
];

/// Knots of SiLU's correction `|x|·σ(-|x|)` (`silu(x) = relu(x) - |x|·σ(-|x|)`): the same
/// greedy design with each piece within 2e-5, and 0 beyond `±17` (where the correction is
/// 7.0e-7).
pub(super) const SILU_KNOTS: [f64; 13] = [
    -17.0, -14.4, -8.3, -4.6, -2.8, -1.1, 0.0, 1.1, 2.8, 4.6, 8.3, 14.4, 17.0,
];

/// One region's parameters: the centre `m` and the coefficients of `Σ a_j (x - m)^j`.
#[derive(Debug, Clone, Copy)]
struct Region {
    centre: f64,
    coeffs: [f64; DEGREE + 1],
}

impl Region {
    fn constant(v: f64) -> Region {
        let mut coeffs = [0.0; DEGREE + 1];
        coeffs[0] = v;
        Region {
            centre: 0.0,
            coeffs,
        }
    }

    /// The parameter `q` of this region: 0 the centre, `1 + j` the coefficient `a_j`.
    fn param(&self, q: usize) -> f64 {
        if q == 0 {
            self.centre
        } else {
            self.coeffs[q - 1]
        }
    }
}

/// A spline fitted to a function (see the module docs).
#[derive(Debug, Clone)]
pub(super) struct Spline {
    knots: Vec<f64>,
    /// `knots.len() + 1` regions, from below the first knot to beyond the last.
    regions: Vec<Region>,
}

impl Spline {
    /// Interpolates `f` on each piece between neighbouring `knots` at the degree-4 Chebyshev
    /// nodes, with the constants `below` and `above` outside. The centres are put on the
    /// `frac`-bit grid so that `t = x - m` is exact.
    pub(super) fn fit(
        f: impl Fn(f64) -> f64,
        knots: &[f64],
        below: f64,
        above: f64,
        frac: u32,
    ) -> Result<Spline> {
        if knots.len() < 2 || knots.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::InvalidArgument {
                op: "spline",
                reason: format!("knots must be at least two and increasing, got {knots:?}"),
            });
        }
        let grid = f64::powi(2.0, frac as i32);
        let mut regions = vec![Region::constant(below)];
        for w in knots.windows(2) {
            let centre = ((w[0] + w[1]) / 2.0 * grid).round() / grid;
            let half = (w[1] - w[0]) / 2.0;
            let mid = (w[0] + w[1]) / 2.0;
            let ts: Vec<f64> = chebyshev_nodes(DEGREE + 1)
                .iter()
                .map(|u| mid + u * half - centre)
                .collect();
            let ys: Vec<f64> = ts.iter().map(|&t| f(centre + t)).collect();
            regions.push(Region {
                centre,
                coeffs: interpolate(&ts, &ys),
            });
        }
        regions.push(Region::constant(above));
        Ok(Spline {
            knots: knots.to_vec(),
            regions,
        })
    }

    /// The spline in plain `f64` (what the private evaluation approximates).
    #[cfg(test)]
    pub(super) fn eval_f64(&self, x: f64) -> f64 {
        let r = &self.regions[self.knots.iter().filter(|&&k| x >= k).count()];
        let t = x - r.centre;
        r.coeffs.iter().rev().fold(0.0, |acc, &a| acc * t + a)
    }

    /// The spline at every element of `x` (private or public), in 15 rounds at 2 parties.
    ///
    /// # Errors
    /// Link failures or a failing triple source; a scale too large for the extended products.
    pub(super) fn eval(&self, x: &CrypTensor) -> Result<CrypTensor> {
        Ok(self.eval_parts(x, false)?.0)
    }

    /// `relu(x) - s(x)` for this spline `s`, in the spline's rounds: the ReLU is exact,
    /// `x - [x < 0]·x` with the sign bit of the spline's own comparison circuit, its product
    /// taken (as integers, so exactly) in the round that fixes the wrapping differences.
    ///
    /// # Errors
    /// As [`Spline::eval`].
    pub(super) fn relu_minus(&self, x: &CrypTensor) -> Result<CrypTensor> {
        let (spline, relu) = self.eval_parts(x, true)?;
        relu.expect("asked for the relu").sub(&spline)
    }

    /// The spline, and `relu(x)` when `with_relu`.
    fn eval_parts(
        &self,
        x: &CrypTensor,
        with_relu: bool,
    ) -> Result<(CrypTensor, Option<CrypTensor>)> {
        let f = x.frac_bits();
        let shape = x.shape().to_vec();
        let kn = self.knots.len();
        // l_i = [x < k_i], stacked along a new first dimension. `x - k_i` wraps for `x`
        // within `|k_i|` of the ring's ends, so the sign `s = [x < 0]` comes from the same
        // circuit and fixes it: `l_i = s·[x - k_i < 0]` for `k_i < 0`, and
        // `s + [x - k_i < 0] - s·[x - k_i < 0]` for `k_i ≥ 0` (one product round, which
        // also takes `s·x` for the ReLU)
        let mut rows = vec![x.clone()];
        for &k in &self.knots {
            rows.push(x.sub(&constant(k, f)?)?);
        }
        let bits = CrypTensor::stack(&rows.iter().collect::<Vec<_>>(), 0)?.ltz()?;
        let sign = bits.narrow(0, 0, 1)?;
        let raw = bits.narrow(0, 1, kn)?;
        let (both, relu) = if with_relu {
            let lhs = CrypTensor::concat(&[&raw, &relabel(x, 0).unsqueeze(0)?], 0)?;
            let prod = lhs.mul(&sign)?;
            let negative_part = relabel(&prod.narrow(0, kn, 1)?, f).reshape(&shape)?;
            (prod.narrow(0, 0, kn)?, Some(x.sub(&negative_part)?))
        } else {
            (raw.mul(&sign)?, None)
        };
        let either = raw.add(&sign)?.sub(&both)?;
        // the knots ascend: the negative ones come first
        let negative = self.knots.iter().take_while(|&&k| k < 0.0).count();
        let parts: Vec<CrypTensor> = [(&both, 0, negative), (&either, negative, kn - negative)]
            .into_iter()
            .filter(|&(_, _, len)| len > 0)
            .map(|(t, at, len)| t.narrow(0, at, len))
            .collect::<Result<_>>()?;
        let below = CrypTensor::concat(&parts.iter().collect::<Vec<_>>(), 0)?;
        // q(x) = q_K - Σ_i l_i (q_i - q_{i-1}), at `frac` bits: the differences are taken
        // of the encodings, so that the bits of the outer regions select them exactly
        let mut column = vec![1; shape.len() + 1];
        column[0] = kn;
        let select = |q: usize, frac: u32| -> Result<CrypTensor> {
            let enc: Vec<u64> = self
                .regions
                .iter()
                .map(|r| tensor::fixed::encode(r.param(q), frac))
                .collect::<tensor::Result<_>>()?;
            let deltas: Vec<u64> = (1..=kn).map(|i| enc[i].wrapping_sub(enc[i - 1])).collect();
            let w = CrypTensor::Public(RingTensor::from_raw(&column, deltas, frac)?);
            let last = CrypTensor::Public(RingTensor::scalar_raw(enc[kn], frac));
            last.sub(&below.mul(&w)?.sum(&[0], false)?)
        };
        let t = x.sub(&select(0, f)?)?;
        let t2 = t.square()?;
        let [t3, t4]: [CrypTensor; 2] = mul_many(&[(&t2, &t), (&t2, &t2)])?
            .try_into()
            .expect("two products");
        // the coefficients at f + EXTRA bits, read as integers: each product then holds
        // a_j·t^j at 2f + EXTRA bits with no truncation
        let wide = f + EXTRA;
        let coeffs: Vec<CrypTensor> = (1..=DEGREE)
            .map(|j| Ok(relabel(&select(1 + j, wide)?, 0)))
            .collect::<Result<_>>()?;
        let powers = [&t, &t2, &t3, &t4];
        let pairs: Vec<(&CrypTensor, &CrypTensor)> = coeffs.iter().zip(powers).collect();
        // a_0 lifted to 2f + EXTRA bits, then every product added (all read as integers)
        let mut sum = relabel(&select(1, wide)?, 0).mul_int(1i64 << f)?;
        for p in mul_many(&pairs)? {
            sum = sum.add(&relabel(&p, 0))?;
        }
        // round to nearest: add half of the divisor, then the floor division
        let half = CrypTensor::Public(RingTensor::scalar_raw(1u64 << (wide - 1), 0));
        let out = sum.add(&half)?.div_int(1u64 << wide)?;
        Ok((relabel(&out, f).reshape(&shape)?, relu))
    }
}

/// The coefficients `a_0..a_d` of the polynomial through the points `(t_k, y_k)` (Gaussian
/// elimination with partial pivoting on the Vandermonde system; `d = 4` and `|t| ≤ 2`, so
/// it is well conditioned).
fn interpolate(ts: &[f64], ys: &[f64]) -> [f64; DEGREE + 1] {
    const N: usize = DEGREE + 1;
    let mut a = [[0.0; N + 1]; N];
    for (row, (&t, &y)) in a.iter_mut().zip(ts.iter().zip(ys)) {
        for (j, cell) in row.iter_mut().take(N).enumerate() {
            *cell = t.powi(j as i32);
        }
        row[N] = y;
    }
    for col in 0..N {
        let pivot = (col..N)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        let top = a[col];
        for row in a.iter_mut().skip(col + 1) {
            let m = row[col] / top[col];
            for (cell, &t) in row.iter_mut().zip(&top).skip(col) {
                *cell -= m * t;
            }
        }
    }
    let mut out = [0.0; N];
    for i in (0..N).rev() {
        let s: f64 = (i + 1..N).map(|j| a[i][j] * out[j]).sum();
        out[i] = (a[i][N] - s) / a[i][i];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sigmoid(x: f64) -> f64 {
        tensor::UnaryOp::Sigmoid.eval(x)
    }

    #[test]
    fn the_logistic_spline_is_within_its_stated_error_in_f64() {
        let s = Spline::fit(sigmoid, &SIGMOID_KNOTS, 0.0, 1.0, 16).unwrap();
        let worst = (-400_000..=400_000)
            .map(|i| i as f64 * 5e-5)
            .map(|x| (s.eval_f64(x) - sigmoid(x)).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1.3e-5, "{worst}");
        assert!(worst > 1e-7, "the bound must be able to fail: {worst}");
    }

    /// The worst error of `relu - spline` against `f` on `[-r, r]`, in `f64`.
    fn ramp_error(f: impl Fn(f64) -> f64, knots: &[f64], r: f64) -> f64 {
        let correction = |x: f64| x.max(0.0) - f(x);
        let s = Spline::fit(correction, knots, 0.0, 0.0, 16).unwrap();
        (-400_000..=400_000)
            .map(|i| i as f64 * r / 400_000.0)
            .map(|x| (x.max(0.0) - s.eval_f64(x) - f(x)).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn the_gelu_and_silu_corrections_are_within_their_stated_errors_in_f64() {
        let gelu = ramp_error(|x| tensor::UnaryOp::Gelu.eval(x), &GELU_KNOTS, 8.0);
        assert!(gelu < 1.1e-5 && gelu > 1e-7, "gelu {gelu}");
        let silu = ramp_error(|x| tensor::UnaryOp::Silu.eval(x), &SILU_KNOTS, 24.0);
        assert!(silu < 2.1e-5 && silu > 1e-7, "silu {silu}");
    }

    #[test]
    fn knots_must_increase() {
        assert!(Spline::fit(sigmoid, &[1.0, 1.0], 0.0, 1.0, 16).is_err());
        assert!(Spline::fit(sigmoid, &[1.0], 0.0, 1.0, 16).is_err());
    }
}
