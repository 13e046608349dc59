//! [`FloatTensor`]: a dense `f64` tensor implementing [`TensorOps`] with exact floating-point
//! semantics, the plaintext reference that fixed-point and private runs are measured against.
//!
//! It exists so that the same `nn` code (written against [`TensorOps`]) can train a model in
//! ordinary `f64`: `Linear<Var<FloatTensor>>` is the textbook computation, with no 2^-16 grid,
//! no truncation after products and no bounded range. Shape rules, argument meanings and the
//! errors on bad shapes are those of [`RingTensor`]; only the arithmetic differs:
//! - products (`mul`, `matmul`, `conv2d`) and means are exact `f64` operations (no floor);
//! - there is no scale: `new_int_tensor`, masks (the `Step` op, `max_with_one_hot`,
//!   `bernoulli_mask`) and one-hot encodings are `f64` tensors holding small integers, and
//!   integer and real tensors mix freely;
//! - nonlinear functions are the same `f64` formulas as [`RingTensor`]'s oracle, without the
//!   final encoding; a result that is not finite (`log(0)`, `1/0`, `exp(1000)`) is an error
//!   naming the op, as it is for [`RingTensor`].
//!
//! Invariant: the array is in standard (row-major, contiguous) layout, as for [`RingTensor`].

use std::fmt;

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayD, ArrayView1, ArrayView2, ArrayViewMut2, Axis, IxDyn, Zip};

use crate::error::{Error, Result, invalid};
use crate::layout;
use crate::op::{BinaryOp, LaneOp, ReduceOp, UnaryOp};
use crate::ops::{TensorOps, bernoulli_bits, one_dim};
use crate::ring::{Conv2dParams, Pool2dParams, RingTensor, im2col};
use crate::shape::{broadcast_shapes, conv_out_len, matmul_shape, numel};
use crate::window::{WindowFill, fold_slice, unfold_slice};

/// A dense row-major tensor of `f64`.
///
/// # Examples
/// ```
/// use tensor::{FloatTensor, TensorOps};
/// let a = FloatTensor::from_f64(&[2, 2], &[1.5, -2.0, 0.25, 3.0])?;
/// let b = FloatTensor::from_f64(&[2, 2], &[2.0, 0.0, 0.0, 2.0])?;
/// assert_eq!(a.matmul(&b)?.to_f64(), vec![3.0, -4.0, 0.5, 6.0]);
/// assert_eq!(a.mul_scalar(1.0 / 3.0)?.to_f64()[0], 0.5);
/// # Ok::<(), tensor::Error>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct FloatTensor {
    data: ArrayD<f64>,
}

/// A tensor reads as its elements in row-major order (`t[0]`, `t.iter()`, `t.len()`), as the
/// flat `Vec<f64>` it replaces where values are revealed; [`FloatTensor::shape`] keeps the
/// shape.
impl std::ops::Deref for FloatTensor {
    type Target = [f64];
    fn deref(&self) -> &[f64] {
        self.as_slice()
    }
}

impl<'a> IntoIterator for &'a FloatTensor {
    type Item = &'a f64;
    type IntoIter = std::slice::Iter<'a, f64>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl From<FloatTensor> for ArrayD<f64> {
    fn from(t: FloatTensor) -> Self {
        t.into_ndarray()
    }
}

impl From<ArrayD<f64>> for FloatTensor {
    fn from(a: ArrayD<f64>) -> Self {
        // the standard-layout invariant: a transposed or sliced view is copied into it
        let shape = a.shape().to_vec();
        let data = if a.is_standard_layout() {
            a
        } else {
            ArrayD::from_shape_vec(IxDyn(&shape), a.iter().copied().collect())
                .expect("the element count matches the shape")
        };
        Self { data }
    }
}

