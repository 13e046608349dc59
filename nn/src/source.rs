//! Building modules from a parameter source, in the manner of candle's `VarBuilder`: a module's
//! constructor asks a [`Params`] handle for each tensor by name, shape and initialiser, and the
//! source behind it decides where the value comes from.
//!
//! - [`InitSource`]: a fresh plaintext model, every tensor drawn from its [`Init`] with a seeded
//!   PRNG (the same draws as the layers' `init` constructors).
//! - [`LoadSource`]: every tensor read from a [`TensorSource`] (a [`crate::StateDict`], a safetensors
//!   file, a plaintext model's `state_dict()`), shapes checked, strictness on demand.
//! - [`Trainable`]: wraps any source of `T` into a source of `Var<T>` whose parameters are
//!   gradient-tracking leaves and whose buffers are constants.
//! - the root crate's `ShareSource`: every tensor secret-shared from its owner, who reads it from
//!   a plaintext source while the other parties only learn its shape (from the constructor).
//!
//! So one constructor, written once and generic over the tensor type, builds the plaintext
//! model, loads it, makes it private and makes it trainable: a user's own module included,
//! with no mapping code, because the constructor *is* the mapping.
//!
//! ```
//! use nn::{InitSource, Linear, Module, Params};
//! use tensor::{RingTensor, TensorOps};
//! let mut src = InitSource::new(7);
//! let layer: Linear<RingTensor> = Linear::build(&mut Params::new(&mut src).pp("fc"), 3, 2, true)?;
//! assert_eq!(layer.weight.dims(), [2, 3]);
//! let x = RingTensor::from_f64(&[1, 3], &[1.0, 0.5, -1.0], 16)?;
//! assert_eq!(layer.forward(&x)?.dims(), [1, 2]);
//! # Ok::<(), tensor::Error>(())
//! ```
//!
//! Order matters in MPC: every party must ask for the same tensors in the same order, which a
//! constructor does by construction (its calls depend only on the architecture).

use std::collections::BTreeSet;

use autograd::Var;
use tensor::{FloatTensor, RingTensor, TensorOps};

use crate::init::{self, Rng};
use crate::module::{Role, join};
use crate::state::{TensorData, TensorSource, checked_tensor, ignorable};

/// How a tensor starts when a source creates it (PyTorch's initialisers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Every element `v`.
    Const(f64),
    /// Uniform in `[lo, hi)`.
    Uniform {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// Normal with the given mean and standard deviation.
    Normal {
        /// The mean.
        mean: f64,
        /// The standard deviation.
        std: f64,
    },
    /// PyTorch's default for `Linear` and `Conv2d` weights: Kaiming-uniform with `a = √5`,
    /// i.e. uniform in `±1/√fan_in`.
    KaimingUniform,
}

impl Init {
    /// PyTorch's default bias of a layer whose weight has `weight_shape`: uniform in
    /// `±1/√fan_in`.
    ///
    /// # Errors
    /// A weight shape without a fan-in.
    pub fn fan_in_uniform(weight_shape: &[usize]) -> tensor::Result<Init> {
        let bound = init::fan_in_bound(weight_shape)?;
        Ok(Init::Uniform {
            lo: -bound,
            hi: bound,
        })
    }

    /// The values drawn for `shape` from `rng`.
    ///
    /// # Errors
    /// A shape the initialiser cannot handle (no fan-in).
    pub fn draw(&self, shape: &[usize], rng: &mut Rng) -> tensor::Result<RingTensor> {
        match *self {
            Init::Const(v) => init::constant(shape, v),
            Init::Uniform { lo, hi } => init::uniform(shape, lo, hi, rng),
            Init::Normal { mean, std } => init::normal(shape, mean, std, rng),
            Init::KaimingUniform => init::kaiming_uniform(shape, rng),
        }
    }
}

/// Where a module's tensors come from. Implement it for a new origin (a file format, a
/// network); [`Params`] is what constructors hold.
pub trait ParamSource<T: TensorOps> {
    /// The tensor at `path` (the full dotted name, `"encoder.0.weight"`), of `shape`, with
    /// `role`; `init` says how to create it for a source that creates values.
    ///
    /// # Errors
    /// The source cannot produce it (missing, another shape, a failed share).
    fn get(&mut self, path: &str, shape: &[usize], role: Role, init: &Init) -> Result<T, T::Error>;
}

impl<T: TensorOps, S: ParamSource<T> + ?Sized> ParamSource<T> for &mut S {
    fn get(&mut self, path: &str, shape: &[usize], role: Role, init: &Init) -> Result<T, T::Error> {
        (**self).get(path, shape, role, init)
    }
}

