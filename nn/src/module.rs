//! [`Module`], the containers ([`Sequential`], [`Layer`]) and [`MapParams`], the one way a
//! model changes its tensor type (plaintext to private, to trainable, back).

use autograd::Var;
use tensor::TensorOps;

use crate::layers::{
    Activation, AdaptiveAvgPool2d, AvgPool2d, Conv2d, Dropout, Embedding, Flatten, LeakyReLU,
    Linear, LogSoftmax, MaxPool2d, Softmax,
};
use crate::norm::{BatchNorm, LayerNorm};

/// A layer or a model: a function of its input with named parameters in a fixed order, like
/// `torch.nn.Module`.
///
/// Order matters for MPC: every party walks the parameters identically (the optimizer's
/// state, the sharing of a model, a state dict all follow it), so it depends only on the
/// model's structure: declaration order, layer by layer.
pub trait Module<T: TensorOps> {
    /// The forward pass.
    ///
    /// # Errors
    /// Shape mismatches; for private tensors, network failures.
    fn forward(&self, x: &T) -> Result<T, T::Error>;

    /// The trainable parameters with PyTorch's names (`"weight"`, `"0.bias"`,
    /// `"fc1.weight"`), in the fixed order.
    fn named_parameters(&self) -> Vec<(String, &T)>;

    /// The same parameters, mutably, in the same order.
    fn named_parameters_mut(&mut self) -> Vec<(String, &mut T)>;

    /// The buffers (state that is saved but not trained, such as batch norm's running
    /// statistics) with PyTorch's names, in a fixed order. None by default.
    fn named_buffers(&self) -> Vec<(String, T)> {
        Vec::new()
    }

    /// The same buffers, mutably, in the same order.
    fn named_buffers_mut(&mut self) -> Vec<(String, &mut T)> {
        Vec::new()
    }

    /// Switches training mode on or off (dropout and batch norm behave differently); a
    /// container switches its children. Modules start in training mode, as in PyTorch.
    fn train(&mut self, _on: bool) {}

    /// Evaluation mode: `train(false)`.
    fn eval(&mut self) {
        self.train(false);
    }

    /// The parameters, in the order of [`Module::named_parameters`].
    fn parameters(&self) -> Vec<&T> {
        self.named_parameters()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    /// The parameters, mutably, in the same order (what an optimizer steps).
    fn parameters_mut(&mut self) -> Vec<&mut T> {
        self.named_parameters_mut()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }
}

impl<T: TensorOps, M: Module<T> + ?Sized> Module<T> for Box<M> {
    fn forward(&self, x: &T) -> Result<T, T::Error> {
        (**self).forward(x)
    }
    fn named_parameters(&self) -> Vec<(String, &T)> {
        (**self).named_parameters()
    }
    fn named_parameters_mut(&mut self) -> Vec<(String, &mut T)> {
        (**self).named_parameters_mut()
    }
    fn named_buffers(&self) -> Vec<(String, T)> {
        (**self).named_buffers()
    }
    fn named_buffers_mut(&mut self) -> Vec<(String, &mut T)> {
        (**self).named_buffers_mut()
    }
    fn train(&mut self, on: bool) {
        (**self).train(on);
    }
}

/// What a named tensor of a module is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A trainable parameter.
    Parameter,
    /// A buffer: saved and loaded, never trained (running statistics).
    Buffer,
}

/// A module whose tensors can all be mapped to another tensor type, giving the same module
/// over that type. This is how a plaintext model becomes a private one (every tensor shared
/// from its owner, see the root crate's `Encrypt`), a trainable one ([`trainable`]), or a
/// plaintext one again.
///
/// `f` sees every parameter and buffer with its full name and [`Role`], in the fixed order
/// (parameters and buffers interleaved as the layers declare them), exactly once.
pub trait MapParams<T: TensorOps> {
    /// The same module over tensors of type `U`.
    type Mapped<U: TensorOps + 'static>: Module<U>;

