//! The error models of the two truncation protocols, measured.
//!
//! Local (2-party) truncation: result `floor(x/2^16)` or one more, except with probability
//! about `|x| / 2^64` per element, when the signed shares overflow and the result is off by
//! about 2^48 ULP. With `|x|` uniform in `[0, 2^50]` the expected failure rate is
//! `E|x| / 2^64 = 2^49 / 2^64 = 2^-15`, i.e. 30.5 failures in 10^6 samples (binomial
//! standard deviation 5.5).
//!
//! Dealer truncation: never fails for `|x| < 2^62 - d`, for any number of parties.

mod common;

use common::*;
use mpc::{TruncMode, run_local};
use tensor::RingTensor;

fn spread(seed: u64, n: usize, bits: u32) -> Vec<i64> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let mag = (s >> (64 - bits - 1)) as i64; // uniform in [0, 2^(bits+1))
            let mag = mag >> 1;
            if s & 1 == 0 { mag } else { -mag }
        })
        .collect()
}

/// Counts (small errors outside {0, +1}, huge errors) of truncating `xs` by 2^16.
fn truncate_and_count(n: usize, trunc: TruncMode, xs: &[i64], seed: u64) -> (usize, usize) {
    let x = RingTensor::from_raw(&[xs.len()], xs.iter().map(|&v| v as u64).collect(), 32).unwrap();
    let got = run_local(n, cfg_trunc(seed, trunc), |s| {
        share(&s, 0, &x).div_int(1 << 16)?.reveal_to(0)
    })
    .unwrap()
    .remove(0)
    .unwrap();
    let (mut small, mut huge) = (0, 0);
    for (g, &v) in got.as_slice().iter().zip(xs) {
        let d = (*g as i64).wrapping_sub(v >> 16);
        if !(0..=1).contains(&d) {
            if d.unsigned_abs() > 1 << 40 {
                huge += 1
            } else {
                small += 1
            }
        }
    }
    (small, huge)
}

#[test]
fn local_truncation_fails_at_the_predicted_rate() {
    let xs = spread(42, 1_000_000, 50);
    let (small, huge) = truncate_and_count(2, TruncMode::LocalProbabilistic, &xs, 11);
    eprintln!("local truncation: {huge} wrap failures in 10^6 samples (expected 30.5)");
    assert_eq!(
        small, 0,
        "local truncation must be within one ULP whenever it does not wrap"
    );
    // Expected 30.5, sd 5.5: the window is about +-4.5 sd.
    assert!(
        (6..=56).contains(&huge),
        "observed {huge} wrap failures in 10^6, expected about 30.5"
    );
}

#[test]
fn local_truncation_of_small_values_practically_never_fails() {
    // |x| < 2^40: failure rate below 2^-24 per element; 10^5 samples expect 0.006 failures.
    let xs = spread(7, 100_000, 40);
    assert_eq!(
        truncate_and_count(2, TruncMode::LocalProbabilistic, &xs, 12),
        (0, 0)
    );
}

#[test]
fn dealer_truncation_is_exact_to_one_ulp_on_every_input_in_range() {
    let mut xs = spread(9, 100_000, 61);
    let edge = (1i64 << 62) - (1 << 16) - 1;
    xs.extend([
        edge,
        -edge,
        0,
        -1,
        1,
        i64::from(i32::MAX),
        -(1 << 61),
        (1 << 16) - 1,
        -(1 << 16),
    ]);
    for n in [2, 3, 5] {
        assert_eq!(
            truncate_and_count(n, TruncMode::Dealer, &xs, 13 + n as u64),
            (0, 0),
            "n={n}"
        );
    }
}

/// `a ∘ b` computed privately with the default configuration at `n` parties (`a` from the
/// first party, `b` from the last), revealed.
fn default_products(n: usize, a: &[f64], b: &[f64]) -> tensor::FloatTensor {
    run_local(n, mpc::SessionConfig::default(), |s| {
        let x = s.share_f64(&[a.len()], a, 0)?;
        let y = s.share_f64(&[b.len()], b, n - 1)?;
        x.mul(&y)?.reveal_f64()
    })
    .unwrap()
    .remove(0)
}

