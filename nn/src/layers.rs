//! Layers without normalisation: [`Linear`], [`Conv2d`], [`Embedding`], the activations,
//! the pools, [`Flatten`] and [`Dropout`].
//!
//! Every layer is generic over the tensor op contract, so the same layer runs on plaintext,
//! on secret shares and with gradients. Activations that need comparisons (ReLU, LeakyReLU,
//! max pooling) get their derivative masks from the forward pass as private 0/1 tensors;
//! nothing about the data is revealed to route a gradient.

use std::cell::Cell;

use tensor::{Conv2dParams, Pool2dParams, RingTensor, TensorExt, TensorOps, UnaryOp, WindowFill};

use crate::init::{self, Rng};
use crate::module::{Layer, MapParams, Module, Role};
use crate::source::{Init, Params};

pub(crate) fn invalid<E: From<tensor::Error>>(op: &'static str, reason: String) -> E {
    tensor::Error::InvalidArgument { op, reason }.into()
}

/// Maps an optional tensor (an optional bias or affine weight).
pub(crate) fn map_opt<T, U, E>(
    t: &Option<T>,
    name: &str,
    f: &mut dyn FnMut(&str, Role, &T) -> Result<U, E>,
) -> Result<Option<U>, E> {
    t.as_ref().map(|t| f(name, Role::Parameter, t)).transpose()
}

/// `[("weight", w), ("bias", b)]` with the bias only when present.
fn weight_and_bias<'a, T>(w: &'a T, b: Option<&'a T>) -> Vec<(String, &'a T)> {
    std::iter::once(("weight".to_string(), w))
        .chain(b.map(|b| ("bias".to_string(), b)))
        .collect()
}

fn weight_and_bias_mut<'a, T>(w: &'a mut T, b: Option<&'a mut T>) -> Vec<(String, &'a mut T)> {
    std::iter::once(("weight".to_string(), w))
        .chain(b.map(|b| ("bias".to_string(), b)))
        .collect()
}

/// Implements [`Module`] for a layer without parameters whose forward pass is `$forward`.
macro_rules! stateless {
    ($ty:ty, |$self_:ident, $x:ident| $forward:expr) => {
        impl<T: TensorOps> Module<T> for $ty {
            fn forward(&$self_, $x: &T) -> Result<T, T::Error> {
                $forward
            }
            fn named_parameters(&self) -> Vec<(String, &T)> {
                Vec::new()
            }
            fn named_parameters_mut(&mut self) -> Vec<(String, &mut T)> {
                Vec::new()
            }
        }
    };
}

// ---------------------------------------------------------------- Linear

/// `y = x·Wᵀ + b`, with `W` of shape `[out, in]` and `b` of shape `[out]`, as
/// `torch.nn.Linear`.
#[derive(Clone, Debug)]
pub struct Linear<T> {
    /// Weight `[out_features, in_features]`.
    pub weight: T,
    /// Optional bias `[out_features]`.
    pub bias: Option<T>,
}

impl<T: TensorOps> Linear<T> {
    /// A layer with the given parameters.
    pub fn new(weight: T, bias: Option<T>) -> Self {
        Self { weight, bias }
    }
}

impl Linear<RingTensor> {
    /// A plaintext layer initialised as PyTorch does: weight and bias uniform in
    /// `±1/√in_features` (Kaiming-uniform with `a = √5`).
    ///
    /// # Errors
    /// Zero sizes.
    pub fn init(
        in_features: usize,
        out_features: usize,
        bias: bool,
        rng: &mut Rng,
    ) -> tensor::Result<Self> {
        Self::build(&mut Params::new(rng), in_features, out_features, bias)
    }
}