    /// Maps every tensor through `f`.
    ///
    /// # Errors
    /// The first error `f` returns; a custom layer inside a [`Sequential`] (it cannot be
    /// mapped generically).
    fn try_map<U, E>(
        &self,
        f: &mut dyn FnMut(&str, Role, &T) -> Result<U, E>,
    ) -> Result<Self::Mapped<U>, E>
    where
        U: TensorOps + 'static,
        E: From<tensor::Error>;
}

/// The model with every parameter a gradient-tracking leaf and every buffer a constant:
/// ready to train.
pub fn trainable<T, M>(model: &M) -> M::Mapped<Var<T>>
where
    T: TensorOps + 'static,
    M: MapParams<T>,
{
    let mapped: Result<_, tensor::Error> = model.try_map(&mut |_, role, t| {
        Ok(match role {
            Role::Parameter => Var::leaf(t.clone()),
            Role::Buffer => Var::constant(t.clone()),
        })
    });
    mapped.expect("wrapping tensors in Var cannot fail")
}

/// The model's current values without the tape (a trained `Var` model for inference or
/// saving).
pub fn detached<T, M>(model: &M) -> M::Mapped<T>
where
    T: TensorOps + 'static,
    M: MapParams<Var<T>>,
{
    let mapped: Result<_, tensor::Error> = model.try_map(&mut |_, _, v| Ok(v.value().clone()));
    mapped.expect("unwrapping Var values cannot fail")
}

/// The named tensors of positional children (`"0.weight"`, `"1.bias"`), in child order.
pub(crate) fn by_position<X>(children: impl Iterator<Item = Vec<(String, X)>>) -> Vec<(String, X)> {
    children
        .enumerate()
        .flat_map(|(i, named)| {
            let prefix = i.to_string();
            named.into_iter().map(move |(n, t)| (join(&prefix, &n), t))
        })
        .collect()
}

/// `prefix.name`, or `name` alone for an empty prefix.
pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// One entry of a [`Sequential`]: any built-in layer, a nested `Sequential`, or a custom
/// module (which runs and trains like the others but cannot be mapped to another tensor
/// type generically: give a custom model its own [`MapParams`] instead).
pub enum Layer<T: TensorOps + 'static> {
    /// [`Linear`].
    Linear(Linear<T>),
    /// [`Conv2d`].
    Conv2d(Conv2d<T>),
    /// [`BatchNorm`] (1-D or 2-D).
    BatchNorm(BatchNorm<T>),
    /// [`LayerNorm`].
    LayerNorm(LayerNorm<T>),
    /// [`Embedding`].
    Embedding(Embedding<T>),
    /// An elementwise function: every activation module ([`crate::ReLU`], [`crate::GELU`],
    /// ...) converts to this.
    Activation(Activation),
    /// [`LeakyReLU`].
    LeakyReLU(LeakyReLU),
    /// [`Softmax`].
    Softmax(Softmax),
    /// [`LogSoftmax`].
    LogSoftmax(LogSoftmax),
    /// [`MaxPool2d`].
    MaxPool2d(MaxPool2d),
    /// [`AvgPool2d`].
    AvgPool2d(AvgPool2d),
    /// [`AdaptiveAvgPool2d`].
    AdaptiveAvgPool2d(AdaptiveAvgPool2d),
    /// [`Flatten`].
    Flatten(Flatten),
    /// [`Dropout`].
    Dropout(Dropout),
    /// A nested [`Sequential`].
    Sequential(Sequential<T>),
    /// Any other module.
    Custom(Box<dyn Module<T>>),
}

