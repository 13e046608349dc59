//! [`BinaryTensor`]: a tensor of 64-bit words XOR-shared among the parties.

use std::fmt;

use tensor::RingTensor;

use crate::cryptensor::CrypTensor;
use crate::error::{Error, Result};
use crate::protocols::binary;
use crate::session::Session;
use crate::share::Shared;

/// XOR-shared words: the secret is `⊕_i share_i`. Each word holds 64 independent bits, so
/// one AND of words evaluates 64 gates. `Debug` never prints shares.
#[derive(Clone)]
pub struct BinaryTensor {
    share: RingTensor,
    session: Session,
}

impl fmt::Debug for BinaryTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BinaryTensor")
            .field("party", &self.session.party())
            .field("shape", &self.share.shape())
            .field("share", &"..")
            .finish()
    }
}

impl BinaryTensor {
    fn with(&self, share: RingTensor) -> Self {
        Self {
            share,
            session: self.session.clone(),
        }
    }

    fn check(&self, other: &Self, op: &'static str) -> Result<()> {
        if !self.session.same_as(&other.session) {
            return Err(Error::SessionMismatch { op });
        }
        if self.share.shape() != other.share.shape() {
            return Err(tensor::Error::ShapeMismatch {
                op,
                lhs: self.shape().to_vec(),
                rhs: other.shape().to_vec(),
            }
            .into());
        }
        Ok(())
    }

    /// Shape of the secret.
    pub fn shape(&self) -> &[usize] {
        self.share.shape()
    }

    /// Bitwise XOR. Local.
    ///
    /// # Errors
    /// Different shapes or sessions.
    pub fn xor(&self, other: &Self) -> Result<Self> {
        self.check(other, "xor")?;
        Ok(self.with(self.share.zip_map(&other.share, "xor", 0, |a, b| a ^ b)?))
    }

    /// XOR with a public word tensor (party 0 applies it). Local.
    ///
    /// # Errors
    /// Different shapes.
    pub fn xor_public(&self, v: &RingTensor) -> Result<Self> {
        if self.session.party() == 0 {
            Ok(self.with(self.share.zip_map(v, "xor", 0, |a, b| a ^ b)?))
        } else {
            if v.shape() != self.shape() {
                return Err(tensor::Error::ShapeMismatch {
                    op: "xor",
                    lhs: self.shape().to_vec(),
                    rhs: v.shape().to_vec(),
                }
                .into());
            }
            Ok(self.clone())
        }
    }

    /// Bitwise AND with a public mask (every party masks its share). Local.
    pub fn and_mask(&self, mask: u64) -> Self {
        self.with(self.share.map(|w| w & mask))
    }

    /// Bitwise AND of two secrets with a binary Beaver triple.
    ///
    /// # Errors
    /// Different shapes or sessions; link failures.
    ///
    /// # Security
    /// Reveals nothing. One round, `16` bytes per word and peer.
    pub fn and(&self, other: &Self) -> Result<Self> {
        self.check(other, "and")?;
        let z = binary::and(&self.session, self.share.as_slice(), other.share.as_slice())?;
        Ok(self.with(RingTensor::from_raw(self.shape(), z, 0)?))
    }

    /// Bitwise NOT (party 0 flips its share). Local.
    pub fn not(&self) -> Self {
        if self.session.party() == 0 {
            self.with(self.share.map(|w| !w))
        } else {
            self.clone()
        }
    }

    /// Logical left shift by `k < 64` bits. Local.
    pub fn shl(&self, k: u32) -> Self {
        self.with(self.share.map(|w| w.checked_shl(k).unwrap_or(0)))
    }

    /// Logical right shift by `k < 64` bits. Local.
    pub fn shr(&self, k: u32) -> Self {
        self.with(self.share.map(|w| w.checked_shr(k).unwrap_or(0)))
    }

    /// Bit `j` of every word, as words holding 0 or 1. Local.
    pub fn bit(&self, j: u32) -> Self {
        self.shr(j).and_mask(1)
    }

    /// Opens the words to every party.
    ///
    /// # Errors
    /// Link failures.
    ///
    /// # Security
    /// Every party learns the words. One round, `8` bytes per word and peer.
    pub fn reveal(&self) -> Result<RingTensor> {
        let words = crate::protocols::binary::open_words_xor(
            &self.session,
            self.share.as_slice().to_vec(),
        )?;
        Ok(RingTensor::from_raw(self.shape(), words, 0)?)
    }

    /// Binary to arithmetic conversion of whole words (B2A), as integers (scale 1).
    ///
    /// # Errors
    /// Link failures.
    ///
    /// # Security
    /// Reveals nothing. One round, `8` bytes per word and peer, with 64 dealer bits per word.
    pub fn to_arithmetic(&self) -> Result<CrypTensor> {
        let t = binary::b2a_words(&self.session, self.share.as_slice(), self.shape())?;
        Ok(CrypTensor::Private(Shared::new(t, self.session.clone())))
    }

    /// This party's share (uniformly random on its own).
    pub fn local_share(&self) -> &RingTensor {
        &self.share
    }
}

impl CrypTensor {
    /// Arithmetic to binary conversion (A2B) of the raw ring words, for any number of
    /// parties: carry-save adders reduce the parties' shares to two operands, then a
    /// Kogge-Stone adder adds them. The fixed-point scale is dropped (the words are the raw
    /// encoding).
    ///
    /// # Errors
    /// A public tensor (nothing to convert; share it first); link failures.
    ///
    /// # Security
    /// Reveals nothing. 2 parties: 7 rounds, 208 bytes per element and peer.
    pub fn to_binary(&self) -> Result<BinaryTensor> {
        match self {
            CrypTensor::Public(_) => Err(Error::InvalidArgument {
                op: "to_binary",
                reason: "a public tensor has no shares to convert".into(),
            }),
            CrypTensor::Private(s) => {
                let words = binary::a2b(&s.session, &s.share)?;
                Ok(BinaryTensor {
                    share: RingTensor::from_raw(s.shape(), words, 0)?,
                    session: s.session.clone(),
                })
            }
        }
    }
}