impl<T: TensorOps> Linear<T> {
    /// A layer whose weight (`"weight"`, `[out, in]`) and bias (`"bias"`) come from `p`:
    /// initialised as PyTorch does by an [`crate::InitSource`], loaded by a
    /// [`crate::LoadSource`], shared from its owner by the root crate's `ShareSource`.
    ///
    /// # Errors
    /// Zero sizes; whatever the source returns.
    pub fn build(
        p: &mut Params<'_, T>,
        in_features: usize,
        out_features: usize,
        bias: bool,
    ) -> Result<Self, T::Error> {
        let shape = [out_features, in_features];
        let weight = p.param("weight", &shape, Init::KaimingUniform)?;
        let bias = if bias {
            Some(p.param("bias", &[out_features], Init::fan_in_uniform(&shape)?)?)
        } else {
            None
        };
        Ok(Self { weight, bias })
    }
}

impl<T: TensorOps> Module<T> for Linear<T> {
    fn forward(&self, x: &T) -> Result<T, T::Error> {
        let w = self.weight.dims();
        if w.len() != 2 {
            return Err(invalid(
                "linear",
                format!("weight must be [out, in], got {w:?}"),
            ));
        }
        let y = x.matmul(&self.weight.transpose(0, 1)?)?;
        match &self.bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }
    fn named_parameters(&self) -> Vec<(String, &T)> {
        weight_and_bias(&self.weight, self.bias.as_ref())
    }
    fn named_parameters_mut(&mut self) -> Vec<(String, &mut T)> {
        weight_and_bias_mut(&mut self.weight, self.bias.as_mut())
    }
}

impl<T: TensorOps> MapParams<T> for Linear<T> {
    type Mapped<U: TensorOps + 'static> = Linear<U>;
    fn try_map<U, E>(
        &self,
        f: &mut dyn FnMut(&str, Role, &T) -> Result<U, E>,
    ) -> Result<Linear<U>, E>
    where
        U: TensorOps + 'static,
        E: From<tensor::Error>,
    {
        Ok(Linear {
            weight: f("weight", Role::Parameter, &self.weight)?,
            bias: map_opt(&self.bias, "bias", f)?,
        })
    }
}

// ---------------------------------------------------------------- Conv2d

/// 2-D convolution of `[N, C, H, W]` by a weight `[O, C/groups, kh, kw]` plus an optional
/// bias `[O]`, as `torch.nn.Conv2d` (stride, padding, dilation, groups).
#[derive(Clone, Debug)]
pub struct Conv2d<T> {
    /// Weight `[out_channels, in_channels/groups, kh, kw]`.
    pub weight: T,
    /// Optional bias `[out_channels]`.
    pub bias: Option<T>,
    /// Stride, padding, dilation and groups.
    pub params: Conv2dParams,
}

impl<T: TensorOps> Conv2d<T> {
    /// A layer with the given parameters.
    pub fn new(weight: T, bias: Option<T>, params: Conv2dParams) -> Self {
        Self {
            weight,
            bias,
            params,
        }
    }
}

impl Conv2d<RingTensor> {
    /// A plaintext layer initialised as PyTorch does (uniform in `±1/√fan_in` with
    /// `fan_in = in_channels/groups·kh·kw`).
    ///
    /// # Errors
    /// Zero sizes, or channel counts that the groups do not divide.
    pub fn init(
        in_channels: usize,
        out_channels: usize,
        kernel: (usize, usize),
        params: Conv2dParams,
        bias: bool,
        rng: &mut Rng,
    ) -> tensor::Result<Self> {
        Self::build(
            &mut Params::new(rng),
            in_channels,
            out_channels,
            kernel,
            params,
            bias,
        )
    }
}

impl<T: TensorOps> Conv2d<T> {
    /// A layer whose weight (`[out, in/groups, kh, kw]`) and bias come from `p` (see
    /// [`Linear::build`]).
    ///
    /// # Errors
    /// Zero sizes, channel counts that the groups do not divide; whatever the source returns.
    pub fn build(
        p: &mut Params<'_, T>,
        in_channels: usize,
        out_channels: usize,
        kernel: (usize, usize),
        params: Conv2dParams,
        bias: bool,
    ) -> Result<Self, T::Error> {
        let g = params.groups;
        if g == 0 || !in_channels.is_multiple_of(g) || !out_channels.is_multiple_of(g) {
            return Err(invalid(
                "conv2d",
                format!("{g} groups must divide {in_channels} and {out_channels} channels"),
            ));
        }
        let shape = [out_channels, in_channels / g, kernel.0, kernel.1];
        let weight = p.param("weight", &shape, Init::KaimingUniform)?;
        let bias = if bias {
            Some(p.param("bias", &[out_channels], Init::fan_in_uniform(&shape)?)?)
        } else {
            None
        };
        Ok(Self {
            weight,
            bias,
            params,
        })
    }
}

