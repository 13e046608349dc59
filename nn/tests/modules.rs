//! Modules, losses and the optimizer on plaintext, against hand-computed references (PyTorch's
//! definitions). Plaintext nonlinear functions are exact in f64 and then encoded, so they may
//! differ from the definition by about one ULP (2^-16) per rounding.

use autograd::Var;
use nn::init::Rng;
use nn::{
    Activation, AdaptiveAvgPool2d, AvgPool2d, BatchNorm, Conv2d, CrossEntropyLoss, Dropout,
    Embedding, Flatten, GELU, LayerNorm, LeakyReLU, Linear, LogSoftmax, MSELoss, MaxPool2d, Module,
    ReLU, Reduction, Sequential, Sgd, SiLU, Sigmoid, Softmax, Softplus, Tanh, bce_loss,
    bce_with_logits, cross_entropy, l1_loss, mse_loss, nll_loss, one_hot,
};
use tensor::{Conv2dParams, Pool2dParams, RingTensor, TensorExt, TensorOps, UnaryOp};

fn t(shape: &[usize], v: &[f64]) -> RingTensor {
    RingTensor::from_f64(shape, v, 16).unwrap()
}

#[test]
fn linear_computes_x_wt_plus_b_like_pytorch() {
    let layer = Linear::new(
        t(&[2, 3], &[1.0, 0.0, -1.0, 0.5, 2.0, 0.0]),
        Some(t(&[2], &[0.25, -1.0])),
    );
    let x = t(&[2, 3], &[1.0, 2.0, 3.0, -1.0, 0.0, 1.0]);
    // row 0: [1-3, 0.5+4] + b = [-1.75, 3.5]; row 1: [-1-1, -0.5] + b = [-1.75, -1.5]
    assert_eq!(
        layer.forward(&x).unwrap().to_f64(),
        vec![-1.75, 3.5, -1.75, -1.5]
    );
    let bad = Linear::new(t(&[3], &[0.0; 3]), None);
    assert!(
        bad.forward(&x)
            .unwrap_err()
            .to_string()
            .contains("weight must be [out, in]")
    );
}

#[test]
fn sequential_applies_layers_in_order_and_lists_parameters_in_order() {
    let l1 = Linear::new(t(&[2, 1], &[1.0, -1.0]), Some(t(&[2], &[0.0, 0.0])));
    let l2 = Linear::new(t(&[1, 2], &[1.0, 1.0]), None);
    let model: Sequential<RingTensor> = Sequential::new(vec![l1.into(), ReLU.into(), l2.into()]);
    // x = 3: [3, -3] -> relu [3, 0] -> 3; x = -2: [-2, 2] -> [0, 2] -> 2
    assert_eq!(
        model.forward(&t(&[2, 1], &[3.0, -2.0])).unwrap().to_f64(),
        vec![3.0, 2.0]
    );
    let shapes: Vec<Vec<usize>> = model.parameters().iter().map(|p| p.dims()).collect();
    assert_eq!(shapes, vec![vec![2, 1], vec![2], vec![1, 2]]);
}

#[test]
fn mse_and_an_sgd_step_match_a_hand_computation() {
    // pred = w·x with w = 1, x = [1, 2], y = [3, 3]: loss = ((1-3)² + (2-3)²)/2 = 2.5;
    // dL/dw = mean(2(wx - y)x) = (2·(-2)·1 + 2·(-1)·2)/2 = -4; w ← 1 - 0.125·(-4) = 1.5
    let mut layer = Linear::new(Var::leaf(t(&[1, 1], &[1.0])), None);
    let x = Var::constant(t(&[2, 1], &[1.0, 2.0]));
    let y = Var::constant(t(&[2, 1], &[3.0, 3.0]));
    let loss = mse_loss(&layer.forward(&x).unwrap(), &y).unwrap();
    assert_eq!(loss.value().to_f64(), vec![2.5]);
    loss.backward().unwrap();
    assert_eq!(layer.weight.grad().unwrap().to_f64(), vec![-4.0]);
    Sgd::new(0.125).step(&mut layer.parameters_mut()).unwrap();
    assert_eq!(layer.weight.value().to_f64(), vec![1.5]);
    assert!(layer.weight.grad().is_none(), "a step starts fresh leaves");
    assert!(mse_loss(&x, &Var::constant(t(&[1, 2], &[0.0, 0.0]))).is_err());
}

