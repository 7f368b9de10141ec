//! Axon settings. Every default is documented on [`Config::new`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use neuron_protocol::nonce::{self, NoncePolicy};
use neuron_protocol::pystr::Unicode;

use crate::ratelimit::RateLimit;

/// Settings of an [`Axon`](crate::Axon).
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind.
    pub ip: IpAddr,
    /// Port to bind (0 picks a free one).
    pub port: u16,
    /// Address advertised to the network (and written into `axon.ip` of responses); the
    /// bind address when `None`.
    pub external_ip: Option<IpAddr>,
    /// Port advertised to the network; the bound port when `None`.
    pub external_port: Option<u16>,
    /// Largest accepted request body, in bytes (413 above).
    pub max_body_bytes: usize,
    /// Time a client has to deliver the whole body once its headers are in (408 after).
    pub body_read_timeout: Duration,
    /// Time a client has to deliver the request head (the connection is closed after).
    pub header_read_timeout: Duration,
    /// Largest total size of the request headers, in bytes.
    pub max_header_bytes: usize,
    /// Maximum number of open connections.
    pub max_connections: usize,
    /// Maximum number of open connections from one source IP address (`None`: no
    /// per-address limit); more are closed on accept, before any byte is read.
    pub max_connections_per_ip: Option<usize>,
    /// Source addresses allowed to connect (`None`: all), decided on accept before any byte
    /// is read: for example the metagraph's known addresses.
    pub accept_filter: Option<neuron_transport::AcceptFilter>,
    /// Handlers running at once (the SDK's `max_workers`).
    pub workers: usize,
    /// Requests that may wait for a worker; more are refused with 503.
    pub queue_capacity: usize,
    /// Handler deadline when the request carries no `timeout` header.
    pub default_timeout: Duration,
    /// Upper bound on the deadline a client may ask for with its `timeout` header.
    pub max_timeout: Duration,
    /// Nonce rules and bounds (strict by default; [`Config::with_sdk_nonces`] for the SDK's).
    pub nonces: nonce::Config,
    /// Decoded public keys kept by the signature verifier.
    pub verifier_cache: usize,
    /// The CPython release whose `repr()` rules the body hash is first checked with (and
    /// the reply's hash follows when nothing says otherwise). A request whose hash matches
    /// another supported release's rendering (only possible when its text holds recently
    /// assigned characters) is accepted too, and its reply hashed the same way.
    pub unicode: Unicode,
    /// Per-hotkey rate limit on the verified caller (HTTP and native dialects): `None`
    /// (the default) for none; over the limit, HTTP answers 429 with `retry-after` before
    /// reading the body, the native dialect status 429.
    pub rate_limit: Option<RateLimit>,
}

impl Config {
    /// The defaults:
    ///
    /// * bind `0.0.0.0:8091` (the SDK's port), advertised address = bind address;
    /// * bodies up to **32 MiB** (a float32 tensor of about 5.9 M elements in base64),
    ///   delivered within **10 s**; request heads up to **64 KiB** within **10 s**;
    /// * **4096** connections, at most **1024** from one IP address (so one address cannot
    ///   take every slot), no accept filter;
    /// * **10** workers (the SDK's `max_workers`) and **256** waiting requests;
    /// * deadline **12 s** without a `timeout` header (the SDK client's default), at most
    ///   **300 s** whatever the header says;
    /// * nonces: [`NoncePolicy::Strict`] with its defaults
    ///   ([`neuron_protocol::nonce::Config::new`]);
    /// * **4096** cached verifying keys;
    /// * body hashes checked first as CPython 3.11 computes them ([`Unicode::DEFAULT`]);
    /// * no per-hotkey rate limit.
    pub fn new() -> Self {
        Self {
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 8091,
            external_ip: None,
            external_port: None,
            max_body_bytes: 32 * 1024 * 1024,
            body_read_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_connections: 4096,
            max_connections_per_ip: Some(1024),
            accept_filter: None,
            workers: 10,
            queue_capacity: 256,
            default_timeout: Duration::from_secs(12),
            max_timeout: Duration::from_secs(300),
            nonces: nonce::Config::new(),
            verifier_cache: 4096,
            unicode: Unicode::DEFAULT,
            rate_limit: None,
        }
    }