/// A parameter source at a name prefix: what a module constructor receives. `pp("fc1")` goes
/// one level down, so a constructor names its tensors locally (`"weight"`) and its position in
/// the model gives the prefix, exactly as PyTorch names a `state_dict`.
pub struct Params<'a, T: TensorOps> {
    source: &'a mut dyn ParamSource<T>,
    prefix: String,
}

impl<'a, T: TensorOps> Params<'a, T> {
    /// The root of `source` (no prefix).
    pub fn new(source: &'a mut dyn ParamSource<T>) -> Self {
        Self {
            source,
            prefix: String::new(),
        }
    }

    /// The same source one level down, at `prefix.name`.
    pub fn pp(&mut self, name: impl std::fmt::Display) -> Params<'_, T> {
        Params {
            prefix: join(&self.prefix, &name.to_string()),
            source: &mut *self.source,
        }
    }

    /// The full name of `name` here.
    pub fn path(&self, name: &str) -> String {
        join(&self.prefix, name)
    }

    /// A trainable parameter.
    ///
    /// # Errors
    /// As [`ParamSource::get`].
    pub fn param(&mut self, name: &str, shape: &[usize], init: Init) -> Result<T, T::Error> {
        let path = self.path(name);
        self.source.get(&path, shape, Role::Parameter, &init)
    }

    /// A buffer (saved and loaded, never trained: running statistics).
    ///
    /// # Errors
    /// As [`ParamSource::get`].
    pub fn buffer(&mut self, name: &str, shape: &[usize], init: Init) -> Result<T, T::Error> {
        let path = self.path(name);
        self.source.get(&path, shape, Role::Buffer, &init)
    }
}

/// Plaintext tensor types a source can create from values: [`RingTensor`] (at the default
/// scale) and [`FloatTensor`].
pub trait FromValues: TensorOps {
    /// A tensor of `shape` holding `values`.
    ///
    /// # Errors
    /// Wrong element count or values that cannot be encoded.
    fn from_values(shape: &[usize], values: &[f64]) -> Result<Self, tensor::Error>;
}

impl FromValues for RingTensor {
    fn from_values(shape: &[usize], values: &[f64]) -> Result<Self, tensor::Error> {
        RingTensor::from_f64(shape, values, tensor::DEFAULT_FRAC_BITS)
    }
}

impl FromValues for FloatTensor {
    fn from_values(shape: &[usize], values: &[f64]) -> Result<Self, tensor::Error> {
        FloatTensor::from_f64(shape, values)
    }
}

/// A fresh plaintext model: every tensor drawn from its [`Init`] with one seeded PRNG, in the
/// order the constructor asks (so the same seed gives the same model, and the same draws as
/// the layers' `init` constructors).
#[derive(Debug)]
pub struct InitSource {
    rng: Rng,
}

impl InitSource {
    /// Draws from a PRNG seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
        }
    }
}

impl<T: FromValues> ParamSource<T> for InitSource
where
    T::Error: From<tensor::Error>,
{
    fn get(&mut self, path: &str, shape: &[usize], role: Role, init: &Init) -> Result<T, T::Error> {
        self.rng.get(path, shape, role, init)
    }
}

/// A PRNG is a source too: each tensor drawn from its [`Init`] (what the layers' `init`
/// constructors use, so that they and [`InitSource`] draw the same values).
impl<T: FromValues> ParamSource<T> for Rng
where
    T::Error: From<tensor::Error>,
{
    fn get(&mut self, _: &str, shape: &[usize], _: Role, init: &Init) -> Result<T, T::Error> {
        let drawn = init.draw(shape, self)?;
        Ok(T::from_values(shape, &drawn.to_f64())?)
    }
}

/// Every tensor read by its full name from a [`TensorSource`], its shape checked against what
/// the constructor asks. [`LoadSource::finish`] then reports, when strict, tensors of the source
/// that nobody asked for.
pub struct LoadSource<'s> {
    source: &'s dyn TensorSource,
    used: BTreeSet<String>,
}

impl<'s> LoadSource<'s> {
    /// Reads from `source`.
    pub fn new(source: &'s dyn TensorSource) -> Self {
        Self {
            source,
            used: BTreeSet::new(),
        }
    }

    /// The tensor at `path`, checked to have `shape`.
    ///
    /// # Errors
    /// Missing ([`crate::Error::MissingTensor`]) or misshapen ([`crate::Error::ShapeMismatch`]),
    /// naming the tensor; the source failing.
    pub fn data(&mut self, path: &str, shape: &[usize]) -> Result<TensorData, crate::Error> {
        let data = checked_tensor(self.source, path, shape)?;
        self.used.insert(path.into());
        Ok(data)
    }

