//! Every gradient rule against central finite differences on plaintext fixed point.
//!
//! Values use 20 fractional bits and a step of `h = 2^-7`, so a difference quotient carries a
//! rounding error of about `2^-20 / 2h ≈ 6e-5` per output element summed into the loss, plus
//! the `O(h²)` truncation error of the central difference (zero for the linear and quadratic
//! ops here). The loss is `Σ f(x) ∘ w` for a fixed random `w`, so upstream gradients are not
//! all ones. The tolerance, `2e-3`, sits well above those errors and far below any wrong rule
//! (a dropped factor or a missing broadcast reduction is off by O(1)).

use autograd::{Var, no_grad};
use tensor::{RingTensor, TensorOps};

const F: u32 = 20;
const H: f64 = 1.0 / 128.0;
const TOL: f64 = 2e-3;

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

type Func = dyn Fn(&[Var<RingTensor>]) -> tensor::Result<Var<RingTensor>>;

/// Loss `Σ f(xs) ∘ w` as f64, with `w` fixed for the output shape.
fn loss(f: &Func, xs: &[RingTensor], w_seed: u64) -> (Var<RingTensor>, Vec<Var<RingTensor>>) {
    let vars: Vec<Var<RingTensor>> = xs.iter().map(|x| Var::leaf(x.clone())).collect();
    let y = f(&vars).unwrap();
    let w = Var::constant(rnd(w_seed, &y.dims(), 1.0));
    (y.mul(&w).unwrap().sum(&[], false).unwrap(), vars)
}

