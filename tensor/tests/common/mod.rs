//! Helpers shared by the tensor crate's integration tests.

use proptest::test_runner::{Config, RngSeed};

/// A proptest configuration with `cases` cases, a fixed seed (so a failure reproduces; set
/// `PROPTEST_RNG_SEED` to explore others) and no regression files.
pub(crate) fn seeded(cases: u32, seed: u64) -> Config {
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
