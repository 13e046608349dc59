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

use std::cell::OnceCell;
use std::fmt;

use tensor::{Conv2dParams, RingTensor};

use crate::error::{Error, Result};
use crate::provider::TupleRequest;
use crate::session::Session;
use crate::share::Share;

use super::{exchange_sum, try_build_frame};

/// Opens `x - a` and `y - b` in one round, building the frame straight from the operands,
/// and returns the opened `(e, f)` at the operands' scales.
fn open_masked(
    session: &Session,
    x: &RingTensor,
    a: &RingTensor,
    y: &RingTensor,
    b: &RingTensor,
) -> Result<(RingTensor, RingTensor)> {
    let nx = x.numel();
    let peers = exchange_sum(session, masked_frame(x, a, y, b)?, "beaver open")?;
    let peers = peers.words();
    Ok((x.unmask(a, &peers[..nx])?, y.unmask(b, &peers[nx..])?))
}

/// The frame of a Beaver opening: `x - a` then `y - b`, written straight from the operands.
fn masked_frame(x: &RingTensor, a: &RingTensor, y: &RingTensor, b: &RingTensor) -> Result<Vec<u8>> {
    let nx = x.numel();
    try_build_frame(nx + y.numel(), |w| {
        let (we, wf) = w.split_at_mut(nx);
        x.write_masked(a, we)?;
        y.write_masked(b, wf)
    })
    .map_err(Into::into)
}

/// Runs the Beaver protocol for a bilinear op whose triple is `req`; `acc_op(p, q, z)` adds
/// `op(p, q)` into `z`.
fn bilinear(
    session: &Session,
    req: TupleRequest,
    x: &Share,
    y: &Share,
    acc_op: impl Fn(&RingTensor, &RingTensor, &mut RingTensor) -> tensor::Result<()>,
) -> Result<Share> {
    let (x, y) = (x.ring(), y.ring());
    let [a, b, c]: [RingTensor; 3] = session
        .fetch(&req)?
        .try_into()
        .expect("fetch checks the slot count");
    let a = a.with_frac_bits(x.frac_bits());
    let b = b.with_frac_bits(y.frac_bits());
    let (e, f) = open_masked(session, x, &a, y, &b)?;
    let mut z = c.with_frac_bits(x.frac_bits() + y.frac_bits());
    acc_op(&e, y, &mut z)?;
    acc_op(&a, &f, &mut z)?;
    Ok(Share::new(z))
}

/// The fixed Beaver mask of a parameter (`CrypTensor::fix_mask`): its products use
/// [`TupleRequest::FixedB`] triples with the same `b`, so `y - b` is opened once, at the first
/// product, and kept here for the later ones.
pub struct FixedMask {
    /// The mask's number in its session.
    id: u64,
    /// `y - b`, once opened.
    opened: OnceCell<RingTensor>,
}

impl fmt::Debug for FixedMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedMask")
            .field("id", &self.id)
            .field("opened", &self.opened.get().is_some())
            .finish()
    }
}

impl FixedMask {
    /// The session's next mask.
    pub(crate) fn new(session: &Session) -> Self {
        Self {
            id: session.next_fixed_mask(),
            opened: OnceCell::new(),
        }
    }
}

/// [`bilinear`] with the right operand's mask fixed: opens `x - a` and, at the first product
/// only, `y - b`.
fn bilinear_fixed(
    session: &Session,
    base: TupleRequest,
    x: &Share,
    y: &Share,
    mask: &FixedMask,
    acc_op: impl Fn(&RingTensor, &RingTensor, &mut RingTensor) -> tensor::Result<()>,
) -> Result<Share> {
    let (x, y) = (x.ring(), y.ring());
    // Every party knows whether the mask is open (it opens at the same product for all).
    let opened = mask.opened.get();
    let req = TupleRequest::FixedB {
        base: Box::new(base),
        mask: mask.id,
        opened: opened.is_some(),
    };
    let tuple = session.fetch(&req)?;
    let (e, f, a, c) = match (opened, tuple) {
        (Some(f), tuple) => {
            if f.shape() != y.shape() || f.frac_bits() != y.frac_bits() {
                return Err(Error::InvalidArgument {
                    op: "fixed-mask product",
                    reason: format!(
                        "the mask was opened for shape {:?} at scale {}, the operand is {:?} at {}",
                        f.shape(),
                        f.frac_bits(),
                        y.shape(),
                        y.frac_bits()
                    ),
                });
            }
            let [a, c]: [RingTensor; 2] = tuple.try_into().expect("fetch checks the slot count");
            let a = a.with_frac_bits(x.frac_bits());
            let nx = x.numel();
            let frame = try_build_frame(nx, |w| x.write_masked(&a, w))?;
            let peers = exchange_sum(session, frame, "beaver open")?;
            (x.unmask(&a, &peers.words())?, f, a, c)
        }
        (None, tuple) => {
            let [a, b, c]: [RingTensor; 3] = tuple.try_into().expect("fetch checks the slot count");
            let a = a.with_frac_bits(x.frac_bits());
            let b = b.with_frac_bits(y.frac_bits());
            let (e, f) = open_masked(session, x, &a, y, &b)?;
            (e, mask.opened.get_or_init(|| f), a, c)
        }
    };
    let mut z = c.with_frac_bits(x.frac_bits() + y.frac_bits());
    acc_op(&e, y, &mut z)?;
    acc_op(&a, f, &mut z)?;
    Ok(Share::new(z))
}

