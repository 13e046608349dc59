//! Correlated randomness: the [`TripleSource`] trait and the in-process [`InsecureTestDealer`].
//!
//! A trusted dealer (CrypTen's TTP) hands out tuples whose shares sum to correlated values:
//! Beaver triples `(a, b, c = a ∘ b)` for an elementwise product, a matmul or a convolution
//! (operands shaped like the protocol's operands, so a matmul opens |x| + |y| elements rather
//! than one triple per scalar product), square pairs `(r, r²)`, and truncation tuples.
//!
//! **Seed scheme.** The dealer shares one PRG seed with each party. For request number `q`
//! (all parties number their requests identically, because they issue identical protocol calls)
//! and tensor slot `s`, party `i` expands `AES-CTR(seed_i, stream q·8+s)`. "Free" slots (`a`, `b`,
//! `r`) are just that, for every party. "Correlated" slots (`c`, `r²`, ...) are derived the same
//! way by parties `1..n`, while party 0 receives a correction `c_0 = c - Σ_{i≥1} c_i` from the
//! dealer, which recomputes every party's expansion. So parties other than party 0 need no
//! message at all, and party 0 receives one tensor per correlated slot.
//!
//! "Public" slots (the correction words of the FSS comparison keys, [`TupleRequest::FssSign`]
//! and [`TupleRequest::FssRelu`]) are the same for both parties and cannot come from a seed:
//! the dealer sends them to every party.
//!
//! The dealer sees no inputs, but it knows every tuple: a dealer that colludes with a party
//! breaks privacy. That is the trust assumption of this mode (see the README's threat model).

use std::fmt;
use std::sync::Arc;

use tensor::{Conv2dParams, RingTensor};

use crate::error::{Error, Result};
use crate::prg::{AesPrg, Seed};

/// What a protocol asks the dealer for. Shapes are those of the protocol's operands.
///
/// Requests travel to the network dealer as postcard control messages; a decoded request is
/// only trusted after [`TupleRequest::slots`] has checked its shapes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TupleRequest {
    /// Elementwise Beaver triple `[a, b, c = a * b]`; `c` has the broadcast shape.
    Mul {
        /// Shape of the left operand.
        a: Vec<usize>,
        /// Shape of the right operand.
        b: Vec<usize>,
    },
    /// Matmul triple `[a, b, c = a @ b]` (PyTorch matmul shape rules).
    Matmul {
        /// Shape of the left operand.
        a: Vec<usize>,
        /// Shape of the right operand.
        b: Vec<usize>,
    },
    /// Convolution triple `[a, b, c = conv2d(a, b)]` for input shape `x` and weight shape `w`.
    Conv2d {
        /// Input shape `[N, C, H, W]`.
        x: Vec<usize>,
        /// Weight shape `[O, C/groups, kh, kw]`.
        w: Vec<usize>,
        /// Stride, padding, dilation, groups.
        params: Conv2dParams,
    },
    /// Square pair `[r, r²]`.
    Square {
        /// Shape of the operand.
        shape: Vec<usize>,
    },
    /// Truncation tuple `[r, floor(r / d), msb(r)]` for division by the public `divisor`
    /// (`r` uniform in Z_2^64, read as unsigned; `msb(r)` as the integer 0 or 1).
    Trunc {
        /// Shape of the operand.
        shape: Vec<usize>,
        /// The public divisor `d` (2^f for fixed-point truncation).
        divisor: u64,
    },
    /// Truncation tuple for a truncation fused with the square of its result:
    /// `[r, floor(r / d), msb(r), floor(r / d)², floor(r / d)·msb(r)]` (see
    /// `protocols::truncate::truncate_and_square`).
    TruncSquare {
        /// Shape of the operand.
        shape: Vec<usize>,
        /// The public divisor `d`.
        divisor: u64,
    },
    /// Binary (XOR-shared) AND triple on packed words: `[a, b, c = a & b]`, all XOR-shared.
    And {
        /// Words per tensor.
        words: usize,
    },
    /// Random bits in both sharings: `[r]` packed 64 to a word and XOR-shared, and `[r_i]`
    /// additively shared as integers 0/1, one ring element per bit.
    Bit {
        /// Number of bits.
        bits: usize,
    },
    /// Random bits with a product correlation, for multiplying a binary-shared bit by an
    /// arithmetic value in one round: `[r]` (packed, XOR-shared), `[a]`, `[r_i]` and
    /// `[r_i · a_i]` (additive, one ring element per bit).
    BitMul {
        /// Number of bits.
        bits: usize,
    },
    /// Keys of the one-round FSS sign bit, 2 parties only (see `protocols::fss`): a mask
    /// `[r]` (free), the parties' DCF root seeds (free, two words per element), `[msb(r)]`
    /// (correlated) and the DCF correction words (public, [`crate::fss::Dcf::key_words`] per
    /// element) for `f(x) = 1 - 2·msb(r)` where `x < r mod 2^63` on 63-bit inputs.
    FssSign {
        /// Number of elements.
        elements: usize,
    },
    /// Keys of the one-round FSS ReLU, 2 parties only: as [`TupleRequest::FssSign`], plus
    /// `[r·msb(r)]` (correlated) after `[msb(r)]`, and a two-word payload `(1 - 2·msb(r),
    /// r·(1 - 2·msb(r)))`.
    FssRelu {
        /// Number of elements.
        elements: usize,
    },
    /// A product triple whose `b` is fixed for a parameter: as `base` (a `Mul`, `Matmul` or
    /// `Conv2d` triple), except that its `b` slot is expanded from the parameter's own stream
    /// `mask` (see [`fixed_mask_stream`]) rather than from this request's, so every request
    /// naming `mask` has the same `b`. The parties then open `y - b` at the parameter's first
    /// product only, and `x - a` alone afterwards (`protocols::beaver::FixedMask`).
    FixedB {
        /// The product's triple.
        base: Box<TupleRequest>,
        /// The parameter's mask number (numbered identically by every party).
        mask: u64,
        /// Whether the parties already hold `y - b` (every product after the parameter's
        /// first): the tuple is then `[a, c]`, without `b`, which no party needs again, and
        /// the dealer takes the summed `b` from its cache rather than expanding every
        /// party's share of it once more.
        opened: bool,
    },
}

