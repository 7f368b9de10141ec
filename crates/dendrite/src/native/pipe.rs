//! The client side of `Pipe`: one long-lived bidirectional stream per session carrying
//! many calls, each tagged with a `call_id` and answered in any order.
//!
//! A [`Pipe`] is a bounded queue of outgoing requests (the request stream), a bounded table
//! of calls awaiting their answer (`call_id` → one-shot sender) and one reader task that
//! hands each answer to its call. A call that gives up (its deadline) removes its own
//! entry; an answer without an entry is dropped. When the stream ends or breaks, every
//! waiting call gets the same error and the pipe refuses new calls, so the next call opens
//! a new one.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use prost::Message as _;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tonic::Status;
use tonic::codec::Streaming;
use tonic::transport::Channel;

use super::proto::native_client::NativeClient;
use super::proto::{CallRequest, CallResponse};
use super::{SESSION_METADATA, hex};

type Answer = Result<CallResponse, Status>;

/// The requests of one pipe, as tonic sends them.
struct Outgoing(mpsc::Receiver<CallRequest>);

impl Stream for Outgoing {
    type Item = CallRequest;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// Calls awaiting their answer.
#[derive(Default)]
struct Waiting {
    next_id: u64,
    calls: HashMap<u64, oneshot::Sender<Answer>>,
    /// Set once the stream ended: the error every later call gets.
    ended: Option<Status>,
}

struct Table {
    waiting: Mutex<Waiting>,
    /// One permit per waiting call: bounds the table.
    slots: Semaphore,
}

impl Table {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        // No critical section can panic half-way, so a poisoned table is consistent.
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Removes a call's entry when the call ends (answered, failed or dropped at its deadline).
struct Entry<'a> {
    table: &'a Table,
    id: u64,
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        self.table.lock().calls.remove(&self.id);
    }
}

/// One open pipe of one session.
pub(super) struct Pipe {
    /// The session the pipe was opened with.
    pub(super) session: Bytes,
    requests: mpsc::Sender<CallRequest>,
    table: Arc<Table>,
    max_message_bytes: usize,
}

impl Pipe {
    /// Opens a pipe for `session` (sent as `x-neuron-session` metadata) and starts its
    /// reader. Fails with the axon's status: `UNIMPLEMENTED` from an axon without pipes,
    /// `UNAUTHENTICATED` for a session it does not know.
    pub(super) async fn open(
        client: &mut NativeClient<Channel>,
        session: Bytes,
        max_waiting: usize,
        max_message_bytes: usize,
    ) -> Result<Self, Status> {
        let max_waiting = max_waiting.max(1);
        let (requests, outgoing) = mpsc::channel(max_waiting.min(256));
        let mut request = tonic::Request::new(Outgoing(outgoing));
        let value = hex(&session)
            .parse()
            .map_err(|_| Status::internal("session id is not valid metadata"))?;
        request.metadata_mut().insert(SESSION_METADATA, value);
        let replies = client.pipe(request).await?.into_inner();
        let table = Arc::new(Table {
            waiting: Mutex::new(Waiting::default()),
            slots: Semaphore::new(max_waiting),
        });
        tokio::spawn(read(replies, table.clone()));
        Ok(Self {
            session,
            requests,
            table,
            max_message_bytes,
        })
    }

    /// False once the stream ended or broke; such a pipe is replaced.
    pub(super) fn is_open(&self) -> bool {
        !self.requests.is_closed() && self.table.lock().ended.is_none()
    }

    /// Sends one call and waits for its answer. Errors are gRPC statuses, as a unary call's:
    /// `RESOURCE_EXHAUSTED` for a message over the size limit (the pipe stays open),
    /// `UNAVAILABLE` when the pipe closed or broke, the axon's status when it ended the
    /// pipe with one (`UNAUTHENTICATED` once the session expired).
    pub(super) async fn call(&self, mut request: CallRequest) -> Answer {
        // The session travels once, in the pipe's metadata.
        request.session_id = Bytes::new();
        if request.encoded_len() > self.max_message_bytes {
            return Err(Status::resource_exhausted(format!(
                "message of {} bytes over the limit of {}",
                request.encoded_len(),
                self.max_message_bytes
            )));
        }
        let _slot = self
            .table
            .slots
            .acquire()
            .await
            .map_err(|_| Status::unavailable("pipe closed"))?;
        let (answer, answered) = oneshot::channel();
        let id = {
            let mut waiting = self.table.lock();
            if let Some(end) = &waiting.ended {
                return Err(end.clone());
            }
            waiting.next_id = waiting.next_id.wrapping_add(1).max(1);
            let id = waiting.next_id;
            waiting.calls.insert(id, answer);
            id
        };
        let _entry = Entry {
            table: &self.table,
            id,
        };
        request.call_id = id;
        self.requests
            .send(request)
            .await
            .map_err(|_| Status::unavailable("pipe closed"))?;
        answered
            .await
            .unwrap_or_else(|_| Err(Status::unavailable("pipe closed")))
    }
}

/// Hands each answer to its call; when the stream ends, fails every waiting call.
async fn read(mut replies: Streaming<CallResponse>, table: Arc<Table>) {
    let end = loop {
        match replies.message().await {
            Ok(Some(reply)) => {
                let waiting = table.lock().calls.remove(&reply.call_id);
                if let Some(call) = waiting {
                    let _ = call.send(Ok(reply));
                }
            }
            Ok(None) => break Status::unavailable("the axon closed the pipe"),
            // The axon's refusal of the session is kept so the caller handshakes again;
            // anything else is a broken connection.
            Err(status) if status.code() == tonic::Code::Unauthenticated => break status,
            Err(status) => break Status::unavailable(format!("pipe broken: {}", status.message())),
        }
    };
    let waiting = {
        let mut waiting = table.lock();
        waiting.ended = Some(end.clone());
        std::mem::take(&mut waiting.calls)
    };
    for (_, call) in waiting {
        let _ = call.send(Err(end.clone()));
    }
    table.slots.close();
}