impl PartialEq<[f64]> for FloatTensor {
    fn eq(&self, other: &[f64]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<Vec<f64>> for FloatTensor {
    fn eq(&self, other: &Vec<f64>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl fmt::Debug for FloatTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FloatTensor")
            .field("shape", &self.shape())
            .field("values", &self.as_slice())
            .finish()
    }
}

impl FloatTensor {
    fn wrap(data: ArrayD<f64>) -> Self {
        let data = if data.is_standard_layout() {
            data
        } else {
            data.as_standard_layout().into_owned()
        };
        Self { data }
    }

    fn from_parts(shape: &[usize], data: Vec<f64>) -> Self {
        let data = ArrayD::from_shape_vec(IxDyn(shape), data).expect("length checked by caller");
        Self { data }
    }

    /// A tensor from reals in row-major order.
    ///
    /// # Errors
    /// [`Error::ElementCount`] if `values.len()` is not the product of `shape`.
    pub fn from_f64(shape: &[usize], values: &[f64]) -> Result<Self> {
        if numel(shape) != values.len() {
            return Err(Error::ElementCount {
                op: "from_f64",
                shape: shape.to_vec(),
                expected: numel(shape),
                got: values.len(),
            });
        }
        Ok(Self::from_parts(shape, values.to_vec()))
    }

    /// The decoded values of a fixed-point tensor (exact: every ring value is a dyadic
    /// rational that `f64` holds as long as it needs at most 53 significant bits).
    pub fn from_ring(t: &RingTensor) -> Self {
        Self::from_parts(t.shape(), t.to_f64())
    }

    /// The values encoded at `frac_bits` fractional bits (rounded to the nearest step).
    ///
    /// # Errors
    /// A value that cannot be encoded (see [`crate::fixed::encode`]).
    pub fn to_ring(&self, frac_bits: u32) -> Result<RingTensor> {
        RingTensor::from_f64(self.shape(), self.as_slice(), frac_bits)
    }

    /// All zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, 0.0)
    }

    /// Every element equal to `v`.
    pub fn full(shape: &[usize], v: f64) -> Self {
        Self::from_parts(shape, vec![v; numel(shape)])
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// Rank (number of dimensions).
    pub fn rank(&self) -> usize {
        self.data.ndim()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The elements in row-major order.
    pub fn as_slice(&self) -> &[f64] {
        self.data.as_slice().expect("standard layout invariant")
    }

    /// Mutable elements in row-major order.
    pub fn as_mut_slice(&mut self) -> &mut [f64] {
        self.data.as_slice_mut().expect("standard layout invariant")
    }

    /// The elements in row-major order, copied.
    pub fn to_f64(&self) -> Vec<f64> {
        self.as_slice().to_vec()
    }

    /// The elements in row-major order, without a copy.
    pub fn into_vec(self) -> Vec<f64> {
        let n = self.numel();
        match self.data.into_raw_vec_and_offset() {
            (v, Some(0)) if v.len() == n => v,
            (v, Some(at)) => v[at..at + n].to_vec(),
            (v, None) => v, // no elements
        }
    }

    /// A copy as an `ndarray` array of the same shape (the `ndarray` that `tensor::ndarray`
    /// re-exports).
    pub fn to_ndarray(&self) -> ArrayD<f64> {
        self.data.clone()
    }

    /// The tensor as an `ndarray` array of the same shape, without a copy.
    pub fn into_ndarray(self) -> ArrayD<f64> {
        self.data
    }

    /// Applies `f` to every element.
    pub fn map(&self, f: impl Fn(f64) -> f64) -> Self {
        Self::from_parts(
            self.shape(),
            self.as_slice().iter().map(|&v| f(v)).collect(),
        )
    }

    /// Combines two tensors elementwise with broadcasting.
    ///
    /// # Errors
    /// Shapes that do not broadcast.
    pub fn zip_map(
        &self,
        other: &Self,
        op: &'static str,
        f: impl Fn(f64, f64) -> f64,
    ) -> Result<Self> {
        if self.shape() == other.shape() {
            let data = self.as_slice().iter().zip(other.as_slice());
            return Ok(Self::from_parts(
                self.shape(),
                data.map(|(&a, &b)| f(a, b)).collect(),
            ));
        }
        let shape = broadcast_shapes(op, self.shape(), other.shape())?;
        let mismatch = || Error::ShapeMismatch {
            op,
            lhs: self.shape().to_vec(),
            rhs: other.shape().to_vec(),
        };
        let a = self.data.broadcast(IxDyn(&shape)).ok_or_else(mismatch)?;
        let b = other.data.broadcast(IxDyn(&shape)).ok_or_else(mismatch)?;
        Ok(Self::wrap(
            Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y)),
        ))
    }

    fn check_dim(&self, op: &'static str, dim: usize) -> Result<()> {
        layout::check_dim(op, self.rank(), dim)
    }

    /// `len` elements from `start` along `dim`, with [`RingTensor::slice`]'s checks.
    fn slice(&self, dim: usize, start: usize, end: usize) -> Result<Self> {
        Ok(Self::wrap(layout::slice(&self.data, dim, start, end, 1)?))
    }

    /// Sum over `dims` (all if empty).
    fn sum_dims(&self, dims: &[usize], keepdim: bool) -> Result<Self> {
        let mut dims: Vec<usize> = if dims.is_empty() {
            (0..self.rank()).collect()
        } else {
            dims.to_vec()
        };
        for &d in &dims {
            self.check_dim("sum", d)?;
        }
        dims.sort_unstable();
        if dims.windows(2).any(|w| w[0] == w[1]) {
            return Err(invalid(
                "sum",
                format!("dimension listed twice in {dims:?}"),
            ));
        }
        let mut data = self.data.clone();
        for &d in dims.iter().rev() {
            data = data.sum_axis(Axis(d));
            if keepdim {
                data.insert_axis_inplace(Axis(d));
            }
        }
        Ok(Self::wrap(data))
    }
    /// The exact mean (sum divided by the count; an empty reduction divides by 1, as
    /// [`RingTensor::mean`]).
    fn mean_dims(&self, dims: &[usize], keepdim: bool) -> Result<Self> {
        let count = if dims.is_empty() {
            self.numel().max(1)
        } else {
            let mut count = 1;
            for &d in dims {
                self.check_dim("mean", d)?;
                count *= self.shape()[d];
            }
            count.max(1)
        };
        let s = self.sum_dims(dims, keepdim)?;
        Ok(s.map(|v| v / count as f64))
    }
    /// `f` applied to every element; a non-finite result is an error naming `op` (the
    /// counterpart of [`RingTensor`]'s domain errors).
    fn map_finite(&self, op: &'static str, f: impl Fn(f64) -> f64) -> Result<Self> {
        finite(op, self.map(f))
    }

    /// `f` applied to every lane along `dim`, a non-finite result being an error.
    fn map_lanes(
        &self,
        op: &'static str,
        dim: usize,
        f: impl Fn(&[f64]) -> Vec<f64>,
    ) -> Result<Self> {
        if dim >= self.rank() {
            return Err(Error::InvalidDim {
                op,
                dim,
                rank: self.rank(),
            });
        }
        let mut out = self.data.clone();
        for mut lane in out.lanes_mut(Axis(dim)) {
            let row = f(&lane.to_vec());
            lane.assign(&ArrayView1::from(&row));
        }
        finite(op, Self::wrap(out))
    }
}

fn finite(op: &'static str, t: FloatTensor) -> Result<FloatTensor> {
    if let Some(bad) = t.as_slice().iter().find(|v| !v.is_finite()) {
        return Err(invalid(
            op,
            format!("an input is outside the domain (result {bad})"),
        ));
    }
    Ok(t)
}

fn finite_scalar(op: &'static str, v: f64) -> Result<()> {
    if !v.is_finite() {
        return Err(invalid(op, format!("scalar {v} is not finite")));
    }
    Ok(())
}

/// `c = a · b` for row-major `a` (`m×k`) and `b` (`k×n`), or `c += a · b` if `accumulate`.
fn gemm(m: usize, n: usize, k: usize, a: &[f64], b: &[f64], c: &mut [f64], accumulate: bool) {
    let a = ArrayView2::from_shape((m, k), a).expect("sizes checked by caller");
    let b = ArrayView2::from_shape((k, n), b).expect("sizes checked by caller");
    let mut c = ArrayViewMut2::from_shape((m, n), c).expect("sizes checked by caller");
    general_mat_mul(1.0, &a, &b, if accumulate { 1.0 } else { 0.0 }, &mut c);
}

impl TensorOps for FloatTensor {
    type Error = Error;

