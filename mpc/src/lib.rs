//! Secret-shared tensors and the protocols that compute on them.
//!
//! `mpc` sits on `tensor` and knows nothing of sockets: it talks to peers only through the
//! [`Comm`] trait and to the dealer only through the [`TripleSource`] trait. The in-process
//! [`LocalComm`] and [`InsecureTestDealer`] make every protocol testable in one process
//! ([`run_local`]); crate `party` provides the QUIC transport and the dealer service.
//!
//! Sharing is additive over Z_2^64 with fixed-point encoding (16 fractional bits by default).
//! Security model: semi-honest parties, any coalition of up to `n-1` parties, a trusted dealer
//! that colludes with nobody. Nothing leaves a [`CrypTensor`] except through `reveal`.
//!
//! Three tiers, with imports pointing down only (pinned by `tests/tiers.rs`, which also
//! refuses any import cycle between modules):
//! - core: [`comm`], [`prg`], [`provider`], [`session`], [`local`], and the share types
//!   ([`share`]: [`Share`], [`XorShare`], whose `Debug` prints no word); it knows only shares;
//! - [`protocols`]: input sharing, opening, Beaver products, truncation, the binary circuits,
//!   all on shares;
//! - the tensor tier: [`Shared`] (a share with its session), [`CrypTensor`] and its comparisons ([`compare`],
//!   [`bintensor`]), the function library ([`approx`]), and `CrypTensor`'s one
//!   `tensor::TensorOps` implementation. [`Session::share`] (the door in) lives here too.
//!
//! ```
//! use mpc::{run_local, SessionConfig};
//! use tensor::RingTensor;
//! let revealed = run_local(2, SessionConfig::default(), |s| {
//!     let a = RingTensor::from_f64(&[2, 2], &[1.0, 2.0, 3.0, 4.0], 16)?;
//!     let x = s.share(&a, 0)?;          // party 0 owns a
//!     let y = s.share(&a, 1)?;          // party 1 owns its own copy
//!     x.matmul(&y)?.reveal_f64()
//! })?;
//! assert_eq!(revealed[0], vec![7.0, 10.0, 15.0, 22.0]);
//! # Ok::<(), mpc::Error>(())
//! ```
#![doc(test(attr(deny(warnings))))]

pub mod approx;
pub mod bintensor;
pub mod comm;
pub mod compare;
mod contract;
pub mod cryptensor;
pub mod error;
pub mod fss;
pub mod local;
pub mod prg;
pub mod protocols;
pub mod provider;
pub mod random;
pub mod session;
pub mod share;
mod sharing;

pub use bintensor::BinaryTensor;
pub use comm::{Comm, CommStats, CountingComm, EmulatedComm, LinkProfile, LocalComm};
pub use cryptensor::Shared;
pub use cryptensor::{CrypTensor, Operand};
pub use error::{Error, Result};
pub use local::{run_local, run_local_over, run_parties};
pub use prg::{AesPrg, Seed};
pub use provider::{InsecureTestDealer, TripleSource, TupleRequest};
pub use session::{CompareMode, DealerStats, MaxReduction, Session, SessionConfig, TruncMode};
pub use share::{Share, XorShare};
pub use tensor::RingTensor;
