//! The 2.x modality calls on the client side (`neuron_legacy::modality`): one tensor per
//! call whose modality picks the remote model, one hidden state `[B, S, 1024]` back; and
//! the Backward that sends the output's gradient and receives the inputs' gradient.

use std::time::{Duration, Instant};

use candle_core::{DType, Tensor};
use futures::future::join_all;
use neuron_legacy::modality::{self, Modality};
use neuron_protocol::legacy::{self, ReturnCode, TensorMessage};
use prost::Message as _;

use super::endpoint::Endpoint;
use super::error::{Error, Result};
use super::pool::ReceptorPool;
use super::receptor::{Outcome, Receptor};
use super::stats::Rpc;

/// Inputs of a modality call: one tensor for every endpoint, or one per endpoint.
#[derive(Debug, Clone)]
pub enum ModalityInputs {
    /// The same tensor to every endpoint.
    One(Tensor),
    /// `inputs[i]` to endpoint `i`.
    PerEndpoint(Vec<Tensor>),
}

impl From<Tensor> for ModalityInputs {
    fn from(t: Tensor) -> Self {
        ModalityInputs::One(t)
    }
}

impl From<Vec<Tensor>> for ModalityInputs {
    fn from(t: Vec<Tensor>) -> Self {
        ModalityInputs::PerEndpoint(t)
    }
}

impl ModalityInputs {
    /// One tensor per endpoint.
    pub(crate) fn resolve(self, endpoints: usize) -> Result<Vec<Tensor>> {
        match self {
            ModalityInputs::One(t) => Ok(vec![t; endpoints]),
            ModalityInputs::PerEndpoint(v) if v.len() == endpoints => Ok(v),
            ModalityInputs::PerEndpoint(v) => Err(Error::Length {
                what: "input tensors per endpoint",
                expected: endpoints,
                actual: v.len(),
            }),
        }
    }
}

/// The zeros of an input gradient: float32 in the inputs' shape.
fn input_zeros(inputs: &Tensor) -> Tensor {
    inputs
        .zeros_like()
        .and_then(|z| z.to_dtype(DType::F32))
        .unwrap_or_else(|_| modality::zeros(inputs))
}

impl Receptor {
    /// A modality Forward: `inputs` (int64 `[B, S]` for TEXT, float `[B, S, C, H, W]` for
    /// IMAGE, float `[B, S, D]` for TENSOR) to the remote model of `m`. The outcome has one
    /// entry: the hidden state `[B, S, 1024]`, zeros on failure.
    pub async fn forward_modality(
        &self,
        m: Modality,
        inputs: &Tensor,
        timeout: Duration,
    ) -> Outcome {
        self.modality_call(Rpc::Forward, m, inputs, None, timeout)
            .await
    }

    /// A modality Backward: `inputs` and the gradient of the output `[B, S, 1024]`. The
    /// outcome has one entry: the gradient of the inputs the remote sent back (float32, the
    /// inputs' shape), zeros when it failed or sent none.
    pub async fn backward_modality(
        &self,
        m: Modality,
        inputs: &Tensor,
        grad: &Tensor,
        timeout: Duration,
    ) -> Outcome {
        self.modality_call(Rpc::Backward, m, inputs, Some(grad), timeout)
            .await
    }

    async fn modality_call(
        &self,
        rpc: Rpc,
        m: Modality,
        inputs: &Tensor,
        grad: Option<&Tensor>,
        timeout: Duration,
    ) -> Outcome {
        let start = Instant::now();
        let zeros = if rpc == Rpc::Forward {
            modality::zeros(inputs)
        } else {
            input_zeros(inputs)
        };
        let mut out = Outcome {
            outputs: vec![zeros],
            codes: vec![ReturnCode::Success],
            times: vec![0.0],
            messages: vec![String::new()],
            bytes_out: 0,
            bytes_in: 0,
        };
        if inputs.elem_count() == 0 {
            out.fail_all(ReturnCode::EmptyRequest, "Empty request", 0.0);
        } else if self.endpoint().is_dummy() {
            out.fail_all(ReturnCode::BadEndpoint, "Bad endpoint", 0.0);
        } else {
            match encode(m, inputs, grad) {
                Err(f) => out.set(0, f.code, f.message, 0.0),
                Ok(tensors) => {
                    self.exchange(rpc, m, inputs, tensors, timeout, start, &mut out)
                        .await
                }
            }
        }
        self.record(rpc, &out, start);
        out
    }

