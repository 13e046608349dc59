//! `cos` and `sin` through `e^{ix}` by extended-precision complex squaring.

use tensor::RingTensor;

use crate::cryptensor::CrypTensor;
use crate::error::Result;
use crate::protocols::truncate;
use crate::share::Share;

use super::{ApproxConfig, add_f64, lin_comb, mul_many, promote, relabel, square_many};

/// `⌊2^128/(2π)⌋`: `1/(2π)` to 128 bits, for the constants of the range reduction.
const INV_TWO_PI_128: u128 = 0x28be_60db_9391_054a_7f09_d5f4_7d4d_3770;

/// The range reduction's constants at scale `f`: `K = round(2^(64-f)/(2π))`, so that
/// `v·K mod 2^64` (`v = x·2^f` the raw input) is `x/(2π)` in units of `2^-64` turns, and
/// `F = round((2^(64-f)/(2π) - K)·2^32)`, the part of the constant `K` misses, in `2^-32`
/// units.
fn reduction_constants(f: u32) -> (u64, i64) {
    let k32 = INV_TWO_PI_128 >> (32 + f);
    let k = (k32 + (1 << 31)) >> 32;
    (k as u64, (k32 as i128 - ((k as i128) << 32)) as i64)
}

/// `x mod 2π`, as a value in `[-3.5π, 3.5π]` at `x`'s scale, within one ULP of a
/// representative of `x`'s class. Exact range reduction, with no division by `2π` of a
/// secret:
///
/// 1. `P = v·K + ⌊v/2^32⌋·F mod 2^64` is the angle in `2^-64` turns: the wrap-around of the
///    ring is the reduction modulo one turn. The second term (one exact truncation) carries
///    the constant to 32 more bits, so the phase error stays below `2^-30` turns for every
///    `|x| < 2^(62-f)`.
/// 2. `⌊P/K⌋` converts turns to radians at scale `f` (`2^64/K` is one turn). The dealer's
///    truncation gets this right up to a multiple of `⌊2^64/K⌋`, a whole turn to within one
///    ULP, even though `P` fills the whole ring: its wrap correction is exactly such a
///    multiple, and the masked opening keeps the result within 1.75 turns.
fn reduce_mod_2pi(x: &CrypTensor) -> Result<CrypTensor> {
    let f = x.frac_bits();
    let (k, corr) = reduction_constants(f);
    match x {
        CrypTensor::Public(t) => Ok(CrypTensor::Public(t.map(|v| {
            let v = v as i64;
            let p = (v as u64)
                .wrapping_mul(k)
                .wrapping_add((v >> 32).wrapping_mul(corr) as u64) as i64;
            (i128::from(p) / i128::from(k)) as i64 as u64
        }))),
        CrypTensor::Private(sh) => {
            let session = &sh.session;
            let v = sh.share.clone().with_frac_bits(0);
            let high = truncate::with_dealer(session, v.clone(), 1 << 32)?;
            let p = RingTensor::add(
                &v.ring().map(|w| w.wrapping_mul(k)),
                &high.ring().map(|w| w.wrapping_mul(corr as u64)),
            )?;
            let theta = truncate::with_dealer(session, Share::new(p), k)?;
            Ok(sh.with(theta.with_frac_bits(f)))
        }
    }
}

impl CrypTensor {
    /// `cos x` with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// Link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::cos_sin_with`] for the cost.
    pub fn cos(&self) -> Result<CrypTensor> {
        Ok(self.cos_sin_with(&ApproxConfig::default())?.0)
    }

    /// `sin x` with the default [`ApproxConfig`].
    ///
    /// # Errors
    /// Link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing; see [`CrypTensor::cos_sin_with`] for the cost.
    pub fn sin(&self) -> Result<CrypTensor> {
        Ok(self.cos_sin_with(&ApproxConfig::default())?.1)
    }

