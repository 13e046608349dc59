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
use nn::{Init, LoadSource, MapParams, ParamSource, Params, Role, Trainable};
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

/// A parameter source that secret-shares every tensor from its owner: the owner reads each
/// value from a plaintext source (a fresh [`nn::InitSource`], a [`nn::LoadSource`] over a file
/// or over its plaintext model's `state_dict()`), the other parties pass no source and learn
/// only the shapes, which the module constructor states. With it any module built from
/// [`nn::Params`], a user's own included, becomes private (see [`share_module`]).
///
/// # Security
/// Sharing an input costs no communication; only the owner's values enter the shares. The
/// architecture and the shapes are public.
pub struct ShareSource<'a> {
    session: &'a Session,
    owner: usize,
    plain: Option<&'a mut dyn ParamSource<RingTensor>>,
}

impl<'a> ShareSource<'a> {
    /// Shares from `owner`, who passes `Some(plaintext source)`; every other party passes
    /// `None`.
    pub fn new(
        session: &'a Session,
        owner: usize,
        plain: Option<&'a mut dyn ParamSource<RingTensor>>,
    ) -> Self {
        Self {
            session,
            owner,
            plain,
        }
    }
}

impl ParamSource<CrypTensor> for ShareSource<'_> {
    fn get(
        &mut self,
        path: &str,
        shape: &[usize],
        role: Role,
        init: &Init,
    ) -> mpc::Result<CrypTensor> {
        let frac = self.session.config().frac_bits;
        if self.session.party() != self.owner {
            return self.session.share_from(shape, frac, self.owner);
        }
        let Some(plain) = self.plain.as_deref_mut() else {
            return Err(mpc::Error::InvalidArgument {
                op: "share_module",
                reason: format!(
                    "party {} owns the model and must pass the source of {path:?}",
                    self.owner
                ),
            });
        };
        let value = plain.get(path, shape, role, init)?;
        if value.shape() != shape {
            return Err(tensor::Error::ShapeMismatch {
                op: "share_module",
                lhs: value.shape().to_vec(),
                rhs: shape.to_vec(),
            }
            .into());
        }
        self.session.share(&value, self.owner)
    }
}

/// Builds a private module with `build` (any constructor over [`nn::Params`]), every tensor
/// shared from `owner`, who passes `Some(state)`, the plaintext weights (its model's
/// `state_dict()`, a loaded file); the others pass `None`. With `strict`, the owner's state
/// must hold exactly the tensors the constructor asks for.
///
/// # Errors
/// A tensor missing from the owner's state or of another shape (named); with `strict`, an
/// unused tensor; `owner` not a party.
///
/// # Security
/// As [`ShareSource`]: no communication, only the owner's values enter the shares.
pub fn share_module<M>(
    session: &Session,
    owner: usize,
    state: Option<&nn::StateDict>,
    strict: bool,
    build: impl FnOnce(&mut Params<'_, CrypTensor>) -> mpc::Result<M>,
) -> mpc::Result<M> {
    with_owner_source(session, owner, state, strict, |src| {
        build(&mut Params::new(src))
    })
}

/// [`share_module`] for private training: parameters are gradient-tracking leaves, buffers
/// constants.
///
/// # Errors
/// As [`share_module`].
///
/// # Security
/// As [`share_module`].
pub fn share_module_trainable<M>(
    session: &Session,
    owner: usize,
    state: Option<&nn::StateDict>,
    strict: bool,
    build: impl FnOnce(&mut Params<'_, Var<CrypTensor>>) -> mpc::Result<M>,
) -> mpc::Result<M> {
    with_owner_source(session, owner, state, strict, |src| {
        build(&mut Params::new(&mut Trainable(src)))
    })
}

fn with_owner_source<M>(
    session: &Session,
    owner: usize,
    state: Option<&nn::StateDict>,
    strict: bool,
    build: impl FnOnce(&mut ShareSource<'_>) -> mpc::Result<M>,
) -> mpc::Result<M> {
    if owner >= session.n_parties() {
        return Err(mpc::Error::InvalidArgument {
            op: "share_module",
            reason: format!(
                "owner {owner} is not a party (the session has {})",
                session.n_parties()
            ),
        });
    }
    let mut load = state.map(|s| LoadSource::new(s));
    let model = {
        let plain = load.as_mut().map(|l| l as &mut dyn ParamSource<RingTensor>);
        build(&mut ShareSource::new(session, owner, plain))?
    };
    if let Some(load) = load {
        load.finish(strict)
            .map_err(|e| mpc::Error::InvalidArgument {
                op: "share_module",
                reason: e.to_string(),
            })?;
    }
    Ok(model)
}
