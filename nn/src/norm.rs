//! Normalisation layers: [`BatchNorm`] (1-D and 2-D) and [`LayerNorm`].
//!
//! Both divide by `√(var + eps)` through `inv_sqrt`. On secret shares that is the Newton
//! iteration of `mpc::approx`, accurate on `[0.01, 100]`: a variance below about `0.01 - eps`
//! makes it underestimate `1/√·` (see `CrypTensor::inv_sqrt_with`), so private inputs to a
//! normalisation should have a variance of at least 0.01 in each normalised group (true of
//! typical activations; a PyTorch `eps` of 1e-5 is below the 16-bit grid's 1.5e-5 anyway).

use std::cell::RefCell;

use tensor::{RingTensor, TensorExt, TensorOps};

use crate::layers::{invalid, map_opt};
use crate::module::{MapParams, Module, Role};

/// Batch normalisation over every dimension but the channel dimension 1, as
/// `torch.nn.BatchNorm1d` (`[N, C]` or `[N, C, L]`) and `torch.nn.BatchNorm2d`
/// (`[N, C, H, W]`).
///
/// Training mode normalises with the batch's mean and biased variance and updates the running
/// statistics (`running = (1 - momentum)·running + momentum·batch`, with the unbiased variance,
/// as PyTorch); evaluation mode normalises with the running statistics. The running statistics
/// are buffers: saved and loaded, shared like the parameters, never trained. PyTorch's
/// `num_batches_tracked` is not kept (it only matters for `momentum=None`).
#[derive(Debug)]
pub struct BatchNorm<T> {
    /// Scale `[C]` (`None`: `affine=False`).
    pub weight: Option<T>,
    /// Shift `[C]`.
    pub bias: Option<T>,
    /// Added to the variance (PyTorch's default 1e-5).
    pub eps: f64,
    /// Weight of the newest batch in the running statistics (PyTorch's default 0.1).
    pub momentum: f64,
    running_mean: RefCell<T>,
    running_var: RefCell<T>,
    /// Input ranks accepted (`[2, 3]` for 1-D, `[4]` for 2-D).
    ranks: &'static [usize],
    training: bool,
}

/// `torch.nn.BatchNorm1d`.
pub type BatchNorm1d<T> = BatchNorm<T>;
/// `torch.nn.BatchNorm2d`.
pub type BatchNorm2d<T> = BatchNorm<T>;

impl<T: TensorOps> BatchNorm<T> {
    fn with_ranks(
        weight: Option<T>,
        bias: Option<T>,
        running_mean: T,
        running_var: T,
        ranks: &'static [usize],
    ) -> Self {
        Self {
            weight,
            bias,
            eps: 1e-5,
            momentum: 0.1,
            running_mean: RefCell::new(running_mean),
            running_var: RefCell::new(running_var),
            ranks,
            training: true,
        }
    }

    /// 1-D batch norm over `[N, C]` or `[N, C, L]` with the given tensors (all `[C]`).
    pub fn new_1d(weight: Option<T>, bias: Option<T>, running_mean: T, running_var: T) -> Self {
        Self::with_ranks(weight, bias, running_mean, running_var, &[2, 3])
    }

    /// 2-D batch norm over `[N, C, H, W]` with the given tensors (all `[C]`).
    pub fn new_2d(weight: Option<T>, bias: Option<T>, running_mean: T, running_var: T) -> Self {
        Self::with_ranks(weight, bias, running_mean, running_var, &[4])
    }

    /// The running mean `[C]`.
    pub fn running_mean(&self) -> T {
        self.running_mean.borrow().clone()
    }

    /// The running variance `[C]`.
    pub fn running_var(&self) -> T {
        self.running_var.borrow().clone()
    }

    /// Whether the layer is in training mode.
    pub fn is_training(&self) -> bool {
        self.training
    }
}

impl BatchNorm<RingTensor> {
    /// A plaintext 1-D layer as PyTorch initialises it: weight 1, bias 0, running mean 0,
    /// running variance 1.
    ///
    /// # Errors
    /// Never for valid sizes; fallible for uniformity.
    pub fn init_1d(channels: usize) -> tensor::Result<Self> {
        let [w, b, m, v] = fresh_stats(channels)?;
        Ok(Self::new_1d(Some(w), Some(b), m, v))
    }

    /// A plaintext 2-D layer as PyTorch initialises it.
    ///
    /// # Errors
    /// Never for valid sizes; fallible for uniformity.
    pub fn init_2d(channels: usize) -> tensor::Result<Self> {
        let [w, b, m, v] = fresh_stats(channels)?;
        Ok(Self::new_2d(Some(w), Some(b), m, v))
    }
}

