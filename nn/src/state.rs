//! Saving and loading weights: [`StateDict`] (PyTorch's `state_dict()`), safetensors files
//! (what PyTorch users already have: `safetensors.torch.save_file(model.state_dict(), path)`),
//! and the one loader every source goes through ([`load_tensors`]), so that another format
//! (ONNX initialisers) only has to implement [`TensorSource`].
//!
//! State dicts are plaintext: they hold `f64` values decoded from fixed point. A private model
//! is loaded by its owner as a plaintext model and then shared (see `MapParams`), and saved
//! after revealing it to its owner.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use autograd::Var;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use tensor::{RingTensor, TensorOps};

use crate::error::Error;
use crate::module::Module;

/// A plaintext tensor: shape and row-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorData {
    /// The shape.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub values: Vec<f64>,
}

/// Named plaintext tensors in a model's order, like PyTorch's `state_dict()`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateDict {
    entries: Vec<(String, TensorData)>,
}

impl StateDict {
    /// An empty state dict.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `name`, replacing an entry of the same name in place.
    pub fn insert(&mut self, name: impl Into<String>, data: TensorData) {
        let name = name.into();
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = data,
            None => self.entries.push((name, data)),
        }
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&TensorData> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, d)| d)
    }

    /// Removes and returns the tensor called `name`.
    pub fn remove(&mut self, name: &str) -> Option<TensorData> {
        let i = self.entries.iter().position(|(n, _)| n == name)?;
        Some(self.entries.remove(i).1)
    }

    /// The names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TensorData)> {
        self.entries.iter().map(|(n, d)| (n.as_str(), d))
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Serialises to the safetensors format, every tensor as `dtype` (F32, as PyTorch saves,
    /// or F64).
    ///
    /// # Errors
    /// A dtype other than F32 or F64.
    pub fn to_safetensors(&self, dtype: Dtype) -> Result<Vec<u8>, Error> {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .entries
            .iter()
            .map(|(name, d)| {
                let raw = match dtype {
                    Dtype::F32 => d
                        .values
                        .iter()
                        .flat_map(|&v| (v as f32).to_le_bytes())
                        .collect(),
                    Dtype::F64 => d.values.iter().flat_map(|&v| v.to_le_bytes()).collect(),
                    other => {
                        return Err(Error::Dtype {
                            name: name.clone(),
                            dtype: format!("{other:?}"),
                        });
                    }
                };
                Ok((name.clone(), d.shape.clone(), raw))
            })
            .collect::<Result<_, Error>>()?;
        let views = bytes
            .iter()
            .map(|(name, shape, raw)| {
                TensorView::new(dtype, shape.clone(), raw)
                    .map(|v| (name.as_str(), v))
                    .map_err(|e| Error::Format(e.to_string()))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        safetensors::serialize(views, None).map_err(|e| Error::Format(e.to_string()))
    }

    /// Reads every tensor of a safetensors file's bytes (F32, F64, F16, BF16 and integer
    /// dtypes are converted to `f64`).
    ///
    /// # Errors
    /// Malformed bytes or an unsupported dtype (named).
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, Error> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| Error::Format(e.to_string()))?;
        // the file's header is a JSON object: sort the names so the order is the same
        // everywhere (it never depends on hash-map iteration)
        let mut names: Vec<&str> = st.names();
        names.sort_unstable();
        let mut out = StateDict::new();
        for name in names {
            let view = st.tensor(name).map_err(|e| Error::Format(e.to_string()))?;
            out.insert(name, decode_view(name, &view)?);
        }
        Ok(out)
    }

    /// Writes a safetensors file.
    ///
    /// # Errors
    /// As [`StateDict::to_safetensors`], and I/O failures (naming the path).
    pub fn save(&self, path: impl AsRef<Path>, dtype: Dtype) -> Result<(), Error> {
        let path = path.as_ref();
        std::fs::write(path, self.to_safetensors(dtype)?).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Reads a safetensors file.
    ///
    /// # Errors
    /// As [`StateDict::from_safetensors`], and I/O failures (naming the path).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_safetensors(&bytes)
    }
}

