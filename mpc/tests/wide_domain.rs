//! The full-domain `reciprocal`, division, `log`, `sqrt` and `inv_sqrt` on every magnitude the
//! 16-bit format holds, against `f64`, at 2 and 3 parties.
//!
//! Inputs are log-uniform raw integers `v` from 1 to `2^63 - 1` (|x| from 2^-16 to 2^47),
//! both signs where the function takes them, plus the edges (1, each power of two and its
//! neighbours, the largest value). Each function's bound is `rel·|f(x)| + abs`: `abs` a few
//! ULP of the output grid (2^-16), `rel` the mantissa's quantisation (one ULP of `m ≥ 1/2`
//! is `2^-15` relative, times the function's sensitivity `|m f'(m)/f(m)|`: 1 for the
//! reciprocal, 1/2 for the roots) plus the approximation's own error.

mod common;

use mpc::approx::{ApproxConfig, Domain, erf_f64};
use mpc::{CrypTensor, Session, run_local};
use tensor::RingTensor;

const ULP: f64 = 1.0 / 65536.0;

/// The relative rounding of decoding a raw value above 2^53 into an `f64` (the references
/// below see that rounded input).
const F64_DECODE: f64 = 2.3e-16;

/// Raw inputs: log-uniform magnitudes over the whole range, and the edges.
fn magnitudes(seed: u64, n: usize) -> Vec<u64> {
    let mut out: Vec<u64> = common::ints(seed, n, i64::MAX / 2)
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            // the top bit spread over all 63 positions, the bits below it random
            let e = (i * 37 + (r.unsigned_abs() as usize >> 7)) % 63;
            (1u64 << e) | (r.unsigned_abs() & ((1u64 << e) - 1))
        })
        .collect();
    for e in 0..63 {
        out.push(1 << e);
        out.push((1u64 << e) + 1);
        if e > 0 {
            out.push((1u64 << e) - 1);
        }
    }
    out.push(i64::MAX as u64);
    out
}

fn run(
    parties: usize,
    raw: &[u64],
    op: impl Fn(&CrypTensor) -> mpc::Result<CrypTensor> + Sync,
) -> Vec<f64> {
    let plain = RingTensor::from_raw(&[raw.len()], raw.to_vec(), 16).unwrap();
    let out = run_local(parties, common::cfg(0x77 + parties as u64), |s: Session| {
        let x = s.share(&plain, 0)?;
        op(&x)?.reveal_f64()
    })
    .unwrap();
    out[0].to_f64()
}

/// Checks every output against `want` within `rel·|want| + abs`; reports the worst.
fn check(name: &str, xs: &[f64], got: &[f64], want: impl Fn(f64) -> f64, rel: f64, abs: f64) {
    let mut worst = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &g) in xs.iter().zip(got) {
        let w = want(x);
        let err = (g - w).abs();
        let bound = rel * w.abs() + abs;
        assert!(
            err <= bound,
            "{name}({x:e}) = {g:e}, want {w:e} (error {err:e} > bound {bound:e})"
        );
        let ratio = err / bound;
        if ratio > worst.0 {
            worst = (ratio, x, err);
        }
    }
    eprintln!(
        "{name}: {} inputs, worst at x = {:e}: error {:e} ({:.2} of the bound)",
        xs.len(),
        worst.1,
        worst.2,
        worst.0
    );
}

fn decode(raw: &[u64]) -> Vec<f64> {
    raw.iter().map(|&v| v as i64 as f64 * ULP).collect()
}

fn signed(raw: &[u64]) -> Vec<u64> {
    raw.iter()
        .enumerate()
        .map(|(i, &v)| if i % 2 == 1 { v.wrapping_neg() } else { v })
        .collect()
}

#[test]
fn reciprocal_and_division_hold_on_every_magnitude_and_sign() {
    for parties in [2, 3] {
        let raw = signed(&magnitudes(1, 400));
        let xs = decode(&raw);
        let got = run(parties, &raw, |x| x.reciprocal());
        check("reciprocal", &xs, &got, |x| 1.0 / x, 1.2e-4, 2.0 * ULP);
        // division is a product with the reciprocal, whose absolute error (2 ULP) the
        // numerator scales: 3x/x is within 3·1.2e-4 + |3x|·2 ULP + 1 ULP of 3
        let got = run(parties, &raw, |x| x.mul_f64(3.0)?.div(x));
        for (&x, &g) in xs.iter().zip(&got) {
            let bound = 3.0 * 1.2e-4 + 6.0 * x.abs() * ULP + ULP;
            assert!((g - 3.0).abs() <= bound, "3x/x at x = {x:e}: {g}");
        }
    }
}

#[test]
fn log_holds_on_every_positive_magnitude() {
    for parties in [2, 3] {
        let raw = magnitudes(2, 400);
        let xs = decode(&raw);
        let got = run(parties, &raw, |x| x.log());
        check("log", &xs, &got, f64::ln, 0.0, 6.0 * ULP);
    }
}

