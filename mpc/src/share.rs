//! [`Share`] and [`XorShare`]: this party's part of a secret, the type every protocol takes
//! and returns.
//!
//! Both wrap the ring words of a [`RingTensor`] (wherever its storage is) and add what a share
//! needs that a plaintext tensor must not have: a `Debug` that prints the shape and scale
//! only, never a word, and a name that says the words are one party's random-looking part of
//! a secret, so a share and a public value cannot be swapped by accident.

use std::fmt;

use tensor::RingTensor;

/// One party's additive share: the secret is the sum over all parties of their shares in
/// Z_2^64, at the share's fixed-point scale.
#[derive(Clone)]
pub struct Share(RingTensor);

/// One party's XOR share of 64-bit words (or of packed bits): the secret is the XOR over all
/// parties of their shares.
#[derive(Clone)]
pub struct XorShare(RingTensor);

macro_rules! share_type {
    ($name:ident) => {
        impl $name {
            /// Names `words` as this party's share.
            pub fn new(words: RingTensor) -> Self {
                Self(words)
            }

            /// The words of this party's share. A single share is uniformly random and reveals
            /// nothing on its own; the words are exposed for kernels, transports and tests.
            pub fn ring(&self) -> &RingTensor {
                &self.0
            }

            /// The words, by value.
            pub fn into_ring(self) -> RingTensor {
                self.0
            }

            /// Shape of the secret.
            pub fn shape(&self) -> &[usize] {
                self.0.shape()
            }

            /// Number of elements (words).
            pub fn numel(&self) -> usize {
                self.0.numel()
            }

            /// A share of the secret under a local map of the words (`f` must be linear for an
            /// additive share, XOR-linear for an XOR share: shape ops, sums, negation).
            ///
            /// # Errors
            /// What `f` returns.
            pub fn map<E>(
                &self,
                f: impl FnOnce(&RingTensor) -> Result<RingTensor, E>,
            ) -> Result<Self, E> {
                Ok(Self(f(&self.0)?))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("shape", &self.0.shape())
                    .field("frac_bits", &self.0.frac_bits())
                    .field("words", &"..")
                    .finish()
            }
        }
    };
}

share_type!(Share);
share_type!(XorShare);

impl Share {
    /// The words, mutably (for an in-place kernel).
    pub(crate) fn ring_mut(&mut self) -> &mut RingTensor {
        &mut self.0
    }

    /// Fixed-point scale of the secret.
    pub fn frac_bits(&self) -> u32 {
        self.0.frac_bits()
    }

    /// The same words at another scale (no arithmetic).
    pub fn with_frac_bits(self, frac_bits: u32) -> Self {
        Self(self.0.with_frac_bits(frac_bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_the_shape_and_never_a_word() {
        let words = RingTensor::from_raw(&[2], vec![0xDEAD_BEEF, 31_337], 16).unwrap();
        for text in [
            format!("{:?}", Share::new(words.clone())),
            format!("{:?}", XorShare::new(words)),
        ] {
            assert!(text.contains("[2]"), "{text}");
            assert!(
                !text.contains("3735928559") && !text.contains("31337"),
                "{text}"
            );
        }
    }
}
