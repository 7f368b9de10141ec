//! Gradients of remote outputs back to the remotes (wire-legacy §10).
//!
//! candle has no user backward hooks that can run async I/O (and `CustomOp1::bwd` is
//! synchronous and sees only its own output's gradient), so the remote call is not part
//! of candle's graph. Instead:
//!
//! 1. [`TextDendrite::forward_autograd`](super::TextDendrite::forward_autograd) returns
//!    the outputs and a [`BackwardHandle`] holding one [`Var`] per output
//!    (`Var::from_tensor(output)`, i.e. a leaf standing for the remote computation);
//! 2. the caller builds its loss on [`BackwardHandle::var`]s and runs candle's
//!    `loss.backward()`;
//! 3. [`BackwardHandle::backward_from`] reads each Var's gradient from the `GradStore`
//!    (zeros where the loss did not use an output) and sends one Backward RPC per
//!    endpoint (inputs × N, then the encoded gradients), then returns the gradients for
//!    the inputs: zeros shaped like each endpoint's inputs, as upstream
//!    (`nill_backward_response_tensor`): text inputs are integer token ids.
//!
//! **Decision against §19.1** (upstream 3.5–3.7 created the Backward call and cancelled
//! it before it was sent, so no gradient ever left the client): the default
//! [`BackwardMode::Await`] really sends the gradients and waits for the replies;
//! [`BackwardMode::FireAndForget`] sends them from a background task (bounded: a batch
//! that finds the background budget exhausted is dropped) and returns at once;
//! [`BackwardMode::Off`] sends nothing (upstream's observable behaviour).
//!
//! The handle of a modality call
//! ([`TextDendrite::forward_modality_autograd`](super::TextDendrite::forward_modality_autograd))
//! sends a 2.x Backward per endpoint (the inputs and the gradient of the one output) and,
//! with [`BackwardMode::Await`], returns the **gradients of the inputs the remotes send
//! back** (zeros where an endpoint failed or sent none): a TENSOR-modality remote can pass
//! gradients on to the caller's own graph.

use std::sync::Arc;
use std::time::Duration;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use neuron_legacy::modality::Modality;
use neuron_legacy::{SynapseKind, SynapseSpec};
use neuron_protocol::legacy::ReturnCode;
use tokio::sync::Semaphore;

use super::endpoint::Endpoint;
use super::error::{Error, Result};
use super::pool::ReceptorPool;

/// What a backward does on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackwardMode {
    /// Send and await the replies (the default).
    Await,
    /// Send from a bounded background task; return immediately.
    FireAndForget,
    /// Send nothing (what upstream 3.5–3.7 effectively did).
    Off,
}

/// What a backward returned.
#[derive(Debug, Clone)]
pub struct BackwardResult {
    /// Gradient for each endpoint's inputs (float32, shaped like the inputs): zeros for
    /// synapse calls; what the remote sent back for an awaited modality call.
    pub input_grads: Vec<Tensor>,
    /// Codes per endpoint and synapse; empty unless the mode is [`BackwardMode::Await`].
    pub codes: Vec<Vec<ReturnCode>>,
}

/// The pending backward of one `forward_autograd`.
pub struct BackwardHandle {
    pool: Arc<ReceptorPool>,
    endpoints: Vec<Endpoint>,
    synapses: Vec<SynapseSpec>,
    inputs: Vec<Tensor>,
    vars: Vec<Vec<Var>>,
    timeout: Duration,
    mode: BackwardMode,
    background: Arc<Semaphore>,
    modality: Option<Modality>,
}

