//! Every gradient rule against central finite differences on [`FloatTensor`] (exact `f64`).
//!
//! The same rules as `gradcheck.rs`, with no fixed-point grid: the step is `h = 1e-5`, so a
//! difference quotient carries `f64` rounding of about `1e-16 / h = 1e-11` per term of the
//! loss plus the central difference's `h²·f'''/6 ≈ 1e-10`. The tolerance, `1e-6`, is 500
//! times tighter than the fixed-point check's `2e-3`: a rule off by a relative `1e-5` fails.

use autograd::{Var, no_grad};
use tensor::{Conv2dParams, FloatTensor, Pool2dParams, TensorExt, TensorOps, UnaryOp, WindowFill};

const H: f64 = 1e-5;
const TOL: f64 = 1e-6;

type V = Var<FloatTensor>;
type Func = dyn Fn(&[V]) -> tensor::Result<V>;

fn rnd(seed: u64, shape: &[usize], scale: f64) -> FloatTensor {
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
    FloatTensor::from_f64(shape, &v).unwrap()
}

/// `rnd` moved into `[lo, lo + 2]`: inputs for functions defined on positive reals.
fn positive(seed: u64, shape: &[usize], lo: f64) -> FloatTensor {
    rnd(seed, shape, 1.0).add_scalar(1.0 + lo).unwrap()
}

/// Distinct values 0.1 apart in a shuffled order: no maximum or kink moves under `±h`.
fn distinct(seed: u64, shape: &[usize]) -> FloatTensor {
    let n: usize = shape.iter().product();
    let mut order: Vec<usize> = (0..n).collect();
    let mut s = seed | 1;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        order.swap(i, (s % (i as u64 + 1)) as usize);
    }
    let v: Vec<f64> = order.iter().map(|&k| k as f64 * 0.1 - 1.0 + 0.05).collect();
    FloatTensor::from_f64(shape, &v).unwrap()
}

/// Loss `Σ f(xs) ∘ w` for a fixed random `w`, and the leaves.
fn loss(f: &Func, xs: &[FloatTensor]) -> (V, Vec<V>) {
    let vars: Vec<V> = xs.iter().map(|x| Var::leaf(x.clone())).collect();
    let y = f(&vars).unwrap();
    let w = Var::constant(rnd(99, &y.dims(), 1.0));
    (y.mul(&w).unwrap().sum(&[], false).unwrap(), vars)
}

