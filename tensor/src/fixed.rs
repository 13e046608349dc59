//! The fixed-point codec: real numbers as integers in Z_2^64.
//!
//! A real `x` is stored as the ring element `round(x * 2^f)` in two's complement, where `f` is
//! the number of fractional bits (16 by default, as in CrypTen). The representable range is
//! `[-2^(63-f), 2^(63-f))` with a resolution of `2^-f`.
//!
//! Encoding rounds to nearest (ties away from zero, as `f64::round` does); CrypTen truncates
//! toward zero, which biases every encoded input by up to one ULP. Decoding converts the signed
//! integer to `f64` (correctly rounded) and scales by an exact power of two, so it is exact for
//! every ring value below 2^53 in magnitude, negatives included, and correctly rounded beyond.

use crate::error::{Error, Result};

/// Default number of fractional bits.
pub const DEFAULT_FRAC_BITS: u32 = 16;

/// A fixed-point codec with `frac_bits` fractional bits.
///
/// # Examples
/// ```
/// use tensor::FixedPoint;
/// let fp = FixedPoint::default();
/// let v = fp.encode(-1.25).unwrap();
/// assert_eq!(v, (-(5i64 << 14)) as u64);
/// assert_eq!(fp.decode(v), -1.25);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FixedPoint {
    frac_bits: u32,
}

impl Default for FixedPoint {
    fn default() -> Self {
        Self {
            frac_bits: DEFAULT_FRAC_BITS,
        }
    }
}

impl FixedPoint {
    /// A codec with `frac_bits` fractional bits.
    ///
    /// # Errors
    /// More than 62 fractional bits would leave no room for an integer part.
    pub fn new(frac_bits: u32) -> Result<Self> {
        if frac_bits > 62 {
            return Err(Error::InvalidArgument {
                op: "fixed_point",
                reason: format!("{frac_bits} fractional bits leave no integer range (max 62)"),
            });
        }
        Ok(Self { frac_bits })
    }

    /// Fractional bits of this codec.
    pub fn frac_bits(&self) -> u32 {
        self.frac_bits
    }

    /// The scale `2^f` as a float.
    pub fn scale(&self) -> f64 {
        scale(self.frac_bits)
    }

    /// Encodes `x` as `round(x * 2^f)` in two's complement.
    ///
    /// # Errors
    /// NaN, infinities, and values outside `[-2^(63-f), 2^(63-f))`.
    pub fn encode(&self, x: f64) -> Result<u64> {
        encode(x, self.frac_bits)
    }

    /// Decodes a ring element to the real it represents.
    pub fn decode(&self, v: u64) -> f64 {
        decode(v, self.frac_bits)
    }
}

/// `2^frac_bits` as `f64` (exact).
///
/// Exact for every `frac_bits` up to 1023 (products of encodings carry up to 124).
pub fn scale(frac_bits: u32) -> f64 {
    2f64.powi(frac_bits.min(1023) as i32)
}

/// Encodes one real at `frac_bits` fractional bits (see [`FixedPoint::encode`]).
///
/// # Errors
/// NaN, infinities, values whose scaled magnitude does not fit a signed 64-bit integer, and
/// scales above 62 fractional bits.
pub fn encode(x: f64, frac_bits: u32) -> Result<u64> {
    if frac_bits > 62 {
        return Err(Error::NotRepresentable {
            value: x,
            frac_bits,
            reason: "more than 62 fractional bits",
        });
    }
    if !x.is_finite() {
        return Err(Error::NotRepresentable {
            value: x,
            frac_bits,
            reason: "not finite",
        });
    }
    let scaled = (x * scale(frac_bits)).round();
    // 2^63 itself is exactly representable in f64 and is the first value that does not fit.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..LIMIT).contains(&scaled) {
        return Err(Error::NotRepresentable {
            value: x,
            frac_bits,
            reason: "out of range",
        });
    }
    Ok(scaled as i64 as u64)
}

/// Decodes one ring element at `frac_bits` fractional bits (see [`FixedPoint::decode`]).
pub fn decode(v: u64, frac_bits: u32) -> f64 {
    (v as i64) as f64 / scale(frac_bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_decode_exactly() {
        let f = 16;
        assert_eq!(decode(i64::MIN as u64, f), -(2f64.powi(47)));
        assert_eq!(decode(1, f), 2f64.powi(-16));
        assert_eq!(decode(u64::MAX, f), -(2f64.powi(-16)));
        assert_eq!(decode((1u64 << 53) - 1, 0), ((1u64 << 53) - 1) as f64);
        assert_eq!(
            decode((-(1i64 << 53) + 1) as u64, 0),
            -(((1u64 << 53) - 1) as f64)
        );
    }

    #[test]
    fn encode_rejects_what_does_not_fit() {
        assert!(encode(f64::NAN, 16).is_err());
        assert!(encode(f64::INFINITY, 16).is_err());
        assert!(encode(2f64.powi(47), 16).is_err());
        assert_eq!(encode(-(2f64.powi(47)), 16).unwrap(), i64::MIN as u64);
        assert!(FixedPoint::new(63).is_err());
        assert!(encode(1.0, 2000).is_err());
        assert_eq!(decode(1, 100), 2f64.powi(-100));
    }

    #[test]
    fn encode_rounds_to_nearest() {
        assert_eq!(encode(0.4 / 65536.0, 16).unwrap(), 0);
        assert_eq!(encode(0.6 / 65536.0, 16).unwrap(), 1);
        assert_eq!(encode(-0.6 / 65536.0, 16).unwrap(), u64::MAX);
        assert_eq!(encode(-0.4 / 65536.0, 16).unwrap(), 0);
    }
}
