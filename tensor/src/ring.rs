//! [`RingTensor`]: a dense tensor over Z_2^64 that knows its fixed-point scale.
//!
//! All arithmetic wraps modulo 2^64. Values are interpreted as two's-complement signed
//! integers scaled by `2^-frac_bits` (see [`crate::fixed`]); `frac_bits == 0` is a plain
//! integer tensor (comparison results, indices).
//!
//! Methods come in two flavours:
//! - *ring* operations (`add`, `sub`, `neg`, `mul_raw`, `matmul_raw`, `conv2d_raw`, shape ops)
//!   are exact in Z_2^64; the `_raw` products return a tensor whose scale is the sum of the
//!   operands' scales, untruncated. These are what secret shares use.
//! - *fixed-point* operations (`mul`, `matmul`, `conv2d`, `mean`, `avg_pool2d`) rescale after
//!   the product with a floor (arithmetic shift), so their result has the larger operand scale.
//!   They are the plaintext oracle for the private protocols.
//!
//! Invariant: the underlying array is always in standard (row-major, contiguous) layout, so
//! kernels can take `as_slice()` without copying. Every constructor keeps it.

use std::fmt;

use ndarray::{ArrayD, Axis, IxDyn, Zip};

use crate::error::{Error, Result, invalid};
use crate::fixed;
use crate::kernel;
use crate::layout;
use crate::shape::{broadcast_shapes, conv_out_len, numel};
use crate::storage::{Device, Storage};

/// A dense row-major tensor of ring elements with a fixed-point scale.
///
/// # Examples
/// ```
/// use tensor::RingTensor;
/// let a = RingTensor::from_f64(&[2, 2], &[1.5, -2.0, 0.25, 3.0], 16).unwrap();
/// let b = RingTensor::from_f64(&[2, 2], &[2.0, 0.0, 0.0, 2.0], 16).unwrap();
/// assert_eq!(a.matmul(&b).unwrap().to_f64(), vec![3.0, -4.0, 0.5, 6.0]);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RingTensor {
    /// The elements (standard layout), behind the device seam.
    storage: Storage,
    frac_bits: u32,
}

impl fmt::Debug for RingTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Plaintext by definition: shares are wrapped by the mpc crate, whose Debug redacts them.
        f.debug_struct("RingTensor")
            .field("shape", &self.shape())
            .field("frac_bits", &self.frac_bits)
            .field("values", &self.to_f64())
            .finish()
    }
}

thread_local! {
    /// Worker threads the kernels may use on this thread (`None`: all cores).
    static THREAD_BUDGET: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Limits the worker threads that GEMMs and convolutions started from the current thread may
/// use (`None` restores the default, every core). Several parties sharing one machine each set
/// their share of the cores, so that they do not oversubscribe it.
pub fn set_thread_budget(threads: Option<usize>) {
    THREAD_BUDGET.with(|b| b.set(threads.map(|t| t.max(1))));
}

fn kernel_threads() -> usize {
    THREAD_BUDGET
        .with(|b| b.get())
        .unwrap_or_else(kernel::default_threads)
}

/// Convolution hyper-parameters, as in `torch.nn.functional.conv2d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Conv2dParams {
    /// Stride (height, width).
    pub stride: (usize, usize),
    /// Zero padding added on both sides (height, width).
    pub padding: (usize, usize),
    /// Spacing between kernel taps (height, width).
    pub dilation: (usize, usize),
    /// Number of channel groups; input and output channels must both divide by it.
    pub groups: usize,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Self {
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
        }
    }
}

impl Conv2dParams {
    /// Output shape `[N, O, Ho, Wo]` for input `[N, C, H, W]` and weight `[O, C/groups, kh, kw]`.
    ///
    /// # Errors
    /// Wrong ranks, channel counts that do not match the groups, or a window that does not fit.
    pub fn output_shape(&self, x: &[usize], w: &[usize]) -> Result<Vec<usize>> {
        let op = "conv2d";
        if x.len() != 4 || w.len() != 4 {
            return Err(Error::ShapeMismatch {
                op,
                lhs: x.to_vec(),
                rhs: w.to_vec(),
            });
        }
        let g = self.groups;
        if g == 0
            || !x[1].is_multiple_of(g)
            || !w[0].is_multiple_of(g)
            || w[1].checked_mul(g) != Some(x[1])
        {
            return Err(Error::ShapeMismatch {
                op,
                lhs: x.to_vec(),
                rhs: w.to_vec(),
            });
        }
        let ho = conv_out_len(
            op,
            x[2],
            w[2],
            self.stride.0,
            self.padding.0,
            self.dilation.0,
        )?;
        let wo = conv_out_len(
            op,
            x[3],
            w[3],
            self.stride.1,
            self.padding.1,
            self.dilation.1,
        )?;
        Ok(vec![x[0], w[0], ho, wo])
    }
}

/// Pooling window hyper-parameters (zero padding, `count_include_pad` semantics for averages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pool2dParams {
    /// Window size (height, width).
    pub kernel: (usize, usize),
    /// Stride (height, width).
    pub stride: (usize, usize),
    /// Zero padding on both sides (height, width).
    pub padding: (usize, usize),
}

impl Pool2dParams {
    /// A `k`×`k` window with stride `k` and no padding (PyTorch's default for pooling).
    pub fn square(k: usize) -> Self {
        Self {
            kernel: (k, k),
            stride: (k, k),
            padding: (0, 0),
        }
    }
}

impl RingTensor {
    fn wrap(data: ArrayD<u64>, frac_bits: u32) -> Self {
        let data = if data.is_standard_layout() {
            data
        } else {
            data.as_standard_layout().into_owned()
        };
        Self {
            storage: Storage::Cpu(data),
            frac_bits,
        }
    }

    fn from_parts(shape: &[usize], data: Vec<u64>, frac_bits: u32) -> Self {
        let data = ArrayD::from_shape_vec(IxDyn(shape), data).expect("length checked by caller");
        Self {
            storage: Storage::Cpu(data),
            frac_bits,
        }
    }

