//! Sharing an input from its owner, at no communication cost.
//!
//! Input number `k` of the session uses stream `k` of each pairwise seed. Party `j ≠ src` sets
//! its share to the first words of stream `k` of the seed it shares with `src`; `src` sets its
//! share to `x - Σ_j PRG_{src,j,k}`. The shares sum to `x`; a coalition without `src` sees only
//! PRG output, and a coalition with `src` already knows `x`. Because every input has its own
//! stream, an input shared with inconsistent shapes corrupts only that input (and the length
//! checks catch it at its first opening), never the ones after it.

use tensor::RingTensor;

use crate::error::Result;
use crate::session::Session;
use crate::share::Share;

/// This party's share of `value` shared from `src` (see the module docs). Non-owners' `value`
/// only gives the shape and scale.
///
/// # Errors
/// None beyond what the caller validated; kept fallible for uniformity.
///
/// # Security
/// No communication; see the module docs for why the shares hide `x`.
pub fn share(session: &Session, src: usize, value: &RingTensor) -> Result<Share> {
    let me = session.party();
    let k = session.next_input();
    let share = if me == src {
        let mut x = value.clone();
        let mut mask = vec![0u64; x.numel()];
        for peer in (0..session.n_parties()).filter(|&p| p != src) {
            session.pair_stream(peer, k).fill(&mut mask);
            x.sub_words(&mask)?;
        }
        x
    } else {
        let mut share = RingTensor::zeros(value.shape(), value.frac_bits());
        share.fill_words(|w| session.pair_stream(src, k).fill(w));
        share
    };
    Ok(Share::new(share))
}
