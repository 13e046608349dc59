//! AES-128 in counter mode as the pseudo-random generator.
//!
//! A [`Seed`] keys AES-128; block `i` of stream `s` is `AES_k(s · 2^64 + i)` (the 128-bit
//! counter in little-endian), written straight into the output `u64` buffer and encrypted in
//! place, so filling a share costs one pass of AES-NI/VAES (the `aes` crate detects them at run
//! time). This is a PRG in the standard model under the assumption that AES is a PRP; it is not
//! the fixed-key "AES as a random permutation" construction used for garbling.
//!
//! Different purposes use different streams (the high 64 counter bits), so no (key, counter)
//! pair is ever used twice as long as a stream stays below 2^64 blocks.

use std::fmt;

use aes::Aes128;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

use crate::error::{Error, Result};

/// A 128-bit PRG seed. Its `Debug` never prints the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Seed(pub(crate) [u8; 16]);

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed(..)")
    }
}

impl Seed {
    /// A fresh seed from the operating system's RNG (what real runs use).
    ///
    /// # Errors
    /// The OS RNG is unavailable.
    pub fn from_os() -> Result<Self> {
        let mut k = [0u8; 16];
        getrandom::fill(&mut k).map_err(|e| Error::Randomness(e.to_string()))?;
        Ok(Self(k))
    }

    /// A seed from raw bytes (for seeds received from a peer, and for reproducible tests).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// A deterministic seed derived from a test number; never use outside tests and demos.
    pub fn insecure_from_u64(v: u64) -> Self {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&v.to_le_bytes());
        k[8..].copy_from_slice(b"umbratst");
        Self(k)
    }

    /// The raw key bytes (to hand a seed to the peer that shares it).
    pub fn to_bytes(&self) -> [u8; 16] {
        self.0
    }

    /// Derives an independent child seed for `label` (AES of the label under this key).
    pub fn derive(&self, label: u64) -> Seed {
        let mut out = [0u64; 2];
        AesPrg::new(self, u64::MAX).seek(label).fill(&mut out);
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&out[0].to_le_bytes());
        k[8..].copy_from_slice(&out[1].to_le_bytes());
        Seed(k)
    }
}

/// AES-128-CTR keystream over one stream of one seed.
#[derive(Clone)]
pub struct AesPrg {
    cipher: Aes128,
    stream: u64,
    counter: u64,
}

impl fmt::Debug for AesPrg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AesPrg")
            .field("stream", &self.stream)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl AesPrg {
    /// The generator for `stream` under `seed`, positioned at block 0.
    pub fn new(seed: &Seed, stream: u64) -> Self {
        let key = Array::from(seed.0);
        Self {
            cipher: Aes128::new(&key),
            stream,
            counter: 0,
        }
    }

    /// Moves to block `counter` of the stream.
    pub fn seek(mut self, counter: u64) -> Self {
        self.counter = counter;
        self
    }

    /// Fills `out` with keystream words, advancing the counter by `ceil(len/2)` blocks.
    ///
    /// The counters are written and encrypted a cache-sized chunk at a time, so a large
    /// buffer is crossed once, not twice.
    pub fn fill(&mut self, out: &mut [u64]) {
        let even = out.len() & !1;
        let (body, tail) = out.split_at_mut(even);
        for chunk in body.chunks_mut(CHUNK_WORDS) {
            self.encrypt_counters(chunk);
        }
        if let Some(last) = tail.first_mut() {
            let mut block = [0u64; 2];
            self.encrypt_counters(&mut block);
            *last = block[0];
        }
    }

    /// Writes the next `chunk.len() / 2` counter blocks into `chunk` (an even length) and
    /// encrypts them in place.
    fn encrypt_counters(&mut self, chunk: &mut [u64]) {
        for pair in chunk.chunks_exact_mut(2) {
            pair[0] = self.counter.to_le();
            pair[1] = self.stream.to_le();
            self.counter = self.counter.wrapping_add(1);
        }
        let bytes: &mut [[u8; 16]] = bytemuck::cast_slice_mut(chunk);
        self.cipher
            .encrypt_blocks(Array::cast_slice_from_core_mut(bytes));
        if cfg!(target_endian = "big") {
            chunk.iter_mut().for_each(|v| *v = u64::from_le(*v));
        }
    }

    /// `n` fresh keystream words.
    ///
    /// Built a chunk at a time from a stack buffer, so the vector is written once (never
    /// zeroed first); the words equal [`fill`](Self::fill)'s.
    pub fn gen_vec(&mut self, n: usize) -> Vec<u64> {
        let mut v = Vec::with_capacity(n);
        let mut buf = [0u64; CHUNK_WORDS];
        while v.len() < n {
            let k = (n - v.len()).min(CHUNK_WORDS);
            self.fill(&mut buf[..k]);
            v.extend_from_slice(&buf[..k]);
        }
        v
    }
}

