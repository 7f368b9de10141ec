//! Attaching synapses: the forward handler and the optional hooks of one route.
//!
//! One route per [`Synapse`] type, named by [`Synapse::NAME`]. The forward handler is async
//! ([`Axon::attach`](crate::Axon::attach)), blocking ([`Axon::attach_blocking`](crate::Axon::attach_blocking),
//! run on tokio's blocking pool, never on an I/O thread) or streaming
//! ([`Axon::attach_stream`](crate::Axon::attach_stream)). Hooks run in the pipeline's order:
//! verify (after the built-in signature and nonce checks), blacklist (on the verified
//! caller), priority (on the verified, hash-checked body).

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, Stream, StreamExt};
use neuron_protocol::synapse::Synapse;

use crate::caller::Caller;

/// A handler failure. The client gets the status (500 by default) with a constant message;
/// the detail is only logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("handler failed with status {status}: {detail}")]
pub struct HandlerError {
    /// HTTP status to answer with.
    pub status: u16,
    /// What went wrong, for the axon's log only.
    pub detail: String,
}

impl HandlerError {
    /// A 500 failure with a detail for the log.
    pub fn new(detail: impl Into<String>) -> Self {
        Self {
            status: 500,
            detail: detail.into(),
        }
    }

    /// A failure with an explicit status (for example 429 or 503 from a busy model).
    pub fn with_status(status: u16, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
        }
    }
}

/// What a forward handler returns: the synapse with its outputs filled in.
pub type HandlerResult<T> = Result<T, HandlerError>;

/// Blacklist hook: `Err(reason)` refuses the caller with 403.
pub type BlacklistFn = Arc<dyn Fn(&Caller) -> Result<(), String> + Send + Sync>;
/// Verify hook: extra checks after the built-in ones; `Err(reason)` answers 401.
pub type VerifyFn = Arc<dyn Fn(&Caller) -> Result<(), String> + Send + Sync>;
/// Priority hook: higher runs first when requests wait for a worker.
pub type PriorityFn<T> = Arc<dyn Fn(&Caller, &T) -> f64 + Send + Sync>;

type AsyncFn<T> = Arc<dyn Fn(Caller, T) -> BoxFuture<'static, HandlerResult<T>> + Send + Sync>;
type BlockingFn<T> = Arc<dyn Fn(Caller, T) -> HandlerResult<T> + Send + Sync>;
type StreamFn<T> = Arc<dyn Fn(Caller, T) -> BoxStream<'static, Bytes> + Send + Sync>;

/// How a route's forward handler runs.
pub(crate) enum Forward<T> {
    /// An async handler, polled on the runtime.
    Async(AsyncFn<T>),
    /// A blocking handler, run with `spawn_blocking`.
    Blocking(BlockingFn<T>),
    /// A streaming handler: the response body is the chunks it yields.
    Stream(StreamFn<T>),
}

impl<T> Clone for Forward<T> {
    fn clone(&self) -> Self {
        match self {
            Forward::Async(f) => Forward::Async(f.clone()),
            Forward::Blocking(f) => Forward::Blocking(f.clone()),
            Forward::Stream(f) => Forward::Stream(f.clone()),
        }
    }
}

impl<T: Synapse> Forward<T> {
    pub(crate) fn from_async<F, Fut>(f: F) -> Self
    where
        F: Fn(Caller, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult<T>> + Send + 'static,
    {
        Forward::Async(Arc::new(move |caller, synapse| f(caller, synapse).boxed()))
    }

    pub(crate) fn from_blocking<F>(f: F) -> Self
    where
        F: Fn(Caller, T) -> HandlerResult<T> + Send + Sync + 'static,
    {
        Forward::Blocking(Arc::new(f))
    }

    pub(crate) fn from_stream<F, S>(f: F) -> Self
    where
        F: Fn(Caller, T) -> S + Send + Sync + 'static,
        S: Stream<Item = Bytes> + Send + 'static,
    {
        Forward::Stream(Arc::new(move |caller, synapse| f(caller, synapse).boxed()))
    }
}

/// Everything the axon knows about one attached synapse type.
pub(crate) struct TypedRoute<T> {
    pub(crate) forward: Forward<T>,
    pub(crate) blacklist: Option<BlacklistFn>,
    pub(crate) verify: Option<VerifyFn>,
    pub(crate) priority: Option<PriorityFn<T>>,
}

impl<T> Clone for TypedRoute<T> {
    fn clone(&self) -> Self {
        Self {
            forward: self.forward.clone(),
            blacklist: self.blacklist.clone(),
            verify: self.verify.clone(),
            priority: self.priority.clone(),
        }
    }
}

impl<T: Synapse> TypedRoute<T> {
    pub(crate) fn new(forward: Forward<T>) -> Self {
        Self {
            forward,
            blacklist: None,
            verify: None,
            priority: None,
        }
    }

