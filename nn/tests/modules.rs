//! Modules, the loss and the optimizer on plaintext, against hand-computed references.

use autograd::Var;
use nn::{Linear, Module, ReLU, Sequential, Sgd, mse_loss};
use tensor::{RingTensor, TensorOps};

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
    let model: Sequential<RingTensor> =
        Sequential::new(vec![Box::new(l1), Box::new(ReLU), Box::new(l2)]);
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
        Box::new(Linear::new(
            Var::leaf(t(&[8, 1], &w1)),
            Some(Var::leaf(t(&[8], &b1))),
        )),
        Box::new(ReLU),
        Box::new(Linear::new(
            Var::leaf(t(&[1, 8], &w2)),
            Some(Var::leaf(t(&[1], &[0.0]))),
        )),
    ]);
    let (x, y) = (
        Var::constant(t(&[16, 1], &xs)),
        Var::constant(t(&[16, 1], &ys)),
    );
    let opt = Sgd::new(0.1);
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
