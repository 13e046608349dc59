//! Opening a secret: every party sends its share; the receivers add them up.

use tensor::RingTensor;

use crate::error::Result;
use crate::session::Session;
use crate::share::Share;

use super::{add_frame_into, open_many, try_build_frame};

/// Opens `share` to every party. One round; each party sends its share to each peer.
///
/// # Errors
/// Link failures or malformed frames.
///
/// # Security
/// Every party learns the secret.
pub fn open(session: &Session, share: &Share) -> Result<RingTensor> {
    Ok(open_many(session, &[share.ring()], "reveal")?.remove(0))
}

/// Opens `share` to party `to` only; returns `Some(secret)` there and `None` elsewhere. Parties
/// other than `to` send their share to `to` (one message each) and receive nothing.
///
/// # Errors
/// Link failures or malformed frames.
///
/// # Security
/// Party `to` learns the secret; the others learn nothing.
pub fn open_to(session: &Session, share: &Share, to: usize) -> Result<Option<RingTensor>> {
    let share = share.ring();
    session.check_party(to)?;
    session.with_comm(|comm| {
        let me = comm.party();
        if me != to {
            let frame = try_build_frame(share.numel(), |w| share.write_words(w))?;
            comm.send(to, frame, "reveal_to")?;
            return Ok(None);
        }
        let mut acc = share.clone();
        for peer in (0..comm.n_parties()).filter(|&p| p != me) {
            let f = comm.recv_expect(peer, 8 * acc.numel(), "reveal_to")?;
            add_frame_into(&mut acc, &f, peer, "reveal_to")?;
        }
        Ok(Some(acc))
    })
}
