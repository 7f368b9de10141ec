//! Per-receptor statistics (wire-legacy §7, §10).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use neuron_protocol::legacy::ReturnCode;

/// Smoothing factor of the exponential moving averages (upstream α = 0.01).
const ALPHA: f64 = 0.01;

/// What one receptor has seen. Every field is bounded: the code table has at most one
/// entry per [`ReturnCode`] (25).
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// RPCs attempted (forward and backward), including ones that failed locally.
    pub requests: u64,
    /// RPCs whose reply carried at least one successful synapse.
    pub successes: u64,
    /// Request bytes sent (protobuf size).
    pub bytes_out: u64,
    /// Reply bytes received (protobuf size).
    pub bytes_in: u64,
    /// EMA of forward calls per second.
    pub forward_qps: f64,
    /// EMA of backward calls per second.
    pub backward_qps: f64,
    /// EMA of the forward call latency, seconds.
    pub forward_latency: f64,
    /// Latency of the last call, seconds.
    pub last_latency: f64,
    /// Synapse results by [`ReturnCode::name`].
    pub codes: BTreeMap<&'static str, u64>,
    /// Calls whose signature was made ahead of time (see
    /// [`ReceptorConfig::presign`](super::ReceptorConfig::presign)).
    pub presigned: u64,
    last_forward: Option<Instant>,
    last_backward: Option<Instant>,
}

/// Which RPC a statistic is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rpc {
    Forward,
    Backward,
}

fn ema(old: f64, sample: f64) -> f64 {
    old * (1.0 - ALPHA) + sample * ALPHA
}

impl Stats {
    /// Records one finished call.
    pub(crate) fn record(
        &mut self,
        rpc: Rpc,
        codes: &[ReturnCode],
        latency: Duration,
        bytes_out: usize,
        bytes_in: usize,
    ) {
        let now = Instant::now();
        self.requests += 1;
        if codes.contains(&ReturnCode::Success) {
            self.successes += 1;
        }
        self.bytes_out += bytes_out as u64;
        self.bytes_in += bytes_in as u64;
        self.last_latency = latency.as_secs_f64();
        for code in codes {
            *self.codes.entry(code.name()).or_default() += 1;
        }
        let (last, qps) = match rpc {
            Rpc::Forward => {
                self.forward_latency = ema(self.forward_latency, latency.as_secs_f64());
                (&mut self.last_forward, &mut self.forward_qps)
            }
            Rpc::Backward => (&mut self.last_backward, &mut self.backward_qps),
        };
        if let Some(prev) = last.replace(now) {
            let dt = now.duration_since(prev).as_secs_f64().max(1e-6);
            *qps = ema(*qps, 1.0 / dt);
        }
    }
}
