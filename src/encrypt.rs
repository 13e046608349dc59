//! `model.encrypt(session, src)`: a plaintext model held by party `src` becomes the same model
//! over secret shares, and `model.decrypt()` reveals it again.
//!
//! This is glue between `nn` (which never depends on `mpc`) and `mpc`, so it lives in the root
//! crate. It is one [`nn::MapParams`] walk: every parameter and buffer is shared from `src` in
//! the model's fixed order, so every party issues the same sharing calls. The other parties
//! pass a model of the same architecture (its values are ignored; only shapes are used, and
//! they must match `src`'s).
//!
//! ```
//! use umbra::{Encrypt, RingTensor, SessionConfig, run_local};
//! use umbra::nn::{Linear, Module};
//! let out = run_local(2, SessionConfig::default(), |s| {
//!     // party 0 owns the weights; party 1 builds the same architecture with zeros
//!     let w = if s.party() == 0 { vec![2.0, -1.0] } else { vec![0.0; 2] };
//!     let plain = Linear::new(RingTensor::from_f64(&[1, 2], &w, 16)?, None);
//!     let private = plain.encrypt(&s, 0)?;
//!     let x = s.share_f64(&[1, 2], &[1.5, 0.5], 1)?;  // party 1's input
//!     private.forward(&x)?.reveal_f64()
//! })?;
//! assert_eq!(out[0], vec![2.5]);
//! # Ok::<(), umbra::mpc::Error>(())
//! ```

use autograd::Var;
use mpc::{CrypTensor, Session};
use nn::{MapParams, Role};
use tensor::RingTensor;

/// Sharing a plaintext model from its owner (see the module docs).
pub trait Encrypt: MapParams<RingTensor> {
    /// The same model over secret shares, for private inference.
    ///
    /// # Errors
    /// `src` is not a party; a custom layer that cannot be mapped.
    ///
    /// # Security
    /// No communication (input sharing is free); only `src`'s values enter the shares, and no
    /// coalition without `src` learns anything about them. The architecture and the shapes
    /// are public.
    fn encrypt(&self, session: &Session, src: usize) -> mpc::Result<Self::Mapped<CrypTensor>> {
        self.try_map(&mut |_, _, t| session.share(t, src))
    }

    /// The same model over secret shares with gradient tracking, for private training:
    /// parameters are leaves, buffers constants.
    ///
    /// # Errors
    /// As [`Encrypt::encrypt`].
    ///
    /// # Security
    /// As [`Encrypt::encrypt`].
    fn encrypt_trainable(
        &self,
        session: &Session,
        src: usize,
    ) -> mpc::Result<Self::Mapped<Var<CrypTensor>>> {
        self.try_map(&mut |_, role, t| {
            let shared = session.share(t, src)?;
            Ok(match role {
                Role::Parameter => Var::leaf(shared),
                Role::Buffer => Var::constant(shared),
            })
        })
    }
}

impl<M: MapParams<RingTensor>> Encrypt for M {}

/// Revealing a private model.
pub trait Decrypt<T: tensor::TensorOps>: MapParams<T> {
    /// The plaintext model, revealed to every party.
    ///
    /// # Errors
    /// Link failures; a custom layer that cannot be mapped.
    ///
    /// # Security
    /// Every party learns every parameter and buffer: one round per tensor, `8·numel` bytes
    /// per tensor and peer. Use it for a model the parties agreed to publish.
    fn decrypt(&self) -> mpc::Result<Self::Mapped<RingTensor>>;
}

impl<M: MapParams<CrypTensor>> Decrypt<CrypTensor> for M {
    fn decrypt(&self) -> mpc::Result<Self::Mapped<RingTensor>> {
        self.try_map(&mut |_, _, t| t.reveal())
    }
}

impl<M: MapParams<Var<CrypTensor>>> Decrypt<Var<CrypTensor>> for M {
    fn decrypt(&self) -> mpc::Result<Self::Mapped<RingTensor>> {
        self.try_map(&mut |_, _, t| t.value().reveal())
    }
}
