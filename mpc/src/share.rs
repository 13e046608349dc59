//! [`Shared`]: this party's additive share of a secret tensor.

use std::fmt;

use tensor::RingTensor;

use crate::session::Session;

/// One party's additive share: the secret is the sum over all parties of their `share`s in
/// Z_2^64. `Debug` prints the shape and scale only, never share values.
#[derive(Clone)]
pub struct Shared {
    pub(crate) share: RingTensor,
    pub(crate) session: Session,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("party", &self.session.party())
            .field("shape", &self.share.shape())
            .field("frac_bits", &self.share.frac_bits())
            .field("share", &"..")
            .finish()
    }
}

impl Shared {
    /// Wraps this party's share.
    pub fn new(share: RingTensor, session: Session) -> Self {
        Self { share, session }
    }

    /// The session the share belongs to.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Shape of the secret.
    pub fn shape(&self) -> &[usize] {
        self.share.shape()
    }

    /// Fixed-point scale of the secret.
    pub fn frac_bits(&self) -> u32 {
        self.share.frac_bits()
    }

    /// This party's raw share. A single share is uniformly random and reveals nothing on its
    /// own; it is exposed for transports, tests and custom protocols.
    pub fn local_share(&self) -> &RingTensor {
        &self.share
    }
}