/// Keystream words produced per pass: 4 KiB, well inside L1 (an even number, so a chunk
/// boundary never splits a block).
const CHUNK_WORDS: usize = 512;

impl rand_core::TryRng for AesPrg {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> std::result::Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }

    fn try_next_u64(&mut self) -> std::result::Result<u64, Self::Error> {
        let mut v = [0u64; 1];
        self.fill(&mut v);
        Ok(v[0])
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> std::result::Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for AesPrg {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystream_matches_the_fips197_vector() {
        // FIPS-197 C.1: key 000102..0f, plaintext 00112233..ff -> 69c4e0d86a7b0430d8cdb78070b4c55a.
        let key: [u8; 16] = std::array::from_fn(|i| i as u8);
        let pt: [u8; 16] = std::array::from_fn(|i| (i as u8) * 0x11);
        let ctr = u64::from_le_bytes(pt[..8].try_into().unwrap());
        let stream = u64::from_le_bytes(pt[8..].try_into().unwrap());
        let mut prg = AesPrg::new(&Seed::from_bytes(key), stream).seek(ctr);
        let mut out = [0u64; 2];
        prg.fill(&mut out);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&out[0].to_le_bytes());
        bytes[8..].copy_from_slice(&out[1].to_le_bytes());
        let expect = [
            0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4,
            0xc5, 0x5a,
        ];
        assert_eq!(bytes, expect);
    }

    #[test]
    fn odd_lengths_continue_the_same_stream() {
        let seed = Seed::insecure_from_u64(7);
        let whole = AesPrg::new(&seed, 3).gen_vec(10);
        let mut p = AesPrg::new(&seed, 3);
        let mut a = [0u64; 4];
        p.fill(&mut a);
        assert_eq!(&a, &whole[..4]);
        let b = p.gen_vec(6);
        assert_eq!(&b[..], &whole[4..]);
        assert_ne!(AesPrg::new(&seed, 4).gen_vec(10), whole);
        assert_eq!(format!("{seed:?}"), "Seed(..)");
    }

    /// Chunked generation equals block-by-block counter mode: word `2i + j` is word `j` of
    /// `AES(counter = i, stream)`, across chunk boundaries and for odd lengths.
    #[test]
    fn chunks_equal_one_block_at_a_time() {
        let seed = Seed::insecure_from_u64(11);
        for n in [
            1,
            2,
            CHUNK_WORDS - 1,
            CHUNK_WORDS,
            CHUNK_WORDS + 1,
            3 * CHUNK_WORDS + 5,
        ] {
            let mut p = AesPrg::new(&seed, 9);
            let mut one = Vec::new();
            while one.len() < n {
                let mut block = [0u64; 2];
                p.fill(&mut block);
                one.extend_from_slice(&block);
            }
            one.truncate(n);
            assert_eq!(AesPrg::new(&seed, 9).gen_vec(n), one, "gen_vec({n})");
            let mut filled = vec![0; n];
            AesPrg::new(&seed, 9).fill(&mut filled);
            assert_eq!(filled, one, "fill of {n}");
        }
    }
}
