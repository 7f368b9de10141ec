//! The native dialect (`neuron.native.v1.Native`, gRPC over HTTP/2): Rust-to-Rust synapse
//! calls authenticated **once per connection** by a mutual sr25519 handshake, then served
//! by the same route table, hooks, priority queue and limits as the HTTP dialect.
//!
//! ```no_run
//! # use neuron_axon::{Axon, Config, native};
//! # use neuron_wallet::Keypair;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let keypair = Keypair::from_uri("//Alice")?;
//! let axon = Axon::new(keypair.clone(), Config::new());
//! let native = native::Service::new(&axon, keypair, native::Config::default())?;
//! let router = neuron_transport::grpc::add_service(axon.router(), native.into_tonic());
//! let running = axon.serve_router(router).await?;
//! # let _ = running;
//! # Ok(())
//! # }
//! ```
//!
//! * `Handshake`: the client signs `hello` (its hotkey, this axon's hotkey, a timestamp, a
//!   fresh 32-byte nonce, its uuid). The axon checks the target hotkey, the timestamp window,
//!   the signature and then the nonce against a bounded replay cache, and answers with its
//!   own nonce, a random 32-byte session id bound to the client hotkey, and its signature
//!   over both hotkeys, both nonces and the session id (`welcome`).
//! * A connection that sends a native request must authenticate (a handshake, or a call with
//!   a valid session) within [`Config::connection_auth_deadline`], or the listener closes it.
//! * `Call`: carries the session id (in the message or the `x-neuron-session` metadata, hex).
//!   No session, an unknown or an expired one → gRPC `UNAUTHENTICATED` at once. Otherwise
//!   the call runs the shared pipeline (verify hook → blacklist → decode → priority queue →
//!   handler within the deadline) as the session's hotkey; outcomes are HTTP-style status
//!   codes in the [`proto::CallResponse`].
//! * `Pipe`: one bidirectional stream carrying many calls of one session, each tagged with a
//!   `call_id` and answered as it finishes. The session is checked once when the pipe opens;
//!   each call then runs the same pipeline as `Call`. Bounded per pipe
//!   ([`Config::max_pipe_calls`], [`Config::pipe_reply_buffer`]); see [`Service::close_pipes`]
//!   for shutdown.
//! * Tensor routes ([`Service::with_tensor_route`], [`Service::with_blocking_tensor_route`])
//!   take no JSON: their handlers receive the call's tensors as raw frames sliced from the
//!   received message ([`TensorCall`]) and answer frames ([`TensorReply`]).
//!
//! The exact bytes and the threat model are in `docs/PROTOCOL.md`, "Native dialect".

mod handshake;
mod pipe;
mod pipeline;
mod tensor;
pub use neuron_transport::native_grpc as proto;
pub use pipe::Replies;
pub use tensor::{TensorCall, TensorReply};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use neuron_protocol::status;
use neuron_transport::ConnectionAuth;
use neuron_wallet::{Keypair, PublicKey, Signature};
use tonic::{Request, Response, Status};

pub use handshake::{
    HELLO_TAG, HandshakeError, NONCE_LEN, WELCOME_TAG, hello_message, welcome_message,
};
pub(crate) use pipeline::{Endpoint, endpoint};

use crate::axon::{Axon, Shared};
use crate::caller::Caller;
use crate::metrics::Counters;
use crate::route::HandlerResult;
use handshake::{Session, Tables, later};
use proto::native_server::{Native, NativeServer};
use proto::{CallRequest, CallResponse, HandshakeRequest, HandshakeResponse};
use tensor::TensorHandler;

/// The metadata key that may carry the session id (lowercase hex).
pub const SESSION_METADATA: &str = "x-neuron-session";

