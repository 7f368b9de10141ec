//! Prometheus metrics of a whole neuron, and the `/metrics` endpoint that serves them.
//!
//! Metric names (the text exposition adds `_total` to counters):
//!
//! | name | what |
//! |---|---|
//! | `neuron_axon_requests{outcome}` | HTTP and native axon requests by outcome (`ok`, `unauthorized`, `blacklisted`, `rate_limited`, `timeout`, `shed`, `bad_request`, `handler_error`) |
//! | `neuron_axon_received` | every request that reached a synapse route |
//! | `neuron_dendrite_calls{dialect,synapse,status}` | HTTP and native dendrite calls made through [`crate::Neuron`] |
//! | `neuron_dendrite_latency_seconds{dialect}` | their latency |
//! | `neuron_dendrite_reply_bytes{dialect}` | their reply bodies, in bytes of the synapse JSON |
//! | `neuron_grpc_dendrite_*` | the legacy gRPC dendrite (calls, codes, bytes, latency) |
//! | `neuron_grpc_axon_*` | the legacy gRPC axon (calls, codes, bytes, latency) |
//! | `neuron_gossip_*{event}`, `neuron_gossip_known_records` | gossip exchanges, records and bytes |
//!
//! Collectors read the components' own atomic counters at scrape time, so serving metrics
//! costs nothing on the request path beyond what the components count anyway.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use neuron_axon::Counters;
use neuron_metagraph::Gossip;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;

/// Labels of one outcome of the axon.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// Labels of a dendrite call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// `http` or `native`.
    pub dialect: String,
    /// The synapse name.
    pub synapse: String,
    /// The HTTP status of the result (`0` when there was none).
    pub status: String,
}

/// Label of a per-dialect series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DialectLabel {
    /// `http` or `native`.
    pub dialect: String,
}

/// Distinct (dialect, synapse, status) series kept; further ones are counted under
/// `synapse="other"` so that a peer cannot grow the registry without bound.
const MAX_CALL_SERIES: usize = 512;

/// Dendrite calls of the HTTP and native dialects.
#[derive(Debug, Clone)]
pub struct DendriteMetrics {
    calls: Family<CallLabels, Counter>,
    latency: Family<DialectLabel, Histogram>,
    reply_bytes: Family<DialectLabel, Counter>,
    series: Arc<std::sync::Mutex<std::collections::HashSet<CallLabels>>>,
}

impl Default for DendriteMetrics {
    fn default() -> Self {
        Self {
            calls: Family::default(),
            latency: Family::new_with_constructor(|| {
                Histogram::new([
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 12.0,
                ])
            }),
            reply_bytes: Family::default(),
            series: Arc::default(),
        }
    }
}

impl DendriteMetrics {
    /// Records one call.
    pub fn observe(
        &self,
        dialect: &str,
        synapse: &str,
        status: Option<u16>,
        latency: Duration,
        reply_bytes: usize,
    ) {
        let mut labels = CallLabels {
            dialect: dialect.to_owned(),
            synapse: synapse.to_owned(),
            status: status.unwrap_or(0).to_string(),
        };
        {
            let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
            if !series.contains(&labels) {
                if series.len() >= MAX_CALL_SERIES {
                    labels.synapse = "other".into();
                } else {
                    series.insert(labels.clone());
                }
            }
        }
        self.calls.get_or_create(&labels).inc();
        let dialect = DialectLabel {
            dialect: dialect.to_owned(),
        };
        self.latency
            .get_or_create(&dialect)
            .observe(latency.as_secs_f64());
        self.reply_bytes
            .get_or_create(&dialect)
            .inc_by(reply_bytes as u64);
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "neuron_dendrite_calls",
            "HTTP and native dendrite calls by dialect, synapse and status",
            self.calls.clone(),
        );
        registry.register(
            "neuron_dendrite_latency_seconds",
            "HTTP and native dendrite call latency",
            self.latency.clone(),
        );
        registry.register(
            "neuron_dendrite_reply_bytes",
            "HTTP and native reply sizes (synapse JSON bytes)",
            self.reply_bytes.clone(),
        );
    }
}

/// Reads the axon's counters at scrape time.
#[derive(Debug)]
struct AxonCollector(Arc<Counters>);