impl BackwardHandle {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        pool: Arc<ReceptorPool>,
        endpoints: Vec<Endpoint>,
        synapses: Vec<SynapseSpec>,
        inputs: Vec<Tensor>,
        outputs: &[Vec<Tensor>],
        timeout: Duration,
        mode: BackwardMode,
        background: Arc<Semaphore>,
    ) -> Result<Self> {
        let vars = outputs
            .iter()
            .map(|row| {
                row.iter()
                    .map(|t| Var::from_tensor(t).map_err(Error::from))
                    .collect()
            })
            .collect::<Result<Vec<Vec<Var>>>>()?;
        Ok(Self {
            pool,
            endpoints,
            synapses,
            inputs,
            vars,
            timeout,
            mode,
            background,
            modality: None,
        })
    }

    /// The handle of a modality call: one output per endpoint, 2.x Backward calls.
    pub(crate) fn with_modality(mut self, m: Modality) -> Self {
        self.modality = Some(m);
        self
    }

    /// The Var standing for output `synapse` of endpoint `endpoint`.
    pub fn var(&self, endpoint: usize, synapse: usize) -> Option<&Var> {
        self.vars.get(endpoint).and_then(|r| r.get(synapse))
    }

    /// Every Var, endpoint-major.
    pub fn vars(&self) -> &[Vec<Var>] {
        &self.vars
    }

    /// Reads the gradient of every output Var from `grads` (zeros where absent) and
    /// calls [`BackwardHandle::backward`].
    pub async fn backward_from(self, grads: &GradStore) -> Result<BackwardResult> {
        let per_endpoint = self
            .vars
            .iter()
            .map(|row| {
                row.iter()
                    .map(|v| match grads.get(v.as_tensor()) {
                        Some(g) => Ok(g.clone()),
                        None => v.as_tensor().zeros_like().map_err(Error::from),
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        self.backward(per_endpoint).await
    }

    /// Sends `grads[e][j]` (the gradient of output `j` of endpoint `e`) per the mode.
    /// TEXT_SEQ_2_SEQ outputs (token ids) learn nothing: their gradient is sent as the
    /// empty tensor the wire expects, whatever was given.
    pub async fn backward(self, grads: Vec<Vec<Tensor>>) -> Result<BackwardResult> {
        if let Some(m) = self.modality {
            return self.backward_modality(m, grads).await;
        }
        let empty = Tensor::zeros(0, candle_core::DType::F32, &candle_core::Device::Cpu)?;
        let grads: Vec<Vec<Tensor>> = grads
            .into_iter()
            .map(|row| {
                if row.len() != self.synapses.len() {
                    return row; // refused below, with the counts in the error
                }
                row.into_iter()
                    .zip(&self.synapses)
                    .map(|(g, spec)| match spec.kind {
                        SynapseKind::Seq2Seq(_) => empty.clone(),
                        _ => g,
                    })
                    .collect()
            })
            .collect();
        let input_grads = self
            .inputs
            .iter()
            .map(|x| {
                x.to_dtype(candle_core::DType::F32)
                    .and_then(|x| x.zeros_like())
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let codes = match self.mode {
            BackwardMode::Off => Vec::new(),
            BackwardMode::Await => {
                let outcomes = self
                    .pool
                    .backward(
                        &self.endpoints,
                        &self.synapses,
                        &self.inputs,
                        &grads,
                        self.timeout,
                    )
                    .await?;
                outcomes.into_iter().map(|o| o.codes).collect()
            }
            BackwardMode::FireAndForget => {
                if let Ok(permit) = self.background.clone().try_acquire_owned() {
                    let BackwardHandle {
                        pool,
                        endpoints,
                        synapses,
                        inputs,
                        timeout,
                        ..
                    } = self;
                    tokio::spawn(async move {
                        let _permit = permit;
                        if let Err(e) = pool
                            .backward(&endpoints, &synapses, &inputs, &grads, timeout)
                            .await
                        {
                            tracing::debug!(error = %e, "background backward failed");
                        }
                    });
                } else {
                    tracing::debug!("background backward budget exhausted; gradients dropped");
                }
                Vec::new()
            }
        };
        Ok(BackwardResult { input_grads, codes })
    }
}

impl BackwardHandle {
    /// [`BackwardHandle::backward`] of a modality call: `grads[e][0]` to endpoint `e`.
    async fn backward_modality(
        self,
        m: Modality,
        grads: Vec<Vec<Tensor>>,
    ) -> Result<BackwardResult> {
        let zeros = self
            .inputs
            .iter()
            .map(|x| {
                x.zeros_like()
                    .and_then(|z| z.to_dtype(candle_core::DType::F32))
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let grads = grads
            .into_iter()
            .map(|g| {
                g.into_iter().next().ok_or(Error::Length {
                    what: "gradients per endpoint output",
                    expected: 1,
                    actual: 0,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        match self.mode {
            BackwardMode::Off => Ok(BackwardResult {
                input_grads: zeros,
                codes: Vec::new(),
            }),
            BackwardMode::Await => {
                let outcomes = self
                    .pool
                    .backward_modality(&self.endpoints, m, &self.inputs, &grads, self.timeout)
                    .await?;
                let mut result = BackwardResult {
                    input_grads: Vec::with_capacity(outcomes.len()),
                    codes: Vec::with_capacity(outcomes.len()),
                };
                for o in outcomes {
                    result.codes.push(o.codes);
                    result.input_grads.extend(o.outputs.into_iter().take(1));
                }
                Ok(result)
            }
            BackwardMode::FireAndForget => {
                if let Ok(permit) = self.background.clone().try_acquire_owned() {
                    let BackwardHandle {
                        pool,
                        endpoints,
                        inputs,
                        timeout,
                        ..
                    } = self;
                    tokio::spawn(async move {
                        let _permit = permit;
                        if let Err(e) = pool
                            .backward_modality(&endpoints, m, &inputs, &grads, timeout)
                            .await
                        {
                            tracing::debug!(error = %e, "background backward failed");
                        }
                    });
                } else {
                    tracing::debug!("background backward budget exhausted; gradients dropped");
                }
                Ok(BackwardResult {
                    input_grads: zeros,
                    codes: Vec::new(),
                })
            }
        }
    }
}

impl std::fmt::Debug for BackwardHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackwardHandle")
            .field("endpoints", &self.endpoints.len())
            .field("synapses", &self.synapses.len())
            .field("mode", &self.mode)
            .finish()
    }
}
