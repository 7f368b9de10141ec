//! Why a call did not get a usable answer, on the client side.

use std::time::Duration;

use neuron_protocol::status;

/// A client-side failure of one call (the SDK dendrite's exception table, wire-modern §9).
/// Answers from the axon, errors included (401, 403, 404, 500, …), are not failures: they
/// carry the axon's own status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The connection was refused or could not be made (503).
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// The call's deadline passed before the reply was complete (408).
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// The axon closed the connection before the reply was complete (503).
    #[error("service disconnected: {0}")]
    Disconnected(String),
    /// The reply could not be parsed: wrong content type, invalid JSON, a body that does
    /// not fit the synapse, or a body over the size limit (422).
    #[error("failed to parse response: {0}")]
    Parse(String),
    /// The request could not be built, e.g. the synapse did not serialize (422, nothing was
    /// sent).
    #[error("failed to build request: {0}")]
    Request(String),
    /// The call was abandoned before it ended (408): a quorum was reached first, or the
    /// task running it stopped (its runtime shut down).
    #[error("cancelled")]
    Cancelled,
}

impl Failure {
    /// The status code the dendrite reports for this failure.
    pub fn status_code(&self) -> u16 {
        match self {
            Failure::Unavailable(_) | Failure::Disconnected(_) => status::SERVICE_UNAVAILABLE,
            Failure::Timeout(_) | Failure::Cancelled => status::REQUEST_TIMEOUT,
            Failure::Parse(_) | Failure::Request(_) => status::UNPROCESSABLE_ENTITY,
        }
    }
}
