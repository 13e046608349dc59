//! Every gradient rule against central finite differences on plaintext fixed point.
//!
//! Values use 20 fractional bits and a step of `h = 2^-7`, so a difference quotient carries a
//! rounding error of about `2^-20 / 2h ≈ 6e-5` per output element summed into the loss, plus
//! the `O(h²)` truncation error of the central difference (zero for the linear and quadratic
//! ops here). The loss is `Σ f(x) ∘ w` for a fixed random `w`, so upstream gradients are not
//! all ones. The tolerance, `2e-3`, sits well above those errors and far below any wrong rule
//! (a dropped factor or a missing broadcast reduction is off by O(1)).

use autograd::{Var, no_grad};
use tensor::{Conv2dParams, Pool2dParams, RingTensor, TensorExt, TensorOps, UnaryOp, WindowFill};

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
    check("relu", &|v| v[0].relu(), vec![x.clone()]);
    check(
        "relu in a composition",
        &|v| v[0].matmul(&v[1])?.relu()?.sum(&[1], false),
        vec![x, rnd(51, &[5, 3], 1.0)],
    );
    let x = RingTensor::from_f64(&[3], &[-1.0, 0.0, 2.0], F).unwrap();
    let (r, m) = (x.relu().unwrap(), x.unary(UnaryOp::Step).unwrap());
    assert_eq!(r.to_f64(), vec![0.0, 0.0, 2.0]);
    assert_eq!(m.to_i64(), vec![0, 1, 1], "the mask takes 1 at 0");
}

/// `rnd` moved into `[lo, lo + 2·scale]`: inputs for functions defined on positive reals.
fn positive(seed: u64, shape: &[usize], lo: f64) -> RingTensor {
    rnd(seed, shape, 1.0).add_f64(1.0 + lo).unwrap()
}

/// Distinct values at least 0.1 apart (far beyond the finite-difference step), so that no
/// maximum changes place under a perturbation.
fn distinct(seed: u64, shape: &[usize]) -> RingTensor {
    let n: usize = shape.iter().product();
    let mut order: Vec<usize> = (0..n).collect();
    let mut s = seed | 1;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        order.swap(i, (s % (i as u64 + 1)) as usize);
    }
    let v: Vec<f64> = order.iter().map(|&k| k as f64 * 0.1 - 1.0).collect();
    RingTensor::from_f64(shape, &v, F).unwrap()
}

#[test]
fn shape_op_rules() {
    check(
        "add_scalar",
        &|v| v[0].add_scalar(1.25),
        vec![rnd(60, &[4], 2.0)],
    );
    check(
        "permute",
        &|v| v[0].permute(&[2, 0, 1]),
        vec![rnd(61, &[2, 3, 2], 2.0)],
    );
    check(
        "narrow",
        &|v| v[0].narrow(1, 1, 2),
        vec![rnd(62, &[2, 4], 2.0)],
    );
    check(
        "pad",
        &|v| v[0].pad(&[(1, 0), (2, 1)]),
        vec![rnd(63, &[2, 3], 2.0)],
    );
    check("flip", &|v| v[0].flip(&[0, 1]), vec![rnd(64, &[2, 3], 2.0)]);
    check(
        "index_select with repeats",
        &|v| v[0].index_select(1, &[2, 0, 2, 2]),
        vec![rnd(65, &[2, 3, 2], 2.0)],
    );
    check(
        "concat",
        &|v| Var::concat(&[&v[0], &v[1], &v[0]], 1),
        vec![rnd(66, &[2, 1], 2.0), rnd(67, &[2, 3], 2.0)],
    );
}

#[test]
fn window_and_pooling_rules() {
    let p = Pool2dParams {
        kernel: (2, 3),
        stride: (1, 2),
        padding: (1, 1),
    };
    for fill in [WindowFill::Zero, WindowFill::FirstTap] {
        check(
            "unfold2d",
            &move |v| v[0].unfold2d(&p, fill),
            vec![rnd(70, &[1, 2, 3, 4], 2.0)],
        );
        check(
            "fold2d",
            &move |v| v[0].fold2d(&p, (3, 4), fill),
            vec![rnd(71, &[1, 2, 4, 2, 6], 2.0)],
        );
    }
    check(
        "avg_pool2d",
        &move |v| v[0].avg_pool2d(&p),
        vec![rnd(72, &[2, 1, 3, 4], 2.0)],
    );
    check(
        "avg_pool2d 2x2",
        &|v| v[0].avg_pool2d(&Pool2dParams::square(2)),
        vec![rnd(73, &[1, 2, 4, 4], 2.0)],
    );
    // max pooling = unfold with first-tap padding, then a maximum over the taps
    let mp = Pool2dParams {
        kernel: (2, 2),
        stride: (1, 1),
        padding: (1, 0),
    };
    check(
        "max pool",
        &move |v| {
            Ok(v[0]
                .unfold2d(&mp, WindowFill::FirstTap)?
                .max_with_one_hot(4, false)?
                .0)
        },
        vec![distinct(74, &[1, 2, 3, 3])],
    );
}

