//! Property tests: private ops against the plaintext oracle on random shapes, values and
//! party counts (few cases, as each spins up a set of parties). Seeded, so a failure
//! reproduces; `PROPTEST_RNG_SEED` explores other seeds.

mod common;

use common::*;
use mpc::{TruncMode, run_local};
use proptest::prelude::*;
use tensor::RingTensor;

fn tensor_of(shape: &[usize], vals: &[i64], frac: u32) -> RingTensor {
    let n: usize = shape.iter().product();
    RingTensor::from_raw(shape, vals[..n].iter().map(|&v| v as u64).collect(), frac).unwrap()
}

proptest! {
    #![proptest_config(seeded_proptest(24, 0x6d70_635f_7072_6f70))]

    #[test]
    fn share_then_reveal_is_identity_for_any_ring_values(
        n in 2usize..5,
        src in 0usize..4,
        vals in proptest::collection::vec(any::<u64>(), 1..40),
    ) {
        let x = RingTensor::from_raw(&[vals.len()], vals, 0).unwrap();
        let out = run_local(n, cfg(1), |s| s.share(&x, src % n)?.reveal()).unwrap();
        prop_assert_eq!(agreed(out), x);
    }

    #[test]
    fn private_products_match_the_oracle_within_one_ulp(
        n in 2usize..4,
        dealer in any::<bool>(),
        (m, k, p) in (1usize..7, 1usize..7, 1usize..7),
        vals in proptest::collection::vec(-(1i64 << 26)..(1i64 << 26), 150),
    ) {
        let a = tensor_of(&[m, k], &vals, 16);
        let b = tensor_of(&[k, p], &vals[50..], 16);
        let c = tensor_of(&[m, k], &vals[100..], 16);
        let trunc = if dealer || n != 2 { TruncMode::Dealer } else { TruncMode::LocalProbabilistic };
        let out = run_local(n, cfg_trunc(2, trunc), |s| {
            let (x, y, z) = (s.share(&a, 0)?, s.share(&b, 1)?, s.share(&c, n - 1)?);
            Ok(vec![x.matmul(&y)?.reveal()?, x.mul(&z)?.reveal()?, x.add(&z)?.reveal()?, z.square()?.reveal()?])
        })
        .unwrap();
        for r in &out[1..] {
            prop_assert_eq!(r, &out[0]);
        }
        let o = &out[0];
        assert_within_one_ulp(&o[0], &a.matmul(&b).unwrap(), "matmul");
        assert_within_one_ulp(&o[1], &a.mul(&c).unwrap(), "mul");
        prop_assert_eq!(&o[2], &a.add(&c).unwrap());
        assert_within_one_ulp(&o[3], &c.mul(&c).unwrap(), "square");
    }
}
