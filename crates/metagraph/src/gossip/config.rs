//! Gossip configuration: timings and table bounds.

use std::time::Duration;

/// Most records a received batch may carry; a larger batch is rejected whole.
pub const MAX_BATCH_RECORDS: usize = 256;
/// Most peers a received batch may carry; a larger batch is rejected whole.
pub const MAX_BATCH_PEERS: usize = 32;
/// The gossip protocol version this crate speaks (`GossipBatch.protocol_version`).
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest encoded batch the gRPC codec accepts, in bytes. A record is at most about
/// 420 bytes and a peer about 70, so a full batch stays well under this.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Gossip settings. [`Config::new`] documents every default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Time between two rounds of the background task (one exchange per round).
    pub interval: Duration,
    /// A record or peer not refreshed for this long is dropped.
    pub ttl: Duration,
    /// How often the owner re-signs its own record with a newer version; this is the
    /// heartbeat that keeps the record alive elsewhere, so keep it well under `ttl`.
    pub refresh: Duration,
    /// Most records kept; past it the record refreshed longest ago is evicted.
    pub max_records: usize,
    /// Most gossip peers kept (seeds not counted); past it the least recently touched goes.
    pub max_peers: usize,
    /// Most peers kept that only came as unsigned hints from other peers.
    pub max_hinted_peers: usize,
    /// Records sent per batch (at most [`MAX_BATCH_RECORDS`]).
    pub batch_records: usize,
    /// Peers sent per batch (at most [`MAX_BATCH_PEERS`]).
    pub batch_peers: usize,
    /// A request pushes, besides our own record, the records accepted within this window
    /// (newest first, up to `batch_records`); older ones travel only when a peer's digest
    /// shows it lacks them. Zero makes requests pull-only.
    pub push_window: Duration,
    /// Consecutive failed exchanges after which a peer is dropped (seeds are kept).
    pub max_failures: u32,
    /// Back-off after the first failure; doubles per further failure.
    pub backoff: Duration,
    /// Upper bound of the back-off.
    pub max_backoff: Duration,
    /// Deadline of one exchange (connect plus call), for the gRPC transport.
    pub timeout: Duration,
}

impl Config {
    /// The defaults: `interval` 1 s, `ttl` 300 s, `refresh` 60 s, `max_records` 65 536,
    /// `max_peers` 4096, `max_hinted_peers` 256, `batch_records` 256, `batch_peers` 32,
    /// `push_window` 2 s, `max_failures` 3, `backoff` 2 s, `max_backoff` 60 s, `timeout` 5 s.
    pub fn new() -> Self {
        Self {
            interval: Duration::from_secs(1),
            ttl: Duration::from_secs(300),
            refresh: Duration::from_secs(60),
            max_records: 65_536,
            max_peers: 4096,
            max_hinted_peers: 256,
            batch_records: MAX_BATCH_RECORDS,
            batch_peers: MAX_BATCH_PEERS,
            push_window: Duration::from_secs(2),
            max_failures: 3,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
        }
    }

    /// Sets `interval`.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets `ttl`.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets `refresh`.
    pub fn with_refresh(mut self, refresh: Duration) -> Self {
        self.refresh = refresh;
        self
    }

    /// Sets `max_records` (at least 1).
    pub fn with_max_records(mut self, max: usize) -> Self {
        self.max_records = max.max(1);
        self
    }

    /// Sets `max_peers` (at least 1).
    pub fn with_max_peers(mut self, max: usize) -> Self {
        self.max_peers = max.max(1);
        self
    }

    /// Sets the records and peers sent per batch (capped at the protocol maxima).
    pub fn with_batch(mut self, records: usize, peers: usize) -> Self {
        self.batch_records = records.clamp(1, MAX_BATCH_RECORDS);
        self.batch_peers = peers.min(MAX_BATCH_PEERS);
        self
    }

    /// Sets `push_window`.
    pub fn with_push_window(mut self, window: Duration) -> Self {
        self.push_window = window;
        self
    }

    /// Sets `max_failures`, `backoff` and `max_backoff`.
    pub fn with_backoff(
        mut self,
        max_failures: u32,
        backoff: Duration,
        max_backoff: Duration,
    ) -> Self {
        self.max_failures = max_failures.max(1);
        self.backoff = backoff;
        self.max_backoff = max_backoff.max(backoff);
        self
    }

    /// Sets `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The back-off after `failures` consecutive failures (at least 1).
    pub(crate) fn backoff_after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(16);
        self.backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}
