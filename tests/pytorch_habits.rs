//! What a PyTorch user writes first, on private tensors and on variables that record
//! gradients, with **no trait imported** (this file imports types only): numbers on the right
//! of ops and comparisons, negative dimensions, whole-tensor reductions, a shaped `reveal`
//! that converts to `ndarray`, `pow`, `clamp` and `where` on `Var`. The last test imports the
//! traits as well and checks that nothing clashes: the same calls compile and give the same
//! values.
//!
//! Tolerances: sums, products and comparisons are exact up to the 2^-16 grid (the encodings
//! are within 2^-17 of the values, each product within one ULP, so a few units of 1e-5 for
//! the values here: `GRID = 1e-4`); softmax, sqrt, 1/sqrt and reciprocals carry their
//! documented approximation errors (at most about 1e-4 relative on these inputs, docs/
//! accuracy.md), and a gradient chains a few of them: `SMOOTH = 2e-3`.

use umbra::{CrypTensor, FloatTensor, Session, SessionConfig, Var, run_local};

const GRID: f64 = 1e-4;
const SMOOTH: f64 = 2e-3;

const X: [f64; 6] = [-2.0, -0.5, 0.0, 0.75, 3.0, 1.25];

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

fn softmax_rows(x: &[f64], cols: usize) -> Vec<f64> {
    x.chunks(cols)
        .flat_map(|r| {
            let m = r.iter().fold(f64::MIN, |a, &b| a.max(b));
            let s: f64 = r.iter().map(|v| (v - m).exp()).sum();
            r.iter().map(move |v| (v - m).exp() / s).collect::<Vec<_>>()
        })
        .collect()
}

fn private_x(s: &Session) -> umbra::mpc::Result<CrypTensor> {
    s.share_f64(&[2, 3], &X, 0)
}

#[test]
fn private_tensors_take_numbers_negative_dims_and_reduce_everything() {
    for n in [2, 3] {
        let out = run_local(n, SessionConfig::default(), |s| {
            let x = private_x(&s)?;
            Ok(vec![
                x.gt(0.0)?.reveal_f64()?,
                x.le(0)?.reveal_f64()?,
                x.eq(0.75)?.reveal_f64()?,
                x.softmax(-1)?.reveal_f64()?,
                x.sum(&[-1], false)?.reveal_f64()?,
                x.sum_all()?.reveal_f64()?,
                x.mean_all()?.reveal_f64()?,
                x.mul(2.0)?.add(1)?.sub(0.5)?.div(4.0)?.reveal_f64()?,
                x.transpose(-1, -2)?.reveal_f64()?,
                // abs through where: x where x > 0, else -x
                x.gt(0.0)?.where_cond(&x, &x.neg()?)?.reveal_f64()?,
                x.amax(-1, false)?.reveal_f64()?,
            ])
        })
        .unwrap()
        .remove(0);
        let bits = |f: fn(f64) -> bool| X.iter().map(|&v| f64::from(u8::from(f(v)))).collect();
        let want: Vec<Vec<f64>> = vec![
            bits(|v| v > 0.0),
            bits(|v| v <= 0.0),
            bits(|v| v == 0.75),
            softmax_rows(&X, 3),
            vec![-2.5, 5.0],
            vec![2.5],
            vec![2.5 / 6.0],
            X.iter().map(|v| (2.0 * v + 0.5) / 4.0).collect(),
            vec![-2.0, 0.75, -0.5, 3.0, 0.0, 1.25],
            X.iter().map(|v| v.abs()).collect(),
            vec![0.0, 3.0],
        ];
        let shapes: [&[usize]; 11] = [
            &[2, 3],
            &[2, 3],
            &[2, 3],
            &[2, 3],
            &[2],
            &[],
            &[],
            &[2, 3],
            &[3, 2],
            &[2, 3],
            &[2],
        ];
        for (i, ((got, want), shape)) in out.iter().zip(&want).zip(shapes).enumerate() {
            assert_eq!(got.shape(), shape, "n={n}, result {i}: shape");
            let tol = if i == 3 { SMOOTH } else { GRID };
            close(got, want, tol, &format!("n={n}, result {i}"));
        }
        // comparisons are exact
        for i in 0..3 {
            assert_eq!(out[i], want[i], "n={n}, comparison {i}");
        }
    }
}

#[test]
fn reveal_keeps_the_shape_and_converts_to_ndarray() {
    let got = run_local(2, SessionConfig::default(), |s| private_x(&s)?.reveal_f64())
        .unwrap()
        .remove(0);
    assert_eq!(got.shape(), &[2, 3]);
    assert_eq!(got.to_f64(), X.to_vec());
    let a: umbra::ndarray::ArrayD<f64> = got.into();
    assert_eq!(a.shape(), &[2, 3]);
    assert_eq!(a[[1, 1]], 3.0);
    let rows: Vec<f64> = a
        .sum_axis(umbra::ndarray::Axis(1))
        .iter()
        .copied()
        .collect();
    assert_eq!(rows, vec![-2.5, 5.0]);
    // and back
    let t = FloatTensor::from(a.reversed_axes());
    assert_eq!(t.shape(), &[3, 2]);
    assert_eq!(t.to_f64(), vec![-2.0, 0.75, -0.5, 3.0, 0.0, 1.25]);
}

