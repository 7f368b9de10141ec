//! The one-port listener: HTTP/1.1 and h2c on the same TCP port.
//!
//! Every accepted connection is served by hyper's protocol-detecting builder, which reads the
//! first bytes and picks HTTP/2 when it sees the h2c preface (gRPC clients, our native
//! dialect) and HTTP/1.1 otherwise (the Python SDK's aiohttp dendrite). Both run the same
//! [`axum::Router`], so HTTP routes (`/{Synapse}`) and gRPC routes (`/{package.Service}/{Method}`)
//! live side by side.
//!
//! Bounds: a maximum number of open connections (the listener stops accepting while it is
//! reached), optionally a maximum per source IP address and an accept filter (both decided
//! at accept time, before a byte is read: a refused connection is closed at once and
//! counted), a header read timeout (slow clients that dribble header bytes are cut off), a
//! maximum header size for both protocols, and a maximum number of concurrent HTTP/2 streams
//! per connection. The socket peer address is attached to every request as
//! [`axum::extract::ConnectInfo`].
//!
//! Connections that carry nothing useful are closed: one that has not delivered a first
//! request within the header read timeout, and one whose requests asked for authentication
//! ([`ConnectionAuth::require`], the native dialect does it) without completing it
//! ([`ConnectionAuth::authenticate`]) by the deadline they set.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;
use tower::ServiceExt;

/// Default HTTP/2 stream window of both ends (server here, client in [`crate::grpc`]).
pub const HTTP2_STREAM_WINDOW: u32 = 4 * 1024 * 1024;
/// Default HTTP/2 connection window of both ends.
pub const HTTP2_CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;
/// Default largest HTTP/2 frame of both ends.
pub const HTTP2_MAX_FRAME: u32 = 256 * 1024;

/// Decides at accept time whether a source address may connect (for example an allowlist
/// built from the metagraph's axon addresses). It runs on the accept loop, so it must be
/// cheap and must not block.
#[derive(Clone)]
pub struct AcceptFilter(Arc<dyn Fn(IpAddr) -> bool + Send + Sync>);

impl AcceptFilter {
    /// A filter that admits the addresses for which `allow` returns true.
    pub fn new(allow: impl Fn(IpAddr) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(allow))
    }

    /// Whether `ip` may connect.
    pub fn allows(&self, ip: IpAddr) -> bool {
        (self.0)(ip)
    }
}

impl std::fmt::Debug for AcceptFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcceptFilter(..)")
    }
}

/// Listener limits. Every default is documented on [`Config::new`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Maximum number of open connections; the listener pauses accepting at the limit.
    pub max_connections: usize,
    /// Maximum number of open connections from one source IP address (`None`: no per-address
    /// limit). A connection past it is closed as soon as it is accepted, so one address
    /// cannot take every slot of `max_connections`.
    pub max_connections_per_ip: Option<usize>,
    /// Source addresses allowed to connect (`None`: all). Others are closed on accept.
    pub accept_filter: Option<AcceptFilter>,
    /// Time a client has to send the complete request head (HTTP/1.1).
    pub header_read_timeout: Duration,
    /// Maximum total size of request headers, both protocols.
    pub max_header_bytes: usize,
    /// Maximum concurrent HTTP/2 streams per connection.
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2 keep-alive ping interval (`None` disables pings).
    pub http2_keepalive_interval: Option<Duration>,
    /// HTTP/2 flow-control window of each stream, bytes (what a client may send on one
    /// stream before the server acknowledges it).
    pub http2_stream_window: u32,
    /// HTTP/2 flow-control window of the whole connection, bytes.
    pub http2_connection_window: u32,
    /// Largest HTTP/2 frame the server accepts, bytes (16 KiB ..= 16 MiB - 1).
    pub http2_max_frame_size: u32,
}

impl Config {
    /// Defaults: 4096 connections, no per-address limit and no accept filter, 10 s header
    /// read timeout, 64 KiB of headers, 1024
    /// concurrent HTTP/2 streams per connection, HTTP/2 keep-alive pings every 60 s, HTTP/2
    /// windows of 4 MiB per stream and 16 MiB per connection, frames up to 256 KiB.
    ///
    /// The windows are fixed rather than adaptive: HTTP/2 starts every stream at 64 KiB,
    /// and a 1 MiB message then waits for about 16 window updates (one round trip each)
    /// before the adaptive estimate catches up.
    pub fn new() -> Self {
        Self {
            max_connections: 4096,
            max_connections_per_ip: None,
            accept_filter: None,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            http2_max_concurrent_streams: 1024,
            http2_keepalive_interval: Some(Duration::from_secs(60)),
            http2_stream_window: HTTP2_STREAM_WINDOW,
            http2_connection_window: HTTP2_CONNECTION_WINDOW,
            http2_max_frame_size: HTTP2_MAX_FRAME,
        }
    }