fn decode_view(name: &str, view: &TensorView<'_>) -> Result<TensorData, Error> {
    let raw = view.data();
    let values: Vec<f64> = match view.dtype() {
        Dtype::F64 => le_chunks::<8>(raw).map(f64::from_le_bytes).collect(),
        Dtype::F32 => le_chunks::<4>(raw)
            .map(|b| f64::from(f32::from_le_bytes(b)))
            .collect(),
        Dtype::F16 => le_chunks::<2>(raw)
            .map(|b| f16_to_f64(u16::from_le_bytes(b)))
            .collect(),
        Dtype::BF16 => le_chunks::<2>(raw)
            .map(|b| f64::from(f32::from_bits(u32::from(u16::from_le_bytes(b)) << 16)))
            .collect(),
        Dtype::I64 => le_chunks::<8>(raw)
            .map(|b| i64::from_le_bytes(b) as f64)
            .collect(),
        Dtype::I32 => le_chunks::<4>(raw)
            .map(|b| f64::from(i32::from_le_bytes(b)))
            .collect(),
        other => {
            return Err(Error::Dtype {
                name: name.to_string(),
                dtype: format!("{other:?}"),
            });
        }
    };
    Ok(TensorData {
        shape: view.shape().to_vec(),
        values,
    })
}

fn le_chunks<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    raw.chunks_exact(N)
        .map(|c| c.try_into().expect("chunks_exact gives N bytes"))
}

