//! [`Session`]: one party's view of a running computation.
//!
//! A session bundles the party's links ([`Comm`], wrapped in a [`CountingComm`]), its source of
//! correlated randomness ([`TripleSource`]), the pairwise PRG seeds it shares with each peer,
//! and the configuration. It is a cheap `Clone` handle; private tensors carry it, like candle
//! tensors carry their device.
//!
//! A session belongs to one thread (it is neither `Send` nor `Sync`): every party must issue
//! its protocol calls in one well-defined order, and two threads driving the same session
//! would interleave them differently on different parties.
//!
//! Setup (in [`Session::new`]) takes two rounds:
//! 1. every party sends every peer a hello (protocol version, party count, fixed-point scale,
//!    truncation protocol, its own index, whether a fixed test seed is used and which, the
//!    maximum reduction); any difference is an error naming the peer and the
//!    setting, so that misconfigured parties never compute garbage together;
//! 2. the lower-numbered party of each pair draws one AES seed (from the OS RNG in real runs)
//!    and sends it to the other over their authenticated link.
//!
//! Communication counters are reset afterwards, so statistics show the online protocols only.
//!
//! Any failure inside a protocol step (a link error, a malformed frame, a bad tuple) poisons
//! the session: the parties are out of step from then on, so every later operation fails with
//! [`Error::Aborted`] instead of reading stale frames.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use tensor::{DEFAULT_FRAC_BITS, RingTensor};

use crate::comm::{Comm, CommStats, CountingComm, decode_u64s, encode_u64s, recv_u64s};
use crate::error::{Error, Result};
use crate::prg::{AesPrg, Seed};
use crate::provider::{Slot, TripleSource, TupleRequest, dealer_words};

/// Version of the wire protocol, checked at setup.
pub const PROTOCOL_VERSION: u64 = 3;

/// Largest fixed-point scale a session accepts: a product of two encodings carries twice the
/// scale and must leave integer headroom in the 63 signed bits.
pub const MAX_SESSION_FRAC_BITS: u32 = 30;

pub use crate::comm::MAX_PARTIES;

/// Which truncation protocol rescales products (see [`crate::protocols::truncate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TruncMode {
    /// Dealer-assisted truncation, the default at every party count: one round, correct to
    /// one ULP for |x| < 2^62 - d, with no probabilistic failure.
    #[default]
    Dealer,
    /// SecureML local truncation, an explicit opt-in for 2 parties: no round, but each element
    /// is wrong by about 2^64 / d (2^48 ULP at 16 fractional bits) with probability about
    /// |x|/2^64, silently. For callers who bound their values and accept that rate.
    LocalProbabilistic,
}

/// How a maximum or minimum over a dimension (`amax`, `max_with_indices`, max pooling,
/// softmax's shift) compares its candidates: the round/byte trade-off of every reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaxReduction {
    /// One comparison circuit for rows of up to 16 candidates (longer rows take the tree):
    /// all pairwise differences at once, then an AND per candidate.
    /// Fewest rounds (2 parties: 10 for a 2x2 window, 12 for 10 classes) for about `n/2`
    /// times the tree's comparison bytes: the default, since rounds decide the time on every
    /// link but a bandwidth-starved one.
    #[default]
    AllPairs,
    /// A tree of pairwise comparisons, `ceil(log2 n)` levels of one circuit each (2
    /// parties: 8 rounds per level): fewest bytes, for large batches on slow links.
    Tree,
}

/// How comparisons (sign bits, ReLU, maxima) are computed: rounds against dealer traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompareMode {
    /// Binary circuits on the parties' shares (any party count): a sign bit in 7 rounds and
    /// about 47 bytes per element between 2 parties; the dealer sends party 0 a few words per
    /// element. The default.
    #[default]
    Circuit,
    /// Function secret sharing, 2 parties with a dealer: the dealer hands both parties DCF keys
    /// (1.5 KiB per sign bit, 2 KiB per ReLU element), and a sign bit or a ReLU costs one
    /// opening of the masked input (1 round, 8 bytes per element each way). See
    /// [`crate::protocols::fss`].
    Fss,
}