    /// Runs the blacklist hook on the verified caller.
    pub(crate) fn check_blacklist(&self, caller: &Caller) -> Result<(), String> {
        self.blacklist.as_ref().map_or(Ok(()), |f| f(caller))
    }

    /// Runs the user verify hook on the verified caller.
    pub(crate) fn check_verify(&self, caller: &Caller) -> Result<(), String> {
        self.verify.as_ref().map_or(Ok(()), |f| f(caller))
    }

    /// The priority of a request (0.0 without a hook).
    pub(crate) fn priority_of(&self, caller: &Caller, synapse: &T) -> f64 {
        self.priority.as_ref().map_or(0.0, |f| f(caller, synapse))
    }
}

/// Builder returned by the `attach*` methods: add hooks, then let it drop (at the end of
/// the statement) to register the route.
///
/// ```
/// use neuron_axon::{Axon, Config};
/// use neuron_examples::{Dummy, dummy};
///
/// let mut axon = Axon::new(neuron_wallet::Keypair::from_uri("//Alice")?, Config::new());
/// axon.attach::<Dummy, _, _>(|_caller, s| async move { Ok(dummy(s)) })
///     .blacklist(|caller| match caller.hotkey.as_str() {
///         "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty" => Err("not welcome".into()),
///         _ => Ok(()),
///     })
///     .priority(|_caller, s| s.dummy_input as f64);
/// assert_eq!(axon.synapses(), ["Dummy", "Synapse"]);
/// # Ok::<(), neuron_wallet::Error>(())
/// ```
pub struct Attach<'a, T: Synapse> {
    pub(crate) sink: &'a mut crate::axon::Routes,
    pub(crate) route: Option<TypedRoute<T>>,
    pub(crate) _marker: PhantomData<T>,
}

impl<T: Synapse> Attach<'_, T> {
    fn with(mut self, f: impl FnOnce(&mut TypedRoute<T>)) -> Self {
        if let Some(route) = self.route.as_mut() {
            f(route);
        }
        self
    }

    /// Sets the blacklist hook, run on the **verified** caller: `Err(reason)` answers 403
    /// `Forbidden. Key is blacklisted: {reason}.`.
    pub fn blacklist<F>(self, f: F) -> Self
    where
        F: Fn(&Caller) -> Result<(), String> + Send + Sync + 'static,
    {
        self.with(|r| r.blacklist = Some(Arc::new(f)))
    }

    /// Sets an extra verify hook, run after the built-in signature and nonce checks:
    /// `Err(reason)` answers 401 `Not Verified with error: {reason}`.
    pub fn verify<F>(self, f: F) -> Self
    where
        F: Fn(&Caller) -> Result<(), String> + Send + Sync + 'static,
    {
        self.with(|r| r.verify = Some(Arc::new(f)))
    }

    /// Sets the priority hook: when requests wait for a worker, higher values run first.
    pub fn priority<F>(self, f: F) -> Self
    where
        F: Fn(&Caller, &T) -> f64 + Send + Sync + 'static,
    {
        self.with(|r| r.priority = Some(Arc::new(f)))
    }
}

impl<T: Synapse> Drop for Attach<'_, T> {
    fn drop(&mut self) {
        if let Some(route) = self.route.take() {
            self.sink.insert::<T>(route);
        }
    }
}