#[test]
fn dims_out_of_range_are_errors_that_name_the_op_and_the_dim() {
    let out = run_local(2, SessionConfig::default(), |s| {
        let x = private_x(&s)?;
        Ok([
            x.softmax(-3).err().map(|e| e.to_string()),
            x.sum(&[0, 2], false).err().map(|e| e.to_string()),
            x.transpose(0, -5).err().map(|e| e.to_string()),
        ])
    })
    .unwrap()
    .remove(0);
    let want = [("softmax", "-3"), ("sum", "2"), ("transpose", "-5")];
    for (got, (op, dim)) in out.iter().zip(want) {
        let e = got.as_ref().expect("an error");
        assert!(
            e.contains(op) && e.contains(dim) && e.contains("rank 2"),
            "{e}"
        );
    }
    let v = Var::leaf(FloatTensor::from_f64(&[2, 3], &X).unwrap());
    let e = v.log_softmax(2).unwrap_err().to_string();
    assert!(e.contains("log_softmax") && e.contains("rank 2"), "{e}");
    let e = v.pow(1.5).unwrap_err().to_string();
    assert!(e.contains("pow") && e.contains("1.5"), "{e}");
    let e = v.clamp(Some(1.0), Some(0.0)).unwrap_err().to_string();
    assert!(e.contains("clamp"), "{e}");
}

/// `f(x) = Σ x³ + x⁻¹ + √x + 1/√x + clamp(x, 0.75, 3) + where(x > 1, 2x, -x)` at positive
/// `x`, and its gradient `3x² - x⁻² + x^-½/2 - x^-3/2/2 + [0.75 < x < 3] + (2 if x > 1
/// else -1)`.
const P: [f64; 5] = [0.5, 0.75, 1.0, 2.0, 4.0];

fn f_and_grad() -> (f64, Vec<f64>) {
    let f = P
        .iter()
        .map(|&x| {
            x.powi(3)
                + 1.0 / x
                + x.sqrt()
                + 1.0 / x.sqrt()
                + x.clamp(0.75, 3.0)
                + if x > 1.0 { 2.0 * x } else { -x }
        })
        .sum();
    let g = P
        .iter()
        .map(|&x| {
            3.0 * x * x - 1.0 / (x * x) + 0.5 / x.sqrt() - 0.5 / x.powf(1.5)
                + if x > 0.75 && x < 3.0 { 1.0 } else { 0.0 }
                + if x > 1.0 { 2.0 } else { -1.0 }
        })
        .collect();
    (f, g)
}

/// The same program on any `Var<T>`; no trait needed.
fn program<T: umbra::TensorOps>(x: &Var<T>) -> Result<(Var<T>, Var<T>), T::Error> {
    let above = x.gt(1.0)?;
    assert!(!above.requires_grad(), "a comparison is a constant");
    let y = x
        .pow(3.0)?
        .add(&x.pow(-1.0)?)?
        .add(&x.pow(0.5)?)?
        .add(&x.pow(-0.5)?)?
        .add(&x.clamp(Some(0.75), Some(3.0))?)?
        .add(&above.where_cond(&x.mul(2.0)?, &x.mul(-1)?)?)?
        .sum_all()?;
    Ok((y, above))
}

#[test]
fn var_pow_clamp_where_and_comparisons_differentiate_as_in_pytorch() {
    let (f, g) = f_and_grad();
    // plaintext f64
    let x = Var::leaf(FloatTensor::from_f64(&[5], &P).unwrap());
    let (y, above) = program(&x).unwrap();
    y.backward().unwrap();
    assert!(
        (y.value()[0] - f).abs() < 1e-9,
        "f64 value {}",
        y.value()[0]
    );
    close(&x.grad().unwrap(), &g, 1e-9, "f64 gradient");
    assert_eq!(above.value().to_f64(), vec![0.0, 0.0, 0.0, 1.0, 1.0]);
    assert_eq!(y.shape(), Vec::<usize>::new());
    // private, 2 and 3 parties
    for n in [2, 3] {
        let out = run_local(n, SessionConfig::default(), |s| {
            let x = Var::leaf(s.share_f64(&[5], &P, 0)?);
            let (y, above) = program(&x)?;
            y.backward()?;
            let grad = x.grad().expect("x needs a gradient");
            Ok([
                y.value().reveal_f64()?,
                grad.reveal_f64()?,
                above.value().reveal_f64()?,
            ])
        })
        .unwrap()
        .remove(0);
        close(&out[0], &[f], SMOOTH, &format!("n={n}: value"));
        close(&out[1], &g, SMOOTH, &format!("n={n}: gradient"));
        assert_eq!(out[2], vec![0.0, 0.0, 0.0, 1.0, 1.0], "n={n}: x > 1");
    }
}

/// The traits in scope as well: inherent methods take precedence, agree with the traits, and
/// nothing is ambiguous.
mod with_the_traits_imported {
    use umbra::{FloatTensor, SessionConfig, Var, run_local};
    #[allow(unused_imports)]
    use umbra::{TensorExt, TensorOps};

    #[test]
    fn the_same_calls_compile_and_agree() {
        let out = run_local(2, SessionConfig::default(), |s| {
            let x = super::private_x(&s)?;
            Ok(vec![
                x.sum(&[-1], false)?.reveal_f64()?,
                x.softmax(-1)?.reveal_f64()?,
                x.gt(0.0)?.reveal_f64()?,
                x.mul(&x)?.reveal_f64()?,
            ])
        })
        .unwrap()
        .remove(0);
        let v = Var::leaf(FloatTensor::from_f64(&[2, 3], &super::X).unwrap());
        let plain = [
            v.sum(&[-1], false).unwrap(),
            v.softmax(-1).unwrap(),
            v.gt(0.0).unwrap(),
            v.mul(&v).unwrap(),
        ];
        for (i, (p, q)) in out.iter().zip(&plain).enumerate() {
            assert_eq!(p.shape(), q.value().shape(), "result {i}");
            super::close(p, q.value(), super::SMOOTH, &format!("result {i}"));
        }
        // the trait's own form still works where a generic caller needs it
        let t = TensorExt::sum(&v, &[1], false).unwrap();
        assert_eq!(t.value().to_f64(), plain[0].value().to_f64());
    }
}
