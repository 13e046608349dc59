//! Pooling windows as a linear map: [`RingTensor::unfold2d`] gathers the windows of
//! `[N, C, H, W]` into `[N, C, Ho, Wo, kh·kw]`, and [`RingTensor::fold2d`] is its exact adjoint
//! (every window tap is added back to the input position it came from).
//!
//! Both are local on secret shares (a fixed gather or scatter-add of ring elements), so a
//! private max pool is an unfold followed by a maximum over the last dimension, and its
//! gradient is a fold of the upstream gradient times the argmax one-hot mask.
//!
//! Taps that fall into the padding are filled according to [`WindowFill`]:
//! - [`WindowFill::Zero`]: zeros, as a sum or average pool needs (PyTorch's
//!   `count_include_pad=True`);
//! - [`WindowFill::FirstTap`]: a copy of the window's first tap inside the input, as a max
//!   pool needs (a duplicate never changes a maximum, and no sentinel value can collide with
//!   a legal input). The adjoint then routes a gradient that lands on such a copy back to the
//!   tap it copies, which is where PyTorch sends it (ties go to the first maximum).

use crate::error::{Result, invalid};
use crate::ring::{Pool2dParams, RingTensor};
use crate::shape::conv_out_len;

/// How [`RingTensor::unfold2d`] fills window taps that fall into the padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowFill {
    /// Padding taps are zero (sum and average pooling).
    Zero,
    /// Padding taps repeat the window's first tap inside the input (max pooling).
    FirstTap,
}

/// The windows of one plane.
struct Taps {
    /// Number of windows (height, width).
    out: (usize, usize),
    /// The source position (`y·W + x` within a plane) of every tap of every window, in
    /// `(oi, oj, ki, kj)` order, or `None` for a zero tap.
    src: Vec<Option<usize>>,
}

fn taps(
    op: &'static str,
    (h, w): (usize, usize),
    p: &Pool2dParams,
    fill: WindowFill,
) -> Result<Taps> {
    let ho = conv_out_len(op, h, p.kernel.0, p.stride.0, p.padding.0, 1)?;
    let wo = conv_out_len(op, w, p.kernel.1, p.stride.1, p.padding.1, 1)?;
    let k = p.kernel.0 * p.kernel.1;
    let mut out = Vec::with_capacity(ho * wo * k);
    for oi in 0..ho {
        for oj in 0..wo {
            let start = out.len();
            for ki in 0..p.kernel.0 {
                for kj in 0..p.kernel.1 {
                    let y = (oi * p.stride.0 + ki) as isize - p.padding.0 as isize;
                    let x = (oj * p.stride.1 + kj) as isize - p.padding.1 as isize;
                    let inside = y >= 0 && y < h as isize && x >= 0 && x < w as isize;
                    out.push(inside.then(|| y as usize * w + x as usize));
                }
            }
            if fill == WindowFill::FirstTap {
                let first = out[start..].iter().flatten().next().copied();
                let Some(first) = first else {
                    return Err(invalid(
                        op,
                        format!("window ({oi}, {oj}) lies entirely in the padding"),
                    ));
                };
                out[start..].iter_mut().for_each(|t| {
                    t.get_or_insert(first);
                });
            }
        }
    }
    Ok(Taps {
        out: (ho, wo),
        src: out,
    })
}

impl RingTensor {
    /// Gathers the pooling windows of `[N, C, H, W]` into `[N, C, Ho, Wo, kh·kw]` (taps in
    /// row-major window order), filling padding taps as `fill` says. Exact in the ring, and
    /// linear, so it applies to shares unchanged.
    ///
    /// # Errors
    /// A rank other than 4, a window that does not fit, or (for [`WindowFill::FirstTap`]) a
    /// window entirely inside the padding.
    pub fn unfold2d(&self, p: &Pool2dParams, fill: WindowFill) -> Result<Self> {
        let (shape, out) = unfold_slice(self.shape(), self.as_slice(), p, fill)?;
        Self::from_raw(&shape, out, self.frac_bits())
    }