fn check(name: &str, f: &Func, xs: Vec<RingTensor>) {
    let (l, vars) = loss(f, &xs, 99);
    l.backward().unwrap();
    for (k, v) in vars.iter().enumerate() {
        let analytic = v
            .grad()
            .unwrap_or_else(|| panic!("{name}: input {k} got no gradient"));
        assert_eq!(
            analytic.shape(),
            xs[k].shape(),
            "{name}: gradient shape of input {k}"
        );
        let got = analytic.to_f64();
        for (i, &g) in got.iter().enumerate() {
            let at = |delta: f64| {
                let mut shifted = xs.clone();
                let step = tensor::fixed::encode(delta, F).unwrap();
                shifted[k].as_mut_slice()[i] = shifted[k].as_slice()[i].wrapping_add(step);
                no_grad(|| loss(f, &shifted, 99).0.value().to_f64()[0])
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
fn elementwise_rules_with_broadcasting() {
    check(
        "add",
        &|v| v[0].add(&v[1]),
        vec![rnd(1, &[3, 4], 2.0), rnd(2, &[4], 2.0)],
    );
    check(
        "sub",
        &|v| v[0].sub(&v[1]),
        vec![rnd(3, &[3, 1], 2.0), rnd(4, &[3, 4], 2.0)],
    );
    check(
        "mul",
        &|v| v[0].mul(&v[1]),
        vec![rnd(5, &[2, 3], 2.0), rnd(6, &[2, 1], 2.0)],
    );
    check("neg", &|v| v[0].neg(), vec![rnd(7, &[5], 2.0)]);
    check(
        "mul_scalar",
        &|v| v[0].mul_scalar(-0.75),
        vec![rnd(8, &[5], 2.0)],
    );
}

#[test]
fn matmul_rules_for_matrices_and_batches() {
    check(
        "matmul",
        &|v| v[0].matmul(&v[1]),
        vec![rnd(9, &[3, 4], 1.0), rnd(10, &[4, 2], 1.0)],
    );
    check(
        "batched matmul",
        &|v| v[0].matmul(&v[1]),
        vec![rnd(11, &[2, 3, 4], 1.0), rnd(12, &[4, 2], 1.0)],
    );
    check(
        "batched both",
        &|v| v[0].matmul(&v[1]),
        vec![rnd(13, &[2, 2, 3], 1.0), rnd(14, &[1, 3, 2], 1.0)],
    );
}

#[test]
fn reduction_and_shape_rules() {
    check(
        "sum all",
        &|v| v[0].sum(&[], false),
        vec![rnd(15, &[2, 3], 2.0)],
    );
    check(
        "sum dim",
        &|v| v[0].sum(&[1], false),
        vec![rnd(16, &[2, 3, 2], 2.0)],
    );
    check(
        "sum keepdim",
        &|v| v[0].sum(&[0, 2], true),
        vec![rnd(17, &[2, 3, 2], 2.0)],
    );
    check(
        "mean",
        &|v| v[0].mean(&[1], false),
        vec![rnd(18, &[2, 4], 2.0)],
    );
    check(
        "mean all",
        &|v| v[0].mean(&[], true),
        vec![rnd(19, &[2, 4], 2.0)],
    );
    check(
        "reshape",
        &|v| v[0].reshape(&[3, 2]),
        vec![rnd(20, &[2, 3], 2.0)],
    );
    check(
        "transpose",
        &|v| v[0].transpose(0, 2),
        vec![rnd(21, &[2, 3, 2], 2.0)],
    );
    check(
        "sum_to",
        &|v| v[0].sum_to(&[3]),
        vec![rnd(22, &[2, 3], 2.0)],
    );
    check(
        "broadcast_to",
        &|v| v[0].broadcast_to(&[2, 3]),
        vec![rnd(23, &[3], 2.0)],
    );
}

#[test]
fn gradients_accumulate_over_a_dag() {
    // x is used three times: y = x·x + x·w, so dy/dx = 2x + w
    check(
        "dag",
        &|v| v[0].mul(&v[0])?.add(&v[0].mul(&v[1])?),
        vec![rnd(24, &[4], 2.0), rnd(25, &[4], 2.0)],
    );
    // a two-layer composition
    check(
        "mlp-like",
        &|v| v[0].matmul(&v[1])?.mul(&v[0].matmul(&v[1])?)?.matmul(&v[2]),
        vec![
            rnd(26, &[2, 3], 1.0),
            rnd(27, &[3, 3], 1.0),
            rnd(28, &[3, 1], 1.0),
        ],
    );
}

#[test]
fn constants_detach_and_no_grad_get_no_gradient() {
    let x = Var::leaf(rnd(30, &[3], 1.0));
    let c = Var::constant(rnd(31, &[3], 1.0));
    let d = x.detach();
    let y = x.mul(&c).unwrap().add(&d).unwrap().sum(&[], false).unwrap();
    y.backward().unwrap();
    assert_eq!(
        x.grad().unwrap(),
        c.value().clone().with_frac_bits(F),
        "d/dx (x·c + detach(x)) = c"
    );
    assert!(c.grad().is_none());
    assert!(d.grad().is_none());
    let z = no_grad(|| x.mul(&x).unwrap());
    assert!(!z.requires_grad());
    // a second backward accumulates; zero_grad clears
    y.backward().unwrap();
    assert_eq!(
        x.grad().unwrap().to_f64(),
        c.value().add(c.value()).unwrap().to_f64()
    );
    x.zero_grad();
    assert!(x.grad().is_none());
}

#[test]
fn a_1d_matmul_backward_is_an_explicit_error() {
    let a = Var::leaf(rnd(40, &[3], 1.0));
    let b = Var::leaf(rnd(41, &[3, 2], 1.0));
    let y = a.matmul(&b).unwrap().sum(&[], false).unwrap();
    let err = y.backward().unwrap_err();
    assert!(err.to_string().contains("not differentiable yet"), "{err}");
}

#[test]
fn relu_passes_gradient_only_where_the_input_is_not_negative() {
    // keep every input at least 0.1 away from the kink, beyond the finite-difference step
    let x = rnd(50, &[2, 5], 2.0).map(|v| {
        let v = v as i64;
        (if v < 0 { v - (1 << 17) } else { v + (1 << 17) }) as u64
    });
    check("relu", &|v| Ok(v[0].relu_with_mask()?.0), vec![x.clone()]);
    check(
        "relu in a composition",
        &|v| v[0].matmul(&v[1])?.relu_with_mask()?.0.sum(&[1], false),
        vec![x, rnd(51, &[5, 3], 1.0)],
    );
    let (r, m) = RingTensor::from_f64(&[3], &[-1.0, 0.0, 2.0], F)
        .unwrap()
        .relu_with_mask()
        .unwrap();
    assert_eq!(r.to_f64(), vec![0.0, 0.0, 2.0]);
    assert_eq!(m.to_i64(), vec![0, 1, 1], "the mask takes 1 at 0");
}
