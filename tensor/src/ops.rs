//! [`TensorOps`]: the op contract that autograd and nn are written against.
//!
//! [`RingTensor`] (plaintext fixed point) and [`crate::FloatTensor`] (plaintext `f64`)
//! implement it, `mpc::CrypTensor` (secret-shared)
//! implements it, and `autograd::Var<T>` implements it as a decorator. Code written
//! against this trait therefore runs on plaintext, privately, and with gradients, unchanged.
//! Every op returns `Result`: private ops can fail on the network.
//!
//! The contract grows with what autograd and nn need. Linear and shape ops are exact; the
//! nonlinear functions are exact (through `f64`) on plaintext, which makes `RingTensor` the
//! oracle that private results and gradients are checked against, and approximations on
//! secret shares (`mpc::approx`, with documented domains and errors).

use crate::error::Error;
use crate::fixed::DEFAULT_FRAC_BITS;
use crate::ring::{Conv2dParams, Pool2dParams, RingTensor};
use crate::window::WindowFill;

/// Fixed-point tensor operations with PyTorch semantics (broadcasting, `matmul` shape rules).
pub trait TensorOps: Clone + Sized {
    /// The error every op may return.
    type Error: std::error::Error + From<Error> + Send + Sync + 'static;

    /// The shape.
    fn dims(&self) -> Vec<usize>;
    /// Elementwise sum.
    ///
    /// # Errors
    /// Shapes that do not broadcast; for private tensors, network failures.
    fn add(&self, rhs: &Self) -> Result<Self, Self::Error>;
    /// Elementwise difference.
    ///
    /// # Errors
    /// As [`TensorOps::add`].
    fn sub(&self, rhs: &Self) -> Result<Self, Self::Error>;
    /// Elementwise fixed-point product.
    ///
    /// # Errors
    /// As [`TensorOps::add`].
    fn mul(&self, rhs: &Self) -> Result<Self, Self::Error>;
    /// Negation.
    ///
    /// # Errors
    /// Only network failures.
    fn neg(&self) -> Result<Self, Self::Error>;
    /// Fixed-point matrix product.
    ///
    /// # Errors
    /// Shapes that do not fit; network failures.
    fn matmul(&self, rhs: &Self) -> Result<Self, Self::Error>;
    /// Product with a public real.
    ///
    /// # Errors
    /// A scalar that cannot be encoded; network failures.
    fn mul_scalar(&self, v: f64) -> Result<Self, Self::Error>;
    /// Sum over `dims` (all if empty).
    ///
    /// # Errors
    /// Invalid dimensions.
    fn sum(&self, dims: &[usize], keepdim: bool) -> Result<Self, Self::Error>;
    /// Mean over `dims` (all if empty).
    ///
    /// # Errors
    /// Invalid dimensions; network failures.
    fn mean(&self, dims: &[usize], keepdim: bool) -> Result<Self, Self::Error>;
    /// Same elements, new shape.
    ///
    /// # Errors
    /// Element counts differ.
    fn reshape(&self, shape: &[usize]) -> Result<Self, Self::Error>;
    /// Swaps two dimensions.
    ///
    /// # Errors
    /// Dimensions out of range.
    fn transpose(&self, d0: usize, d1: usize) -> Result<Self, Self::Error>;
    /// Sums broadcast dimensions away so that the result has `shape` (the adjoint of
    /// broadcasting, which gradients need).
    ///
    /// # Errors
    /// `shape` does not broadcast to this tensor's shape.
    fn sum_to(&self, shape: &[usize]) -> Result<Self, Self::Error>;
    /// Materialises broadcasting to `shape`.
    ///
    /// # Errors
    /// This shape does not broadcast to `shape`.
    fn broadcast_to(&self, shape: &[usize]) -> Result<Self, Self::Error>;
    /// `max(x, 0)` and the mask `[x >= 0]` as 0/1 integers (scale 1), which is ReLU's
    /// derivative (taking 1 at 0). The mask is data, not a differentiable value.
    ///
    /// # Errors
    /// For private tensors, network failures.
    fn relu_with_mask(&self) -> Result<(Self, Self), Self::Error>;
    /// A public tensor of ones with this tensor's shape and scale.
    ///
    /// # Errors
    /// Never for the built-in types; fallible for uniformity.
    fn ones_like(&self) -> Result<Self, Self::Error>;

    // ------------------------------------------------------------ constants

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

    // ------------------------------------------------------------ linear and shape ops

