//! Shares reveal nothing: each party's share of a constant secret is uniform, and its
//! distribution does not depend on the secret. A deliberately broken sharing is the negative
//! control: the same statistics must reject it, or the test could not fail.
//!
//! Pearson chi-square on 16 buckets (15 degrees of freedom). The 99.9% quantile of chi²(15) is
//! 37.70, so a correct sharing fails a single check with probability 0.001; the data are
//! seeded, so the outcome is reproducible.

mod common;

use common::*;
use mpc::run_local;
use tensor::RingTensor;

const SAMPLES: usize = 1 << 16;
const CHI2_15_999: f64 = 37.70;

fn buckets(words: &[u64], bucket: impl Fn(u64) -> usize) -> [u64; 16] {
    let mut b = [0u64; 16];
    for &w in words {
        b[bucket(w)] += 1;
    }
    b
}

/// Goodness of fit to the uniform distribution.
fn chi2_uniform(b: &[u64; 16]) -> f64 {
    let total: u64 = b.iter().sum();
    let expect = total as f64 / 16.0;
    b.iter()
        .map(|&o| (o as f64 - expect).powi(2) / expect)
        .sum()
}

/// Two-sample test of homogeneity (2 x 16 contingency table).
fn chi2_same(a: &[u64; 16], b: &[u64; 16]) -> f64 {
    let (na, nb) = (a.iter().sum::<u64>() as f64, b.iter().sum::<u64>() as f64);
    let mut s = 0.0;
    for i in 0..16 {
        let col = (a[i] + b[i]) as f64;
        for (obs, n) in [(a[i] as f64, na), (b[i] as f64, nb)] {
            let e = col * n / (na + nb);
            if e > 0.0 {
                s += (obs - e).powi(2) / e;
            }
        }
    }
    s
}

fn top(w: u64) -> usize {
    (w >> 60) as usize
}
fn low(w: u64) -> usize {
    (w & 15) as usize
}

/// Every party's share of a tensor of `SAMPLES` copies of `secret`, shared from party 0.
fn shares_of(n: usize, secret: u64, seed: u64) -> Vec<Vec<u64>> {
    let x = RingTensor::full_raw(&[SAMPLES], secret, 0);
    run_local(n, cfg(seed), |s| {
        let t = share(&s, 0, &x);
        match t {
            mpc::CrypTensor::Private(sh) => Ok(sh.local_share().as_slice().to_vec()),
            mpc::CrypTensor::Public(_) => unreachable!("shared input is private"),
        }
    })
    .unwrap()
}

#[test]
fn every_share_of_a_constant_is_uniform() {
    for n in [2, 3] {
        for secret in [0u64, 0x8000_0000_0000_0000, 12345 << 16] {
            for (p, share) in shares_of(n, secret, 77).iter().enumerate() {
                for (name, f) in [("top", top as fn(u64) -> usize), ("low", low)] {
                    let c = chi2_uniform(&buckets(share, f));
                    assert!(
                        c < CHI2_15_999,
                        "n={n} party {p} secret {secret:#x} {name} bits: chi2 {c:.1}"
                    );
                }
            }
        }
    }
}

#[test]
fn share_distribution_does_not_depend_on_the_secret() {
    let a = shares_of(2, 0, 101);
    let b = shares_of(2, 0x7fff_ffff_0000_0000, 202);
    for p in 0..2 {
        let c = chi2_same(&buckets(&a[p], top), &buckets(&b[p], top));
        assert!(c < CHI2_15_999, "party {p}: chi2 {c:.1}");
    }
}

#[test]
fn a_broken_sharing_is_caught_by_the_same_statistics() {
    // Broken on purpose: the mask has only 40 random bits, so the owner's share x - r keeps
    // the top bits of x. Both checks above must reject it.
    let mut state = 0x1234_5678_9abc_def0u64;
    let secret = 0x7fff_ffff_0000_0000u64;
    let broken: Vec<u64> = (0..SAMPLES)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            secret.wrapping_sub(state & ((1 << 40) - 1))
        })
        .collect();
    let c = chi2_uniform(&buckets(&broken, top));
    assert!(
        c > CHI2_15_999,
        "broken sharing passed the uniformity test: chi2 {c:.1}"
    );
    let good = &shares_of(2, 0, 303)[0];
    let c = chi2_same(&buckets(good, top), &buckets(&broken, top));
    assert!(
        c > CHI2_15_999,
        "broken sharing passed the independence test: chi2 {c:.1}"
    );
}