/// Settings of the native dialect.
#[derive(Clone, Debug)]
pub struct Config {
    /// How long a session stays valid after the handshake.
    pub session_ttl: Duration,
    /// Most sessions kept; a handshake beyond this (all live) is refused.
    pub max_sessions: usize,
    /// Most live sessions of one hotkey; a new handshake beyond this replaces that
    /// hotkey's oldest session (so one key cannot fill the table for others).
    pub max_sessions_per_hotkey: usize,
    /// Accepted distance between the client's timestamp and the axon's clock.
    pub handshake_window: Duration,
    /// Most remembered handshake nonces (each is kept for twice the window).
    pub max_nonces: usize,
    /// Most tensor frames in one call.
    pub max_tensors: usize,
    /// Largest encoded message (call or handshake), bytes.
    pub max_message_bytes: usize,
    /// A connection that sent a native request must complete a handshake (or use a valid
    /// session) within this time of that request, or the listener closes it.
    pub connection_auth_deadline: Duration,
    /// Most calls in flight on one pipe (read, not yet answered); while full, the axon
    /// stops reading the pipe, so HTTP/2 flow control holds the client back.
    pub max_pipe_calls: usize,
    /// Most finished answers queued for sending on one pipe.
    pub pipe_reply_buffer: usize,
    /// Whether `Pipe` is served; `false` answers it `UNIMPLEMENTED`, as an axon that
    /// predates it would (clients then use unary `Call`).
    pub serve_pipe: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(3600),
            max_sessions: 4096,
            max_sessions_per_hotkey: 64,
            handshake_window: Duration::from_secs(30),
            max_nonces: 16_384,
            max_tensors: 64,
            max_message_bytes: 16 * 1024 * 1024,
            connection_auth_deadline: Duration::from_secs(10),
            max_pipe_calls: 256,
            pipe_reply_buffer: 64,
            serve_pipe: true,
        }
    }
}

/// Why the native service could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The keypair is not the axon's hotkey.
    #[error("keypair {keypair} is not the axon's hotkey {axon}")]
    WrongKeypair {
        /// The keypair's SS58 address.
        keypair: String,
        /// The axon's SS58 address.
        axon: String,
    },
    /// A route of this name already exists (synapse or tensor route).
    #[error("a route named {0} already exists")]
    DuplicateRoute(String),
    /// Routes can only be added before the service is cloned or mounted.
    #[error("the service is already shared; add tensor routes before cloning or mounting it")]
    Shared,
}

struct Inner {
    shared: Arc<Shared>,
    keypair: Keypair,
    routes: BTreeMap<&'static str, Arc<dyn Endpoint>>,
    tensor_routes: BTreeMap<&'static str, TensorHandler>,
    tables: Mutex<Tables>,
    config: Config,
}

