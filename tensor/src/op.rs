//! Op kinds: the functions of the op contract as enums, in the manner of candle's `op.rs`.
//!
//! A backend implements one method per *kind* of op ([`crate::TensorOps::unary`],
//! [`crate::TensorOps::binary`], [`crate::TensorOps::reduce`], [`crate::TensorOps::lane`]) and
//! dispatches on the enum; a new function is one variant here, its formula in
//! [`UnaryOp::eval`] (which both plaintext backends use, so they cannot disagree) and its
//! PyTorch-named method on [`TensorExt`], its private
//! approximation (crate `mpc`), one row of autograd's derivative table, and, where a layer is
//! wanted, one `nn` module.
//!
//! The enums are exhaustive on purpose: adding a variant stops every backend and the
//! derivative table from compiling until they handle it, so no function is ever silently
//! missing a private implementation or a gradient.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

use crate::error::Error;
use crate::ops::TensorOps;

/// Where a function is defined on the reals. Plaintext backends reject inputs outside it
/// with an error naming the function; private backends document their own (narrower)
/// domains, see `mpc::approx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// Every real.
    All,
    /// `x > 0`.
    Positive,
    /// `x ≥ 0`.
    NonNegative,
    /// `x ≠ 0`.
    NonZero,
}

impl Domain {
    /// Whether `x` lies in the domain.
    pub fn contains(self, x: f64) -> bool {
        match self {
            Domain::All => true,
            Domain::Positive => x > 0.0,
            Domain::NonNegative => x >= 0.0,
            Domain::NonZero => x != 0.0,
        }
    }
}

/// Elementwise functions of one tensor.
///
/// The private domains named below are those of the default `mpc::approx::ApproxConfig`
/// (measured errors in `docs/accuracy.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnaryOp {
    /// `e^x`. Private: accurate on `[-16, 8]` (see `mpc::approx`; clamp very negative inputs).
    Exp,
    /// Natural logarithm, `x > 0`. Private: every positive input the format represents.
    Log,
    /// `1/x`, `x ≠ 0`. Private: every nonzero input, either sign.
    Reciprocal,
    /// `√x`, `x ≥ 0`. Private: every non-negative input.
    Sqrt,
    /// `1/√x`, `x > 0`. Private: every positive input.
    InvSqrt,
    /// The logistic function `1/(1 + e^{-x})`. Private: every input.
    Sigmoid,
    /// Hyperbolic tangent. Private: `|x| < 2^46`.
    Tanh,
    /// The error function. Private: every input (clamped to `[-4, 4]`, where erf is ±1 to
    /// within the fixed-point step).
    Erf,
    /// GELU `x·Φ(x)`, the exact (erf) form as `torch.nn.GELU()`. Private: `[-8, 8]`, then
    /// saturating to ReLU.
    Gelu,
    /// GELU's derivative `Φ(x) + x·φ(x)` (Φ, φ the standard normal CDF and density). A
    /// function in its own right so that autograd can ask for it together with
    /// [`UnaryOp::Gelu`] ([`crate::TensorOps::unary_fused`]) and a private backend can share
    /// the erf between the two.
    GeluDerivative,
    /// `max(x, 0)`. Exact on every backend.
    Relu,
    /// The Heaviside step `[x ≥ 0]` (`torch.heaviside(x, 1)`): 0/1 integers (scale 1) on the
    /// ring, `0.0`/`1.0` in `f64`. ReLU's derivative (taking 1 at 0); exact.
    Step,
    /// SiLU (swish) `x·σ(x)`, as `torch.nn.SiLU`. Private: every input.
    Silu,
    /// Softplus `ln(1 + e^x)`, as `torch.nn.Softplus()` (β = 1), computed as
    /// `max(x, 0) + ln(1 + e^{-|x|})` so that it never overflows. Private: every input.
    Softplus,
}

impl UnaryOp {
    /// Every unary op, in declaration order (for tables and tests).
    pub const ALL: [UnaryOp; 14] = [
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Reciprocal,
        UnaryOp::Sqrt,
        UnaryOp::InvSqrt,
        UnaryOp::Sigmoid,
        UnaryOp::Tanh,
        UnaryOp::Erf,
        UnaryOp::Gelu,
        UnaryOp::GeluDerivative,
        UnaryOp::Relu,
        UnaryOp::Step,
        UnaryOp::Silu,
        UnaryOp::Softplus,
    ];

