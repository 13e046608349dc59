//! [`TensorOps`]: the op contract that autograd and nn are written against.
//!
//! [`RingTensor`] (plaintext fixed point) and [`crate::FloatTensor`] (plaintext `f64`)
//! implement it, `mpc::CrypTensor` (secret-shared) implements it, and `autograd::Var<T>`
//! implements it as a decorator. Code written against this trait therefore runs on plaintext,
//! privately, and with gradients, unchanged. Every op returns `Result`: private ops can fail
//! on the network.
//!
//! The contract is small and keyed by op kind ([`crate::op`]): one method per kind of
//! elementwise function ([`TensorOps::unary`], [`TensorOps::binary`]), reduction
//! ([`TensorOps::reduce`]) and lane function ([`TensorOps::lane`]), plus the structural ops
//! (shapes, windows, matmul, convolution) and constants. It holds no backward helper: the
//! derivatives live in autograd's one derivative table. [`TensorExt`] adds the familiar
//! names (`x.exp()`, `x.relu()`, `x.sum(..)`) for every implementation at once; it is
//! blanket-implemented, so no backend can make `x.exp()` and `x.unary(UnaryOp::Exp)` differ.
//!
//! Linear and shape ops are exact; the nonlinear functions are exact (through `f64`, one
//! formula table in [`UnaryOp::eval`]) on plaintext, which makes `RingTensor` the oracle that
//! private results and gradients are checked against, and approximations on secret shares
//! (`mpc::approx`, with documented domains and errors).

use crate::error::Error;
use crate::fixed::DEFAULT_FRAC_BITS;
pub use crate::op::TensorExt;
use crate::op::{BinaryOp, LaneOp, ReduceOp, UnaryOp};
use crate::ring::{Conv2dParams, Pool2dParams, RingTensor};
use crate::window::WindowFill;

/// Fixed-point tensor operations with PyTorch semantics (broadcasting, `matmul` shape rules).
pub trait TensorOps: Clone + Sized {
    /// The error every op may return.
    type Error: std::error::Error + From<Error> + Send + Sync + 'static;

    /// The shape.
    fn dims(&self) -> Vec<usize>;

    // ------------------------------------------------------------ op kinds

    /// An elementwise function (see [`UnaryOp`] for each function's domain).
    ///
    /// # Errors
    /// Inputs outside the domain (plaintext); for private tensors, network failures.
    fn unary(&self, op: UnaryOp) -> Result<Self, Self::Error>;
    /// Several elementwise functions of this tensor, evaluated together, in the order of
    /// `ops`: a backend may share work between them (a private backend computes ReLU and its
    /// step from one sign circuit, GELU and its derivative from one erf). The default
    /// evaluates each alone.
    ///
    /// # Errors
    /// As [`TensorOps::unary`].
    fn unary_fused(&self, ops: &[UnaryOp]) -> Result<Vec<Self>, Self::Error> {
        ops.iter().map(|&op| self.unary(op)).collect()
    }
    /// An elementwise function of two tensors, with broadcasting.
    ///
    /// # Errors
    /// Shapes that do not broadcast; a zero divisor (plaintext); network failures.
    fn binary(&self, op: BinaryOp, rhs: &Self) -> Result<Self, Self::Error>;
    /// A reduction over `dims` (all if empty; exactly one for [`ReduceOp::Max`]).
    ///
    /// # Errors
    /// Invalid or empty dimensions; network failures.
    fn reduce(&self, op: ReduceOp, dims: &[usize], keepdim: bool) -> Result<Self, Self::Error>;
    /// The maximum over `dim` (ties to the first) and where it was, as a 0/1 integer one-hot
    /// tensor of the input's shape (`torch.max(x, dim)` with the index one-hot encoded, which
    /// a private backend can compute without learning the position). The one-hot tensor
    /// carries no gradient.
    ///
    /// # Errors
    /// `dim` out of range or empty; network failures.
    fn max_with_one_hot(&self, dim: usize, keepdim: bool) -> Result<(Self, Self), Self::Error>;
    /// A function of each lane along `dim` (softmax, log-softmax).
    ///
    /// # Errors
    /// `dim` out of range; network failures.
    fn lane(&self, op: LaneOp, dim: usize) -> Result<Self, Self::Error>;

