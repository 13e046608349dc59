//! `reciprocal`, `inv_sqrt`, `sqrt` and integer `pow`.

use crate::cryptensor::CrypTensor;
use crate::error::{Error, Result};

use super::{
    ApproxConfig, Domain, add_f64, goldschmidt, lin_comb, mul_const_precise, mul_many, ones_like,
    promote, relabel,
};

/// Extra fractional bits of `y²` inside `inv_sqrt`.
const EXTRA: u32 = 3;

impl CrypTensor {
    /// `1/x` for positive `x` with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// Link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::reciprocal_with`] for the cost.
    pub fn reciprocal(&self) -> Result<CrypTensor> {
        self.reciprocal_with(&ApproxConfig::default())
    }

    /// `1/x` for positive `x`: the linear guess `y0 = c(1 - 0.9x/b)` with `c = 6.48/b`
    /// (`b = cfg.reciprocal_max`; it keeps `x·y0 ≤ 1.8` on `(0, b]`, so the iteration
    /// converges there, and starts 6.5 times closer at the small end than a constant guess),
    /// then `cfg.reciprocal_iterations` refreshes `e = 1 - x·y`, each followed by
    /// `cfg.reciprocal_steps` Goldschmidt steps `y ← y(1+e), e ← e²` (one batched product per
    /// step). Recomputing `e` from `x·y` makes the iteration self-correcting like Newton's,
    /// at 4/3 rounds per doubling of the precision instead of Newton's 2. No `exp` is needed
    /// (CrypTen's guess `3e^{1-2x} + 0.003` costs one and still needs 10 Newton steps).
    ///
    /// **Domain** `[b/10^4, b]` (default `[0.01, 100]`). Measured (2 parties, default): max
    /// rel error 1.1e-3 (at the top, where `1/x ≈ 0.01` is 655 ULP), 1.1e-4 on `[0.01, 10]`;
    /// max abs error 2.3e-3 (at 0.01, where `1/x = 100`). CrypTen: 0.14 % on `(0.01, 10]`. **Outside**: below `b/10^4` the result is an
    /// underestimate between `y0` and `1/x` (it saturates near `1/x` for inputs a little
    /// under the domain and near `y0 = c` for inputs near 0); up to `b/0.9` it is still
    /// accurate; above `b/0.9` (the guess turns negative), and for `x ≤ 0`, it diverges: use a signed
    /// reciprocal or raise `reciprocal_max` there.
    ///
    /// # Errors
    /// An invalid config, link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing. 2 parties: `iterations·(steps+1)` rounds and
    /// `iterations·(32·steps)` bytes per element (default 20 rounds, 480 B).
    pub fn reciprocal_with(&self, cfg: &ApproxConfig) -> Result<CrypTensor> {
        if let Some(p) = promote(self)? {
            return p.reciprocal_with(cfg);
        }
        cfg.validate()?;
        if cfg.domain == Domain::Full {
            return super::wide::full_domain(self, super::wide::Function::Reciprocal);
        }
        let b = cfg.reciprocal_max;
        let c = 6.48 / b;
        let mut y = add_f64(&mul_const_precise(self, -0.9 * c / b)?, c)?;
        for _ in 0..cfg.reciprocal_iterations {
            y = goldschmidt(self, y, cfg.reciprocal_steps)?;
        }
        Ok(y)
    }

    /// `1/√x` for positive `x` with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// Link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::inv_sqrt_with`] for the cost.
    pub fn inv_sqrt(&self) -> Result<CrypTensor> {
        self.inv_sqrt_with(&ApproxConfig::default())
    }

    /// `1/√x` for positive `x`: the linear guess `y0 = c(1 - 0.9x/b)` with `c = 3.94/√b`
    /// (`b = cfg.inv_sqrt_max`; it keeps `√x·y0 ≤ 1.6 < √3`, inside Newton's basin, on all
    /// of `(0, b]`), then `cfg.inv_sqrt_iterations` Newton steps
    /// `y ← 1.5y - 0.5·(x·y)·y²` (two rounds each: `x·y` and `y²` batched, then their
    /// product). CrypTen seeds with `2.2e^{-(x/2+0.2)} + 0.2 - x/1024` and stops after 3
    /// steps, which leaves 39 % error near 0.01.
    ///
    /// **Domain** `[b/10^4, b]` (default `[0.01, 100]`). Measured (2 parties, default): max
    /// rel error 1.8e-4, max abs error 6.3e-5 on `[0.01, 100]` (CrypTen: 39 %). **Outside**:
    /// below `b/10^4` the result is an underestimate (between `y0` and `1/√x`); above `b/0.9`
    /// the guess turns negative and the iteration diverges.
    ///
    /// # Errors
    /// An invalid config, link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing. 2 parties: `2·iterations` rounds, `48·iterations` bytes per element
    /// (default 24 rounds, 576 B).
    pub fn inv_sqrt_with(&self, cfg: &ApproxConfig) -> Result<CrypTensor> {
        if let Some(p) = promote(self)? {
            return p.inv_sqrt_with(cfg);
        }
        cfg.validate()?;
        if cfg.domain == Domain::Full {
            return super::wide::full_domain(self, super::wide::Function::InvSqrt);
        }
        let b = cfg.inv_sqrt_max;
        let c = 3.94 / b.sqrt();
        let mut y = add_f64(&mul_const_precise(self, -0.9 * c / b)?, c)?;
        let f = self.frac_bits();
        for _ in 0..cfg.inv_sqrt_iterations {
            // y² is small where x is large: keep x·y and y² at EXTRA more fractional bits
            // (the left operands read at f - EXTRA bits truncate EXTRA bits less), so that
            // x·y³ keeps its precision; the last product truncates back to f bits.
            let lo = f - EXTRA;
            let out = mul_many(&[(&relabel(self, lo), &y), (&relabel(&y, lo), &y)])?;
            let hi = f + 2 * EXTRA;
            let xy3 = relabel(&relabel(&out[0], hi).mul(&relabel(&out[1], hi))?, f);
            y = lin_comb(&[&y, &xy3], &[1.5, -0.5])?;
        }
        Ok(y)
    }

