//! The legacy TensorMessage/gRPC dialect (bittensor 3.x), client side
//! (`shared/spec/wire-legacy.md` §4, §7–§11).
//!
//! * [`Receptor`]: one tonic channel to one axon; signs every call (§8), by default ahead
//!   of time on a low-priority thread ([`presigned`]; the signature does not cover the
//!   payload), maps every
//!   failure to a [`ReturnCode`](neuron_protocol::legacy::ReturnCode) with zeros of the
//!   synapse's documented shape (§7), keeps statistics.
//! * [`ReceptorPool`]: receptors by hotkey, bounded, LRU eviction of idle receptors (§11).
//! * [`TextDendrite`]: the text API (`text`, `text_causal_lm`, `text_causal_lm_next`,
//!   `text_last_hidden_state`, `generate`, `format_text_inputs`) over candle tensors,
//!   endpoint-major results, plus [`TextDendrite::forward_autograd`] and its
//!   [`BackwardHandle`] (see [`autograd`]). `text_causal_lm_topk` is `text_causal_lm`
//!   without the expansion of every reply to full-vocabulary log-probabilities
//!   ([`neuron_legacy::CausalLmForm`]).
//! * The seed-003 modality calls: `forward_text` (TEXT_LAST_HIDDEN_STATE), and
//!   `forward_tensor`, `forward_image` and `forward_modality`, which travel as the 2.x
//!   modality calls (a message without synapses, one tensor whose `modality` picks the
//!   remote model; `neuron_legacy::modality`); `forward_modality_autograd` sends the
//!   gradients back and returns the gradients of the inputs the remotes send back.
//! * [`Metrics`]: prometheus-client counters and histograms.
//!
//! Per-synapse encoding, checks and decoding come from `neuron_legacy::SynapseSpec`.

pub mod autograd;
mod clock;
mod endpoint;
mod error;
mod inputs;
mod metrics;
mod modality;
mod pool;
mod presign;
mod receptor;
mod stats;
pub mod text;
mod tokenizer;

pub use autograd::{BackwardHandle, BackwardMode, BackwardResult};
pub use clock::NonceClock;
pub use endpoint::{DUMMY_HOTKEY, ENDPOINT_BUFFER_SIZE, Endpoint};
pub use error::{Error, Result};
pub use inputs::{Endpoints, TextInputs, format_text_inputs};
pub use metrics::{CodeLabel, Metrics};
pub use modality::ModalityInputs;
pub use neuron_legacy::modality::Modality;
pub use pool::{DEFAULT_MAX_ACTIVE_RECEPTORS, ReceptorPool};
pub use presign::{QUEUE as PRESIGN_QUEUE, presigned};
pub use receptor::{Config as ReceptorConfig, Outcome, Receptor, State};
pub use stats::Stats;
pub use text::{Config, DEFAULT_TIMEOUT, Generated, Mask, TextDendrite, TextOutput};
pub use tokenizer::{PAD_ID, Tokenizer};
