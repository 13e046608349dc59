//! ONNX import: read a model file, check it, and hold its graph in a form the evaluators use.
//!
//! The reader is pure Rust: the protobuf messages are written by hand for prost
//! ([`proto`]), so building needs no `protoc`. [`Model::load`] reads a file (and tensors
//! stored as external data beside it), and refuses, with an error naming the problem, what a
//! party must never start computing on: bytes that are not a model, an opset outside
//! [`MIN_OPSET`]..=[`MAX_OPSET`], an operator from another domain, a node input that nothing
//! produces, a cycle, two producers of one value, a tensor whose data does not match its
//! shape or type, an operator [`Model::run`] does not evaluate ([`SUPPORTED`]). Nodes come
//! out in a topological order.
//!
//! ```
//! let err = onnx::Model::from_bytes(b"not a model", None).unwrap_err();
//! assert!(err.to_string().contains("not an ONNX model"));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

pub mod eval;
pub mod proto;

pub use eval::{SUPPORTED, one_hot};

use proto::{attribute_type as at, data_type as dt};

/// The oldest default-domain opset umbra reads.
pub const MIN_OPSET: i64 = 13;
/// The newest default-domain opset umbra reads: the newest of `onnx` 1.23, whose backend node
/// cases (onnx/tests/node_conformance.rs) check the operators umbra evaluates at every opset
/// from [`MIN_OPSET`] on.
pub const MAX_OPSET: i64 = 28;

/// Why a model could not be loaded. Every variant names what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The bytes are not a protobuf `ModelProto` (truncated, or another format).
    #[error("not an ONNX model: {0}")]
    Decode(String),
    /// The model is well-formed protobuf but breaks an ONNX rule or asks for what umbra does
    /// not support.
    #[error("{0}")]
    Invalid(String),
    /// A node umbra cannot import: its name, its op and what is missing.
    #[error("node `{node}` ({op}): {what}")]
    Unsupported {
        /// The node's name (or its index when it has none).
        node: String,
        /// Its operator.
        op: String,
        /// What is not supported.
        what: String,
    },
}

/// Result of loading.
pub type Result<T> = std::result::Result<T, Error>;

fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

/// An element type umbra reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// float32 (read as f64).
    F32,
    /// float64.
    F64,
    /// float16 (IEEE half, read as f64).
    F16,
    /// bfloat16 (the top half of a float32, read as f64).
    BF16,
    /// Signed and unsigned integers up to 64 bits (read as i64).
    Int(i32),
    /// Booleans (read as i64 0/1).
    Bool,
}

impl DType {
    fn from_onnx(code: i32) -> Option<DType> {
        Some(match code {
            dt::FLOAT => DType::F32,
            dt::DOUBLE => DType::F64,
            dt::FLOAT16 => DType::F16,
            dt::BFLOAT16 => DType::BF16,
            dt::BOOL => DType::Bool,
            dt::UINT8
            | dt::INT8
            | dt::UINT16
            | dt::INT16
            | dt::INT32
            | dt::INT64
            | dt::UINT32
            | dt::UINT64 => DType::Int(code),
            _ => return None,
        })
    }

    /// Whether values are reals (float16, bfloat16, float32 or float64) rather than integers
    /// or booleans.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
    }

    fn width(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 => 8,
            DType::F16 | DType::BF16 => 2,
            DType::Bool => 1,
            DType::Int(c) => match c {
                dt::UINT8 | dt::INT8 => 1,
                dt::UINT16 | dt::INT16 => 2,
                dt::INT32 | dt::UINT32 => 4,
                _ => 8,
            },
        }
    }
}

fn dtype_name(code: i32) -> &'static str {
    match code {
        0 => "undefined",
        dt::STRING => "string",
        dt::FLOAT16 => "float16",
        dt::UINT64 => "uint64",
        14 => "complex64",
        15 => "complex128",
        16 => "bfloat16",
        _ => "an unsupported element type",
    }
}

/// A constant tensor (an initializer or an attribute), decoded.
#[derive(Clone, PartialEq)]
pub struct Tensor {
    /// Its shape.
    pub dims: Vec<usize>,
    /// Its element type in the file.
    pub dtype: DType,
    /// Its values, row-major.
    pub data: Data,
}

