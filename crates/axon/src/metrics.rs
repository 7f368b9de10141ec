//! Request counters: a cheap hook for the Prometheus exporter to read.

use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic counters, updated with relaxed atomics on every request.
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests that reached a synapse route.
    pub requests: AtomicU64,
    /// Requests answered 200.
    pub ok: AtomicU64,
    /// Requests refused by verification (401).
    pub unauthorized: AtomicU64,
    /// Requests refused by the blacklist hook (403).
    pub blacklisted: AtomicU64,
    /// Requests refused by the per-hotkey rate limit (429).
    pub rate_limited: AtomicU64,
    /// Requests whose handler (or queue wait) ran out of time (408).
    pub timeouts: AtomicU64,
    /// Requests refused because the queue was full (503).
    pub shed: AtomicU64,
    /// Requests with a bad header, body or hash (400, 413, 422, 500 before the handler).
    pub bad_requests: AtomicU64,
    /// Handler failures (500 from the handler).
    pub handler_errors: AtomicU64,
}

/// A point-in-time copy of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// See [`Counters::requests`].
    pub requests: u64,
    /// See [`Counters::ok`].
    pub ok: u64,
    /// See [`Counters::unauthorized`].
    pub unauthorized: u64,
    /// See [`Counters::blacklisted`].
    pub blacklisted: u64,
    /// See [`Counters::rate_limited`].
    pub rate_limited: u64,
    /// See [`Counters::timeouts`].
    pub timeouts: u64,
    /// See [`Counters::shed`].
    pub shed: u64,
    /// See [`Counters::bad_requests`].
    pub bad_requests: u64,
    /// See [`Counters::handler_errors`].
    pub handler_errors: u64,
}

impl Counters {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            requests: get(&self.requests),
            ok: get(&self.ok),
            unauthorized: get(&self.unauthorized),
            blacklisted: get(&self.blacklisted),
            rate_limited: get(&self.rate_limited),
            timeouts: get(&self.timeouts),
            shed: get(&self.shed),
            bad_requests: get(&self.bad_requests),
            handler_errors: get(&self.handler_errors),
        }
    }
}
