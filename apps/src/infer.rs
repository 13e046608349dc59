//! `umbra infer`: private inference of an ONNX model. The model's weights come from one party
//! (the model owner), the inputs from another (the input owner), and the outputs are revealed
//! to the input owner only.
//!
//! Every party needs the graph (the model file): the non-owners read only its structure and
//! the public initializers it reads as shapes, axes or indices; the weights reach them as
//! shares from the owner. The input owner's tensor shapes are made public first (one round):
//! they are what a party needs to take its shares.
//!
//! Token ids read by an embedding lookup (`Model::one_hot_inputs`) are one-hot encoded by
//! their owner before sharing, so the lookup is a product with the table and no party ever
//! computes on private indices (bytes: the one-hot, `ids × vocabulary` words, per query).

use anyhow::{Context, Result, anyhow, bail};
use mpc::{CrypTensor, Session};
use tensor::{FloatTensor, RingTensor};
use umbra::onnx::Model;

/// Who holds what.
#[derive(Debug, Clone, Copy)]
pub struct Roles {
    /// The party whose initializers (weights) the model uses.
    pub model_owner: usize,
    /// The party that holds the inputs and receives the outputs.
    pub input_owner: usize,
}

/// The largest input a party accepts to take shares of (elements), so that a peer cannot
/// make it allocate without bound.
const MAX_INPUT_ELEMENTS: f64 = (1u64 << 31) as f64;

/// The model owner's weights as shares, taken at their first use and kept for the queries
/// after it (an inference server). Each has its Beaver mask fixed
/// ([`CrypTensor::fix_mask`]): the products by a weight (every `MatMul` on an initializer,
/// the embedding table) open `w - b` at the first query only, so a later query sends the
/// activations' masked values alone. Keep one per session and model.
#[derive(Debug, Default)]
pub struct SharedWeights {
    weights: std::collections::BTreeMap<String, CrypTensor>,
}

impl SharedWeights {
    /// Weights shared so far.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Whether no weight has been shared yet.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }
}

/// One party's part of a private inference. `inputs` (by graph input name) at the input
/// owner, `None` elsewhere. Returns the outputs at the input owner, `None` elsewhere.
///
/// # Errors
/// Roles outside the session, an input missing at the owner or of the wrong rank, a model
/// that cannot run on these inputs (naming the node), link failures.
pub fn infer_party(
    s: &Session,
    model: &Model,
    roles: Roles,
    inputs: Option<&[(String, FloatTensor)]>,
) -> Result<Option<Vec<FloatTensor>>> {
    infer_party_with(s, model, roles, inputs, &mut SharedWeights::default())
}

/// [`infer_party`] for one query of many on the same model and session: the weights in
/// `weights` are reused, and those not yet shared are shared and added.
///
/// # Errors
/// As [`infer_party`].
pub fn infer_party_with(
    s: &Session,
    model: &Model,
    roles: Roles,
    inputs: Option<&[(String, FloatTensor)]>,
    weights: &mut SharedWeights,
) -> Result<Option<Vec<FloatTensor>>> {
    let n = s.n_parties();
    for (what, p) in [
        ("model owner", roles.model_owner),
        ("input owner", roles.input_owner),
    ] {
        if p >= n {
            bail!(
                "the {what} is party {p}, but the session has parties 0 to {}",
                n - 1
            );
        }
    }
    let me = s.party();
    let frac = s.config().frac_bits;
    let owner = roles.input_owner;
    // The shape of every graph input, from the input owner, in one opening; a one-hot
    // encoded input has one more axis (the vocabulary).
    let vocab = model.one_hot_inputs();
    let ranks = model
        .inputs
        .iter()
        .map(|i| {
            let r = i.shape.as_ref().map(Vec::len).ok_or_else(|| {
                anyhow!(
                    "graph input `{}` declares no shape: its rank is unknown",
                    i.name
                )
            })?;
            Ok(r + usize::from(vocab.iter().any(|(n, _)| *n == i.name)))
        })
        .collect::<Result<Vec<_>>>()?;
    let total: usize = ranks.iter().sum();
    let encoded;
    let given: Vec<&FloatTensor> = if me == owner {
        let inputs = inputs.ok_or_else(|| anyhow!("the input owner has no inputs"))?;
        encoded = encode_inputs(model, inputs)?;
        let inputs = encoded.as_slice();
        if let Some((extra, _)) = inputs
            .iter()
            .find(|(n, _)| !model.inputs.iter().any(|i| &i.name == n))
        {
            bail!("the model has no input `{extra}`");
        }
        model
            .inputs
            .iter()
            .map(|i| {
                inputs
                    .iter()
                    .find(|(n, _)| *n == i.name)
                    .map(|(_, t)| t)
                    .ok_or_else(|| anyhow!("no value for graph input `{}`", i.name))
            })
            .collect::<Result<_>>()?
    } else {
        Vec::new()
    };
    let dims_shared = if me == owner {
        let mut v = Vec::with_capacity(total);
        for (t, &r) in given.iter().zip(&ranks) {
            if t.shape().len() != r {
                bail!(
                    "an input has shape {:?}, the model declares rank {r}",
                    t.shape()
                );
            }
            v.extend(t.shape().iter().map(|&d| d as f64));
        }
        s.share(&RingTensor::from_f64(&[total], &v, 0)?, owner)?
    } else {
        s.share_from(&[total], 0, owner)?
    };
    let flat = FloatTensor::from_ring(&dims_shared.reveal()?);
    let mut at = 0;
    let mut xs: Vec<(&str, CrypTensor)> = Vec::with_capacity(model.inputs.len());
    for (k, (info, &r)) in model.inputs.iter().zip(&ranks).enumerate() {
        let d = &flat.as_slice()[at..at + r];
        at += r;
        if d.iter().any(|&x| x < 0.0) || d.iter().product::<f64>() > MAX_INPUT_ELEMENTS {
            bail!(
                "graph input `{}`: the input owner sent shape {d:?}",
                info.name
            );
        }
        let dims: Vec<usize> = d.iter().map(|&x| x as usize).collect();
        let x = if me == owner {
            s.share_f64(&dims, given[k].as_slice(), owner)?
        } else {
            s.share_from(&dims, frac, owner)?
        };
        xs.push((info.name.as_str(), x));
    }
    let outs = model
        .run(&xs, |name, w| {
            if let Some(t) = weights.weights.get(name) {
                return Ok(t.clone());
            }
            let t = if me == roles.model_owner {
                s.share_f64(&w.dims, &w.to_f64(), roles.model_owner)?
            } else {
                s.share_from(&w.dims, frac, roles.model_owner)?
            }
            .fix_mask();
            weights.weights.insert(name.to_string(), t.clone());
            Ok(t)
        })
        .context("the model")?;
    let mut revealed = Vec::with_capacity(outs.len());
    for o in &outs {
        if let Some(r) = o.reveal_to(owner)? {
            revealed.push(FloatTensor::from_ring(&r));
        }
    }
    Ok((me == owner).then_some(revealed))
}

