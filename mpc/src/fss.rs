//! Function secret sharing: distributed comparison functions (DCF; Boyle, Chandran, Gilboa,
//! Gupta, Ishai, Kumar, Rathee, "Function Secret Sharing for Mixed-Mode and Fixed-Point
//! Secure Computation", EUROCRYPT 2021, Fig. 1), the keys behind the one-round comparisons
//! of [`crate::protocols::fss`].
//!
//! A DCF key pair for the function `f(x) = β if x < α else 0` on `n`-bit unsigned inputs,
//! with `β` a vector of `w` ring elements, lets two parties each evaluate their key at a
//! public `x` and obtain additive shares of `f(x)`. One key alone is pseudo-random: it
//! reveals neither `α` nor `β`.
//!
//! A key is the party's 128-bit root seed and correction words shared by both keys: per
//! level a seed correction (128 bits), a value correction (`w` words) and two control bits,
//! and a final value correction (`w` words). Here the root seed comes from the party's own
//! seed stream (a free slot, so the dealer sends nothing for it) and the correction words
//! travel as [`Dcf::key_words`] words per key: `n·(2 + w) + 2 + w`, 256 words (2 KiB) for a
//! 63-bit domain and `w = 2`.
//!
//! The length-doubling generator is fixed-key AES-128 in Matyas–Meyer–Oseas form,
//! `H_j(s) = AES_K(s ⊕ T_j) ⊕ s ⊕ T_j` for four public tweaks `T_j` (left seed, right seed,
//! left value, right value; the seeds' low bit is their control bit), the construction
//! the FSS implementations of Orca and SIGMA use. Evaluation costs two AES blocks per level;
//! generation eight. Nothing branches on a key or a control bit: they select through masks.

use aes::Aes128;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

use crate::error::{Error, Result};

/// The most payload words a key carries.
pub const MAX_WIDTH: usize = 2;

/// The public AES key of the generator (the first 128 bits of the fractional part of π).
const FIXED_KEY: [u8; 16] = [
    0x24, 0x3f, 0x6a, 0x88, 0x85, 0xa3, 0x08, 0xd3, 0x13, 0x19, 0x8a, 0x2e, 0x03, 0x70, 0x73, 0x44,
];

/// The tweaks of the four outputs of one expansion (in the high word, so that the control
/// bit in the low word stays the generator's).
const TWEAK: [u128; 4] = [0, 1 << 64, 2 << 64, 3 << 64];

/// Elements processed together, so that AES runs over many independent blocks at once.
const CHUNK: usize = 512;

/// A DCF family: domain bits and payload width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dcf {
    bits: u32,
    width: usize,
}

struct Hash(Aes128);

impl Hash {
    fn new() -> Self {
        Self(Aes128::new(&Array::from(FIXED_KEY)))
    }

    /// `out[k] = H_{tweak[k]}(seeds[k])`.
    fn apply(&self, seeds: &[u128], tweak: impl Fn(usize) -> u128, out: &mut Vec<u128>) {
        out.clear();
        out.extend(seeds.iter().enumerate().map(|(k, s)| s ^ tweak(k)));
        let mut blocks: Vec<[u8; 16]> = out.iter().map(|v| v.to_le_bytes()).collect();
        self.0
            .encrypt_blocks(Array::cast_slice_from_core_mut(&mut blocks));
        for (o, b) in out.iter_mut().zip(&blocks) {
            *o ^= u128::from_le_bytes(*b);
        }
    }
}

/// All ones if `bit` is 1, zero if 0.
fn mask(bit: u128) -> u128 {
    0u128.wrapping_sub(bit & 1)
}

fn mask64(bit: u64) -> u64 {
    0u64.wrapping_sub(bit & 1)
}

/// The `w` ring words a 128-bit value converts to.
fn convert(v: u128, w: usize) -> [u64; MAX_WIDTH] {
    let mut out = [v as u64, (v >> 64) as u64];
    out[w..].fill(0);
    out
}

fn seed_at(words: &[u64], e: usize) -> u128 {
    u128::from(words[2 * e]) | (u128::from(words[2 * e + 1]) << 64)
}