impl<T: TensorOps> Module<T> for Conv2d<T> {
    fn forward(&self, x: &T) -> Result<T, T::Error> {
        let w = self.weight.dims();
        if w.len() != 4 || x.dims().len() != 4 {
            return Err(invalid(
                "conv2d",
                format!(
                    "needs input [N, C, H, W] and weight [O, C/groups, kh, kw], got {:?} and {w:?}",
                    x.dims()
                ),
            ));
        }
        let y = x.conv2d(&self.weight, &self.params)?;
        match &self.bias {
            Some(b) => y.add(&b.reshape(&[1, w[0], 1, 1])?),
            None => Ok(y),
        }
    }
    fn named_parameters(&self) -> Vec<(String, &T)> {
        weight_and_bias(&self.weight, self.bias.as_ref())
    }
    fn named_parameters_mut(&mut self) -> Vec<(String, &mut T)> {
        weight_and_bias_mut(&mut self.weight, self.bias.as_mut())
    }
}

impl<T: TensorOps> MapParams<T> for Conv2d<T> {
    type Mapped<U: TensorOps + 'static> = Conv2d<U>;
    fn try_map<U, E>(
        &self,
        f: &mut dyn FnMut(&str, Role, &T) -> Result<U, E>,
    ) -> Result<Conv2d<U>, E>
    where
        U: TensorOps + 'static,
        E: From<tensor::Error>,
    {
        Ok(Conv2d {
            weight: f("weight", Role::Parameter, &self.weight)?,
            bias: map_opt(&self.bias, "bias", f)?,
            params: self.params,
        })
    }
}

// ---------------------------------------------------------------- Embedding

/// A lookup table `[num_embeddings, dim]`, as `torch.nn.Embedding`, applied to **one-hot**
/// inputs `[..., num_embeddings]`: `y = onehot · W`.
///
/// Indices that are secret cannot select a row directly without revealing it, so they come
/// in one-hot (shared by their owner, or built by [`one_hot`] when public); the product with a
/// 0/1 integer tensor needs no truncation, so a public one-hot lookup is exact and a private
/// one costs one matrix product. Class-index targets of [`crate::CrossEntropyLoss`] are
/// handled the same way.
#[derive(Clone, Debug)]
pub struct Embedding<T> {
    /// The table `[num_embeddings, embedding_dim]`.
    pub weight: T,
}

impl<T: TensorOps> Embedding<T> {
    /// A table with the given weight.
    pub fn new(weight: T) -> Self {
        Self { weight }
    }
}

impl Embedding<RingTensor> {
    /// A plaintext table initialised as PyTorch does (standard normal entries).
    ///
    /// # Errors
    /// Zero sizes.
    pub fn init(num_embeddings: usize, dim: usize, rng: &mut Rng) -> tensor::Result<Self> {
        Ok(Self {
            weight: init::normal(&[num_embeddings, dim], 0.0, 1.0, rng)?,
        })
    }
}

impl<T: TensorOps> Module<T> for Embedding<T> {
    fn forward(&self, one_hot: &T) -> Result<T, T::Error> {
        let (x, w) = (one_hot.dims(), self.weight.dims());
        if w.len() != 2 || x.last() != Some(&w[0]) {
            return Err(invalid(
                "embedding",
                format!(
                    "needs one-hot input [..., {}], got {x:?} (table {w:?})",
                    w[0]
                ),
            ));
        }
        one_hot.matmul(&self.weight)
    }
    fn named_parameters(&self) -> Vec<(String, &T)> {
        vec![("weight".to_string(), &self.weight)]
    }
    fn named_parameters_mut(&mut self) -> Vec<(String, &mut T)> {
        vec![("weight".to_string(), &mut self.weight)]
    }
}

