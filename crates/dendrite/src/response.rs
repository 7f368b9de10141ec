//! The result of one call.

use std::time::Duration;

use neuron_protocol::synapse::{Synapse, SynapseMessage};

use crate::error::Failure;
use crate::timings::Timings;

/// The outcome of calling one axon: the final synapse, how long each phase took, and the
/// client-side failure if there was one.
///
/// The status lives where the SDK puts it, in `synapse.dendrite.status_code` /
/// `status_message` ([`Response::status_code`]): the axon's status after the §8.2 merge when
/// it answered, or the §9 failure status (408, 503, 422) when it did not.
#[derive(Clone, Debug)]
pub struct Response<T> {
    /// The synapse after the call: the axon's reply on HTTP 200, otherwise what was sent,
    /// with both terminals updated.
    pub synapse: SynapseMessage<T>,
    /// Per-phase timings.
    pub timings: Timings,
    /// Why the call produced no usable reply, when the failure was on the client side.
    pub failure: Option<Failure>,
}

impl<T: Synapse> Response<T> {
    /// The reported status (`None` when an axon answered 200 without any status, which the
    /// SDK does not count as success either).
    pub fn status_code(&self) -> Option<u16> {
        self.synapse
            .dendrite
            .status_code
            .and_then(|c| u16::try_from(c).ok())
    }

    /// The reported status message.
    pub fn status_message(&self) -> Option<&str> {
        self.synapse.dendrite.status_message.as_deref()
    }

    /// Whether the axon answered with status 200.
    pub fn is_success(&self) -> bool {
        self.status_code() == Some(200)
    }

    /// The handler time the axon reported.
    pub fn axon_process_time(&self) -> Option<Duration> {
        self.timings.axon_process_time
    }

    /// The synapse's own view of the result (`T::deserialize_output`, the SDK's
    /// `synapse.deserialize()`).
    pub fn deserialize(&self) -> serde_json::Value {
        self.synapse.fields.deserialize_output()
    }

    /// The subclass fields of the final synapse.
    pub fn fields(&self) -> &T {
        &self.synapse.fields
    }
}

/// What [`call_stream`](crate::Dendrite::call_stream) yields: the chunks as they arrive,
/// then exactly one `Done`.
#[derive(Clone, Debug)]
pub enum StreamEvent<T> {
    /// A piece of the body, as received.
    Chunk(bytes::Bytes),
    /// The end of the call: the synapse rebuilt from the reply headers (or the failure).
    Done(Box<Response<T>>),
}

pub(crate) fn axon_process_time(seconds: Option<f64>) -> Option<Duration> {
    seconds.and_then(|s| Duration::try_from_secs_f64(s).ok())
}
