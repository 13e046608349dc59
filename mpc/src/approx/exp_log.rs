//! `exp` (extended-precision repeated squaring) and `log` (Householder iterations on `exp`).

use crate::cryptensor::{CrypTensor, Shared};
use crate::error::{Error, Result};
use crate::protocols::{beaver, truncate};
use crate::share::Share;

use super::{
    ApproxConfig, Domain, add_f64, lin_comb, mul_many, promote, relabel, rsub_f64, square_many,
};

/// `(1 + u)^(2^k) - 1` for `u` at `frac + k` fractional bits, returned at `frac` bits.
///
/// Step `j` holds `u_j = (1+u)^(2^j) - 1` at `s_j = frac + k - j` bits and computes
/// `u_{j+1} = 2·u_j + u_j²`: the doubling is free (the raw value read at `s_j - 1` bits), and
/// the square of the raw value is truncated by `s_j + 1` bits straight to scale `s_j - 1`.
/// Each step adds one ULP at its own scale, which the remaining squarings amplify back to
/// about one ULP at `frac` bits, so the result carries about `k` ULP of relative error
/// instead of the `2^k` ULP of squaring at a fixed scale.
pub(crate) fn pow2k_minus_one(u: &CrypTensor, frac: u32, k: u32) -> Result<CrypTensor> {
    if let CrypTensor::Private(sh) = u
        && k > 0
        && !sh.session.uses_local_trunc()
    {
        return fused_pow2k_minus_one(sh, frac, k);
    }
    let mut u = u.clone();
    for j in 0..k {
        let s = frac + k - j;
        let sq = relabel(&relabel(&u, s + 1).square()?, s - 1);
        u = relabel(&u, s - 1).add(&sq)?;
    }
    Ok(u)
}

/// [`pow2k_minus_one`] on shares with each step's truncation folded into the next step's
/// square: with `U` the raw value at scale `s`, step `j` is `U' = U + floor(U²/2^(s+1))`,
/// which is `trunc(V)` for the untruncated `V = U·2^(s+1) + U²` (the shifted term is a
/// multiple of the divisor, so it passes through the truncation exactly).
/// [`truncate::truncate_and_square`] turns `V` into `U'` and `U'²` in one round, so `k`
/// steps take one Beaver square, `k - 1` fused rounds and one last truncation: `k + 1`
/// rounds instead of `2k`, with `8|u|` bytes per peer each.
fn fused_pow2k_minus_one(sh: &Shared, frac: u32, k: u32) -> Result<CrypTensor> {
    let session = &sh.session;
    // V = U·2^(s+1) + U²; every share here is labelled 0 (raw), so U² and the truncations
    // keep that label and nothing needs relabelling until the end
    let next = |u: &Share, u2: &Share, s: u32| -> Result<Share> {
        Ok(Share::new(u.ring().map(|v| v << (s + 1)).add(u2.ring())?))
    };
    let mut s = frac + k;
    let u = sh.share.clone().with_frac_bits(0);
    let mut v = next(&u, &beaver::square(session, &u)?, s)?;
    for _ in 1..k {
        let (t, t2) = truncate::truncate_and_square(session, &v, 1 << (s + 1))?;
        s -= 1;
        v = next(&t, &t2, s)?;
    }
    let out = truncate::with_dealer(session, v, 1 << (s + 1))?;
    Ok(sh.with(out.with_frac_bits(s - 1)))
}

/// Where the full-domain `exp` clamps from below: `e^-16` is 0.007 ULP at 16 fractional
/// bits.
pub(crate) const EXP_FLOOR: f64 = -16.0;

/// The largest input whose `exp` the squarings hold at scale `f`: the last squaring takes
/// `e^{x/2}` at `f + 1` fractional bits, whose square must stay below `2^62`.
fn exp_ceiling(f: u32) -> Result<f64> {
    let hi = 2.0 * std::f64::consts::LN_2 * (29.5 - f64::from(f));
    if hi < 1.0 {
        return Err(Error::InvalidArgument {
            op: "exp",
            reason: format!("the full-domain exp needs at most 28 fractional bits, not {f}"),
        });
    }
    Ok(hi)
}

impl CrypTensor {
    /// `e^x` with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// Link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::exp_with`] for the cost.
    pub fn exp(&self) -> Result<CrypTensor> {
        self.exp_with(&ApproxConfig::default())
    }

