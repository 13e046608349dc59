//! Optimizer steps against hand-computed references in f64 (PyTorch's update rules), over a
//! grid of SGD settings and for Adam's bias correction.
//!
//! The gradient of `Σ p ∘ c` is `c`, so each step sees a chosen gradient. Every fixed-point
//! product with a hyper-parameter rounds down by at most one ULP (2^-16 ≈ 1.5e-5) and the
//! hyper-parameters themselves are encoded to the nearest ULP (a relative error of at most
//! 2^-17/lr, 7.6e-5 for lr = 0.1); over a few steps of a few products each, the parameters
//! stay within a few 1e-4 of the f64 reference (measured: at most 7.2e-5 over this grid). The
//! tolerance 5e-4 leaves room for that and catches any wrong rule (a missing momentum term or
//! bias correction is off by 1e-2 or more).

use autograd::Var;
use nn::{Adam, Sgd};
use tensor::RingTensor;

const TOL: f64 = 5e-4;

fn t(v: &[f64]) -> RingTensor {
    RingTensor::from_f64(&[v.len()], v, 16).unwrap()
}

/// The gradients of the successive steps (two parameters, of 3 and 2 elements).
fn grads(step: usize) -> [Vec<f64>; 2] {
    let s = step as f64;
    [
        vec![0.5 - 0.2 * s, -1.0 + 0.3 * s, 0.25],
        vec![2.0 * (-1f64).powi(step as i32), 0.1 * s],
    ]
}

fn start() -> [Vec<f64>; 2] {
    [vec![1.0, -0.5, 0.25], vec![0.0, 2.0]]
}

/// Runs `steps` steps of `step_fn` on Var parameters with the gradients of [`grads`].
fn run(steps: usize, mut step_fn: impl FnMut(&mut [&mut Var<RingTensor>])) -> [Vec<f64>; 2] {
    let [a, b] = start();
    let (mut pa, mut pb) = (Var::leaf(t(&a)), Var::leaf(t(&b)));
    for k in 0..steps {
        let [ga, gb] = grads(k);
        let loss = pa
            .mul(&Var::constant(t(&ga)))
            .unwrap()
            .sum(&[], false)
            .unwrap()
            .add(
                &pb.mul(&Var::constant(t(&gb)))
                    .unwrap()
                    .sum(&[], false)
                    .unwrap(),
            )
            .unwrap();
        loss.backward().unwrap();
        step_fn(&mut [&mut pa, &mut pb]);
        assert!(pa.grad().is_none(), "a step starts fresh leaves");
    }
    [pa.value().to_f64(), pb.value().to_f64()]
}

/// PyTorch's SGD in f64.
fn sgd_reference(
    steps: usize,
    lr: f64,
    momentum: f64,
    dampening: f64,
    wd: f64,
    nesterov: bool,
) -> [Vec<f64>; 2] {
    let mut p = start();
    let mut buf: [Option<Vec<f64>>; 2] = [None, None];
    for k in 0..steps {
        let g = grads(k);
        for j in 0..2 {
            let mut d: Vec<f64> = g[j].iter().zip(&p[j]).map(|(g, p)| g + wd * p).collect();
            if momentum != 0.0 {
                let b: Vec<f64> = match &buf[j] {
                    None => d.clone(),
                    Some(b) => b
                        .iter()
                        .zip(&d)
                        .map(|(b, d)| momentum * b + (1.0 - dampening) * d)
                        .collect(),
                };
                d = if nesterov {
                    d.iter().zip(&b).map(|(d, b)| d + momentum * b).collect()
                } else {
                    b.clone()
                };
                buf[j] = Some(b);
            }
            for (p, d) in p[j].iter_mut().zip(&d) {
                *p -= lr * d;
            }
        }
    }
    p
}

fn assert_close(got: &[Vec<f64>; 2], want: &[Vec<f64>; 2], what: &str) {
    for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
        assert!((g - w).abs() < TOL, "{what}: got {got:?}, want {want:?}");
    }
}

