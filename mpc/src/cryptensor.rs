//! [`CrypTensor`]: a tensor that is either public or secret-shared, with one exhaustive match
//! per operation.
//!
//! Public operands are known to every party (constants, revealed values); private operands
//! are additive shares. Mixed operations need no communication when they are linear (party 0
//! alone adds a public term) and one truncation when they are products.

use std::borrow::Cow;
use std::fmt;
use std::rc::Rc;

use tensor::{Conv2dParams, Dim, Dims, FloatTensor, Pool2dParams, RingTensor};

use crate::error::{Error, Result};
use crate::protocols::{beaver, reveal, truncate};
use crate::session::Session;
use crate::share::Share;

/// This party's share of a secret tensor, with the session it belongs to. `Debug` prints the
/// party, shape and scale only, never share values.
#[derive(Clone)]
pub struct Shared {
    pub(crate) share: Share,
    pub(crate) session: Session,
    /// Set by [`CrypTensor::fix_mask`]: the Beaver mask this tensor uses as the right operand
    /// of a product. Operations make new tensors without one.
    pub(crate) fixed: Option<Rc<beaver::FixedMask>>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("party", &self.session.party())
            .field("shape", &self.share.shape())
            .field("frac_bits", &self.share.frac_bits())
            .field("fixed_mask", &self.fixed.is_some())
            .field("share", &"..")
            .finish()
    }
}

impl Shared {
    /// Wraps this party's share.
    pub fn new(share: Share, session: Session) -> Self {
        Self {
            share,
            session,
            fixed: None,
        }
    }

    /// The session the share belongs to.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Shape of the secret.
    pub fn shape(&self) -> &[usize] {
        self.share.shape()
    }

    /// Fixed-point scale of the secret.
    pub fn frac_bits(&self) -> u32 {
        self.share.frac_bits()
    }

    /// A private tensor of this session holding `share`.
    pub(crate) fn with(&self, share: Share) -> CrypTensor {
        CrypTensor::Private(Shared::new(share, self.session.clone()))
    }

    /// This party's share.
    pub fn share(&self) -> &Share {
        &self.share
    }

    /// This party's raw share words. A single share is uniformly random and reveals nothing
    /// on its own; it is exposed for transports, tests and custom protocols.
    pub fn local_share(&self) -> &RingTensor {
        self.share.ring()
    }
}

/// The right-hand side of an elementwise op or comparison: another tensor or a plain number,
/// as PyTorch takes either (`x.add(&y)`, `x.gt(0.0)`, `x.mul(2)`). A number is public: it is
/// encoded at the tensor's scale and costs no more than a public tensor would.
#[derive(Debug, Clone, Copy)]
pub enum Operand<'a> {
    /// A tensor, broadcast against the left-hand side.
    Tensor(&'a CrypTensor),
    /// A public number.
    Scalar(f64),
}

impl<'a> From<&'a CrypTensor> for Operand<'a> {
    fn from(t: &'a CrypTensor) -> Self {
        Operand::Tensor(t)
    }
}

impl From<f64> for Operand<'_> {
    fn from(v: f64) -> Self {
        Operand::Scalar(v)
    }
}

impl From<i32> for Operand<'_> {
    fn from(v: i32) -> Self {
        Operand::Scalar(f64::from(v))
    }
}

/// A public or secret-shared tensor.
///
/// # Examples
/// ```
/// use mpc::{run_local, SessionConfig};
/// let out = run_local(3, SessionConfig::default(), |s| {
///     let x = s.share_f64(&[2], &[1.5, -2.0], 0)?;
///     let y = s.share_f64(&[2], &[4.0, 0.25], 1)?;
///     x.mul(&y)?.reveal_f64()
/// })?;
/// assert_eq!(out[2], vec![6.0, -0.5]);
/// # Ok::<(), mpc::Error>(())
/// ```
#[derive(Debug, Clone)]
pub enum CrypTensor {
    /// Known to every party.
    Public(RingTensor),
    /// Additively shared among the parties.
    Private(Shared),
}

impl From<Shared> for CrypTensor {
    fn from(s: Shared) -> Self {
        CrypTensor::Private(s)
    }
}

