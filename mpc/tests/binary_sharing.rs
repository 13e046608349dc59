//! Binary (XOR) sharing and the conversions between sharings, against plaintext words.

mod common;

use common::*;
use mpc::run_local;
use tensor::RingTensor;

fn words(seed: u64, n: usize) -> Vec<u64> {
    let mut v: Vec<u64> = ints(seed, n, i64::MAX / 2)
        .into_iter()
        .map(|x| (x as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    v.extend([0, u64::MAX, 1 << 63, (1 << 63) - 1, 1]);
    v
}

#[test]
fn a2b_then_b2a_round_trips_for_any_party_count() {
    let w = words(1, 40);
    let x = RingTensor::from_raw(&[w.len()], w.clone(), 0).unwrap();
    for n in PARTY_COUNTS {
        let out = run_local(n, cfg(1), |s| {
            let b = share(&s, 0, &x).to_binary()?;
            Ok((b.reveal()?, b.to_arithmetic()?.reveal()?))
        })
        .unwrap();
        for (bin, arith) in out {
            assert_eq!(bin.as_slice(), w.as_slice(), "A2B, n={n}");
            assert_eq!(arith.as_slice(), w.as_slice(), "B2A, n={n}");
        }
    }
}

#[test]
fn bitwise_gates_match_plaintext() {
    let (a, b) = (words(2, 30), words(3, 30));
    let (x, y) = (
        RingTensor::from_raw(&[a.len()], a.clone(), 0).unwrap(),
        RingTensor::from_raw(&[b.len()], b.clone(), 0).unwrap(),
    );
    for n in [2, 3, 5] {
        let out = run_local(n, cfg(2), |s| {
            let (p, q) = (share(&s, 0, &x).to_binary()?, share(&s, 1, &y).to_binary()?);
            Ok(vec![
                p.and(&q)?.reveal()?,
                p.xor(&q)?.reveal()?,
                p.not().reveal()?,
                p.shl(5).reveal()?,
                p.shr(63).reveal()?,
                p.bit(7).to_arithmetic()?.reveal()?,
                p.xor_public(&y)?.reveal()?,
                p.and_mask(0xff).reveal()?,
            ])
        })
        .unwrap();
        let o = &out[0];
        let map = |f: &dyn Fn(u64, u64) -> u64| {
            a.iter().zip(&b).map(|(a, b)| f(*a, *b)).collect::<Vec<_>>()
        };
        assert_eq!(o[0].as_slice(), map(&|a, b| a & b).as_slice(), "and n={n}");
        assert_eq!(o[1].as_slice(), map(&|a, b| a ^ b).as_slice());
        assert_eq!(o[2].as_slice(), map(&|a, _| !a).as_slice());
        assert_eq!(o[3].as_slice(), map(&|a, _| a << 5).as_slice());
        assert_eq!(o[4].as_slice(), map(&|a, _| a >> 63).as_slice());
        assert_eq!(o[5].as_slice(), map(&|a, _| (a >> 7) & 1).as_slice());
        assert_eq!(o[6].as_slice(), map(&|a, b| a ^ b).as_slice());
        assert_eq!(o[7].as_slice(), map(&|a, _| a & 0xff).as_slice());
    }
}

#[test]
fn a2b_costs_seven_rounds_for_two_parties() {
    let x = RingTensor::from_raw(&[100], words(4, 95), 0).unwrap();
    let out = run_local(2, cfg(3), |s| {
        let p = share(&s, 0, &x);
        s.reset_stats();
        p.to_binary()?;
        Ok(s.stats())
    })
    .unwrap();
    for st in out {
        assert_eq!((st.rounds, st.bytes_sent), (7, 208 * 100));
    }
}

#[test]
fn converting_a_public_tensor_is_refused() {
    let err = run_local(2, cfg(4), |_| {
        mpc::CrypTensor::Public(RingTensor::zeros(&[2], 0))
            .to_binary()
            .map(drop)
    })
    .unwrap_err();
    assert!(err.to_string().contains("public tensor"), "{err}");
}