impl Collector for AxonCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = self.0.snapshot();
        let received = ConstCounter::new(s.requests);
        received.encode(encoder.encode_descriptor(
            "neuron_axon_received",
            "Requests that reached a synapse route (HTTP and native)",
            None,
            received.metric_type(),
        )?)?;
        let outcomes = [
            ("ok", s.ok),
            ("unauthorized", s.unauthorized),
            ("blacklisted", s.blacklisted),
            ("rate_limited", s.rate_limited),
            ("timeout", s.timeouts),
            ("shed", s.shed),
            ("bad_request", s.bad_requests),
            ("handler_error", s.handler_errors),
        ];
        let mut family = encoder.encode_descriptor(
            "neuron_axon_requests",
            "Axon requests by outcome (HTTP and native)",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (outcome, value) in outcomes {
            let labels = OutcomeLabel { outcome };
            ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// Labels of a gossip event counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabel {
    event: &'static str,
}

/// Reads the gossip's statistics at scrape time.
struct GossipCollector(Gossip);

impl std::fmt::Debug for GossipCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GossipCollector")
    }
}

impl Collector for GossipCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = self.0.stats();
        let known = ConstGauge::new(self.0.len() as i64);
        known.encode(encoder.encode_descriptor(
            "neuron_gossip_known_records",
            "Endpoint records this neuron knows",
            None,
            known.metric_type(),
        )?)?;
        let events = [
            ("accepted", s.accepted),
            ("duplicate", s.duplicates),
            ("stale", s.stale),
            ("conflict", s.conflicts),
            ("rejected_forged", s.rejected_forged),
            ("rejected_invalid", s.rejected_invalid),
            ("rejected_batch", s.rejected_batches),
            ("expired", s.expired),
            ("evicted", s.evicted),
            ("exchange_ok", s.exchanges_ok),
            ("exchange_failed", s.exchanges_failed),
            ("peer_dropped", s.peers_dropped),
        ];
        let mut family = encoder.encode_descriptor(
            "neuron_gossip_events",
            "Gossip records and exchanges by event",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (event, value) in events {
            ConstCounter::new(value).encode(family.encode_family(&EventLabel { event })?)?;
        }
        let sent = ConstCounter::new(s.bytes_sent);
        sent.encode(encoder.encode_descriptor(
            "neuron_gossip_bytes_sent",
            "Encoded gossip batch bytes produced",
            None,
            sent.metric_type(),
        )?)?;
        let received = ConstCounter::new(s.bytes_received);
        received.encode(encoder.encode_descriptor(
            "neuron_gossip_bytes_received",
            "Encoded gossip batch bytes accepted",
            None,
            received.metric_type(),
        )?)?;
        Ok(())
    }
}

/// Builds the registry of a neuron from its parts.
#[derive(Debug, Default)]
pub struct MetricsBuilder {
    registry: Registry,
}

impl MetricsBuilder {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the HTTP/native axon counters.
    pub fn axon(mut self, counters: Arc<Counters>) -> Self {
        self.registry
            .register_collector(Box::new(AxonCollector(counters)));
        self
    }

    /// Adds the HTTP/native dendrite metrics.
    pub fn dendrite(mut self, metrics: &DendriteMetrics) -> Self {
        metrics.register(&mut self.registry);
        self
    }

    /// Adds the legacy gRPC dendrite metrics (as `neuron_grpc_dendrite_*`).
    pub fn grpc_dendrite(mut self, metrics: &neuron_dendrite::grpc::Metrics) -> Self {
        metrics.register(self.registry.sub_registry_with_prefix("neuron_grpc"));
        self
    }

    /// Adds the legacy gRPC axon statistics (as `neuron_grpc_axon_*`).
    pub fn grpc_axon(mut self, stats: Arc<neuron_axon::grpc::Stats>) -> Self {
        stats.register(self.registry.sub_registry_with_prefix("neuron_grpc"));
        self
    }

    /// Adds the gossip statistics.
    pub fn gossip(mut self, gossip: Gossip) -> Self {
        self.registry
            .register_collector(Box::new(GossipCollector(gossip)));
        self
    }

    /// Any other metrics the owner wants on the same endpoint.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The finished, shareable registry.
    pub fn build(self) -> Metrics {
        Metrics {
            registry: Arc::new(self.registry),
        }
    }
}

/// A finished registry; cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
}

impl Metrics {
    /// The Prometheus text exposition of everything registered.
    pub fn encode_text(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Serves `GET /metrics` on `addr` until [`MetricsServer::shutdown`].
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<MetricsServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let metrics = self.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.encode_text(),
                    )
                }
            }),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(MetricsServer {
            local_addr,
            stop: Some(stop),
            task,
        })
    }
}

/// A running `/metrics` endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}