    /// Gathers `k` taps per output position from `[N, C, H, W]` into `[N, C, Ho, Wo, k]`:
    /// `taps[i·Wo + j][slot]` is the input position `(y, x)` of tap `slot` of output `(i, j)`
    /// (`None`: a zero). The general form of [`RingTensor::unfold2d`] for windows that are not
    /// one strided grid (adaptive pooling); exact and linear, so it applies to shares.
    ///
    /// # Errors
    /// A rank other than 4, a table that is not `Ho·Wo` rows of `k` taps, or a tap outside the
    /// input.
    pub fn gather_taps(
        &self,
        taps: &[Vec<Option<(usize, usize)>>],
        out_hw: (usize, usize),
        k: usize,
    ) -> Result<Self> {
        let s = self.shape();
        if s.len() != 4 {
            return Err(invalid(
                "gather_taps",
                format!("needs [N, C, H, W], got {s:?}"),
            ));
        }
        let (planes, h, w) = (s[0] * s[1], s[2], s[3]);
        let (ho, wo) = out_hw;
        if taps.len() != ho * wo || taps.iter().any(|t| t.len() != k) {
            return Err(invalid(
                "gather_taps",
                format!(
                    "a table of {} windows for {ho}x{wo} outputs of {k} taps",
                    taps.len()
                ),
            ));
        }
        if taps
            .iter()
            .flatten()
            .flatten()
            .any(|&(y, x)| y >= h || x >= w)
        {
            return Err(invalid(
                "gather_taps",
                format!("a tap outside the {h}x{w} input"),
            ));
        }
        let src = self.as_slice();
        let mut out = vec![0u64; planes * ho * wo * k];
        for p in 0..planes {
            for (q, row) in taps.iter().enumerate() {
                let base = (p * ho * wo + q) * k;
                for (slot, tap) in row.iter().enumerate() {
                    if let Some((y, x)) = tap {
                        out[base + slot] = src[(p * h + y) * w + x];
                    }
                }
            }
        }
        Self::from_raw(&[s[0], s[1], ho, wo, k], out, self.frac_bits())
    }

    /// The adjoint of [`RingTensor::unfold2d`]: `[N, C, Ho, Wo, kh·kw]` back to
    /// `[N, C, H, W]`, adding every tap into the input position it was gathered from (zero
    /// taps are dropped). Exact in the ring and linear.
    ///
    /// # Errors
    /// A shape that is not the unfold of an `(h, w)` input with these parameters.
    pub fn fold2d(&self, p: &Pool2dParams, hw: (usize, usize), fill: WindowFill) -> Result<Self> {
        let (shape, out) = fold_slice(
            self.shape(),
            self.as_slice(),
            p,
            hw,
            fill,
            u64::wrapping_add,
        )?;
        Self::from_raw(&shape, out, self.frac_bits())
    }
}

/// The gather behind every `unfold2d`: the windows of the row-major `[N, C, H, W]` elements
/// `x` as `[N, C, Ho, Wo, kh·kw]` (shape and elements), zero taps left at `T::default()`.
pub(crate) fn unfold_slice<T: Copy + Default>(
    shape: &[usize],
    x: &[T],
    p: &Pool2dParams,
    fill: WindowFill,
) -> Result<(Vec<usize>, Vec<T>)> {
    let op = "unfold2d";
    let [n, c, h, w] = dims4(op, shape)?;
    let Taps {
        out: (ho, wo),
        src: taps,
    } = taps(op, (h, w), p, fill)?;
    let k = p.kernel.0 * p.kernel.1;
    let mut out = vec![T::default(); n * c * taps.len()];
    for (plane, dst) in out.chunks_mut(taps.len().max(1)).enumerate() {
        let src = &x[plane * h * w..][..h * w];
        for (d, t) in dst.iter_mut().zip(&taps) {
            if let Some(t) = t {
                *d = src[*t];
            }
        }
    }
    Ok((vec![n, c, ho, wo, k], out))
}

/// The scatter behind every `fold2d`: the adjoint of [`unfold_slice`], adding taps with
/// `add` (the ring's wrapping sum, or the float sum).
pub(crate) fn fold_slice<T: Copy + Default>(
    s: &[usize],
    g: &[T],
    p: &Pool2dParams,
    (h, w): (usize, usize),
    fill: WindowFill,
    add: impl Fn(T, T) -> T,
) -> Result<(Vec<usize>, Vec<T>)> {
    let op = "fold2d";
    let Taps {
        out: (ho, wo),
        src: taps,
    } = taps(op, (h, w), p, fill)?;
    let k = p.kernel.0 * p.kernel.1;
    if s.len() != 5 || s[2] != ho || s[3] != wo || s[4] != k {
        return Err(invalid(
            op,
            format!("expected [N, C, {ho}, {wo}, {k}] for a {h}x{w} input and {p:?}, got {s:?}"),
        ));
    }
    let (n, c) = (s[0], s[1]);
    let mut out = vec![T::default(); n * c * h * w];
    for (plane, dst) in out.chunks_mut((h * w).max(1)).enumerate() {
        let src = &g[plane * taps.len()..][..taps.len()];
        for (v, t) in src.iter().zip(&taps) {
            if let Some(t) = t {
                dst[*t] = add(dst[*t], *v);
            }
        }
    }
    Ok((vec![n, c, h, w], out))
}