impl<T: TensorOps> MapParams<T> for Embedding<T> {
    type Mapped<U: TensorOps + 'static> = Embedding<U>;
    fn try_map<U, E>(
        &self,
        f: &mut dyn FnMut(&str, Role, &T) -> Result<U, E>,
    ) -> Result<Embedding<U>, E>
    where
        U: TensorOps + 'static,
        E: From<tensor::Error>,
    {
        Ok(Embedding {
            weight: f("weight", Role::Parameter, &self.weight)?,
        })
    }
}

/// A public 0/1 integer one-hot encoding `[labels.len(), classes]` of public indices (for
/// [`Embedding`] inputs and class-index targets). Private indices are one-hot encoded by their
/// owner and shared.
///
/// # Errors
/// An index not below `classes`.
pub fn one_hot<T: TensorOps>(like: &T, labels: &[usize], classes: usize) -> Result<T, T::Error> {
    let mut v = vec![0i64; labels.len() * classes];
    for (i, &l) in labels.iter().enumerate() {
        if l >= classes {
            return Err(invalid(
                "one_hot",
                format!("label {l} at position {i} is not below {classes} classes"),
            ));
        }
        v[i * classes + l] = 1;
    }
    like.new_int_tensor(&[labels.len(), classes], &v)
}

// ---------------------------------------------------------------- activations

/// An elementwise function as a layer: the one module behind [`ReLU`], [`Sigmoid`], [`Tanh`],
/// [`GELU`], [`SiLU`] and [`Softplus`] (and any other [`UnaryOp`]). Its cost is exactly the
/// function's: in inference it asks for the function alone, and under a recording
/// `autograd::Var` the derivative comes with it from the same circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Activation {
    /// The function.
    pub op: UnaryOp,
}

stateless!(Activation, |self, x| x.unary(self.op));

