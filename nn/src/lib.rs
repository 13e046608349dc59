//! Neural-network modules, losses and optimizers mirroring `torch.nn`, generic over the
//! tensor op contract.
//!
//! `nn` depends on `autograd` and `tensor`, never on `mpc`: a model becomes private by how its
//! parameters are produced (shared in from their owner), not by a different module type.
//! `Linear<RingTensor>` is plaintext inference, `Linear<CrypTensor>` private inference and
//! `Linear<Var<CrypTensor>>` private training, all with the same code.
//!
//! This is the first slice of the training milestone: [`Module`], [`Linear`], [`ReLU`],
//! [`Sequential`], [`mse_loss`] and [`Sgd`].
//!
//! ```
//! use autograd::Var;
//! use nn::{Linear, Module, Sgd, mse_loss};
//! use tensor::RingTensor;
//! let f = |v: &[f64], s: &[usize]| RingTensor::from_f64(s, v, 16).unwrap();
//! let mut model = Linear::new(Var::leaf(f(&[0.0, 0.0], &[1, 2])), Some(Var::leaf(f(&[0.0], &[1]))));
//! let x = Var::constant(f(&[1.0, 2.0, -1.0, 0.5], &[2, 2]));
//! let y = Var::constant(f(&[3.0, -0.5], &[2, 1]));
//! let opt = Sgd::new(0.1);
//! let first = mse_loss(&model.forward(&x)?, &y)?;
//! for _ in 0..20 {
//!     let loss = mse_loss(&model.forward(&x)?, &y)?;
//!     loss.backward()?;
//!     opt.step(&mut model.parameters_mut())?;
//! }
//! let last = mse_loss(&model.forward(&x)?, &y)?;
//! assert!(last.value().to_f64()[0] < first.value().to_f64()[0] / 10.0);
//! # Ok::<(), tensor::Error>(())
//! ```
#![doc(test(attr(deny(warnings))))]

pub use autograd::TensorOps;
use autograd::Var;

/// A layer or a model: a function of its input with parameters in a fixed order.
pub trait Module<T: TensorOps> {
    /// The forward pass.
    ///
    /// # Errors
    /// Shape mismatches; for private tensors, network failures.
    fn forward(&self, x: &T) -> Result<T, T::Error>;

    /// The parameters, in a fixed order (declaration order, layer by layer): every party
    /// walks them identically.
    fn parameters(&self) -> Vec<&T>;

    /// The parameters, mutably, in the same order as [`Module::parameters`].
    fn parameters_mut(&mut self) -> Vec<&mut T>;
}

/// `y = x·Wᵀ + b`, with `W` of shape `[out, in]` and `b` of shape `[out]`, as `torch.nn.Linear`.
#[derive(Clone, Debug)]
pub struct Linear<T> {
    /// Weight `[out_features, in_features]`.
    pub weight: T,
    /// Optional bias `[out_features]`.
    pub bias: Option<T>,
}

impl<T: TensorOps> Linear<T> {
    /// A layer with the given parameters.
    pub fn new(weight: T, bias: Option<T>) -> Self {
        Self { weight, bias }
    }
}

impl<T: TensorOps> Module<T> for Linear<T> {
    fn forward(&self, x: &T) -> Result<T, T::Error> {
        let w = self.weight.dims();
        if w.len() != 2 {
            return Err(tensor::Error::InvalidArgument {
                op: "linear",
                reason: format!("weight must be [out, in], got {w:?}"),
            }
            .into());
        }
        let y = x.matmul(&self.weight.transpose(0, 1)?)?;
        match &self.bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }

    fn parameters(&self) -> Vec<&T> {
        std::iter::once(&self.weight)
            .chain(self.bias.as_ref())
            .collect()
    }

    fn parameters_mut(&mut self) -> Vec<&mut T> {
        std::iter::once(&mut self.weight)
            .chain(self.bias.as_mut())
            .collect()
    }
}

/// `max(x, 0)`, as `torch.nn.ReLU` (its derivative is taken as 1 at 0).
#[derive(Clone, Copy, Debug, Default)]
pub struct ReLU;

impl<T: TensorOps> Module<T> for ReLU {
    fn forward(&self, x: &T) -> Result<T, T::Error> {
        Ok(x.relu_with_mask()?.0)
    }
    fn parameters(&self) -> Vec<&T> {
        Vec::new()
    }
    fn parameters_mut(&mut self) -> Vec<&mut T> {
        Vec::new()
    }
}

/// Modules applied in order, as `torch.nn.Sequential`.
pub struct Sequential<T> {
    layers: Vec<Box<dyn Module<T>>>,
}

impl<T: TensorOps> Sequential<T> {
    /// The given layers, first applied first.
    pub fn new(layers: Vec<Box<dyn Module<T>>>) -> Self {
        Self { layers }
    }
}

impl<T: TensorOps> Module<T> for Sequential<T> {
    fn forward(&self, x: &T) -> Result<T, T::Error> {
        let mut h = x.clone();
        for layer in &self.layers {
            h = layer.forward(&h)?;
        }
        Ok(h)
    }
    fn parameters(&self) -> Vec<&T> {
        self.layers.iter().flat_map(|l| l.parameters()).collect()
    }
    fn parameters_mut(&mut self) -> Vec<&mut T> {
        self.layers
            .iter_mut()
            .flat_map(|l| l.parameters_mut())
            .collect()
    }
}

/// Mean squared error over all elements, as `torch.nn.MSELoss()` (mean reduction).
///
/// # Errors
/// Shapes that do not match; for private tensors, network failures.
pub fn mse_loss<T: TensorOps>(pred: &T, target: &T) -> Result<T, T::Error> {
    if pred.dims() != target.dims() {
        return Err(tensor::Error::ShapeMismatch {
            op: "mse_loss",
            lhs: pred.dims(),
            rhs: target.dims(),
        }
        .into());
    }
    let d = pred.sub(target)?;
    d.mul(&d)?.mean(&[], false)
}

/// Plain stochastic gradient descent, `p ← p - lr·∇p`.
#[derive(Clone, Copy, Debug)]
pub struct Sgd {
    lr: f64,
}

impl Sgd {
    /// An optimizer with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        Self { lr }
    }

    /// Applies one step to parameters whose gradients [`Var::backward`] has filled, and
    /// starts them as fresh leaves (gradients cleared). Parameters without a gradient are
    /// left as they are.
    ///
    /// # Errors
    /// For private tensors, network failures (the product with `lr` truncates).
    pub fn step<T: TensorOps>(&self, params: &mut [&mut Var<T>]) -> Result<(), T::Error> {
        for p in params.iter_mut() {
            if let Some(g) = p.grad() {
                let next = p.value().sub(&g.mul_scalar(self.lr)?)?;
                **p = Var::leaf(next);
            }
        }
        Ok(())
    }
}
