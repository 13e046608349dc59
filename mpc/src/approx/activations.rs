//! Functions that need comparisons: `sigmoid`, `tanh`, `softmax`, `log_softmax`, `gelu`, the
//! signed reciprocal and private division. The comparisons come from [`crate::compare`].

use tensor::{Dim, UnaryOp};

use crate::cryptensor::{CrypTensor, Operand};
use crate::error::{Error, Result};
use crate::protocols::{binary, compare};
use crate::session::Session;
use crate::share::{Share, XorShare};

use super::chebyshev::ERF_RANGE;
use super::exp_log::EXP_FLOOR;
use super::spline::{GELU_KNOTS, SIGMOID_KNOTS, Spline};
use super::{
    ApproxConfig, Domain, add_f64, constant, goldschmidt, lin_comb, mul_const_precise, mul_many,
    promote, rsub_f64, scaled_stack,
};

/// `1/d` for `d` in `[1, 2]`: the secant guess `1.5 - d/2` (relative error ≤ 1/8), one
/// refresh, then three Goldschmidt steps: `1/8^8 < 2^-23`. 4 rounds, 80 bytes per element.
fn reciprocal_1_2(d: &CrypTensor) -> Result<CrypTensor> {
    goldschmidt(d, rsub_f64(1.5, &d.mul_f64(0.5)?)?, 3)
}

/// `1 - 2b` for a 0/1 integer tensor `b` (a sign factor at scale 1).
fn sign_factor(b: &CrypTensor) -> Result<CrypTensor> {
    constant(1.0, 0)?.sub(&b.mul_int(2)?)
}

/// `x` clamped to `[-c, c]` with its sign, from one clamp circuit
/// ([`compare::clamp_symmetric`]): what the activations that saturate beyond `±c` build on.
pub(super) struct Signed {
    /// `x_c = min(max(x, -c), c)`.
    pub(super) clamped: CrypTensor,
    /// `relu(x)`, exact on the whole range.
    pub(super) relu: CrypTensor,
    /// `relu(x_c)`.
    pub(super) clamped_relu: CrypTensor,
    /// `|x_c|`.
    pub(super) clamped_abs: CrypTensor,
    negative: Negative,
}

/// The sign bit `[x < 0]`: packed XOR shares (multiplied in without a B2A), or public 0/1.
enum Negative {
    Bits(XorShare, Session),
    Public(CrypTensor),
}

impl Signed {
    pub(super) fn of(x: &CrypTensor, c: f64) -> Result<Signed> {
        let f = x.frac_bits();
        let shape = x.shape().to_vec();
        match x {
            CrypTensor::Private(sh) => {
                let raw = tensor::fixed::encode(c, f)?;
                let p = compare::clamp_symmetric(&sh.session, &sh.share, raw)?;
                let lift = |s: Share| -> Result<CrypTensor> { sh.with(s).reshape(&shape) };
                Ok(Signed {
                    clamped: lift(p.clamped)?,
                    relu: lift(p.relu)?,
                    clamped_relu: lift(p.clamped_relu)?,
                    clamped_abs: lift(p.clamped_abs)?,
                    negative: Negative::Bits(p.negative, sh.session.clone()),
                })
            }
            CrypTensor::Public(_) => {
                let negative = x.ltz()?;
                let clamped = x.clamp(Some(-c), Some(c))?;
                let relu = x.sub(&x.mul(&negative)?)?;
                let negative_part = clamped.mul(&negative)?;
                let clamped_relu = clamped.sub(&negative_part)?;
                let clamped_abs = clamped_relu.sub(&negative_part)?;
                Ok(Signed {
                    clamped,
                    relu,
                    clamped_relu,
                    clamped_abs,
                    negative: Negative::Public(negative),
                })
            }
        }
    }

