//! Errors of the legacy gRPC client that are reported to the caller (everything that
//! happens on the network is a [`ReturnCode`](neuron_protocol::legacy::ReturnCode) instead).

/// A caller-side error: bad arguments, never a network failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two argument lists that must have the same length do not (upstream `ValueError`).
    #[error("{what}: expected {expected} entries, got {actual}")]
    Length {
        /// Which list.
        what: &'static str,
        /// The length it must have.
        expected: usize,
        /// The length it has.
        actual: usize,
    },
    /// An endpoint (or an endpoint tensor) is invalid.
    #[error("invalid endpoint: {0}")]
    Endpoint(String),
    /// The text inputs have an unusable form.
    #[error("invalid inputs: {0}")]
    Inputs(String),
    /// The GPT-2 tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