    /// Adds the public real `v` to every element.
    ///
    /// # Errors
    /// `v` cannot be encoded at this tensor's scale.
    fn add_scalar(&self, v: f64) -> Result<Self, Self::Error>;
    /// Reorders dimensions (`perm[i]` is the input dimension that becomes dimension `i`).
    ///
    /// # Errors
    /// Not a permutation of the dimensions.
    fn permute(&self, perm: &[usize]) -> Result<Self, Self::Error>;
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

    // ------------------------------------------------------------ products

    /// Fixed-point 2-D convolution (cross-correlation, as PyTorch) of `[N, C, H, W]` by
    /// `[O, C/groups, kh, kw]`.
    ///
    /// # Errors
    /// Shapes that do not fit; network failures.
    fn conv2d(&self, weight: &Self, p: &Conv2dParams) -> Result<Self, Self::Error>;

    /// The gradient of a convolution with respect to its input, for the upstream gradient
    /// `self` (`[N, O, Ho, Wo]`): the transposed convolution of `self` by `weight`, back to an
    /// input of spatial size `input_hw`. Built from shape ops and one [`TensorOps::conv2d`]:
    /// the gradient is dilated by the stride, padded by `dilation·(k-1) - padding` on each side
    /// (plus what the forward pass's floor dropped at the end), and convolved with the
    /// spatially flipped weight whose input and output channels are swapped within each group.
    ///
    /// # Errors
    /// Shapes that do not fit; network failures.
    fn conv2d_input_grad(
        &self,
        weight: &Self,
        input_hw: (usize, usize),
        p: &Conv2dParams,
    ) -> Result<Self, Self::Error> {
        let g = self.dims();
        let w = weight.dims();
        if g.len() != 4 || w.len() != 4 || p.groups == 0 || g[1] != w[0] {
            return Err(invalid_shapes("conv2d_input_grad", &g, &w).into());
        }
        let groups = p.groups;
        let (o, cg, kh, kw) = (w[0], w[1], w[2], w[3]);
        let mut grad = self.clone();
        for (axis, stride, dil, pad, len, k) in [
            (2, p.stride.0, p.dilation.0, p.padding.0, input_hw.0, kh),
            (3, p.stride.1, p.dilation.1, p.padding.1, input_hw.1, kw),
        ] {
            grad = dilate(&grad, axis, stride)?;
            // place the dilated gradient at offset d(k-1) - p in a line of len + d(k-1)
            let span = (dil * (k - 1)) as isize;
            let before = span - pad as isize;
            let after = len as isize + span - before - grad.dims()[axis] as isize;
            grad = place(&grad, axis, before, after)?;
        }
        // [O, C/g, kh, kw] -> [g, O/g, C/g, kh, kw] -> [g, C/g, O/g, kh, kw] -> [C, O/g, kh, kw]
        let og = o / groups;
        let wt = weight
            .reshape(&[groups, og, cg, kh, kw])?
            .permute(&[0, 2, 1, 3, 4])?
            .reshape(&[groups * cg, og, kh, kw])?
            .flip(&[2, 3])?;
        grad.conv2d(
            &wt,
            &Conv2dParams {
                stride: (1, 1),
                padding: (0, 0),
                dilation: p.dilation,
                groups,
            },
        )
    }

    /// The gradient of a convolution with respect to its weight, for the upstream gradient
    /// `self` (`[N, O, Ho, Wo]`) and the forward input `input` (`[N, C, H, W]`): per group,
    /// the convolution of the input (batch and channels swapped) by the gradient (likewise),
    /// with stride and dilation swapped, cut to the kernel size. One [`TensorOps::conv2d`]
    /// per group.
    ///
    /// # Errors
    /// Shapes that do not fit; network failures.
    fn conv2d_weight_grad(
        &self,
        input: &Self,
        kernel_hw: (usize, usize),
        p: &Conv2dParams,
    ) -> Result<Self, Self::Error> {
        let g = self.dims();
        let x = input.dims();
        let groups = p.groups;
        if g.len() != 4
            || x.len() != 4
            || groups == 0
            || g[0] != x[0]
            || !g[1].is_multiple_of(groups)
            || !x[1].is_multiple_of(groups)
        {
            return Err(invalid_shapes("conv2d_weight_grad", &g, &x).into());
        }
        let (og, cg) = (g[1] / groups, x[1] / groups);
        let swapped = Conv2dParams {
            stride: p.dilation,
            padding: p.padding,
            dilation: p.stride,
            groups: 1,
        };
        let mut parts = Vec::with_capacity(groups);
        for gi in 0..groups {
            let (xg, gg) = if groups == 1 {
                (input.clone(), self.clone())
            } else {
                (input.narrow(1, gi * cg, cg)?, self.narrow(1, gi * og, og)?)
            };
            // [C/g, N, H, W] conv [O/g, N, Ho, Wo] -> [C/g, O/g, kh', kw'] with kh' >= kh
            let full = xg
                .permute(&[1, 0, 2, 3])?
                .conv2d(&gg.permute(&[1, 0, 2, 3])?, &swapped)?;
            let cut = full.narrow(2, 0, kernel_hw.0)?.narrow(3, 0, kernel_hw.1)?;
            parts.push(cut.permute(&[1, 0, 2, 3])?);
        }
        if parts.len() == 1 {
            return Ok(parts.pop().expect("one group"));
        }
        Self::concat(&parts.iter().collect::<Vec<_>>(), 0)
    }

