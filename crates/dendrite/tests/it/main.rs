//! Integration tests of the HTTP dendrite: scripted loopback axons (status mapping,
//! fan-out, streaming) and the real Python SDK axon (interop).
#![allow(clippy::unwrap_used)]

mod fanout;
mod interop;
mod request;
mod server;
mod status;
mod streaming;
mod synapses;

use std::time::Duration;

use neuron_dendrite::{AxonInfo, Config, Dendrite};
use neuron_wallet::Keypair;

/// A //Bob dendrite with default settings.
pub fn bob() -> Dendrite {
    Dendrite::new(Keypair::from_uri("//Bob").unwrap(), Config::new())
}

/// The scripted axon at `addr`.
pub fn axon_at(addr: std::net::SocketAddr) -> AxonInfo {
    AxonInfo::at(addr, server::AXON_HOTKEY)
}

/// A short timeout for tests that wait for deadlines.
pub const SHORT: Duration = Duration::from_millis(300);