    /// The name used in errors and tables (PyTorch's where it has one).
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Reciprocal => "reciprocal",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::InvSqrt => "inv_sqrt",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Erf => "erf",
            UnaryOp::Gelu => "gelu",
            UnaryOp::GeluDerivative => "gelu_derivative",
            UnaryOp::Relu => "relu",
            UnaryOp::Step => "step",
            UnaryOp::Silu => "silu",
            UnaryOp::Softplus => "softplus",
        }
    }

    /// The plaintext domain.
    pub fn domain(self) -> Domain {
        match self {
            UnaryOp::Log | UnaryOp::InvSqrt => Domain::Positive,
            UnaryOp::Sqrt => Domain::NonNegative,
            UnaryOp::Reciprocal => Domain::NonZero,
            _ => Domain::All,
        }
    }

    /// Whether the result is a 0/1 integer (scale 1 on the ring), not a real.
    pub fn is_indicator(self) -> bool {
        matches!(self, UnaryOp::Step)
    }

    /// The function in `f64`: the one formula table that both plaintext backends
    /// (`RingTensor` through `f64`, `FloatTensor` directly) use. `NaN` outside
    /// [`UnaryOp::domain`].
    pub fn eval(self, x: f64) -> f64 {
        if !self.domain().contains(x) {
            return f64::NAN;
        }
        match self {
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Reciprocal => 1.0 / x,
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::InvSqrt => 1.0 / x.sqrt(),
            UnaryOp::Sigmoid => sigmoid(x),
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Erf => erf(x),
            UnaryOp::Gelu => x * normal_cdf(x),
            UnaryOp::GeluDerivative => normal_cdf(x) + x * normal_pdf(x),
            UnaryOp::Relu => x.max(0.0),
            UnaryOp::Step => f64::from(u8::from(x >= 0.0)),
            UnaryOp::Silu => x * sigmoid(x),
            UnaryOp::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
        }
    }
}

/// Elementwise functions of two tensors, with broadcasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `x + y`. Exact.
    Add,
    /// `x - y`. Exact.
    Sub,
    /// `x · y` (fixed point: rescaled by the smaller operand scale).
    Mul,
    /// `x / y` for a divisor of either sign. Private: `|y|` in `[0.01, 100]`.
    Div,
}

impl BinaryOp {
    /// The name used in errors.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
        }
    }

    /// The function in `f64` (`NaN`-free: a zero divisor gives an infinity, which plaintext
    /// backends reject).
    pub fn eval(self, x: f64, y: f64) -> f64 {
        match self {
            BinaryOp::Add => x + y,
            BinaryOp::Sub => x - y,
            BinaryOp::Mul => x * y,
            BinaryOp::Div => x / y,
        }
    }
}

/// Reductions over dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// Sum (over all dimensions when none are listed). Local on shares.
    Sum,
    /// Mean (over all dimensions when none are listed).
    Mean,
    /// Maximum (`torch.amax`), over exactly one dimension; a comparison tree on shares.
    Max,
}

impl ReduceOp {
    /// The name used in errors.
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Mean => "mean",
            ReduceOp::Max => "amax",
        }
    }
}

/// Functions of a whole lane (all elements along one dimension) to a lane of the same length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LaneOp {
    /// `e^{x_i} / Σ_j e^{x_j}`, with the maximum subtracted first.
    Softmax,
    /// `x_i - ln Σ_j e^{x_j}`, with the maximum subtracted first.
    LogSoftmax,
}

impl LaneOp {
    /// The name used in errors.
    pub fn name(self) -> &'static str {
        match self {
            LaneOp::Softmax => "softmax",
            LaneOp::LogSoftmax => "log_softmax",
        }
    }

    /// The function on one lane in `f64` (both plaintext backends use it).
    pub fn eval(self, lane: &[f64]) -> Vec<f64> {
        let m = lane.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        match self {
            LaneOp::Softmax => {
                let e: Vec<f64> = lane.iter().map(|x| (x - m).exp()).collect();
                let s: f64 = e.iter().sum();
                e.into_iter().map(|v| v / s).collect()
            }
            LaneOp::LogSoftmax => {
                let ls = lane.iter().map(|x| (x - m).exp()).sum::<f64>().ln() + m;
                lane.iter().map(|x| x - ls).collect()
            }
        }
    }
}

