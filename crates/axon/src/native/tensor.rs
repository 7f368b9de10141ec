//! Tensor routes: native-only handlers that receive the call's tensors as raw frames.
//!
//! A synapse route gets its tensors inside the JSON body (`bt.Tensor`: base64 of
//! msgpack-numpy), the HTTP dialect's format. A tensor route instead receives every tensor of
//! the call as a [`WireTensor`] whose `data` is a slice of the received message (decoded
//! with [`neuron_tensor::frame::decode_parts`], no copy), plus the call's body bytes as they
//! came (for small parameters, in any format the route chooses). The tensors it answers go
//! back as frames without being copied before the gRPC encoder writes them.
//!
//! Copies of the element bytes, per side: receiving, tonic gathers the HTTP/2 DATA frames of
//! the message into one buffer (one copy) and everything after that slices it; sending,
//! prost copies each tensor's `data` into the outgoing message buffer (one copy). The test
//! `tensor_frames_reach_the_handler_without_copies` in `tests/native.rs` checks the pointers.
//!
//! The pipeline is the synapse routes' one minus the JSON: session (checked by the caller),
//! frame checks, priority queue (priority 0), handler within the deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use neuron_protocol::status;
use neuron_tensor::{Limits, WireTensor, frame};

use super::pipeline::error;
use super::proto::{CallResponse, Tensor};
use crate::axon::Shared;
use crate::caller::Caller;
use crate::metrics::Counters;
use crate::queue::QueueFull;
use crate::route::{HandlerError, HandlerResult};

/// What a tensor route receives.
#[derive(Debug, Clone)]
pub struct TensorCall {
    /// The call's body bytes, as sent (the route defines their format; may be empty).
    pub body: Bytes,
    /// The call's tensors, in order; their data points into the received message.
    pub tensors: Vec<WireTensor>,
}

/// What a tensor route answers with status 200.
#[derive(Debug, Clone, Default)]
pub struct TensorReply {
    /// Body bytes for the caller (may be empty).
    pub body: Bytes,
    /// Tensors for the caller, sent as frames.
    pub tensors: Vec<WireTensor>,
}

type AsyncFn =
    Arc<dyn Fn(Caller, TensorCall) -> BoxFuture<'static, HandlerResult<TensorReply>> + Send + Sync>;
type BlockingFn = Arc<dyn Fn(Caller, TensorCall) -> HandlerResult<TensorReply> + Send + Sync>;

/// A tensor route's handler.
#[derive(Clone)]
pub(crate) enum TensorHandler {
    Async(AsyncFn),
    Blocking(BlockingFn),
}

impl TensorHandler {
    pub(crate) fn from_async<F, Fut>(f: F) -> Self
    where
        F: Fn(Caller, TensorCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult<TensorReply>> + Send + 'static,
    {
        Self::Async(Arc::new(move |caller, call| f(caller, call).boxed()))
    }

    pub(crate) fn from_blocking<F>(f: F) -> Self
    where
        F: Fn(Caller, TensorCall) -> HandlerResult<TensorReply> + Send + Sync + 'static,
    {
        Self::Blocking(Arc::new(f))
    }
}

/// Decodes the frames of a call (at most `max`), without copying their data.
pub(crate) fn decode_frames(
    frames: Vec<Tensor>,
    max: usize,
    limits: &Limits,
) -> Result<Vec<WireTensor>, String> {
    if frames.len() > max {
        return Err(format!(
            "Bad Request: {} tensors (limit {max})",
            frames.len()
        ));
    }
    frames
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            frame::decode_parts(&t.header, t.data, limits)
                .map_err(|e| format!("Bad Request: tensor {i}: {e}"))
        })
        .collect()
}

