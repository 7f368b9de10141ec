//! The native dialect, client side (`neuron.native.v1.Native`; spec in `docs/PROTOCOL.md`,
//! "Native dialect").
//!
//! [`NativeDendrite`] wraps a [`Dendrite`] and keeps, per axon, one HTTP/2 channel (every call
//! to that axon is multiplexed on it) and one session from a mutual sr25519 handshake. The
//! table is bounded ([`Config::max_axons`]); the least recently used axon is dropped first.
//! [`NativeDendrite::call`] picks the dialect: native when [`AxonInfo::protocols`] lists
//! `"native"`, the HTTP dialect otherwise. [`NativeDendrite::call_tensors`] calls an axon's
//! tensor route, sending and receiving tensors as raw frames (no JSON, no base64).
//!
//! Calls to an axon with a session go, by default ([`Config::pipeline`]), over one `Pipe`
//! per session: a long-lived bidirectional stream on that channel carrying many calls, each
//! tagged with a `call_id` and answered in any order. An axon that answers `Pipe` with
//! `UNIMPLEMENTED` is called with unary `Call`s for the rest of that session.
//!
//! The per-call path takes no async lock: the live session is read under a short
//! `std::sync::Mutex`; only a (re)handshake serializes the calls that need it.

pub use neuron_transport::native_grpc as proto;

mod pipe;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use neuron_protocol::synapse::{Synapse, SynapseMessage};
use neuron_tensor::{Limits, WireTensor, frame};
use neuron_wallet::{PublicKey, Signature};
use tonic::transport::Channel;

use crate::axon::AxonInfo;
use crate::dendrite::Dendrite;
use crate::error::Failure;
use crate::response::{Response, axon_process_time};
use crate::timings::Timings;
use proto::native_client::NativeClient;
use proto::{CallRequest, CallResponse, HandshakeRequest, HandshakeResponse, Tensor};

/// The protocol name an axon lists in [`AxonInfo::protocols`] to be called natively.
pub const PROTOCOL: &str = "native";

/// The metadata key that carries the session id (lowercase hex) on a pipe.
pub const SESSION_METADATA: &str = "x-neuron-session";

/// Settings of the native client.
#[derive(Clone, Debug)]
pub struct Config {
    /// Most axons with a kept channel and session.
    pub max_axons: usize,
    /// Largest encoded message sent or accepted, bytes.
    pub max_message_bytes: usize,
    /// Sessions are renewed this long before the axon's announced expiry.
    pub renew_margin: Duration,
    /// Send calls over one pipelined stream per session (`Pipe`) instead of one unary
    /// `Call` each.
    pub pipeline: bool,
    /// Most calls awaiting their answer on one pipe; further calls wait for a slot.
    pub max_pipe_calls: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_axons: 1024,
            max_message_bytes: 16 * 1024 * 1024,
            renew_margin: Duration::from_secs(30),
            pipeline: true,
            max_pipe_calls: 1024,
        }
    }
}

/// Why a handshake failed, on the client side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The axon refused or could not be reached.
    #[error("handshake refused: {0}")]
    Refused(String),
    /// The axon's answer did not authenticate it.
    #[error("axon not authenticated: {0}")]
    BadAxon(&'static str),
}

/// The client message of the handshake (see `docs/PROTOCOL.md`).
pub fn hello_message(
    client_hotkey: &str,
    axon_hotkey: &str,
    timestamp_ns: u64,
    client_nonce: &[u8],
    client_uuid: &str,
) -> String {
    format!(
        "neuron-native-v1/hello.{client_hotkey}.{axon_hotkey}.{timestamp_ns}.{}.{client_uuid}",
        hex(client_nonce)
    )
}

