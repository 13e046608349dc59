//! Running a checked [`Model`] on any tensor type of the op contract (`FloatTensor`,
//! `RingTensor`, `CrypTensor`, `Var`).
//!
//! Values are either the backend's tensors or public constants. Constants (the `Constant`
//! op, shapes, and everything computed only from them: `Shape`, `Gather` and `Concat` on shapes,
//! `Cast`, `Range`, ...) are folded in `f64` on the plaintext reference, so a party never
//! computes privately on what is public. Initializers are the model owner's parameters: the
//! caller turns each into a backend tensor (for a private session, shared from the owner)
//! the first time a node reads it as data; an initializer read as a shape or an axis list stays
//! public.

use std::collections::BTreeMap;

use tensor::{
    BinaryOp, Conv2dParams, FloatTensor, LaneOp, Pool2dParams, ReduceOp, TensorOps, UnaryOp,
    WindowFill,
};

use crate::{Attr, Error, Model, Node, Result, Tensor};

/// The operators [`Model::run`] evaluates.
pub const SUPPORTED: &[&str] = &[
    "Abs",
    "Add",
    "AveragePool",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "Div",
    "Dropout",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "Identity",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "MatMul",
    "MaxPool",
    "Mul",
    "Neg",
    "Pow",
    "Range",
    "Reciprocal",
    "ReduceMean",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Shape",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
];

/// A value during evaluation: the backend's tensor, or a public constant.
#[derive(Clone)]
enum Value<T> {
    Data(T),
    Public(FloatTensor),
}

fn public(t: &Tensor) -> Result<FloatTensor> {
    FloatTensor::from_f64(&t.dims, &t.to_f64()).map_err(|e| Error::Invalid(e.to_string()))
}

impl Model {
    /// Refuses, before anything runs, a node whose operator [`Model::run`] does not evaluate.
    ///
    /// # Errors
    /// The first such node, its name and op.
    pub fn check_supported(&self) -> Result<()> {
        match self
            .nodes
            .iter()
            .find(|n| !SUPPORTED.contains(&n.op.as_str()))
        {
            None => Ok(()),
            Some(n) => Err(n.unsupported(format!(
                "operator {} is not supported (umbra imports: {})",
                n.op,
                SUPPORTED.join(", ")
            ))),
        }
    }

    /// Runs the graph on `inputs` (by graph input name, in any order) and returns the graph's
    /// outputs in order. `weight` turns an initializer into a backend tensor (called once per
    /// initializer that is read as data); `like` makes a public constant a backend tensor.
    ///
    /// # Errors
    /// A missing or misshapen input, an unsupported attribute (naming the node), or the
    /// backend's error, naming the node that raised it.
    pub fn run<T: TensorOps>(
        &self,
        inputs: &[(&str, T)],
        mut weight: impl FnMut(&str, &Tensor) -> std::result::Result<T, T::Error>,
    ) -> Result<Vec<T>> {
        self.check_supported()?;
        let mut env: BTreeMap<&str, Value<T>> = BTreeMap::new();
        for info in &self.inputs {
            let (_, t) = inputs
                .iter()
                .find(|(n, _)| *n == info.name)
                .ok_or_else(|| {
                    Error::Invalid(format!("graph input `{}` was not given", info.name))
                })?;
            if let Some(shape) = &info.shape {
                let dims = t.dims();
                let fits = dims.len() == shape.len()
                    && shape
                        .iter()
                        .zip(&dims)
                        .all(|(d, &n)| d.is_none_or(|d| d == n));
                if !fits {
                    return Err(Error::Invalid(format!(
                        "graph input `{}` has shape {dims:?}, the model declares {shape:?}",
                        info.name
                    )));
                }
            }
            env.insert(&info.name, Value::Data(t.clone()));
        }
        if let Some((n, _)) = inputs
            .iter()
            .find(|(n, _)| !self.inputs.iter().any(|i| i.name == *n))
        {
            return Err(Error::Invalid(format!("the model has no input `{n}`")));
        }
        let initializers: BTreeMap<&str, &Tensor> = self
            .initializers
            .iter()
            .map(|(n, t)| (n.as_str(), t))
            .collect();
        // A backend tensor to create public constants from (its scale and session).
        let like = inputs.first().map(|(_, t)| t.clone());
        for node in &self.nodes {
            let mut args: Vec<Option<Value<T>>> = Vec::with_capacity(node.inputs.len());
            for (k, name) in node.inputs.iter().enumerate() {
                if name.is_empty() {
                    args.push(None);
                    continue;
                }
                if let Some(v) = env.get(name.as_str()) {
                    args.push(Some(v.clone()));
                    continue;
                }
                let t = initializers[name.as_str()];
                let v = if is_public_input(&node.op, k) || !t.dtype.is_float() {
                    Value::Public(public(t)?)
                } else {
                    let v = Value::Data(weight(name, t).map_err(|e| backend(node, e))?);
                    env.insert(name, v.clone());
                    v
                };
                args.push(Some(v));
            }
            let outs = eval_node(node, args, like.as_ref())?;
            for (name, v) in node.outputs.iter().zip(outs) {
                if !name.is_empty() {
                    env.insert(name, v);
                }
            }
        }
        self.outputs
            .iter()
            .map(|o| match env.get(o.name.as_str()) {
                Some(Value::Data(t)) => Ok(t.clone()),
                Some(Value::Public(p)) => {
                    let like = like.as_ref().ok_or_else(|| {
                        Error::Invalid("a model with no inputs has only public outputs".into())
                    })?;
                    like.new_tensor(p.shape(), p.as_slice())
                        .map_err(|e| Error::Invalid(format!("output `{}`: {e}", o.name)))
                }
                None => Err(Error::Invalid(format!(
                    "output `{}` was not computed",
                    o.name
                ))),
            })
            .collect()
    }
}

