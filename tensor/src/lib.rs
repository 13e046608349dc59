//! Plaintext tensors over the ring Z_2^64: the bottom layer of umbra.
//!
//! `tensor` knows nothing of parties or networks. It owns
//! - [`RingTensor`], a dense row-major tensor of `u64` ring elements with a fixed-point scale,
//!   with broadcasting arithmetic, reductions, shape operations, batched matmul, 2-D
//!   convolution (im2col + GEMM) and pooling;
//! - [`FloatTensor`], the same contract in plain `f64`: the textbook reference that fixed-point
//!   and private training are measured against;
//! - the fixed-point codec ([`FixedPoint`], 16 fractional bits by default);
//! - the hot kernel ([`kernel::gemm`]): a packed, cache-blocked, multi-threaded wrapping-u64
//!   GEMM with runtime CPU dispatch (AVX-512DQ, AVX2, portable). A GPU backend plugs in there.
//!
//! Secret shares (crate `mpc`) are `RingTensor`s too, so every protocol's local work runs on
//! these kernels.
//!
//! ```
//! use tensor::{RingTensor, Conv2dParams};
//! let x = RingTensor::from_f64(&[1, 1, 3, 3], &[1.0; 9], 16)?;
//! let w = RingTensor::from_f64(&[1, 1, 2, 2], &[0.5, 0.5, 0.5, 0.5], 16)?;
//! let y = x.conv2d(&w, &Conv2dParams::default())?;
//! assert_eq!(y.shape(), &[1, 1, 2, 2]);
//! assert_eq!(y.to_f64(), vec![2.0; 4]);
//! # Ok::<(), tensor::Error>(())
//! ```
#![doc(test(attr(deny(warnings))))]

#[cfg(feature = "cuda")]
pub mod cuda;
pub mod dim;
pub mod error;
pub mod fixed;
pub mod float;
pub mod kernel;
mod layout;
pub mod op;
pub mod ops;
pub mod ring;
mod ring_kernels;
pub mod shape;
pub mod storage;
pub mod window;
mod word_kernels;

pub use dim::{Dim, Dims};
pub use error::{Error, Result};
pub use fixed::{DEFAULT_FRAC_BITS, FixedPoint};
pub use float::FloatTensor;
/// The `ndarray` crate that [`FloatTensor::to_ndarray`] returns arrays of.
pub use ndarray;
pub use op::{BinaryOp, Domain, LaneOp, ReduceOp, UnaryOp};
pub use ops::{TensorExt, TensorOps};
pub use ring::{Conv2dParams, Pool2dParams, RingTensor, set_thread_budget};
pub use storage::{Device, Storage};
pub use window::WindowFill;
pub use word_kernels::packed_words;
