//! Comparisons on shares: the sign bit of a secret and the functions that use the bit
//! directly (ltz, relu, abs, sign, the zero test).
//!
//! Everything rests on one circuit: the sign bit, from the binary sharing of the parties'
//! arithmetic shares with a carry tree that only produces the carry into bit 63
//! ([`super::binary::msb`]: 7 AND rounds for 2 parties, about 47 bytes per element per peer;
//! the ABY / CrypTen A2B idea with the adder cut down to its carry). The bit then either
//! becomes an arithmetic 0/1 (one round, [`super::binary::b2a_bits`]) or multiplies a value
//! directly (one round, [`super::binary::bit_mul`]), which is how ReLU costs 8 rounds and about
//! 55 bytes per element in total (CrypTen: 9 rounds, 232 bytes).
//!
//! Results are integers 0/1 (or -1/0/1) at scale 0, shaped like the input. A comparison is
//! exact whenever the secret fits the signed ring.
//!
//! In the FSS comparison mode ([`CompareMode::Fss`]) the sign bit comes from the dealer's
//! DCF keys in one round instead ([`super::fss`]), and ReLU (with its negative mask) and
//! `abs` take one round in all; everything else here uses the sign bit as in the circuit
//! mode, with the same results.

use tensor::RingTensor;

use crate::error::Result;
use crate::session::{CompareMode, Session};
use crate::share::{Share, XorShare};

use super::binary;

/// Packed XOR-shared sign bits of the concatenation of `parts` (flattened, in order): the
/// carry circuit, or one FSS opening in [`CompareMode::Fss`].
///
/// # Errors
/// Link failures or a failing triple source.
pub fn sign_bits(session: &Session, parts: &[&Share]) -> Result<XorShare> {
    let words = match parts {
        [one] => one.ring().flatten(),
        _ => {
            let flat: Vec<RingTensor> = parts
                .iter()
                .map(|p| p.ring().flatten().with_frac_bits(0))
                .collect();
            RingTensor::concat(&flat.iter().collect::<Vec<_>>(), 0)?
        }
    };
    if fss(session) {
        return super::fss::sign_bits(session, &words);
    }
    binary::msb(session, binary::own_operands(session, words))
}

fn fss(session: &Session) -> bool {
    session.config().compare == CompareMode::Fss
}

/// `1` where the secret is negative, `0` elsewhere. 2 parties: 8 rounds, about 47.4 bytes per
/// element and peer.
///
/// # Errors
/// Link failures or a failing triple source.
pub fn ltz(session: &Session, x: &Share) -> Result<Share> {
    let bits = sign_bits(session, &[x])?;
    reshaped(binary::b2a_bits(session, &bits, x.numel())?, x.shape())
}

/// `max(x, 0) = x - b·x` with `b` the sign bit, multiplied without a B2A round. 2 parties: 8
/// rounds, about 55.4 bytes per element and peer.
///
/// # Errors
/// Link failures or a failing triple source.
pub fn relu(session: &Session, x: &Share) -> Result<Share> {
    if fss(session) {
        return Ok(super::fss::relu_and_negative(session, x)?.0);
    }
    let bits = sign_bits(session, &[x])?;
    minus_bit_times(session, x, &bits, 1)
}

/// `(relu(x), [x < 0])` from one sign circuit: the ReLU and the 0/1 negative mask (its
/// derivative is one minus the mask). 2 parties: 9 rounds.
///
/// # Errors
/// Link failures or a failing triple source.
pub fn relu_and_negative(session: &Session, x: &Share) -> Result<(Share, Share)> {
    if fss(session) {
        return super::fss::relu_and_negative(session, x);
    }
    let bits = sign_bits(session, &[x])?;
    let relu = minus_bit_times(session, x, &bits, 1)?;
    let negative = reshaped(binary::b2a_bits(session, &bits, x.numel())?, x.shape())?;
    Ok((relu, negative))
}

