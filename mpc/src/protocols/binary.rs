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

use tensor::RingTensor;

use crate::error::Result;
use crate::provider::TupleRequest;
use crate::session::Session;

use super::{build_frame, exchange_frames, frame_words};

/// Opens XOR-shared words to every party: one round.
pub(crate) fn open_words_xor(session: &Session, words: Vec<u64>) -> Result<Vec<u64>> {
    open_xor(session, words, "binary reveal")
}

/// Sends `frame` (this party's words) to every peer and XORs in theirs.
fn open_xor(session: &Session, mut words: Vec<u64>, step: &'static str) -> Result<Vec<u64>> {
    let frame = build_frame(words.len(), |w| w.copy_from_slice(&words));
    for f in exchange_frames(session, frame, step)? {
        for (a, b) in words.iter_mut().zip(frame_words(&f).iter()) {
            *a ^= b;
        }
    }
    Ok(words)
}

/// AND of XOR-shared words, elementwise: one round, `16·len` bytes to each peer.
///
/// # Errors
/// Link failures or a failing triple source.
///
/// # Security
/// Opens `x ⊕ a` and `y ⊕ b` for the dealer's uniform `a`, `b`: reveals nothing.
pub fn and(session: &Session, x: &[u64], y: &[u64]) -> Result<Vec<u64>> {
    let n = x.len();
    debug_assert_eq!(n, y.len());
    if n == 0 {
        return Ok(Vec::new());
    }
    let [a, b, c]: [RingTensor; 3] = session
        .fetch(&TupleRequest::And { words: n })?
        .try_into()
        .expect("fetch checks the slot count");
    let (a, b) = (a.as_slice(), b.as_slice());
    // The masked operands go straight into the frame; the opened e and f are re-derived from
    // this party's words and the peers' in the final pass (as in the arithmetic Beaver mul).
    let frame = build_frame(2 * n, |w| {
        let (we, wf) = w.split_at_mut(n);
        for ((o, x), a) in we.iter_mut().zip(x).zip(a) {
            *o = x ^ a;
        }
        for ((o, y), b) in wf.iter_mut().zip(y).zip(b) {
            *o = y ^ b;
        }
    });
    let frames = exchange_frames(session, frame, "and open")?;
    let mut theirs = vec![0u64; 2 * n];
    for f in &frames {
        theirs
            .iter_mut()
            .zip(frame_words(f).iter())
            .for_each(|(t, w)| *t ^= w);
    }
    let (pe, pf) = theirs.split_at(n);
    // z_i = c_i ⊕ (e ∧ y_i) ⊕ (a_i ∧ f): XOR-sums to ab ⊕ (x⊕a)y ⊕ a(y⊕b) = xy.
    let mut z = c.into_raw();
    for i in 0..n {
        let e = x[i] ^ a[i] ^ pe[i];
        let f = y[i] ^ b[i] ^ pf[i];
        z[i] ^= (e & y[i]) ^ (a[i] & f);
    }
    Ok(z)
}

/// Splits the bits of a packed bit array (total length even per element) into its even and
/// odd positions, each re-packed densely: `(even, odd)`.
pub(crate) fn unshuffle(words: &[u64]) -> (Vec<u64>, Vec<u64>) {
    let halves: Vec<(u32, u32)> = words.iter().map(|&w| unshuffle_word(w)).collect();
    let pack = |pick: fn(&(u32, u32)) -> u32| -> Vec<u64> {
        halves
            .chunks(2)
            .map(|c| u64::from(pick(&c[0])) | c.get(1).map_or(0, |h| u64::from(pick(h)) << 32))
            .collect()
    };
    (pack(|h| h.0), pack(|h| h.1))
}