    /// `[x < 0]·v` (one `bit_mul` round for private bits; exact, no truncation).
    pub(super) fn negative_times(&self, v: &CrypTensor) -> Result<CrypTensor> {
        match (&self.negative, v) {
            (Negative::Public(b), v) => v.mul(b),
            (Negative::Bits(bits, session), CrypTensor::Private(vs)) => {
                let flat = vs.share.ring().flatten();
                let out = binary::bit_mul(session, bits, &Share::new(flat))?;
                vs.with(out.with_frac_bits(v.frac_bits()))
                    .reshape(v.shape())
            }
            (Negative::Bits(..), CrypTensor::Public(_)) => Err(Error::InvalidArgument {
                op: "negative_times",
                reason: "a private sign bit times a public value".into(),
            }),
        }
    }
}

/// `σ(x)` from the clamp `x_c = clamp(x, ±16)`: `p = σ(|x_c|) = 1/(1 + e^{-|x_c|})` (the
/// denominator in `[1, 2]`, a 4-round reciprocal), and `σ(x) = p + [x < 0](1 - 2p)`; beyond
/// the clamp `σ` differs from its saturated value by under `e^-16`. What SiLU builds on (the
/// sigmoid itself is a spline, [`CrypTensor::sigmoid_with`]).
pub(super) struct Logistic {
    pub(super) signed: Signed,
    /// `p = σ(|x_c|) ∈ [1/2, 1)`.
    pub(super) positive: CrypTensor,
}

impl Logistic {
    pub(super) fn of(x: &CrypTensor, cfg: &ApproxConfig) -> Result<Logistic> {
        cfg.validate()?;
        let signed = Signed::of(x, -EXP_FLOOR)?;
        let e = signed.clamped_abs.neg()?.exp_in_range(cfg)?;
        let positive = reciprocal_1_2(&add_f64(&e, 1.0)?)?;
        Ok(Logistic { signed, positive })
    }

    /// `σ(x)`.
    pub(super) fn sigmoid(&self) -> Result<CrypTensor> {
        let flip = rsub_f64(1.0, &self.positive.mul_int(2)?)?;
        self.positive.add(&self.signed.negative_times(&flip)?)
    }
}

/// The pieces of GELU on the clamp `x_c = clamp(x, ±4√2)` (see [`CrypTensor::gelu_with`]).
struct Gelu {
    signed: Signed,
    /// `x_c/2`.
    half: CrypTensor,
    /// `t = x_c/√2 ∈ [-4, 4]`.
    t: CrypTensor,
    /// `erf(t)`.
    erf: CrypTensor,
}

impl Gelu {
    fn of(x: &CrypTensor, cfg: &ApproxConfig) -> Result<Gelu> {
        cfg.validate()?;
        let signed = Signed::of(x, ERF_RANGE * std::f64::consts::SQRT_2)?;
        // t = x_c/√2 and x_c/2 from one truncation
        let both = lin_comb_rows(&signed.clamped, &[std::f64::consts::FRAC_1_SQRT_2, 0.5])?;
        let (t, half) = (both[0].clone(), both[1].clone());
        let erf = t.erf_in_range(cfg)?;
        Ok(Gelu {
            signed,
            half,
            t,
            erf,
        })
    }

    /// `relu(x) - relu(x_c)`: what GELU adds beyond the clamp (exact).
    fn beyond(&self) -> Result<CrypTensor> {
        self.signed.relu.sub(&self.signed.clamped_relu)
    }
}

/// `[c_0·x, c_1·x, ...]` for public reals `c_i`, with one truncation for all.
fn lin_comb_rows(x: &CrypTensor, coeffs: &[f64]) -> Result<Vec<CrypTensor>> {
    let copies: Vec<&CrypTensor> = coeffs.iter().map(|_| x).collect();
    let scaled = scaled_stack(&copies, coeffs, x.frac_bits())?;
    (0..coeffs.len())
        .map(|i| scaled.narrow(0, i, 1)?.reshape(x.shape()))
        .collect()
}