#[test]
fn the_roots_hold_on_every_positive_magnitude() {
    for parties in [2, 3] {
        let raw = magnitudes(3, 400);
        let xs = decode(&raw);
        let got = run(parties, &raw, |x| x.sqrt());
        check("sqrt", &xs, &got, f64::sqrt, 6e-5, 2.0 * ULP);
        let got = run(parties, &raw, |x| x.inv_sqrt());
        check("inv_sqrt", &xs, &got, |x| 1.0 / x.sqrt(), 6e-5, 2.0 * ULP);
    }
}

#[test]
fn inputs_without_a_finite_value_get_the_documented_ones() {
    let raw: Vec<u64> = [0i64, -1, -65536, -(1 << 40), i64::MIN + 1]
        .iter()
        .map(|&v| v as u64)
        .collect();
    let xs = decode(&raw);
    let log = run(2, &raw, |x| x.log());
    let floor = -17.0 * std::f64::consts::LN_2;
    for (x, l) in xs.iter().zip(&log) {
        assert!(
            (l - floor).abs() <= 2.0 * ULP,
            "log({x}) = {l}, want {floor}"
        );
    }
    for (name, got) in [
        ("sqrt", run(2, &raw, |x| x.sqrt())),
        ("inv_sqrt", run(2, &raw, |x| x.inv_sqrt())),
    ] {
        for (x, g) in xs.iter().zip(&got) {
            assert!(g.abs() <= ULP, "{name}({x}) = {g}, want 0");
        }
    }
    let recip = run(2, &raw[..1], |x| x.reciprocal());
    assert_eq!(recip[0], 0.0, "1/0 is documented as 0");
    // the most negative tiny value: 1/(-2^-16) = -2^16
    let recip = run(2, &raw[1..2], |x| x.reciprocal());
    assert!(
        (recip[0] + 65536.0).abs() <= 65536.0 * 1.2e-4,
        "{}",
        recip[0]
    );
}

#[test]
fn the_narrow_forms_stay_available() {
    let narrow = ApproxConfig {
        domain: Domain::Narrow,
        ..ApproxConfig::default()
    };
    let raw: Vec<u64> = [0.5f64, 2.0, 50.0]
        .iter()
        .map(|v| (v * 65536.0) as u64)
        .collect();
    let xs = decode(&raw);
    let wide = run(2, &raw, |x| x.reciprocal());
    let cheap = run(2, &raw, |x| x.reciprocal_with(&narrow));
    check(
        "reciprocal (narrow)",
        &xs,
        &cheap,
        |x| 1.0 / x,
        2e-3,
        2.0 * ULP,
    );
    check(
        "reciprocal (full)",
        &xs,
        &wide,
        |x| 1.0 / x,
        1.2e-4,
        2.0 * ULP,
    );
    // the narrow form diverges above its domain, as documented; the full one does not
    let big = [(1000.0f64 * 65536.0) as u64];
    let cheap = run(2, &big, |x| x.reciprocal_with(&narrow));
    let wide = run(2, &big, |x| x.reciprocal());
    assert!((wide[0] - 1e-3).abs() < 2.0 * ULP, "{}", wide[0]);
    assert!(
        (cheap[0] - 1e-3).abs() > 1.0,
        "narrow form converged at 1000: {}",
        cheap[0]
    );
}

/// Every magnitude, both signs, for the functions defined on the whole line.
fn both_signs(seed: u64) -> (Vec<u64>, Vec<f64>) {
    let mut raw = signed(&magnitudes(seed, 300));
    raw.extend(raw.iter().map(|v| v.wrapping_neg()).collect::<Vec<_>>());
    let xs = decode(&raw);
    (raw, xs)
}

fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + erf_f64(x / std::f64::consts::SQRT_2))
}

#[test]
fn exp_holds_on_every_input() {
    // Below -16 the value is under 2^-23 and the result is e^-16; above the ceiling of the
    // squarings (2·ln 2·(29.5 - 16) ≈ 18.7 at 16 bits) it saturates there, documented. In
    // between: rel 1e-3 (k = 8 squarings of a 2^-24-accurate seed, each adding about one
    // ULP at its scale) and 2 ULP of the output grid.
    let ceiling = 2.0 * std::f64::consts::LN_2 * 13.5;
    for parties in [2, 3] {
        let (raw, xs) = both_signs(4);
        let got = run(parties, &raw, |x| x.exp());
        check(
            "exp",
            &xs,
            &got,
            |x| x.clamp(-16.0, ceiling).exp(),
            1e-3,
            2.0 * ULP,
        );
    }
}