/// A constant tensor's values.
#[derive(Clone, PartialEq)]
pub enum Data {
    /// float32 and float64 values.
    Float(Vec<f64>),
    /// Integer and boolean values.
    Int(Vec<i64>),
}

impl fmt::Debug for Tensor {
    // A model owner's weights are secret in a private session: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tensor")
            .field("dims", &self.dims)
            .field("dtype", &self.dtype)
            .finish_non_exhaustive()
    }
}

impl Tensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as reals.
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            Data::Float(v) => v.clone(),
            Data::Int(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }

    /// Decodes a `TensorProto`; `dir` is where external data lives (the model's folder).
    ///
    /// # Errors
    /// An unsupported type, data that does not match the shape, or unreadable external data.
    pub fn from_proto(t: &proto::TensorProto, dir: Option<&Path>) -> Result<Tensor> {
        let name = if t.name.is_empty() {
            "(unnamed)"
        } else {
            &t.name
        };
        let bad = |why: String| invalid(format!("tensor `{name}`: {why}"));
        let dtype = DType::from_onnx(t.data_type).ok_or_else(|| {
            bad(format!(
                "element type {} is not supported",
                dtype_name(t.data_type)
            ))
        })?;
        let mut dims = Vec::with_capacity(t.dims.len());
        let mut len: usize = 1;
        for &d in &t.dims {
            let d = usize::try_from(d).map_err(|_| bad(format!("negative dimension {d}")))?;
            len = len
                .checked_mul(d)
                .filter(|&n| n <= 1 << 34)
                .ok_or_else(|| bad(format!("shape {:?} is too large", t.dims)))?;
            dims.push(d);
        }
        let external;
        let raw: &[u8] = if t.data_location == 1 {
            external = read_external(t, dir, len * dtype.width()).map_err(bad)?;
            &external
        } else {
            &t.raw_data
        };
        let count = |n: usize, field: &str| {
            if n == len {
                Ok(())
            } else {
                Err(bad(format!(
                    "shape {:?} has {len} elements but {field} holds {n}",
                    dims
                )))
            }
        };
        let data = if !raw.is_empty() || (len == 0 && t.data_location == 1) {
            let w = dtype.width();
            if raw.len() != len * w {
                return Err(bad(format!(
                    "shape {:?} needs {} bytes of raw data, found {}",
                    dims,
                    len * w,
                    raw.len()
                )));
            }
            decode_raw(raw, dtype)
        } else {
            match dtype {
                DType::F32 => {
                    count(t.float_data.len(), "float_data")?;
                    Data::Float(t.float_data.iter().map(|&x| f64::from(x)).collect())
                }
                DType::F64 => {
                    count(t.double_data.len(), "double_data")?;
                    Data::Float(t.double_data.clone())
                }
                DType::Int(dt::INT64) => {
                    count(t.int64_data.len(), "int64_data")?;
                    Data::Int(t.int64_data.clone())
                }
                DType::Int(dt::UINT32 | dt::UINT64) => {
                    count(t.uint64_data.len(), "uint64_data")?;
                    Data::Int(t.uint64_data.iter().map(|&x| x as i64).collect())
                }
                DType::F16 | DType::BF16 => {
                    count(t.int32_data.len(), "int32_data")?;
                    Data::Float(
                        t.int32_data
                            .iter()
                            .map(|&x| half_to_f64(x as u16, dtype))
                            .collect(),
                    )
                }
                DType::Int(_) | DType::Bool => {
                    count(t.int32_data.len(), "int32_data")?;
                    Data::Int(t.int32_data.iter().map(|&x| i64::from(x)).collect())
                }
            }
        };
        if dtype == DType::Int(dt::UINT64)
            && let Data::Int(v) = &data
            && v.iter().any(|&x| x < 0)
        {
            return Err(bad(
                "a uint64 value above 2^63 - 1 (umbra reads signed 64-bit)".into(),
            ));
        }
        Ok(Tensor { dims, dtype, data })
    }
}

