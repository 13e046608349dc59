//! Comparisons against plaintext: truth tables on hand-picked edge cases (zeros, ties, the
//! ends of the ring, magnitudes near 2^46 in fixed point), property tests on random pairs
//! whose difference fits the signed ring, and the functions built on comparisons.

mod common;

use common::*;
use mpc::{CrypTensor, run_local};
use proptest::prelude::*;
use tensor::{Pool2dParams, RingTensor};

fn raw(v: &[i64], frac: u32) -> RingTensor {
    RingTensor::from_raw(&[v.len()], v.iter().map(|&x| x as u64).collect(), frac).unwrap()
}

fn bools(t: &RingTensor) -> Vec<i64> {
    t.to_i64()
}

#[test]
fn ltz_is_exact_on_every_edge_of_the_ring() {
    let v = [
        0,
        1,
        -1,
        2,
        -2,
        i64::MAX,
        i64::MIN,
        i64::MIN + 1,
        1 << 62,
        -(1 << 62),
        (1 << 47) - 1,
        -(1 << 47),
    ];
    let x = raw(&v, 16);
    for n in PARTY_COUNTS {
        let out = run_local(n, cfg(1), |s| share(&s, 0, &x).ltz()?.reveal()).unwrap();
        let got = agreed(out);
        assert_eq!(got.frac_bits(), 0, "comparison results are integers");
        let want: Vec<i64> = v.iter().map(|&x| i64::from(x < 0)).collect();
        assert_eq!(bools(&got), want, "n={n}");
    }
}

#[test]
fn comparators_follow_their_truth_tables() {
    // pairs: equal, zero vs tiny, negative ties, ±near 2^46 (raw ±2^62) whose difference fits
    // ... and magnitudes near 2^47 in fixed point (the ends of the ring) with a difference
    // that still fits.
    let big = 1i64 << 62;
    let (max, min) = (i64::MAX, i64::MIN);
    let a = [
        0,
        0,
        1,
        -1,
        5,
        -7,
        big - 1,
        -big + 1,
        123 << 16,
        -(3 << 16),
        max - 5,
        min + 3,
        max,
        min,
        -1,
    ];
    let b = [
        0,
        1,
        0,
        -1,
        5,
        -7,
        big - 2,
        0,
        123 << 16,
        3 << 16,
        max - 7,
        min + 3,
        0,
        -1,
        min,
    ];
    let (x, y) = (raw(&a, 16), raw(&b, 16));
    for n in [2, 3] {
        let out = run_local(n, cfg(2), |s| {
            let (p, q) = (share(&s, 0, &x), share(&s, 1, &y));
            let r = [
                p.lt(&q)?,
                p.le(&q)?,
                p.gt(&q)?,
                p.ge(&q)?,
                p.eq(&q)?,
                p.ne(&q)?,
            ];
            r.iter()
                .map(|t| t.reveal())
                .collect::<mpc::Result<Vec<_>>>()
        })
        .unwrap();
        let got: Vec<Vec<i64>> = out[0].iter().map(bools).collect();
        let pairs = a.iter().zip(&b);
        let want: [Vec<i64>; 6] = [
            pairs.clone().map(|(a, b)| i64::from(a < b)).collect(),
            pairs.clone().map(|(a, b)| i64::from(a <= b)).collect(),
            pairs.clone().map(|(a, b)| i64::from(a > b)).collect(),
            pairs.clone().map(|(a, b)| i64::from(a >= b)).collect(),
            pairs.clone().map(|(a, b)| i64::from(a == b)).collect(),
            pairs.clone().map(|(a, b)| i64::from(a != b)).collect(),
        ];
        for (k, name) in ["lt", "le", "gt", "ge", "eq", "ne"].iter().enumerate() {
            assert_eq!(got[k], want[k], "{name}, n={n}");
        }
    }
}

#[test]
fn public_operands_and_public_tensors_compare_too() {
    let x = fixed(3, &[50], 1 << 22);
    let t = RingTensor::from_f64(&[1], &[0.5], 16).unwrap();
    let out = run_local(2, cfg(3), |s| {
        let p = share(&s, 0, &x);
        Ok((
            p.gt(&CrypTensor::Public(t.clone()))?.reveal()?,
            CrypTensor::Public(x.clone()).relu()?.reveal()?,
        ))
    })
    .unwrap();
    let want: Vec<i64> = x.to_f64().iter().map(|&v| i64::from(v > 0.5)).collect();
    assert_eq!(bools(&out[0].0), want);
    assert_eq!(out[0].1, x.map(|v| if (v as i64) < 0 { 0 } else { v }));
}

