//! [`FloatTensor`] (exact `f64`) against [`RingTensor`] (16 fractional bits) on the same
//! inputs, through the [`TensorOps`] contract that `nn` is written against.
//!
//! The inputs are multiples of 2^-16, so both tensors start from identical values and the only
//! difference is the fixed-point rounding, which is known exactly:
//! - a product or a convolution is exact in the ring and then rounded to the nearest step
//!   once, as is a nonlinear function computed in `f64`, so `|f64 - ring| ≤ 2^-17`;
//! - an average pool is an exact sum floored once by the window's size, so
//!   `0 ≤ f64 - ring < 2^-16` (up to `f64`'s own rounding, far below).
//!
//! Any wrong index, transposed operand or missed broadcast is off by far more than 2^-16.
//! Randomness is seeded with [`SEED`] (see `common::seeded`).

mod common;

use proptest::prelude::*;
use tensor::{Conv2dParams, FloatTensor, Pool2dParams, RingTensor, TensorExt, TensorOps};

const SEED: u64 = 0x666c_6f61_745f_7672;
const F: u32 = 16;
const STEP: f64 = 1.0 / 65536.0;
/// `f64`'s own rounding over the few hundred terms of these sums.
const SLACK: f64 = 1e-9;

/// The same multiples of 2^-16 in `[-scale, scale]`, as both tensor types.
fn pair(seed: u64, shape: &[usize], scale: f64) -> (FloatTensor, RingTensor) {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let v: Vec<f64> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
        })
        .collect();
    let r = RingTensor::from_f64(shape, &v, F).unwrap();
    (FloatTensor::from_ring(&r), r)
}

/// `0 ≤ exact - ring < 2^-16` elementwise (one floor), shapes equal.
fn floored(exact: &FloatTensor, ring: &RingTensor) -> Result<(), TestCaseError> {
    prop_assert_eq!(exact.shape(), ring.shape());
    for (i, (e, r)) in exact.to_f64().iter().zip(ring.to_f64()).enumerate() {
        let d = e - r;
        prop_assert!(
            (-SLACK..STEP + SLACK).contains(&d),
            "element {}: f64 {} ring {} (difference {:e})",
            i,
            e,
            r,
            d
        );
    }
    Ok(())
}

/// `|exact - ring| ≤ 2^-17` elementwise (one rounding to nearest), shapes equal.
fn rounded(exact: &FloatTensor, ring: &RingTensor) -> Result<(), TestCaseError> {
    prop_assert_eq!(exact.shape(), ring.shape());
    for (i, (e, r)) in exact.to_f64().iter().zip(ring.to_f64()).enumerate() {
        prop_assert!(
            (e - r).abs() <= STEP / 2.0 + SLACK,
            "element {}: f64 {} ring {}",
            i,
            e,
            r
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(common::seeded(48, SEED))]

    #[test]
    fn batched_matmul_agrees_within_one_rounding(
        (b0, b1, m, k, n) in (1usize..3, 1usize..3, 1usize..6, 1usize..9, 1usize..6),
        broadcast_rhs in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let (xf, xr) = pair(seed, &[b0, b1, m, k], 2.0);
        let rhs_shape = if broadcast_rhs { vec![1, b1, k, n] } else { vec![k, n] };
        let (wf, wr) = pair(seed ^ 1, &rhs_shape, 2.0);
        rounded(&xf.matmul(&wf).unwrap(), &TensorOps::matmul(&xr, &wr).unwrap())?;
        // and elementwise products with broadcasting
        let (cf, cr) = pair(seed ^ 2, &[b1, 1, k], 2.0);
        rounded(&xf.mul(&cf).unwrap(), &TensorExt::mul(&xr, &cr).unwrap())?;
    }

    #[test]
    fn conv2d_agrees_within_one_rounding(
        (n, cg, og, groups) in (1usize..3, 1usize..3, 1usize..3, 1usize..3),
        (h, w, kh, kw) in (3usize..7, 3usize..7, 1usize..4, 1usize..4),
        (stride, padding, dilation) in (1usize..3, 0usize..2, 1usize..3),
        seed in any::<u64>(),
    ) {
        let p = Conv2dParams {
            stride: (stride, 1),
            padding: (padding, padding),
            dilation: (1, dilation),
            groups,
        };
        let (xf, xr) = pair(seed, &[n, cg * groups, h, w], 2.0);
        let (wf, wr) = pair(seed ^ 1, &[og * groups, cg, kh, kw], 1.0);
        let ring = TensorOps::conv2d(&xr, &wr, &p);
        let exact = xf.conv2d(&wf, &p);
        match (exact, ring) {
            (Ok(e), Ok(r)) => rounded(&e, &r)?,
            (Err(e), Err(r)) => prop_assert_eq!(e, r, "the same error for a window that does not fit"),
            (e, r) => prop_assert!(false, "f64 {:?} vs ring {:?}", e.map(|_| ()), r.map(|_| ())),
        }
    }

    #[test]
    fn pooling_agrees_within_one_floor(
        (n, c, h, w) in (1usize..3, 1usize..3, 2usize..7, 2usize..7),
        (k, stride, padding) in (1usize..4, 1usize..3, 0usize..2),
        seed in any::<u64>(),
    ) {
        let p = Pool2dParams { kernel: (k, k), stride: (stride, stride), padding: (padding, padding) };
        let (xf, xr) = pair(seed, &[n, c, h, w], 2.0);
        match (xf.avg_pool2d(&p), TensorOps::avg_pool2d(&xr, &p)) {
            (Ok(e), Ok(r)) => floored(&e, &r)?,
            (Err(e), Err(r)) => prop_assert_eq!(e, r),
            (e, r) => prop_assert!(false, "f64 {:?} vs ring {:?}", e.map(|_| ()), r.map(|_| ())),
        }
        // the max over pooling windows is a selection: exact on both
        let wf = xf.unfold2d(&Pool2dParams::square(2), tensor::WindowFill::FirstTap).unwrap();
        let wr = TensorOps::unfold2d(&xr, &Pool2dParams::square(2), tensor::WindowFill::FirstTap).unwrap();
        let (mf, maskf) = wf.max_with_one_hot(4, false).unwrap();
        let (mr, maskr) = TensorOps::max_with_one_hot(&wr, 4, false).unwrap();
        prop_assert_eq!(mf.to_f64(), mr.to_f64());
        prop_assert_eq!(maskf.to_f64(), maskr.to_i64().iter().map(|&v| v as f64).collect::<Vec<_>>());
    }

    #[test]
    fn softmax_and_log_softmax_agree_within_one_rounding(
        (rows, cols) in (1usize..5, 1usize..12),
        dim in 0usize..2,
        seed in any::<u64>(),
    ) {
        let (xf, xr) = pair(seed, &[rows, cols], 4.0);
        rounded(&xf.softmax(dim).unwrap(), &TensorExt::softmax(&xr, dim).unwrap())?;
        rounded(&xf.log_softmax(dim).unwrap(), &TensorExt::log_softmax(&xr, dim).unwrap())?;
        rounded(&xf.sigmoid().unwrap(), &TensorExt::sigmoid(&xr).unwrap())?;
        rounded(&xf.gelu().unwrap(), &TensorExt::gelu(&xr).unwrap())?;
    }
}