/// A float16 or bfloat16 bit pattern as a real.
fn half_to_f64(bits: u16, dtype: DType) -> f64 {
    if dtype == DType::BF16 {
        return f64::from(f32::from_bits(u32::from(bits) << 16));
    }
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f64::from(bits & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

fn decode_raw(raw: &[u8], dtype: DType) -> Data {
    let le = |c: &[u8]| {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(b)
    };
    match dtype {
        DType::F32 => Data::Float(
            raw.chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        ),
        DType::F64 => Data::Float(raw.chunks_exact(8).map(|c| f64::from_bits(le(c))).collect()),
        DType::F16 | DType::BF16 => Data::Float(
            raw.chunks_exact(2)
                .map(|c| half_to_f64(u16::from_le_bytes([c[0], c[1]]), dtype))
                .collect(),
        ),
        DType::Bool => Data::Int(raw.iter().map(|&b| i64::from(b != 0)).collect()),
        DType::Int(code) => {
            let w = dtype.width();
            let signed = matches!(code, dt::INT8 | dt::INT16 | dt::INT32 | dt::INT64);
            Data::Int(
                raw.chunks_exact(w)
                    .map(|c| {
                        let v = le(c);
                        let shift = 64 - 8 * w as u32;
                        if signed {
                            ((v << shift) as i64) >> shift
                        } else {
                            v as i64
                        }
                    })
                    .collect(),
            )
        }
    }
}

/// Reads a tensor's external data: `location` relative to the model's folder, with optional
/// `offset` and `length`. The location must stay inside that folder.
fn read_external(
    t: &proto::TensorProto,
    dir: Option<&Path>,
    want: usize,
) -> std::result::Result<Vec<u8>, String> {
    use std::io::{Read, Seek, SeekFrom};
    let key = |k: &str| {
        t.external_data
            .iter()
            .find(|e| e.key == k)
            .map(|e| e.value.as_str())
    };
    let location = key("location").ok_or("external data without a `location`")?;
    let dir = dir.ok_or("external data, but the model was not read from a file")?;
    let rel = Path::new(location);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!(
            "external data location `{location}` leaves the model's folder"
        ));
    }
    let num = |k: &str| -> std::result::Result<Option<u64>, String> {
        key(k)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("external data {k} `{v}` is not a number"))
            })
            .transpose()
    };
    let offset = num("offset")?.unwrap_or(0);
    let length = num("length")?.unwrap_or(want as u64);
    if length != want as u64 {
        return Err(format!(
            "external data length {length}, but the shape needs {want} bytes"
        ));
    }
    let path = dir.join(rel);
    let mut f =
        std::fs::File::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| format!("cannot seek {}: {e}", path.display()))?;
    let mut buf = vec![0u8; want];
    f.read_exact(&mut buf).map_err(|e| {
        format!(
            "{} ends before offset {offset} + {want} bytes: {e}",
            path.display()
        )
    })?;
    Ok(buf)
}

/// An attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// A real.
    Float(f32),
    /// An integer.
    Int(i64),
    /// A string.
    String(String),
    /// A constant tensor.
    Tensor(Tensor),
    /// Reals.
    Floats(Vec<f32>),
    /// Integers.
    Ints(Vec<i64>),
    /// Strings.
    Strings(Vec<String>),
}

/// One node of the graph.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its name, or `#i` (its index in the file) when it has none.
    pub name: String,
    /// Its operator (default domain).
    pub op: String,
    /// Its inputs; an empty string is an omitted optional input.
    pub inputs: Vec<String>,
    /// Its outputs; an empty string is an omitted optional output.
    pub outputs: Vec<String>,
    /// Its attributes, by name.
    pub attrs: BTreeMap<String, Attr>,
}

impl Node {
    fn unsupported(&self, what: impl Into<String>) -> Error {
        Error::Unsupported {
            node: self.name.clone(),
            op: self.op.clone(),
            what: what.into(),
        }
    }
}

/// A graph input or output: a name, an element type and a shape whose dimensions may be
/// symbolic (`None`).
#[derive(Debug, Clone, PartialEq)]
pub struct ValueInfo {
    /// The value's name.
    pub name: String,
    /// Its element type, when declared.
    pub dtype: Option<DType>,
    /// Its shape, when declared; `None` for a symbolic dimension.
    pub shape: Option<Vec<Option<usize>>>,
}

