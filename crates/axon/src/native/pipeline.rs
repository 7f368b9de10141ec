//! The per-call path of the native dialect over the shared route table: verify hook →
//! blacklist → decode → priority queue → handler → encode, with the caller taken from the
//! session (no per-request signature).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use neuron_protocol::status;
use neuron_protocol::synapse::{Synapse, SynapseMessage};
use neuron_protocol::terminal::TerminalInfo;

use super::proto::CallResponse;
use crate::axon::Shared;
use crate::caller::Caller;
use crate::metrics::Counters;
use crate::queue::QueueFull;
use crate::route::{Forward, HandlerError, TypedRoute};

/// A route with its synapse type erased, as the native dialect calls it.
pub(crate) trait Endpoint: Send + Sync {
    /// Runs the shared pipeline for one authenticated call.
    fn call(
        &self,
        shared: Arc<Shared>,
        caller: Caller,
        timeout: Option<f64>,
        body: Bytes,
        start: Instant,
    ) -> BoxFuture<'static, CallResponse>;
}

struct Typed<T>(Arc<TypedRoute<T>>);

impl<T: Synapse> Endpoint for Typed<T> {
    fn call(
        &self,
        shared: Arc<Shared>,
        caller: Caller,
        timeout: Option<f64>,
        body: Bytes,
        start: Instant,
    ) -> BoxFuture<'static, CallResponse> {
        run(shared, self.0.clone(), caller, timeout, body, start).boxed()
    }
}

/// Erases the synapse type of a route for the native dialect.
pub(crate) fn endpoint<T: Synapse>(route: TypedRoute<T>) -> Arc<dyn Endpoint> {
    Arc::new(Typed(Arc::new(route)))
}

/// A reply without a body.
/// The reply to a caller over the per-hotkey rate limit.
pub(crate) fn rate_limited(start: Instant) -> CallResponse {
    error(
        start,
        status::TOO_MANY_REQUESTS,
        crate::ratelimit::RATE_LIMITED,
    )
}

pub(crate) fn error(start: Instant, code: u16, message: impl Into<String>) -> CallResponse {
    CallResponse {
        status_code: u32::from(code),
        status_message: message.into(),
        process_time: start.elapsed().as_secs_f64(),
        body: Bytes::new(),
        tensors: Vec::new(),
        call_id: 0,
    }
}

pub(crate) fn internal(start: Instant, detail: &str) -> CallResponse {
    let id = uuid::Uuid::new_v4().to_string();
    tracing::debug!(error_id = %id, detail, "native call failed");
    error(
        start,
        status::INTERNAL_SERVER_ERROR,
        status::internal_error(&id),
    )
}

fn timed_out(shared: &Shared, start: Instant, timeout: Duration) -> CallResponse {
    Counters::bump(&shared.counters.timeouts);
    error(
        start,
        status::REQUEST_TIMEOUT,
        status::response_timeout(timeout.as_secs_f64()),
    )
}

async fn run<T: Synapse>(
    shared: Arc<Shared>,
    route: Arc<TypedRoute<T>>,
    caller: Caller,
    timeout: Option<f64>,
    body: Bytes,
    start: Instant,
) -> CallResponse {
    let counters = &shared.counters;
    if let Err(reason) = route.check_verify(&caller) {
        Counters::bump(&counters.unauthorized);
        return error(start, status::UNAUTHORIZED, status::not_verified(&reason));
    }
    if let Err(reason) = route.check_blacklist(&caller) {
        Counters::bump(&counters.blacklisted);
        return error(start, status::FORBIDDEN, status::blacklisted(&reason));
    }
    if shared.check_rate(&caller.hotkey).is_err() {
        return rate_limited(start);
    }
    let message: SynapseMessage<T> = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            Counters::bump(&counters.bad_requests);
            return internal(start, &e.to_string());
        }
    };
    let requested = timeout.filter(|t| *t > 0.0).or(message.timeout);
    let timeout = shared.config.deadline_for(requested);
    let deadline = tokio::time::Instant::from_std(start) + timeout;

    let priority = route.priority_of(&caller, &message.fields);
    let permit = match tokio::time::timeout_at(deadline, shared.scheduler.acquire(priority)).await {
        Ok(Ok(p)) => p,
        Ok(Err(QueueFull)) => {
            Counters::bump(&counters.shed);
            return error(start, status::SERVICE_UNAVAILABLE, "Service Unavailable");
        }
        Err(_) => return timed_out(&shared, start, timeout),
    };

    let SynapseMessage {
        fields, dendrite, ..
    } = message;
    let hotkey = caller.hotkey.clone();
    let uuid = caller.uuid.clone();
    let peer = caller.peer;
    let outcome = match &route.forward {
        Forward::Async(f) => {
            let out = tokio::time::timeout_at(deadline, f(caller, fields)).await;
            drop(permit);
            out.ok()
        }
        Forward::Blocking(f) => {
            let f = f.clone();
            let job = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                f(caller, fields)
            });
            match tokio::time::timeout_at(deadline, job).await {
                Ok(Ok(out)) => Some(out),
                Ok(Err(join)) => Some(Err(HandlerError::new(join.to_string()))),
                Err(_) => None,
            }
        }
        Forward::Stream(_) => {
            drop(permit);
            Counters::bump(&counters.bad_requests);
            return error(
                start,
                status::BAD_REQUEST,
                "Streaming synapses are not served on the native dialect",
            );
        }
    };
    let fields = match outcome {
        None => return timed_out(&shared, start, timeout),
        Some(Err(e)) => {
            Counters::bump(&counters.handler_errors);
            if e.status == status::INTERNAL_SERVER_ERROR {
                return internal(start, &e.detail);
            }
            let text = status::reason(e.status).unwrap_or("Error");
            return error(start, e.status, text);
        }
        Some(Ok(fields)) => fields,
    };

    let advertised = shared.advertised();
    let process_time = start.elapsed().as_secs_f64();
    let reply = SynapseMessage {
        name: Some(T::NAME.to_owned()),
        timeout: Some(timeout.as_secs_f64()),
        total_size: Some(0),
        header_size: Some(0),
        dendrite: TerminalInfo {
            hotkey: Some(hotkey),
            uuid: Some(uuid),
            ip: Some(peer.ip().to_string()),
            port: Some(i64::from(peer.port())),
            version: dendrite.version,
            ..TerminalInfo::default()
        },
        axon: TerminalInfo {
            status_code: Some(i64::from(status::OK)),
            status_message: Some(status::SUCCESS.to_owned()),
            process_time: Some(process_time),
            ip: Some(advertised.ip().to_string()),
            port: Some(i64::from(advertised.port())),
            hotkey: Some(shared.hotkey.clone()),
            ..TerminalInfo::default()
        },
        computed_body_hash: Some(String::new()),
        fields,
    };
    match reply.to_json_vec() {
        Ok(body) => {
            Counters::bump(&counters.ok);
            CallResponse {
                status_code: u32::from(status::OK),
                status_message: status::SUCCESS.to_owned(),
                process_time,
                body: Bytes::from(body),
                tensors: Vec::new(),
                call_id: 0,
            }
        }
        Err(e) => internal(start, &e.to_string()),
    }
}