/// A product's untruncated scale is the sum of the operands' scales; it must leave integer
/// headroom in the 63 signed bits of the ring.
fn check_product_scale(op: &'static str, fa: u32, fb: u32) -> Result<()> {
    if fa + fb > 62 {
        return Err(Error::InvalidArgument {
            op,
            reason: format!(
                "operands with {fa} and {fb} fractional bits overflow the ring (at most 62 together)"
            ),
        });
    }
    Ok(())
}

fn pair_session<'a>(a: &'a Shared, b: &Shared, op: &'static str) -> Result<&'a Session> {
    if !a.session.same_as(&b.session) {
        return Err(Error::SessionMismatch { op });
    }
    Ok(&a.session)
}

impl CrypTensor {
    /// Shape of the (secret) value.
    pub fn shape(&self) -> &[usize] {
        match self {
            CrypTensor::Public(t) => t.shape(),
            CrypTensor::Private(s) => s.shape(),
        }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        tensor::shape::numel(self.shape())
    }

    /// Fixed-point scale.
    pub fn frac_bits(&self) -> u32 {
        match self {
            CrypTensor::Public(t) => t.frac_bits(),
            CrypTensor::Private(s) => s.frac_bits(),
        }
    }

    /// Whether the value is secret-shared.
    pub fn is_private(&self) -> bool {
        matches!(self, CrypTensor::Private(_))
    }

    /// The session of a private tensor (`None` for a public one).
    pub fn session(&self) -> Option<&Session> {
        match self {
            CrypTensor::Public(_) => None,
            CrypTensor::Private(s) => Some(&s.session),
        }
    }

    /// This party's additive share of the value in `session`: its own share when private; for a
    /// public value, the value itself at party 0 and zeros elsewhere (a sharing nobody needs to
    /// send).
    pub(crate) fn share_for(&self, session: &Session) -> Share {
        match self {
            CrypTensor::Private(s) => s.share.clone(),
            CrypTensor::Public(p) if session.party() == 0 => Share::new(p.clone()),
            CrypTensor::Public(p) => Share::new(RingTensor::zeros(p.shape(), p.frac_bits())),
        }
    }

    /// Applies a local (communication-free) map to the plaintext or to each share. Only valid
    /// for maps that are linear over Z_2^64 and do not mix in constants (shape ops, negation,
    /// sums, products by public integers).
    pub(crate) fn map_linear(
        &self,
        f: impl Fn(&RingTensor) -> tensor::Result<RingTensor>,
    ) -> Result<CrypTensor> {
        Ok(match self {
            CrypTensor::Public(t) => CrypTensor::Public(f(t)?),
            CrypTensor::Private(s) => s.with(s.share.map(f)?),
        })
    }

    /// Reveals the value to every party.
    ///
    /// # Errors
    /// Link failures or malformed frames.
    ///
    /// # Security
    /// This is the door out: every party learns the value. One round; each party sends
    /// `8·numel` bytes to each peer. A public tensor is returned as is.
    pub fn reveal(&self) -> Result<RingTensor> {
        match self {
            CrypTensor::Public(t) => Ok(t.clone()),
            CrypTensor::Private(s) => reveal::open(&s.session, &s.share),
        }
    }

    /// Reveals and decodes to `f64`, keeping the shape (`x.get_plain_text()` in CrypTen).
    /// The result reads as its row-major values (`v[0]`, `v.iter()`) and converts to
    /// `ndarray` ([`FloatTensor::to_ndarray`]).
    ///
    /// # Errors
    /// As [`CrypTensor::reveal`].
    ///
    /// # Security
    /// As [`CrypTensor::reveal`].
    pub fn reveal_f64(&self) -> Result<FloatTensor> {
        Ok(FloatTensor::from_ring(&self.reveal()?))
    }

    /// Reveals the value to party `to` only: `Some(value)` there, `None` at the others.
    ///
    /// A public tensor is already known to every party, so it returns `Some` everywhere and
    /// cannot check `to` (it carries no session).
    ///
    /// # Errors
    /// `to` is not a party of the session; link failures.
    ///
    /// # Security
    /// Only `to` learns the value. Each other party sends `8·numel` bytes to `to`, in one round.
    pub fn reveal_to(&self, to: usize) -> Result<Option<RingTensor>> {
        match self {
            CrypTensor::Public(t) => Ok(Some(t.clone())),
            CrypTensor::Private(s) => reveal::open_to(&s.session, &s.share, to),
        }
    }

