//! The gradients of a convolution, as compositions of the contract's ops (so they run on
//! every backend): the input gradient is a transposed convolution, the weight gradient a
//! convolution of the input by the upstream gradient.

use tensor::{Conv2dParams, Error, TensorOps};

/// The gradient of a convolution with respect to its input, for the upstream gradient
/// `g_out` (`[N, O, Ho, Wo]`): the transposed convolution of `g_out` by `weight`, back to an
/// input of spatial size `input_hw`. Built from shape ops and one [`TensorOps::conv2d`]:
/// the gradient is dilated by the stride, padded by `dilation·(k-1) - padding` on each side
/// (plus what the forward pass's floor dropped at the end), and convolved with the
/// spatially flipped weight whose input and output channels are swapped within each group.
///
/// # Errors
/// Shapes that do not fit; network failures.
pub(crate) fn input_grad<T: TensorOps>(
    g_out: &T,
    weight: &T,
    input_hw: (usize, usize),
    p: &Conv2dParams,
) -> Result<T, T::Error> {
    let g = g_out.dims();
    let w = weight.dims();
    if g.len() != 4 || w.len() != 4 || p.groups == 0 || g[1] != w[0] {
        return Err(invalid_shapes("conv2d_input_grad", &g, &w).into());
    }
    let groups = p.groups;
    let (o, cg, kh, kw) = (w[0], w[1], w[2], w[3]);
    let mut grad = g_out.clone();
    for (axis, stride, dil, pad, len, k) in [
        (2, p.stride.0, p.dilation.0, p.padding.0, input_hw.0, kh),
        (3, p.stride.1, p.dilation.1, p.padding.1, input_hw.1, kw),
    ] {
        grad = dilate(&grad, axis, stride)?;
        // place the dilated gradient at offset d(k-1) - p in a line of len + d(k-1)
        let span = (dil * (k - 1)) as isize;
        let before = span - pad as isize;
        let after = len as isize + span - before - grad.dims()[axis] as isize;
        grad = place(&grad, axis, before, after)?;
    }
    // [O, C/g, kh, kw] -> [g, O/g, C/g, kh, kw] -> [g, C/g, O/g, kh, kw] -> [C, O/g, kh, kw]
    let og = o / groups;
    let wt = weight
        .reshape(&[groups, og, cg, kh, kw])?
        .permute(&[0, 2, 1, 3, 4])?
        .reshape(&[groups * cg, og, kh, kw])?
        .flip(&[2, 3])?;
    grad.conv2d(
        &wt,
        &Conv2dParams {
            stride: (1, 1),
            padding: (0, 0),
            dilation: p.dilation,
            groups,
        },
    )
}

/// The gradient of a convolution with respect to its weight, for the upstream gradient
/// `g_out` (`[N, O, Ho, Wo]`) and the forward input `input` (`[N, C, H, W]`): per group,
/// the convolution of the input (batch and channels swapped) by the gradient (likewise),
/// with stride and dilation swapped, cut to the kernel size. One [`TensorOps::conv2d`]
/// per group.
///
/// # Errors
/// Shapes that do not fit; network failures.
pub(crate) fn weight_grad<T: TensorOps>(
    g_out: &T,
    input: &T,
    kernel_hw: (usize, usize),
    p: &Conv2dParams,
) -> Result<T, T::Error> {
    let g = g_out.dims();
    let x = input.dims();
    let groups = p.groups;
    if g.len() != 4
        || x.len() != 4
        || groups == 0
        || g[0] != x[0]
        || !g[1].is_multiple_of(groups)
        || !x[1].is_multiple_of(groups)
    {
        return Err(invalid_shapes("conv2d_weight_grad", &g, &x).into());
    }
    let (og, cg) = (g[1] / groups, x[1] / groups);
    let swapped = Conv2dParams {
        stride: p.dilation,
        padding: p.padding,
        dilation: p.stride,
        groups: 1,
    };
    let mut parts = Vec::with_capacity(groups);
    for gi in 0..groups {
        let (xg, gg) = if groups == 1 {
            (input.clone(), g_out.clone())
        } else {
            (input.narrow(1, gi * cg, cg)?, g_out.narrow(1, gi * og, og)?)
        };
        // [C/g, N, H, W] conv [O/g, N, Ho, Wo] -> [C/g, O/g, kh', kw'] with kh' >= kh
        let full = xg
            .permute(&[1, 0, 2, 3])?
            .conv2d(&gg.permute(&[1, 0, 2, 3])?, &swapped)?;
        let cut = full.narrow(2, 0, kernel_hw.0)?.narrow(3, 0, kernel_hw.1)?;
        parts.push(cut.permute(&[1, 0, 2, 3])?);
    }
    if parts.len() == 1 {
        return Ok(parts.pop().expect("one group"));
    }
    T::concat(&parts.iter().collect::<Vec<_>>(), 0)
}