/// A checked model: the default-domain opset and the graph, nodes in topological order.
#[derive(Debug, Clone)]
pub struct Model {
    /// The default-domain opset version.
    pub opset: i64,
    /// What wrote the file, e.g. `pytorch 2.5`.
    pub producer: String,
    /// The graph's nodes, each after every producer of its inputs.
    pub nodes: Vec<Node>,
    /// Inputs the caller provides (graph inputs that are not initializers).
    pub inputs: Vec<ValueInfo>,
    /// The graph's outputs.
    pub outputs: Vec<ValueInfo>,
    /// The model owner's constants, by name, in file order.
    pub initializers: Vec<(String, Tensor)>,
}

impl Model {
    /// Reads and checks a model file; external data is read from beside it.
    ///
    /// # Errors
    /// The file cannot be read, or [`Model::from_bytes`] refuses it.
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Model::from_bytes(&bytes, Some(path.parent().unwrap_or(Path::new("."))))
    }

    /// Decodes and checks a model; `dir` is where its external data lives.
    ///
    /// # Errors
    /// The bytes are not a model, or the model breaks a rule listed in the crate docs.
    pub fn from_bytes(bytes: &[u8], dir: Option<&Path>) -> Result<Model> {
        let m = proto::decode_model(bytes).map_err(|e| Error::Decode(e.to_string()))?;
        let graph = m
            .graph
            .as_ref()
            .ok_or_else(|| Error::Decode("the file has no graph".into()))?;
        if m.ir_version < 3 {
            return Err(invalid(format!(
                "IR version {} predates opset imports (umbra reads IR 3 and later)",
                m.ir_version
            )));
        }
        let opset = m
            .opset_import
            .iter()
            .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .max()
            .ok_or_else(|| invalid("the model imports no default-domain opset"))?;
        if !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
            return Err(invalid(format!(
                "opset {opset} is outside what umbra reads ({MIN_OPSET} to {MAX_OPSET}); \
                 re-export with e.g. torch.onnx.export(..., opset_version=17)"
            )));
        }
        if let Some(s) = graph.sparse_initializer.first() {
            let name = s.values.as_ref().map_or("(unnamed)", |v| v.name.as_str());
            return Err(invalid(format!(
                "sparse initializer `{name}` is not supported"
            )));
        }
        let mut initializers = Vec::with_capacity(graph.initializer.len());
        let mut known = BTreeSet::new();
        for t in &graph.initializer {
            if t.name.is_empty() {
                return Err(invalid("an initializer has no name"));
            }
            if !known.insert(t.name.clone()) {
                return Err(invalid(format!(
                    "initializer `{}` is defined twice",
                    t.name
                )));
            }
            initializers.push((t.name.clone(), Tensor::from_proto(t, dir)?));
        }
        let mut inputs = Vec::new();
        for v in &graph.input {
            let info = value_info(v)?;
            if let Some((_, t)) = initializers.iter().find(|(n, _)| *n == v.name) {
                check_declared(&info, t)?;
                continue;
            }
            if !known.insert(v.name.clone()) {
                return Err(invalid(format!(
                    "graph input `{}` is declared twice",
                    v.name
                )));
            }
            inputs.push(info);
        }
        let nodes = graph
            .node
            .iter()
            .enumerate()
            .map(|(i, n)| node(i, n, dir))
            .collect::<Result<Vec<_>>>()?;
        let nodes = topological(nodes, known)?;
        let produced: BTreeSet<&str> = nodes
            .iter()
            .flat_map(|n| n.outputs.iter().map(String::as_str))
            .chain(inputs.iter().map(|i| i.name.as_str()))
            .chain(initializers.iter().map(|(n, _)| n.as_str()))
            .collect();
        let outputs = graph
            .output
            .iter()
            .map(value_info)
            .collect::<Result<Vec<_>>>()?;
        if outputs.is_empty() {
            return Err(invalid("the graph has no outputs"));
        }
        if let Some(o) = outputs.iter().find(|o| !produced.contains(o.name.as_str())) {
            return Err(invalid(format!(
                "graph output `{}` is never produced",
                o.name
            )));
        }
        let mut model = Model {
            opset,
            producer: format!("{} {}", m.producer_name, m.producer_version)
                .trim()
                .to_string(),
            nodes,
            inputs,
            outputs,
            initializers,
        };
        model.check_supported()?;
        model.fold_gemm_transposes();
        Ok(model)
    }

    /// Stores the weight of each `Gemm` with `transB` on a 2-D float initializer (what the
    /// legacy exporter emits for `nn.Linear`) transposed, and clears the flag, when that
    /// `Gemm` is the initializer's only reader. The product then reads the weight itself
    /// rather than a transpose made per run, so a private weight keeps its fixed Beaver mask
    /// across queries (`CrypTensor::fix_mask`).
    fn fold_gemm_transposes(&mut self) {
        for k in 0..self.nodes.len() {
            let node = &self.nodes[k];
            if node.op != "Gemm"
                || !matches!(node.attrs.get("transB"), Some(Attr::Int(t)) if *t != 0)
                || node.inputs.len() < 2
            {
                continue;
            }
            let name = node.inputs[1].clone();
            let readers = self
                .nodes
                .iter()
                .flat_map(|n| &n.inputs)
                .filter(|i| **i == name)
                .count();
            if readers != 1 || self.outputs.iter().any(|o| o.name == name) {
                continue;
            }
            let Some((_, t)) = self.initializers.iter_mut().find(|(n, _)| *n == name) else {
                continue;
            };
            let Data::Float(values) = &t.data else {
                continue;
            };
            if t.dims.len() != 2 {
                continue;
            }
            let (rows, cols) = (t.dims[0], t.dims[1]);
            let mut transposed = vec![0.0; values.len()];
            for r in 0..rows {
                for c in 0..cols {
                    transposed[c * rows + r] = values[r * cols + c];
                }
            }
            t.data = Data::Float(transposed);
            t.dims = vec![cols, rows];
            self.nodes[k].attrs.insert("transB".into(), Attr::Int(0));
        }
    }

    /// How many nodes use each operator, by name.
    pub fn op_counts(&self) -> BTreeMap<&str, usize> {
        let mut c = BTreeMap::new();
        for n in &self.nodes {
            *c.entry(n.op.as_str()).or_default() += 1;
        }
        c
    }
}