/// Encodes reply tensors as split frames (the data is shared, not copied).
pub(crate) fn encode_frames(tensors: Vec<WireTensor>) -> Result<Vec<Tensor>, String> {
    tensors
        .into_iter()
        .map(|t| {
            frame::encode_parts(t.dtype, &t.shape, t.data)
                .map(|(header, data)| Tensor { header, data })
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Runs one call of a tensor route whose frames were already decoded.
pub(crate) async fn run(
    shared: Arc<Shared>,
    handler: TensorHandler,
    caller: Caller,
    timeout: Option<f64>,
    call: TensorCall,
    start: Instant,
) -> CallResponse {
    let counters = &shared.counters;
    let timeout = shared.config.deadline_for(timeout);
    let deadline = tokio::time::Instant::from_std(start) + timeout;
    let permit = match tokio::time::timeout_at(deadline, shared.scheduler.acquire(0.0)).await {
        Ok(Ok(p)) => p,
        Ok(Err(QueueFull)) => {
            Counters::bump(&counters.shed);
            return error(start, status::SERVICE_UNAVAILABLE, "Service Unavailable");
        }
        Err(_) => return timed_out(&shared, start, timeout),
    };
    let outcome = match handler {
        TensorHandler::Async(f) => {
            let out = tokio::time::timeout_at(deadline, f(caller, call)).await;
            drop(permit);
            out.ok()
        }
        TensorHandler::Blocking(f) => {
            // The permit moves into the job: a job that outlives its deadline still holds
            // its worker slot until it really ends.
            let job = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                f(caller, call)
            });
            match tokio::time::timeout_at(deadline, job).await {
                Ok(Ok(out)) => Some(out),
                Ok(Err(join)) => Some(Err(HandlerError::new(join.to_string()))),
                Err(_) => None,
            }
        }
    };
    let reply = match outcome {
        None => return timed_out(&shared, start, timeout),
        Some(Err(e)) => {
            Counters::bump(&counters.handler_errors);
            if e.status == status::INTERNAL_SERVER_ERROR {
                return super::pipeline::internal(start, &e.detail);
            }
            return error(start, e.status, status::reason(e.status).unwrap_or("Error"));
        }
        Some(Ok(reply)) => reply,
    };
    match encode_frames(reply.tensors) {
        Ok(tensors) => {
            Counters::bump(&counters.ok);
            CallResponse {
                status_code: u32::from(status::OK),
                status_message: status::SUCCESS.to_owned(),
                process_time: start.elapsed().as_secs_f64(),
                body: reply.body,
                tensors,
                call_id: 0,
            }
        }
        Err(detail) => super::pipeline::internal(start, &detail),
    }
}

fn timed_out(shared: &Shared, start: Instant, timeout: Duration) -> CallResponse {
    Counters::bump(&shared.counters.timeouts);
    error(
        start,
        status::REQUEST_TIMEOUT,
        status::response_timeout(timeout.as_secs_f64()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use neuron_tensor::Dtype;

    #[test]
    fn frames_are_decoded_and_encoded_without_copying_the_data() -> Result<(), String> {
        let data = Bytes::from(vec![7u8; 4096]);
        let (header, data) =
            frame::encode_parts(Dtype::F32, &[1024], data.clone()).map_err(|e| e.to_string())?;
        let received = vec![Tensor {
            header,
            data: data.clone(),
        }];
        // What the handler gets points at the received message's bytes...
        let tensors = decode_frames(received, 4, &Limits::default())?;
        assert_eq!(tensors[0].data.as_ptr(), data.as_ptr());
        // ...and what it answers goes to the encoder as is.
        let reply = encode_frames(tensors)?;
        assert_eq!(reply[0].data.as_ptr(), data.as_ptr());
        Ok(())
    }

    #[test]
    fn decode_frames_is_bounded() {
        let (header, data) =
            frame::encode_parts(Dtype::U8, &[1], Bytes::from_static(&[1])).unwrap_or_default();
        let one = Tensor { header, data };
        assert!(decode_frames(vec![one.clone(); 2], 2, &Limits::default()).is_ok());
        assert!(decode_frames(vec![one; 3], 2, &Limits::default()).is_err());
    }
}
