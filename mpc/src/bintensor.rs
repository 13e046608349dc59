//! [`BinaryTensor`]: a tensor of 64-bit words XOR-shared among the parties.

use std::fmt;

use tensor::RingTensor;

use crate::cryptensor::CrypTensor;
use crate::error::{Error, Result};
use crate::protocols::binary;
use crate::session::Session;
use crate::share::XorShare;

/// XOR-shared words: the secret is `⊕_i share_i`. Each word holds 64 independent bits, so
/// one AND of words evaluates 64 gates. `Debug` never prints shares.
#[derive(Clone)]
pub struct BinaryTensor {
    share: XorShare,
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
    fn with(&self, words: RingTensor) -> Self {
        Self {
            share: XorShare::new(words),
            session: self.session.clone(),
        }
    }

    fn words(&self) -> &RingTensor {
        self.share.ring()
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
        Ok(self.with(self.words().xor(other.words())?))
    }

    /// XOR with a public word tensor (party 0 applies it). Local.
    ///
    /// # Errors
    /// Different shapes.
    pub fn xor_public(&self, v: &RingTensor) -> Result<Self> {
        if self.session.party() == 0 {
            Ok(self.with(self.words().xor(v)?))
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
        self.with(self.words().and_scalar(mask))
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
        let z = binary::and(&self.session, &self.share, &other.share)?;
        Ok(Self {
            share: z,
            session: self.session.clone(),
        })
    }

    /// Bitwise NOT (party 0 flips its share). Local.
    pub fn not(&self) -> Self {
        self.with(binary::not(&self.session, self.words()))
    }

    /// Logical left shift by `k < 64` bits. Local.
    pub fn shl(&self, k: u32) -> Self {
        self.with(self.words().shl_words(k))
    }

    /// Logical right shift by `k < 64` bits. Local.
    pub fn shr(&self, k: u32) -> Self {
        self.with(self.words().shr_words(k))
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
        binary::open_xor(&self.session, &self.share)
    }

    /// Binary to arithmetic conversion of whole words (B2A), as integers (scale 1).
    ///
    /// # Errors
    /// Link failures.
    ///
    /// # Security
    /// Reveals nothing. One round, `8` bytes per word and peer, with 64 dealer bits per word.
    pub fn to_arithmetic(&self) -> Result<CrypTensor> {
        let t = binary::b2a_words(&self.session, &self.share)?;
        Ok(CrypTensor::Private(crate::cryptensor::Shared::new(
            t,
            self.session.clone(),
        )))
    }

    /// This party's share (uniformly random on its own).
    pub fn local_share(&self) -> &RingTensor {
        self.share.ring()
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
            CrypTensor::Private(s) => Ok(BinaryTensor {
                share: binary::a2b(&s.session, &s.share)?,
                session: s.session.clone(),
            }),
        }
    }
}