impl CrypTensor {
    /// The logistic function `1/(1 + e^{-x})` with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// Link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::sigmoid_with`] for the cost.
    pub fn sigmoid(&self) -> Result<CrypTensor> {
        self.sigmoid_with(&ApproxConfig::default())
    }

    /// The logistic function, on every input the format holds, as a spline
    /// (`approx/spline.rs`): ten degree-4 pieces between the knots `±12, ±8.7, ±5.3, ±2.95,
    /// ±1.45, 0`, each in its local coordinate `t = x - m` (`|t| ≤ 1.7`), and the constants 0
    /// and 1 beyond `±12` (`σ(-12) = 6.1e-6`). One comparison circuit on `x` and the 11 differences
    /// `x - k_i` gives the region bits, the centre and coefficients are selected locally
    /// from them, then `t², t³, t⁴` and one round of coefficient products held at 48
    /// fractional bits and truncated once. (CrypTen: `exp` at 4.9 % error and 3 Newton
    /// steps from the constant 0.75; SIGMA and Orca evaluate splines from FSS keys.)
    ///
    /// **Domain** every input the format holds: beyond the outer knots the selected
    /// coefficients are exactly zero, so the unbounded `x` never reaches the result.
    /// The pieces are within 1.1e-5 of σ in `f64`; measured (2 parties): see
    /// docs/accuracy.md; `mpc/tests/wide_domain.rs` checks the whole range.
    ///
    /// # Errors
    /// An invalid config, link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing. 2 parties: the comparison circuit on `x` and its 11 differences 8
    /// rounds (2 with `--compare fss`), the product that fixes the differences wrapping at
    /// the ring's ends 1, the powers 4, the products and their truncation 2: 15 rounds
    /// (CrypTen: 23 rounds at 4.9 % error).
    pub fn sigmoid_with(&self, cfg: &ApproxConfig) -> Result<CrypTensor> {
        if let Some(p) = promote(self)? {
            return p.sigmoid_with(cfg);
        }
        cfg.validate()?;
        let sigmoid = |x| UnaryOp::Sigmoid.eval(x);
        Spline::fit(sigmoid, &SIGMOID_KNOTS, 0.0, 1.0, self.frac_bits())?.eval(self)
    }

    /// `tanh x` with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// Link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::tanh_with`] for the cost.
    pub fn tanh(&self) -> Result<CrypTensor> {
        self.tanh_with(&ApproxConfig::default())
    }

    /// `tanh x`, as the sigmoid's spline at half scale (`tanh x = 2σ(2x) - 1`, so the same
    /// pieces halved fit it with twice the sigmoid's error): knots `±6, ±4.35, ±2.65,
    /// ±1.475, ±0.725, 0`, the constants `∓1` beyond `±6` (`1 - tanh 6 = 1.2e-5`), tanh
    /// itself interpolated on each piece.
    ///
    /// **Domain** every input the format holds. The pieces are within 2.2e-5 of tanh in
    /// `f64`; measured (2 parties): see docs/accuracy.md.
    ///
    /// # Errors
    /// An invalid config, link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing; the cost of [`CrypTensor::sigmoid_with`] (15 rounds at 2 parties).
    pub fn tanh_with(&self, cfg: &ApproxConfig) -> Result<CrypTensor> {
        if let Some(p) = promote(self)? {
            return p.tanh_with(cfg);
        }
        cfg.validate()?;
        let knots = SIGMOID_KNOTS.map(|k| k / 2.0);
        Spline::fit(
            |x| UnaryOp::Tanh.eval(x),
            &knots,
            -1.0,
            1.0,
            self.frac_bits(),
        )?
        .eval(self)
    }