    // ------------------------------------------------------------ linear ops

    /// Negation.
    ///
    /// # Errors
    /// Only network failures.
    fn neg(&self) -> Result<Self, Self::Error>;
    /// Product with a public real.
    ///
    /// # Errors
    /// A scalar that cannot be encoded; network failures.
    fn mul_scalar(&self, v: f64) -> Result<Self, Self::Error>;
    /// Adds the public real `v` to every element.
    ///
    /// # Errors
    /// `v` cannot be encoded at this tensor's scale.
    fn add_scalar(&self, v: f64) -> Result<Self, Self::Error>;
    /// Fixed-point matrix product.
    ///
    /// # Errors
    /// Shapes that do not fit; network failures.
    fn matmul(&self, rhs: &Self) -> Result<Self, Self::Error>;
    /// Fixed-point 2-D convolution (cross-correlation, as PyTorch) of `[N, C, H, W]` by
    /// `[O, C/groups, kh, kw]`.
    ///
    /// # Errors
    /// Shapes that do not fit; network failures.
    fn conv2d(&self, weight: &Self, p: &Conv2dParams) -> Result<Self, Self::Error>;

    // ------------------------------------------------------------ shapes and windows

    /// Same elements, new shape.
    ///
    /// # Errors
    /// Element counts differ.
    fn reshape(&self, shape: &[usize]) -> Result<Self, Self::Error>;
    /// Reorders dimensions (`perm[i]` is the input dimension that becomes dimension `i`).
    ///
    /// # Errors
    /// Not a permutation of the dimensions.
    fn permute(&self, perm: &[usize]) -> Result<Self, Self::Error>;
    /// Sums broadcast dimensions away so that the result has `shape` (the adjoint of
    /// broadcasting).
    ///
    /// # Errors
    /// `shape` does not broadcast to this tensor's shape.
    fn sum_to(&self, shape: &[usize]) -> Result<Self, Self::Error>;
    /// Materialises broadcasting to `shape`.
    ///
    /// # Errors
    /// This shape does not broadcast to `shape`.
    fn broadcast_to(&self, shape: &[usize]) -> Result<Self, Self::Error>;
    /// `len` elements from `start` along `dim`.
    ///
    /// # Errors
    /// Out of range.
    fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Self, Self::Error>;
    /// Zero padding: `pads[i] = (before, after)` for every dimension `i`.
    ///
    /// # Errors
    /// Not one pair per dimension.
    fn pad(&self, pads: &[(usize, usize)]) -> Result<Self, Self::Error>;
    /// Reverses the listed dimensions.
    ///
    /// # Errors
    /// A dimension out of range or listed twice.
    fn flip(&self, dims: &[usize]) -> Result<Self, Self::Error>;
    /// Picks `indices` (public) along `dim`; indices may repeat.
    ///
    /// # Errors
    /// An index or the dimension out of range.
    fn index_select(&self, dim: usize, indices: &[usize]) -> Result<Self, Self::Error>;
    /// Joins tensors along `dim` (all other dimensions equal).
    ///
    /// # Errors
    /// No tensors, or shapes or scales that do not fit.
    fn concat(parts: &[&Self], dim: usize) -> Result<Self, Self::Error>;
    /// The pooling windows of `[N, C, H, W]` as `[N, C, Ho, Wo, kh·kw]` (see
    /// [`RingTensor::unfold2d`]); local on shares.
    ///
    /// # Errors
    /// Wrong rank or a window that does not fit.
    fn unfold2d(&self, p: &Pool2dParams, fill: WindowFill) -> Result<Self, Self::Error>;
    /// The adjoint of [`TensorOps::unfold2d`] back to an `(h, w)` input (see
    /// [`RingTensor::fold2d`]); local on shares.
    ///
    /// # Errors
    /// A shape that is not such an unfold.
    fn fold2d(
        &self,
        p: &Pool2dParams,
        hw: (usize, usize),
        fill: WindowFill,
    ) -> Result<Self, Self::Error>;
    /// Average pooling of `[N, C, H, W]`, padding counted as zeros (PyTorch's default).
    ///
    /// # Errors
    /// Wrong rank or a window that does not fit; network failures.
    fn avg_pool2d(&self, p: &Pool2dParams) -> Result<Self, Self::Error>;