proptest! {
    #![proptest_config(seeded_proptest(16, 0x636d_705f_7072_6f70))]

    #[test]
    fn comparisons_match_plaintext_on_random_pairs(
        n in 2usize..4,
        a in proptest::collection::vec(-(1i64 << 61)..(1i64 << 61), 1..80),
        b_seed in any::<u64>(),
    ) {
        // half the pairs are ties, the rest random: differences always fit the signed ring
        let b: Vec<i64> = a.iter().enumerate().map(|(i, &v)| if (b_seed >> (i % 64)) & 1 == 0 { v } else { v.wrapping_mul(3) / 5 }).collect();
        let (x, y) = (raw(&a, 16), raw(&b, 16));
        let out = run_local(n, cfg(4), |s| {
            let (p, q) = (share(&s, 0, &x), share(&s, n - 1, &y));
            Ok((p.lt(&q)?.reveal()?, p.eq(&q)?.reveal()?, p.relu()?.reveal()?, p.abs()?.reveal()?, p.sign()?.reveal()?))
        })
        .unwrap();
        let (lt, eq, relu, abs, sign) = &out[0];
        prop_assert_eq!(bools(lt), a.iter().zip(&b).map(|(a, b)| i64::from(a < b)).collect::<Vec<_>>());
        prop_assert_eq!(bools(eq), a.iter().zip(&b).map(|(a, b)| i64::from(a == b)).collect::<Vec<_>>());
        prop_assert_eq!(relu.to_i64(), a.iter().map(|&v| v.max(0)).collect::<Vec<_>>());
        prop_assert_eq!(abs.to_i64(), a.iter().map(|&v| v.abs()).collect::<Vec<_>>());
        prop_assert_eq!(sign.to_i64(), a.iter().map(|&v| v.signum()).collect::<Vec<_>>());
    }
}

#[test]
fn select_and_clamps() {
    let x = RingTensor::from_f64(&[7], &[-9.0, -1.5, -1.0, 0.0, 0.25, 5.999, 6.5], 16).unwrap();
    let y = RingTensor::from_f64(&[7], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 16).unwrap();
    for n in [2, 3] {
        let out = run_local(n, cfg(5), |s| {
            let (p, q) = (share(&s, 0, &x), share(&s, 1, &y));
            let c = p.gt(&q)?;
            Ok(vec![
                CrypTensor::select(&c, &p, &q)?.reveal_f64()?,
                p.clamp(Some(-1.0), Some(1.0))?.reveal_f64()?,
                p.hardtanh()?.reveal_f64()?,
                p.relu6()?.reveal_f64()?,
                p.clamp(None, Some(0.5))?.reveal_f64()?,
                p.clamp(Some(0.1), None)?.reveal_f64()?,
            ])
        })
        .unwrap();
        let xs = x.to_f64();
        let ys = y.to_f64();
        let o = &out[0];
        assert_eq!(
            o[0],
            xs.iter()
                .zip(&ys)
                .map(|(a, b)| a.max(*b))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            o[1],
            xs.iter().map(|v| v.clamp(-1.0, 1.0)).collect::<Vec<_>>()
        );
        assert_eq!(o[2], o[1]);
        assert_eq!(
            o[3],
            xs.iter().map(|v| v.clamp(0.0, 6.0)).collect::<Vec<_>>()
        );
        assert_eq!(o[4], xs.iter().map(|v| v.min(0.5)).collect::<Vec<_>>());
        let lo = tensor::fixed::decode(tensor::fixed::encode(0.1, 16).unwrap(), 16);
        assert_eq!(o[5], xs.iter().map(|v| v.max(lo)).collect::<Vec<_>>());
    }
    let err = run_local(2, cfg(5), |s| {
        share(&s, 0, &x).clamp(Some(1.0), Some(0.0)).map(drop)
    })
    .unwrap_err();
    assert!(err.to_string().contains("above upper bound"), "{err}");
}

