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
//! | [`compare::relu`] (2 parties) | 8 | about 55.4·|x| |
//! | [`fss::relu_and_negative`], [`fss::sign_bits`] (FSS mode) | 1 | 8·|x| |
//!
//! Openings are built straight into the outgoing frame (little-endian words) and the peers'
//! frames are read in place where their buffers are word-aligned, so a large opening costs one
//! pass to build and one pass to combine.

pub mod beaver;
pub mod binary;
pub mod compare;
pub mod fss;
pub mod input;
pub mod normalize;
pub mod reveal;
pub mod truncate;

use std::borrow::Cow;

use tensor::RingTensor;

use crate::error::{Error, Result};
use crate::session::Session;

/// A zeroed frame of `words` little-endian words, filled by `fill` through a `u64` view (a
/// ring kernel writing this party's part of an opening; it fails on mismatched operands).
pub(crate) fn try_build_frame<E>(
    words: usize,
    fill: impl FnOnce(&mut [u64]) -> std::result::Result<(), E>,
) -> std::result::Result<Vec<u8>, E> {
    let mut frame = vec![0u8; words * 8];
    match bytemuck::try_cast_slice_mut::<u8, u64>(&mut frame) {
        Ok(view) => {
            fill(view)?;
            if cfg!(target_endian = "big") {
                view.iter_mut().for_each(|w| *w = w.to_le());
            }
        }
        Err(_) => {
            // The allocator returned a buffer that is not 8-aligned: fill a word buffer and copy.
            let mut tmp = vec![0u64; words];
            fill(&mut tmp)?;
            for (c, w) in frame.chunks_exact_mut(8).zip(&tmp) {
                c.copy_from_slice(&w.to_le_bytes());
            }
        }
    }
    Ok(frame)
}

/// The words of a checked frame, borrowed when its buffer is word-aligned on a little-endian
/// machine (the usual case), decoded otherwise.
pub(crate) fn frame_words(frame: &[u8]) -> Cow<'_, [u64]> {
    if cfg!(target_endian = "little")
        && let Ok(words) = bytemuck::try_cast_slice::<u8, u64>(frame)
    {
        return Cow::Borrowed(words);
    }
    Cow::Owned(
        frame
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8-byte chunk")))
            .collect(),
    )
}

/// Sends `frame` to every peer and receives one frame of the same length from each: one
/// round. Returns the peers' frames in party order.
pub(crate) fn exchange_frames(
    session: &Session,
    frame: Vec<u8>,
    step: &'static str,
) -> Result<Vec<Vec<u8>>> {
    let len = frame.len();
    session.with_comm(|comm| {
        let (me, n) = (comm.party(), comm.n_parties());
        let peers: Vec<usize> = (0..n).filter(|&p| p != me).collect();
        let last = *peers.last().expect("at least one peer");
        let mut frame = Some(frame);
        for &peer in &peers {
            let f = if peer == last {
                frame.take().expect("sent once")
            } else {
                frame.clone().expect("not sent yet")
            };
            comm.send(peer, f, step)?;
        }
        peers
            .iter()
            .map(|&peer| comm.recv_expect(peer, len, step))
            .collect()
    })
}

/// [`exchange_frames`], returning the elementwise sum of the peers' words (not including
/// this party's).
pub(crate) fn exchange_sum(
    session: &Session,
    frame: Vec<u8>,
    step: &'static str,
) -> Result<PeerSum> {
    Ok(PeerSum::from_frames(
        exchange_frames(session, frame, step)?,
        u64::wrapping_add,
    ))
}

/// [`exchange_frames`], returning the elementwise XOR of the peers' words (not including
/// this party's): the peers' part of a binary opening.
pub(crate) fn exchange_xor(
    session: &Session,
    frame: Vec<u8>,
    step: &'static str,
) -> Result<PeerSum> {
    Ok(PeerSum::from_frames(
        exchange_frames(session, frame, step)?,
        |a, b| a ^ b,
    ))
}

/// The peers' frames in an opening, combined (added, or XOR-ed for a binary opening).
pub(crate) enum PeerSum {
    /// Two parties: the single peer frame, read in place.
    One(Vec<u8>),
    /// More parties: the frames combined.
    Many(Vec<u64>),
}

impl PeerSum {
    fn from_frames(mut frames: Vec<Vec<u8>>, fold: fn(u64, u64) -> u64) -> Self {
        if frames.len() == 1 {
            return PeerSum::One(frames.pop().expect("one frame"));
        }
        let mut acc = frame_words(&frames[0]).into_owned();
        for f in &frames[1..] {
            for (a, b) in acc.iter_mut().zip(frame_words(f).iter()) {
                *a = fold(*a, *b);
            }
        }
        PeerSum::Many(acc)
    }

    /// The combined words.
    pub(crate) fn words(&self) -> Cow<'_, [u64]> {
        match self {
            PeerSum::One(f) => frame_words(f),
            PeerSum::Many(v) => Cow::Borrowed(v),
        }
    }
}

/// Opens `parts` (this party's shares of several secrets) in one round: sends the
/// concatenation to every peer and returns each secret's sum over all parties.
pub(crate) fn open_many(
    session: &Session,
    parts: &[&RingTensor],
    step: &'static str,
) -> Result<Vec<RingTensor>> {
    let total: usize = parts.iter().map(|p| p.numel()).sum();
    let frame = try_build_frame(total, |w| {
        let mut off = 0;
        for p in parts {
            p.write_words(&mut w[off..off + p.numel()])?;
            off += p.numel();
        }
        Ok::<_, Error>(())
    })?;
    let peers = exchange_sum(session, frame, step)?;
    let peers = peers.words();
    let mut out = Vec::with_capacity(parts.len());
    let mut off = 0;
    for p in parts {
        out.push(p.plus_words(&peers[off..off + p.numel()])?);
        off += p.numel();
    }
    Ok(out)
}

/// `acc += words(frame)`, checking the frame has exactly `acc.len()` little-endian words.
pub(crate) fn add_frame_into(
    acc: &mut RingTensor,
    frame: &[u8],
    peer: usize,
    step: &'static str,
) -> Result<()> {
    if frame.len() != acc.numel() * 8 {
        return Err(Error::FrameLength {
            peer,
            step,
            expected: acc.numel() * 8,
            got: frame.len(),
        });
    }
    Ok(acc.add_words(&frame_words(frame))?)
}
