//! The protocols, one per file, each on this party's shares.
//!
//! | protocol | rounds | bytes sent per party (n parties, |x| elements) |
//! |---|---|---|
//! | [`input::share`] | 0 | 0 |
//! | [`reveal::open`] | 1 | 8·|x|·(n-1) |
//! | [`beaver::mul`] (x, y) | 1 | 8·(|x|+|y|)·(n-1) |
//! | [`beaver::matmul`], [`beaver::conv2d`] | 1 | 8·(|x|+|y|)·(n-1) |
//! | [`beaver::square`] | 1 | 8·|x|·(n-1) |
//! | [`truncate::local`] (2 parties) | 0 | 0 |
//! | [`truncate::with_dealer`] | 1 | 8·|x|·(n-1) |

pub mod beaver;
pub mod input;
pub mod reveal;
pub mod truncate;

use tensor::RingTensor;

use crate::comm::encode_u64s;
use crate::error::{Error, Result};
use crate::session::Session;

/// Opens `parts` (this party's shares of several secrets) in one round: sends the
/// concatenation to every peer and returns each secret's sum over all parties.
pub(crate) fn open_many(
    session: &Session,
    parts: &[&RingTensor],
    step: &'static str,
) -> Result<Vec<RingTensor>> {
    let total: usize = parts.iter().map(|p| p.numel()).sum();
    let mut words = Vec::with_capacity(total);
    for p in parts {
        words.extend_from_slice(p.as_slice());
    }
    let words = open_words(session, words, step)?;
    let mut out = Vec::with_capacity(parts.len());
    let mut off = 0;
    for p in parts {
        let data = words[off..off + p.numel()].to_vec();
        off += p.numel();
        out.push(RingTensor::from_raw(p.shape(), data, p.frac_bits())?);
    }
    Ok(out)
}

/// Opens raw words in one round: sends them to every peer, and adds every peer's words in.
pub(crate) fn open_words(
    session: &Session,
    mut words: Vec<u64>,
    step: &'static str,
) -> Result<Vec<u64>> {
    let frame = encode_u64s(&words);
    session.with_comm(|comm| {
        let (me, n) = (comm.party(), comm.n_parties());
        for peer in (0..n).filter(|&p| p != me) {
            comm.send(peer, frame.clone())?;
        }
        for peer in (0..n).filter(|&p| p != me) {
            let f = comm.recv(peer)?;
            add_frame_into(&mut words, &f, peer, step)?;
        }
        Ok(())
    })?;
    Ok(words)
}

/// `acc += words(frame)`, checking the frame has exactly `acc.len()` little-endian words.
pub(crate) fn add_frame_into(
    acc: &mut [u64],
    frame: &[u8],
    peer: usize,
    step: &'static str,
) -> Result<()> {
    if frame.len() != acc.len() * 8 {
        return Err(Error::FrameLength {
            peer,
            step,
            expected: acc.len() * 8,
            got: frame.len(),
        });
    }
    for (a, b) in acc.iter_mut().zip(frame.chunks_exact(8)) {
        *a = a.wrapping_add(u64::from_le_bytes(b.try_into().expect("8-byte chunk")));
    }
    Ok(())
}
