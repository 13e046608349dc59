//! Data ownership as users have it, and a loader that batches secret-shared data without
//! revealing the order.
//!
//! - A [`Block`] is a table (rows × columns) owned by one party. [`share_block`] shares it:
//!   only the owner supplies values, the others only the shape.
//! - **Vertical split** ([`vertical`]): the parties hold different columns of the same rows
//!   (a hospital the features, a lab the labels). The blocks are shared and put side by side.
//! - **Horizontal split** ([`horizontal`]): the parties hold different rows with the same
//!   columns (several hospitals, each with its own patients). The blocks are stacked.
//! - A model from yet another party is shared with `model.encrypt(&session, owner)`
//!   ([`crate::Encrypt`]).
//!
//! Row counts, column counts and which party owns which block are public; the values are not.
//!
//! [`Loader`] cuts a shared table into mini-batches. With [`Shuffle::Private`] every epoch
//! visits the rows in an order that **no coalition of fewer than all parties knows**: each
//! party draws a random permutation of its own and shares it as a 0/1 permutation matrix, and
//! the table is multiplied by every party's matrix in turn (Beaver matrix products, which
//! reveal nothing). The composition of the parties' permutations is uniformly random as long
//! as one party drew its own honestly, and unknown to anyone who lacks one of them. Each
//! batch is then a contiguous slice of the shuffled table, so every row is used exactly once
//! per epoch.
//!
//! ```
//! use umbra::loader::{Block, Loader, Shuffle, share_block};
//! use umbra::{SessionConfig, run_local};
//! let out = run_local(2, SessionConfig::default(), |s| {
//!     // party 0 owns the features, party 1 the labels (a vertical split)
//!     let x = share_block(&s, &Block::new(0, 4, 2, Some(&[1., 2., 3., 4., 5., 6., 7., 8.])))?;
//!     let y = share_block(&s, &Block::new(1, 4, 1, Some(&[0., 1., 1., 0.])))?;
//!     let mut loader = Loader::new(&s, &[&x, &y], 3, Shuffle::Private)?;
//!     let batches = loader.epoch()?;
//!     assert_eq!(batches.len(), 2);           // 3 rows, then 1
//!     batches[1][0].reveal_f64()              // one row of features, in a secret order
//! })?;
//! assert_eq!(out[0].len(), 2);
//! # Ok::<(), umbra::mpc::Error>(())
//! ```

use mpc::{CrypTensor, Error, Result, Session};
use nn::init::Rng;
use tensor::RingTensor;

/// A `rows × cols` table owned by party `owner`. `values` (row-major) are read only at the
/// owner; the other parties may pass `None`, or anything of the right length (in the demos
/// every process reads the same file, but only the owner's copy is ever used).
#[derive(Debug, Clone, Copy)]
pub struct Block<'a> {
    /// The party that owns the values.
    pub owner: usize,
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// The values at the owner.
    pub values: Option<&'a [f64]>,
}

impl<'a> Block<'a> {
    /// A block of `rows × cols` owned by `owner`.
    pub fn new(owner: usize, rows: usize, cols: usize, values: Option<&'a [f64]>) -> Self {
        Self {
            owner,
            rows,
            cols,
            values,
        }
    }
}

/// Shares a block from its owner, at the session's fixed-point scale.
///
/// # Errors
/// The owner is not a party, or passed no values or the wrong number of them.
///
/// # Security
/// No communication; only the owner's values enter the shares.
pub fn share_block(s: &Session, b: &Block<'_>) -> Result<CrypTensor> {
    let shape = [b.rows, b.cols];
    if s.party() != b.owner {
        // refuses an owner that is not a party
        return s.share_from(&shape, s.config().frac_bits, b.owner);
    }
    let values = b.values.ok_or_else(|| Error::InvalidArgument {
        op: "share_block",
        reason: format!("party {} owns a block but gave no values", b.owner),
    })?;
    if values.len() != b.rows * b.cols {
        return Err(Error::InvalidArgument {
            op: "share_block",
            reason: format!(
                "a {}x{} block needs {} values, got {}",
                b.rows,
                b.cols,
                b.rows * b.cols,
                values.len()
            ),
        });
    }
    s.share_f64(&shape, values, b.owner)
}

