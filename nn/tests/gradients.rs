//! Every module and loss against central finite differences on plaintext fixed point: the
//! gradients with respect to the input and to every parameter.
//!
//! As in `autograd/tests/gradcheck.rs`: values carry 20 fractional bits and the step is
//! `h = 2^-7`, so a difference quotient carries a rounding error of about
//! `2^-20/(2h) ≈ 6e-5` per output element, plus the central difference's `h²·f'''/6`; the
//! inputs stay away from kinks (ReLU, max, |x|) by more than `h`. The tolerance, `2e-3`, is
//! far above those errors and far below a wrong rule (a 1% change of one rule fails).

use autograd::{Var, no_grad};
use nn::{
    AdaptiveAvgPool2d, AvgPool2d, BCELoss, BCEWithLogitsLoss, BatchNorm, Branches, Conv2d,
    CrossEntropyLoss, Dropout, Embedding, Flatten, GELU, Join, L1Loss, LayerNorm, LeakyReLU,
    Linear, LogSoftmax, MSELoss, MaxPool2d, Module, NLLLoss, ReLU, Residual, Sequential, SiLU,
    Sigmoid, Softmax, Softplus, Tanh, one_hot,
};
use tensor::{Conv2dParams, Pool2dParams, RingTensor, TensorOps};

const F: u32 = 20;
const H: f64 = 1.0 / 128.0;
const TOL: f64 = 2e-3;

type V = Var<RingTensor>;

fn rnd(seed: u64, shape: &[usize], scale: f64) -> RingTensor {
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
    RingTensor::from_f64(shape, &v, F).unwrap()
}

/// Values at least 0.1 apart in a shuffled order: no maximum and no kink moves under `±h`.
fn distinct(seed: u64, shape: &[usize], offset: f64) -> RingTensor {
    let n: usize = shape.iter().product();
    let mut order: Vec<usize> = (0..n).collect();
    let mut s = seed | 1;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        order.swap(i, (s % (i as u64 + 1)) as usize);
    }
    let v: Vec<f64> = order
        .iter()
        .map(|&k| k as f64 * 0.1 - offset + 0.05)
        .collect();
    RingTensor::from_f64(shape, &v, F).unwrap()
}

type Func = dyn Fn(&[V]) -> tensor::Result<V>;

/// `Σ f(xs) ∘ w` for a fixed `w`, and the leaves.
fn loss(f: &Func, xs: &[RingTensor]) -> (V, Vec<V>) {
    let vars: Vec<V> = xs.iter().map(|x| Var::leaf(x.clone())).collect();
    let y = f(&vars).unwrap();
    let w = Var::constant(rnd(99, &y.dims(), 1.0));
    (y.mul(&w).unwrap().sum(&[], false).unwrap(), vars)
}

/// Checks the gradient of every input of `f` (data and parameters alike).
fn check(name: &str, f: &Func, xs: Vec<RingTensor>) {
    let (l, vars) = loss(f, &xs);
    l.backward().unwrap();
    for (k, v) in vars.iter().enumerate() {
        let got = v
            .grad()
            .unwrap_or_else(|| panic!("{name}: input {k} got no gradient"));
        assert_eq!(got.shape(), xs[k].shape(), "{name}: shape of gradient {k}");
        for (i, &g) in got.to_f64().iter().enumerate() {
            let at = |delta: f64| {
                let mut shifted = xs.clone();
                let step = tensor::fixed::encode(delta, F).unwrap();
                shifted[k].as_mut_slice()[i] = shifted[k].as_slice()[i].wrapping_add(step);
                no_grad(|| loss(f, &shifted).0.value().to_f64()[0])
            };
            let numeric = (at(H) - at(-H)) / (2.0 * H);
            assert!(
                (g - numeric).abs() < TOL,
                "{name}: d/dx{k}[{i}] analytic {g} numeric {numeric}"
            );
        }
    }
}

