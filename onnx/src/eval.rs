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

use std::collections::{BTreeMap, BTreeSet};

use tensor::{
    BinaryOp, Conv2dParams, FloatTensor, LaneOp, Pool2dParams, ReduceOp, TensorOps, UnaryOp,
    WindowFill,
};

use crate::{Attr, Error, Model, Node, Result, Tensor};

/// The operators [`Model::run`] evaluates.
pub const SUPPORTED: &[&str] = &[
    "Abs",
    "Add",
    "And",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Celu",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "Div",
    "Dropout",
    "Elu",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "Greater",
    "GreaterOrEqual",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Log",
    "LogSoftmax",
    "MatMul",
    "Max",
    "MaxPool",
    "Mean",
    "Min",
    "Mul",
    "Neg",
    "Not",
    "Or",
    "PRelu",
    "Pad",
    "Pow",
    "Range",
    "Reciprocal",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceSum",
    "ReduceSumSquare",
    "Relu",
    "Reshape",
    "Selu",
    "Shape",
    "Sigmoid",
    "Sign",
    "Slice",
    "Softmax",
    "Softplus",
    "Softsign",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Tanh",
    "ThresholdedRelu",
    "Tile",
    "Transpose",
    "Unsqueeze",
    "Where",
    "Xor",
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
        weight: impl FnMut(&str, &Tensor) -> std::result::Result<T, T::Error>,
    ) -> Result<Vec<T>> {
        let like = inputs.first().map(|(_, t)| t.clone());
        self.eval(inputs, weight)?
            .into_iter()
            .zip(&self.outputs)
            .map(|(v, o)| match v {
                Value::Data(t) => Ok(t),
                Value::Public(p) => {
                    let like = like.as_ref().ok_or_else(|| {
                        Error::Invalid(
                            "a model with no inputs is all public: run it with Model::run_public"
                                .into(),
                        )
                    })?;
                    like.new_tensor(p.shape(), p.as_slice())
                        .map_err(|e| Error::Invalid(format!("output `{}`: {e}", o.name)))
                }
            })
            .collect()
    }

    /// Runs a graph with no inputs: everything in it is public (constants and the owner's
    /// initializers), so every party computes it locally, on the plaintext reference.
    ///
    /// # Errors
    /// A graph that has inputs, or as [`Model::run`].
    pub fn run_public(&self) -> Result<Vec<FloatTensor>> {
        if let Some(i) = self.inputs.first() {
            return Err(Error::Invalid(format!(
                "the model has input `{}`: run it with Model::run",
                i.name
            )));
        }
        Ok(self
            .eval::<FloatTensor>(&[], |_, w| FloatTensor::from_f64(&w.dims, &w.to_f64()))?
            .into_iter()
            .map(|v| match v {
                Value::Data(t) | Value::Public(t) => t,
            })
            .collect())
    }

    /// Graph inputs that are token ids: integer inputs read only as the indices of a `Gather`
    /// on axis 0 of a real initializer (an embedding table), by `Shape` and by `Identity`,
    /// each with the table's row count (the vocabulary).
    ///
    /// Such an input may be given to [`Model::run`] as its one-hot encoding (its shape with
    /// one more axis of the vocabulary's size, see [`one_hot`]): the lookup is then the
    /// product of the one-hot with the table, which needs no private indices, and the token
    /// owner builds the one-hot from its plaintext ids. `Shape` sees the ids' shape; an
    /// output or any other use gets the ids back (the one-hot times `0..V`, a local product).
    pub fn one_hot_inputs(&self) -> Vec<(String, usize)> {
        let mut found = Vec::new();
        for info in &self.inputs {
            if info.dtype.is_none_or(|d| d.is_float()) {
                continue;
            }
            let mut vocab: Option<usize> = None;
            let mut ok = true;
            for node in &self.nodes {
                for (k, name) in node.inputs.iter().enumerate() {
                    if *name != info.name {
                        continue;
                    }
                    match (node.op.as_str(), k) {
                        ("Shape" | "Identity", 0) => {}
                        ("Gather", 1) if int_attr(node, "axis", 0).is_ok_and(|a| a == 0) => {
                            let table = self
                                .initializers
                                .iter()
                                .find(|(n, _)| *n == node.inputs[0])
                                .map(|(_, t)| t)
                                .filter(|t| t.dtype.is_float() && !t.dims.is_empty());
                            match (table, vocab) {
                                (Some(t), None) => vocab = Some(t.dims[0]),
                                (Some(t), Some(v)) if t.dims[0] == v => {}
                                _ => ok = false,
                            }
                        }
                        _ => ok = false,
                    }
                }
            }
            if let (true, Some(v)) = (ok, vocab) {
                found.push((info.name.clone(), v));
            }
        }
        found
    }

    fn eval<T: TensorOps>(
        &self,
        inputs: &[(&str, T)],
        mut weight: impl FnMut(&str, &Tensor) -> std::result::Result<T, T::Error>,
    ) -> Result<Vec<Value<T>>> {
        self.check_supported()?;
        let mut env: BTreeMap<&str, Value<T>> = BTreeMap::new();
        if let Some((n, _)) = inputs
            .iter()
            .find(|(n, _)| !self.inputs.iter().any(|i| i.name == *n))
        {
            return Err(Error::Invalid(format!("the model has no input `{n}`")));
        }
        // Values of an integer or boolean type (ONNX's integer ops differ from real ones).
        let mut ints: BTreeSet<&str> = BTreeSet::new();
        let vocabularies = self.one_hot_inputs();
        // One-hot encoded token ids: the ids' shape.
        let mut one_hot: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for info in &self.inputs {
            let (_, t) = inputs
                .iter()
                .find(|(n, _)| *n == info.name)
                .ok_or_else(|| {
                    Error::Invalid(format!("graph input `{}` was not given", info.name))
                })?;
            let mut dims = t.dims();
            let vocab = vocabularies
                .iter()
                .find(|(n, _)| *n == info.name)
                .map(|(_, v)| *v);
            let rank = info.shape.as_ref().map(Vec::len);
            if let (Some(v), Some(r)) = (vocab, rank)
                && dims.len() == r + 1
                && dims.last() == Some(&v)
            {
                dims.pop();
                one_hot.insert(&info.name, dims.clone());
            }
            if let Some(shape) = &info.shape {
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
            if info.dtype.is_some_and(|d| !d.is_float()) {
                ints.insert(&info.name);
            }
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
            let mut lookup: Option<(T, Vec<usize>)> = None;
            for (k, name) in node.inputs.iter().enumerate() {
                if name.is_empty() {
                    args.push(None);
                    continue;
                }
                if let Some(ids) = one_hot.get(name.as_str()) {
                    let Some(Value::Data(hot)) = env.get(name.as_str()) else {
                        unreachable!("one-hot inputs are data")
                    };
                    match (node.op.as_str(), k) {
                        ("Shape", 0) => {
                            let zeros =
                                FloatTensor::from_f64(ids, &vec![0.0; ids.iter().product()])
                                    .map_err(|e| Error::Invalid(e.to_string()))?;
                            args.push(Some(Value::Public(zeros)));
                        }
                        // the lookup, and ids passed on (which stay one-hot)
                        ("Gather", 1) | ("Identity", 0) => {
                            lookup = Some((hot.clone(), ids.clone()));
                            args.push(None);
                        }
                        _ => args.push(Some(Value::Data(
                            ids_of_one_hot(hot, ids).map_err(|e| backend(node, e))?,
                        ))),
                    }
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
            let arg_ints: Vec<bool> = node
                .inputs
                .iter()
                .map(|n| {
                    ints.contains(n.as_str())
                        || initializers
                            .get(n.as_str())
                            .is_some_and(|t| !t.dtype.is_float())
                })
                .collect();
            let integer = integer_outputs(node, &arg_ints)?;
            let outs = match lookup {
                Some((hot, ids)) if node.op == "Identity" => {
                    // an output gets the ids back below
                    one_hot.insert(&node.outputs[0], ids);
                    vec![Value::Data(hot)]
                }
                Some((hot, ids)) => vec![Value::Data(
                    embedding_lookup(&args[0], &hot, &ids, like.as_ref())
                        .map_err(|e| backend(node, e))?,
                )],
                None => eval_node(node, args, like.as_ref(), integer)?,
            };
            for (name, v) in node.outputs.iter().zip(outs) {
                if !name.is_empty() {
                    env.insert(name, v);
                    if integer {
                        ints.insert(name);
                    }
                }
            }
        }
        self.outputs
            .iter()
            .map(|o| {
                let v = env.get(o.name.as_str()).cloned().ok_or_else(|| {
                    Error::Invalid(format!("output `{}` was not computed", o.name))
                })?;
                match (one_hot.get(o.name.as_str()), v) {
                    (Some(ids), Value::Data(hot)) => {
                        Ok(Value::Data(ids_of_one_hot(&hot, ids).map_err(|e| {
                            Error::Invalid(format!("output `{}`: {e}", o.name))
                        })?))
                    }
                    (_, v) => Ok(v),
                }
            })
            .collect()
    }
}

/// The one-hot encoding of token ids for [`Model::run`]'s one-hot inputs: `ids` (of shape
/// `shape`) as a tensor of shape `shape` with one more axis of size `vocab`.
///
/// # Errors
/// An id that is not an integer in `0..vocab` (naming it and its position), or a shape that
/// does not hold `ids`.
pub fn one_hot(ids: &[f64], shape: &[usize], vocab: usize) -> Result<FloatTensor> {
    if shape.iter().product::<usize>() != ids.len() {
        return Err(Error::Invalid(format!(
            "{} token ids do not fill shape {shape:?}",
            ids.len()
        )));
    }
    let mut hot = vec![0.0; ids.len() * vocab];
    for (i, &id) in ids.iter().enumerate() {
        if id.fract() != 0.0 || id < 0.0 || id >= vocab as f64 {
            return Err(Error::Invalid(format!(
                "token id {id} (position {i}) is outside the vocabulary 0..{vocab}"
            )));
        }
        hot[i * vocab + id as usize] = 1.0;
    }
    let mut dims = shape.to_vec();
    dims.push(vocab);
    FloatTensor::from_f64(&dims, &hot).map_err(|e| Error::Invalid(e.to_string()))
}

/// `table[ids]` for one-hot ids: the one-hot `[n, V]` times the table `[V, rest]`.
fn embedding_lookup<T: TensorOps>(
    table: &Option<Value<T>>,
    hot: &T,
    ids: &[usize],
    like: Option<&T>,
) -> std::result::Result<T, T::Error> {
    let table = match table {
        Some(Value::Data(t)) => t.clone(),
        Some(Value::Public(p)) => like.unwrap_or(hot).new_tensor(p.shape(), p.as_slice())?,
        None => unreachable!("Gather has its data input (checked at load)"),
    };
    let dims = table.dims();
    let n: usize = ids.iter().product();
    let rest: usize = dims[1..].iter().product();
    // A 2-D table is used as it is (not reshaped into a new tensor), so that a private
    // table keeps its fixed Beaver mask across queries.
    let table = if dims.len() == 2 {
        table
    } else {
        table.reshape(&[dims[0], rest])?
    };
    let picked = hot.reshape(&[n, dims[0]])?.matmul(&table)?;
    let mut shape = ids.to_vec();
    shape.extend_from_slice(&dims[1..]);
    picked.reshape(&shape)
}

/// Token ids back from their one-hot encoding: the one-hot times `0..V`, a product with a
/// public integer vector (local, exact).
fn ids_of_one_hot<T: TensorOps>(hot: &T, ids: &[usize]) -> std::result::Result<T, T::Error> {
    let v = *hot
        .dims()
        .last()
        .expect("a one-hot has its vocabulary axis");
    let n: usize = ids.iter().product();
    let range: Vec<i64> = (0..v as i64).collect();
    hot.reshape(&[n, v])?
        .matmul(&hot.new_int_tensor(&[v, 1], &range)?)?
        .reshape(ids)
}

/// Whether input `k` of operator `op` is a shape, an axis list, indices, a bound or an
/// exponent: a value umbra requires to be public (a constant, an initializer or computed from
/// shapes), never a private tensor.
pub fn is_public_input(op: &str, k: usize) -> bool {
    matches!(
        (op, k),
        ("Reshape" | "Expand" | "Gather" | "Pow", 1)
            | ("Dropout", 1 | 2)
            | ("Slice", 1..=4)
            | ("Split" | "Tile", 1)
            | ("Pad", 1..=3)
            | (
                "ReduceMax"
                    | "ReduceMin"
                    | "ReduceSumSquare"
                    | "ReduceL1"
                    | "ReduceL2"
                    | "ReduceLogSumExp",
                1
            )
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

/// Whether a node's outputs are integers (or booleans), from its inputs' types.
fn integer_outputs(node: &Node, arg_ints: &[bool]) -> Result<bool> {
    let data: Vec<bool> = node
        .inputs
        .iter()
        .enumerate()
        .filter(|(k, n)| !n.is_empty() && !is_public_input(&node.op, *k))
        .map(|(k, _)| arg_ints[k])
        .collect();
    Ok(match node.op.as_str() {
        "Shape" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "Equal" | "Not"
        | "And" | "Or" | "Xor" => true,
        "Cast" => {
            crate::DType::from_onnx(int_attr(node, "to", 1)? as i32).is_some_and(|d| !d.is_float())
        }
        "Constant" => match node.attrs.iter().next() {
            Some((_, Attr::Tensor(t))) => !t.dtype.is_float(),
            Some((_, Attr::Int(_) | Attr::Ints(_))) => true,
            _ => false,
        },
        "ConstantOfShape" => match node.attrs.get("value") {
            Some(Attr::Tensor(t)) => !t.dtype.is_float(),
            _ => false,
        },
        "Range" => arg_ints.iter().all(|&i| i),
        _ => !data.is_empty() && data.iter().all(|&i| i),
    })
}

fn eval_node<T: TensorOps>(
    node: &Node,
    args: Vec<Option<Value<T>>>,
    like: Option<&T>,
    integer: bool,
) -> Result<Vec<Value<T>>> {
    // Nodes whose data inputs are all public fold on the plaintext reference.
    let any_data = args.iter().any(|a| matches!(a, Some(Value::Data(_))));
    if integer && node.op == "Div" && any_data {
        return Err(node.unsupported(
            "integer division of a private tensor (private tensors are fixed-point reals; \
             the truncated quotient needs a floor umbra does not compute privately)",
        ));
    }
    let shape_only = matches!(
        node.op.as_str(),
        "Shape" | "Constant" | "ConstantOfShape" | "Range"
    );
    if !any_data && node.op == "Cast" {
        return match args.first() {
            Some(Some(Value::Public(p))) => Ok(vec![Value::Public(cast_public(node, p)?)]),
            _ => Err(node.unsupported("input 0 is missing")),
        };
    }
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
                // integer division truncates toward zero
                Value::Data(f) | Value::Public(f) if integer && node.op == "Div" => {
                    Value::Public(f.map(f64::trunc))
                }
                Value::Data(f) | Value::Public(f) => Value::Public(f),
            })
            .collect());
    }
    apply(node, args, like)
}