fn check(name: &str, f: &Func, xs: Vec<FloatTensor>) {
    let (l, vars) = loss(f, &xs);
    l.backward().unwrap();
    for (k, v) in vars.iter().enumerate() {
        let got = v
            .grad()
            .unwrap_or_else(|| panic!("{name}: input {k} got no gradient"));
        assert_eq!(got.shape(), xs[k].shape(), "{name}: gradient shape {k}");
        for (i, &g) in got.to_f64().iter().enumerate() {
            let at = |delta: f64| {
                let mut shifted = xs.clone();
                shifted[k].as_mut_slice()[i] += delta;
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
fn elementwise_and_matmul_rules() {
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
    check(
        "add_scalar",
        &|v| v[0].add_scalar(1.25),
        vec![rnd(9, &[4], 2.0)],
    );
    check(
        "matmul",
        &|v| v[0].matmul(&v[1]),
        vec![rnd(10, &[3, 4], 1.0), rnd(11, &[4, 2], 1.0)],
    );
    check(
        "batched matmul",
        &|v| v[0].matmul(&v[1]),
        vec![rnd(12, &[2, 3, 4], 1.0), rnd(13, &[4, 2], 1.0)],
    );
    check(
        "batched both",
        &|v| v[0].matmul(&v[1]),
        vec![rnd(14, &[2, 2, 3], 1.0), rnd(15, &[1, 3, 2], 1.0)],
    );
    check(
        "mlp-like",
        &|v| v[0].matmul(&v[1])?.mul(&v[0].matmul(&v[1])?)?.matmul(&v[2]),
        vec![
            rnd(16, &[2, 3], 1.0),
            rnd(17, &[3, 3], 1.0),
            rnd(18, &[3, 1], 1.0),
        ],
    );
}

#[test]
fn reduction_and_shape_rules() {
    check(
        "sum all",
        &|v| v[0].sum(&[], false),
        vec![rnd(20, &[2, 3], 2.0)],
    );
    check(
        "sum keepdim",
        &|v| v[0].sum(&[0, 2], true),
        vec![rnd(21, &[2, 3, 2], 2.0)],
    );
    check(
        "mean",
        &|v| v[0].mean(&[1], false),
        vec![rnd(22, &[2, 4], 2.0)],
    );
    check(
        "mean all",
        &|v| v[0].mean(&[], true),
        vec![rnd(23, &[2, 4], 2.0)],
    );
    check(
        "reshape",
        &|v| v[0].reshape(&[3, 2]),
        vec![rnd(24, &[2, 3], 2.0)],
    );
    check(
        "transpose",
        &|v| v[0].transpose(0, 2),
        vec![rnd(25, &[2, 3, 2], 2.0)],
    );
    check(
        "sum_to",
        &|v| v[0].sum_to(&[3]),
        vec![rnd(26, &[2, 3], 2.0)],
    );
    check(
        "broadcast_to",
        &|v| v[0].broadcast_to(&[2, 3]),
        vec![rnd(27, &[3], 2.0)],
    );
    check(
        "permute",
        &|v| v[0].permute(&[2, 0, 1]),
        vec![rnd(28, &[2, 3, 2], 2.0)],
    );
    check(
        "narrow",
        &|v| v[0].narrow(1, 1, 2),
        vec![rnd(29, &[2, 4], 2.0)],
    );
    check(
        "pad",
        &|v| v[0].pad(&[(1, 0), (2, 1)]),
        vec![rnd(30, &[2, 3], 2.0)],
    );
    check("flip", &|v| v[0].flip(&[0, 1]), vec![rnd(31, &[2, 3], 2.0)]);
    check(
        "index_select with repeats",
        &|v| v[0].index_select(1, &[2, 0, 2, 2]),
        vec![rnd(32, &[2, 3, 2], 2.0)],
    );
    check(
        "concat",
        &|v| Var::concat(&[&v[0], &v[1], &v[0]], 1),
        vec![rnd(33, &[2, 1], 2.0), rnd(34, &[2, 3], 2.0)],
    );
}

#[test]
fn window_pooling_and_convolution_rules() {
    let p = Pool2dParams {
        kernel: (2, 3),
        stride: (1, 2),
        padding: (1, 1),
    };
    for fill in [WindowFill::Zero, WindowFill::FirstTap] {
        check(
            "unfold2d",
            &move |v| v[0].unfold2d(&p, fill),
            vec![rnd(40, &[1, 2, 3, 4], 2.0)],
        );
        check(
            "fold2d",
            &move |v| v[0].fold2d(&p, (3, 4), fill),
            vec![rnd(41, &[1, 2, 4, 2, 6], 2.0)],
        );
    }
    check(
        "avg_pool2d",
        &move |v| v[0].avg_pool2d(&p),
        vec![rnd(42, &[2, 1, 3, 4], 2.0)],
    );
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
        vec![distinct(43, &[1, 2, 3, 3])],
    );
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
    for (k, (cp, xs, ws)) in cases.into_iter().enumerate() {
        check(
            &format!("conv2d case {k}"),
            &move |v| v[0].conv2d(&v[1], &cp),
            vec![rnd(50 + k as u64, &xs, 1.0), rnd(60 + k as u64, &ws, 1.0)],
        );
    }
}

#[test]
fn nonlinear_rules() {
    let x = distinct(70, &[2, 5]);
    check("relu", &|v| v[0].relu(), vec![x]);
    check("exp", &|v| v[0].exp(), vec![rnd(71, &[2, 3], 2.0)]);
    check("log", &|v| v[0].log(), vec![positive(72, &[5], 1.0)]);
    check(
        "reciprocal",
        &|v| v[0].reciprocal(),
        vec![positive(73, &[5], 1.0)],
    );
    let signed = positive(74, &[3], 1.0)
        .mul(&FloatTensor::from_f64(&[3], &[1.0, -1.0, 1.0]).unwrap())
        .unwrap();
    check(
        "div",
        &|v| v[0].div(&v[1]),
        vec![rnd(75, &[2, 3], 2.0), signed],
    );
    check("sqrt", &|v| v[0].sqrt(), vec![positive(76, &[5], 1.0)]);
    check(
        "inv_sqrt",
        &|v| v[0].inv_sqrt(),
        vec![positive(77, &[5], 1.0)],
    );
    check("sigmoid", &|v| v[0].sigmoid(), vec![rnd(78, &[6], 3.0)]);
    check("tanh", &|v| v[0].tanh(), vec![rnd(79, &[6], 2.0)]);
    check("softmax", &|v| v[0].softmax(0), vec![rnd(80, &[3, 2], 2.0)]);
    check(
        "log_softmax",
        &|v| v[0].log_softmax(1),
        vec![rnd(81, &[2, 4], 2.0)],
    );
    check("gelu", &|v| v[0].gelu(), vec![rnd(82, &[7], 3.0)]);
    // the functions added with the op table: every derivative row is checked
    check("silu", &|v| v[0].silu(), vec![rnd(282, &[7], 4.0)]);
    check("softplus", &|v| v[0].softplus(), vec![rnd(283, &[7], 4.0)]);
    check("erf", &|v| v[0].erf(), vec![rnd(284, &[7], 2.0)]);
    check(
        "gelu_derivative",
        &|v| v[0].unary(UnaryOp::GeluDerivative),
        vec![rnd(285, &[7], 3.0)],
    );
    check(
        "max, keepdim",
        &|v| Ok(v[0].max_with_one_hot(0, true)?.0),
        vec![distinct(83, &[3, 4])],
    );
    check(
        "layer-norm-like",
        &|v| {
            let mu = v[0].mean(&[1], true)?;
            let d = v[0].sub(&mu)?;
            let var = d.mul(&d)?.mean(&[1], true)?;
            d.mul(&var.add_scalar(0.5)?.inv_sqrt()?)
        },
        vec![rnd(84, &[2, 4], 2.0)],
    );
}

#[test]
fn a_gradient_rule_at_a_domain_edge_is_an_error_not_a_silent_zero() {
    let x = Var::leaf(FloatTensor::from_f64(&[2], &[1.0, 0.0]).unwrap());
    let y = x.sqrt().unwrap().sum(&[], false).unwrap();
    let err = y.backward().unwrap_err().to_string();
    assert!(err.contains("inv_sqrt"), "{err}");
}
