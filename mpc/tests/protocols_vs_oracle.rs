//! Every private op against the plaintext oracle, for 2, 3 and 5 parties.
//!
//! Integer data (scale 1) must come out exact. Fixed-point products are rescaled once by a
//! truncation protocol whose contract is `floor(x / 2^f)` or one more: the tests assert that
//! exact window (at most 1 ULP = 2^-16), no looser.

mod common;

use common::*;
use mpc::{CrypTensor, TruncMode, run_local};
use tensor::{Conv2dParams, Pool2dParams, RingTensor};

#[test]
fn share_then_reveal_is_identity() {
    for n in PARTY_COUNTS {
        let x = fixed(1, &[3, 4], 1 << 30);
        let out = run_local(n, cfg(1), |s| share(&s, n - 1, &x).reveal()).unwrap();
        assert_eq!(agreed(out), x);
    }
}

#[test]
fn integer_products_are_exact() {
    for n in PARTY_COUNTS {
        let a = int_tensor(2, &[4, 5], 1000);
        let b = int_tensor(3, &[4, 5], 1000);
        let m = int_tensor(4, &[5, 3], 1000);
        let v = int_tensor(5, &[5], 1000);
        let out = run_local(n, cfg(2), |s| {
            let (x, y, w, u) = (
                share(&s, 0, &a),
                share(&s, 1, &b),
                share(&s, 2, &m),
                share(&s, 3, &v),
            );
            Ok(vec![
                x.mul(&y)?.reveal()?,
                x.mul(&u)?.reveal()?,
                x.square()?.reveal()?,
                x.matmul(&w)?.reveal()?,
                x.matmul(&u)?.reveal()?,
                x.add(&y)?.sub(&u)?.reveal()?,
                x.neg()?.reveal()?,
                x.mul_int(-7)?.reveal()?,
            ])
        })
        .unwrap();
        for r in &out[1..] {
            assert_eq!(r, &out[0]);
        }
        let o = &out[0];
        assert_eq!(o[0], a.mul_raw(&b).unwrap(), "mul, n={n}");
        assert_eq!(o[1], a.mul_raw(&v).unwrap(), "broadcast mul, n={n}");
        assert_eq!(o[2], a.mul_raw(&a).unwrap(), "square, n={n}");
        assert_eq!(o[3], a.matmul_raw(&m).unwrap(), "matmul, n={n}");
        assert_eq!(o[4], a.matmul_raw(&v).unwrap(), "matrix-vector, n={n}");
        assert_eq!(o[5], a.add(&b).unwrap().sub(&v).unwrap(), "add/sub, n={n}");
        assert_eq!(o[6], a.neg(), "neg, n={n}");
        assert_eq!(o[7], a.mul_scalar_raw(-7i64 as u64), "mul_int, n={n}");
    }
}

#[test]
fn fixed_point_products_are_within_one_ulp() {
    for n in PARTY_COUNTS {
        let local = if n == 2 {
            TruncMode::LocalProbabilistic
        } else {
            TruncMode::Dealer
        };
        for trunc in [local, TruncMode::Dealer] {
            // |values| up to 2^8 = 256.0 (products up to 2^48 at scale 2^32)
            let a = fixed(10, &[6, 7], 1 << 24);
            let b = fixed(11, &[6, 7], 1 << 24);
            let w = fixed(12, &[7, 5], 1 << 24);
            let out = run_local(n, cfg_trunc(3, trunc), |s| {
                let (x, y, m) = (share(&s, 0, &a), share(&s, 1, &b), share(&s, 2, &w));
                let p = CrypTensor::Public(b.clone());
                Ok(vec![
                    x.mul(&y)?.reveal()?,
                    x.square()?.reveal()?,
                    x.matmul(&m)?.reveal()?,
                    x.mul(&p)?.reveal()?,
                    p.mul(&x)?.reveal()?,
                    x.mul_f64(0.375)?.reveal()?,
                ])
            })
            .unwrap();
            let o = &out[0];
            assert_within_one_ulp(&o[0], &a.mul(&b).unwrap(), &format!("mul n={n} {trunc:?}"));
            assert_within_one_ulp(&o[1], &a.mul(&a).unwrap(), &format!("square n={n}"));
            assert_within_one_ulp(&o[2], &a.matmul(&w).unwrap(), &format!("matmul n={n}"));
            assert_within_one_ulp(&o[3], &a.mul(&b).unwrap(), &format!("mul public n={n}"));
            assert_within_one_ulp(&o[4], &a.mul(&b).unwrap(), &format!("public mul n={n}"));
            assert_within_one_ulp(&o[5], &a.mul_f64(0.375).unwrap(), &format!("mul_f64 n={n}"));
        }
    }
}

