//! Shape helpers: element counts and NumPy/PyTorch broadcasting.

use crate::error::{Error, Result};

/// Number of elements of a shape (1 for a scalar, shape `[]`), saturating at `usize::MAX`
/// (no tensor that large exists, so a length check against it fails cleanly).
pub fn numel(shape: &[usize]) -> usize {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .unwrap_or(usize::MAX)
}

/// Largest element count a tensor built from an untrusted shape may have (2^36 ring elements,
/// 512 GiB): anything larger is a mistake or an attack, and is refused before allocating.
pub const MAX_ELEMENTS: usize = 1 << 36;

/// Validates a shape that comes from outside (a user, a peer, a dealer request) before anything
/// is allocated for it, and returns its element count.
///
/// # Errors
/// The element count overflows or exceeds [`MAX_ELEMENTS`].
pub fn checked_numel(op: &'static str, shape: &[usize]) -> Result<usize> {
    match shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) {
        Some(n) if n <= MAX_ELEMENTS => Ok(n),
        _ => Err(Error::InvalidArgument {
            op,
            reason: format!("shape {shape:?} has more than 2^36 elements"),
        }),
    }
}

/// The broadcast shape of two shapes, by the NumPy/PyTorch rule: align trailing dimensions;
/// each pair must be equal or contain a 1.
///
/// # Errors
/// [`Error::ShapeMismatch`] naming `op` when a dimension pair is incompatible.
pub fn broadcast_shapes(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Result<Vec<usize>> {
    let rank = lhs.len().max(rhs.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let l = if i < rank - lhs.len() {
            1
        } else {
            lhs[i - (rank - lhs.len())]
        };
        let r = if i < rank - rhs.len() {
            1
        } else {
            rhs[i - (rank - rhs.len())]
        };
        out[i] = match (l, r) {
            (a, b) if a == b => a,
            (1, b) => b,
            (a, 1) => a,
            _ => {
                return Err(Error::ShapeMismatch {
                    op,
                    lhs: lhs.to_vec(),
                    rhs: rhs.to_vec(),
                });
            }
        };
    }
    Ok(out)
}

/// Output shape of a PyTorch-style `matmul` of shapes `a` and `b`: 1-D operands are promoted
/// (and the added dimension removed again), batch dimensions broadcast.
///
/// # Errors
/// [`Error::ShapeMismatch`] for scalars, inner dimensions that differ, or batch dimensions
/// that do not broadcast.
pub fn matmul_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let op = "matmul";
    let mismatch = || Error::ShapeMismatch {
        op,
        lhs: a.to_vec(),
        rhs: b.to_vec(),
    };
    if a.is_empty() || b.is_empty() {
        return Err(mismatch());
    }
    let (m, k) = if a.len() == 1 {
        (1, a[0])
    } else {
        (a[a.len() - 2], a[a.len() - 1])
    };
    let (k2, n) = if b.len() == 1 {
        (b[0], 1)
    } else {
        (b[b.len() - 2], b[b.len() - 1])
    };
    if k != k2 {
        return Err(mismatch());
    }
    let ab = &a[..a.len().saturating_sub(2)];
    let bb = &b[..b.len().saturating_sub(2)];
    let mut out = broadcast_shapes(op, ab, bb).map_err(|_| mismatch())?;
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Ok(out)
}

/// Output size of one spatial dimension of a convolution or pooling window.
///
/// # Errors
/// When the (dilated) window does not fit in the padded input, or the stride is zero.
pub fn conv_out_len(
    op: &'static str,
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> Result<usize> {
    if stride == 0 || dilation == 0 || kernel == 0 {
        return Err(Error::InvalidArgument {
            op,
            reason: "kernel, stride and dilation must be positive".into(),
        });
    }
    let too_big = || Error::InvalidArgument {
        op,
        reason: "window or padding overflows".into(),
    };
    let span = dilation
        .checked_mul(kernel - 1)
        .and_then(|s| s.checked_add(1))
        .ok_or_else(too_big)?;
    let padded = padding
        .checked_mul(2)
        .and_then(|p| p.checked_add(input))
        .ok_or_else(too_big)?;
    if padded < span {
        return Err(Error::InvalidArgument {
            op,
            reason: format!(
                "window of span {span} does not fit input {input} with padding {padding}"
            ),
        });
    }
    Ok((padded - span) / stride + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(
            broadcast_shapes("t", &[3, 1, 5], &[4, 1]).unwrap(),
            vec![3, 4, 5]
        );
        assert_eq!(broadcast_shapes("t", &[], &[2, 2]).unwrap(), vec![2, 2]);
        assert!(broadcast_shapes("t", &[3], &[4]).is_err());
    }

    #[test]
    fn conv_lengths_match_pytorch() {
        assert_eq!(conv_out_len("c", 28, 5, 1, 0, 1).unwrap(), 24);
        assert_eq!(conv_out_len("c", 7, 3, 2, 1, 2).unwrap(), 3);
        assert!(conv_out_len("c", 2, 5, 1, 0, 1).is_err());
        assert!(conv_out_len("c", 5, 2, 0, 0, 1).is_err());
        assert!(conv_out_len("c", 5, 2, 1, usize::MAX / 2, 1).is_err());
        assert!(conv_out_len("c", 5, 3, 1, 0, usize::MAX).is_err());
    }

    #[test]
    fn element_counts_never_overflow() {
        assert_eq!(numel(&[1 << 33, 1 << 33, 4]), usize::MAX);
        assert!(checked_numel("t", &[1 << 33, 1 << 33, 4]).is_err());
        assert!(checked_numel("t", &[1 << 20, 1 << 20]).is_err());
        assert_eq!(checked_numel("t", &[3, 0, 5]).unwrap(), 0);
    }
}
