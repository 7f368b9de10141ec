//! Dendrite configuration.

use std::time::Duration;

use neuron_protocol::pystr::Unicode;

/// The SDK version this dendrite announces by default: bittensor 10.5.0 as
/// `major * 1_000_000 + minor * 1_000 + patch` (wire-modern §0).
pub const DEFAULT_VERSION: u32 = 10_005_000;

/// Dendrite settings. Every default is documented on [`Config::new`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Call timeout used when a call does not give its own.
    pub timeout: Duration,
    /// Largest response body accepted; a longer reply is reported as a parse failure (422).
    pub max_response_bytes: usize,
    /// Connection pool limits of the HTTP client.
    pub client: neuron_transport::client::Config,
    /// IP address advertised in `bt_header_dendrite_ip` (`None`: the header is not sent; the
    /// SDK axon overwrites it with the socket peer address anyway).
    pub external_ip: Option<String>,
    /// Version announced in `bt_header_dendrite_version`. At 7002000 or more the SDK axon
    /// applies its nonce freshness window (wire-modern §6).
    pub version: u32,
    /// Whose `repr()` rules the body hash follows: the Unicode version of the CPython
    /// release the axons run (the releases escape recently assigned characters
    /// differently, see `neuron_protocol::pystr`). Default CPython 3.11 (Unicode 14.0).
    pub unicode: Unicode,
}

impl Config {
    /// Defaults: 12 s timeout (the SDK's), 64 MiB response limit, the transport's default
    /// pool limits, no advertised IP, version 10005000, body hashes as CPython 3.11 computes
    /// them.
    pub fn new() -> Self {
        Self {
            timeout: Duration::from_secs(12),
            max_response_bytes: 64 << 20,
            client: neuron_transport::client::Config::new(),
            external_ip: None,
            version: DEFAULT_VERSION,
            unicode: Unicode::DEFAULT,
        }
    }

    /// Sets the default call timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the response body limit.
    pub fn with_max_response_bytes(mut self, n: usize) -> Self {
        self.max_response_bytes = n;
        self
    }

    /// Sets the connection pool limits.
    pub fn with_client(mut self, client: neuron_transport::client::Config) -> Self {
        self.client = client;
        self
    }

    /// Sets the IP address advertised to axons.
    pub fn with_external_ip(mut self, ip: impl Into<String>) -> Self {
        self.external_ip = Some(ip.into());
        self
    }

    /// Sets whose `repr()` rules the body hash follows (the axons' CPython release).
    pub fn with_unicode(mut self, unicode: Unicode) -> Self {
        self.unicode = unicode;
        self
    }

    /// Sets the announced version.
    pub fn with_version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}