    /// A tensor from raw ring elements in row-major order.
    ///
    /// # Errors
    /// [`Error::ElementCount`] if `data.len()` is not the product of `shape`.
    pub fn from_raw(shape: &[usize], data: Vec<u64>, frac_bits: u32) -> Result<Self> {
        if numel(shape) != data.len() {
            return Err(Error::ElementCount {
                op: "from_raw",
                shape: shape.to_vec(),
                expected: numel(shape),
                got: data.len(),
            });
        }
        Ok(Self::from_parts(shape, data, frac_bits))
    }

    /// Encodes reals at `frac_bits` fractional bits.
    ///
    /// # Errors
    /// Wrong element count, or a value that cannot be encoded (see [`fixed::encode`]).
    pub fn from_f64(shape: &[usize], values: &[f64], frac_bits: u32) -> Result<Self> {
        let data = values
            .iter()
            .map(|&x| fixed::encode(x, frac_bits))
            .collect::<Result<_>>()?;
        Self::from_raw(shape, data, frac_bits)
    }

    /// Integers at scale 1 (`frac_bits == 0`).
    ///
    /// # Errors
    /// Wrong element count.
    pub fn from_i64(shape: &[usize], values: &[i64]) -> Result<Self> {
        Self::from_raw(shape, values.iter().map(|&v| v as u64).collect(), 0)
    }

    /// All zeros.
    pub fn zeros(shape: &[usize], frac_bits: u32) -> Self {
        Self::from_parts(shape, vec![0; numel(shape)], frac_bits)
    }

    /// Every element equal to the raw ring value `v`.
    pub fn full_raw(shape: &[usize], v: u64, frac_bits: u32) -> Self {
        Self::from_parts(shape, vec![v; numel(shape)], frac_bits)
    }

    /// A zero-dimensional tensor holding the raw ring value `v`.
    pub fn scalar_raw(v: u64, frac_bits: u32) -> Self {
        Self::from_parts(&[], vec![v], frac_bits)
    }

    /// Where the elements live.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The device holding the elements.
    pub fn device(&self) -> Device {
        self.storage.device()
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        self.storage.cpu().shape()
    }

    /// Rank (number of dimensions).
    pub fn rank(&self) -> usize {
        self.storage.cpu().ndim()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.storage.cpu().len()
    }

    /// Fractional bits of the encoding (0 for integers).
    pub fn frac_bits(&self) -> u32 {
        self.frac_bits
    }

    /// The same ring elements reinterpreted at another scale (no arithmetic is done).
    pub fn with_frac_bits(mut self, frac_bits: u32) -> Self {
        self.frac_bits = frac_bits;
        self
    }

    /// Raw ring elements in row-major order.
    pub fn as_slice(&self) -> &[u64] {
        self.storage
            .cpu()
            .as_slice()
            .expect("standard layout invariant")
    }

    /// Mutable raw ring elements in row-major order.
    pub fn as_mut_slice(&mut self) -> &mut [u64] {
        self.storage
            .cpu_mut()
            .as_slice_mut()
            .expect("standard layout invariant")
    }

    /// Consumes the tensor, returning its raw elements in row-major order.
    pub fn into_raw(self) -> Vec<u64> {
        let (v, offset) = self.storage.into_cpu().into_raw_vec_and_offset();
        debug_assert!(offset.unwrap_or(0) == 0);
        v
    }

    /// Decodes every element to `f64`.
    pub fn to_f64(&self) -> Vec<f64> {
        let s = fixed::scale(self.frac_bits);
        self.as_slice()
            .iter()
            .map(|&v| (v as i64) as f64 / s)
            .collect()
    }

    /// The elements as signed integers (ignoring the scale).
    pub fn to_i64(&self) -> Vec<i64> {
        self.as_slice().iter().map(|&v| v as i64).collect()
    }

    /// Applies `f` to every element.
    pub fn map(&self, f: impl Fn(u64) -> u64) -> Self {
        let data = self.as_slice().iter().map(|&v| f(v)).collect();
        Self::from_parts(self.shape(), data, self.frac_bits)
    }

    /// Applies `f` in place to every element.
    pub fn map_inplace(&mut self, f: impl Fn(u64) -> u64) {
        self.as_mut_slice().iter_mut().for_each(|v| *v = f(*v));
    }

