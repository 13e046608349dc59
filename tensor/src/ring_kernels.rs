//! The named ring kernels that protocols call instead of looping over elements themselves:
//! the masked opening, unmasking, the fused Beaver combine, removing PRG masks and filling
//! from a word stream. Each backend of [`crate::Storage`] implements them; the words they take
//! or write are frame words (what crosses the network), so a device-resident share crosses to
//! the host only as a frame.

use crate::error::{Error, Result};
use crate::ring::RingTensor;
use crate::storage::Storage;

/// `got == expected` elements, or an error naming `op` and the shape.
pub(crate) fn lengths(
    op: &'static str,
    shape: &[usize],
    expected: usize,
    got: usize,
) -> Result<()> {
    if expected != got {
        return Err(Error::ElementCount {
            op,
            shape: shape.to_vec(),
            expected,
            got,
        });
    }
    Ok(())
}

/// `a` and `b` of one shape, or an error naming `op` and both.
pub(crate) fn same_shape(op: &'static str, a: &RingTensor, b: &RingTensor) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::ShapeMismatch {
            op,
            lhs: a.shape().to_vec(),
            rhs: b.shape().to_vec(),
        });
    }
    Ok(())
}

impl RingTensor {
    /// Writes `self - mask` into `out`: this party's part of a masked opening, straight into
    /// the frame.
    ///
    /// # Errors
    /// `mask` of another shape, or `out` of another length.
    pub fn write_masked(&self, mask: &RingTensor, out: &mut [u64]) -> Result<()> {
        same_shape("write_masked", self, mask)?;
        lengths("write_masked", self.shape(), self.numel(), out.len())?;
        match (self.storage(), mask.storage()) {
            (Storage::Cpu(_), Storage::Cpu(_)) => {
                for ((o, x), m) in out.iter_mut().zip(self.as_slice()).zip(mask.as_slice()) {
                    *o = x.wrapping_sub(*m);
                }
            }
        }
        Ok(())
    }

    /// This party's view of an opened value: `self - mask + opened`, where `opened` is the
    /// sum of the peers' masked shares (frame words).
    ///
    /// # Errors
    /// `mask` of another shape, or `opened` of another length.
    pub fn unmask(&self, mask: &RingTensor, opened: &[u64]) -> Result<RingTensor> {
        same_shape("unmask", self, mask)?;
        lengths("unmask", self.shape(), self.numel(), opened.len())?;
        let data = match (self.storage(), mask.storage()) {
            (Storage::Cpu(_), Storage::Cpu(_)) => self
                .as_slice()
                .iter()
                .zip(mask.as_slice())
                .zip(opened)
                .map(|((t, m), p)| t.wrapping_sub(*m).wrapping_add(*p))
                .collect(),
        };
        RingTensor::from_raw(self.shape(), data, self.frac_bits())
    }

    /// The elementwise Beaver combine, in one pass: for this party's shares `x`, `y`, its
    /// triple shares `a`, `b`, `c = self` and the peers' opened sums `pe` (of `x - a`) and `pf`
    /// (of `y - b`), returns `c + e·y + a·f` with `e = x - a + pe` and `f = y - b + pf`, at
    /// scale `x + y` (the products' untruncated scale). Summed over the parties this is `x·y`.
    ///
    /// # Errors
    /// Operands of different shapes, or opened words of another length.
    pub fn beaver_mul_combine(
        self,
        x: &RingTensor,
        a: &RingTensor,
        y: &RingTensor,
        b: &RingTensor,
        pe: &[u64],
        pf: &[u64],
    ) -> Result<RingTensor> {
        for t in [a, y, b, &self] {
            same_shape("beaver_mul_combine", x, t)?;
        }
        let n = x.numel();
        lengths("beaver_mul_combine", x.shape(), n, pe.len())?;
        lengths("beaver_mul_combine", x.shape(), n, pf.len())?;
        let mut z = self.with_frac_bits(x.frac_bits() + y.frac_bits());
        match (x.storage(), y.storage()) {
            (Storage::Cpu(_), Storage::Cpu(_)) => {
                // one zipped pass (no bounds checks): e and f are re-derived, not stored
                let operands = x.as_slice().iter().zip(a.as_slice()).zip(pe);
                let others = y.as_slice().iter().zip(b.as_slice()).zip(pf);
                for (z, (((x, a), pe), ((y, b), pf))) in
                    z.as_mut_slice().iter_mut().zip(operands.zip(others))
                {
                    let e = x.wrapping_sub(*a).wrapping_add(*pe);
                    let f = y.wrapping_sub(*b).wrapping_add(*pf);
                    *z = z
                        .wrapping_add(e.wrapping_mul(*y))
                        .wrapping_add(a.wrapping_mul(f));
                }
            }
        }
        Ok(z)
    }