#[test]
fn a_small_mlp_learns_a_nonlinear_target() {
    // y = |x| on [-1, 1], with a 1-8-1 ReLU network from a fixed start
    let xs: Vec<f64> = (0..16).map(|i| -1.0 + 2.0 * i as f64 / 15.0).collect();
    let ys: Vec<f64> = xs.iter().map(|x| x.abs()).collect();
    let w1: Vec<f64> = (0..8)
        .map(|i| {
            if i % 2 == 0 {
                0.3 + 0.1 * i as f64
            } else {
                -0.3 - 0.1 * i as f64
            }
        })
        .collect();
    let b1: Vec<f64> = (0..8).map(|i| 0.05 * (i as f64 - 3.5)).collect();
    let w2: Vec<f64> = (0..8).map(|i| 0.1 + 0.02 * i as f64).collect();
    let mut model: Sequential<Var<RingTensor>> = Sequential::new(vec![
        Linear::new(Var::leaf(t(&[8, 1], &w1)), Some(Var::leaf(t(&[8], &b1)))).into(),
        ReLU.into(),
        Linear::new(Var::leaf(t(&[1, 8], &w2)), Some(Var::leaf(t(&[1], &[0.0])))).into(),
    ]);
    let (x, y) = (
        Var::constant(t(&[16, 1], &xs)),
        Var::constant(t(&[16, 1], &ys)),
    );
    let mut opt = Sgd::new(0.1);
    let first = mse_loss(&model.forward(&x).unwrap(), &y)
        .unwrap()
        .value()
        .to_f64()[0];
    for _ in 0..200 {
        let loss = mse_loss(&model.forward(&x).unwrap(), &y).unwrap();
        loss.backward().unwrap();
        opt.step(&mut model.parameters_mut()).unwrap();
    }
    let last = mse_loss(&model.forward(&x).unwrap(), &y)
        .unwrap()
        .value()
        .to_f64()[0];
    assert!(last < first / 10.0 && last < 0.01, "loss {first} -> {last}");
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= tol, "{what}: got {got:?}, want {want:?}");
    }
}

/// One ULP at 16 fractional bits: what a plaintext f64 oracle result may differ by.
const ULP: f64 = 1.0 / 65536.0;

/// A product with a public real `c` encodes `c` to the nearest ULP first: a relative error of
/// up to `2^-17/c` (6e-5 for `c = 0.1`), plus the product's own floor.
fn scaled_tol(v: f64, c: f64) -> f64 {
    v.abs() * ULP / 2.0 / c + ULP
}

#[test]
fn activations_match_their_definitions() {
    let xs = [-3.0, -0.5, 0.0, 0.25, 2.0];
    let x = t(&[5], &xs);
    let apply = |f: &dyn Fn(f64) -> f64| xs.iter().map(|&v| f(v)).collect::<Vec<_>>();
    let leaky = LeakyReLU {
        negative_slope: 0.2,
    };
    close(
        &leaky.forward(&x).unwrap().to_f64(),
        &apply(&|v| if v < 0.0 { 0.2 * v } else { v }),
        ULP,
        "leaky relu",
    );
    close(
        &Sigmoid.forward(&x).unwrap().to_f64(),
        &apply(&|v| 1.0 / (1.0 + (-v).exp())),
        ULP,
        "sigmoid",
    );
    close(
        &Tanh.forward(&x).unwrap().to_f64(),
        &apply(&f64::tanh),
        ULP,
        "tanh",
    );
    // GELU(2) = 2·Φ(2) = 1.9544997361
    assert!((GELU.forward(&x).unwrap().to_f64()[4] - 1.954_499_736).abs() < ULP);
    close(
        &SiLU.forward(&x).unwrap().to_f64(),
        &apply(&|v| v / (1.0 + (-v).exp())),
        ULP,
        "silu",
    );
    close(
        &Softplus.forward(&x).unwrap().to_f64(),
        &apply(&|v| (1.0 + v.exp()).ln()),
        ULP,
        "softplus",
    );
    // a layer for any function of the op table: erf(2) = 0.9953222650
    let erf = Activation { op: UnaryOp::Erf }.forward(&x).unwrap();
    assert_eq!(erf, x.erf().unwrap());
    assert!((erf.to_f64()[4] - 0.995_322_265).abs() < ULP);
    let rows = t(&[2, 2], &[1.0, 2.0, 0.0, 0.0]);
    let e = (1f64).exp();
    close(
        &Softmax { dim: 1 }.forward(&rows).unwrap().to_f64(),
        &[1.0 / (1.0 + e), e / (1.0 + e), 0.5, 0.5],
        ULP,
        "softmax",
    );
    close(
        &LogSoftmax { dim: 1 }.forward(&rows).unwrap().to_f64(),
        &[
            -(1.0 + e).ln() + 0.0,
            1.0 - (1.0 + e).ln(),
            -(2f64).ln(),
            -(2f64).ln(),
        ],
        2.0 * ULP,
        "log softmax",
    );
}

