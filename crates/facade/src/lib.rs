//! The neuron stack in one crate: re-exports of every layer, and a [`Neuron`] that wires a
//! wallet hotkey, an axon speaking every dialect on one port, dendrites, gossip discovery
//! and Prometheus metrics together.
//!
//! Each layer is behind a feature of the same name (`protocol`, `wallet`, `tensor`,
//! `transport`, `legacy`, `axon`, `dendrite`, `metagraph`, `examples`); `full` (the default)
//! enables them all plus [`Neuron`], [`config`] and [`metrics`].
//!
//! | module | crate | what |
//! |---|---|---|
//! | [`protocol`] | `neuron-protocol` | synapses, headers, body hashes, signatures, nonces (sans-IO) |
//! | [`wallet`] | `neuron-wallet` | sr25519 keys, SS58, btcli keyfiles |
//! | [`tensor`] | `neuron-tensor` | tensor encodings (bt.Tensor, msgpack, legacy, native frames) |
//! | [`transport`] | `neuron-transport` | the one-port HTTP/1.1 + h2c server, the pooled client |
//! | [`legacy`] | `neuron-legacy` | bittensor 3 synapse semantics |
//! | [`axon`] | `neuron-axon` | the server of every dialect |
//! | [`dendrite`] | `neuron-dendrite` | the clients of every dialect |
//! | [`metagraph`] | `neuron-metagraph` | gossip discovery, per-uid state, persistence |
//! | [`examples`] | `neuron-examples` | the example synapses and the tiny built-in model |

#[cfg(feature = "axon")]
pub use neuron_axon as axon;
#[cfg(feature = "dendrite")]
pub use neuron_dendrite as dendrite;
#[cfg(feature = "examples")]
pub use neuron_examples as examples;
#[cfg(feature = "legacy")]
pub use neuron_legacy as legacy;
#[cfg(feature = "metagraph")]
pub use neuron_metagraph as metagraph;
#[cfg(feature = "protocol")]
pub use neuron_protocol as protocol;
#[cfg(feature = "tensor")]
pub use neuron_tensor as tensor;
#[cfg(feature = "transport")]
pub use neuron_transport as transport;
#[cfg(feature = "wallet")]
pub use neuron_wallet as wallet;

pub mod config;
#[cfg(feature = "full")]
pub mod metrics;
#[cfg(feature = "full")]
mod neuron;

pub use config::NeuronConfig;
#[cfg(feature = "full")]
pub use neuron::{
    Neuron, NeuronBuilder, NeuronError, Peer, axon_config, gossip_config, load_keypair, protocols,
};
