//! Losses, as `torch.nn`'s: [`MSELoss`], [`L1Loss`], [`CrossEntropyLoss`], [`NLLLoss`],
//! [`BCELoss`], [`BCEWithLogitsLoss`], each with a function form ([`mse_loss`], ...).
//!
//! Class-index targets are given **one-hot** (`[N, C]`, 0/1): a secret label cannot pick a
//! log-probability without revealing it, but its one-hot encoding, shared by the label's
//! owner, selects one with a product that needs no truncation. Public labels become one-hot
//! with [`crate::one_hot`].

use tensor::{TensorExt, TensorOps};

use crate::layers::invalid;

/// How per-element losses are combined, as PyTorch's `reduction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The mean over elements (over samples for the class losses).
    #[default]
    Mean,
    /// The sum.
    Sum,
}

fn same_shape<T: TensorOps>(op: &'static str, a: &T, b: &T) -> Result<(), T::Error> {
    if a.dims() != b.dims() {
        return Err(tensor::Error::ShapeMismatch {
            op,
            lhs: a.dims(),
            rhs: b.dims(),
        }
        .into());
    }
    Ok(())
}

/// Sums `per_element` and, for the mean, divides by `count`.
fn reduce<T: TensorOps>(per_element: &T, r: Reduction, count: usize) -> Result<T, T::Error> {
    let s = per_element.sum(&[], false)?;
    match r {
        Reduction::Sum => Ok(s),
        Reduction::Mean => s.mul_scalar(1.0 / count.max(1) as f64),
    }
}

fn numel<T: TensorOps>(t: &T) -> usize {
    t.dims().iter().product()
}

/// `|x|` as `2·relu(x) - x` (one ReLU; the derivative is 1 at 0).
fn abs<T: TensorOps>(x: &T) -> Result<T, T::Error> {
    x.relu()?.mul_scalar(2.0)?.sub(x)
}

/// Mean (or sum) of squared differences, as `torch.nn.MSELoss`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MSELoss {
    /// How the elements are combined.
    pub reduction: Reduction,
}

impl MSELoss {
    /// The loss of `pred` against `target` (same shapes).
    ///
    /// # Errors
    /// Shapes that differ; for private tensors, network failures.
    pub fn forward<T: TensorOps>(&self, pred: &T, target: &T) -> Result<T, T::Error> {
        same_shape("mse_loss", pred, target)?;
        let d = pred.sub(target)?;
        reduce(&d.mul(&d)?, self.reduction, numel(pred))
    }
}

/// Mean squared error over all elements, as `torch.nn.functional.mse_loss`.
///
/// # Errors
/// Shapes that do not match; for private tensors, network failures.
pub fn mse_loss<T: TensorOps>(pred: &T, target: &T) -> Result<T, T::Error> {
    MSELoss::default().forward(pred, target)
}

/// Mean (or sum) of absolute differences, as `torch.nn.L1Loss` (`|d| = 2·relu(d) - d`, one
/// ReLU).
#[derive(Debug, Clone, Copy, Default)]
pub struct L1Loss {
    /// How the elements are combined.
    pub reduction: Reduction,
}

impl L1Loss {
    /// The loss of `pred` against `target` (same shapes).
    ///
    /// # Errors
    /// Shapes that differ; for private tensors, network failures.
    pub fn forward<T: TensorOps>(&self, pred: &T, target: &T) -> Result<T, T::Error> {
        same_shape("l1_loss", pred, target)?;
        reduce(&abs(&pred.sub(target)?)?, self.reduction, numel(pred))
    }
}

/// Mean absolute error, as `torch.nn.functional.l1_loss`.
///
/// # Errors
/// As [`L1Loss::forward`].
pub fn l1_loss<T: TensorOps>(pred: &T, target: &T) -> Result<T, T::Error> {
    L1Loss::default().forward(pred, target)
}

/// Checks `[N, C]` scores against a `[N, C]` one-hot target.
fn class_shapes<T: TensorOps>(op: &'static str, scores: &T, target: &T) -> Result<usize, T::Error> {
    let s = scores.dims();
    if s.len() != 2 || target.dims() != s {
        return Err(invalid(
            op,
            format!(
                "needs scores [N, C] and a one-hot target of the same shape, got {s:?} and {:?}",
                target.dims()
            ),
        ));
    }
    Ok(s[0])
}

/// Negative log-likelihood of log-probabilities `[N, C]` at one-hot targets `[N, C]`, as
/// `torch.nn.NLLLoss` (class-index targets, given one-hot).
#[derive(Debug, Clone, Copy, Default)]
pub struct NLLLoss {
    /// Mean over samples, or sum.
    pub reduction: Reduction,
}

impl NLLLoss {
    /// `-Σ_c target·log_probs`, reduced over samples.
    ///
    /// # Errors
    /// Shapes other than `[N, C]` and `[N, C]`; network failures.
    pub fn forward<T: TensorOps>(&self, log_probs: &T, target: &T) -> Result<T, T::Error> {
        let n = class_shapes("nll_loss", log_probs, target)?;
        reduce(&log_probs.mul(target)?.neg()?, self.reduction, n)
    }
}

/// Negative log-likelihood, mean over samples (see [`NLLLoss`]).
///
/// # Errors
/// As [`NLLLoss::forward`].
pub fn nll_loss<T: TensorOps>(log_probs: &T, target: &T) -> Result<T, T::Error> {
    NLLLoss::default().forward(log_probs, target)
}