#[test]
fn the_bounded_activations_hold_on_every_input() {
    for parties in [2, 3] {
        let (raw, xs) = both_signs(5);
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        // bounds: the measured error on [-20, 20] (docs/accuracy.md) with a margin of 2
        let got = run(parties, &raw, |x| x.sigmoid());
        check("sigmoid", &xs, &got, sig, 0.0, 1e-4);
        let got = run(parties, &raw, |x| x.tanh());
        check("tanh", &xs, &got, f64::tanh, 0.0, 2e-4);
        let got = run(parties, &raw, |x| x.erf());
        check("erf", &xs, &got, erf_f64, 0.0, 1e-4);
    }
}

#[test]
fn the_relu_like_activations_hold_on_every_input() {
    // relu(x) is exact; the correction term is bounded (gelu and silu: a spline of it, 0
    // beyond the outer knots; softplus: ln(1 + e^-|x_c|)), so the bound is absolute on the
    // whole range
    for parties in [2, 3] {
        let (raw, xs) = both_signs(6);
        let got = run(parties, &raw, |x| x.gelu());
        check("gelu", &xs, &got, gelu, F64_DECODE, 2e-4);
        let got = run(parties, &raw, |x| x.silu());
        check(
            "silu",
            &xs,
            &got,
            |x| x / (1.0 + (-x).exp()),
            F64_DECODE,
            4e-4,
        );
        let got = run(parties, &raw, |x| x.softplus());
        check(
            "softplus",
            &xs,
            &got,
            |x| x.max(0.0) + (-x.abs()).exp().ln_1p(),
            F64_DECODE,
            1e-4,
        );
        let got = run(parties, &raw, |x| x.gelu_with_grad().map(|g| g.1));
        let grad = |x: f64| {
            let phi = (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
            0.5 * (1.0 + erf_f64(x / std::f64::consts::SQRT_2)) + x * phi
        };
        check("gelu'", &xs, &got, grad, 0.0, 3e-4);
    }
}

#[test]
fn cos_and_sin_reduce_every_input_exactly() {
    // Below 2^46 the reduction modulo 2π is exact to about 2^-30 turns, so the bound is the
    // measured error on [-16, 16] with a margin; in the top binade (|x| ≥ 2^46, where the
    // reduction's first truncation leaves the dealer protocol's range) the value stays in
    // [-1, 1], documented.
    for parties in [2, 3] {
        let (raw, xs) = both_signs(7);
        let exact: Vec<(f64, f64)> = raw.iter().map(|&v| cos_sin_of_raw(v)).collect();
        let cos = run(parties, &raw, |x| x.cos());
        let sin = run(parties, &raw, |x| x.sin());
        for (name, got, pick) in [("cos", cos, 0usize), ("sin", sin, 1)] {
            let mut worst = 0.0f64;
            for ((&x, g), e) in xs.iter().zip(&got).zip(&exact) {
                let want = if pick == 0 { e.0 } else { e.1 };
                if x.abs() < 2f64.powi(46) {
                    let err = (g - want).abs();
                    assert!(err <= 3e-4, "{name}({x:e}) = {g}, want {want} ({err:e})");
                    worst = worst.max(err);
                } else {
                    assert!(g.abs() <= 1.0 + 3e-4, "{name}({x:e}) = {g}");
                }
            }
            eprintln!("{name}: worst error below 2^46: {worst:e}");
        }
    }
}

/// `(cos, sin)` of the raw value `v/2^16` without rounding `v` to an f64: with
/// `v = h·2^32 + l`, `x = h·2^16 + l·2^-16`, both parts exact in f64, and the sum formulas
/// (libm reduces the large integer part exactly).
fn cos_sin_of_raw(v: u64) -> (f64, f64) {
    let v = v as i64;
    let (h, l) = (v >> 32, v & 0xffff_ffff);
    let a = h as f64 * 65536.0;
    let b = l as f64 * ULP;
    (
        a.cos() * b.cos() - a.sin() * b.sin(),
        a.sin() * b.cos() + a.cos() * b.sin(),
    )
}

#[test]
fn integer_powers_hold_wherever_the_product_fits() {
    // A product of two values at 16 fractional bits is held at 32 bits before it is
    // truncated, so |x^n| must stay below 2^31 (the limit of `mul` itself)
    for parties in [2, 3] {
        let (raw, xs) = both_signs(8);
        for n in [2i32, 3] {
            let fits: Vec<usize> = (0..xs.len())
                .filter(|&i| xs[i].abs().powi(n) < 2f64.powi(30))
                .collect();
            let r: Vec<u64> = fits.iter().map(|&i| raw[i]).collect();
            let x: Vec<f64> = fits.iter().map(|&i| xs[i]).collect();
            let got = run(parties, &r, |t| t.pow(n));
            // each product adds one ULP, scaled by the other factor's magnitude
            check(
                &format!("pow({n})"),
                &x,
                &got,
                |v| v.powi(n),
                4.0 * ULP,
                2.0 * ULP,
            );
        }
    }
}
