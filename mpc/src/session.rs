//! [`Session`]: one party's view of a running computation.
//!
//! A session bundles the party's links ([`Comm`], wrapped in a [`CountingComm`]), its source of
//! correlated randomness ([`TripleSource`]), the pairwise PRG streams it shares with each peer,
//! and the configuration. It is a cheap `Clone` handle; private tensors carry it, like candle
//! tensors carry their device.
//!
//! Setup (in [`Session::new`]) agrees one AES seed per pair of parties: the lower-numbered
//! party of each pair draws it (from the OS RNG in real runs) and sends it to the other over
//! their authenticated link. Communication counters are reset afterwards, so statistics show
//! the online protocols only.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use tensor::{DEFAULT_FRAC_BITS, RingTensor};

use crate::comm::{Comm, CommStats, CountingComm, recv_u64s};
use crate::cryptensor::CrypTensor;
use crate::error::{Error, Result};
use crate::prg::{AesPrg, Seed};
use crate::provider::{TripleSource, TupleRequest};

/// Which truncation protocol rescales products (see [`crate::protocols::truncate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TruncMode {
    /// Local share truncation for 2 parties, the dealer-assisted protocol for 3 or more.
    #[default]
    Auto,
    /// SecureML local truncation: free, but only for 2 parties, and wrong with probability
    /// about |x|/2^64 per element.
    Local,
    /// Dealer-assisted truncation: one round, correct to one ULP for |x| < 2^62, any `n`.
    Dealer,
}

/// Session options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Fractional bits of the fixed-point encoding used by `share_f64` and friends.
    pub frac_bits: u32,
    /// Truncation protocol.
    pub trunc: TruncMode,
    /// `Some(seed)` makes pairwise seeds reproducible. **Tests only**: real runs leave it
    /// `None`, and seeds come from the OS RNG.
    pub insecure_test_seed: Option<u64>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            frac_bits: DEFAULT_FRAC_BITS,
            trunc: TruncMode::Auto,
            insecure_test_seed: None,
        }
    }
}

struct Inner {
    party: usize,
    n_parties: usize,
    config: SessionConfig,
    comm: Mutex<CountingComm<Box<dyn Comm>>>,
    source: Mutex<Box<dyn TripleSource>>,
    /// `pairs[j]` is the PRG stream shared with party `j` (`None` at this party's own index).
    pairs: Mutex<Vec<Option<AesPrg>>>,
    /// Tuples fetched ahead of time, consumed first-in first-out.
    prefetched: Mutex<VecDeque<(TupleRequest, Vec<RingTensor>)>>,
}