impl Dcf {
    /// A family on `bits`-bit inputs (1 to 64) with `width` payload words (1 or 2).
    ///
    /// # Errors
    /// A width or domain out of range.
    pub fn new(bits: u32, width: usize) -> Result<Self> {
        if !(1..=64).contains(&bits) || !(1..=MAX_WIDTH).contains(&width) {
            return Err(Error::InvalidArgument {
                op: "dcf",
                reason: format!(
                    "a DCF takes 1 to 64 input bits and 1 to {MAX_WIDTH} payload words, not {bits} bits and {width} words"
                ),
            });
        }
        Ok(Self { bits, width })
    }

    /// Input bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Payload words.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Correction words per key (shared by the two keys of a pair).
    pub fn key_words(&self) -> usize {
        self.bits as usize * (2 + self.width) + 2 + self.width
    }

    fn level_words(&self) -> usize {
        2 + self.width
    }

    fn domain_mask(&self) -> u64 {
        if self.bits == 64 {
            u64::MAX
        } else {
            (1u64 << self.bits) - 1
        }
    }

    /// The correction words of the key pairs for `f_e(x) = betas[e] if x < alphas[e] else 0`
    /// (inputs read modulo 2^bits), whose root seeds are `roots[b]` (two words per element,
    /// party `b`'s): [`Dcf::key_words`] words per element, element after element.
    ///
    /// # Errors
    /// Slices whose lengths do not agree.
    pub fn generate(&self, alphas: &[u64], betas: &[u64], roots: [&[u64]; 2]) -> Result<Vec<u64>> {
        let (n, w) = (alphas.len(), self.width);
        if betas.len() != n * w || roots.iter().any(|r| r.len() != 2 * n) {
            return Err(Error::InvalidArgument {
                op: "dcf generate",
                reason: format!(
                    "{n} inputs need {} payload words and {} root words per party, got {} and {:?}",
                    n * w,
                    2 * n,
                    betas.len(),
                    roots.map(<[u64]>::len)
                ),
            });
        }
        let hash = Hash::new();
        let kw = self.key_words();
        let mut keys = vec![0u64; n * kw];
        let (mut seeds, mut out) = (Vec::new(), Vec::new());
        for start in (0..n).step_by(CHUNK) {
            let m = CHUNK.min(n - start);
            // s[b·m + e], t[b·m + e]: party b's seed and control bit for element e.
            let mut s: Vec<u128> = (0..2)
                .flat_map(|b| (0..m).map(move |e| seed_at(roots[b], start + e)))
                .collect();
            let mut t: Vec<u128> = (0..2 * m).map(|k| (k >= m) as u128).collect();
            let mut v = vec![[0u64; MAX_WIDTH]; m];
            for level in 0..self.bits {
                let shift = self.bits - 1 - level;
                // Four expansions of every seed: [sL, sR, vL, vR] blocks of 2m each.
                seeds.clear();
                for _ in 0..4 {
                    seeds.extend_from_slice(&s);
                }
                hash.apply(&seeds, |k| TWEAK[k / (2 * m)], &mut out);
                let (sl, rest) = out.split_at(2 * m);
                let (sr, rest) = rest.split_at(2 * m);
                let (vl, vr) = rest.split_at(2 * m);
                let mut tcw = [0u64; 2];
                for e in 0..m {
                    let key = &mut keys[(start + e) * kw..(start + e + 1) * kw];
                    let a = u128::from((alphas[start + e] >> shift) & 1);
                    let am = mask(a);
                    // Keep the side of α's bit, lose the other.
                    let pick = |l: u128, r: u128, keep: bool| {
                        if keep {
                            (l & !am) | (r & am)
                        } else {
                            (l & am) | (r & !am)
                        }
                    };
                    let (s0l, s1l, s0r, s1r) = (sl[e], sl[m + e], sr[e], sr[m + e]);
                    let lose = [pick(s0l, s0r, false), pick(s1l, s1r, false)];
                    let keep = [pick(s0l, s0r, true), pick(s1l, s1r, true)];
                    let vlose = [pick(vl[e], vr[e], false), pick(vl[m + e], vr[m + e], false)];
                    let vkeep = [pick(vl[e], vr[e], true), pick(vl[m + e], vr[m + e], true)];
                    let s_cw = (lose[0] ^ lose[1]) & !1;
                    let t1 = t[m + e] as u64;
                    // (-1)^{t1}: negate through the mask.
                    let neg = |x: u64| (x ^ mask64(t1)).wrapping_add(t1);
                    let (c0, c1) = (convert(vlose[0], w), convert(vlose[1], w));
                    let (k0, k1) = (convert(vkeep[0], w), convert(vkeep[1], w));
                    let lw = level as usize * self.level_words();
                    key[lw] = s_cw as u64;
                    key[lw + 1] = (s_cw >> 64) as u64;
                    for j in 0..w {
                        let beta = betas[(start + e) * w + j] & mask64(a as u64);
                        let mut cw = neg(c1[j].wrapping_sub(c0[j]).wrapping_sub(v[e][j]));
                        cw = cw.wrapping_add(neg(beta));
                        key[lw + 2 + j] = cw;
                        v[e][j] = v[e][j]
                            .wrapping_sub(k1[j])
                            .wrapping_add(k0[j])
                            .wrapping_add(neg(cw));
                    }
                    let a64 = a as u64;
                    tcw[0] = ((s0l ^ s1l) as u64 & 1) ^ a64 ^ 1;
                    tcw[1] = ((s0r ^ s1r) as u64 & 1) ^ a64;
                    let tw = self.bits as usize * self.level_words();
                    key[tw] |= tcw[0] << level;
                    key[tw + 1] |= tcw[1] << level;
                    let tkeep = (tcw[0] & !mask64(a64)) | (tcw[1] & mask64(a64));
                    for (b, kept) in keep.iter().enumerate() {
                        let k = b * m + e;
                        let tb = t[k];
                        s[k] = (kept & !1) ^ (mask(tb) & s_cw);
                        t[k] = (kept & 1) ^ (tb & u128::from(tkeep));
                    }
                }
            }
            // The final correction: Convert of the last seeds, through H_vL.
            hash.apply(&s, |_| TWEAK[2], &mut out);
            for e in 0..m {
                let key = &mut keys[(start + e) * kw..(start + e + 1) * kw];
                let t1 = t[m + e] as u64;
                let neg = |x: u64| (x ^ mask64(t1)).wrapping_add(t1);
                let (c0, c1) = (convert(out[e], w), convert(out[m + e], w));
                let fw = self.bits as usize * self.level_words() + 2;
                for j in 0..w {
                    key[fw + j] = neg(c1[j].wrapping_sub(c0[j]).wrapping_sub(v[e][j]));
                }
            }
        }
        Ok(keys)
    }

