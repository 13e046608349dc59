//! The PyTorch-named methods of [`Var`], inherent so that no trait needs importing: the same
//! functions as [`TensorExt`] (which generic code over [`TensorOps`] keeps using, and which a
//! `Var` also implements; these take precedence and agree with it), plus what PyTorch users
//! reach for on a tensor that records gradients:
//! - a number or a variable on the right (`x.mul(2.0)`, `x.gt(0.0)`, `x.add(&y)`);
//! - negative dimensions (`x.softmax(-1)`, `x.sum(&[-1], false)`) and `sum_all`/`mean_all`
//!   (PyTorch's `x.sum()`: Rust has no overloading by argument count);
//! - comparisons, whose results are constants (0/1 integers, no gradient, as PyTorch's bool
//!   tensors), `clamp`, `where_cond` (`torch.where`) and `pow` with integer and ±1/2
//!   exponents, all differentiable where PyTorch's are.

use tensor::{Dim, Dims, Error, LaneOp, ReduceOp, TensorExt, TensorOps, UnaryOp};

use crate::var::Var;

/// The right-hand side of an elementwise op or comparison on a [`Var`]: another variable or
/// a plain number.
#[derive(Debug)]
pub enum VarOperand<'a, T: TensorOps> {
    /// A variable, broadcast against the left-hand side.
    Var(&'a Var<T>),
    /// A number.
    Scalar(f64),
}

impl<'a, T: TensorOps> From<&'a Var<T>> for VarOperand<'a, T> {
    fn from(v: &'a Var<T>) -> Self {
        VarOperand::Var(v)
    }
}

impl<T: TensorOps> From<f64> for VarOperand<'_, T> {
    fn from(v: f64) -> Self {
        VarOperand::Scalar(v)
    }
}

impl<T: TensorOps> From<i32> for VarOperand<'_, T> {
    fn from(v: i32) -> Self {
        VarOperand::Scalar(f64::from(v))
    }
}

type R<T> = Result<Var<T>, <T as TensorOps>::Error>;

