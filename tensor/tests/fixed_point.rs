//! The fixed-point codec (`tensor::fixed`) and the fixed-point arithmetic of [`RingTensor`]:
//! exact round trips, rounding to nearest, the edges of the representable range, and the
//! error of a truncated product, each checked against exact integer (`i128`) arithmetic.
//!
//! Randomness is seeded with [`SEED`] so that a failure reproduces; set `PROPTEST_RNG_SEED`
//! to explore other seeds.

mod common;

use proptest::prelude::*;
use tensor::fixed::{decode, encode};
use tensor::{FixedPoint, RingTensor};

/// The fixed seed of every property in this file (unless `PROPTEST_RNG_SEED` overrides it).
const SEED: u64 = 0x756d_6272_615f_6670;

/// The fractional-bit counts the codec properties run at.
const FRAC_BITS: [u32; 5] = [0, 8, 16, 20, 32];

fn config(cases: u32) -> ProptestConfig {
    common::seeded(cases, SEED)
}

/// `2^e` as `f64`, computed without `powi` (which is not guaranteed exact).
fn pow2(e: i32) -> f64 {
    f64::from_bits(((1023 + e) as u64) << 52)
}

fn frac_bits() -> impl Strategy<Value = u32> {
    prop::sample::select(FRAC_BITS.to_vec())
}

/// Integers `k` with `|k| < 2^53`, the ends of that range and small values over-represented.
fn k_below_2_53() -> impl Strategy<Value = i64> {
    const MAX: i64 = (1 << 53) - 1;
    prop_oneof![
        4 => -MAX..=MAX,
        2 => -1000i64..=1000,
        1 => prop::sample::select(vec![0, 1, -1, MAX, -MAX, MAX - 1, -MAX + 1, 1 << 52, -(1 << 52)]),
        1 => (0u32..53, any::<bool>()).prop_map(|(e, neg)| if neg { -(1i64 << e) } else { 1 << e }),
    ]
}

// ------------------------------------------------------------------------------- round trip

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn encode_then_decode_is_exact_on_every_multiple_of_the_resolution(
        k in k_below_2_53(),
        f in frac_bits(),
    ) {
        // |k| < 2^53, so k and k / 2^f are exact doubles
        let x = k as f64 / pow2(f as i32);
        let v = encode(x, f).unwrap();
        prop_assert_eq!(v, k as u64, "encode({}, {})", x, f);
        prop_assert_eq!(decode(v, f), x);
        let codec = FixedPoint::new(f).unwrap();
        prop_assert_eq!(codec.encode(x).unwrap(), v);
        prop_assert_eq!(codec.decode(v), x);
    }

    #[test]
    fn decode_of_encode_is_within_half_a_resolution_step(
        f in frac_bits(),
        u in -1.0f64..1.0,
        e in 0i32..=96,
    ) {
        // x = u * 2^(e - f - 33): magnitudes from far below the resolution 2^-f up to the
        // edge of the range 2^(63-f), both signs
        let x = u * pow2(e - f as i32 - 33);
        prop_assume!(x.abs() < pow2(63 - f as i32));
        let y = decode(encode(x, f).unwrap(), f);
        // y and x are within a factor of two of each other or y is 0, so the difference is exact
        prop_assert!((y - x).abs() <= pow2(-(f as i32) - 1), "x = {x:e}, f = {f}, got {y:e}");
        // and the encoding is the nearest integer to x * 2^f (compare in exact arithmetic)
        let scaled = x * pow2(f as i32);
        let k = encode(x, f).unwrap() as i64;
        prop_assert!((k as f64 - scaled).abs() <= 0.5, "x = {x:e}, f = {f}, k = {k}");
    }

    #[test]
    fn encode_rounds_to_the_nearest_integer_on_both_sides_of_zero(
        k in -(1i64 << 49)..(1i64 << 49),
        f in frac_bits(),
    ) {
        // k + 0.25, k + 0.5 and k + 0.75 are exact doubles for |k| < 2^50
        let at = |frac: f64| encode((k as f64 + frac) / pow2(f as i32), f).unwrap() as i64;
        prop_assert_eq!(at(0.25), k);
        prop_assert_eq!(at(0.75), k + 1);
        prop_assert_eq!(at(-0.25), k);
        prop_assert_eq!(at(-0.75), k - 1);
        // ties go away from zero, as documented (f64::round)
        let tie = if k >= 0 { k + 1 } else { k };
        prop_assert_eq!(at(0.5), tie);
    }

    #[test]
    fn decode_is_correctly_rounded_for_every_ring_value(v in any::<u64>(), f in 0u32..=62) {
        let k = v as i64;
        let y = decode(v, f);
        // scaling back by 2^f is exact (no overflow or underflow at these exponents)
        let r = y * pow2(f as i32);
        prop_assert_eq!(r.fract(), 0.0);
        // r is within half a unit in the last place of k's binade of k
        let err = (r as i128 - i128::from(k)).unsigned_abs();
        let mag = i128::from(k).unsigned_abs();
        let half_ulp = if mag < 1 << 53 { 0 } else { 1u128 << (127 - mag.leading_zeros() - 53) };
        prop_assert!(err <= half_ulp, "k = {k}, f = {f}: decoded {y:e}, error {err}");
    }
}

