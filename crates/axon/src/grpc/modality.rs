//! The 2.x modality calls (`neuron_legacy::modality`): a Forward with one tensor and no
//! synapses, answered with one hidden state; a Backward with the inputs and the output's
//! gradient, answered with the gradient of the inputs. The whole call has one code, in
//! the envelope's `return_code` and `message`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use candle_core::Tensor;
use futures::FutureExt;
use neuron_legacy::modality::{self, Modality};
use neuron_legacy::{Failure, ReturnCode, SynapseSpec, SynapseType};
use neuron_protocol::legacy::{RequestType, TensorMessage};

use super::hooks::ModalityCallback;
use super::pipeline::call;
use super::service::Shared;
use crate::Caller;
use crate::queue::Permit;

impl Shared {
    /// The envelope of a modality call: one code, `tensors` (the answer or nothing).
    fn modality_reply(
        &self,
        request: &TensorMessage,
        result: Result<Vec<neuron_protocol::legacy::Tensor>, Failure>,
    ) -> TensorMessage {
        let (code, message, tensors) = match result {
            Ok(tensors) => (ReturnCode::Success, "Success".to_owned(), tensors),
            Err(f) => (f.code, f.message, Vec::new()),
        };
        let mut reply = self.reply(request, code, tensors, Vec::new());
        reply.message = message;
        reply
    }

    /// Forward of one tensor whose modality picks the callback.
    pub(crate) async fn forward_modality(
        &self,
        caller: Caller,
        request: &TensorMessage,
    ) -> TensorMessage {
        let result = self.run_forward_modality(&caller, request).await;
        self.modality_reply(request, result.map(|t| vec![t]))
    }

    async fn run_forward_modality(
        &self,
        caller: &Caller,
        request: &TensorMessage,
    ) -> Result<neuron_protocol::legacy::Tensor, Failure> {
        let (m, inputs) = modality::decode_request(&request.tensors[0], &self.config.limits)?;
        self.check_sender(caller, request)?;
        let priority =
            self.priority_of(caller, std::slice::from_ref(&inputs), RequestType::Forward);
        let output = self
            .within(async {
                let permit = self.worker(priority).await?;
                Ok(self.call_modality(caller, m, &inputs, permit).await)
            })
            .await
            .map_err(|(code, message)| Failure::new(code, message))??;
        modality::encode_response(m, &inputs, &output)
    }

    /// The message's own hotkey must be the signer's (as for synapses).
    fn check_sender(&self, caller: &Caller, request: &TensorMessage) -> Result<(), Failure> {
        if request.hotkey == caller.hotkey {
            Ok(())
        } else {
            Err(Failure::new(
                ReturnCode::UnknownException,
                "Synapse Check Failed",
            ))
        }
    }

    /// Runs the callback of modality `m` (TEXT falls back to the hidden-state synapse).
    async fn call_modality(
        &self,
        caller: &Caller,
        m: Modality,
        inputs: &Tensor,
        permit: Arc<Permit>,
    ) -> Result<Tensor, Failure> {
        let unknown = |e: String| Failure::new(ReturnCode::UnknownException, e);
        if let Some(callback) = self.modalities.get(&m) {
            return call_modality(callback, caller.clone(), inputs.clone(), m, permit)
                .await
                .map_err(unknown);
        }
        let text = self.callbacks.get(&SynapseType::TextLastHiddenState);
        match (m, text) {
            (Modality::Text, Some(callback)) => {
                let spec = SynapseSpec::last_hidden_state();
                call(callback, caller.clone(), inputs.clone(), spec, permit)
                    .await
                    .map_err(unknown)
            }
            _ => Err(Failure::new(
                ReturnCode::NotImplemented,
                "Modality not implemented",
            )),
        }
    }

    /// Backward of `[inputs, output gradient]`: the callback's input gradient, if any.
    pub(crate) async fn backward_modality(
        &self,
        caller: Caller,
        request: &TensorMessage,
    ) -> TensorMessage {
        let result = self.run_backward_modality(&caller, request).await;
        self.modality_reply(request, result)
    }

    async fn run_backward_modality(
        &self,
        caller: &Caller,
        request: &TensorMessage,
    ) -> Result<Vec<neuron_protocol::legacy::Tensor>, Failure> {
        let limits = &self.config.limits;
        let (m, inputs) = modality::decode_request(&request.tensors[0], limits)?;
        let grad = modality::decode_grad(m, &inputs, &request.tensors[1], limits)?;
        self.check_sender(caller, request)?;
        let Some(callback) = self.modality_backward.clone() else {
            return Err(Failure::new(
                ReturnCode::NotImplemented,
                "No Backward Function Attached",
            ));
        };
        let priority =
            self.priority_of(caller, std::slice::from_ref(&inputs), RequestType::Backward);
        let input_grad = self
            .within(async {
                let _permit = self.worker(priority).await?;
                let run = callback(caller.clone(), inputs.clone(), grad, m);
                Ok(AssertUnwindSafe(run)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| Err("callback panicked".into())))
            })
            .await
            .map_err(|(code, message)| Failure::new(code, message))?
            .map_err(|e| Failure::new(ReturnCode::UnknownException, e))?;
        match input_grad {
            None => Ok(Vec::new()),
            Some(g) => Ok(vec![modality::encode_input_grad(&inputs, &g)?]),
        }
    }
}

/// Runs one modality callback; a panic becomes an error text.
async fn call_modality(
    callback: &ModalityCallback,
    caller: Caller,
    inputs: Tensor,
    m: Modality,
    permit: Arc<Permit>,
) -> Result<Tensor, String> {
    match callback {
        ModalityCallback::Async(f) => AssertUnwindSafe(f(caller, inputs, m))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err("callback panicked".into())),
        ModalityCallback::Blocking(f) => {
            let f = f.clone();
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                f(caller, inputs, m)
            })
            .await
            .unwrap_or_else(|_| Err("callback panicked".into()))
        }
    }
}
