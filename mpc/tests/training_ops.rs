//! The private side of the ops that autograd and nn need beyond the protocol library: the
//! one-hot maximum mask, GELU's derivative, dropout masks, and the window maps, against
//! plaintext (2 and 3 parties).

mod common;

use common::*;
use mpc::{CrypTensor, run_local};
use tensor::{Pool2dParams, RingTensor, TensorOps, UnaryOp, WindowFill};

#[test]
fn max_with_mask_marks_the_first_maximum_like_plaintext() {
    // rows with ties (first wins), negatives, an odd length
    let x = RingTensor::from_f64(
        &[3, 5],
        &[
            1.0, 3.0, 3.0, -2.0, 0.5, //
            -1.0, -4.0, -0.5, -0.5, -3.0, //
            2.0, 1.0, 0.0, 7.25, 7.0,
        ],
        16,
    )
    .unwrap();
    let (pv, pm) = x.max_with_one_hot(1, false).unwrap();
    let (pv0, pm0) = x.max_with_one_hot(0, true).unwrap();
    for n in [2, 3] {
        let out = run_local(n, cfg(5), |s| {
            let sx = share(&s, 0, &x);
            let (v, m) = sx.max_with_one_hot(1, false)?;
            let (v0, m0) = sx.max_with_one_hot(0, true)?;
            Ok((v.reveal()?, m.reveal()?, v0.reveal()?, m0.reveal()?))
        })
        .unwrap();
        let (v, m, v0, m0) = out.into_iter().next().unwrap();
        assert_eq!((v, m), (pv.clone(), pm.clone()), "n={n}, dim 1");
        assert_eq!((v0, m0), (pv0.clone(), pm0.clone()), "n={n}, dim 0");
    }
    assert_eq!(pm.to_i64()[..5], [0, 1, 0, 0, 0]);
}

#[test]
fn gelu_and_its_derivative_follow_the_exact_functions() {
    let xs = mpc::approx::linspace(-8.0, 8.0, 201);
    let x = RingTensor::from_f64(&[xs.len()], &xs, 16).unwrap();
    let (want_y, want_d) = (
        x.unary(UnaryOp::Gelu).unwrap(),
        x.unary(UnaryOp::GeluDerivative).unwrap(),
    );
    for n in [2, 3] {
        let out = run_local(n, cfg(6), |s| {
            let (y, d) = share(&s, 0, &x).gelu_with_grad()?;
            Ok((y.reveal_f64()?, d.reveal_f64()?))
        })
        .unwrap();
        let (y, d) = &out[0];
        let err = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max)
        };
        // gelu: 9.2e-5 measured (docs/accuracy.md); the derivative adds exp's error
        assert!(err(y, &want_y.to_f64()) < 2e-4, "n={n}: gelu");
        assert!(
            err(d, &want_d.to_f64()) < 3e-4,
            "n={n}: derivative {}",
            err(d, &want_d.to_f64())
        );
    }
}

#[test]
fn dropout_masks_are_private_bits_with_the_right_rate() {
    for n in [2, 3] {
        let out = run_local(n, cfg(7), |s| {
            let x = share(&s, 0, &RingTensor::zeros(&[4000], 16));
            let m = x.bernoulli_mask(0.75, 0)?;
            let all = x.bernoulli_mask(1.0, 0)?;
            let none = x.bernoulli_mask(0.0, 0)?;
            let again = x.bernoulli_mask(0.75, 0)?;
            Ok((
                m.is_private(),
                m.reveal()?,
                all.reveal()?,
                none.reveal()?,
                again.reveal()?,
            ))
        })
        .unwrap();
        let (private, m, all, none, again) = out.into_iter().next().unwrap();
        assert!(private);
        assert_eq!(m.frac_bits(), 0);
        let ones = m.to_i64().iter().filter(|&&b| b == 1).count();
        assert!(m.to_i64().iter().all(|&b| b == 0 || b == 1));
        // 4000 draws at p = 0.75: sd = 27, so 3000 ± 150 is over 5 sd
        assert!((2850..=3150).contains(&ones), "n={n}: {ones} kept of 4000");
        assert!(all.to_i64().iter().all(|&b| b == 1));
        assert!(none.to_i64().iter().all(|&b| b == 0));
        assert_ne!(m, again, "every mask is fresh");
    }
    let err = run_local(2, cfg(8), |s| {
        CrypTensor::bernoulli(&s, &[2], 1.5).map(|_| ())
    })
    .unwrap_err();
    assert!(err.to_string().contains("not in [0, 1]"), "{err}");
}

#[test]
fn window_maps_and_pools_on_shares_match_plaintext() {
    let x = fixed(9, &[2, 2, 5, 4], 1 << 17);
    let p = Pool2dParams {
        kernel: (3, 2),
        stride: (2, 1),
        padding: (1, 1),
    };
    for n in [2, 3] {
        let out = run_local(n, cfg(10), |s| {
            let sx = share(&s, 1, &x);
            let u = TensorOps::unfold2d(&sx, &p, WindowFill::FirstTap)?;
            let f = u.fold2d(&p, (5, 4), WindowFill::FirstTap)?;
            Ok((u.reveal()?, f.reveal()?))
        })
        .unwrap();
        let u = x.unfold2d(&p, WindowFill::FirstTap).unwrap();
        assert_eq!(out[0].0, u, "n={n}");
        assert_eq!(
            out[0].1,
            u.fold2d(&p, (5, 4), WindowFill::FirstTap).unwrap(),
            "n={n}"
        );
    }
}