/// A vertical split: blocks with the same rows, held by different parties, side by side
/// (`[rows, Σ cols]`, in the order given).
///
/// # Errors
/// No blocks, blocks with different row counts, or as [`share_block`].
///
/// # Security
/// No communication. Every party learns the shapes and owners, nothing else.
pub fn vertical(s: &Session, blocks: &[Block<'_>]) -> Result<CrypTensor> {
    join(s, blocks, 1)
}

/// A horizontal split: blocks with the same columns, held by different parties, stacked
/// (`[Σ rows, cols]`, in the order given).
///
/// # Errors
/// No blocks, blocks with different column counts, or as [`share_block`].
///
/// # Security
/// No communication. Every party learns how many rows each owner contributed.
pub fn horizontal(s: &Session, blocks: &[Block<'_>]) -> Result<CrypTensor> {
    join(s, blocks, 0)
}

fn join(s: &Session, blocks: &[Block<'_>], dim: usize) -> Result<CrypTensor> {
    let Some(first) = blocks.first() else {
        return Err(Error::InvalidArgument {
            op: "split",
            reason: "no blocks".into(),
        });
    };
    for b in blocks {
        let same = if dim == 1 {
            b.rows == first.rows
        } else {
            b.cols == first.cols
        };
        if !same {
            return Err(Error::InvalidArgument {
                op: if dim == 1 { "vertical" } else { "horizontal" },
                reason: format!(
                    "blocks of {}x{} and {}x{} do not line up",
                    first.rows, first.cols, b.rows, b.cols
                ),
            });
        }
    }
    let shared = blocks
        .iter()
        .map(|b| share_block(s, b))
        .collect::<Result<Vec<_>>>()?;
    CrypTensor::concat(&shared.iter().collect::<Vec<_>>(), dim)
}

/// How a [`Loader`] orders the rows of each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shuffle {
    /// The stored order, every epoch (public, free).
    InOrder,
    /// A fresh secret order every epoch, known to no coalition of fewer than all parties (see
    /// the module docs).
    Private,
}

/// Batches of a secret-shared table, in a secret order (see the module docs).
pub struct Loader {
    session: Session,
    /// The tensors side by side, `[rows, Σ widths]`.
    table: CrypTensor,
    /// Column count of each tensor given to [`Loader::new`].
    widths: Vec<usize>,
    batch_size: usize,
    shuffle: Shuffle,
    /// This party's own randomness for its permutations (never shared with anyone).
    rng: Rng,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("rows", &self.rows())
            .field("widths", &self.widths)
            .field("batch_size", &self.batch_size)
            .field("shuffle", &self.shuffle)
            .finish_non_exhaustive()
    }
}

impl Loader {
    /// A loader over `tensors`: 2-D, the same number of rows and the same fixed-point scale
    /// (e.g. features `[N, d]` and one-hot labels `[N, k]`, from different owners). Each
    /// batch holds the same rows of every tensor. The permutations are drawn from this
    /// party's operating-system randomness.
    ///
    /// # Errors
    /// No tensors, tensors that are not 2-D or do not line up, a zero batch size, or failing
    /// OS randomness.
    pub fn new(
        session: &Session,
        tensors: &[&CrypTensor],
        batch_size: usize,
        shuffle: Shuffle,
    ) -> Result<Self> {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|e| Error::Randomness(e.to_string()))?;
        Self::with_seed(
            session,
            tensors,
            batch_size,
            shuffle,
            u64::from_le_bytes(seed),
        )
    }

    /// [`Loader::new`] with this party's permutations drawn from `seed` (reproducible runs;
    /// the order stays secret only while every party keeps its own seed to itself).
    ///
    /// # Errors
    /// As [`Loader::new`], except randomness.
    pub fn with_seed(
        session: &Session,
        tensors: &[&CrypTensor],
        batch_size: usize,
        shuffle: Shuffle,
        seed: u64,
    ) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidArgument {
            op: "loader",
            reason,
        };
        let Some(first) = tensors.first() else {
            return Err(invalid("no tensors".into()));
        };
        if batch_size == 0 {
            return Err(invalid("batch size 0".into()));
        }
        let rows = first.shape().first().copied().unwrap_or(0);
        for t in tensors {
            if t.shape().len() != 2 || t.shape()[0] != rows || t.frac_bits() != first.frac_bits() {
                return Err(invalid(format!(
                    "tensors must be 2-D with the same rows and scale, got {:?} ({} bits) and \
                     {:?} ({} bits)",
                    first.shape(),
                    first.frac_bits(),
                    t.shape(),
                    t.frac_bits()
                )));
            }
        }
        let widths = tensors.iter().map(|t| t.shape()[1]).collect();
        let table = CrypTensor::concat(tensors, 1)?;
        Ok(Self {
            session: session.clone(),
            table,
            widths,
            batch_size,
            shuffle,
            rng: Rng::new(seed),
        })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.table.shape()[0]
    }

    /// Batches per epoch (the last one may be smaller).
    pub fn batches_per_epoch(&self) -> usize {
        self.rows().div_ceil(self.batch_size)
    }

    /// The next epoch: `ceil(rows / batch_size)` batches, each with one tensor per tensor
    /// given to [`Loader::new`], covering every row exactly once. Collective: every party
    /// calls it.
    ///
    /// # Errors
    /// Link failures.
    ///
    /// # Security
    /// [`Shuffle::Private`]: one Beaver matrix product per party, `[rows, rows]` by
    /// `[rows, Σ widths]` (one round and `8·(rows² + rows·Σ widths)` bytes per peer each);
    /// nothing is revealed. [`Shuffle::InOrder`]: local.
    pub fn epoch(&mut self) -> Result<Vec<Vec<CrypTensor>>> {
        let table = match self.shuffle {
            Shuffle::InOrder => self.table.clone(),
            Shuffle::Private => self.shuffled()?,
        };
        let n = self.rows();
        let mut batches = Vec::with_capacity(self.batches_per_epoch());
        for start in (0..n).step_by(self.batch_size) {
            let len = self.batch_size.min(n - start);
            let rows = table.narrow(0, start, len)?;
            let mut col = 0;
            let mut parts = Vec::with_capacity(self.widths.len());
            for &w in &self.widths {
                parts.push(rows.narrow(1, col, w)?);
                col += w;
            }
            batches.push(parts);
        }
        Ok(batches)
    }

    /// The table times every party's secret permutation matrix, in party order.
    fn shuffled(&mut self) -> Result<CrypTensor> {
        let s = &self.session;
        let n = self.rows();
        let mut t = self.table.clone();
        for p in 0..s.n_parties() {
            let perm = if p == s.party() {
                let order = permutation(n, &mut self.rng);
                let mut m = vec![0i64; n * n];
                // output row i is input row order[i]
                for (i, &j) in order.iter().enumerate() {
                    m[i * n + j] = 1;
                }
                s.share(&RingTensor::from_i64(&[n, n], &m)?, p)?
            } else {
                s.share_from(&[n, n], 0, p)?
            };
            // an integer (scale 0) left operand: the product needs no truncation, so every
            // row arrives exactly
            t = perm.matmul(&t)?;
        }
        Ok(t)
    }
}

/// A uniformly random permutation of `0..n` from `rng` (Fisher-Yates).
pub fn permutation(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}