/// The model on the f64 reference (the plaintext the private run is compared with).
///
/// # Errors
/// As [`Model::run`].
pub fn infer_plaintext(
    model: &Model,
    inputs: &[(String, FloatTensor)],
) -> Result<Vec<FloatTensor>> {
    let inputs = encode_inputs(model, inputs)?;
    let xs: Vec<(&str, FloatTensor)> = inputs
        .iter()
        .map(|(n, t)| (n.as_str(), t.clone()))
        .collect();
    Ok(model.run(&xs, |_, w| FloatTensor::from_f64(&w.dims, &w.to_f64()))?)
}

/// The inputs as the model runs on them: token ids of an embedding lookup one-hot encoded
/// (`umbra::onnx::one_hot`), the rest as given.
///
/// # Errors
/// A token id outside the vocabulary, naming the input.
pub fn encode_inputs(
    model: &Model,
    inputs: &[(String, FloatTensor)],
) -> Result<Vec<(String, FloatTensor)>> {
    let vocab = model.one_hot_inputs();
    inputs
        .iter()
        .map(|(n, t)| match vocab.iter().find(|(v, _)| v == n) {
            Some((_, v)) => Ok((
                n.clone(),
                umbra::onnx::one_hot(t.as_slice(), t.shape(), *v)
                    .with_context(|| format!("input `{n}`"))?,
            )),
            None => Ok((n.clone(), t.clone())),
        })
        .collect()
}

/// Reads a `.npy` file (float32, float64 or a signed or unsigned integer type, C order) as
/// reals.
///
/// # Errors
/// Unreadable, not `.npy`, or an element type other than those.
pub fn read_npy(path: &std::path::Path) -> Result<FloatTensor> {
    use ndarray_npy::ReadNpyExt;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let read = |bytes: &[u8]| -> Option<FloatTensor> {
        macro_rules! try_as {
            ($t:ty) => {
                if let Ok(a) = ndarray::ArrayD::<$t>::read_npy(bytes) {
                    let v: Vec<f64> = a.iter().map(|&x| x as f64).collect();
                    return FloatTensor::from_f64(a.shape(), &v).ok();
                }
            };
        }
        try_as!(f64);
        try_as!(f32);
        try_as!(i64);
        try_as!(i32);
        try_as!(i16);
        try_as!(i8);
        try_as!(u8);
        try_as!(u16);
        try_as!(u32);
        None
    };
    read(&bytes).ok_or_else(|| {
        anyhow!(
            "{}: not a .npy file of reals or integers in C order (float32/64, int8 to int64, \
             uint8 to uint32)",
            path.display()
        )
    })
}

/// Writes `t` as a float64 `.npy` file.
///
/// # Errors
/// The file cannot be written.
pub fn write_npy(path: &std::path::Path, t: &FloatTensor) -> Result<()> {
    use ndarray_npy::WriteNpyExt;
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    t.to_ndarray()
        .write_npy(std::io::BufWriter::new(f))
        .with_context(|| format!("writing {}", path.display()))
}