    /// Combines two tensors elementwise with broadcasting; the result keeps `frac_bits`.
    ///
    /// # Errors
    /// Shapes that do not broadcast.
    pub fn zip_map(
        &self,
        other: &Self,
        op: &'static str,
        frac_bits: u32,
        f: impl Fn(u64, u64) -> u64,
    ) -> Result<Self> {
        if self.shape() == other.shape() {
            let data = self
                .as_slice()
                .iter()
                .zip(other.as_slice())
                .map(|(&a, &b)| f(a, b));
            return Ok(Self::from_parts(self.shape(), data.collect(), frac_bits));
        }
        let shape = broadcast_shapes(op, self.shape(), other.shape())?;
        let mismatch = || Error::ShapeMismatch {
            op,
            lhs: self.shape().to_vec(),
            rhs: other.shape().to_vec(),
        };
        let a = self
            .storage
            .cpu()
            .broadcast(IxDyn(&shape))
            .ok_or_else(mismatch)?;
        let b = other
            .storage
            .cpu()
            .broadcast(IxDyn(&shape))
            .ok_or_else(mismatch)?;
        let out = Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y));
        Ok(Self::wrap(out, frac_bits))
    }

    fn same_scale(&self, other: &Self, op: &'static str) -> Result<u32> {
        if self.frac_bits != other.frac_bits {
            return Err(Error::EncodingMismatch {
                op,
                lhs: self.frac_bits,
                rhs: other.frac_bits,
            });
        }
        Ok(self.frac_bits)
    }

    /// Elementwise sum with broadcasting (both operands at the same scale).
    ///
    /// # Errors
    /// Shapes that do not broadcast, or different scales.
    pub fn add(&self, other: &Self) -> Result<Self> {
        let f = self.same_scale(other, "add")?;
        self.zip_map(other, "add", f, u64::wrapping_add)
    }

    /// Elementwise difference with broadcasting (both operands at the same scale).
    ///
    /// # Errors
    /// Shapes that do not broadcast, or different scales.
    pub fn sub(&self, other: &Self) -> Result<Self> {
        let f = self.same_scale(other, "sub")?;
        self.zip_map(other, "sub", f, u64::wrapping_sub)
    }

    /// In-place `self += other` for equal shapes and scales (no broadcasting; used on hot paths).
    ///
    /// # Errors
    /// Different shapes or scales.
    pub fn add_assign(&mut self, other: &Self) -> Result<()> {
        self.zip_assign(other, "add_assign", u64::wrapping_add)
    }

    /// In-place `self -= other` for equal shapes and scales.
    ///
    /// # Errors
    /// Different shapes or scales.
    pub fn sub_assign(&mut self, other: &Self) -> Result<()> {
        self.zip_assign(other, "sub_assign", u64::wrapping_sub)
    }

    fn zip_assign(
        &mut self,
        other: &Self,
        op: &'static str,
        f: impl Fn(u64, u64) -> u64,
    ) -> Result<()> {
        self.same_scale(other, op)?;
        if self.shape() != other.shape() {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape().to_vec(),
                rhs: other.shape().to_vec(),
            });
        }
        for (a, b) in self.as_mut_slice().iter_mut().zip(other.as_slice()) {
            *a = f(*a, *b);
        }
        Ok(())
    }

    /// Elementwise negation.
    pub fn neg(&self) -> Self {
        self.map(u64::wrapping_neg)
    }

    /// Elementwise ring product with broadcasting, untruncated: the result's scale is the sum
    /// of the operands' scales.
    ///
    /// # Errors
    /// Shapes that do not broadcast.
    pub fn mul_raw(&self, other: &Self) -> Result<Self> {
        self.zip_map(
            other,
            "mul",
            self.frac_bits + other.frac_bits,
            u64::wrapping_mul,
        )
    }

    /// Fixed-point elementwise product: ring product, then a round-to-nearest shift by the
    /// smaller scale ([`RingTensor::shr_round`]), so the result has the larger operand's scale
    /// (an integer operand needs no shift).
    ///
    /// The untruncated product must fit the signed ring: `|a·b| < 2^(63 - fa - fb)` in real
    /// terms (`|a·b| < 2^31` at the default 16 bits); beyond that it wraps, as any fixed-point
    /// arithmetic in Z_2^64 does.
    ///
    /// # Errors
    /// Shapes that do not broadcast.
    pub fn mul(&self, other: &Self) -> Result<Self> {
        let shift = self.frac_bits.min(other.frac_bits);
        Ok(self.mul_raw(other)?.shr_round(shift))
    }

    /// Adds the raw ring value `v` to every element.
    pub fn add_scalar_raw(&self, v: u64) -> Self {
        self.map(|x| x.wrapping_add(v))
    }

    /// Multiplies every element by the raw ring value `v` (scale unchanged).
    pub fn mul_scalar_raw(&self, v: u64) -> Self {
        self.map(|x| x.wrapping_mul(v))
    }

    /// Adds the real `v`, encoded at this tensor's scale.
    ///
    /// # Errors
    /// `v` not representable at this scale.
    pub fn add_f64(&self, v: f64) -> Result<Self> {
        Ok(self.add_scalar_raw(fixed::encode(v, self.frac_bits)?))
    }

    /// Multiplies by the real `v` in fixed point: `v` is encoded at this tensor's scale (the
    /// default scale for an integer tensor), multiplied, and shifted back.
    ///
    /// # Errors
    /// `v` not representable at this scale.
    pub fn mul_f64(&self, v: f64) -> Result<Self> {
        // An integer tensor times a real becomes a fixed-point tensor at the default scale.
        let f = if self.frac_bits == 0 {
            fixed::DEFAULT_FRAC_BITS
        } else {
            self.frac_bits
        };
        let c = Self::scalar_raw(fixed::encode(v, f)?, f);
        self.mul(&c)
    }

    /// Arithmetic (sign-preserving, flooring) right shift by `bits`, lowering the scale by the
    /// same amount (saturating at 0 fractional bits).
    pub fn shr_arith(&self, bits: u32) -> Self {
        if bits == 0 {
            return self.clone();
        }
        // A shift by 63 already floors every value to 0 or -1; larger shifts must not wrap.
        let k = bits.min(63);
        let mut out = self.map(|x| ((x as i64) >> k) as u64);
        out.frac_bits = self.frac_bits.saturating_sub(bits);
        out
    }

    /// Arithmetic right shift by `bits` rounding to nearest (halves up), lowering the scale as
    /// [`RingTensor::shr_arith`] does: the rescaling of every fixed-point product. A floor
    /// shift would bias each product by half a ULP, and in training those biases add up over
    /// every position of a convolution's gradient.
    pub fn shr_round(&self, bits: u32) -> Self {
        if bits == 0 {
            return self.clone();
        }
        // floor((x + 2^(k-1)) / 2^k) without the addition's overflow: shift by k-1 first
        let k = bits.min(63);
        let mut out = self.map(|x| ((((x as i64) >> (k - 1)) + 1) >> 1) as u64);
        out.frac_bits = self.frac_bits.saturating_sub(bits);
        out
    }

    /// Signed floor division of every element by the positive integer `d` (scale unchanged).
    ///
    /// # Errors
    /// `d` is zero or does not fit a signed 64-bit integer.
    pub fn div_floor(&self, d: u64) -> Result<Self> {
        let di = i64::try_from(d)
            .ok()
            .filter(|&d| d > 0)
            .ok_or_else(|| invalid("div_floor", format!("divisor {d} must be in 1..2^63")))?;
        Ok(self.map(|x| (x as i64).div_euclid(di) as u64))
    }

    // ---------------------------------------------------------------- reductions

    fn check_dim(&self, op: &'static str, dim: usize) -> Result<()> {
        layout::check_dim(op, self.rank(), dim)
    }

    /// Sum over the listed dimensions (all of them if `dims` is empty), keeping them as size-1
    /// dimensions if `keepdim`.
    ///
    /// # Errors
    /// A dimension out of range or listed twice.
    pub fn sum(&self, dims: &[usize], keepdim: bool) -> Result<Self> {
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
        let mut data = self.storage.cpu().clone();
        for &d in dims.iter().rev() {
            data = data.fold_axis(Axis(d), 0u64, |acc, &v| acc.wrapping_add(v));
            if keepdim {
                data.insert_axis_inplace(Axis(d));
            }
        }
        Ok(Self::wrap(data, self.frac_bits))
    }

    /// Mean over the listed dimensions (all if empty): ring sum, then signed floor division by
    /// the element count.
    ///
    /// # Errors
    /// As [`RingTensor::sum`].
    pub fn mean(&self, dims: &[usize], keepdim: bool) -> Result<Self> {
        let count = self.reduced_count(dims)?;
        self.sum(dims, keepdim)?.div_floor(count as u64)
    }

    /// Number of elements that a reduction over `dims` (all if empty) folds into each output.
    ///
    /// # Errors
    /// A dimension out of range.
    pub fn reduced_count(&self, dims: &[usize]) -> Result<usize> {
        if dims.is_empty() {
            return Ok(self.numel().max(1));
        }
        let mut count = 1;
        for &d in dims {
            self.check_dim("mean", d)?;
            count *= self.shape()[d];
        }
        Ok(count.max(1))
    }

    /// Sums broadcast dimensions away so that the result has `shape` (the reverse of
    /// broadcasting; what a gradient needs).
    ///
    /// # Errors
    /// When `shape` does not broadcast to this tensor's shape.
    pub fn sum_to(&self, shape: &[usize]) -> Result<Self> {
        let op = "sum_to";
        let mismatch = || Error::ShapeMismatch {
            op,
            lhs: self.shape().to_vec(),
            rhs: shape.to_vec(),
        };
        if broadcast_shapes(op, self.shape(), shape)? != self.shape() || shape.len() > self.rank() {
            return Err(mismatch());
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
            self.sum(&dims, true)?
        };
        summed.reshape(shape)
    }

    // ---------------------------------------------------------------- shape ops

    /// Same elements, new shape.
    ///
    /// # Errors
    /// Element counts differ.
    pub fn reshape(&self, shape: &[usize]) -> Result<Self> {
        if numel(shape) != self.numel() {
            return Err(Error::ShapeMismatch {
                op: "reshape",
                lhs: self.shape().to_vec(),
                rhs: shape.to_vec(),
            });
        }
        Ok(Self::from_parts(
            shape,
            self.as_slice().to_vec(),
            self.frac_bits,
        ))
    }

    /// [`RingTensor::reshape`] of an owned tensor: the elements are moved, not copied.
    ///
    /// # Errors
    /// Element counts differ.
    pub fn into_reshaped(self, shape: &[usize]) -> Result<Self> {
        if numel(shape) != self.numel() {
            return Err(Error::ShapeMismatch {
                op: "reshape",
                lhs: self.shape().to_vec(),
                rhs: shape.to_vec(),
            });
        }
        let frac_bits = self.frac_bits;
        Ok(Self::from_parts(shape, self.into_raw(), frac_bits))
    }

    /// Flattens to one dimension.
    pub fn flatten(&self) -> Self {
        Self::from_parts(&[self.numel()], self.as_slice().to_vec(), self.frac_bits)
    }

    /// Swaps two dimensions.
    ///
    /// # Errors
    /// A dimension out of range.
    pub fn transpose(&self, d0: usize, d1: usize) -> Result<Self> {
        Ok(Self::wrap(
            layout::transpose(self.storage.cpu(), d0, d1)?,
            self.frac_bits,
        ))
    }

    /// The matrix transpose of a 2-D tensor (swaps the last two dimensions of an N-D one).
    ///
    /// # Errors
    /// Rank below 2.
    pub fn t(&self) -> Result<Self> {
        if self.rank() < 2 {
            return Err(invalid(
                "t",
                format!("needs rank >= 2, got shape {:?}", self.shape()),
            ));
        }
        self.transpose(self.rank() - 2, self.rank() - 1)
    }

    /// Reorders dimensions: output dimension `i` is input dimension `perm[i]`.
    ///
    /// # Errors
    /// `perm` is not a permutation of `0..rank`.
    pub fn permute(&self, perm: &[usize]) -> Result<Self> {
        Ok(Self::wrap(
            layout::permute(self.storage.cpu(), perm)?,
            self.frac_bits,
        ))
    }

    /// Removes dimension `dim`, which must have size 1.
    ///
    /// # Errors
    /// Out of range or not of size 1.
    pub fn squeeze(&self, dim: usize) -> Result<Self> {
        self.check_dim("squeeze", dim)?;
        if self.shape()[dim] != 1 {
            return Err(invalid(
                "squeeze",
                format!("dimension {dim} of {:?} is not 1", self.shape()),
            ));
        }
        let mut shape = self.shape().to_vec();
        shape.remove(dim);
        self.reshape(&shape)
    }

    /// Inserts a size-1 dimension at `dim` (`0..=rank`).
    ///
    /// # Errors
    /// `dim > rank`.
    pub fn unsqueeze(&self, dim: usize) -> Result<Self> {
        if dim > self.rank() {
            return Err(Error::InvalidDim {
                op: "unsqueeze",
                dim,
                rank: self.rank(),
            });
        }
        let mut shape = self.shape().to_vec();
        shape.insert(dim, 1);
        self.reshape(&shape)
    }

    /// Elements `start..end` (step `step`) along `dim`.
    ///
    /// # Errors
    /// Out-of-range dimension or bounds, or a zero step.
    pub fn slice(&self, dim: usize, start: usize, end: usize, step: usize) -> Result<Self> {
        Ok(Self::wrap(
            layout::slice(self.storage.cpu(), dim, start, end, step)?,
            self.frac_bits,
        ))
    }

    /// `len` elements from `start` along `dim` (PyTorch `narrow`).
    ///
    /// # Errors
    /// Out-of-range dimension or bounds.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Self> {
        self.slice(dim, start, start.saturating_add(len), 1)
    }

    /// Picks the listed indices along `dim` (repeats allowed).
    ///
    /// # Errors
    /// Out-of-range dimension or index.
    pub fn index_select(&self, dim: usize, indices: &[usize]) -> Result<Self> {
        Ok(Self::wrap(
            layout::index_select(self.storage.cpu(), dim, indices)?,
            self.frac_bits,
        ))
    }

    /// Joins tensors along an existing dimension.
    ///
    /// # Errors
    /// No tensors, different scales, or shapes that differ outside `dim`.
    pub fn concat(tensors: &[&Self], dim: usize) -> Result<Self> {
        let first = tensors
            .first()
            .ok_or_else(|| invalid("concat", "no tensors given"))?;
        first.check_dim("concat", dim)?;
        for t in tensors {
            first.same_scale(t, "concat")?;
        }
        let views: Vec<_> = tensors.iter().map(|t| t.storage.cpu().view()).collect();
        Ok(Self::wrap(layout::concat(&views, dim)?, first.frac_bits))
    }

    /// Joins equally shaped tensors along a new dimension `dim` (`0..=rank`).
    ///
    /// # Errors
    /// No tensors, different scales or shapes, or `dim > rank`.
    pub fn stack(tensors: &[&Self], dim: usize) -> Result<Self> {
        let first = tensors
            .first()
            .ok_or_else(|| invalid("stack", "no tensors given"))?;
        let expanded = tensors.iter().map(|t| {
            if t.shape() != first.shape() {
                return Err(Error::ShapeMismatch {
                    op: "stack",
                    lhs: first.shape().to_vec(),
                    rhs: t.shape().to_vec(),
                });
            }
            t.unsqueeze(dim)
        });
        let expanded = expanded.collect::<Result<Vec<_>>>()?;
        Self::concat(&expanded.iter().collect::<Vec<_>>(), dim)
    }

    /// Pads with the raw value `value`: `pads[i] = (before, after)` for dimension `i`.
    ///
    /// # Errors
    /// `pads.len() != rank`.
    pub fn pad(&self, pads: &[(usize, usize)], value: u64) -> Result<Self> {
        Ok(Self::wrap(
            layout::pad(self.storage.cpu(), pads, value)?,
            self.frac_bits,
        ))
    }

    /// Reverses the order of elements along each listed dimension.
    ///
    /// # Errors
    /// A dimension out of range.
    pub fn flip(&self, dims: &[usize]) -> Result<Self> {
        Ok(Self::wrap(
            layout::flip(self.storage.cpu(), dims)?,
            self.frac_bits,
        ))
    }

    /// Materialises broadcasting to `shape`.
    ///
    /// # Errors
    /// This shape does not broadcast to `shape`.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Self> {
        Ok(Self::wrap(
            layout::broadcast_to(self.storage.cpu(), shape)?,
            self.frac_bits,
        ))
    }

    // ---------------------------------------------------------------- products

    /// Ring matrix product with PyTorch `matmul` shape rules (1-D operands promoted, batch
    /// dimensions broadcast), untruncated: the result's scale is the sum of the scales.
    ///
    /// # Errors
    /// Inner dimensions differ, or batch dimensions do not broadcast.
    pub fn matmul_raw(&self, other: &Self) -> Result<Self> {
        let shape = crate::shape::matmul_shape(self.shape(), other.shape())?;
        let mut out = Self::zeros(&shape, self.frac_bits + other.frac_bits);
        self.gemm_into(other, out.as_mut_slice(), false);
        Ok(out)
    }

    /// `acc += self @ other` in the ring, with the same shape rules as
    /// [`RingTensor::matmul_raw`] and no temporary: the GEMM accumulates in place.
    ///
    /// # Errors
    /// Shapes that do not fit, or `acc` not of the product's shape and scale.
    pub fn matmul_acc(&self, other: &Self, acc: &mut Self) -> Result<()> {
        let shape = crate::shape::matmul_shape(self.shape(), other.shape())?;
        if acc.shape() != shape.as_slice() {
            return Err(Error::ShapeMismatch {
                op: "matmul_acc",
                lhs: acc.shape().to_vec(),
                rhs: shape,
            });
        }
        if acc.frac_bits != self.frac_bits + other.frac_bits {
            return Err(Error::EncodingMismatch {
                op: "matmul_acc",
                lhs: acc.frac_bits,
                rhs: self.frac_bits + other.frac_bits,
            });
        }
        self.gemm_into(other, acc.as_mut_slice(), true);
        Ok(())
    }

    /// The GEMMs of a (checked) matmul into `out`, reading the operands in place: batch
    /// dimensions broadcast through zero strides, and a right operand without batch
    /// dimensions folds the whole batch into one tall GEMM.
    fn gemm_into(&self, other: &Self, out: &mut [u64], accumulate: bool) {
        let (sa, sb) = (self.shape(), other.shape());
        let (m, k) = if sa.len() == 1 {
            (1, sa[0])
        } else {
            (sa[sa.len() - 2], sa[sa.len() - 1])
        };
        let n = if sb.len() == 1 { 1 } else { sb[sb.len() - 1] };
        let ba = &sa[..sa.len().saturating_sub(2)];
        let bb = &sb[..sb.len().saturating_sub(2)];
        let threads = kernel_threads();
        let (a, b) = (self.as_slice(), other.as_slice());
        if numel(bb) == 1 {
            // [..., m, k] @ [k, n]: the batch is just more rows.
            kernel::gemm(numel(ba) * m, n, k, a, k, b, n, out, n, accumulate, threads);
            return;
        }
        let batch = broadcast_shapes("matmul", ba, bb).expect("checked by matmul_shape");
        let strides = |dims: &[usize], block: usize| -> Vec<usize> {
            // Stride of each batch dimension of `batch` in an operand with batch dims `dims`
            // (right-aligned); 0 where the operand broadcasts.
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
            kernel::gemm(
                m,
                n,
                k,
                &a[oa..oa + m * k],
                k,
                &b[ob..ob + k * n],
                n,
                c,
                n,
                accumulate,
                threads,
            );
            for d in (0..batch.len()).rev() {
                idx[d] += 1;
                if idx[d] < batch[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
    }

    /// Fixed-point matrix product (ring product, then a round-to-nearest shift by the smaller
    /// scale).
    ///
    /// # Errors
    /// As [`RingTensor::matmul_raw`].
    pub fn matmul(&self, other: &Self) -> Result<Self> {
        let shift = self.frac_bits.min(other.frac_bits);
        Ok(self.matmul_raw(other)?.shr_round(shift))
    }

    /// Ring 2-D convolution (cross-correlation, as PyTorch) of `[N, C, H, W]` by
    /// `[O, C/groups, kh, kw]`, untruncated, via im2col and one GEMM per group.
    ///
    /// # Errors
    /// Shapes that do not fit (see [`Conv2dParams::output_shape`]).
    pub fn conv2d_raw(&self, weight: &Self, p: &Conv2dParams) -> Result<Self> {
        let out_shape = p.output_shape(self.shape(), weight.shape())?;
        let [n, o, ho, wo] = [out_shape[0], out_shape[1], out_shape[2], out_shape[3]];
        let (cg, kh, kw) = (weight.shape()[1], weight.shape()[2], weight.shape()[3]);
        let s = self.shape();
        let dims = [s[0], s[1], s[2], s[3]];
        let og = o / p.groups;
        let kdim = cg * kh * kw;
        let cols_n = n * ho * wo;
        let mut res = vec![0u64; o * cols_n];
        let threads = kernel_threads();
        for g in 0..p.groups {
            let cols = im2col(self.as_slice(), dims, (g * cg, cg), (kh, kw), p, (ho, wo));
            let wg = &weight.as_slice()[g * og * kdim..(g + 1) * og * kdim];
            kernel::gemm(
                og,
                cols_n,
                kdim,
                wg,
                kdim,
                &cols,
                cols_n,
                &mut res[g * og * cols_n..(g + 1) * og * cols_n],
                cols_n,
                false,
                threads,
            );
        }
        // res is [O, N, Ho*Wo]; reorder to [N, O, Ho*Wo].
        let plane = ho * wo;
        let mut out = vec![0u64; n * o * plane];
        for oc in 0..o {
            for b in 0..n {
                out[(b * o + oc) * plane..][..plane]
                    .copy_from_slice(&res[(oc * n + b) * plane..][..plane]);
            }
        }
        Ok(Self::from_parts(
            &out_shape,
            out,
            self.frac_bits + weight.frac_bits,
        ))
    }

    /// Fixed-point 2-D convolution (ring convolution, then a round-to-nearest shift by the
    /// smaller scale).
    ///
    /// # Errors
    /// As [`RingTensor::conv2d_raw`].
    pub fn conv2d(&self, weight: &Self, p: &Conv2dParams) -> Result<Self> {
        let shift = self.frac_bits.min(weight.frac_bits);
        Ok(self.conv2d_raw(weight, p)?.shr_round(shift))
    }

    /// Sum over pooling windows of `[N, C, H, W]` (zero padding). Exact in the ring.
    ///
    /// # Errors
    /// Rank other than 4 or a window that does not fit.
    pub fn sum_pool2d(&self, p: &Pool2dParams) -> Result<Self> {
        if self.rank() != 4 {
            return Err(invalid(
                "sum_pool2d",
                format!("needs [N, C, H, W], got {:?}", self.shape()),
            ));
        }
        let [n, c, h, w] = [
            self.shape()[0],
            self.shape()[1],
            self.shape()[2],
            self.shape()[3],
        ];
        let ho = conv_out_len("sum_pool2d", h, p.kernel.0, p.stride.0, p.padding.0, 1)?;
        let wo = conv_out_len("sum_pool2d", w, p.kernel.1, p.stride.1, p.padding.1, 1)?;
        let x = self.as_slice();
        let mut out = vec![0u64; n * c * ho * wo];
        for (plane_idx, dst) in out.chunks_mut(ho * wo).enumerate() {
            let src = &x[plane_idx * h * w..][..h * w];
            for oi in 0..ho {
                for oj in 0..wo {
                    let mut acc = 0u64;
                    for ki in 0..p.kernel.0 {
                        let ii = (oi * p.stride.0 + ki) as isize - p.padding.0 as isize;
                        if ii < 0 || ii >= h as isize {
                            continue;
                        }
                        for kj in 0..p.kernel.1 {
                            let jj = (oj * p.stride.1 + kj) as isize - p.padding.1 as isize;
                            if jj >= 0 && (jj as usize) < w {
                                acc = acc.wrapping_add(src[ii as usize * w + jj as usize]);
                            }
                        }
                    }
                    dst[oi * wo + oj] = acc;
                }
            }
        }
        Ok(Self::from_parts(&[n, c, ho, wo], out, self.frac_bits))
    }

    /// Average over pooling windows, counting padding as zeros (PyTorch's default
    /// `count_include_pad=True`): window sum, then signed floor division by `kh*kw`.
    ///
    /// # Errors
    /// As [`RingTensor::sum_pool2d`].
    pub fn avg_pool2d(&self, p: &Pool2dParams) -> Result<Self> {
        self.sum_pool2d(p)?
            .div_floor((p.kernel.0 * p.kernel.1) as u64)
    }
}

/// Unfolds convolution windows: `[N, C, H, W]` to columns `[C*kh*kw, N*Ho*Wo]` for the
/// channel range `c0..c0+cg`, so that a convolution is one GEMM per group.
pub(crate) fn im2col<T: Copy + Default>(
    x: &[T],
    [n, c, h, w]: [usize; 4],
    (c0, cg): (usize, usize),
    (kh, kw): (usize, usize),
    p: &Conv2dParams,
    (ho, wo): (usize, usize),
) -> Vec<T> {
    let cols_n = n * ho * wo;
    let mut cols = vec![T::default(); cg * kh * kw * cols_n];
    for ci in 0..cg {
        for ki in 0..kh {
            for kj in 0..kw {
                let row = (ci * kh + ki) * kw + kj;
                let dst = &mut cols[row * cols_n..(row + 1) * cols_n];
                for b in 0..n {
                    let plane = &x[((b * c) + c0 + ci) * h * w..][..h * w];
                    for oi in 0..ho {
                        let ii =
                            (oi * p.stride.0 + ki * p.dilation.0) as isize - p.padding.0 as isize;
                        let drow = &mut dst[(b * ho + oi) * wo..][..wo];
                        if ii < 0 || ii >= h as isize {
                            continue;
                        }
                        let src = &plane[ii as usize * w..][..w];
                        for (oj, d) in drow.iter_mut().enumerate() {
                            let jj = (oj * p.stride.1 + kj * p.dilation.1) as isize
                                - p.padding.1 as isize;
                            if jj >= 0 && (jj as usize) < w {
                                *d = src[jj as usize];
                            }
                        }
                    }
                }
            }
        }
    }
    cols
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(shape: &[usize], v: &[i64]) -> RingTensor {
        RingTensor::from_i64(shape, v).unwrap()
    }

    #[test]
    fn broadcasting_add_matches_hand_result() {
        let a = ints(&[2, 1], &[1, 2]);
        let b = ints(&[3], &[10, 20, 30]);
        assert_eq!(a.add(&b).unwrap().to_i64(), vec![11, 21, 31, 12, 22, 32]);
        assert!(a.add(&ints(&[3, 1], &[0; 3])).is_err());
    }

    #[test]
    fn mixed_scales_are_refused_for_addition() {
        let a = RingTensor::zeros(&[2], 16);
        let b = RingTensor::zeros(&[2], 0);
        assert!(matches!(a.add(&b), Err(Error::EncodingMismatch { .. })));
        // but multiplying by an integer tensor keeps the fixed-point scale without a shift
        let x = RingTensor::from_f64(&[2], &[1.5, -2.5], 16).unwrap();
        let m = ints(&[2], &[3, -2]);
        assert_eq!(x.mul(&m).unwrap().to_f64(), vec![4.5, 5.0]);
    }

    #[test]
    fn sums_and_means_over_dims() {
        let a = ints(&[2, 3], &[1, 2, 3, 4, 5, -6]);
        assert_eq!(a.sum(&[0], false).unwrap().to_i64(), vec![5, 7, -3]);
        assert_eq!(a.sum(&[1], true).unwrap().shape(), &[2, 1]);
        assert_eq!(a.sum(&[], false).unwrap().to_i64(), vec![9]);
        assert_eq!(a.mean(&[1], false).unwrap().to_i64(), vec![2, 1]);
        assert!(a.sum(&[2], false).is_err());
        assert!(a.sum(&[1, 1], false).is_err());
    }

    #[test]
    fn sum_to_undoes_broadcasting() {
        let a = ints(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(a.sum_to(&[3]).unwrap().to_i64(), vec![5, 7, 9]);
        assert_eq!(a.sum_to(&[2, 1]).unwrap().to_i64(), vec![6, 15]);
        assert!(a.sum_to(&[4]).is_err());
    }

    #[test]
    fn shape_ops_agree_with_pytorch() {
        let a = ints(&[2, 3], &[0, 1, 2, 3, 4, 5]);
        assert_eq!(a.t().unwrap().to_i64(), vec![0, 3, 1, 4, 2, 5]);
        assert_eq!(a.permute(&[1, 0]).unwrap(), a.t().unwrap());
        assert!(a.permute(&[0, 0]).is_err());
        assert_eq!(a.narrow(1, 1, 2).unwrap().to_i64(), vec![1, 2, 4, 5]);
        assert_eq!(a.slice(1, 0, 3, 2).unwrap().to_i64(), vec![0, 2, 3, 5]);
        assert!(a.narrow(1, 2, 2).is_err());
        assert_eq!(
            a.index_select(1, &[2, 0, 2]).unwrap().to_i64(),
            vec![2, 0, 2, 5, 3, 5]
        );
        assert!(a.index_select(0, &[2]).is_err());
        assert_eq!(a.flip(&[0, 1]).unwrap().to_i64(), vec![5, 4, 3, 2, 1, 0]);
        let p = a.pad(&[(1, 0), (0, 1)], 9).unwrap();
        assert_eq!(p.shape(), &[3, 4]);
        assert_eq!(p.to_i64(), vec![9, 9, 9, 9, 0, 1, 2, 9, 3, 4, 5, 9]);
        let c = RingTensor::concat(&[&a, &a.narrow(0, 0, 1).unwrap()], 0).unwrap();
        assert_eq!(c.shape(), &[3, 3]);
        assert!(RingTensor::concat(&[&a, &a.t().unwrap()], 0).is_err());
        let s = RingTensor::stack(&[&a, &a], 1).unwrap();
        assert_eq!(s.shape(), &[2, 2, 3]);
        assert_eq!(a.unsqueeze(0).unwrap().squeeze(0).unwrap(), a);
        assert!(a.squeeze(0).is_err());
        assert!(a.reshape(&[4]).is_err());
    }

    #[test]
    fn batched_matmul_broadcasts_and_promotes_vectors() {
        let a = ints(&[2, 2, 3], &[1, 2, 3, 4, 5, 6, -1, 0, 1, 2, 2, 2]);
        let b = ints(&[3, 1], &[1, 1, 1]);
        let c = a.matmul_raw(&b).unwrap();
        assert_eq!(c.shape(), &[2, 2, 1]);
        assert_eq!(c.to_i64(), vec![6, 15, 0, 6]);
        let v = ints(&[3], &[1, 0, -1]);
        let d = a.matmul_raw(&v).unwrap();
        assert_eq!(d.shape(), &[2, 2]);
        assert_eq!(d.to_i64(), vec![-2, -2, -2, 0]);
        assert!(a.matmul_raw(&ints(&[2, 2], &[0; 4])).is_err());
    }

    #[test]
    fn conv2d_matches_a_direct_loop() {
        // direct definition, compared on a grouped, strided, dilated, padded case
        let (n, c, h, w, o, g, kh, kw) = (2, 4, 7, 6, 6, 2, 3, 2);
        let p = Conv2dParams {
            stride: (2, 1),
            padding: (1, 2),
            dilation: (2, 1),
            groups: g,
        };
        let xv: Vec<i64> = (0..n * c * h * w)
            .map(|i| (i as i64 * 7919) % 23 - 11)
            .collect();
        let wv: Vec<i64> = (0..o * (c / g) * kh * kw)
            .map(|i| (i as i64 * 104729) % 13 - 6)
            .collect();
        let x = ints(&[n, c, h, w], &xv);
        let wt = ints(&[o, c / g, kh, kw], &wv);
        let y = x.conv2d_raw(&wt, &p).unwrap();
        let [ho, wo] = [y.shape()[2], y.shape()[3]];
        let mut expect = vec![0i64; n * o * ho * wo];
        for b in 0..n {
            for oc in 0..o {
                let grp = oc / (o / g);
                for oi in 0..ho {
                    for oj in 0..wo {
                        let mut acc = 0i64;
                        for ci in 0..c / g {
                            for ki in 0..kh {
                                for kj in 0..kw {
                                    let ii = (oi * p.stride.0 + ki * p.dilation.0) as i64
                                        - p.padding.0 as i64;
                                    let jj = (oj * p.stride.1 + kj * p.dilation.1) as i64
                                        - p.padding.1 as i64;
                                    if ii < 0 || jj < 0 || ii >= h as i64 || jj >= w as i64 {
                                        continue;
                                    }
                                    let xi = ((b * c + grp * (c / g) + ci) * h + ii as usize) * w
                                        + jj as usize;
                                    let wi = ((oc * (c / g) + ci) * kh + ki) * kw + kj;
                                    acc += xv[xi] * wv[wi];
                                }
                            }
                        }
                        expect[((b * o + oc) * ho + oi) * wo + oj] = acc;
                    }
                }
            }
        }
        assert_eq!(y.to_i64(), expect);
        assert!(
            x.conv2d_raw(&ints(&[6, 3, 3, 2], &vec![0; 108]), &p)
                .is_err()
        );
    }

    #[test]
    fn pooling_sums_and_averages_windows() {
        let x = ints(&[1, 1, 4, 4], &(0..16).collect::<Vec<_>>());
        let s = x.sum_pool2d(&Pool2dParams::square(2)).unwrap();
        assert_eq!(s.to_i64(), vec![10, 18, 42, 50]);
        let a = RingTensor::from_f64(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, -4.0], 16).unwrap();
        assert_eq!(
            a.avg_pool2d(&Pool2dParams::square(2)).unwrap().to_f64(),
            vec![0.5]
        );
        let padded = Pool2dParams {
            kernel: (3, 3),
            stride: (1, 1),
            padding: (1, 1),
        };
        assert_eq!(x.sum_pool2d(&padded).unwrap().to_i64()[0], 1 + 4 + 5);
    }

    #[test]
    fn rounding_shift_rounds_to_nearest_and_products_carry_no_bias() {
        // -5/4 = -1.25 -> -1, 5/4 -> 1, -6/4 = -1.5 -> -1 (halves up), 6/4 -> 2, 7/4 -> 2
        let a = ints(&[5], &[-5, 5, -6, 6, 7]);
        assert_eq!(a.shr_round(2).to_i64(), vec![-1, 1, -1, 2, 2]);
        assert_eq!(a.shr_round(0).to_i64(), a.to_i64());
        assert_eq!(
            ints(&[2], &[i64::MIN, i64::MAX]).shr_round(63).to_i64(),
            vec![-1, 1]
        );
        // 3 ULP times 1/4 is 3/4 of a ULP: a floor shift gives 0, rounding 1 ULP
        let x = RingTensor::from_raw(&[1], vec![3], 16).unwrap();
        let quarter = RingTensor::from_f64(&[1], &[0.25], 16).unwrap();
        assert_eq!(x.mul(&quarter).unwrap().to_i64(), vec![1]);
        // the mean error of many products is a small fraction of a ULP (a floor: -1/2 ULP)
        let vals: Vec<f64> = (0..4000)
            .map(|i| (i as f64 * 0.6180339887).fract() - 0.5)
            .collect();
        let (xs, ys) = (vals[..2000].to_vec(), vals[2000..].to_vec());
        let tx = RingTensor::from_f64(&[2000], &xs, 16).unwrap();
        let ty = RingTensor::from_f64(&[2000], &ys, 16).unwrap();
        let (ex, ey) = (tx.to_f64(), ty.to_f64());
        let ulp = 2f64.powi(-16);
        let mean: f64 = tx
            .mul(&ty)
            .unwrap()
            .to_f64()
            .iter()
            .zip(ex.iter().zip(&ey))
            .map(|(p, (a, b))| (p - a * b) / ulp)
            .sum::<f64>()
            / 2000.0;
        assert!(mean.abs() < 0.05, "mean product error {mean} ULP");
    }

    #[test]
    fn shifts_floor_and_division_is_euclidean() {
        let a = ints(&[3], &[-5, 5, -4]);
        assert_eq!(a.shr_arith(64).to_i64(), vec![-1, 0, -1]);
        assert_eq!(a.shr_arith(200).to_i64(), vec![-1, 0, -1]);
        assert!(a.flip(&[0, 0]).is_err());
        assert_eq!(a.shr_arith(1).to_i64(), vec![-3, 2, -2]);
        assert_eq!(a.div_floor(3).unwrap().to_i64(), vec![-2, 1, -2]);
        assert!(a.div_floor(0).is_err());
        assert!(a.div_floor(u64::MAX).is_err());
    }
}