/// An initializer that is also declared as a graph input must agree with the declaration.
fn check_declared(info: &ValueInfo, t: &Tensor) -> Result<()> {
    if let Some(shape) = &info.shape {
        let fits = shape.len() == t.dims.len()
            && shape
                .iter()
                .zip(&t.dims)
                .all(|(d, &n)| d.is_none_or(|d| d == n));
        if !fits {
            return Err(invalid(format!(
                "initializer `{}` has shape {:?} but the graph declares {:?}",
                info.name, t.dims, shape
            )));
        }
    }
    if info.dtype.is_some_and(|d| d != t.dtype) {
        return Err(invalid(format!(
            "initializer `{}` is {:?} but the graph declares {:?}",
            info.name, t.dtype, info.dtype
        )));
    }
    Ok(())
}

fn value_info(v: &proto::ValueInfoProto) -> Result<ValueInfo> {
    if v.name.is_empty() {
        return Err(invalid("a graph input or output has no name"));
    }
    let tensor = v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref());
    let dtype = match tensor.map(|t| t.elem_type) {
        None | Some(0) => None,
        Some(code) => Some(DType::from_onnx(code).ok_or_else(|| {
            invalid(format!(
                "graph value `{}` has element type {}, which umbra does not support",
                v.name,
                dtype_name(code)
            ))
        })?),
    };
    let shape = match tensor.and_then(|t| t.shape.as_ref()) {
        None => None,
        Some(s) => Some(
            s.dim
                .iter()
                .map(|d| match d.dim_value {
                    Some(n) if n >= 0 => Ok(Some(n as usize)),
                    Some(n) => Err(invalid(format!(
                        "graph value `{}` has dimension {n}",
                        v.name
                    ))),
                    None => Ok(None),
                })
                .collect::<Result<Vec<_>>>()?,
        ),
    };
    Ok(ValueInfo {
        name: v.name.clone(),
        dtype,
        shape,
    })
}