    #[allow(clippy::too_many_arguments)]
    async fn exchange(
        &self,
        rpc: Rpc,
        m: Modality,
        inputs: &Tensor,
        tensors: Vec<legacy::Tensor>,
        timeout: Duration,
        start: Instant,
        out: &mut Outcome,
    ) {
        let message = TensorMessage {
            version: legacy::VERSION,
            hotkey: self.keypair().ss58().to_owned(),
            tensors,
            requires_grad: true,
            ..TensorMessage::default()
        };
        out.bytes_out = message.encoded_len();
        let reply = self.send(rpc, message, timeout, start).await;
        let elapsed = start.elapsed().as_secs_f64();
        let reply = match reply {
            Err((code, message)) => return out.set(0, code, message, elapsed),
            Ok(reply) => reply,
        };
        out.bytes_in = reply.encoded_len();
        let top = ReturnCode::from_code(reply.return_code).unwrap_or(ReturnCode::UnknownException);
        if top != ReturnCode::Success {
            let message = format!("Remote Server Failure: {}", reply.message);
            return out.set(0, top, message, elapsed);
        }
        let limits = &self.config().limits;
        let decoded = match (rpc, reply.tensors.first()) {
            (Rpc::Forward, None) => Err(neuron_legacy::Failure::new(
                ReturnCode::EmptyResponse,
                "Empty Response",
            )),
            (Rpc::Forward, Some(t)) => modality::decode_response(m, inputs, t, limits),
            (Rpc::Backward, None) => Ok(input_zeros(inputs)),
            (Rpc::Backward, Some(t)) => modality::decode_input_grad(inputs, t, limits),
        };
        match decoded {
            Ok(t) => {
                out.outputs[0] = t;
                out.set(0, ReturnCode::Success, "Success".into(), elapsed);
            }
            Err(f) => out.set(0, f.code, f.message, elapsed),
        }
    }
}

/// The request tensors: the inputs, and for a Backward the output's gradient.
fn encode(
    m: Modality,
    inputs: &Tensor,
    grad: Option<&Tensor>,
) -> std::result::Result<Vec<legacy::Tensor>, neuron_legacy::Failure> {
    let mut tensors = vec![modality::encode_request(m, inputs)?];
    if let Some(g) = grad {
        tensors.push(modality::encode_grad(m, inputs, g)?);
    }
    Ok(tensors)
}

impl ReceptorPool {
    /// A modality Forward to every endpoint in parallel; `inputs[i]` goes to
    /// `endpoints[i]`.
    pub async fn forward_modality(
        &self,
        endpoints: &[Endpoint],
        m: Modality,
        inputs: &[Tensor],
        timeout: Duration,
    ) -> Result<Vec<Outcome>> {
        check_len("inputs per endpoint", endpoints.len(), inputs.len())?;
        let receptors = self.receptors(endpoints)?;
        let calls = receptors
            .iter()
            .zip(inputs)
            .map(|(r, x)| r.forward_modality(m, x, timeout));
        let outcomes = join_all(calls).await;
        drop(receptors);
        self.trim();
        Ok(outcomes)
    }

    /// A modality Backward to every endpoint in parallel: `grads[i]` is the gradient of
    /// endpoint `i`'s output.
    pub async fn backward_modality(
        &self,
        endpoints: &[Endpoint],
        m: Modality,
        inputs: &[Tensor],
        grads: &[Tensor],
        timeout: Duration,
    ) -> Result<Vec<Outcome>> {
        check_len("inputs per endpoint", endpoints.len(), inputs.len())?;
        check_len("gradients per endpoint", endpoints.len(), grads.len())?;
        let receptors = self.receptors(endpoints)?;
        let calls = receptors
            .iter()
            .zip(inputs)
            .zip(grads)
            .map(|((r, x), g)| r.backward_modality(m, x, g, timeout));
        let outcomes = join_all(calls).await;
        drop(receptors);
        self.trim();
        Ok(outcomes)
    }
}

fn check_len(what: &'static str, expected: usize, actual: usize) -> Result<()> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::Length {
            what,
            expected,
            actual,
        })
    }
}
