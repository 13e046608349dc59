//! Beaver-triple products (Beaver, "Efficient multiparty protocols using circuit
//! randomization", CRYPTO 1991), for elementwise products, matmuls and convolutions, plus
//! square pairs.
//!
//! With a triple `(a, b, c = a ∘ b)` shaped like the operands, the parties open `e = x - a` and
//! `f = y - b` together in one round. Then each party computes
//! `z_i = c_i + e ∘ y_i + a_i ∘ f`, which sums to `ab + (x-a)y + a(y-b) = xy`: two local
//! products per party (the textbook `c_i + e∘b_i + a_i∘f + [i=0] e∘f` needs three on party 0).
//!
//! Results are untruncated: their scale is the sum of the operands' scales. The caller rescales
//! with [`super::truncate`].

use tensor::{Conv2dParams, RingTensor};

use crate::error::Result;
use crate::provider::TupleRequest;
use crate::session::Session;

use super::{build_frame, exchange_sum, open_many};

/// Runs the Beaver protocol for the bilinear `op`, whose triple is `req`.
fn bilinear(
    session: &Session,
    req: TupleRequest,
    x: &RingTensor,
    y: &RingTensor,
    op: impl Fn(&RingTensor, &RingTensor) -> tensor::Result<RingTensor>,
) -> Result<RingTensor> {
    let mut t = session.fetch(&req)?.into_iter();
    let (a, b, c) = (
        t.next().expect("3 slots"),
        t.next().expect("3 slots"),
        t.next().expect("3 slots"),
    );
    let a = a.with_frac_bits(x.frac_bits());
    let b = b.with_frac_bits(y.frac_bits());
    let c = c.with_frac_bits(x.frac_bits() + y.frac_bits());
    let mut e = x.clone();
    e.sub_assign(&a)?;
    let mut f = y.clone();
    f.sub_assign(&b)?;
    let opened = open_many(session, &[&e, &f], "beaver open")?;
    let (e, f) = (&opened[0], &opened[1]);
    let mut z = c;
    z.add_assign(&op(e, y)?)?;
    z.add_assign(&op(&a, f)?)?;
    Ok(z)
}

/// Elementwise product of secrets `x` and `y` (with broadcasting). One round,
/// `8(|x|+|y|)` bytes to each peer.
///
/// # Errors
/// Shapes that do not broadcast, link failures, or a failing triple source.
pub fn mul(session: &Session, x: &RingTensor, y: &RingTensor) -> Result<RingTensor> {
    let req = TupleRequest::Mul {
        a: x.shape().to_vec(),
        b: y.shape().to_vec(),
    };
    if x.shape() != y.shape() {
        return bilinear(session, req, x, y, |p, q| p.mul_raw(q));
    }
    // Same shapes: the hot path. The opening is written straight into the frame, and the
    // result is computed in one fused pass that re-derives this party's e and f.
    let mut t = session.fetch(&req)?.into_iter();
    let (a, b, c) = (
        t.next().expect("3 slots"),
        t.next().expect("3 slots"),
        t.next().expect("3 slots"),
    );
    let n = x.numel();
    let (xs, ys, a_s, bs) = (x.as_slice(), y.as_slice(), a.as_slice(), b.as_slice());
    let frame = build_frame(2 * n, |w| {
        let (we, wf) = w.split_at_mut(n);
        for ((o, x), a) in we.iter_mut().zip(xs).zip(a_s) {
            *o = x.wrapping_sub(*a);
        }
        for ((o, y), b) in wf.iter_mut().zip(ys).zip(bs) {
            *o = y.wrapping_sub(*b);
        }
    });
    let peers = exchange_sum(session, frame, "beaver open")?;
    let peers = peers.words();
    let (pe, pf) = peers.split_at(n);
    let mut z = c.with_frac_bits(x.frac_bits() + y.frac_bits());
    let zs = z.as_mut_slice();
    for i in 0..n {
        let e = xs[i].wrapping_sub(a_s[i]).wrapping_add(pe[i]);
        let f = ys[i].wrapping_sub(bs[i]).wrapping_add(pf[i]);
        zs[i] = zs[i]
            .wrapping_add(e.wrapping_mul(ys[i]))
            .wrapping_add(a_s[i].wrapping_mul(f));
    }
    Ok(z)
}

/// Matrix product of secrets (PyTorch matmul shapes). One round, `8(|x|+|y|)` bytes to each
/// peer, two local GEMMs per party.
///
/// # Errors
/// Shapes that do not fit, link failures, or a failing triple source.
pub fn matmul(session: &Session, x: &RingTensor, y: &RingTensor) -> Result<RingTensor> {
    tensor::shape::matmul_shape(x.shape(), y.shape())?;
    let req = TupleRequest::Matmul {
        a: x.shape().to_vec(),
        b: y.shape().to_vec(),
    };
    bilinear(session, req, x, y, |p, q| p.matmul_raw(q))
}

/// 2-D convolution of a secret input by a secret weight. One round, `8(|x|+|w|)` bytes to
/// each peer, two local convolutions per party.
///
/// # Errors
/// Shapes that do not fit, link failures, or a failing triple source.
pub fn conv2d(
    session: &Session,
    x: &RingTensor,
    w: &RingTensor,
    params: &Conv2dParams,
) -> Result<RingTensor> {
    params.output_shape(x.shape(), w.shape())?;
    let req = TupleRequest::Conv2d {
        x: x.shape().to_vec(),
        w: w.shape().to_vec(),
        params: *params,
    };
    bilinear(session, req, x, w, |p, q| p.conv2d_raw(q, params))
}

/// Elementwise square with a square pair `(r, r²)`: open `e = x - r`, then
/// `z_i = r²_i + 2e·r_i + [i=0] e²`. One round, `8|x|` bytes to each peer.
///
/// # Errors
/// Link failures or a failing triple source.
pub fn square(session: &Session, x: &RingTensor) -> Result<RingTensor> {
    let mut t = session
        .fetch(&TupleRequest::Square {
            shape: x.shape().to_vec(),
        })?
        .into_iter();
    let (r, r2) = (t.next().expect("2 slots"), t.next().expect("2 slots"));
    let mut e = x.clone().with_frac_bits(0);
    e.sub_assign(&r)?;
    let e = open_many(session, &[&e], "square open")?.remove(0);
    let first = session.party() == 0;
    let mut z = r2;
    for ((z, e), r) in z
        .as_mut_slice()
        .iter_mut()
        .zip(e.as_slice())
        .zip(r.as_slice())
    {
        let mut v = z.wrapping_add(e.wrapping_mul(*r).wrapping_mul(2));
        if first {
            v = v.wrapping_add(e.wrapping_mul(*e));
        }
        *z = v;
    }
    Ok(z.with_frac_bits(2 * x.frac_bits()))
}