    /// `e^x`: `(e^{x/2^k})^{2^k}` with a degree-4 Taylor seed for `e^{x/2^k} - 1` and `k`
    /// extended-precision squarings (`k = cfg.exp_squarings`, default 8).
    ///
    /// **Domain** every input the format holds, by default ([`Domain::Full`]): the input is
    /// first clamped, exactly on the whole ring ([`CrypTensor::clamp`]), to `[-16, c]`. Below
    /// -16 the result is `e^-16` (1.1e-7, under one ULP at 16 bits); `c = 2·ln 2·(29.5 - f)`
    /// (18.7 at 16 fractional bits) is the largest input whose last squaring fits the ring,
    /// and above it the result **saturates** at `e^c` (1.3e8 at 16 bits): documented, not an
    /// error, as `e^x` up to the format's end (`x ≈ 32`) would need the squarings at a
    /// coarser scale. Measured (2 parties): max abs error 0.075 (at `e^8 ≈ 2981`, 2.5e-5
    /// relative), max rel error 1e-3 where `e^x ≥ 0.01` (one ULP of `0.01`), against
    /// CrypTen's 4.9 % rel and 7.2 abs on `[-5, 5]`; `mpc/tests/wide_domain.rs` checks the
    /// whole range at 2 and 3 parties (1e-3 relative + 2 ULP).
    ///
    /// With [`Domain::Narrow`] the clamp is skipped (9 rounds fewer): accurate on `[-16, 8]`
    /// and up to `c`; from `-16` down to about `-1.6·2^k` (-409 by default) the result
    /// saturates to `[0, 2^-15]`, but it rises back towards 1 near `-2.7·2^k` and grows
    /// without bound below, and above `c` the squarings overflow.
    ///
    /// # Errors
    /// An invalid config; a full-domain `exp` at more than 28 fractional bits; link
    /// failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing. With the exact default, the clamp (2 parties: 9 rounds) and `k + 6`
    /// rounds at any party count (default 23 rounds, about 287 bytes per element at 2
    /// parties): the squarings fold each truncation into the next square
    /// ([`truncate::truncate_and_square`]). With the opt-in 2-party local truncation the
    /// squarings take `k + 2` rounds and `8k + 24` bytes.
    pub fn exp_with(&self, cfg: &ApproxConfig) -> Result<CrypTensor> {
        if let Some(p) = promote(self)? {
            return p.exp_with(cfg);
        }
        cfg.validate()?;
        if cfg.domain == Domain::Narrow {
            return self.exp_in_range(cfg);
        }
        let hi = exp_ceiling(self.frac_bits())?;
        self.clamp(Some(EXP_FLOOR), Some(hi))?.exp_in_range(cfg)
    }

    /// `exp` on `[-1.6·2^k, exp_ceiling]` without the clamp (the narrow form, and what the
    /// functions that bound their own argument call).
    pub(crate) fn exp_in_range(&self, cfg: &ApproxConfig) -> Result<CrypTensor> {
        if let Some(p) = promote(self)? {
            return p.exp_in_range(cfg);
        }
        cfg.validate()?;
        let f = self.frac_bits();
        let k = cfg.exp_squarings;
        // y = x / 2^k, exact at f + k bits.
        let y = relabel(self, f + k);
        let y2 = y.square()?;
        // u = y + y²·(1/2 + y/6 + y²/24) = e^y - 1 - O(y^5).
        let q = add_f64(&lin_comb(&[&y, &y2], &[1.0 / 6.0, 1.0 / 24.0])?, 0.5)?;
        let u = y.add(&y2.mul(&q)?)?;
        add_f64(&pow2k_minus_one(&u, f, k)?, 1.0)
    }

    /// Natural logarithm with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// Link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::log_with`] for the cost.
    pub fn log(&self) -> Result<CrypTensor> {
        self.log_with(&ApproxConfig::default())
    }

    /// Natural logarithm: an initial guess `y0 = x/60 + 3 - 20·e^{-2x-1}` (CrypTen's, with
    /// the linear term steepened so that the guess stays usable up to 100), then
    /// `cfg.log_iterations` Householder iterations `y ← y - Σ_{j≤order} h^j/j` with
    /// `h = 1 - x·e^{-y}` (CrypTen's method, but on umbra's accurate `exp`).
    ///
    /// **Domain** `[0.01, 100]`. Measured (2 parties): max abs error 1.2e-3, at the top of the
    /// domain (`h` carries `x` times the ULP of `e^{-y} ≈ 1/x`); CrypTen: 0.041 on `(0.01, 10]`. **Outside**: below 0.01 the guess undershoots and the error grows
    /// (about 0.1 at 0.005); for `x ≤ 0` the result is meaningless. Above 100 the error grows
    /// slowly (2.6e-3 at 180).
    ///
    /// # Errors
    /// An invalid config, link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing. 2 parties, default config: `(k+2)·(iterations+1) + iterations·4`
    /// rounds (38) and 504 bytes per element.
    pub fn log_with(&self, cfg: &ApproxConfig) -> Result<CrypTensor> {
        if let Some(p) = promote(self)? {
            return p.log_with(cfg);
        }
        cfg.validate()?;
        if cfg.domain == super::Domain::Full {
            return super::wide::full_domain(self, super::wide::Function::Log);
        }
        let guess_exp = add_f64(&self.mul_int(-2)?, -1.0)?.exp_in_range(cfg)?;
        let mut y = add_f64(&lin_comb(&[self, &guess_exp], &[1.0 / 60.0, -20.0])?, 3.0)?;
        for _ in 0..cfg.log_iterations {
            let e = y.neg()?.exp_in_range(cfg)?;
            let h = rsub_f64(1.0, &self.mul(&e)?)?;
            let powers = powers(&h, cfg.log_order)?;
            let refs: Vec<&CrypTensor> = powers.iter().collect();
            let coeffs: Vec<f64> = (1..=powers.len()).map(|j| 1.0 / j as f64).collect();
            y = y.sub(&lin_comb(&refs, &coeffs)?)?;
        }
        Ok(y)
    }
}

/// `[h, h², ..., h^n]` in `ceil(log2 n)` rounds: each round multiplies every power so far by
/// the highest one.
pub(crate) fn powers(h: &CrypTensor, n: usize) -> Result<Vec<CrypTensor>> {
    let mut out = vec![h.clone()];
    while out.len() < n {
        let top = out.last().expect("non-empty").clone();
        let want = (n - out.len()).min(out.len());
        let new = if want == 1 && out.len() == 1 {
            square_many(&[&top])?
        } else {
            let pairs: Vec<(&CrypTensor, &CrypTensor)> =
                out[..want].iter().map(|p| (p, &top)).collect();
            mul_many(&pairs)?
        };
        out.extend(new);
    }
    Ok(out)
}