    // ------------------------------------------------------------ constants

    /// A public tensor of ones with this tensor's shape and scale.
    ///
    /// # Errors
    /// Never for the built-in types; fallible for uniformity.
    fn ones_like(&self) -> Result<Self, Self::Error>;
    /// A public tensor of reals, encoded at this tensor's scale (at the default scale when
    /// this is an integer tensor), like `torch.Tensor.new_tensor`. It carries no gradient.
    ///
    /// # Errors
    /// Wrong element count or values that cannot be encoded.
    fn new_tensor(&self, shape: &[usize], values: &[f64]) -> Result<Self, Self::Error>;
    /// A public integer tensor (scale 1): masks and one-hot encodings, whose products need no
    /// truncation. It carries no gradient.
    ///
    /// # Errors
    /// Wrong element count.
    fn new_int_tensor(&self, shape: &[usize], values: &[i64]) -> Result<Self, Self::Error>;
    /// A 0/1 integer tensor with this tensor's shape, each entry 1 with probability `keep`,
    /// independently (dropout's mask). It carries no gradient.
    ///
    /// Plaintext tensors draw it from a PRNG seeded with `seed` (reproducible); private
    /// tensors ignore `seed` and draw it from randomness that every party contributes, so no
    /// coalition of fewer than all parties knows the mask.
    ///
    /// # Errors
    /// `keep` outside `[0, 1]`; for private tensors, network failures.
    fn bernoulli_mask(&self, keep: f64, seed: u64) -> Result<Self, Self::Error>;
    /// The same value with nothing recorded for differentiation (`torch.Tensor.detach`);
    /// the value itself for tensors that record nothing.
    fn detach(&self) -> Self {
        self.clone()
    }
}

impl TensorOps for RingTensor {
    type Error = Error;