// ----------------------------------------------------------------------------------- edges

#[test]
fn i64_min_decodes_to_minus_two_to_the_63_minus_f_exactly() {
    for f in 0..=62 {
        assert_eq!(decode(i64::MIN as u64, f), -pow2(63 - f as i32), "f = {f}");
        assert_eq!(encode(-pow2(63 - f as i32), f).unwrap(), i64::MIN as u64);
    }
}

#[test]
fn values_near_two_to_the_53_decode_exactly() {
    for f in FRAC_BITS {
        let s = pow2(f as i32);
        for k in [
            (1i64 << 53) - 1,
            1 << 53,
            -(1i64 << 53),
            -(1i64 << 53) + 1,
            (1 << 52) + 1,
            -(1i64 << 52) - 1,
        ] {
            let want = k as f64 / s;
            assert_eq!(decode(k as u64, f), want, "k = {k}, f = {f}");
            // an exact decode scales back to k exactly
            assert_eq!((decode(k as u64, f) * s) as i64, k, "k = {k}, f = {f}");
        }
        // beyond 2^53 the nearest double is returned: 2^53 + 1 is a tie, to even
        assert_eq!(decode((1u64 << 53) + 1, f) * s, pow2(53));
        assert_eq!(decode((1u64 << 53) + 3, f) * s, pow2(53) + 4.0);
        // i64::MAX rounds up to 2^63 (which no ring value reaches)
        assert_eq!(decode(i64::MAX as u64, f), pow2(63 - f as i32));
    }
}