/// Declares a PyTorch-named activation module for one [`UnaryOp`].
macro_rules! activation {
    ($(#[$attr:meta])* $name:ident => $op:ident) => {
        $(#[$attr])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;

        stateless!($name, |self, x| x.unary(UnaryOp::$op));

        impl<T: TensorOps + 'static> From<$name> for Layer<T> {
            fn from(_: $name) -> Self {
                Layer::Activation(Activation { op: UnaryOp::$op })
            }
        }
    };
}

activation!(
    /// `max(x, 0)`, as `torch.nn.ReLU` (its derivative is taken as 1 at 0).
    ReLU => Relu
);
activation!(
    /// The logistic function, as `torch.nn.Sigmoid`.
    Sigmoid => Sigmoid
);
activation!(
    /// Hyperbolic tangent, as `torch.nn.Tanh`.
    Tanh => Tanh
);
activation!(
    /// GELU in its exact (erf) form, as `torch.nn.GELU()`.
    #[allow(clippy::upper_case_acronyms)] // PyTorch's name
    GELU => Gelu
);
activation!(
    /// SiLU (swish) `x·σ(x)`, as `torch.nn.SiLU`.
    SiLU => Silu
);
activation!(
    /// Softplus `ln(1 + e^x)`, as `torch.nn.Softplus()` with `beta = 1` (computed in a form
    /// that never overflows, so PyTorch's `threshold` is not needed).
    Softplus => Softplus
);

/// `max(x, 0) + slope·min(x, 0)`, as `torch.nn.LeakyReLU`: `slope·x + (1 - slope)·relu(x)`,
/// one ReLU (whose step gives the derivative `slope` or 1).
#[derive(Clone, Copy, Debug)]
pub struct LeakyReLU {
    /// The slope for negative inputs (PyTorch's default 0.01).
    pub negative_slope: f64,
}

impl Default for LeakyReLU {
    fn default() -> Self {
        Self {
            negative_slope: 0.01,
        }
    }
}

stateless!(LeakyReLU, |self, x| {
    let s = self.negative_slope;
    x.mul_scalar(s)?.add(&x.relu()?.mul_scalar(1.0 - s)?)
});

/// Softmax over `dim`, as `torch.nn.Softmax(dim)`.
#[derive(Clone, Copy, Debug)]
pub struct Softmax {
    /// The dimension that sums to one.
    pub dim: usize,
}

stateless!(Softmax, |self, x| x.softmax(self.dim));

/// Log-softmax over `dim`, as `torch.nn.LogSoftmax(dim)`.
#[derive(Clone, Copy, Debug)]
pub struct LogSoftmax {
    /// The dimension normalised over.
    pub dim: usize,
}

stateless!(LogSoftmax, |self, x| x.log_softmax(self.dim));

// ---------------------------------------------------------------- pooling and shapes

/// 2-D max pooling, as `torch.nn.MaxPool2d` (zero padding never wins; at most half the
/// kernel). The windows are gathered (locally on shares) and reduced by a comparison tree;
/// with gradients, the tree also carries the one-hot position of each maximum, so backward
/// routes the gradient privately.
#[derive(Clone, Copy, Debug)]
pub struct MaxPool2d {
    /// Window, stride and padding.
    pub params: Pool2dParams,
}

impl MaxPool2d {
    /// A `k`×`k` window with stride `k`.
    pub fn new(k: usize) -> Self {
        Self {
            params: Pool2dParams::square(k),
        }
    }
}

stateless!(MaxPool2d, |self, x| {
    let p = &self.params;
    if 2 * p.padding.0 > p.kernel.0 || 2 * p.padding.1 > p.kernel.1 {
        return Err(invalid(
            "max_pool2d",
            format!(
                "padding {:?} must be at most half the kernel {:?}",
                p.padding, p.kernel
            ),
        ));
    }
    x.unfold2d(p, WindowFill::FirstTap)?.amax(4, false)
});

/// 2-D average pooling with padding counted as zeros, as `torch.nn.AvgPool2d`.
#[derive(Clone, Copy, Debug)]
pub struct AvgPool2d {
    /// Window, stride and padding.
    pub params: Pool2dParams,
}

impl AvgPool2d {
    /// A `k`×`k` window with stride `k`.
    pub fn new(k: usize) -> Self {
        Self {
            params: Pool2dParams::square(k),
        }
    }
}

stateless!(AvgPool2d, |self, x| x.avg_pool2d(&self.params));

/// Adaptive average pooling to a fixed output size, as `torch.nn.AdaptiveAvgPool2d`.
///
/// When the output size divides the input size this is an average pool with window and
/// stride `H/oh × W/ow` (exact division on shares); otherwise PyTorch's overlapping windows
/// are one product with a public averaging matrix, whose weights `1/count` are encoded to the
/// nearest ULP (a relative error of at most `2^-17·count` per weight).
#[derive(Clone, Copy, Debug)]
pub struct AdaptiveAvgPool2d {
    /// Output (height, width).
    pub output: (usize, usize),
}

stateless!(AdaptiveAvgPool2d, |self, x| {
    let s = x.dims();
    let (oh, ow) = self.output;
    if s.len() != 4 || oh == 0 || ow == 0 {
        return Err(invalid(
            "adaptive_avg_pool2d",
            format!(
                "needs [N, C, H, W] and a positive output size, got {s:?} and {:?}",
                self.output
            ),
        ));
    }
    let (h, w) = (s[2], s[3]);
    if h.is_multiple_of(oh) && w.is_multiple_of(ow) {
        let k = (h / oh, w / ow);
        return x.avg_pool2d(&Pool2dParams {
            kernel: k,
            stride: k,
            padding: (0, 0),
        });
    }
    // PyTorch's window for output i: [floor(i·len/out), ceil((i+1)·len/out))
    let range = |i: usize, len: usize, out: usize| (i * len / out, ((i + 1) * len).div_ceil(out));
    let mut a = vec![0.0; h * w * oh * ow];
    for i in 0..oh {
        for j in 0..ow {
            let (y0, y1) = range(i, h, oh);
            let (x0, x1) = range(j, w, ow);
            let inv = 1.0 / ((y1 - y0) * (x1 - x0)) as f64;
            for y in y0..y1 {
                for xx in x0..x1 {
                    a[(y * w + xx) * oh * ow + i * ow + j] = inv;
                }
            }
        }
    }
    let avg = x.new_tensor(&[h * w, oh * ow], &a)?;
    x.reshape(&[s[0], s[1], h * w])?
        .matmul(&avg)?
        .reshape(&[s[0], s[1], oh, ow])
});

/// Flattens dimensions `start_dim..=end_dim` into one, as `torch.nn.Flatten` (PyTorch's
/// default: from 1 to the last).
#[derive(Clone, Copy, Debug)]
pub struct Flatten {
    /// First dimension flattened.
    pub start_dim: usize,
    /// Last dimension flattened (`None`: the last one).
    pub end_dim: Option<usize>,
}

impl Default for Flatten {
    fn default() -> Self {
        Self {
            start_dim: 1,
            end_dim: None,
        }
    }
}

stateless!(Flatten, |self, x| {
    let s = x.dims();
    let end = self.end_dim.unwrap_or(s.len().saturating_sub(1));
    if self.start_dim > end || end >= s.len() {
        return Err(invalid(
            "flatten",
            format!(
                "dimensions {}..={end} do not fit a tensor of shape {s:?}",
                self.start_dim
            ),
        ));
    }
    let mut shape = s[..self.start_dim].to_vec();
    shape.push(s[self.start_dim..=end].iter().product());
    shape.extend_from_slice(&s[end + 1..]);
    x.reshape(&shape)
});

// ---------------------------------------------------------------- dropout

/// Zeroes each element with probability `p` in training mode and scales the rest by
/// `1/(1-p)`, as `torch.nn.Dropout`; the identity in evaluation mode.
///
/// The mask is a 0/1 integer tensor (the product with it needs no truncation). On secret
/// shares it comes from randomness every party contributes and stays private (no coalition
/// of fewer than all parties knows which elements were dropped); on plaintext it comes from a
/// PRNG seeded with `seed` and the number of calls so far, so runs reproduce.
#[derive(Clone, Debug)]
pub struct Dropout {
    /// Drop probability.
    pub p: f64,
    /// Seed of the plaintext masks.
    pub seed: u64,
    training: bool,
    calls: Cell<u64>,
}

impl Dropout {
    /// Dropout with probability `p` (in training mode).
    pub fn new(p: f64) -> Self {
        Self {
            p,
            seed: 0x64_726f_706f_7574,
            training: true,
            calls: Cell::new(0),
        }
    }

    /// Whether the layer is in training mode.
    pub fn is_training(&self) -> bool {
        self.training
    }
}

impl<T: TensorOps> Module<T> for Dropout {
    fn forward(&self, x: &T) -> Result<T, T::Error> {
        if !(0.0..=1.0).contains(&self.p) {
            return Err(invalid(
                "dropout",
                format!("probability {} is not in [0, 1]", self.p),
            ));
        }
        if !self.training || self.p == 0.0 {
            return Ok(x.clone());
        }
        if self.p == 1.0 {
            return x.mul_scalar(0.0);
        }
        let call = self.calls.get();
        self.calls.set(call + 1);
        let mask = x.bernoulli_mask(1.0 - self.p, self.seed.wrapping_add(call))?;
        x.mul(&mask)?.mul_scalar(1.0 / (1.0 - self.p))
    }
    fn named_parameters(&self) -> Vec<(String, &T)> {
        Vec::new()
    }
    fn named_parameters_mut(&mut self) -> Vec<(String, &mut T)> {
        Vec::new()
    }
    fn train(&mut self, on: bool) {
        self.training = on;
    }
}
