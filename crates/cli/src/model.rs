//! The text synapses of the legacy gRPC dialect, served by the built-in [`TinyLm`].

use std::collections::HashSet;
use std::sync::Arc;

use neuron::axon::grpc::{self, Service, SynapseType};
use neuron::examples::model::TinyLm;
use neuron::legacy::SynapseKind;
use neuron::wallet::Keypair;

/// Learning rate of the SGD step a Backward call takes on the hidden-state projection.
pub const LEARNING_RATE: f64 = 0.01;

/// The legacy service of `keypair` answering all four text synapses with `model`, and
/// taking Backward gradients of the hidden states as training steps. Callers in
/// `blacklist` are refused (`UNAUTHENTICATED`).
pub fn legacy_service(
    keypair: Keypair,
    model: Arc<TinyLm>,
    blacklist: Arc<HashSet<String>>,
) -> Service {
    let m = model.clone();
    let hidden = move |_c, ids, _s| m.hidden(&ids).map_err(|e| e.to_string());
    let m = model.clone();
    let lm = move |_c, ids, _s| m.logits(&ids).map_err(|e| e.to_string());
    let m = model.clone();
    let next = move |_c, ids, spec: neuron::legacy::SynapseSpec| {
        let topk = match spec.kind {
            SynapseKind::CausalLmNext { topk } => topk as usize,
            _ => 1,
        };
        m.phrases(&ids, topk).map_err(|e| e.to_string())
    };
    let m = model.clone();
    let seq2seq = move |_c, ids, spec: neuron::legacy::SynapseSpec| {
        let n = match &spec.kind {
            SynapseKind::Seq2Seq(args) => args.num_to_generate as usize,
            _ => 1,
        };
        m.generate(&ids, n).map_err(|e| e.to_string())
    };
    let m = model;
    let backward = move |_c, ids, grad, spec: neuron::legacy::SynapseSpec| match spec.kind {
        SynapseKind::LastHiddenState { .. } => m
            .apply_hidden_grad(&ids, &grad, LEARNING_RATE)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        // Gradients of the other synapses are accepted and not used by this model.
        _ => Ok(()),
    };
    Service::new(keypair, grpc::Config::new())
        .with_blocking_callback(SynapseType::TextLastHiddenState, hidden)
        .with_blocking_callback(SynapseType::TextCausalLm, lm)
        .with_blocking_callback(SynapseType::TextCausalLmNext, next)
        .with_blocking_callback(SynapseType::TextSeq2Seq, seq2seq)
        .with_blocking_backward(backward)
        .with_blacklist(move |caller, _request| blacklist.contains(&caller.hotkey))
}
