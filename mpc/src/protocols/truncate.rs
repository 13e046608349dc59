//! Rescaling after a fixed-point product: division of a secret by a public integer `d`
//! (`d = 2^f` for truncation).
//!
//! Two protocols, with different error models:
//!
//! **Local (SecureML; Mohassel and Zhang, S&P 2017), 2 parties only, 0 rounds.** Reading
//! shares as signed integers, party 0 computes `floor(x_0 / d)` and party 1
//! `-floor(-x_1 / d)` (asymmetric rounding, as SecretFlow SPU does, so the error is unbiased).
//! If the signed shares do not overflow when added, the result is `floor(x/d)` or one more.
//! With `x_0` uniform, they overflow with probability `|x| / 2^64`; the result is then off by
//! about `2^64 / d` (2^48 ULP for `d = 2^16`): a rare but huge error. For values at scale
//! 2^32 after a product of two 16-bit encodings, `|x| = 2^40` (a real of magnitude 256) fails
//! once in 2^24 elements.
//!
//! **Dealer-assisted, any number of parties, 1 round.** The dealer supplies `[r]`,
//! `[floor(r/d)]` and `[msb(r)]` for a uniform `r`. With `K` the largest multiple of `d` not
//! above 2^62, the parties open `c = x + K + r` (uniform, so it reveals nothing). For
//! `|x| < 2^62 - d`, `x' = x + K` lies in `[0, 2^63)`, so `x' + r` wraps modulo 2^64 exactly when
//! `msb(r) = 1` and `msb(c) = 0`; with `w` that wrap bit and `Q = floor(2^64/d)`,
//! `floor(x'/d) = floor(c/d) - floor(r/d) + w·Q + δ` with `δ ∈ {-1, 0, 1}`, from the dropped
//! low-order borrow (`δ ∈ {-1, 0}` when `d` is a power of two). `w·Q` is linear in the shared
//! `msb(r)` because `msb(c)` is public. So for every input in range the result is `floor(x/d)`
//! or one more when `d` is a power of two, and within one ULP either way otherwise: no
//! probabilistic failure at all.

use tensor::RingTensor;

use crate::error::{Error, Result};
use crate::provider::TupleRequest;
use crate::session::Session;
use crate::share::Share;

use super::{PeerSum, exchange_sum, try_build_frame};

/// Divides the secret by public `d`: local truncation where the session uses it and `d` is a
/// power of two, the dealer protocol otherwise.
///
/// # Errors
/// `d` is zero or at least 2^63, link failures, or a failing triple source.
///
/// # Security
/// Reveals nothing (see [`local`] and [`with_dealer`]).
pub fn div_public(session: &Session, share: Share, d: u64) -> Result<Share> {
    check_divisor("div_public", d)?;
    if d == 1 {
        return Ok(share);
    }
    // Local truncation only for powers of two: dividing a share by any other d would need a
    // hardware division, whose time depends on the (secret-correlated) share.
    if session.uses_local_trunc() && d.is_power_of_two() {
        local(session, share, d)
    } else {
        with_dealer(session, share, d)
    }
}

/// Rescales a product share by `2^bits`, lowering its scale by `bits`.
///
/// # Errors
/// As [`div_public`].
pub fn truncate(session: &Session, share: Share, bits: u32) -> Result<Share> {
    if bits == 0 {
        return Ok(share);
    }
    if bits > 62 {
        return Err(Error::InvalidArgument {
            op: "truncate",
            reason: format!("cannot rescale by 2^{bits}"),
        });
    }
    let f = share.frac_bits().saturating_sub(bits);
    Ok(div_public(session, share, 1u64 << bits)?.with_frac_bits(f))
}

/// The 2-party local protocol (see the module docs), for a power-of-two `d`.
///
/// # Errors
/// More than 2 parties, or `d` not a power of two.
///
/// # Security
/// No communication. Each party shifts its own share: constant time, nothing revealed. The
/// result is wrong with probability about |x|/2^64 (module docs).
pub fn local(session: &Session, share: Share, d: u64) -> Result<Share> {
    if session.n_parties() != 2 {
        return Err(Error::InvalidArgument {
            op: "truncate",
            reason: format!(
                "local truncation needs exactly 2 parties, not {}",
                session.n_parties()
            ),
        });
    }
    if !d.is_power_of_two() {
        return Err(Error::InvalidArgument {
            op: "truncate",
            reason: format!("local truncation divides by powers of two only, not {d}"),
        });
    }
    let mut out = share;
    out.ring_mut()
        .local_trunc(d.trailing_zeros(), session.party() == 0);
    Ok(out)
}