#[test]
fn linear_conv_and_embedding() {
    check(
        "linear",
        &|v| Linear::new(v[1].clone(), Some(v[2].clone())).forward(&v[0]),
        vec![
            rnd(1, &[3, 4], 1.0),
            rnd(2, &[2, 4], 1.0),
            rnd(3, &[2], 1.0),
        ],
    );
    let p = Conv2dParams {
        stride: (2, 1),
        padding: (1, 1),
        dilation: (1, 1),
        groups: 2,
    };
    check(
        "conv2d",
        &move |v| Conv2d::new(v[1].clone(), Some(v[2].clone()), p).forward(&v[0]),
        vec![
            rnd(4, &[2, 2, 4, 3], 1.0),
            rnd(5, &[4, 1, 2, 2], 1.0),
            rnd(6, &[4], 1.0),
        ],
    );
    // the table's gradient; the one-hot input is data
    check(
        "embedding",
        &|v| {
            let idx = one_hot(&v[0], &[2, 0, 2], 3)?;
            Embedding::new(v[0].clone()).forward(&idx)
        },
        vec![rnd(7, &[3, 2], 1.0)],
    );
}

/// A residual block and branches joined by a sum and by a concatenation, by finite
/// differences through every input and weight.
#[test]
fn residual_and_branches() {
    check(
        "residual",
        &|v| {
            Residual::new(Sequential::new(vec![
                Linear::new(v[1].clone(), Some(v[2].clone())).into(),
                Tanh.into(),
            ]))
            .forward(&v[0])
        },
        vec![
            rnd(40, &[3, 4], 1.0),
            rnd(41, &[4, 4], 1.0),
            rnd(42, &[4], 1.0),
        ],
    );
    for join in [Join::Sum, Join::Concat(1)] {
        check(
            "branches",
            &move |v| {
                Branches::new(
                    vec![
                        Box::new(Linear::new(v[1].clone(), None)),
                        Box::new(Sequential::new(vec![
                            Linear::new(v[2].clone(), None).into(),
                            Sigmoid.into(),
                        ])),
                    ],
                    join,
                )
                .forward(&v[0])
            },
            vec![
                rnd(43, &[2, 3], 1.0),
                rnd(44, &[3, 3], 1.0),
                rnd(45, &[3, 3], 1.0),
            ],
        );
    }
}

#[test]
fn activations() {
    // inputs at least 0.05 from the ReLU kink
    let x = distinct(10, &[2, 5], 0.5);
    check("relu", &|v| ReLU.forward(&v[0]), vec![x.clone()]);
    check(
        "leaky relu",
        &|v| {
            LeakyReLU {
                negative_slope: 0.1,
            }
            .forward(&v[0])
        },
        vec![x.clone()],
    );
    check(
        "sigmoid",
        &|v| Sigmoid.forward(&v[0]),
        vec![rnd(11, &[6], 3.0)],
    );
    check("tanh", &|v| Tanh.forward(&v[0]), vec![rnd(12, &[6], 2.0)]);
    check("gelu", &|v| GELU.forward(&v[0]), vec![rnd(13, &[6], 3.0)]);
    check("silu", &|v| SiLU.forward(&v[0]), vec![rnd(14, &[6], 4.0)]);
    check(
        "softplus",
        &|v| Softplus.forward(&v[0]),
        vec![rnd(15, &[6], 4.0)],
    );
    check(
        "softmax",
        &|v| Softmax { dim: 1 }.forward(&v[0]),
        vec![rnd(14, &[2, 3], 2.0)],
    );
    check(
        "log softmax",
        &|v| LogSoftmax { dim: 0 }.forward(&v[0]),
        vec![rnd(15, &[3, 2], 2.0)],
    );
}

