//! The door in: [`Session::share`] and its variants, which turn a party's plaintext into a
//! [`CrypTensor`]. They live at the `CrypTensor` tier (not in `session`, which knows only
//! shares), on top of the input protocol of [`crate::protocols::input`].

use tensor::RingTensor;

use crate::cryptensor::CrypTensor;
use crate::cryptensor::Shared;
use crate::error::{Error, Result};
use crate::session::Session;

impl Session {
    /// Wraps a plaintext value known to every party as a public tensor.
    pub fn public(&self, value: RingTensor) -> CrypTensor {
        CrypTensor::Public(value)
    }

    /// Secret-shares `value` from party `src`. Every party calls this; only `src`'s values are
    /// used, the others' `value` supplies just the shape and scale (use
    /// [`Session::share_from`] where a party has no tensor at hand).
    ///
    /// # Errors
    /// `src` is not a party.
    ///
    /// # Security
    /// Costs no communication: party `j ≠ src` takes a fresh word of the stream it shares
    /// with `src` as its share, and `src` takes `x` minus all of those. Any coalition without
    /// `src` sees only PRG output.
    pub fn share(&self, value: &RingTensor, src: usize) -> Result<CrypTensor> {
        self.check_party(src)?;
        let share = crate::protocols::input::share(self, src, value)?;
        Ok(CrypTensor::Private(Shared::new(share, self.clone())))
    }

    /// [`Session::share`] for a party that does not hold the value: gives its shape and scale.
    ///
    /// # Errors
    /// `src` is not a party, or this party is `src` (the owner must supply the value).
    pub fn share_from(&self, shape: &[usize], frac_bits: u32, src: usize) -> Result<CrypTensor> {
        self.check_party(src)?;
        if src == self.party() {
            return Err(Error::InvalidArgument {
                op: "share_from",
                reason: format!("party {src} owns the input and must pass its value to share()"),
            });
        }
        tensor::shape::checked_numel("share_from", shape)?;
        self.share(&RingTensor::zeros(shape, frac_bits), src)
    }

    /// Encodes reals at the session's scale and shares them from `src`.
    ///
    /// # Errors
    /// As [`Session::share`], plus values that cannot be encoded.
    pub fn share_f64(&self, shape: &[usize], values: &[f64], src: usize) -> Result<CrypTensor> {
        let t = RingTensor::from_f64(shape, values, self.config().frac_bits)?;
        self.share(&t, src)
    }
}
