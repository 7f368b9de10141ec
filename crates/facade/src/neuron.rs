//! [`Neuron`]: one wallet hotkey, an axon speaking every dialect on one port, a dendrite
//! for each dialect, gossip discovery and metrics, wired together.
//!
//! ```no_run
//! # use std::{path::Path, time::Duration};
//! # use neuron::examples::{Dummy, dummy};
//! # use neuron::{Neuron, NeuronConfig};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = NeuronConfig::load(Some(Path::new("neuron.toml")))?;
//! let mut builder = Neuron::from_config(config)?;
//! builder.axon().attach::<Dummy, _, _>(|_caller, s| async move { Ok(dummy(s)) });
//! let neuron = builder.start().await?;
//! for peer in neuron.peers(16) {
//!     let reply = neuron
//!         .call(&peer.axon, Dummy { dummy_input: 2, dummy_output: None }, None)
//!         .await;
//!     println!("{}: {:?}", peer.axon.hotkey, reply.fields().dummy_output);
//! }
//! neuron.shutdown(Duration::from_secs(5)).await;
//! # Ok(())
//! # }
//! ```
//!
//! On its one port the neuron serves the HTTP synapse dialect (the Python SDK's), the native
//! binary dialect over the same attached synapses, the legacy gRPC TensorMessage service
//! when one is given ([`NeuronBuilder::legacy`]), and the gossip service. It advertises
//! itself in a signed endpoint record listing those dialects, so other neurons'
//! [`Neuron::call`] picks the native dialect for it and HTTP for Python axons.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use neuron_axon::{Axon, Running, native as axon_native};
use neuron_dendrite::grpc::{self as dgrpc, TextDendrite};
use neuron_dendrite::native::{self as dnative, NativeDendrite};
use neuron_dendrite::{AxonInfo, Dendrite, Response};
use neuron_metagraph::{Endpoint, EndpointRecord, Gossip, GrpcTransport};
use neuron_protocol::synapse::Synapse;
use neuron_wallet::{Keypair, Wallet};

use crate::config::{NeuronConfig, NoncePolicy};
use crate::metrics::{DendriteMetrics, Metrics, MetricsBuilder, MetricsServer};