/// Runs `$body` with `$m` bound to the layer inside any variant.
macro_rules! each_layer {
    ($layer:expr, $m:ident => $body:expr) => {
        match $layer {
            Layer::Linear($m) => $body,
            Layer::Conv2d($m) => $body,
            Layer::BatchNorm($m) => $body,
            Layer::LayerNorm($m) => $body,
            Layer::Embedding($m) => $body,
            Layer::Activation($m) => $body,
            Layer::LeakyReLU($m) => $body,
            Layer::Softmax($m) => $body,
            Layer::LogSoftmax($m) => $body,
            Layer::MaxPool2d($m) => $body,
            Layer::AvgPool2d($m) => $body,
            Layer::AdaptiveAvgPool2d($m) => $body,
            Layer::Flatten($m) => $body,
            Layer::Dropout($m) => $body,
            Layer::Sequential($m) => $body,
            Layer::Custom($m) => $body,
        }
    };
}

impl<T: TensorOps + 'static> Module<T> for Layer<T> {
    fn forward(&self, x: &T) -> Result<T, T::Error> {
        each_layer!(self, m => Module::<T>::forward(m, x))
    }
    fn named_parameters(&self) -> Vec<(String, &T)> {
        each_layer!(self, m => Module::<T>::named_parameters(m))
    }
    fn named_parameters_mut(&mut self) -> Vec<(String, &mut T)> {
        each_layer!(self, m => Module::<T>::named_parameters_mut(m))
    }
    fn named_buffers(&self) -> Vec<(String, T)> {
        each_layer!(self, m => Module::<T>::named_buffers(m))
    }
    fn named_buffers_mut(&mut self) -> Vec<(String, &mut T)> {
        each_layer!(self, m => Module::<T>::named_buffers_mut(m))
    }
    fn train(&mut self, on: bool) {
        each_layer!(self, m => Module::<T>::train(m, on))
    }
}

impl<T: TensorOps + 'static> Layer<T> {
    fn try_map_at<U, E>(
        &self,
        index: usize,
        f: &mut dyn FnMut(&str, Role, &T) -> Result<U, E>,
    ) -> Result<Layer<U>, E>
    where
        U: TensorOps + 'static,
        E: From<tensor::Error>,
    {
        let prefix = index.to_string();
        let f = &mut |name: &str, role: Role, t: &T| f(&join(&prefix, name), role, t);
        Ok(match self {
            Layer::Linear(m) => Layer::Linear(m.try_map(f)?),
            Layer::Conv2d(m) => Layer::Conv2d(m.try_map(f)?),
            Layer::BatchNorm(m) => Layer::BatchNorm(m.try_map(f)?),
            Layer::LayerNorm(m) => Layer::LayerNorm(m.try_map(f)?),
            Layer::Embedding(m) => Layer::Embedding(m.try_map(f)?),
            Layer::Sequential(m) => Layer::Sequential(m.try_map(f)?),
            Layer::Activation(m) => Layer::Activation(*m),
            Layer::LeakyReLU(m) => Layer::LeakyReLU(*m),
            Layer::Softmax(m) => Layer::Softmax(*m),
            Layer::LogSoftmax(m) => Layer::LogSoftmax(*m),
            Layer::MaxPool2d(m) => Layer::MaxPool2d(*m),
            Layer::AvgPool2d(m) => Layer::AvgPool2d(*m),
            Layer::AdaptiveAvgPool2d(m) => Layer::AdaptiveAvgPool2d(*m),
            Layer::Flatten(m) => Layer::Flatten(*m),
            Layer::Dropout(m) => Layer::Dropout(m.clone()),
            Layer::Custom(_) => {
                return Err(tensor::Error::InvalidArgument {
                    op: "map_params",
                    reason: format!(
                        "layer {index} is a custom module, which cannot change tensor type \
                         generically; give the model its own MapParams"
                    ),
                }
                .into());
            }
        })
    }
}

macro_rules! layer_from {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(impl<T: TensorOps + 'static> From<$ty> for Layer<T> {
            fn from(m: $ty) -> Self {
                Layer::$variant(m)
            }
        })*
    };
}