/// The PyTorch-named methods, for every [`TensorOps`] type: each is one op kind of the
/// contract, so there is exactly one implementation of each function per backend.
pub trait TensorExt: TensorOps {
    /// Elementwise sum (broadcasting).
    ///
    /// # Errors
    /// Shapes that do not broadcast; network failures.
    fn add(&self, rhs: &Self) -> Result<Self, Self::Error> {
        self.binary(BinaryOp::Add, rhs)
    }
    /// Elementwise difference.
    ///
    /// # Errors
    /// As [`TensorExt::add`].
    fn sub(&self, rhs: &Self) -> Result<Self, Self::Error> {
        self.binary(BinaryOp::Sub, rhs)
    }
    /// Elementwise fixed-point product.
    ///
    /// # Errors
    /// As [`TensorExt::add`].
    fn mul(&self, rhs: &Self) -> Result<Self, Self::Error> {
        self.binary(BinaryOp::Mul, rhs)
    }
    /// `self / rhs` elementwise, for a divisor of either sign.
    ///
    /// # Errors
    /// As [`TensorExt::add`]; a zero divisor (plaintext).
    fn div(&self, rhs: &Self) -> Result<Self, Self::Error> {
        self.binary(BinaryOp::Div, rhs)
    }
    /// Sum over `dims` (all if empty).
    ///
    /// # Errors
    /// Invalid dimensions.
    fn sum(&self, dims: &[usize], keepdim: bool) -> Result<Self, Self::Error> {
        self.reduce(ReduceOp::Sum, dims, keepdim)
    }
    /// Mean over `dims` (all if empty).
    ///
    /// # Errors
    /// Invalid dimensions; network failures.
    fn mean(&self, dims: &[usize], keepdim: bool) -> Result<Self, Self::Error> {
        self.reduce(ReduceOp::Mean, dims, keepdim)
    }
    /// The maximum over `dim` without its position (`torch.amax`).
    ///
    /// # Errors
    /// `dim` out of range or empty; network failures.
    fn amax(&self, dim: usize, keepdim: bool) -> Result<Self, Self::Error> {
        self.reduce(ReduceOp::Max, &[dim], keepdim)
    }
    /// Swaps two dimensions.
    ///
    /// # Errors
    /// Dimensions out of range.
    fn transpose(&self, d0: usize, d1: usize) -> Result<Self, Self::Error> {
        let rank = self.dims().len();
        if d0 >= rank || d1 >= rank {
            return Err(Error::InvalidDim {
                op: "transpose",
                dim: d0.max(d1),
                rank,
            }
            .into());
        }
        let mut perm: Vec<usize> = (0..rank).collect();
        perm.swap(d0, d1);
        self.permute(&perm)
    }
    /// `e^x`.
    ///
    /// # Errors
    /// As [`TensorOps::unary`].
    fn exp(&self) -> Result<Self, Self::Error> {
        self.unary(UnaryOp::Exp)
    }
    /// Natural logarithm.
    ///
    /// # Errors
    /// As [`TensorOps::unary`].
    fn log(&self) -> Result<Self, Self::Error> {
        self.unary(UnaryOp::Log)
    }
    /// `1/x`.
    ///
    /// # Errors
    /// As [`TensorOps::unary`].
    fn reciprocal(&self) -> Result<Self, Self::Error> {
        self.unary(UnaryOp::Reciprocal)
    }
    /// `√x`.
    ///
    /// # Errors
    /// As [`TensorOps::unary`].
    fn sqrt(&self) -> Result<Self, Self::Error> {
        self.unary(UnaryOp::Sqrt)
    }
    /// `1/√x`.
    ///
    /// # Errors
    /// As [`TensorOps::unary`].
    fn inv_sqrt(&self) -> Result<Self, Self::Error> {
        self.unary(UnaryOp::InvSqrt)
    }
    /// The logistic function.
    ///
    /// # Errors
    /// As [`TensorOps::unary`].
    fn sigmoid(&self) -> Result<Self, Self::Error> {
        self.unary(UnaryOp::Sigmoid)
    }
    /// Hyperbolic tangent.
    ///
    /// # Errors
    /// As [`TensorOps::unary`].
    fn tanh(&self) -> Result<Self, Self::Error> {
        self.unary(UnaryOp::Tanh)
    }
    /// The error function.
    ///
    /// # Errors
    /// As [`TensorOps::unary`].
    fn erf(&self) -> Result<Self, Self::Error> {
        self.unary(UnaryOp::Erf)
    }
    /// GELU, exact (erf) form.
    ///
    /// # Errors
    /// As [`TensorOps::unary`].
    fn gelu(&self) -> Result<Self, Self::Error> {
        self.unary(UnaryOp::Gelu)
    }
    /// `max(x, 0)`.
    ///
    /// # Errors
    /// As [`TensorOps::unary`].
    fn relu(&self) -> Result<Self, Self::Error> {
        self.unary(UnaryOp::Relu)
    }
    /// SiLU `x·σ(x)`.
    ///
    /// # Errors
    /// As [`TensorOps::unary`].
    fn silu(&self) -> Result<Self, Self::Error> {
        self.unary(UnaryOp::Silu)
    }
    /// Softplus `ln(1 + e^x)`.
    ///
    /// # Errors
    /// As [`TensorOps::unary`].
    fn softplus(&self) -> Result<Self, Self::Error> {
        self.unary(UnaryOp::Softplus)
    }
    /// Softmax over `dim`.
    ///
    /// # Errors
    /// As [`TensorOps::lane`].
    fn softmax(&self, dim: usize) -> Result<Self, Self::Error> {
        self.lane(LaneOp::Softmax, dim)
    }
    /// Log-softmax over `dim`.
    ///
    /// # Errors
    /// As [`TensorOps::lane`].
    fn log_softmax(&self, dim: usize) -> Result<Self, Self::Error> {
        self.lane(LaneOp::LogSoftmax, dim)
    }
}

