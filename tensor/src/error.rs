//! The tensor crate's error type.

/// Everything that can go wrong in a plaintext tensor operation.
///
/// Messages are lowercase and name the operation and the offending shapes or values, so that an
/// error surfacing from a deep protocol call still says what was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An accelerator is missing, or its driver refused a request.
    #[error("device: {0}")]
    Device(String),
    /// Two operands (or an operand and a requested shape) do not fit together.
    #[error("{op}: shape mismatch between {lhs:?} and {rhs:?}")]
    ShapeMismatch {
        /// The operation that failed.
        op: &'static str,
        /// Left (or actual) shape.
        lhs: Vec<usize>,
        /// Right (or requested) shape.
        rhs: Vec<usize>,
    },
    /// Two operands use different fixed-point scales where the op needs them equal.
    #[error("{op}: fixed-point scale mismatch ({lhs} vs {rhs} fractional bits)")]
    EncodingMismatch {
        /// The operation that failed.
        op: &'static str,
        /// Fractional bits of the left operand.
        lhs: u32,
        /// Fractional bits of the right operand.
        rhs: u32,
    },
    /// A dimension index is out of range for the tensor's rank.
    #[error("{op}: dimension {dim} is out of range for a tensor of rank {rank}")]
    InvalidDim {
        /// The operation that failed.
        op: &'static str,
        /// The dimension asked for.
        dim: usize,
        /// The tensor's rank.
        rank: usize,
    },
    /// A signed dimension index (negative: from the back) is out of range for the rank.
    #[error(
        "{op}: dimension {dim} is out of range for a tensor of rank {rank} (valid: -{rank}..{rank})"
    )]
    DimOutOfRange {
        /// The operation that failed.
        op: &'static str,
        /// The dimension asked for.
        dim: i64,
        /// The tensor's rank.
        rank: usize,
    },
    /// The data length does not match the product of the shape.
    #[error("{op}: shape {shape:?} needs {expected} elements but {got} were given")]
    ElementCount {
        /// The operation that failed.
        op: &'static str,
        /// The shape asked for.
        shape: Vec<usize>,
        /// Elements the shape needs.
        expected: usize,
        /// Elements supplied.
        got: usize,
    },
    /// A real number cannot be encoded at the requested scale (NaN, infinite, or too large).
    #[error("cannot encode {value} with {frac_bits} fractional bits: {reason}")]
    NotRepresentable {
        /// The value that failed to encode.
        value: f64,
        /// The fixed-point scale asked for.
        frac_bits: u32,
        /// Why it failed.
        reason: &'static str,
    },
    /// Any other invalid argument, with the reason spelled out.
    #[error("{op}: {reason}")]
    InvalidArgument {
        /// The operation that failed.
        op: &'static str,
        /// What was wrong.
        reason: String,
    },
}

/// Result alias for the tensor crate.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invalid(op: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        op,
        reason: reason.into(),
    }
}