/// Why a neuron could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum NeuronError {
    /// The hotkey could not be loaded.
    #[error("loading the hotkey: {0}")]
    Wallet(String),
    /// The axon could not bind its port.
    #[error(transparent)]
    Axon(#[from] neuron_axon::Error),
    /// The native service could not be built.
    #[error("native dialect: {0}")]
    Native(String),
    /// Gossip could not start or sign the endpoint record.
    #[error("gossip: {0}")]
    Gossip(String),
    /// The metrics endpoint could not bind.
    #[error("metrics endpoint {addr}: {source}")]
    Metrics {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Dialect names advertised in endpoint records.
pub mod protocols {
    /// The Python SDK's HTTP synapse dialect.
    pub const HTTP: &str = "http";
    /// The legacy gRPC TensorMessage dialect.
    pub const GRPC: &str = "grpc";
    /// The native binary dialect.
    pub const NATIVE: &str = neuron_dendrite::native::PROTOCOL;
}

/// Loads the hotkey named by the `wallet.*` settings: the development URI when set, the
/// keyfile in the btcli layout otherwise.
pub fn load_keypair(config: &NeuronConfig) -> Result<Keypair, NeuronError> {
    if let Some(uri) = &config.wallet.uri {
        return Keypair::from_uri(uri).map_err(|e| NeuronError::Wallet(format!("{uri:?}: {e}")));
    }
    let root = config
        .wallet
        .path
        .clone()
        .unwrap_or_else(Wallet::default_path);
    let wallet = Wallet::new(root, &config.wallet.name, &config.wallet.hotkey);
    wallet.load_hotkey().map_err(|e| {
        NeuronError::Wallet(format!(
            "{}: {e} (create it with `neuron wallet create` or set wallet.uri, e.g. //Alice)",
            wallet.hotkey_path().display()
        ))
    })
}

/// The axon settings the configuration asks for.
pub fn axon_config(config: &NeuronConfig) -> neuron_axon::Config {
    let mut c = neuron_axon::Config::new()
        .with_ip(config.axon.ip)
        .with_port(config.axon.port);
    if let Some(ip) = config.axon.external_ip {
        c = c.with_external_ip(ip);
    }
    if let Some(port) = config.axon.external_port {
        c = c.with_external_port(port);
    }
    if let Some(n) = config.axon.max_workers {
        c = c.with_workers(n);
    }
    if let Some(n) = config.axon.max_connections_per_ip {
        c = c.with_max_connections_per_ip((n > 0).then_some(n));
    }
    if config.axon.nonce_policy == NoncePolicy::Sdk {
        c = c.with_sdk_nonces();
    }
    if let Some(rate) = config.axon.rate_limit.filter(|r| *r > 0.0) {
        // The rate rounded up, as a whole number of requests (saturating for huge rates).
        let default_burst = rate.ceil().min(f64::from(u32::MAX)) as u32;
        let burst = config.axon.rate_burst.unwrap_or(default_burst).max(1);
        c = c.with_rate_limit(Some(neuron_axon::RateLimit::new(rate, burst)));
    }
    c
}

/// The gossip settings the configuration asks for (records refreshed five times per TTL).
pub fn gossip_config(config: &NeuronConfig) -> neuron_metagraph::Config {
    let ttl = Duration::from_secs(config.metagraph.ttl_secs.max(1));
    neuron_metagraph::Config::new()
        .with_interval(Duration::from_millis(config.metagraph.interval_ms.max(10)))
        .with_ttl(ttl)
        .with_refresh(ttl / 5)
}

/// Builds a [`Neuron`]: attach synapses to [`NeuronBuilder::axon`], optionally add the
/// legacy service, then [`NeuronBuilder::start`].
pub struct NeuronBuilder {
    keypair: Keypair,
    config: NeuronConfig,
    axon: Axon,
    legacy: Option<neuron_axon::grpc::Service>,
    native: Option<axon_native::Config>,
    gossip: Option<neuron_metagraph::Config>,
    dendrite: neuron_dendrite::Config,
    text: dgrpc::Config,
    coldkey: String,
}

impl std::fmt::Debug for NeuronBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NeuronBuilder")
            .field("hotkey", &self.keypair.ss58())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl NeuronBuilder {
    /// The hotkey the neuron signs with (a legacy service must be built with it).
    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    /// The configuration.
    pub fn config(&self) -> &NeuronConfig {
        &self.config
    }

    /// The axon, to attach synapses to.
    pub fn axon(&mut self) -> &mut Axon {
        &mut self.axon
    }

    /// Serves the legacy gRPC TensorMessage dialect with `service` (built with this
    /// neuron's keypair).
    pub fn legacy(mut self, service: neuron_axon::grpc::Service) -> Self {
        self.legacy = Some(service);
        self
    }

    /// Settings of the native dialect's server side.
    pub fn native(mut self, config: axon_native::Config) -> Self {
        self.native = Some(config);
        self
    }

    /// Does not serve the native dialect.
    pub fn without_native(mut self) -> Self {
        self.native = None;
        self
    }

    /// Gossip settings (instead of the configuration's `metagraph.*`).
    pub fn gossip(mut self, config: neuron_metagraph::Config) -> Self {
        self.gossip = Some(config);
        self
    }

    /// Does not join gossip (no discovery, no gossip service).
    pub fn without_gossip(mut self) -> Self {
        self.gossip = None;
        self
    }

    /// The HTTP and native dendrite's settings.
    pub fn dendrite(mut self, config: neuron_dendrite::Config) -> Self {
        self.dendrite = config;
        self
    }

    /// The legacy text dendrite's settings.
    pub fn text_dendrite(mut self, config: dgrpc::Config) -> Self {
        self.text = config;
        self
    }

    /// The coldkey advertised in the endpoint record.
    pub fn coldkey(mut self, coldkey: impl Into<String>) -> Self {
        self.coldkey = coldkey.into();
        self
    }

    /// Binds the port, starts every service, gossip and the metrics endpoint.
    pub async fn start(self) -> Result<Neuron, NeuronError> {
        let Self {
            keypair,
            config,
            axon,
            legacy,
            native,
            gossip,
            dendrite,
            text,
            coldkey,
        } = self;
        let hotkey = keypair.ss58().to_owned();
        let counters = axon.counters();
        let mut protocols = vec![protocols::HTTP.to_owned()];
        let mut router = axon.router();
        if let Some(native) = native {
            let svc = axon_native::Service::new(&axon, keypair.clone(), native)
                .map_err(|e| NeuronError::Native(e.to_string()))?;
            router = neuron_transport::grpc::add_service(router, svc.into_tonic());
            protocols.push(protocols::NATIVE.to_owned());
        }
        let mut legacy_stats = None;
        if let Some(svc) = legacy {
            legacy_stats = Some(svc.stats());
            router = neuron_transport::grpc::add_service(router, svc.into_tonic());
            protocols.push(protocols::GRPC.to_owned());
        }
        let gossip = gossip.map(|c| {
            (
                Gossip::new(c.clone(), config.metagraph.bootstrap.clone()),
                c,
            )
        });
        if let Some((g, _)) = &gossip {
            router =
                neuron_transport::grpc::add_service(router, neuron_metagraph::service(g.clone()));
            protocols.push(neuron_metagraph::record::PROTOCOL_GOSSIP.to_owned());
        }
        let running = axon.serve_router(router).await?;
        let local_addr = running.local_addr();
        let advertised = SocketAddr::new(
            config.axon.external_ip.unwrap_or(local_addr.ip()),
            config.axon.external_port.unwrap_or(local_addr.port()),
        );
        let record = match &gossip {
            Some((g, c)) => {
                let mut endpoint = Endpoint::new(advertised).with_coldkey(coldkey);
                for p in &protocols {
                    endpoint = endpoint.with_protocol(p.clone());
                }
                let record = g
                    .subscribe(keypair.clone(), endpoint)
                    .map_err(|e| NeuronError::Gossip(e.to_string()))?;
                g.start(GrpcTransport::new(c.timeout))
                    .map_err(|e| NeuronError::Gossip(e.to_string()))?;
                Some(record)
            }
            None => None,
        };
        let gossip = gossip.map(|(g, _)| g);
        let http = Dendrite::new(keypair.clone(), dendrite);
        let native_dendrite = NativeDendrite::new(http, dnative::Config::default());
        let text_dendrite = TextDendrite::new(keypair.clone(), text);
        let dendrite_metrics = DendriteMetrics::default();
        let mut builder = MetricsBuilder::new()
            .axon(counters)
            .dendrite(&dendrite_metrics)
            .grpc_dendrite(text_dendrite.metrics());
        if let Some(stats) = legacy_stats {
            builder = builder.grpc_axon(stats);
        }
        if let Some(g) = &gossip {
            builder = builder.gossip(g.clone());
        }
        let metrics = builder.build();
        let metrics_server = match config.metrics.port {
            Some(port) => {
                let addr = SocketAddr::new(config.metrics.ip, port);
                Some(
                    metrics
                        .serve(addr)
                        .await
                        .map_err(|source| NeuronError::Metrics { addr, source })?,
                )
            }
            None => None,
        };
        tracing::info!(%local_addr, %hotkey, ?protocols, "neuron started");
        Ok(Neuron {
            keypair,
            hotkey,
            running,
            advertised,
            protocols,
            record,
            gossip,
            dendrite: native_dendrite,
            text: text_dendrite,
            metrics,
            dendrite_metrics,
            metrics_server,
        })
    }
}

/// Another neuron, as gossip knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Where and how to call it.
    pub axon: AxonInfo,
    /// Its coldkey, when advertised.
    pub coldkey: String,
}

impl Peer {
    /// The peer of a verified endpoint record.
    pub fn from_record(record: &EndpointRecord) -> Self {
        let endpoint = record.endpoint();
        let mut axon = AxonInfo::at(endpoint.addr, record.hotkey());
        axon.version = Some(record.version());
        axon.protocols = Some(endpoint.protocols.clone());
        Self {
            axon,
            coldkey: endpoint.coldkey.clone(),
        }
    }

    /// Whether the peer advertises `protocol`.
    pub fn speaks(&self, protocol: &str) -> bool {
        self.axon
            .protocols
            .as_ref()
            .is_some_and(|p| p.iter().any(|s| s == protocol))
    }

    /// The peer as an endpoint of the legacy text dendrite, with `uid`.
    pub fn legacy_endpoint(&self, uid: u64) -> dgrpc::Endpoint {
        dgrpc::Endpoint::new(
            uid,
            self.axon.hotkey.clone(),
            self.axon.ip.to_string(),
            self.axon.port,
        )
    }
}

/// A running neuron; see the [module docs](self).
pub struct Neuron {
    keypair: Keypair,
    hotkey: String,
    running: Running,
    advertised: SocketAddr,
    protocols: Vec<String>,
    record: Option<EndpointRecord>,
    gossip: Option<Gossip>,
    dendrite: NativeDendrite,
    text: TextDendrite,
    metrics: Metrics,
    dendrite_metrics: DendriteMetrics,
    metrics_server: Option<MetricsServer>,
}

impl std::fmt::Debug for Neuron {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Neuron")
            .field("hotkey", &self.hotkey)
            .field("local_addr", &self.running.local_addr())
            .field("protocols", &self.protocols)
            .finish_non_exhaustive()
    }
}