    /// Sets the maximum number of open connections.
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Sets the maximum number of open connections from one source IP address (at least 1).
    pub fn with_max_connections_per_ip(mut self, n: usize) -> Self {
        self.max_connections_per_ip = Some(n.max(1));
        self
    }

    /// Admits only the source addresses `filter` allows.
    pub fn with_accept_filter(mut self, filter: AcceptFilter) -> Self {
        self.accept_filter = Some(filter);
        self
    }

    /// Sets the header read timeout.
    pub fn with_header_read_timeout(mut self, t: Duration) -> Self {
        self.header_read_timeout = t;
        self
    }

    /// Sets the maximum total header size.
    pub fn with_max_header_bytes(mut self, n: usize) -> Self {
        self.max_header_bytes = n;
        self
    }

    /// Sets the maximum number of concurrent HTTP/2 streams per connection.
    pub fn with_http2_max_concurrent_streams(mut self, n: u32) -> Self {
        self.http2_max_concurrent_streams = n;
        self
    }

    fn builder(&self) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            // hyper's minimum buffer is 8 KiB; the head must fit in it.
            .max_buf_size(self.max_header_bytes.max(8192))
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.http2_max_concurrent_streams)
            .max_header_list_size(u32::try_from(self.max_header_bytes).unwrap_or(u32::MAX))
            .keep_alive_interval(self.http2_keepalive_interval)
            .initial_stream_window_size(self.http2_stream_window)
            .initial_connection_window_size(self.http2_connection_window)
            .max_frame_size(self.http2_max_frame_size);
        builder
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// The authentication state of one connection, attached to each of its requests as an
/// extension. A service that authenticates per connection calls [`require`](Self::require)
/// on the first request it sees and [`authenticate`](Self::authenticate) once the peer
/// proved who it is; the listener closes the connection if the deadline passes first.
#[derive(Clone, Debug)]
pub struct ConnectionAuth(Arc<AuthState>);

#[derive(Debug)]
struct AuthState {
    /// A request arrived on this connection.
    used: std::sync::atomic::AtomicBool,
    /// The connection authenticated.
    authenticated: std::sync::atomic::AtomicBool,
    /// When an unauthenticated connection is closed, if a service asked for it.
    deadline: std::sync::Mutex<Option<tokio::time::Instant>>,
    changed: Notify,
}

impl ConnectionAuth {
    fn new() -> Self {
        Self(Arc::new(AuthState {
            used: false.into(),
            authenticated: false.into(),
            deadline: std::sync::Mutex::new(None),
            changed: Notify::new(),
        }))
    }

    /// Asks for authentication within `within` of now; the earliest deadline asked for
    /// wins. No effect once the connection authenticated.
    pub fn require(&self, within: Duration) {
        if self.is_authenticated() {
            return;
        }
        let at = tokio::time::Instant::now() + within;
        let mut deadline = self
            .0
            .deadline
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if deadline.is_none_or(|d| at < d) {
            *deadline = Some(at);
            self.0.changed.notify_one();
        }
    }

    /// Marks the connection authenticated: it is never closed for lack of authentication.
    pub fn authenticate(&self) {
        if !self.0.authenticated.swap(true, Ordering::AcqRel) {
            self.0.changed.notify_one();
        }
    }

    /// Whether [`authenticate`](Self::authenticate) was called.
    pub fn is_authenticated(&self) -> bool {
        self.0.authenticated.load(Ordering::Acquire)
    }

    fn mark_used(&self) {
        self.0.used.store(true, Ordering::Release);
    }

    /// Completes when the connection should be closed: no request by `first_request`, or
    /// an authentication deadline passed unmet. Pending forever otherwise.
    async fn expired(&self, first_request: tokio::time::Instant) {
        loop {
            let changed = self.0.changed.notified();
            if self.is_authenticated() {
                return std::future::pending().await;
            }
            let deadline = *self
                .0
                .deadline
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let at = match deadline {
                Some(at) => at,
                None if !self.0.used.load(Ordering::Acquire) => first_request,
                None => {
                    changed.await;
                    continue;
                }
            };
            if at <= tokio::time::Instant::now() {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                () = changed => {}
            }
        }
    }
}