/// Inputs that are shapes, axes or indices: public by their nature.
fn is_public_input(op: &str, k: usize) -> bool {
    matches!(
        (op, k),
        ("Reshape" | "Expand" | "Gather" | "Pow", 1)
            | ("Dropout", 1 | 2)
            | ("Squeeze" | "Unsqueeze" | "ReduceSum" | "ReduceMean", 1)
            | ("Clip", 1 | 2)
            | ("ConstantOfShape" | "Range", _)
    )
}

fn backend(node: &Node, e: impl std::error::Error) -> Error {
    Error::Unsupported {
        node: node.name.clone(),
        op: node.op.clone(),
        what: e.to_string(),
    }
}

fn int_attr(node: &Node, name: &str, default: i64) -> Result<i64> {
    match node.attrs.get(name) {
        None => Ok(default),
        Some(Attr::Int(i)) => Ok(*i),
        Some(_) => Err(node.unsupported(format!("attribute `{name}` must be an integer"))),
    }
}

fn float_attr(node: &Node, name: &str, default: f32) -> Result<f32> {
    match node.attrs.get(name) {
        None => Ok(default),
        Some(Attr::Float(f)) => Ok(*f),
        Some(_) => Err(node.unsupported(format!("attribute `{name}` must be a real"))),
    }
}

fn ints_attr(node: &Node, name: &str) -> Result<Option<Vec<i64>>> {
    match node.attrs.get(name) {
        None => Ok(None),
        Some(Attr::Ints(v)) => Ok(Some(v.clone())),
        Some(_) => Err(node.unsupported(format!("attribute `{name}` must be integers"))),
    }
}

fn string_attr<'a>(node: &'a Node, name: &str, default: &'a str) -> Result<&'a str> {
    match node.attrs.get(name) {
        None => Ok(default),
        Some(Attr::String(s)) => Ok(s),
        Some(_) => Err(node.unsupported(format!("attribute `{name}` must be a string"))),
    }
}

/// Normalises a possibly negative axis against `rank`.
fn axis(node: &Node, a: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    if a < -r || a >= r {
        return Err(node.unsupported(format!("axis {a} is out of range for rank {rank}")));
    }
    Ok(if a < 0 { (a + r) as usize } else { a as usize })
}

