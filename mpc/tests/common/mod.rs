//! Shared helpers for the mpc integration tests.
#![allow(dead_code, unreachable_pub)]

use mpc::{Session, SessionConfig, TruncMode};
use tensor::RingTensor;

/// A reproducible configuration.
pub fn cfg(seed: u64) -> SessionConfig {
    SessionConfig {
        insecure_test_seed: Some(seed),
        ..SessionConfig::default()
    }
}

/// A reproducible configuration with an explicit truncation protocol.
pub fn cfg_trunc(seed: u64, trunc: TruncMode) -> SessionConfig {
    SessionConfig { trunc, ..cfg(seed) }
}

/// Deterministic pseudo-random integers in `[-range, range]` (splitmix64).
pub fn ints(seed: u64, n: usize, range: i64) -> Vec<i64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z % (2 * range as u64 + 1)) as i64 - range
        })
        .collect()
}

/// Raw fixed-point tensor with entries `k / 2^16` for random integers `k` in `[-range, range]`.
pub fn fixed(seed: u64, shape: &[usize], range: i64) -> RingTensor {
    let n = shape.iter().product();
    RingTensor::from_raw(
        shape,
        ints(seed, n, range).into_iter().map(|v| v as u64).collect(),
        16,
    )
    .unwrap()
}

/// Integer tensor (scale 1).
pub fn int_tensor(seed: u64, shape: &[usize], range: i64) -> RingTensor {
    RingTensor::from_i64(shape, &ints(seed, shape.iter().product(), range)).unwrap()
}

/// Asserts `|got - want| <= 1` raw ULP everywhere: both truncation protocols return the floor
/// or one more, and the plaintext oracle `want` rounds to nearest (the floor, or one more when
/// the dropped fraction is at least a half), so the two differ by at most one.
pub fn assert_within_one_ulp(got: &RingTensor, want: &RingTensor, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    assert_eq!(got.frac_bits(), want.frac_bits(), "{what}: scale");
    for (i, (g, w)) in got.as_slice().iter().zip(want.as_slice()).enumerate() {
        let d = g.wrapping_sub(*w) as i64;
        assert!(
            (-1..=1).contains(&d),
            "{what}: element {i} off by {d} ULP (got {g}, want {w})"
        );
    }
}

/// Every party's revealed value must agree; returns it.
pub fn agreed(results: Vec<RingTensor>) -> RingTensor {
    for r in &results[1..] {
        assert_eq!(r, &results[0], "parties revealed different values");
    }
    results.into_iter().next().unwrap()
}

/// Party counts every protocol test runs for.
pub const PARTY_COUNTS: [usize; 3] = [2, 3, 5];

/// Shares `x` from `src` (every party knows the test data, only `src`'s copy is used).
pub fn share(s: &Session, src: usize, x: &RingTensor) -> mpc::CrypTensor {
    s.share(x, src % s.n_parties()).unwrap()
}

/// Asserts `|got - want| <= 1` raw ULP everywhere (division by a public integer that is not a
/// power of two, where the dealer protocol's dropped borrow can go either way).
pub fn assert_within_one_ulp_either_way(got: &RingTensor, want: &RingTensor, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (g, w)) in got.as_slice().iter().zip(want.as_slice()).enumerate() {
        let d = g.wrapping_sub(*w) as i64;
        assert!((-1..=1).contains(&d), "{what}: element {i} off by {d} ULP");
    }
}

/// A proptest configuration with `cases` cases, a fixed seed (so a failure reproduces; set
/// `PROPTEST_RNG_SEED` to explore others) and no regression files.
pub fn seeded_proptest(cases: u32, seed: u64) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, RngSeed};
    let base = Config::default();
    let rng_seed = match base.rng_seed {
        RngSeed::Random => RngSeed::Fixed(seed),
        fixed => fixed,
    };
    Config {
        cases,
        rng_seed,
        failure_persistence: None,
        ..base
    }
}
