//! Binary (XOR) sharing of 64-bit words, and the conversions between the two sharings.
//!
//! A binary-shared word is `x = ⊕_i x_i`: one word carries 64 independent bits, so one AND of
//! words evaluates 64 gates. AND uses binary Beaver triples from the dealer; XOR, NOT and shifts
//! are local.
//!
//! - **A2B** (any number of parties): party `i`'s arithmetic share is already a binary sharing
//!   of itself (party `i` holds it, the others hold 0), so the secret is the *sum* of `n`
//!   binary-shared operands. Carry-save adders (one AND per 3 → 2 step) reduce them to two,
//!   then a Kogge-Stone parallel-prefix adder adds those (1 + 6 AND rounds).
//! - **MSB**: the sign needs only the carry into bit 63, not the whole sum. The generate and
//!   propagate bits of bits 0..62 are combined by a tree (`(G, P)_hi ∘ (G, P)_lo =
//!   (G_hi ⊕ P_hi·G_lo, P_hi·P_lo)`; the OR is an XOR because the two terms never both hold),
//!   and the live bits are re-packed densely at every level, so the six levels send
//!   32 + 16 + 8 + 4 + 2 + 0.25 bytes per element per peer after the 16-byte generate AND.
//! - **B2A** of single bits with a dealer random bit `r` in both sharings: open `c = b ⊕ r`,
//!   then `b = c + (1 - 2c)·r`. Of whole words: the same for all 64 bits at once.
//! - **bit × value** in one round: the dealer adds `[a]` and `[r·a]`; the parties open
//!   `c = b ⊕ r` and `e = x - a` together, and `b·x = c·e + c·a + (1 - 2c)(e·r + r·a)` is
//!   linear in the shared `a`, `r`, `r·a` once `c` and `e` are public.

use std::borrow::Cow;

use tensor::{RingTensor, packed_words};

use crate::error::{Error, Result};
use crate::provider::TupleRequest;
use crate::session::Session;
use crate::share::{Share, XorShare};

use super::{exchange_frames, exchange_xor, frame_words, try_build_frame};

/// Opens XOR-shared words to every party: one round.
///
/// # Errors
/// Link failures or malformed frames.
///
/// # Security
/// Every party learns the words.
pub fn open_xor(session: &Session, words: &XorShare) -> Result<RingTensor> {
    open_words(session, words.ring().clone(), "binary reveal")
}

/// Sends `words` (this party's XOR share) to every peer and XORs in theirs.
fn open_words(session: &Session, mut words: RingTensor, step: &'static str) -> Result<RingTensor> {
    let frame = try_build_frame(words.numel(), |w| words.write_words(w))?;
    for f in exchange_frames(session, frame, step)? {
        words.xor_words(&frame_words(&f))?;
    }
    Ok(words)
}

/// Words as a vector (a packed or flattened XOR share, whatever its shape); borrowed when
/// the share is one already.
fn flat(x: &XorShare) -> Cow<'_, RingTensor> {
    match x.ring().rank() {
        1 => Cow::Borrowed(x.ring()),
        _ => Cow::Owned(x.ring().flatten()),
    }
}

/// An owned share's words as a vector, moved.
fn into_flat(x: XorShare) -> Result<RingTensor> {
    let n = x.numel();
    Ok(x.into_ring().into_reshaped(&[n])?)
}

/// Concatenates word vectors (a single one is moved, not copied).
fn cat(mut parts: Vec<RingTensor>) -> Result<RingTensor> {
    if parts.len() == 1 {
        return Ok(parts.pop().expect("one part"));
    }
    Ok(RingTensor::concat(&parts.iter().collect::<Vec<_>>(), 0)?)
}

/// The words `start..start + len` of a vector (borrowed when that is all of it).
fn part(words: &RingTensor, start: usize, len: usize) -> Result<Cow<'_, RingTensor>> {
    if start == 0 && len == words.numel() {
        return Ok(Cow::Borrowed(words));
    }
    Ok(Cow::Owned(words.narrow(0, start, len)?))
}

/// Bitwise NOT of XOR-shared words: party 0 flips its share. Local.
pub fn not(session: &Session, words: &RingTensor) -> RingTensor {
    if session.party() == 0 {
        words.xor_scalar(!0)
    } else {
        words.clone()
    }
}