/// Stand-in for ±float max and ±infinity in a public constant that meets private data on a
/// backend that cannot hold them (fixed point holds magnitudes below 2^47).
pub const FLOAT_MAX_STAND_IN: f64 = (1u64 << 20) as f64;

/// A public constant with its "minus infinity" entries (±`f32::MAX` or more, the idiom
/// exporters use for an attention mask: `(1 - mask) * finfo.min`) replaced by
/// ±[`FLOAT_MAX_STAND_IN`], or `None` when it has none. 2^20 is far beyond what masking needs
/// (`exp` is 0 below -16 at 16 bits) and keeps a product with a 0/1 mask and a sum with
/// scores well inside the format.
fn saturate_float_max(v: &[f64]) -> Option<Vec<f64>> {
    let huge = |x: f64| x.abs() >= f64::from(f32::MAX);
    v.iter().any(|&x| huge(x)).then(|| {
        v.iter()
            .map(|&x| {
                if huge(x) {
                    FLOAT_MAX_STAND_IN.copysign(x)
                } else {
                    x
                }
            })
            .collect()
    })
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
                a.new_tensor(p.shape(), p.as_slice())
                    .or_else(|e| match saturate_float_max(p.as_slice()) {
                        Some(v) => a.new_tensor(p.shape(), &v),
                        None => Err(e),
                    })
                    .map_err(err)
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
                // training_mode: an inference graph, or a ratio of 0 (nothing dropped)
                let t = public_ints(node, &args[2], "Dropout's training_mode")?;
                let ratio = match args.get(1) {
                    Some(Some(Value::Public(p))) if p.numel() == 1 => p.as_slice()[0],
                    None | Some(None) => 0.5,
                    Some(Some(_)) => return Err(node.unsupported("a private ratio")),
                };
                if t.iter().any(|&v| v != 0) && ratio != 0.0 {
                    return Err(node.unsupported(
                        "training_mode = true with a ratio above 0 (a random mask; import is \
                         for inference)",
                    ));
                }
            }
            let x = args[0]
                .clone()
                .ok_or_else(|| node.unsupported("input 0 is missing"))?;
            let mut outs = vec![x.clone()];
            if op == "Dropout" && node.outputs.len() > 1 {
                // the mask of kept elements: all of them
                let dims = match &x {
                    Value::Data(t) => t.dims(),
                    Value::Public(p) => p.shape().to_vec(),
                };
                outs.push(Value::Public(float(
                    &dims,
                    vec![1.0; dims.iter().product()],
                )?));
            }
            Ok(outs)
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
                Some(Value::Public(p)) => {
                    // x^e for a public tensor of integer exponents: sum over the distinct
                    // exponents k of x^k times the public mask of where e = k
                    let v = p.as_slice();
                    if v.iter()
                        .any(|e| e.fract() != 0.0 || !(0.0..=16.0).contains(e))
                    {
                        return Err(node
                            .unsupported("a tensor of exponents must hold integers from 0 to 16"));
                    }
                    let base = x()?;
                    let top = v.iter().fold(0.0f64, |a, &b| a.max(b)) as usize;
                    let mut power = base.ones_like().map_err(err)?;
                    let mut out: Option<U> = None;
                    for k in 0..=top {
                        if k > 0 {
                            power = power.binary(BinaryOp::Mul, &base).map_err(err)?;
                        }
                        let mask: Vec<f64> = v
                            .iter()
                            .map(|&e| f64::from(u8::from(e as usize == k)))
                            .collect();
                        if mask.iter().all(|&m| m == 0.0) {
                            continue;
                        }
                        let m = power.new_tensor(p.shape(), &mask).map_err(err)?;
                        let term = power.binary(BinaryOp::Mul, &m).map_err(err)?;
                        out = Some(match out {
                            None => term,
                            Some(o) => o.binary(BinaryOp::Add, &term).map_err(err)?,
                        });
                    }
                    return one(out.ok_or_else(|| node.unsupported("no exponents"))?);
                }
                _ => return Err(node.unsupported("the exponent must be public")),
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
            "tanh" => {
                // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
                let x = x()?;
                let x3 = x
                    .binary(BinaryOp::Mul, &x)
                    .and_then(|x2| x2.binary(BinaryOp::Mul, &x))
                    .map_err(err)?;
                let inner = x3
                    .mul_scalar(0.044715)
                    .and_then(|t| t.binary(BinaryOp::Add, &x))
                    .and_then(|t| t.mul_scalar((2.0 / std::f64::consts::PI).sqrt()))
                    .and_then(|t| t.unary(UnaryOp::Tanh))
                    .and_then(|t| t.add_scalar(1.0))
                    .map_err(err)?;
                one(x
                    .mul_scalar(0.5)
                    .and_then(|h| h.binary(BinaryOp::Mul, &inner))
                    .map_err(err)?)
            }
            a => Err(node.unsupported(format!("approximate = \"{a}\" (none or tanh)"))),
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
        "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "Equal" => {
            // From the Heaviside step [t >= 0], exact on every backend; 0/1 results.
            let (a, b) = (x()?, y()?);
            let step = |t: U| t.unary(UnaryOp::Step).map_err(err);
            let not = |t: U| t.neg().and_then(|t| t.add_scalar(1.0)).map_err(err);
            let diff = |p: &U, q: &U| p.binary(BinaryOp::Sub, q).map_err(err);
            one(match op {
                "Less" => not(step(diff(&a, &b)?)?)?,
                "Greater" => not(step(diff(&b, &a)?)?)?,
                "LessOrEqual" => step(diff(&b, &a)?)?,
                "GreaterOrEqual" => step(diff(&a, &b)?)?,
                _ => step(diff(&a, &b)?)?
                    .binary(BinaryOp::Add, &step(diff(&b, &a)?)?)
                    .and_then(|t| t.add_scalar(-1.0))
                    .map_err(err)?,
            })
        }
        "Not" => one(x()?.neg().and_then(|t| t.add_scalar(1.0)).map_err(err)?),
        "And" => binary(BinaryOp::Mul),
        "Or" | "Xor" => {
            // a + b - ab, and a + b - 2ab, on 0/1 values
            let (a, b) = (x()?, y()?);
            let ab = a.binary(BinaryOp::Mul, &b).map_err(err)?;
            let k = if op == "Or" { 1.0 } else { 2.0 };
            one(a
                .binary(BinaryOp::Add, &b)
                .and_then(|s| s.binary(BinaryOp::Sub, &ab.mul_scalar(k)?))
                .map_err(err)?)
        }
        "Where" => {
            // b + cond (a - b), cond 0/1 (public or private)
            let c = to_data(&args[0], "the condition")?;
            let a = to_data(args.get(1).unwrap_or(&None), "input 1")?;
            let b = to_data(args.get(2).unwrap_or(&None), "input 2")?;
            let picked = a
                .binary(BinaryOp::Sub, &b)
                .and_then(|d| c.binary(BinaryOp::Mul, &d))
                .and_then(|t| t.binary(BinaryOp::Add, &b))
                .map_err(err)?;
            // the result has the broadcast shape of all three
            let shape = broadcast_shape(node, &[c.dims(), a.dims(), b.dims()])?;
            one(picked.broadcast_to(&shape).map_err(err)?)
        }
        "Max" | "Min" | "Sum" | "Mean" => {
            let parts = args
                .iter()
                .enumerate()
                .map(|(k, a)| to_data(a, &format!("input {k}")))
                .collect::<Result<Vec<_>>>()?;
            let mut acc = parts
                .first()
                .cloned()
                .ok_or_else(|| node.unsupported("no inputs"))?;
            for p in &parts[1..] {
                acc = match op {
                    // max(a, b) = b + relu(a - b); min(a, b) = a - relu(a - b)
                    "Max" => acc
                        .binary(BinaryOp::Sub, p)
                        .and_then(|d| d.unary(UnaryOp::Relu))
                        .and_then(|r| r.binary(BinaryOp::Add, p)),
                    "Min" => acc
                        .binary(BinaryOp::Sub, p)
                        .and_then(|d| d.unary(UnaryOp::Relu))
                        .and_then(|r| acc.binary(BinaryOp::Sub, &r)),
                    _ => acc.binary(BinaryOp::Add, p),
                }
                .map_err(err)?;
            }
            let shape = broadcast_shape(node, &parts.iter().map(|p| p.dims()).collect::<Vec<_>>())?;
            if op == "Mean" {
                acc = acc.mul_scalar(1.0 / parts.len() as f64).map_err(err)?;
            }
            one(acc.broadcast_to(&shape).map_err(err)?)
        }
        "Sign" => {
            let x = x()?;
            let pos = x.unary(UnaryOp::Step).map_err(err)?;
            let neg = x.neg().and_then(|n| n.unary(UnaryOp::Step)).map_err(err)?;
            one(pos.binary(BinaryOp::Sub, &neg).map_err(err)?)
        }
        "PRelu" => {
            // relu(x) + slope (x - relu(x))
            let (x, slope) = (x()?, y()?);
            let r = x.unary(UnaryOp::Relu).map_err(err)?;
            let neg = x.binary(BinaryOp::Sub, &r).map_err(err)?;
            one(slope
                .binary(BinaryOp::Mul, &neg)
                .and_then(|t| t.binary(BinaryOp::Add, &r))
                .map_err(err)?)
        }
        "ThresholdedRelu" => {
            // x [x > alpha] = x (1 - [alpha - x >= 0])
            let alpha = f64::from(float_attr(node, "alpha", 1.0)?);
            let x = x()?;
            let keep = x
                .neg()
                .and_then(|t| t.add_scalar(alpha))
                .and_then(|t| t.unary(UnaryOp::Step))
                .and_then(|t| t.neg())
                .and_then(|t| t.add_scalar(1.0))
                .map_err(err)?;
            one(x.binary(BinaryOp::Mul, &keep).map_err(err)?)
        }
        "HardSigmoid" | "HardSwish" => {
            // clip(alpha x + beta, 0, 1) = relu(t) - relu(t - 1); HardSwish: x times it
            let (alpha, beta) = if op == "HardSigmoid" {
                (
                    f64::from(float_attr(node, "alpha", 0.2)?),
                    f64::from(float_attr(node, "beta", 0.5)?),
                )
            } else {
                (1.0 / 6.0, 0.5)
            };
            let x = x()?;
            let t = x
                .mul_scalar(alpha)
                .and_then(|t| t.add_scalar(beta))
                .map_err(err)?;
            let h = t
                .unary(UnaryOp::Relu)
                .and_then(|r| r.binary(BinaryOp::Sub, &t.add_scalar(-1.0)?.unary(UnaryOp::Relu)?))
                .map_err(err)?;
            if op == "HardSigmoid" {
                one(h)
            } else {
                one(x.binary(BinaryOp::Mul, &h).map_err(err)?)
            }
        }
        "Elu" | "Celu" | "Selu" => {
            // relu(x) + alpha (e^(min(x, 0) / a) - 1), scaled for Selu
            let x = x()?;
            let (alpha, inner, gamma) = match op {
                "Elu" => (f64::from(float_attr(node, "alpha", 1.0)?), 1.0, 1.0),
                "Celu" => {
                    let a = f64::from(float_attr(node, "alpha", 1.0)?);
                    (a, 1.0 / a, 1.0)
                }
                _ => (
                    f64::from(float_attr(node, "alpha", 1.673_263_2)?),
                    1.0,
                    f64::from(float_attr(node, "gamma", 1.050_701)?),
                ),
            };
            let r = x.unary(UnaryOp::Relu).map_err(err)?;
            let neg = x
                .binary(BinaryOp::Sub, &r)
                .and_then(|m| m.mul_scalar(inner))
                .and_then(|m| m.unary(UnaryOp::Exp))
                .and_then(|e| e.add_scalar(-1.0))
                .and_then(|e| e.mul_scalar(alpha))
                .map_err(err)?;
            one(r
                .binary(BinaryOp::Add, &neg)
                .and_then(|t| t.mul_scalar(gamma))
                .map_err(err)?)
        }
        "Softsign" => {
            // x / (1 + |x|)
            let x = x()?;
            let abs = x
                .unary(UnaryOp::Relu)
                .and_then(|r| r.mul_scalar(2.0))
                .and_then(|r| r.binary(BinaryOp::Sub, &x))
                .map_err(err)?;
            let d = abs
                .add_scalar(1.0)
                .and_then(|d| d.unary(UnaryOp::Reciprocal))
                .map_err(err)?;
            one(x.binary(BinaryOp::Mul, &d).map_err(err)?)
        }
        "Slice" => {
            let x = x()?;
            let dims = x.dims();
            let starts = public_ints(node, &args[1], "starts")?;
            let ends = public_ints(node, &args[2], "ends")?;
            let axes = match args.get(3) {
                Some(Some(v)) => public_ints(node, &Some(v.clone()), "axes")?,
                _ => (0..starts.len() as i64).collect(),
            };
            let steps = match args.get(4) {
                Some(Some(v)) => public_ints(node, &Some(v.clone()), "steps")?,
                _ => vec![1; starts.len()],
            };
            if ends.len() != starts.len()
                || axes.len() != starts.len()
                || steps.len() != starts.len()
            {
                return Err(node.unsupported("starts, ends, axes and steps differ in length"));
            }
            let mut t = x;
            for k in 0..starts.len() {
                let a = axis(node, axes[k], dims.len())?;
                let idx = slice_indices(node, dims[a], starts[k], ends[k], steps[k])?;
                if idx.len() != dims[a] || idx.iter().enumerate().any(|(i, &j)| i != j) {
                    t = t.index_select(a, &idx).map_err(err)?;
                }
            }
            one(t)
        }
        "Split" => {
            let x = x()?;
            let dims = x.dims();
            let a = axis(node, int_attr(node, "axis", 0)?, dims.len())?;
            let n = node.outputs.len();
            let sizes: Vec<usize> = match args.get(1) {
                Some(Some(v)) => public_ints(node, &Some(v.clone()), "split")?
                    .iter()
                    .map(|&s| s.max(0) as usize)
                    .collect(),
                _ => match ints_attr(node, "split")? {
                    Some(v) => v.iter().map(|&s| s.max(0) as usize).collect(),
                    None => {
                        // equal parts; with num_outputs the last may be smaller
                        let per = dims[a].div_ceil(n.max(1));
                        (0..n)
                            .map(|i| per.min(dims[a].saturating_sub(i * per)))
                            .collect()
                    }
                },
            };
            if sizes.len() != n || sizes.iter().sum::<usize>() != dims[a] {
                return Err(node.unsupported(format!(
                    "split {sizes:?} does not cut {} into {n} parts",
                    dims[a]
                )));
            }
            let mut outs = Vec::with_capacity(n);
            let mut at = 0;
            for s in sizes {
                outs.push(Value::Data(x.narrow(a, at, s).map_err(err)?));
                at += s;
            }
            Ok(outs)
        }
        "Tile" => {
            let x = x()?;
            let dims = x.dims();
            let reps = public_ints(node, &args[1], "repeats")?;
            if reps.len() != dims.len() || reps.iter().any(|&r| r < 0) {
                return Err(node.unsupported(format!("repeats {reps:?} for shape {dims:?}")));
            }
            let mut t = x;
            for (a, &r) in reps.iter().enumerate() {
                if r != 1 {
                    let idx: Vec<usize> = (0..dims[a] * r as usize).map(|i| i % dims[a]).collect();
                    t = t.index_select(a, &idx).map_err(err)?;
                }
            }
            one(t)
        }
        "Pad" => {
            let x = x()?;
            let dims = x.dims();
            let rank = dims.len();
            let pads = public_ints(node, &args[1], "pads")?;
            let axes = match args.get(3) {
                Some(Some(v)) => public_ints(node, &Some(v.clone()), "axes")?
                    .iter()
                    .map(|&a| axis(node, a, rank))
                    .collect::<Result<Vec<_>>>()?,
                _ => (0..rank).collect(),
            };
            if pads.len() != 2 * axes.len() {
                return Err(node.unsupported(format!("pads {pads:?} for axes {axes:?}")));
            }
            let value = match args.get(2) {
                Some(Some(Value::Public(p))) if p.numel() <= 1 => {
                    p.as_slice().first().copied().unwrap_or(0.0)
                }
                None | Some(None) => 0.0,
                Some(Some(_)) => return Err(node.unsupported("the pad value must be public")),
            };
            let mode = string_attr(node, "mode", "constant")?;
            let mut t = x;
            for (k, &a) in axes.iter().enumerate() {
                let (b, e) = (pads[k], pads[k + axes.len()]);
                if b == 0 && e == 0 {
                    continue;
                }
                let n = t.dims()[a] as i64;
                // negative pads crop
                let lo = (-b).max(0);
                let hi = n - (-e).max(0);
                if lo > hi {
                    return Err(node.unsupported(format!("pads {pads:?} crop axis {a} away")));
                }
                if lo > 0 || hi < n {
                    t = t.narrow(a, lo as usize, (hi - lo) as usize).map_err(err)?;
                }
                let (b, e, n) = (b.max(0) as usize, e.max(0) as usize, (hi - lo) as usize);
                if b + e == 0 {
                    continue;
                }
                t = match mode {
                    "constant" => {
                        let mut p = vec![(0, 0); rank];
                        p[a] = (b, e);
                        let mut padded = t.pad(&p).map_err(err)?;
                        if value != 0.0 {
                            let mut d = t.dims();
                            d[a] += b + e;
                            let total: usize = d.iter().product();
                            let inner: usize = d[a + 1..].iter().product();
                            let fill: Vec<f64> = (0..total)
                                .map(|i| {
                                    let j = (i / inner) % d[a];
                                    if j < b || j >= b + n { value } else { 0.0 }
                                })
                                .collect();
                            let f = padded.new_tensor(&d, &fill).map_err(err)?;
                            padded = padded.binary(BinaryOp::Add, &f).map_err(err)?;
                        }
                        padded
                    }
                    "edge" | "reflect" | "wrap" => {
                        if n == 0 || (mode == "reflect" && (n < 2 || b >= n || e >= n)) {
                            return Err(node.unsupported(format!(
                                "{mode} padding of ({b}, {e}) on an axis of {n}"
                            )));
                        }
                        let idx: Vec<usize> = (0..b + n + e)
                            .map(|j| {
                                let i = j as i64 - b as i64;
                                let n = n as i64;
                                (match mode {
                                    "edge" => i.clamp(0, n - 1),
                                    "wrap" => i.rem_euclid(n),
                                    _ => {
                                        let period = 2 * (n - 1);
                                        let r = i.rem_euclid(period);
                                        if r < n { r } else { period - r }
                                    }
                                }) as usize
                            })
                            .collect();
                        t.index_select(a, &idx).map_err(err)?
                    }
                    m => return Err(node.unsupported(format!("mode = {m}"))),
                };
            }
            one(t)
        }
        "ReduceMax" | "ReduceMin" | "ReduceSumSquare" | "ReduceL1" | "ReduceL2"
        | "ReduceLogSumExp" => {
            let x = x()?;
            let rank = x.dims().len();
            let axes = match args.get(1) {
                Some(Some(v)) => Some(public_ints(node, &Some(v.clone()), "the axes")?),
                _ => ints_attr(node, "axes")?,
            };
            let keep = int_attr(node, "keepdims", 1)? != 0;
            let axes = match axes {
                Some(a) if !a.is_empty() => {
                    let mut v = a
                        .iter()
                        .map(|&a| axis(node, a, rank))
                        .collect::<Result<Vec<_>>>()?;
                    v.sort_unstable();
                    v.dedup();
                    v
                }
                _ if int_attr(node, "noop_with_empty_axes", 0)? != 0 => return one(x),
                _ => (0..rank).collect(),
            };
            if axes.iter().any(|&a| x.dims()[a] == 0)
                && matches!(op, "ReduceMax" | "ReduceMin" | "ReduceLogSumExp")
            {
                // the result would be an infinity, which fixed point does not hold
                return Err(node.unsupported("a maximum, minimum or log-sum-exp of nothing"));
            }
            let abs = |t: &U| {
                t.unary(UnaryOp::Relu)
                    .and_then(|r| r.mul_scalar(2.0))
                    .and_then(|r| r.binary(BinaryOp::Sub, t))
                    .map_err(err)
            };
            one(match op {
                "ReduceMax" => reduce_max(node, &x, &axes, keep)?,
                "ReduceMin" => reduce_max(node, &x.neg().map_err(err)?, &axes, keep)?
                    .neg()
                    .map_err(err)?,
                "ReduceSumSquare" => x
                    .binary(BinaryOp::Mul, &x)
                    .and_then(|s| s.reduce(ReduceOp::Sum, &axes, keep))
                    .map_err(err)?,
                "ReduceL1" => abs(&x)?.reduce(ReduceOp::Sum, &axes, keep).map_err(err)?,
                "ReduceL2" => x
                    .binary(BinaryOp::Mul, &x)
                    .and_then(|s| s.reduce(ReduceOp::Sum, &axes, keep))
                    .and_then(|s| s.unary(UnaryOp::Sqrt))
                    .map_err(err)?,
                _ => {
                    // max + log(sum(exp(x - max))), which never overflows
                    let m = reduce_max(node, &x, &axes, true)?;
                    let mut r = x
                        .binary(BinaryOp::Sub, &m)
                        .and_then(|d| d.unary(UnaryOp::Exp))
                        .and_then(|e| e.reduce(ReduceOp::Sum, &axes, true))
                        .and_then(|s| s.unary(UnaryOp::Log))
                        .and_then(|l| l.binary(BinaryOp::Add, &m))
                        .map_err(err)?;
                    if !keep {
                        let d: Vec<usize> = r
                            .dims()
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| !axes.contains(i))
                            .map(|(_, &d)| d)
                            .collect();
                        r = r.reshape(&d).map_err(err)?;
                    }
                    r
                }
            })
        }
        "BatchNormalization" => {
            let training = int_attr(node, "training_mode", 0)? != 0;
            let x = x()?;
            let dims = x.dims();
            if dims.len() < 2 {
                return Err(node.unsupported(format!("input shape {dims:?} (needs [N, C, ...])")));
            }
            let eps = f64::from(float_attr(node, "epsilon", 1e-5)?);
            let mut per = vec![1; dims.len()];
            per[1] = dims[1];
            let get = |k: usize, what: &str| -> Result<U> {
                to_data(args.get(k).unwrap_or(&None), what)?
                    .reshape(&per)
                    .map_err(err)
            };
            let (scale, bias, run_mean, run_var) = (
                get(1, "scale")?,
                get(2, "B")?,
                get(3, "mean")?,
                get(4, "var")?,
            );
            let mut extra = Vec::new();
            let (mean, var) = if training {
                // the batch's statistics normalise; the running ones move by `momentum`
                let axes: Vec<usize> = (0..dims.len()).filter(|&a| a != 1).collect();
                let mean = x.reduce(ReduceOp::Mean, &axes, true).map_err(err)?;
                let d = x.binary(BinaryOp::Sub, &mean).map_err(err)?;
                let var = d
                    .binary(BinaryOp::Mul, &d)
                    .and_then(|s| s.reduce(ReduceOp::Mean, &axes, true))
                    .map_err(err)?;
                let m = f64::from(float_attr(node, "momentum", 0.9)?);
                let blend = |run: &U, batch: &U| {
                    run.mul_scalar(m)
                        .and_then(|r| r.binary(BinaryOp::Add, &batch.mul_scalar(1.0 - m)?))
                        .and_then(|t| t.reshape(&[dims[1]]))
                        .map_err(err)
                };
                if node.outputs.len() > 1 {
                    extra.push(Value::Data(blend(&run_mean, &mean)?));
                }
                if node.outputs.len() > 2 {
                    extra.push(Value::Data(blend(&run_var, &var)?));
                }
                (mean, var)
            } else {
                if node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
                    return Err(
                        node.unsupported("running mean and variance outputs outside training mode")
                    );
                }
                (run_mean, run_var)
            };
            let inv = var
                .add_scalar(eps)
                .and_then(|v| v.unary(UnaryOp::InvSqrt))
                .and_then(|v| v.binary(BinaryOp::Mul, &scale))
                .map_err(err)?;
            let y = x
                .binary(BinaryOp::Sub, &mean)
                .and_then(|d| d.binary(BinaryOp::Mul, &inv))
                .and_then(|t| t.binary(BinaryOp::Add, &bias))
                .map_err(err)?;
            let mut outs = vec![Value::Data(y)];
            outs.extend(extra);
            Ok(outs)
        }
        "LayerNormalization" => {
            let x = x()?;
            let dims = x.dims();
            let a = axis(node, int_attr(node, "axis", -1)?, dims.len())?;
            let eps = f64::from(float_attr(node, "epsilon", 1e-5)?);
            let axes: Vec<usize> = (a..dims.len()).collect();
            let mean = x.reduce(ReduceOp::Mean, &axes, true).map_err(err)?;
            let d = x.binary(BinaryOp::Sub, &mean).map_err(err)?;
            let inv = d
                .binary(BinaryOp::Mul, &d)
                .and_then(|s| s.reduce(ReduceOp::Mean, &axes, true))
                .and_then(|v| v.add_scalar(eps))
                .and_then(|v| v.unary(UnaryOp::InvSqrt))
                .map_err(err)?;
            let scale = y()?;
            let mut y = d
                .binary(BinaryOp::Mul, &inv)
                .and_then(|n| n.binary(BinaryOp::Mul, &scale))
                .map_err(err)?;
            if args.get(2).is_some_and(Option::is_some) {
                y = y
                    .binary(BinaryOp::Add, &to_data(&args[2], "B")?)
                    .map_err(err)?;
            }
            let mut outs = vec![Value::Data(y)];
            if node.outputs.len() > 1 {
                outs.push(Value::Data(mean));
            }
            if node.outputs.len() > 2 {
                outs.push(Value::Data(inv));
            }
            Ok(outs)
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
            let dims = x.dims();
            let dilated = ints_attr(node, "dilations")?.is_some_and(|d| d.iter().any(|&v| v != 1));
            if dims.len() > 4 || dilated {
                if op == "MaxPool" && node.outputs.len() > 1 && !node.outputs[1].is_empty() {
                    return Err(node.unsupported("the Indices output is not supported"));
                }
                return one(pool_taps(node, &x, op == "MaxPool")?);
            }
            let p = pool_params(node, &dims)?;
            let x4 = if dims.len() == 3 {
                x.reshape(&[dims[0], dims[1], 1, dims[2]]).map_err(err)?
            } else {
                x
            };
            let d4 = x4.dims();
            let windows = Pool2dParams {
                kernel: (p.kernel[0], p.kernel[1]),
                stride: (p.stride[0], p.stride[1]),
                padding: (0, 0),
            };
            let out = if op == "MaxPool" {
                if node.outputs.len() > 1 && !node.outputs[1].is_empty() {
                    return Err(node.unsupported("the Indices output is not supported"));
                }
                // pad by repeating the edge: every window holds a real element (the padding
                // is smaller than the window), so its maximum is over real elements only
                let mut t = x4;
                for i in 0..2 {
                    if p.before[i] + p.after[i] > 0 {
                        let n = d4[2 + i];
                        let idx: Vec<usize> = (0..p.before[i] + n + p.after[i])
                            .map(|j| j.saturating_sub(p.before[i]).min(n - 1))
                            .collect();
                        t = t.index_select(2 + i, &idx).map_err(err)?;
                    }
                }
                let w = t.unfold2d(&windows, WindowFill::FirstTap).map_err(err)?;
                w.reduce(ReduceOp::Max, &[4], false).map_err(err)?
            } else {
                let pads = [
                    (0, 0),
                    (0, 0),
                    (p.before[0], p.after[0]),
                    (p.before[1], p.after[1]),
                ];
                let mut avg = x4
                    .pad(&pads)
                    .and_then(|t| t.avg_pool2d(&windows))
                    .map_err(err)?;
                // The mean over what is counted: the real elements, and the explicit padding
                // with count_include_pad; a public factor per window.
                let include = int_attr(node, "count_include_pad", 0)? != 0;
                let (h, w) = (d4[2], d4[3]);
                let (ph, pw) = (h + p.before[0] + p.after[0], w + p.before[1] + p.after[1]);
                let counted: Vec<f64> = (0..ph * pw)
                    .map(|k| {
                        let (r, c) = (k / pw, k % pw);
                        let real = |v: usize, b: usize, n: usize| v >= b && v < b + n;
                        let inside = |v: usize, i: usize, n: usize, pn: usize| {
                            v < pn - p.ceil_extra[i] && (include || real(v, p.before[i], n))
                        };
                        f64::from(u8::from(inside(r, 0, h, ph) && inside(c, 1, w, pw)))
                    })
                    .collect();
                let share = FloatTensor::from_f64(&[1, 1, ph, pw], &counted)
                    .and_then(|m| m.avg_pool2d(&windows))
                    .map_err(|e| node.unsupported(e.to_string()))?;
                if share.as_slice().iter().any(|&s| s != 1.0) {
                    if share.as_slice().contains(&0.0) {
                        return Err(node.unsupported("a window over padding only"));
                    }
                    let inv: Vec<f64> = share.as_slice().iter().map(|s| 1.0 / s).collect();
                    let f = avg.new_tensor(share.shape(), &inv).map_err(err)?;
                    avg = avg.binary(BinaryOp::Mul, &f).map_err(err)?;
                }
                avg
            };
            if dims.len() == 3 {
                let o = out.dims();
                one(out.reshape(&[o[0], o[1], o[3]]).map_err(err)?)
            } else {
                one(out)
            }
        }
        "Conv" => {
            let (mut x, mut w) = (x()?, y()?);
            // a 1-D convolution is a 2-D one on [N, C, 1, L]
            let one_d = w.dims().len() == 3;
            if one_d {
                let (xd, wd) = (x.dims(), w.dims());
                if xd.len() != 3 {
                    return Err(node.unsupported(format!("input shape {xd:?} for a 1-D kernel")));
                }
                x = x.reshape(&[xd[0], xd[1], 1, xd[2]]).map_err(err)?;
                w = w.reshape(&[wd[0], wd[1], 1, wd[2]]).map_err(err)?;
            } else if w.dims().len() != 4 {
                return Err(node.unsupported("only 1-D and 2-D convolutions are supported"));
            }
            let pair = |name: &str| -> Result<(usize, usize)> {
                match (one_d, ints_attr(node, name)?.as_deref()) {
                    (_, None) => Ok((1, 1)),
                    (false, Some([a, b])) if *a > 0 && *b > 0 => Ok((*a as usize, *b as usize)),
                    (true, Some([b])) if *b > 0 => Ok((1, *b as usize)),
                    (_, Some(v)) => Err(node.unsupported(format!("{name} = {v:?}"))),
                }
            };
            let (stride, dilation) = (pair("strides")?, pair("dilations")?);
            let (xd, wd) = (x.dims(), w.dims());
            if xd.len() != 4 {
                return Err(node.unsupported(format!("input shape {xd:?} (needs [N, C, H, W])")));
            }
            let params = Conv2dParams {
                stride,
                padding: window_pads(
                    node,
                    [xd[2], xd[3]],
                    [wd[2], wd[3]],
                    [stride.0, stride.1],
                    [dilation.0, dilation.1],
                )?,
                dilation,
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
            if one_d {
                let d = out.dims();
                out = out.reshape(&[d[0], d[1], d[3]]).map_err(err)?;
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
        "Cast" => match &args[0] {
            Some(Value::Public(p)) => constant(cast_public(node, p)?),
            _ => match crate::DType::from_onnx(int_attr(node, "to", 0)? as i32) {
                // a private real stays a fixed-point real, whatever float width it names
                Some(d) if d.is_float() => one(x()?),
                _ => Err(node.unsupported("a cast of a private tensor to an integer type")),
            },
        },
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

/// The numpy broadcast of several shapes.
fn broadcast_shape(node: &Node, shapes: &[Vec<usize>]) -> Result<Vec<usize>> {
    let rank = shapes.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = vec![1; rank];
    for s in shapes {
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[rank - s.len() + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(node.unsupported(format!("shapes {shapes:?} do not broadcast")));
            }
        }
    }
    Ok(out)
}

/// The indices `Slice` picks on an axis of `n`: ONNX's clamping of negative and
/// out-of-range starts and ends, for either sign of `step`.
fn slice_indices(node: &Node, n: usize, start: i64, end: i64, step: i64) -> Result<Vec<usize>> {
    if step == 0 {
        return Err(node.unsupported("a step of 0"));
    }
    let n = n as i64;
    let norm = |v: i64| if v < 0 { v + n } else { v };
    let (s, e) = (norm(start), norm(end));
    let mut out = Vec::new();
    if step > 0 {
        let (mut i, e) = (s.clamp(0, n), e.clamp(0, n));
        while i < e {
            out.push(i as usize);
            i += step;
        }
    } else {
        let (mut i, e) = (s.clamp(-1, n - 1), e.clamp(-1, n - 1));
        while i > e {
            out.push(i as usize);
            i += step;
        }
    }
    Ok(out)
}

/// The maximum over `axes`: the axes moved last and merged, then one reduction.
fn reduce_max<U: TensorOps>(node: &Node, x: &U, axes: &[usize], keep: bool) -> Result<U> {
    let err = |e: U::Error| backend(node, e);
    let dims = x.dims();
    let kept: Vec<usize> = (0..dims.len()).filter(|a| !axes.contains(a)).collect();
    let perm: Vec<usize> = kept.iter().chain(axes).copied().collect();
    let inner: usize = axes.iter().map(|&a| dims[a]).product();
    let mut flat: Vec<usize> = kept.iter().map(|&a| dims[a]).collect();
    flat.push(inner);
    let m = x
        .permute(&perm)
        .and_then(|t| t.reshape(&flat))
        .and_then(|t| t.reduce(ReduceOp::Max, &[kept.len()], false))
        .map_err(err)?;
    let shape: Vec<usize> = if keep {
        (0..dims.len())
            .map(|a| if axes.contains(&a) { 1 } else { dims[a] })
            .collect()
    } else {
        kept.iter().map(|&a| dims[a]).collect()
    };
    m.reshape(&shape).map_err(err)
}

/// `Cast` of a public tensor: values rounded to what the target type holds.
fn cast_public(node: &Node, p: &FloatTensor) -> Result<FloatTensor> {
    let to = int_attr(node, "to", 0)?;
    let round: fn(f64) -> f64 = match crate::DType::from_onnx(to as i32) {
        Some(crate::DType::F64) => |x| x,
        Some(crate::DType::F32) => |x| f64::from(x as f32),
        Some(crate::DType::BF16) => |x| round_significand(x, 8, 127.0, 3.389_531_389_251_535e38),
        Some(crate::DType::F16) => |x| round_significand(x, 11, 14.0, 65504.0),
        Some(crate::DType::Bool) => |x| f64::from(u8::from(x != 0.0)),
        Some(crate::DType::Int(_)) => f64::trunc,
        None => return Err(node.unsupported(format!("cast to element type {to}"))),
    };
    FloatTensor::from_f64(
        p.shape(),
        &p.as_slice().iter().map(|&x| round(x)).collect::<Vec<_>>(),
    )
    .map_err(|e| node.unsupported(e.to_string()))
}

/// `x` rounded to nearest-even with `bits` significant bits, subnormal below `2^-min_exp`,
/// and infinite beyond `max` (as IEEE float16 and bfloat16 store reals).
fn round_significand(x: f64, bits: i32, min_exp: f64, max: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let e = x.abs().log2().floor().max(-min_exp);
    let ulp = (e - f64::from(bits - 1)).exp2();
    let r = (x / ulp).round_ties_even() * ulp;
    if r.abs() > max {
        x.signum() * f64::INFINITY
    } else {
        r
    }
}

/// Pooling of any spatial rank, dilated or not, tap by tap: for every offset in the window,
/// the elements it reads at every output position (public indices per axis), then one
/// maximum or mean over the taps. Padding: a maximum reads, in place of a padded position,
/// another position of the same window on that axis (so every tap is a real element of the
/// window); a mean reads zeros and divides by the public count of what it counts.
fn pool_taps<U: TensorOps>(node: &Node, x: &U, max: bool) -> Result<U> {
    let err = |e: U::Error| backend(node, e);
    let dims = x.dims();
    if dims.len() < 3 {
        return Err(node.unsupported(format!("input shape {dims:?} (needs [N, C, ...])")));
    }
    let n = dims.len() - 2;
    let list = |name: &str, default: usize| -> Result<Vec<usize>> {
        match ints_attr(node, name)? {
            None => Ok(vec![default; n]),
            Some(v) if v.len() == n && v.iter().all(|&x| x > 0) => {
                Ok(v.iter().map(|&x| x as usize).collect())
            }
            Some(v) => Err(node.unsupported(format!("{name} {v:?} for input shape {dims:?}"))),
        }
    };
    let kernel = match ints_attr(node, "kernel_shape")? {
        Some(v) if v.len() == n && v.iter().all(|&x| x > 0) => {
            v.iter().map(|&x| x as usize).collect::<Vec<_>>()
        }
        v => return Err(node.unsupported(format!("kernel_shape {v:?} for shape {dims:?}"))),
    };
    let (stride, dilation) = (list("strides", 1)?, list("dilations", 1)?);
    let input = &dims[2..];
    let reach: Vec<usize> = (0..n).map(|i| (kernel[i] - 1) * dilation[i] + 1).collect();
    let (mut before, mut after) = (vec![0usize; n], vec![0usize; n]);
    match string_attr(node, "auto_pad", "NOTSET")? {
        "NOTSET" => match ints_attr(node, "pads")? {
            None => {}
            Some(p) if p.len() == 2 * n && p.iter().all(|&v| v >= 0) => {
                for i in 0..n {
                    (before[i], after[i]) = (p[i] as usize, p[i + n] as usize);
                }
            }
            Some(p) => return Err(node.unsupported(format!("pads {p:?}"))),
        },
        "VALID" => {}
        a @ ("SAME_UPPER" | "SAME_LOWER") => {
            for i in 0..n {
                let total = ((input[i].div_ceil(stride[i]) - 1) * stride[i] + reach[i])
                    .saturating_sub(input[i]);
                let small = total / 2;
                (before[i], after[i]) = if a == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
            }
        }
        a => return Err(node.unsupported(format!("auto_pad = {a}"))),
    }
    let ceil = int_attr(node, "ceil_mode", 0)? != 0;
    let include = int_attr(node, "count_include_pad", 0)? != 0;
    let mut out = vec![0usize; n];
    let mut explicit_end = vec![0usize; n];
    for i in 0..n {
        let padded = input[i] + before[i] + after[i];
        if padded < reach[i] {
            return Err(node.unsupported(format!(
                "a window reaching {} on an axis of {padded} (padded)",
                reach[i]
            )));
        }
        out[i] = if ceil {
            let mut o = (padded - reach[i]).div_ceil(stride[i]) + 1;
            if (o - 1) * stride[i] >= input[i] + before[i] {
                o -= 1;
            }
            o
        } else {
            (padded - reach[i]) / stride[i] + 1
        };
        explicit_end[i] = input[i] + before[i] + after[i];
        after[i] = ((out[i] - 1) * stride[i] + reach[i]).saturating_sub(input[i] + before[i]);
    }
    // per axis and tap: the indices read, and (for a mean) whether each is counted
    let mut idx: Vec<Vec<Vec<usize>>> = Vec::with_capacity(n);
    let mut counted: Vec<Vec<Vec<bool>>> = Vec::with_capacity(n);
    for i in 0..n {
        let mut taps = Vec::with_capacity(kernel[i]);
        let mut counts = Vec::with_capacity(kernel[i]);
        for j in 0..kernel[i] {
            let mut v = Vec::with_capacity(out[i]);
            let mut c = Vec::with_capacity(out[i]);
            for o in 0..out[i] {
                let at = o * stride[i] + j * dilation[i]; // in padded coordinates
                let real = at >= before[i] && at < before[i] + input[i];
                c.push(real || (include && at < explicit_end[i]));
                if !max {
                    v.push(at);
                } else if real {
                    v.push(at - before[i]);
                } else {
                    let other = (0..kernel[i])
                        .map(|t| o * stride[i] + t * dilation[i])
                        .find(|&a| a >= before[i] && a < before[i] + input[i])
                        .ok_or_else(|| node.unsupported("a window over padding only"))?;
                    v.push(other - before[i]);
                }
            }
            taps.push(v);
            counts.push(c);
        }
        idx.push(taps);
        counted.push(counts);
    }
    let source = if max {
        x.clone()
    } else {
        let mut pads = vec![(0, 0); 2];
        pads.extend((0..n).map(|i| (before[i], after[i])));
        x.pad(&pads).map_err(err)?
    };
    let total_taps: usize = kernel.iter().product();
    if total_taps > 1 << 12 {
        return Err(node.unsupported(format!("a window of {total_taps} taps")));
    }
    let mut shape = dims[..2].to_vec();
    shape.extend_from_slice(&out);
    let mut tap_shape = shape.clone();
    tap_shape.push(1);
    let mut taps = Vec::with_capacity(total_taps);
    let mut count = vec![0.0f64; out.iter().product()];
    for t in 0..total_taps {
        let mut j = vec![0usize; n];
        let mut r = t;
        for i in (0..n).rev() {
            j[i] = r % kernel[i];
            r /= kernel[i];
        }
        let mut v = source.clone();
        for i in 0..n {
            v = v.index_select(2 + i, &idx[i][j[i]]).map_err(err)?;
        }
        taps.push(v.reshape(&tap_shape).map_err(err)?);
        if !max {
            for (p, c) in count.iter_mut().enumerate() {
                let mut r = p;
                let mut all = true;
                for i in (0..n).rev() {
                    all &= counted[i][j[i]][r % out[i]];
                    r /= out[i];
                }
                *c += f64::from(u8::from(all));
            }
        }
    }
    let refs: Vec<&U> = taps.iter().collect();
    let stacked = U::concat(&refs, n + 2).map_err(err)?;
    if max {
        return stacked.reduce(ReduceOp::Max, &[n + 2], false).map_err(err);
    }
    if count.contains(&0.0) {
        return Err(node.unsupported("a window over padding only"));
    }
    let sum = stacked
        .reduce(ReduceOp::Sum, &[n + 2], false)
        .map_err(err)?;
    let mut per = vec![1, 1];
    per.extend_from_slice(&out);
    let inv: Vec<f64> = count.iter().map(|c| 1.0 / c).collect();
    let f = sum.new_tensor(&per, &inv).map_err(err)?;
    sum.binary(BinaryOp::Mul, &f).map_err(err)
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

/// The padding of a 2-D window op: explicit symmetric `pads`, or `auto_pad` SAME_* where
/// the total padding splits evenly. `input`, `kernel`, `stride` and `dilation` per spatial axis.
fn window_pads(
    node: &Node,
    input: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
) -> Result<(usize, usize)> {
    let auto = string_attr(node, "auto_pad", "NOTSET")?;
    match auto {
        "NOTSET" => {}
        "VALID" => return Ok((0, 0)),
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut out = [0usize; 2];
            for i in 0..2 {
                let reach = (kernel[i] - 1) * dilation[i] + 1;
                let total = ((input[i].div_ceil(stride[i]) - 1) * stride[i] + reach)
                    .saturating_sub(input[i]);
                if !total.is_multiple_of(2) {
                    return Err(node.unsupported(format!(
                        "auto_pad = {auto} pads axis {i} unevenly (only symmetric padding)"
                    )));
                }
                out[i] = total / 2;
            }
            return Ok((out[0], out[1]));
        }
        a => return Err(node.unsupported(format!("auto_pad = {a}"))),
    }
    match ints_attr(node, "pads")?.as_deref() {
        None => Ok((0, 0)),
        Some([t, l, b, r]) if t == b && l == r && *t >= 0 && *l >= 0 => {
            Ok((*t as usize, *l as usize))
        }
        Some([l, r]) if l == r && *l >= 0 => Ok((0, *l as usize)),
        Some(p) => Err(node.unsupported(format!("pads {p:?} (only symmetric padding)"))),
    }
}

/// A pooling node's windows, on `[N, C, H, W]` (a 1-D pool on `[N, C, L]` is a 1 x k window
/// on `[N, C, 1, L]`). Padding per axis as (before, after), the after side including what
/// `ceil_mode` adds for a last partial window.
struct Pool {
    kernel: [usize; 2],
    stride: [usize; 2],
    before: [usize; 2],
    after: [usize; 2],
    /// Of `after`, the part `ceil_mode` added (never counted in an average).
    ceil_extra: [usize; 2],
}

fn pool_params(node: &Node, dims: &[usize]) -> Result<Pool> {
    let one_d = dims.len() == 3;
    if dims.len() != 4 && !one_d {
        return Err(node.unsupported(format!(
            "input shape {dims:?} (only 1-D and 2-D windows: [N, C, L] or [N, C, H, W])"
        )));
    }
    let pair = |v: &[i64], what: &str| -> Result<[usize; 2]> {
        match (one_d, v) {
            (true, [w]) if *w > 0 => Ok([1, *w as usize]),
            (false, [h, w]) if *h > 0 && *w > 0 => Ok([*h as usize, *w as usize]),
            _ => Err(node.unsupported(format!("{what} {v:?} for input shape {dims:?}"))),
        }
    };
    let kernel = pair(
        &ints_attr(node, "kernel_shape")?.unwrap_or_default(),
        "kernel_shape",
    )?;
    let stride = match ints_attr(node, "strides")? {
        None => [1, 1],
        Some(s) => pair(&s, "strides")?,
    };
    if ints_attr(node, "dilations")?.is_some_and(|d| d.iter().any(|&x| x != 1)) {
        return Err(node.unsupported("dilated pooling"));
    }
    let input = if one_d {
        [1, dims[2]]
    } else {
        [dims[2], dims[3]]
    };
    let (mut before, mut after) = ([0usize; 2], [0usize; 2]);
    match string_attr(node, "auto_pad", "NOTSET")? {
        "NOTSET" => match ints_attr(node, "pads")?.as_deref() {
            None => {}
            Some(p) if p.iter().all(|&v| v >= 0) && (p.len() == 4 || (one_d && p.len() == 2)) => {
                if one_d {
                    (before[1], after[1]) = (p[0] as usize, p[1] as usize);
                } else {
                    before = [p[0] as usize, p[1] as usize];
                    after = [p[2] as usize, p[3] as usize];
                }
            }
            Some(p) => return Err(node.unsupported(format!("pads {p:?}"))),
        },
        "VALID" => {}
        a @ ("SAME_UPPER" | "SAME_LOWER") => {
            for i in 0..2 {
                let total = ((input[i].div_ceil(stride[i]) - 1) * stride[i] + kernel[i])
                    .saturating_sub(input[i]);
                let small = total / 2;
                (before[i], after[i]) = if a == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
            }
        }
        a => return Err(node.unsupported(format!("auto_pad = {a}"))),
    }
    let mut ceil_extra = [0usize; 2];
    for i in 0..2 {
        let padded = input[i] + before[i] + after[i];
        if padded < kernel[i] {
            return Err(node.unsupported(format!(
                "a window of {} on an axis of {padded} (padded)",
                kernel[i]
            )));
        }
        if int_attr(node, "ceil_mode", 0)? != 0 {
            let mut out = (padded - kernel[i]).div_ceil(stride[i]) + 1;
            // a last window that would start in the right padding is dropped
            if (out - 1) * stride[i] >= input[i] + before[i] {
                out -= 1;
            }
            ceil_extra[i] = ((out - 1) * stride[i] + kernel[i]).saturating_sub(padded);
            after[i] += ceil_extra[i];
        }
        if before[i] >= kernel[i] || after[i] >= kernel[i] {
            return Err(node.unsupported(format!(
                "padding ({}, {}) not smaller than the window {} on axis {i}",
                before[i], after[i], kernel[i]
            )));
        }
    }
    Ok(Pool {
        kernel,
        stride,
        before,
        after,
        ceil_extra,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_max_in_a_mask_constant_becomes_the_stand_in_and_nothing_else_changes() {
        let min = f64::from(f32::MIN);
        assert_eq!(
            saturate_float_max(&[0.0, min, f64::INFINITY, -3.5]),
            Some(vec![0.0, -FLOAT_MAX_STAND_IN, FLOAT_MAX_STAND_IN, -3.5])
        );
        // a large but representable constant is left alone (and errors if it does not fit)
        assert_eq!(saturate_float_max(&[1e20, -10000.0]), None);
    }
}