#[test]
fn pools_and_flatten_follow_pytorch() {
    let x = t(
        &[1, 1, 3, 3],
        &[1.0, -2.0, 3.0, 4.0, 5.0, -6.0, 7.0, 8.0, 9.0],
    );
    let p = Pool2dParams {
        kernel: (2, 2),
        stride: (2, 2),
        padding: (1, 1),
    };
    // windows: {1}, {-2, 3}, {4, 7}, {5, -6, 8, 9}
    assert_eq!(
        MaxPool2d { params: p }.forward(&x).unwrap().to_f64(),
        vec![1.0, 3.0, 7.0, 9.0]
    );
    assert_eq!(
        AvgPool2d { params: p }.forward(&x).unwrap().to_f64(),
        vec![0.25, 0.25, 2.75, 4.0]
    );
    let bad = MaxPool2d {
        params: Pool2dParams {
            kernel: (2, 2),
            stride: (1, 1),
            padding: (2, 0),
        },
    };
    assert!(
        bad.forward(&x)
            .unwrap_err()
            .to_string()
            .contains("half the kernel")
    );
    // adaptive 3x5 -> 2x2: rows [0,2) and [1,3), columns [0,3) and [2,5)
    let v: Vec<f64> = (0..15).map(f64::from).collect();
    let y = AdaptiveAvgPool2d { output: (2, 2) }
        .forward(&t(&[1, 1, 3, 5], &v))
        .unwrap();
    let mean = |rows: std::ops::Range<usize>, cols: std::ops::Range<usize>| {
        let mut s = 0.0;
        let mut n = 0.0;
        for r in rows {
            for c in cols.clone() {
                s += v[r * 5 + c];
                n += 1.0;
            }
        }
        s / n
    };
    // each weight 1/6 is encoded to the nearest ULP
    close(
        &y.to_f64(),
        &[
            mean(0..2, 0..3),
            mean(0..2, 2..5),
            mean(1..3, 0..3),
            mean(1..3, 2..5),
        ],
        scaled_tol(14.0 * 6.0, 1.0 / 6.0) / 6.0 + ULP,
        "adaptive",
    );
    let g = AdaptiveAvgPool2d { output: (1, 1) }
        .forward(&t(&[1, 1, 3, 5], &v))
        .unwrap();
    assert_eq!(g.to_f64(), vec![7.0], "global average pooling");
    let f = Flatten::default().forward(&x).unwrap();
    assert_eq!(f.shape(), &[1, 9]);
    let f = Flatten {
        start_dim: 0,
        end_dim: Some(1),
    }
    .forward(&x)
    .unwrap();
    assert_eq!(f.shape(), &[1, 3, 3]);
    assert!(
        Flatten {
            start_dim: 3,
            end_dim: Some(1)
        }
        .forward(&x)
        .is_err()
    );
}