fn public_ints(node: &Node, v: &Option<Value<impl TensorOps>>, what: &str) -> Result<Vec<i64>> {
    match v {
        Some(Value::Public(p)) => Ok(p.as_slice().iter().map(|&x| x as i64).collect()),
        Some(Value::Data(_)) => Err(node.unsupported(format!(
            "{what} must be public (a constant or computed from shapes), not a private tensor"
        ))),
        None => Err(node.unsupported(format!("{what} is missing"))),
    }
}

fn eval_node<T: TensorOps>(
    node: &Node,
    args: Vec<Option<Value<T>>>,
    like: Option<&T>,
) -> Result<Vec<Value<T>>> {
    // Nodes whose data inputs are all public fold on the plaintext reference.
    let any_data = args.iter().any(|a| matches!(a, Some(Value::Data(_))));
    let shape_only = matches!(
        node.op.as_str(),
        "Shape" | "Constant" | "ConstantOfShape" | "Range"
    );
    if !any_data || shape_only {
        let folded: Vec<Option<Value<FloatTensor>>> = args
            .iter()
            .enumerate()
            .map(|(k, a)| match a {
                // shapes, axes and indices stay public; data becomes the fold's tensors
                Some(Value::Public(p)) if is_public_input(&node.op, k) => {
                    Some(Value::Public(p.clone()))
                }
                Some(Value::Public(p)) => Some(Value::Data(p.clone())),
                Some(Value::Data(t)) => Some(Value::Public(FloatTensor::zeros(&t.dims()))),
                None => None,
            })
            .collect();
        let outs = apply(node, folded, None)?;
        return Ok(outs
            .into_iter()
            .map(|v| match v {
                Value::Data(f) | Value::Public(f) => Value::Public(f),
            })
            .collect());
    }
    apply(node, args, like)
}

