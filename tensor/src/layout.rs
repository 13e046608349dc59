//! Shape and layout operations on `ndarray` arrays of any element type: the one
//! implementation behind both [`crate::RingTensor`]'s and [`crate::FloatTensor`]'s reshapes,
//! permutations, slices, selections, joins, pads, flips and broadcasts. Every result is an
//! owned array in standard layout; errors name the operation.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};

use crate::error::{Error, Result, invalid};

/// `dim` is a dimension of a rank-`rank` array.
pub(crate) fn check_dim(op: &'static str, rank: usize, dim: usize) -> Result<()> {
    if dim >= rank {
        return Err(Error::InvalidDim { op, dim, rank });
    }
    Ok(())
}

/// Swaps dimensions `d0` and `d1`.
pub(crate) fn transpose<E: Clone>(a: &ArrayD<E>, d0: usize, d1: usize) -> Result<ArrayD<E>> {
    check_dim("transpose", a.ndim(), d0)?;
    check_dim("transpose", a.ndim(), d1)?;
    let mut v = a.view();
    v.swap_axes(d0, d1);
    Ok(v.as_standard_layout().into_owned())
}

/// Output dimension `i` is input dimension `perm[i]`.
pub(crate) fn permute<E: Clone>(a: &ArrayD<E>, perm: &[usize]) -> Result<ArrayD<E>> {
    let rank = a.ndim();
    let mut seen = vec![false; rank];
    if perm.len() != rank
        || perm
            .iter()
            .any(|&p| p >= rank || std::mem::replace(&mut seen[p], true))
    {
        return Err(invalid(
            "permute",
            format!("{perm:?} is not a permutation of 0..{rank}"),
        ));
    }
    let v = a.view().permuted_axes(IxDyn(perm));
    Ok(v.as_standard_layout().into_owned())
}

/// Elements `start..end`, step `step`, along `dim`.
pub(crate) fn slice<E: Clone>(
    a: &ArrayD<E>,
    dim: usize,
    start: usize,
    end: usize,
    step: usize,
) -> Result<ArrayD<E>> {
    check_dim("slice", a.ndim(), dim)?;
    if step == 0 || start > end || end > a.shape()[dim] {
        return Err(invalid(
            "slice",
            format!(
                "range {start}..{end} step {step} invalid for dimension {dim} of {:?}",
                a.shape()
            ),
        ));
    }
    let s = Slice::new(start as isize, Some(end as isize), step as isize);
    Ok(a.slice_axis(Axis(dim), s).as_standard_layout().into_owned())
}

/// The listed indices along `dim` (repeats allowed).
pub(crate) fn index_select<E: Clone>(
    a: &ArrayD<E>,
    dim: usize,
    indices: &[usize],
) -> Result<ArrayD<E>> {
    check_dim("index_select", a.ndim(), dim)?;
    if let Some(&bad) = indices.iter().find(|&&i| i >= a.shape()[dim]) {
        return Err(invalid(
            "index_select",
            format!(
                "index {bad} out of range for dimension {dim} of {:?}",
                a.shape()
            ),
        ));
    }
    Ok(a.select(Axis(dim), indices))
}

/// Joins non-empty `parts` along `dim`; a mismatch names the first part whose shape differs
/// from the first outside `dim`.
pub(crate) fn concat<E: Clone>(parts: &[ArrayViewD<'_, E>], dim: usize) -> Result<ArrayD<E>> {
    let first = parts.first().expect("callers refuse an empty list");
    check_dim("concat", first.ndim(), dim)?;
    ndarray::concatenate(Axis(dim), parts).map_err(|_| Error::ShapeMismatch {
        op: "concat",
        lhs: first.shape().to_vec(),
        rhs: parts
            .iter()
            .find(|t| {
                t.ndim() != first.ndim()
                    || t.shape()
                        .iter()
                        .zip(first.shape())
                        .enumerate()
                        .any(|(i, (a, b))| i != dim && a != b)
            })
            .map(|t| t.shape().to_vec())
            .unwrap_or_default(),
    })
}

/// Pads with `value`: `pads[i] = (before, after)` for dimension `i`.
pub(crate) fn pad<E: Clone>(a: &ArrayD<E>, pads: &[(usize, usize)], value: E) -> Result<ArrayD<E>> {
    if pads.len() != a.ndim() {
        return Err(invalid(
            "pad",
            format!("{} pad pairs for a tensor of rank {}", pads.len(), a.ndim()),
        ));
    }
    let shape: Vec<usize> = a
        .shape()
        .iter()
        .zip(pads)
        .map(|(s, (b, after))| s.checked_add(*b).and_then(|v| v.checked_add(*after)))
        .collect::<Option<_>>()
        .ok_or_else(|| invalid("pad", format!("padding {pads:?} overflows")))?;
    crate::shape::checked_numel("pad", &shape)?;
    let mut out = ArrayD::from_elem(IxDyn(&shape), value);
    out.slice_each_axis_mut(|ax| {
        let (b, _) = pads[ax.axis.index()];
        Slice::from(b..b + a.shape()[ax.axis.index()])
    })
    .assign(a);
    Ok(out)
}

/// Reverses the element order along each listed dimension (each listed once).
pub(crate) fn flip<E: Clone>(a: &ArrayD<E>, dims: &[usize]) -> Result<ArrayD<E>> {
    for (i, &d) in dims.iter().enumerate() {
        check_dim("flip", a.ndim(), d)?;
        if dims[..i].contains(&d) {
            return Err(invalid(
                "flip",
                format!("dimension {d} listed twice in {dims:?}"),
            ));
        }
    }
    let v = a.slice_each_axis(|ax| {
        if dims.contains(&ax.axis.index()) {
            Slice::new(0, None, -1)
        } else {
            Slice::from(..)
        }
    });
    Ok(v.as_standard_layout().into_owned())
}

/// Materialises broadcasting to `shape`.
pub(crate) fn broadcast_to<E: Clone>(a: &ArrayD<E>, shape: &[usize]) -> Result<ArrayD<E>> {
    let v = a
        .broadcast(IxDyn(shape))
        .ok_or_else(|| Error::ShapeMismatch {
            op: "broadcast_to",
            lhs: a.shape().to_vec(),
            rhs: shape.to_vec(),
        })?;
    Ok(v.as_standard_layout().into_owned())
}
