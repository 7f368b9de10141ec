//! `Pipe`: many calls of one session on one long-lived bidirectional stream, answered as
//! they finish (each answer carries its request's `call_id`).
//!
//! The session is checked once, when the pipe opens (the `x-neuron-session` metadata, or the
//! first message's `session_id`); every call on the pipe then runs the same per-call
//! pipeline as a unary `Call`, attributed to that session's hotkey. One task per pipe reads
//! the requests, starts each call as its own task (so the calls of one pipe use every core)
//! and queues the answers:
//!
//! * at most [`Config::max_pipe_calls`](super::Config::max_pipe_calls) calls are read and
//!   not yet sent back; while full the task stops reading, so HTTP/2 flow control stops the
//!   client;
//! * at most [`Config::pipe_reply_buffer`](super::Config::pipe_reply_buffer) answers wait
//!   for the connection;
//! * when the session expires the pipe ends with `UNAUTHENTICATED` (calls still running are
//!   dropped); when the client closes its side, the running calls finish and are answered,
//!   then the pipe ends with `OK`; the same when the service closes its pipes
//!   ([`Service::close_pipes`](super::Service::close_pipes)).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, Stream, StreamExt};
use neuron_protocol::status;
use prost::Message as _;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use super::handshake::NONCE_LEN;
use super::{
    CallRequest, CallResponse, Inner, connection_auth, dispatch, metadata_session, peer_of,
    pipeline,
};
use crate::caller::Caller;
use crate::metrics::Counters;

/// The answers of one pipe, in the order the calls finish.
#[derive(Debug)]
pub struct Replies(mpsc::Receiver<Result<CallResponse, Status>>);

impl Stream for Replies {
    type Item = Result<CallResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// Checks the pipe's session and starts its task; `UNAUTHENTICATED` without a live session.
pub(crate) async fn open(
    inner: Arc<Inner>,
    request: Request<Streaming<CallRequest>>,
) -> Result<Response<Replies>, Status> {
    if *inner.shared.closing.borrow() {
        return Err(Status::unavailable("the axon is closing its pipes"));
    }
    let peer = peer_of(&request);
    let auth = connection_auth(&request, &inner.config);
    let from_metadata = metadata_session(&request);
    let mut inbound = request.into_inner();
    let (pipe_id, session, first) = match from_metadata {
        Some(id) => {
            let (id, session) =
                inner.check_session(Some(id), &bytes::Bytes::new(), Instant::now())?;
            (id, session, None)
        }
        None => {
            // No metadata: the first message names the session. A client that sends none
            // within the authentication deadline is refused.
            let first =
                match tokio::time::timeout(inner.config.connection_auth_deadline, inbound.next())
                    .await
                {
                    Ok(Some(Ok(call))) => call,
                    Ok(Some(Err(status))) => return Err(status),
                    Ok(None) | Err(_) => {
                        Counters::bump(&inner.shared.counters.unauthorized);
                        return Err(Status::unauthenticated("no session: handshake first"));
                    }
                };
            let (id, session) = inner.check_session(None, &first.session_id, Instant::now())?;
            (id, session, Some(first))
        }
    };
    if let Some(auth) = auth {
        auth.authenticate();
    }
    let caller = session.caller(peer);
    let (tx, rx) = mpsc::channel(inner.config.pipe_reply_buffer.max(1));
    let pipe = Pipe {
        inner,
        caller,
        id: pipe_id,
    };
    tokio::spawn(pipe.run(inbound, first, session.expires, tx));
    Ok(Response::new(Replies(rx)))
}

/// One open pipe: the session it was opened with and the caller its calls run as.
struct Pipe {
    inner: Arc<Inner>,
    caller: Caller,
    id: [u8; NONCE_LEN],
}

impl Pipe {
    /// One call of the pipe, ready to be driven by the pipe task.
    fn serve(&self, call: CallRequest) -> impl Future<Output = CallResponse> + Send + 'static {
        let start = Instant::now();
        let inner = self.inner.clone();
        let caller = self.caller.clone();
        // A message may repeat the pipe's session id, but may not name another one.
        let foreign = !call.session_id.is_empty() && call.session_id.as_ref() != self.id;
        async move {
            if foreign {
                Counters::bump(&inner.shared.counters.unauthorized);
                let mut reply = pipeline::error(
                    start,
                    status::UNAUTHORIZED,
                    "session_id does not match the pipe's session",
                );
                reply.call_id = call.call_id;
                return reply;
            }
            let call_id = call.call_id;
            let reply = dispatch(inner.clone(), caller, call, start).await;
            // An answer over the limit would break the whole stream: it fails alone.
            if reply.encoded_len() > inner.config.max_message_bytes {
                let mut reply = pipeline::internal(start, "answer over the message size limit");
                reply.call_id = call_id;
                return reply;
            }
            reply
        }
    }

