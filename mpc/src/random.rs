//! Shared random masks that no coalition of fewer than all parties knows: dropout's mask.
//!
//! Every party draws its XOR share of a uniform 64-bit word per element from its own private
//! randomness, so the word (the XOR of all shares) is uniform and hidden from any `n - 1`
//! parties. Shifted right by one (local on XOR shares) it is uniform in `[0, 2^63)`; the
//! element is kept where it is below `T = round(keep·2^63)`, which is the complement of the
//! sign of `w + 2^63 - T` (no wrap-around: the sum stays below `2^64`). The sign comes from the
//! same carry circuit as every comparison ([`crate::protocols::binary::msb`]), and a B2A turns
//! the kept bits into additively shared 0/1 integers. The resolution of `keep` is `2^-63`.
//!
//! Each party's randomness comes from the OS RNG; in a session with
//! `SessionConfig::insecure_test_seed` it comes from a PRG keyed by that seed and the party
//! index instead, so test runs reproduce.

use std::cell::Cell;

use tensor::RingTensor;

use crate::cryptensor::CrypTensor;
use crate::cryptensor::Shared;
use crate::error::{Error, Result};
use crate::prg::{AesPrg, Seed};
use crate::protocols::binary;
use crate::session::Session;
use crate::share::XorShare;

thread_local! {
    /// Masks drawn so far on this thread in test mode (the PRG stream of the next one).
    static TEST_DRAWS: Cell<u64> = const { Cell::new(0) };
}

/// `n` words of this party's private randomness.
fn private_words(session: &Session, n: usize) -> Result<Vec<u64>> {
    let (seed, stream) = match session.config().insecure_test_seed {
        Some(s) => {
            let k = TEST_DRAWS.with(|c| {
                let k = c.get();
                c.set(k + 1);
                k
            });
            (
                Seed::insecure_from_u64(s ^ 0x6472_6f70_6f75_7400).derive(session.party() as u64),
                k,
            )
        }
        None => (Seed::from_os()?, 0),
    };
    Ok(AesPrg::new(&seed, stream).gen_vec(n))
}

impl CrypTensor {
    /// A private 0/1 integer tensor of `shape`, each entry 1 with probability `keep`,
    /// independently, from randomness every party contributes (see the module docs).
    ///
    /// # Errors
    /// `keep` outside `[0, 1]`; the OS RNG failing; link failures.
    ///
    /// # Security
    /// Reveals nothing: no coalition of fewer than all parties learns the mask. 2 parties:
    /// 8 rounds (7 for the sign circuit, 1 for the B2A), about 50 bytes per element and peer.
    pub fn bernoulli(session: &Session, shape: &[usize], keep: f64) -> Result<CrypTensor> {
        if !(0.0..=1.0).contains(&keep) {
            return Err(Error::InvalidArgument {
                op: "bernoulli",
                reason: format!("keep probability {keep} is not in [0, 1]"),
            });
        }
        let n = tensor::shape::checked_numel("bernoulli", shape)?;
        let threshold = (keep * 2f64.powi(63)).round() as u64;
        let offset = (1u64 << 63).wrapping_sub(threshold.min(1 << 63));
        let words = RingTensor::words(private_words(session, n)?).shr_words(1);
        let constant = if session.party() == 0 { offset } else { 0 };
        let operands = vec![
            XorShare::new(words),
            XorShare::new(RingTensor::full_raw(&[n], constant, 0)),
        ];
        let drop = binary::msb(session, operands)?;
        // keep = NOT drop: party 0 flips its share of every bit
        let keep = XorShare::new(binary::not(session, drop.ring()));
        let bits = binary::b2a_bits(session, &keep, n)?;
        Ok(CrypTensor::Private(Shared::new(
            bits.map(|t| t.reshape(shape))?,
            session.clone(),
        )))
    }

    /// A 0/1 integer tensor shaped like `self` (see [`CrypTensor::bernoulli`]); public when
    /// `self` is public, drawn then from a PRNG seeded with `seed`.
    ///
    /// # Errors
    /// As [`CrypTensor::bernoulli`].
    ///
    /// # Security
    /// As [`CrypTensor::bernoulli`]; a public mask is known to every party.
    pub fn bernoulli_like(&self, keep: f64, seed: u64) -> Result<CrypTensor> {
        match self {
            CrypTensor::Public(t) => Ok(CrypTensor::Public(tensor::TensorOps::bernoulli_mask(
                t, keep, seed,
            )?)),
            CrypTensor::Private(s) => CrypTensor::bernoulli(&s.session, s.shape(), keep),
        }
    }
}
