//! The owner's hooks and callbacks, type-erased.

use std::sync::Arc;

use candle_core::Tensor;
use futures::future::BoxFuture;
use neuron_legacy::SynapseSpec;
use neuron_legacy::modality::Modality;
use neuron_protocol::legacy::RequestType;

use crate::Caller;

/// Blacklist hook: `true` refuses the call (`UNAUTHENTICATED`, "Request type is
/// blacklisted"). Runs after the signature verified.
pub type BlacklistFn = Arc<dyn Fn(&Caller, RequestType) -> bool + Send + Sync>;

/// Priority hook: higher runs first among the waiting calls. Gets the decoded inputs of
/// every synapse that decoded.
pub type PriorityFn = Arc<dyn Fn(&Caller, &[Tensor], RequestType) -> f64 + Send + Sync>;

/// Synapse check (upstream `synapse_checks`): `false` answers that synapse with
/// UnknownException "Synapse Check Failed".
pub type SynapseCheckFn = Arc<dyn Fn(&Caller, &SynapseSpec, &Tensor) -> bool + Send + Sync>;

/// What a forward callback returns: the model output, or an error text for the caller.
pub type Output = Result<Tensor, String>;

type AsyncForward = dyn Fn(Caller, Tensor, SynapseSpec) -> BoxFuture<'static, Output> + Send + Sync;
type BlockingForward = dyn Fn(Caller, Tensor, SynapseSpec) -> Output + Send + Sync;
type AsyncBackward = dyn Fn(Caller, Tensor, Tensor, SynapseSpec) -> BoxFuture<'static, Result<(), String>>
    + Send
    + Sync;
type BlockingBackward =
    dyn Fn(Caller, Tensor, Tensor, SynapseSpec) -> Result<(), String> + Send + Sync;

/// A forward callback of one synapse type.
#[derive(Clone)]
pub(crate) enum Callback {
    /// Awaited on the handler's task.
    Async(Arc<AsyncForward>),
    /// Run on tokio's blocking pool.
    Blocking(Arc<BlockingForward>),
}

/// The backward callback: `(caller, inputs, decoded grads, synapse)`.
#[derive(Clone)]
pub(crate) enum BackwardCallback {
    /// Awaited on the handler's task.
    Async(Arc<AsyncBackward>),
    /// Run on tokio's blocking pool.
    Blocking(Arc<BlockingBackward>),
}

type AsyncModality = dyn Fn(Caller, Tensor, Modality) -> BoxFuture<'static, Output> + Send + Sync;
type BlockingModality = dyn Fn(Caller, Tensor, Modality) -> Output + Send + Sync;

/// What a modality backward callback returns: the gradient of the inputs (their shape), or
/// nothing to send back.
pub type InputGrad = Result<Option<Tensor>, String>;

type AsyncModalityBackward =
    dyn Fn(Caller, Tensor, Tensor, Modality) -> BoxFuture<'static, InputGrad> + Send + Sync;

/// A forward callback of one modality (the 2.x calls, `neuron_legacy::modality`).
#[derive(Clone)]
pub(crate) enum ModalityCallback {
    /// Awaited on the handler's task.
    Async(Arc<AsyncModality>),
    /// Run on tokio's blocking pool.
    Blocking(Arc<BlockingModality>),
}

/// The backward callback of the modality calls: `(caller, inputs, output gradient,
/// modality)`.
pub(crate) type ModalityBackward = Arc<AsyncModalityBackward>;
