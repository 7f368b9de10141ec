//! Streaming synapses (wire-modern §12): the body arrives as chunks, the final synapse is
//! rebuilt from the reply headers.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use neuron_protocol::status::DendriteFailure;
use neuron_protocol::synapse::Synapse;
use tokio::time::Instant;

use super::request::Local;
use super::{Shared, failed, prepare, reply, timed_out, transport_failure, unsent};
use crate::axon::AxonInfo;
use crate::dendrite::Dendrite;
use crate::error::Failure;
use crate::response::{Response, StreamEvent, axon_process_time};
use crate::timings::Timings;

/// Where a streaming call is.
enum State<T> {
    /// Not sent yet.
    Start(Dendrite, Shared<T>, AxonInfo),
    /// Reading chunks.
    Body(Box<Reading<T>>),
    /// `Done` was yielded.
    Finished,
}

struct Reading<T> {
    head: http::response::Parts,
    body: Incoming,
    local: Local<T>,
    timings: Timings,
    received: usize,
    max: usize,
}

struct Call {
    start: Instant,
    deadline: Instant,
    timeout: Duration,
}

impl Dendrite {
    /// Calls a streaming synapse: yields [`StreamEvent::Chunk`] for every piece of the body
    /// as it arrives, then one [`StreamEvent::Done`] with the synapse rebuilt from the reply
    /// headers (§12), or with the failure (the deadline covers the whole stream; chunks
    /// already yielded stay valid).
    ///
    /// A reply that is not HTTP 200 is read whole and parsed like an ordinary reply (the
    /// axon's errors are JSON). Streamed bytes count against the response size limit.
    pub fn call_stream<T: Synapse>(
        &self,
        axon: &AxonInfo,
        synapse: T,
        timeout: impl Into<Option<Duration>>,
    ) -> impl futures::Stream<Item = StreamEvent<T>> + Send + 'static {
        let start = Instant::now();
        let timeout = timeout.into().unwrap_or(self.config().timeout);
        let call = Call {
            start,
            deadline: start + timeout,
            timeout,
        };
        let state = State::Start(
            self.clone(),
            prepare(synapse, self.config().unicode),
            axon.clone(),
        );
        futures::stream::unfold((state, call), |(state, call)| async move {
            let (event, next) = step(state, &call).await?;
            Some((event, (next, call)))
        })
    }
}

async fn step<T: Synapse>(state: State<T>, call: &Call) -> Option<(StreamEvent<T>, State<T>)> {
    match state {
        State::Finished => None,
        State::Start(dendrite, shared, axon) => {
            Some(match open(&dendrite, &shared, &axon, call).await {
                Ok(reading) => match next_chunk(reading, call).await {
                    Ok((chunk, reading)) => (StreamEvent::Chunk(chunk), State::Body(reading)),
                    Err(done) => (done, State::Finished),
                },
                Err(response) => (done(response), State::Finished),
            })
        }
        State::Body(reading) => Some(match next_chunk(reading, call).await {
            Ok((chunk, reading)) => (StreamEvent::Chunk(chunk), State::Body(reading)),
            Err(done) => (done, State::Finished),
        }),
    }
}

fn done<T>(response: Response<T>) -> StreamEvent<T> {
    StreamEvent::Done(Box::new(response))
}

/// Sends the request; returns the open body, or the final response when there is nothing
/// to stream (failure, or a non-200 reply).
async fn open<T: Synapse>(
    dendrite: &Dendrite,
    shared: &Shared<T>,
    axon: &AxonInfo,
    call: &Call,
) -> Result<Box<Reading<T>>, Response<T>> {
    let prepared = match shared.as_ref() {
        Ok(prepared) => prepared,
        Err((failure, _)) => {
            let message = DendriteFailure::ParseFailure.message(&failure.to_string());
            let local = unsent(shared, axon, call.timeout);
            return Err(failed(
                local,
                failure.clone(),
                message,
                call.start,
                Timings::default(),
            ));
        }
    };
    let (request, local) = match prepared.request(dendrite, axon, call.timeout) {
        Ok(built) => built,
        Err(failure) => {
            let message = DendriteFailure::ParseFailure.message(&failure.to_string());
            let local = prepared.unsent(axon, call.timeout);
            return Err(failed(
                local,
                failure,
                message,
                call.start,
                Timings::default(),
            ));
        }
    };
    let offset = call.start.elapsed();
    let timings = Timings {
        prepared: offset,
        ..Timings::default()
    };
    let opened = tokio::time::timeout_at(
        call.deadline,
        dendrite.http_client().send_streaming(axon.addr(), request),
    )
    .await;
    let streaming = match opened {
        Ok(Ok(streaming)) => streaming,
        Ok(Err(error)) => {
            let (failure, message) = transport_failure(error, axon, T::NAME);
            return Err(failed(local, failure, message, call.start, timings));
        }
        Err(_) => return Err(timed_out(local, call.timeout, call.start, timings)),
    };
    let timings = timings.with_transport(&streaming.timings, offset);
    let reading = Box::new(Reading {
        head: streaming.head,
        body: streaming.body,
        local,
        timings,
        received: 0,
        max: dendrite.config().max_response_bytes,
    });
    if reading.head.status != http::StatusCode::OK {
        return Err(read_whole(reading, call).await);
    }
    Ok(reading)
}

