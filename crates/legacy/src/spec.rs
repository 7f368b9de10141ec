//! Synapse descriptions and their wire form (`Synapse.synapse_type` + `synapse_data`).

use neuron_protocol::legacy::{
    ReturnCode, Serializer, Synapse,
    synapse::{self as args, SynapseType},
};
use prost::Message;

/// The arguments of a `TEXT_SEQ_2_SEQ` synapse (they drive HuggingFace `generate()`).
///
/// [`Default`] is the client factory's: topk 50, num_to_generate 256, num_beams 5,
/// no_repeat_ngram_size 2, early_stopping false, num_return_sequences 1, do_sample false,
/// top_p 0.95, temperature 1.0, repetition_penalty 1.0, length_penalty 1.0, max_time 150,
/// num_beam_groups 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Seq2SeqArgs {
    /// Top-k sampling width.
    pub topk: u32,
    /// Maximum generated length; also the bound on the response's second dimension.
    pub num_to_generate: u32,
    /// Beam count.
    pub num_beams: u32,
    /// Size of n-grams that may not repeat.
    pub no_repeat_ngram_size: u32,
    /// Stop beams early.
    pub early_stopping: bool,
    /// Sequences per input row (more than 1 fails the response check, as upstream).
    pub num_return_sequences: u32,
    /// Sample instead of greedy/beam decoding.
    pub do_sample: bool,
    /// Nucleus sampling mass.
    pub top_p: f32,
    /// Sampling temperature.
    pub temperature: f32,
    /// Repetition penalty.
    pub repetition_penalty: f32,
    /// Length penalty.
    pub length_penalty: f32,
    /// Generation time budget in seconds.
    pub max_time: f32,
    /// Diverse beam search groups.
    pub num_beam_groups: u32,
}

impl Default for Seq2SeqArgs {
    fn default() -> Self {
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
        }
    }
}

/// What a synapse asks for, with its own arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum SynapseKind {
    /// `TEXT_LAST_HIDDEN_STATE`: hidden states `[B, S, D]`, optionally only at the `mask`
    /// positions (Python-style indices, negative counting from the end).
    LastHiddenState {
        /// Sequence positions to return; empty means all.
        mask: Vec<i32>,
    },
    /// `TEXT_CAUSAL_LM`: the top-`topk` next-token probabilities at every position.
    CausalLm {
        /// Number of (probability, id) pairs per position.
        topk: u32,
    },
    /// `TEXT_CAUSAL_LM_NEXT`: the top-`topk` next-token *phrases* at the last position.
    CausalLmNext {
        /// Number of phrases per batch row.
        topk: u32,
    },
    /// `TEXT_SEQ_2_SEQ`: generated token ids.
    Seq2Seq(Seq2SeqArgs),
}

/// One synapse of a TensorMessage: its kind and the four serializers of its tensors.
///
/// Upstream always sends the serializers from the synapse object (MSGPACK = 0 by default,
/// so they vanish on the wire). Which one is used where: wire-legacy §3.
#[derive(Debug, Clone, PartialEq)]
pub struct SynapseSpec {
    /// Kind and arguments.
    pub kind: SynapseKind,
    /// Encodes the token ids (receptor) and decodes them (axon); also, as upstream's slip,
    /// encodes the gradients on the receptor.
    pub forward_request_serializer: Serializer,
    /// Encodes the response (axon) and decodes it (receptor).
    pub forward_response_serializer: Serializer,
    /// Decodes the gradients on the axon.
    pub backward_request_serializer: Serializer,
    /// Declared, never used (no gradients are returned).
    pub backward_response_serializer: Serializer,
}

impl SynapseSpec {
    /// A synapse of `kind` with every serializer MSGPACK.
    pub fn new(kind: SynapseKind) -> Self {
        Self {
            kind,
            forward_request_serializer: Serializer::Msgpack,
            forward_response_serializer: Serializer::Msgpack,
            backward_request_serializer: Serializer::Msgpack,
            backward_response_serializer: Serializer::Msgpack,
        }
    }

    /// `TEXT_LAST_HIDDEN_STATE` without a mask (the factory default).
    pub fn last_hidden_state() -> Self {
        Self::new(SynapseKind::LastHiddenState { mask: Vec::new() })
    }

    /// `TEXT_LAST_HIDDEN_STATE` returning only the `mask` positions.
    pub fn last_hidden_state_masked(mask: Vec<i32>) -> Self {
        Self::new(SynapseKind::LastHiddenState { mask })
    }