#[test]
fn max_and_argmax_break_ties_toward_the_lowest_index() {
    // rows: distinct, ties, all equal, a single maximum at the end, negatives
    let rows = [
        [3.0, 9.0, 1.0, 9.5, 2.0],
        [4.0, 7.0, 7.0, 1.0, 7.0],
        [2.5, 2.5, 2.5, 2.5, 2.5],
        [-1.0, -2.0, -3.0, -4.0, 0.0],
        [-5.0, -1.0, -1.0, -6.0, -1.0],
    ];
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let x = RingTensor::from_f64(&[5, 5], &flat, 16).unwrap();
    for n in [2, 3] {
        let out = run_local(n, cfg(6), |s| {
            let p = share(&s, 0, &x);
            let (mx, ix) = p.max_with_indices(1, false)?;
            let (mn, jx) = p.min_with_indices(1, true)?;
            let (cmax, cidx) = p.max_with_indices(0, false)?;
            Ok(vec![
                mx.reveal_f64()?,
                ix.reveal_f64()?,
                mn.reveal_f64()?,
                jx.reveal_f64()?,
                cmax.reveal_f64()?,
                cidx.reveal_f64()?,
                p.argmin(0, false)?.reveal_f64()?,
            ])
        })
        .unwrap();
        let o = &out[0];
        let first_arg = |v: &[f64], better: fn(f64, f64) -> bool| {
            let mut b = 0;
            for (i, &x) in v.iter().enumerate() {
                if better(x, v[b]) {
                    b = i;
                }
            }
            b as f64
        };
        let max_rows: Vec<f64> = rows
            .iter()
            .map(|r| r.iter().copied().fold(f64::MIN, f64::max))
            .collect();
        let arg_rows: Vec<f64> = rows.iter().map(|r| first_arg(r, |a, b| a > b)).collect();
        let min_rows: Vec<f64> = rows
            .iter()
            .map(|r| r.iter().copied().fold(f64::MAX, f64::min))
            .collect();
        let argmin_rows: Vec<f64> = rows.iter().map(|r| first_arg(r, |a, b| a < b)).collect();
        assert_eq!(o[0], max_rows, "n={n}");
        assert_eq!(o[1], arg_rows, "n={n}");
        assert_eq!(o[2], min_rows);
        assert_eq!(o[3], argmin_rows);
        let cols: Vec<Vec<f64>> = (0..5)
            .map(|c| rows.iter().map(|r| r[c]).collect())
            .collect();
        assert_eq!(
            o[4],
            cols.iter()
                .map(|c| c.iter().copied().fold(f64::MIN, f64::max))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            o[5],
            cols.iter()
                .map(|c| first_arg(c, |a, b| a > b))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            o[6],
            cols.iter()
                .map(|c| first_arg(c, |a, b| a < b))
                .collect::<Vec<_>>()
        );
    }
}

fn max_pool_ref(x: &[f64], s: [usize; 4], k: usize, st: usize, pad: usize) -> Vec<f64> {
    let ho = (s[2] + 2 * pad - k) / st + 1;
    let wo = (s[3] + 2 * pad - k) / st + 1;
    let mut out = Vec::new();
    for p in 0..s[0] * s[1] {
        for i in 0..ho {
            for j in 0..wo {
                let mut m = f64::MIN;
                for a in 0..k {
                    for b in 0..k {
                        let (y, z) = (
                            (i * st + a) as isize - pad as isize,
                            (j * st + b) as isize - pad as isize,
                        );
                        if y >= 0 && z >= 0 && (y as usize) < s[2] && (z as usize) < s[3] {
                            m = m.max(x[(p * s[2] + y as usize) * s[3] + z as usize]);
                        }
                    }
                }
                out.push(m);
            }
        }
    }
    out
}

#[test]
fn max_pool2d_matches_a_plaintext_reference() {
    let shape = [2, 3, 7, 6];
    let x = fixed(7, &shape, 1 << 22);
    let xs = x.to_f64();
    for n in [2, 3] {
        let out = run_local(n, cfg(7), |s| {
            let p = share(&s, 0, &x);
            let a = p.max_pool2d(&Pool2dParams::square(2))?.reveal_f64()?;
            let b = p
                .max_pool2d(&Pool2dParams {
                    kernel: (3, 3),
                    stride: (2, 2),
                    padding: (1, 1),
                })?
                .reveal_f64()?;
            Ok((a, b))
        })
        .unwrap();
        assert_eq!(out[0].0, max_pool_ref(&xs, shape, 2, 2, 0), "n={n}");
        assert_eq!(out[0].1, max_pool_ref(&xs, shape, 3, 2, 1), "n={n}");
    }
}

