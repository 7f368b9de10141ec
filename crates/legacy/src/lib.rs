//! Synapse semantics of the legacy gRPC TensorMessage dialect (bittensor 3.x).
//!
//! The legacy dialect sends token ids `[batch, seq]` to an axon and gets back, per
//! *synapse*, a tensor whose shape and packing depend on the synapse type
//! (`shared/spec/wire-legacy.md` §3, §5–§7). This crate is that knowledge, shared by both
//! ends: the axon ([`SynapseSpec::decode_request`], [`SynapseSpec::encode_response`],
//! [`SynapseSpec::decode_grad`]) and the receptor/dendrite ([`SynapseSpec::encode_request`],
//! [`SynapseSpec::decode_response`], [`SynapseSpec::zeros`], [`SynapseSpec::encode_grad`]).
//!
//! | synapse | model output (axon callback) | on the wire | caller sees |
//! |---|---|---|---|
//! | `TEXT_LAST_HIDDEN_STATE` | `[B, S, D]` | `[B, S, D]`, or `[B·len(mask), D]` rows when masked | `[B, S, D]`, zeros at unmasked positions |
//! | `TEXT_CAUSAL_LM` | logits `[B, S, V]` | `[B, S, 2k]`: top-k softmax probabilities, then their ids | log-probabilities `[B, S, V]` |
//! | `TEXT_CAUSAL_LM_NEXT` | phrases `[B, k+1, L]` | 1-D compact phrases ([`phrases`]) | `[B, k+1, maxlen]` |
//! | `TEXT_SEQ_2_SEQ` | ids `[B, ≤n]` | the same | the same |
//!
//! `D` = [`NETWORK_DIM`], `V` = [`VOCAB_SIZE`], `k` = the synapse's `topk`.
//!
//! The older modality calls (one tensor whose `modality` picks the model: `forward_text`,
//! `forward_image`, `forward_tensor`) are in [`modality`].
//!
//! Like the protocol crate this is sans-IO: no sockets, no clock, no async. Every decoder
//! takes [`neuron_tensor::Limits`] and refuses hostile input with a [`ReturnCode`] instead of
//! panicking or allocating without bound.
//!
//! # Error codes
//!
//! Each operation maps its failures to the code the upstream peer would report (§5, §6):
//!
//! | operation | shape problem | other problem |
//! |---|---|---|
//! | [`SynapseSpec::encode_request`] (receptor) | RequestShapeException | RequestSerializationException |
//! | [`SynapseSpec::decode_request`] (axon) | RequestShapeException | RequestDeserializationException |
//! | [`SynapseSpec::encode_response`] (axon) | ResponseShapeException (EmptyResponse when empty) | ResponseSerializationException |
//! | [`SynapseSpec::decode_response`] (receptor) | ResponseDeserializationException | ResponseDeserializationException |
//! | [`SynapseSpec::encode_grad`] (receptor) | RequestShapeException | RequestSerializationException |
//! | [`SynapseSpec::decode_grad`] (axon) | RequestShapeException | RequestDeserializationException |
//!
//! The `*_detailed` variants return a [`Failure`] with the error text as well.

mod codec;
mod failure;
mod lm;
pub mod modality;
pub mod phrases;
mod spec;
mod topk;

pub use failure::Failure;
pub use spec::{Seq2SeqArgs, SynapseKind, SynapseSpec};
pub use topk::CausalLmForm;

pub use neuron_protocol::legacy::{ReturnCode, Serializer, synapse::SynapseType};

/// `__network_dim__`: the width of a hidden state, **1024**.
pub const NETWORK_DIM: usize = 1024;

/// `__vocab_size__` of bittensor 3.x: **50258** (GPT-2 plus one special token).
pub const VOCAB_SIZE: usize = 50258;

/// `__version_as_int__` of bittensor 3.7.0: **370**.
pub const VERSION: i32 = neuron_protocol::legacy::VERSION;