    /// `self` and `rhs` ready for a binary op: a number becomes a public tensor at this
    /// tensor's scale. An integer tensor (scale 0) meeting a fraction is first promoted,
    /// exactly and locally, to the session's scale, so that `mask.gt(0.5)` compares with 0.5
    /// and not with its rounding to an integer.
    pub(crate) fn operands<'s, 'a>(
        &'s self,
        rhs: Operand<'a>,
    ) -> Result<(Cow<'s, CrypTensor>, Cow<'a, CrypTensor>)> {
        match rhs {
            Operand::Tensor(t) => Ok((Cow::Borrowed(self), Cow::Borrowed(t))),
            Operand::Scalar(v) => {
                let lhs = if self.frac_bits() == 0 && v.fract() != 0.0 {
                    Cow::Owned(self.mul_f64(1.0)?)
                } else {
                    Cow::Borrowed(self)
                };
                let f = lhs.frac_bits();
                let c = RingTensor::scalar_raw(tensor::fixed::encode(v, f)?, f);
                Ok((lhs, Cow::Owned(CrypTensor::Public(c))))
            }
        }
    }

    /// Elementwise sum (broadcasting).
    ///
    /// # Errors
    /// Shapes that do not broadcast, different scales, or operands of different sessions.
    pub fn add<'a>(&self, rhs: impl Into<Operand<'a>>) -> Result<CrypTensor> {
        let (a, b) = self.operands(rhs.into())?;
        a.add_sub(&b, false)
    }

    /// Elementwise difference (broadcasting).
    ///
    /// # Errors
    /// As [`CrypTensor::add`].
    pub fn sub<'a>(&self, rhs: impl Into<Operand<'a>>) -> Result<CrypTensor> {
        let (a, b) = self.operands(rhs.into())?;
        a.add_sub(&b, true)
    }

    fn add_sub(&self, rhs: &CrypTensor, minus: bool) -> Result<CrypTensor> {
        let op = |a: &RingTensor, b: &RingTensor| if minus { a.sub(b) } else { a.add(b) };
        Ok(match (self, rhs) {
            (CrypTensor::Public(a), CrypTensor::Public(b)) => CrypTensor::Public(op(a, b)?),
            (CrypTensor::Private(a), CrypTensor::Private(b)) => {
                let session = pair_session(a, b, if minus { "sub" } else { "add" })?;
                let share = Share::new(op(a.share.ring(), b.share.ring())?);
                CrypTensor::Private(Shared::new(share, session.clone()))
            }
            (CrypTensor::Private(a), CrypTensor::Public(p)) => {
                a.with(Self::add_public(a, p, minus, false)?)
            }
            (CrypTensor::Public(p), CrypTensor::Private(a)) => {
                a.with(Self::add_public(a, p, minus, true)?)
            }
        })
    }

    /// This party's share of `a ± p` (or `p ± a` if `public_first`): party 0 folds the public
    /// term into its share; the others only broadcast their share to the result shape.
    fn add_public(a: &Shared, p: &RingTensor, minus: bool, public_first: bool) -> Result<Share> {
        let mine = a.share.ring();
        if a.session.party() == 0 {
            let (l, r) = if public_first { (p, mine) } else { (mine, p) };
            return Ok(Share::new(if minus { l.sub(r)? } else { l.add(r)? }));
        }
        if mine.frac_bits() != p.frac_bits() {
            let op = if minus { "sub" } else { "add" };
            return Err(tensor::Error::EncodingMismatch {
                op,
                lhs: mine.frac_bits(),
                rhs: p.frac_bits(),
            }
            .into());
        }
        let shape = tensor::shape::broadcast_shapes("add", mine.shape(), p.shape())?;
        let mine = if shape == mine.shape() {
            mine.clone()
        } else {
            mine.broadcast_to(&shape)?
        };
        Ok(Share::new(if minus && public_first {
            mine.neg()
        } else {
            mine
        }))
    }

    /// Negation.
    ///
    /// # Errors
    /// Never fails; fallible for uniformity with the other ops.
    pub fn neg(&self) -> Result<CrypTensor> {
        self.map_linear(|t| Ok(t.neg()))
    }

    /// Rescales a product share (or plaintext) of scale `fa + fb` down by `min(fa, fb)`.
    fn rescale(product: CrypTensor, shift: u32) -> Result<CrypTensor> {
        Ok(match product {
            CrypTensor::Public(t) => CrypTensor::Public(t.shr_round(shift)),
            CrypTensor::Private(s) => {
                let share = truncate::truncate(&s.session, s.share, shift)?;
                CrypTensor::Private(Shared::new(share, s.session))
            }
        })
    }

    /// A product of two operands through `local` (when at most one is private, so each share
    /// is multiplied by a public value) or `private` (Beaver), then rescaled.
    fn product(
        &self,
        rhs: &CrypTensor,
        name: &'static str,
        local: impl Fn(&RingTensor, &RingTensor) -> tensor::Result<RingTensor>,
        private: impl Fn(&Session, &Share, &Share) -> Result<Share>,
    ) -> Result<CrypTensor> {
        let shift = self.frac_bits().min(rhs.frac_bits());
        check_product_scale(name, self.frac_bits(), rhs.frac_bits())?;
        let raw = match (self, rhs) {
            (CrypTensor::Public(a), CrypTensor::Public(b)) => CrypTensor::Public(local(a, b)?),
            (CrypTensor::Private(a), CrypTensor::Public(b)) => {
                a.with(a.share.map(|s| local(s, b))?)
            }
            (CrypTensor::Public(a), CrypTensor::Private(b)) => {
                b.with(b.share.map(|s| local(a, s))?)
            }
            (CrypTensor::Private(a), CrypTensor::Private(b)) => {
                let session = pair_session(a, b, name)?;
                CrypTensor::Private(Shared::new(
                    private(session, &a.share, &b.share)?,
                    session.clone(),
                ))
            }
        };
        Self::rescale(raw, shift)
    }

    /// Fixed-point elementwise product (broadcasting). Private × private uses a Beaver triple
    /// (one round); the result is truncated by the smaller operand scale (no truncation when
    /// one operand is an integer tensor, e.g. a comparison result).
    ///
    /// # Errors
    /// Shapes that do not broadcast, link failures, a failing triple source.
    ///
    /// # Security
    /// Reveals nothing. One Beaver round of `8(|x|+|y|)` bytes per peer, then the exact
    /// dealer truncation: one more round of `8|z|` bytes per peer (none with the opt-in
    /// `TruncMode::LocalProbabilistic` at 2 parties).
    pub fn mul<'a>(&self, rhs: impl Into<Operand<'a>>) -> Result<CrypTensor> {
        match rhs.into() {
            Operand::Scalar(v) => self.mul_f64(v),
            Operand::Tensor(t) => self.product(t, "mul", |a, b| a.mul_raw(b), beaver::mul),
        }
    }

    /// Fixed-point matrix product with PyTorch `matmul` shape rules.
    ///
    /// # Errors
    /// Shapes that do not fit, link failures, a failing triple source.
    ///
    /// # Security
    /// Reveals nothing. One round of `8(|x|+|y|)` bytes per peer, plus truncation.
    pub fn matmul(&self, rhs: &CrypTensor) -> Result<CrypTensor> {
        let fixed = rhs.fixed_mask();
        self.product(
            rhs,
            "matmul",
            |a, b| a.matmul_raw(b),
            |s, x, y| match fixed {
                Some(m) => beaver::matmul_fixed(s, x, y, m),
                None => beaver::matmul(s, x, y),
            },
        )
    }

    /// Fixed-point 2-D convolution of `[N, C, H, W]` by weight `[O, C/groups, kh, kw]`.
    ///
    /// # Errors
    /// Shapes that do not fit, link failures, a failing triple source.
    ///
    /// # Security
    /// Reveals nothing. One round of `8(|x|+|w|)` bytes per peer, plus truncation.
    pub fn conv2d(&self, weight: &CrypTensor, params: &Conv2dParams) -> Result<CrypTensor> {
        let fixed = weight.fixed_mask();
        self.product(
            weight,
            "conv2d",
            |a, b| a.conv2d_raw(b, params),
            |s, a, b| match fixed {
                Some(m) => beaver::conv2d_fixed(s, a, b, params, m),
                None => beaver::conv2d(s, a, b, params),
            },
        )
    }

    /// Fixes the Beaver mask of this private tensor for the rest of the session. For a
    /// parameter that is the right operand of many products (the weights of an inference
    /// server, an embedding table): [`CrypTensor::matmul`] and [`CrypTensor::conv2d`] by it
    /// open `w - b` at its first product only, and after that just `x - a`, so a query costs
    /// the left operands' bytes alone. A public tensor is returned as it is.
    ///
    /// # Security
    /// Every product by this tensor uses the same `b`, and so opens the same `w - b`: nothing
    /// beyond the first opening. The mask belongs to this value: operations on it make new
    /// tensors, which do not inherit it (a clone does, and holds the same value). Every party
    /// must fix the same tensors in the same order.
    pub fn fix_mask(self) -> CrypTensor {
        match self {
            CrypTensor::Private(mut s) if s.fixed.is_none() => {
                s.fixed = Some(Rc::new(beaver::FixedMask::new(&s.session)));
                CrypTensor::Private(s)
            }
            other => other,
        }
    }

    /// The fixed Beaver mask of a private tensor ([`CrypTensor::fix_mask`]).
    fn fixed_mask(&self) -> Option<&beaver::FixedMask> {
        match self {
            CrypTensor::Private(s) => s.fixed.as_deref(),
            CrypTensor::Public(_) => None,
        }
    }

    /// Whether this is a private tensor with a fixed Beaver mask ([`CrypTensor::fix_mask`]).
    pub fn has_fixed_mask(&self) -> bool {
        self.fixed_mask().is_some()
    }

    /// Elementwise square (a square pair: half the traffic of a general product).
    ///
    /// # Errors
    /// Link failures, a failing triple source.
    ///
    /// # Security
    /// Reveals nothing. One round of `8|x|` bytes per peer, plus truncation.
    pub fn square(&self) -> Result<CrypTensor> {
        let shift = self.frac_bits();
        check_product_scale("square", shift, shift)?;
        let raw = match self {
            CrypTensor::Public(t) => CrypTensor::Public(t.mul_raw(t)?),
            CrypTensor::Private(s) => CrypTensor::Private(Shared::new(
                beaver::square(&s.session, &s.share)?,
                s.session.clone(),
            )),
        };
        Self::rescale(raw, shift)
    }

    /// Multiplies by the public real `v` (encoded at this tensor's scale, then truncated).
    ///
    /// # Errors
    /// `v` not representable; link failures.
    ///
    /// # Security
    /// Reveals nothing; costs one truncation (free for 2 parties).
    pub fn mul_f64(&self, v: f64) -> Result<CrypTensor> {
        // Encode the constant at this tensor's scale, or at the session's (default) scale for
        // an integer tensor, so that 10 * 0.3 is 3.0 and not 10 * round(0.3).
        let f = match (self.frac_bits(), self.session()) {
            (0, Some(s)) => s.config().frac_bits,
            (0, None) => tensor::DEFAULT_FRAC_BITS,
            (f, _) => f,
        };
        let c = RingTensor::scalar_raw(tensor::fixed::encode(v, f)?, f);
        self.mul(&CrypTensor::Public(c))
    }

    /// Divides by the public real `v` (multiplication by `1/v`).
    ///
    /// # Errors
    /// `v` is zero or `1/v` not representable; link failures.
    pub fn div_f64(&self, v: f64) -> Result<CrypTensor> {
        if v == 0.0 {
            return Err(Error::InvalidArgument {
                op: "div_f64",
                reason: "division by zero".into(),
            });
        }
        self.mul_f64(1.0 / v)
    }

    /// Multiplies by a public integer (no truncation needed).
    ///
    /// # Errors
    /// Never fails; fallible for uniformity with the other ops.
    ///
    /// # Security
    /// Local: no communication.
    pub fn mul_int(&self, v: i64) -> Result<CrypTensor> {
        self.map_linear(|t| Ok(t.mul_scalar_raw(v as u64)))
    }

    /// Signed floor division by the positive public integer `d` (within one ULP for private
    /// values; see [`truncate`] for the error model).
    ///
    /// # Errors
    /// `d` is zero or at least 2^63; link failures.
    ///
    /// # Security
    /// Reveals nothing. Local for 2 parties; otherwise one round of `8|x|` bytes per peer.
    pub fn div_int(&self, d: u64) -> Result<CrypTensor> {
        Ok(match self {
            CrypTensor::Public(t) => CrypTensor::Public(t.div_floor(d)?),
            CrypTensor::Private(s) => CrypTensor::Private(Shared::new(
                truncate::div_public(&s.session, s.share.clone(), d)?,
                s.session.clone(),
            )),
        })
    }

    /// Sum over `dims` (negative dims count from the back; all if empty). Local.
    ///
    /// # Errors
    /// Invalid dimensions.
    pub fn sum(&self, dims: &(impl Dims + ?Sized), keepdim: bool) -> Result<CrypTensor> {
        let dims = &dims.resolve_all(self.shape().len(), "sum")?;
        self.map_linear(|t| t.sum(dims, keepdim))
    }

    /// The sum of every element (PyTorch's `x.sum()`; Rust has no overloading by argument
    /// count), shape `[]`. Local.
    ///
    /// # Errors
    /// Never in practice; fallible as [`CrypTensor::sum`].
    pub fn sum_all(&self) -> Result<CrypTensor> {
        self.sum(&[], false)
    }

    /// The mean of every element (PyTorch's `x.mean()`), shape `[]`.
    ///
    /// # Errors
    /// As [`CrypTensor::mean`].
    ///
    /// # Security
    /// As [`CrypTensor::mean`].
    pub fn mean_all(&self) -> Result<CrypTensor> {
        self.mean(&[], false)
    }

    /// Mean over `dims` (all if empty): a local sum, then a private division by the count.
    ///
    /// # Errors
    /// Invalid dimensions; link failures.
    ///
    /// # Security
    /// Reveals nothing; costs one [`CrypTensor::div_int`].
    pub fn mean(&self, dims: &(impl Dims + ?Sized), keepdim: bool) -> Result<CrypTensor> {
        let dims = &dims.resolve_all(self.shape().len(), "mean")?;
        let count = match self {
            CrypTensor::Public(t) => t.reduced_count(dims)?,
            CrypTensor::Private(s) => s.share.ring().reduced_count(dims)?,
        };
        self.sum(dims, keepdim)?.div_int(count as u64)
    }

    /// Window sums over `[N, C, H, W]`. Local.
    ///
    /// # Errors
    /// Wrong rank or a window that does not fit.
    pub fn sum_pool2d(&self, p: &Pool2dParams) -> Result<CrypTensor> {
        self.map_linear(|t| t.sum_pool2d(p))
    }

    /// Window averages (padding counted as zeros): local sums, then one private division.
    ///
    /// # Errors
    /// As [`CrypTensor::sum_pool2d`]; link failures.
    pub fn avg_pool2d(&self, p: &Pool2dParams) -> Result<CrypTensor> {
        self.sum_pool2d(p)?
            .div_int((p.kernel.0 * p.kernel.1) as u64)
    }

    /// Same elements, new shape.
    ///
    /// # Errors
    /// Element counts differ.
    pub fn reshape(&self, shape: &[usize]) -> Result<CrypTensor> {
        self.map_linear(|t| t.reshape(shape))
    }

    /// Swaps two dimensions.
    ///
    /// # Errors
    /// Dimensions out of range.
    pub fn transpose(&self, d0: impl Dim, d1: impl Dim) -> Result<CrypTensor> {
        let d0 = d0.resolve(self.shape().len(), "transpose")?;
        let d1 = d1.resolve(self.shape().len(), "transpose")?;
        self.map_linear(|t| t.transpose(d0, d1))
    }

    /// Matrix transpose (last two dimensions).
    ///
    /// # Errors
    /// Rank below 2.
    pub fn t(&self) -> Result<CrypTensor> {
        self.map_linear(|t| t.t())
    }

    /// Reorders dimensions.
    ///
    /// # Errors
    /// Not a permutation.
    pub fn permute(&self, perm: &[usize]) -> Result<CrypTensor> {
        self.map_linear(|t| t.permute(perm))
    }

    /// Removes a size-1 dimension.
    ///
    /// # Errors
    /// Out of range or not of size 1.
    pub fn squeeze(&self, dim: impl Dim) -> Result<CrypTensor> {
        let dim = dim.resolve(self.shape().len(), "squeeze")?;
        self.map_linear(|t| t.squeeze(dim))
    }

    /// Inserts a size-1 dimension.
    ///
    /// # Errors
    /// `dim > rank`.
    pub fn unsqueeze(&self, dim: impl Dim) -> Result<CrypTensor> {
        let dim = dim.resolve(self.shape().len() + 1, "unsqueeze")?;
        self.map_linear(|t| t.unsqueeze(dim))
    }

    /// Flattens to one dimension.
    ///
    /// # Errors
    /// Never fails.
    pub fn flatten(&self) -> Result<CrypTensor> {
        self.map_linear(|t| Ok(t.flatten()))
    }

    /// `len` elements from `start` along `dim`.
    ///
    /// # Errors
    /// Out of range.
    pub fn narrow(&self, dim: impl Dim, start: usize, len: usize) -> Result<CrypTensor> {
        let dim = dim.resolve(self.shape().len(), "narrow")?;
        self.map_linear(|t| t.narrow(dim, start, len))
    }

    /// Elements `start..end` with `step` along `dim`.
    ///
    /// # Errors
    /// Out of range or zero step.
    pub fn slice(&self, dim: usize, start: usize, end: usize, step: usize) -> Result<CrypTensor> {
        self.map_linear(|t| t.slice(dim, start, end, step))
    }

    /// Picks indices along `dim`.
    ///
    /// # Errors
    /// Out of range.
    pub fn index_select(&self, dim: impl Dim, indices: &[usize]) -> Result<CrypTensor> {
        let dim = dim.resolve(self.shape().len(), "index_select")?;
        self.map_linear(|t| t.index_select(dim, indices))
    }

    /// Reverses the listed dimensions.
    ///
    /// # Errors
    /// Out of range.
    pub fn flip(&self, dims: &(impl Dims + ?Sized)) -> Result<CrypTensor> {
        let dims = &dims.resolve_all(self.shape().len(), "flip")?;
        self.map_linear(|t| t.flip(dims))
    }

    /// Zero-pads (`pads[i] = (before, after)` for dimension `i`).
    ///
    /// # Errors
    /// Wrong number of pad pairs.
    pub fn pad(&self, pads: &[(usize, usize)]) -> Result<CrypTensor> {
        // Zero padding is linear: every share is padded with zeros.
        self.map_linear(|t| t.pad(pads, 0))
    }

    /// Joins tensors along `dim`. Public operands are turned into shares held by party 0 when
    /// any operand is private.
    ///
    /// # Errors
    /// Shapes or scales that do not fit, or mixed sessions.
    pub fn concat(tensors: &[&CrypTensor], dim: impl Dim) -> Result<CrypTensor> {
        let rank = tensors.first().map_or(0, |t| t.shape().len());
        let dim = dim.resolve(rank, "concat")?;
        Self::join(tensors, |ts| RingTensor::concat(ts, dim))
    }

    /// Stacks equally shaped tensors along a new dimension `dim`.
    ///
    /// # Errors
    /// As [`CrypTensor::concat`].
    pub fn stack(tensors: &[&CrypTensor], dim: impl Dim) -> Result<CrypTensor> {
        let rank = tensors.first().map_or(0, |t| t.shape().len());
        let dim = dim.resolve(rank + 1, "stack")?;
        Self::join(tensors, |ts| RingTensor::stack(ts, dim))
    }

    fn join(
        tensors: &[&CrypTensor],
        f: impl Fn(&[&RingTensor]) -> tensor::Result<RingTensor>,
    ) -> Result<CrypTensor> {
        let session = tensors.iter().find_map(|t| t.session());
        let Some(session) = session else {
            let plain: Vec<&RingTensor> = tensors
                .iter()
                .map(|t| match t {
                    CrypTensor::Public(p) => p,
                    CrypTensor::Private(_) => unreachable!("no private operand"),
                })
                .collect();
            return Ok(CrypTensor::Public(f(&plain)?));
        };
        let mut shares = Vec::with_capacity(tensors.len());
        for t in tensors {
            shares.push(match t {
                CrypTensor::Private(s) => {
                    if !s.session.same_as(session) {
                        return Err(Error::SessionMismatch { op: "concat" });
                    }
                    s.share.clone()
                }
                CrypTensor::Public(_) => t.share_for(session),
            });
        }
        let refs: Vec<&RingTensor> = shares.iter().map(Share::ring).collect();
        Ok(CrypTensor::Private(Shared::new(
            Share::new(f(&refs)?),
            session.clone(),
        )))
    }
}