#[test]
fn adaptive_pools_use_pytorch_windows() {
    let shape = [1, 2, 5, 7];
    let x = fixed(8, &shape, 1 << 22);
    let xs = x.to_f64();
    let (oh, ow) = (3, 4);
    let out = run_local(2, cfg(8), |s| {
        let p = share(&s, 0, &x);
        Ok((
            p.adaptive_max_pool2d((oh, ow))?.reveal_f64()?,
            p.adaptive_avg_pool2d((oh, ow))?.reveal_f64()?,
        ))
    })
    .unwrap();
    let range = |i: usize, len: usize, out: usize| ((i * len) / out, ((i + 1) * len).div_ceil(out));
    let mut max_ref = Vec::new();
    let mut avg_ref = Vec::new();
    for p in 0..2 {
        for i in 0..oh {
            for j in 0..ow {
                let (y0, y1) = range(i, 5, oh);
                let (x0, x1) = range(j, 7, ow);
                let vals: Vec<f64> = (y0..y1)
                    .flat_map(|y| (x0..x1).map(move |z| (y, z)))
                    .map(|(y, z)| xs[(p * 5 + y) * 7 + z])
                    .collect();
                max_ref.push(vals.iter().copied().fold(f64::MIN, f64::max));
                avg_ref.push(vals.iter().sum::<f64>() / vals.len() as f64);
            }
        }
    }
    assert_eq!(out[0].0, max_ref);
    for (g, w) in out[0].1.iter().zip(&avg_ref) {
        assert!((g - w).abs() <= 2.0 * 2f64.powi(-16), "{g} vs {w}");
    }
}

#[test]
fn two_party_equality_is_a_seven_round_zero_test() {
    let x = fixed(10, &[1024], 1 << 20);
    let y = x.map(|v| if v % 3 == 0 { v } else { v.wrapping_add(1) });
    let out = run_local(2, cfg(10), |s| {
        let (p, q) = (share(&s, 0, &x), share(&s, 1, &y));
        s.reset_stats();
        let e = p.eq(&q)?;
        let st = s.stats();
        Ok((e.reveal()?, st))
    })
    .unwrap();
    let want: Vec<i64> = x
        .as_slice()
        .iter()
        .zip(y.as_slice())
        .map(|(a, b)| i64::from(a == b))
        .collect();
    for (e, st) in out {
        assert_eq!(bools(&e), want);
        // AND tree: 16 words per level-input bit-plane... (32+16+8+4+2+1) bits opened twice
        // per element, then 1/8 byte for the bit's B2A.
        assert_eq!((st.rounds, st.bytes_sent), (7, 1024 * 126 / 8 + 128));
    }
}

#[test]
fn three_party_comparisons_and_reductions_cost_what_the_circuit_says() {
    let x = fixed(11, &[1024], 1 << 20);
    let m = fixed(12, &[64, 10], 1 << 20);
    let img = fixed(13, &[1, 2, 8, 8], 1 << 20);
    let out = run_local(3, cfg(11), |s| {
        let (p, q, r) = (share(&s, 0, &x), share(&s, 1, &m), share(&s, 2, &img));
        let mut st = Vec::new();
        for op in 0..4 {
            s.reset_stats();
            match op {
                0 => drop(p.relu()?),
                1 => drop(q.amax(1, false)?),
                2 => drop(r.max_pool2d(&Pool2dParams::square(2))?),
                _ => drop(q.max_with_indices(1, false)?),
            }
            st.push(s.stats());
        }
        Ok(st)
    })
    .unwrap();
    for st in out {
        // relu: one carry-save round (16 B per element to each of 2 peers) + the 2-party
        // circuit's 8 rounds, every opening going to 2 peers.
        assert_eq!(
            (st[0].rounds, st[0].bytes_sent),
            (9, 2 * (16_384 + 48_384 + 8_320))
        );
        // rows of at most 16 take one all-pairs circuit: the carry-save round, 7 AND rounds,
        // the AND tree over each candidate's n - 1 wins (10 columns: 4 rounds; a 2x2 window:
        // 2) and the bit-times-value round (a tree over 10 columns took 4 levels of 9)
        assert_eq!(st[1].rounds, 1 + 7 + 4 + 1);
        assert_eq!(st[2].rounds, 1 + 7 + 2 + 1);
        assert_eq!(st[3].rounds, 1 + 7 + 4 + 1);
        assert!(
            st[3].bytes_sent > st[1].bytes_sent,
            "tracking the index costs more than values alone"
        );
    }
}