#[test]
fn products_by_a_fixed_mask_parameter_are_exact_every_time() {
    let p = Conv2dParams {
        stride: (1, 2),
        padding: (1, 0),
        dilation: (1, 1),
        groups: 1,
    };
    for n in PARTY_COUNTS {
        let xs: Vec<RingTensor> = (0..3).map(|k| int_tensor(30 + k, &[3, 5], 1000)).collect();
        let m = int_tensor(33, &[5, 4], 1000);
        let img = int_tensor(34, &[1, 2, 6, 6], 50);
        let w = int_tensor(35, &[3, 2, 3, 3], 50);
        let out = run_local(n, cfg(5), |s| {
            let wm = share(&s, 1, &m).fix_mask();
            assert!(wm.has_fixed_mask());
            let wc = share(&s, 0, &w).fix_mask();
            let mut got = Vec::new();
            for x in &xs {
                // a clone keeps the mask: the same value
                got.push(share(&s, 0, x).matmul(&wm.clone())?.reveal()?);
            }
            // a new value made from the parameter has no fixed mask
            let w2 = wm.add(&wm)?;
            assert!(!w2.has_fixed_mask());
            got.push(share(&s, 0, &xs[0]).matmul(&w2)?.reveal()?);
            for _ in 0..2 {
                got.push(share(&s, 1, &img).conv2d(&wc, &p)?.reveal()?);
            }
            Ok(got)
        })
        .unwrap();
        for r in &out[1..] {
            assert_eq!(r, &out[0]);
        }
        let o = &out[0];
        for (k, x) in xs.iter().enumerate() {
            assert_eq!(o[k], x.matmul_raw(&m).unwrap(), "product {k}, n={n}");
        }
        let m2 = m.add(&m).unwrap();
        assert_eq!(o[3], xs[0].matmul_raw(&m2).unwrap(), "n={n}");
        for c in &o[4..] {
            assert_eq!(c, &img.conv2d_raw(&w, &p).unwrap(), "conv2d, n={n}");
        }
    }
}

#[test]
fn convolution_matches_the_plaintext_kernel() {
    let p = Conv2dParams {
        stride: (2, 1),
        padding: (1, 1),
        dilation: (1, 2),
        groups: 2,
    };
    for n in PARTY_COUNTS {
        let x = int_tensor(20, &[2, 4, 7, 8], 50);
        let w = int_tensor(21, &[6, 2, 3, 3], 50);
        let xf = fixed(22, &[2, 4, 7, 8], 1 << 20);
        let wf = fixed(23, &[6, 2, 3, 3], 1 << 20);
        let out = run_local(n, cfg(4), |s| {
            let int = share(&s, 0, &x).conv2d(&share(&s, 1, &w), &p)?.reveal()?;
            let fx = share(&s, 1, &xf).conv2d(&share(&s, 0, &wf), &p)?.reveal()?;
            let public_w = share(&s, 1, &xf)
                .conv2d(&CrypTensor::Public(wf.clone()), &p)?
                .reveal()?;
            Ok((int, fx, public_w))
        })
        .unwrap();
        let (int, fx, public_w) = &out[0];
        assert_eq!(int, &x.conv2d_raw(&w, &p).unwrap(), "n={n}");
        assert_within_one_ulp(fx, &xf.conv2d(&wf, &p).unwrap(), "conv2d");
        assert_within_one_ulp(
            public_w,
            &xf.conv2d(&wf, &p).unwrap(),
            "conv2d public weight",
        );
    }
}

#[test]
fn reductions_pooling_and_division() {
    let pool = Pool2dParams::square(2);
    for n in PARTY_COUNTS {
        let x = fixed(30, &[2, 3, 4, 6], 1 << 30);
        let out = run_local(n, cfg(5), |s| {
            let v = share(&s, 0, &x);
            Ok(vec![
                v.sum(&[1, 3], false)?.reveal()?,
                v.mean(&[3], true)?.reveal()?,
                v.mean(&[], false)?.reveal()?,
                v.sum_pool2d(&pool)?.reveal()?,
                v.avg_pool2d(&pool)?.reveal()?,
                v.div_int(7)?.reveal()?,
                v.div_f64(-4.0)?.reveal()?,
            ])
        })
        .unwrap();
        let o = agreed_vec(out);
        assert_eq!(o[0], x.sum(&[1, 3], false).unwrap());
        assert_within_one_ulp_either_way(&o[1], &x.mean(&[3], true).unwrap(), "mean over a dim");
        assert_within_one_ulp_either_way(&o[2], &x.mean(&[], false).unwrap(), "mean over all");
        assert_eq!(o[3], x.sum_pool2d(&pool).unwrap());
        assert_within_one_ulp(&o[4], &x.avg_pool2d(&pool).unwrap(), "avg_pool2d");
        assert_within_one_ulp_either_way(&o[5], &x.div_floor(7).unwrap(), "div_int");
        assert_within_one_ulp(&o[6], &x.mul_f64(-0.25).unwrap(), "div_f64");
    }
}

