//! Reverse-mode automatic differentiation as a decorator over the tensor op contract.
//!
//! `autograd` depends on `tensor` only, never on `mpc`. Its `Var<T: TensorOps>` (arriving with
//! the training issue) records a dynamic tape of the ops applied to it and replays the chain
//! rule backwards, so the same gradient rules run on plaintext [`tensor::RingTensor`] (where
//! they are checked by finite differences) and on secret-shared `mpc::CrypTensor`.
//! `Linear<CrypTensor>` is private inference with no tape; `Linear<Var<CrypTensor>>` is
//! private training.
//!
//! Backward order will depend only on graph structure, never on hash-map iteration, so every
//! party issues identical protocol calls.
//!
//! This crate is a placeholder in the foundation milestone: it fixes the layer and the
//! dependency direction.

pub use tensor::TensorOps;