    /// Sets (or, with `None`, removes) the per-hotkey rate limit.
    pub fn with_rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }

    /// Sets the CPython release whose body-hash rendering is tried first.
    pub fn with_unicode(mut self, unicode: Unicode) -> Self {
        self.unicode = unicode;
        self
    }

    /// Sets the bind address.
    pub fn with_ip(mut self, ip: IpAddr) -> Self {
        self.ip = ip;
        self
    }

    /// Sets the bind port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets the advertised address.
    pub fn with_external_ip(mut self, ip: IpAddr) -> Self {
        self.external_ip = Some(ip);
        self
    }

    /// Sets the advertised port.
    pub fn with_external_port(mut self, port: u16) -> Self {
        self.external_port = Some(port);
        self
    }

    /// Sets the body size limit.
    pub fn with_max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// Sets the body read timeout.
    pub fn with_body_read_timeout(mut self, t: Duration) -> Self {
        self.body_read_timeout = t;
        self
    }

    /// Sets the request-head read timeout.
    pub fn with_header_read_timeout(mut self, t: Duration) -> Self {
        self.header_read_timeout = t;
        self
    }

    /// Sets the request-head size limit.
    pub fn with_max_header_bytes(mut self, n: usize) -> Self {
        self.max_header_bytes = n;
        self
    }

    /// Sets the connection limit.
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Sets the per-address connection limit (`None` removes it; `Some(0)` counts as 1).
    pub fn with_max_connections_per_ip(mut self, n: Option<usize>) -> Self {
        self.max_connections_per_ip = n.map(|n| n.max(1));
        self
    }

    /// Admits only the source addresses `filter` allows.
    pub fn with_accept_filter(mut self, filter: neuron_transport::AcceptFilter) -> Self {
        self.accept_filter = Some(filter);
        self
    }

    /// Sets the number of handlers running at once (at least one).
    pub fn with_workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Sets how many requests may wait for a worker.
    pub fn with_queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n;
        self
    }

    /// Sets the deadline used when a request has no `timeout` header.
    pub fn with_default_timeout(mut self, t: Duration) -> Self {
        self.default_timeout = t;
        self
    }

    /// Sets the largest deadline a client may ask for.
    pub fn with_max_timeout(mut self, t: Duration) -> Self {
        self.max_timeout = t;
        self
    }

    /// Sets the nonce policy, keeping the nonce table bounds.
    pub fn with_nonce_policy(mut self, policy: NoncePolicy) -> Self {
        self.nonces = self.nonces.with_policy(policy);
        self
    }

    /// Uses bittensor 10.5's nonce rules exactly ([`NoncePolicy::Sdk`]), with the SDK
    /// policy's table bounds.
    pub fn with_sdk_nonces(mut self) -> Self {
        self.nonces = nonce::Config::sdk();
        self
    }

    /// Sets the whole nonce configuration.
    pub fn with_nonces(mut self, nonces: nonce::Config) -> Self {
        self.nonces = nonces;
        self
    }

    /// The bind address.
    pub fn bind_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// The handler deadline for a request whose `timeout` header says `requested`
    /// seconds: the default when absent or not a positive finite number, capped at
    /// [`Config::max_timeout`].
    pub fn deadline_for(&self, requested: Option<f64>) -> Duration {
        let wanted = match requested {
            Some(s) if s.is_finite() && s > 0.0 => {
                Duration::try_from_secs_f64(s).unwrap_or(self.max_timeout)
            }
            _ => self.default_timeout,
        };
        wanted.min(self.max_timeout)
    }

    pub(crate) fn transport(&self) -> neuron_transport::server::Config {
        let mut c = neuron_transport::server::Config::new()
            .with_max_connections(self.max_connections)
            .with_header_read_timeout(self.header_read_timeout)
            .with_max_header_bytes(self.max_header_bytes);
        c.max_connections_per_ip = self.max_connections_per_ip;
        c.accept_filter = self.accept_filter.clone();
        c
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}
