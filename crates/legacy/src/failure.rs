//! Failures of the synapse codecs: a return code plus the error text.

use neuron_protocol::legacy::ReturnCode;

/// Why a synapse could not be encoded or decoded: the [`ReturnCode`] the peer reports and
/// a short text (upstream sends it as the synapse `message`, after a prefix of its own).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str_name())]
pub struct Failure {
    /// The per-synapse code.
    pub code: ReturnCode,
    /// What went wrong.
    pub message: String,
}

impl Failure {
    /// A failure with `code` and `message`.
    pub fn new(code: ReturnCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The kind of a codec problem, before it is mapped to the code of one operation (see the
/// table in the crate docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The model produced nothing (a tensor without elements).
    Empty,
    /// A shape check failed (upstream's `ValueError`).
    Shape(String),
    /// Anything else: undecodable payload, bad dtype, index out of range…
    Other(String),
}

impl Fault {
    pub(crate) fn shape(message: impl Into<String>) -> Self {
        Self::Shape(message.into())
    }

    pub(crate) fn other(message: impl std::fmt::Display) -> Self {
        Self::Other(message.to_string())
    }

    /// Maps to a [`Failure`] with the codes for (empty, shape, other).
    pub(crate) fn into_failure(self, codes: [ReturnCode; 3]) -> Failure {
        match self {
            Fault::Empty => Failure::new(codes[0], "Empty Response"),
            Fault::Shape(m) => Failure::new(codes[1], m),
            Fault::Other(m) => Failure::new(codes[2], m),
        }
    }
}

impl From<candle_core::Error> for Fault {
    fn from(e: candle_core::Error) -> Self {
        Fault::other(e)
    }
}

impl From<neuron_tensor::Error> for Fault {
    fn from(e: neuron_tensor::Error) -> Self {
        Fault::other(e)
    }
}

/// The codes of each operation: (empty, shape, other).
pub(crate) mod codes {
    use neuron_protocol::legacy::ReturnCode as C;

    pub(crate) const ENCODE_REQUEST: [C; 3] = [
        C::RequestShapeException,
        C::RequestShapeException,
        C::RequestSerializationException,
    ];
    pub(crate) const DECODE_REQUEST: [C; 3] = [
        C::RequestShapeException,
        C::RequestShapeException,
        C::RequestDeserializationException,
    ];
    pub(crate) const ENCODE_RESPONSE: [C; 3] = [
        C::EmptyResponse,
        C::ResponseShapeException,
        C::ResponseSerializationException,
    ];
    pub(crate) const DECODE_RESPONSE: [C; 3] = [
        C::ResponseDeserializationException,
        C::ResponseDeserializationException,
        C::ResponseDeserializationException,
    ];
}