    /// The square-pair combine, in one pass: for this party's share `x`, its pair shares `r`
    /// and `r² = self`, and the peers' opened sum `pe` of `x - r`, returns
    /// `r² + 2e·r + lead·e²` with `e = x - r + pe`, at twice `x`'s scale. Summed over the
    /// parties this is `x²`.
    ///
    /// # Errors
    /// Operands of different shapes, or opened words of another length.
    pub fn square_combine(
        self,
        x: &RingTensor,
        r: &RingTensor,
        pe: &[u64],
        lead: bool,
    ) -> Result<RingTensor> {
        same_shape("square_combine", x, r)?;
        same_shape("square_combine", x, &self)?;
        lengths("square_combine", x.shape(), x.numel(), pe.len())?;
        let first = u64::from(lead);
        let mut z = self.with_frac_bits(2 * x.frac_bits());
        match (x.storage(), r.storage()) {
            (Storage::Cpu(_), Storage::Cpu(_)) => {
                let rows = pe.iter().zip(x.as_slice()).zip(r.as_slice());
                for (z, ((p, x), r)) in z.as_mut_slice().iter_mut().zip(rows) {
                    let e = x.wrapping_sub(*r).wrapping_add(*p);
                    *z = z
                        .wrapping_add(e.wrapping_mul(r.wrapping_mul(2)))
                        .wrapping_add(first.wrapping_mul(e.wrapping_mul(e)));
                }
            }
        }
        Ok(z)
    }

    /// The 2-party local truncation of a share by `2^k`, in place: the first party shifts its
    /// share arithmetically, the other shifts the negation of its share and negates back
    /// (SecureML; wrong with probability about |x|/2^64, see `mpc::protocols::truncate`).
    pub fn local_trunc(&mut self, k: u32, first: bool) {
        match self.storage() {
            Storage::Cpu(_) => {
                if first {
                    self.map_inplace(|v| ((v as i64) >> k) as u64);
                } else {
                    self.map_inplace(|v| (((v as i64).wrapping_neg() >> k) as u64).wrapping_neg());
                }
            }
        }
    }

    /// Writes the elements into `out` (an opening's frame words).
    ///
    /// # Errors
    /// `out` of another length.
    pub fn write_words(&self, out: &mut [u64]) -> Result<()> {
        lengths("write_words", self.shape(), self.numel(), out.len())?;
        match self.storage() {
            Storage::Cpu(_) => out.copy_from_slice(self.as_slice()),
        }
        Ok(())
    }

    /// Adds `words` elementwise (summing the peers' shares of an opening).
    ///
    /// # Errors
    /// `words` of another length.
    pub fn add_words(&mut self, words: &[u64]) -> Result<()> {
        lengths("add_words", self.shape(), self.numel(), words.len())?;
        match self.storage() {
            Storage::Cpu(_) => {
                for (v, w) in self.as_mut_slice().iter_mut().zip(words) {
                    *v = v.wrapping_add(*w);
                }
            }
        }
        Ok(())
    }

    /// `self + words` as a new tensor, in one pass (an opened value: this party's share plus
    /// the peers' sum).
    ///
    /// # Errors
    /// `words` of another length.
    pub fn plus_words(&self, words: &[u64]) -> Result<RingTensor> {
        lengths("plus_words", self.shape(), self.numel(), words.len())?;
        let data = match self.storage() {
            Storage::Cpu(_) => self
                .as_slice()
                .iter()
                .zip(words)
                .map(|(a, b)| a.wrapping_add(*b))
                .collect(),
        };
        RingTensor::from_raw(self.shape(), data, self.frac_bits())
    }