    /// [`serve`](Self::serve) as its own task, so that the calls of one pipe run on every
    /// core (an async handler that computes would otherwise hold the pipe's task). The task
    /// is aborted when the returned future is dropped (the pipe ended), as an inline call
    /// would be.
    fn spawn(&self, call: CallRequest) -> impl Future<Output = CallResponse> + Send + 'static {
        let start = Instant::now();
        let call_id = call.call_id;
        let task = AbortOnDrop(tokio::spawn(self.serve(call)));
        async move {
            let mut task = task;
            match (&mut task.0).await {
                Ok(reply) => reply,
                Err(_) => {
                    let mut reply = pipeline::internal(start, "the call's task failed");
                    reply.call_id = call_id;
                    reply
                }
            }
        }
    }

    async fn run(
        self,
        mut inbound: Streaming<CallRequest>,
        first: Option<CallRequest>,
        expires: Instant,
        tx: mpsc::Sender<Result<CallResponse, Status>>,
    ) {
        let limit = self.inner.config.max_pipe_calls.max(1);
        let mut running = FuturesUnordered::new();
        let mut ready: VecDeque<CallResponse> = VecDeque::new();
        let mut reading = true;
        let mut closing = self.inner.shared.closing.subscribe();
        if let Some(call) = first {
            running.push(self.spawn(call));
        }
        let now = Instant::now();
        let left = expires.saturating_duration_since(now);
        // A far-future expiry is clamped so the timer cannot overflow.
        let expiry = tokio::time::sleep(left.min(Duration::from_secs(365 * 24 * 3600)));
        tokio::pin!(expiry);
        while reading || !running.is_empty() || !ready.is_empty() {
            tokio::select! {
                biased;
                () = &mut expiry => {
                    // The pipe lives no longer than its session. If the answer queue is
                    // full the status is lost and the stream just ends; either way the
                    // client sees the pipe close.
                    let _ = tx.try_send(Err(Status::unauthenticated("session expired")));
                    return;
                }
                // Closing: take no more calls, answer the running ones, then end.
                _ = closing.wait_for(|closed| *closed), if reading => reading = false,
                permit = tx.reserve(), if !ready.is_empty() => {
                    let Ok(permit) = permit else {
                        return; // The client is gone.
                    };
                    if let Some(reply) = ready.pop_front() {
                        permit.send(Ok(reply));
                    }
                }
                Some(reply) = running.next(), if !running.is_empty() => ready.push_back(reply),
                message = inbound.next(), if reading && running.len() + ready.len() < limit => {
                    match message {
                        Some(Ok(call)) => running.push(self.spawn(call)),
                        // The client closed its side: answer what runs, then end.
                        None => reading = false,
                        // A broken stream: nothing more can be answered.
                        Some(Err(_)) => return,
                    }
                }
                () = tx.closed() => return,
            }
        }
    }
}

/// A spawned call, aborted if nobody waits for it any more.
struct AbortOnDrop(tokio::task::JoinHandle<CallResponse>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