fn node(index: usize, n: &proto::NodeProto, dir: Option<&Path>) -> Result<Node> {
    let mut node = Node {
        name: if n.name.is_empty() {
            format!("#{index}")
        } else {
            n.name.clone()
        },
        op: n.op_type.clone(),
        inputs: n.input.clone(),
        outputs: n.output.clone(),
        attrs: BTreeMap::new(),
    };
    if n.op_type.is_empty() {
        return Err(node.unsupported("the node has no op_type"));
    }
    if !(n.domain.is_empty() || n.domain == "ai.onnx") {
        return Err(node.unsupported(format!(
            "operators of domain `{}` are not supported (only the default ONNX domain)",
            n.domain
        )));
    }
    for a in &n.attribute {
        if !a.ref_attr_name.is_empty() {
            return Err(node.unsupported(format!(
                "attribute `{}` refers to a function's attribute",
                a.name
            )));
        }
        let value = match a.r#type {
            at::FLOAT => Attr::Float(a.f),
            at::INT => Attr::Int(a.i),
            at::STRING => Attr::String(String::from_utf8_lossy(&a.s).into_owned()),
            at::TENSOR => {
                let t = a.t.as_ref().ok_or_else(|| {
                    node.unsupported(format!("tensor attribute `{}` has no tensor", a.name))
                })?;
                Attr::Tensor(Tensor::from_proto(t, dir)?)
            }
            at::FLOATS => Attr::Floats(a.floats.clone()),
            at::INTS => Attr::Ints(a.ints.clone()),
            at::STRINGS => Attr::Strings(
                a.strings
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect(),
            ),
            at::GRAPH | at::GRAPHS => {
                return Err(node.unsupported(format!(
                    "attribute `{}` is a subgraph (control flow is not supported)",
                    a.name
                )));
            }
            at::TENSORS
            | at::SPARSE_TENSOR
            | at::SPARSE_TENSORS
            | at::TYPE_PROTO
            | at::TYPE_PROTOS => {
                return Err(node.unsupported(format!(
                    "attribute `{}` has a type umbra does not read ({})",
                    a.name, a.r#type
                )));
            }
            other => {
                return Err(node.unsupported(format!(
                    "attribute `{}` has no or an unknown type ({other})",
                    a.name
                )));
            }
        };
        if node.attrs.insert(a.name.clone(), value).is_some() {
            return Err(node.unsupported(format!("attribute `{}` is given twice", a.name)));
        }
    }
    Ok(node)
}

/// Orders nodes so each follows the producers of its inputs (stable: file order where the
/// file is already ordered). `known` holds the graph inputs and initializers.
fn topological(nodes: Vec<Node>, known: BTreeSet<String>) -> Result<Vec<Node>> {
    let mut producer: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for o in n.outputs.iter().filter(|o| !o.is_empty()) {
            if known.contains(o) {
                return Err(n.unsupported(format!(
                    "output `{o}` is also a graph input or an initializer"
                )));
            }
            if let Some(&j) = producer.get(o.as_str()) {
                return Err(invalid(format!(
                    "value `{o}` is produced by both `{}` and `{}`",
                    nodes[j].name, n.name
                )));
            }
            producer.insert(o, i);
        }
    }
    // For each node, the nodes it waits on.
    let mut waits: Vec<BTreeSet<usize>> = Vec::with_capacity(nodes.len());
    for n in &nodes {
        let mut w = BTreeSet::new();
        for i in n.inputs.iter().filter(|i| !i.is_empty()) {
            match producer.get(i.as_str()) {
                Some(&p) => {
                    w.insert(p);
                }
                None if known.contains(i) => {}
                None => {
                    return Err(n.unsupported(format!(
                        "input `{i}` is never produced (not a graph input, an initializer or \
                         another node's output)"
                    )));
                }
            }
        }
        waits.push(w);
    }
    let mut done = vec![false; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    // Repeated passes in file order: linear for an ordered file, which is what exporters write.
    loop {
        let before = order.len();
        for i in 0..nodes.len() {
            if !done[i] && waits[i].iter().all(|&p| done[p]) {
                done[i] = true;
                order.push(i);
            }
        }
        if order.len() == nodes.len() {
            break;
        }
        if order.len() == before {
            let stuck: Vec<&str> = (0..nodes.len())
                .filter(|&i| !done[i])
                .map(|i| nodes[i].name.as_str())
                .take(8)
                .collect();
            return Err(invalid(format!(
                "the graph has a cycle through nodes {}",
                stuck.join(", ")
            )));
        }
    }
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}
