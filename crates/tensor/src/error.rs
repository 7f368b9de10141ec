//! Errors of every decoder and encoder in this crate.

/// Everything that can go wrong turning bytes into tensors and back.
///
/// Decoders never panic on hostile input: every malformed, oversized or refused payload
/// becomes one of these variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `bt.Tensor.buffer` is not standard base64 with padding.
    #[error("tensor buffer is not valid standard base64")]
    BadBase64,
    /// The msgpack-numpy payload is malformed (wrong markers, keys, truncation, trailing
    /// bytes…).
    #[error("bad msgpack-numpy payload: {0}")]
    BadMsgpack(String),
    /// msgpack-numpy object array (`kind` = `O`): its data is a pickle. Always refused.
    #[error("object arrays (msgpack-numpy kind 'O', i.e. pickles) are refused")]
    ObjectArray,
    /// A msgpack-numpy `kind` other than empty or `O` (structured/void arrays).
    #[error("unsupported msgpack-numpy array kind {0:?}")]
    UnsupportedKind(String),
    /// A dtype name or type string that is not one of [`crate::Dtype`].
    #[error("unknown dtype {0:?}")]
    UnknownDtype(String),
    /// A dtype that exists but cannot be used in this context (e.g. candle `F8E4M3`,
    /// bfloat16 inside msgpack).
    #[error("unsupported dtype: {0}")]
    UnsupportedDtype(String),
    /// Element count of a shape does not match the data (or the shape being reshaped to).
    #[error("shape mismatch: {context}: expected {expected}, got {actual}")]
    ShapeMismatch {
        /// What was compared.
        context: &'static str,
        /// Expected count (elements or bytes, see `context`).
        expected: usize,
        /// Actual count.
        actual: usize,
    },
    /// A shape that is invalid in itself (negative dimension, overflow, empty where not
    /// allowed).
    #[error("bad shape {shape:?}: {reason}")]
    BadShape {
        /// The offending shape.
        shape: Vec<i64>,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A payload exceeds the configured [`crate::Limits`].
    #[error("{what} too large: {actual} > limit {limit}")]
    TooLarge {
        /// Which limit (`"bytes"`, `"rank"`, `"elements"`, `"dimension"`, …).
        what: &'static str,
        /// The configured limit.
        limit: usize,
        /// The offending value (saturated at `usize::MAX`).
        actual: usize,
    },
    /// The native frame header is malformed.
    #[error("bad native tensor frame: {0}")]
    BadFrame(String),
    /// `bt.Tensor.buffer` is `null`.
    #[error("bt.Tensor has no buffer")]
    MissingBuffer,
    /// A legacy `Tensor` message that cannot be decoded (UNKNOWN/UTF8 dtype, unknown
    /// serializer, empty placeholder tensor…).
    #[error("legacy Tensor: {0}")]
    Legacy(String),
    /// candle refused an operation (device transfer, tensor construction).
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