/// The PRG stream of the fixed mask number `mask` (a [`TupleRequest::FixedB`]'s `b`): the
/// top half of the stream space, apart from the streams `q·8 + s` of requests numbered below
/// 2^60.
pub fn fixed_mask_stream(mask: u64) -> u64 {
    (1u64 << 63) | (mask & ((1u64 << 63) - 1))
}

/// How a party obtains one slot of a tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Every party expands its share from its seed.
    Free,
    /// Parties `1..n` expand theirs; the dealer sends party 0 its correction.
    Correlated,
    /// The dealer sends the same words to every party (public to the parties).
    Public,
}

/// The DCF family of FSS requests: 63-bit inputs (the masked input below its sign bit).
fn fss_dcf(req: &TupleRequest) -> Option<crate::fss::Dcf> {
    let width = match req {
        TupleRequest::FssSign { .. } => 1,
        TupleRequest::FssRelu { .. } => 2,
        _ => return None,
    };
    Some(crate::fss::Dcf::new(63, width).expect("a valid family"))
}

impl TupleRequest {
    /// Shape of each tensor of the tuple, and how a party obtains it.
    ///
    /// # Errors
    /// Shapes that do not combine (e.g. a matmul with mismatched inner dimensions).
    pub fn slots(&self) -> Result<Vec<(Vec<usize>, Slot)>> {
        use Slot::{Correlated, Free, Public};
        let checked = |shape: &[usize]| tensor::shape::checked_numel("tuple request", shape);
        match self {
            TupleRequest::Mul { a, b } | TupleRequest::Matmul { a, b } => {
                checked(a)?;
                checked(b)?;
            }
            TupleRequest::Conv2d { x, w, .. } => {
                checked(x)?;
                checked(w)?;
            }
            TupleRequest::Square { shape }
            | TupleRequest::Trunc { shape, .. }
            | TupleRequest::TruncSquare { shape, .. } => {
                checked(shape)?;
            }
            TupleRequest::And { words: n }
            | TupleRequest::Bit { bits: n }
            | TupleRequest::BitMul { bits: n } => {
                checked(&[*n])?;
            }
            TupleRequest::FssSign { elements: n } | TupleRequest::FssRelu { elements: n } => {
                let dcf = fss_dcf(self).expect("an FSS request");
                checked(&[*n, 2])?;
                checked(&[*n, dcf.key_words()])?;
            }
            TupleRequest::FixedB { base, opened, .. } => match **base {
                TupleRequest::Mul { .. }
                | TupleRequest::Matmul { .. }
                | TupleRequest::Conv2d { .. } => {
                    let mut slots = base.slots()?;
                    if *opened {
                        slots.remove(1);
                    }
                    return Ok(slots);
                }
                _ => {
                    return Err(Error::InvalidArgument {
                        op: "tuple request",
                        reason: format!(
                            "a fixed mask is for a product triple (mul, matmul, conv2d), not {base:?}"
                        ),
                    });
                }
            },
        }
        Ok(match self {
            TupleRequest::Mul { a, b } => {
                let c = tensor::shape::broadcast_shapes("mul triple", a, b)?;
                vec![(a.clone(), Free), (b.clone(), Free), (c, Correlated)]
            }
            TupleRequest::Matmul { a, b } => {
                let c = tensor::shape::matmul_shape(a, b)?;
                vec![(a.clone(), Free), (b.clone(), Free), (c, Correlated)]
            }
            TupleRequest::Conv2d { x, w, params } => {
                let c = params.output_shape(x, w)?;
                vec![(x.clone(), Free), (w.clone(), Free), (c, Correlated)]
            }
            TupleRequest::Square { shape } => {
                vec![(shape.clone(), Free), (shape.clone(), Correlated)]
            }
            TupleRequest::Trunc { shape, divisor }
            | TupleRequest::TruncSquare { shape, divisor } => {
                if *divisor == 0 {
                    return Err(Error::InvalidArgument {
                        op: "tuple request",
                        reason: "truncation divisor must be positive".into(),
                    });
                }
                let correlated = if matches!(self, TupleRequest::Trunc { .. }) {
                    2
                } else {
                    4
                };
                let mut slots = vec![(shape.clone(), Free)];
                slots.extend(std::iter::repeat_n((shape.clone(), Correlated), correlated));
                slots
            }
            TupleRequest::And { words } => vec![
                (vec![*words], Free),
                (vec![*words], Free),
                (vec![*words], Correlated),
            ],
            TupleRequest::Bit { bits } => {
                vec![(vec![bits.div_ceil(64)], Free), (vec![*bits], Correlated)]
            }
            TupleRequest::BitMul { bits } => vec![
                (vec![bits.div_ceil(64)], Free),
                (vec![*bits], Free),
                (vec![*bits], Correlated),
                (vec![*bits], Correlated),
            ],
            TupleRequest::FssSign { elements: n } | TupleRequest::FssRelu { elements: n } => {
                let dcf = fss_dcf(self).expect("an FSS request");
                let mut slots = vec![
                    (vec![*n], Free),
                    (vec![*n, 2], Free),
                    (vec![*n], Correlated),
                ];
                if matches!(self, TupleRequest::FssRelu { .. }) {
                    slots.push((vec![*n], Correlated));
                }
                slots.push((vec![*n, dcf.key_words()], Public));
                slots
            }
            TupleRequest::FixedB { .. } => unreachable!("returned above"),
        })
    }

    /// The PRG stream from which a party expands slot `s` of request number `q`: `q·8 + s`,
    /// except for the `b` of a [`TupleRequest::FixedB`], which comes from its mask's stream
    /// (and, once `b` is left out, its `c` keeps the stream it has beside `b`).
    pub fn slot_stream(&self, q: u64, s: usize) -> u64 {
        let own = |s: usize| q.wrapping_mul(8).wrapping_add(s as u64);
        match self {
            TupleRequest::FixedB {
                mask,
                opened: false,
                ..
            } if s == 1 => fixed_mask_stream(*mask),
            TupleRequest::FixedB { opened: true, .. } if s >= 1 => own(s + 1),
            _ => own(s),
        }
    }