    // ------------------------------------------------------------ nonlinear functions
    //
    // Plaintext tensors compute these exactly in f64 (the oracle); private tensors use the
    // approximations of `mpc::approx`, whose domains and errors are documented there and in
    // docs/accuracy.md.

    /// `e^x`.
    ///
    /// # Errors
    /// Results that cannot be encoded; network failures.
    fn exp(&self) -> Result<Self, Self::Error>;
    /// Natural logarithm (positive inputs; private: domain `[0.01, 100]`).
    ///
    /// # Errors
    /// Inputs outside the domain (plaintext); network failures.
    fn log(&self) -> Result<Self, Self::Error>;
    /// `1/x` for positive `x` (private: domain `[0.01, 100]`).
    ///
    /// # Errors
    /// Zero inputs (plaintext); network failures.
    fn reciprocal(&self) -> Result<Self, Self::Error>;
    /// `self / rhs` elementwise with broadcasting, for a divisor of either sign (private:
    /// `|rhs|` in `[0.01, 100]`).
    ///
    /// # Errors
    /// Shapes that do not broadcast; a zero divisor (plaintext); network failures.
    fn div(&self, rhs: &Self) -> Result<Self, Self::Error>;
    /// `√x` for `x ≥ 0` (private: domain `[0, 100]`).
    ///
    /// # Errors
    /// Negative inputs (plaintext); network failures.
    fn sqrt(&self) -> Result<Self, Self::Error>;
    /// `1/√x` for `x > 0` (private: domain `[0.01, 100]`).
    ///
    /// # Errors
    /// Non-positive inputs (plaintext); network failures.
    fn inv_sqrt(&self) -> Result<Self, Self::Error>;
    /// The logistic function `1/(1 + e^{-x})`.
    ///
    /// # Errors
    /// Network failures.
    fn sigmoid(&self) -> Result<Self, Self::Error>;
    /// Hyperbolic tangent.
    ///
    /// # Errors
    /// Network failures.
    fn tanh(&self) -> Result<Self, Self::Error>;
    /// Softmax over `dim`.
    ///
    /// # Errors
    /// `dim` out of range; network failures.
    fn softmax(&self, dim: usize) -> Result<Self, Self::Error>;
    /// Log-softmax over `dim`.
    ///
    /// # Errors
    /// `dim` out of range; network failures.
    fn log_softmax(&self, dim: usize) -> Result<Self, Self::Error>;
    /// GELU `x·Φ(x)` (the exact, erf form) together with its derivative
    /// `Φ(x) + x·φ(x)`, which a GELU layer's backward pass needs.
    ///
    /// # Errors
    /// Network failures.
    fn gelu_with_grad(&self) -> Result<(Self, Self), Self::Error>;
    /// GELU `x·Φ(x)` alone.
    ///
    /// # Errors
    /// Network failures.
    fn gelu(&self) -> Result<Self, Self::Error> {
        Ok(self.gelu_with_grad()?.0)
    }
    /// The maximum over `dim` (ties to the first), and a 0/1 integer one-hot mask of the
    /// input's shape marking where it was taken: what max pooling's backward pass needs to
    /// route the gradient without revealing the position. The mask carries no gradient.
    ///
    /// # Errors
    /// `dim` out of range or empty; network failures.
    fn max_dim_with_mask(&self, dim: usize, keepdim: bool) -> Result<(Self, Self), Self::Error>;
    /// The maximum over `dim` alone (private tensors skip the mask's cost where nothing
    /// will differentiate the result).
    ///
    /// # Errors
    /// `dim` out of range or empty; network failures.
    fn max_dim(&self, dim: usize, keepdim: bool) -> Result<Self, Self::Error> {
        Ok(self.max_dim_with_mask(dim, keepdim)?.0)
    }
    /// The same value with nothing recorded for differentiation (`torch.Tensor.detach`);
    /// the value itself for tensors that record nothing.
    fn detach(&self) -> Self {
        self.clone()
    }
}