/// Weight 1, bias 0, mean 0, variance 1, all `[c]`.
fn fresh_stats(c: usize) -> tensor::Result<[RingTensor; 4]> {
    let f = tensor::DEFAULT_FRAC_BITS;
    let ones = RingTensor::from_f64(&[c], &vec![1.0; c], f)?;
    let zeros = RingTensor::zeros(&[c], f);
    Ok([ones.clone(), zeros.clone(), zeros, ones])
}

impl<T: TensorOps> Module<T> for BatchNorm<T> {
    fn forward(&self, x: &T) -> Result<T, T::Error> {
        let s = x.dims();
        let c = self.running_mean.borrow().dims();
        if !self.ranks.contains(&s.len()) || c.len() != 1 || s[1] != c[0] {
            return Err(invalid(
                "batch_norm",
                format!(
                    "needs an input of rank {:?} with {} channels in dimension 1, got {s:?}",
                    self.ranks,
                    c.first().copied().unwrap_or(0)
                ),
            ));
        }
        // statistics are [1, C, 1, ...] so that they broadcast against the input
        let mut stat_shape = vec![1; s.len()];
        stat_shape[1] = s[1];
        let dims: Vec<usize> = (0..s.len()).filter(|&d| d != 1).collect();
        let (centred, var) = if self.training {
            let count: usize = dims.iter().map(|&d| s[d]).product();
            if count < 2 {
                return Err(invalid(
                    "batch_norm",
                    format!("training needs more than one value per channel, got {s:?}"),
                ));
            }
            let mean = x.mean(&dims, true)?;
            let centred = x.sub(&mean)?;
            let var = centred.mul(&centred)?.mean(&dims, true)?;
            let m = self.momentum;
            let update = |running: &RefCell<T>, batch: T| -> Result<(), T::Error> {
                let next = running
                    .borrow()
                    .mul_scalar(1.0 - m)?
                    .add(&batch.reshape(&c)?.detach().mul_scalar(m)?)?;
                *running.borrow_mut() = next;
                Ok(())
            };
            update(&self.running_mean, mean)?;
            let unbiased = var.mul_scalar(count as f64 / (count - 1) as f64)?;
            update(&self.running_var, unbiased)?;
            (centred, var)
        } else {
            let mean = self.running_mean.borrow().reshape(&stat_shape)?;
            let var = self.running_var.borrow().reshape(&stat_shape)?;
            (x.sub(&mean)?, var)
        };
        let normed = centred.mul(&var.add_scalar(self.eps)?.inv_sqrt()?)?;
        affine(normed, &self.weight, &self.bias, &stat_shape)
    }
    fn named_parameters(&self) -> Vec<(String, &T)> {
        optional_affine(&self.weight, &self.bias)
    }
    fn named_parameters_mut(&mut self) -> Vec<(String, &mut T)> {
        let mut out = Vec::new();
        if let Some(w) = self.weight.as_mut() {
            out.push(("weight".to_string(), w));
        }
        if let Some(b) = self.bias.as_mut() {
            out.push(("bias".to_string(), b));
        }
        out
    }
    fn named_buffers(&self) -> Vec<(String, T)> {
        vec![
            ("running_mean".to_string(), self.running_mean()),
            ("running_var".to_string(), self.running_var()),
        ]
    }
    fn named_buffers_mut(&mut self) -> Vec<(String, &mut T)> {
        vec![
            ("running_mean".to_string(), self.running_mean.get_mut()),
            ("running_var".to_string(), self.running_var.get_mut()),
        ]
    }
    fn train(&mut self, on: bool) {
        self.training = on;
    }
}

impl<T: TensorOps> MapParams<T> for BatchNorm<T> {
    type Mapped<U: TensorOps + 'static> = BatchNorm<U>;
    fn try_map<U, E>(
        &self,
        f: &mut dyn FnMut(&str, Role, &T) -> Result<U, E>,
    ) -> Result<BatchNorm<U>, E>
    where
        U: TensorOps + 'static,
        E: From<tensor::Error>,
    {
        let weight = map_opt(&self.weight, "weight", f)?;
        let bias = map_opt(&self.bias, "bias", f)?;
        let mean = f("running_mean", Role::Buffer, &self.running_mean.borrow())?;
        let var = f("running_var", Role::Buffer, &self.running_var.borrow())?;
        let mut out = BatchNorm::with_ranks(weight, bias, mean, var, self.ranks);
        out.eps = self.eps;
        out.momentum = self.momentum;
        out.training = self.training;
        Ok(out)
    }
}