    /// Whether slot `s` is XOR-shared (binary) rather than additively shared.
    pub fn slot_is_binary(&self, s: usize) -> bool {
        match self {
            TupleRequest::And { .. } => true,
            TupleRequest::Bit { .. } | TupleRequest::BitMul { .. } => s == 0,
            _ => false,
        }
    }

    /// Whether the tuple is elementwise on one shape (the dealer then works in chunks).
    fn is_elementwise(&self) -> bool {
        match self {
            TupleRequest::Mul { a, b } => a == b,
            TupleRequest::Square { .. }
            | TupleRequest::Trunc { .. }
            | TupleRequest::TruncSquare { .. } => true,
            _ => false,
        }
    }

    /// The correlated values `[c...]` from the summed free values `[a, b]` or `[r]`.
    fn correlate(&self, free: &[RingTensor]) -> Result<Vec<RingTensor>> {
        Ok(match self {
            TupleRequest::Mul { .. }
            | TupleRequest::Matmul { .. }
            | TupleRequest::Conv2d { .. } => {
                vec![self.product(&free[0], &free[1])?]
            }
            TupleRequest::Square { .. } => vec![free[0].mul_raw(&free[0])?],
            TupleRequest::Trunc { divisor, .. } => {
                vec![free[0].map(|r| r / divisor), free[0].map(|r| r >> 63)]
            }
            TupleRequest::TruncSquare { divisor, .. } => {
                let (rd, m) = (free[0].map(|r| r / divisor), free[0].map(|r| r >> 63));
                let (rd2, rdm) = (rd.mul_raw(&rd)?, rd.mul_raw(&m)?);
                vec![rd, m, rd2, rdm]
            }
            TupleRequest::And { .. } => {
                vec![free[0].and_local(&free[1])?]
            }
            TupleRequest::Bit { bits } => vec![free[0].unpack_bits(*bits)?],
            TupleRequest::BitMul { bits } => {
                let r = free[0].unpack_bits(*bits)?;
                let ra = r.mul_raw(&free[1])?;
                vec![r, ra]
            }
            TupleRequest::FssSign { .. } | TupleRequest::FssRelu { .. } => {
                unreachable!("FSS keys take their own path")
            }
            TupleRequest::FixedB { base, .. } => base.correlate(free)?,
        })
    }

    /// `c` of a product triple (`Mul`, `Matmul`, `Conv2d`) from the summed `a` and `b`.
    fn product(&self, a: &RingTensor, b: &RingTensor) -> Result<RingTensor> {
        Ok(match self {
            TupleRequest::Mul { .. } => a.mul_raw(b)?,
            TupleRequest::Matmul { .. } => a.matmul_raw(b)?,
            TupleRequest::Conv2d { params, .. } => a.conv2d_raw(b, params)?,
            _ => unreachable!("only product triples have a c = a·b"),
        })
    }
}

/// The words the dealer sends party `party` for a tuple with these slots (see
/// [`TupleRequest::slots`]): one per element of each public slot, and for party 0 also of
/// each correlated slot.
pub fn dealer_words(slots: &[(Vec<usize>, Slot)], party: usize) -> usize {
    slots
        .iter()
        .filter(|(_, kind)| sent_to(*kind, party))
        .map(|(shape, _)| tensor::shape::numel(shape))
        .sum()
}

/// Whether the dealer sends party `party` the slots of this kind.
pub fn sent_to(kind: Slot, party: usize) -> bool {
    match kind {
        Slot::Free => false,
        Slot::Correlated => party == 0,
        Slot::Public => true,
    }
}

/// A source of correlated randomness for one party.
///
/// Every party of a session must issue the same requests in the same order; the `n`-th
/// request of each party refers to the same tuple.
pub trait TripleSource: Send {
    /// This party's shares of the next tuple of kind `req` (all at scale 0, raw ring).
    ///
    /// # Errors
    /// The source is unreachable, or the request is malformed.
    fn fetch(&mut self, req: &TupleRequest) -> Result<Vec<RingTensor>>;

    /// The next tuples for `reqs`, in order. A network source overrides this to send the
    /// whole batch at once, so prefetching costs one round trip rather than one per tuple.
    ///
    /// # Errors
    /// As [`TripleSource::fetch`].
    fn fetch_many(&mut self, reqs: &[TupleRequest]) -> Result<Vec<Vec<RingTensor>>> {
        reqs.iter().map(|r| self.fetch(r)).collect()
    }
}

/// A [`TripleSource`] decorator for benchmarks on an emulated link to the dealer: party 0
/// waits one round trip per trip to the source, plus the time its corrections take at the
/// link's bandwidth; the other parties expand their seeds locally and wait for nothing.
pub struct EmulatedSource<S> {
    inner: S,
    party: usize,
    link: crate::comm::LinkProfile,
}

impl<S> fmt::Debug for EmulatedSource<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatedSource")
            .field("party", &self.party)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

impl<S: TripleSource> EmulatedSource<S> {
    /// Wraps party `party`'s source.
    pub fn new(inner: S, party: usize, link: crate::comm::LinkProfile) -> Self {
        Self { inner, party, link }
    }

    fn wait(&self, reqs: &[TupleRequest]) {
        let words: usize = reqs
            .iter()
            .filter_map(|r| r.slots().ok())
            .map(|slots| dealer_words(&slots, self.party))
            .sum();
        // Party 0 asks the dealer for every tuple; the others only for public slots.
        if self.party != 0 && words == 0 {
            return;
        }
        std::thread::sleep(self.link.rtt + self.link.transfer(8 * words));
    }
}

impl<S: TripleSource> TripleSource for EmulatedSource<S> {
    fn fetch(&mut self, req: &TupleRequest) -> Result<Vec<RingTensor>> {
        let t = self.inner.fetch(req)?;
        self.wait(std::slice::from_ref(req));
        Ok(t)
    }

