//! The [`Axon`]: attached synapses, shared state, and serving.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use neuron_protocol::nonce::NonceVerifier;
use neuron_protocol::synapse::{Ping, Synapse};
use neuron_transport::server::{Server, ServerHandle};
use neuron_wallet::{Keypair, VerifierCache};

use crate::caller::Caller;
use crate::config::Config;
use crate::http::{self, Endpoint};
use crate::metrics::{Counters, Snapshot};
use crate::queue::Scheduler;
use crate::ratelimit::RateLimiter;
use crate::route::{Attach, Forward, HandlerResult, TypedRoute};

/// Why an axon could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound (address in use, no permission).
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// State shared by every request of one axon.
pub(crate) struct Shared {
    pub(crate) hotkey: String,
    pub(crate) config: Config,
    pub(crate) scheduler: Scheduler,
    pub(crate) nonces: Mutex<NonceVerifier>,
    pub(crate) verifier: VerifierCache,
    pub(crate) counters: Arc<Counters>,
    /// Per-hotkey token buckets, when [`Config::rate_limit`] is set.
    pub(crate) rate_limiter: Option<RateLimiter>,
    /// The address written into `axon.ip`/`axon.port`, known once bound.
    pub(crate) advertised: OnceLock<SocketAddr>,
    /// Set when the axon shuts down (or `native::Service::close_pipes` is called): open
    /// native pipes stop reading calls, answer those they run, and end; new pipes are refused.
    pub(crate) closing: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    /// The advertised address (the configured one until the socket is bound).
    pub(crate) fn advertised(&self) -> SocketAddr {
        self.advertised.get().copied().unwrap_or_else(|| {
            SocketAddr::new(
                self.config.external_ip.unwrap_or(self.config.ip),
                self.config.external_port.unwrap_or(self.config.port),
            )
        })
    }

    /// Takes a token from `hotkey`'s bucket: `Err` with the wait until the next one when
    /// the caller is over [`Config::rate_limit`] (counted as rate limited).
    pub(crate) fn check_rate(&self, hotkey: &str) -> Result<(), std::time::Duration> {
        let Some(limiter) = &self.rate_limiter else {
            return Ok(());
        };
        limiter
            .check(hotkey, std::time::Instant::now())
            .inspect_err(|_| {
                Counters::bump(&self.counters.rate_limited);
            })
    }