#[test]
fn conv2d_and_embedding_compute_their_definitions() {
    let x = t(&[1, 1, 2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let conv = Conv2d::new(
        t(&[2, 1, 1, 2], &[1.0, -1.0, 0.5, 0.5]),
        Some(t(&[2], &[10.0, 0.0])),
        Conv2dParams::default(),
    );
    // channel 0: a - b + 10; channel 1: (a + b)/2
    assert_eq!(
        conv.forward(&x).unwrap().to_f64(),
        vec![9.0, 9.0, 9.0, 9.0, 1.5, 2.5, 4.5, 5.5]
    );
    assert!(conv.forward(&t(&[2, 3], &[0.0; 6])).is_err());
    let table = Embedding::new(t(&[3, 2], &[0.0, 1.0, 10.0, 11.0, 20.0, 21.0]));
    let idx = one_hot(&table.weight, &[2, 0, 2], 3).unwrap();
    assert_eq!(
        table.forward(&idx).unwrap().to_f64(),
        vec![20.0, 21.0, 0.0, 1.0, 20.0, 21.0]
    );
    assert!(
        one_hot(&table.weight, &[3], 3)
            .unwrap_err()
            .to_string()
            .contains("label 3")
    );
    let mut rng = Rng::new(5);
    let l = Linear::init(9, 4, true, &mut rng).unwrap();
    assert!(l.weight.to_f64().iter().all(|v| v.abs() <= 1.0 / 3.0));
    assert_eq!(l.bias.as_ref().unwrap().shape(), &[4]);
}

#[test]
fn dropout_scales_what_it_keeps_and_is_the_identity_in_eval() {
    let x = t(&[2000], &vec![1.5; 2000]);
    let mut d = Dropout::new(0.25);
    let y = Module::<RingTensor>::forward(&d, &x).unwrap().to_f64();
    let two = scaled_tol(2.0, 4.0 / 3.0);
    assert!(
        y.iter().all(|&v| v == 0.0 || (v - 2.0).abs() <= two),
        "kept values are x/(1-p)"
    );
    let kept = y.iter().filter(|&&v| v > 0.0).count();
    assert!(
        (1400..=1600).contains(&kept),
        "{kept} of 2000 kept at p = 0.25"
    );
    let again = Module::<RingTensor>::forward(&d, &x).unwrap().to_f64();
    assert_ne!(y, again, "every call draws a new mask");
    Module::<RingTensor>::eval(&mut d);
    assert_eq!(Module::<RingTensor>::forward(&d, &x).unwrap(), x);
    let mut seq: Sequential<RingTensor> = Sequential::new(vec![Dropout::new(1.0).into()]);
    assert!(seq.forward(&x).unwrap().to_f64().iter().all(|&v| v == 0.0));
    seq.eval();
    assert_eq!(seq.forward(&x).unwrap(), x, "eval reaches the children");
    assert!(Module::<RingTensor>::forward(&Dropout::new(1.5), &x).is_err());
}

#[test]
fn batch_norm_normalises_batches_and_tracks_running_statistics() {
    // two channels of [N=2, C=2, L=2]
    let x = t(&[2, 2, 2], &[1.0, 3.0, 10.0, 10.0, 5.0, 7.0, 12.0, 16.0]);
    let mut bn = BatchNorm::init_1d(2).unwrap();
    bn.eps = 0.0;
    let y = bn.forward(&x).unwrap().to_f64();
    // channel 0: {1, 3, 5, 7}, mean 4, biased var 5; channel 1: {10, 10, 12, 16}, mean 12, var 6
    let want: Vec<f64> = [1.0, 3.0, 10.0, 10.0, 5.0, 7.0, 12.0, 16.0]
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let (m, var) = if (i / 2) % 2 == 0 {
                (4.0, 5.0)
            } else {
                (12.0, 6.0)
            };
            (v - m) / f64::sqrt(var)
        })
        .collect();
    close(&y, &want, 4.0 * ULP, "training output");
    // running: 0.9·0 + 0.1·mean, 0.9·1 + 0.1·unbiased var (4/3 of the biased one)
    close(
        &bn.running_mean().to_f64(),
        &[0.4, 1.2],
        scaled_tol(12.0, 0.1) + ULP,
        "running mean",
    );
    close(
        &bn.running_var().to_f64(),
        &[0.9 + 0.1 * 5.0 * 4.0 / 3.0, 0.9 + 0.8],
        scaled_tol(8.0, 0.1) + 4.0 * ULP,
        "running var",
    );
    Module::<RingTensor>::eval(&mut bn);
    let e = bn.forward(&x).unwrap().to_f64();
    let rv = bn.running_var().to_f64();
    close(
        &e[..2],
        &[(1.0 - 0.4) / rv[0].sqrt(), (3.0 - 0.4) / rv[0].sqrt()],
        4.0 * ULP,
        "eval uses the running statistics",
    );
    let frozen = bn.running_mean();
    bn.forward(&x).unwrap();
    assert_eq!(bn.running_mean(), frozen, "eval does not update");
    let err = bn.forward(&t(&[2, 3], &[0.0; 6])).unwrap_err();
    assert!(err.to_string().contains("2 channels"), "{err}");
    assert!(
        BatchNorm::init_2d(2).unwrap().forward(&x).is_err(),
        "2-D wants rank 4"
    );
}

