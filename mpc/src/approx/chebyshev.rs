//! Chebyshev expansions evaluated with Clenshaw's recurrence, and `erf`.

use crate::cryptensor::CrypTensor;
use crate::error::Result;

use super::{ApproxConfig, add_f64, constant, promote, relabel};

/// Extra fractional bits of the Clenshaw recurrence in `erf`.
const EXTRA: u32 = 4;

/// `erf(x)` in `f64` (for coefficients and as an oracle): `2/√π · e^{-x²} ·
/// Σ 2^n x^{2n+1} / (1·3···(2n+1))`, a series of positive terms (no cancellation), accurate
/// to about 1e-15 for `|x| ≤ 6`; `±1` beyond (`erfc(6) < 3e-17`).
/// The plaintext formula of `tensor::UnaryOp::Erf`, the one f64 table.
pub fn erf_f64(x: f64) -> f64 {
    tensor::UnaryOp::Erf.eval(x)
}

/// The `m` Chebyshev nodes `cos(π(i + 1/2)/m)` on `[-1, 1]`.
pub(crate) fn chebyshev_nodes(m: usize) -> Vec<f64> {
    (0..m)
        .map(|i| (std::f64::consts::PI * (i as f64 + 0.5) / m as f64).cos())
        .collect()
}

/// The first `m` Chebyshev coefficients of `g` on `[-1, 1]` (interpolation at the `m`
/// Chebyshev nodes; `c_0` already halved).
pub(crate) fn chebyshev_coeffs(g: impl Fn(f64) -> f64, m: usize) -> Vec<f64> {
    let nodes = chebyshev_nodes(m);
    let vals: Vec<f64> = nodes.iter().map(|&t| g(t)).collect();
    (0..m)
        .map(|j| {
            let s: f64 = nodes
                .iter()
                .zip(&vals)
                .map(|(&t, &v)| v * (j as f64 * t.acos()).cos())
                .sum();
            let c = 2.0 * s / m as f64;
            if j == 0 { c / 2.0 } else { c }
        })
        .collect()
}

/// `Σ c_j T_j(t)` for a private `t` in `[-1, 1]` by Clenshaw's recurrence
/// `b_j = c_j + 2t·b_{j+1} - b_{j+2}`: one product per term, numerically stable (the error
/// grows about linearly in the number of terms, not with the size of the coefficients of the
/// monomial form).
pub(crate) fn clenshaw(t: &CrypTensor, coeffs: &[f64]) -> Result<CrypTensor> {
    let f = t.frac_bits();
    let m = coeffs.len();
    let two_t = t.mul_int(2)?;
    let mut b1 = constant(0.0, f)?; // b_{j+1}
    let mut b2 = constant(0.0, f)?; // b_{j+2}
    for j in (1..m).rev() {
        let bj = add_f64(&two_t.mul(&b1)?.sub(&b2)?, coeffs[j])?;
        b2 = b1;
        b1 = bj;
    }
    add_f64(&t.mul(&b1)?.sub(&b2)?, coeffs[0])
}

/// Half-width of the `erf` domain.
pub(crate) const ERF_RANGE: f64 = 4.0;

impl CrypTensor {
    /// The error function with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// Link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::erf_with`] for the cost.
    pub fn erf(&self) -> Result<CrypTensor> {
        self.erf_with(&ApproxConfig::default())
    }

    /// The error function: `erf(x) = x·g(x²)` with `g(s) = erf(√s)/√s` expanded in
    /// `cfg.erf_terms` Chebyshev polynomials of `t = 2s/16 - 1` and evaluated with Clenshaw's
    /// recurrence. `g` is analytic and smooth on `[0, 16]`, so the expansion converges
    /// geometrically, and the odd symmetry is exact. CrypTen sums 8 Taylor terms, which is
    /// accurate only for `|x| ≲ 1.5`.
    ///
    /// The input is first clamped to `[-4, 4]` (exactly on the whole ring, see
    /// [`CrypTensor::clamp`]; `erf(4) = 1 - 1.5e-8`), and the recurrence runs at 4 extra
    /// fractional bits.
    ///
    /// **Domain** every input the format holds. Measured (2 parties, default 12 terms): max abs error 3.1e-5 on
    /// `[-4, 4]`; beyond, the value is the clamped one, within 3.1e-5 of `±1`.
    ///
    /// # Errors
    /// An invalid config, link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing. 2 parties: the clamp (9 rounds) plus the recurrence's products and
    /// truncations (docs/accuracy.md has the measured total).
    pub fn erf_with(&self, cfg: &ApproxConfig) -> Result<CrypTensor> {
        if let Some(p) = promote(self)? {
            return p.erf_with(cfg);
        }
        cfg.validate()?;
        self.clamp(Some(-ERF_RANGE), Some(ERF_RANGE))?
            .erf_in_range(cfg)
    }

    /// `erf` on an input already within `[-4, 4]` (no clamp).
    pub(crate) fn erf_in_range(&self, cfg: &ApproxConfig) -> Result<CrypTensor> {
        let r2 = ERF_RANGE * ERF_RANGE;
        let coeffs = chebyshev_coeffs(
            |t| {
                let s = (t + 1.0) * r2 / 2.0;
                if s < 1e-300 {
                    2.0 / std::f64::consts::PI.sqrt()
                } else {
                    erf_f64(s.sqrt()) / s.sqrt()
                }
            },
            cfg.erf_terms,
        );
        let x = self;
        // Clenshaw runs at EXTRA more fractional bits: x² comes out of one product at
        // f + EXTRA bits (the left operand read at f - EXTRA truncates EXTRA bits less), and
        // the final product reads x at f + EXTRA bits so that it truncates straight back to f.
        let f = x.frac_bits();
        let x2 = relabel(&relabel(x, f - EXTRA).mul(x)?, f + EXTRA);
        let t = add_f64(&x2.mul_f64(2.0 / r2)?, -1.0)?;
        let g = clenshaw(&t, &coeffs)?;
        Ok(relabel(&relabel(x, f + EXTRA).mul(&g)?, f))
    }
}