#[test]
fn pooling_and_shapes() {
    let padded = Pool2dParams {
        kernel: (3, 2),
        stride: (2, 1),
        padding: (1, 1),
    };
    check(
        "max pool",
        &move |v| MaxPool2d { params: padded }.forward(&v[0]),
        vec![distinct(20, &[1, 2, 4, 3], 1.0)],
    );
    check(
        "avg pool",
        &move |v| AvgPool2d { params: padded }.forward(&v[0]),
        vec![rnd(21, &[2, 1, 4, 3], 2.0)],
    );
    check(
        "adaptive avg pool, divisible",
        &|v| AdaptiveAvgPool2d { output: (2, 1) }.forward(&v[0]),
        vec![rnd(22, &[1, 2, 4, 2], 2.0)],
    );
    check(
        "adaptive avg pool, overlapping windows",
        &|v| AdaptiveAvgPool2d { output: (2, 2) }.forward(&v[0]),
        vec![rnd(23, &[1, 1, 3, 5], 2.0)],
    );
    check(
        "flatten",
        &|v| Flatten::default().forward(&v[0]),
        vec![rnd(24, &[2, 2, 3], 2.0)],
    );
    // a fresh layer per evaluation: the same plaintext mask every time
    check(
        "dropout",
        &|v| Dropout::new(0.3).forward(&v[0]),
        vec![rnd(25, &[4, 5], 2.0)],
    );
}

#[test]
fn normalisation() {
    check(
        "batch norm 2d, training",
        &|v| {
            let c = v[1].value().shape()[0];
            let stats = RingTensor::zeros(&[c], F);
            let ones = stats.add_f64(1.0).unwrap();
            BatchNorm::new_2d(
                Some(v[1].clone()),
                Some(v[2].clone()),
                Var::constant(stats),
                Var::constant(ones),
            )
            .forward(&v[0])
        },
        vec![
            rnd(30, &[3, 2, 2, 2], 2.0),
            rnd(31, &[2], 1.0),
            rnd(32, &[2], 1.0),
        ],
    );
    check(
        "batch norm 1d, evaluation",
        &|v| {
            let mut bn = BatchNorm::new_1d(
                Some(v[1].clone()),
                None,
                Var::constant(rnd(33, &[3], 1.0)),
                Var::constant(rnd(34, &[3], 0.5).add_f64(1.0).unwrap()),
            );
            Module::<V>::eval(&mut bn);
            bn.forward(&v[0])
        },
        vec![rnd(35, &[4, 3], 2.0), rnd(36, &[3], 1.0)],
    );
    check(
        "layer norm",
        &|v| LayerNorm::new(&[2, 3], Some(v[1].clone()), Some(v[2].clone())).forward(&v[0]),
        vec![
            rnd(37, &[2, 2, 3], 2.0),
            rnd(38, &[2, 3], 1.0),
            rnd(39, &[2, 3], 1.0),
        ],
    );
}

#[test]
fn losses() {
    // the losses are scalars: check d loss / d input directly (the random weight is [])
    check(
        "mse",
        &|v| MSELoss::default().forward(&v[0], &v[1]),
        vec![rnd(40, &[3, 2], 2.0), rnd(41, &[3, 2], 2.0)],
    );
    let pred = distinct(42, &[2, 3], 0.3);
    check(
        "l1",
        &|v| {
            let zero = v[0].new_tensor(&[2, 3], &[0.0; 6])?;
            L1Loss::default().forward(&v[0], &zero)
        },
        vec![pred],
    );
    check(
        "cross entropy",
        &|v| CrossEntropyLoss::default().forward_indices(&v[0], &[1, 0, 3]),
        vec![rnd(43, &[3, 4], 2.0)],
    );
    check(
        "nll",
        &|v| NLLLoss::default().forward(&v[0], &one_hot(&v[0], &[2, 2], 3)?),
        vec![rnd(44, &[2, 3], 2.0)],
    );
    let probs = rnd(45, &[5], 0.4).add_f64(0.5).unwrap();
    check(
        "bce",
        &|v| BCELoss::default().forward(&v[0], &v[1]),
        vec![probs, rnd(46, &[5], 0.5).add_f64(0.5).unwrap()],
    );
    check(
        "bce with logits",
        &|v| {
            let y = v[0].new_tensor(&[6], &[0.0, 1.0, 1.0, 0.0, 0.25, 1.0])?;
            BCEWithLogitsLoss::default().forward(&v[0], &y)
        },
        vec![distinct(47, &[6], 0.3)],
    );
}