/// AND of XOR-shared words, elementwise: one round, `16·len` bytes to each peer. The result
/// has `x`'s shape.
///
/// # Errors
/// Operands of different shapes, link failures or a failing triple source.
///
/// # Security
/// Opens `x ⊕ a` and `y ⊕ b` for the dealer's uniform `a`, `b`: reveals nothing.
pub fn and(session: &Session, x: &XorShare, y: &XorShare) -> Result<XorShare> {
    if x.shape() != y.shape() {
        return Err(Error::InvalidArgument {
            op: "binary and",
            reason: format!("operands of shapes {:?} and {:?}", x.shape(), y.shape()),
        });
    }
    let z = and_words(session, &flat(x), &flat(y))?;
    Ok(XorShare::new(z.into_reshaped(x.shape())?))
}

/// [`and`] on word vectors.
fn and_words(session: &Session, x: &RingTensor, y: &RingTensor) -> Result<RingTensor> {
    let n = x.numel();
    if n == 0 {
        return Ok(x.clone());
    }
    let [a, b, c]: [RingTensor; 3] = session
        .fetch(&TupleRequest::And { words: n })?
        .try_into()
        .expect("fetch checks the slot count");
    // The masked operands go straight into the frame; the opened e and f are re-derived from
    // this party's words and the peers' in the combine (as in the arithmetic Beaver mul).
    let frame = try_build_frame(2 * n, |w| {
        let (we, wf) = w.split_at_mut(n);
        x.write_xor_masked(&a, we)?;
        y.write_xor_masked(&b, wf)
    })?;
    let theirs = exchange_xor(session, frame, "and open")?;
    // z_i = c_i ⊕ (e ∧ y_i) ⊕ (a_i ∧ f): XOR-sums to ab ⊕ (x⊕a)y ⊕ a(y⊕b) = xy.
    let theirs = theirs.words();
    let (pe, pf) = theirs.split_at(n);
    Ok(c.and_combine(x, &a, y, &b, pe, pf)?)
}

/// This party's operands for A2B of the arithmetic share `words` (a vector): party `i`'s
/// share is operand `i`; the others contribute 0.
pub(crate) fn own_operands(session: &Session, words: RingTensor) -> Vec<XorShare> {
    let words = words.with_frac_bits(0);
    let zeros = RingTensor::zeros(words.shape(), 0);
    let mut mine = Some(words);
    (0..session.n_parties())
        .map(|p| {
            XorShare::new(if p == session.party() {
                mine.take().expect("one own operand")
            } else {
                zeros.clone()
            })
        })
        .collect()
}

/// Reduces binary-shared operands whose ring sum is the secret to two with carry-save adders
/// (`3 → 2` per AND round; all adders of a level share the round).
fn carry_save(session: &Session, ops: Vec<XorShare>) -> Result<(RingTensor, RingTensor)> {
    let mut ops: Vec<RingTensor> = ops.into_iter().map(into_flat).collect::<Result<_>>()?;
    while ops.len() > 2 {
        let groups = ops.len() / 3;
        let rest = ops.split_off(groups * 3);
        let n = ops[0].numel();
        let mut lhs = Vec::with_capacity(groups);
        let mut rhs = Vec::with_capacity(groups);
        for g in ops.chunks(3) {
            lhs.push(g[0].xor(&g[1])?);
            rhs.push(g[0].xor(&g[2])?);
        }
        let prod = and_words(session, &cat(lhs)?, &cat(rhs)?)?;
        let mut next = Vec::with_capacity(2 * groups + rest.len());
        for (gi, g) in ops.chunks(3).enumerate() {
            let sum = RingTensor::xor3(&g[0], &g[1], &g[2])?;
            // majority(a, b, c) = ((a ⊕ b) ∧ (a ⊕ c)) ⊕ a, shifted into the next bit
            let carry = part(&prod, gi * n, n)?.xor_shl(&g[0], 1)?;
            next.push(sum);
            next.push(carry);
        }
        next.extend(rest);
        ops = next;
    }
    let b = ops.pop().expect("two operands");
    let a = ops.pop().expect("two operands");
    Ok((a, b))
}