/// The dealer-assisted protocol (see the module docs).
///
/// # Errors
/// Link failures or a failing triple source.
///
/// # Security
/// Opens `x + K + r` with `r` uniform in Z_2^64, which is uniform and so reveals nothing about
/// `x`; trusts the dealer not to collude. One round, `8|x|` bytes to each peer.
pub fn with_dealer(session: &Session, mut share: Share, d: u64) -> Result<Share> {
    let req = TupleRequest::Trunc {
        shape: share.shape().to_vec(),
        divisor: d,
    };
    let [r, r_div, r_msb]: [RingTensor; 3] = session
        .fetch(&req)?
        .try_into()
        .expect("fetch checks the slot count");
    let (peers, k, lead) = open_offset_masked(session, share.ring(), &r, d, "truncate open")?;
    share
        .ring_mut()
        .dealer_trunc_combine(&r, &r_div, &r_msb, &peers.words(), d, k, lead)?;
    Ok(share)
}

/// `d` in `1..2^63`, the divisors the dealer protocol handles.
fn check_divisor(op: &'static str, d: u64) -> Result<()> {
    if d == 0 || d >= 1 << 63 {
        return Err(Error::InvalidArgument {
            op,
            reason: format!("divisor {d} must be in 1..2^63"),
        });
    }
    Ok(())
}

/// The one round of the dealer truncation: opens `x + K + r` (party 0 adds `K`, the largest
/// multiple of `d` not above 2^62) and returns the peers' sum with `K` and whether this
/// party is the one that adds it.
fn open_offset_masked(
    session: &Session,
    x: &RingTensor,
    r: &RingTensor,
    d: u64,
    step: &'static str,
) -> Result<(PeerSum, u64, bool)> {
    let k = (1u64 << 62) / d * d;
    let lead = session.party() == 0;
    let frame = try_build_frame(x.numel(), |w| {
        x.write_offset_masked(r, if lead { k } else { 0 }, w)
    })?;
    Ok((exchange_sum(session, frame, step)?, k, lead))
}

/// Divides the secret by public `d` and squares the result, in the one round of the dealer
/// truncation: `(t, t²)` with `t` as [`with_dealer`] returns it (at `x`'s scale; the caller
/// relabels) and `t²` its exact ring square (untruncated, at twice that scale).
///
/// The opened `c = x + K + r` makes `t = p + s` with `p` public and `s = m·q·u - r_div`
/// linear in the dealer's shares (see [`RingTensor::dealer_trunc_square_combine`]), so `t²`
/// needs only the dealer's shares of `r_div²` and `r_div·m` besides: a truncation followed
/// by a square costs one round and `8|x|` bytes per peer instead of three rounds (truncation,
/// Beaver square, and its own truncation, which the caller may now fold into the next call).
///
/// # Errors
/// `d` is zero or at least 2^63; link failures or a failing triple source.
///
/// # Security
/// Opens `x + K + r` with `r` uniform, as [`with_dealer`]: nothing is revealed; trusts the
/// dealer not to collude.
pub fn truncate_and_square(session: &Session, share: &Share, d: u64) -> Result<(Share, Share)> {
    check_divisor("truncate_and_square", d)?;
    let req = TupleRequest::TruncSquare {
        shape: share.shape().to_vec(),
        divisor: d,
    };
    let [r, r_div, r_msb, r_div_sq, r_div_msb]: [RingTensor; 5] = session
        .fetch(&req)?
        .try_into()
        .expect("fetch checks the slot count");
    let x = share.ring();
    let (peers, k, lead) = open_offset_masked(session, x, &r, d, "truncate-square open")?;
    let (t, t2) = x.dealer_trunc_square_combine(
        &r,
        &r_div,
        &r_msb,
        &r_div_sq,
        &r_div_msb,
        &peers.words(),
        d,
        k,
        lead,
    )?;
    let f = x.frac_bits();
    Ok((
        Share::new(t.with_frac_bits(f)),
        Share::new(t2.with_frac_bits(2 * f)),
    ))
}