/// [`matmul`] by a parameter with a fixed mask: one round of `8|x|` bytes to each peer, and
/// `8|y|` more at the parameter's first product.
///
/// # Errors
/// As [`matmul`].
///
/// # Security
/// As [`matmul`]; `y - b` is the same at every product, so opening it again would reveal
/// nothing either.
pub fn matmul_fixed(session: &Session, x: &Share, y: &Share, mask: &FixedMask) -> Result<Share> {
    tensor::shape::matmul_shape(x.shape(), y.shape())?;
    let req = TupleRequest::Matmul {
        a: x.shape().to_vec(),
        b: y.shape().to_vec(),
    };
    bilinear_fixed(session, req, x, y, mask, |p, q, z| p.matmul_acc(q, z))
}

/// [`conv2d`] by a weight with a fixed mask: one round of `8|x|` bytes to each peer, and
/// `8|w|` more at the weight's first product.
///
/// # Errors
/// As [`conv2d`].
///
/// # Security
/// As [`matmul_fixed`].
pub fn conv2d_fixed(
    session: &Session,
    x: &Share,
    w: &Share,
    params: &Conv2dParams,
    mask: &FixedMask,
) -> Result<Share> {
    params.output_shape(x.shape(), w.shape())?;
    let req = TupleRequest::Conv2d {
        x: x.shape().to_vec(),
        w: w.shape().to_vec(),
        params: *params,
    };
    bilinear_fixed(session, req, x, w, mask, |p, q, z| {
        z.add_assign(&p.conv2d_raw(q, params)?)
    })
}

/// Elementwise product of secrets `x` and `y` (with broadcasting). One round,
/// `8(|x|+|y|)` bytes to each peer.
///
/// # Errors
/// Shapes that do not broadcast, link failures, or a failing triple source.
///
/// # Security
/// Opens only `x - a` and `y - b`, masked by the dealer's uniform `a` and `b`, which reveals
/// nothing as long as the dealer colludes with no party.
pub fn mul(session: &Session, x: &Share, y: &Share) -> Result<Share> {
    let req = TupleRequest::Mul {
        a: x.shape().to_vec(),
        b: y.shape().to_vec(),
    };
    if x.shape() != y.shape() {
        return bilinear(session, req, x, y, |p, q, z| z.add_assign(&p.mul_raw(q)?));
    }
    // Same shapes: the hot path. The opening is written straight into the frame, and the
    // result is computed in one fused pass that re-derives this party's e and f.
    let (x, y) = (x.ring(), y.ring());
    let [a, b, c]: [RingTensor; 3] = session
        .fetch(&req)?
        .try_into()
        .expect("fetch checks the slot count");
    let peers = exchange_sum(session, masked_frame(x, &a, y, &b)?, "beaver open")?;
    let peers = peers.words();
    let (pe, pf) = peers.split_at(x.numel());
    Ok(Share::new(c.beaver_mul_combine(x, &a, y, &b, pe, pf)?))
}

/// Matrix product of secrets (PyTorch matmul shapes). One round, `8(|x|+|y|)` bytes to each
/// peer, two local GEMMs per party.
///
/// # Errors
/// Shapes that do not fit, link failures, or a failing triple source.
///
/// # Security
/// Opens only `x - a` and `y - b`, masked by the dealer's uniform `a` and `b`, which reveals
/// nothing as long as the dealer colludes with no party.
pub fn matmul(session: &Session, x: &Share, y: &Share) -> Result<Share> {
    tensor::shape::matmul_shape(x.shape(), y.shape())?;
    let req = TupleRequest::Matmul {
        a: x.shape().to_vec(),
        b: y.shape().to_vec(),
    };
    bilinear(session, req, x, y, |p, q, z| p.matmul_acc(q, z))
}

/// 2-D convolution of a secret input by a secret weight. One round, `8(|x|+|w|)` bytes to
/// each peer, two local convolutions per party.
///
/// # Errors
/// Shapes that do not fit, link failures, or a failing triple source.
///
/// # Security
/// Opens only `x - a` and `y - b`, masked by the dealer's uniform `a` and `b`, which reveals
/// nothing as long as the dealer colludes with no party.
pub fn conv2d(session: &Session, x: &Share, w: &Share, params: &Conv2dParams) -> Result<Share> {
    params.output_shape(x.shape(), w.shape())?;
    let req = TupleRequest::Conv2d {
        x: x.shape().to_vec(),
        w: w.shape().to_vec(),
        params: *params,
    };
    bilinear(session, req, x, w, |p, q, z| {
        z.add_assign(&p.conv2d_raw(q, params)?)
    })
}

/// Elementwise square with a square pair `(r, r²)`: open `e = x - r`, then
/// `z_i = r²_i + 2e·r_i + [i=0] e²`. One round, `8|x|` bytes to each peer.
///
/// # Errors
/// Link failures or a failing triple source.
///
/// # Security
/// Opens only `x - r`, masked by the dealer's uniform `r`.
pub fn square(session: &Session, x: &Share) -> Result<Share> {
    let x = x.ring();
    let req = TupleRequest::Square {
        shape: x.shape().to_vec(),
    };
    let [r, r2]: [RingTensor; 2] = session
        .fetch(&req)?
        .try_into()
        .expect("fetch checks the slot count");
    let frame = try_build_frame(x.numel(), |w| x.write_masked(&r, w))?;
    let peers = exchange_sum(session, frame, "square open")?;
    let lead = session.party() == 0;
    Ok(Share::new(r2.square_combine(
        x,
        &r,
        &peers.words(),
        lead,
    )?))
}
