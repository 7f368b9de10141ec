//! The legacy (gRPC era, bittensor v1 to v3.7) protobuf messages, generated from
//! `proto/bittensor.proto` by `cargo xtask codegen` (wire-legacy §2).
//!
//! The message types are prost structs; `Tensor.buffer` and `Synapse.synapse_data`
//! (and every other `bytes` field) are [`bytes::Bytes`], so tensor payloads are not
//! copied. The tonic client and server of the `Bittensor` service are generated into the
//! transport crate over these same types.
//!
//! Additions here: the protocol constants, [`ReturnCode::name`]/[`ReturnCode::from_code`],
//! [`Tensor::empty`], the client-side default arguments of each synapse type and
//! constructors of the wire [`Synapse`].

#[allow(missing_docs, clippy::all, clippy::pedantic, rust_2018_idioms)]
mod generated {
    include!("generated/bittensor.rs");
}

pub use generated::*;

/// `__version_as_int__` of bittensor 3.7.0, sent in every message: `370`.
pub const VERSION: i32 = 370;

/// gRPC method path of Forward.
pub const FORWARD_PATH: &str = "/Bittensor/Forward";
/// gRPC method path of Backward.
pub const BACKWARD_PATH: &str = "/Bittensor/Backward";

/// The request metadata a v3 receptor sends, in this order (wire-legacy §8).
pub mod metadata {
    /// First entry; pre-3.5 axons check it positionally.
    pub const AUTH_HEADER: &str = "rpc-auth-header";
    /// Value of [`AUTH_HEADER`].
    pub const AUTH_HEADER_VALUE: &str = "Bittensor";
    /// The signature string (see [`crate::signing::parse_legacy_signature_header`]).
    pub const SIGNATURE: &str = "bittensor-signature";
    /// `str(__version_as_int__)`.
    pub const VERSION: &str = "bittensor-version";
    /// `"1"` for Forward, `"2"` for Backward.
    pub const REQUEST_TYPE: &str = "request_type";
}

impl ReturnCode {
    /// The upstream name, e.g. `"Success"`, `"RequestShapeException"`.
    pub fn name(self) -> &'static str {
        self.as_str_name()
    }

    /// The code with this number (`0..=24`), or `None`. (prost also derives a
    /// `from_i32` with the same meaning, deprecated in favour of `TryFrom<i32>`.)
    pub fn from_code(value: i32) -> Option<Self> {
        Self::try_from(value).ok()
    }
}

impl Tensor {
    /// The placeholder for a failed synapse: `Tensor { version: 370 }`, bytes `08 f2 02`.
    pub fn empty() -> Self {
        Self {
            version: VERSION,
            ..Self::default()
        }
    }
}

impl synapse::TextLastHiddenState {
    /// The client factory's arguments: no mask (encodes to empty bytes).
    pub fn client_defaults() -> Self {
        Self::default()
    }
}

impl synapse::TextCausalLm {
    /// The client factory's arguments: `topk` 512.
    pub fn client_defaults() -> Self {
        Self {
            topk: 512,
            ..Self::default()
        }
    }
}

impl synapse::TextCausalLmNext {
    /// The client factory's arguments: `topk` 4096.
    pub fn client_defaults() -> Self {
        Self {
            topk: 4096,
            ..Self::default()
        }
    }
}

impl synapse::TextSeq2Seq {
    /// The client factory's arguments (wire-legacy §2): topk 50, num_to_generate 256,
    /// num_beams 5, no_repeat_ngram_size 2, num_return_sequences 1, top_p 0.95,
    /// temperature, repetition and length penalties 1.0, max_time 150, num_beam_groups 1.
    pub fn client_defaults() -> Self {
        Self {
            topk: 50,
            num_to_generate: 256,
            num_beams: 5,
            no_repeat_ngram_size: 2,
            early_stopping: false,
            num_return_sequences: 1,
            do_sample: false,
            top_p: 0.95,
            temperature: 1.0,
            repetition_penalty: 1.0,
            length_penalty: 1.0,
            max_time: 150.0,
            num_beam_groups: 1,
            ..Self::default()
        }
    }
}

impl Synapse {
    /// A wire synapse of `kind` carrying `args` serialized into `synapse_data`.
    pub fn with_args(kind: synapse::SynapseType, args: &impl prost::Message) -> Self {
        Self {
            synapse_data: args.encode_to_vec().into(),
            synapse_type: kind as i32,
            ..Self::default()
        }
    }

    /// A TEXT_LAST_HIDDEN_STATE synapse.
    pub fn text_last_hidden_state(args: &synapse::TextLastHiddenState) -> Self {
        Self::with_args(synapse::SynapseType::TextLastHiddenState, args)
    }

    /// A TEXT_CAUSAL_LM synapse.
    pub fn text_causal_lm(args: &synapse::TextCausalLm) -> Self {
        Self::with_args(synapse::SynapseType::TextCausalLm, args)
    }

    /// A TEXT_CAUSAL_LM_NEXT synapse.
    pub fn text_causal_lm_next(args: &synapse::TextCausalLmNext) -> Self {
        Self::with_args(synapse::SynapseType::TextCausalLmNext, args)
    }

    /// A TEXT_SEQ_2_SEQ synapse.
    pub fn text_seq2seq(args: &synapse::TextSeq2Seq) -> Self {
        Self::with_args(synapse::SynapseType::TextSeq2Seq, args)
    }

    /// This synapse with a response code and message set.
    pub fn with_return(mut self, code: ReturnCode, message: impl Into<String>) -> Self {
        self.return_code = code as i32;
        self.message = message.into();
        self
    }
}

/// Decodes a message, for symmetry with `encode_to_vec` (prost's `decode` needs the
/// `Message` trait in scope).
pub fn decode<M: prost::Message + Default>(bytes: &[u8]) -> Result<M, prost::DecodeError> {
    M::decode(bytes)
}

/// Encodes a message.
pub fn encode(message: &impl prost::Message) -> Vec<u8> {
    message.encode_to_vec()
}
