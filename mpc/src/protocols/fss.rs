//! One-round comparisons from function secret sharing ([`crate::session::CompareMode::Fss`],
//! 2 parties with a dealer): the sign bit and ReLU of a secret from one opening of the
//! masked secret and a local evaluation of the dealer's DCF keys ([`crate::fss`]), the way
//! Orca and SIGMA compute them.
//!
//! The dealer draws a mask `r` (the sum of the parties' free slots) and gives the parties
//! keys of `f(y) = β·[y < r mod 2^63]` on 63-bit inputs, with `β = 1 - 2·msb(r)` (and, for
//! ReLU, `r·(1 - 2·msb(r))` as a second payload word), besides shares of `msb(r)` (and of
//! `r·msb(r)`). The parties open `x̂ = x + r` (one round, 8 bytes per element each way) and,
//! writing `m̂ = msb(x̂)`, `y = x̂ mod 2^63` and `c = [y < r mod 2^63]` (the borrow out of
//! the low 63 bits of `x̂ - r`):
//!
//! - `msb(x) = m̂ ⊕ msb(r) ⊕ c = m̂ ⊕ u` with `u = msb(r) + c·(1 - 2·msb(r))`, whose shares
//!   are the shares of `msb(r)` plus the key's first output word. A 0/1 value's additive
//!   shares have its XOR shares in their low bits, so the packed sign bits cost nothing more;
//! - `x·u = x̂·u - r·u`, with `[r·u] = [r·msb(r)]` plus the key's second word, so
//!   `x·msb(x) = m̂·x + (1 - 2·m̂)·x·u` and `relu(x) = x - x·msb(x)` without another round.
//!
//! Both are exact on the whole ring, as the circuit. A key alone is pseudo-random (the mask
//! and the payload hide in its correction words and the other party's root seed), so each
//! party learns only `x̂`, a uniformly masked value.

use tensor::RingTensor;

use crate::error::{Error, Result};
use crate::fss::Dcf;
use crate::provider::TupleRequest;
use crate::session::Session;
use crate::share::{Share, XorShare};

use super::{exchange_sum, try_build_frame};

const LOW: u64 = (1 << 63) - 1;

/// What one FSS comparison leaves a party: the opened masked input, the key's outputs and
/// the tuple's shares of `msb(r)` (and `r·msb(r)`).
struct Evaluated {
    masked: Vec<u64>,
    outputs: Vec<u64>,
    tuple: Vec<RingTensor>,
}

fn open_and_evaluate(session: &Session, x: &[u64], req: TupleRequest) -> Result<Evaluated> {
    if session.n_parties() != 2 {
        return Err(Error::InvalidArgument {
            op: "fss comparison",
            reason: format!(
                "FSS comparisons are for 2 parties, this session has {}",
                session.n_parties()
            ),
        });
    }
    let width = match req {
        TupleRequest::FssSign { .. } => 1,
        _ => 2,
    };
    let dcf = Dcf::new(63, width)?;
    let tuple = session.fetch(&req)?;
    let r = tuple[0].as_slice();
    let frame = try_build_frame(x.len(), |w| {
        for ((w, x), r) in w.iter_mut().zip(x).zip(r) {
            *w = x.wrapping_add(*r);
        }
        Ok::<_, Error>(())
    })?;
    let peer = exchange_sum(session, frame, "fss open")?;
    let masked: Vec<u64> = x
        .iter()
        .zip(r)
        .zip(peer.words().iter())
        .map(|((x, r), p)| x.wrapping_add(*r).wrapping_add(*p))
        .collect();
    let low: Vec<u64> = masked.iter().map(|v| v & LOW).collect();
    let keys = tuple.last().expect("an FSS tuple has keys");
    let outputs = dcf.evaluate(session.party(), tuple[1].as_slice(), keys.as_slice(), &low)?;
    Ok(Evaluated {
        masked,
        outputs,
        tuple,
    })
}

/// Packed XOR-shared sign bits of the words `x` (this party's shares, raw): one opening.
///
/// # Errors
/// A session that is not 2 parties, link failures or a failing triple source.
pub fn sign_bits(session: &Session, x: &RingTensor) -> Result<XorShare> {
    let xs = x.as_slice();
    let n = xs.len();
    let e = open_and_evaluate(session, xs, TupleRequest::FssSign { elements: n })?;
    let lead = u64::from(session.party() == 0);
    let msb_r = e.tuple[2].as_slice();
    let mut words = vec![0u64; n.div_ceil(64)];
    for i in 0..n {
        // u's shares: [msb(r)] plus the key's output; their low bits are XOR shares of u.
        let u = msb_r[i].wrapping_add(e.outputs[i]);
        let bit = (u ^ (lead & (e.masked[i] >> 63))) & 1;
        words[i / 64] |= bit << (i % 64);
    }
    Ok(XorShare::new(RingTensor::from_raw(
        &[words.len()],
        words,
        0,
    )?))
}

/// `(relu(x), [x < 0])` (the negative mask as integers 0/1 at scale 0), both shaped like
/// `x`: one opening, 8 bytes per element each way.
///
/// # Errors
/// A session that is not 2 parties, link failures or a failing triple source.
pub fn relu_and_negative(session: &Session, x: &Share) -> Result<(Share, Share)> {
    let xv = x.ring();
    let xs = xv.as_slice();
    let n = xs.len();
    let e = open_and_evaluate(session, xs, TupleRequest::FssRelu { elements: n })?;
    let lead = session.party() == 0;
    let (msb_r, r_msb_r) = (e.tuple[2].as_slice(), e.tuple[3].as_slice());
    let mut relu = Vec::with_capacity(n);
    let mut negative = Vec::with_capacity(n);
    for i in 0..n {
        let u = msb_r[i].wrapping_add(e.outputs[2 * i]);
        let ru = r_msb_r[i].wrapping_add(e.outputs[2 * i + 1]);
        let xu = e.masked[i].wrapping_mul(u).wrapping_sub(ru);
        let m = e.masked[i] >> 63;
        // 1 - 2·m̂: 1 or -1.
        let s = 1u64.wrapping_sub(m << 1);
        let neg = s.wrapping_mul(u).wrapping_add(if lead { m } else { 0 });
        let x_neg = m.wrapping_mul(xs[i]).wrapping_add(s.wrapping_mul(xu));
        relu.push(xs[i].wrapping_sub(x_neg));
        negative.push(neg);
    }
    Ok((
        Share::new(RingTensor::from_raw(xv.shape(), relu, xv.frac_bits())?),
        Share::new(RingTensor::from_raw(xv.shape(), negative, 0)?),
    ))
}