/// Session options. Every party must use the same ones; setup checks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Fractional bits of the fixed-point encoding used by `share_f64` and scalar products
    /// (at most [`MAX_SESSION_FRAC_BITS`]).
    pub frac_bits: u32,
    /// Truncation protocol.
    pub trunc: TruncMode,
    /// How maxima compare their candidates.
    pub max_reduction: MaxReduction,
    /// How comparisons are computed.
    pub compare: CompareMode,
    /// `Some(seed)` makes pairwise seeds reproducible. **Tests only**: real runs leave it
    /// `None`, and seeds come from the OS RNG.
    pub insecure_test_seed: Option<u64>,
}

impl fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("frac_bits", &self.frac_bits)
            .field("trunc", &self.trunc)
            .field("max_reduction", &self.max_reduction)
            .field("compare", &self.compare)
            .field("insecure_test_seed", &self.insecure_test_seed.map(|_| ".."))
            .finish()
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            frac_bits: DEFAULT_FRAC_BITS,
            trunc: TruncMode::Dealer,
            max_reduction: MaxReduction::AllPairs,
            compare: CompareMode::Circuit,
            insecure_test_seed: None,
        }
    }
}

struct Inner {
    party: usize,
    n_parties: usize,
    config: SessionConfig,
    comm: RefCell<CountingComm<Box<dyn Comm>>>,
    source: RefCell<Box<dyn TripleSource>>,
    /// `pair_seeds[j]` is the seed shared with party `j` (`None` at this party's own index).
    pair_seeds: Vec<Option<Seed>>,
    /// Inputs shared so far: input `k` uses stream `k` of every pairwise seed, so one input
    /// of a wrong shape cannot shift the randomness of the inputs after it.
    inputs: Cell<u64>,
    /// Fixed Beaver masks handed out so far (see `protocols::beaver::FixedMask`).
    fixed_masks: Cell<u64>,
    /// Tuples fetched ahead of time, consumed first-in first-out.
    prefetched: RefCell<VecDeque<(TupleRequest, Vec<RingTensor>)>>,
    /// Set by the first failed protocol step.
    poisoned: Cell<bool>,
    /// Requests made while recording (see [`Session::record_requests`]).
    recording: RefCell<Option<Vec<TupleRequest>>>,
    /// What the dealer has sent this party since setup or the last reset.
    dealer: Cell<DealerStats>,
}

/// What one party has received from the dealer (see [`Session::dealer_stats`]).
///
/// In the seed scheme every party expands its tuples from its seed, and only party 0
/// receives anything per tuple: a correction word for each element of each correlated slot
/// (the `c` of a Beaver triple, the truncation pair, the bits' arithmetic shares). These are
/// the payload bytes of the dealer's frames to party 0 (framing not included); the other
/// parties' counts are zero after the 16-byte seed they get at setup, which is not counted,
/// except in the FSS comparison mode, where every party receives its keys' correction words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DealerStats {
    /// Payload bytes received from the dealer.
    pub bytes_received: u64,
    /// Tuples fetched from the triple source (prefetched or not).
    pub tuples: u64,
    /// Trips to the triple source: one per tuple fetched on demand, one per prefetched batch.
    /// Party 0 waits on the dealer for each; the others expand seeds locally.
    pub round_trips: u64,
}

/// One party's handle on a session. Cloning is cheap and shares the same links.
#[derive(Clone)]
pub struct Session {
    inner: Rc<Inner>,
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

fn words_to_seed(w: &[u64]) -> Seed {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&w[0].to_le_bytes());
    b[8..].copy_from_slice(&w[1].to_le_bytes());
    Seed::from_bytes(b)
}

/// The settings every party must agree on, as sent in the setup hello.
fn hello(party: usize, n: usize, config: &SessionConfig) -> [u64; 9] {
    let local_trunc = config.trunc == TruncMode::LocalProbabilistic;
    [
        PROTOCOL_VERSION,
        n as u64,
        u64::from(config.frac_bits),
        u64::from(local_trunc),
        party as u64,
        // A fixed test seed must be the same everywhere or nowhere: one party drawing from the
        // OS and another from a known u64 would silently make its half of each pair public.
        u64::from(config.insecure_test_seed.is_some()),
        config.insecure_test_seed.unwrap_or(0),
        u64::from(config.max_reduction == MaxReduction::Tree),
        u64::from(config.compare == CompareMode::Fss),
    ]
}

