//! A pooled HTTP/1.1 client with per-phase timings.
//!
//! The Python SDK's axons speak HTTP/1.1 (uvicorn + h11), so the HTTP dialect's dendrite uses
//! HTTP/1.1 with keep-alive. The pool is written here rather than taken from
//! `hyper_util::client::legacy` because the dendrite needs what that client hides: when the
//! connection was made, when the request was handed to the socket, when the first response
//! byte arrived (see [`Timings`]), and a hard per-host concurrency limit.
//!
//! Bounds: at most [`Config::max_hosts`] hosts are tracked (least recently used hosts are
//! forgotten, with their idle connections), at most [`Config::max_idle_per_host`] idle
//! connections are kept per host, at most [`Config::max_in_flight_per_host`] requests run per
//! host at once (callers beyond it wait, and the wait counts as `queued`), and response bodies
//! larger than the caller's limit are refused.
//!
//! # Notes
//!
//! A request that fails on a reused idle connection because the server had already closed it
//! is retried once on a fresh connection (the body is a complete [`Bytes`], so this is safe).
//! Deadlines are the caller's: wrap calls in `tokio::time::timeout`; dropping a call closes
//! its connection instead of returning it to the pool.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use lru::LruCache;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Client limits. Every default is documented on [`Config::new`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Idle keep-alive connections kept per host.
    pub max_idle_per_host: usize,
    /// Requests in flight per host at once.
    pub max_in_flight_per_host: usize,
    /// Hosts tracked at once.
    pub max_hosts: usize,
    /// An idle connection older than this is closed instead of reused.
    pub idle_timeout: Duration,
    /// Time allowed for the TCP connect.
    pub connect_timeout: Duration,
}

