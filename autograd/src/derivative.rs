//! The derivative table: `dy/dx` for every [`UnaryOp`], in one `match`.
//!
//! A rule may use the input `x`, the output `y` (so that, e.g., `exp`'s derivative costs no
//! second approximation) and a *companion*: another function of `x` that [`Var`] asks the
//! backend for together with the forward value, while it records
//! ([`tensor::TensorOps::unary_fused`]), because a private backend computes both from one
//! circuit (ReLU and its step from one sign bit, GELU and its derivative from one erf, SiLU
//! from its sigmoid). Outside recording no companion is ever computed, so inference pays for
//! the function alone.
//!
//! [`Var`]: crate::Var

use tensor::{TensorExt, TensorOps, UnaryOp};

/// The function of `x` that `op`'s derivative needs from the forward pass, if any.
pub(crate) fn companion(op: UnaryOp) -> Option<UnaryOp> {
    match op {
        UnaryOp::Relu => Some(UnaryOp::Step),
        UnaryOp::Gelu => Some(UnaryOp::GeluDerivative),
        UnaryOp::Silu | UnaryOp::Softplus => Some(UnaryOp::Sigmoid),
        UnaryOp::Exp
        | UnaryOp::Log
        | UnaryOp::Reciprocal
        | UnaryOp::Sqrt
        | UnaryOp::InvSqrt
        | UnaryOp::Sigmoid
        | UnaryOp::Tanh
        | UnaryOp::Erf
        | UnaryOp::GeluDerivative
        | UnaryOp::Step => None,
    }
}

/// `dy/dx` of `y = op(x)`, given the companion of [`companion`] (present exactly when it
/// names one); `None` where the derivative is zero almost everywhere (the step), so that no
/// gradient flows.
pub(crate) fn derivative<T: TensorOps>(
    op: UnaryOp,
    x: &T,
    y: &T,
    companion: Option<&T>,
) -> Result<Option<T>, T::Error> {
    let c = || {
        companion.cloned().ok_or_else(|| {
            T::Error::from(tensor::Error::InvalidArgument {
                op: "backward",
                reason: format!("{} was recorded without its companion", op.name()),
            })
        })
    };
    let one_minus = |t: &T| t.neg()?.add_scalar(1.0);
    Ok(Some(match op {
        UnaryOp::Exp => y.clone(),
        UnaryOp::Log => x.reciprocal()?,
        // -1/x² = -y²
        UnaryOp::Reciprocal => y.mul(y)?.neg()?,
        // 1/(2√x)
        UnaryOp::Sqrt => x.inv_sqrt()?.mul_scalar(0.5)?,
        // -x^{-3/2}/2 = -y³/2
        UnaryOp::InvSqrt => y.mul(y)?.mul(y)?.mul_scalar(-0.5)?,
        UnaryOp::Sigmoid => y.mul(&one_minus(y)?)?,
        UnaryOp::Tanh => one_minus(&y.mul(y)?)?,
        // 2/√π · e^{-x²}
        UnaryOp::Erf => x
            .mul(x)?
            .neg()?
            .exp()?
            .mul_scalar(std::f64::consts::FRAC_2_SQRT_PI)?,
        UnaryOp::Gelu => c()?,
        // d/dx (Φ + xφ) = φ·(2 - x²)
        UnaryOp::GeluDerivative => {
            let x2 = x.mul(x)?;
            let pdf = x2
                .mul_scalar(-0.5)?
                .exp()?
                .mul_scalar(1.0 / (2.0 * std::f64::consts::PI).sqrt())?;
            pdf.mul(&x2.neg()?.add_scalar(2.0)?)?
        }
        UnaryOp::Relu => c()?,
        UnaryOp::Step => return Ok(None),
        // σ + xσ(1 - σ) = σ·(1 + x(1 - σ))
        UnaryOp::Silu => {
            let s = c()?;
            s.mul(&x.mul(&one_minus(&s)?)?.add_scalar(1.0)?)?
        }
        UnaryOp::Softplus => c()?,
    }))
}