/// The two setup rounds: every party checks the others' settings, then pairwise seeds are
/// agreed (drawn by the lower-numbered party of each pair).
fn setup_links(
    comm: &mut CountingComm<Box<dyn Comm>>,
    party: usize,
    n: usize,
    config: &SessionConfig,
) -> Result<Vec<Option<Seed>>> {
    // Round 1: everyone agrees on the settings.
    let ours = hello(party, n, config);
    for peer in (0..n).filter(|&p| p != party) {
        comm.send(peer, encode_u64s(&ours), "setup hello")?;
    }
    for peer in (0..n).filter(|&p| p != party) {
        // the version first, whatever the length: a peer of another protocol version may
        // send a hello of another size, and that is the error to report
        let frame = comm.recv(peer, "setup hello")?;
        if let Some(word) = frame.get(..8) {
            let version = u64::from_le_bytes(word.try_into().expect("8 bytes"));
            if version != PROTOCOL_VERSION {
                return Err(Error::ConfigMismatch {
                    peer,
                    setting: "protocol version",
                    ours: PROTOCOL_VERSION,
                    theirs: version,
                });
            }
        }
        let theirs = decode_u64s(&frame, ours.len(), peer, "setup hello")?;
        const FIELDS: [&str; 9] = [
            "protocol version",
            "party count",
            "fractional bits",
            "local truncation",
            "party index",
            "insecure test seed",
            "insecure test seed value",
            "maximum reduction",
            "comparison mode",
        ];
        let expected = [
            ours[0],
            ours[1],
            ours[2],
            ours[3],
            peer as u64,
            ours[5],
            ours[6],
            ours[7],
            ours[8],
        ];
        if let Some(i) = (0..FIELDS.len()).find(|&i| theirs[i] != expected[i]) {
            return Err(Error::ConfigMismatch {
                peer,
                setting: FIELDS[i],
                ours: expected[i],
                theirs: theirs[i],
            });
        }
    }
    // Round 2: pairwise seeds, drawn by the lower-numbered party of each pair.
    let mut pair_seeds: Vec<Option<Seed>> = (0..n).map(|_| None).collect();
    for (j, slot) in pair_seeds.iter_mut().enumerate().skip(party + 1) {
        let seed = match config.insecure_test_seed {
            Some(s) => Seed::insecure_from_u64(s).derive((party * n + j) as u64),
            None => Seed::from_os()?,
        };
        let b = seed.to_bytes();
        let words = [
            u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
            u64::from_le_bytes(b[8..].try_into().expect("8 bytes")),
        ];
        comm.send(j, encode_u64s(&words), "pairwise seed")?;
        *slot = Some(seed);
    }
    for (i, slot) in pair_seeds.iter_mut().enumerate().take(party) {
        *slot = Some(words_to_seed(&recv_u64s(comm, i, 2, "pairwise seed")?));
    }
    Ok(pair_seeds)
}

