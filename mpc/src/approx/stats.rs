//! `var`, `std` and `norm` over dimensions.

use tensor::Dims;

use crate::cryptensor::CrypTensor;
use crate::error::{Error, Result};

use super::{ApproxConfig, promote};

impl CrypTensor {
    /// Variance over `dims` (all if empty) with PyTorch's `correction`: the sum of squared
    /// deviations from the mean divided by `N - correction` (`correction = 0`: biased,
    /// `1`: PyTorch's `unbiased=True`, its default).
    ///
    /// Exact up to truncation: the error is a few ULP times the squared deviations' scale
    /// (measured 3e-5 abs for values in `[-8, 8]`, 2 parties). Inputs must keep
    /// `N·max(x - mean)²` within the 16-bit range (below about 2^14).
    ///
    /// # Errors
    /// Invalid dimensions, `N ≤ correction`, link failures.
    ///
    /// # Security
    /// Reveals nothing. One square round (8 B per element, 2 parties) plus two public
    /// divisions (free for 2 parties).
    pub fn var(
        &self,
        dims: &(impl Dims + ?Sized),
        correction: u64,
        keepdim: bool,
    ) -> Result<CrypTensor> {
        let dims = &dims.resolve_all(self.shape().len(), "var")?;
        if let Some(p) = promote(self)? {
            return p.var(dims, correction, keepdim);
        }
        let n = match self {
            CrypTensor::Public(t) => t.reduced_count(dims)?,
            CrypTensor::Private(s) => s.share.ring().reduced_count(dims)?,
        } as u64;
        if n <= correction {
            return Err(Error::InvalidArgument {
                op: "var",
                reason: format!(
                    "{n} elements leave no degrees of freedom for correction {correction}"
                ),
            });
        }
        let dev = self.sub(&self.mean(dims, true)?)?;
        dev.square()?.sum(dims, keepdim)?.div_int(n - correction)
    }

    /// Standard deviation: `sqrt(var)` with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// As [`CrypTensor::var`].
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::std_with`] for the cost.
    pub fn std(
        &self,
        dims: &(impl Dims + ?Sized),
        correction: u64,
        keepdim: bool,
    ) -> Result<CrypTensor> {
        self.std_with(dims, correction, keepdim, &ApproxConfig::default())
    }

    /// Standard deviation: [`CrypTensor::var`] then [`CrypTensor::sqrt_with`], so the
    /// variance must lie in the square root's domain (default `[0, 100]`, accurate to 2e-4
    /// relative on `[0.01, 100]`; smaller variances are underestimated, see `sqrt_with`).
    ///
    /// # Errors
    /// As [`CrypTensor::var`], or an invalid config.
    ///
    /// # Security
    /// Reveals nothing; the cost of `var` plus `sqrt` on the reduced tensor.
    pub fn std_with(
        &self,
        dims: &(impl Dims + ?Sized),
        correction: u64,
        keepdim: bool,
        cfg: &ApproxConfig,
    ) -> Result<CrypTensor> {
        self.var(dims, correction, keepdim)?.sqrt_with(cfg)
    }

    /// Euclidean (L2) norm over `dims` (all if empty) with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// As [`CrypTensor::norm_with`].
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::norm_with`] for the cost.
    pub fn norm(&self, dims: &(impl Dims + ?Sized), keepdim: bool) -> Result<CrypTensor> {
        self.norm_with(dims, keepdim, &ApproxConfig::default())
    }

    /// Euclidean norm `sqrt(Σ x²)`: one square round, a local sum, then
    /// [`CrypTensor::sqrt_with`], so `Σ x²` must lie in the square root's domain (default
    /// `[0, 100]`; raise `inv_sqrt_max` for larger sums).
    ///
    /// # Errors
    /// Invalid dimensions, an invalid config, link failures.
    ///
    /// # Security
    /// Reveals nothing; one square round plus the square root on the reduced tensor.
    pub fn norm_with(
        &self,
        dims: &(impl Dims + ?Sized),
        keepdim: bool,
        cfg: &ApproxConfig,
    ) -> Result<CrypTensor> {
        let dims = &dims.resolve_all(self.shape().len(), "norm")?;
        self.square()?.sum(dims, keepdim)?.sqrt_with(cfg)
    }
}
