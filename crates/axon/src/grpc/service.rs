//! The builder of the legacy service and its tonic handler.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use candle_core::Tensor;
use futures::FutureExt;
use neuron_legacy::{SynapseSpec, SynapseType};
use neuron_protocol::legacy::{RequestType, TensorMessage};
use neuron_protocol::nonce::LegacyNonces;
use neuron_transport::legacy_grpc::bittensor_server::{Bittensor, BittensorServer};
use neuron_wallet::{Keypair, VerifierCache};
use prost::Message;

use super::auth::{Auth, Guard};
use super::config::Config;
use super::hooks::{
    BackwardCallback, BlacklistFn, Callback, InputGrad, ModalityBackward, ModalityCallback, Output,
    PriorityFn, SynapseCheckFn,
};
use super::stats::Stats;
use crate::Caller;
use crate::queue::Scheduler;
use crate::ratelimit::{RateLimit, RateLimiter};
use neuron_legacy::modality::Modality;

/// The legacy gRPC axon service; see the [module docs](super).
pub struct Service {
    keypair: Keypair,
    config: Config,
    callbacks: HashMap<SynapseType, Callback>,
    backward: Option<BackwardCallback>,
    modalities: HashMap<Modality, ModalityCallback>,
    modality_backward: Option<ModalityBackward>,
    blacklist: Option<BlacklistFn>,
    priority: Option<PriorityFn>,
    check: Option<SynapseCheckFn>,
    rate_limiter: Option<RateLimiter>,
    stats: Arc<Stats>,
    scheduler: Scheduler,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("hotkey", &self.keypair.ss58())
            .field("config", &self.config)
            .field("synapses", &self.callbacks.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A service answering as `keypair`'s hotkey, with no callback attached (every
    /// synapse is answered NotImplemented until one is).
    pub fn new(keypair: Keypair, config: Config) -> Self {
        Self {
            keypair,
            callbacks: HashMap::new(),
            backward: None,
            modalities: HashMap::new(),
            modality_backward: None,
            blacklist: None,
            priority: None,
            check: None,
            rate_limiter: None,
            stats: Arc::new(Stats::default()),
            scheduler: Scheduler::new(config.workers, config.queue_capacity),
            config,
        }
    }

    /// Attaches the async callback of one synapse type: `(caller, inputs [B, S] int64,
    /// synapse) -> model output` in the form [`SynapseSpec::encode_response`] expects
    /// (hidden states `[B, S, 1024]`, logits `[B, S, V]`, phrases `[B, topk + 1, L]`,
    /// generated ids `[B, ≤ num_to_generate]`). An `Err` text is sent as the synapse's
    /// message with UnknownException.
    pub fn with_callback<F, Fut>(mut self, synapse: SynapseType, f: F) -> Self
    where
        F: Fn(Caller, Tensor, SynapseSpec) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Output> + Send + 'static,
    {
        let f = Arc::new(move |c, t, s| f(c, t, s).boxed());
        self.callbacks.insert(synapse, Callback::Async(f));
        self
    }

    /// Attaches a blocking callback (run on tokio's blocking pool; for CPU-bound models).
    pub fn with_blocking_callback<F>(mut self, synapse: SynapseType, f: F) -> Self
    where
        F: Fn(Caller, Tensor, SynapseSpec) -> Output + Send + Sync + 'static,
    {
        self.callbacks
            .insert(synapse, Callback::Blocking(Arc::new(f)));
        self
    }

    /// Attaches the async backward callback: `(caller, inputs, gradient, synapse)`, the
    /// gradient decoded to the output's shape ([`SynapseSpec::decode_grad`]). Without one,
    /// Backward answers NotImplemented.
    pub fn with_backward<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Caller, Tensor, Tensor, SynapseSpec) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let f = Arc::new(move |c, i, g, s| f(c, i, g, s).boxed());
        self.backward = Some(BackwardCallback::Async(f));
        self
    }

    /// Attaches a blocking backward callback.
    pub fn with_blocking_backward<F>(mut self, f: F) -> Self
    where
        F: Fn(Caller, Tensor, Tensor, SynapseSpec) -> Result<(), String> + Send + Sync + 'static,
    {
        self.backward = Some(BackwardCallback::Blocking(Arc::new(f)));
        self
    }

    /// Attaches the async callback of one modality of the 2.x calls (a message without
    /// synapses and one tensor, see `neuron_legacy::modality`): `(caller, inputs,
    /// modality) -> [B, S, 1024]`. Inputs are int64 `[B, S]` token ids (TEXT), float32
    /// `[B, S, C, H, W]` images (IMAGE) or float32 `[B, S, D]` (TENSOR). Without a TEXT
    /// callback, TEXT calls go to the TEXT_LAST_HIDDEN_STATE callback (unmasked); a
    /// modality without a callback is answered NotImplemented.
    pub fn with_modality_callback<F, Fut>(mut self, modality: Modality, f: F) -> Self
    where
        F: Fn(Caller, Tensor, Modality) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Output> + Send + 'static,
    {
        let f = Arc::new(move |c, t, m| f(c, t, m).boxed());
        self.modalities.insert(modality, ModalityCallback::Async(f));
        self
    }

    /// [`Service::with_modality_callback`] run on tokio's blocking pool.
    pub fn with_blocking_modality_callback<F>(mut self, modality: Modality, f: F) -> Self
    where
        F: Fn(Caller, Tensor, Modality) -> Output + Send + Sync + 'static,
    {
        self.modalities
            .insert(modality, ModalityCallback::Blocking(Arc::new(f)));
        self
    }

    /// Attaches the backward callback of the modality calls: `(caller, inputs, gradient of
    /// the output [B, S, 1024], modality)`; `Ok(Some(g))` sends `g` (the inputs' shape)
    /// back as the gradient of the inputs, `Ok(None)` answers Success without a tensor.
    /// Without one, modality Backward calls answer NotImplemented.
    pub fn with_modality_backward<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Caller, Tensor, Tensor, Modality) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = InputGrad> + Send + 'static,
    {
        self.modality_backward = Some(Arc::new(move |c, i, g, m| f(c, i, g, m).boxed()));
        self
    }

    /// Limits each verified hotkey to `limit` (a token bucket per hotkey, as the HTTP and
    /// native dialects do): a Forward or Backward over it is answered at once, before any
    /// tensor is decoded, with ReturnCode Backoff (3) for the call and every synapse.
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limiter = Some(RateLimiter::new(limit));
        self
    }

    /// Sets the blacklist hook (see [`BlacklistFn`]).
    pub fn with_blacklist(
        mut self,
        f: impl Fn(&Caller, RequestType) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.blacklist = Some(Arc::new(f));
        self
    }

    /// Sets the priority hook (see [`PriorityFn`]); without one, calls wait first come,
    /// first served.
    pub fn with_priority(
        mut self,
        f: impl Fn(&Caller, &[Tensor], RequestType) -> f64 + Send + Sync + 'static,
    ) -> Self {
        self.priority = Some(Arc::new(f));
        self
    }

    /// Sets the synapse check (see [`SynapseCheckFn`]), run before each callback after the
    /// built-in one (the message's `hotkey` must be the signer's).
    pub fn with_synapse_check(
        mut self,
        f: impl Fn(&Caller, &SynapseSpec, &Tensor) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.check = Some(Arc::new(f));
        self
    }

    /// The axon's hotkey (SS58).
    pub fn hotkey(&self) -> &str {
        self.keypair.ss58()
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The worker queue, shared with the running service (its `waiting()` and
    /// `running()` gauges).
    pub fn queue(&self) -> Scheduler {
        self.scheduler.clone()
    }

    /// The counters, shared with the running service.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// The tonic service: the generated `BittensorServer` (with the message size limit)
    /// behind metadata authentication ([`Guard`]). Mount it with
    /// `neuron_transport::grpc::add_service(router, svc.into_tonic())`.
    pub fn into_tonic(self) -> Guard<BittensorServer<Handler>> {
        let own_hotkey = self.keypair.ss58().to_owned();
        let auth = Arc::new(Auth {
            own_hotkey: own_hotkey.clone(),
            nonces: Mutex::new(LegacyNonces::with_max_keys(self.config.max_nonce_keys)),
            verifier: VerifierCache::new(self.config.verifier_cache),
            blacklist: self.blacklist,
            stats: self.stats.clone(),
        });
        let max = self.config.max_message_size;
        let shared = Shared {
            own_hotkey,
            scheduler: self.scheduler,
            config: self.config,
            callbacks: self.callbacks,
            backward: self.backward,
            modalities: self.modalities,
            modality_backward: self.modality_backward,
            priority: self.priority,
            check: self.check,
            rate_limiter: self.rate_limiter,
            stats: self.stats,
        };
        let server = BittensorServer::new(Handler(Arc::new(shared)))
            .max_decoding_message_size(max)
            .max_encoding_message_size(usize::MAX);
        Guard::new(server, auth)
    }
}

/// What the handlers share.
pub(crate) struct Shared {
    pub(crate) own_hotkey: String,
    pub(crate) config: Config,
    pub(crate) scheduler: Scheduler,
    pub(crate) callbacks: HashMap<SynapseType, Callback>,
    pub(crate) backward: Option<BackwardCallback>,
    pub(crate) modalities: HashMap<Modality, ModalityCallback>,
    pub(crate) modality_backward: Option<ModalityBackward>,
    pub(crate) priority: Option<PriorityFn>,
    pub(crate) check: Option<SynapseCheckFn>,
    pub(crate) rate_limiter: Option<RateLimiter>,
    pub(crate) stats: Arc<Stats>,
}

/// The generated trait's implementation (behind [`Guard`], which supplies the caller).
#[derive(Clone)]
pub struct Handler(Arc<Shared>);

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("hotkey", &self.0.own_hotkey)
            .finish_non_exhaustive()
    }
}

