//! umbra: secure multi-party machine learning in Rust.
//!
//! Several parties that do not trust each other compute on secret-shared tensors and reveal
//! only what the program reveals. This facade re-exports the user-facing API of the layers
//! below it (see the README's crate map) and hosts the glue that needs more than one layer:
//! sharing a plaintext model from its owner ([`Encrypt`], [`share_module`]) and revealing it
//! ([`Decrypt`]), and data owned by several parties ([`loader`]: vertical and horizontal
//! splits, a loader whose batch order no party knows). The `umbra` command line, its demos,
//! benchmarks and test programs are not library API: they live in the unpublished
//! `umbra-cli` package (`apps/`).
//!
//! A program that runs as one party of a real session (one process per party, started by
//! `umbra launch` or `umbra party`) joins it with [`init`]; `run_local` runs every party as a
//! thread of one process.
//!
//! ```
//! use umbra::{run_local, SessionConfig};
//! let revealed = run_local(3, SessionConfig::default(), |ctx| {
//!     let x = ctx.share_f64(&[1, 2], &[1.5, 2.0], 0)?;      // party 0's secret
//!     let w = ctx.share_f64(&[2, 1], &[2.0, -0.5], 1)?;     // party 1's secret
//!     x.matmul(&w)?.reveal_f64()                           // every party learns x·w
//! })?;
//! assert_eq!(revealed[2], vec![2.0]);
//! # Ok::<(), umbra::mpc::Error>(())
//! ```
#![doc(test(attr(deny(warnings))))]

pub mod encrypt;
pub mod loader;

pub use autograd::{Var, VarOperand};
pub use encrypt::{Decrypt, Encrypt, ShareSource, share_module, share_module_trainable};
pub use mpc::{
    self, CommStats, CrypTensor, InsecureTestDealer, MaxReduction, Operand, Session, SessionConfig,
    TruncMode, TupleRequest, run_local,
};
pub use party::{init, init_with};
pub use tensor::{
    self, Conv2dParams, Dim, Dims, FixedPoint, FloatTensor, Pool2dParams, RingTensor, TensorExt,
    TensorOps, ndarray,
};
pub use {autograd, nn, onnx, party};