#[test]
fn sgd_matches_pytorch_over_momentum_weight_decay_and_nesterov() {
    let steps = 4;
    for momentum in [0.0, 0.9] {
        for wd in [0.0, 0.05] {
            for nesterov in [false, true] {
                for dampening in [0.0, 0.5] {
                    if nesterov && (momentum == 0.0 || dampening != 0.0) {
                        continue;
                    }
                    let mut opt = Sgd::new(0.1)
                        .with_momentum(momentum)
                        .with_weight_decay(wd)
                        .with_nesterov(nesterov)
                        .with_dampening(dampening);
                    let got = run(steps, |ps| opt.step(ps).unwrap());
                    let want = sgd_reference(steps, 0.1, momentum, dampening, wd, nesterov);
                    assert_close(
                        &got,
                        &want,
                        &format!(
                            "momentum {momentum}, wd {wd}, nesterov {nesterov}, dampening {dampening}"
                        ),
                    );
                }
            }
        }
    }
}

#[test]
fn sgd_refuses_nesterov_without_momentum_and_a_changed_parameter_list() {
    let mut p = Var::leaf(t(&[1.0]));
    p.mul(&p).unwrap().backward().unwrap();
    let err = Sgd::new(0.1)
        .with_nesterov(true)
        .step(&mut [&mut p])
        .unwrap_err();
    assert!(err.to_string().contains("Nesterov"), "{err}");
    let mut opt = Sgd::new(0.1).with_momentum(0.5);
    opt.step(&mut [&mut p]).unwrap();
    let mut q = Var::leaf(t(&[1.0]));
    let err = opt.step(&mut [&mut p, &mut q]).unwrap_err();
    assert!(err.to_string().contains("state for 1 parameters"), "{err}");
}

/// Adam with `eps` under the square root, in f64 (PyTorch's bias correction).
fn adam_reference(steps: usize, lr: f64, (b1, b2): (f64, f64), eps: f64, wd: f64) -> [Vec<f64>; 2] {
    let mut p = start();
    let mut m = [vec![0.0; 3], vec![0.0; 2]];
    let mut v = m.clone();
    for k in 0..steps {
        let g = grads(k);
        let t = (k + 1) as i32;
        for j in 0..2 {
            for i in 0..p[j].len() {
                let d = g[j][i] + wd * p[j][i];
                m[j][i] = b1 * m[j][i] + (1.0 - b1) * d;
                v[j][i] = b2 * v[j][i] + (1.0 - b2) * d * d;
                let mh = m[j][i] / (1.0 - b1.powi(t));
                let vh = v[j][i] / (1.0 - b2.powi(t));
                p[j][i] -= lr * mh / (vh + eps).sqrt();
            }
        }
    }
    p
}

#[test]
fn adam_matches_the_reference_with_bias_correction() {
    for (lr, wd) in [(0.1, 0.0), (0.05, 0.1)] {
        for steps in [1, 2, 5] {
            let mut opt = Adam::new(lr);
            opt.weight_decay = wd;
            let got = run(steps, |ps| opt.step(ps).unwrap());
            let want = adam_reference(steps, lr, (0.9, 0.999), 0.01, wd);
            assert_close(&got, &want, &format!("lr {lr}, wd {wd}, {steps} steps"));
            assert_eq!(opt.steps(), steps as u64);
        }
    }
    // without bias correction the first step would be lr·0.1·g/√(0.001·g² + ε), far off
    let first = run(1, |ps| Adam::new(0.1).step(ps).unwrap());
    // step 1: m̂ = g, v̂ = g², so p -= lr·g/√(g² + ε)
    let g = grads(0);
    let p0 = start();
    let want = 1.0 - 0.1 * g[0][0] / (g[0][0] * g[0][0] + 0.01).sqrt();
    assert!(
        (first[0][0] - want).abs() < TOL,
        "{} vs {want}",
        first[0][0]
    );
    assert!((p0[0][0] - want).abs() > 0.05);
}

#[test]
fn adam_refuses_bad_hyper_parameters() {
    let mut p = Var::leaf(t(&[1.0]));
    p.mul(&p).unwrap().backward().unwrap();
    let mut opt = Adam::new(0.1);
    opt.betas = (0.9, 1.0);
    assert!(opt.step(&mut [&mut p]).is_err());
    let mut opt = Adam::new(0.1);
    opt.eps = 0.0;
    assert!(opt.step(&mut [&mut p]).is_err());
}
