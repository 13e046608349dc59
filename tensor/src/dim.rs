//! Dimension arguments as PyTorch takes them: an index from the front (`0`, `1`, …) or,
//! negative, from the back (`-1` is the last dimension).
//!
//! [`Dim`] is one dimension (`usize`, or a signed integer that may be negative); [`Dims`] a
//! list of them (`&[]` for every dimension, `&[-1]`, `&[0, 2]`, a `Vec` or a slice). The
//! user-facing methods of the tensor types (`CrypTensor`, `Var`, …) take these and resolve
//! them against the tensor's rank before anything is computed; the backend contract
//! ([`crate::TensorOps`]) takes resolved `usize` indices only.
//!
//! ```
//! use tensor::{Dim, Dims};
//! assert_eq!((-1).resolve(3, "softmax").unwrap(), 2);
//! assert_eq!(2usize.resolve(3, "softmax").unwrap(), 2);
//! assert_eq!([0, -1].resolve_all(3, "sum").unwrap(), vec![0, 2]);
//! assert!((-4).resolve(3, "softmax").is_err());
//! ```

use crate::error::{Error, Result};

/// One dimension argument: `usize` from the front, or a signed integer where negative values
/// count from the back (`-1` is the last), as in PyTorch.
pub trait Dim: Copy {
    /// The dimension's index in a tensor of rank `rank`.
    ///
    /// # Errors
    /// Out of range: `-rank <= dim < rank` for signed values, `dim < rank` for `usize`; the
    /// error names `op`.
    fn resolve(self, rank: usize, op: &'static str) -> Result<usize>;
}

impl Dim for usize {
    fn resolve(self, rank: usize, op: &'static str) -> Result<usize> {
        if self < rank {
            Ok(self)
        } else {
            Err(Error::InvalidDim {
                op,
                dim: self,
                rank,
            })
        }
    }
}

macro_rules! signed_dim {
    ($($t:ty),*) => {$(
        impl Dim for $t {
            fn resolve(self, rank: usize, op: &'static str) -> Result<usize> {
                let (dim, r) = (i64::from(self), i64::try_from(rank).unwrap_or(i64::MAX));
                let at = if dim < 0 { dim + r } else { dim };
                if (0..r).contains(&at) {
                    Ok(at as usize)
                } else {
                    Err(Error::DimOutOfRange { op, dim, rank })
                }
            }
        }
    )*};
}

signed_dim!(i8, i16, i32, i64);

impl Dim for isize {
    fn resolve(self, rank: usize, op: &'static str) -> Result<usize> {
        // isize is at most 64 bits on every supported target
        (self as i64).resolve(rank, op)
    }
}

/// A list of dimension arguments (each a [`Dim`]); empty means every dimension where the
/// method says so (reductions).
pub trait Dims {
    /// The indices in a tensor of rank `rank`, in the given order.
    ///
    /// # Errors
    /// Any one out of range (see [`Dim::resolve`]).
    fn resolve_all(&self, rank: usize, op: &'static str) -> Result<Vec<usize>>;
}

impl<D: Dim> Dims for [D] {
    fn resolve_all(&self, rank: usize, op: &'static str) -> Result<Vec<usize>> {
        self.iter().map(|d| d.resolve(rank, op)).collect()
    }
}

/// `&[]`: an empty list with no element type to infer it from.
impl Dims for [usize; 0] {
    fn resolve_all(&self, _: usize, _: &'static str) -> Result<Vec<usize>> {
        Ok(Vec::new())
    }
}

// Arrays by length, not one impl for every length, so that `&[]` above has exactly one
// candidate and its element type can be inferred.
macro_rules! dim_arrays {
    ($($n:literal),*) => {$(
        impl<D: Dim> Dims for [D; $n] {
            fn resolve_all(&self, rank: usize, op: &'static str) -> Result<Vec<usize>> {
                self[..].resolve_all(rank, op)
            }
        }
    )*};
}

dim_arrays!(1, 2, 3, 4, 5, 6, 7, 8);

impl<D: Dim> Dims for Vec<D> {
    fn resolve_all(&self, rank: usize, op: &'static str) -> Result<Vec<usize>> {
        self[..].resolve_all(rank, op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_dims_count_from_the_back() {
        for (d, want) in [(-1i64, Some(3)), (-4, Some(0)), (0, Some(0)), (3, Some(3))] {
            assert_eq!(d.resolve(4, "op").ok(), want, "dim {d}");
        }
        for d in [-5i32, 4, 100, i32::MIN] {
            let e = d.resolve(4, "softmax").unwrap_err().to_string();
            assert!(e.contains("softmax") && e.contains(&d.to_string()), "{e}");
        }
        assert!(4usize.resolve(4, "op").is_err());
        assert_eq!((-1isize).resolve(2, "op").unwrap(), 1);
    }

    #[test]
    fn lists_resolve_each_and_infer_from_literals() {
        let f = |d: &dyn Fn(usize) -> Result<Vec<usize>>| d(3).unwrap();
        assert_eq!(f(&|r| [].resolve_all(r, "sum")), Vec::<usize>::new());
        assert_eq!(f(&|r| [-1].resolve_all(r, "sum")), vec![2]);
        assert_eq!(f(&|r| [0, -2].resolve_all(r, "sum")), vec![0, 1]);
        assert_eq!(f(&|r| vec![2usize].resolve_all(r, "sum")), vec![2]);
        assert_eq!(f(&|r| [1usize, 0][..].resolve_all(r, "sum")), vec![1, 0]);
        assert!([0, 3].resolve_all(3, "sum").is_err());
    }
}
