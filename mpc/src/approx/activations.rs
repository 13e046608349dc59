//! Functions that need comparisons: `sigmoid`, `tanh`, `softmax`, `log_softmax`, `gelu`, the
//! signed reciprocal and private division. The comparisons come from [`crate::compare`].

use tensor::Dim;

use crate::cryptensor::{CrypTensor, Operand};
use crate::error::{Error, Result};

use super::{
    ApproxConfig, Domain, add_f64, constant, goldschmidt, mul_const_precise, mul_many, promote,
    rsub_f64,
};

/// Inputs of `exp` inside `sigmoid` and `softmax` are clamped below at this value: `e^-16`
/// is 0.007 ULP, and clamping keeps `exp` clear of the region where its seed stops
/// saturating (see [`CrypTensor::exp_with`]).
const EXP_FLOOR: f64 = -16.0;

/// `1/d` for `d` in `[1, 2]`: the secant guess `1.5 - d/2` (relative error ≤ 1/8), one
/// refresh, then three Goldschmidt steps: `1/8^8 < 2^-23`. 4 rounds, 80 bytes per element.
fn reciprocal_1_2(d: &CrypTensor) -> Result<CrypTensor> {
    goldschmidt(d, rsub_f64(1.5, &d.mul_f64(0.5)?)?, 3)
}

/// `1 - 2b` for a 0/1 integer tensor `b` (a sign factor at scale 1).
fn sign_factor(b: &CrypTensor) -> Result<CrypTensor> {
    constant(1.0, 0)?.sub(&b.mul_int(2)?)
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

    /// The logistic function, on all of the 16-bit range: the sign bit `b = [x < 0]`,
    /// `a = |x| = x(1 - 2b)` (one product, no second comparison), `a` clamped to 16 (one
    /// ReLU), `s = 1/(1 + e^{-a})` with `e^{-a} ∈ (0, 1]` so the denominator lies in
    /// `[1, 2]` and a 4-round reciprocal suffices, and finally `s + b(1 - 2s)`.
    /// (CrypTen does the same without the clamp, with its 4.9 %-error `exp` and 3 Newton
    /// steps from the constant 0.75.)
    ///
    /// **Domain** all inputs (|x| < 2^46). Measured (2 parties): max abs error 4e-5 on
    /// `[-20, 20]` (CrypTen: 2.4e-3 on `[-10, 10]`).
    ///
    /// # Errors
    /// An invalid config, link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing. 2 parties: 32 rounds (ltz 8, product 1, ReLU 8, exp 10,
    /// reciprocal 4, select 1) and 319 bytes per element (CrypTen: 23 rounds, 376 B).
    pub fn sigmoid_with(&self, cfg: &ApproxConfig) -> Result<CrypTensor> {
        if let Some(p) = promote(self)? {
            return p.sigmoid_with(cfg);
        }
        let b = self.ltz()?;
        let a = self.mul(&sign_factor(&b)?)?;
        let a = a.sub(&add_f64(&a, EXP_FLOOR)?.relu()?)?;
        let s = reciprocal_1_2(&add_f64(&a.neg()?.exp_with(cfg)?, 1.0)?)?;
        s.add(&b.mul(&rsub_f64(1.0, &s.mul_int(2)?)?)?)
    }

    /// `tanh x = 2·sigmoid(2x) - 1` with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// Link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::tanh_with`] for the cost.
    pub fn tanh(&self) -> Result<CrypTensor> {
        self.tanh_with(&ApproxConfig::default())
    }

    /// `tanh x = 2·sigmoid(2x) - 1`.
    ///
    /// **Domain** `|x| < 2^(62 - f)` (2^46 at 16 fractional bits), where `2x` still fits the
    /// ring; beyond that the doubling wraps. Measured (2 parties): max abs error 6.7e-5 on
    /// `[-10, 10]` (CrypTen: 3.4e-3).
    ///
    /// # Errors
    /// An invalid config, link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing; the cost of [`CrypTensor::sigmoid_with`].
    pub fn tanh_with(&self, cfg: &ApproxConfig) -> Result<CrypTensor> {
        if let Some(p) = promote(self)? {
            return p.tanh_with(cfg);
        }
        add_f64(&self.mul_int(2)?.sigmoid_with(cfg)?.mul_int(2)?, -1.0)
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
        let e = zc.exp_with(cfg)?;
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
    /// in `[-10, 10]`): max abs error 2.4e-5 (CrypTen: 3.1e-3); 59 rounds and 222 bytes
    /// per element (CrypTen: 94 rounds, 830 B).
    ///
    /// # Errors
    /// `dim` out of range or empty; an invalid config; link failures.
    ///
    /// # Security
    /// Reveals nothing. 2 parties, rows of 10: the maximum (4 comparison levels), one ReLU,
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
    /// error 7.5e-5 (CrypTen: 8.1e-3); 88 rounds, 244 bytes per element.
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

    /// GELU `x(1 + erf(x/√2))/2` on [`CrypTensor::erf_with`], which clamps its input to
    /// `[-4, 4]`, so GELU tends to ReLU exactly for large `|x|`.
    ///
    /// **Domain** `[-8, 8]`. Measured (2 parties): max abs error 9.1e-5, 22 rounds, 335 bytes
    /// per element. **Outside**: saturates to ReLU with an error of about `1.5e-5·|x|`
    /// (erf's error at the clamp, times `x`).
    ///
    /// # Errors
    /// An invalid config, link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing: erf's cost plus one truncation and one product.
    pub fn gelu_with(&self, cfg: &ApproxConfig) -> Result<CrypTensor> {
        if let Some(p) = promote(self)? {
            return p.gelu_with(cfg);
        }
        let phi2 = add_f64(
            &self
                .mul_f64(std::f64::consts::FRAC_1_SQRT_2)?
                .erf_with(cfg)?,
            1.0,
        )?;
        self.mul(&phi2)?.div_int(2)
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

    /// GELU `x·Φ(x)` together with its derivative `Φ(x) + x·φ(x)`, sharing the `erf`:
    /// `φ(x) = e^{-x²/2}/√(2π)` with `x²/2` clamped at 16 (one ReLU; `e^-16` is below the
    /// 16-bit grid, and the clamp keeps `exp` inside its domain).
    ///
    /// **Domain** as [`CrypTensor::gelu_with`]. The derivative's error is about the sum of
    /// erf's and exp's (a few `1e-5` on `[-8, 8]`).
    ///
    /// # Errors
    /// An invalid config, link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing: erf, one square, one ReLU, exp, and one batched product round.
    pub fn gelu_with_grad_with(&self, cfg: &ApproxConfig) -> Result<(CrypTensor, CrypTensor)> {
        if let Some(p) = promote(self)? {
            return p.gelu_with_grad_with(cfg);
        }
        let phi2 = add_f64(
            &self
                .mul_f64(std::f64::consts::FRAC_1_SQRT_2)?
                .erf_with(cfg)?,
            1.0,
        )?;
        let half_sq = self.square()?.div_int(2)?;
        // min(t, 16) = t - relu(t - 16)
        let clamped = half_sq.sub(&add_f64(&half_sq, EXP_FLOOR)?.relu()?)?;
        let e = clamped.neg()?.exp_with(cfg)?;
        let out = mul_many(&[(self, &phi2), (self, &e)])?;
        let gelu = out[0].div_int(2)?;
        let inv_sqrt_2pi = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
        let grad = phi2
            .div_int(2)?
            .add(&mul_const_precise(&out[1], inv_sqrt_2pi)?)?;
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