    fn dims(&self) -> Vec<usize> {
        self.shape().to_vec()
    }
    fn unary(&self, op: UnaryOp) -> Result<Self, Error> {
        match op {
            // exact on the ring
            UnaryOp::Relu => Ok(self.map(|v| if (v as i64) < 0 { 0 } else { v })),
            UnaryOp::Step => Ok(self.map(|v| u64::from((v as i64) >= 0)).with_frac_bits(0)),
            _ => map_real(self, op.name(), |x| op.eval(x)),
        }
    }
    fn binary(&self, op: BinaryOp, rhs: &Self) -> Result<Self, Error> {
        match op {
            BinaryOp::Add => RingTensor::add(self, rhs),
            BinaryOp::Sub => RingTensor::sub(self, rhs),
            BinaryOp::Mul => RingTensor::mul(self, rhs),
            BinaryOp::Div => {
                let f = real_scale(self).max(real_scale(rhs));
                let shape = crate::shape::broadcast_shapes("div", self.shape(), rhs.shape())?;
                let (a, b) = (self.broadcast_to(&shape)?, rhs.broadcast_to(&shape)?);
                let q: Vec<f64> = a
                    .to_f64()
                    .iter()
                    .zip(b.to_f64())
                    .map(|(x, y)| op.eval(*x, y))
                    .collect();
                encode_checked("div", &shape, &q, f)
            }
        }
    }
    fn reduce(&self, op: ReduceOp, dims: &[usize], keepdim: bool) -> Result<Self, Error> {
        match op {
            ReduceOp::Sum => RingTensor::sum(self, dims, keepdim),
            ReduceOp::Mean => RingTensor::mean(self, dims, keepdim),
            ReduceOp::Max => Ok(self.max_with_one_hot(one_dim(op, dims)?, keepdim)?.0),
        }
    }
    fn max_with_one_hot(&self, dim: usize, keepdim: bool) -> Result<(Self, Self), Error> {
        let Rows {
            data: rows,
            len: n,
            back,
            mut rest,
        } = rows_along(self, "max", dim)?;
        if n == 0 {
            return Err(crate::error::invalid(
                "max",
                format!("dimension {dim} is empty"),
            ));
        }
        let mut vals = Vec::with_capacity(rows.len() / n);
        let mut mask = vec![0u64; rows.len()];
        for (r, row) in rows.chunks(n).enumerate() {
            let mut best = 0;
            for (j, &v) in row.iter().enumerate() {
                if (v as i64) > (row[best] as i64) {
                    best = j;
                }
            }
            vals.push(row[best]);
            mask[r * n + best] = 1;
        }
        let mut moved = rest.clone();
        moved.push(n);
        let mask = RingTensor::from_raw(&moved, mask, 0)?.permute(&back)?;
        if keepdim {
            rest.insert(dim, 1);
        }
        Ok((RingTensor::from_raw(&rest, vals, self.frac_bits())?, mask))
    }
    fn lane(&self, op: LaneOp, dim: usize) -> Result<Self, Error> {
        map_rows(self, op.name(), dim, |row| op.eval(row))
    }
    fn neg(&self) -> Result<Self, Error> {
        Ok(RingTensor::neg(self))
    }
    fn mul_scalar(&self, v: f64) -> Result<Self, Error> {
        self.mul_f64(v)
    }
    fn add_scalar(&self, v: f64) -> Result<Self, Error> {
        if self.frac_bits() == 0 {
            // an integer tensor plus a real is a real tensor at the default scale
            let f = DEFAULT_FRAC_BITS;
            return self.mul_scalar_raw(1 << f).with_frac_bits(f).add_f64(v);
        }
        self.add_f64(v)
    }
    fn matmul(&self, rhs: &Self) -> Result<Self, Error> {
        RingTensor::matmul(self, rhs)
    }
    fn conv2d(&self, weight: &Self, p: &Conv2dParams) -> Result<Self, Error> {
        RingTensor::conv2d(self, weight, p)
    }
    fn reshape(&self, shape: &[usize]) -> Result<Self, Error> {
        RingTensor::reshape(self, shape)
    }
    fn permute(&self, perm: &[usize]) -> Result<Self, Error> {
        RingTensor::permute(self, perm)
    }
    fn sum_to(&self, shape: &[usize]) -> Result<Self, Error> {
        RingTensor::sum_to(self, shape)
    }
    fn broadcast_to(&self, shape: &[usize]) -> Result<Self, Error> {
        RingTensor::broadcast_to(self, shape)
    }
    fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Self, Error> {
        RingTensor::narrow(self, dim, start, len)
    }
    fn pad(&self, pads: &[(usize, usize)]) -> Result<Self, Error> {
        RingTensor::pad(self, pads, 0)
    }
    fn flip(&self, dims: &[usize]) -> Result<Self, Error> {
        RingTensor::flip(self, dims)
    }
    fn index_select(&self, dim: usize, indices: &[usize]) -> Result<Self, Error> {
        RingTensor::index_select(self, dim, indices)
    }
    fn concat(parts: &[&Self], dim: usize) -> Result<Self, Error> {
        if parts.is_empty() {
            return Err(crate::error::invalid("concat", "no tensors to join"));
        }
        RingTensor::concat(parts, dim)
    }
    fn unfold2d(&self, p: &Pool2dParams, fill: WindowFill) -> Result<Self, Error> {
        RingTensor::unfold2d(self, p, fill)
    }
    fn fold2d(
        &self,
        p: &Pool2dParams,
        hw: (usize, usize),
        fill: WindowFill,
    ) -> Result<Self, Error> {
        RingTensor::fold2d(self, p, hw, fill)
    }
    fn avg_pool2d(&self, p: &Pool2dParams) -> Result<Self, Error> {
        RingTensor::avg_pool2d(self, p)
    }
    fn ones_like(&self) -> Result<Self, Error> {
        Ok(RingTensor::full_raw(
            self.shape(),
            crate::fixed::encode(1.0, self.frac_bits())?,
            self.frac_bits(),
        ))
    }
    fn new_tensor(&self, shape: &[usize], values: &[f64]) -> Result<Self, Error> {
        RingTensor::from_f64(shape, values, real_scale(self))
    }
    fn new_int_tensor(&self, shape: &[usize], values: &[i64]) -> Result<Self, Error> {
        RingTensor::from_i64(shape, values)
    }
    fn bernoulli_mask(&self, keep: f64, seed: u64) -> Result<Self, Error> {
        let bits = bernoulli_bits(self.numel(), keep, seed)?
            .into_iter()
            .map(u64::from)
            .collect();
        RingTensor::from_raw(self.shape(), bits, 0)
    }
}