    /// `(cos x, sin x)` together (they come out of one computation).
    ///
    /// Method: `e^{ix} = (e^{iy})^{2^k}` with `y = x/2^k` (`k = cfg.trig_squarings`, default
    /// 8), a Taylor seed `u = (cos y - 1, sin y)` to degree 4, and `k` squarings of `1 + u`
    /// carried as `u` at `16 + k - j` fractional bits, as in [`CrypTensor::exp_with`]. Each
    /// complex square `u²` costs three real squares in one round: `p²`, `q²` and `(p+q)²`
    /// (`2pq = (p+q)² - p² - q²`). CrypTen instead squares `1 + ix/2^10` ten times at a
    /// fixed scale (error 0.019 on `[-5, 5]`, 28 rounds).
    ///
    /// The input is first reduced modulo `2π` exactly (see `reduce_mod_2pi`: a product by a
    /// public integer whose wrap-around is the reduction, and two truncations), so the
    /// squarings always start from `|x| ≤ 3.5π`.
    ///
    /// **Domain** every `|x| < 2^(62-f)` (2^46 at 16 fractional bits). Measured (2 parties,
    /// default): max abs error 1.1e-4 (cos) and 9.1e-5 (sin) on `[-16, 16]`, and under 1e-4
    /// at every magnitude below 2^46 (`mpc/tests/wide_domain.rs`). **Top binade**
    /// (`|x| ≥ 2^46`): the reduction's first truncation leaves the dealer protocol's range and
    /// the phase is lost; the value stays in `[-1, 1]`.
    ///
    /// # Errors
    /// An invalid config, link failures or a failing triple source.
    ///
    /// # Security
    /// Reveals nothing. 2 parties: the reduction's 2 truncation rounds, then `k + 2` rounds
    /// of squarings with their truncations (docs/accuracy.md has the measured total: 24
    /// rounds, 496 bytes per element).
    pub fn cos_sin_with(&self, cfg: &ApproxConfig) -> Result<(CrypTensor, CrypTensor)> {
        if let Some(p) = promote(self)? {
            return p.cos_sin_with(cfg);
        }
        cfg.validate()?;
        if self.frac_bits() > crate::session::MAX_SESSION_FRAC_BITS {
            return Err(crate::error::Error::InvalidArgument {
                op: "cos/sin",
                reason: format!(
                    "an input at {} fractional bits (at most {})",
                    self.frac_bits(),
                    crate::session::MAX_SESSION_FRAC_BITS
                ),
            });
        }
        let x = reduce_mod_2pi(self)?;
        let f = x.frac_bits();
        let k = cfg.trig_squarings;
        let y = relabel(&x, f + k);
        let y2 = y.square()?;
        let hi = mul_many(&[(&y, &y2), (&y2, &y2)])?;
        // cos y - 1 = -y²/2 + y⁴/24, sin y = y - y³/6.
        let mut p = lin_comb(&[&y2, &hi[1]], &[-0.5, 1.0 / 24.0])?;
        let mut q = lin_comb(&[&y, &hi[0]], &[1.0, -1.0 / 6.0])?;
        for j in 0..k {
            let s = f + k - j;
            let pq = p.add(&q)?;
            let (pp, qq, ss) = (relabel(&p, s + 1), relabel(&q, s + 1), relabel(&pq, s + 1));
            let sq = square_many(&[&pp, &qq, &ss])?;
            let [p2, q2, s2]: [CrypTensor; 3] = sq
                .into_iter()
                .map(|t| relabel(&t, s - 1))
                .collect::<Vec<_>>()
                .try_into()
                .expect("three squares");
            let new_p = relabel(&p, s - 1).add(&p2)?.sub(&q2)?;
            let new_q = relabel(&q, s - 1).add(&s2)?.sub(&p2)?.sub(&q2)?;
            p = new_p;
            q = new_q;
        }
        Ok((add_f64(&p, 1.0)?, q))
    }
}