    /// `√x` for non-negative `x` with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// Link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::sqrt_with`] for the cost.
    pub fn sqrt(&self) -> Result<CrypTensor> {
        self.sqrt_with(&ApproxConfig::default())
    }

    /// `√x = x · (1/√x)` (one more product after [`CrypTensor::inv_sqrt_with`]).
    ///
    /// **Domain** `[0, b]` (default `[0, 100]`); accurate to the stated relative error on
    /// `[b/10^4, b]`. Measured (2 parties): max abs error 1.5e-3, max rel error 1.8e-4 on
    /// `[0.01, 100]` (CrypTen: 39 % rel, 0.04 abs). Below `b/10^4` it degrades gracefully:
    /// the result lies between `x·y0` and `√x` (at `x = 0` it is exactly 0 up to a ULP).
    /// **Outside**: as [`CrypTensor::inv_sqrt_with`].
    ///
    /// # Errors
    /// An invalid config, link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing. 2 parties: `2·iterations + 1` rounds (default 25), 592 B per element.
    pub fn sqrt_with(&self, cfg: &ApproxConfig) -> Result<CrypTensor> {
        if let Some(p) = promote(self)? {
            return p.sqrt_with(cfg);
        }
        cfg.validate()?;
        if cfg.domain == Domain::Full {
            return super::wide::full_domain(self, super::wide::Function::Sqrt);
        }
        self.mul(&self.inv_sqrt_with(cfg)?)
    }

    /// `x^n` for an integer `n` with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// As [`CrypTensor::pow_with`].
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::pow_with`] for the cost.
    pub fn pow(&self, n: i32) -> Result<CrypTensor> {
        self.pow_with(n, &ApproxConfig::default())
    }

    /// `x^n` for an integer `n` by repeated squaring: the square of the running power and
    /// the product into the accumulator share one round, so `x^n` costs
    /// `floor(log2 |n|) + 1` rounds at most (`x^2`: 1, `x^3`: 2, `x^4`: 2). `n = 0` gives
    /// ones (for every `x`, including 0), `n < 0` is `reciprocal(x)^|n|`.
    ///
    /// **Domain**: for `n ≥ 0`, any `x` with `|x|^n ≤ 2^14` (keeping products within the
    /// local-truncation budget); the error is about `n·|x|^{n-1}` ULP. For `n < 0`, `x` in
    /// the domain of [`CrypTensor::reciprocal_with`] (positive) with `|x|^n ≤ 2^14`; the
    /// relative error is about `|n|` times the reciprocal's.
    ///
    /// # Errors
    /// An invalid config, link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing. Costs the products above (plus a reciprocal for `n < 0`).
    pub fn pow_with(&self, n: i32, cfg: &ApproxConfig) -> Result<CrypTensor> {
        if let Some(p) = promote(self)? {
            return p.pow_with(n, cfg);
        }
        if n < 0 {
            return self.reciprocal_with(cfg)?.pow_with(-n, cfg);
        }
        let mut n = n as u32;
        if n == 0 {
            return ones_like(self);
        }
        let mut acc: Option<CrypTensor> = None;
        let mut base = self.clone();
        loop {
            let bit = n & 1 == 1;
            n >>= 1;
            let more = n > 0;
            match (bit, more, acc.take()) {
                (true, false, None) => return Ok(base),
                (true, false, Some(a)) => return a.mul(&base),
                (false, true, a) => {
                    acc = a;
                    base = base.square()?;
                }
                (true, true, None) => {
                    acc = Some(base.clone());
                    base = base.square()?;
                }
                (true, true, Some(a)) => {
                    let out = mul_many(&[(&a, &base), (&base, &base)])?;
                    let [na, nb]: [CrypTensor; 2] = out.try_into().expect("two products");
                    acc = Some(na);
                    base = nb;
                }
                (false, false, _) => {
                    return Err(Error::InvalidArgument {
                        op: "pow",
                        reason: "unreachable exponent state".into(),
                    });
                }
            }
        }
    }
}