#[test]
fn relu_and_ltz_cost_eight_rounds_and_about_fifty_bytes() {
    let x = fixed(9, &[1024], 1 << 20);
    let out = run_local(2, cfg(9), |s| {
        let p = share(&s, 0, &x);
        s.reset_stats();
        p.ltz()?;
        let ltz = s.stats();
        s.reset_stats();
        p.relu()?;
        Ok((ltz, s.stats()))
    })
    .unwrap();
    for (ltz, relu) in out {
        // msb: 16 B (generate AND) + 16 + 8 + 4 + 2 + 1 + 0.25 B per element, then 1/8 B to
        // open the bit (ltz) or 8 + 1/8 B for the bit-times-value round (relu).
        assert_eq!((ltz.rounds, ltz.bytes_sent), (8, 48_384 + 128));
        assert_eq!((relu.rounds, relu.bytes_sent), (8, 48_384 + 8_320));
    }
}

#[test]
fn every_comparison_costs_what_its_circuit_says() {
    // Per peer, for N elements (N a multiple of 64): the sign circuit sends 47.25·N bytes
    // (16N for the generate AND, then 16N, 8N, 4N, 2N, N and N/4 over the six levels), plus
    // 16N for each carry-save round with 3+ parties; a bit's B2A sends N/8, a
    // bit-times-value round 8N + N/8. Every opening goes to each of the n-1 peers.
    const N: u64 = 1024;
    let sign = |m: u64| 47 * m + m / 4;
    let x = fixed(14, &[N as usize], 1 << 20);
    let y = fixed(15, &[N as usize], 1 << 20);
    for n in [2usize, 3] {
        let peers = n as u64 - 1;
        let csa = |m: u64| if n > 2 { 16 * m } else { 0 };
        let extra_round = u64::from(n > 2);
        let out = run_local(n, cfg(14), |s| {
            let (p, q) = (share(&s, 0, &x), share(&s, 1, &y));
            let mut st = Vec::new();
            for op in 0..5 {
                s.reset_stats();
                match op {
                    0 => drop(p.lt(&q)?),
                    1 => drop(p.abs()?),
                    2 => drop(p.clamp(Some(-1.0), Some(1.0))?),
                    3 => drop(p.ne(&q)?),
                    _ => drop(p.eq(&q)?),
                }
                st.push((s.stats().rounds, s.stats().bytes_sent));
            }
            Ok(st)
        })
        .unwrap();
        // eq and ne, 2 parties: the AND tree over 64 bits, (32+16+...+1)·2 bits per element
        // and a bit's B2A, 7 rounds; 3+ parties: the sign circuit on [d, d-1], one packed AND
        // (16 B per 64 elements) and the B2A, 10 rounds.
        let eq_cost = if n == 2 {
            (7, N * 126 / 8 + N / 8)
        } else {
            (10, peers * (csa(2 * N) + sign(2 * N) + N / 4 + N / 8))
        };
        let want = [
            (8 + extra_round, peers * (csa(N) + sign(N) + N / 8)),
            (8 + extra_round, peers * (csa(N) + sign(N) + 8 * N + N / 8)),
            // clamp: the sign circuit on [x, x - lo, x - hi], one packed AND of 2N bits
            // (N/2 B) that makes both bounds exact at the ring's ends, one bit_mul of 2N
            (
                9 + extra_round,
                peers * (csa(3 * N) + sign(3 * N) + N / 2 + 16 * N + N / 4),
            ),
            eq_cost,
            eq_cost,
        ];
        for (s, w) in out[0].iter().zip(want) {
            assert_eq!(*s, w, "n={n}");
        }
    }
}

