//! The Synapse/HTTP dialect (wire-modern): what every Python SDK axon from bittensor 6.x to
//! 10.5 understands.
//!
//! One call is one `POST /{Name}` with `bt_header_*` headers, signed for the target axon's
//! hotkey (§5.2), and a JSON body; the reply is parsed and merged like the SDK client does
//! (§8.2), and client-side failures get the SDK's statuses (§9): 408 when the call's own
//! deadline passes, 503 when the connection is refused or dropped, 422 when the reply does
//! not parse.
//!
//! Fan-outs ([`Dendrite::forward`], [`Dendrite::forward_stream`],
//! [`Dendrite::forward_quorum`]) hash and serialize the synapse once and then cost one
//! signature per axon; every axon has its own deadline, counted from the start of the
//! fan-out. `forward` runs each call as a task of its own, so the signatures and the
//! parsing spread over the runtime's worker threads; the as-completed forms run their calls
//! in the caller's task, where dropping the stream (or reaching the quorum) cancels them.

mod reply;
mod request;
mod stream;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use neuron_protocol::pystr::Unicode;
use neuron_protocol::status::{self, DendriteFailure};
use neuron_protocol::synapse::Synapse;
use tokio::time::Instant;

use crate::axon::{AxonInfo, Target};
use crate::dendrite::Dendrite;
use crate::error::Failure;
use crate::gather::gather;
use crate::response::{Response, axon_process_time};
use crate::timings::Timings;

use request::{Local, Prepared};

/// The synapse of a fan-out, hashed and serialized once (or the reason it could not be).
type Shared<T> = Arc<Result<Prepared<T>, (Failure, Arc<T>)>>;

impl Dendrite {
    /// Calls one axon and waits for its answer or its deadline (`timeout`, or the
    /// configured default when `None`). Never panics on peer input and never outlives the
    /// deadline.
    pub async fn call<T: Synapse>(
        &self,
        axon: &AxonInfo,
        synapse: T,
        timeout: impl Into<Option<Duration>>,
    ) -> Response<T> {
        let start = Instant::now();
        let timeout = self.timeout_or_default(timeout.into());
        let shared = prepare(synapse, self.config().unicode);
        self.run(&shared, axon, timeout, start).await
    }

    /// Calls every target at once and returns one response per target, in input order,
    /// when the last one finished or reached its deadline. A [`Target`] can carry its own
    /// timeout; others use `timeout` (or the configured default).
    ///
    /// Each call runs as a tokio task of its own, so signing, encoding and parsing spread
    /// over the runtime's worker threads; the caller is woken once, when the last call
    /// ended. Dropping the returned future aborts the calls still running.
    pub async fn forward<T, I>(
        &self,
        targets: I,
        synapse: T,
        timeout: impl Into<Option<Duration>>,
    ) -> Vec<Response<T>>
    where
        T: Synapse,
        I: IntoIterator,
        I::Item: Into<Target>,
    {
        let start = Instant::now();
        let timeout = self.timeout_or_default(timeout.into());
        let shared = prepare(synapse, self.config().unicode);
        let targets: Vec<Target> = targets.into_iter().map(Into::into).collect();
        if let [target] = targets.as_slice() {
            // One target: no task to hand the work to.
            let timeout = target.timeout.unwrap_or(timeout);
            return vec![self.run(&shared, &target.axon, timeout, start).await];
        }
        let calls = targets
            .iter()
            .map(|target| {
                let (this, shared, target) = (self.clone(), shared.clone(), target.clone());
                async move {
                    let timeout = target.timeout.unwrap_or(timeout);
                    this.run(&shared, &target.axon, timeout, start).await
                }
            })
            .collect();
        gather(calls)
            .await
            .into_iter()
            .zip(&targets)
            .map(|(response, target)| {
                response.unwrap_or_else(|| {
                    let message = "Request cancelled: the call's task stopped before it ended";
                    cancelled(&shared, target, timeout, start, message.to_owned())
                })
            })
            .collect()
    }

