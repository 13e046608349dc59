//! The same gradient code on plaintext and on secret shares: `Var<CrypTensor>` must agree with
//! `Var<RingTensor>` up to fixed-point rounding (each private product may differ from the
//! plaintext one by one ULP, 2^-16; a handful of chained products stays far below 1e-3).

use umbra::autograd::Var;
use umbra::{CrypTensor, RingTensor, SessionConfig, TensorExt, TensorOps, run_local};

/// A reproducible session configuration.
fn seeded(seed: u64) -> SessionConfig {
    SessionConfig {
        insecure_test_seed: Some(seed),
        ..SessionConfig::default()
    }
}

fn data(seed: u64, shape: &[usize]) -> RingTensor {
    let n: usize = shape.iter().product();
    let mut s = seed | 1;
    let v: Vec<f64> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * 1.5
        })
        .collect();
    RingTensor::from_f64(shape, &v, 16).unwrap()
}

/// loss = mean(relu(x·W + b)², over all) with x data, W and b parameters.
fn loss<T: TensorOps>(x: &Var<T>, w: &Var<T>, b: &Var<T>) -> Result<Var<T>, T::Error> {
    let h = x.matmul(w)?.add(b)?.relu()?;
    h.mul(&h)?.mean(&[], false)
}

#[test]
fn private_gradients_match_plaintext_gradients() {
    let (x, w, b) = (data(1, &[4, 3]), data(2, &[3, 2]), data(3, &[2]));
    let plain = {
        let (xv, wv, bv) = (
            Var::constant(x.clone()),
            Var::leaf(w.clone()),
            Var::leaf(b.clone()),
        );
        loss(&xv, &wv, &bv).unwrap().backward().unwrap();
        (wv.grad().unwrap().to_f64(), bv.grad().unwrap().to_f64())
    };
    for n in [2, 3] {
        let out = run_local(n, seeded(7), |s| {
            let xv = Var::constant(s.share(&x, 0)?);
            let wv = Var::leaf(s.share(&w, 1 % n)?);
            let bv = Var::leaf(s.share(&b, 2 % n)?);
            loss(&xv, &wv, &bv)?.backward()?;
            let reveal = |v: &Var<CrypTensor>| v.grad().expect("a gradient").reveal_f64();
            Ok((reveal(&wv)?, reveal(&bv)?))
        })
        .unwrap();
        for (gw, gb) in out {
            for (p, q) in gw.iter().zip(&plain.0).chain(gb.iter().zip(&plain.1)) {
                assert!((p - q).abs() < 1e-3, "n={n}: private {p} vs plaintext {q}");
            }
        }
    }
}

/// Backward computes no gradient that nothing wants: with the data `x` a constant, the only
/// private product of `y = x·W`'s backward is `xᵀ·g` for `W` (one Beaver matmul), not also
/// `g·Wᵀ` for `x`. Every party skips the same products, because whether a value wants a
/// gradient depends only on the program.
#[test]
fn backward_skips_the_gradients_of_constants() {
    let (x, w) = (data(4, &[5, 3]), data(5, &[3, 2]));
    let out = umbra::mpc::run_parties(2, |s| {
        let xv = Var::constant(s.share(&x, 0)?);
        let wv = Var::leaf(s.share(&w, 1)?);
        let y = xv.matmul(&wv)?;
        let loss = y.mul(&y)?.sum(&[], false)?; // d loss/dy = 2y, private
        let before = s.stats();
        loss.backward()?;
        Ok((s.stats() - before).bytes_sent)
    })
    .unwrap();
    // one Beaver matmul of xᵀ [3, 5] by g [5, 2] opens both masked operands: 8·(15 + 10)
    // bytes to the one peer. The exact truncations open 8 bytes per element: the two
    // products of y [5, 2] by the public upstream gradient (the two halves of d(y·y)), and the
    // matmul's [3, 2] result. A gradient for x would add a second matmul.
    assert_eq!(out[0], 8 * (15 + 10) + 8 * (10 + 10 + 6));
}

/// Cross-entropy's gradient `softmax(x) - y` comes from `exp` of the log-softmax output, so
/// it must hold where that output is very negative (logits far apart): PyTorch's
/// `log_softmax` backward, on shares, on the whole range.
#[test]
fn log_softmax_gradients_hold_for_logits_far_apart() {
    let logits = [
        0.0, 3.0, -1.0, 2000.0, -30000.0, 1.5, 40.0, 39.0, -700.0, 0.25,
    ];
    let x = RingTensor::from_f64(&[2, 5], &logits, 16).unwrap();
    let onehot = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0];
    let y = RingTensor::from_f64(&[2, 5], &onehot, 16).unwrap();
    let want: Vec<f64> = umbra::mpc::approx::softmax_f64(&logits, 5)
        .iter()
        .zip(&onehot)
        .map(|(p, t)| p - t)
        .collect();
    for n in [2, 3] {
        let out = run_local(n, seeded(8), |s| {
            let xv = Var::leaf(s.share(&x, 0)?);
            let yv = Var::constant(s.share(&y, 1)?);
            let loss = xv.log_softmax(1)?.mul(&yv)?.neg()?.sum(&[], false)?;
            loss.backward()?;
            xv.grad().expect("a gradient").reveal_f64()
        })
        .unwrap();
        // the softmax of the forward's log carries log's error (about 5e-5) into exp
        for (g, w) in out[0].iter().zip(&want) {
            assert!((g - w).abs() < 5e-4, "n={n}: gradient {g}, want {w}");
        }
    }
}
