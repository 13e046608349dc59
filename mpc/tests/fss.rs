//! The FSS comparison mode: every comparison equals the circuit mode's result exactly (both
//! are exact on the ring), the functions built on comparisons agree within their precision,
//! rounds and bytes are pinned, the keys reveal nothing alone, and 3+ parties are refused.

mod common;

use common::*;
use mpc::fss::Dcf;
use mpc::{AesPrg, CompareMode, CrypTensor, Seed, SessionConfig, run_local};
use tensor::{Pool2dParams, RingTensor, UnaryOp};

fn fss(seed: u64) -> SessionConfig {
    SessionConfig {
        compare: CompareMode::Fss,
        ..cfg(seed)
    }
}

/// Raw words at 16 fractional bits: random values, and the ring's edges and ties.
fn edgy(seed: u64, n: usize) -> RingTensor {
    let mut v: Vec<u64> = ints(seed, n, 1 << 40)
        .into_iter()
        .map(|v| v as u64)
        .collect();
    let edges = [
        0,
        1,
        u64::MAX,
        1 << 63,
        (1 << 63) - 1,
        (1 << 63) + 1,
        1 << 62,
        (1u64 << 62).wrapping_neg(),
        1 << 16,
        (1u64 << 16).wrapping_neg(),
    ];
    v[..edges.len()].copy_from_slice(&edges);
    RingTensor::from_raw(&[n], v, 16).unwrap()
}

/// The tensors' raw words, one after the other (scales dropped).
fn joined(v: &[RingTensor]) -> RingTensor {
    let flat: Vec<RingTensor> = v.iter().map(|t| t.flatten().with_frac_bits(0)).collect();
    RingTensor::concat(&flat.iter().collect::<Vec<_>>(), 0).unwrap()
}

/// Every comparison-based op of the tensor tier, revealed.
fn comparisons(s: &mpc::Session, x: &RingTensor, y: &RingTensor) -> mpc::Result<Vec<RingTensor>> {
    let (a, b) = (share(s, 0, x), share(s, 1, y));
    let (relu, mask) = a.relu_with_mask()?;
    let small = share(s, 0, &fixed(9, &[2, 3, 4, 4], 1 << 30));
    let rows = share(s, 1, &fixed(10, &[6, 10], 1 << 30));
    let (best, index) = rows.max_with_indices(1, false)?;
    let outs = [
        a.ltz()?,
        a.relu()?,
        relu,
        mask,
        a.abs()?,
        a.sign()?,
        a.lt(&b)?,
        a.ge(&b)?,
        a.clamp(Some(-1.5), Some(2.0))?,
        small.max_pool2d(&Pool2dParams::square(2))?,
        small.amax(3, false)?,
        small.amin(2, true)?,
        rows.amax(1, false)?,
        best,
        index,
        rows.argmax(1, false)?,
    ];
    outs.iter().map(CrypTensor::reveal).collect()
}

#[test]
fn every_comparison_equals_the_circuit_mode_exactly() {
    let x = edgy(1, 300);
    // ties with x in a third of the places
    let mut yv = edgy(2, 300).as_slice().to_vec();
    for i in (0..300).step_by(3) {
        yv[i] = x.as_slice()[i];
    }
    let y = RingTensor::from_raw(&[300], yv, 16).unwrap();
    let run = |config: SessionConfig| {
        let revealed = run_local(2, config, |s| comparisons(&s, &x, &y)).unwrap();
        agreed(revealed.iter().map(|v| joined(v)).collect())
    };
    let (circuit, with_fss) = (run(cfg(3)), run(fss(3)));
    assert_eq!(with_fss.as_slice(), circuit.as_slice());
    // and the plaintext oracle on the edges: relu and the sign bit
    let got = agreed(
        run_local(2, fss(4), |s| {
            let a = share(&s, 0, &x);
            Ok(joined(&[a.relu()?.reveal()?, a.ltz()?.reveal()?]))
        })
        .unwrap(),
    );
    for (i, &v) in x.as_slice().iter().enumerate() {
        let neg = (v as i64) < 0;
        assert_eq!(
            got.as_slice()[i],
            if neg { 0 } else { v },
            "relu of {:#x}",
            v
        );
        assert_eq!(got.as_slice()[300 + i], u64::from(neg), "ltz of {:#x}", v);
    }
}