/// Even bits of `x` to the low half, odd bits to the high half (Hacker's Delight 7-2).
fn unshuffle_word(mut x: u64) -> (u32, u32) {
    let mut t;
    t = (x ^ (x >> 1)) & 0x2222_2222_2222_2222;
    x ^= t ^ (t << 1);
    t = (x ^ (x >> 2)) & 0x0C0C_0C0C_0C0C_0C0C;
    x ^= t ^ (t << 2);
    t = (x ^ (x >> 4)) & 0x00F0_00F0_00F0_00F0;
    x ^= t ^ (t << 4);
    t = (x ^ (x >> 8)) & 0x0000_FF00_0000_FF00;
    x ^= t ^ (t << 8);
    t = (x ^ (x >> 16)) & 0x0000_0000_FFFF_0000;
    x ^= t ^ (t << 16);
    (x as u32, (x >> 32) as u32)
}

/// This party's operands for A2B: party `i`'s share is operand `i`; the others contribute 0.
pub(crate) fn own_operands(session: &Session, share: &[u64]) -> Vec<Vec<u64>> {
    (0..session.n_parties())
        .map(|p| {
            if p == session.party() {
                share.to_vec()
            } else {
                vec![0; share.len()]
            }
        })
        .collect()
}

/// Reduces binary-shared operands whose ring sum is the secret to two with carry-save adders
/// (`3 → 2` per AND round; all adders of a level share the round).
fn carry_save(session: &Session, mut ops: Vec<Vec<u64>>) -> Result<(Vec<u64>, Vec<u64>)> {
    while ops.len() > 2 {
        let groups = ops.len() / 3;
        let rest = ops.split_off(groups * 3);
        let n = ops[0].len();
        let mut lhs = Vec::with_capacity(groups * n);
        let mut rhs = Vec::with_capacity(groups * n);
        for g in ops.chunks(3) {
            lhs.extend(g[0].iter().zip(&g[1]).map(|(a, b)| a ^ b));
            rhs.extend(g[0].iter().zip(&g[2]).map(|(a, c)| a ^ c));
        }
        let prod = and(session, &lhs, &rhs)?;
        let mut next = Vec::with_capacity(2 * groups + rest.len());
        for (gi, g) in ops.chunks(3).enumerate() {
            let sum: Vec<u64> = (0..n).map(|i| g[0][i] ^ g[1][i] ^ g[2][i]).collect();
            // majority(a, b, c) = ((a ⊕ b) ∧ (a ⊕ c)) ⊕ a, shifted into the next bit
            let carry: Vec<u64> = (0..n).map(|i| (prod[gi * n + i] ^ g[0][i]) << 1).collect();
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

/// The most significant bit of the ring sum of binary-shared operands, for each element,
/// packed 64 to a word (XOR-shared). `1 + 6` AND rounds after the carry-save reduction.
///
/// # Errors
/// Link failures or a failing triple source.
pub fn msb(session: &Session, operands: Vec<Vec<u64>>) -> Result<Vec<u64>> {
    let n = operands[0].len();
    let (a, b) = carry_save(session, operands)?;
    let g = and(session, &a, &b)?;
    let top = 1u64 << 63;
    let first = session.party() == 0;
    // Bits 0..62 feed the carry into bit 63; position 63 is the identity (G = 0, P = 1).
    let mut generate: Vec<u64> = g.iter().map(|g| g & !top).collect();
    let mut prop: Vec<u64> = a
        .iter()
        .zip(&b)
        .map(|(a, b)| ((a ^ b) & !top) | if first { top } else { 0 })
        .collect();
    for level in 0..6 {
        let (g_lo, g_hi) = unshuffle(&generate);
        let (p_lo, p_hi) = unshuffle(&prop);
        if level < 5 {
            let len = p_hi.len();
            let lhs: Vec<u64> = p_hi.iter().chain(&p_hi).copied().collect();
            let rhs: Vec<u64> = g_lo.iter().chain(&p_lo).copied().collect();
            let prod = and(session, &lhs, &rhs)?;
            generate = g_hi.iter().zip(&prod[..len]).map(|(g, x)| g ^ x).collect();
            prop = prod[len..].to_vec();
        } else {
            // The last level needs only the group generate.
            let prod = and(session, &p_hi, &g_lo)?;
            generate = g_hi.iter().zip(&prod).map(|(g, x)| g ^ x).collect();
        }
    }
    // generate now holds one carry bit per element, packed; the sign is a63 ⊕ b63 ⊕ carry.
    let mut out = generate;
    out.resize(n.div_ceil(64), 0);
    for (i, (a, b)) in a.iter().zip(&b).enumerate() {
        out[i / 64] ^= ((a ^ b) >> 63) << (i % 64);
    }
    Ok(out)
}

/// For two parties: packed XOR-shared bits, one per element, that are 1 exactly where
/// `x_0 + x_1 = 0`, i.e. where party 0's share equals the negation of party 1's. Each
/// party binary-shares its own word (party 1 negates first, locally), and the 64 bits of
/// `NOT(a XOR b)` are AND-ed together by a tree whose live bits halve (and are re-packed) at
/// every level: 6 rounds, `(64 + 32 + ... + 2)` bits per element and peer.
///
/// # Errors
/// Link failures, or a session that does not have exactly two parties.
pub fn is_zero_2pc(session: &Session, share: &[u64]) -> Result<Vec<u64>> {
    if session.n_parties() != 2 {
        return Err(crate::error::Error::InvalidArgument {
            op: "is_zero_2pc",
            reason: "needs exactly 2 parties".into(),
        });
    }
    let n = share.len();
    // a = x0 (held by party 0), b = -x1 (held by party 1); the XOR of their shares is a ⊕ b.
    let mut bits: Vec<u64> = if session.party() == 0 {
        share.iter().map(|x| !x).collect()
    } else {
        share.iter().map(|x| x.wrapping_neg()).collect()
    };
    for _ in 0..6 {
        let (lo, hi) = unshuffle(&bits);
        bits = and(session, &lo, &hi)?;
    }
    bits.resize(n.div_ceil(64), 0);
    Ok(bits)
}

/// Adds two binary-shared operands with a Kogge-Stone parallel-prefix adder: one AND round for
/// the generate bits, then six rounds of two batched ANDs.
///
/// # Errors
/// Link failures or a failing triple source.
pub fn add(session: &Session, a: &[u64], b: &[u64]) -> Result<Vec<u64>> {
    let n = a.len();
    let mut g = and(session, a, b)?;
    let p0: Vec<u64> = a.iter().zip(b).map(|(a, b)| a ^ b).collect();
    let mut p = p0.clone();
    for k in [1u32, 2, 4, 8, 16, 32] {
        let lhs: Vec<u64> = p.iter().chain(&p).copied().collect();
        let rhs: Vec<u64> = g
            .iter()
            .map(|g| g << k)
            .chain(p.iter().map(|p| p << k))
            .collect();
        let prod = and(session, &lhs, &rhs)?;
        for i in 0..n {
            g[i] ^= prod[i];
        }
        p = prod[n..].to_vec();
    }
    Ok(p0.iter().zip(&g).map(|(p, g)| p ^ (g << 1)).collect())
}

/// Arithmetic to binary conversion of whole words, for any number of parties.
///
/// # Errors
/// Link failures or a failing triple source.
pub fn a2b(session: &Session, share: &RingTensor) -> Result<Vec<u64>> {
    let (a, b) = carry_save(session, own_operands(session, share.as_slice()))?;
    add(session, &a, &b)
}

/// Binary to arithmetic conversion of `bits` packed bits: each bit becomes an additively
/// shared integer 0 or 1. One round of `ceil(bits/64)·8` bytes per peer.
///
/// # Errors
/// Link failures or a failing triple source.
pub fn b2a_bits(session: &Session, packed: &[u64], bits: usize) -> Result<RingTensor> {
    let [r_bin, r]: [RingTensor; 2] = session
        .fetch(&TupleRequest::Bit { bits })?
        .try_into()
        .expect("fetch checks the slot count");
    let masked = packed
        .iter()
        .zip(r_bin.as_slice())
        .map(|(b, r)| b ^ r)
        .collect();
    let c = open_xor(session, masked, "b2a open")?;
    let first = u64::from(session.party() == 0);
    let mut out = r;
    for (i, v) in out.as_mut_slice().iter_mut().enumerate() {
        let ci = (c[i / 64] >> (i % 64)) & 1;
        // b = c + (1 - 2c)·r
        *v = first
            .wrapping_mul(ci)
            .wrapping_add((1u64.wrapping_sub(2 * ci)).wrapping_mul(*v));
    }
    Ok(out)
}

/// Binary to arithmetic conversion of whole words: all 64 bits of every word at once, one
/// round of `8` bytes per word and peer.
///
/// # Errors
/// Link failures or a failing triple source.
pub fn b2a_words(session: &Session, words: &[u64], shape: &[usize]) -> Result<RingTensor> {
    let bits = b2a_bits(session, words, words.len() * 64)?;
    let data = bits
        .as_slice()
        .chunks(64)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0u64, |acc, (j, b)| acc.wrapping_add(b << j))
        })
        .collect();
    Ok(RingTensor::from_raw(shape, data, 0)?)
}