/// One party's handle on a session. Cloning is cheap and shares the same links.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("party", &self.inner.party)
            .field("n_parties", &self.inner.n_parties)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a protocol step panicked mid-way; the state is unusable either way
    // and the panic is already propagating, so taking the guard is fine.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Session {
    /// Starts a session over `comm`, agreeing pairwise seeds with every peer.
    ///
    /// # Errors
    /// Fewer than 2 parties, local truncation asked for with more than 2, a link failure
    /// during setup, or the OS RNG failing.
    pub fn new(
        comm: Box<dyn Comm>,
        source: Box<dyn TripleSource>,
        config: SessionConfig,
    ) -> Result<Self> {
        let (party, n) = (comm.party(), comm.n_parties());
        if n < 2 {
            return Err(Error::TooFewParties(n));
        }
        if party >= n {
            return Err(Error::UnknownParty {
                party,
                n_parties: n,
            });
        }
        if config.trunc == TruncMode::Local && n != 2 {
            return Err(Error::InvalidArgument {
                op: "session",
                reason: format!("local truncation is only correct for 2 parties, not {n}"),
            });
        }
        tensor::FixedPoint::new(config.frac_bits)?;
        let mut comm = CountingComm::new(comm);
        let mut pairs: Vec<Option<AesPrg>> = (0..n).map(|_| None).collect();
        for (j, slot) in pairs.iter_mut().enumerate().skip(party + 1) {
            let seed = match config.insecure_test_seed {
                Some(s) => Seed::insecure_from_u64(s).derive((party * n + j) as u64),
                None => Seed::from_os()?,
            };
            let b = seed.to_bytes();
            let words = [
                u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
                u64::from_le_bytes(b[8..].try_into().expect("8 bytes")),
            ];
            comm.send(j, crate::comm::encode_u64s(&words))?;
            *slot = Some(AesPrg::new(&seed, 0));
        }
        for (i, slot) in pairs.iter_mut().enumerate().take(party) {
            let w = recv_u64s(&mut comm, i, 2, "pairwise seed")?;
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&w[0].to_le_bytes());
            b[8..].copy_from_slice(&w[1].to_le_bytes());
            *slot = Some(AesPrg::new(&Seed::from_bytes(b), 0));
        }
        comm.reset();
        let inner = Inner {
            party,
            n_parties: n,
            config,
            comm: Mutex::new(comm),
            source: Mutex::new(source),
            pairs: Mutex::new(pairs),
            prefetched: Mutex::new(VecDeque::new()),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// This party's index.
    pub fn party(&self) -> usize {
        self.inner.party
    }

    /// Number of parties.
    pub fn n_parties(&self) -> usize {
        self.inner.n_parties
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.inner.config
    }

    /// Whether products are rescaled with local (2-party) truncation.
    pub fn uses_local_trunc(&self) -> bool {
        match self.inner.config.trunc {
            TruncMode::Local => true,
            TruncMode::Dealer => false,
            TruncMode::Auto => self.inner.n_parties == 2,
        }
    }

    /// Bytes, messages and rounds this party has used since setup or the last reset.
    pub fn stats(&self) -> CommStats {
        lock(&self.inner.comm).stats()
    }

    /// Zeroes the communication counters.
    pub fn reset_stats(&self) {
        lock(&self.inner.comm).reset();
    }

    /// Whether two handles belong to the same session.
    pub fn same_as(&self, other: &Session) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn check_party(&self, party: usize) -> Result<()> {
        if party >= self.inner.n_parties {
            return Err(Error::UnknownParty {
                party,
                n_parties: self.inner.n_parties,
            });
        }
        Ok(())
    }

    /// Runs `f` with exclusive use of the links.
    pub(crate) fn with_comm<R>(&self, f: impl FnOnce(&mut dyn Comm) -> Result<R>) -> Result<R> {
        let mut guard = lock(&self.inner.comm);
        f(&mut *guard)
    }

    /// This party's shares of the next tuple of kind `req`.
    pub(crate) fn fetch(&self, req: &TupleRequest) -> Result<Vec<RingTensor>> {
        let mut queue = lock(&self.inner.prefetched);
        match queue.pop_front() {
            None => lock(&self.inner.source).fetch(req),
            Some((want, tuple)) if want == *req => Ok(tuple),
            Some((want, _)) => Err(Error::TripleSource(format!(
                "prefetched a tuple for {want:?} but the protocol asked for {req:?}"
            ))),
        }
    }

    /// Fetches the tuples for `requests` now, so that the protocols that follow (which must
    /// ask for exactly these, in this order) do not wait for the dealer. This is how the
    /// offline phase is separated from the online phase.
    ///
    /// # Errors
    /// The triple source failed.
    pub fn prefetch(&self, requests: &[TupleRequest]) -> Result<()> {
        let mut fetched = Vec::with_capacity(requests.len());
        {
            let mut source = lock(&self.inner.source);
            for r in requests {
                fetched.push((r.clone(), source.fetch(r)?));
            }
        }
        lock(&self.inner.prefetched).extend(fetched);
        Ok(())
    }

    /// Fills `out` from the PRG stream shared with `peer`.
    pub(crate) fn fill_pair(&self, peer: usize, out: &mut [u64]) {
        let mut pairs = lock(&self.inner.pairs);
        pairs[peer]
            .as_mut()
            .expect("a stream for every peer")
            .fill(out);
    }

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
        crate::protocols::input::share(self, src, value)
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
        crate::protocols::input::share(self, src, &RingTensor::zeros(shape, frac_bits))
    }

    /// Encodes reals at the session's scale and shares them from `src`.
    ///
    /// # Errors
    /// As [`Session::share`], plus values that cannot be encoded.
    pub fn share_f64(&self, shape: &[usize], values: &[f64], src: usize) -> Result<CrypTensor> {
        let t = RingTensor::from_f64(shape, values, self.inner.config.frac_bits)?;
        self.share(&t, src)
    }
}