#[test]
fn equality_and_sign_are_exact_at_the_most_negative_difference() {
    let v = [i64::MIN, 0, 1, -1, i64::MAX, i64::MIN + 1];
    let x = raw(&v, 16);
    for n in [2, 3] {
        let out = run_local(n, cfg(16), |s| {
            let p = share(&s, 0, &x);
            let zero = CrypTensor::Public(RingTensor::zeros(&[], 16));
            Ok(vec![
                p.eq(&zero)?.reveal()?,
                p.ne(&zero)?.reveal()?,
                p.sign()?.reveal()?,
            ])
        })
        .unwrap();
        let o = &out[0];
        assert_eq!(
            bools(&o[0]),
            v.iter().map(|&x| i64::from(x == 0)).collect::<Vec<_>>(),
            "eq n={n}"
        );
        assert_eq!(
            bools(&o[1]),
            v.iter().map(|&x| i64::from(x != 0)).collect::<Vec<_>>(),
            "ne n={n}"
        );
        assert_eq!(
            o[2].to_i64(),
            v.iter().map(|&x| x.signum()).collect::<Vec<_>>(),
            "sign n={n}"
        );
    }
}

#[test]
fn max_pooling_is_exact_at_the_ends_of_the_range_and_refuses_oversized_padding() {
    // all values -2^45 (raw -2^61), and values 7·2^60 raw: no sentinel may win or overflow
    for fill in [-(1i64 << 61), 7i64 << 60] {
        let x = RingTensor::from_raw(&[1, 1, 4, 4], vec![fill as u64; 16], 16).unwrap();
        let p = Pool2dParams {
            kernel: (2, 2),
            stride: (2, 2),
            padding: (1, 1),
        };
        let out = run_local(2, cfg(17), |s| share(&s, 0, &x).max_pool2d(&p)?.reveal()).unwrap();
        assert!(
            out[0].to_i64().iter().all(|&v| v == fill),
            "{:?}",
            out[0].to_i64()
        );
    }
    let one = RingTensor::from_f64(&[1, 1, 1, 1], &[1.0], 16).unwrap();
    let bad = Pool2dParams {
        kernel: (1, 1),
        stride: (1, 1),
        padding: (1, 1),
    };
    let err = run_local(2, cfg(18), |s| {
        share(&s, 0, &one).max_pool2d(&bad).map(drop)
    })
    .unwrap_err();
    assert!(err.to_string().contains("at most half the kernel"), "{err}");
}

#[test]
fn relu_with_mask_matches_plaintext_and_costs_one_more_round_than_relu() {
    let x = RingTensor::from_raw(
        &[1024],
        fixed(19, &[1024], 1 << 20)
            .as_slice()
            .iter()
            .enumerate()
            .map(|(i, v)| if i % 7 == 0 { 0 } else { *v })
            .collect(),
        16,
    )
    .unwrap();
    let out = run_local(2, cfg(19), |s| {
        let p = share(&s, 0, &x);
        s.reset_stats();
        let (r, m) = p.relu_with_mask()?;
        let st = s.stats();
        Ok((r.reveal()?, m.reveal()?, st))
    })
    .unwrap();
    let (r, m, st) = &out[0];
    assert_eq!(
        r.to_i64(),
        x.to_i64().iter().map(|&v| v.max(0)).collect::<Vec<_>>()
    );
    assert_eq!(
        m.to_i64(),
        x.to_i64()
            .iter()
            .map(|&v| i64::from(v >= 0))
            .collect::<Vec<_>>()
    );
    assert_eq!(m.frac_bits(), 0);
    assert_eq!((st.rounds, st.bytes_sent), (9, 48_384 + 8_320 + 128));
}