/// IEEE half precision to `f64`.
fn f16_to_f64(h: u16) -> f64 {
    let sign = if h >> 15 == 1 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

/// Where named tensors come from when a model loads: a [`StateDict`], a safetensors file,
/// and later ONNX initialisers. [`load_tensors`] is the only consumer.
pub trait TensorSource {
    /// The tensor called `name`, if the source has it.
    ///
    /// # Errors
    /// The source cannot produce it (a malformed file, an unsupported dtype).
    fn tensor(&self, name: &str) -> Result<Option<TensorData>, Error>;

    /// Every name the source holds (for strict loading), in a fixed order.
    fn names(&self) -> Vec<String>;
}

impl TensorSource for StateDict {
    fn tensor(&self, name: &str) -> Result<Option<TensorData>, Error> {
        Ok(self.get(name).cloned())
    }
    fn names(&self) -> Vec<String> {
        self.entries.iter().map(|(n, _)| n.clone()).collect()
    }
}

/// Tensors that a state dict can be read from and written into: plaintext ones.
pub trait PlainTensor: TensorOps {
    /// The decoded values.
    fn to_data(&self) -> TensorData;

    /// A tensor like this one (same scale; a `Var` keeps whether it tracks gradients)
    /// holding `data`.
    ///
    /// # Errors
    /// Values that cannot be encoded.
    fn with_data(&self, data: &TensorData) -> Result<Self, tensor::Error>;
}

impl PlainTensor for RingTensor {
    fn to_data(&self) -> TensorData {
        TensorData {
            shape: self.shape().to_vec(),
            values: self.to_f64(),
        }
    }
    fn with_data(&self, data: &TensorData) -> Result<Self, tensor::Error> {
        let f = match self.frac_bits() {
            0 => tensor::DEFAULT_FRAC_BITS,
            f => f,
        };
        RingTensor::from_f64(&data.shape, &data.values, f)
    }
}

impl PlainTensor for Var<RingTensor> {
    fn to_data(&self) -> TensorData {
        self.value().to_data()
    }
    fn with_data(&self, data: &TensorData) -> Result<Self, tensor::Error> {
        let value = self.value().with_data(data)?;
        Ok(if self.requires_grad() {
            Var::leaf(value)
        } else {
            Var::constant(value)
        })
    }
}

/// PyTorch saves a batch count that umbra does not keep; loading accepts and ignores it.
pub(crate) fn ignorable(name: &str) -> bool {
    name == "num_batches_tracked" || name.ends_with(".num_batches_tracked")
}

/// The model's parameters and buffers as a plaintext state dict (parameters first, in
/// order, then buffers).
pub fn state_dict<T: PlainTensor, M: Module<T> + ?Sized>(model: &M) -> StateDict {
    let mut out = StateDict::new();
    for (name, p) in model.named_parameters() {
        out.insert(name, p.to_data());
    }
    for (name, b) in model.named_buffers() {
        out.insert(name, b.to_data());
    }
    out
}

/// Loads every parameter and buffer of `model` from `source` by name: **the** loader (state
/// dicts, safetensors files and future formats all come through here).
///
/// Everything is checked before anything is written, so a failed load leaves the model as it
/// was. With `strict`, tensors in the source that the model does not have are an error too
/// (PyTorch's `num_batches_tracked` excepted).
///
/// # Errors
/// A tensor the model needs is missing ([`Error::MissingTensor`]) or has another shape
/// ([`Error::ShapeMismatch`]), both naming the tensor; with `strict`, an unexpected tensor
/// ([`Error::UnexpectedTensor`]); values that cannot be encoded; the source failing.
pub fn load_tensors<T: PlainTensor, M: Module<T> + ?Sized>(
    model: &mut M,
    source: &dyn TensorSource,
    strict: bool,
) -> Result<(), Error> {
    let wanted: Vec<(String, Vec<usize>)> = model
        .named_parameters()
        .into_iter()
        .map(|(n, p)| (n, p.dims()))
        .chain(
            model
                .named_buffers()
                .into_iter()
                .map(|(n, b)| (n, b.dims())),
        )
        .collect();
    let mut found: BTreeMap<String, TensorData> = BTreeMap::new();
    for (name, shape) in &wanted {
        found.insert(name.clone(), checked_tensor(source, name, shape)?);
    }
    if strict {
        let known: BTreeSet<&str> = wanted.iter().map(|(n, _)| n.as_str()).collect();
        if let Some(extra) = source
            .names()
            .into_iter()
            .find(|n| !known.contains(n.as_str()) && !ignorable(n))
        {
            return Err(Error::UnexpectedTensor { name: extra });
        }
    }
    // encode everything before writing anything
    let mut encoded: BTreeMap<String, T> = BTreeMap::new();
    {
        let current: Vec<(String, T)> = model
            .named_parameters()
            .into_iter()
            .map(|(n, p)| (n, p.clone()))
            .chain(model.named_buffers())
            .collect();
        for (name, t) in current {
            let value = t.with_data(&found[&name]).map_err(|source| Error::Encode {
                name: name.clone(),
                source,
            })?;
            encoded.insert(name, value);
        }
    }
    for (name, slot) in model.named_parameters_mut() {
        if let Some(v) = encoded.remove(&name) {
            *slot = v;
        }
    }
    for (name, slot) in model.named_buffers_mut() {
        if let Some(v) = encoded.remove(&name) {
            *slot = v;
        }
    }
    Ok(())
}

/// The tensor `name` of `source`, checked to have `shape`.
///
/// # Errors
/// Missing ([`Error::MissingTensor`]) or misshapen ([`Error::ShapeMismatch`]), naming the
/// tensor; the source failing.
pub(crate) fn checked_tensor(
    source: &dyn TensorSource,
    name: &str,
    shape: &[usize],
) -> Result<TensorData, Error> {
    let data = source
        .tensor(name)?
        .ok_or_else(|| Error::MissingTensor { name: name.into() })?;
    let n: usize = data.shape.iter().product();
    if data.shape != shape || data.values.len() != n {
        return Err(Error::ShapeMismatch {
            name: name.into(),
            expected: shape.to_vec(),
            got: data.shape,
        });
    }
    Ok(data)
}

/// Module methods for plaintext models, as PyTorch's: `state_dict`, `load_state_dict`, and
/// safetensors files.
pub trait ModuleState<T: PlainTensor>: Module<T> {
    /// The parameters and buffers (see [`state_dict`]).
    fn state_dict(&self) -> StateDict {
        state_dict(self)
    }

    /// Loads from a state dict (see [`load_tensors`]).
    ///
    /// # Errors
    /// As [`load_tensors`].
    fn load_state_dict(&mut self, dict: &StateDict, strict: bool) -> Result<(), Error> {
        load_tensors(self, dict, strict)
    }

    /// Saves the state dict as a safetensors file of F32 (as PyTorch) or F64 tensors.
    ///
    /// # Errors
    /// As [`StateDict::save`].
    fn save_safetensors(&self, path: impl AsRef<Path>, dtype: Dtype) -> Result<(), Error>
    where
        Self: Sized,
    {
        state_dict(self).save(path, dtype)
    }

    /// Loads a safetensors file, strictly (see [`load_tensors`]).
    ///
    /// # Errors
    /// As [`StateDict::load`] and [`load_tensors`].
    fn load_safetensors(&mut self, path: impl AsRef<Path>) -> Result<(), Error>
    where
        Self: Sized,
    {
        load_tensors(self, &StateDict::load(path)?, true)
    }
}

impl<T: PlainTensor, M: Module<T> + ?Sized> ModuleState<T> for M {}