impl Neuron {
    /// A builder for `keypair` with `config`'s axon, gossip and metrics settings.
    pub fn builder(keypair: Keypair, config: NeuronConfig) -> NeuronBuilder {
        let axon = Axon::new(keypair.clone(), axon_config(&config));
        let gossip = Some(gossip_config(&config));
        NeuronBuilder {
            keypair,
            axon,
            legacy: None,
            native: Some(axon_native::Config::default()),
            gossip,
            dendrite: neuron_dendrite::Config::new(),
            text: dgrpc::Config::new(),
            coldkey: String::new(),
            config,
        }
    }

    /// A builder for the hotkey `config`'s `wallet.*` settings name.
    pub fn from_config(config: NeuronConfig) -> Result<NeuronBuilder, NeuronError> {
        let keypair = load_keypair(&config)?;
        Ok(Self::builder(keypair, config))
    }

    /// The hotkey (SS58).
    pub fn hotkey(&self) -> &str {
        &self.hotkey
    }

    /// The keypair.
    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    /// The bound address of the shared port.
    pub fn local_addr(&self) -> SocketAddr {
        self.running.local_addr()
    }

    /// The address advertised to other neurons.
    pub fn advertised_addr(&self) -> SocketAddr {
        self.advertised
    }

    /// The dialects served on the port.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// This neuron as others see it.
    pub fn axon_info(&self) -> AxonInfo {
        let mut axon = AxonInfo::at(self.advertised, self.hotkey.clone());
        axon.protocols = Some(self.protocols.clone());
        axon
    }