    fn fetch_many(&mut self, reqs: &[TupleRequest]) -> Result<Vec<Vec<RingTensor>>> {
        let t = self.inner.fetch_many(reqs)?;
        self.wait(reqs);
        Ok(t)
    }
}

/// The dealer's view: every party's seed, and the computation of party 0's corrections and
/// of the public slots.
pub struct DealerCore {
    seeds: Vec<Seed>,
    /// FSS correction words generated for one party and not yet taken by the other: each key
    /// pair is generated once per request, whichever party asks first.
    fss_keys: std::sync::Mutex<std::collections::BTreeMap<u64, (RingTensor, usize)>>,
    /// The summed `b` of every fixed mask seen ([`TupleRequest::FixedB`]), by mask number:
    /// the session's parameters' size in ring words, kept so that each later product costs
    /// the dealer its fresh `a` and `c` only.
    fixed_b: std::sync::Mutex<std::collections::BTreeMap<u64, Arc<RingTensor>>>,
}

impl fmt::Debug for DealerCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DealerCore")
            .field("n_parties", &self.seeds.len())
            .finish_non_exhaustive()
    }
}

/// `acc ⊕= t` for a binary slot, `acc ±= t` for an arithmetic one (both at scale 0 and of
/// the slot's shape).
fn combine(acc: &mut RingTensor, t: &RingTensor, binary: bool, subtract: bool) -> Result<()> {
    match (binary, subtract) {
        (true, _) => acc.xor_assign(t)?,
        (false, false) => acc.add_assign(t)?,
        (false, true) => acc.sub_assign(t)?,
    }
    Ok(())
}

/// Party `party`'s seed-derived tensor for slot `slot` of request number `q`.
pub fn derive_slot(seed: &Seed, q: u64, slot: usize, shape: &[usize]) -> RingTensor {
    derive_stream(seed, q.wrapping_mul(8).wrapping_add(slot as u64), shape)
}

/// A seed's expansion of PRG stream `stream`, as a tensor of `shape`.
fn derive_stream(seed: &Seed, stream: u64, shape: &[usize]) -> RingTensor {
    let n = tensor::shape::numel(shape);
    let data = AesPrg::new(seed, stream).gen_vec(n);
    RingTensor::from_raw(shape, data, 0).expect("length matches shape")
}

/// Party `party`'s seed-derived tensor for slot `slot` of request `req`, number `q` (see
/// [`TupleRequest::slot_stream`]).
fn derive_req_slot(
    seed: &Seed,
    req: &TupleRequest,
    q: u64,
    slot: usize,
    shape: &[usize],
) -> RingTensor {
    derive_stream(seed, req.slot_stream(q, slot), shape)
}

impl DealerCore {
    /// A dealer holding one seed per party.
    pub fn new(seeds: Vec<Seed>) -> Self {
        Self {
            seeds,
            fss_keys: Default::default(),
            fixed_b: Default::default(),
        }
    }

    /// Number of parties served.
    pub fn n_parties(&self) -> usize {
        self.seeds.len()
    }

    /// Party 0's corrections for request number `q`: one tensor per correlated slot, equal to
    /// the correlated value minus the shares that parties `1..n` derive themselves. This is
    /// what a dealer sends to party 0.
    ///
    /// # Errors
    /// A malformed request.
    pub fn corrections(&self, q: u64, req: &TupleRequest) -> Result<Vec<RingTensor>> {
        self.sent(q, req, 0)
    }

    /// What the dealer sends party `party` for request number `q`, in slot order: party 0's
    /// corrections and public slots ([`DealerCore::corrections`]), the public slots alone for
    /// the other parties (none for most requests).
    ///
    /// # Errors
    /// A malformed request, or an unknown party.
    pub fn sent(&self, q: u64, req: &TupleRequest, party: usize) -> Result<Vec<RingTensor>> {
        if party >= self.seeds.len() {
            return Err(Error::UnknownParty {
                party,
                n_parties: self.seeds.len(),
            });
        }
        let slots = req.slots()?;
        if party != 0 {
            if !slots.iter().any(|(_, k)| *k == Slot::Public) {
                return Ok(Vec::new());
            }
            return Ok(vec![self.fss_keys(q, req)?]);
        }
        let tuple = self.party0_tuple(q, req)?;
        Ok(tuple
            .into_iter()
            .zip(slots)
            .filter(|(_, (_, kind))| sent_to(*kind, 0))
            .map(|(t, _)| t)
            .collect())
    }

    /// The sums over the parties of the free slot `slot` of request `q`.
    fn free_sum(&self, q: u64, slot: usize, shape: &[usize]) -> RingTensor {
        let mut sum = derive_slot(&self.seeds[0], q, slot, shape);
        for seed in &self.seeds[1..] {
            sum.add_assign(&derive_slot(seed, q, slot, shape))
                .expect("same shapes");
        }
        sum
    }

    /// The correction words of FSS request `q`, generated by the first party to ask and
    /// handed to the second.
    fn fss_keys(&self, q: u64, req: &TupleRequest) -> Result<RingTensor> {
        if let Some((keys, takers)) = self.fss_keys.lock().expect("dealer state").remove(&q) {
            if takers > 1 {
                self.fss_keys
                    .lock()
                    .expect("dealer state")
                    .insert(q, (keys.clone(), takers - 1));
            }
            return Ok(keys);
        }
        let keys = self.generate_fss_keys(q, req)?;
        if self.seeds.len() > 1 {
            self.fss_keys
                .lock()
                .expect("dealer state")
                .insert(q, (keys.clone(), self.seeds.len() - 1));
        }
        Ok(keys)
    }