/// The axon message of the handshake (see `docs/PROTOCOL.md`).
pub fn welcome_message(
    axon_hotkey: &str,
    client_hotkey: &str,
    client_nonce: &[u8],
    axon_nonce: &[u8],
    session_id: &[u8],
) -> String {
    format!(
        "neuron-native-v1/welcome.{axon_hotkey}.{client_hotkey}.{}.{}.{}",
        hex(client_nonce),
        hex(axon_nonce),
        hex(session_id)
    )
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[derive(Clone)]
struct Session {
    id: Bytes,
    renew_at: Instant,
}

/// The pipe of one axon's session, if any.
#[derive(Default)]
enum PipeState {
    #[default]
    None,
    Open(Arc<pipe::Pipe>),
    /// The axon answered `Pipe` with `UNIMPLEMENTED` for this session id.
    Unsupported(Bytes),
}

/// The session of one axon: read by every call, written by the handshake.
#[derive(Default)]
struct Slot {
    current: Mutex<Option<Session>>,
    /// Held while handshaking, so concurrent calls wait for one handshake.
    renewing: tokio::sync::Mutex<()>,
    pipe: Mutex<PipeState>,
    /// Held while opening a pipe, so concurrent calls wait for one.
    opening: tokio::sync::Mutex<()>,
}

impl Slot {
    fn live(&self) -> Option<Session> {
        let guard = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard
            .as_ref()
            .filter(|s| s.renew_at > Instant::now())
            .cloned()
    }

    fn set(&self, session: Option<Session>) {
        *self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = session;
    }

    /// The usable pipe of `session`: `Some(Some(pipe))` when open, `Some(None)` when the
    /// axon has no pipes, `None` when one must be opened.
    fn pipe_of(&self, session: &Bytes) -> Option<Option<Arc<pipe::Pipe>>> {
        let guard = self
            .pipe
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*guard {
            PipeState::Open(p) if p.session == *session && p.is_open() => Some(Some(p.clone())),
            PipeState::Unsupported(id) if id == session => Some(None),
            _ => None,
        }
    }

    fn has_open_pipe(&self) -> bool {
        matches!(
            &*self.pipe.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
            PipeState::Open(p) if p.is_open()
        )
    }

    fn set_pipe(&self, state: PipeState) {
        *self
            .pipe
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = state;
    }

    /// Forgets `id` unless a newer session already replaced it.
    fn drop_session(&self, id: &Bytes) {
        let mut guard = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.as_ref().is_some_and(|s| s.id == *id) {
            *guard = None;
        }
    }
}

struct Entry {
    hotkey: String,
    client: NativeClient<Channel>,
    session: Arc<Slot>,
    last_used: Instant,
}

/// The answer of a tensor route ([`NativeDendrite::call_tensors`]).
#[derive(Debug, Clone)]
pub struct TensorResponse {
    /// HTTP-style status: the axon's, or the local failure's (408, 503, 422).
    pub status_code: u16,
    /// The axon's status text, or the local failure.
    pub status_message: String,
    /// The axon's processing time, seconds (0 when there was no answer).
    pub process_time: f64,
    /// The route's body bytes (empty unless 200).
    pub body: Bytes,
    /// The route's tensors; their data points into the received message.
    pub tensors: Vec<WireTensor>,
    /// Per-phase timings.
    pub timings: Timings,
    /// Why the call failed locally, if it did.
    pub failure: Option<Failure>,
}

impl TensorResponse {
    /// True for status 200.
    pub fn is_success(&self) -> bool {
        self.status_code == 200 && self.failure.is_none()
    }

    fn failed(failure: Failure, timings: Timings) -> Self {
        Self {
            status_code: failure.status_code(),
            status_message: failure.to_string(),
            process_time: 0.0,
            body: Bytes::new(),
            tensors: Vec::new(),
            timings,
            failure: Some(failure),
        }
    }
}

/// A [`Dendrite`] that also speaks the native dialect; see the [module docs](self).
#[derive(Clone)]
pub struct NativeDendrite {
    dendrite: Dendrite,
    config: Config,
    /// Entries by address, then hotkey (looked up without allocating a key).
    pool: Arc<Mutex<HashMap<SocketAddr, Vec<Entry>>>>,
}

impl std::fmt::Debug for NativeDendrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeDendrite")
            .field("hotkey", &self.dendrite.hotkey())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl NativeDendrite {
    /// Wraps `dendrite` (its key signs the handshakes; its HTTP client serves the HTTP
    /// dialect).
    pub fn new(dendrite: Dendrite, config: Config) -> Self {
        Self {
            dendrite,
            config,
            pool: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The wrapped dendrite.
    pub fn dendrite(&self) -> &Dendrite {
        &self.dendrite
    }

    /// Axons with a kept channel.
    pub fn connections(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    /// Open pipes (at most one per kept axon).
    pub fn pipes(&self) -> usize {
        self.lock()
            .values()
            .flatten()
            .filter(|e| e.session.has_open_pipe())
            .count()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SocketAddr, Vec<Entry>>> {
        // No critical section can panic half-way, so a poisoned map is consistent.
        self.pool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Calls `axon` natively when it lists `"native"` in its protocols, over HTTP otherwise.
    pub async fn call<T: Synapse>(
        &self,
        axon: &AxonInfo,
        synapse: T,
        timeout: impl Into<Option<Duration>>,
    ) -> Response<T> {
        let native = axon
            .protocols
            .as_ref()
            .is_some_and(|p| p.iter().any(|s| s == PROTOCOL));
        if native {
            self.call_native(axon, synapse, timeout).await
        } else {
            self.dendrite.call(axon, synapse, timeout).await
        }
    }

    /// Calls `axon` over the native dialect (handshaking first if there is no live
    /// session), within `timeout` (or the dendrite's default).
    pub async fn call_native<T: Synapse>(
        &self,
        axon: &AxonInfo,
        synapse: T,
        timeout: impl Into<Option<Duration>>,
    ) -> Response<T> {
        let start = Instant::now();
        let timeout = timeout.into().unwrap_or(self.dendrite.config().timeout);
        let mut message = SynapseMessage::new(synapse);
        message.timeout = Some(timeout.as_secs_f64());
        message.dendrite.hotkey = Some(self.dendrite.hotkey().to_owned());
        message.dendrite.uuid = Some(self.dendrite.uuid().to_owned());
        message.dendrite.version = Some(i64::from(self.dendrite.config().version));
        message.axon.hotkey = Some(axon.hotkey.clone());
        let body = match message.to_json_vec() {
            Ok(b) => Bytes::from(b),
            Err(e) => return failed(message, Failure::Request(e.to_string()), start),
        };
        let prepared = start.elapsed();
        let outcome = tokio::time::timeout(
            timeout,
            self.exchange(axon, T::NAME, body, Vec::new(), timeout, start),
        )
        .await;
        let (result, mut timings) = match outcome {
            Ok((Ok(reply), timings)) => (decode_reply(&message, reply), timings),
            Ok((Err(failure), timings)) => (Err(failure), timings),
            Err(_) => (Err(Failure::Timeout(timeout)), Timings::default()),
        };
        timings.prepared = prepared;
        timings.total = start.elapsed();
        match result {
            Ok(mut reply) => {
                timings.axon_process_time = axon_process_time(reply.axon.process_time);
                reply.dendrite.status_code = reply.axon.status_code;
                reply.dendrite.status_message = reply.axon.status_message.clone();
                Response {
                    synapse: reply,
                    timings,
                    failure: None,
                }
            }
            Err(failure) => {
                let mut r = failed(message, failure, start);
                r.timings = Timings {
                    total: r.timings.total,
                    ..timings
                };
                r
            }
        }
    }

    /// Calls the tensor route `route` of `axon` over the native dialect: `body` and
    /// `tensors` go as they are (each tensor as a raw frame, its data not copied before the
    /// gRPC encoder), and the reply's tensors come back as slices of the received message.
    /// Never panics on peer input and ends by `timeout` (or the dendrite's default).
    pub async fn call_tensors(
        &self,
        axon: &AxonInfo,
        route: &str,
        body: Bytes,
        tensors: Vec<WireTensor>,
        timeout: impl Into<Option<Duration>>,
    ) -> TensorResponse {
        let start = Instant::now();
        let timeout = timeout.into().unwrap_or(self.dendrite.config().timeout);
        let frames: Result<Vec<Tensor>, _> = tensors
            .into_iter()
            .map(|t| {
                frame::encode_parts(t.dtype, &t.shape, t.data)
                    .map(|(header, data)| Tensor { header, data })
            })
            .collect();
        let frames = match frames {
            Ok(f) => f,
            Err(e) => {
                return TensorResponse::failed(Failure::Request(e.to_string()), Timings::default());
            }
        };
        let prepared = start.elapsed();
        let outcome = tokio::time::timeout(
            timeout,
            self.exchange(axon, route, body, frames, timeout, start),
        )
        .await;
        let (result, mut timings) = match outcome {
            Ok(r) => r,
            Err(_) => (Err(Failure::Timeout(timeout)), Timings::default()),
        };
        timings.prepared = prepared;
        timings.total = start.elapsed();
        let reply = match result {
            Ok(reply) => reply,
            Err(failure) => return TensorResponse::failed(failure, timings),
        };
        timings.axon_process_time = axon_process_time(Some(reply.process_time));
        let limits = Limits::default();
        let decoded: Result<Vec<WireTensor>, _> = reply
            .tensors
            .into_iter()
            .map(|t| frame::decode_parts(&t.header, t.data, &limits))
            .collect();
        match decoded {
            Ok(tensors) => TensorResponse {
                status_code: u16::try_from(reply.status_code).unwrap_or(500),
                status_message: reply.status_message,
                process_time: reply.process_time,
                body: reply.body,
                tensors,
                timings,
                failure: None,
            },
            Err(e) => TensorResponse::failed(Failure::Parse(e.to_string()), timings),
        }
    }

    /// Handshake if needed, then the call; one retry with a fresh session when the axon
    /// no longer knows ours. Timings count from `start`, the start of the whole call.
    async fn exchange(
        &self,
        axon: &AxonInfo,
        route: &str,
        body: Bytes,
        tensors: Vec<Tensor>,
        timeout: Duration,
        start: Instant,
    ) -> (Result<CallResponse, Failure>, Timings) {
        let mut timings = Timings::default();
        let (mut client, slot) = match self.entry(axon) {
            Ok(e) => e,
            Err(f) => return (Err(f), timings),
        };
        timings.queued = Some(start.elapsed());
        for attempt in 0..2 {
            let session = match self.session(&mut client, &slot, axon).await {
                Ok(s) => s,
                Err(e) => return (Err(Failure::Unavailable(e.to_string())), timings),
            };
            timings.connect = Some(start.elapsed());
            let pipe = if self.config.pipeline {
                match self.pipe(&mut client, &slot, &session).await {
                    Ok(p) => p,
                    Err(status)
                        if status.code() == tonic::Code::Unauthenticated && attempt == 0 =>
                    {
                        slot.drop_session(&session.id);
                        continue;
                    }
                    Err(status) => return (Err(status_failure(&status, timeout)), timings),
                }
            } else {
                None
            };
            // No `grpc-timeout` header: the whole call is already bounded by one timer, and
            // the header would make the channel arm a second one; the axon reads the
            // deadline from `timeout`.
            let request = CallRequest {
                session_id: session.id.clone(),
                synapse: route.to_owned(),
                timeout: timeout.as_secs_f64(),
                body: body.clone(),
                tensors: tensors.clone(),
                call_id: 0,
            };
            timings.sent = Some(start.elapsed());
            let answer = match pipe {
                Some(pipe) => pipe.call(request).await,
                None => client
                    .call(tonic::Request::new(request))
                    .await
                    .map(tonic::Response::into_inner),
            };
            let reply = match answer {
                Ok(r) => r,
                Err(status) if status.code() == tonic::Code::Unauthenticated && attempt == 0 => {
                    slot.drop_session(&session.id);
                    continue;
                }
                Err(status) => return (Err(status_failure(&status, timeout)), timings),
            };
            timings.first_byte = Some(start.elapsed());
            timings.done = timings.first_byte;
            return (Ok(reply), timings);
        }
        (
            Err(Failure::Unavailable("session refused twice".to_owned())),
            timings,
        )
    }

    /// The channel and session slot of `axon`, created on first use (LRU-bounded).
    fn entry(&self, axon: &AxonInfo) -> Result<(NativeClient<Channel>, Arc<Slot>), Failure> {
        let addr = axon.addr();
        let mut pool = self.lock();
        let now = Instant::now();
        if let Some(e) = pool
            .get_mut(&addr)
            .and_then(|v| v.iter_mut().find(|e| e.hotkey == axon.hotkey))
        {
            e.last_used = now;
            return Ok((e.client.clone(), e.session.clone()));
        }
        let channel = neuron_transport::grpc::channel(axon.addr())
            .map_err(|e| Failure::Request(e.to_string()))?;
        let limit = self.config.max_message_bytes;
        let client = NativeClient::new(channel)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
        let held: usize = pool.values().map(Vec::len).sum();
        if held >= self.config.max_axons.max(1) {
            let oldest = pool
                .iter()
                .flat_map(|(a, v)| v.iter().enumerate().map(move |(i, e)| (*a, i, e.last_used)))
                .min_by_key(|&(_, _, used)| used);
            if let Some((a, i, _)) = oldest
                && let Some(v) = pool.get_mut(&a)
            {
                v.swap_remove(i);
                if v.is_empty() {
                    pool.remove(&a);
                }
            }
        }
        let session = Arc::new(Slot::default());
        pool.entry(addr).or_default().push(Entry {
            hotkey: axon.hotkey.clone(),
            client: client.clone(),
            session: session.clone(),
            last_used: now,
        });
        Ok((client, session))
    }

    /// The pipe of `session`, opened (once, for all waiting calls) if needed; `None` when
    /// the axon serves no pipes (remembered for the session).
    async fn pipe(
        &self,
        client: &mut NativeClient<Channel>,
        slot: &Slot,
        session: &Session,
    ) -> Result<Option<Arc<pipe::Pipe>>, tonic::Status> {
        if let Some(p) = slot.pipe_of(&session.id) {
            return Ok(p);
        }
        let _opening = slot.opening.lock().await;
        if let Some(p) = slot.pipe_of(&session.id) {
            return Ok(p);
        }
        match pipe::Pipe::open(
            client,
            session.id.clone(),
            self.config.max_pipe_calls,
            self.config.max_message_bytes,
        )
        .await
        {
            Ok(p) => {
                let p = Arc::new(p);
                slot.set_pipe(PipeState::Open(p.clone()));
                Ok(Some(p))
            }
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                slot.set_pipe(PipeState::Unsupported(session.id.clone()));
                Ok(None)
            }
            Err(status) => Err(status),
        }
    }

    /// The live session with `axon`, handshaking (once, for all waiting calls) if needed.
    async fn session(
        &self,
        client: &mut NativeClient<Channel>,
        slot: &Slot,
        axon: &AxonInfo,
    ) -> Result<Session, HandshakeError> {
        if let Some(s) = slot.live() {
            return Ok(s);
        }
        let _renewing = slot.renewing.lock().await;
        // Another call may have finished a handshake while this one waited.
        if let Some(s) = slot.live() {
            return Ok(s);
        }
        let session = self.handshake(client, axon).await?;
        slot.set(Some(session.clone()));
        Ok(session)
    }

    async fn handshake(
        &self,
        client: &mut NativeClient<Channel>,
        axon: &AxonInfo,
    ) -> Result<Session, HandshakeError> {
        let keypair = self.dendrite.keypair();
        let nonce: [u8; 32] = rand::random();
        let timestamp_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let uuid = self.dendrite.uuid();
        let hello = hello_message(keypair.ss58(), &axon.hotkey, timestamp_ns, &nonce, uuid);
        let request = HandshakeRequest {
            client_hotkey: keypair.ss58().to_owned(),
            axon_hotkey: axon.hotkey.clone(),
            client_nonce: Bytes::copy_from_slice(&nonce),
            timestamp_ns,
            client_uuid: uuid.to_owned(),
            signature: Bytes::copy_from_slice(&keypair.sign(hello.as_bytes()).0),
        };
        let sent = Instant::now();
        let reply = client
            .handshake(request)
            .await
            .map_err(|s| HandshakeError::Refused(format!("{:?}: {}", s.code(), s.message())))?
            .into_inner();
        verify_welcome(keypair.ss58(), &axon.hotkey, &nonce, &reply)?;
        let ttl = Duration::from_millis(reply.ttl_ms).saturating_sub(self.config.renew_margin);
        Ok(Session {
            id: reply.session_id,
            renew_at: sent.checked_add(ttl).unwrap_or(sent),
        })
    }
}

/// Checks the axon's half of the handshake: the hotkey we meant to reach and its signature
/// over both hotkeys, both nonces and the session id.
pub fn verify_welcome(
    client_hotkey: &str,
    axon_hotkey: &str,
    client_nonce: &[u8],
    reply: &HandshakeResponse,
) -> Result<(), HandshakeError> {
    if reply.axon_hotkey != axon_hotkey {
        return Err(HandshakeError::BadAxon("answered as another hotkey"));
    }
    if reply.session_id.len() != 32 || reply.axon_nonce.len() != 32 {
        return Err(HandshakeError::BadAxon("malformed session id or nonce"));
    }
    let signature: [u8; 64] = reply
        .signature
        .as_ref()
        .try_into()
        .map_err(|_| HandshakeError::BadAxon("malformed signature"))?;
    let public = PublicKey::from_ss58(axon_hotkey)
        .map_err(|_| HandshakeError::BadAxon("axon hotkey is not SS58"))?;
    let welcome = welcome_message(
        axon_hotkey,
        client_hotkey,
        client_nonce,
        &reply.axon_nonce,
        &reply.session_id,
    );
    if public.verify(welcome.as_bytes(), &Signature(signature)) {
        Ok(())
    } else {
        Err(HandshakeError::BadAxon("signature does not verify"))
    }
}

fn status_failure(status: &tonic::Status, timeout: Duration) -> Failure {
    match status.code() {
        tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => Failure::Timeout(timeout),
        tonic::Code::Unavailable => Failure::Unavailable(status.message().to_owned()),
        tonic::Code::ResourceExhausted | tonic::Code::Internal => {
            Failure::Parse(status.message().to_owned())
        }
        code => Failure::Disconnected(format!("{code:?}: {}", status.message())),
    }
}

/// The reply as the final synapse: the axon's JSON on 200, otherwise what was sent with
/// the axon's status.
fn decode_reply<T: Synapse>(
    sent: &SynapseMessage<T>,
    reply: proto::CallResponse,
) -> Result<SynapseMessage<T>, Failure> {
    let code = i64::from(reply.status_code);
    if reply.status_code == 200 {
        let mut message: SynapseMessage<T> =
            serde_json::from_slice(&reply.body).map_err(|e| Failure::Parse(e.to_string()))?;
        message.axon.status_code = Some(code);
        message.axon.status_message = Some(reply.status_message);
        message.axon.process_time = Some(reply.process_time);
        return Ok(message);
    }
    let mut message = sent.clone();
    message.axon.status_code = Some(code);
    message.axon.status_message = Some(reply.status_message);
    message.axon.process_time = Some(reply.process_time);
    Ok(message)
}

fn failed<T: Synapse>(
    mut synapse: SynapseMessage<T>,
    failure: Failure,
    start: Instant,
) -> Response<T> {
    let code = failure.status_code();
    synapse.dendrite.status_code = Some(i64::from(code));
    synapse.dendrite.status_message = Some(failure.to_string());
    Response {
        synapse,
        timings: Timings {
            total: start.elapsed(),
            ..Timings::default()
        },
        failure: Some(failure),
    }
}