/// `x·w + b` with `w` and `b` reshaped to `shape` (either optional).
fn affine<T: TensorOps>(
    x: T,
    weight: &Option<T>,
    bias: &Option<T>,
    shape: &[usize],
) -> Result<T, T::Error> {
    let x = match weight {
        Some(w) => x.mul(&w.reshape(shape)?)?,
        None => x,
    };
    match bias {
        Some(b) => x.add(&b.reshape(shape)?),
        None => Ok(x),
    }
}

fn optional_affine<'a, T>(weight: &'a Option<T>, bias: &'a Option<T>) -> Vec<(String, &'a T)> {
    weight
        .as_ref()
        .map(|w| ("weight".to_string(), w))
        .into_iter()
        .chain(bias.as_ref().map(|b| ("bias".to_string(), b)))
        .collect()
}

/// Layer normalisation over the last dimensions, as `torch.nn.LayerNorm(normalized_shape)`:
/// each sample is normalised with its own mean and biased variance over those dimensions,
/// then scaled and shifted elementwise. The same in training and evaluation.
#[derive(Clone, Debug)]
pub struct LayerNorm<T> {
    /// The trailing shape normalised over.
    pub normalized_shape: Vec<usize>,
    /// Elementwise scale of `normalized_shape` (`None`: `elementwise_affine=False`).
    pub weight: Option<T>,
    /// Elementwise shift of `normalized_shape`.
    pub bias: Option<T>,
    /// Added to the variance (PyTorch's default 1e-5).
    pub eps: f64,
}

impl<T: TensorOps> LayerNorm<T> {
    /// A layer over `normalized_shape` with the given affine tensors.
    pub fn new(normalized_shape: &[usize], weight: Option<T>, bias: Option<T>) -> Self {
        Self {
            normalized_shape: normalized_shape.to_vec(),
            weight,
            bias,
            eps: 1e-5,
        }
    }
}

impl LayerNorm<RingTensor> {
    /// A plaintext layer as PyTorch initialises it: weight 1, bias 0.
    ///
    /// # Errors
    /// Never for valid sizes; fallible for uniformity.
    pub fn init(normalized_shape: &[usize]) -> tensor::Result<Self> {
        let n: usize = normalized_shape.iter().product();
        let f = tensor::DEFAULT_FRAC_BITS;
        let ones = RingTensor::from_f64(normalized_shape, &vec![1.0; n], f)?;
        let zeros = RingTensor::zeros(normalized_shape, f);
        Ok(Self::new(normalized_shape, Some(ones), Some(zeros)))
    }
}

impl<T: TensorOps> Module<T> for LayerNorm<T> {
    fn forward(&self, x: &T) -> Result<T, T::Error> {
        let s = x.dims();
        let k = self.normalized_shape.len();
        if k == 0 || s.len() < k || s[s.len() - k..] != self.normalized_shape[..] {
            return Err(invalid(
                "layer_norm",
                format!(
                    "input {s:?} does not end with the normalised shape {:?}",
                    self.normalized_shape
                ),
            ));
        }
        let dims: Vec<usize> = (s.len() - k..s.len()).collect();
        let mean = x.mean(&dims, true)?;
        let centred = x.sub(&mean)?;
        let var = centred.mul(&centred)?.mean(&dims, true)?;
        let normed = centred.mul(&var.add_scalar(self.eps)?.inv_sqrt()?)?;
        affine(normed, &self.weight, &self.bias, &self.normalized_shape)
    }
    fn named_parameters(&self) -> Vec<(String, &T)> {
        optional_affine(&self.weight, &self.bias)
    }
    fn named_parameters_mut(&mut self) -> Vec<(String, &mut T)> {
        let mut out = Vec::new();
        if let Some(w) = self.weight.as_mut() {
            out.push(("weight".to_string(), w));
        }
        if let Some(b) = self.bias.as_mut() {
            out.push(("bias".to_string(), b));
        }
        out
    }
}

impl<T: TensorOps> MapParams<T> for LayerNorm<T> {
    type Mapped<U: TensorOps + 'static> = LayerNorm<U>;
    fn try_map<U, E>(
        &self,
        f: &mut dyn FnMut(&str, Role, &T) -> Result<U, E>,
    ) -> Result<LayerNorm<U>, E>
    where
        U: TensorOps + 'static,
        E: From<tensor::Error>,
    {
        Ok(LayerNorm {
            normalized_shape: self.normalized_shape.clone(),
            weight: map_opt(&self.weight, "weight", f)?,
            bias: map_opt(&self.bias, "bias", f)?,
            eps: self.eps,
        })
    }
}