/// The most significant bit of the ring sum of binary-shared operands (all of one length),
/// for each element, packed 64 to a word (XOR-shared). `1 + 6` AND rounds after the
/// carry-save reduction.
///
/// # Errors
/// No operands, operands of different lengths, link failures or a failing triple source.
pub fn msb(session: &Session, operands: Vec<XorShare>) -> Result<XorShare> {
    let Some(first_op) = operands.first() else {
        return Err(Error::InvalidArgument {
            op: "msb",
            reason: "no operands".into(),
        });
    };
    let n = first_op.numel();
    if operands.iter().any(|o| o.numel() != n) {
        return Err(Error::InvalidArgument {
            op: "msb",
            reason: "operands of different lengths".into(),
        });
    }
    let (a, b) = carry_save(session, operands)?;
    let g = and_words(session, &a, &b)?;
    let top = 1u64 << 63;
    // Bits 0..62 feed the carry into bit 63; position 63 is the identity (G = 0, P = 1).
    let mut generate = g.and_scalar(!top);
    let mut prop = a.xor(&b)?.and_scalar(!top);
    if session.party() == 0 {
        prop = prop.xor_scalar(top);
    }
    for level in 0..6 {
        let (g_lo, g_hi) = generate.unshuffle_bits()?;
        let (p_lo, p_hi) = prop.unshuffle_bits()?;
        if level < 5 {
            let len = p_hi.numel();
            let prod = and_words(
                session,
                &RingTensor::concat(&[&p_hi, &p_hi], 0)?,
                &cat(vec![g_lo, p_lo])?,
            )?;
            generate = g_hi.xor(&*part(&prod, 0, len)?)?;
            prop = part(&prod, len, len)?.into_owned();
        } else {
            // The last level needs only the group generate.
            generate = g_hi.xor(&and_words(session, &p_hi, &g_lo)?)?;
        }
    }
    // generate now holds one carry bit per element, packed; the sign is a63 ⊕ b63 ⊕ carry.
    let mut out = generate.resize_words(packed_words(n))?;
    out.xor_top_bits(&a, &b)?;
    Ok(XorShare::new(out))
}

/// For two parties: packed XOR-shared bits, one per element, that are 1 exactly where
/// `x_0 + x_1 = 0`, i.e. where party 0's share equals the negation of party 1's. Each
/// party binary-shares its own word (party 1 negates first, locally), and the 64 bits of
/// `NOT(a XOR b)` are AND-ed together by a tree whose live bits halve (and are re-packed) at
/// every level: 6 rounds, `(64 + 32 + ... + 2)` bits per element and peer.
///
/// # Errors
/// Link failures, or a session that does not have exactly two parties.
pub fn is_zero_2pc(session: &Session, share: &Share) -> Result<XorShare> {
    if session.n_parties() != 2 {
        return Err(Error::InvalidArgument {
            op: "is_zero_2pc",
            reason: "needs exactly 2 parties".into(),
        });
    }
    let words = share.ring().flatten().with_frac_bits(0);
    let n = words.numel();
    // a = x0 (held by party 0), b = -x1 (held by party 1); the XOR of their shares is a ⊕ b.
    let mut bits = if session.party() == 0 {
        words.xor_scalar(!0)
    } else {
        words.neg()
    };
    for _ in 0..6 {
        let (lo, hi) = bits.unshuffle_bits()?;
        bits = and_words(session, &lo, &hi)?;
    }
    Ok(XorShare::new(bits.resize_words(packed_words(n))?))
}

/// Adds two binary-shared word vectors with a Kogge-Stone parallel-prefix adder: one AND
/// round for the generate bits, then six rounds of two batched ANDs.
fn add(session: &Session, a: &RingTensor, b: &RingTensor) -> Result<RingTensor> {
    let n = a.numel();
    let mut g = and_words(session, a, b)?;
    let p0 = a.xor(b)?;
    let mut p = p0.clone();
    for k in [1u32, 2, 4, 8, 16, 32] {
        let prod = and_words(
            session,
            &RingTensor::concat(&[&p, &p], 0)?,
            &cat(vec![g.shl_words(k), p.shl_words(k)])?,
        )?;
        g.xor_assign(&*part(&prod, 0, n)?)?;
        p = part(&prod, n, n)?.into_owned();
    }
    Ok(p0.xor(&g.shl_words(1))?)
}

/// Arithmetic to binary conversion of whole words, for any number of parties: the result has
/// the share's shape.
///
/// # Errors
/// Link failures or a failing triple source.
pub fn a2b(session: &Session, share: &Share) -> Result<XorShare> {
    let (a, b) = carry_save(session, own_operands(session, share.ring().flatten()))?;
    Ok(XorShare::new(
        add(session, &a, &b)?.into_reshaped(share.shape())?,
    ))
}