fn dims4(op: &'static str, s: &[usize]) -> Result<[usize; 4]> {
    match s {
        [n, c, h, w] => Ok([*n, *c, *h, *w]),
        _ => Err(invalid(op, format!("needs [N, C, H, W], got {s:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(shape: &[usize], v: &[i64]) -> RingTensor {
        RingTensor::from_i64(shape, v).unwrap()
    }

    #[test]
    fn gather_taps_follows_its_table_and_refuses_a_bad_one() {
        let x = ints(&[1, 1, 2, 2], &[1, 2, 3, 4]);
        // one output with taps (1, 1), a zero, (0, 0); another with (0, 1) only
        let taps = vec![
            vec![Some((1, 1)), None, Some((0, 0))],
            vec![Some((0, 1)), None, None],
        ];
        let g = x.gather_taps(&taps, (1, 2), 3).unwrap();
        assert_eq!(g.shape(), &[1, 1, 1, 2, 3]);
        assert_eq!(g.to_i64(), vec![4, 0, 1, 2, 0, 0]);
        assert!(x.gather_taps(&taps, (2, 2), 3).is_err());
        assert!(x.gather_taps(&[vec![Some((2, 0))]], (1, 1), 1).is_err());
        assert!(
            ints(&[4], &[1, 2, 3, 4])
                .gather_taps(&taps, (1, 2), 3)
                .is_err()
        );
    }

    #[test]
    fn unfold_gathers_windows_and_sums_match_sum_pool() {
        let x = ints(&[1, 2, 4, 4], &(0..32).collect::<Vec<_>>());
        let p = Pool2dParams {
            kernel: (3, 2),
            stride: (1, 2),
            padding: (1, 1),
        };
        let u = x.unfold2d(&p, WindowFill::Zero).unwrap();
        assert_eq!(u.sum(&[4], false).unwrap(), x.sum_pool2d(&p).unwrap());
        let first = x
            .unfold2d(&Pool2dParams::square(2), WindowFill::Zero)
            .unwrap();
        assert_eq!(first.shape(), &[1, 2, 2, 2, 4]);
        assert_eq!(&first.to_i64()[..4], &[0, 1, 4, 5]);
    }

    #[test]
    fn first_tap_fill_repeats_the_first_real_tap() {
        let x = ints(&[1, 1, 2, 2], &[5, 6, 7, 8]);
        let p = Pool2dParams {
            kernel: (2, 2),
            stride: (2, 2),
            padding: (1, 1),
        };
        // window (0, 0) covers (-1, -1)..(0, 0): only (0, 0) is real
        let u = x.unfold2d(&p, WindowFill::FirstTap).unwrap();
        assert_eq!(&u.to_i64()[..4], &[5, 5, 5, 5]);
        let z = x.unfold2d(&p, WindowFill::Zero).unwrap();
        assert_eq!(&z.to_i64()[..4], &[0, 0, 0, 5]);
    }

    #[test]
    fn fold_is_the_adjoint_of_unfold() {
        // <unfold(x), g> == <x, fold(g)> for both fills
        let x = ints(
            &[2, 1, 5, 4],
            &(0..40).map(|i| (i * 7) % 11 - 5).collect::<Vec<_>>(),
        );
        let p = Pool2dParams {
            kernel: (3, 3),
            stride: (2, 1),
            padding: (1, 1),
        };
        for fill in [WindowFill::Zero, WindowFill::FirstTap] {
            let u = x.unfold2d(&p, fill).unwrap();
            let g: Vec<i64> = (0..u.numel() as i64).map(|i| (i * 13) % 7 - 3).collect();
            let g = ints(u.shape(), &g);
            let f = g.fold2d(&p, (5, 4), fill).unwrap();
            let dot = |a: &RingTensor, b: &RingTensor| -> i64 {
                a.to_i64().iter().zip(b.to_i64()).map(|(a, b)| a * b).sum()
            };
            assert_eq!(dot(&u, &g), dot(&x, &f), "{fill:?}");
        }
        assert!(
            x.unfold2d(&p, WindowFill::Zero)
                .unwrap()
                .fold2d(&p, (4, 4), WindowFill::Zero)
                .is_err()
        );
    }
}