    /// Writes `self + mask + offset` into `out`: the masked opening of a truncation (the
    /// offset keeps the opened value's sign bit clear; only one party adds it).
    ///
    /// # Errors
    /// `mask` of another shape, or `out` of another length.
    pub fn write_offset_masked(
        &self,
        mask: &RingTensor,
        offset: u64,
        out: &mut [u64],
    ) -> Result<()> {
        same_shape("write_offset_masked", self, mask)?;
        lengths("write_offset_masked", self.shape(), self.numel(), out.len())?;
        match (self.storage(), mask.storage()) {
            (Storage::Cpu(_), Storage::Cpu(_)) => {
                for ((o, x), r) in out.iter_mut().zip(self.as_slice()).zip(mask.as_slice()) {
                    *o = x.wrapping_add(*r).wrapping_add(offset);
                }
            }
        }
        Ok(())
    }

    /// The dealer truncation's local step, in place: with the opened `c = x + r + offset`
    /// (this party's masked share plus the peers' sum `opened`), this party's share of
    /// `floor(x / d)` is `m·q·[c < 2^63] - r_div + lead·(c / d - offset / d)`, where `r_div`
    /// is its share of `r / d`, `m` of `r`'s wrap bit, `q = floor(2^64 / d)`, and `lead` is 1
    /// at one party and 0 at the others (see `mpc::protocols::truncate`).
    ///
    /// # Errors
    /// Operands of different shapes, `opened` of another length, or `d = 0`.
    #[allow(clippy::too_many_arguments)] // the protocol's operands, named as in its doc
    pub fn dealer_trunc_combine(
        &mut self,
        r: &RingTensor,
        r_div: &RingTensor,
        r_msb: &RingTensor,
        opened: &[u64],
        d: u64,
        offset: u64,
        lead: bool,
    ) -> Result<()> {
        let open = TruncOpening::new(
            "dealer_trunc_combine",
            self,
            &[r, r_div, r_msb],
            opened,
            d,
            offset,
            lead,
        )?;
        match self.storage() {
            Storage::Cpu(_) => {
                let rows = r
                    .as_slice()
                    .iter()
                    .zip(r_div.as_slice())
                    .zip(r_msb.as_slice())
                    .zip(opened);
                for (x, (((r, rd), m), o)) in self.as_mut_slice().iter_mut().zip(rows) {
                    let (p, u) = open.public(*x, *r, *o);
                    *x = open.share(p, u, *m, *rd);
                }
            }
        }
        Ok(())
    }

    /// The fused truncate-then-square's local step (see `mpc::protocols::truncate`): with
    /// the opened `c = x + r + offset` as in [`RingTensor::dealer_trunc_combine`], the
    /// truncation is `t = lead·p + s` with the public `p = c / d - offset / d` and this
    /// party's linear `s = m·q·u - r_div` (`u = [c < 2^63]`, public). Then
    /// `t² = p² + 2p·s + s²` and, as `u² = u` and `m² = m`,
    /// `s² = r_div² - 2q·u·(r_div·m) + q²·u·m`: with this party's shares `r_div_sq` of
    /// `r_div²` and `r_div_msb` of `r_div·m` from the dealer, its shares of `t` and `t²` are
    /// local. Returns `(t, t²)` shares, raw (the caller sets the scales).
    ///
    /// # Errors
    /// Operands of different shapes, `opened` of another length, or `d = 0`.
    #[allow(clippy::too_many_arguments)] // the protocol's operands, named as in its doc
    pub fn dealer_trunc_square_combine(
        &self,
        r: &RingTensor,
        r_div: &RingTensor,
        r_msb: &RingTensor,
        r_div_sq: &RingTensor,
        r_div_msb: &RingTensor,
        opened: &[u64],
        d: u64,
        offset: u64,
        lead: bool,
    ) -> Result<(RingTensor, RingTensor)> {
        let masks = [r, r_div, r_msb, r_div_sq, r_div_msb];
        let op = "dealer_trunc_square_combine";
        let open = TruncOpening::new(op, self, &masks, opened, d, offset, lead)?;
        let q2 = open.q.wrapping_mul(open.q);
        let (mut t, mut t2) = (
            Vec::with_capacity(self.numel()),
            Vec::with_capacity(self.numel()),
        );
        match self.storage() {
            Storage::Cpu(_) => {
                let rows = self
                    .as_slice()
                    .iter()
                    .zip(r.as_slice())
                    .zip(r_div.as_slice())
                    .zip(r_msb.as_slice())
                    .zip(r_div_sq.as_slice().iter().zip(r_div_msb.as_slice()))
                    .zip(opened);
                for (((((x, r), rd), m), (rd2, rdm)), o) in rows {
                    let (p, u) = open.public(*x, *r, *o);
                    let share = open.share(p, u, *m, *rd);
                    // this party's linear part, without the lead's public term
                    let s = share.wrapping_sub(open.first.wrapping_mul(p));
                    t.push(share);
                    let ss = rd2
                        .wrapping_sub(u.wrapping_mul(open.q).wrapping_mul(2).wrapping_mul(*rdm))
                        .wrapping_add(u.wrapping_mul(q2).wrapping_mul(*m));
                    t2.push(
                        open.first
                            .wrapping_mul(p.wrapping_mul(p))
                            .wrapping_add(p.wrapping_mul(2).wrapping_mul(s))
                            .wrapping_add(ss),
                    );
                }
            }
        }
        let f = self.frac_bits();
        Ok((
            Self::from_raw(self.shape(), t, f)?,
            Self::from_raw(self.shape(), t2, f)?,
        ))
    }