impl Session {
    /// Starts a session over `comm`: checks that every peer runs with the same settings and
    /// agrees pairwise seeds (two rounds; see the module docs).
    ///
    /// # Errors
    /// Fewer than 2 or more than [`MAX_PARTIES`] parties, a scale above
    /// [`MAX_SESSION_FRAC_BITS`], local truncation asked for with more than 2 parties, a peer
    /// with different settings, a link failure during setup, or the OS RNG failing.
    pub fn new(
        comm: Box<dyn Comm>,
        source: Box<dyn TripleSource>,
        config: SessionConfig,
    ) -> Result<Self> {
        let (party, n) = (comm.party(), comm.n_parties());
        if n < 2 {
            return Err(Error::TooFewParties(n));
        }
        if n > MAX_PARTIES {
            return Err(Error::InvalidArgument {
                op: "session",
                reason: format!("{n} parties exceed the maximum of {MAX_PARTIES}"),
            });
        }
        if party >= n {
            return Err(Error::UnknownParty {
                party,
                n_parties: n,
            });
        }
        if config.trunc == TruncMode::LocalProbabilistic && n != 2 {
            return Err(Error::InvalidArgument {
                op: "session",
                reason: format!("local truncation is only correct for 2 parties, not {n}"),
            });
        }
        if config.compare == CompareMode::Fss && n != 2 {
            return Err(Error::InvalidArgument {
                op: "session",
                reason: format!(
                    "the FSS comparison mode is for 2 parties (its keys are two-party DCF keys), not {n}; use the circuit mode"
                ),
            });
        }
        if config.frac_bits > MAX_SESSION_FRAC_BITS {
            return Err(Error::InvalidArgument {
                op: "session",
                reason: format!(
                    "{} fractional bits leave no headroom for products (max {MAX_SESSION_FRAC_BITS})",
                    config.frac_bits
                ),
            });
        }
        let mut comm = CountingComm::new(comm);
        let pair_seeds = match setup_links(&mut comm, party, n, &config) {
            Ok(seeds) => seeds,
            Err(e) => {
                comm.abort(&e.to_string());
                return Err(e);
            }
        };
        comm.reset();
        let inner = Inner {
            party,
            n_parties: n,
            config,
            comm: RefCell::new(comm),
            source: RefCell::new(source),
            pair_seeds,
            inputs: Cell::new(0),
            fixed_masks: Cell::new(0),
            prefetched: RefCell::new(VecDeque::new()),
            poisoned: Cell::new(false),
            recording: RefCell::new(None),
            dealer: Cell::new(DealerStats::default()),
        };
        Ok(Self {
            inner: Rc::new(inner),
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
        self.inner.config.trunc == TruncMode::LocalProbabilistic
    }

    /// Bytes, messages and rounds this party has used since setup or the last reset.
    pub fn stats(&self) -> CommStats {
        self.inner.comm.borrow().stats()
    }

    /// Zeroes the communication counters (the dealer's too).
    pub fn reset_stats(&self) {
        self.inner.comm.borrow_mut().reset();
        self.inner.dealer.set(DealerStats::default());
    }

    /// What the dealer has sent this party since setup or the last reset.
    pub fn dealer_stats(&self) -> DealerStats {
        self.inner.dealer.get()
    }

    /// Counts one trip to the triple source for tuples with these slots.
    fn count_dealer<'a>(&self, tuples: impl ExactSizeIterator<Item = &'a [(Vec<usize>, Slot)]>) {
        let mut d = self.inner.dealer.get();
        d.round_trips += 1;
        d.tuples += tuples.len() as u64;
        let party = self.inner.party;
        d.bytes_received += tuples
            .map(|slots| 8 * dealer_words(slots, party) as u64)
            .sum::<u64>();
        self.inner.dealer.set(d);
    }

    /// Whether two handles belong to the same session.
    pub fn same_as(&self, other: &Session) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }

