//! Counters and histograms of the legacy service (upstream's Prometheus `axon_*` families,
//! wire-legacy §13), cheap enough for every call (atomic increments).

use std::collections::BTreeMap;
use std::time::Duration;

use neuron_legacy::ReturnCode;
use neuron_protocol::legacy::RequestType;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Number of `ReturnCode` values (0 to 24).
const CODES: usize = 25;

/// Upper bounds of the latency buckets, seconds: 1 ms to the 12 s call deadline.
const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 12.0,
];

/// The label of the per-code counters: the upstream [`ReturnCode`] name. At most 25 values.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    /// `"Success"`, `"Timeout"`, …
    pub code: &'static str,
}

/// The label of the per-RPC families.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabel {
    /// `"forward"` or `"backward"`.
    pub rpc: &'static str,
}

impl RpcLabel {
    fn of(kind: RequestType) -> Self {
        Self {
            rpc: if kind == RequestType::Backward {
                "backward"
            } else {
                "forward"
            },
        }
    }
}

/// The counters and histograms of one legacy service. Every handle is shared: clones
/// registered with [`Stats::register`] see the same values.
#[derive(Debug, Clone)]
pub struct Stats {
    calls: Family<RpcLabel, Counter>,
    unauthenticated: Counter,
    codes: [Counter; CODES],
    failures: Counter,
    bytes_in: Counter,
    bytes_out: Counter,
    latency: Family<RpcLabel, Histogram>,
    latency_ns: Counter,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            calls: Family::default(),
            unauthenticated: Counter::default(),
            codes: std::array::from_fn(|_| Counter::default()),
            failures: Counter::default(),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            latency: Family::new_with_constructor(new_latency_histogram),
            latency_ns: Counter::default(),
        }
    }
}

fn new_latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// A point-in-time copy of [`Stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Forward calls that passed authentication.
    pub forward: u64,
    /// Backward calls that passed authentication.
    pub backward: u64,
    /// Calls refused with `UNAUTHENTICATED` (signature, version, nonce, blacklist).
    pub unauthenticated: u64,
    /// Synapses answered (one per synapse of every authenticated call).
    pub synapses: u64,
    /// Per-synapse return codes by upstream name (`"Success"`, …); only those seen.
    pub codes: BTreeMap<&'static str, u64>,
    /// Encoded request bytes of authenticated calls.
    pub bytes_in: u64,
    /// Encoded response bytes.
    pub bytes_out: u64,
    /// Total handling time of authenticated calls.
    pub latency: Duration,
}

impl StatsSnapshot {
    /// The count of one code.
    pub fn code(&self, code: ReturnCode) -> u64 {
        self.codes.get(code.as_str_name()).copied().unwrap_or(0)
    }
}

/// The code of a slot index (0 to 24).
fn code_at(i: usize) -> Option<ReturnCode> {
    ReturnCode::from_code(i32::try_from(i).ok()?)
}

impl Stats {
    pub(crate) fn unauthenticated(&self) {
        self.unauthenticated.inc();
    }

    /// Records one answered call.
    pub(crate) fn call(
        &self,
        request_type: RequestType,
        codes: impl IntoIterator<Item = i32>,
        bytes_in: usize,
        bytes_out: usize,
        elapsed: Duration,
    ) {
        let rpc = RpcLabel::of(request_type);
        self.calls.get_or_create(&rpc).inc();
        for code in codes {
            let slot = usize::try_from(code)
                .ok()
                .filter(|&c| c < CODES)
                .unwrap_or(0);
            self.codes[slot].inc();
            if code != ReturnCode::Success as i32 {
                self.failures.inc();
            }
        }
        self.bytes_in.inc_by(bytes_in as u64);
        self.bytes_out.inc_by(bytes_out as u64);
        self.latency
            .get_or_create(&rpc)
            .observe(elapsed.as_secs_f64());
        self.latency_ns
            .inc_by(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Registers every metric under `registry` (prefix it with
    /// `Registry::sub_registry_with_prefix` if needed). In the text exposition:
    ///
    /// | metric | type | labels |
    /// |---|---|---|
    /// | `axon_calls_total` | counter | `rpc` (`forward`, `backward`): authenticated calls |
    /// | `axon_unauthenticated_total` | counter | calls refused with `UNAUTHENTICATED` |
    /// | `axon_codes_total` | counter | `code` (upstream name): synapse results |
    /// | `axon_failures_total` | counter | synapse results other than Success |
    /// | `axon_bytes_in_total`, `axon_bytes_out_total` | counter | protobuf bytes of requests and replies |
    /// | `axon_latency_seconds` | histogram | `rpc`: handling time, 1 ms to 12 s buckets |
    ///
    /// Codes appear once they have been seen.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "axon_calls",
            "Authenticated legacy gRPC calls",
            self.calls.clone(),
        );
        registry.register(
            "axon_unauthenticated",
            "Legacy gRPC calls refused as unauthenticated",
            self.unauthenticated.clone(),
        );
        registry.register_collector(Box::new(CodesCollector(self.codes.clone())));
        registry.register(
            "axon_failures",
            "Synapse results other than Success",
            self.failures.clone(),
        );
        registry.register(
            "axon_bytes_in",
            "Request bytes of authenticated calls",
            self.bytes_in.clone(),
        );
        registry.register("axon_bytes_out", "Reply bytes", self.bytes_out.clone());
        registry.register(
            "axon_latency_seconds",
            "Handling time of authenticated calls",
            self.latency.clone(),
        );
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

    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let codes: BTreeMap<&'static str, u64> = self
            .codes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.get() > 0)
            .filter_map(|(i, c)| Some((code_at(i)?.as_str_name(), c.get())))
            .collect();
        let calls = |kind| self.calls.get_or_create(&RpcLabel::of(kind)).get();
        StatsSnapshot {
            forward: calls(RequestType::Forward),
            backward: calls(RequestType::Backward),
            unauthenticated: self.unauthenticated.get(),
            synapses: codes.values().sum(),
            codes,
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out.get(),
            latency: Duration::from_nanos(self.latency_ns.get()),
        }
    }
}

/// `axon_codes_total{code=…}` from the per-code counters, only the codes seen so far.
#[derive(Debug)]
struct CodesCollector([Counter; CODES]);

impl prometheus_client::collector::Collector for CodesCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        let mut family = encoder.encode_descriptor(
            "axon_codes",
            "Synapse results by return code",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (i, counter) in self.0.iter().enumerate() {
            let Some(code) = code_at(i).filter(|_| counter.get() > 0) else {
                continue;
            };
            let label = CodeLabel {
                code: code.as_str_name(),
            };
            counter.encode(family.encode_family(&label)?)?;
        }
        Ok(())
    }
}