    fn dims(&self) -> Vec<usize> {
        self.shape().to_vec()
    }
    fn unary(&self, op: UnaryOp) -> Result<Self> {
        self.map_finite(op.name(), |x| op.eval(x))
    }
    fn binary(&self, op: BinaryOp, rhs: &Self) -> Result<Self> {
        let out = self.zip_map(rhs, op.name(), |a, b| op.eval(a, b))?;
        match op {
            BinaryOp::Div => finite("div", out),
            _ => Ok(out),
        }
    }
    fn reduce(&self, op: ReduceOp, dims: &[usize], keepdim: bool) -> Result<Self> {
        match op {
            ReduceOp::Sum => self.sum_dims(dims, keepdim),
            ReduceOp::Mean => self.mean_dims(dims, keepdim),
            ReduceOp::Max => Ok(self.max_with_one_hot(one_dim(op, dims)?, keepdim)?.0),
        }
    }
    fn lane(&self, op: LaneOp, dim: usize) -> Result<Self> {
        self.map_lanes(op.name(), dim, |row| op.eval(row))
    }
    fn neg(&self) -> Result<Self> {
        Ok(self.map(|v| -v))
    }
    /// PyTorch `matmul` shape rules, as [`RingTensor::matmul`]: 1-D operands promoted, batch
    /// dimensions broadcast.
    fn matmul(&self, rhs: &Self) -> Result<Self> {
        let shape = matmul_shape(self.shape(), rhs.shape())?;
        let (sa, sb) = (self.shape(), rhs.shape());
        let (m, k) = if sa.len() == 1 {
            (1, sa[0])
        } else {
            (sa[sa.len() - 2], sa[sa.len() - 1])
        };
        let n = if sb.len() == 1 { 1 } else { sb[sb.len() - 1] };
        let ba = &sa[..sa.len().saturating_sub(2)];
        let bb = &sb[..sb.len().saturating_sub(2)];
        let (a, b) = (self.as_slice(), rhs.as_slice());
        let mut out = vec![0.0; numel(&shape)];
        if numel(bb) == 1 {
            // [..., m, k] @ [k, n]: the batch is just more rows.
            gemm(numel(ba) * m, n, k, a, b, &mut out, false);
            return Ok(Self::from_parts(&shape, out));
        }
        let batch = broadcast_shapes("matmul", ba, bb)?;
        // stride of each batch dimension in an operand (right-aligned), 0 where it broadcasts
        let strides = |dims: &[usize], block: usize| -> Vec<usize> {
            let pad = batch.len() - dims.len();
            let mut st = vec![0; batch.len()];
            let mut acc = block;
            for i in (0..dims.len()).rev() {
                st[pad + i] = if dims[i] == 1 { 0 } else { acc };
                acc *= dims[i];
            }
            st
        };
        let (st_a, st_b) = (strides(ba, m * k), strides(bb, k * n));
        let mut idx = vec![0usize; batch.len()];
        for c in out.chunks_mut((m * n).max(1)).take(numel(&batch)) {
            let oa: usize = idx.iter().zip(&st_a).map(|(x, s)| x * s).sum();
            let ob: usize = idx.iter().zip(&st_b).map(|(x, s)| x * s).sum();
            gemm(m, n, k, &a[oa..oa + m * k], &b[ob..ob + k * n], c, false);
            for d in (0..batch.len()).rev() {
                idx[d] += 1;
                if idx[d] < batch[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Ok(Self::from_parts(&shape, out))
    }
    fn mul_scalar(&self, v: f64) -> Result<Self> {
        finite_scalar("mul_scalar", v)?;
        Ok(self.map(|x| x * v))
    }
    fn reshape(&self, shape: &[usize]) -> Result<Self> {
        if numel(shape) != self.numel() {
            return Err(Error::ShapeMismatch {
                op: "reshape",
                lhs: self.shape().to_vec(),
                rhs: shape.to_vec(),
            });
        }
        Ok(Self::from_parts(shape, self.to_f64()))
    }
    fn sum_to(&self, shape: &[usize]) -> Result<Self> {
        let op = "sum_to";
        if broadcast_shapes(op, self.shape(), shape)? != self.shape() || shape.len() > self.rank() {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape().to_vec(),
                rhs: shape.to_vec(),
            });
        }
        let lead = self.rank() - shape.len();
        let mut dims: Vec<usize> = (0..lead).collect();
        dims.extend(
            (0..shape.len())
                .filter(|&i| shape[i] == 1 && self.shape()[lead + i] != 1)
                .map(|i| i + lead),
        );
        let summed = if dims.is_empty() {
            self.clone()
        } else {
            self.sum_dims(&dims, true)?
        };
        TensorOps::reshape(&summed, shape)
    }
    fn broadcast_to(&self, shape: &[usize]) -> Result<Self> {
        Ok(Self::wrap(layout::broadcast_to(&self.data, shape)?))
    }
    fn ones_like(&self) -> Result<Self> {
        Ok(Self::full(self.shape(), 1.0))
    }
    fn new_tensor(&self, shape: &[usize], values: &[f64]) -> Result<Self> {
        Self::from_f64(shape, values)
    }
    /// The integers as reals (`f64` has no separate integer scale; every `|v| ≤ 2^53` is
    /// exact).
    fn new_int_tensor(&self, shape: &[usize], values: &[i64]) -> Result<Self> {
        let v: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        Self::from_f64(shape, &v)
    }
    /// The same draws as [`RingTensor`]'s mask for the same `seed`, as `0.0`/`1.0`.
    fn bernoulli_mask(&self, keep: f64, seed: u64) -> Result<Self> {
        let bits = bernoulli_bits(self.numel(), keep, seed)?;
        let v = bits
            .into_iter()
            .map(|b| if b { 1.0 } else { 0.0 })
            .collect();
        Ok(Self::from_parts(self.shape(), v))
    }
    fn add_scalar(&self, v: f64) -> Result<Self> {
        finite_scalar("add_scalar", v)?;
        Ok(self.map(|x| x + v))
    }
    fn permute(&self, perm: &[usize]) -> Result<Self> {
        Ok(Self::wrap(layout::permute(&self.data, perm)?))
    }
    fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Self> {
        self.slice(dim, start, start.saturating_add(len))
    }
    fn pad(&self, pads: &[(usize, usize)]) -> Result<Self> {
        Ok(Self::wrap(layout::pad(&self.data, pads, 0.0)?))
    }
    fn flip(&self, dims: &[usize]) -> Result<Self> {
        Ok(Self::wrap(layout::flip(&self.data, dims)?))
    }
    fn index_select(&self, dim: usize, indices: &[usize]) -> Result<Self> {
        Ok(Self::wrap(layout::index_select(&self.data, dim, indices)?))
    }
    fn concat(parts: &[&Self], dim: usize) -> Result<Self> {
        if parts.is_empty() {
            return Err(invalid("concat", "no tensors to join"));
        }
        let views: Vec<_> = parts.iter().map(|t| t.data.view()).collect();
        Ok(Self::wrap(layout::concat(&views, dim)?))
    }
    fn unfold2d(&self, p: &Pool2dParams, fill: WindowFill) -> Result<Self> {
        let (shape, out) = unfold_slice(self.shape(), self.as_slice(), p, fill)?;
        Ok(Self::from_parts(&shape, out))
    }
    fn fold2d(&self, p: &Pool2dParams, hw: (usize, usize), fill: WindowFill) -> Result<Self> {
        let (shape, out) = fold_slice(self.shape(), self.as_slice(), p, hw, fill, |a, b| a + b)?;
        Ok(Self::from_parts(&shape, out))
    }
    /// The exact window mean, padding counted as zeros (`count_include_pad=True`).
    fn avg_pool2d(&self, p: &Pool2dParams) -> Result<Self> {
        // RingTensor's checks and messages (its average is a sum pool, then a division)
        let op = "sum_pool2d";
        if self.rank() != 4 {
            return Err(invalid(
                op,
                format!("needs [N, C, H, W], got {:?}", self.shape()),
            ));
        }
        conv_out_len(op, self.shape()[2], p.kernel.0, p.stride.0, p.padding.0, 1)?;
        conv_out_len(op, self.shape()[3], p.kernel.1, p.stride.1, p.padding.1, 1)?;
        let windows = TensorOps::unfold2d(self, p, WindowFill::Zero)?;
        let k = (p.kernel.0 * p.kernel.1) as f64;
        Ok(windows.sum_dims(&[4], false)?.map(|v| v / k))
    }
    /// Cross-correlation as [`RingTensor::conv2d`] (im2col, one GEMM per group), in `f64`.
    fn conv2d(&self, weight: &Self, p: &Conv2dParams) -> Result<Self> {
        let out_shape = p.output_shape(self.shape(), weight.shape())?;
        let [n, o, ho, wo] = [out_shape[0], out_shape[1], out_shape[2], out_shape[3]];
        let (cg, kh, kw) = (weight.shape()[1], weight.shape()[2], weight.shape()[3]);
        let s = self.shape();
        let dims = [s[0], s[1], s[2], s[3]];
        let og = o / p.groups;
        let kdim = cg * kh * kw;
        let cols_n = n * ho * wo;
        let mut res = vec![0.0; o * cols_n];
        for g in 0..p.groups {
            let cols = im2col(self.as_slice(), dims, (g * cg, cg), (kh, kw), p, (ho, wo));
            let wg = &weight.as_slice()[g * og * kdim..(g + 1) * og * kdim];
            let dst = &mut res[g * og * cols_n..(g + 1) * og * cols_n];
            gemm(og, cols_n, kdim, wg, &cols, dst, false);
        }
        // res is [O, N, Ho*Wo]; reorder to [N, O, Ho*Wo].
        let plane = ho * wo;
        let mut out = vec![0.0; n * o * plane];
        for oc in 0..o {
            for b in 0..n {
                out[(b * o + oc) * plane..][..plane]
                    .copy_from_slice(&res[(oc * n + b) * plane..][..plane]);
            }
        }
        Ok(Self::from_parts(&out_shape, out))
    }
    /// Ties go to the first maximum, as [`RingTensor`]'s; the mask is `0.0`/`1.0`.
    fn max_with_one_hot(&self, dim: usize, keepdim: bool) -> Result<(Self, Self)> {
        if dim >= self.rank() {
            return Err(Error::InvalidDim {
                op: "max",
                dim,
                rank: self.rank(),
            });
        }
        if self.shape()[dim] == 0 {
            return Err(invalid("max", format!("dimension {dim} is empty")));
        }
        let argmax = |lane: ArrayView1<'_, f64>| {
            (0..lane.len()).fold(0, |b, j| if lane[j] > lane[b] { j } else { b })
        };
        let mut vals = self.data.map_axis(Axis(dim), |lane| lane[argmax(lane)]);
        let mut mask = ArrayD::zeros(self.data.raw_dim());
        Zip::from(mask.lanes_mut(Axis(dim)))
            .and(self.data.lanes(Axis(dim)))
            .for_each(|mut m, x| m[argmax(x)] = 1.0);
        if keepdim {
            vals.insert_axis_inplace(Axis(dim));
        }
        Ok((Self::wrap(vals), Self::wrap(mask)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::TensorExt;

    fn t(shape: &[usize], v: &[f64]) -> FloatTensor {
        FloatTensor::from_f64(shape, v).unwrap()
    }

    #[test]
    fn arithmetic_is_exact_f64() {
        let a = t(&[2, 1], &[1.0, 2.0]);
        let b = t(&[3], &[0.1, 0.2, 0.3]);
        assert_eq!(
            a.mul(&b).unwrap().to_f64(),
            vec![0.1, 0.2, 0.3, 0.2, 0.4, 0.6]
        );
        assert_eq!(a.mean(&[], false).unwrap().to_f64(), vec![1.5]);
        let third = t(&[1], &[1.0]).mul_scalar(1.0 / 3.0).unwrap().to_f64()[0];
        assert_eq!(third, 1.0 / 3.0);
        assert!(a.add(&t(&[3, 1], &[0.0; 3])).is_err());
        assert!(a.mul_scalar(f64::NAN).is_err());
    }

    #[test]
    fn shape_ops_agree_with_the_ring_tensor() {
        let v: Vec<f64> = (0..24).map(f64::from).collect();
        let f = t(&[2, 3, 4], &v);
        let r = RingTensor::from_f64(&[2, 3, 4], &v, 16).unwrap();
        let same = |a: Result<FloatTensor>, b: Result<RingTensor>| match (a, b) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.shape(), b.shape());
                assert_eq!(a.to_f64(), b.to_f64());
            }
            (Err(a), Err(b)) => assert_eq!(a, b),
            (a, b) => panic!("{a:?} vs {b:?}"),
        };
        same(f.permute(&[2, 0, 1]), TensorOps::permute(&r, &[2, 0, 1]));
        same(f.permute(&[0, 0, 1]), TensorOps::permute(&r, &[0, 0, 1]));
        same(f.transpose(0, 2), TensorExt::transpose(&r, 0, 2));
        same(f.narrow(2, 1, 2), TensorOps::narrow(&r, 2, 1, 2));
        same(f.narrow(2, 3, 2), TensorOps::narrow(&r, 2, 3, 2));
        same(
            f.pad(&[(1, 0), (0, 2), (1, 1)]),
            TensorOps::pad(&r, &[(1, 0), (0, 2), (1, 1)]),
        );
        same(f.pad(&[(1, 0)]), TensorOps::pad(&r, &[(1, 0)]));
        same(f.flip(&[0, 2]), TensorOps::flip(&r, &[0, 2]));
        same(f.flip(&[1, 1]), TensorOps::flip(&r, &[1, 1]));
        same(
            f.index_select(1, &[2, 0, 2]),
            TensorOps::index_select(&r, 1, &[2, 0, 2]),
        );
        same(
            f.index_select(1, &[3]),
            TensorOps::index_select(&r, 1, &[3]),
        );
        same(
            FloatTensor::concat(&[&f, &f.narrow(1, 0, 1).unwrap()], 1),
            TensorOps::concat(&[&r, &TensorOps::narrow(&r, 1, 0, 1).unwrap()], 1),
        );
        same(
            FloatTensor::concat(&[&f, &f.transpose(0, 1).unwrap()], 2),
            {
                let rt = TensorExt::transpose(&r, 0, 1).unwrap();
                TensorOps::concat(&[&r, &rt], 2)
            },
        );
        same(
            FloatTensor::concat(&[], 0),
            <RingTensor as TensorOps>::concat(&[], 0),
        );
        same(f.sum(&[0, 2], true), TensorExt::sum(&r, &[0, 2], true));
        same(f.sum(&[1, 1], false), TensorExt::sum(&r, &[1, 1], false));
        same(f.sum_to(&[3, 1]), TensorOps::sum_to(&r, &[3, 1]));
        same(f.sum_to(&[2]), TensorOps::sum_to(&r, &[2]));
        same(
            f.broadcast_to(&[2, 2, 3, 4]),
            TensorOps::broadcast_to(&r, &[2, 2, 3, 4]),
        );
        same(f.reshape(&[4, 7]), TensorOps::reshape(&r, &[4, 7]));
        same(f.matmul(&f), TensorOps::matmul(&r, &r));
        same(f.amax(3, false), TensorExt::amax(&r, 3, false));
        let p = Pool2dParams::square(2);
        let x4 = f.reshape(&[1, 2, 3, 4]).unwrap();
        let r4 = TensorOps::reshape(&r, &[1, 2, 3, 4]).unwrap();
        same(
            x4.avg_pool2d(&Pool2dParams::square(4)),
            TensorOps::avg_pool2d(&r4, &Pool2dParams::square(4)),
        );
        same(f.avg_pool2d(&p), TensorOps::avg_pool2d(&r, &p));
        same(
            f.unfold2d(&p, WindowFill::Zero),
            TensorOps::unfold2d(&r, &p, WindowFill::Zero),
        );
    }