fn agreed_vec(out: Vec<Vec<RingTensor>>) -> Vec<RingTensor> {
    for r in &out[1..] {
        assert_eq!(r, &out[0], "parties disagree");
    }
    out.into_iter().next().unwrap()
}

#[test]
fn shape_ops_act_on_shares() {
    for n in PARTY_COUNTS {
        let x = int_tensor(40, &[2, 3, 4], 100);
        let y = int_tensor(41, &[2, 3, 4], 100);
        let out = run_local(n, cfg(6), |s| {
            let (a, b) = (share(&s, 0, &x), share(&s, 1, &y));
            let p = CrypTensor::Public(y.clone());
            Ok(vec![
                a.reshape(&[6, 4])?.reveal()?,
                a.transpose(0, 2)?.reveal()?,
                a.permute(&[1, 2, 0])?.reveal()?,
                a.unsqueeze(1)?.squeeze(1)?.reveal()?,
                a.narrow(2, 1, 2)?.reveal()?,
                a.slice(1, 0, 3, 2)?.reveal()?,
                a.index_select(2, &[3, 0, 0])?.reveal()?,
                a.flip(&[0, 2])?.reveal()?,
                a.pad(&[(0, 0), (1, 1), (2, 0)])?.reveal()?,
                CrypTensor::concat(&[&a, &b, &p], 1)?.reveal()?,
                CrypTensor::stack(&[&a, &p], 0)?.reveal()?,
                a.t()?.reveal()?,
                a.flatten()?.reveal()?,
            ])
        })
        .unwrap();
        let o = agreed_vec(out);
        let want = vec![
            x.reshape(&[6, 4]).unwrap(),
            x.transpose(0, 2).unwrap(),
            x.permute(&[1, 2, 0]).unwrap(),
            x.clone(),
            x.narrow(2, 1, 2).unwrap(),
            x.slice(1, 0, 3, 2).unwrap(),
            x.index_select(2, &[3, 0, 0]).unwrap(),
            x.flip(&[0, 2]).unwrap(),
            x.pad(&[(0, 0), (1, 1), (2, 0)], 0).unwrap(),
            RingTensor::concat(&[&x, &y, &y], 1).unwrap(),
            RingTensor::stack(&[&x, &y], 0).unwrap(),
            x.t().unwrap(),
            x.flatten(),
        ];
        assert_eq!(o, want, "n={n}");
    }
}

#[test]
fn reveal_to_one_party_gives_none_elsewhere() {
    for n in PARTY_COUNTS {
        let x = int_tensor(50, &[5], 1000);
        let out = run_local(n, cfg(7), |s| share(&s, 0, &x).reveal_to(n - 1)).unwrap();
        for (p, r) in out.iter().enumerate() {
            if p == n - 1 {
                assert_eq!(r.as_ref(), Some(&x));
            } else {
                assert!(r.is_none());
            }
        }
    }
}

#[test]
fn public_operands_that_broadcast_up_and_real_scalars_on_integers() {
    for n in PARTY_COUNTS {
        let x = fixed(60, &[3], 1 << 20);
        let big = fixed(61, &[2, 3], 1 << 20);
        let ints = int_tensor(62, &[4], 1000);
        let out = run_local(n, cfg(8), |s| {
            let a = share(&s, 0, &x);
            let p = CrypTensor::Public(big.clone());
            Ok(vec![
                a.add(&p)?.reveal()?,
                p.sub(&a)?.reveal()?,
                a.sub(&p)?.reveal()?,
                share(&s, 1, &ints).mul_f64(0.3)?.reveal()?,
            ])
        })
        .unwrap();
        let o = agreed_vec(out);
        assert_eq!(o[0], x.add(&big).unwrap(), "n={n}");
        assert_eq!(o[1], big.sub(&x).unwrap(), "n={n}");
        assert_eq!(o[2], x.sub(&big).unwrap(), "n={n}");
        // an integer times a real is a fixed-point tensor; plaintext and private agree
        assert_eq!(o[3].frac_bits(), 16);
        assert_within_one_ulp(&o[3], &ints.mul_f64(0.3).unwrap(), "int * 0.3");
        for (g, i) in o[3].to_f64().iter().zip(ints.to_i64()) {
            assert!(
                (g - 0.3 * i as f64).abs() < 1000.0 * 2f64.powi(-16),
                "{g} vs {}",
                0.3 * i as f64
            );
        }
    }
}
