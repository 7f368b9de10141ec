//! The compact form of TEXT_CAUSAL_LM results: the wire's `[B, S, 2k]` top-k
//! probabilities and ids, checked, instead of full-vocabulary log-probabilities.
//!
//! Upstream's caller expands every reply to `[B, S, V]` log-probabilities (wire-legacy §5).
//! That is `B·S·50258` floats per endpoint: 6.4 MB for `[2, 16]` inputs, 1.6 GB for a
//! fan-out to 256 axons, where writing the memory alone costs more than everything else
//! the call does. The compact form carries the same information (the expansion is a pure
//! function of it, [`SynapseSpec::expand_log_probs`]), so a caller that only needs the top
//! tokens, or only a few rows, can skip the expansion.

use candle_core::{DType, Device, Tensor};
use neuron_protocol::legacy::Tensor as WireTensor;
use neuron_tensor::{Limits, legacy as wire};

use crate::failure::{Failure, Fault, codes};
use crate::spec::{SynapseKind, SynapseSpec};
use crate::{VOCAB_SIZE, lm};

/// How a caller receives TEXT_CAUSAL_LM results (every other synapse type has one form).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CausalLmForm {
    /// Full-vocabulary log-probabilities `[B, S, V]`, as upstream.
    #[default]
    LogProbs,
    /// The wire's `[B, S, 2k]`: along the last axis the `k` probabilities (descending),
    /// then their `k` token ids as floats; every id checked to be a token of the
    /// vocabulary, NaN → 0. Zeros `[B, S, 2k]` on failure.
    TopK,
}

impl SynapseSpec {
    /// [`Self::decode_response_detailed`], with TEXT_CAUSAL_LM results in `form`.
    pub fn decode_response_as(
        &self,
        inputs: &Tensor,
        t: &WireTensor,
        limits: &Limits,
        form: CausalLmForm,
    ) -> Result<Tensor, Failure> {
        let SynapseKind::CausalLm { topk } = self.kind else {
            return self.decode_response_detailed(inputs, t, limits);
        };
        if form == CausalLmForm::LogProbs {
            return self.decode_response_detailed(inputs, t, limits);
        }
        let decode = || -> Result<Tensor, Fault> {
            let (b, s) = match *inputs.dims() {
                [b, s] if b > 0 && s > 0 => (b, s),
                _ => return Err(Fault::shape(format!("inputs {:?}", inputs.dims()))),
            };
            let k = topk as usize;
            let r = wire::to_candle(t, limits)?;
            if r.dims() != [b, s, 2 * k] {
                return Err(Fault::shape(format!(
                    "forward_response_tensor.shape must be in [{b}, {s}, {}], got: {:?} for synapse: {}",
                    2 * k,
                    r.dims(),
                    self.name()
                )));
            }
            let mut v = r.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
            for row in v.chunks_mut(2 * k.max(1)) {
                let (probs, ids) = row.split_at_mut(k.min(row.len()));
                lm::nan_to_num(probs);
                if ids
                    .iter()
                    .any(|&id| lm::token_index(id, VOCAB_SIZE).is_none())
                {
                    return Err(Fault::other("token id out of the vocabulary"));
                }
            }
            Ok(Tensor::from_vec(v, (b, s, 2 * k), &Device::Cpu)?)
        };
        decode().map_err(|f| f.into_failure(codes::DECODE_RESPONSE))
    }

    /// [`Self::zeros`] in `form` (`[B, S, 2k]` zeros for a TEXT_CAUSAL_LM in
    /// [`CausalLmForm::TopK`]).
    pub fn zeros_as(&self, inputs: &Tensor, form: CausalLmForm) -> Tensor {
        match (&self.kind, form, inputs.dims()) {
            (SynapseKind::CausalLm { topk }, CausalLmForm::TopK, &[b, s]) => {
                Tensor::zeros((b, s, 2 * *topk as usize), DType::F32, &Device::Cpu)
                    .unwrap_or_else(|_| self.zeros(inputs))
            }
            _ => self.zeros(inputs),
        }
    }

    /// Expands a [`CausalLmForm::TopK`] result `[B, S, 2k]` to the full-vocabulary
    /// log-probabilities `[B, S, V]` that [`CausalLmForm::LogProbs`] returns.
    pub fn expand_log_probs(&self, packed: &Tensor) -> Result<Tensor, Failure> {
        let expand = || -> Result<Tensor, Fault> {
            let k = self.topk();
            let [b, s, w] = *packed.dims() else {
                return Err(Fault::shape(format!(
                    "expected [B, S, 2k], got {:?}",
                    packed.dims()
                )));
            };
            if w != 2 * k {
                return Err(Fault::shape(format!(
                    "expected [{b}, {s}, {}], got {:?}",
                    2 * k,
                    packed.dims()
                )));
            }
            let v = packed
                .to_dtype(DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            let out = lm::unpack_log_probs(&v, b * s, k, VOCAB_SIZE)
                .ok_or_else(|| Fault::other("token id out of the vocabulary"))?;
            Ok(Tensor::from_vec(out, (b, s, VOCAB_SIZE), &Device::Cpu)?)
        };
        expand().map_err(|f| f.into_failure(codes::DECODE_RESPONSE))
    }
}