    fn generate_fss_keys(&self, q: u64, req: &TupleRequest) -> Result<RingTensor> {
        let dcf = fss_dcf(req).expect("an FSS request");
        if self.seeds.len() != 2 {
            return Err(Error::InvalidArgument {
                op: "fss keys",
                reason: format!(
                    "FSS comparison keys are for 2 parties, this dealer serves {}",
                    self.seeds.len()
                ),
            });
        }
        let slots = req.slots()?;
        let n = tensor::shape::numel(&slots[0].0);
        let r = self.free_sum(q, 0, &slots[0].0);
        let roots: Vec<RingTensor> = self
            .seeds
            .iter()
            .map(|seed| derive_slot(seed, q, 1, &slots[1].0))
            .collect();
        let low = (1u64 << 63) - 1;
        let alphas: Vec<u64> = r.as_slice().iter().map(|v| v & low).collect();
        // 1 - 2·msb(r), and (for ReLU) r times it.
        let sign = |v: u64| 1u64.wrapping_sub((v >> 63) << 1);
        let betas: Vec<u64> = match req {
            TupleRequest::FssSign { .. } => r.as_slice().iter().map(|&v| sign(v)).collect(),
            _ => r
                .as_slice()
                .iter()
                .flat_map(|&v| [sign(v), v.wrapping_mul(sign(v))])
                .collect(),
        };
        let keys = dcf.generate(&alphas, &betas, [roots[0].as_slice(), roots[1].as_slice()])?;
        Ok(RingTensor::from_raw(&[n, dcf.key_words()], keys, 0)?)
    }

    /// Party 0's FSS tuple: its free slots, its corrections of `[msb(r)]` (and `[r·msb(r)]`)
    /// and the correction words.
    fn party0_fss(&self, q: u64, req: &TupleRequest) -> Result<Vec<RingTensor>> {
        let slots = req.slots()?;
        let r = self.free_sum(q, 0, &slots[0].0);
        let msb = r.map(|v| v >> 63);
        let mut out = vec![
            derive_slot(&self.seeds[0], q, 0, &slots[0].0),
            derive_slot(&self.seeds[0], q, 1, &slots[1].0),
        ];
        let mut values = vec![msb.clone()];
        if matches!(req, TupleRequest::FssRelu { .. }) {
            values.push(r.mul_raw(&msb)?);
        }
        for (k, mut v) in values.into_iter().enumerate() {
            let s = 2 + k;
            for seed in &self.seeds[1..] {
                v.sub_assign(&derive_slot(seed, q, s, &slots[s].0))?;
            }
            out.push(v);
        }
        out.push(self.fss_keys(q, req)?);
        Ok(out)
    }

    /// Party 0's whole tuple for request `q`: its seed-derived free slots and the corrections.
    /// The dealer expands party 0's free slots anyway (it needs their sums), so the in-process
    /// dealer hands them over instead of having party 0 expand them a second time.
    ///
    /// # Errors
    /// A malformed request.
    pub fn party0_tuple(&self, q: u64, req: &TupleRequest) -> Result<Vec<RingTensor>> {
        let slots = req.slots()?;
        if fss_dcf(req).is_some() {
            return self.party0_fss(q, req);
        }
        if req.is_elementwise() {
            return Ok(self.party0_elementwise(q, req, &slots));
        }
        if let TupleRequest::FixedB {
            base,
            mask,
            opened: true,
        } = req
        {
            return self.party0_fixed_reuse(q, req, base, *mask, &slots);
        }
        let mut own_free = Vec::new();
        let mut sums = Vec::new();
        for (s, (shape, kind)) in slots.iter().enumerate() {
            if *kind != Slot::Free {
                continue;
            }
            let own = derive_req_slot(&self.seeds[0], req, q, s, shape);
            let mut sum = own.clone();
            for seed in &self.seeds[1..] {
                combine(
                    &mut sum,
                    &derive_req_slot(seed, req, q, s, shape),
                    req.slot_is_binary(s),
                    false,
                )?;
            }
            own_free.push(own);
            sums.push(sum);
        }
        if let TupleRequest::FixedB { mask, .. } = req {
            self.fixed_b
                .lock()
                .expect("dealer state")
                .insert(*mask, Arc::new(sums[1].clone()));
        }
        let mut values = req.correlate(&sums)?.into_iter();
        let mut own_free = own_free.into_iter();
        let mut out = Vec::with_capacity(slots.len());
        for (s, (shape, kind)) in slots.iter().enumerate() {
            if *kind == Slot::Free {
                out.push(own_free.next().expect("one per free slot"));
                continue;
            }
            let mut v = values
                .next()
                .expect("one per correlated slot")
                .with_frac_bits(0);
            if v.shape() != shape.as_slice() {
                return Err(Error::TripleSource(format!(
                    "slot {s} has shape {:?}, expected {shape:?}",
                    v.shape()
                )));
            }
            for seed in &self.seeds[1..] {
                combine(
                    &mut v,
                    &derive_req_slot(seed, req, q, s, shape),
                    req.slot_is_binary(s),
                    true,
                )?;
            }
            out.push(v);
        }
        Ok(out)
    }

    /// Party 0's `[a, c]` of a product by an opened fixed mask: `a` expanded for every party as
    /// usual, `b` from the cache (summed again from the seeds if this dealer has not seen
    /// the mask's first product).
    fn party0_fixed_reuse(
        &self,
        q: u64,
        req: &TupleRequest,
        base: &TupleRequest,
        mask: u64,
        slots: &[(Vec<usize>, Slot)],
    ) -> Result<Vec<RingTensor>> {
        let b_shape = base.slots()?[1].0.clone();
        let cached = self
            .fixed_b
            .lock()
            .expect("dealer state")
            .get(&mask)
            .cloned();
        let b = match cached {
            Some(b) if b.shape() == b_shape.as_slice() => b,
            Some(b) => {
                return Err(Error::TripleSource(format!(
                    "fixed mask {mask} was first used with b of shape {:?}, now {b_shape:?}",
                    b.shape()
                )));
            }
            None => {
                let stream = fixed_mask_stream(mask);
                let mut b = derive_stream(&self.seeds[0], stream, &b_shape);
                for seed in &self.seeds[1..] {
                    b.add_assign(&derive_stream(seed, stream, &b_shape))?;
                }
                let b = Arc::new(b);
                self.fixed_b
                    .lock()
                    .expect("dealer state")
                    .insert(mask, b.clone());
                b
            }
        };
        let (a_shape, c_shape) = (&slots[0].0, &slots[1].0);
        let own = derive_req_slot(&self.seeds[0], req, q, 0, a_shape);
        let mut a = own.clone();
        for seed in &self.seeds[1..] {
            a.add_assign(&derive_req_slot(seed, req, q, 0, a_shape))?;
        }
        let mut c = base.product(&a, &b)?;
        if c.shape() != c_shape.as_slice() {
            return Err(Error::TripleSource(format!(
                "slot 1 has shape {:?}, expected {c_shape:?}",
                c.shape()
            )));
        }
        for seed in &self.seeds[1..] {
            c.sub_assign(&derive_req_slot(seed, req, q, 1, c_shape))?;
        }
        Ok(vec![own, c])
    }

