//! The nn crate's error type: loading and saving weights. (Forward passes and optimizer
//! steps return their tensor type's error.)

/// Everything that can go wrong moving weights in and out of a model. Messages name the
/// tensor concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model needs a tensor the source does not have.
    #[error("missing tensor {name:?}: the model needs it but the source does not have it")]
    MissingTensor {
        /// The tensor's name (`"0.weight"`).
        name: String,
    },
    /// The source's tensor has another shape than the model's.
    #[error("tensor {name:?} has shape {got:?} in the source but {expected:?} in the model")]
    ShapeMismatch {
        /// The tensor's name.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The source's shape.
        got: Vec<usize>,
    },
    /// Strict loading found a tensor the model does not have.
    #[error("unexpected tensor {name:?}: the model has no parameter or buffer of that name")]
    UnexpectedTensor {
        /// The tensor's name.
        name: String,
    },
    /// A dtype umbra does not read or write.
    #[error("tensor {name:?}: unsupported dtype {dtype}")]
    Dtype {
        /// The tensor's name.
        name: String,
        /// The dtype.
        dtype: String,
    },
    /// A value that fixed point cannot hold.
    #[error("tensor {name:?}: {source}")]
    Encode {
        /// The tensor's name.
        name: String,
        /// Why it did not encode.
        source: tensor::Error,
    },
    /// A malformed safetensors file.
    #[error("safetensors: {0}")]
    Format(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] tensor::Error),
}

/// Result alias for the nn crate.
pub type Result<T> = std::result::Result<T, Error>;