#[test]
fn encoding_at_or_beyond_the_range_is_an_error() {
    for f in (0..=62).chain(FRAC_BITS) {
        let top = pow2(63 - f as i32);
        // the largest double below 2^(63-f) fits, and lands 2^10 below the top of the ring
        let below = f64::from_bits(top.to_bits() - 1);
        assert_eq!(
            encode(below, f).unwrap(),
            (i64::MAX - 1023) as u64,
            "f = {f}"
        );
        assert_eq!(
            encode(-below, f).unwrap(),
            (i64::MIN + 1024) as u64,
            "f = {f}"
        );
        for x in [top, top * 1.5, 2.0 * top, f64::MAX, f64::MIN] {
            assert!(encode(x, f).is_err(), "encode({x:e}, {f}) should fail");
            assert!(encode(-x.abs(), f).is_err() || -x.abs() == -top, "f = {f}");
        }
        // -2^(63-f) itself is representable, the next double below it is not
        assert!(encode(-top, f).is_ok());
        assert!(
            encode(f64::from_bits((-top).to_bits() + 1), f).is_err(),
            "f = {f}"
        );
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -f64::NAN] {
            assert!(encode(x, f).is_err(), "encode({x}, {f}) should fail");
        }
    }
    assert!(FixedPoint::new(62).is_ok());
    assert!(FixedPoint::new(63).is_err());
    assert!(RingTensor::from_f64(&[2], &[1.0, f64::NAN], 16).is_err());
    assert!(RingTensor::from_f64(&[1], &[pow2(47)], 16).is_err());
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn every_value_at_or_beyond_the_range_is_refused(
        f in frac_bits(),
        grow in 0.0f64..1e6,
        negative in any::<bool>(),
    ) {
        let top = pow2(63 - f as i32);
        let x = top * (1.0 + grow);
        prop_assert!(encode(x, f).is_err());
        // -2^(63-f) itself is representable; anything below it is not
        if negative && x > top {
            prop_assert!(encode(-x, f).is_err());
        }
    }

    #[test]
    fn tensors_encode_and_decode_elementwise_like_the_codec(
        xs in prop::collection::vec(-1e6f64..1e6, 1..32),
        f in frac_bits(),
    ) {
        let t = RingTensor::from_f64(&[xs.len()], &xs, f).unwrap();
        let raw: Vec<u64> = xs.iter().map(|&x| encode(x, f).unwrap()).collect();
        prop_assert_eq!(t.as_slice(), raw.as_slice());
        let back: Vec<f64> = raw.iter().map(|&v| decode(v, f)).collect();
        prop_assert_eq!(t.to_f64(), back);
        prop_assert_eq!(t.frac_bits(), f);
    }
}

// ------------------------------------------------------------------ fixed-point arithmetic

