//! Forward and Backward of one TensorMessage (wire-legacy §6): per-synapse decode, the
//! queue, the callbacks, per-synapse encode and the envelope rules.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use candle_core::Tensor;
use futures::FutureExt;
use neuron_legacy::{Failure, ReturnCode, SynapseSpec};
use neuron_protocol::legacy::{self as wire, RequestType, TensorMessage};

use super::hooks::{BackwardCallback, Callback};
use super::service::Shared;
use crate::Caller;
use crate::queue::Permit;

/// The state of one synapse through a call.
struct Slot {
    spec: Result<SynapseSpec, ReturnCode>,
    code: ReturnCode,
    message: String,
    inputs: Option<Tensor>,
}

impl Slot {
    fn ok(&self) -> bool {
        self.code == ReturnCode::Success
    }

    fn fail(&mut self, code: ReturnCode, message: impl Into<String>) {
        self.code = code;
        self.message = message.into();
    }
}

/// A failed request decode, with upstream's message prefixes.
fn decode_failure(f: Failure) -> (ReturnCode, String) {
    let prefix = if f.code == ReturnCode::RequestShapeException {
        "Input shape exception with error:"
    } else {
        "Input deserialization exception with error:"
    };
    (f.code, format!("{prefix}{}", f.message))
}

/// The code of a synapse whose wire form could not be read.
fn spec_failure(code: ReturnCode) -> (ReturnCode, String) {
    let message = match code {
        ReturnCode::NotImplemented => "Not Implemented",
        ReturnCode::InvalidRequest => "Invalid synapse arguments",
        _ => "Input deserialization exception with error:undecodable synapse arguments",
    };
    (code, message.into())
}

impl Shared {
    fn slots(&self, request: &TensorMessage) -> Vec<Slot> {
        request
            .synapses
            .iter()
            .map(|s| Slot {
                spec: SynapseSpec::from_wire(s),
                code: ReturnCode::Success,
                message: "Success".into(),
                inputs: None,
            })
            .collect()
    }

    /// The envelope around `synapses`/`tensors`.
    pub(crate) fn reply(
        &self,
        request: &TensorMessage,
        code: ReturnCode,
        tensors: Vec<wire::Tensor>,
        synapses: Vec<wire::Synapse>,
    ) -> TensorMessage {
        TensorMessage {
            version: neuron_legacy::VERSION,
            hotkey: self.own_hotkey.clone(),
            tensors,
            return_code: code as i32,
            message: String::new(),
            requires_grad: request.requires_grad,
            synapses,
        }
    }

    /// Every synapse failed (or the call was refused as a whole): the request's own
    /// synapses with their codes, no tensors, the first synapse's code on top.
    fn reply_failed(
        &self,
        request: &TensorMessage,
        slots: &[Slot],
        top: ReturnCode,
    ) -> TensorMessage {
        let synapses = echo(request, slots);
        self.reply(request, top, Vec::new(), synapses)
    }

    /// Sets every synapse to `code` and answers with it.
    fn refuse_all(
        &self,
        request: &TensorMessage,
        slots: &mut [Slot],
        code: ReturnCode,
        message: &str,
    ) -> TensorMessage {
        for slot in slots.iter_mut() {
            slot.fail(code, message);
        }
        self.reply_failed(request, slots, code)
    }

    /// Decodes the inputs of every synapse whose wire form was readable.
    fn decode_inputs(&self, request: &TensorMessage, slots: &mut [Slot]) {
        for (slot, tensor) in slots.iter_mut().zip(&request.tensors) {
            match &slot.spec {
                Err(code) => {
                    let (code, message) = spec_failure(*code);
                    slot.fail(code, message);
                }
                Ok(spec) => match spec.decode_request_detailed(tensor, &self.config.limits) {
                    Ok(t) => slot.inputs = Some(t),
                    Err(f) => {
                        let (code, message) = decode_failure(f);
                        slot.fail(code, message);
                    }
                },
            }
        }
    }

    fn first_code(slots: &[Slot]) -> ReturnCode {
        slots.first().map_or(ReturnCode::Success, |s| s.code)
    }

    pub(crate) fn priority_of(&self, caller: &Caller, inputs: &[Tensor], kind: RequestType) -> f64 {
        self.priority
            .as_ref()
            .map_or(0.0, |p| p(caller, inputs, kind))
    }

    fn priority(&self, caller: &Caller, slots: &[Slot], kind: RequestType) -> f64 {
        let inputs: Vec<Tensor> = slots.iter().filter_map(|s| s.inputs.clone()).collect();
        self.priority
            .as_ref()
            .map_or(0.0, |p| p(caller, &inputs, kind))
    }

    /// Waits for a worker, ordered by `priority` among the waiting calls.
    pub(crate) async fn worker(
        &self,
        priority: f64,
    ) -> Result<Arc<Permit>, (ReturnCode, &'static str)> {
        self.scheduler
            .acquire(priority)
            .await
            .map(Arc::new)
            .map_err(|_| {
                (
                    ReturnCode::UnknownException,
                    "Exception on Server (queue full)",
                )
            })
    }

