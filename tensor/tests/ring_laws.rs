//! Ring laws and shape identities of [`RingTensor`], checked with proptest against an oracle
//! that works elementwise on `std::num::Wrapping<u64>` with its own index arithmetic (it never
//! calls the library's broadcasting, reductions or kernels).
//!
//! Randomness is seeded with [`SEED`] so that a failure reproduces; set `PROPTEST_RNG_SEED`
//! to explore other seeds.

use std::num::Wrapping;

mod common;

use proptest::prelude::*;
use tensor::RingTensor;

/// The fixed seed of every property in this file (unless `PROPTEST_RNG_SEED` overrides it).
const SEED: u64 = 0x756d_6272_615f_726c;

fn config(cases: u32) -> ProptestConfig {
    common::seeded(cases, SEED)
}

type W = Wrapping<u64>;

// ------------------------------------------------------------------------------ strategies

/// Ring elements, with the values where wrap-around bites (0, ±1, ±2, 2^63, 2^63 - 1)
/// over-represented.
fn element() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => any::<u64>(),
        1 => prop::sample::select(vec![
            0,
            1,
            2,
            u64::MAX,
            u64::MAX - 1,
            1 << 63,
            (1 << 63) - 1,
        ]),
        1 => (-8i64..8).prop_map(|v| v as u64),
    ]
}

/// A shape of rank `0..=max_rank` with dimensions `1..=max_dim`.
fn shape(max_rank: usize, max_dim: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1..=max_dim, 0..=max_rank)
}

/// A tensor of the given shape and scale filled with [`element`]s.
fn tensor_of(shape: Vec<usize>, frac_bits: u32) -> impl Strategy<Value = RingTensor> {
    let n: usize = shape.iter().product();
    prop::collection::vec(element(), n)
        .prop_map(move |data| RingTensor::from_raw(&shape, data, frac_bits).unwrap())
}

/// A shape that broadcasts to `out`: some leading dimensions dropped, some others set to 1.
fn broadcastable_to(out: Vec<usize>) -> impl Strategy<Value = Vec<usize>> {
    let rank = out.len();
    (0..=rank, prop::collection::vec(any::<bool>(), rank)).prop_map(move |(drop, ones)| {
        out[drop..]
            .iter()
            .zip(&ones[drop..])
            .map(|(&d, &one)| if one { 1 } else { d })
            .collect()
    })
}

/// Three tensors of one random shape at scale `frac_bits`.
fn same_shape_triples(
    frac_bits: u32,
) -> impl Strategy<Value = (RingTensor, RingTensor, RingTensor)> {
    shape(3, 5).prop_flat_map(move |s| {
        (
            tensor_of(s.clone(), frac_bits),
            tensor_of(s.clone(), frac_bits),
            tensor_of(s, frac_bits),
        )
    })
}

/// Three tensors at scale `frac_bits` whose shapes differ but broadcast together.
fn broadcasting_triples(
    frac_bits: u32,
) -> impl Strategy<Value = (RingTensor, RingTensor, RingTensor)> {
    shape(4, 4)
        .prop_flat_map(|out| {
            (
                broadcastable_to(out.clone()),
                broadcastable_to(out.clone()),
                broadcastable_to(out),
            )
        })
        .prop_flat_map(move |(sa, sb, sc)| {
            (
                tensor_of(sa, frac_bits),
                tensor_of(sb, frac_bits),
                tensor_of(sc, frac_bits),
            )
        })
}

/// Vectors of one length `1..=64`, as plain integers.
fn integer_vector_triples() -> impl Strategy<Value = (RingTensor, RingTensor, RingTensor)> {
    (1usize..=64).prop_flat_map(|n| {
        (
            tensor_of(vec![n], 0),
            tensor_of(vec![n], 0),
            tensor_of(vec![n], 0),
        )
    })
}

// ---------------------------------------------------------------------------------- oracle

/// Row-major multi-index of flat offset `flat` in `shape`.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (i, &d) in shape.iter().enumerate().rev() {
        idx[i] = flat % d;
        flat /= d;
    }
    idx
}

