//! [`TensorOps`]: the op contract that autograd and nn are written against.
//!
//! [`RingTensor`] (plaintext fixed point) implements it, `mpc::CrypTensor` (secret-shared)
//! implements it, and `autograd::Var<T>` will implement it as a decorator. Code written
//! against this trait therefore runs on plaintext, privately, and with gradients, unchanged.
//! Every op returns `Result`: private ops can fail on the network.
//!
//! The contract is deliberately small; it grows with what autograd and nn need.

use crate::error::Error;
use crate::ring::RingTensor;

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
}