/// The next data chunk, or the final event.
async fn next_chunk<T: Synapse>(
    mut reading: Box<Reading<T>>,
    call: &Call,
) -> Result<(Bytes, Box<Reading<T>>), StreamEvent<T>> {
    loop {
        let frame = match tokio::time::timeout_at(call.deadline, reading.body.frame()).await {
            Err(_) => {
                let Reading { local, timings, .. } = *reading;
                return Err(done(timed_out(local, call.timeout, call.start, timings)));
            }
            Ok(None) => return Err(done(finish(*reading, call))),
            Ok(Some(Err(error))) => {
                let Reading { local, timings, .. } = *reading;
                let detail = error.to_string();
                let message = DendriteFailure::ServiceDisconnected.message(&detail);
                return Err(done(failed(
                    local,
                    Failure::Disconnected(detail),
                    message,
                    call.start,
                    timings,
                )));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        // Trailers carry nothing the SDK uses; skip them.
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        reading.received = reading.received.saturating_add(data.len());
        if reading.received > reading.max {
            let Reading {
                local,
                timings,
                max,
                ..
            } = *reading;
            let detail = format!("response body over {max} bytes");
            let message = DendriteFailure::ParseFailure.message(&detail);
            return Err(done(failed(
                local,
                Failure::Parse(detail),
                message,
                call.start,
                timings,
            )));
        }
        return Ok((data, reading));
    }
}

/// The final synapse of a complete stream.
fn finish<T: Synapse>(reading: Reading<T>, call: &Call) -> Response<T> {
    let Reading {
        head,
        local,
        timings,
        ..
    } = reading;
    let timings = Timings {
        done: Some(call.start.elapsed()),
        ..timings
    };
    match reply::from_stream_headers(&head.headers, &local) {
        Ok(mut synapse) => {
            let total = call.start.elapsed();
            synapse.dendrite.process_time = Some(total.as_secs_f64());
            Response {
                timings: Timings {
                    total,
                    axon_process_time: axon_process_time(synapse.axon.process_time),
                    ..timings
                },
                synapse,
                failure: None,
            }
        }
        Err(detail) => {
            let message = DendriteFailure::ParseFailure.message(&detail);
            failed(local, Failure::Parse(detail), message, call.start, timings)
        }
    }
}

/// A non-streamed reply (an error from the axon): read it whole and parse it.
async fn read_whole<T: Synapse>(reading: Box<Reading<T>>, call: &Call) -> Response<T> {
    let Reading {
        head,
        body,
        local,
        timings,
        max,
        ..
    } = *reading;
    let collected = tokio::time::timeout_at(
        call.deadline,
        http_body_util::Limited::new(body, max).collect(),
    )
    .await;
    let bytes = match collected {
        Err(_) => return timed_out(local, call.timeout, call.start, timings),
        Ok(Err(error)) => {
            let detail = error.to_string();
            let message = DendriteFailure::ServiceDisconnected.message(&detail);
            return failed(
                local,
                Failure::Disconnected(detail),
                message,
                call.start,
                timings,
            );
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let timings = Timings {
        done: Some(call.start.elapsed()),
        ..timings
    };
    match reply::parse(head.status, &head.headers, &bytes, &local) {
        Ok(mut synapse) => {
            let total = call.start.elapsed();
            synapse.dendrite.process_time = Some(total.as_secs_f64());
            Response {
                timings: Timings {
                    total,
                    axon_process_time: axon_process_time(synapse.axon.process_time),
                    ..timings
                },
                synapse,
                failure: None,
            }
        }
        Err(detail) => {
            let message = DendriteFailure::ParseFailure.message(&detail);
            failed(local, Failure::Parse(detail), message, call.start, timings)
        }
    }
}