    /// [`DealerCore::party0_tuple`] for elementwise tuples, in cache-sized chunks: every
    /// party's streams are expanded a chunk at a time and combined at once, with no
    /// full-size temporaries.
    fn party0_elementwise(
        &self,
        q: u64,
        req: &TupleRequest,
        slots: &[(Vec<usize>, Slot)],
    ) -> Vec<RingTensor> {
        // Even, so that chunk boundaries fall on AES block boundaries and a chunked expansion
        // equals a whole-tensor one.
        const CHUNK: usize = 8192;
        let len = tensor::shape::numel(&slots[0].0);
        let stream =
            |seed: &Seed, s: usize| AesPrg::new(seed, q.wrapping_mul(8).wrapping_add(s as u64));
        let mut out: Vec<Vec<u64>> = slots.iter().map(|_| vec![0u64; len]).collect();
        let mut own: Vec<AesPrg> = (0..slots.len())
            .map(|s| stream(&self.seeds[0], s))
            .collect();
        let mut others: Vec<Vec<AesPrg>> = self.seeds[1..]
            .iter()
            .map(|seed| (0..slots.len()).map(|s| stream(seed, s)).collect())
            .collect();
        let n_free = slots.iter().filter(|(_, k)| *k == Slot::Free).count();
        let mut sums = vec![[0u64; CHUNK]; n_free];
        let mut tmp = [0u64; CHUNK];
        for start in (0..len).step_by(CHUNK) {
            let m = CHUNK.min(len - start);
            // Free slots come first in every elementwise tuple.
            for s in 0..n_free {
                let dst = &mut out[s][start..start + m];
                own[s].fill(dst);
                sums[s][..m].copy_from_slice(dst);
                for prgs in &mut others {
                    prgs[s].fill(&mut tmp[..m]);
                    for (a, b) in sums[s][..m].iter_mut().zip(&tmp[..m]) {
                        *a = a.wrapping_add(*b);
                    }
                }
            }
            match req {
                TupleRequest::Mul { .. } => {
                    let (a, b) = (&sums[0][..m], &sums[1][..m]);
                    for ((c, a), b) in out[2][start..start + m].iter_mut().zip(a).zip(b) {
                        *c = a.wrapping_mul(*b);
                    }
                }
                TupleRequest::Square { .. } => {
                    for (c, r) in out[1][start..start + m].iter_mut().zip(&sums[0][..m]) {
                        *c = r.wrapping_mul(*r);
                    }
                }
                TupleRequest::Trunc { divisor, .. } => {
                    let (div, msb) = out[1..].split_at_mut(1);
                    let r = &sums[0][..m];
                    for ((q, m), r) in div[0][start..start + m]
                        .iter_mut()
                        .zip(&mut msb[0][start..start + m])
                        .zip(r)
                    {
                        *q = r / divisor;
                        *m = r >> 63;
                    }
                }
                TupleRequest::TruncSquare { divisor, .. } => {
                    let (div, rest) = out[1..].split_at_mut(1);
                    let (msb, rest) = rest.split_at_mut(1);
                    let (sq, prod) = rest.split_at_mut(1);
                    let r = &sums[0][..m];
                    let outs = div[0][start..start + m]
                        .iter_mut()
                        .zip(&mut msb[0][start..start + m])
                        .zip(
                            sq[0][start..start + m]
                                .iter_mut()
                                .zip(&mut prod[0][start..start + m]),
                        );
                    for (((q, b), (q2, qb)), r) in outs.zip(r) {
                        (*q, *b) = (r / divisor, r >> 63);
                        (*q2, *qb) = (q.wrapping_mul(*q), q.wrapping_mul(*b));
                    }
                }
                _ => unreachable!("only elementwise requests take this path"),
            }
            for s in n_free..slots.len() {
                let dst = &mut out[s][start..start + m];
                for prgs in &mut others {
                    prgs[s].fill(&mut tmp[..m]);
                    for (a, b) in dst.iter_mut().zip(&tmp[..m]) {
                        *a = a.wrapping_sub(*b);
                    }
                }
            }
        }
        out.into_iter()
            .zip(slots)
            .map(|(data, (shape, _))| {
                RingTensor::from_raw(shape, data, 0).expect("length matches shape")
            })
            .collect()
    }
}

/// Assembles party `party`'s tuple for request `q` from its seed and what the dealer sent it
/// ([`DealerCore::sent`]: party 0's corrections, every party's public slots). Shared by the
/// in-process dealer and the network dealer client.
///
/// # Errors
/// Malformed request, or corrections of the wrong number or shape.
pub fn assemble_tuple(
    party: usize,
    seed: &Seed,
    q: u64,
    req: &TupleRequest,
    corrections: Option<Vec<RingTensor>>,
) -> Result<Vec<RingTensor>> {
    let slots = req.slots()?;
    let mut corrections = corrections.map(|c| c.into_iter());
    let mut out = Vec::with_capacity(slots.len());
    for (s, (shape, kind)) in slots.iter().enumerate() {
        if sent_to(*kind, party) {
            let c = corrections
                .as_mut()
                .and_then(|c| c.next())
                .ok_or_else(|| Error::TripleSource(format!("missing correction for slot {s}")))?;
            if c.shape() != shape.as_slice() {
                return Err(Error::TripleSource(format!(
                    "correction for slot {s} has shape {:?}, expected {shape:?}",
                    c.shape()
                )));
            }
            out.push(c);
        } else {
            out.push(derive_req_slot(seed, req, q, s, shape));
        }
    }
    Ok(out)
}