    /// Runs `job` (queue wait included) within the call's deadline.
    pub(crate) async fn within<T>(
        &self,
        job: impl Future<Output = Result<T, (ReturnCode, &'static str)>>,
    ) -> Result<T, (ReturnCode, &'static str)> {
        tokio::time::timeout(self.config.timeout, job)
            .await
            .unwrap_or(Err((ReturnCode::Timeout, "Request reached timeout")))
    }

    /// The Backoff reply when `caller` is over the rate limit.
    fn over_rate(&self, caller: &Caller, request: &TensorMessage) -> Option<TensorMessage> {
        let limiter = self.rate_limiter.as_ref()?;
        limiter
            .check(&caller.hotkey, std::time::Instant::now())
            .err()?;
        let mut slots = self.slots(request);
        let message = crate::ratelimit::RATE_LIMITED;
        Some(self.refuse_all(request, &mut slots, ReturnCode::Backoff, message))
    }

    /// `Forward`: one output tensor per synapse.
    pub(crate) async fn forward(&self, caller: Caller, request: &TensorMessage) -> TensorMessage {
        if let Some(reply) = self.over_rate(&caller, request) {
            return reply;
        }
        if request.synapses.is_empty() && request.tensors.len() == 1 {
            return self.forward_modality(caller, request).await;
        }
        let mut slots = self.slots(request);
        if request.tensors.is_empty() {
            let message =
                "Forward request contains 0 tensors, expected 1 tensor in the forward call";
            return self.refuse_all(request, &mut slots, ReturnCode::EmptyRequest, message);
        }
        if request.tensors.len() != slots.len() {
            let message = "Request length doesn't match synape length.";
            return self.refuse_all(
                request,
                &mut slots,
                ReturnCode::RequestShapeException,
                message,
            );
        }
        self.decode_inputs(request, &mut slots);
        if !slots.iter().any(Slot::ok) {
            return self.reply_failed(request, &slots, Self::first_code(&slots));
        }
        let priority = self.priority(&caller, &slots, RequestType::Forward);
        let outputs = self
            .within(async {
                let permit = self.worker(priority).await?;
                Ok(self
                    .run_callbacks(&caller, request, &mut slots, permit)
                    .await)
            })
            .await;
        let outputs = match outputs {
            Ok(outputs) => outputs,
            Err((code, message)) => return self.refuse_all(request, &mut slots, code, message),
        };
        let mut tensors = Vec::with_capacity(slots.len());
        for (slot, output) in slots.iter_mut().zip(outputs) {
            tensors.push(encode(slot, output));
        }
        if !slots.iter().any(Slot::ok) {
            return self.reply_failed(request, &slots, Self::first_code(&slots));
        }
        let synapses = slots
            .iter()
            .zip(&request.synapses)
            .map(|(slot, original)| match &slot.spec {
                Ok(spec) => spec.to_wire().with_return(slot.code, slot.message.clone()),
                Err(_) => original
                    .clone()
                    .with_return(slot.code, slot.message.clone()),
            })
            .collect();
        self.reply(request, ReturnCode::Success, tensors, synapses)
    }

    /// Runs the callback of every synapse still in the race, in order (so that a model may
    /// serve several synapses of one call from one pass).
    async fn run_callbacks(
        &self,
        caller: &Caller,
        request: &TensorMessage,
        slots: &mut [Slot],
        permit: Arc<Permit>,
    ) -> Vec<Option<Tensor>> {
        let mut outputs = Vec::with_capacity(slots.len());
        for slot in slots.iter_mut() {
            let (Ok(spec), Some(inputs), true) = (&slot.spec, &slot.inputs, slot.ok()) else {
                outputs.push(None);
                continue;
            };
            // The message's own hotkey must be the signer's (upstream only checks its
            // length); then the owner's check.
            let checked = request.hotkey == caller.hotkey
                && self
                    .check
                    .as_ref()
                    .is_none_or(|check| check(caller, spec, inputs));
            if !checked {
                slot.fail(ReturnCode::UnknownException, "Synapse Check Failed");
                outputs.push(None);
                continue;
            }
            let Some(callback) = self.callbacks.get(&spec.synapse_type()) else {
                slot.fail(ReturnCode::NotImplemented, "Not Implemented");
                outputs.push(None);
                continue;
            };
            let result = call(
                callback,
                caller.clone(),
                inputs.clone(),
                spec.clone(),
                permit.clone(),
            )
            .await;
            match result {
                Ok(t) => outputs.push(Some(t)),
                Err(e) => {
                    slot.fail(ReturnCode::UnknownException, e);
                    outputs.push(None);
                }
            }
        }
        outputs
    }

    /// `Backward`: inputs then gradients in, no tensors out.
    pub(crate) async fn backward(&self, caller: Caller, request: &TensorMessage) -> TensorMessage {
        if let Some(reply) = self.over_rate(&caller, request) {
            return reply;
        }
        if request.synapses.is_empty() && request.tensors.len() == 2 {
            return self.backward_modality(caller, request).await;
        }
        let mut slots = self.slots(request);
        let n = request.tensors.len();
        if n == 0 {
            return self.refuse_all(
                request,
                &mut slots,
                ReturnCode::EmptyRequest,
                "Empty Request",
            );
        }
        if n < 2 {
            let message = format!(
                "Backward request contains {n} tensors, expected atleast 2 tensor in the backward call"
            );
            return self.refuse_all(request, &mut slots, ReturnCode::InvalidRequest, &message);
        }
        if n != 2 * slots.len() {
            let message = "Request length doesn't match synape length.";
            return self.refuse_all(
                request,
                &mut slots,
                ReturnCode::RequestShapeException,
                message,
            );
        }
        self.decode_inputs(request, &mut slots);
        let grads_at = slots.len();
        let mut grads = Vec::with_capacity(slots.len());
        for (i, slot) in slots.iter_mut().enumerate() {
            let (Ok(spec), Some(inputs)) = (&slot.spec, &slot.inputs) else {
                grads.push(None);
                continue;
            };
            match spec.decode_grad_detailed(
                inputs,
                &request.tensors[grads_at + i],
                &self.config.limits,
            ) {
                Ok(g) => grads.push(Some(g)),
                Err(f) => {
                    let (code, message) = decode_failure(f);
                    slot.fail(code, message);
                    grads.push(None);
                }
            }
        }
        if !slots.iter().any(Slot::ok) {
            return self.reply_failed(request, &slots, Self::first_code(&slots));
        }
        let Some(callback) = self.backward.clone() else {
            for slot in slots.iter_mut().filter(|s| s.ok()) {
                slot.fail(ReturnCode::NotImplemented, "No Backward Function Attached");
            }
            return self.reply_failed(request, &slots, Self::first_code(&slots));
        };
        let priority = self.priority(&caller, &slots, RequestType::Backward);
        let ran = self
            .within(async {
                let permit = self.worker(priority).await?;
                for (slot, grad) in slots.iter_mut().zip(grads) {
                    let (Ok(spec), Some(inputs), Some(grad), true) =
                        (&slot.spec, &slot.inputs, grad, slot.ok())
                    else {
                        continue;
                    };
                    let args = (caller.clone(), inputs.clone(), grad, spec.clone());
                    if let Err(e) = call_backward(&callback, args, permit.clone()).await {
                        slot.fail(ReturnCode::UnknownException, e);
                    }
                }
                Ok(())
            })
            .await;
        if let Err((code, message)) = ran {
            return self.refuse_all(request, &mut slots, code, message);
        }
        let top = if slots.iter().any(Slot::ok) {
            ReturnCode::Success
        } else {
            Self::first_code(&slots)
        };
        let synapses = echo(request, &slots);
        self.reply(request, top, Vec::new(), synapses)
    }
}

/// The request's synapses with each slot's code and message.
fn echo(request: &TensorMessage, slots: &[Slot]) -> Vec<wire::Synapse> {
    request
        .synapses
        .iter()
        .zip(slots)
        .map(|(s, slot)| s.clone().with_return(slot.code, slot.message.clone()))
        .collect()
}

/// Encodes one output (or the placeholder of a failed synapse), with upstream's messages.
fn encode(slot: &mut Slot, output: Option<Tensor>) -> wire::Tensor {
    let (Ok(spec), Some(inputs), Some(output), true) =
        (&slot.spec, &slot.inputs, output, slot.ok())
    else {
        return wire::Tensor::empty();
    };
    match spec.encode_response_detailed(inputs, &output) {
        Ok(t) => t,
        Err(f) => {
            let prefix = if f.code == ReturnCode::ResponseSerializationException {
                "Synapse response serialization exception with error: "
            } else {
                "Synapse response shape exception with error: "
            };
            slot.fail(f.code, format!("{prefix}{}", f.message));
            wire::Tensor::empty()
        }
    }
}

/// Runs one forward callback; a panic becomes an error text. A blocking callback holds a
/// share of the worker permit until it returns, even if the call timed out meanwhile.
pub(crate) async fn call(
    callback: &Callback,
    caller: Caller,
    inputs: Tensor,
    spec: SynapseSpec,
    permit: Arc<Permit>,
) -> Result<Tensor, String> {
    match callback {
        Callback::Async(f) => AssertUnwindSafe(f(caller, inputs, spec))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err("callback panicked".into())),
        Callback::Blocking(f) => {
            let f = f.clone();
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                f(caller, inputs, spec)
            })
            .await
            .unwrap_or_else(|_| Err("callback panicked".into()))
        }
    }
}

/// [`call`] for the backward callback.
async fn call_backward(
    callback: &BackwardCallback,
    (caller, inputs, grad, spec): (Caller, Tensor, Tensor, SynapseSpec),
    permit: Arc<Permit>,
) -> Result<(), String> {
    match callback {
        BackwardCallback::Async(f) => AssertUnwindSafe(f(caller, inputs, grad, spec))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err("callback panicked".into())),
        BackwardCallback::Blocking(f) => {
            let f = f.clone();
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                f(caller, inputs, grad, spec)
            })
            .await
            .unwrap_or_else(|_| Err("callback panicked".into()))
        }
    }
}