/// Cross-entropy of logits `[N, C]` against one-hot class targets `[N, C]`, as
/// `torch.nn.CrossEntropyLoss` with class-index targets: `NLLLoss(log_softmax(x, 1))`.
///
/// Its gradient with respect to the logits is `softmax(x) - target` (over `N` for the mean);
/// on secret shares the log-softmax is `mpc`'s (max subtraction, `exp`, `log`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CrossEntropyLoss {
    /// Mean over samples, or sum.
    pub reduction: Reduction,
}

impl CrossEntropyLoss {
    /// The loss of `logits` against one-hot `target`.
    ///
    /// # Errors
    /// Shapes other than `[N, C]` and `[N, C]`; network failures.
    pub fn forward<T: TensorOps>(&self, logits: &T, target: &T) -> Result<T, T::Error> {
        class_shapes("cross_entropy", logits, target)?;
        NLLLoss {
            reduction: self.reduction,
        }
        .forward(&logits.log_softmax(1)?, target)
    }

    /// The loss against public class indices (one-hot encoded here).
    ///
    /// # Errors
    /// An index out of range; as [`CrossEntropyLoss::forward`].
    pub fn forward_indices<T: TensorOps>(
        &self,
        logits: &T,
        labels: &[usize],
    ) -> Result<T, T::Error> {
        let c = logits.dims().get(1).copied().unwrap_or(0);
        self.forward(logits, &crate::layers::one_hot(logits, labels, c)?)
    }
}

/// Cross-entropy, mean over samples (see [`CrossEntropyLoss`]).
///
/// # Errors
/// As [`CrossEntropyLoss::forward`].
pub fn cross_entropy<T: TensorOps>(logits: &T, target: &T) -> Result<T, T::Error> {
    CrossEntropyLoss::default().forward(logits, target)
}

/// Binary cross-entropy of probabilities against targets in `[0, 1]`, as `torch.nn.BCELoss`:
/// `-(y·log p + (1 - y)·log(1 - p))`.
///
/// The two logarithms are taken in one call. On secret shares `log` is accurate on
/// `[0.01, 100]`, so probabilities should stay in `[0.01, 0.99]` (PyTorch clamps `log` at -100
/// instead); prefer [`BCEWithLogitsLoss`], which has no such limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct BCELoss {
    /// How the elements are combined.
    pub reduction: Reduction,
}

impl BCELoss {
    /// The loss of probabilities `p` against targets `y` (same shapes).
    ///
    /// # Errors
    /// Shapes that differ; probabilities outside `(0, 1)` (plaintext); network failures.
    pub fn forward<T: TensorOps>(&self, p: &T, y: &T) -> Result<T, T::Error> {
        same_shape("bce_loss", p, y)?;
        let n = numel(p);
        let flat = [n];
        let q = p.neg()?.add_scalar(1.0)?;
        let logs = T::concat(&[&p.reshape(&flat)?, &q.reshape(&flat)?], 0)?.log()?;
        let (log_p, log_q) = (logs.narrow(0, 0, n)?, logs.narrow(0, n, n)?);
        let y = y.reshape(&flat)?;
        let one_minus_y = y.neg()?.add_scalar(1.0)?;
        let ll = y.mul(&log_p)?.add(&one_minus_y.mul(&log_q)?)?;
        reduce(&ll.neg()?, self.reduction, n)
    }
}

/// Binary cross-entropy, mean (see [`BCELoss`]).
///
/// # Errors
/// As [`BCELoss::forward`].
pub fn bce_loss<T: TensorOps>(p: &T, y: &T) -> Result<T, T::Error> {
    BCELoss::default().forward(p, y)
}

/// Binary cross-entropy on logits, as `torch.nn.BCEWithLogitsLoss`, in the stable form
/// `relu(x) - x·y + log(1 + e^{-|x|})`, with `|x|` clamped at 16 inside the exponential
/// (`e^-16` is below the 16-bit grid). On secret shares: two ReLUs, `exp` on `[-16, 0]` and
/// `log` on `[1, 2]`, all inside their accurate domains, for any logit. Its gradient is
/// `sigmoid(x) - y`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BCEWithLogitsLoss {
    /// How the elements are combined.
    pub reduction: Reduction,
}

impl BCEWithLogitsLoss {
    /// The loss of logits `x` against targets `y` (same shapes).
    ///
    /// # Errors
    /// Shapes that differ; network failures.
    pub fn forward<T: TensorOps>(&self, x: &T, y: &T) -> Result<T, T::Error> {
        same_shape("bce_with_logits", x, y)?;
        let relu = x.relu()?;
        let abs = relu.mul_scalar(2.0)?.sub(x)?;
        // min(|x|, 16) = |x| - relu(|x| - 16)
        let clamped = abs.sub(&abs.add_scalar(-16.0)?.relu()?)?;
        let softplus = clamped.neg()?.exp()?.add_scalar(1.0)?.log()?;
        let per = relu.sub(&x.mul(y)?)?.add(&softplus)?;
        reduce(&per, self.reduction, numel(x))
    }
}

/// Binary cross-entropy on logits, mean (see [`BCEWithLogitsLoss`]).
///
/// # Errors
/// As [`BCEWithLogitsLoss::forward`].
pub fn bce_with_logits<T: TensorOps>(x: &T, y: &T) -> Result<T, T::Error> {
    BCEWithLogitsLoss::default().forward(x, y)
}