impl<T: TensorOps> Var<T> {
    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        self.value().dims()
    }

    /// `self + rhs` (broadcasting).
    ///
    /// # Errors
    /// Shapes that do not broadcast; for private tensors, network failures.
    pub fn add<'a>(&self, rhs: impl Into<VarOperand<'a, T>>) -> R<T>
    where
        T: 'a,
    {
        match rhs.into() {
            VarOperand::Var(v) => TensorExt::add(self, v),
            VarOperand::Scalar(c) => self.add_scalar(c),
        }
    }

    /// `self - rhs` (broadcasting).
    ///
    /// # Errors
    /// As [`Var::add`].
    pub fn sub<'a>(&self, rhs: impl Into<VarOperand<'a, T>>) -> R<T>
    where
        T: 'a,
    {
        match rhs.into() {
            VarOperand::Var(v) => TensorExt::sub(self, v),
            VarOperand::Scalar(c) => self.add_scalar(-c),
        }
    }

    /// `self · rhs` elementwise (broadcasting).
    ///
    /// # Errors
    /// As [`Var::add`].
    pub fn mul<'a>(&self, rhs: impl Into<VarOperand<'a, T>>) -> R<T>
    where
        T: 'a,
    {
        match rhs.into() {
            VarOperand::Var(v) => TensorExt::mul(self, v),
            VarOperand::Scalar(c) => self.mul_scalar(c),
        }
    }

    /// `self / rhs` elementwise (broadcasting), for a divisor of either sign.
    ///
    /// # Errors
    /// As [`Var::add`]; division by the number 0.
    pub fn div<'a>(&self, rhs: impl Into<VarOperand<'a, T>>) -> R<T>
    where
        T: 'a,
    {
        match rhs.into() {
            VarOperand::Var(v) => TensorExt::div(self, v),
            VarOperand::Scalar(0.0) => Err(invalid("div", "division by zero".into())),
            VarOperand::Scalar(c) => self.mul_scalar(1.0 / c),
        }
    }

    /// Sum over `dims` (negative dims count from the back; all if empty).
    ///
    /// # Errors
    /// A dimension out of range.
    pub fn sum(&self, dims: &(impl Dims + ?Sized), keepdim: bool) -> R<T> {
        let dims = dims.resolve_all(self.shape().len(), "sum")?;
        self.reduce(ReduceOp::Sum, &dims, keepdim)
    }

    /// Mean over `dims` (negative dims count from the back; all if empty).
    ///
    /// # Errors
    /// A dimension out of range; for private tensors, network failures.
    pub fn mean(&self, dims: &(impl Dims + ?Sized), keepdim: bool) -> R<T> {
        let dims = dims.resolve_all(self.shape().len(), "mean")?;
        self.reduce(ReduceOp::Mean, &dims, keepdim)
    }

    /// The sum of every element (PyTorch's `x.sum()`), shape `[]`.
    ///
    /// # Errors
    /// As [`Var::sum`].
    pub fn sum_all(&self) -> R<T> {
        self.sum(&[], false)
    }

    /// The mean of every element (PyTorch's `x.mean()`), shape `[]`.
    ///
    /// # Errors
    /// As [`Var::mean`].
    pub fn mean_all(&self) -> R<T> {
        self.mean(&[], false)
    }

    /// The maximum over `dim` (`torch.amax`).
    ///
    /// # Errors
    /// `dim` out of range or empty; for private tensors, network failures.
    pub fn amax(&self, dim: impl Dim, keepdim: bool) -> R<T> {
        let dim = dim.resolve(self.shape().len(), "amax")?;
        self.reduce(ReduceOp::Max, &[dim], keepdim)
    }

    /// Softmax over `dim` (negative counts from the back).
    ///
    /// # Errors
    /// `dim` out of range; for private tensors, network failures.
    pub fn softmax(&self, dim: impl Dim) -> R<T> {
        let dim = dim.resolve(self.shape().len(), "softmax")?;
        self.lane(LaneOp::Softmax, dim)
    }

    /// Log-softmax over `dim` (negative counts from the back).
    ///
    /// # Errors
    /// As [`Var::softmax`].
    pub fn log_softmax(&self, dim: impl Dim) -> R<T> {
        let dim = dim.resolve(self.shape().len(), "log_softmax")?;
        self.lane(LaneOp::LogSoftmax, dim)
    }

    /// Swaps two dimensions (negative count from the back).
    ///
    /// # Errors
    /// A dimension out of range.
    pub fn transpose(&self, d0: impl Dim, d1: impl Dim) -> R<T> {
        let rank = self.shape().len();
        let (d0, d1) = (
            d0.resolve(rank, "transpose")?,
            d1.resolve(rank, "transpose")?,
        );
        TensorExt::transpose(self, d0, d1)
    }

    /// `x^e` for an integer `e` (square-and-multiply; negative: the reciprocal of `x^|e|`),
    /// or `e = ±1/2` (`sqrt`, `1/sqrt`), differentiable as composed.
    ///
    /// # Errors
    /// Any other exponent (a fractional power needs `exp(e·log x)`, which this does not
    /// pick for you); the functions' own errors.
    pub fn pow(&self, e: f64) -> R<T> {
        if e == 0.5 {
            return self.unary(UnaryOp::Sqrt);
        }
        if e == -0.5 {
            return self.unary(UnaryOp::InvSqrt);
        }
        if e.fract() != 0.0 || e.abs() > 64.0 {
            return Err(invalid(
                "pow",
                format!("exponent {e}: integers up to 64 in magnitude and ±0.5 only"),
            ));
        }
        let n = e.abs() as u32;
        if n == 0 {
            return Ok(Var::constant(self.value().ones_like()?));
        }
        // square-and-multiply from the top bit down
        let mut acc = self.clone();
        for bit in (0..31 - n.leading_zeros()).rev() {
            acc = TensorExt::mul(&acc, &acc)?;
            if n >> bit & 1 == 1 {
                acc = TensorExt::mul(&acc, self)?;
            }
        }
        if e < 0.0 {
            acc.unary(UnaryOp::Reciprocal)
        } else {
            Ok(acc)
        }
    }

    /// `min(max(x, lo), hi)` with either bound optional (`torch.clamp`): `x + relu(lo - x) -
    /// relu(x - hi)`, so the gradient is 1 inside the bounds and 0 outside.
    ///
    /// # Errors
    /// `lo > hi`; for private tensors, network failures.
    pub fn clamp(&self, lo: Option<f64>, hi: Option<f64>) -> R<T> {
        if let (Some(l), Some(h)) = (lo, hi)
            && l > h
        {
            return Err(invalid(
                "clamp",
                format!("lower bound {l} above upper bound {h}"),
            ));
        }
        let mut out = self.clone();
        if let Some(l) = lo {
            let below = self.neg()?.add_scalar(l)?.unary(UnaryOp::Relu)?;
            out = TensorExt::add(&out, &below)?;
        }
        if let Some(h) = hi {
            let above = self.add_scalar(-h)?.unary(UnaryOp::Relu)?;
            out = TensorExt::sub(&out, &above)?;
        }
        Ok(out)
    }

    /// `torch.where(self, on_true, on_false)`: `self` is a 0/1 condition (a comparison's
    /// result); `on_false + self · (on_true - on_false)`, so each branch gets the gradient
    /// where it was chosen. (`where` is a Rust keyword.)
    ///
    /// # Errors
    /// Shapes that do not broadcast; for private tensors, network failures.
    pub fn where_cond(&self, on_true: &Var<T>, on_false: &Var<T>) -> R<T> {
        let cond = self.detach();
        let diff = TensorExt::sub(on_true, on_false)?;
        TensorExt::add(on_false, &TensorExt::mul(&cond, &diff)?)
    }

    /// `self > rhs` as 0/1 integers, a constant (no gradient flows through a comparison).
    ///
    /// # Errors
    /// Shapes that do not broadcast; for private tensors, network failures.
    pub fn gt<'a>(&self, rhs: impl Into<VarOperand<'a, T>>) -> R<T>
    where
        T: 'a,
    {
        // [a > b] = 1 - [b - a >= 0]
        one_minus(&self.step_of(rhs, true)?)
    }

    /// `self >= rhs` as 0/1 integers, a constant.
    ///
    /// # Errors
    /// As [`Var::gt`].
    pub fn ge<'a>(&self, rhs: impl Into<VarOperand<'a, T>>) -> R<T>
    where
        T: 'a,
    {
        Ok(Var::constant(self.step_of(rhs, false)?))
    }

    /// `self < rhs` as 0/1 integers, a constant.
    ///
    /// # Errors
    /// As [`Var::gt`].
    pub fn lt<'a>(&self, rhs: impl Into<VarOperand<'a, T>>) -> R<T>
    where
        T: 'a,
    {
        one_minus(&self.step_of(rhs, false)?)
    }

    /// `self <= rhs` as 0/1 integers, a constant.
    ///
    /// # Errors
    /// As [`Var::gt`].
    pub fn le<'a>(&self, rhs: impl Into<VarOperand<'a, T>>) -> R<T>
    where
        T: 'a,
    {
        Ok(Var::constant(self.step_of(rhs, true)?))
    }

    /// `self == rhs` as 0/1 integers, a constant: `[a >= b]·[b >= a]` (two comparisons; a
    /// `CrypTensor` has a cheaper dedicated `eq`).
    ///
    /// # Errors
    /// As [`Var::gt`].
    pub fn eq<'a>(&self, rhs: impl Into<VarOperand<'a, T>>) -> R<T>
    where
        T: 'a,
    {
        let (a, b) = self.operand_values(rhs)?;
        let ge = a.sub(&b)?.unary(UnaryOp::Step)?;
        let le = b.sub(&a)?.unary(UnaryOp::Step)?;
        Ok(Var::constant(ge.mul(&le)?))
    }

    /// `self != rhs` as 0/1 integers, a constant.
    ///
    /// # Errors
    /// As [`Var::gt`].
    pub fn ne<'a>(&self, rhs: impl Into<VarOperand<'a, T>>) -> R<T>
    where
        T: 'a,
    {
        one_minus(self.eq(rhs)?.value())
    }

    /// The values (no graph) of `self` and `rhs`, a number as a tensor of `self`'s kind.
    fn operand_values<'a>(&self, rhs: impl Into<VarOperand<'a, T>>) -> Result<(T, T), T::Error>
    where
        T: 'a,
    {
        let a = self.value().clone();
        let b = match rhs.into() {
            VarOperand::Var(v) => v.value().clone(),
            VarOperand::Scalar(c) => a.new_tensor(&[], &[c])?,
        };
        Ok((a, b))
    }

    /// `[a - b >= 0]`, or `[b - a >= 0]` when `swap`, on the values.
    fn step_of<'a>(&self, rhs: impl Into<VarOperand<'a, T>>, swap: bool) -> Result<T, T::Error>
    where
        T: 'a,
    {
        let (a, b) = self.operand_values(rhs)?;
        let d = if swap { b.sub(&a)? } else { a.sub(&b)? };
        d.unary(UnaryOp::Step)
    }
}

/// `1 - bits` for 0/1 integers, a constant.
fn one_minus<T: TensorOps>(bits: &T) -> R<T> {
    Ok(Var::constant(bits.neg()?.add_scalar(1.0)?))
}

fn invalid<E: From<Error>>(op: &'static str, reason: String) -> E {
    Error::InvalidArgument { op, reason }.into()
}