/// `min(max(x, lo), hi)` for raw bounds (either optional), exact on the whole ring:
/// `x + [x < lo]·(lo - x) + [x > hi]·(hi - x)`.
///
/// `[x < c]` is the sign of `x - c`, which wraps for `x` within `|c|` of the ring's end
/// opposite to `c`'s sign; the sign of `x`, from the same batched circuit, tells those ends
/// apart: `[x < c] = [x < 0] ∧ msb(x - c)` for `c < 0`, `[x < 0] ∨ msb(x - c)` for `c > 0`
/// (one packed AND round for all bounds), and both selections are one `bit_mul` round.
/// 2 parties: 9 rounds (8 when every bound is 0).
///
/// # Errors
/// Link failures or a failing triple source.
pub fn clamp(session: &Session, x: &Share, lo: Option<u64>, hi: Option<u64>) -> Result<Share> {
    if let (Some(l), Some(h)) = (lo, hi)
        && (l as i64) > (h as i64)
    {
        return Err(crate::error::Error::InvalidArgument {
            op: "clamp",
            reason: format!(
                "lower bound {} above upper bound {} (raw)",
                l as i64, h as i64
            ),
        });
    }
    let Some(parts) = clamp_parts(session, x, lo, hi, false)? else {
        return Ok(x.clone());
    };
    reshaped(parts.clamped, x.shape())
}

/// `x` clamped to `[-c, c]` (raw `c > 0`) with the pieces an activation built on the clamp
/// needs, all from [`clamp`]'s rounds (its `bit_mul` also carries `[x < 0]·x`).
pub struct SymmetricClamp {
    /// `x_c = min(max(x, -c), c)`, flat.
    pub clamped: Share,
    /// Packed XOR-shared `[x < 0]` (also the sign of `x_c`), one bit per element.
    pub negative: XorShare,
    /// `relu(x)`, exact on the whole ring, flat.
    pub relu: Share,
    /// `relu(x_c)`, flat.
    pub clamped_relu: Share,
    /// `|x_c|`, flat.
    pub clamped_abs: Share,
}

/// [`clamp`] to `[-c, c]` for a raw `c > 0`, returning [`SymmetricClamp`]. 2 parties: 9
/// rounds.
///
/// # Errors
/// `c` not positive; link failures or a failing triple source.
pub fn clamp_symmetric(session: &Session, x: &Share, c: u64) -> Result<SymmetricClamp> {
    if c as i64 <= 0 {
        return Err(crate::error::Error::InvalidArgument {
            op: "clamp_symmetric",
            reason: format!("the bound must be positive, not raw {}", c as i64),
        });
    }
    let parts =
        clamp_parts(session, x, Some(c.wrapping_neg()), Some(c), true)?.expect("two bounds");
    let sx = parts.negative_times_x.expect("asked for");
    // [x < 0]·x_c = [x < 0]·x + [x < -c]·(-c - x): below -c implies negative, above c not
    let mut s_xc = sx.ring().clone();
    s_xc.add_assign(parts.moved[0].ring())?;
    let f = x.frac_bits();
    let xc = parts.clamped.ring();
    let relu = x.ring().flatten().sub(sx.ring())?;
    let clamped_relu = xc.sub(&s_xc)?;
    let clamped_abs = clamped_relu.sub(&s_xc)?;
    Ok(SymmetricClamp {
        clamped: parts.clamped,
        negative: parts.negative,
        relu: Share::new(relu.with_frac_bits(f)),
        clamped_relu: Share::new(clamped_relu.with_frac_bits(f)),
        clamped_abs: Share::new(clamped_abs.with_frac_bits(f)),
    })
}

/// What [`clamp_parts`] computes.
struct ClampParts {
    clamped: Share,
    negative: XorShare,
    /// `[x < lo]·(lo - x)` and `[x > hi]·(hi - x)`, for the bounds given.
    moved: Vec<Share>,
    negative_times_x: Option<Share>,
}