layer_from!(
    Linear(Linear<T>),
    Conv2d(Conv2d<T>),
    BatchNorm(BatchNorm<T>),
    LayerNorm(LayerNorm<T>),
    Embedding(Embedding<T>),
    Activation(Activation),
    LeakyReLU(LeakyReLU),
    Softmax(Softmax),
    LogSoftmax(LogSoftmax),
    MaxPool2d(MaxPool2d),
    AvgPool2d(AvgPool2d),
    AdaptiveAvgPool2d(AdaptiveAvgPool2d),
    Flatten(Flatten),
    Dropout(Dropout),
    Sequential(Sequential<T>),
    Custom(Box<dyn Module<T>>),
);

/// Modules applied in order, as `torch.nn.Sequential`; parameters are named by position
/// (`"0.weight"`, `"2.bias"`, `"1.0.weight"` for nested containers).
///
/// ```
/// use nn::{Linear, Module, ReLU, Sequential};
/// use tensor::RingTensor;
/// let t = |s: &[usize], v: &[f64]| RingTensor::from_f64(s, v, 16).unwrap();
/// let model = Sequential::new(vec![
///     Linear::new(t(&[2, 1], &[1.0, -1.0]), None).into(),
///     ReLU.into(),
///     Linear::new(t(&[1, 2], &[1.0, 1.0]), Some(t(&[1], &[0.5]))).into(),
/// ]);
/// assert_eq!(model.forward(&t(&[1, 1], &[3.0]))?.to_f64(), vec![3.5]);
/// let names: Vec<String> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["0.weight", "2.weight", "2.bias"]);
/// # Ok::<(), tensor::Error>(())
/// ```
pub struct Sequential<T: TensorOps + 'static> {
    layers: Vec<Layer<T>>,
}

impl<T: TensorOps + 'static> Sequential<T> {
    /// The given layers, first applied first.
    pub fn new(layers: Vec<Layer<T>>) -> Self {
        Self { layers }
    }

    /// The layers.
    pub fn layers(&self) -> &[Layer<T>] {
        &self.layers
    }

    /// The layers, mutably.
    pub fn layers_mut(&mut self) -> &mut [Layer<T>] {
        &mut self.layers
    }

    /// Appends a layer.
    pub fn push(&mut self, layer: impl Into<Layer<T>>) {
        self.layers.push(layer.into());
    }
}

impl<T: TensorOps + 'static> Module<T> for Sequential<T> {
    fn forward(&self, x: &T) -> Result<T, T::Error> {
        let mut h = x.clone();
        for layer in &self.layers {
            h = layer.forward(&h)?;
        }
        Ok(h)
    }
    fn named_parameters(&self) -> Vec<(String, &T)> {
        by_position(self.layers.iter().map(|l| l.named_parameters()))
    }
    fn named_parameters_mut(&mut self) -> Vec<(String, &mut T)> {
        by_position(self.layers.iter_mut().map(|l| l.named_parameters_mut()))
    }
    fn named_buffers(&self) -> Vec<(String, T)> {
        by_position(self.layers.iter().map(|l| l.named_buffers()))
    }
    fn named_buffers_mut(&mut self) -> Vec<(String, &mut T)> {
        by_position(self.layers.iter_mut().map(|l| l.named_buffers_mut()))
    }
    fn train(&mut self, on: bool) {
        self.layers.iter_mut().for_each(|l| l.train(on));
    }
}

impl<T: TensorOps + 'static> MapParams<T> for Sequential<T> {
    type Mapped<U: TensorOps + 'static> = Sequential<U>;

    fn try_map<U, E>(
        &self,
        f: &mut dyn FnMut(&str, Role, &T) -> Result<U, E>,
    ) -> Result<Sequential<U>, E>
    where
        U: TensorOps + 'static,
        E: From<tensor::Error>,
    {
        let layers = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| l.try_map_at(i, f))
            .collect::<Result<_, E>>()?;
        Ok(Sequential { layers })
    }
}