/// Serves a router on a listener; see the module docs.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// Binds a TCP listener (use port 0 for an ephemeral port).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
        TcpListener::bind(addr).await
    }

    /// Starts serving `router` on `listener` in a background task.
    pub fn serve(listener: TcpListener, router: axum::Router, config: Config) -> ServerHandle {
        let local_addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let (stop_tx, stop_rx) = watch::channel(false);
        let open = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let counts = Counts {
            open: open.clone(),
            refused: refused.clone(),
        };
        let task = tokio::spawn(accept_loop(listener, router, config, stop_rx, counts));
        ServerHandle {
            local_addr,
            stop: stop_tx,
            task,
            open,
            refused,
        }
    }
}

/// A running server: its address, its open connection count and its shutdown.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    open: Arc<AtomicUsize>,
    refused: Arc<AtomicU64>,
}

impl ServerHandle {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Number of connections currently open.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections closed on accept since the start: refused by the accept filter or over
    /// the per-address limit.
    pub fn refused_connections(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Graceful shutdown: stop accepting, let in-flight requests finish (HTTP/1.1 connections
    /// close after their current response, HTTP/2 connections get GOAWAY), and return once
    /// every connection has closed or `grace` has passed.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(grace, self.task).await;
    }
}

/// The listener's counters, shared with its handle.
struct Counts {
    open: Arc<AtomicUsize>,
    refused: Arc<AtomicU64>,
}

/// Open connections per source address. An entry exists only while at least one connection
/// from its address is open, so the map holds at most `max_connections` entries.
struct PerIp {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerIp {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Counting cannot panic half-way, so a poisoned map is consistent.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for one more connection from `ip`, or `None` at the limit.
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut open = self.lock();
        let n = open.entry(ip).or_insert(0);
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            table: self.clone(),
            ip,
        })
    }
}

/// One open connection counted against its address; released on drop.
struct IpSlot {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.table.lock();
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Whether a connection from `ip` may be served: the accept filter, then the per-address
/// limit. `Err(())` means close it now.
fn admit(config: &Config, per_ip: Option<&Arc<PerIp>>, ip: IpAddr) -> Result<Option<IpSlot>, ()> {
    if config.accept_filter.as_ref().is_some_and(|f| !f.allows(ip)) {
        tracing::debug!(%ip, "connection refused by the accept filter");
        return Err(());
    }
    match per_ip {
        None => Ok(None),
        Some(table) => match table.take(ip) {
            Some(slot) => Ok(Some(slot)),
            None => {
                tracing::debug!(%ip, "connection refused: per-address limit");
                Err(())
            }
        },
    }
}

async fn accept_loop(
    listener: TcpListener,
    router: axum::Router,
    config: Config,
    mut stop: watch::Receiver<bool>,
    counts: Counts,
) {
    let Counts { open, refused } = counts;
    let builder = config.builder();
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let per_ip = config.max_connections_per_ip.map(|limit| {
        Arc::new(PerIp {
            limit,
            open: Mutex::new(HashMap::new()),
        })
    });
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            _ = stop.changed() => break,
            permit = limit.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Usually EMFILE or a connection reset during the handshake: log, back off
                    // a moment so a descriptor shortage does not spin, and go on.
                    tracing::debug!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            },
        };
        // IPv4 clients of a dual-stack socket appear as ::ffff:a.b.c.d: count them as IPv4.
        let Ok(ip_slot) = admit(&config, per_ip.as_ref(), peer.ip().to_canonical()) else {
            refused.fetch_add(1, Ordering::Relaxed);
            // Dropping the stream closes the socket; the connection permit is released too.
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let auth = ConnectionAuth::new();
        let watch = auth.clone();
        let first_request = tokio::time::Instant::now() + config.header_read_timeout;
        let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            auth.mark_used();
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(auth.clone());
            let router = router.clone();
            async move {
                let response = router.oneshot(req.map(axum::body::Body::new)).await;
                Ok::<_, Infallible>(match response {
                    Ok(r) => r,
                    Err(never) => match never {},
                })
            }
        });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        open.fetch_add(1, Ordering::Relaxed);
        let open = open.clone();
        tokio::spawn(async move {
            tokio::select! {
                result = conn => {
                    if let Err(error) = result {
                        tracing::trace!(%peer, %error, "connection ended with an error");
                    }
                }
                () = watch.expired(first_request) => {
                    // Dropping the connection future closes the socket.
                    tracing::debug!(%peer, "closing an idle or unauthenticated connection");
                }
            }
            open.fetch_sub(1, Ordering::Relaxed);
            drop(ip_slot);
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