/// The one dimension a [`ReduceOp::Max`] reduces.
///
/// # Errors
/// Not exactly one dimension listed.
pub fn one_dim(op: ReduceOp, dims: &[usize]) -> Result<usize, Error> {
    match dims {
        [d] => Ok(*d),
        _ => Err(crate::error::invalid(
            op.name(),
            format!("reduces exactly one dimension, got {dims:?}"),
        )),
    }
}

/// The scale reals are encoded at: the tensor's own, or the default for an integer tensor.
fn real_scale(t: &RingTensor) -> u32 {
    if t.frac_bits() == 0 {
        DEFAULT_FRAC_BITS
    } else {
        t.frac_bits()
    }
}

/// `n` independent draws, each `true` with probability `keep`, from a PRNG seeded with
/// `seed`: the plaintext dropout masks (the same for every plaintext tensor type).
pub(crate) fn bernoulli_bits(n: usize, keep: f64, seed: u64) -> Result<Vec<bool>, Error> {
    if !(0.0..=1.0).contains(&keep) {
        return Err(crate::error::invalid(
            "bernoulli_mask",
            format!("keep probability {keep} is not in [0, 1]"),
        ));
    }
    let mut state = seed;
    Ok((0..n)
        .map(|_| {
            // splitmix64, top 53 bits as a uniform real in [0, 1)
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            ((z >> 11) as f64 / (1u64 << 53) as f64) < keep
        })
        .collect())
}

/// Encodes `values`, naming the op and the offending value when one is not finite.
fn encode_checked(
    op: &'static str,
    shape: &[usize],
    values: &[f64],
    f: u32,
) -> Result<RingTensor, Error> {
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(crate::error::invalid(
            op,
            format!("an input is outside the domain (result {bad})"),
        ));
    }
    RingTensor::from_f64(shape, values, f)
}

/// `f` applied in `f64` to every element (integer inputs are promoted to the default scale).
fn map_real(t: &RingTensor, op: &'static str, f: impl Fn(f64) -> f64) -> Result<RingTensor, Error> {
    let v: Vec<f64> = t.to_f64().into_iter().map(f).collect();
    encode_checked(op, t.shape(), &v, real_scale(t))
}

/// A tensor with one dimension moved last, as rows.
struct Rows {
    /// Raw elements, row after row.
    data: Vec<u64>,
    /// Length of a row (the moved dimension).
    len: usize,
    /// The permutation that moves the dimension back.
    back: Vec<usize>,
    /// The shape of the other dimensions.
    rest: Vec<usize>,
}

/// Moves `dim` last (see [`Rows`]).
fn rows_along(t: &RingTensor, op: &'static str, dim: usize) -> Result<Rows, Error> {
    let rank = t.rank();
    if dim >= rank {
        return Err(Error::InvalidDim { op, dim, rank });
    }
    let mut perm: Vec<usize> = (0..rank).filter(|&d| d != dim).collect();
    perm.push(dim);
    let mut back = vec![0; rank];
    for (i, &p) in perm.iter().enumerate() {
        back[p] = i;
    }
    let rest = perm[..rank - 1].iter().map(|&d| t.shape()[d]).collect();
    Ok(Rows {
        data: t.permute(&perm)?.into_raw(),
        len: t.shape()[dim],
        back,
        rest,
    })
}