    /// Whether an earlier protocol failure has aborted this session.
    pub fn is_aborted(&self) -> bool {
        self.inner.poisoned.get()
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

    /// Runs a protocol step that must not fail halfway on one party only: an error poisons
    /// the session.
    fn guarded<R>(&self, step: impl FnOnce() -> Result<R>) -> Result<R> {
        if self.inner.poisoned.get() {
            return Err(Error::Aborted);
        }
        let r = step();
        if let Err(e) = &r {
            self.inner.poisoned.set(true);
            // Peers blocked on this party learn why at once rather than by a timeout.
            self.inner.comm.borrow_mut().abort(&e.to_string());
        }
        r
    }

    /// Runs `f` with exclusive use of the links.
    pub(crate) fn with_comm<R>(&self, f: impl FnOnce(&mut dyn Comm) -> Result<R>) -> Result<R> {
        self.guarded(|| f(&mut *self.inner.comm.borrow_mut()))
    }

    /// This party's shares of the next tuple of kind `req`, checked against the request.
    ///
    /// # Errors
    /// A malformed request (no poisoning: every party sees the same error), or a failing or
    /// misbehaving source (poisons the session).
    pub(crate) fn fetch(&self, req: &TupleRequest) -> Result<Vec<RingTensor>> {
        let slots = req.slots()?;
        if let Some(log) = self.inner.recording.borrow_mut().as_mut() {
            log.push(req.clone());
        }
        self.guarded(|| {
            let next = self.inner.prefetched.borrow_mut().pop_front();
            let tuple = match next {
                None => {
                    let tuple = self.inner.source.borrow_mut().fetch(req)?;
                    self.count_dealer(std::iter::once(slots.as_slice()));
                    tuple
                }
                Some((want, tuple)) if want == *req => tuple,
                Some((want, _)) => {
                    return Err(Error::PrefetchMismatch {
                        prefetched: format!("{want:?}"),
                        requested: format!("{req:?}"),
                    });
                }
            };
            check_tuple(&tuple, &slots)?;
            Ok(tuple)
        })
    }

    /// Fetches the tuples for `requests` now, so that the protocols that follow (which must
    /// ask for exactly these, in this order) do not wait for the dealer. This is how the
    /// offline phase is separated from the online phase.
    ///
    /// # Errors
    /// A malformed request, or the triple source failed.
    ///
    /// # Security
    /// Tuples are input-independent randomness; fetching them early reveals nothing.
    pub fn prefetch(&self, requests: &[TupleRequest]) -> Result<()> {
        let slots = requests
            .iter()
            .map(TupleRequest::slots)
            .collect::<Result<Vec<_>>>()?;
        self.guarded(|| {
            let tuples = self.inner.source.borrow_mut().fetch_many(requests)?;
            self.count_dealer(slots.iter().map(Vec::as_slice));
            if tuples.len() != requests.len() {
                return Err(Error::TripleSource(format!(
                    "asked for {} tuples, got {}",
                    requests.len(),
                    tuples.len()
                )));
            }
            self.inner
                .prefetched
                .borrow_mut()
                .extend(requests.iter().cloned().zip(tuples));
            Ok(())
        })
    }

    /// Runs `f` and returns, besides its result, the tuple requests it made, in order: the
    /// list to [`Session::prefetch`] before running the same computation again with its
    /// offline phase done ahead of time.
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub fn record_requests<R>(
        &self,
        f: impl FnOnce() -> Result<R>,
    ) -> Result<(R, Vec<TupleRequest>)> {
        let previous = self.inner.recording.borrow_mut().replace(Vec::new());
        let r = f();
        let log = std::mem::replace(&mut *self.inner.recording.borrow_mut(), previous)
            .unwrap_or_default();
        Ok((r?, log))
    }

    /// The PRG stream for the next shared input, shared with `peer`. Call once per input and
    /// peer, after [`Session::next_input`].
    pub(crate) fn pair_stream(&self, peer: usize, input: u64) -> AesPrg {
        let seed = self.inner.pair_seeds[peer]
            .as_ref()
            .expect("a seed for every peer");
        AesPrg::new(seed, input)
    }

    /// Numbers the next fixed Beaver mask (identically on every party).
    pub(crate) fn next_fixed_mask(&self) -> u64 {
        let k = self.inner.fixed_masks.get();
        self.inner.fixed_masks.set(k + 1);
        k
    }

    /// Numbers the next shared input (identically on every party).
    pub(crate) fn next_input(&self) -> u64 {
        let k = self.inner.inputs.get();
        self.inner.inputs.set(k + 1);
        k
    }
}

/// Checks a tuple from a source against the request's slots.
fn check_tuple(tuple: &[RingTensor], slots: &[(Vec<usize>, Slot)]) -> Result<()> {
    if tuple.len() != slots.len() {
        return Err(Error::MalformedTuple {
            slot: tuple.len().min(slots.len()),
            expected: format!("{} tensors", slots.len()),
            got: format!("{} tensors", tuple.len()),
        });
    }
    for (i, (t, (shape, _))) in tuple.iter().zip(slots).enumerate() {
        if t.shape() != shape.as_slice() {
            return Err(Error::MalformedTuple {
                slot: i,
                expected: format!("shape {shape:?}"),
                got: format!("shape {:?}", t.shape()),
            });
        }
    }
    Ok(())
}