    /// Ends the load: with `strict`, a tensor of the source that no constructor asked for is
    /// an error (PyTorch's `num_batches_tracked` excepted).
    ///
    /// # Errors
    /// [`crate::Error::UnexpectedTensor`] naming the first such tensor.
    pub fn finish(self, strict: bool) -> Result<(), crate::Error> {
        if !strict {
            return Ok(());
        }
        match self
            .source
            .names()
            .into_iter()
            .find(|n| !self.used.contains(n) && !ignorable(n))
        {
            Some(name) => Err(crate::Error::UnexpectedTensor { name }),
            None => Ok(()),
        }
    }
}

impl<T: FromValues> ParamSource<T> for LoadSource<'_>
where
    T::Error: From<tensor::Error>,
{
    fn get(&mut self, path: &str, shape: &[usize], _: Role, _: &Init) -> Result<T, T::Error> {
        let data = self
            .data(path, shape)
            .map_err(|e| tensor::Error::InvalidArgument {
                op: "load",
                reason: e.to_string(),
            })?;
        Ok(T::from_values(shape, &data.values)?)
    }
}

/// Any source of `T` as a source of trainable `Var<T>`: parameters become gradient-tracking
/// leaves, buffers constants.
#[derive(Debug)]
pub struct Trainable<S>(pub S);

impl<T: TensorOps, S: ParamSource<T>> ParamSource<Var<T>> for Trainable<S> {
    fn get(
        &mut self,
        path: &str,
        shape: &[usize],
        role: Role,
        init: &Init,
    ) -> Result<Var<T>, T::Error> {
        let t = self.0.get(path, shape, role, init)?;
        Ok(match role {
            Role::Parameter => Var::leaf(t),
            Role::Buffer => Var::constant(t),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Linear, StateDict, state};

    #[test]
    fn a_built_layer_equals_the_initialised_one_and_reloads_by_name() {
        let built: Linear<RingTensor> =
            Linear::build(&mut Params::new(&mut InitSource::new(3)), 4, 2, true).unwrap();
        let direct = Linear::init(4, 2, true, &mut Rng::new(3)).unwrap();
        assert_eq!(built.weight, direct.weight);
        assert_eq!(built.bias, direct.bias);
        // reloading from its state dict under a prefix
        let mut sd = StateDict::new();
        for (name, data) in state::state_dict(&built).iter() {
            sd.insert(format!("enc.{name}"), data.clone());
        }
        let mut load = LoadSource::new(&sd);
        let again: Linear<FloatTensor> =
            Linear::build(&mut Params::new(&mut load).pp("enc"), 4, 2, true).unwrap();
        assert_eq!(again.weight.to_f64(), built.weight.to_f64());
        load.finish(true).unwrap();
        // a wrong shape and a missing name are errors naming the tensor
        let mut load = LoadSource::new(&sd);
        let err = Linear::<RingTensor>::build(&mut Params::new(&mut load).pp("enc"), 3, 2, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("enc.weight"), "{err}");
        let mut load = LoadSource::new(&sd);
        let err = Linear::<RingTensor>::build(&mut Params::new(&mut load).pp("dec"), 4, 2, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing tensor \"dec.weight\""), "{err}");
        // strict: an unused tensor is reported
        let mut load = LoadSource::new(&sd);
        Linear::<RingTensor>::build(&mut Params::new(&mut load).pp("enc"), 4, 2, false).unwrap();
        let err = load.finish(true).unwrap_err().to_string();
        assert!(err.contains("enc.bias"), "{err}");
    }

    #[test]
    fn trainable_sources_make_leaves_and_constants() {
        let mut src = Trainable(InitSource::new(1));
        let mut p: Params<'_, Var<RingTensor>> = Params::new(&mut src);
        let w = p.param("w", &[2], Init::Const(0.5)).unwrap();
        let b = p.buffer("running_mean", &[2], Init::Const(0.0)).unwrap();
        assert!(w.requires_grad() && !b.requires_grad());
        assert_eq!(w.value().to_f64(), vec![0.5, 0.5]);
    }

    #[test]
    fn prefixes_nest_like_pytorch_names() {
        struct Names(Vec<String>);
        impl ParamSource<RingTensor> for Names {
            fn get(
                &mut self,
                path: &str,
                shape: &[usize],
                _: Role,
                _: &Init,
            ) -> tensor::Result<RingTensor> {
                self.0.push(path.to_string());
                Ok(RingTensor::zeros(shape, 16))
            }
        }
        let mut names = Names(Vec::new());
        {
            let mut root = Params::new(&mut names);
            let mut enc = root.pp("encoder");
            enc.pp(0).param("weight", &[1], Init::Const(0.0)).unwrap();
            enc.pp(1)
                .buffer("running_var", &[1], Init::Const(1.0))
                .unwrap();
            root.param("scale", &[1], Init::Const(1.0)).unwrap();
        }
        assert_eq!(
            names.0,
            ["encoder.0.weight", "encoder.1.running_var", "scale"]
        );
    }
}