    /// `exp(x - max)` clamped at `e^-16`, its sum over `dim`, and the row maximum.
    fn shifted_exp(
        &self,
        dim: usize,
        cfg: &ApproxConfig,
    ) -> Result<(CrypTensor, CrypTensor, CrypTensor)> {
        let z = self.sub(&self.amax(dim, true)?)?;
        // max(z, -16) = z + relu(-16 - z)
        let zc = z.add(&rsub_f64(EXP_FLOOR, &z)?.relu()?)?;
        let e = zc.exp_in_range(cfg)?;
        let s = e.sum(&[dim], true)?;
        Ok((e, s, z))
    }

    /// Softmax over `dim` with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// As [`CrypTensor::softmax_with`].
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::softmax_with`] for the cost.
    pub fn softmax(&self, dim: impl Dim) -> Result<CrypTensor> {
        self.softmax_with(dim, &ApproxConfig::default())
    }

    /// Softmax over `dim`: `z = x - max` (tree maximum), `z` clamped below at -16 (one ReLU;
    /// `e^-16` is below the 16-bit grid), `e = exp(z) ∈ [e^-16, 1]`, then `e · 1/Σe` with
    /// the reciprocal tuned to the sum's range `[1, n]` (`reciprocal_max = n`, and only as
    /// many Goldschmidt refreshes as that range needs).
    ///
    /// **Domain** all inputs (differences up to 2^46). Measured (2 parties, 100 rows of 10
    /// in `[-10, 10]`): max abs error 2.0e-5 (CrypTen: 3.1e-3); 54 rounds and 454 bytes
    /// per element (CrypTen: 94 rounds, 830 B).
    ///
    /// # Errors
    /// `dim` out of range or empty; an invalid config; link failures.
    ///
    /// # Security
    /// Reveals nothing. 2 parties, rows of 10: the maximum (one all-pairs circuit), one ReLU,
    /// `exp`, an 8-round reciprocal on the row sums, one product.
    pub fn softmax_with(&self, dim: impl Dim, cfg: &ApproxConfig) -> Result<CrypTensor> {
        let dim = dim.resolve(self.shape().len(), "softmax")?;
        if let Some(p) = promote(self)? {
            return p.softmax_with(dim, cfg);
        }
        let n = *self
            .shape()
            .get(dim)
            .ok_or_else(|| Error::InvalidArgument {
                op: "softmax",
                reason: format!("dimension {dim} out of range for shape {:?}", self.shape()),
            })?;
        let (e, s, _) = self.shifted_exp(dim, cfg)?;
        let r = s.reciprocal_with(&sum_reciprocal_config(n, cfg))?;
        e.mul(&r)
    }

    /// Log-softmax over `dim` with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// As [`CrypTensor::log_softmax_with`].
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::log_softmax_with`] for the cost.
    pub fn log_softmax(&self, dim: impl Dim) -> Result<CrypTensor> {
        self.log_softmax_with(dim, &ApproxConfig::default())
    }

    /// Log-softmax over `dim`: `z - log Σ exp(z)` with `z = x - max` (the sum is in
    /// `[1, n]`; for `n > 100` it is scaled by `100/n` into `log`'s domain and `log(n/100)`
    /// added back). Entries with `z < -16` are exact in `z` (only the sum is clamped).
    ///
    /// **Domain** all inputs (with [`Domain::Narrow`], rows of at most 10^4 elements: the
    /// sum is scaled into the narrow `log`'s domain, and beyond that it leaves it). Measured (2 parties, 100 rows of 10 in `[-10, 10]`): max abs
    /// error 3.2e-5 (CrypTen: 8.1e-3); 58 rounds, 465 bytes per element.
    ///
    /// # Errors
    /// `dim` out of range or empty; an invalid config; link failures.
    ///
    /// # Security
    /// Reveals nothing. The maximum, one ReLU, `exp`, and `log` on the row sums.
    pub fn log_softmax_with(&self, dim: impl Dim, cfg: &ApproxConfig) -> Result<CrypTensor> {
        let dim = dim.resolve(self.shape().len(), "log_softmax")?;
        if let Some(p) = promote(self)? {
            return p.log_softmax_with(dim, cfg);
        }
        let n = *self
            .shape()
            .get(dim)
            .ok_or_else(|| Error::InvalidArgument {
                op: "log_softmax",
                reason: format!("dimension {dim} out of range for shape {:?}", self.shape()),
            })?;
        let (_, s, z) = self.shifted_exp(dim, cfg)?;
        let scale = (n as f64 / 100.0).max(1.0);
        let ls = if cfg.domain == Domain::Narrow && scale > 1.0 {
            add_f64(
                &mul_const_precise(&s, 1.0 / scale)?.log_with(cfg)?,
                scale.ln(),
            )?
        } else {
            s.log_with(cfg)?
        };
        z.sub(&ls)
    }

    /// GELU `x·Φ(x) = x(1 + erf(x/√2))/2` (exact form, not the tanh approximation) with
    /// the default [`ApproxConfig`].
    ///
    /// # Errors
    /// Link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::gelu_with`] for the cost.
    pub fn gelu(&self) -> Result<CrypTensor> {
        self.gelu_with(&ApproxConfig::default())
    }

    /// GELU `x·Φ(x)` (the exact form, not the tanh approximation), written as
    /// `relu(x) - |x|·Φ(-|x|)`: an exact ReLU minus a spline (`approx/spline.rs`) of the
    /// bounded, even correction, ten degree-4 pieces between the knots `±5.5, ±3.9, ±2.4,
    /// ±1.55, ±0.75, 0` (0 is the correction's kink) and 0 beyond `±5.5`, where the dropped
    /// correction is below 1.1e-7. The ReLU takes the sign bit of the spline's own
    /// comparison circuit, so no product involves the unbounded `x` but that exact one.
    /// (CrypTen and SPU: erf or tanh expansions; SIGMA: a spline from FSS keys.)
    ///
    /// **Domain** every input the format holds. The pieces are within 1e-5 of the correction
    /// in `f64`; measured (2 parties): see docs/accuracy.md; `mpc/tests/wide_domain.rs`
    /// checks the whole range.
    ///
    /// # Errors
    /// An invalid config, link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing; the cost of [`CrypTensor::sigmoid_with`] (15 rounds at 2 parties,
    /// 9 with `--compare fss`). [`CrypTensor::gelu_with_grad_with`] (training) keeps the
    /// clamp-and-erf form, which shares its pieces with the derivative.
    pub fn gelu_with(&self, cfg: &ApproxConfig) -> Result<CrypTensor> {
        if let Some(p) = promote(self)? {
            return p.gelu_with(cfg);
        }
        cfg.validate()?;
        let correction = |x: f64| x.max(0.0) - UnaryOp::Gelu.eval(x);
        Spline::fit(correction, &GELU_KNOTS, 0.0, 0.0, self.frac_bits())?.relu_minus(self)
    }

    /// GELU and its derivative with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// Link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::gelu_with_grad_with`] for the cost.
    pub fn gelu_with_grad(&self) -> Result<(CrypTensor, CrypTensor)> {
        self.gelu_with_grad_with(&ApproxConfig::default())
    }

    /// GELU `x·Φ(x)` together with its derivative `Φ(x) + x·φ(x)`, sharing the pieces of
    /// [`CrypTensor::gelu_with`]: the derivative is taken at `x_c` (beyond the clamp it is
    /// within 3e-7 of 0 or 1), where `φ(x_c) = e^{-x_c²/2}/√(2π)` needs no further clamp
    /// (`x_c²/2 ≤ 16`).
    ///
    /// **Domain** every input the format holds. The derivative's error is about the sum of
    /// erf's and exp's (a few `1e-5`).
    ///
    /// # Errors
    /// An invalid config, link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing: GELU's pieces, one square, exp, one batched product round and one
    /// truncation.
    pub fn gelu_with_grad_with(&self, cfg: &ApproxConfig) -> Result<(CrypTensor, CrypTensor)> {
        if let Some(p) = promote(self)? {
            return p.gelu_with_grad_with(cfg);
        }
        let g = Gelu::of(self, cfg)?;
        // φ(x_c)·√(2π) = e^{-t²}
        let e = g.t.square()?.neg()?.exp_in_range(cfg)?;
        let out = mul_many(&[(&g.half, &add_f64(&g.erf, 1.0)?), (&g.signed.clamped, &e)])?;
        let gelu = g.beyond()?.add(&out[0])?;
        // Φ(x_c) + x_c·φ(x_c) = 1/2 + erf/2 + x_c·e/√(2π)
        let inv_sqrt_2pi = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
        let grad = add_f64(&lin_comb(&[&g.erf, &out[1]], &[0.5, inv_sqrt_2pi])?, 0.5)?;
        Ok((gelu, grad))
    }

    /// `1/x` for either sign with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// Link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::reciprocal_signed_with`] for the cost.
    pub fn reciprocal_signed(&self) -> Result<CrypTensor> {
        self.reciprocal_signed_with(&ApproxConfig::default())
    }

    /// `1/x` for either sign: `b = [x < 0]`, `s = 1 - 2b`, `s · reciprocal(s·x)`.
    ///
    /// **Domain** `|x| ∈ [b/10^4, b]` (`b = cfg.reciprocal_max`, default 100); errors as
    /// [`CrypTensor::reciprocal_with`] on `|x|`. Outside: as `reciprocal_with` on `|x|`
    /// (`x = 0` gives the guess `c = 6.48/b` with `x`'s sign bit 0).
    ///
    /// # Errors
    /// An invalid config, link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing. 2 parties: 30 rounds (ltz 8, reciprocal 20, two products), 559 bytes
    /// per element.
    pub fn reciprocal_signed_with(&self, cfg: &ApproxConfig) -> Result<CrypTensor> {
        if let Some(p) = promote(self)? {
            return p.reciprocal_signed_with(cfg);
        }
        if cfg.domain == Domain::Full {
            return self.reciprocal_with(cfg);
        }
        let s = sign_factor(&self.ltz()?)?;
        self.mul(&s)?.reciprocal_with(cfg)?.mul(&s)
    }

    /// `self / other` for a private or public divisor with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// As [`CrypTensor::div_with`].
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::div_with`] for the cost.
    pub fn div<'a>(&self, other: impl Into<Operand<'a>>) -> Result<CrypTensor> {
        match other.into() {
            Operand::Scalar(v) => self.div_f64(v),
            Operand::Tensor(t) => self.div_with(t, &ApproxConfig::default()),
        }
    }

    /// `self / other`: `self · reciprocal_signed(other)` (broadcasting). The divisor must
    /// lie in the signed reciprocal's domain; the relative error is about the reciprocal's
    /// plus one ULP of the product.
    ///
    /// # Errors
    /// Shapes that do not broadcast, an invalid config, link failures.
    ///
    /// # Security
    /// Reveals nothing: the signed reciprocal of `other` plus one product.
    pub fn div_with(&self, other: &CrypTensor, cfg: &ApproxConfig) -> Result<CrypTensor> {
        if let Some(p) = promote(self)? {
            return p.div_with(other, cfg);
        }
        self.mul(&other.reciprocal_signed_with(cfg)?)
    }
}

/// The reciprocal config for a softmax sum in `[1, n]`: the bound is `n`, and only as many
/// refreshes as the small end `1` needs (`e0 = 1 - 6.48/n` must reach 2^-18).
fn sum_reciprocal_config(n: usize, cfg: &ApproxConfig) -> ApproxConfig {
    let b = (n as f64).max(2.0);
    let doublings = (12.5 * b / 6.48).log2().ceil() as usize + 1;
    ApproxConfig {
        domain: Domain::Narrow,
        reciprocal_max: b,
        reciprocal_iterations: doublings.div_ceil(cfg.reciprocal_steps),
        ..*cfg
    }
}