/// [`clamp`]'s circuit, flat; `None` without bounds. With `sign_product`, the selection round
/// also computes `[x < 0]·x`.
fn clamp_parts(
    session: &Session,
    x: &Share,
    lo: Option<u64>,
    hi: Option<u64>,
    sign_product: bool,
) -> Result<Option<ClampParts>> {
    let n = x.numel();
    let bounds: Vec<u64> = [lo, hi].into_iter().flatten().collect();
    if bounds.is_empty() {
        return Ok(None);
    }
    let flat = Share::new(x.ring().flatten());
    let neg = flat.ring().neg();
    // this party's share of `c - x`
    let c_minus_x = |c: u64| plus_public(session, &neg, c);
    let shifted: Vec<Share> = bounds
        .iter()
        .map(|&c| Share::new(plus_public(session, flat.ring(), c.wrapping_neg())))
        .collect();
    let mut parts = vec![&flat];
    parts.extend(shifted.iter());
    let bits = sign_bits(session, &parts)?.into_ring();
    let negative = bits.bit_range(0, n)?;
    let raw: Vec<RingTensor> = (1..=bounds.len())
        .map(|i| bits.bit_range(i * n, n))
        .collect::<tensor::Result<_>>()?;
    let not = |w: &RingTensor| binary::not(session, w);
    // the ANDs: (s, r) for c < 0, (¬s, ¬r) for c > 0 (De Morgan for the OR)
    let mut lhs = Vec::new();
    let mut rhs = Vec::new();
    for (&c, r) in bounds.iter().zip(&raw) {
        match (c as i64).signum() {
            -1 => {
                lhs.push(negative.clone());
                rhs.push(r.clone());
            }
            1 => {
                lhs.push(not(&negative));
                rhs.push(not(r));
            }
            _ => {}
        }
    }
    let ands = if lhs.is_empty() {
        RingTensor::words(Vec::new())
    } else {
        let pack = |v: &[RingTensor]| {
            RingTensor::concat_bits(&v.iter().map(|w| (w, n)).collect::<Vec<_>>())
        };
        binary::and(
            session,
            &XorShare::new(pack(&lhs)?),
            &XorShare::new(pack(&rhs)?),
        )?
        .into_ring()
    };
    // [x < c] per bound, packed
    let mut k = 0;
    let mut below = Vec::new();
    for &c in &bounds {
        below.push(match (c as i64).signum() {
            0 => negative.clone(),
            sign => {
                let a = ands.bit_range(k * n, n)?;
                k += 1;
                if sign < 0 { a } else { not(&a) }
            }
        });
    }
    // selections: [x < lo]·(lo - x) and (1 - [x < hi])·(hi - x)
    let mut sel_bits = Vec::new();
    let mut sel_vals = Vec::new();
    let mut i = 0;
    if let Some(c) = lo {
        sel_bits.push(below[i].clone());
        sel_vals.push(c_minus_x(c));
        i += 1;
    }
    if let Some(c) = hi {
        sel_bits.push(not(&below[i]));
        sel_vals.push(c_minus_x(c));
    }
    let moves = sel_bits.len();
    if sign_product {
        sel_bits.push(negative.clone());
        sel_vals.push(flat.ring().clone());
    }
    let packed = RingTensor::concat_bits(&sel_bits.iter().map(|w| (w, n)).collect::<Vec<_>>())?;
    let vals = RingTensor::concat(&sel_vals.iter().collect::<Vec<_>>(), 0)?;
    let products = binary::bit_mul(session, &XorShare::new(packed), &Share::new(vals))?;
    let f = x.frac_bits();
    let part = |j: usize| -> Result<Share> {
        Ok(Share::new(
            products.ring().narrow(0, j * n, n)?.with_frac_bits(f),
        ))
    };
    let moved: Vec<Share> = (0..moves).map(part).collect::<Result<_>>()?;
    let mut out = flat.ring().clone();
    for m in &moved {
        out.add_assign(m.ring())?;
    }
    Ok(Some(ClampParts {
        clamped: Share::new(out.with_frac_bits(f)),
        negative: XorShare::new(negative),
        moved,
        negative_times_x: if sign_product {
            Some(part(moves)?)
        } else {
            None
        },
    }))
}