/// The in-process test dealer. **Not a secure deployment mode**: it lives in the parties'
/// own process, so whoever runs it sees every tuple. It exists so that every protocol can be
/// tested in one `cargo test`; real runs use the dealer service in crate `party`.
#[derive(Debug)]
pub struct InsecureTestDealer {
    core: Arc<DealerCore>,
}

impl InsecureTestDealer {
    /// A dealer for `n` parties with seeds from the OS RNG.
    ///
    /// # Errors
    /// The OS RNG failed.
    pub fn new(n: usize) -> Result<Self> {
        let seeds = (0..n).map(|_| Seed::from_os()).collect::<Result<_>>()?;
        Ok(Self {
            core: Arc::new(DealerCore::new(seeds)),
        })
    }

    /// A reproducible dealer for tests: party seeds derived from `seed`.
    pub fn seeded(n: usize, seed: u64) -> Self {
        let master = Seed::insecure_from_u64(seed ^ 0xdea1_e500_0000_0000);
        let seeds = (0..n).map(|i| master.derive(i as u64)).collect();
        Self {
            core: Arc::new(DealerCore::new(seeds)),
        }
    }

    /// The per-party clients, element `i` for party `i`.
    pub fn clients(&self) -> Vec<TestDealerClient> {
        (0..self.core.n_parties())
            .map(|party| TestDealerClient {
                party,
                seed: self.core.seeds[party].clone(),
                core: self.core.clone(),
                next: 0,
            })
            .collect()
    }
}

/// One party's handle on the [`InsecureTestDealer`].
pub struct TestDealerClient {
    party: usize,
    seed: Seed,
    /// Only party 0 receives corrections; the others derive everything from their seed but
    /// the public slots.
    core: Arc<DealerCore>,
    next: u64,
}

