//! Comparisons and the functions built on them: `ltz`, `lt`/`le`/`gt`/`ge`/`eq`/`ne`, `sign`,
//! `abs`, `relu`, `select` (PyTorch `where`), `clamp`/`hardtanh`/`relu6`, `max`/`min`/`argmax`/
//! `argmin` over a dimension, `max_pool2d` and the adaptive pools.
//!
//! The protocols are in [`crate::protocols::compare`] (on shares): everything rests on one
//! sign circuit, and ReLU costs 8 rounds and about 55 bytes per element with 2 parties
//! (CrypTen: 9 rounds, 232 bytes); in the FSS comparison mode a sign bit or a ReLU is one
//! round ([`crate::protocols::fss`]). This file lifts them to public-or-private tensors.
//!
//! Comparison results are integers 0/1 at scale 1 (`frac_bits == 0`), so multiplying by them
//! needs no truncation. They are **not differentiable**: autograd treats them as constants.
//! A comparison is exact whenever the difference of its operands fits the signed ring.

use tensor::{Dim, Pool2dParams, RingTensor};

use crate::cryptensor::Shared;
use crate::cryptensor::{CrypTensor, Operand};
use crate::error::{Error, Result};
use crate::protocols::compare;
use crate::session::{CompareMode, MaxReduction};

impl CrypTensor {
    fn private(&self) -> Option<&Shared> {
        match self {
            CrypTensor::Private(s) => Some(s),
            CrypTensor::Public(_) => None,
        }
    }

    /// `1` where the value is negative, `0` elsewhere (integers at scale 1).
    ///
    /// # Errors
    /// Link failures.
    ///
    /// # Security
    /// Reveals nothing. 2 parties: 8 rounds, about 47.4 bytes per element per peer.
    pub fn ltz(&self) -> Result<CrypTensor> {
        match self {
            CrypTensor::Public(t) => Ok(CrypTensor::Public(t.map(|v| v >> 63).with_frac_bits(0))),
            CrypTensor::Private(s) => Ok(s.with(compare::ltz(&s.session, &s.share)?)),
        }
    }

