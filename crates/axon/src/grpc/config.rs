//! Settings of the legacy gRPC service. Every default is documented on [`Config::new`].

use std::time::Duration;

use neuron_tensor::Limits;

/// Settings of a [`Service`](super::Service).
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest accepted request message, in bytes (`axon.maximum_message_length`).
    pub max_message_size: usize,
    /// Deadline of one call, queue wait included (upstream: the smallest per-synapse
    /// timeout, capped at the 12 s block time).
    pub timeout: Duration,
    /// Calls whose callbacks run at once (`axon.priority.max_workers`).
    pub workers: usize,
    /// Calls that may wait for a worker; more are answered at once with UnknownException.
    pub queue_capacity: usize,
    /// (hotkey, receptor uid) pairs whose last nonce is remembered.
    pub max_nonce_keys: usize,
    /// Decoded public keys kept by the signature verifier.
    pub verifier_cache: usize,
    /// Bounds on every decoded tensor.
    pub limits: Limits,
}

impl Config {
    /// The defaults: messages up to **4 MiB** (upstream 3.7.0), a **12 s** deadline,
    /// **10** workers (upstream's thread pool) with **256** waiting calls, **65 536**
    /// remembered nonce keys, **4096** cached public keys and [`Limits::DEFAULT`].
    pub fn new() -> Self {
        Self {
            max_message_size: 4 * 1024 * 1024,
            timeout: Duration::from_secs(12),
            workers: 10,
            queue_capacity: 256,
            max_nonce_keys: 65_536,
            verifier_cache: 4096,
            limits: Limits::DEFAULT,
        }
    }

    /// Sets the largest accepted message.
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets the call deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the number of workers (at least one).
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Sets how many calls may wait for a worker.
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Sets how many (hotkey, receptor uid) nonces are remembered.
    pub fn with_max_nonce_keys(mut self, keys: usize) -> Self {
        self.max_nonce_keys = keys.max(1);
        self
    }

    /// Sets the tensor decoding limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}