impl fmt::Debug for TestDealerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDealerClient")
            .field("party", &self.party)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl TripleSource for TestDealerClient {
    fn fetch(&mut self, req: &TupleRequest) -> Result<Vec<RingTensor>> {
        let q = self.next;
        self.next += 1;
        if self.party == 0 {
            // In-process shortcut: the dealer already expanded party 0's free slots.
            return self.core.party0_tuple(q, req);
        }
        let sent = self.core.sent(q, req, self.party)?;
        assemble_tuple(self.party, &self.seed, q, req, Some(sent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(shares: &[Vec<RingTensor>], slot: usize) -> RingTensor {
        let mut acc = shares[0][slot].clone();
        for s in &shares[1..] {
            acc.add_assign(&s[slot]).unwrap();
        }
        acc
    }

    #[test]
    fn tuples_are_correlated_for_any_party_count() {
        for n in [2, 3, 5] {
            let dealer = InsecureTestDealer::seeded(n, 1);
            let mut clients = dealer.clients();
            let reqs = [
                TupleRequest::Mul {
                    a: vec![3, 4],
                    b: vec![4],
                },
                TupleRequest::Matmul {
                    a: vec![3, 5],
                    b: vec![5, 2],
                },
                TupleRequest::Square { shape: vec![7] },
                TupleRequest::Trunc {
                    shape: vec![9],
                    divisor: 1 << 16,
                },
                TupleRequest::TruncSquare {
                    shape: vec![9],
                    divisor: 1 << 16,
                },
            ];
            for req in &reqs {
                let shares: Vec<_> = clients.iter_mut().map(|c| c.fetch(req).unwrap()).collect();
                let (a, b) = (sum(&shares, 0), sum(&shares, 1));
                match req {
                    TupleRequest::Mul { .. } => assert_eq!(sum(&shares, 2), a.mul_raw(&b).unwrap()),
                    TupleRequest::Matmul { .. } => {
                        assert_eq!(sum(&shares, 2), a.matmul_raw(&b).unwrap())
                    }
                    TupleRequest::Square { .. } => assert_eq!(b, a.mul_raw(&a).unwrap()),
                    TupleRequest::Trunc { .. } => {
                        assert_eq!(b, a.map(|r| r >> 16));
                        assert_eq!(sum(&shares, 2), a.map(|r| r >> 63));
                    }
                    TupleRequest::TruncSquare { .. } => {
                        let (q, m) = (a.map(|r| r >> 16), a.map(|r| r >> 63));
                        assert_eq!(b, q);
                        assert_eq!(sum(&shares, 2), m);
                        assert_eq!(sum(&shares, 3), q.mul_raw(&q).unwrap());
                        assert_eq!(sum(&shares, 4), q.mul_raw(&m).unwrap());
                    }
                    _ => unreachable!(),
                }
            }
        }
    }

    #[test]
    fn a_fixed_mask_keeps_b_and_freshens_a() {
        let fixed = |mask: u64, a: Vec<usize>, opened: bool| TupleRequest::FixedB {
            base: Box::new(TupleRequest::Matmul { a, b: vec![5, 2] }),
            mask,
            opened,
        };
        for n in [2, 3] {
            let dealer = InsecureTestDealer::seeded(n, 2);
            let mut clients = dealer.clients();
            let mut fetch = |req: &TupleRequest| -> Vec<_> {
                clients.iter_mut().map(|c| c.fetch(req).unwrap()).collect()
            };
            let first = fetch(&fixed(0, vec![3, 5], false));
            let again = fetch(&fixed(0, vec![4, 5], false));
            let other = fetch(&fixed(1, vec![3, 5], false));
            for shares in [&first, &again, &other] {
                let (a, b) = (sum(shares, 0), sum(shares, 1));
                assert_eq!(sum(shares, 2), a.matmul_raw(&b).unwrap());
            }
            // Every party's share of b is the same in each request naming mask 0, and only
            // there; a is fresh each time.
            for i in 0..n {
                assert_eq!(first[i][1], again[i][1]);
                assert_ne!(first[i][1], other[i][1]);
                assert_ne!(first[i][0], other[i][0]);
            }
            // Once opened, the tuple is [a, c] with c = a·b for the same b: from the cache
            // for mask 0, summed afresh for mask 2, whose first product this dealer never
            // served (as after a restart).
            let b0 = sum(&first, 1);
            let reused = fetch(&fixed(0, vec![4, 5], true));
            assert!(reused.iter().all(|t| t.len() == 2));
            assert_eq!(sum(&reused, 1), sum(&reused, 0).matmul_raw(&b0).unwrap());
            assert_ne!(sum(&reused, 0), sum(&again, 0));
            let unseen = fetch(&fixed(2, vec![3, 5], true));
            let b2: RingTensor = (0..n)
                .map(|i| derive_stream(&dealer.core.seeds[i], fixed_mask_stream(2), &[5, 2]))
                .reduce(|mut acc, t| {
                    acc.add_assign(&t).unwrap();
                    acc
                })
                .unwrap();
            assert_eq!(sum(&unseen, 1), sum(&unseen, 0).matmul_raw(&b2).unwrap());
            // A mask reused with another shape of b is refused, naming the mask.
            let wrong = TupleRequest::FixedB {
                base: Box::new(TupleRequest::Matmul {
                    a: vec![3, 5],
                    b: vec![5, 3],
                }),
                mask: 0,
                opened: true,
            };
            let err = dealer.clients()[0].fetch(&wrong).unwrap_err().to_string();
            assert!(err.contains("fixed mask 0 was first used"), "{err}");
        }
        let bad = TupleRequest::FixedB {
            base: Box::new(TupleRequest::Square { shape: vec![3] }),
            mask: 0,
            opened: false,
        };
        let err = bad.slots().unwrap_err().to_string();
        assert!(err.contains("fixed mask is for a product triple"), "{err}");
    }

    #[test]
    fn chunked_and_whole_tensor_dealers_agree() {
        // 20000 elements span several chunks and end in an odd tail.
        let core = DealerCore::new((0..3).map(Seed::insecure_from_u64).collect());
        for req in [
            TupleRequest::Mul {
                a: vec![20001],
                b: vec![20001],
            },
            TupleRequest::Square { shape: vec![20001] },
            TupleRequest::Trunc {
                shape: vec![20001],
                divisor: 1000,
            },
            TupleRequest::TruncSquare {
                shape: vec![20001],
                divisor: 1000,
            },
        ] {
            let chunked = core.party0_tuple(5, &req).unwrap();
            let corr = core.corrections(5, &req).unwrap();
            let assembled = assemble_tuple(0, &core.seeds[0], 5, &req, Some(corr)).unwrap();
            assert_eq!(chunked, assembled);
            // and the correlation holds with the other parties' seed-derived shares
            let others: Vec<_> = (1..3)
                .map(|i| assemble_tuple(i, &core.seeds[i], 5, &req, None).unwrap())
                .collect();
            let total = |slot: usize| {
                let mut t = chunked[slot].clone();
                for o in &others {
                    t.add_assign(&o[slot]).unwrap();
                }
                t
            };
            let r = total(0);
            match &req {
                TupleRequest::Mul { .. } => assert_eq!(total(2), r.mul_raw(&total(1)).unwrap()),
                TupleRequest::Square { .. } => assert_eq!(total(1), r.mul_raw(&r).unwrap()),
                TupleRequest::Trunc { .. } => {
                    assert_eq!(total(1), r.map(|v| v / 1000));
                    assert_eq!(total(2), r.map(|v| v >> 63));
                }
                TupleRequest::TruncSquare { .. } => {
                    let (q, m) = (r.map(|v| v / 1000), r.map(|v| v >> 63));
                    assert_eq!(total(1), q);
                    assert_eq!(total(2), m);
                    assert_eq!(total(3), q.mul_raw(&q).unwrap());
                    assert_eq!(total(4), q.mul_raw(&m).unwrap());
                }
                _ => unreachable!(),
            }
        }
    }

    #[test]
    fn binary_tuples_xor_to_their_correlation() {
        for n in [2, 3] {
            let mut clients = InsecureTestDealer::seeded(n, 4).clients();
            let all =
                |clients: &mut Vec<TestDealerClient>, req: &TupleRequest| -> Vec<Vec<RingTensor>> {
                    clients.iter_mut().map(|c| c.fetch(req).unwrap()).collect()
                };
            let xor = |t: &[Vec<RingTensor>], slot: usize| -> Vec<u64> {
                let mut acc = t[0][slot].as_slice().to_vec();
                for p in &t[1..] {
                    acc.iter_mut()
                        .zip(p[slot].as_slice())
                        .for_each(|(a, b)| *a ^= b);
                }
                acc
            };
            let t = all(&mut clients, &TupleRequest::And { words: 9 });
            let (a, b, c) = (xor(&t, 0), xor(&t, 1), xor(&t, 2));
            assert_eq!(c, a.iter().zip(&b).map(|(a, b)| a & b).collect::<Vec<_>>());
            let t = all(&mut clients, &TupleRequest::BitMul { bits: 70 });
            let r_bits = xor(&t, 0);
            let (a, r, ra) = (sum(&t, 1), sum(&t, 2), sum(&t, 3));
            for i in 0..70 {
                let bit = (r_bits[i / 64] >> (i % 64)) & 1;
                assert_eq!(r.as_slice()[i], bit);
                assert_eq!(ra.as_slice()[i], bit.wrapping_mul(a.as_slice()[i]));
            }
            let t = all(&mut clients, &TupleRequest::Bit { bits: 5 });
            let r_bits = xor(&t, 0);
            assert_eq!(
                sum(&t, 1).as_slice(),
                (0..5)
                    .map(|i| (r_bits[0] >> i) & 1)
                    .collect::<Vec<_>>()
                    .as_slice()
            );
        }
    }

    #[test]
    fn only_party_zero_receives_corrections() {
        let core = DealerCore::new((0..3).map(Seed::insecure_from_u64).collect());
        let req = TupleRequest::Mul {
            a: vec![4],
            b: vec![4],
        };
        assert_eq!(core.sent(0, &req, 0).unwrap().len(), 1);
        assert!(core.sent(0, &req, 1).unwrap().is_empty());
        assert!(core.sent(0, &req, 2).unwrap().is_empty());
        assert!(core.sent(0, &req, 3).is_err());
    }
}