impl Config {
    /// Defaults: 64 idle connections and 256 requests in flight per host, 4096 hosts, 60 s
    /// idle timeout, 5 s connect timeout.
    pub fn new() -> Self {
        Self {
            max_idle_per_host: 64,
            max_in_flight_per_host: 256,
            max_hosts: 4096,
            idle_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// Sets the number of requests in flight per host.
    pub fn with_max_in_flight_per_host(mut self, n: usize) -> Self {
        self.max_in_flight_per_host = n.max(1);
        self
    }

    /// Sets the number of idle connections kept per host.
    pub fn with_max_idle_per_host(mut self, n: usize) -> Self {
        self.max_idle_per_host = n;
        self
    }

    /// Sets the number of hosts tracked.
    pub fn with_max_hosts(mut self, n: usize) -> Self {
        self.max_hosts = n.max(1);
        self
    }

    /// Sets the connect timeout.
    pub fn with_connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// When each phase of one request ended, measured from the start of the call.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timings {
    /// Waiting for a per-host slot.
    pub queued: Duration,
    /// Connection ready (equal to `queued` when an idle connection was reused).
    pub connect: Duration,
    /// Request head and body handed to the socket.
    pub sent: Duration,
    /// Response head received.
    pub first_byte: Duration,
    /// Response body complete.
    pub done: Duration,
    /// Whether a keep-alive connection was reused.
    pub reused: bool,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The TCP connect failed (refused, unreachable).
    #[error("connect failed: {0}")]
    Connect(#[source] std::io::Error),
    /// The TCP connect took longer than the connect timeout.
    #[error("connect timed out")]
    ConnectTimeout,
    /// The HTTP handshake on a new connection failed.
    #[error("handshake failed: {0}")]
    Handshake(#[source] hyper::Error),
    /// The server closed the connection before a complete response.
    #[error("server disconnected: {0}")]
    Disconnected(#[source] hyper::Error),
    /// The response body was larger than allowed.
    #[error("response body over {0} bytes")]
    BodyTooLarge(usize),
    /// Reading the response body failed.
    #[error("response body error: {0}")]
    Body(String),
}

type Conn = SendRequest<TimedBody>;

struct Host {
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<(Conn, Instant)>>,
}

/// The pooled HTTP/1.1 client; cheap to clone (shared pool).
#[derive(Clone)]
pub struct HttpClient {
    config: Arc<Config>,
    hosts: Arc<Mutex<LruCache<SocketAddr, Arc<Host>>>>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("config", &self.config)
            .finish()
    }
}

/// A response whose body is still streaming; the connection is not returned to the pool.
#[derive(Debug)]
pub struct StreamingResponse {
    /// Status and headers.
    pub head: http::response::Parts,
    /// The body, read frame by frame.
    pub body: Incoming,
    /// Timings up to `first_byte` (`done` is zero).
    pub timings: Timings,
    _slot: OwnedSemaphorePermit,
}

impl HttpClient {
    /// A client with the given limits.
    pub fn new(config: Config) -> Self {
        let cap = NonZeroUsize::new(config.max_hosts).unwrap_or(NonZeroUsize::MIN);
        Self {
            config: Arc::new(config),
            hosts: Arc::new(Mutex::new(neuron_protocol::bounded_lru(cap))),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of idle connections currently pooled for `addr`.
    pub fn idle_connections(&self, addr: SocketAddr) -> usize {
        let hosts = lock(&self.hosts);
        hosts.peek(&addr).map(|h| lock(&h.idle).len()).unwrap_or(0)
    }

    /// Number of hosts tracked.
    pub fn hosts(&self) -> usize {
        lock(&self.hosts).len()
    }

    /// Sends `request` to `addr` and reads the whole response body (at most `max_body` bytes).
    pub async fn send(
        &self,
        addr: SocketAddr,
        request: http::Request<Bytes>,
        max_body: usize,
    ) -> Result<(http::Response<Bytes>, Timings), Error> {
        let start = Instant::now();
        let host = self.host(addr);
        let slot = acquire(&host).await;
        let queued = start.elapsed();
        let (parts, body) = request.into_parts();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (mut conn, reused) = self.checkout(&host, addr).await?;
            let connect = start.elapsed();
            let sent = SentAt::default();
            let req = http::Request::from_parts(parts.clone(), sent.wrap(body.clone()));
            let response = match conn.send_request(req).await {
                Ok(r) => r,
                // A reused connection the server closed while it sat idle: try once more fresh.
                Err(e)
                    if reused && attempt == 1 && (e.is_closed() || e.is_incomplete_message()) =>
                {
                    continue;
                }
                Err(e) => return Err(Error::Disconnected(e)),
            };
            let first_byte = start.elapsed();
            let (head, incoming) = response.into_parts();
            let bytes = read_body(incoming, max_body).await?;
            let done = start.elapsed();
            self.checkin(&host, conn);
            drop(slot);
            let timings = Timings {
                queued,
                connect,
                sent: sent.elapsed_since(start).unwrap_or(first_byte),
                first_byte,
                done,
                reused,
            };
            return Ok((http::Response::from_parts(head, bytes), timings));
        }
    }

    /// Sends `request` and returns as soon as the response head arrives; the body is read by
    /// the caller (streaming synapses). The connection is not reused.
    pub async fn send_streaming(
        &self,
        addr: SocketAddr,
        request: http::Request<Bytes>,
    ) -> Result<StreamingResponse, Error> {
        let start = Instant::now();
        let host = self.host(addr);
        let slot = acquire(&host).await;
        let queued = start.elapsed();
        let mut conn = self.connect(addr).await?;
        let connect = start.elapsed();
        let sent = SentAt::default();
        let response = conn
            .send_request(request.map(|b| sent.wrap(b)))
            .await
            .map_err(Error::Disconnected)?;
        let first_byte = start.elapsed();
        let (head, body) = response.into_parts();
        Ok(StreamingResponse {
            head,
            body,
            timings: Timings {
                queued,
                connect,
                sent: sent.elapsed_since(start).unwrap_or(first_byte),
                first_byte,
                done: Duration::ZERO,
                reused: false,
            },
            _slot: slot,
        })
    }

    fn host(&self, addr: SocketAddr) -> Arc<Host> {
        let mut hosts = lock(&self.hosts);
        if let Some(h) = hosts.get(&addr) {
            return h.clone();
        }
        let host = Arc::new(Host {
            slots: Arc::new(Semaphore::new(self.config.max_in_flight_per_host)),
            idle: Mutex::new(Vec::new()),
        });
        hosts.put(addr, host.clone());
        host
    }

    async fn checkout(&self, host: &Host, addr: SocketAddr) -> Result<(Conn, bool), Error> {
        loop {
            let candidate = lock(&host.idle).pop();
            match candidate {
                Some((mut conn, since)) => {
                    if since.elapsed() > self.config.idle_timeout || conn.is_closed() {
                        continue;
                    }
                    if conn.ready().await.is_ok() {
                        return Ok((conn, true));
                    }
                }
                None => return Ok((self.connect(addr).await?, false)),
            }
        }
    }

    fn checkin(&self, host: &Host, conn: Conn) {
        if conn.is_closed() {
            return;
        }
        let mut idle = lock(&host.idle);
        if idle.len() < self.config.max_idle_per_host {
            idle.push((conn, Instant::now()));
        }
    }

    async fn connect(&self, addr: SocketAddr) -> Result<Conn, Error> {
        let stream = tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| Error::ConnectTimeout)?
            .map_err(Error::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(Error::Handshake)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::trace!(%error, "client connection ended");
            }
        });
        Ok(sender)
    }
}

async fn acquire(host: &Host) -> OwnedSemaphorePermit {
    host.slots
        .clone()
        .acquire_owned()
        .await
        // Invariant: the per-host semaphore is never closed.
        .expect("per-host semaphore is never closed")
}

async fn read_body(body: Incoming, max: usize) -> Result<Bytes, Error> {
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(Error::BodyTooLarge(max))
            } else {
                Err(Error::Body(e.to_string()))
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means another task panicked while holding it; the pool data
    // (idle connection lists) stays valid, so keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Records when hyper took the request body for writing: the `sent` phase.
#[derive(Clone, Default)]
struct SentAt(Arc<std::sync::OnceLock<Instant>>);

impl SentAt {
    fn wrap(&self, data: Bytes) -> TimedBody {
        if data.is_empty() {
            // hyper will not poll an empty body: the request is sent with its head.
            let _ = self.0.set(Instant::now());
        }
        TimedBody {
            data: Some(data),
            sent: self.clone(),
        }
    }

    fn elapsed_since(&self, start: Instant) -> Option<Duration> {
        self.0.get().map(|t| t.saturating_duration_since(start))
    }
}

/// A complete in-memory body that stamps [`SentAt`] when it is handed over.
struct TimedBody {
    data: Option<Bytes>,
    sent: SentAt,
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = self
            .data
            .take()
            .filter(|d| !d.is_empty())
            .map(|d| Ok(Frame::data(d)));
        let _ = self.sent.0.set(Instant::now());
        std::task::Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.data.as_ref().is_none_or(Bytes::is_empty)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}