    /// Calls every target at once and yields `(index, response)` as each call finishes
    /// (fastest first); `index` is the target's position in `targets`. The stream ends after
    /// one item per target. Dropping it cancels the calls still running.
    ///
    /// # Notes
    ///
    /// Deadlines count from this call, not from the first poll: poll the stream promptly.
    pub fn forward_stream<T, I>(
        &self,
        targets: I,
        synapse: T,
        timeout: impl Into<Option<Duration>>,
    ) -> impl futures::Stream<Item = (usize, Response<T>)> + Send + 'static
    where
        T: Synapse,
        I: IntoIterator,
        I::Item: Into<Target>,
    {
        let start = Instant::now();
        let timeout = self.timeout_or_default(timeout.into());
        let shared = prepare(synapse, self.config().unicode);
        targets
            .into_iter()
            .enumerate()
            .map(|(index, target)| {
                let target: Target = target.into();
                let shared = shared.clone();
                let this = self.clone();
                async move {
                    let response = this
                        .run(
                            &shared,
                            &target.axon,
                            target.timeout.unwrap_or(timeout),
                            start,
                        )
                        .await;
                    (index, response)
                }
            })
            .collect::<FuturesUnordered<_>>()
    }

    /// Calls every target at once and returns as soon as `quorum` of them answered with
    /// status 200 (or every call ended). Calls still running are cancelled and reported as
    /// 408 with [`Failure::Cancelled`]. One response per target, in input order.
    pub async fn forward_quorum<T, I>(
        &self,
        targets: I,
        synapse: T,
        timeout: impl Into<Option<Duration>>,
        quorum: usize,
    ) -> Vec<Response<T>>
    where
        T: Synapse,
        I: IntoIterator,
        I::Item: Into<Target>,
    {
        let start = Instant::now();
        let timeout = self.timeout_or_default(timeout.into());
        let targets: Vec<Target> = targets.into_iter().map(Into::into).collect();
        let shared = prepare(synapse, self.config().unicode);
        let mut slots: Vec<Option<Response<T>>> = targets.iter().map(|_| None).collect();
        {
            let mut running = targets
                .iter()
                .enumerate()
                .map(|(index, target)| {
                    let shared = shared.clone();
                    async move {
                        let timeout = target.timeout.unwrap_or(timeout);
                        (index, self.run(&shared, &target.axon, timeout, start).await)
                    }
                })
                .collect::<FuturesUnordered<_>>();
            let mut successes = 0;
            while successes < quorum {
                let Some((index, response)) = running.next().await else {
                    break;
                };
                successes += usize::from(response.is_success());
                if let Some(slot) = slots.get_mut(index) {
                    *slot = Some(response);
                }
            }
            // Dropping `running` here cancels the stragglers (their connections are closed).
        }
        slots
            .into_iter()
            .zip(&targets)
            .map(|(slot, target)| {
                slot.unwrap_or_else(|| {
                    let message = format!("Request cancelled: quorum of {quorum} reached");
                    cancelled(&shared, target, timeout, start, message)
                })
            })
            .collect()
    }

    fn timeout_or_default(&self, timeout: Option<Duration>) -> Duration {
        timeout.unwrap_or(self.config().timeout)
    }