    /// `self < other`, elementwise with broadcasting (0/1 integers).
    ///
    /// # Errors
    /// Shapes or scales that do not fit; link failures.
    ///
    /// # Security
    /// Reveals nothing; one [`CrypTensor::ltz`].
    pub fn lt<'a>(&self, other: impl Into<Operand<'a>>) -> Result<CrypTensor> {
        let (a, b) = self.operands(other.into())?;
        a.sub(&*b)?.ltz()
    }

    /// `self > other` (0/1 integers).
    ///
    /// # Errors
    /// As [`CrypTensor::lt`].
    ///
    /// # Security
    /// As [`CrypTensor::lt`].
    pub fn gt<'a>(&self, other: impl Into<Operand<'a>>) -> Result<CrypTensor> {
        let (a, b) = self.operands(other.into())?;
        b.sub(&*a)?.ltz()
    }

    /// `self <= other` (0/1 integers).
    ///
    /// # Errors
    /// As [`CrypTensor::lt`].
    ///
    /// # Security
    /// As [`CrypTensor::lt`].
    pub fn le<'a>(&self, other: impl Into<Operand<'a>>) -> Result<CrypTensor> {
        one_minus(&self.gt(other)?)
    }

    /// `self >= other` (0/1 integers).
    ///
    /// # Errors
    /// As [`CrypTensor::lt`].
    ///
    /// # Security
    /// As [`CrypTensor::lt`].
    pub fn ge<'a>(&self, other: impl Into<Operand<'a>>) -> Result<CrypTensor> {
        one_minus(&self.lt(other)?)
    }

    /// `self == other` (0/1 integers), exact for every difference in the ring. With 2 parties
    /// a dedicated zero test (an AND tree over the 64 bits of `x_0 ⊕ -x_1`: 7 rounds, about 16
    /// bytes per element); with more, one sign circuit on `[d, d - 1]` and one AND.
    ///
    /// # Errors
    /// As [`CrypTensor::lt`].
    ///
    /// # Security
    /// Reveals nothing.
    pub fn eq<'a>(&self, other: impl Into<Operand<'a>>) -> Result<CrypTensor> {
        let d = self.sub(other)?;
        let Some(s) = d.private() else {
            let t = d.reveal()?;
            return Ok(CrypTensor::Public(
                t.map(|v| u64::from(v == 0)).with_frac_bits(0),
            ));
        };
        Ok(s.with(compare::eq_zero(&s.session, &s.share)?))
    }

    /// `self != other` (0/1 integers): `1 - eq`.
    ///
    /// # Errors
    /// As [`CrypTensor::lt`].
    ///
    /// # Security
    /// As [`CrypTensor::eq`].
    pub fn ne<'a>(&self, other: impl Into<Operand<'a>>) -> Result<CrypTensor> {
        one_minus(&self.eq(other)?)
    }

    /// `-1`, `0` or `1` (integers), as `torch.sign` (0 maps to 0): `1 - 2·[x < 0] - [x = 0]`,
    /// both bits from one sign circuit on `[x, x - 1]`, converted in one round.
    ///
    /// # Errors
    /// Link failures.
    ///
    /// # Security
    /// Reveals nothing. 2 parties: 9 rounds.
    pub fn sign(&self) -> Result<CrypTensor> {
        let Some(s) = self.private() else {
            let t = self.reveal()?;
            return Ok(CrypTensor::Public(
                t.map(|v| ((v as i64).signum()) as u64).with_frac_bits(0),
            ));
        };
        Ok(s.with(compare::sign(&s.session, &s.share)?))
    }

    /// Absolute value: `x - 2·b·x` with `b` the sign bit, multiplied without a B2A round.
    ///
    /// # Errors
    /// Link failures.
    ///
    /// # Security
    /// Reveals nothing. 2 parties: 8 rounds, about 55 bytes per element per peer.
    pub fn abs(&self) -> Result<CrypTensor> {
        match self {
            CrypTensor::Public(t) => Ok(CrypTensor::Public(
                t.map(|v| (v as i64).wrapping_abs() as u64),
            )),
            CrypTensor::Private(s) => Ok(s.with(compare::abs(&s.session, &s.share)?)),
        }
    }

    /// `max(x, 0)`: `x - b·x` with `b` the sign bit.
    ///
    /// # Errors
    /// Link failures.
    ///
    /// # Security
    /// Reveals nothing. 2 parties: 8 rounds, about 55.4 bytes per element per peer.
    pub fn relu(&self) -> Result<CrypTensor> {
        match self {
            CrypTensor::Public(t) => Ok(CrypTensor::Public(tensor::TensorOps::unary(
                t,
                tensor::UnaryOp::Relu,
            )?)),
            CrypTensor::Private(s) => Ok(s.with(compare::relu(&s.session, &s.share)?)),
        }
    }

    /// `relu(x)` together with its derivative mask `[x >= 0]` (0/1 integers), from one sign
    /// circuit: what a ReLU layer needs for its backward pass.
    ///
    /// # Errors
    /// Link failures.
    ///
    /// # Security
    /// Reveals nothing. 2 parties: 9 rounds (the relu's 8 plus the mask's B2A), about 55.5
    /// bytes per element.
    pub fn relu_with_mask(&self) -> Result<(CrypTensor, CrypTensor)> {
        match self {
            CrypTensor::Public(t) => {
                use tensor::{TensorOps, UnaryOp};
                let (r, m) = (t.unary(UnaryOp::Relu)?, t.unary(UnaryOp::Step)?);
                Ok((CrypTensor::Public(r), CrypTensor::Public(m)))
            }
            CrypTensor::Private(s) => {
                let (relu, negative) = compare::relu_and_negative(&s.session, &s.share)?;
                Ok((s.with(relu), one_minus(&s.with(negative))?))
            }
        }
    }

    /// `torch.where(self, on_true, on_false)` in method form, for a 0/1 condition `self`
    /// (`where` is a Rust keyword): [`CrypTensor::select`].
    ///
    /// # Errors
    /// As [`CrypTensor::select`].
    ///
    /// # Security
    /// As [`CrypTensor::select`].
    pub fn where_cond(&self, on_true: &CrypTensor, on_false: &CrypTensor) -> Result<CrypTensor> {
        Self::select(self, on_true, on_false)
    }

    /// PyTorch `where(cond, a, b)`: `a` where `cond` is 1, `b` where it is 0, for a 0/1 integer
    /// `cond` (a comparison result); `b + cond·(a - b)`, with broadcasting.
    ///
    /// # Errors
    /// `cond` not an integer tensor; shapes that do not broadcast; link failures.
    ///
    /// # Security
    /// Reveals nothing; one Beaver product (one round) when `cond` is private.
    pub fn select(cond: &CrypTensor, a: &CrypTensor, b: &CrypTensor) -> Result<CrypTensor> {
        if cond.frac_bits() != 0 {
            return Err(Error::InvalidArgument {
                op: "select",
                reason: format!(
                    "the condition must be a 0/1 integer tensor, not scale 2^-{}",
                    cond.frac_bits()
                ),
            });
        }
        b.add(&cond.mul(&a.sub(b)?)?)
    }

    /// Clamps to `[lo, hi]` (either bound optional), exactly on every input the format holds:
    /// `x + [x < lo]·(lo - x) + [x > hi]·(hi - x)`.
    ///
    /// The comparison `[x < c]` is the sign of `x - c`, which wraps around the ring for `x`
    /// within `|c|` of the format's end on the side opposite to `c`'s sign. Those ends are
    /// told apart by the sign of `x` itself, taken in the same batched circuit: for `c < 0`,
    /// `[x < c] = [x < 0]·sign(x - c)`, and for `c > 0`, `[x < 0] ∨ sign(x - c)`; one round of
    /// bit products, and one round for the selection.
    ///
    /// # Errors
    /// `lo > hi`, bounds not representable; link failures.
    ///
    /// # Security
    /// Reveals nothing. 2 parties: 9 rounds (the sign circuit, one AND, one `bit_mul`).
    pub fn clamp(&self, lo: Option<f64>, hi: Option<f64>) -> Result<CrypTensor> {
        if let (Some(l), Some(h)) = (lo, hi)
            && l > h
        {
            return Err(Error::InvalidArgument {
                op: "clamp",
                reason: format!("lower bound {l} above upper bound {h}"),
            });
        }
        let f = self.frac_bits();
        let encode = |b: Option<f64>| b.map(|v| tensor::fixed::encode(v, f)).transpose();
        let (l, h) = (encode(lo)?, encode(hi)?);
        match self {
            CrypTensor::Public(t) => {
                let (l, h) = (
                    l.map_or(i64::MIN, |r| r as i64),
                    h.map_or(i64::MAX, |r| r as i64),
                );
                Ok(CrypTensor::Public(t.map(|v| (v as i64).clamp(l, h) as u64)))
            }
            CrypTensor::Private(sh) => Ok(sh.with(compare::clamp(&sh.session, &sh.share, l, h)?)),
        }
    }

    /// `clamp(-1, 1)`.
    ///
    /// # Errors
    /// Link failures.
    pub fn hardtanh(&self) -> Result<CrypTensor> {
        self.clamp(Some(-1.0), Some(1.0))
    }

    /// `clamp(0, 6)`.
    ///
    /// # Errors
    /// Link failures.
    pub fn relu6(&self) -> Result<CrypTensor> {
        self.clamp(Some(0.0), Some(6.0))
    }

    /// Moves `dim` last and flattens the rest: `[rows, n]`, plus the shape to restore.
    fn rows_along(&self, dim: usize) -> Result<(CrypTensor, Vec<usize>)> {
        let rank = self.shape().len();
        if dim >= rank {
            return Err(tensor::Error::InvalidDim {
                op: "max",
                dim,
                rank,
            }
            .into());
        }
        let mut perm: Vec<usize> = (0..rank).filter(|&d| d != dim).collect();
        perm.push(dim);
        let moved = self.permute(&perm)?;
        let n = self.shape()[dim];
        if n == 0 {
            return Err(Error::InvalidArgument {
                op: "max",
                reason: format!("dimension {dim} is empty"),
            });
        }
        let rest: Vec<usize> = perm[..rank - 1].iter().map(|&d| self.shape()[d]).collect();
        let rows = tensor::shape::numel(&rest);
        Ok((moved.reshape(&[rows, n])?, rest))
    }

    /// Reduction of `[rows, n]` to `[rows]`, tracking the winner as `track` says. Private
    /// rows of at most [`compare::ALL_PAIRS_MAX_LEN`] take one all-pairs comparison circuit
    /// ([`compare::extreme_all_pairs`]); longer ones (and public ones) a tree: at
    /// each level columns are paired (0,1), (2,3), ...; the right one wins only if strictly
    /// larger (or smaller, for a minimum), so ties go to the lowest index. An odd last column
    /// passes through.
    fn reduce_extreme(
        values: CrypTensor,
        minimum: bool,
        track: Track,
    ) -> Result<(CrypTensor, CrypTensor)> {
        let (rows, n) = (values.shape()[0], values.shape()[1]);
        if let CrypTensor::Private(sh) = &values
            && matches!(track, Track::Nothing)
            && sh.session.config().compare == CompareMode::Fss
        {
            // one round per level: max(l, r) = r + relu(l - r), min(l, r) = l - relu(l - r)
            let mut vals = values;
            let mut cols = n;
            while cols > 1 {
                let pairs = cols / 2;
                let l = vals.slice(1, 0, 2 * pairs, 2)?;
                let r = vals.slice(1, 1, 2 * pairs, 2)?;
                let up = l.sub(&r)?.relu()?;
                let mut next = if minimum { l.sub(&up)? } else { r.add(&up)? };
                if cols % 2 == 1 {
                    next = CrypTensor::concat(&[&next, &vals.narrow(1, cols - 1, 1)?], 1)?;
                }
                vals = next;
                cols = pairs + cols % 2;
            }
            let none = CrypTensor::Public(RingTensor::from_i64(&[rows, 0], &[])?);
            return Ok((vals.reshape(&[rows])?, none));
        }
        if let CrypTensor::Private(sh) = &values
            && (2..=compare::ALL_PAIRS_MAX_LEN).contains(&n)
            && sh.session.config().max_reduction == MaxReduction::AllPairs
        {
            // one comparison circuit for the whole row instead of a tree of them
            let one_hot = !matches!(track, Track::Nothing);
            let (best, hot) = compare::extreme_all_pairs(&sh.session, &sh.share, minimum, one_hot)?;
            let tracked = match (track, hot) {
                (Track::OneHot, Some(h)) => sh.with(h),
                (Track::Index, Some(h)) => {
                    let idx: Vec<i64> = (0..n as i64).collect();
                    let weights = CrypTensor::Public(RingTensor::from_i64(&[n, 1], &idx)?);
                    sh.with(h).matmul(&weights)?
                }
                _ => CrypTensor::Public(RingTensor::from_i64(&[rows, 0], &[])?),
            };
            return Ok((sh.with(best), tracked));
        }
        // The winner rides along as a payload of `width` integers per column (its index, its
        // one-hot row, or nothing): each level moves it with the same bit as the value, in the
        // same round.
        let width = match track {
            Track::Nothing => 0,
            Track::Index => 1,
            Track::OneHot => n,
        };
        let payload: Vec<i64> = match track {
            Track::Nothing => Vec::new(),
            Track::Index => (0..rows).flat_map(|_| 0..n as i64).collect(),
            Track::OneHot => (0..rows)
                .flat_map(|_| (0..n * n).map(move |k| i64::from(k / n == k % n)))
                .collect(),
        };
        let mut index = CrypTensor::Public(RingTensor::from_i64(&[rows, n, width], &payload)?);
        let mut vals = values;
        let mut cols = n;
        while cols > 1 {
            let pairs = cols / 2;
            let l = vals.slice(1, 0, 2 * pairs, 2)?;
            let r = vals.slice(1, 1, 2 * pairs, 2)?;
            let ol = index.slice(1, 0, 2 * pairs, 2)?;
            let or = index.slice(1, 1, 2 * pairs, 2)?;
            // take the right column where l < r (max) or r < l (min)
            let d = if minimum { r.sub(&l)? } else { l.sub(&r)? };
            let (take, dv, doh) = (d, r.sub(&l)?, or.sub(&ol)?);
            let (nv, noh) = Self::choose(&take, &dv, &doh, width)?;
            let mut next_v = l.add(&nv)?;
            let mut next_o = ol.add(&noh)?;
            if cols % 2 == 1 {
                next_v = CrypTensor::concat(&[&next_v, &vals.narrow(1, cols - 1, 1)?], 1)?;
                next_o = CrypTensor::concat(&[&next_o, &index.narrow(1, cols - 1, 1)?], 1)?;
            }
            vals = next_v;
            index = next_o;
            cols = pairs + cols % 2;
        }
        Ok((vals.reshape(&[rows])?, index.reshape(&[rows, width])?))
    }

    /// `(b·dv, b·doh)` with `b = [cond < 0]`, one bit per row-pair, applied to a value and to
    /// the `n` one-hot entries of each pair in one circuit and one multiplication round.
    fn choose(
        cond: &CrypTensor,
        dv: &CrypTensor,
        doh: &CrypTensor,
        n: usize,
    ) -> Result<(CrypTensor, CrypTensor)> {
        let session = [cond, dv, doh].iter().find_map(|t| t.session()).cloned();
        let Some(session) = session else {
            let b = cond.ltz()?;
            return Ok((b.mul(dv)?, b.unsqueeze(2)?.mul(doh)?));
        };
        let (c, v, o) = (
            cond.share_for(&session),
            dv.share_for(&session),
            doh.share_for(&session),
        );
        let (pv, po) = compare::choose(&session, &c, &v, &o, n)?;
        Ok((
            CrypTensor::Private(Shared::new(pv, session.clone())),
            CrypTensor::Private(Shared::new(po, session)),
        ))
    }

    /// Values-only reduction over `dim` (no index tracking).
    fn extreme_values(&self, dim: usize, keepdim: bool, minimum: bool) -> Result<CrypTensor> {
        let (rows, mut shape) = self.rows_along(dim)?;
        let (v, _) = Self::reduce_extreme(rows, minimum, Track::Nothing)?;
        if keepdim {
            shape.insert(dim, 1);
        }
        v.reshape(&shape)
    }

    /// Maximum over `dim` without the index (`torch.amax`): the same comparisons as
    /// [`CrypTensor::max_with_indices`] with less traffic (no index rides along).
    ///
    /// # Errors
    /// Invalid or empty dimension; link failures.
    ///
    /// # Security
    /// Reveals nothing. 2 parties: rows of at most 16, one all-pairs circuit
    /// (`8 + ceil(log2(n-1))` rounds, [`compare::extreme_all_pairs`]); longer rows or
    /// [`MaxReduction::Tree`]: 8 rounds per level of a tree.
    pub fn amax(&self, dim: impl Dim, keepdim: bool) -> Result<CrypTensor> {
        let dim = dim.resolve(self.shape().len(), "amax")?;
        self.extreme_values(dim, keepdim, false)
    }

    /// Minimum over `dim` without the index (`torch.amin`).
    ///
    /// # Errors
    /// Invalid or empty dimension; link failures.
    ///
    /// # Security
    /// As [`CrypTensor::amax`].
    pub fn amin(&self, dim: impl Dim, keepdim: bool) -> Result<CrypTensor> {
        let dim = dim.resolve(self.shape().len(), "amin")?;
        self.extreme_values(dim, keepdim, true)
    }

    fn extreme(
        &self,
        dim: usize,
        keepdim: bool,
        minimum: bool,
    ) -> Result<(CrypTensor, CrypTensor)> {
        let (rows, rest) = self.rows_along(dim)?;
        let (v, oh) = Self::reduce_extreme(rows, minimum, Track::Index)?;
        let idx = oh;
        let mut shape = rest;
        if keepdim {
            shape.insert(dim, 1);
        }
        Ok((v.reshape(&shape)?, idx.reshape(&shape)?))
    }

    /// Maximum over `dim`, and the index of the first maximal element (ties go to the lowest
    /// index), as `torch.max(x, dim)`.
    ///
    /// # Errors
    /// Invalid or empty dimension; link failures.
    ///
    /// # Security
    /// Reveals nothing. 2 parties: rows of at most 16, one all-pairs circuit
    /// (`8 + ceil(log2(n-1))` rounds, [`compare::extreme_all_pairs`]); longer rows or
    /// [`MaxReduction::Tree`]: 8 rounds per level of a tree.
    pub fn max_with_indices(
        &self,
        dim: impl Dim,
        keepdim: bool,
    ) -> Result<(CrypTensor, CrypTensor)> {
        let dim = dim.resolve(self.shape().len(), "max_with_indices")?;
        self.extreme(dim, keepdim, false)
    }

    /// Minimum over `dim` and the index of the first minimal element.
    ///
    /// # Errors
    /// Invalid or empty dimension; link failures.
    ///
    /// # Security
    /// As [`CrypTensor::max_with_indices`].
    pub fn min_with_indices(
        &self,
        dim: impl Dim,
        keepdim: bool,
    ) -> Result<(CrypTensor, CrypTensor)> {
        let dim = dim.resolve(self.shape().len(), "min_with_indices")?;
        self.extreme(dim, keepdim, true)
    }

    /// Maximum over `dim` and a one-hot 0/1 integer mask of the input's shape marking the
    /// first maximal element of each row (ties go to the lowest index): what max pooling's
    /// backward pass needs to route a gradient without learning where the maximum was.
    ///
    /// # Errors
    /// Invalid or empty dimension; link failures.
    ///
    /// # Security
    /// Reveals nothing. The rounds of [`CrypTensor::max_with_indices`]. The one-hot costs
    /// bytes: with the all-pairs circuit, `n` more values in its one `bit_mul` per row; with
    /// the tree, each level's selection carries `n` integers per pair instead of one (about
    /// `8·n` bytes per element and level).
    pub fn max_with_one_hot(
        &self,
        dim: impl Dim,
        keepdim: bool,
    ) -> Result<(CrypTensor, CrypTensor)> {
        let dim = dim.resolve(self.shape().len(), "max_with_one_hot")?;
        let (rows, mut rest) = self.rows_along(dim)?;
        let n = self.shape()[dim];
        let (v, one_hot) = Self::reduce_extreme(rows, false, Track::OneHot)?;
        let rank = self.shape().len();
        let mut moved = rest.clone();
        moved.push(n);
        // rows_along moved `dim` last; move it back
        let mut back: Vec<usize> = (0..rank - 1).collect();
        back.insert(dim, rank - 1);
        let mask = one_hot.reshape(&moved)?.permute(&back)?;
        if keepdim {
            rest.insert(dim, 1);
        }
        Ok((v.reshape(&rest)?, mask))
    }

    /// Index of the first maximum over `dim` (integers).
    ///
    /// # Errors
    /// As [`CrypTensor::max_with_indices`].
    pub fn argmax(&self, dim: impl Dim, keepdim: bool) -> Result<CrypTensor> {
        let dim = dim.resolve(self.shape().len(), "argmax")?;
        Ok(self.max_with_indices(dim, keepdim)?.1)
    }

    /// Index of the first minimum over `dim` (integers).
    ///
    /// # Errors
    /// As [`CrypTensor::max_with_indices`].
    pub fn argmin(&self, dim: impl Dim, keepdim: bool) -> Result<CrypTensor> {
        let dim = dim.resolve(self.shape().len(), "argmin")?;
        Ok(self.min_with_indices(dim, keepdim)?.1)
    }

    /// Gathers pooling windows of `[N, C, H, W]` into `[N, C, Ho, Wo, k]` (`k` = the largest
    /// window), filling padding and short windows with `fill` on party 0 (0 elsewhere).
    fn windows(
        &self,
        ho: usize,
        wo: usize,
        window: impl Fn(usize, usize) -> Vec<Option<(usize, usize)>>,
        k: usize,
        zero_fill: bool,
    ) -> Result<CrypTensor> {
        let s = self.shape().to_vec();
        if s.len() != 4 {
            return Err(Error::InvalidArgument {
                op: "pool",
                reason: format!("needs [N, C, H, W], got {s:?}"),
            });
        }
        // Missing taps (padding, short adaptive windows) are zeros for sums, and for maxima a
        // copy of the window's first real tap: a duplicate never changes a maximum, and no
        // sentinel value can collide with a legal input or overflow a difference.
        let mut taps_of = Vec::with_capacity(ho * wo);
        for i in 0..ho {
            for j in 0..wo {
                let taps = window(i, j);
                let first_real = taps.iter().flatten().next().copied();
                if first_real.is_none() && !zero_fill {
                    return Err(Error::InvalidArgument {
                        op: "pool",
                        reason: format!("window ({i}, {j}) lies entirely in the padding"),
                    });
                }
                let taps: Vec<Option<(usize, usize)>> = (0..k)
                    .map(|slot| {
                        taps.get(slot).copied().flatten().or(if zero_fill {
                            None
                        } else {
                            first_real
                        })
                    })
                    .collect();
                taps_of.push(taps);
            }
        }
        let gather = |t: &RingTensor| t.gather_taps(&taps_of, (ho, wo), k);
        Ok(match self {
            CrypTensor::Public(t) => CrypTensor::Public(gather(t)?),
            CrypTensor::Private(sh) => sh.with(sh.share.map(gather)?),
        })
    }

    /// 2-D max pooling of `[N, C, H, W]` (padding never wins), as `torch.nn.functional.max_pool2d`.
    ///
    /// # Errors
    /// Wrong rank or a window that does not fit; link failures.
    ///
    /// # Security
    /// Reveals nothing. The cost of [`CrypTensor::amax`] over `kh·kw` taps (2 parties, 2x2
    /// windows: 10 rounds).
    pub fn max_pool2d(&self, p: &Pool2dParams) -> Result<CrypTensor> {
        let s = self.shape().to_vec();
        if s.len() != 4 {
            return Err(Error::InvalidArgument {
                op: "max_pool2d",
                reason: format!("needs [N, C, H, W], got {s:?}"),
            });
        }
        if 2 * p.padding.0 > p.kernel.0 || 2 * p.padding.1 > p.kernel.1 {
            // PyTorch's rule; it also guarantees every window a real tap.
            return Err(Error::InvalidArgument {
                op: "max_pool2d",
                reason: format!(
                    "padding {:?} must be at most half the kernel {:?}",
                    p.padding, p.kernel
                ),
            });
        }
        let ho = tensor::shape::conv_out_len(
            "max_pool2d",
            s[2],
            p.kernel.0,
            p.stride.0,
            p.padding.0,
            1,
        )?;
        let wo = tensor::shape::conv_out_len(
            "max_pool2d",
            s[3],
            p.kernel.1,
            p.stride.1,
            p.padding.1,
            1,
        )?;
        let (h, w) = (s[2] as isize, s[3] as isize);
        let window = |i: usize, j: usize| {
            let mut taps = Vec::with_capacity(p.kernel.0 * p.kernel.1);
            for ki in 0..p.kernel.0 {
                for kj in 0..p.kernel.1 {
                    let y = (i * p.stride.0 + ki) as isize - p.padding.0 as isize;
                    let x = (j * p.stride.1 + kj) as isize - p.padding.1 as isize;
                    taps.push(
                        (y >= 0 && y < h && x >= 0 && x < w).then_some((y as usize, x as usize)),
                    );
                }
            }
            taps
        };
        let k = p.kernel.0 * p.kernel.1;
        let win = self.windows(ho, wo, window, k, false)?;
        win.amax(4, false)
    }

    /// PyTorch's adaptive window for output index `i` of `out` over an input of length `len`.
    fn adaptive_range(i: usize, len: usize, out: usize) -> (usize, usize) {
        ((i * len) / out, ((i + 1) * len).div_ceil(out))
    }

    fn adaptive_windows(
        &self,
        out: (usize, usize),
        zero_fill: bool,
    ) -> Result<(CrypTensor, Vec<usize>)> {
        let s = self.shape().to_vec();
        if s.len() != 4 || out.0 == 0 || out.1 == 0 {
            return Err(Error::InvalidArgument {
                op: "adaptive pool",
                reason: format!(
                    "needs [N, C, H, W] and a positive output size, got {s:?} and {out:?}"
                ),
            });
        }
        let (h, w) = (s[2], s[3]);
        let kh = (0..out.0)
            .map(|i| {
                let (a, b) = Self::adaptive_range(i, h, out.0);
                b - a
            })
            .max()
            .unwrap_or(1);
        let kw = (0..out.1)
            .map(|j| {
                let (a, b) = Self::adaptive_range(j, w, out.1);
                b - a
            })
            .max()
            .unwrap_or(1);
        let window = |i: usize, j: usize| {
            let (y0, y1) = Self::adaptive_range(i, h, out.0);
            let (x0, x1) = Self::adaptive_range(j, w, out.1);
            let mut taps = vec![None; kh * kw];
            for (a, y) in (y0..y1).enumerate() {
                for (b, x) in (x0..x1).enumerate() {
                    taps[a * kw + b] = Some((y, x));
                }
            }
            taps
        };
        let counts = (0..out.0)
            .flat_map(|i| (0..out.1).map(move |j| (i, j)))
            .map(|(i, j)| {
                let (y0, y1) = Self::adaptive_range(i, h, out.0);
                let (x0, x1) = Self::adaptive_range(j, w, out.1);
                (y1 - y0) * (x1 - x0)
            })
            .collect();
        Ok((
            self.windows(out.0, out.1, window, kh * kw, zero_fill)?,
            counts,
        ))
    }

    /// Adaptive max pooling to `out = (oh, ow)`, as `torch.nn.functional.adaptive_max_pool2d`.
    ///
    /// # Errors
    /// Wrong rank or a zero output size; link failures.
    ///
    /// # Security
    /// As [`CrypTensor::max_pool2d`].
    pub fn adaptive_max_pool2d(&self, out: (usize, usize)) -> Result<CrypTensor> {
        let (win, _) = self.adaptive_windows(out, false)?;
        win.amax(4, false)
    }

    /// Adaptive average pooling to `out = (oh, ow)`: window sums (local), then one private
    /// division per distinct window size.
    ///
    /// # Errors
    /// Wrong rank or a zero output size; link failures.
    ///
    /// # Security
    /// Reveals nothing; the divisions cost one round each with 3+ parties or a divisor that
    /// is not a power of two.
    pub fn adaptive_avg_pool2d(&self, out: (usize, usize)) -> Result<CrypTensor> {
        let (win, counts) = self.adaptive_windows(out, true)?;
        let sums = win.sum(&[4], false)?;
        let (n, c) = (self.shape()[0], self.shape()[1]);
        let plane = out.0 * out.1;
        let flat = sums.reshape(&[n * c, plane])?;
        let mut distinct: Vec<usize> = counts.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let mut parts = Vec::new();
        let mut order = Vec::new();
        for &d in &distinct {
            let cols: Vec<usize> = (0..plane).filter(|&q| counts[q] == d).collect();
            parts.push(flat.index_select(1, &cols)?.div_int(d as u64)?);
            order.extend(cols);
        }
        let refs: Vec<&CrypTensor> = parts.iter().collect();
        let joined = CrypTensor::concat(&refs, 1)?;
        let mut inverse = vec![0; plane];
        for (pos, &q) in order.iter().enumerate() {
            inverse[q] = pos;
        }
        joined
            .index_select(1, &inverse)?
            .reshape(&[n, c, out.0, out.1])
    }
}

/// What a maximum tree carries along with the winning value.
#[derive(Clone, Copy)]
enum Track {
    Nothing,
    Index,
    OneHot,
}

/// `1 - t` for a 0/1 integer tensor.
fn one_minus(t: &CrypTensor) -> Result<CrypTensor> {
    CrypTensor::Public(RingTensor::scalar_raw(1, 0)).sub(t)
}