    #[test]
    fn masks_are_zero_one_reals() {
        let x = t(&[2, 3], &[1.0, -2.0, 0.0, 3.0, 3.0, -1.0]);
        let [r, m]: [FloatTensor; 2] = x
            .unary_fused(&[UnaryOp::Relu, UnaryOp::Step])
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(r.to_f64(), vec![1.0, 0.0, 0.0, 3.0, 3.0, 0.0]);
        assert_eq!(m.to_f64(), vec![1.0, 0.0, 1.0, 1.0, 1.0, 0.0]);
        let (v, m) = x.max_with_one_hot(1, true).unwrap();
        assert_eq!((v.shape(), v.to_f64()), (&[2, 1][..], vec![1.0, 3.0]));
        assert_eq!(
            m.to_f64(),
            vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0],
            "ties to the first"
        );
        let (v, m) = x.max_with_one_hot(0, false).unwrap();
        assert_eq!(v.to_f64(), vec![3.0, 3.0, 0.0]);
        assert_eq!(m.to_f64(), vec![0.0, 0.0, 1.0, 1.0, 1.0, 0.0]);
        let z = FloatTensor::zeros(&[1000]);
        let ring = TensorOps::bernoulli_mask(&RingTensor::zeros(&[1000], 16), 0.3, 5).unwrap();
        assert_eq!(
            z.bernoulli_mask(0.3, 5).unwrap().to_f64(),
            ring.to_i64().iter().map(|&b| b as f64).collect::<Vec<_>>(),
            "the same draws as the ring tensor's"
        );
        assert!(z.bernoulli_mask(-0.1, 5).is_err());
        assert_eq!(
            x.new_int_tensor(&[2], &[3, -4]).unwrap().to_f64(),
            vec![3.0, -4.0]
        );
    }

    #[test]
    fn domain_errors_name_the_function() {
        let x = t(&[2], &[1.0, -1.0]);
        let err = x.log().unwrap_err().to_string();
        assert!(err.starts_with("log:"), "{err}");
        assert!(x.sqrt().is_err() && x.inv_sqrt().is_err());
        assert!(x.div(&t(&[1], &[0.0])).is_err());
        assert!(t(&[1], &[0.0]).reciprocal().is_err());
        assert!(t(&[1], &[1000.0]).exp().is_err());
        assert_eq!(
            x.div(&t(&[1], &[-4.0])).unwrap().to_f64(),
            vec![-0.25, 0.25]
        );
    }
}