impl<T: TensorOps> TensorExt for T {}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `Φ(x)`, the standard normal CDF.
fn normal_cdf(x: f64) -> f64 {
    0.5 * (1.0 + erf(x * FRAC_1_SQRT_2))
}

/// `φ(x)`, the standard normal density.
fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * PI).sqrt()
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
    2.0 / PI.sqrt() * (-x2).exp() * sum
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn formulas_match_their_textbook_forms() {
        let sp = |x: f64| (1.0 + x.exp()).ln();
        for x in [-30.0, -3.0, -0.5, 0.0, 0.25, 2.0, 30.0] {
            assert!(
                (UnaryOp::Softplus.eval(x) - sp(x)).abs() < 1e-12,
                "softplus({x})"
            );
            let silu = x / (1.0 + (-x).exp());
            assert!((UnaryOp::Silu.eval(x) - silu).abs() < 1e-12, "silu({x})");
        }
        // no overflow where the textbook form overflows
        assert_eq!(UnaryOp::Softplus.eval(1000.0), 1000.0);
        assert_eq!(UnaryOp::Softplus.eval(-1000.0), 0.0);
        assert!(UnaryOp::Log.eval(0.0).is_nan() && UnaryOp::Sqrt.eval(-1.0).is_nan());
        assert_eq!(UnaryOp::Step.eval(0.0), 1.0);
        assert_eq!(UnaryOp::Step.eval(-1e-9), 0.0);
    }

    /// The derivative op is the derivative of GELU (central differences).
    #[test]
    fn gelu_derivative_is_the_derivative_of_gelu() {
        for x in [-4.0, -1.0, -0.1, 0.0, 0.7, 3.0] {
            let h = 1e-5;
            let fd = (UnaryOp::Gelu.eval(x + h) - UnaryOp::Gelu.eval(x - h)) / (2.0 * h);
            assert!(
                (fd - UnaryOp::GeluDerivative.eval(x)).abs() < 1e-8,
                "x = {x}"
            );
        }
    }

    #[test]
    fn every_op_has_a_distinct_name() {
        let mut names: Vec<&str> = UnaryOp::ALL.iter().map(|op| op.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), UnaryOp::ALL.len());
    }
}
