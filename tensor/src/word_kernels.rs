//! The named kernels of the binary (XOR-shared) circuits: word-wise XOR, AND and shifts, the
//! bit re-packing of the carry tree, the binary Beaver combine, and the combines of the
//! binary-to-arithmetic conversions. A tensor of words is a [`RingTensor`] at scale 0 (64
//! bits per element); a tensor of packed bits holds bit `i` in bit `i % 64` of word `i / 64`.
//!
//! As with the ring kernels, the words these take or write are frame words (what crosses the
//! network, on the host); everything else stays where the tensor's [`Storage`] is, so a
//! device backend implements each function here once and the circuits in crate `mpc` never
//! touch a slice.

use crate::error::{Result, invalid};
use crate::ring::RingTensor;
use crate::ring_kernels::{lengths, same_shape};
use crate::storage::Storage;

/// Words needed to pack `bits` bits.
pub fn packed_words(bits: usize) -> usize {
    bits.div_ceil(64)
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

impl RingTensor {
    /// Words as a one-dimensional tensor at scale 0.
    pub fn words(data: Vec<u64>) -> RingTensor {
        let n = data.len();
        RingTensor::from_raw(&[n], data, 0).expect("a vector's length is its shape")
    }

    /// `self ⊕ other`, elementwise (same shapes; the result keeps `self`'s scale).
    ///
    /// # Errors
    /// Different shapes.
    pub fn xor(&self, other: &RingTensor) -> Result<RingTensor> {
        let mut out = self.clone();
        out.xor_assign(other)?;
        Ok(out)
    }

    /// `self ⊕= other`, elementwise.
    ///
    /// # Errors
    /// Different shapes.
    pub fn xor_assign(&mut self, other: &RingTensor) -> Result<()> {
        same_shape("xor", self, other)?;
        match other.storage() {
            Storage::Cpu(_) => {
                let theirs = other.as_slice();
                for (a, b) in self.as_mut_slice().iter_mut().zip(theirs) {
                    *a ^= b;
                }
            }
        }
        Ok(())
    }

    /// `self ∧ other`, elementwise, of two local words (not a protocol: for public words or
    /// the dealer's plaintext).
    ///
    /// # Errors
    /// Different shapes.
    pub fn and_local(&self, other: &RingTensor) -> Result<RingTensor> {
        same_shape("and_local", self, other)?;
        let data = match (self.storage(), other.storage()) {
            (Storage::Cpu(_), Storage::Cpu(_)) => self
                .as_slice()
                .iter()
                .zip(other.as_slice())
                .map(|(a, b)| a & b)
                .collect(),
        };
        RingTensor::from_raw(self.shape(), data, self.frac_bits())
    }

    /// Every word AND-ed with the public `mask`.
    pub fn and_scalar(&self, mask: u64) -> RingTensor {
        self.word_map(|w| w & mask)
    }

    /// Every word XOR-ed with the public `v` (`!0` flips every bit).
    pub fn xor_scalar(&self, v: u64) -> RingTensor {
        self.word_map(|w| w ^ v)
    }

    /// Every word shifted left by `k` bits (zeros in).
    pub fn shl_words(&self, k: u32) -> RingTensor {
        self.word_map(|w| w.checked_shl(k).unwrap_or(0))
    }

    /// Every word shifted right by `k` bits, logically (zeros in).
    pub fn shr_words(&self, k: u32) -> RingTensor {
        self.word_map(|w| w.checked_shr(k).unwrap_or(0))
    }

    fn word_map(&self, f: impl Fn(u64) -> u64) -> RingTensor {
        match self.storage() {
            Storage::Cpu(_) => self.map(f),
        }
    }

    /// `a ⊕ b ⊕ c`, elementwise, in one pass (a full adder's sum bits).
    ///
    /// # Errors
    /// Different shapes.
    pub fn xor3(a: &RingTensor, b: &RingTensor, c: &RingTensor) -> Result<RingTensor> {
        same_shape("xor3", a, b)?;
        same_shape("xor3", a, c)?;
        let data = match (a.storage(), b.storage(), c.storage()) {
            (Storage::Cpu(_), Storage::Cpu(_), Storage::Cpu(_)) => a
                .as_slice()
                .iter()
                .zip(b.as_slice())
                .zip(c.as_slice())
                .map(|((a, b), c)| a ^ b ^ c)
                .collect(),
        };
        RingTensor::from_raw(a.shape(), data, a.frac_bits())
    }

    /// `(self ⊕ other) << k`, elementwise, in one pass (a full adder's carry into the next
    /// bit).
    ///
    /// # Errors
    /// Different shapes.
    pub fn xor_shl(&self, other: &RingTensor, k: u32) -> Result<RingTensor> {
        same_shape("xor_shl", self, other)?;
        let data = match (self.storage(), other.storage()) {
            (Storage::Cpu(_), Storage::Cpu(_)) => self
                .as_slice()
                .iter()
                .zip(other.as_slice())
                .map(|(a, b)| (a ^ b).checked_shl(k).unwrap_or(0))
                .collect(),
        };
        RingTensor::from_raw(self.shape(), data, self.frac_bits())
    }

    /// XORs `words` (a peer's frame) in, elementwise.
    ///
    /// # Errors
    /// `words` of another length.
    pub fn xor_words(&mut self, words: &[u64]) -> Result<()> {
        lengths("xor_words", self.shape(), self.numel(), words.len())?;
        match self.storage() {
            Storage::Cpu(_) => {
                for (a, b) in self.as_mut_slice().iter_mut().zip(words) {
                    *a ^= b;
                }
            }
        }
        Ok(())
    }

    /// Writes `self ⊕ mask` into `out`: this party's part of a masked binary opening.
    ///
    /// # Errors
    /// `mask` of another shape, or `out` of another length.
    pub fn write_xor_masked(&self, mask: &RingTensor, out: &mut [u64]) -> Result<()> {
        same_shape("write_xor_masked", self, mask)?;
        lengths("write_xor_masked", self.shape(), self.numel(), out.len())?;
        match (self.storage(), mask.storage()) {
            (Storage::Cpu(_), Storage::Cpu(_)) => {
                for ((o, x), m) in out.iter_mut().zip(self.as_slice()).zip(mask.as_slice()) {
                    *o = x ^ m;
                }
            }
        }
        Ok(())
    }

    /// The binary Beaver combine, in one pass: for this party's words `x`, `y`, its triple
    /// shares `a`, `b`, `c = self` and the peers' opened XORs `pe` (of `x ⊕ a`) and `pf` (of
    /// `y ⊕ b`), returns `c ⊕ (e ∧ y) ⊕ (a ∧ f)` with `e = x ⊕ a ⊕ pe`, `f = y ⊕ b ⊕ pf`.
    /// XOR-summed over the parties this is `x ∧ y`.
    ///
    /// # Errors
    /// Operands of different shapes, or opened words of another length.
    pub fn and_combine(
        mut self,
        x: &RingTensor,
        a: &RingTensor,
        y: &RingTensor,
        b: &RingTensor,
        pe: &[u64],
        pf: &[u64],
    ) -> Result<RingTensor> {
        for t in [a, y, b, &self] {
            same_shape("and_combine", x, t)?;
        }
        lengths("and_combine", x.shape(), x.numel(), pe.len())?;
        lengths("and_combine", x.shape(), x.numel(), pf.len())?;
        match (x.storage(), y.storage()) {
            (Storage::Cpu(_), Storage::Cpu(_)) => {
                let lhs = x.as_slice().iter().zip(a.as_slice()).zip(pe);
                let rhs = y.as_slice().iter().zip(b.as_slice()).zip(pf);
                for (z, (((x, a), pe), ((y, b), pf))) in
                    self.as_mut_slice().iter_mut().zip(lhs.zip(rhs))
                {
                    let e = x ^ a ^ pe;
                    let f = y ^ b ^ pf;
                    *z ^= (e & y) ^ (a & f);
                }
            }
        }
        Ok(self)
    }

    /// Splits packed bits (an even number per element) into their even and odd positions,
    /// each re-packed densely: `(even, odd)`, half as many words each (rounded up).
    ///
    /// # Errors
    /// A tensor that is not one-dimensional.
    pub fn unshuffle_bits(&self) -> Result<(RingTensor, RingTensor)> {
        if self.rank() != 1 {
            return Err(invalid("unshuffle_bits", "needs a vector of packed words"));
        }
        let (even, odd) = match self.storage() {
            Storage::Cpu(_) => {
                let halves: Vec<(u32, u32)> =
                    self.as_slice().iter().map(|&w| unshuffle_word(w)).collect();
                let pack = |pick: fn(&(u32, u32)) -> u32| -> Vec<u64> {
                    halves
                        .chunks(2)
                        .map(|c| {
                            u64::from(pick(&c[0]))
                                | c.get(1).map_or(0, |h| u64::from(pick(h)) << 32)
                        })
                        .collect()
                };
                (pack(|h| h.0), pack(|h| h.1))
            }
        };
        Ok((RingTensor::words(even), RingTensor::words(odd)))
    }

    /// The first `len` words of a vector, zero-padded when it is shorter.
    ///
    /// # Errors
    /// A tensor that is not one-dimensional.
    pub fn resize_words(&self, len: usize) -> Result<RingTensor> {
        if self.rank() != 1 {
            return Err(invalid("resize_words", "needs a vector of words"));
        }
        let data = match self.storage() {
            Storage::Cpu(_) => {
                let mut v = self.as_slice().to_vec();
                v.resize(len, 0);
                v
            }
        };
        Ok(RingTensor::words(data).with_frac_bits(self.frac_bits()))
    }

    /// `self ⊕= top bits`: XORs bit 63 of `a ⊕ b` (one per element) into the packed bits of
    /// `self`, element `i` at bit `i % 64` of word `i / 64`.
    ///
    /// # Errors
    /// `a` and `b` of different shapes, or `self` too short to hold their bits.
    pub fn xor_top_bits(&mut self, a: &RingTensor, b: &RingTensor) -> Result<()> {
        same_shape("xor_top_bits", a, b)?;
        lengths(
            "xor_top_bits",
            self.shape(),
            packed_words(a.numel()),
            self.numel(),
        )?;
        match (a.storage(), b.storage()) {
            (Storage::Cpu(_), Storage::Cpu(_)) => {
                let out = self.as_mut_slice();
                for (i, (a, b)) in a.as_slice().iter().zip(b.as_slice()).enumerate() {
                    out[i / 64] ^= ((a ^ b) >> 63) << (i % 64);
                }
            }
        }
        Ok(())
    }

    /// Bits `offset..offset + len` of packed bits, re-packed from bit 0.
    ///
    /// # Errors
    /// A range past the packed bits.
    pub fn bit_range(&self, offset: usize, len: usize) -> Result<RingTensor> {
        if offset + len > 64 * self.numel() {
            return Err(invalid(
                "bit_range",
                format!("bits {offset}..{} of {} words", offset + len, self.numel()),
            ));
        }
        let data = match self.storage() {
            Storage::Cpu(_) => {
                let src = self.as_slice();
                let mut out = vec![0u64; packed_words(len)];
                for i in 0..len {
                    let k = offset + i;
                    out[i / 64] |= ((src[k / 64] >> (k % 64)) & 1) << (i % 64);
                }
                out
            }
        };
        Ok(RingTensor::words(data))
    }

    /// Bits `offset..offset + len` of every word, packed densely: bit `j` of word `e` lands at
    /// position `e·len + j` (a field of each word, e.g. the top bits of the words of an A2B).
    ///
    /// # Errors
    /// A field past bit 63.
    pub fn word_fields(&self, offset: u32, len: u32) -> Result<RingTensor> {
        if offset + len > 64 {
            return Err(invalid(
                "word_fields",
                format!("bits {offset}..{} of a 64-bit word", offset + len),
            ));
        }
        let len = len as usize;
        let data = match self.storage() {
            Storage::Cpu(_) => {
                let src = self.as_slice();
                let mut out = vec![0u64; packed_words(len * src.len())];
                for (e, w) in src.iter().enumerate() {
                    for j in 0..len {
                        let k = e * len + j;
                        out[k / 64] |= ((w >> (offset as usize + j)) & 1) << (k % 64);
                    }
                }
                out
            }
        };
        Ok(RingTensor::words(data))
    }

    /// Each of the first `len` packed bits repeated `times` times in a row (bit `i` lands at
    /// `i·times .. (i + 1)·times`).
    ///
    /// # Errors
    /// Fewer than `len` packed bits.
    pub fn repeat_bits(&self, len: usize, times: usize) -> Result<RingTensor> {
        if len > 64 * self.numel() {
            return Err(invalid(
                "repeat_bits",
                format!("{len} bits of {} words", self.numel()),
            ));
        }
        let data = match self.storage() {
            Storage::Cpu(_) => {
                let src = self.as_slice();
                let mut out = vec![0u64; packed_words(len * times)];
                for i in 0..len {
                    let bit = (src[i / 64] >> (i % 64)) & 1;
                    for j in 0..times {
                        let k = i * times + j;
                        out[k / 64] |= bit << (k % 64);
                    }
                }
                out
            }
        };
        Ok(RingTensor::words(data))
    }

    /// The concatenation of packed bit strings, each given with its length in bits.
    ///
    /// # Errors
    /// A part with fewer bits than its length says.
    pub fn concat_bits(parts: &[(&RingTensor, usize)]) -> Result<RingTensor> {
        let total: usize = parts.iter().map(|(_, len)| len).sum();
        let mut out = vec![0u64; packed_words(total)];
        let mut at = 0;
        for (p, len) in parts {
            let bits = p.bit_range(0, *len)?;
            match bits.storage() {
                Storage::Cpu(_) => {
                    let src = bits.as_slice();
                    for i in 0..*len {
                        let k = at + i;
                        out[k / 64] |= ((src[i / 64] >> (i % 64)) & 1) << (k % 64);
                    }
                }
            }
            at += len;
        }
        Ok(RingTensor::words(out))
    }

    /// Packed bits as one ring element (0 or 1) per bit, a vector of `bits` elements at
    /// scale 0.
    ///
    /// # Errors
    /// Fewer than `bits` packed bits.
    pub fn unpack_bits(&self, bits: usize) -> Result<RingTensor> {
        lengths(
            "unpack_bits",
            self.shape(),
            packed_words(bits),
            self.numel(),
        )?;
        let data = match self.storage() {
            Storage::Cpu(_) => {
                let w = self.as_slice();
                (0..bits).map(|i| (w[i / 64] >> (i % 64)) & 1).collect()
            }
        };
        Ok(RingTensor::words(data))
    }

    /// Sums each run of 64 elements `b_j` into `Σ b_j · 2^j`: arithmetic shares of bits back
    /// into shares of the words they came from.
    ///
    /// # Errors
    /// An element count that is not `64 · numel(shape)`.
    pub fn pack_bit_values(&self, shape: &[usize]) -> Result<RingTensor> {
        let words = crate::shape::numel(shape);
        lengths("pack_bit_values", self.shape(), 64 * words, self.numel())?;
        let data = match self.storage() {
            Storage::Cpu(_) => self
                .as_slice()
                .chunks(64)
                .map(|c| {
                    c.iter()
                        .enumerate()
                        .fold(0u64, |acc, (j, b)| acc.wrapping_add(b << j))
                })
                .collect(),
        };
        RingTensor::from_raw(shape, data, 0)
    }

    /// The combine of a bit's binary-to-arithmetic conversion, in place on this party's
    /// shares `self = [r]` of the dealer's random bits: with `c = b ⊕ r` opened (packed, one
    /// bit per element), `[b] = lead·c + (1 - 2c)·[r]`, where `lead` is 1 at one party.
    ///
    /// # Errors
    /// `opened` too short for `self`'s elements.
    pub fn b2a_combine(mut self, opened: &[u64], lead: bool) -> Result<RingTensor> {
        lengths(
            "b2a_combine",
            self.shape(),
            packed_words(self.numel()),
            opened.len(),
        )?;
        let first = u64::from(lead);
        match self.storage() {
            Storage::Cpu(_) => {
                for (i, v) in self.as_mut_slice().iter_mut().enumerate() {
                    let c = (opened[i / 64] >> (i % 64)) & 1;
                    *v = first
                        .wrapping_mul(c)
                        .wrapping_add(1u64.wrapping_sub(2 * c).wrapping_mul(*v));
                }
            }
        }
        Ok(self)
    }

    /// The combine of a one-round bit × value product, in place on this party's shares
    /// `self = [r·a]`: with `c = b ⊕ r` opened (packed bits) and `e = x - a + pe` (this
    /// party's `x - a` plus the peers' opened sum `pe`),
    /// `[b·x] = lead·c·e + c·[a] + (1 - 2c)(e·[r] + [r·a])`.
    ///
    /// # Errors
    /// Operands of different shapes, or opened words of the wrong length.
    pub fn bit_mul_combine(
        mut self,
        x: &RingTensor,
        a: &RingTensor,
        r: &RingTensor,
        c: &[u64],
        pe: &[u64],
        lead: bool,
    ) -> Result<RingTensor> {
        for t in [x, a, r] {
            same_shape("bit_mul_combine", &self, t)?;
        }
        lengths(
            "bit_mul_combine",
            self.shape(),
            packed_words(self.numel()),
            c.len(),
        )?;
        lengths("bit_mul_combine", self.shape(), self.numel(), pe.len())?;
        let first = u64::from(lead);
        match (x.storage(), a.storage(), r.storage()) {
            (Storage::Cpu(_), Storage::Cpu(_), Storage::Cpu(_)) => {
                let (x, a, r) = (x.as_slice(), a.as_slice(), r.as_slice());
                for (i, v) in self.as_mut_slice().iter_mut().enumerate() {
                    let ci = (c[i / 64] >> (i % 64)) & 1;
                    let e = x[i].wrapping_sub(a[i]).wrapping_add(pe[i]);
                    let lin = e.wrapping_mul(r[i]).wrapping_add(*v);
                    *v = first
                        .wrapping_mul(ci.wrapping_mul(e))
                        .wrapping_add(ci.wrapping_mul(a[i]))
                        .wrapping_add(1u64.wrapping_sub(2 * ci).wrapping_mul(lin));
                }
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &[u64]) -> RingTensor {
        RingTensor::words(v.to_vec())
    }

    #[test]
    fn unshuffle_splits_even_and_odd_bits() {
        let x = 0xDEAD_BEEF_0123_4567u64;
        let (e, o) = unshuffle_word(x);
        for i in 0..32 {
            assert_eq!((u64::from(e) >> i) & 1, (x >> (2 * i)) & 1);
            assert_eq!((u64::from(o) >> i) & 1, (x >> (2 * i + 1)) & 1);
        }
        let words = [x, !x, 12345];
        let (even, odd) = w(&words).unshuffle_bits().unwrap();
        let (even, odd) = (even.as_slice(), odd.as_slice());
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
        assert!(RingTensor::zeros(&[2, 2], 0).unshuffle_bits().is_err());
    }

    #[test]
    fn word_fields_pack_a_field_of_every_word_densely() {
        let words = [0xF0F0_0000_0000_0003u64, 0x8000_0000_0000_0001, u64::MAX];
        let packed = w(&words).word_fields(60, 4).unwrap();
        assert_eq!(packed.as_slice(), &[0xF8F]);
        let low = w(&words).word_fields(0, 2).unwrap();
        assert_eq!(low.as_slice(), &[0b11_01_11]);
        let wide = w(&[u64::MAX; 3]).word_fields(1, 40).unwrap();
        assert_eq!(wide.as_slice(), &[u64::MAX, (1 << 56) - 1]);
        assert!(w(&words).word_fields(60, 5).is_err());
    }

    #[test]
    fn the_binary_beaver_combine_of_two_parties_xors_to_the_and() {
        let (x, y) = (0b1100u64, 0b1010u64);
        let (a, b) = (0x1234u64, 0xF0F0u64);
        let c = a & b;
        let (x1, y1, a1, b1, c1) = (77u64, 5u64, 0xFFu64, 9u64, 0xABCDu64);
        let (x0, y0, a0, b0, c0) = (x ^ x1, y ^ y1, a ^ a1, b ^ b1, c ^ c1);
        let mut open = [[0u64; 1]; 4];
        w(&[x0]).write_xor_masked(&w(&[a0]), &mut open[0]).unwrap();
        w(&[y0]).write_xor_masked(&w(&[b0]), &mut open[1]).unwrap();
        w(&[x1]).write_xor_masked(&w(&[a1]), &mut open[2]).unwrap();
        w(&[y1]).write_xor_masked(&w(&[b1]), &mut open[3]).unwrap();
        let z0 = w(&[c0])
            .and_combine(
                &w(&[x0]),
                &w(&[a0]),
                &w(&[y0]),
                &w(&[b0]),
                &open[2],
                &open[3],
            )
            .unwrap();
        let z1 = w(&[c1])
            .and_combine(
                &w(&[x1]),
                &w(&[a1]),
                &w(&[y1]),
                &w(&[b1]),
                &open[0],
                &open[1],
            )
            .unwrap();
        // the shares XOR to c ⊕ (e ∧ y) ⊕ (a ∧ f) = a∧b ⊕ (x ⊕ a)∧y ⊕ a∧(y ⊕ b) = x ∧ y
        assert_eq!(z0.as_slice()[0] ^ z1.as_slice()[0], x & y);
    }

    #[test]
    fn bits_unpack_and_pack_back_into_their_words() {
        let words = w(&[0xDEAD_BEEF_0123_4567, u64::MAX]);
        let bits = words.unpack_bits(128).unwrap();
        assert_eq!(bits.as_slice()[0..4], [1, 1, 1, 0]);
        assert_eq!(bits.pack_bit_values(&[2]).unwrap(), words);
        assert!(words.unpack_bits(129).is_err());
        assert!(bits.pack_bit_values(&[3]).is_err());
    }

    #[test]
    fn top_bits_land_at_their_element_positions() {
        let a = w(&[1 << 63, 0, 1 << 63]);
        let b = w(&[0, 0, 1 << 63]);
        let mut packed = w(&[0b1000]);
        packed.xor_top_bits(&a, &b).unwrap();
        assert_eq!(packed.as_slice(), &[0b1001]);
        assert!(w(&[0, 0]).xor_top_bits(&a, &b).is_err());
    }

    #[test]
    fn bit_strings_slice_repeat_and_concatenate() {
        let x = w(&[0b1011]);
        assert_eq!(x.bit_range(1, 3).unwrap().as_slice(), &[0b101]);
        assert!(x.bit_range(60, 5).is_err());
        assert_eq!(x.repeat_bits(2, 3).unwrap().as_slice(), &[0b111_111]);
        assert_eq!(x.repeat_bits(3, 2).unwrap().as_slice(), &[0b00_11_11]);
        let long = w(&[u64::MAX, 1]);
        let joined = RingTensor::concat_bits(&[(&x, 4), (&long, 65)]).unwrap();
        // 4 bits 1011, then 65 ones
        assert_eq!(joined.as_slice(), &[(u64::MAX << 4) | 0b1011, 0b1_1111]);
        assert!(RingTensor::concat_bits(&[(&x, 65)]).is_err());
    }

    #[test]
    fn a_bit_converts_to_its_arithmetic_value() {
        // two parties, r = 1 shared as 5 + (1 - 5); b = 1, so c = b ⊕ r = 0 and then b = r
        let r = [5u64, 1u64.wrapping_sub(5)];
        let c = [0u64];
        let s0 = w(&[r[0]]).b2a_combine(&c, true).unwrap();
        let s1 = w(&[r[1]]).b2a_combine(&c, false).unwrap();
        assert_eq!(s0.as_slice()[0].wrapping_add(s1.as_slice()[0]), 1);
        // b = 0: c = 1, b = 1 - r = 0
        let s0 = w(&[r[0]]).b2a_combine(&[1], true).unwrap();
        let s1 = w(&[r[1]]).b2a_combine(&[1], false).unwrap();
        assert_eq!(s0.as_slice()[0].wrapping_add(s1.as_slice()[0]), 0);
    }

    #[test]
    fn shifts_and_masks_act_on_every_word() {
        let x = w(&[0b0110, u64::MAX]);
        assert_eq!(x.shl_words(1).as_slice(), &[0b1100, u64::MAX << 1]);
        assert_eq!(x.shr_words(64).as_slice(), &[0, 0]);
        assert_eq!(x.and_scalar(0b0100).as_slice(), &[0b0100, 0b0100]);
        assert_eq!(x.xor_scalar(!0).as_slice(), &[!0b0110, 0]);
        assert_eq!(
            x.resize_words(3).unwrap().as_slice(),
            &[0b0110, u64::MAX, 0]
        );
        assert_eq!(x.resize_words(1).unwrap().as_slice(), &[0b0110]);
        let mut y = x.clone();
        assert!(y.xor_words(&[1]).is_err());
        y.xor_words(&[1, 1]).unwrap();
        assert_eq!(y.xor(&x).unwrap().as_slice(), &[1, 1]);
        assert_eq!(x.and_local(&w(&[2, 3])).unwrap().as_slice(), &[2, 3]);
        let three = RingTensor::xor3(&x, &w(&[1, 1]), &w(&[0b1000, 0])).unwrap();
        assert_eq!(three.as_slice(), &[0b1111, u64::MAX - 1]);
        assert_eq!(
            x.xor_shl(&w(&[0b0010, 0]), 2).unwrap().as_slice(),
            &[0b10000, u64::MAX << 2]
        );
        assert!(RingTensor::xor3(&x, &w(&[1]), &x).is_err());
    }
}