    /// `TEXT_CAUSAL_LM` (factory default `topk` 512).
    pub fn causal_lm(topk: u32) -> Self {
        Self::new(SynapseKind::CausalLm { topk })
    }

    /// `TEXT_CAUSAL_LM_NEXT` (factory default `topk` 4096).
    pub fn causal_lm_next(topk: u32) -> Self {
        Self::new(SynapseKind::CausalLmNext { topk })
    }

    /// `TEXT_SEQ_2_SEQ` with `args` (factory defaults: [`Seq2SeqArgs::default`]).
    pub fn seq2seq(args: Seq2SeqArgs) -> Self {
        Self::new(SynapseKind::Seq2Seq(args))
    }

    /// This synapse with another forward response serializer (CMPPACK halves float
    /// responses; never use it for token ids).
    pub fn with_forward_response_serializer(mut self, serializer: Serializer) -> Self {
        self.forward_response_serializer = serializer;
        self
    }

    /// The wire `SynapseType`.
    pub fn synapse_type(&self) -> SynapseType {
        match self.kind {
            SynapseKind::LastHiddenState { .. } => SynapseType::TextLastHiddenState,
            SynapseKind::CausalLm { .. } => SynapseType::TextCausalLm,
            SynapseKind::CausalLmNext { .. } => SynapseType::TextCausalLmNext,
            SynapseKind::Seq2Seq(_) => SynapseType::TextSeq2Seq,
        }
    }