/// The native gRPC service of one axon; see the [module docs](self).
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("hotkey", &self.inner.shared.hotkey)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// The native service over `axon`'s routes and pipeline, signing handshakes with
    /// `keypair` (which must be the axon's hotkey). Synapses attached to the axon later are
    /// not seen: build the service last.
    pub fn new(axon: &Axon, keypair: Keypair, config: Config) -> Result<Self, Error> {
        if keypair.ss58() != axon.shared.hotkey {
            return Err(Error::WrongKeypair {
                keypair: keypair.ss58().to_owned(),
                axon: axon.shared.hotkey.clone(),
            });
        }
        Ok(Self {
            inner: Arc::new(Inner {
                shared: axon.shared.clone(),
                keypair,
                routes: axon.routes.native.clone(),
                tensor_routes: BTreeMap::new(),
                tables: Mutex::new(Tables::new(
                    config.max_nonces,
                    config.max_sessions,
                    config.max_sessions_per_hotkey,
                )),
                config,
            }),
        })
    }

    /// Adds a tensor route `name` with an async handler: it receives the call's tensors as
    /// raw frames (see [`TensorCall`]) and runs on the runtime, after the session check and
    /// the priority queue, within the call's deadline. Add routes before cloning or mounting
    /// the service.
    ///
    /// # Errors
    /// [`Error::DuplicateRoute`] if `name` is taken; [`Error::Shared`] once the service was
    /// cloned.
    pub fn with_tensor_route<F, Fut>(self, name: &'static str, f: F) -> Result<Self, Error>
    where
        F: Fn(Caller, TensorCall) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = HandlerResult<TensorReply>> + Send + 'static,
    {
        self.add_tensor_route(name, TensorHandler::from_async(f))
    }

    /// [`with_tensor_route`](Self::with_tensor_route) for a blocking handler, run on tokio's
    /// blocking pool (for handlers that compute on the tensors).
    ///
    /// # Errors
    /// As [`with_tensor_route`](Self::with_tensor_route).
    pub fn with_blocking_tensor_route<F>(self, name: &'static str, f: F) -> Result<Self, Error>
    where
        F: Fn(Caller, TensorCall) -> HandlerResult<TensorReply> + Send + Sync + 'static,
    {
        self.add_tensor_route(name, TensorHandler::from_blocking(f))
    }

    fn add_tensor_route(mut self, name: &'static str, h: TensorHandler) -> Result<Self, Error> {
        let inner = Arc::get_mut(&mut self.inner).ok_or(Error::Shared)?;
        if inner.routes.contains_key(name) || inner.tensor_routes.contains_key(name) {
            return Err(Error::DuplicateRoute(name.to_owned()));
        }
        inner.tensor_routes.insert(name, h);
        Ok(self)
    }

    /// The tonic server to mount with `neuron_transport::grpc::add_service`.
    pub fn into_tonic(self) -> NativeServer<Service> {
        let limit = self.inner.config.max_message_bytes;
        NativeServer::new(self)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
    }

    /// Ends every pipe of this axon gracefully and refuses new ones (`UNAVAILABLE`): each
    /// open pipe stops reading calls, answers the calls it already runs, then closes. A pipe
    /// is a stream that never ends by itself; `Running::shutdown` does this first, so a
    /// graceful shutdown waits only for the calls in flight. Unary calls are not affected.
    pub fn close_pipes(&self) {
        self.inner.shared.closing.send_replace(true);
    }

    /// Sessions currently stored (live or awaiting purge).
    pub fn sessions(&self) -> usize {
        self.inner.tables().sessions()
    }

    /// Sessions currently stored for `hotkey` (at most
    /// [`Config::max_sessions_per_hotkey`]).
    pub fn sessions_of(&self, hotkey: &str) -> usize {
        self.inner.tables().sessions_of(hotkey)
    }
}

impl Inner {
    fn tables(&self) -> MutexGuard<'_, Tables> {
        // No critical section can panic half-way, so a poisoned table is consistent.
        self.tables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn handshake(&self, req: &HandshakeRequest) -> Result<HandshakeResponse, HandshakeError> {
        let client_nonce: [u8; NONCE_LEN] = req
            .client_nonce
            .as_ref()
            .try_into()
            .map_err(|_| HandshakeError::Malformed("client_nonce must be 32 bytes"))?;
        let signature: [u8; 64] = req
            .signature
            .as_ref()
            .try_into()
            .map_err(|_| HandshakeError::Malformed("signature must be 64 bytes"))?;
        if req.axon_hotkey != self.shared.hotkey {
            return Err(HandshakeError::WrongAxon);
        }
        let now_ns = now_ns();
        let window = u64::try_from(self.config.handshake_window.as_nanos()).unwrap_or(u64::MAX);
        if now_ns.abs_diff(req.timestamp_ns) > window {
            return Err(HandshakeError::Stale);
        }
        let public = PublicKey::from_ss58(&req.client_hotkey)
            .map_err(|_| HandshakeError::Malformed("client_hotkey is not an SS58 address"))?;
        let hello = hello_message(
            &req.client_hotkey,
            &req.axon_hotkey,
            req.timestamp_ns,
            &client_nonce,
            &req.client_uuid,
        );
        if !public.verify(hello.as_bytes(), &Signature(signature)) {
            return Err(HandshakeError::BadSignature);
        }
        // Only verified handshakes reach the bounded tables.
        let now = Instant::now();
        let axon_nonce: [u8; NONCE_LEN] = rand::random();
        let session_id: [u8; NONCE_LEN] = rand::random();
        {
            let mut tables = self.tables();
            tables.remember_nonce(
                client_nonce,
                now,
                later(now, self.config.handshake_window * 2),
            )?;
            tables.insert_session(
                session_id,
                Session {
                    hotkey: req.client_hotkey.clone(),
                    uuid: req.client_uuid.clone(),
                    timestamp_ns: req.timestamp_ns,
                    expires: later(now, self.config.session_ttl),
                },
                now,
            )?;
        }
        let welcome = welcome_message(
            &self.shared.hotkey,
            &req.client_hotkey,
            &client_nonce,
            &axon_nonce,
            &session_id,
        );
        let signature = self.keypair.sign(welcome.as_bytes());
        Ok(HandshakeResponse {
            axon_hotkey: self.shared.hotkey.clone(),
            axon_nonce: Bytes::copy_from_slice(&axon_nonce),
            session_id: Bytes::copy_from_slice(&session_id),
            ttl_ms: u64::try_from(self.config.session_ttl.as_millis()).unwrap_or(u64::MAX),
            signature: Bytes::copy_from_slice(&signature.0),
        })
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Decodes a session id written as 64 lowercase or uppercase hex digits; `None` on anything
/// else.
fn unhex(s: &str) -> Option<[u8; NONCE_LEN]> {
    if s.len() != 2 * NONCE_LEN {
        return None;
    }
    let mut out = [0u8; NONCE_LEN];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The connection's authentication state (when served by the neuron listener), with the
/// native deadline armed.
fn connection_auth<T>(request: &Request<T>, config: &Config) -> Option<ConnectionAuth> {
    let auth = request.extensions().get::<ConnectionAuth>()?.clone();
    auth.require(config.connection_auth_deadline);
    Some(auth)
}

fn peer_of<T>(request: &Request<T>) -> SocketAddr {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .or_else(|| request.remote_addr())
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
}

#[tonic::async_trait]
impl Native for Service {
    async fn handshake(
        &self,
        request: Request<HandshakeRequest>,
    ) -> Result<Response<HandshakeResponse>, Status> {
        let auth = connection_auth(&request, &self.inner.config);
        match self.inner.handshake(request.get_ref()) {
            Ok(reply) => {
                if let Some(auth) = auth {
                    auth.authenticate();
                }
                Ok(Response::new(reply))
            }
            Err(e @ HandshakeError::Full(_)) => Err(Status::resource_exhausted(e.to_string())),
            Err(e) => {
                Counters::bump(&self.inner.shared.counters.unauthorized);
                Err(Status::unauthenticated(e.to_string()))
            }
        }
    }

    async fn call(&self, request: Request<CallRequest>) -> Result<Response<CallResponse>, Status> {
        let start = Instant::now();
        let inner = &self.inner;
        let peer = peer_of(&request);
        let auth = connection_auth(&request, &inner.config);
        let from_metadata = metadata_session(&request);
        let call = request.into_inner();
        let (_, session) = inner.check_session(from_metadata, &call.session_id, start)?;
        if let Some(auth) = auth {
            auth.authenticate();
        }
        let caller = session.caller(peer);
        Ok(Response::new(
            dispatch(self.inner.clone(), caller, call, start).await,
        ))
    }

    type PipeStream = pipe::Replies;

    async fn pipe(
        &self,
        request: Request<tonic::Streaming<CallRequest>>,
    ) -> Result<Response<Self::PipeStream>, Status> {
        if !self.inner.config.serve_pipe {
            return Err(Status::unimplemented("this axon serves no pipe"));
        }
        pipe::open(self.inner.clone(), request).await
    }
}

impl Inner {
    /// The live session named by the call (its `session_id`, else the metadata), with its
    /// id; gRPC `UNAUTHENTICATED` otherwise.
    fn check_session(
        &self,
        from_metadata: Option<[u8; NONCE_LEN]>,
        in_message: &Bytes,
        now: Instant,
    ) -> Result<([u8; NONCE_LEN], Session), Status> {
        let id: Option<[u8; NONCE_LEN]> = if in_message.is_empty() {
            from_metadata
        } else {
            in_message.as_ref().try_into().ok()
        };
        match id.and_then(|id| Some((id, self.tables().session(&id, now)?))) {
            Some(found) => Ok(found),
            None => {
                Counters::bump(&self.shared.counters.unauthorized);
                let why = if in_message.is_empty() && id.is_none() {
                    "no session: handshake first"
                } else {
                    "unknown or expired session"
                };
                Err(Status::unauthenticated(why))
            }
        }
    }
}

impl Session {
    /// The caller every call of this session is attributed to.
    fn caller(&self, peer: SocketAddr) -> Caller {
        Caller {
            hotkey: self.hotkey.clone(),
            uuid: self.uuid.clone(),
            nonce: self.timestamp_ns,
            version: None,
            peer,
        }
    }
}

/// The session id carried in the `x-neuron-session` metadata, if any.
fn metadata_session<T>(request: &Request<T>) -> Option<[u8; NONCE_LEN]> {
    request
        .metadata()
        .get(SESSION_METADATA)
        .and_then(|v| v.to_str().ok())
        .and_then(unhex)
}

/// Runs one authenticated call (from `Call` or a pipe) through the shared per-call
/// pipeline: tensor route, or synapse route (verify hook, blacklist, decode, priority queue,
/// handler within the deadline). The reply carries the request's `call_id`.
async fn dispatch(
    inner: Arc<Inner>,
    caller: Caller,
    call: CallRequest,
    start: Instant,
) -> CallResponse {
    let call_id = call.call_id;
    let mut reply = route_call(&inner, caller, call, start).await;
    reply.call_id = call_id;
    reply
}

async fn route_call(
    inner: &Inner,
    caller: Caller,
    call: CallRequest,
    start: Instant,
) -> CallResponse {
    Counters::bump(&inner.shared.counters.requests);
    let timeout = (call.timeout > 0.0).then_some(call.timeout);
    if let Some(handler) = inner.tensor_routes.get(call.synapse.as_str()) {
        if inner.shared.check_rate(&caller.hotkey).is_err() {
            return pipeline::rate_limited(start);
        }
        let limits = neuron_tensor::Limits::default();
        let tensors = match tensor::decode_frames(call.tensors, inner.config.max_tensors, &limits) {
            Ok(t) => t,
            Err(message) => {
                Counters::bump(&inner.shared.counters.bad_requests);
                return pipeline::error(start, status::BAD_REQUEST, message);
            }
        };
        let call = TensorCall {
            body: call.body,
            tensors,
        };
        return tensor::run(
            inner.shared.clone(),
            handler.clone(),
            caller,
            timeout,
            call,
            start,
        )
        .await;
    }
    let Some(route) = inner.routes.get(call.synapse.as_str()) else {
        return pipeline::error(start, status::NOT_FOUND, "Synapse not found");
    };
    if !call.tensors.is_empty() {
        // Synapse routes carry their tensors in the JSON body; frames are for tensor
        // routes only.
        Counters::bump(&inner.shared.counters.bad_requests);
        return pipeline::error(
            start,
            status::BAD_REQUEST,
            "Bad Request: tensor frames are only accepted by tensor routes",
        );
    }
    route
        .call(inner.shared.clone(), caller, timeout, call.body, start)
        .await
}