    pub(crate) fn lock_nonces(&self) -> std::sync::MutexGuard<'_, NonceVerifier> {
        // The verifier's methods cannot panic half-way, so a poisoned lock is consistent.
        self.nonces
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The attached routes, by synapse name.
#[derive(Default)]
pub(crate) struct Routes {
    pub(crate) by_name: BTreeMap<&'static str, Arc<dyn Endpoint>>,
    /// The same routes for the native dialect.
    pub(crate) native: BTreeMap<&'static str, Arc<dyn crate::native::Endpoint>>,
}

impl Routes {
    pub(crate) fn insert<T: Synapse>(&mut self, route: TypedRoute<T>) {
        self.native
            .insert(T::NAME, crate::native::endpoint(route.clone()));
        self.by_name.insert(T::NAME, http::endpoint(route));
    }
}

/// The server side of a neuron (see the crate docs).
pub struct Axon {
    pub(crate) shared: Arc<Shared>,
    pub(crate) routes: Routes,
}

impl std::fmt::Debug for Axon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Axon")
            .field("hotkey", &self.shared.hotkey)
            .field("routes", &self.routes.by_name.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Axon {
    /// An axon signing as `keypair`, serving the built-in `/Synapse` ping.
    pub fn new(keypair: Keypair, config: Config) -> Self {
        let shared = Shared {
            hotkey: keypair.ss58().to_owned(),
            scheduler: Scheduler::new(config.workers, config.queue_capacity),
            nonces: Mutex::new(NonceVerifier::new(config.nonces.clone())),
            verifier: VerifierCache::new(config.verifier_cache),
            counters: Arc::new(Counters::default()),
            rate_limiter: config.rate_limit.map(RateLimiter::new),
            advertised: OnceLock::new(),
            closing: tokio::sync::watch::Sender::new(false),
            config,
        };
        let mut axon = Axon {
            shared: Arc::new(shared),
            routes: Routes::default(),
        };
        let _ = axon.attach::<Ping, _, _>(|_caller, ping| async move { Ok(ping) });
        axon
    }

    /// Attaches an async forward handler for `T` (route `/{T::NAME}`), replacing any
    /// earlier one. Hooks can be chained on the returned builder.
    pub fn attach<T, F, Fut>(&mut self, forward: F) -> Attach<'_, T>
    where
        T: Synapse,
        F: Fn(Caller, T) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = HandlerResult<T>> + Send + 'static,
    {
        self.attach_with(Forward::from_async(forward))
    }

    /// Attaches a blocking forward handler (CPU-bound model code): it runs on tokio's
    /// blocking pool, so it never stalls the I/O threads.
    pub fn attach_blocking<T, F>(&mut self, forward: F) -> Attach<'_, T>
    where
        T: Synapse,
        F: Fn(Caller, T) -> HandlerResult<T> + Send + Sync + 'static,
    {
        self.attach_with(Forward::from_blocking(forward))
    }

    /// Attaches a streaming handler: the response is HTTP 200 `text/event-stream` whose
    /// body is the chunks the stream yields (the SDK's `StreamingSynapse`).
    pub fn attach_stream<T, F, S>(&mut self, forward: F) -> Attach<'_, T>
    where
        T: Synapse,
        F: Fn(Caller, T) -> S + Send + Sync + 'static,
        S: Stream<Item = Bytes> + Send + 'static,
    {
        self.attach_with(Forward::from_stream(forward))
    }

    fn attach_with<T: Synapse>(&mut self, forward: Forward<T>) -> Attach<'_, T> {
        Attach {
            sink: &mut self.routes,
            route: Some(TypedRoute::new(forward)),
            _marker: PhantomData,
        }
    }

    /// The SS58 hotkey of this axon.
    pub fn hotkey(&self) -> &str {
        &self.shared.hotkey
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The names of the attached synapses.
    pub fn synapses(&self) -> Vec<&'static str> {
        self.routes.by_name.keys().copied().collect()
    }

    /// The request counters (live).
    pub fn counters(&self) -> Arc<Counters> {
        self.shared.counters.clone()
    }

    /// The HTTP (Synapse) dialect's router: `/{Name}` for every attached synapse. Other
    /// dialects (gRPC services) can be merged into it before it is served with
    /// [`Axon::serve_router`].
    pub fn router(&self) -> axum::Router {
        http::router(self.shared.clone(), &self.routes)
    }

    /// Binds `config.ip:config.port` and serves the HTTP dialect.
    pub async fn serve(self) -> Result<Running, Error> {
        let router = self.router();
        self.serve_router(router).await
    }

    /// Binds and serves `router` (typically [`Axon::router`] with more services added).
    pub async fn serve_router(self, router: axum::Router) -> Result<Running, Error> {
        let addr = self.shared.config.bind_addr();
        let listener = Server::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let handle = Server::serve(listener, router, self.shared.config.transport());
        let bound = handle.local_addr();
        let config = &self.shared.config;
        let _ = self.shared.advertised.set(SocketAddr::new(
            config.external_ip.unwrap_or(bound.ip()),
            config.external_port.unwrap_or(bound.port()),
        ));
        Ok(Running {
            handle,
            shared: self.shared,
        })
    }
}

/// A serving axon.
pub struct Running {
    handle: ServerHandle,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("local_addr", &self.handle.local_addr())
            .finish_non_exhaustive()
    }
}

impl Running {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// The hotkey the axon signs as.
    pub fn hotkey(&self) -> &str {
        &self.shared.hotkey
    }

    /// A copy of the request counters.
    pub fn counters(&self) -> Snapshot {
        self.shared.counters.snapshot()
    }

    /// Requests waiting for a worker now.
    pub fn queued(&self) -> usize {
        self.shared.scheduler.waiting()
    }

    /// Handlers running now.
    pub fn running(&self) -> usize {
        self.shared.scheduler.running()
    }

    /// Number of open connections.
    pub fn open_connections(&self) -> usize {
        self.handle.open_connections()
    }

    /// Connections closed on accept: over the per-address limit or refused by the accept
    /// filter.
    pub fn refused_connections(&self) -> u64 {
        self.handle.refused_connections()
    }

    /// Stops accepting, ends native pipes (they stop reading new calls) and waits up to
    /// `grace` for in-flight requests.
    pub async fn shutdown(self, grace: Duration) {
        // Native pipes are streams that never end by themselves: tell them to stop reading
        // new calls first, so that the graceful shutdown below only waits for calls in flight.
        self.shared.closing.send_replace(true);
        self.handle.shutdown(grace).await;
    }
}