/// The reals of the product tests: `k / 2^40` with `|k| < 2^50`, so `|a| < 2^10` and every
/// product `a * b` is exact as `ka * kb / 2^80` in `i128`.
fn small_real() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => -(1i64 << 50) + 1..(1i64 << 50),
        1 => (-1024i64..=1024).prop_map(|v| v << 38),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// Tolerance of the fixed-point product. Let `A = a 2^f + da` and `B = b 2^f + db` be the
    /// encodings, with `|da|, |db| <= 1/2` (round to nearest). With `|a|, |b| < 2^10` and
    /// `f <= 20` the ring product `P = A B` has `|P| < (2^30 + 1)^2 < 2^63`: nothing wraps.
    /// `mul` returns `r = floor(P / 2^f + 1/2)` (round to nearest, halves up), so `r / 2^f`
    /// lies in `(P / 2^2f - 2^-(f+1), P / 2^2f + 2^-(f+1)]`, and
    /// `P / 2^2f = a b + (a db + b da) / 2^f + da db / 2^2f`. Hence
    ///
    /// `|r / 2^f - a b| <= 2^-(f+1) + (|a| + |b|) 2^-(f+1) + 2^-(2f+2)`:
    ///
    /// half a unit for the rounding, plus each operand's encoding error times the other
    /// operand, plus the product of the two encoding errors.
    #[test]
    fn fixed_point_mul_is_within_the_rounding_and_encoding_errors_of_the_real_product(
        ka in small_real(),
        kb in small_real(),
        f in prop::sample::select(vec![0u32, 8, 12, 16, 20]),
    ) {
        let (a, b) = (ka as f64 / pow2(40), kb as f64 / pow2(40));
        let ta = RingTensor::from_f64(&[1], &[a], f).unwrap();
        let tb = RingTensor::from_f64(&[1], &[b], f).unwrap();
        let prod = ta.mul(&tb).unwrap();
        prop_assert_eq!(prod.frac_bits(), f);
        let r = i128::from(prod.to_i64()[0]);
        // exactly the ring product rounded to nearest
        let (ea, eb) = (i128::from(ta.to_i64()[0]), i128::from(tb.to_i64()[0]));
        let half = if f == 0 { 0 } else { 1i128 << (f - 1) };
        prop_assert_eq!(r, (ea * eb + half) >> f);
        // everything below in units of 2^-80, where a b = ka kb exactly
        let f = f as i32;
        let got = r << (80 - f);
        let exact = i128::from(ka) * i128::from(kb);
        let half_unit = 1i128 << (79 - f);
        let encoding = (i128::from(ka).abs() + i128::from(kb).abs()) << (39 - f);
        let cross = 1i128 << (78 - 2 * f);
        let bound = half_unit + encoding + cross;
        prop_assert!(
            (got - exact).abs() <= bound,
            "a = {a}, b = {b}, f = {f}: error {} units of 2^-80, bound {bound}",
            got - exact
        );
    }

    #[test]
    fn mul_by_an_integer_tensor_needs_no_shift(
        ka in small_real(),
        m in -1000i64..1000,
    ) {
        let a = ka as f64 / pow2(40);
        let ta = RingTensor::from_f64(&[1], &[a], 16).unwrap();
        let tm = RingTensor::from_i64(&[1], &[m]).unwrap();
        let want = ta.to_i64()[0].wrapping_mul(m);
        for p in [ta.mul(&tm).unwrap(), tm.mul(&ta).unwrap()] {
            prop_assert_eq!(p.frac_bits(), 16);
            prop_assert_eq!(p.to_i64(), vec![want]);
        }
    }

    #[test]
    fn shr_arith_floors_like_euclidean_division_by_a_power_of_two(
        v in any::<i64>(),
        bits in 0u32..64,
        f in 0u32..=32,
    ) {
        let t = RingTensor::from_raw(&[1], vec![v as u64], f).unwrap();
        let s = t.shr_arith(bits);
        let want = i128::from(v).div_euclid(1i128 << bits);
        prop_assert_eq!(i128::from(s.to_i64()[0]), want, "{} >> {}", v, bits);
        prop_assert_eq!(s.frac_bits(), f.saturating_sub(bits));
    }

    #[test]
    fn div_floor_matches_div_euclid(
        values in prop::collection::vec(any::<i64>(), 1..16),
        d in prop_oneof![1u64..=16, 1u64..=(i64::MAX as u64), Just(i64::MAX as u64)],
    ) {
        let t = RingTensor::from_i64(&[values.len()], &values).unwrap().with_frac_bits(16);
        let got = t.div_floor(d).unwrap();
        let want: Vec<i64> = values.iter().map(|v| v.div_euclid(d as i64)).collect();
        prop_assert_eq!(got.to_i64(), want);
        prop_assert_eq!(got.frac_bits(), 16);
    }
}

#[test]
fn shr_arith_floors_negative_values() {
    let t = RingTensor::from_i64(&[6], &[-1, -2, -3, 1, 3, i64::MIN]).unwrap();
    assert_eq!(
        t.shr_arith(1).to_i64(),
        vec![-1, -1, -2, 0, 1, i64::MIN / 2]
    );
    assert_eq!(t.shr_arith(63).to_i64(), vec![-1, -1, -1, 0, 0, -1]);
    // a fixed-point -2^-16 halves to -2^-16, not to 0
    let x = RingTensor::from_f64(&[1], &[-pow2(-16)], 16).unwrap();
    assert_eq!(x.shr_arith(1).to_i64(), vec![-1]);
}

#[test]
fn div_floor_refuses_zero_and_divisors_beyond_i64() {
    let t = RingTensor::from_i64(&[2], &[-7, 7]).unwrap();
    assert!(t.div_floor(0).is_err());
    assert!(t.div_floor(1 << 63).is_err());
    assert!(t.div_floor(u64::MAX).is_err());
    assert_eq!(t.div_floor(2).unwrap().to_i64(), vec![-4, 3]);
}