/// `b·x` for packed XOR-shared bits `b` (one per element of `x`) and arithmetic `x`, in one
/// round: `8 + 1/8` bytes per element and peer. The result keeps `x`'s scale (a bit is an
/// integer, so no truncation).
///
/// # Errors
/// Link failures or a failing triple source.
pub fn bit_mul(session: &Session, packed: &[u64], x: &RingTensor) -> Result<RingTensor> {
    let n = x.numel();
    let [r_bin, a, r, ra]: [RingTensor; 4] = session
        .fetch(&TupleRequest::BitMul { bits: n })?
        .try_into()
        .expect("fetch checks the slot count");
    let words = n.div_ceil(64);
    let mut masked: Vec<u64> = packed
        .iter()
        .zip(r_bin.as_slice())
        .map(|(b, r)| b ^ r)
        .collect();
    masked.extend(
        x.as_slice()
            .iter()
            .zip(a.as_slice())
            .map(|(x, a)| x.wrapping_sub(*a)),
    );
    // The bit half is opened with XOR, the value half with addition: exchange once, combine
    // each half its own way.
    let frame = build_frame(masked.len(), |w| w.copy_from_slice(&masked));
    let frames = exchange_frames(session, frame, "bit_mul open")?;
    let (mut c, mut e) = (masked[..words].to_vec(), masked[words..].to_vec());
    for f in &frames {
        let theirs = frame_words(f);
        for (a, b) in c.iter_mut().zip(&theirs[..words]) {
            *a ^= b;
        }
        for (a, b) in e.iter_mut().zip(&theirs[words..]) {
            *a = a.wrapping_add(*b);
        }
    }
    let first = u64::from(session.party() == 0);
    let mut out = ra;
    let (a, r) = (a.as_slice(), r.as_slice());
    for (i, v) in out.as_mut_slice().iter_mut().enumerate() {
        let ci = (c[i / 64] >> (i % 64)) & 1;
        let ei = e[i];
        // c·e + c·a + (1 - 2c)(e·r + r·a)
        let lin = ei.wrapping_mul(r[i]).wrapping_add(*v);
        *v = first
            .wrapping_mul(ci.wrapping_mul(ei))
            .wrapping_add(ci.wrapping_mul(a[i]))
            .wrapping_add(1u64.wrapping_sub(2 * ci).wrapping_mul(lin));
    }
    Ok(out.reshape(x.shape())?.with_frac_bits(x.frac_bits()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unshuffle_splits_even_and_odd_bits() {
        let x = 0xDEAD_BEEF_0123_4567u64;
        let (e, o) = unshuffle_word(x);
        for i in 0..32 {
            assert_eq!((u64::from(e) >> i) & 1, (x >> (2 * i)) & 1);
            assert_eq!((u64::from(o) >> i) & 1, (x >> (2 * i + 1)) & 1);
        }
        let words = [x, !x, 12345];
        let (even, odd) = unshuffle(&words);
        assert_eq!(even.len(), 2);
        for bit in 0..(64 * 3 / 2) {
            let (src_e, src_o) = (2 * bit, 2 * bit + 1);
            assert_eq!(
                (even[bit / 64] >> (bit % 64)) & 1,
                (words[src_e / 64] >> (src_e % 64)) & 1
            );
            assert_eq!(
                (odd[bit / 64] >> (bit % 64)) & 1,
                (words[src_o / 64] >> (src_o % 64)) & 1
            );
        }
    }
}