    /// The upstream class name (`TextCausalLM`…), for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self.kind {
            SynapseKind::LastHiddenState { .. } => "TextLastHiddenState",
            SynapseKind::CausalLm { .. } => "TextCausalLM",
            SynapseKind::CausalLmNext { .. } => "TextCausalLMNext",
            SynapseKind::Seq2Seq(_) => "TextSeq2Seq",
        }
    }

    /// `topk` of the kinds that have one (0 for the hidden state).
    pub fn topk(&self) -> usize {
        match &self.kind {
            SynapseKind::LastHiddenState { .. } => 0,
            SynapseKind::CausalLm { topk } | SynapseKind::CausalLmNext { topk } => *topk as usize,
            SynapseKind::Seq2Seq(a) => a.topk as usize,
        }
    }

    /// The wire synapse: `synapse_type` and the serialized args message, byte for byte as
    /// upstream (nested `synapse_type`/`requires_grad` never filled; defaults omitted).
    pub fn to_wire(&self) -> Synapse {
        let [freq, fresp, breq, bresp] = [
            self.forward_request_serializer,
            self.forward_response_serializer,
            self.backward_request_serializer,
            self.backward_response_serializer,
        ]
        .map(|s| s as i32);
        let data = match &self.kind {
            SynapseKind::LastHiddenState { mask } => args::TextLastHiddenState {
                forward_request_serializer_type: freq,
                forward_response_serializer_type: fresp,
                backward_request_serializer_type: breq,
                backward_response_serializer_type: bresp,
                mask: mask.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
            SynapseKind::CausalLm { topk } => args::TextCausalLm {
                topk: wire_int(*topk),
                forward_request_serializer_type: freq,
                forward_response_serializer_type: fresp,
                backward_request_serializer_type: breq,
                backward_response_serializer_type: bresp,
                ..Default::default()
            }
            .encode_to_vec(),
            SynapseKind::CausalLmNext { topk } => args::TextCausalLmNext {
                topk: wire_int(*topk),
                forward_request_serializer_type: freq,
                forward_response_serializer_type: fresp,
                backward_request_serializer_type: breq,
                backward_response_serializer_type: bresp,
                ..Default::default()
            }
            .encode_to_vec(),
            SynapseKind::Seq2Seq(a) => args::TextSeq2Seq {
                topk: wire_int(a.topk),
                num_to_generate: wire_int(a.num_to_generate),
                forward_request_serializer_type: freq,
                forward_response_serializer_type: fresp,
                backward_request_serializer_type: breq,
                backward_response_serializer_type: bresp,
                num_beams: wire_int(a.num_beams),
                no_repeat_ngram_size: wire_int(a.no_repeat_ngram_size),
                early_stopping: a.early_stopping,
                num_return_sequences: wire_int(a.num_return_sequences),
                do_sample: a.do_sample,
                top_p: a.top_p,
                temperature: a.temperature,
                repetition_penalty: a.repetition_penalty,
                length_penalty: a.length_penalty,
                max_time: a.max_time,
                num_beam_groups: wire_int(a.num_beam_groups),
                ..Default::default()
            }
            .encode_to_vec(),
        };
        Synapse {
            synapse_data: data.into(),
            synapse_type: self.synapse_type() as i32,
            ..Default::default()
        }
    }

    /// Reads a wire synapse. Errors (the code that synapse is answered with):
    ///
    /// * `NULL_SYNAPSE` or an undefined type → NotImplemented (upstream's null synapse);
    /// * `synapse_data` that is not the args message → RequestDeserializationException
    ///   (upstream's handler would raise and fail the whole call);
    /// * an undefined serializer value → RequestDeserializationException (upstream fails
    ///   to build the serializer when it decodes the request);
    /// * a negative count (`topk`, `num_to_generate`…) → InvalidRequest.
    pub fn from_wire(s: &Synapse) -> Result<Self, ReturnCode> {
        let kind = SynapseType::try_from(s.synapse_type).unwrap_or(SynapseType::NullSynapse);
        let data = s.synapse_data.as_ref();
        let bad_data = |_| ReturnCode::RequestDeserializationException;
        let (kind, sers) = match kind {
            SynapseType::NullSynapse => return Err(ReturnCode::NotImplemented),
            SynapseType::TextLastHiddenState => {
                let a = args::TextLastHiddenState::decode(data).map_err(bad_data)?;
                let sers = [
                    a.forward_request_serializer_type,
                    a.forward_response_serializer_type,
                    a.backward_request_serializer_type,
                    a.backward_response_serializer_type,
                ];
                (SynapseKind::LastHiddenState { mask: a.mask }, sers)
            }
            SynapseType::TextCausalLm => {
                let a = args::TextCausalLm::decode(data).map_err(bad_data)?;
                let sers = [
                    a.forward_request_serializer_type,
                    a.forward_response_serializer_type,
                    a.backward_request_serializer_type,
                    a.backward_response_serializer_type,
                ];
                (
                    SynapseKind::CausalLm {
                        topk: count(a.topk)?,
                    },
                    sers,
                )
            }
            SynapseType::TextCausalLmNext => {
                let a = args::TextCausalLmNext::decode(data).map_err(bad_data)?;
                let sers = [
                    a.forward_request_serializer_type,
                    a.forward_response_serializer_type,
                    a.backward_request_serializer_type,
                    a.backward_response_serializer_type,
                ];
                (
                    SynapseKind::CausalLmNext {
                        topk: count(a.topk)?,
                    },
                    sers,
                )
            }
            SynapseType::TextSeq2Seq => {
                let a = args::TextSeq2Seq::decode(data).map_err(bad_data)?;
                let sers = [
                    a.forward_request_serializer_type,
                    a.forward_response_serializer_type,
                    a.backward_request_serializer_type,
                    a.backward_response_serializer_type,
                ];
                let args = Seq2SeqArgs {
                    topk: count(a.topk)?,
                    num_to_generate: count(a.num_to_generate)?,
                    num_beams: count(a.num_beams)?,
                    no_repeat_ngram_size: count(a.no_repeat_ngram_size)?,
                    early_stopping: a.early_stopping,
                    num_return_sequences: count(a.num_return_sequences)?,
                    do_sample: a.do_sample,
                    top_p: a.top_p,
                    temperature: a.temperature,
                    repetition_penalty: a.repetition_penalty,
                    length_penalty: a.length_penalty,
                    max_time: a.max_time,
                    num_beam_groups: count(a.num_beam_groups)?,
                };
                (SynapseKind::Seq2Seq(args), sers)
            }
        };
        let ser = |v: i32| {
            Serializer::try_from(v).map_err(|_| ReturnCode::RequestDeserializationException)
        };
        Ok(Self {
            kind,
            forward_request_serializer: ser(sers[0])?,
            forward_response_serializer: ser(sers[1])?,
            backward_request_serializer: ser(sers[2])?,
            backward_response_serializer: ser(sers[3])?,
        })
    }
}

/// A count as the wire's `int32` (saturating; counts above `i32::MAX` are meaningless).
fn wire_int(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// A wire `int32` count; negative → InvalidRequest.
fn count(v: i32) -> Result<u32, ReturnCode> {
    u32::try_from(v).map_err(|_| ReturnCode::InvalidRequest)
}
