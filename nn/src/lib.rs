//! Neural-network modules, losses, optimizers and weight files mirroring `torch.nn`, generic
//! over the tensor op contract.
//!
//! `nn` depends on `autograd` and `tensor`, never on `mpc`: a model becomes private by how its
//! tensors are produced (shared in from their owner), not by a different module type.
//! `Linear<RingTensor>` is plaintext inference, `Linear<CrypTensor>` private inference and
//! `Linear<Var<CrypTensor>>` private training, all with the same code. Two doors lead from one
//! to another:
//! - a module built from a parameter source ([`Params`], as candle's `VarBuilder`): one
//!   constructor, generic over the tensor type, initialises ([`InitSource`]), loads
//!   ([`LoadSource`]), makes trainable ([`Trainable`]) or, in the root crate, shares from the
//!   owner (`umbra::share_module`). This works for any module, a user's own included;
//! - [`MapParams`] maps a built-in model's tensors (the root crate's `Encrypt`).
//!
//! - [`Module`]: forward, named parameters and buffers in a fixed order (every party walks
//!   them identically), train/eval; containers [`Sequential`] and [`Layer`] (which boxes any
//!   module), [`Residual`] (`x + f(x)`) and [`Branches`] (sum or concatenation).
//! - Layers: [`Linear`], [`Conv2d`], [`Embedding`], the activations ([`Activation`] for any
//!   `tensor::UnaryOp`: [`ReLU`], [`Sigmoid`], [`Tanh`], [`GELU`], [`SiLU`], [`Softplus`]),
//!   [`LeakyReLU`], [`Softmax`], [`LogSoftmax`], [`MaxPool2d`], [`AvgPool2d`],
//!   [`AdaptiveAvgPool2d`], [`Flatten`], [`Dropout`], [`BatchNorm`] (1-D/2-D), [`LayerNorm`].
//! - Losses ([`loss`]): [`MSELoss`], [`L1Loss`], [`CrossEntropyLoss`], [`NLLLoss`],
//!   [`BCELoss`], [`BCEWithLogitsLoss`]; class targets are one-hot (see [`one_hot`]).
//! - Optimizers ([`optim`]): [`Sgd`] (momentum, weight decay, Nesterov), [`Adam`].
//! - Initialisers ([`init`]) and weight files ([`state`]): [`StateDict`], safetensors.
//!
//! ```
//! use autograd::Var;
//! use nn::{Linear, Module, Sgd, mse_loss};
//! use tensor::RingTensor;
//! let f = |v: &[f64], s: &[usize]| RingTensor::from_f64(s, v, 16).unwrap();
//! let mut model = Linear::new(Var::leaf(f(&[0.0, 0.0], &[1, 2])), Some(Var::leaf(f(&[0.0], &[1]))));
//! let x = Var::constant(f(&[1.0, 2.0, -1.0, 0.5], &[2, 2]));
//! let y = Var::constant(f(&[3.0, -0.5], &[2, 1]));
//! let mut opt = Sgd::new(0.1);
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

mod compose;
pub mod error;
pub mod init;
mod layers;
pub mod loss;
mod module;
mod norm;
pub mod optim;
mod source;
pub mod state;

pub use autograd::{TensorExt, TensorOps};
pub use error::{Error, Result};
// every public layer (one `activation!` line in layers.rs adds a module, nothing here)
pub use compose::{Branches, Join, Residual};
pub use layers::*;
pub use loss::{
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss, Reduction, bce_loss,
    bce_with_logits, cross_entropy, l1_loss, mse_loss, nll_loss,
};
pub use module::{Layer, MapParams, Module, Role, Sequential, detached, trainable};
pub use norm::{BatchNorm, BatchNorm1d, BatchNorm2d, LayerNorm};
pub use optim::{Adam, Sgd};
pub use source::{FromValues, Init, InitSource, LoadSource, ParamSource, Params, Trainable};
pub use state::{ModuleState, PlainTensor, StateDict, TensorData, TensorSource, load_tensors};