#[test]
fn convolution_rules() {
    let cases = [
        (Conv2dParams::default(), [1, 2, 4, 4], [3, 2, 2, 2]),
        (
            Conv2dParams {
                stride: (2, 1),
                padding: (1, 2),
                dilation: (1, 2),
                groups: 1,
            },
            [2, 2, 5, 4],
            [2, 2, 3, 2],
        ),
        (
            Conv2dParams {
                stride: (2, 2),
                padding: (1, 0),
                dilation: (2, 1),
                groups: 2,
            },
            [1, 4, 6, 5],
            [4, 2, 2, 3],
        ),
    ];
    for (k, (p, xs, ws)) in cases.into_iter().enumerate() {
        check(
            &format!("conv2d case {k}"),
            &move |v| v[0].conv2d(&v[1], &p),
            vec![rnd(80 + k as u64, &xs, 1.0), rnd(90 + k as u64, &ws, 1.0)],
        );
    }
}

#[test]
fn nonlinear_rules() {
    check("exp", &|v| v[0].exp(), vec![rnd(100, &[2, 3], 2.0)]);
    check("log", &|v| v[0].log(), vec![positive(101, &[5], 1.0)]);
    check(
        "reciprocal",
        &|v| v[0].reciprocal(),
        vec![positive(102, &[5], 1.0)],
    );
    // a divisor of either sign, at least 1 away from zero, broadcast
    let signed = positive(103, &[3], 1.0)
        .mul(&RingTensor::from_i64(&[3], &[1, -1, 1]).unwrap())
        .unwrap();
    check(
        "div",
        &|v| v[0].div(&v[1]),
        vec![rnd(104, &[2, 3], 2.0), signed],
    );
    check("sqrt", &|v| v[0].sqrt(), vec![positive(105, &[5], 1.0)]);
    check(
        "inv_sqrt",
        &|v| v[0].inv_sqrt(),
        vec![positive(106, &[5], 1.0)],
    );
    check("sigmoid", &|v| v[0].sigmoid(), vec![rnd(107, &[6], 3.0)]);
    check("tanh", &|v| v[0].tanh(), vec![rnd(108, &[6], 2.0)]);
    check(
        "softmax dim 1",
        &|v| v[0].softmax(1),
        vec![rnd(109, &[2, 4], 2.0)],
    );
    check(
        "softmax dim 0",
        &|v| v[0].softmax(0),
        vec![rnd(110, &[3, 2], 2.0)],
    );
    check(
        "log_softmax",
        &|v| v[0].log_softmax(1),
        vec![rnd(111, &[2, 4], 2.0)],
    );
    check("gelu", &|v| v[0].gelu(), vec![rnd(112, &[7], 3.0)]);
    // the functions added with the op table: every derivative row is checked
    check("silu", &|v| v[0].silu(), vec![rnd(312, &[7], 4.0)]);
    check("softplus", &|v| v[0].softplus(), vec![rnd(313, &[7], 4.0)]);
    check("erf", &|v| v[0].erf(), vec![rnd(314, &[7], 2.0)]);
    check(
        "gelu_derivative",
        &|v| v[0].unary(UnaryOp::GeluDerivative),
        vec![rnd(315, &[7], 3.0)],
    );
    check(
        "max over a dimension",
        &|v| Ok(v[0].max_with_one_hot(0, true)?.0),
        vec![distinct(113, &[3, 4])],
    );
    check(
        "max, keepdim false",
        &|v| Ok(v[0].max_with_one_hot(1, false)?.0),
        vec![distinct(114, &[3, 4])],
    );
}

#[test]
fn compositions_of_nonlinear_rules() {
    // a softmax classifier head and a normalisation, end to end
    check(
        "cross-entropy-like",
        &|v| {
            let logits = v[0].matmul(&v[1])?;
            logits.log_softmax(1)?.mul(&v[2])?.sum(&[], false)
        },
        vec![
            rnd(120, &[3, 2], 1.0),
            rnd(121, &[2, 4], 1.0),
            rnd(122, &[3, 4], 1.0),
        ],
    );
    check(
        "layer-norm-like",
        &|v| {
            let mu = v[0].mean(&[1], true)?;
            let d = v[0].sub(&mu)?;
            let var = d.mul(&d)?.mean(&[1], true)?;
            d.mul(&var.add_scalar(0.5)?.inv_sqrt()?)
        },
        vec![rnd(123, &[2, 4], 2.0)],
    );
}

#[test]
fn masks_and_constants_carry_no_gradient() {
    let x = Var::leaf(distinct(130, &[2, 3]));
    let (_, mask) = x.max_with_one_hot(1, false).unwrap();
    assert!(!mask.requires_grad());
    let relu_mask = x.unary(UnaryOp::Step).unwrap();
    assert!(!relu_mask.requires_grad());
    assert!(!x.bernoulli_mask(0.5, 1).unwrap().requires_grad());
    assert!(!x.new_tensor(&[1], &[1.0]).unwrap().requires_grad());
    // a product with a mask differentiates through the value only
    let y = x.mul(&mask).unwrap().sum(&[], false).unwrap();
    y.backward().unwrap();
    assert_eq!(
        x.grad().unwrap().to_i64(),
        mask.value()
            .to_i64()
            .iter()
            .map(|&m| m << F)
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_gradient_rule_at_a_domain_edge_is_an_error_not_a_silent_zero() {
    // sqrt's rule needs 1/√x: at x = 0 the plaintext oracle refuses instead of dropping it
    let x = Var::leaf(RingTensor::from_f64(&[2], &[1.0, 0.0], F).unwrap());
    let y = x.sqrt().unwrap().sum(&[], false).unwrap();
    let err = y.backward().unwrap_err().to_string();
    assert!(err.contains("inv_sqrt"), "{err}");
}