/// `f` applied in `f64` to every row along `dim`.
fn map_rows(
    t: &RingTensor,
    op: &'static str,
    dim: usize,
    f: impl Fn(&[f64]) -> Vec<f64>,
) -> Result<RingTensor, Error> {
    let Rows {
        data: rows,
        len: n,
        back,
        rest: mut moved,
    } = rows_along(t, op, dim)?;
    let s = crate::fixed::scale(t.frac_bits());
    let reals: Vec<f64> = rows.iter().map(|&v| (v as i64) as f64 / s).collect();
    let out: Vec<f64> = reals.chunks(n.max(1)).flat_map(&f).collect();
    moved.push(n);
    encode_checked(op, &moved, &out, real_scale(t))?.permute(&back)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], v: &[f64]) -> RingTensor {
        RingTensor::from_f64(shape, v, 16).unwrap()
    }

    #[test]
    fn row_functions_work_along_any_dimension() {
        let x = t(&[2, 3], &[1.0, 2.0, 3.0, 0.0, 0.0, 0.0]);
        let s = TensorExt::softmax(&x, 0).unwrap().to_f64();
        // column 0: softmax(1, 0)
        let e = 1f64.exp();
        assert!((s[0] - e / (e + 1.0)).abs() < 1e-4 && (s[3] - 1.0 / (e + 1.0)).abs() < 1e-4);
        let ls = TensorExt::log_softmax(&x, 1).unwrap().to_f64();
        assert!((ls[3] + 3f64.ln()).abs() < 1e-4);
        let (m, mask) = x.max_with_one_hot(0, true).unwrap();
        assert_eq!(m.shape(), &[1, 3]);
        assert_eq!(m.to_f64(), vec![1.0, 2.0, 3.0]);
        assert_eq!(mask.to_i64(), vec![1, 1, 1, 0, 0, 0]);
        let (m, mask) = t(&[1, 4], &[2.0, 5.0, 5.0, 1.0])
            .max_with_one_hot(1, false)
            .unwrap();
        assert_eq!((m.shape(), m.to_f64()), (&[1][..], vec![5.0]));
        assert_eq!(
            mask.to_i64(),
            vec![0, 1, 0, 0],
            "ties go to the first maximum"
        );
        assert!(x.max_with_one_hot(2, false).is_err());
        assert!(x.reduce(ReduceOp::Max, &[0, 1], false).is_err());
    }

    #[test]
    fn domain_errors_name_the_function() {
        let x = t(&[2], &[1.0, -1.0]);
        let err = TensorExt::log(&x).unwrap_err().to_string();
        assert!(err.starts_with("log:"), "{err}");
        assert!(TensorExt::sqrt(&x).is_err() && TensorExt::inv_sqrt(&x).is_err());
        assert!(TensorExt::div(&x, &t(&[1], &[0.0])).is_err());
        assert_eq!(
            TensorExt::div(&x, &t(&[1], &[-4.0])).unwrap().to_f64(),
            vec![-0.25, 0.25]
        );
    }

    #[test]
    fn the_step_is_an_integer_tensor_and_relu_is_exact() {
        let x = t(&[3], &[-1.5, 0.0, 2.25]);
        let step = x.unary(UnaryOp::Step).unwrap();
        assert_eq!((step.frac_bits(), step.to_i64()), (0, vec![0, 1, 1]));
        assert_eq!(TensorExt::relu(&x).unwrap().to_f64(), vec![0.0, 0.0, 2.25]);
        let fused = x.unary_fused(&[UnaryOp::Relu, UnaryOp::Step]).unwrap();
        assert_eq!(fused, vec![TensorExt::relu(&x).unwrap(), step]);
    }

    #[test]
    fn bernoulli_masks_are_reproducible_and_have_the_right_rate() {
        let x = RingTensor::zeros(&[10_000], 16);
        let a = x.bernoulli_mask(0.3, 7).unwrap();
        assert_eq!(a, x.bernoulli_mask(0.3, 7).unwrap());
        assert_ne!(a, x.bernoulli_mask(0.3, 8).unwrap());
        let ones = a.to_i64().iter().sum::<i64>() as f64 / 1e4;
        assert!((ones - 0.3).abs() < 0.02, "{ones}");
        assert!(x.bernoulli_mask(1.5, 0).is_err());
    }
}
