//! `CrypTensor`'s one implementation of the op contract: each op kind dispatched to its private
//! method (the elementwise functions through the table of `approx::unary`). It sits above both
//! `cryptensor` and `approx`, so neither imports the other's tier in a circle.

use tensor::{BinaryOp, Conv2dParams, LaneOp, Pool2dParams, ReduceOp, RingTensor, UnaryOp};

use crate::cryptensor::CrypTensor;
use crate::error::{Error, Result};

impl tensor::TensorOps for CrypTensor {
    type Error = Error;

    fn dims(&self) -> Vec<usize> {
        self.shape().to_vec()
    }
    fn unary(&self, op: UnaryOp) -> Result<Self> {
        CrypTensor::unary(self, op)
    }
    fn unary_fused(&self, ops: &[UnaryOp]) -> Result<Vec<Self>> {
        self.unary_fused_with(ops, &crate::approx::ApproxConfig::default())
    }
    fn binary(&self, op: BinaryOp, rhs: &Self) -> Result<Self> {
        match op {
            BinaryOp::Add => CrypTensor::add(self, rhs),
            BinaryOp::Sub => CrypTensor::sub(self, rhs),
            BinaryOp::Mul => CrypTensor::mul(self, rhs),
            BinaryOp::Div => CrypTensor::div(self, rhs),
        }
    }
    fn reduce(&self, op: ReduceOp, dims: &[usize], keepdim: bool) -> Result<Self> {
        match op {
            ReduceOp::Sum => CrypTensor::sum(self, dims, keepdim),
            ReduceOp::Mean => CrypTensor::mean(self, dims, keepdim),
            ReduceOp::Max => self.amax(tensor::ops::one_dim(op, dims)?, keepdim),
        }
    }
    fn max_with_one_hot(&self, dim: usize, keepdim: bool) -> Result<(Self, Self)> {
        CrypTensor::max_with_one_hot(self, dim, keepdim)
    }
    fn lane(&self, op: LaneOp, dim: usize) -> Result<Self> {
        match op {
            LaneOp::Softmax => CrypTensor::softmax(self, dim),
            LaneOp::LogSoftmax => CrypTensor::log_softmax(self, dim),
        }
    }
    fn neg(&self) -> Result<Self> {
        CrypTensor::neg(self)
    }
    fn mul_scalar(&self, v: f64) -> Result<Self> {
        self.mul_f64(v)
    }
    fn add_scalar(&self, v: f64) -> Result<Self> {
        crate::approx::add_scalar(self, v)
    }
    fn matmul(&self, rhs: &Self) -> Result<Self> {
        CrypTensor::matmul(self, rhs)
    }
    fn conv2d(&self, weight: &Self, p: &Conv2dParams) -> Result<Self> {
        CrypTensor::conv2d(self, weight, p)
    }
    fn reshape(&self, shape: &[usize]) -> Result<Self> {
        CrypTensor::reshape(self, shape)
    }
    fn permute(&self, perm: &[usize]) -> Result<Self> {
        CrypTensor::permute(self, perm)
    }
    fn sum_to(&self, shape: &[usize]) -> Result<Self> {
        self.map_linear(|t| t.sum_to(shape))
    }
    fn broadcast_to(&self, shape: &[usize]) -> Result<Self> {
        self.map_linear(|t| t.broadcast_to(shape))
    }
    fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Self> {
        CrypTensor::narrow(self, dim, start, len)
    }
    fn pad(&self, pads: &[(usize, usize)]) -> Result<Self> {
        CrypTensor::pad(self, pads)
    }
    fn flip(&self, dims: &[usize]) -> Result<Self> {
        CrypTensor::flip(self, dims)
    }
    fn index_select(&self, dim: usize, indices: &[usize]) -> Result<Self> {
        CrypTensor::index_select(self, dim, indices)
    }
    fn concat(parts: &[&Self], dim: usize) -> Result<Self> {
        if parts.is_empty() {
            return Err(Error::InvalidArgument {
                op: "concat",
                reason: "no tensors to join".into(),
            });
        }
        CrypTensor::concat(parts, dim)
    }
    fn unfold2d(&self, p: &Pool2dParams, fill: tensor::WindowFill) -> Result<Self> {
        self.map_linear(|t| t.unfold2d(p, fill))
    }
    fn fold2d(
        &self,
        p: &Pool2dParams,
        hw: (usize, usize),
        fill: tensor::WindowFill,
    ) -> Result<Self> {
        self.map_linear(|t| t.fold2d(p, hw, fill))
    }
    fn avg_pool2d(&self, p: &Pool2dParams) -> Result<Self> {
        CrypTensor::avg_pool2d(self, p)
    }
    fn ones_like(&self) -> Result<Self> {
        let f = self.frac_bits();
        Ok(CrypTensor::Public(RingTensor::full_raw(
            self.shape(),
            tensor::fixed::encode(1.0, f)?,
            f,
        )))
    }
    fn new_tensor(&self, shape: &[usize], values: &[f64]) -> Result<Self> {
        let f = match (self.frac_bits(), self.session()) {
            (0, Some(s)) => s.config().frac_bits,
            (0, None) => tensor::DEFAULT_FRAC_BITS,
            (f, _) => f,
        };
        Ok(CrypTensor::Public(RingTensor::from_f64(shape, values, f)?))
    }
    fn new_int_tensor(&self, shape: &[usize], values: &[i64]) -> Result<Self> {
        Ok(CrypTensor::Public(RingTensor::from_i64(shape, values)?))
    }
    fn bernoulli_mask(&self, keep: f64, seed: u64) -> Result<Self> {
        self.bernoulli_like(keep, seed)
    }
}