    /// Subtracts `words` elementwise (an input's owner removing its peers' PRG masks).
    ///
    /// # Errors
    /// `words` of another length.
    pub fn sub_words(&mut self, words: &[u64]) -> Result<()> {
        lengths("sub_words", self.shape(), self.numel(), words.len())?;
        match self.storage() {
            Storage::Cpu(_) => {
                for (v, m) in self.as_mut_slice().iter_mut().zip(words) {
                    *v = v.wrapping_sub(*m);
                }
            }
        }
        Ok(())
    }

    /// Overwrites every element from a word stream `fill` (a PRG writing `numel` words).
    pub fn fill_words(&mut self, fill: impl FnOnce(&mut [u64])) {
        match self.storage() {
            Storage::Cpu(_) => fill(self.as_mut_slice()),
        }
    }
}

/// The public side of an opened dealer truncation (`mpc::protocols::truncate`), shared by
/// [`RingTensor::dealer_trunc_combine`] and [`RingTensor::dealer_trunc_square_combine`].
struct TruncOpening {
    /// 1 at the lead party, 0 elsewhere.
    first: u64,
    offset: u64,
    d: u64,
    /// `floor(2^64 / d)` modulo 2^64 (0 for `d = 1`, as 2^64 ≡ 0).
    q: u64,
    /// `offset / d`.
    base: u64,
    /// `log2 d` when `d` is a power of two.
    shift: Option<u32>,
}

impl TruncOpening {
    /// Checks the operands (every mask shaped like `x`, `opened` as long, `d > 0`).
    fn new(
        op: &'static str,
        x: &RingTensor,
        masks: &[&RingTensor],
        opened: &[u64],
        d: u64,
        offset: u64,
        lead: bool,
    ) -> Result<Self> {
        if d == 0 {
            return Err(crate::error::invalid(op, "divisor 0"));
        }
        for t in masks {
            same_shape(op, x, t)?;
        }
        lengths(op, x.shape(), x.numel(), opened.len())?;
        Ok(Self {
            first: u64::from(lead),
            offset,
            d,
            q: ((1u128 << 64) / u128::from(d)) as u64,
            base: offset / d,
            shift: d.is_power_of_two().then(|| d.trailing_zeros()),
        })
    }

    /// `(p, u)` for one element: with `c = x + r + lead·offset + opened`, the public
    /// `p = c / d - offset / d` and the wrap indicator `u = [c < 2^63]`.
    fn public(&self, x: u64, r: u64, opened: u64) -> (u64, u64) {
        let c = x
            .wrapping_add(r)
            .wrapping_add(self.first.wrapping_mul(self.offset))
            .wrapping_add(opened);
        let c_div = match self.shift {
            Some(s) => c >> s,
            None => c / self.d,
        };
        (c_div.wrapping_sub(self.base), 1 - (c >> 63))
    }