/// Binary to arithmetic conversion of `bits` packed bits: each bit becomes an additively
/// shared integer 0 or 1, a vector of `bits` elements. One round of `ceil(bits/64)·8` bytes
/// per peer.
///
/// # Errors
/// Fewer than `bits` packed bits, link failures or a failing triple source.
pub fn b2a_bits(session: &Session, packed: &XorShare, bits: usize) -> Result<Share> {
    let packed = flat(packed);
    if packed.numel() != packed_words(bits) {
        return Err(Error::InvalidArgument {
            op: "b2a_bits",
            reason: format!("{} packed words for {bits} bits", packed.numel()),
        });
    }
    let [r_bin, r]: [RingTensor; 2] = session
        .fetch(&TupleRequest::Bit { bits })?
        .try_into()
        .expect("fetch checks the slot count");
    // c = b ⊕ r is public: this party's masked words (kept from its frame) and the peers'.
    let frame = try_build_frame(packed.numel(), |w| packed.write_xor_masked(&r_bin, w))?;
    let mut c = frame_words(&frame).into_owned();
    let theirs = exchange_xor(session, frame, "b2a open")?;
    c.iter_mut()
        .zip(theirs.words().iter())
        .for_each(|(c, t)| *c ^= t);
    let lead = session.party() == 0;
    Ok(Share::new(r.b2a_combine(&c, lead)?))
}

/// Binary to arithmetic conversion of whole words: all 64 bits of every word at once, one
/// round of `8` bytes per word and peer. The result has the words' shape, at scale 0.
///
/// # Errors
/// Link failures or a failing triple source.
pub fn b2a_words(session: &Session, words: &XorShare) -> Result<Share> {
    let bits = b2a_bits(session, words, words.numel() * 64)?;
    Ok(Share::new(bits.ring().pack_bit_values(words.shape())?))
}

/// `b·x` for packed XOR-shared bits `b` (one per element of `x`) and arithmetic `x`, in one
/// round: `8 + 1/8` bytes per element and peer. The result keeps `x`'s shape and scale (a bit
/// is an integer, so no truncation).
///
/// # Errors
/// A bit count that does not match `x`, link failures or a failing triple source.
pub fn bit_mul(session: &Session, packed: &XorShare, x: &Share) -> Result<Share> {
    let n = x.numel();
    let words = packed_words(n);
    let packed = flat(packed);
    if packed.numel() != words {
        return Err(Error::InvalidArgument {
            op: "bit_mul",
            reason: format!("{} packed words for {n} elements", packed.numel()),
        });
    }
    let [r_bin, a, r, ra]: [RingTensor; 4] = session
        .fetch(&TupleRequest::BitMul { bits: n })?
        .try_into()
        .expect("fetch checks the slot count");
    // The dealer's value slots are vectors: give them x's shape (a move, not a copy).
    let xv = x.ring();
    let a = a.into_reshaped(xv.shape())?.with_frac_bits(xv.frac_bits());
    let r = r.into_reshaped(xv.shape())?;
    let ra = ra.into_reshaped(xv.shape())?;
    // The bit half is opened with XOR, the value half with addition: exchange once, combine
    // each half its own way.
    let frame = try_build_frame(words + n, |w| {
        let (wc, we) = w.split_at_mut(words);
        packed.write_xor_masked(&r_bin, wc)?;
        xv.write_masked(&a, we)
    })?;
    // This party's masked bits are kept from its frame (the opened bits are public and
    // small); the value half is re-derived from x and a inside the combine.
    let mut c = frame_words(&frame)[..words].to_vec();
    let frames = exchange_frames(session, frame, "bit_mul open")?;
    let mut pe = vec![0u64; n];
    for f in &frames {
        let theirs = frame_words(f);
        c.iter_mut()
            .zip(&theirs[..words])
            .for_each(|(c, t)| *c ^= t);
        pe.iter_mut()
            .zip(&theirs[words..])
            .for_each(|(e, t)| *e = e.wrapping_add(*t));
    }
    let lead = session.party() == 0;
    let out = ra.bit_mul_combine(xv, &a, &r, &c, &pe, lead)?;
    Ok(Share::new(out.with_frac_bits(x.frac_bits())))
}