    /// The signed endpoint record this neuron advertised (none without gossip).
    pub fn record(&self) -> Option<&EndpointRecord> {
        self.record.as_ref()
    }

    /// The gossip (none when built without it).
    pub fn gossip(&self) -> Option<&Gossip> {
        self.gossip.as_ref()
    }

    /// The other neurons gossip knows, sorted by hotkey (at most `limit`).
    pub fn peers(&self, limit: usize) -> Vec<Peer> {
        let Some(gossip) = &self.gossip else {
            return Vec::new();
        };
        let mut peers: Vec<Peer> = gossip
            .synapses(limit.saturating_add(1))
            .iter()
            .filter(|r| r.hotkey() != self.hotkey)
            .map(Peer::from_record)
            .collect();
        peers.sort_by(|a, b| a.axon.hotkey.cmp(&b.axon.hotkey));
        peers.truncate(limit);
        peers
    }

    /// The HTTP and native dendrite.
    pub fn dendrite(&self) -> &NativeDendrite {
        &self.dendrite
    }

    /// The legacy gRPC text dendrite.
    pub fn text_dendrite(&self) -> &TextDendrite {
        &self.text
    }

    /// Calls `axon`: natively when it advertises the native dialect, over HTTP otherwise;
    /// counted in the metrics.
    pub async fn call<T: Synapse>(
        &self,
        axon: &AxonInfo,
        synapse: T,
        timeout: impl Into<Option<Duration>>,
    ) -> Response<T> {
        let native = axon
            .protocols
            .as_ref()
            .is_some_and(|p| p.iter().any(|s| s == protocols::NATIVE));
        let start = Instant::now();
        let response = self.dendrite.call(axon, synapse, timeout).await;
        self.observe(
            if native {
                protocols::NATIVE
            } else {
                protocols::HTTP
            },
            &response,
            start,
        );
        response
    }

    /// Calls `axon` over HTTP whatever it advertises; counted in the metrics.
    pub async fn call_http<T: Synapse>(
        &self,
        axon: &AxonInfo,
        synapse: T,
        timeout: impl Into<Option<Duration>>,
    ) -> Response<T> {
        let start = Instant::now();
        let response = self.dendrite.dendrite().call(axon, synapse, timeout).await;
        self.observe(protocols::HTTP, &response, start);
        response
    }

    /// Calls `axon` over the native dialect; counted in the metrics.
    pub async fn call_native<T: Synapse>(
        &self,
        axon: &AxonInfo,
        synapse: T,
        timeout: impl Into<Option<Duration>>,
    ) -> Response<T> {
        let start = Instant::now();
        let response = self.dendrite.call_native(axon, synapse, timeout).await;
        self.observe(protocols::NATIVE, &response, start);
        response
    }

    fn observe<T: Synapse>(&self, dialect: &str, response: &Response<T>, start: Instant) {
        let bytes = response.synapse.to_json_vec().map_or(0, |b| b.len());
        self.dendrite_metrics.observe(
            dialect,
            T::NAME,
            response.status_code(),
            start.elapsed(),
            bytes,
        );
    }

    /// The metrics registry (also served on `metrics.port` when set).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_server.as_ref().map(MetricsServer::local_addr)
    }

    /// The axon's counters.
    pub fn counters(&self) -> neuron_axon::Snapshot {
        self.running.counters()
    }

    /// Stops gossip and the metrics endpoint, then the axon: no new requests, in-flight
    /// ones get up to `grace`.
    pub async fn shutdown(self, grace: Duration) {
        if let Some(gossip) = &self.gossip {
            gossip.stop().await;
        }
        if let Some(server) = self.metrics_server {
            server.shutdown().await;
        }
        self.running.shutdown(grace).await;
    }
}
