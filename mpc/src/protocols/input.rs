//! Sharing an input from its owner, at no communication cost.
//!
//! Party `j ≠ src` sets its share to the next words of the PRG stream it shares with `src`;
//! `src` sets its share to `x - Σ_j PRG_{src,j}`. The shares sum to `x`; a coalition without
//! `src` sees only PRG output, and a coalition with `src` already knows `x`.

use tensor::RingTensor;

use crate::cryptensor::CrypTensor;
use crate::error::Result;
use crate::session::Session;
use crate::share::Shared;

/// Shares `value` from `src` (see the module docs). Non-owners' `value` only gives the shape
/// and scale.
///
/// # Errors
/// None beyond what the caller validated; kept fallible for uniformity.
pub fn share(session: &Session, src: usize, value: &RingTensor) -> Result<CrypTensor> {
    let me = session.party();
    let mut share = if me == src {
        let mut x = value.clone();
        let mut mask = vec![0u64; x.numel()];
        for peer in (0..session.n_parties()).filter(|&p| p != src) {
            session.fill_pair(peer, &mut mask);
            for (v, m) in x.as_mut_slice().iter_mut().zip(&mask) {
                *v = v.wrapping_sub(*m);
            }
        }
        x
    } else {
        RingTensor::zeros(value.shape(), value.frac_bits())
    };
    if me != src {
        session.fill_pair(src, share.as_mut_slice());
    }
    Ok(CrypTensor::Private(Shared::new(share, session.clone())))
}
