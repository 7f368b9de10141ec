//! Counters of the legacy service, cheap enough for every call (relaxed atomics).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use neuron_legacy::ReturnCode;

/// Number of `ReturnCode` values (0 to 24).
const CODES: usize = 25;

/// Monotonic counters of the legacy service (upstream's Prometheus `axon_*` families).
#[derive(Debug, Default)]
pub struct Stats {
    forward: AtomicU64,
    backward: AtomicU64,
    unauthenticated: AtomicU64,
    synapses: AtomicU64,
    codes: [AtomicU64; CODES],
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    latency_ns: AtomicU64,
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

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Stats {
    pub(crate) fn unauthenticated(&self) {
        bump(&self.unauthenticated, 1);
    }

    /// Records one answered call.
    pub(crate) fn call(
        &self,
        request_type: neuron_protocol::legacy::RequestType,
        codes: impl IntoIterator<Item = i32>,
        bytes_in: usize,
        bytes_out: usize,
        elapsed: Duration,
    ) {
        use neuron_protocol::legacy::RequestType as R;
        bump(
            if request_type == R::Backward {
                &self.backward
            } else {
                &self.forward
            },
            1,
        );
        for code in codes {
            bump(&self.synapses, 1);
            let slot = usize::try_from(code)
                .ok()
                .filter(|&c| c < CODES)
                .unwrap_or(0);
            bump(&self.codes[slot], 1);
        }
        bump(&self.bytes_in, bytes_in as u64);
        bump(&self.bytes_out, bytes_out as u64);
        bump(
            &self.latency_ns,
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        );
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let codes = self
            .codes
            .iter()
            .enumerate()
            .filter(|(_, c)| get(c) > 0)
            .filter_map(|(i, c)| {
                let code = ReturnCode::from_code(i32::try_from(i).ok()?)?;
                Some((code.as_str_name(), get(c)))
            })
            .collect();
        StatsSnapshot {
            forward: get(&self.forward),
            backward: get(&self.backward),
            unauthenticated: get(&self.unauthenticated),
            synapses: get(&self.synapses),
            codes,
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            latency: Duration::from_nanos(get(&self.latency_ns)),
        }
    }
}