/// `|x| = x - 2·b·x` with `b` the sign bit. 2 parties: 8 rounds.
///
/// # Errors
/// Link failures or a failing triple source.
pub fn abs(session: &Session, x: &Share) -> Result<Share> {
    if fss(session) {
        // |x| = 2·relu(x) - x
        let (relu, _) = super::fss::relu_and_negative(session, x)?;
        let mut out = relu.ring().mul_scalar_raw(2);
        out.sub_assign(x.ring())?;
        return Ok(Share::new(out));
    }
    let bits = sign_bits(session, &[x])?;
    minus_bit_times(session, x, &bits, 2)
}

/// `x - k·b·x` for packed bits `b`.
fn minus_bit_times(session: &Session, x: &Share, bits: &XorShare, k: u64) -> Result<Share> {
    let bx = binary::bit_mul(session, bits, x)?;
    let mut out = x.ring().clone();
    out.sub_assign(&bx.ring().mul_scalar_raw(k))?;
    Ok(Share::new(out))
}

/// Packed XOR-shared bits `(negative, zero)`: `negative = msb(d)` and
/// `zero = ¬msb(d) ∧ msb(d - 1)`, from one batched sign circuit on `[d, d - 1]` and one packed
/// AND. Exact on the whole ring (`d = i64::MIN` is negative, not zero).
///
/// # Errors
/// Link failures or a failing triple source.
pub fn sign_and_zero_bits(session: &Session, d: &Share) -> Result<(XorShare, XorShare)> {
    let n = d.numel();
    let d_minus_1 = Share::new(plus_public(session, d.ring(), u64::MAX));
    let bits = sign_bits(session, &[d, &d_minus_1])?.into_ring();
    let (neg, neg_prev) = (bits.bit_range(0, n)?, bits.bit_range(n, n)?);
    let not_neg = binary::not(session, &neg);
    let zero = binary::and(session, &XorShare::new(not_neg), &XorShare::new(neg_prev))?;
    Ok((XorShare::new(neg), zero))
}

/// Packed XOR-shared "is zero" bits: the 7-round AND-tree zero test with 2 parties,
/// [`sign_and_zero_bits`] otherwise.
///
/// # Errors
/// Link failures or a failing triple source.
pub fn zero_bits(session: &Session, d: &Share) -> Result<XorShare> {
    if session.n_parties() == 2 {
        binary::is_zero_2pc(session, d)
    } else {
        Ok(sign_and_zero_bits(session, d)?.1)
    }
}

/// `1` where the secret is zero, `0` elsewhere, exact for every value in the ring.
///
/// # Errors
/// Link failures or a failing triple source.
pub fn eq_zero(session: &Session, d: &Share) -> Result<Share> {
    let bits = zero_bits(session, d)?;
    reshaped(binary::b2a_bits(session, &bits, d.numel())?, d.shape())
}

/// `-1`, `0` or `1`, as `torch.sign`: `1 - 2·[x < 0] - [x = 0]`, both bits from one sign
/// circuit on `[x, x - 1]`, converted in one round. 2 parties: 9 rounds.
///
/// # Errors
/// Link failures or a failing triple source.
pub fn sign(session: &Session, x: &Share) -> Result<Share> {
    let n = x.numel();
    let (neg, zero) = sign_and_zero_bits(session, x)?;
    let packed = RingTensor::concat_bits(&[(neg.ring(), n), (zero.ring(), n)])?;
    let both = binary::b2a_bits(session, &XorShare::new(packed), 2 * n)?.into_ring();
    let (b, z) = (both.narrow(0, 0, n)?, both.narrow(0, n, n)?);
    let mut v = z.neg().sub(&b.mul_scalar_raw(2))?;
    if session.party() == 0 {
        v = v.add_scalar_raw(1);
    }
    Ok(Share::new(v.reshape(x.shape())?))
}

