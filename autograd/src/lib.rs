//! Reverse-mode automatic differentiation as a decorator over the tensor op contract.
//!
//! `autograd` depends on `tensor` only, never on `mpc`. [`Var<T>`] records a dynamic tape of
//! the ops applied to it and replays the chain rule backwards, so the same gradient rules run
//! on plaintext [`tensor::RingTensor`] (where they are checked by finite differences) and on
//! secret-shared `mpc::CrypTensor`. `Linear<CrypTensor>` is private inference with no tape;
//! `Linear<Var<CrypTensor>>` is private training.
//!
//! Backward order depends only on graph structure (reverse creation order), never on hash-map
//! iteration, so every party issues identical protocol calls.
//!
//! ```
//! use autograd::Var;
//! use tensor::RingTensor;
//! let x = Var::leaf(RingTensor::from_f64(&[2], &[1.5, -2.0], 16)?);
//! let y = x.mul(&x)?.sum_all()?; // y = Σ x² (no trait import needed: see [`VarOperand`])
//! y.backward()?;
//! assert_eq!(x.grad().unwrap().to_f64(), vec![3.0, -4.0]); // dy/dx = 2x
//! # Ok::<(), tensor::Error>(())
//! ```
#![doc(test(attr(deny(warnings))))]

mod api;
mod conv_grad;
mod derivative;
mod var;

pub use api::VarOperand;
pub use tensor::{TensorExt, TensorOps};
pub use var::{Var, no_grad};
