//! Dendrite metrics for the legacy dialect (wire-legacy §13), as prometheus-client
//! families.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use neuron_protocol::legacy::ReturnCode;

use super::receptor::Outcome;

/// The label of per-code counters: the [`ReturnCode::name`]. At most 25 values.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    /// Return code name.
    pub code: String,
}

/// Counters and histograms of one dendrite.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Endpoint calls (one per endpoint per forward/backward).
    pub calls: Counter,
    /// Synapse results by return code.
    pub codes: Family<CodeLabel, Counter>,
    /// Synapse results that were not `Success`.
    pub failures: Counter,
    /// Request bytes sent.
    pub bytes_out: Counter,
    /// Reply bytes received.
    pub bytes_in: Counter,
    /// Per-endpoint latency (slowest synapse), seconds; buckets 0..11 s as upstream.
    pub latency: Histogram,
}

impl Metrics {
    /// Fresh metrics.
    pub fn new() -> Self {
        Self {
            calls: Counter::default(),
            codes: Family::default(),
            failures: Counter::default(),
            bytes_out: Counter::default(),
            bytes_in: Counter::default(),
            latency: Histogram::new((0..12).map(f64::from)),
        }
    }

    /// Registers every metric under `registry` (prefix it with `sub_registry_with_prefix`
    /// if needed): `dendrite_calls`, `dendrite_codes`, `dendrite_failures`,
    /// `dendrite_bytes_out`, `dendrite_bytes_in`, `dendrite_latency_seconds`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register("dendrite_calls", "Endpoint calls", self.calls.clone());
        registry.register(
            "dendrite_codes",
            "Synapse results by return code",
            self.codes.clone(),
        );
        registry.register(
            "dendrite_failures",
            "Synapse results other than Success",
            self.failures.clone(),
        );
        registry.register(
            "dendrite_bytes_out",
            "Request bytes sent",
            self.bytes_out.clone(),
        );
        registry.register(
            "dendrite_bytes_in",
            "Reply bytes received",
            self.bytes_in.clone(),
        );
        registry.register(
            "dendrite_latency_seconds",
            "Per-endpoint latency",
            self.latency.clone(),
        );
    }

    /// Records one endpoint's outcome.
    pub fn observe(&self, outcome: &Outcome) {
        self.calls.inc();
        for code in &outcome.codes {
            self.codes
                .get_or_create(&CodeLabel {
                    code: code.name().into(),
                })
                .inc();
            if *code != ReturnCode::Success {
                self.failures.inc();
            }
        }
        self.bytes_out.inc_by(outcome.bytes_out as u64);
        self.bytes_in.inc_by(outcome.bytes_in as u64);
        self.latency
            .observe(outcome.times.iter().copied().fold(0.0, f64::max));
    }

    /// The Prometheus text exposition of these metrics alone.
    pub fn encode_text(&self) -> String {
        let mut registry = Registry::default();
        self.register(&mut registry);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