fn invalid_shapes(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Error {
    Error::ShapeMismatch {
        op,
        lhs: lhs.to_vec(),
        rhs: rhs.to_vec(),
    }
}

/// Inserts `stride - 1` zeros between consecutive elements along `axis` (linear: a reshape,
/// a pad and a narrow).
fn dilate<T: TensorOps>(x: &T, axis: usize, stride: usize) -> Result<T, T::Error> {
    let s = x.dims();
    if stride == 1 || s[axis] == 0 {
        return Ok(x.clone());
    }
    let len = s[axis];
    let mut split = s.clone();
    split.insert(axis + 1, 1);
    let mut pads = vec![(0, 0); split.len()];
    pads[axis + 1] = (0, stride - 1);
    let mut joined = s.clone();
    joined[axis] = len * stride;
    x.reshape(&split)?
        .pad(&pads)?
        .reshape(&joined)?
        .narrow(axis, 0, (len - 1) * stride + 1)
}

/// Pads `axis` by `before`/`after` zeros, or cuts elements off where they are negative.
fn place<T: TensorOps>(x: &T, axis: usize, before: isize, after: isize) -> Result<T, T::Error> {
    let len = x.dims()[axis] as isize;
    let (cut_front, cut_back) = ((-before).max(0), (-after).max(0));
    let mut y = x.clone();
    if cut_front > 0 || cut_back > 0 {
        let keep = len - cut_front - cut_back;
        if keep < 0 {
            return Err(Error::InvalidArgument {
                op: "conv2d_input_grad",
                reason: "gradient shape does not fit the input size".into(),
            }
            .into());
        }
        y = y.narrow(axis, cut_front as usize, keep as usize)?;
    }
    if before > 0 || after > 0 {
        let mut pads = vec![(0, 0); y.dims().len()];
        pads[axis] = (before.max(0) as usize, after.max(0) as usize);
        y = y.pad(&pads)?;
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tensor::RingTensor;

    /// `<conv(x, w), g> = <x, input_grad(g, w)> = <w, weight_grad(g, x)>` exactly, on integer
    /// tensors (no truncation), over strides, paddings, dilations and groups.
    #[test]
    fn convolution_gradients_are_the_adjoints_of_the_convolution() {
        let ints = |seed: i64, shape: &[usize]| {
            let n: usize = shape.iter().product();
            let v: Vec<i64> = (0..n as i64)
                .map(|i| (i * 7919 + seed * 31) % 13 - 6)
                .collect();
            RingTensor::from_i64(shape, &v).unwrap()
        };
        let dot = |a: &RingTensor, b: &RingTensor| -> i64 {
            assert_eq!(a.shape(), b.shape());
            a.to_i64().iter().zip(b.to_i64()).map(|(a, b)| a * b).sum()
        };
        let cases = [
            ((1, 1), (0, 0), (1, 1), 1, (3, 3)),
            ((2, 2), (1, 1), (1, 1), 1, (3, 3)),
            ((2, 3), (2, 0), (1, 2), 2, (2, 3)),
            ((3, 1), (0, 3), (2, 1), 4, (2, 2)),
            ((2, 2), (0, 0), (1, 1), 1, (1, 1)),
        ];
        for (k, (stride, padding, dilation, groups, (kh, kw))) in cases.into_iter().enumerate() {
            let p = Conv2dParams {
                stride,
                padding,
                dilation,
                groups,
            };
            let (n, c, o, h, w) = (2, 4, 8, 7, 6);
            let x = ints(k as i64, &[n, c, h, w]);
            let wt = ints(k as i64 + 10, &[o, c / groups, kh, kw]);
            let y = x.conv2d(&wt, &p).unwrap();
            let g = ints(k as i64 + 20, y.shape());
            let gx = input_grad(&g, &wt, (h, w), &p).unwrap();
            let gw = weight_grad(&g, &x, (kh, kw), &p).unwrap();
            assert_eq!(dot(&y, &g), dot(&x, &gx), "input gradient, case {k}");
            assert_eq!(dot(&y, &g), dot(&wt, &gw), "weight gradient, case {k}");
        }
    }
}