/// `(b·v, b·w)` with `b = [cond < 0]` (one bit per element of `cond`), where `v` is shaped
/// like `cond` and `w` has `width` entries per element of `cond` that all take the same bit:
/// one sign circuit and one multiplication round for both (the winner's value and payload of
/// a max tree).
///
/// # Errors
/// Shapes that do not fit, link failures or a failing triple source.
pub fn choose(
    session: &Session,
    cond: &Share,
    v: &Share,
    w: &Share,
    width: usize,
) -> Result<(Share, Share)> {
    let m = cond.numel();
    let bits = sign_bits(session, &[cond])?.into_ring();
    // one bit per value, then the same bit for each of the width payload entries
    let expanded =
        RingTensor::concat_bits(&[(&bits, m), (&bits.repeat_bits(m, width)?, m * width)])?;
    let (vr, wr) = (v.ring(), w.ring());
    let joined = RingTensor::concat(
        &[&vr.flatten(), &wr.flatten().with_frac_bits(vr.frac_bits())],
        0,
    )?;
    let prod = binary::bit_mul(session, &XorShare::new(expanded), &Share::new(joined))?;
    let prod = prod.ring();
    let pv = prod.narrow(0, 0, m)?.reshape(vr.shape())?;
    let pw = prod
        .narrow(0, m, m * width)?
        .reshape(wr.shape())?
        .with_frac_bits(wr.frac_bits());
    Ok((Share::new(pv), Share::new(pw)))
}

/// Longest row [`extreme_all_pairs`] takes: its comparisons grow as `n(n-1)/2` per row (120
/// at 16, against the tree's 15), its rounds as `log2 n` ANDs.
pub const ALL_PAIRS_MAX_LEN: usize = 16;