/// Row-major flat offset of the multi-index `idx` in `shape`.
fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
}

/// The flat offset in a tensor of shape `src` that broadcasting reads for output index `idx`
/// (trailing dimensions aligned, size-1 dimensions repeated).
fn broadcast_source(idx: &[usize], src: &[usize]) -> usize {
    let lead = idx.len() - src.len();
    let src_idx: Vec<usize> = src
        .iter()
        .enumerate()
        .map(|(i, &d)| if d == 1 { 0 } else { idx[lead + i] })
        .collect();
    ravel(&src_idx, src)
}

/// The NumPy broadcast of two shapes, or `None`.
fn broadcast_oracle(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let pad = |s: &[usize]| {
        let mut p = vec![1; rank - s.len()];
        p.extend_from_slice(s);
        p
    };
    pad(a)
        .into_iter()
        .zip(pad(b))
        .map(|(x, y)| match (x, y) {
            _ if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// Elementwise `f` with broadcasting, computed on `Wrapping<u64>`: (shape, raw elements).
fn zip_oracle(a: &RingTensor, b: &RingTensor, f: impl Fn(W, W) -> W) -> (Vec<usize>, Vec<u64>) {
    let out = broadcast_oracle(a.shape(), b.shape()).expect("shapes broadcast");
    let n: usize = out.iter().product();
    let data = (0..n)
        .map(|flat| {
            let idx = unravel(flat, &out);
            let x = Wrapping(a.as_slice()[broadcast_source(&idx, a.shape())]);
            let y = Wrapping(b.as_slice()[broadcast_source(&idx, b.shape())]);
            f(x, y).0
        })
        .collect();
    (out, data)
}

/// Asserts that `got` has shape `shape`, scale `frac_bits` and raw elements `data`.
fn assert_tensor(
    got: &RingTensor,
    shape: &[usize],
    frac_bits: u32,
    data: &[u64],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.shape(), shape);
    prop_assert_eq!(got.frac_bits(), frac_bits);
    prop_assert_eq!(got.as_slice(), data);
    Ok(())
}

// ------------------------------------------------------------------------------- ring laws

/// Runs the commutative-ring laws of (`add`, `neg`, `mul_raw`) and the `Wrapping<u64>` oracle
/// on every `(a, b, c)` that the strategy yields (all at one scale, shapes that broadcast).
macro_rules! ring_laws {
    ($($family:ident: $triples:expr;)+) => {$(
        mod $family {
            use super::*;

            proptest! {
                #![proptest_config(config(96))]

                #[test]
                fn add_is_commutative((a, b, _c) in $triples) {
                    prop_assert_eq!(a.add(&b).unwrap(), b.add(&a).unwrap());
                }

                #[test]
                fn add_is_associative((a, b, c) in $triples) {
                    let left = a.add(&b).unwrap().add(&c).unwrap();
                    let right = a.add(&b.add(&c).unwrap()).unwrap();
                    prop_assert_eq!(left, right);
                }

                #[test]
                fn mul_raw_is_commutative((a, b, _c) in $triples) {
                    prop_assert_eq!(a.mul_raw(&b).unwrap(), b.mul_raw(&a).unwrap());
                }

                #[test]
                fn mul_raw_is_associative((a, b, c) in $triples) {
                    let left = a.mul_raw(&b).unwrap().mul_raw(&c).unwrap();
                    let right = a.mul_raw(&b.mul_raw(&c).unwrap()).unwrap();
                    prop_assert_eq!(left, right);
                }

                #[test]
                fn mul_raw_distributes_over_add((a, b, c) in $triples) {
                    let bc = b.add(&c).unwrap();
                    let ab_ac = a.mul_raw(&b).unwrap().add(&a.mul_raw(&c).unwrap()).unwrap();
                    prop_assert_eq!(a.mul_raw(&bc).unwrap(), ab_ac.clone());
                    // and from the right, which takes the other operand order in zip_map
                    let ba_ca = b.mul_raw(&a).unwrap().add(&c.mul_raw(&a).unwrap()).unwrap();
                    prop_assert_eq!(bc.mul_raw(&a).unwrap(), ba_ca);
                }

                #[test]
                fn zero_is_the_additive_identity((a, _b, _c) in $triples) {
                    let f = a.frac_bits();
                    let zeros = RingTensor::zeros(a.shape(), f);
                    prop_assert_eq!(a.add(&zeros).unwrap(), a.clone());
                    prop_assert_eq!(zeros.add(&a).unwrap(), a.clone());
                    // a broadcast scalar zero too
                    prop_assert_eq!(a.add(&RingTensor::scalar_raw(0, f)).unwrap(), a.clone());
                }

                #[test]
                fn adding_the_negation_gives_zero((a, _b, _c) in $triples) {
                    let zeros = RingTensor::zeros(a.shape(), a.frac_bits());
                    prop_assert_eq!(a.add(&a.neg()).unwrap(), zeros.clone());
                    prop_assert_eq!(a.neg().add(&a).unwrap(), zeros);
                    prop_assert_eq!(a.neg().neg(), a);
                }

                #[test]
                fn sub_is_adding_the_negation((a, b, _c) in $triples) {
                    prop_assert_eq!(a.sub(&b).unwrap(), a.add(&b.neg()).unwrap());
                }

                #[test]
                fn one_is_the_multiplicative_identity((a, _b, _c) in $triples) {
                    // an integer one keeps the scale: f + 0
                    let ones = RingTensor::full_raw(a.shape(), 1, 0);
                    prop_assert_eq!(a.mul_raw(&ones).unwrap(), a.clone());
                    prop_assert_eq!(RingTensor::scalar_raw(1, 0).mul_raw(&a).unwrap(), a);
                }

                #[test]
                fn arithmetic_matches_wrapping_u64((a, b, _c) in $triples) {
                    let f = a.frac_bits();
                    let (s, sum) = zip_oracle(&a, &b, |x, y| x + y);
                    assert_tensor(&a.add(&b).unwrap(), &s, f, &sum)?;
                    let (s, diff) = zip_oracle(&a, &b, |x, y| x - y);
                    assert_tensor(&a.sub(&b).unwrap(), &s, f, &diff)?;
                    let (s, prod) = zip_oracle(&a, &b, |x, y| x * y);
                    assert_tensor(&a.mul_raw(&b).unwrap(), &s, 2 * f, &prod)?;
                    let neg: Vec<u64> = a.as_slice().iter().map(|&x| (-Wrapping(x)).0).collect();
                    assert_tensor(&a.neg(), a.shape(), f, &neg)?;
                }
            }
        }
    )+};
}

ring_laws! {
    integer_vectors: integer_vector_triples();
    fixed_point_tensors: same_shape_triples(16);
    broadcast_integer_tensors: broadcasting_triples(0);
    broadcast_fixed_point_tensors: broadcasting_triples(20);
}

// -------------------------------------------------------------------------------- matmul

/// `[batch.., m, k] · [batch.., k, n]` by the definition, on `Wrapping<u64>`, with the batch
/// dimensions of `a` and `b` broadcast to `batch`.
fn naive_matmul(a: &RingTensor, b: &RingTensor, batch: &[usize]) -> Vec<u64> {
    let (ra, rb) = (a.rank(), b.rank());
    let (m, k, n) = (a.shape()[ra - 2], a.shape()[ra - 1], b.shape()[rb - 1]);
    let (a_batch, b_batch) = (&a.shape()[..ra - 2], &b.shape()[..rb - 2]);
    let nb: usize = batch.iter().product();
    let mut out = Vec::with_capacity(nb * m * n);
    for i in 0..nb {
        let idx = unravel(i, batch);
        let ao = broadcast_source(&idx, a_batch) * m * k;
        let bo = broadcast_source(&idx, b_batch) * k * n;
        for r in 0..m {
            for c in 0..n {
                let mut acc = Wrapping(0u64);
                for p in 0..k {
                    acc += Wrapping(a.as_slice()[ao + r * k + p])
                        * Wrapping(b.as_slice()[bo + p * n + c]);
                }
                out.push(acc.0);
            }
        }
    }
    out
}

/// `(a, b, batch)`: `[.., m, k]` and `[.., k, n]` with `m, k, n` in `1..12` and batch
/// dimensions (rank 0 to 2) that broadcast, some of them 1 or missing on one side.
fn batched_matmul_operands() -> impl Strategy<Value = (RingTensor, RingTensor, Vec<usize>)> {
    (1usize..12, 1usize..12, 1usize..12, shape(2, 3))
        .prop_flat_map(|(m, k, n, batch)| {
            (
                Just((m, k, n)),
                broadcastable_to(batch.clone()),
                broadcastable_to(batch),
            )
        })
        .prop_flat_map(|((m, k, n), ba, bb)| {
            let mut sa = ba.clone();
            sa.extend([m, k]);
            let mut sb = bb.clone();
            sb.extend([k, n]);
            let batch = broadcast_oracle(&ba, &bb).unwrap();
            (tensor_of(sa, 0), tensor_of(sb, 0), Just(batch))
        })
}

/// Three chainable matrices `[m, k]`, `[k, l]`, `[l, n]` with dimensions in `1..7`.
fn matrix_chain() -> impl Strategy<Value = (RingTensor, RingTensor, RingTensor)> {
    (1usize..7, 1usize..7, 1usize..7, 1usize..7).prop_flat_map(|(m, k, l, n)| {
        (
            tensor_of(vec![m, k], 0),
            tensor_of(vec![k, l], 0),
            tensor_of(vec![l, n], 0),
        )
    })
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn matmul_raw_matches_a_naive_triple_loop((a, b, batch) in batched_matmul_operands()) {
        let got = a.matmul_raw(&b).unwrap();
        let mut shape = batch.clone();
        shape.extend([a.shape()[a.rank() - 2], b.shape()[b.rank() - 1]]);
        assert_tensor(&got, &shape, 0, &naive_matmul(&a, &b, &batch))?;
    }

    #[test]
    fn matmul_raw_adds_the_scales_and_promotes_vectors(
        (a, b) in (1usize..12, 1usize..12, 1usize..12).prop_flat_map(|(m, k, n)| {
            (tensor_of(vec![m, k], 16), tensor_of(vec![k, n], 8))
        })
    ) {
        let (m, k, n) = (a.shape()[0], a.shape()[1], b.shape()[1]);
        let full = naive_matmul(&a, &b, &[]);
        assert_tensor(&a.matmul_raw(&b).unwrap(), &[m, n], 24, &full)?;
        // [k] · [k, n] -> [n]: the first row of a as a vector
        let row = a.narrow(0, 0, 1).unwrap().reshape(&[k]).unwrap();
        assert_tensor(&row.matmul_raw(&b).unwrap(), &[n], 24, &full[..n])?;
        // [m, k] · [k] -> [m]: the first column of b as a vector
        let col = b.narrow(1, 0, 1).unwrap().reshape(&[k]).unwrap();
        let first_col: Vec<u64> = (0..m).map(|r| full[r * n]).collect();
        assert_tensor(&a.matmul_raw(&col).unwrap(), &[m], 24, &first_col)?;
        // [k] · [k] -> []: a dot product
        assert_tensor(&row.matmul_raw(&col).unwrap(), &[], 24, &full[..1])?;
    }

    #[test]
    fn matmul_raw_is_associative((a, b, c) in matrix_chain()) {
        let left = a.matmul_raw(&b).unwrap().matmul_raw(&c).unwrap();
        let right = a.matmul_raw(&b.matmul_raw(&c).unwrap()).unwrap();
        prop_assert_eq!(left, right);
    }

    #[test]
    fn matmul_raw_is_bilinear(
        (a, b, c, d) in (1usize..7, 1usize..7, 1usize..7).prop_flat_map(|(m, k, n)| {
            (
                tensor_of(vec![m, k], 0),
                tensor_of(vec![m, k], 0),
                tensor_of(vec![k, n], 0),
                tensor_of(vec![k, n], 0),
            )
        }),
        s in element(),
    ) {
        // linear in the right operand
        let left = a.matmul_raw(&c.add(&d).unwrap()).unwrap();
        let right = a.matmul_raw(&c).unwrap().add(&a.matmul_raw(&d).unwrap()).unwrap();
        prop_assert_eq!(left, right);
        // linear in the left operand
        let left = a.add(&b).unwrap().matmul_raw(&c).unwrap();
        let right = a.matmul_raw(&c).unwrap().add(&b.matmul_raw(&c).unwrap()).unwrap();
        prop_assert_eq!(left, right);
        // scalars move through
        let ac = a.matmul_raw(&c).unwrap();
        prop_assert_eq!(a.mul_scalar_raw(s).matmul_raw(&c).unwrap(), ac.mul_scalar_raw(s));
        prop_assert_eq!(a.matmul_raw(&c.mul_scalar_raw(s)).unwrap(), ac.mul_scalar_raw(s));
    }

    #[test]
    fn matmul_raw_transposes_as_the_reversed_product((a, b, _c) in matrix_chain()) {
        let ab_t = a.matmul_raw(&b).unwrap().t().unwrap();
        prop_assert_eq!(ab_t, b.t().unwrap().matmul_raw(&a.t().unwrap()).unwrap());
    }
}

proptest! {
    #![proptest_config(config(12))]

    /// Shapes large enough to cross the kernel's register tiles and cache blocks.
    #[test]
    fn matmul_raw_matches_a_naive_loop_on_larger_shapes(
        (a, b) in (1usize..48, 1usize..80, 1usize..48).prop_flat_map(|(m, k, n)| {
            (tensor_of(vec![2, m, k], 0), tensor_of(vec![k, n], 0))
        })
    ) {
        let (m, n) = (a.shape()[1], b.shape()[1]);
        let b3 = b.unsqueeze(0).unwrap();
        assert_tensor(&a.matmul_raw(&b).unwrap(), &[2, m, n], 0, &naive_matmul(&a, &b3, &[2]))?;
    }
}

// ----------------------------------------------------------------------------- shape ops

/// A tensor of rank `1..=4` with dimensions `1..=4` at a random scale.
fn any_tensor() -> impl Strategy<Value = RingTensor> {
    (
        prop::collection::vec(1usize..=4, 1..=4),
        prop::sample::select(vec![0u32, 16]),
    )
        .prop_flat_map(|(s, f)| tensor_of(s, f))
}

/// A tensor with two of its dimensions (possibly equal).
fn tensor_and_two_dims() -> impl Strategy<Value = (RingTensor, usize, usize)> {
    any_tensor().prop_flat_map(|t| {
        let r = t.rank();
        (Just(t), 0..r, 0..r)
    })
}

/// A tensor with a permutation of its dimensions.
fn tensor_and_permutation() -> impl Strategy<Value = (RingTensor, Vec<usize>)> {
    any_tensor().prop_flat_map(|t| {
        let perm: Vec<usize> = (0..t.rank()).collect();
        (Just(t), Just(perm).prop_shuffle())
    })
}

/// A tensor with a subset of its dimensions (in random order).
fn tensor_and_dim_subset() -> impl Strategy<Value = (RingTensor, Vec<usize>)> {
    any_tensor().prop_flat_map(|t| {
        let dims: Vec<usize> = (0..t.rank()).collect();
        let r = t.rank();
        (
            Just(t),
            prop::sample::subsequence(dims, 0..=r).prop_shuffle(),
        )
    })
}

/// Up to four tensors that differ only in the size (0 to 3) of dimension `dim`.
fn concat_parts() -> impl Strategy<Value = (Vec<RingTensor>, usize)> {
    prop::collection::vec(1usize..=3, 1..=3)
        .prop_flat_map(|base| {
            let r = base.len();
            (Just(base), 0..r, prop::collection::vec(0usize..=3, 1..=4))
        })
        .prop_flat_map(|(base, dim, lens)| {
            let parts: Vec<_> = lens
                .into_iter()
                .map(|len| {
                    let mut s = base.clone();
                    s[dim] = len;
                    tensor_of(s, 16)
                })
                .collect();
            (parts, Just(dim))
        })
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn transpose_moves_elements_and_twice_is_identity((t, d0, d1) in tensor_and_two_dims()) {
        let tt = t.transpose(d0, d1).unwrap();
        let mut shape = t.shape().to_vec();
        shape.swap(d0, d1);
        prop_assert_eq!(tt.shape(), shape.as_slice());
        prop_assert_eq!(tt.frac_bits(), t.frac_bits());
        for (flat, &v) in tt.as_slice().iter().enumerate() {
            let mut idx = unravel(flat, &shape);
            idx.swap(d0, d1);
            prop_assert_eq!(v, t.as_slice()[ravel(&idx, t.shape())]);
        }
        prop_assert_eq!(tt.transpose(d0, d1).unwrap(), t.clone());
        prop_assert!(t.transpose(d0, t.rank()).is_err());
    }

    #[test]
    fn permute_moves_elements_and_the_inverse_permutation_undoes_it(
        (t, perm) in tensor_and_permutation()
    ) {
        let p = t.permute(&perm).unwrap();
        let shape: Vec<usize> = perm.iter().map(|&d| t.shape()[d]).collect();
        prop_assert_eq!(p.shape(), shape.as_slice());
        for (flat, &v) in p.as_slice().iter().enumerate() {
            let out_idx = unravel(flat, &shape);
            let mut src = vec![0; t.rank()];
            for (i, &d) in perm.iter().enumerate() {
                src[d] = out_idx[i];
            }
            prop_assert_eq!(v, t.as_slice()[ravel(&src, t.shape())]);
        }
        let mut inverse = vec![0; perm.len()];
        for (i, &d) in perm.iter().enumerate() {
            inverse[d] = i;
        }
        prop_assert_eq!(p.permute(&inverse).unwrap(), t);
    }

    #[test]
    fn reshape_keeps_row_major_order_and_round_trips(t in any_tensor(), split in 1usize..=4) {
        let n = t.numel();
        let flat = t.reshape(&[n]).unwrap();
        prop_assert_eq!(flat.as_slice(), t.as_slice());
        prop_assert_eq!(&flat, &t.flatten());
        let other: Vec<usize> = if n % split == 0 { vec![split, 1, n / split] } else { vec![1, n] };
        let back = t.reshape(&other).unwrap().reshape(t.shape()).unwrap();
        prop_assert_eq!(back, t.clone());
        prop_assert!(t.reshape(&[n + 1]).is_err());
    }

    #[test]
    fn concat_then_narrow_recovers_the_parts((parts, dim) in concat_parts()) {
        let refs: Vec<&RingTensor> = parts.iter().collect();
        let joined = RingTensor::concat(&refs, dim).unwrap();
        let total: usize = parts.iter().map(|p| p.shape()[dim]).sum();
        prop_assert_eq!(joined.shape()[dim], total);
        prop_assert_eq!(joined.numel(), parts.iter().map(RingTensor::numel).sum::<usize>());
        let mut start = 0;
        for p in &parts {
            let len = p.shape()[dim];
            prop_assert_eq!(&joined.narrow(dim, start, len).unwrap(), p);
            start += len;
        }
        prop_assert!(joined.narrow(dim, start, 1).is_err());
    }

    #[test]
    fn flip_reverses_elements_and_twice_is_identity((t, dims) in tensor_and_dim_subset()) {
        let f = t.flip(&dims).unwrap();
        prop_assert_eq!(f.shape(), t.shape());
        for (flat, &v) in f.as_slice().iter().enumerate() {
            let mut idx = unravel(flat, t.shape());
            for &d in &dims {
                idx[d] = t.shape()[d] - 1 - idx[d];
            }
            prop_assert_eq!(v, t.as_slice()[ravel(&idx, t.shape())]);
        }
        prop_assert_eq!(f.flip(&dims).unwrap(), t);
    }

    #[test]
    fn sum_over_all_dims_equals_the_wrapping_sum(t in any_tensor()) {
        let total: W = t.as_slice().iter().map(|&v| Wrapping(v)).sum();
        assert_tensor(&t.sum(&[], false).unwrap(), &[], t.frac_bits(), &[total.0])?;
        let all: Vec<usize> = (0..t.rank()).rev().collect();
        assert_tensor(&t.sum(&all, false).unwrap(), &[], t.frac_bits(), &[total.0])?;
        let ones = vec![1; t.rank()];
        assert_tensor(&t.sum(&[], true).unwrap(), &ones, t.frac_bits(), &[total.0])?;
    }

    #[test]
    fn sum_over_some_dims_equals_the_wrapping_sum((t, dims) in tensor_and_dim_subset()) {
        let keep_shape: Vec<usize> = t
            .shape()
            .iter()
            .enumerate()
            .map(|(i, &d)| if dims.contains(&i) { 1 } else { d })
            .collect();
        let mut want = vec![Wrapping(0u64); keep_shape.iter().product()];
        for (flat, &v) in t.as_slice().iter().enumerate() {
            let idx = unravel(flat, t.shape());
            want[broadcast_source(&idx, &keep_shape)] += Wrapping(v);
        }
        let want: Vec<u64> = want.into_iter().map(|w| w.0).collect();
        let f = t.frac_bits();
        if dims.is_empty() {
            // empty means "all dimensions"
            prop_assert_eq!(t.sum(&dims, true).unwrap().numel(), 1);
        } else {
            assert_tensor(&t.sum(&dims, true).unwrap(), &keep_shape, f, &want)?;
            let dropped: Vec<usize> = (0..t.rank())
                .filter(|i| !dims.contains(i))
                .map(|i| t.shape()[i])
                .collect();
            assert_tensor(&t.sum(&dims, false).unwrap(), &dropped, f, &want)?;
        }
    }
}

// --------------------------------------------------------------------------- broadcasting

/// Two tensors whose shapes broadcast to a common shape (ranks and sizes may differ).
fn broadcasting_pair() -> impl Strategy<Value = (RingTensor, RingTensor)> {
    shape(4, 4)
        .prop_flat_map(|out| (broadcastable_to(out.clone()), broadcastable_to(out)))
        .prop_flat_map(|(sa, sb)| (tensor_of(sa, 16), tensor_of(sb, 16)))
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn broadcasting_add_equals_materialised_broadcast_then_add((a, b) in broadcasting_pair()) {
        let out = broadcast_oracle(a.shape(), b.shape()).unwrap();
        let (fa, fb) = (a.broadcast_to(&out).unwrap(), b.broadcast_to(&out).unwrap());
        prop_assert_eq!(fa.shape(), out.as_slice());
        prop_assert_eq!(a.add(&b).unwrap(), fa.add(&fb).unwrap());
        prop_assert_eq!(a.sub(&b).unwrap(), fa.sub(&fb).unwrap());
        prop_assert_eq!(a.mul_raw(&b).unwrap(), fa.mul_raw(&fb).unwrap());
        // and the materialised broadcast reads the elements the oracle says it does
        let zero = RingTensor::zeros(&out, 16);
        let (_, want) = zip_oracle(&a, &zero, |x, _| x);
        prop_assert_eq!(fa.as_slice(), want.as_slice());
    }

    #[test]
    fn shapes_that_do_not_broadcast_are_refused(
        t in any_tensor(),
        dim in 0usize..4,
        extra in 2usize..4,
    ) {
        let dim = dim % t.rank();
        let mut bad = t.shape().to_vec();
        // a size that is neither 1 nor the tensor's own
        bad[dim] = if t.shape()[dim] == 1 { extra } else { t.shape()[dim] + extra - 1 };
        if t.shape()[dim] != 1 {
            let other = RingTensor::zeros(&bad, t.frac_bits());
            prop_assert!(t.add(&other).is_err());
            prop_assert!(t.mul_raw(&other).is_err());
            prop_assert!(t.broadcast_to(&bad).is_err());
        } else {
            // a size-1 dimension broadcasts to anything
            let wide = t.broadcast_to(&bad).unwrap();
            prop_assert_eq!(wide.shape(), bad.as_slice());
        }
    }
}
