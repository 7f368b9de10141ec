//! The [`Dendrite`]: one signing identity, one connection pool.

use std::sync::Arc;

use neuron_transport::HttpClient;
use neuron_wallet::Keypair;

use crate::clock::Clock;
use crate::config::Config;

/// A client that calls axons as one hotkey. Cheap to clone (shared pool and identity).
///
/// Each dendrite has its own uuid (a uuid1 string, like the SDK's per-instance uuid): SDK
/// axons keep one nonce counter per `hotkey:uuid`, so two dendrites with the same hotkey do
/// not disturb each other.
///
/// The Synapse/HTTP dialect is in [`crate::http`] (`call`, `forward`, `forward_stream`,
/// `forward_quorum`, `call_stream`).
#[derive(Clone, Debug)]
pub struct Dendrite {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    keypair: Keypair,
    config: Config,
    uuid: String,
    clock: Clock,
    http: HttpClient,
}

impl Dendrite {
    /// A dendrite signing with `keypair`.
    pub fn new(keypair: Keypair, config: Config) -> Self {
        Self::with_clock(keypair, config, Clock::system())
    }

    /// A dendrite whose nonces come from `clock` (tests: replayed or aged nonces).
    pub fn with_clock(keypair: Keypair, config: Config, clock: Clock) -> Self {
        let http = HttpClient::new(config.client.clone());
        Self {
            inner: Arc::new(Inner {
                keypair,
                config,
                uuid: new_uuid1(),
                clock,
                http,
            }),
        }
    }

    /// The signing key.
    pub fn keypair(&self) -> &Keypair {
        &self.inner.keypair
    }

    /// The hotkey SS58 address.
    pub fn hotkey(&self) -> &str {
        self.inner.keypair.ss58()
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// This dendrite's uuid (sent in `bt_header_dendrite_uuid`).
    pub fn uuid(&self) -> &str {
        &self.inner.uuid
    }

    /// The nonce clock.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The HTTP connection pool.
    pub fn http_client(&self) -> &HttpClient {
        &self.inner.http
    }
}

/// A time-based uuid1 string like Python's `uuid.uuid1()`, with a random node id (the
/// multicast bit set, as RFC 4122 asks for ids that are not MAC addresses).
fn new_uuid1() -> String {
    let mut node: [u8; 6] = rand::random();
    node[0] |= 0x01;
    uuid::Uuid::now_v1(&node).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_version_1_and_per_instance() {
        let a = new_uuid1();
        let b = new_uuid1();
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(&a).map(|u| u.get_version_num());
        assert_eq!(parsed.ok(), Some(1));
        assert_eq!(a.len(), 36);
    }
}