/// The maximum (or minimum) of each row of `x` (`[rows, n]`, `2 ≤ n ≤ 16`) in one comparison
/// circuit instead of a tree of `ceil(log2 n)`: the signs of all `n(n-1)/2` pairwise
/// differences at once, then for each candidate `i` the AND of its `n - 1` wins
/// (`x_i ≥ x_j` for `j > i`, `x_i > x_j` for `j < i`, so that exactly one candidate wins
/// a tie: the lowest index, as the tree) in `ceil(log2(n-1))` packed AND rounds, and one
/// `bit_mul` that selects the winner's value (and, with `one_hot`, its 0/1 position in the
/// same round). 2 parties: `7 + ceil(log2(n-1)) + 1` rounds (10 for a 2x2 window, 12 for
/// 10 classes; the tree takes 8 per level: 16 and 32).
///
/// Returns the extremes `[rows]` and, with `one_hot`, the `[rows, n]` one-hot winners at
/// scale 0. Exact whenever every pairwise difference of a row fits the signed ring (values
/// within ±2^62 raw, ±2^46 at 16 bits), as for the tree; beyond that the wrapped signs can
/// form a cycle in which no candidate wins, and the row's maximum reads 0.
///
/// # Errors
/// A shape other than `[rows, n]` with `2 ≤ n ≤ 16`; link failures or a failing triple
/// source.
pub fn extreme_all_pairs(
    session: &Session,
    x: &Share,
    minimum: bool,
    one_hot: bool,
) -> Result<(Share, Option<Share>)> {
    let (rows, n) = match x.shape() {
        &[rows, n] if (2..=ALL_PAIRS_MAX_LEN).contains(&n) => (rows, n),
        other => {
            return Err(crate::error::Error::InvalidArgument {
                op: "extreme_all_pairs",
                reason: format!(
                    "needs [rows, n] with 2 <= n <= {ALL_PAIRS_MAX_LEN}, got {other:?}"
                ),
            });
        }
    };
    let first = session.party() == 0;
    let xv = x.ring().as_slice();
    let pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .collect();
    // pair-major differences: bit (p, r) = [x_i < x_j] for a maximum, [x_j < x_i] for a
    // minimum, i.e. "j beats i"
    let mut diffs = Vec::with_capacity(pairs.len() * rows);
    for &(i, j) in &pairs {
        for r in 0..rows {
            let (a, b) = (xv[r * n + i], xv[r * n + j]);
            diffs.push(if minimum {
                b.wrapping_sub(a)
            } else {
                a.wrapping_sub(b)
            });
        }
    }
    let d = Share::new(RingTensor::from_raw(&[diffs.len()], diffs, 0)?);
    let bits = sign_bits(session, &[&d])?.into_ring();
    let not = |w: &RingTensor| binary::not(session, w);
    // each candidate's n - 1 literals, each a packed vector of `rows` bits
    let mut literals: Vec<Vec<RingTensor>> = vec![Vec::with_capacity(n - 1); n];
    for (p, &(i, j)) in pairs.iter().enumerate() {
        let beats = bits.bit_range(p * rows, rows)?;
        // i survives j > i unless j beats it; j survives i < j only if it beats i
        literals[i].push(not(&beats));
        literals[j].push(beats);
    }
    let pack = |v: &[&RingTensor]| {
        RingTensor::concat_bits(&v.iter().map(|w| (*w, rows)).collect::<Vec<_>>())
    };
    // the AND tree, one packed round per level for all candidates
    while literals[0].len() > 1 {
        let half = literals[0].len() / 2;
        let mut lhs = Vec::new();
        let mut rhs = Vec::new();
        for lits in &literals {
            for k in 0..half {
                lhs.push(&lits[2 * k]);
                rhs.push(&lits[2 * k + 1]);
            }
        }
        let anded = binary::and(
            session,
            &XorShare::new(pack(&lhs)?),
            &XorShare::new(pack(&rhs)?),
        )?
        .into_ring();
        let mut k = 0;
        for lits in &mut literals {
            let odd = (lits.len() % 2 == 1).then(|| lits[lits.len() - 1].clone());
            let mut next = Vec::with_capacity(half + 1);
            for _ in 0..half {
                next.push(anded.bit_range(k * rows, rows)?);
                k += 1;
            }
            next.extend(odd);
            *lits = next;
        }
    }
    let winners: Vec<&RingTensor> = literals.iter().map(|l| &l[0]).collect();
    // candidate-major values, and (for the one-hot) a public 1 held by party 0
    let mut vals = Vec::with_capacity(n * rows * if one_hot { 2 } else { 1 });
    for i in 0..n {
        vals.extend((0..rows).map(|r| xv[r * n + i]));
    }
    let mut sel = vec![pack(&winners)?];
    if one_hot {
        vals.extend(std::iter::repeat_n(u64::from(first), n * rows));
        sel.push(sel[0].clone());
    }
    let packed = RingTensor::concat_bits(&sel.iter().map(|w| (w, n * rows)).collect::<Vec<_>>())?;
    let m = vals.len();
    let chosen = binary::bit_mul(
        session,
        &XorShare::new(packed),
        &Share::new(RingTensor::from_raw(&[m], vals, 0)?),
    )?;
    let c = chosen.ring().as_slice();
    let best: Vec<u64> = (0..rows)
        .map(|r| (0..n).fold(0u64, |acc, i| acc.wrapping_add(c[i * rows + r])))
        .collect();
    let best = Share::new(RingTensor::from_raw(&[rows], best, x.frac_bits())?);
    let hot = if one_hot {
        let base = n * rows;
        let data: Vec<u64> = (0..rows)
            .flat_map(|r| (0..n).map(move |i| c[base + i * rows + r]))
            .collect();
        Some(Share::new(RingTensor::from_raw(&[rows, n], data, 0)?))
    } else {
        None
    };
    Ok((best, hot))
}

/// This party's share of `w + c` for a public raw `c` (party 0 adds it).
fn plus_public(session: &Session, w: &RingTensor, c: u64) -> RingTensor {
    if session.party() == 0 {
        w.add_scalar_raw(c)
    } else {
        w.clone()
    }
}

fn reshaped(s: Share, shape: &[usize]) -> Result<Share> {
    Ok(Share::new(s.into_ring().into_reshaped(shape)?))
}
