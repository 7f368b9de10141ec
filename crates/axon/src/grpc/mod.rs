//! The legacy gRPC TensorMessage dialect (bittensor 3.x): `/Bittensor/Forward` and
//! `/Bittensor/Backward` (spec `wire-legacy.md` §6, §8, §12).
//!
//! [`Service`] (also exported as [`LegacyAxon`]) is built from a keypair and a [`Config`],
//! gets one callback per synapse type ([`Service::with_callback`], or
//! [`Service::with_blocking_callback`] for CPU-bound models), and is mounted with
//! [`Service::into_tonic`] on the shared port:
//!
//! ```text
//! let svc = grpc::Service::new(keypair, grpc::Config::new())
//!     .with_callback(SynapseType::TextLastHiddenState, |caller, inputs, spec| async move { … });
//! let router = neuron_transport::grpc::add_service(router, svc.into_tonic());
//! ```
//!
//! Every call goes through, in this order:
//!
//! 1. **size**: messages above [`Config::max_message_size`] (4 MiB like upstream) are refused
//!    by tonic while reading the length prefix (`RESOURCE_EXHAUSTED`, as grpcio says it);
//! 2. **authentication** on the metadata, before the body is decoded ([`Guard`]): the
//!    `bittensor-signature` (v2 `.` or v1 `bitxx` format), `bittensor-version` ≥ 370, a nonce
//!    strictly above the last one of the same (hotkey, receptor uid) in a bounded table, and
//!    the sr25519 signature of the sender, with this axon's **own** hotkey as the v2
//!    receiver; then the **blacklist** hook on the verified hotkey and the request type.
//!    Any refusal is gRPC `UNAUTHENTICATED` with upstream's text ("Nonce is too small", …);
//! 3. **decode** the synapses and their tensors, per synapse (§6 table);
//! 4. **priority queue**: the priority hook orders the waiting calls in front of
//!    [`Config::workers`] workers; at most [`Config::queue_capacity`] wait;
//! 5. **callbacks**, one per synapse type, within [`Config::timeout`] (queue wait included);
//! 6. **encode** each output, and the envelope rules ("at least one succeeded").
//!
//! A message **without synapses** is one of the older modality calls (bittensor 2.x,
//! `neuron_legacy::modality`): a Forward with one tensor whose `modality` picks the
//! callback ([`Service::with_modality_callback`]) and a Backward with the inputs and the
//! output's gradient ([`Service::with_modality_backward`]); the whole call has one code.
//!
//! [`Stats`] counts calls, codes, bytes and latency, and registers them as Prometheus
//! counters and histograms ([`Stats::register`]).

mod auth;
mod config;
mod hooks;
mod modality;
mod pipeline;
mod service;
mod stats;

pub use auth::Guard;
pub use config::Config;
pub use hooks::{BlacklistFn, InputGrad, PriorityFn, SynapseCheckFn};
pub use neuron_legacy::modality::Modality;
pub use neuron_legacy::{ReturnCode, SynapseSpec, SynapseType};
pub use neuron_protocol::legacy::RequestType;
pub use service::{Handler, Service};
pub use stats::{CodeLabel, RpcLabel, Stats, StatsSnapshot};

/// The legacy axon: another name for [`Service`].
pub type LegacyAxon = Service;