#[test]
fn functions_built_on_comparisons_agree_with_the_circuit_mode() {
    let x = fixed(5, &[40, 10], 8 << 16);
    let run = |config: SessionConfig| {
        agreed(
            run_local(2, config, |s| {
                let a = share(&s, 0, &x);
                let outs = [a.sigmoid()?, a.tanh()?, a.gelu()?, a.softmax(1)?];
                let revealed: Vec<RingTensor> = outs
                    .iter()
                    .map(CrypTensor::reveal)
                    .collect::<mpc::Result<_>>()?;
                Ok(joined(&revealed).with_frac_bits(16))
            })
            .unwrap(),
        )
        .to_f64()
    };
    let (c, f) = (run(cfg(6)), run(fss(6)));
    // Both modes compute the same polynomials from the same exact comparisons; only the
    // truncations' one-ULP roundings differ (their masks come from different tuples), and a
    // few of them compound through the Newton steps: 2^-10 is 64 ULP.
    for (i, (a, b)) in c.iter().zip(&f).enumerate() {
        assert!(
            (a - b).abs() <= 1.0 / 1024.0,
            "element {i}: circuit {a}, fss {b}"
        );
    }
}

#[test]
fn the_splines_take_their_pinned_rounds_in_both_modes() {
    // The spline: one comparison circuit on x and its knot differences, one product that
    // fixes the differences wrapping at the ring's ends (and takes GELU's and SiLU's ReLU),
    // t² then t³ and t⁴ (each product with its truncation), the coefficient products and
    // one truncation: 8 + 1 + 4 + 2 = 15 rounds with circuits, 2 + 1 + 4 + 2 = 9 from FSS
    // keys. The target for the sigmoid: ≤ 16.
    let x = edgy(9, 500);
    let ops = [
        UnaryOp::Sigmoid,
        UnaryOp::Tanh,
        UnaryOp::Gelu,
        UnaryOp::Silu,
    ];
    for (config, want) in [(cfg(10), 15), (fss(10), 9)] {
        let rounds = run_local(2, config, |s| {
            let a = share(&s, 0, &x);
            let mut out = Vec::new();
            for op in ops {
                s.reset_stats();
                a.unary(op)?;
                out.push(s.stats().rounds);
            }
            Ok(out)
        })
        .unwrap();
        for (p, r) in rounds.iter().enumerate() {
            assert_eq!(r, &[want; 4], "{ops:?} rounds, party {p}");
        }
    }
}

#[test]
fn rounds_and_bytes_are_pinned() {
    let n = 1000u64;
    let x = edgy(7, n as usize);
    let stats = run_local(2, fss(8), |s| {
        let a = share(&s, 0, &x);
        let mut out = Vec::new();
        for op in 0..3 {
            s.reset_stats();
            let d0 = s.dealer_stats();
            match op {
                0 => a.relu()?,
                1 => a.ltz()?,
                _ => a.reshape(&[250, 4])?.amax(1, false)?,
            };
            let (c, d) = (s.stats(), s.dealer_stats());
            out.push((c.rounds, c.bytes_sent, d.bytes_received - d0.bytes_received));
        }
        Ok(out)
    })
    .unwrap();
    let relu_key = Dcf::new(63, 2).unwrap().key_words() as u64;
    let sign_key = Dcf::new(63, 1).unwrap().key_words() as u64;
    assert_eq!(relu_key, 256);
    for (p, st) in stats.iter().enumerate() {
        let party0 = u64::from(p == 0);
        // ReLU: one opening, 8 bytes per element; the keys to both parties, the shares of
        // msb(r) and r·msb(r) to party 0.
        assert_eq!(
            st[0],
            (1, 8 * n, 8 * n * (relu_key + 2 * party0)),
            "relu, party {p}"
        );
        // The sign bit (one opening) and its B2A (one round, the circuit mode's).
        assert_eq!(st[1].0, 2, "ltz rounds, party {p}");
        assert!(st[1].2 >= 8 * n * sign_key, "ltz dealer bytes, party {p}");
        // A max over 4: two levels of one ReLU each, on 500 and 250 differences.
        assert_eq!(st[2].0, 2, "amax rounds, party {p}");
        assert_eq!(st[2].1, 8 * 750, "amax bytes, party {p}");
    }
}