    /// This party's share of the truncation, `m·q·u - r_div + lead·p`.
    fn share(&self, p: u64, u: u64, m: u64, r_div: u64) -> u64 {
        u.wrapping_mul(self.q)
            .wrapping_mul(m)
            .wrapping_sub(r_div)
            .wrapping_add(self.first.wrapping_mul(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[u64]) -> RingTensor {
        RingTensor::from_raw(&[v.len()], v.to_vec(), 0).unwrap()
    }

    /// Two parties' shares of `x·y` from the kernels sum to the product, with wrapping.
    #[test]
    fn the_beaver_combine_of_two_parties_sums_to_the_product() {
        let (x, y) = ([3u64, u64::MAX, 7], [5u64, 2, u64::MAX - 1]);
        let (a, b) = ([11u64, 13, 17], [19u64, 23, u64::MAX / 3]);
        let c: Vec<u64> = a.iter().zip(&b).map(|(a, b)| a.wrapping_mul(*b)).collect();
        // party 1 holds zeros of everything but its half of the triple
        let split = |v: &[u64], r: u64| -> (Vec<u64>, Vec<u64>) {
            let s1: Vec<u64> = v
                .iter()
                .map(|&e| e.wrapping_mul(r).wrapping_add(9))
                .collect();
            let s0 = v.iter().zip(&s1).map(|(v, s)| v.wrapping_sub(*s)).collect();
            (s0, s1)
        };
        let (x0, x1) = split(&x, 5);
        let (y0, y1) = split(&y, 7);
        let (a0, a1) = split(&a, 3);
        let (b0, b1) = split(&b, 2);
        let (c0, c1) = split(&c, 4);
        let mut open = [vec![0; 3], vec![0; 3], vec![0; 3], vec![0; 3]];
        t(&x0).write_masked(&t(&a0), &mut open[0]).unwrap();
        t(&y0).write_masked(&t(&b0), &mut open[1]).unwrap();
        t(&x1).write_masked(&t(&a1), &mut open[2]).unwrap();
        t(&y1).write_masked(&t(&b1), &mut open[3]).unwrap();
        let z0 = t(&c0)
            .beaver_mul_combine(&t(&x0), &t(&a0), &t(&y0), &t(&b0), &open[2], &open[3])
            .unwrap();
        let z1 = t(&c1)
            .beaver_mul_combine(&t(&x1), &t(&a1), &t(&y1), &t(&b1), &open[0], &open[1])
            .unwrap();
        // the combine adds e·y + a·f on both parties: e·(y0 + y1) + (a0 + a1)·f + c = e·y + a·f + ab
        // = (x - a)y + a(y - b) + ab = xy
        let sum: Vec<u64> = z0
            .as_slice()
            .iter()
            .zip(z1.as_slice())
            .map(|(p, q)| p.wrapping_add(*q))
            .collect();
        let want: Vec<u64> = x.iter().zip(&y).map(|(x, y)| x.wrapping_mul(*y)).collect();
        assert_eq!(sum, want);
        // e seen by both parties is the same opened x - a
        let e0 = t(&x0).unmask(&t(&a0), &open[2]).unwrap();
        let e1 = t(&x1).unmask(&t(&a1), &open[0]).unwrap();
        assert_eq!(e0, e1);
    }

    #[test]
    fn kernels_refuse_mismatched_lengths() {
        let x = t(&[1, 2, 3]);
        assert!(x.write_masked(&t(&[1, 2]), &mut [0; 3]).is_err());
        assert!(x.write_masked(&x, &mut [0; 2]).is_err());
        assert!(x.unmask(&x, &[0; 4]).is_err());
        let mut y = x.clone();
        assert!(y.sub_words(&[1]).is_err());
        y.sub_words(&[1, 1, 1]).unwrap();
        assert_eq!(y.as_slice(), &[0, 1, 2]);
        y.fill_words(|w| w.fill(7));
        assert_eq!(y.as_slice(), &[7, 7, 7]);
    }
}
