//! The dendrite: the client side of a neuron. It calls axons as one hotkey, fans a synapse
//! out to many axons at once with a deadline per axon, and reports for each axon the final
//! synapse, its status and per-phase timings. It never hangs on a peer and never panics on
//! peer input.
//!
//! * [`Dendrite`] holds the signing key, a per-instance uuid, the nonce [`Clock`] and a
//!   pooled keep-alive HTTP/1.1 client.
//! * [`http`]: the Synapse/HTTP dialect spoken by the Python SDK (bittensor 6.x – 10.5):
//!   [`Dendrite::call`], [`Dendrite::forward`] (all results, input order),
//!   [`Dendrite::forward_stream`] (as completed), [`Dendrite::forward_quorum`] (first `k`
//!   successes, stragglers cancelled) and [`Dendrite::call_stream`] (streaming synapses).
//! * Every call returns a [`Response`]: the synapse, its status (`synapse.dendrite`), the
//!   client-side [`Failure`] if any, and [`Timings`] (queued, connect, sent, first byte,
//!   done, and the axon's own `process_time`).
//!
//! ```no_run
//! # async fn demo(axons: Vec<neuron_dendrite::AxonInfo>, synapse: impl neuron_protocol::synapse::Synapse) -> anyhow::Result<()> {
//! use std::time::Duration;
//! use neuron_dendrite::{Config, Dendrite};
//!
//! let dendrite = Dendrite::new(neuron_wallet::Keypair::from_uri("//Bob")?, Config::new());
//! for response in dendrite.forward(&axons, synapse, Duration::from_secs(12)).await {
//!     println!("{:?} {:?} {:?}", response.status_code(), response.status_message(), response.timings.network());
//! }
//! # Ok(()) }
//! ```

mod axon;
mod clock;
mod config;
mod dendrite;
mod error;
mod gather;
pub mod grpc;
pub mod http;
pub mod native;
mod response;
mod timings;

/// Locks `m`. A poisoned lock only means another thread panicked in the middle of an update
/// of plain data (counters, slots, ready values), which stays usable.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub use axon::{AxonInfo, Target};
pub use clock::Clock;
pub use config::{Config, DEFAULT_VERSION};
pub use dendrite::Dendrite;
pub use error::Failure;
pub use response::{Response, StreamEvent};
pub use timings::Timings;