#[test]
fn three_or_more_parties_are_refused_with_a_reason() {
    for n in [3, 5] {
        let err = run_local(n, fss(9), |_s| Ok(())).unwrap_err().to_string();
        assert!(
            err.contains("FSS") && err.contains("2 parties"),
            "n={n}: {err}"
        );
    }
}

const CHI2_15_999: f64 = 37.70;

fn chi2_uniform(b: &[u64; 16]) -> f64 {
    let total: u64 = b.iter().sum();
    let expect = total as f64 / 16.0;
    b.iter()
        .map(|&o| (o as f64 - expect).powi(2) / expect)
        .sum()
}

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

/// Party 0's view of `keys` keys of one function `x < alpha` with payload `beta`: the low 4
/// bits of each of its words, bucketed per word position (root seed words first, then the
/// correction words).
fn key_view(alpha: u64, beta: u64, keys: usize, random_roots: bool) -> Vec<[u64; 16]> {
    let dcf = Dcf::new(63, 1).unwrap();
    let roots: [Vec<u64>; 2] = if random_roots {
        [1, 2].map(|s| AesPrg::new(&Seed::insecure_from_u64(s), 0).gen_vec(2 * keys))
    } else {
        [vec![0; 2 * keys], vec![0; 2 * keys]]
    };
    let cw = dcf
        .generate(
            &vec![alpha; keys],
            &vec![beta; keys],
            [&roots[0], &roots[1]],
        )
        .unwrap();
    let kw = dcf.key_words();
    let mut b = vec![[0u64; 16]; 2 + kw];
    for k in 0..keys {
        let words = roots[0][2 * k..2 * k + 2]
            .iter()
            .chain(&cw[k * kw..(k + 1) * kw]);
        for (pos, w) in words.enumerate() {
            // the seed corrections' low bit is always 0 (it carries no control bit): skip it
            b[pos][((w >> 1) & 15) as usize] += 1;
        }
    }
    b
}

#[test]
fn one_key_reveals_nothing_and_the_negative_control_is_caught() {
    const KEYS: usize = 1 << 13;
    let dcf = Dcf::new(63, 1).unwrap();
    // word positions: root (2), level 0's seed correction and value correction, a middle
    // level's, the control-bit words, the final value correction
    let lw = 3;
    let positions = [
        0,
        1,
        2,
        2 + 2,
        2 + 30 * lw,
        2 + 30 * lw + 2,
        2 + 63 * lw,
        2 + 63 * lw + 1,
        2 + dcf.key_words() - 1,
    ];
    let lo = key_view(0, 1, KEYS, true);
    let hi = key_view((1 << 63) - 1, u64::MAX - 41, KEYS, true);
    for &p in &positions {
        for (name, v) in [("alpha 0", &lo[p]), ("alpha max", &hi[p])] {
            let c = chi2_uniform(v);
            assert!(c < CHI2_15_999, "{name}, word {p}: chi2 {c:.1}");
        }
        let c = chi2_same(&lo[p], &hi[p]);
        assert!(c < CHI2_15_999, "word {p} depends on alpha: chi2 {c:.1}");
    }
    // Negative control: keys without random root seeds are a function of alpha and beta,
    // and the same statistics reject them.
    let lo = key_view(0, 1, KEYS, false);
    let hi = key_view((1 << 63) - 1, u64::MAX - 41, KEYS, false);
    for &p in &positions[2..] {
        assert!(chi2_uniform(&lo[p]) > 1000.0, "word {p}");
    }
    let apart = positions[2..]
        .iter()
        .map(|&p| chi2_same(&lo[p], &hi[p]))
        .fold(0.0, f64::max);
    assert!(
        apart > 1000.0,
        "no word of the broken keys depends on alpha"
    );
}