    /// Party `party`'s (0 or 1) shares of `f_e(xs[e])` for every element: `w` words each,
    /// element after element. `root` holds the party's root seeds (two words per element),
    /// `keys` the correction words ([`Dcf::generate`]'s output). The two parties' results
    /// add up to `β_e·[xs[e] mod 2^bits < α_e]`.
    ///
    /// # Errors
    /// Slices whose lengths do not agree, or a party other than 0 or 1.
    pub fn evaluate(
        &self,
        party: usize,
        root: &[u64],
        keys: &[u64],
        xs: &[u64],
    ) -> Result<Vec<u64>> {
        let (n, w, kw) = (xs.len(), self.width, self.key_words());
        if party > 1 || root.len() != 2 * n || keys.len() != n * kw {
            return Err(Error::InvalidArgument {
                op: "dcf evaluate",
                reason: format!(
                    "party {party} of 2, {n} inputs with {} root words and {} key words (want {} and {})",
                    root.len(),
                    keys.len(),
                    2 * n,
                    n * kw
                ),
            });
        }
        let hash = Hash::new();
        let mut out = vec![0u64; n * w];
        let neg = |x: u64| if party == 1 { x.wrapping_neg() } else { x };
        let (mut seeds, mut h) = (Vec::new(), Vec::new());
        for start in (0..n).step_by(CHUNK) {
            let m = CHUNK.min(n - start);
            let mut s: Vec<u128> = (0..m).map(|e| seed_at(root, start + e)).collect();
            let mut t = vec![party as u128; m];
            let xm = self.domain_mask();
            for level in 0..self.bits {
                let shift = self.bits - 1 - level;
                let bit = |e: usize| ((xs[start + e] & xm) >> shift) & 1;
                // The masked input x is public: choosing the tweak by its bit leaks nothing.
                seeds.clear();
                seeds.extend_from_slice(&s);
                seeds.extend_from_slice(&s);
                hash.apply(&seeds, |k| TWEAK[(k / m) * 2 + bit(k % m) as usize], &mut h);
                let lw = level as usize * self.level_words();
                let tw = self.bits as usize * self.level_words();
                for e in 0..m {
                    let key = &keys[(start + e) * kw..(start + e + 1) * kw];
                    let x = bit(e);
                    let tm = mask(t[e]);
                    let s_cw = u128::from(key[lw]) | (u128::from(key[lw + 1]) << 64);
                    let tcw = (key[tw + x as usize] >> level) & 1;
                    let vals = convert(h[m + e], w);
                    let o = &mut out[(start + e) * w..(start + e + 1) * w];
                    for j in 0..w {
                        let corr = key[lw + 2 + j] & (tm as u64);
                        o[j] = o[j].wrapping_add(neg(vals[j].wrapping_add(corr)));
                    }
                    let next = h[e];
                    s[e] = (next & !1) ^ (tm & s_cw);
                    t[e] = (next & 1) ^ (t[e] & u128::from(tcw));
                }
            }
            hash.apply(&s, |_| TWEAK[2], &mut h);
            let fw = self.bits as usize * self.level_words() + 2;
            for e in 0..m {
                let key = &keys[(start + e) * kw..(start + e + 1) * kw];
                let tm = mask(t[e]) as u64;
                let vals = convert(h[e], w);
                let o = &mut out[(start + e) * w..(start + e + 1) * w];
                for j in 0..w {
                    o[j] = o[j].wrapping_add(neg(vals[j].wrapping_add(key[fw + j] & tm)));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prg::{AesPrg, Seed};

    fn words(seed: u64, stream: u64, n: usize) -> Vec<u64> {
        AesPrg::new(&Seed::insecure_from_u64(seed), stream).gen_vec(n)
    }

    fn check(dcf: Dcf, alphas: &[u64], xs_per_alpha: &[u64], seed: u64) {
        let n = alphas.len();
        let w = dcf.width();
        let betas = words(seed, 1, n * w);
        let (r0, r1) = (words(seed, 2, 2 * n), words(seed, 3, 2 * n));
        let keys = dcf.generate(alphas, &betas, [&r0, &r1]).unwrap();
        for &x in xs_per_alpha {
            let xs = vec![x; n];
            let y0 = dcf.evaluate(0, &r0, &keys, &xs).unwrap();
            let y1 = dcf.evaluate(1, &r1, &keys, &xs).unwrap();
            let xm = dcf.domain_mask();
            for e in 0..n {
                let below = (x & xm) < (alphas[e] & xm);
                for j in 0..w {
                    let want = if below { betas[e * w + j] } else { 0 };
                    assert_eq!(
                        y0[e * w + j].wrapping_add(y1[e * w + j]),
                        want,
                        "bits {} x {x} alpha {} word {j}",
                        dcf.bits(),
                        alphas[e]
                    );
                }
            }
        }
    }

    #[test]
    fn exhaustive_on_small_domains() {
        for bits in 1..=6 {
            for w in 1..=2 {
                let dcf = Dcf::new(bits, w).unwrap();
                let all: Vec<u64> = (0..1u64 << bits).collect();
                check(dcf, &all, &all, u64::from(bits) * 10 + w as u64);
            }
        }
    }

    #[test]
    fn random_and_edge_inputs_on_wide_domains() {
        for bits in [31, 63, 64] {
            let dcf = Dcf::new(bits, 2).unwrap();
            let top = dcf.domain_mask();
            let mut alphas = words(u64::from(bits), 9, 600);
            alphas.extend([0, 1, top, top - 1, top / 2, top / 2 + 1]);
            let mut xs: Vec<u64> = words(u64::from(bits), 10, 6);
            xs.extend([
                0,
                1,
                top,
                top - 1,
                top / 2,
                top / 2 + 1,
                alphas[0],
                alphas[1],
            ]);
            check(dcf, &alphas, &xs, 77);
        }
    }

    #[test]
    fn bad_lengths_and_families_are_refused() {
        assert!(Dcf::new(0, 1).is_err());
        assert!(Dcf::new(65, 1).is_err());
        assert!(Dcf::new(8, 3).is_err());
        let dcf = Dcf::new(8, 1).unwrap();
        assert!(dcf.generate(&[1, 2], &[1], [&[0; 4], &[0; 4]]).is_err());
        assert!(
            dcf.evaluate(2, &[0; 2], &vec![0; dcf.key_words()], &[1])
                .is_err()
        );
        assert!(dcf.evaluate(0, &[0; 2], &[0; 3], &[1]).is_err());
    }
}