impl Handler {
    async fn handle(
        &self,
        request: tonic::Request<TensorMessage>,
        kind: RequestType,
    ) -> Result<tonic::Response<TensorMessage>, tonic::Status> {
        let start = Instant::now();
        // Guard inserts the caller; without it (the handler mounted on its own) refuse.
        let Some(caller) = request.extensions().get::<Caller>().cloned() else {
            return Err(tonic::Status::unauthenticated("Request signature missing"));
        };
        let message = request.into_inner();
        let reply = match kind {
            RequestType::Backward => self.0.backward(caller, &message).await,
            _ => self.0.forward(caller, &message).await,
        };
        // A reply without synapses (a modality call, or a refusal of a message without
        // any) counts its top-level code once.
        let top = reply.synapses.is_empty().then_some(reply.return_code);
        self.0.stats.call(
            kind,
            reply.synapses.iter().map(|s| s.return_code).chain(top),
            message.encoded_len(),
            reply.encoded_len(),
            start.elapsed(),
        );
        Ok(tonic::Response::new(reply))
    }
}

#[tonic::async_trait]
impl Bittensor for Handler {
    async fn forward(
        &self,
        request: tonic::Request<TensorMessage>,
    ) -> Result<tonic::Response<TensorMessage>, tonic::Status> {
        self.handle(request, RequestType::Forward).await
    }

    async fn backward(
        &self,
        request: tonic::Request<TensorMessage>,
    ) -> Result<tonic::Response<TensorMessage>, tonic::Status> {
        self.handle(request, RequestType::Backward).await
    }
}