#[test]
fn clamp_is_exact_at_the_ends_of_the_ring() {
    // x - lo and x - hi wrap for x within |bound| of the ring's ends; the result must not
    let v = [
        i64::MIN,
        i64::MIN + 1,
        i64::MIN + (7 << 16),
        -(1 << 16),
        0,
        3 << 15,
        1 << 20,
        i64::MAX - (7 << 16),
        i64::MAX,
    ];
    let x = raw(&v, 16);
    let bounds = [
        (Some(-1.0), Some(1.0)),
        (Some(0.0), Some(6.0)),
        (Some(-16.0), None),
        (None, Some(18.5)),
        (Some(2.0), Some(3.0)),
    ];
    for n in [2, 3] {
        let out = run_local(n, cfg(17), |s| {
            let p = share(&s, 0, &x);
            bounds
                .iter()
                .map(|&(lo, hi)| p.clamp(lo, hi)?.reveal_f64())
                .collect::<mpc::Result<Vec<_>>>()
        })
        .unwrap();
        for ((lo, hi), got) in bounds.iter().zip(&out[0]) {
            for (&raw, &g) in v.iter().zip(got.iter()) {
                let x = raw as f64 / 65536.0;
                let want = x.max(lo.unwrap_or(f64::MIN)).min(hi.unwrap_or(f64::MAX));
                assert!(
                    (g - want).abs() <= want.abs() * 1e-15,
                    "n={n}: clamp({x:e}, {lo:?}, {hi:?}) = {g}, want {want}"
                );
            }
        }
    }
}

#[test]
fn one_circuit_maxima_match_plaintext_with_ties_at_every_row_length() {
    // rows of 2..=16 take the all-pairs circuit, 17 the tree; values from a tiny range so
    // that ties are common, and ties must go to the lowest index as in the tree
    for n_cols in [2usize, 3, 4, 7, 10, 16, 17] {
        let rows = 24;
        let v: Vec<i64> = ints(n_cols as u64, rows * n_cols, 3)
            .into_iter()
            .map(|k| k << 16)
            .collect();
        let x = RingTensor::from_raw(&[rows, n_cols], v.iter().map(|&k| k as u64).collect(), 16)
            .unwrap();
        for parties in [2, 3] {
            let out = run_local(parties, cfg(21), |s| {
                let p = share(&s, 0, &x);
                let (mx, ix) = p.max_with_indices(1, false)?;
                let (mn, jx) = p.min_with_indices(1, false)?;
                let (_, hot) = p.max_with_one_hot(1, false)?;
                [mx, ix, mn, jx, hot]
                    .iter()
                    .map(|t| t.reveal())
                    .collect::<mpc::Result<Vec<_>>>()
            })
            .unwrap();
            let got: Vec<Vec<i64>> = out[0]
                .iter()
                .map(|t| t.as_slice().iter().map(|&w| w as i64).collect())
                .collect();
            for r in 0..rows {
                let row = &v[r * n_cols..(r + 1) * n_cols];
                let (mut bi, mut si) = (0, 0);
                for i in 1..n_cols {
                    if row[i] > row[bi] {
                        bi = i;
                    }
                    if row[i] < row[si] {
                        si = i;
                    }
                }
                let what = format!("n={n_cols}, parties={parties}, row {row:?}");
                assert_eq!(got[0][r], row[bi], "max, {what}");
                assert_eq!(got[1][r], bi as i64, "argmax, {what}");
                assert_eq!(got[2][r], row[si], "min, {what}");
                assert_eq!(got[3][r], si as i64, "argmin, {what}");
                for i in 0..n_cols {
                    assert_eq!(
                        got[4][r * n_cols + i],
                        i64::from(i == bi),
                        "one-hot, {what}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_tree_reduction_stays_available_and_agrees() {
    // MaxReduction::Tree: 8 rounds per level and fewer bytes; the same maxima
    let m = fixed(12, &[64, 10], 1 << 20);
    let run = |reduction| {
        let config = mpc::SessionConfig {
            max_reduction: reduction,
            ..cfg(13)
        };
        run_local(2, config, |s| {
            let q = share(&s, 0, &m);
            s.reset_stats();
            let (v, i) = q.max_with_indices(1, false)?;
            let st = s.stats();
            Ok((st.rounds, st.bytes_sent, v.reveal()?, i.reveal()?))
        })
        .unwrap()
        .remove(0)
    };
    let tree = run(mpc::MaxReduction::Tree);
    let pairs = run(mpc::MaxReduction::AllPairs);
    assert_eq!(tree.0, 4 * 8, "10 -> 5 -> 3 -> 2 -> 1");
    assert_eq!(pairs.0, 7 + 4 + 1);
    assert!(tree.1 < pairs.1, "the tree sends fewer bytes");
    assert_eq!((tree.2, tree.3), (pairs.2, pairs.3));
}