/// One node on backend `U` (the caller's tensors, or `FloatTensor` when folding).
fn apply<U: TensorOps>(
    node: &Node,
    args: Vec<Option<Value<U>>>,
    like: Option<&U>,
) -> Result<Vec<Value<U>>> {
    let err = |e: U::Error| backend(node, e);
    let op = node.op.as_str();
    // The first data input: its scale (and session) creates constants of the same kind.
    let anchor: Option<U> = args
        .iter()
        .find_map(|a| match a {
            Some(Value::Data(t)) => Some(t.clone()),
            _ => None,
        })
        .or_else(|| like.cloned());
    let to_data = |v: &Option<Value<U>>, what: &str| -> Result<U> {
        match v {
            Some(Value::Data(t)) => Ok(t.clone()),
            Some(Value::Public(p)) => {
                let a = anchor.as_ref().ok_or_else(|| {
                    node.unsupported(format!("{what} has no tensor to take a scale from"))
                })?;
                a.new_tensor(p.shape(), p.as_slice()).map_err(err)
            }
            None => Err(node.unsupported(format!("{what} is missing"))),
        }
    };
    let x = || to_data(args.first().unwrap_or(&None), "input 0");
    let y = || to_data(args.get(1).unwrap_or(&None), "input 1");
    let one = |t: U| Ok(vec![Value::Data(t)]);
    let constant = |t: FloatTensor| Ok(vec![Value::Public(t)]);
    let float = |shape: &[usize], v: Vec<f64>| {
        FloatTensor::from_f64(shape, &v).map_err(|e| node.unsupported(e.to_string()))
    };
    let unary = |u: UnaryOp| one(x()?.unary(u).map_err(err)?);
    let binary = |b: BinaryOp| one(x()?.binary(b, &y()?).map_err(err)?);
    match op {
        "Identity" | "Dropout" => {
            if op == "Dropout" && args.get(2).is_some_and(Option::is_some) {
                // training_mode: only a constant false is an inference graph
                let t = public_ints(node, &args[2], "Dropout's training_mode")?;
                if t.iter().any(|&v| v != 0) {
                    return Err(node.unsupported("training_mode = true (import is for inference)"));
                }
            }
            Ok(vec![
                args[0]
                    .clone()
                    .ok_or_else(|| node.unsupported("input 0 is missing"))?,
            ])
        }
        "Add" => binary(BinaryOp::Add),
        "Sub" => binary(BinaryOp::Sub),
        "Mul" => binary(BinaryOp::Mul),
        "Div" => match &args[1] {
            Some(Value::Public(p)) if p.numel() == 1 && p.as_slice()[0] != 0.0 => {
                one(x()?.mul_scalar(1.0 / p.as_slice()[0]).map_err(err)?)
            }
            _ => binary(BinaryOp::Div),
        },
        "Pow" => {
            let e = match &args[1] {
                Some(Value::Public(p)) if p.numel() == 1 => p.as_slice()[0],
                _ => return Err(node.unsupported("only a public scalar exponent is supported")),
            };
            let base = x()?;
            match e {
                0.5 => one(base.unary(UnaryOp::Sqrt).map_err(err)?),
                -0.5 => one(base.unary(UnaryOp::InvSqrt).map_err(err)?),
                1.0 => one(base),
                e if e.fract() == 0.0 && (2.0..=16.0).contains(&e) => {
                    let mut acc = base.clone();
                    for _ in 1..e as usize {
                        acc = acc.binary(BinaryOp::Mul, &base).map_err(err)?;
                    }
                    one(acc)
                }
                _ => Err(node.unsupported(format!(
                    "exponent {e} (supported: 0.5, -0.5 and the integers 1 to 16)"
                ))),
            }
        }
        "Neg" => one(x()?.neg().map_err(err)?),
        "Abs" => {
            let x = x()?;
            let r = x.unary(UnaryOp::Relu).map_err(err)?;
            one(r
                .mul_scalar(2.0)
                .map_err(err)?
                .binary(BinaryOp::Sub, &x)
                .map_err(err)?)
        }
        "Relu" => unary(UnaryOp::Relu),
        "Sigmoid" => unary(UnaryOp::Sigmoid),
        "Tanh" => unary(UnaryOp::Tanh),
        "Exp" => unary(UnaryOp::Exp),
        "Log" => unary(UnaryOp::Log),
        "Sqrt" => unary(UnaryOp::Sqrt),
        "Reciprocal" => unary(UnaryOp::Reciprocal),
        "Erf" => unary(UnaryOp::Erf),
        "Softplus" => unary(UnaryOp::Softplus),
        "Gelu" => match string_attr(node, "approximate", "none")? {
            "none" => unary(UnaryOp::Gelu),
            a => Err(node.unsupported(format!("approximate = \"{a}\" (only \"none\")"))),
        },
        "LeakyRelu" => {
            let alpha = f64::from(float_attr(node, "alpha", 0.01)?);
            let x = x()?;
            let r = x.unary(UnaryOp::Relu).map_err(err)?;
            let scaled = r.mul_scalar(1.0 - alpha).map_err(err)?;
            one(scaled
                .binary(BinaryOp::Add, &x.mul_scalar(alpha).map_err(err)?)
                .map_err(err)?)
        }
        "Clip" => {
            // clip(x, lo, hi) = lo + relu(x - lo) - relu(x - hi), from public bounds
            let bound = |k: usize| -> Result<Option<f64>> {
                match args.get(k) {
                    None | Some(None) => Ok(None),
                    Some(v) => Ok(public_ints_f(node, v, "Clip's bound")?),
                }
            };
            let (lo, hi) = (bound(1)?, bound(2)?);
            let mut t = x()?;
            if let Some(lo) = lo {
                t = t
                    .add_scalar(-lo)
                    .map_err(err)?
                    .unary(UnaryOp::Relu)
                    .map_err(err)?;
                t = t.add_scalar(lo).map_err(err)?;
            }
            if let Some(hi) = hi {
                let over = t
                    .add_scalar(-hi)
                    .map_err(err)?
                    .unary(UnaryOp::Relu)
                    .map_err(err)?;
                t = t.binary(BinaryOp::Sub, &over).map_err(err)?;
            }
            one(t)
        }
        "MatMul" => one(x()?.matmul(&y()?).map_err(err)?),
        "Gemm" => {
            let t = |t: U, flag: &str| -> Result<U> {
                if int_attr(node, flag, 0)? != 0 {
                    t.permute(&[1, 0]).map_err(err)
                } else {
                    Ok(t)
                }
            };
            let a = t(x()?, "transA")?;
            let b = t(y()?, "transB")?;
            let alpha = f64::from(float_attr(node, "alpha", 1.0)?);
            let mut out = a.matmul(&b).map_err(err)?;
            if alpha != 1.0 {
                out = out.mul_scalar(alpha).map_err(err)?;
            }
            if args.get(2).is_some_and(Option::is_some) {
                let beta = f64::from(float_attr(node, "beta", 1.0)?);
                let mut c = to_data(&args[2], "C")?;
                if beta != 1.0 {
                    c = c.mul_scalar(beta).map_err(err)?;
                }
                out = out.binary(BinaryOp::Add, &c).map_err(err)?;
            }
            one(out)
        }
        "Transpose" => {
            let x = x()?;
            let rank = x.dims().len();
            let perm = match ints_attr(node, "perm")? {
                Some(p) => p
                    .iter()
                    .map(|&a| axis(node, a, rank))
                    .collect::<Result<Vec<_>>>()?,
                None => (0..rank).rev().collect(),
            };
            one(x.permute(&perm).map_err(err)?)
        }
        "Reshape" => {
            let x = x()?;
            let shape = public_ints(node, &args[1], "the target shape")?;
            let allow_zero = int_attr(node, "allowzero", 0)? != 0;
            one(x
                .reshape(&reshape_dims(node, &x.dims(), &shape, allow_zero)?)
                .map_err(err)?)
        }
        "Flatten" => {
            let x = x()?;
            let dims = x.dims();
            let a = int_attr(node, "axis", 1)?;
            let a = if a == dims.len() as i64 {
                dims.len()
            } else {
                axis(node, a, dims.len())?
            };
            let outer: usize = dims[..a].iter().product();
            one(x
                .reshape(&[outer, dims[a..].iter().product()])
                .map_err(err)?)
        }
        "Squeeze" | "Unsqueeze" => {
            let x = x()?;
            let dims = x.dims();
            let axes = match args.get(1) {
                Some(Some(v)) => public_ints(node, &Some(v.clone()), "the axes")?,
                _ => ints_attr(node, "axes")?.unwrap_or_default(),
            };
            let new = if op == "Squeeze" {
                let drop = axes
                    .iter()
                    .map(|&a| axis(node, a, dims.len()))
                    .collect::<Result<Vec<_>>>()?;
                if let Some(&a) = drop.iter().find(|&&a| dims[a] != 1) {
                    return Err(node.unsupported(format!("axis {a} has size {} (not 1)", dims[a])));
                }
                dims.iter()
                    .enumerate()
                    .filter(|(i, d)| {
                        if drop.is_empty() {
                            **d != 1
                        } else {
                            !drop.contains(i)
                        }
                    })
                    .map(|(_, &d)| d)
                    .collect::<Vec<_>>()
            } else {
                let rank = dims.len() + axes.len();
                let mut add = axes
                    .iter()
                    .map(|&a| axis(node, a, rank))
                    .collect::<Result<Vec<_>>>()?;
                add.sort_unstable();
                let mut it = dims.iter();
                (0..rank)
                    .map(|i| {
                        if add.contains(&i) {
                            1
                        } else {
                            *it.next().unwrap_or(&1)
                        }
                    })
                    .collect()
            };
            one(x.reshape(&new).map_err(err)?)
        }
        "Concat" => {
            let parts = args
                .iter()
                .enumerate()
                .map(|(k, a)| to_data(a, &format!("input {k}")))
                .collect::<Result<Vec<_>>>()?;
            let rank = parts.first().map_or(0, |p| p.dims().len());
            let a = axis(node, int_attr(node, "axis", 0)?, rank)?;
            let refs: Vec<&U> = parts.iter().collect();
            one(U::concat(&refs, a).map_err(err)?)
        }
        "Softmax" | "LogSoftmax" => {
            let x = x()?;
            let a = axis(node, int_attr(node, "axis", -1)?, x.dims().len())?;
            let l = if op == "Softmax" {
                LaneOp::Softmax
            } else {
                LaneOp::LogSoftmax
            };
            one(x.lane(l, a).map_err(err)?)
        }
        "ReduceMean" | "ReduceSum" => {
            let x = x()?;
            let rank = x.dims().len();
            let axes = match args.get(1) {
                Some(Some(v)) => Some(public_ints(node, &Some(v.clone()), "the axes")?),
                _ => ints_attr(node, "axes")?,
            };
            let keep = int_attr(node, "keepdims", 1)? != 0;
            let axes = match axes {
                Some(a) if !a.is_empty() => a
                    .iter()
                    .map(|&a| axis(node, a, rank))
                    .collect::<Result<Vec<_>>>()?,
                _ if int_attr(node, "noop_with_empty_axes", 0)? != 0 => return one(x),
                _ => (0..rank).collect(),
            };
            let r = if op == "ReduceMean" {
                ReduceOp::Mean
            } else {
                ReduceOp::Sum
            };
            one(x.reduce(r, &axes, keep).map_err(err)?)
        }
        "GlobalAveragePool" => {
            let x = x()?;
            let rank = x.dims().len();
            one(x
                .reduce(ReduceOp::Mean, &(2..rank).collect::<Vec<_>>(), true)
                .map_err(err)?)
        }
        "AveragePool" | "MaxPool" => {
            let x = x()?;
            let p = pool_params(node)?;
            if op == "MaxPool" {
                if node.outputs.len() > 1 && !node.outputs[1].is_empty() {
                    return Err(node.unsupported("the Indices output is not supported"));
                }
                if 2 * p.padding.0 > p.kernel.0 || 2 * p.padding.1 > p.kernel.1 {
                    return Err(node.unsupported("padding larger than half the kernel"));
                }
                let w = x.unfold2d(&p, WindowFill::FirstTap).map_err(err)?;
                one(w.reduce(ReduceOp::Max, &[4], false).map_err(err)?)
            } else {
                let counts_pad = int_attr(node, "count_include_pad", 0)? != 0;
                if !counts_pad && (p.padding != (0, 0)) {
                    return Err(node.unsupported(
                        "count_include_pad = 0 with padding (only padding counted as zeros)",
                    ));
                }
                one(x.avg_pool2d(&p).map_err(err)?)
            }
        }
        "Conv" => {
            let x = x()?;
            let w = y()?;
            if w.dims().len() != 4 {
                return Err(node.unsupported("only 2-D convolutions are supported"));
            }
            let pair = |name: &str| -> Result<(usize, usize)> {
                match ints_attr(node, name)?.as_deref() {
                    None => Ok((1, 1)),
                    Some([a, b]) if *a > 0 && *b > 0 => Ok((*a as usize, *b as usize)),
                    Some(v) => Err(node.unsupported(format!("{name} = {v:?}"))),
                }
            };
            let params = Conv2dParams {
                stride: pair("strides")?,
                padding: symmetric_pads(node)?,
                dilation: pair("dilations")?,
                groups: usize::try_from(int_attr(node, "group", 1)?)
                    .map_err(|_| node.unsupported("a negative group count"))?,
            };
            let mut out = x.conv2d(&w, &params).map_err(err)?;
            if args.get(2).is_some_and(Option::is_some) {
                let b = to_data(&args[2], "the bias")?;
                let o = b.dims().iter().product();
                out = out
                    .binary(BinaryOp::Add, &b.reshape(&[1, o, 1, 1]).map_err(err)?)
                    .map_err(err)?;
            }
            one(out)
        }
        "Expand" => {
            let x = x()?;
            let shape = public_ints(node, &args[1], "the target shape")?;
            // numpy broadcasting of the two shapes
            let dims = x.dims();
            let rank = dims.len().max(shape.len());
            let get = |s: &[usize], i: usize| (i + s.len()).checked_sub(rank).map_or(1, |j| s[j]);
            let target: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
            let out: Vec<usize> = (0..rank)
                .map(|i| get(&dims, i).max(get(&target, i)))
                .collect();
            one(x.broadcast_to(&out).map_err(err)?)
        }
        "Gather" => {
            let x = x()?;
            let dims = x.dims();
            let a = axis(node, int_attr(node, "axis", 0)?, dims.len())?;
            let (idx, idx_shape) = match &args[1] {
                Some(Value::Public(p)) => (p.as_slice().to_vec(), p.shape().to_vec()),
                _ => {
                    return Err(node.unsupported(
                        "private indices (an embedding lookup on private token ids) are not supported yet",
                    ));
                }
            };
            let idx = idx
                .iter()
                .map(|&i| {
                    let i = i as i64;
                    let n = dims[a] as i64;
                    if i < -n || i >= n {
                        Err(node.unsupported(format!("index {i} is out of range for size {n}")))
                    } else {
                        Ok(if i < 0 { (i + n) as usize } else { i as usize })
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            let picked = x.index_select(a, &idx).map_err(err)?;
            let mut shape = dims[..a].to_vec();
            shape.extend_from_slice(&idx_shape);
            shape.extend_from_slice(&dims[a + 1..]);
            one(picked.reshape(&shape).map_err(err)?)
        }
        "Cast" => {
            let to = int_attr(node, "to", 0)?;
            match &args[0] {
                Some(Value::Public(p)) => {
                    let v: Vec<f64> = match crate::DType::from_onnx(to as i32) {
                        Some(d) if d.is_float() => p.as_slice().to_vec(),
                        Some(crate::DType::Bool) => p
                            .as_slice()
                            .iter()
                            .map(|&x| f64::from(u8::from(x != 0.0)))
                            .collect(),
                        Some(_) => p.as_slice().iter().map(|x| x.trunc()).collect(),
                        None => return Err(node.unsupported(format!("cast to type {to}"))),
                    };
                    constant(float(p.shape(), v)?)
                }
                _ => match crate::DType::from_onnx(to as i32) {
                    Some(d) if d.is_float() => one(x()?),
                    _ => Err(node.unsupported("a cast of a private tensor to an integer type")),
                },
            }
        }
        "Shape" => {
            let dims = match &args[0] {
                Some(Value::Data(t)) => t.dims(),
                Some(Value::Public(p)) => p.shape().to_vec(),
                None => return Err(node.unsupported("input 0 is missing")),
            };
            let r = dims.len() as i64;
            let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
            let start = clamp(int_attr(node, "start", 0)?);
            let end = clamp(int_attr(node, "end", r)?);
            let v: Vec<f64> = dims[start..end.max(start)]
                .iter()
                .map(|&d| d as f64)
                .collect();
            constant(float(&[v.len()], v)?)
        }
        "Constant" => {
            let t = match node.attrs.iter().next() {
                Some((_, Attr::Tensor(t))) => public(t)?,
                Some((name, Attr::Float(f))) if name == "value_float" => {
                    float(&[], vec![f64::from(*f)])?
                }
                Some((name, Attr::Floats(f))) if name == "value_floats" => {
                    float(&[f.len()], f.iter().map(|&x| f64::from(x)).collect())?
                }
                Some((name, Attr::Int(i))) if name == "value_int" => float(&[], vec![*i as f64])?,
                Some((name, Attr::Ints(i))) if name == "value_ints" => {
                    float(&[i.len()], i.iter().map(|&x| x as f64).collect())?
                }
                _ => return Err(node.unsupported("a Constant without a tensor or number value")),
            };
            constant(t)
        }
        "ConstantOfShape" => {
            let shape = public_ints(node, &args[0], "the shape")?;
            let shape: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
            let v = match node.attrs.get("value") {
                None => 0.0,
                Some(Attr::Tensor(t)) if t.len() == 1 => t.to_f64()[0],
                Some(_) => return Err(node.unsupported("value must be a one-element tensor")),
            };
            constant(float(&shape, vec![v; shape.iter().product()])?)
        }
        "Range" => {
            let get = |k: usize| -> Result<f64> {
                match args.get(k) {
                    Some(Some(Value::Public(p))) if p.numel() == 1 => Ok(p.as_slice()[0]),
                    _ => Err(node.unsupported("start, limit and delta must be public scalars")),
                }
            };
            let (start, limit, delta) = (get(0)?, get(1)?, get(2)?);
            if delta == 0.0 {
                return Err(node.unsupported("delta is 0"));
            }
            let n = ((limit - start) / delta).ceil().max(0.0) as usize;
            if n > 1 << 24 {
                return Err(node.unsupported(format!("a range of {n} elements")));
            }
            constant(float(
                &[n],
                (0..n).map(|i| start + i as f64 * delta).collect(),
            )?)
        }
        _ => Err(node.unsupported(format!("operator {op} is not supported"))),
    }
}

fn public_ints_f<U: TensorOps>(
    node: &Node,
    v: &Option<Value<U>>,
    what: &str,
) -> Result<Option<f64>> {
    match v {
        None => Ok(None),
        Some(Value::Public(p)) if p.numel() == 1 => Ok(Some(p.as_slice()[0])),
        Some(_) => Err(node.unsupported(format!("{what} must be a public scalar"))),
    }
}

fn reshape_dims(
    node: &Node,
    dims: &[usize],
    shape: &[i64],
    allow_zero: bool,
) -> Result<Vec<usize>> {
    let total: usize = dims.iter().product();
    let mut out = Vec::with_capacity(shape.len());
    let mut infer = None;
    for (i, &s) in shape.iter().enumerate() {
        out.push(match s {
            -1 if infer.is_none() => {
                infer = Some(i);
                1
            }
            0 if !allow_zero => *dims.get(i).ok_or_else(|| {
                node.unsupported(format!("shape {shape:?}: 0 at {i} has no input dimension"))
            })?,
            s if s >= 0 => s as usize,
            _ => return Err(node.unsupported(format!("shape {shape:?} is not a valid target"))),
        });
    }
    if let Some(i) = infer {
        let known: usize = out.iter().product();
        if known == 0 || !total.is_multiple_of(known) {
            return Err(node.unsupported(format!("shape {shape:?} does not fit {dims:?}")));
        }
        out[i] = total / known;
    }
    Ok(out)
}

fn symmetric_pads(node: &Node) -> Result<(usize, usize)> {
    let auto = string_attr(node, "auto_pad", "NOTSET")?;
    if auto != "NOTSET" && auto != "VALID" {
        return Err(node.unsupported(format!("auto_pad = {auto} (write explicit pads)")));
    }
    match ints_attr(node, "pads")?.as_deref() {
        None => Ok((0, 0)),
        Some([t, l, b, r]) if t == b && l == r && *t >= 0 && *l >= 0 => {
            Ok((*t as usize, *l as usize))
        }
        Some(p) => Err(node.unsupported(format!("pads {p:?} (only symmetric 2-D padding)"))),
    }
}

fn pool_params(node: &Node) -> Result<Pool2dParams> {
    let kernel = match ints_attr(node, "kernel_shape")?.as_deref() {
        Some([h, w]) if *h > 0 && *w > 0 => (*h as usize, *w as usize),
        k => return Err(node.unsupported(format!("kernel_shape {k:?} (only 2-D windows)"))),
    };
    let stride = match ints_attr(node, "strides")?.as_deref() {
        None => (1, 1),
        Some([h, w]) if *h > 0 && *w > 0 => (*h as usize, *w as usize),
        Some(s) => return Err(node.unsupported(format!("strides {s:?}"))),
    };
    if int_attr(node, "ceil_mode", 0)? != 0 {
        return Err(node.unsupported("ceil_mode = 1"));
    }
    if ints_attr(node, "dilations")?.is_some_and(|d| d.iter().any(|&x| x != 1)) {
        return Err(node.unsupported("dilated pooling"));
    }
    Ok(Pool2dParams {
        kernel,
        stride,
        padding: symmetric_pads(node)?,
    })
}

impl Tensor {
    /// The values as a plaintext reference tensor.
    ///
    /// # Errors
    /// Never for a tensor that loaded.
    pub fn to_float_tensor(&self) -> Result<FloatTensor> {
        public(self)
    }
}