#[test]
fn layer_norm_normalises_each_sample_over_the_last_dimensions() {
    let x = t(&[2, 4], &[1.0, 2.0, 3.0, 4.0, -2.0, -2.0, 2.0, 2.0]);
    let mut ln = LayerNorm::init(&[4]).unwrap();
    ln.eps = 0.0;
    let y = ln.forward(&x).unwrap().to_f64();
    let s = 1.25f64.sqrt();
    close(
        &y,
        &[-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s, -1.0, -1.0, 1.0, 1.0],
        4.0 * ULP,
        "layer norm",
    );
    assert!(ln.forward(&t(&[4, 2], &[0.0; 8])).is_err());
}

#[test]
fn losses_match_their_definitions() {
    let p = t(&[2, 2], &[0.5, -1.0, 2.0, 0.0]);
    let y = t(&[2, 2], &[1.0, -1.0, 0.0, 0.5]);
    assert_eq!(
        mse_loss(&p, &y).unwrap().to_f64(),
        vec![(0.25 + 4.0 + 0.25) / 4.0]
    );
    let sum = MSELoss {
        reduction: Reduction::Sum,
    };
    assert_eq!(sum.forward(&p, &y).unwrap().to_f64(), vec![4.5]);
    assert_eq!(
        l1_loss(&p, &y).unwrap().to_f64(),
        vec![(0.5 + 2.0 + 0.5) / 4.0]
    );
    // cross entropy = mean(logsumexp(row) - row[label])
    let logits = t(&[2, 3], &[1.0, 2.0, 3.0, 0.0, 0.0, 0.0]);
    let lse0 = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    let want = ((lse0 - 1.0) + 3f64.ln()) / 2.0;
    let ce = CrossEntropyLoss::default()
        .forward_indices(&logits, &[0, 2])
        .unwrap();
    close(&ce.to_f64(), &[want], 2.0 * ULP, "cross entropy");
    let target = one_hot(&logits, &[0, 2], 3).unwrap();
    assert_eq!(cross_entropy(&logits, &target).unwrap(), ce);
    let nll = nll_loss(&logits, &target).unwrap().to_f64();
    assert_eq!(nll, vec![-(1.0 + 0.0) / 2.0]);
    assert!(cross_entropy(&logits, &t(&[2, 2], &[0.0; 4])).is_err());
    assert!(
        CrossEntropyLoss::default()
            .forward_indices(&logits, &[3, 0])
            .is_err()
    );
    // binary cross-entropy, probabilities and logits
    let probs = [0.9, 0.2, 0.5];
    let ys = [1.0, 0.0, 0.25];
    let bce_want: f64 = probs
        .iter()
        .zip(&ys)
        .map(|(p, y): (&f64, &f64)| -(y * p.ln() + (1.0 - y) * (1.0 - p).ln()))
        .sum::<f64>()
        / 3.0;
    close(
        &bce_loss(&t(&[3], &probs), &t(&[3], &ys)).unwrap().to_f64(),
        &[bce_want],
        8.0 * ULP,
        "bce",
    );
    // logits, including ones where a naive log(sigmoid) would overflow
    let xs = [2.0, -1.0, 0.0, 30.0, -30.0];
    let ls = [1.0, 0.0, 0.5, 0.0, 0.0];
    let want: f64 = xs
        .iter()
        .zip(&ls)
        .map(|(x, y): (&f64, &f64)| x.max(0.0) - x * y + (1.0 + (-x.abs()).exp()).ln())
        .sum::<f64>()
        / 5.0;
    close(
        &bce_with_logits(&t(&[5], &xs), &t(&[5], &ls))
            .unwrap()
            .to_f64(),
        &[want],
        8.0 * ULP,
        "bce with logits",
    );
    assert!(bce_loss(&p, &t(&[4], &[0.0; 4])).is_err());
}
