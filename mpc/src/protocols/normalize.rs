//! The position of a secret's top set bit, as arithmetic 0/1 indicators: what the
//! wide-domain functions of [`crate::approx`] scale their input by.
//!
//! The secret's words are converted to a binary sharing ([`binary::a2b`], 7 AND rounds for
//! 2 parties), smeared downwards by a prefix OR (`p |= p >> 2^j`, six AND rounds) and
//! differenced (`p ⊕ (p >> 1)`, local) into one-hot words. One B2A round turns the bits of
//! every word into arithmetic 0/1 values; callers combine them linearly with public weights
//! (the power of two that normalises, the exponent, the output scale).
//!
//! For a signed input the word is first folded, locally, to `w = 2(x ⊕ s) + s` with `s` the
//! sign smeared over the word: `2x` for `x ≥ 0` and `2|x| - 1` below zero, so that the top
//! bit `j` of `w` bounds `|x| ≤ 2^j` in both cases (`x = -1` included) and `|x|·2^{-j}` lies
//! in `[1/2, 1]`.

use tensor::RingTensor;

use crate::error::{Error, Result};
use crate::session::Session;
use crate::share::{Share, XorShare};

use super::binary;

/// Arithmetic 0/1 indicators of the top set bit of `x`, shape `[n, 64 + high]` at scale 0
/// for its `n` elements in order.
///
/// - `fold_sign = false`: column `i` is 1 where the top set bit of the word `x` is `i`
///   (`i = 63` exactly where `x` is negative); columns `0..64` are all 0 where `x = 0`.
/// - `fold_sign = true`: column `j < 63` is 1 where the top set bit of the folded word `w`
///   (module docs) is `j`, so `|x| ≤ 2^j < 2|x|` up to the power-of-two edge; all 0 where
///   `x = 0` or `x ≥ 2^62`. Column 63 is the sign bit.
///
/// Columns `64 + t` (`t < high`) are bit `63 - high + t` of `x` itself (unfolded): its top
/// `high` bits below the sign, the mantissa of the values whose top bit is too high to
/// normalise by a product.
///
/// # Errors
/// `high` above 62; link failures or a failing triple source.
///
/// # Security
/// Reveals nothing: AND and B2A openings of uniformly masked words. 2 parties: 14 rounds;
/// per element and peer about 104 bytes (A2B) + 96 (prefix OR) + `(64 + high)/8` (B2A); the
/// dealer adds `64 + high` arithmetic bit shares per element (8 bytes each, to party 0).
pub fn top_bit_indicators(
    session: &Session,
    x: &Share,
    fold_sign: bool,
    high: u32,
) -> Result<Share> {
    if high > 62 {
        return Err(Error::InvalidArgument {
            op: "top_bit_indicators",
            reason: format!("{high} mantissa bits (at most 62)"),
        });
    }
    let n = x.numel();
    let words = binary::a2b(session, x)?.into_ring().into_reshaped(&[n])?;
    let sign = words.and_scalar(1 << 63);
    let folded = if fold_sign {
        // 2(x ⊕ s) + s: the smeared sign (an arithmetic shift of each XOR share is
        // XOR-linear), shifted up, and the sign bit in the free bit 0.
        words
            .xor(&words.shr_arith(63).with_frac_bits(0))?
            .shl_words(1)
            .xor(&sign.shr_words(63))?
    } else {
        words.clone()
    };
    let mut p = XorShare::new(folded);
    for shift in [1u32, 2, 4, 8, 16, 32] {
        let q = XorShare::new(p.ring().shr_words(shift));
        let both = binary::and(session, &p, &q)?;
        // p | q = p ⊕ q ⊕ (p ∧ q)
        p = XorShare::new(RingTensor::xor3(p.ring(), q.ring(), both.ring())?);
    }
    let p = p.into_ring();
    let mut one_hot = p.xor(&p.shr_words(1))?;
    if fold_sign {
        // Bit 63 of the folded word is set only for x ≥ 2^62, whose reciprocal is 0 at every
        // scale: drop it and carry the sign there.
        one_hot = one_hot.and_scalar(!(1 << 63));
        one_hot.xor_assign(&sign)?;
    }
    let cols = 64 + high as usize;
    let packed = if high == 0 {
        one_hot
    } else {
        let field = words.word_fields(63 - high, high)?;
        RingTensor::concat_bits(&[(&one_hot, 64 * n), (&field, high as usize * n)])?
    };
    let bits = binary::b2a_bits(session, &XorShare::new(packed), cols * n)?;
    // The B2A output is the one-hot block, then the field block: interleave them per element.
    let bits = bits.into_ring();
    if high == 0 {
        return Ok(Share::new(bits.into_reshaped(&[n, 64])?));
    }
    let one_hot = bits.narrow(0, 0, 64 * n)?.into_reshaped(&[n, 64])?;
    let field = bits
        .narrow(0, 64 * n, high as usize * n)?
        .into_reshaped(&[n, high as usize])?;
    Ok(Share::new(RingTensor::concat(&[&one_hot, &field], 1)?))
}