fn invalid_shapes(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Error {
    Error::ShapeMismatch {
        op,
        lhs: lhs.to_vec(),
        rhs: rhs.to_vec(),
    }
}

/// Inserts `stride - 1` zeros between consecutive elements along `axis` (linear: a reshape,
/// a pad and a narrow).
fn dilate<T: TensorOps>(x: &T, axis: usize, stride: usize) -> Result<T, T::Error> {
    let s = x.dims();
    if stride == 1 || s[axis] == 0 {
        return Ok(x.clone());
    }
    let len = s[axis];
    let mut split = s.clone();
    split.insert(axis + 1, 1);
    let mut pads = vec![(0, 0); split.len()];
    pads[axis + 1] = (0, stride - 1);
    let mut joined = s.clone();
    joined[axis] = len * stride;
    x.reshape(&split)?
        .pad(&pads)?
        .reshape(&joined)?
        .narrow(axis, 0, (len - 1) * stride + 1)
}

/// Pads `axis` by `before`/`after` zeros, or cuts elements off where they are negative.
fn place<T: TensorOps>(x: &T, axis: usize, before: isize, after: isize) -> Result<T, T::Error> {
    let len = x.dims()[axis] as isize;
    let (cut_front, cut_back) = ((-before).max(0), (-after).max(0));
    let mut y = x.clone();
    if cut_front > 0 || cut_back > 0 {
        let keep = len - cut_front - cut_back;
        if keep < 0 {
            return Err(Error::InvalidArgument {
                op: "conv2d_input_grad",
                reason: "gradient shape does not fit the input size".into(),
            }
            .into());
        }
        y = y.narrow(axis, cut_front as usize, keep as usize)?;
    }
    if before > 0 || after > 0 {
        let mut pads = vec![(0, 0); y.dims().len()];
        pads[axis] = (before.max(0) as usize, after.max(0) as usize);
        y = y.pad(&pads)?;
    }
    Ok(y)
}

impl TensorOps for RingTensor {
    type Error = Error;

    fn dims(&self) -> Vec<usize> {
        self.shape().to_vec()
    }
    fn add(&self, rhs: &Self) -> Result<Self, Error> {
        RingTensor::add(self, rhs)
    }
    fn sub(&self, rhs: &Self) -> Result<Self, Error> {
        RingTensor::sub(self, rhs)
    }
    fn mul(&self, rhs: &Self) -> Result<Self, Error> {
        RingTensor::mul(self, rhs)
    }
    fn neg(&self) -> Result<Self, Error> {
        Ok(RingTensor::neg(self))
    }
    fn matmul(&self, rhs: &Self) -> Result<Self, Error> {
        RingTensor::matmul(self, rhs)
    }
    fn mul_scalar(&self, v: f64) -> Result<Self, Error> {
        self.mul_f64(v)
    }
    fn sum(&self, dims: &[usize], keepdim: bool) -> Result<Self, Error> {
        RingTensor::sum(self, dims, keepdim)
    }
    fn mean(&self, dims: &[usize], keepdim: bool) -> Result<Self, Error> {
        RingTensor::mean(self, dims, keepdim)
    }
    fn reshape(&self, shape: &[usize]) -> Result<Self, Error> {
        RingTensor::reshape(self, shape)
    }
    fn transpose(&self, d0: usize, d1: usize) -> Result<Self, Error> {
        RingTensor::transpose(self, d0, d1)
    }
    fn sum_to(&self, shape: &[usize]) -> Result<Self, Error> {
        RingTensor::sum_to(self, shape)
    }
    fn broadcast_to(&self, shape: &[usize]) -> Result<Self, Error> {
        RingTensor::broadcast_to(self, shape)
    }
    fn relu_with_mask(&self) -> Result<(Self, Self), Error> {
        let relu = self.map(|v| if (v as i64) < 0 { 0 } else { v });
        let mask = self.map(|v| u64::from((v as i64) >= 0)).with_frac_bits(0);
        Ok((relu, mask))
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
    fn add_scalar(&self, v: f64) -> Result<Self, Error> {
        if self.frac_bits() == 0 {
            // an integer tensor plus a real is a real tensor at the default scale
            let f = DEFAULT_FRAC_BITS;
            return self.mul_scalar_raw(1 << f).with_frac_bits(f).add_f64(v);
        }
        self.add_f64(v)
    }
    fn permute(&self, perm: &[usize]) -> Result<Self, Error> {
        RingTensor::permute(self, perm)
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
    fn conv2d(&self, weight: &Self, p: &Conv2dParams) -> Result<Self, Error> {
        RingTensor::conv2d(self, weight, p)
    }
    fn exp(&self) -> Result<Self, Error> {
        map_real(self, "exp", f64::exp)
    }
    fn log(&self) -> Result<Self, Error> {
        map_real(self, "log", |x| if x > 0.0 { x.ln() } else { f64::NAN })
    }
    fn reciprocal(&self) -> Result<Self, Error> {
        map_real(self, "reciprocal", |x| 1.0 / x)
    }
    fn div(&self, rhs: &Self) -> Result<Self, Error> {
        let f = real_scale(self).max(real_scale(rhs));
        let shape = crate::shape::broadcast_shapes("div", self.shape(), rhs.shape())?;
        let (a, b) = (self.broadcast_to(&shape)?, rhs.broadcast_to(&shape)?);
        let q: Vec<f64> = a
            .to_f64()
            .iter()
            .zip(b.to_f64())
            .map(|(x, y)| x / y)
            .collect();
        encode_checked("div", &shape, &q, f)
    }
    fn sqrt(&self) -> Result<Self, Error> {
        map_real(self, "sqrt", |x| if x >= 0.0 { x.sqrt() } else { f64::NAN })
    }
    fn inv_sqrt(&self) -> Result<Self, Error> {
        map_real(self, "inv_sqrt", |x| {
            if x > 0.0 { 1.0 / x.sqrt() } else { f64::NAN }
        })
    }
    fn sigmoid(&self) -> Result<Self, Error> {
        map_real(self, "sigmoid", |x| 1.0 / (1.0 + (-x).exp()))
    }
    fn tanh(&self) -> Result<Self, Error> {
        map_real(self, "tanh", f64::tanh)
    }
    fn softmax(&self, dim: usize) -> Result<Self, Error> {
        map_rows(self, "softmax", dim, |row| {
            let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = row.iter().map(|x| (x - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(|v| v / s).collect()
        })
    }
    fn log_softmax(&self, dim: usize) -> Result<Self, Error> {
        map_rows(self, "log_softmax", dim, |row| {
            let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let ls = row.iter().map(|x| (x - m).exp()).sum::<f64>().ln() + m;
            row.iter().map(|x| x - ls).collect()
        })
    }
    fn gelu_with_grad(&self) -> Result<(Self, Self), Error> {
        let cdf = |x: f64| 0.5 * (1.0 + erf(x * std::f64::consts::FRAC_1_SQRT_2));
        let pdf = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        Ok((
            map_real(self, "gelu", |x| x * cdf(x))?,
            map_real(self, "gelu", |x| cdf(x) + x * pdf(x))?,
        ))
    }
    fn max_dim_with_mask(&self, dim: usize, keepdim: bool) -> Result<(Self, Self), Error> {
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

/// `erf(x)` in `f64`: `2/√π · e^{-x²} · Σ 2^n x^{2n+1} / (1·3···(2n+1))`, a series of
/// positive terms, accurate to about 1e-15 for `|x| ≤ 6`; `±1` beyond (`erfc(6) < 3e-17`).
pub(crate) fn erf(x: f64) -> f64 {
    if x.abs() > 6.0 {
        return x.signum();
    }
    let x2 = x * x;
    let mut term = x;
    let mut sum = x;
    let mut n = 0.0;
    while term.abs() > 1e-17 * sum.abs() {
        n += 1.0;
        term *= 2.0 * x2 / (2.0 * n + 1.0);
        sum += term;
    }
    2.0 / std::f64::consts::PI.sqrt() * (-x2).exp() * sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], v: &[f64]) -> RingTensor {
        RingTensor::from_f64(shape, v, 16).unwrap()
    }

    #[test]
    fn erf_matches_known_values() {
        for (x, want) in [
            (0.0, 0.0),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (-2.0, -0.995_322_265_018_952_7),
            (7.0, 1.0),
        ] {
            assert!((erf(x) - want).abs() < 1e-14, "erf({x})");
        }
    }

    #[test]
    fn row_functions_work_along_any_dimension() {
        let x = t(&[2, 3], &[1.0, 2.0, 3.0, 0.0, 0.0, 0.0]);
        let s = TensorOps::softmax(&x, 0).unwrap().to_f64();
        // column 0: softmax(1, 0)
        let e = 1f64.exp();
        assert!((s[0] - e / (e + 1.0)).abs() < 1e-4 && (s[3] - 1.0 / (e + 1.0)).abs() < 1e-4);
        let ls = TensorOps::log_softmax(&x, 1).unwrap().to_f64();
        assert!((ls[3] + 3f64.ln()).abs() < 1e-4);
        let (m, mask) = x.max_dim_with_mask(0, true).unwrap();
        assert_eq!(m.shape(), &[1, 3]);
        assert_eq!(m.to_f64(), vec![1.0, 2.0, 3.0]);
        assert_eq!(mask.to_i64(), vec![1, 1, 1, 0, 0, 0]);
        let (m, mask) = t(&[1, 4], &[2.0, 5.0, 5.0, 1.0])
            .max_dim_with_mask(1, false)
            .unwrap();
        assert_eq!((m.shape(), m.to_f64()), (&[1][..], vec![5.0]));
        assert_eq!(
            mask.to_i64(),
            vec![0, 1, 0, 0],
            "ties go to the first maximum"
        );
        assert!(x.max_dim_with_mask(2, false).is_err());
    }

    #[test]
    fn domain_errors_name_the_function() {
        let x = t(&[2], &[1.0, -1.0]);
        let err = TensorOps::log(&x).unwrap_err().to_string();
        assert!(err.starts_with("log:"), "{err}");
        assert!(TensorOps::sqrt(&x).is_err() && TensorOps::inv_sqrt(&x).is_err());
        assert!(TensorOps::div(&x, &t(&[1], &[0.0])).is_err());
        assert_eq!(
            TensorOps::div(&x, &t(&[1], &[-4.0])).unwrap().to_f64(),
            vec![-0.25, 0.25]
        );
    }

    /// `<conv(x, w), g> = <x, input_grad(g, w)> = <w, weight_grad(g, x)>` exactly, on integer
    /// tensors (no truncation), over strides, paddings, dilations and groups.
    #[test]
    fn convolution_gradients_are_the_adjoints_of_the_convolution() {
        let ints = |seed: i64, shape: &[usize]| {
            let n: usize = shape.iter().product();
            let v: Vec<i64> = (0..n as i64)
                .map(|i| (i * 7919 + seed * 31) % 13 - 6)
                .collect();
            RingTensor::from_i64(shape, &v).unwrap()
        };
        let dot = |a: &RingTensor, b: &RingTensor| -> i64 {
            assert_eq!(a.shape(), b.shape());
            a.to_i64().iter().zip(b.to_i64()).map(|(a, b)| a * b).sum()
        };
        let cases = [
            ((1, 1), (0, 0), (1, 1), 1, (3, 3)),
            ((2, 2), (1, 1), (1, 1), 1, (3, 3)),
            ((2, 3), (2, 0), (1, 2), 2, (2, 3)),
            ((3, 1), (0, 3), (2, 1), 4, (2, 2)),
            ((2, 2), (0, 0), (1, 1), 1, (1, 1)),
        ];
        for (k, (stride, padding, dilation, groups, (kh, kw))) in cases.into_iter().enumerate() {
            let p = Conv2dParams {
                stride,
                padding,
                dilation,
                groups,
            };
            let (n, c, o, h, w) = (2, 4, 8, 7, 6);
            let x = ints(k as i64, &[n, c, h, w]);
            let wt = ints(k as i64 + 10, &[o, c / groups, kh, kw]);
            let y = TensorOps::conv2d(&x, &wt, &p).unwrap();
            let g = ints(k as i64 + 20, y.shape());
            let gx = g.conv2d_input_grad(&wt, (h, w), &p).unwrap();
            let gw = g.conv2d_weight_grad(&x, (kh, kw), &p).unwrap();
            assert_eq!(dot(&y, &g), dot(&x, &gx), "input gradient, case {k}");
            assert_eq!(dot(&y, &g), dot(&wt, &gw), "weight gradient, case {k}");
        }
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