    /// One exchange with one axon, bounded by `start + timeout`.
    async fn run<T: Synapse>(
        &self,
        shared: &Shared<T>,
        axon: &AxonInfo,
        timeout: Duration,
        start: Instant,
    ) -> Response<T> {
        let deadline = start + timeout;
        let prepared = match shared.as_ref() {
            Ok(prepared) => prepared,
            Err((failure, _)) => {
                let message = DendriteFailure::ParseFailure.message(&failure.to_string());
                let local = unsent(shared, axon, timeout);
                return failed(local, failure.clone(), message, start, Timings::default());
            }
        };
        let (request, local) = match prepared.request(self, axon, timeout) {
            Ok(built) => built,
            Err(failure) => {
                let message = DendriteFailure::ParseFailure.message(&failure.to_string());
                let local = prepared.unsent(axon, timeout);
                return failed(local, failure, message, start, Timings::default());
            }
        };
        let offset = start.elapsed();
        let timings = Timings {
            prepared: offset,
            ..Timings::default()
        };
        let max = self.config().max_response_bytes;
        let sent =
            tokio::time::timeout_at(deadline, self.http_client().send(axon.addr(), request, max))
                .await;
        let (reply, transport) = match sent {
            Ok(Ok(done)) => done,
            Ok(Err(error)) => {
                let (failure, message) = transport_failure(error, axon, T::NAME);
                return failed(local, failure, message, start, timings);
            }
            Err(_) => return timed_out(local, timeout, start, timings),
        };
        let timings = timings.with_transport(&transport, offset);
        let (head, body) = reply.into_parts();
        match reply::parse(head.status, &head.headers, &body, &local) {
            Ok(mut synapse) => {
                let total = start.elapsed();
                synapse.dendrite.process_time = Some(total.as_secs_f64());
                let timings = Timings {
                    total,
                    axon_process_time: axon_process_time(synapse.axon.process_time),
                    ..timings
                };
                Response {
                    synapse,
                    timings,
                    failure: None,
                }
            }
            Err(detail) => {
                let failure = Failure::Parse(detail.clone());
                let message = DendriteFailure::ParseFailure.message(&detail);
                failed(local, failure, message, start, timings)
            }
        }
    }
}

fn prepare<T: Synapse>(synapse: T, unicode: Unicode) -> Shared<T> {
    let fields = Arc::new(synapse);
    Arc::new(Prepared::new(fields.clone(), unicode).map_err(|failure| (failure, fields)))
}

/// The response of a call abandoned before it ended (408, [`Failure::Cancelled`]).
fn cancelled<T: Synapse>(
    shared: &Shared<T>,
    target: &Target,
    timeout: Duration,
    start: Instant,
    message: String,
) -> Response<T> {
    let timeout = target.timeout.unwrap_or(timeout);
    let local = unsent(shared, &target.axon, timeout);
    failed(
        local,
        Failure::Cancelled,
        message,
        start,
        Timings::default(),
    )
}

fn unsent<T: Synapse>(shared: &Shared<T>, axon: &AxonInfo, timeout: Duration) -> Local<T> {
    match shared.as_ref() {
        Ok(prepared) => prepared.unsent(axon, timeout),
        Err((_, fields)) => request::unsent_local(fields.clone(), axon, timeout),
    }
}

/// The §9 status and message of a transport error.
fn transport_failure(
    error: neuron_transport::client::Error,
    axon: &AxonInfo,
    name: &str,
) -> (Failure, String) {
    use neuron_transport::client::Error as E;
    match error {
        E::Connect(_) | E::ConnectTimeout | E::Handshake(_) => {
            let message = status::service_unavailable(&axon.ip.to_string(), axon.port, name);
            (Failure::Unavailable(error.to_string()), message)
        }
        E::Disconnected(_) | E::Body(_) => {
            let message = DendriteFailure::ServiceDisconnected.message(&error.to_string());
            (Failure::Disconnected(error.to_string()), message)
        }
        E::BodyTooLarge(_) => {
            let message = DendriteFailure::ParseFailure.message(&error.to_string());
            (Failure::Parse(error.to_string()), message)
        }
    }
}

fn timed_out<T: Synapse>(
    local: Local<T>,
    timeout: Duration,
    start: Instant,
    timings: Timings,
) -> Response<T> {
    let message = status::request_timeout(timeout.as_secs_f64());
    failed(local, Failure::Timeout(timeout), message, start, timings)
}

/// A response for a call that got no usable reply.
fn failed<T: Synapse>(
    local: Local<T>,
    failure: Failure,
    message: String,
    start: Instant,
    timings: Timings,
) -> Response<T> {
    let mut synapse = local.into_message();
    synapse.dendrite.status_code = Some(failure.status_code().into());
    synapse.dendrite.status_message = Some(message);
    Response {
        synapse,
        timings: Timings {
            total: start.elapsed(),
            ..timings
        },
        failure: Some(failure),
    }
}