/// The default configuration truncates exactly at every party count: 10^7 products of values
/// up to 1000 in magnitude (products up to 2^52 at 32 fractional bits, where the opt-in local
/// truncation would fail about 2^-12 of the time, some 2,400 elements) are all within the
/// fixed-point bound. `UMBRA_PRODUCTS` lowers the count for a quick run.
#[test]
fn default_products_have_no_gross_errors() {
    let total: usize = std::env::var("UMBRA_PRODUCTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    const CHUNK: usize = 1_000_000;
    for n in [2, 3] {
        let (mut outside, mut done, mut chunk_seed) = (0usize, 0usize, 7u64 + n as u64);
        while done < total {
            let len = CHUNK.min(total - done);
            // |v| < 2^40 at 30 fractional bits: up to 1024
            let values = |seed| -> Vec<f64> {
                let scale = (1u64 << 30) as f64;
                spread(seed, len, 40)
                    .iter()
                    .map(|&v| v as f64 / scale)
                    .collect()
            };
            let (a, b) = (values(chunk_seed), values(chunk_seed + 1));
            chunk_seed += 2;
            let got = default_products(n, &a, &b);
            // Each encoding is within 2^-17 of its value and the truncation adds below 2^-16.
            outside += got
                .iter()
                .zip(a.iter().zip(&b))
                .filter(|&(g, (x, y))| {
                    (g - x * y).abs() > (x.abs() + y.abs()) * 2f64.powi(-17) + 2f64.powi(-15)
                })
                .count();
            done += len;
        }
        assert_eq!(outside, 0, "{n} parties: {outside} of {total} products off");
    }
}

/// The default truncation of a private product has no bias: its result is `floor(x/2^16)` or
/// one more, the latter with probability exactly the dropped fraction (the mask's low bits are
/// uniform, so they carry into bit 16 that often). The mean error over 2·10^5 products of
/// values in `[-1, 1]`, measured against the exact product of the two encodings in ULP, is
/// then 0 with a standard deviation below `0.5/sqrt(2·10^5) ≈ 0.0011`; a floor would put it at
/// about -0.5. Plaintext fixed point rounds to nearest instead (see `RingTensor::shr_round`).
#[test]
fn default_truncation_is_unbiased() {
    const LEN: usize = 200_000;
    let values = |seed| -> Vec<f64> {
        let scale = (1u64 << 62) as f64;
        spread(seed, LEN, 62)
            .iter()
            .map(|&v| v as f64 / scale)
            .collect()
    };
    let (a, b) = (values(21), values(22));
    let enc = |v: &[f64]| RingTensor::from_f64(&[LEN], v, 16).unwrap().to_f64();
    let (ea, eb) = (enc(&a), enc(&b));
    let ulp = 2f64.powi(-16);
    for n in [2, 3] {
        let got = default_products(n, &a, &b);
        let errors: Vec<f64> = got
            .iter()
            .zip(ea.iter().zip(&eb))
            .map(|(g, (x, y))| (g - x * y) / ulp)
            .collect();
        let mean = errors.iter().sum::<f64>() / LEN as f64;
        let worst = errors.iter().fold(0f64, |m, e| m.max(e.abs()));
        eprintln!("{n} parties: mean truncation error {mean:+.5} ULP, worst {worst:.3} ULP");
        assert!(worst < 1.0, "{n} parties: an error of {worst} ULP");
        assert!(mean.abs() < 0.01, "{n} parties: biased by {mean} ULP");
    }
}

/// The fused truncate-then-square returns the dealer truncation (`floor(x/2^16)` or one more)
/// and its exact ring square, for every input in range and any party count.
#[test]
fn truncate_and_square_is_the_truncation_and_its_exact_square() {
    let mut xs = spread(31, 20_000, 61);
    let edge = (1i64 << 62) - (1 << 16) - 1;
    xs.extend([edge, -edge, 0, -1, 1, (1 << 16) - 1, -(1 << 16)]);
    // labelled at 16 bits: the protocol keeps the label (t at 16, t² at 32); callers relabel
    let x = RingTensor::from_raw(&[xs.len()], xs.iter().map(|&v| v as u64).collect(), 16).unwrap();
    for n in [2, 3, 5] {
        let out = run_local(n, cfg_trunc(40 + n as u64, TruncMode::Dealer), |s| {
            let shared = share(&s, 0, &x);
            let mpc::CrypTensor::Private(sh) = &shared else {
                unreachable!("shared from a party")
            };
            let (t, t2) = mpc::protocols::truncate::truncate_and_square(&s, sh.share(), 1 << 16)?;
            let t = mpc::CrypTensor::Private(mpc::Shared::new(t, s.clone()));
            let t2 = mpc::CrypTensor::Private(mpc::Shared::new(t2, s.clone()));
            Ok((t.reveal()?, t2.reveal()?))
        })
        .unwrap()
        .remove(0);
        let (t, t2) = out;
        assert_eq!((t.frac_bits(), t2.frac_bits()), (16, 32), "n={n}: labels");
        for (i, ((&tv, &sq), &v)) in t.as_slice().iter().zip(t2.as_slice()).zip(&xs).enumerate() {
            let d = (tv as i64).wrapping_sub(v >> 16);
            assert!(
                (0..=1).contains(&d),
                "n={n}, element {i}: truncation off by {d}"
            );
            assert_eq!(
                sq,
                tv.wrapping_mul(tv),
                "n={n}, element {i}: not the square"
            );
        }
    }
}
