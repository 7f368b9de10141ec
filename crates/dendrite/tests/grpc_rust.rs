//! The Rust legacy client (`TextDendrite`, `ReceptorPool`) against Rust legacy axons
//! (`neuron_axon::grpc::Service`) over loopback: every synapse type to several axons in
//! one call, mixed with endpoints that fail in every way a caller can see, and the
//! gradients of a loss over remote outputs reaching the axons.
#![allow(clippy::unwrap_used)]

#[path = "../../axon/tests/grpc/common.rs"]
#[allow(dead_code)]
mod common;

use std::time::Duration;

use candle_core::{DType, IndexOp, Tensor};
use neuron_axon::grpc::{self as agrpc, SynapseType};
use neuron_dendrite::grpc::{
    BackwardMode, Config, DUMMY_HOTKEY, Endpoint, Mask, Modality, TextDendrite, TextOutput,
};
use neuron_legacy::{CausalLmForm, NETWORK_DIM, Seq2SeqArgs, SynapseSpec, VOCAB_SIZE};
use neuron_protocol::legacy::ReturnCode;

use common::*;

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(5));

fn endpoint(node: &Node, uid: u64) -> Endpoint {
    Endpoint::new(uid, node.hotkey.clone(), "127.0.0.1", node.addr.port())
}

/// A port nobody listens on (bound, then released).
fn dead_endpoint() -> Endpoint {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let ferdie = neuron_wallet::Keypair::from_uri("//Ferdie").unwrap();
    Endpoint::new(90, ferdie.ss58().to_owned(), "127.0.0.1", port)
}

/// The hotkey of the second model axon.
fn ferdie_b() -> neuron_wallet::Keypair {
    neuron_wallet::Keypair::from_uri("//Ferdie//b").unwrap()
}

fn charlie() -> neuron_wallet::Keypair {
    neuron_wallet::Keypair::from_uri("//Charlie").unwrap()
}

/// An axon whose every callback fails, as Charlie.
async fn failing_axon() -> Node {
    let mut svc = agrpc::Service::new(charlie(), agrpc::Config::new());
    for t in [
        SynapseType::TextLastHiddenState,
        SynapseType::TextCausalLm,
        SynapseType::TextCausalLmNext,
        SynapseType::TextSeq2Seq,
    ] {
        svc = svc.with_callback(t, |_c, _i, _s| async { Err("out of memory".to_owned()) });
    }
    start(svc).await
}

/// An axon that refuses Bob (blacklist → UNAUTHENTICATED), as Dave.
async fn refusing_axon() -> Node {
    let svc = agrpc::Service::new(dave(), agrpc::Config::new())
        .with_callback(SynapseType::TextCausalLm, |_c, i, _s| async move {
            lm_model(&i)
        })
        .with_blacklist(|caller, _| caller.hotkey == bob().ss58());
    start(svc).await
}

fn all_specs() -> Vec<SynapseSpec> {
    vec![
        SynapseSpec::last_hidden_state(),
        SynapseSpec::causal_lm(4),
        SynapseSpec::causal_lm_next(3),
        SynapseSpec::seq2seq(Seq2SeqArgs {
            num_to_generate: 2,
            ..Seq2SeqArgs::default()
        }),
    ]
}

fn scalar(t: &Tensor) -> f32 {
    t.to_dtype(DType::F32).unwrap().to_scalar::<f32>().unwrap()
}

/// Checks the outputs of a healthy model axon for inputs `[[5, 6, 7], [8, 9, 10]]`.
fn check_model_outputs(out: &TextOutput, e: usize) {
    assert_eq!(
        out.codes[e],
        [ReturnCode::Success; 4],
        "{:?}",
        out.messages[e]
    );
    let [hidden, lm, phrases, generated] = &out.outputs[e][..] else {
        panic!("{} outputs", out.outputs[e].len())
    };
    // Hidden state: every element of (b, s) is the token id.
    assert_eq!(hidden.dims(), [2, 3, NETWORK_DIM]);
    assert_eq!(scalar(&hidden.i((1, 2, 17)).unwrap()), 10.0);
    // Causal LM: log-probabilities peaked at id + 1.
    assert_eq!(lm.dims(), [2, 3, VOCAB_SIZE]);
    let row = lm.i((0, 1)).unwrap();
    assert_eq!(
        row.argmax(0).unwrap().to_scalar::<u32>().unwrap(),
        7,
        "peak of token 6 is 7"
    );
    assert!(scalar(&row.i(7).unwrap()) > -1e-3);
    // Phrases: [B, topk + 1, maxlen]; phrase k of row b starts with last + k.
    assert_eq!(phrases.dims()[..2], [2, 4]);
    assert_eq!(scalar(&phrases.i((1, 2, 1)).unwrap()), 12.0);
    assert_eq!(scalar(&phrases.i((1, 3, 1)).unwrap()), -100.0);
    // Seq2seq: each row reversed, cut to 2.
    assert_eq!(
        generated
            .to_dtype(DType::I64)
            .unwrap()
            .to_vec2::<i64>()
            .unwrap(),
        [[7, 6], [10, 9]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_to_many_rust_axons_with_every_synapse_type_and_failures() {
    let (a, _rx_a) = start_models().await;
    let (b, _rx_b) = model_service_as(ferdie_b(), agrpc::Config::new());
    let b = start(b).await;
    let failing = failing_axon().await;
    let refusing = refusing_axon().await;
    let endpoints = vec![
        endpoint(&a, 0),
        endpoint(&failing, 1),
        dead_endpoint(),
        endpoint(&b, 3),
        Endpoint::new(4, DUMMY_HOTKEY, "0.0.0.0", 0),
        endpoint(&refusing, 5),
    ];
    let d = TextDendrite::new(bob(), Config::new());
    let inputs = tokens(&[&[5, 6, 7], &[8, 9, 10]]);
    let specs = all_specs();
    let out = d
        .text(endpoints.clone(), &specs, inputs.clone(), TIMEOUT)
        .await
        .unwrap();

    // Endpoint-major: one row per endpoint, one entry per synapse.
    assert_eq!(out.codes.len(), 6);
    check_model_outputs(&out, 0);
    check_model_outputs(&out, 3);
    // The failing axon: UnknownException with its message, zeros of the documented shapes.
    assert_eq!(out.codes[1], [ReturnCode::UnknownException; 4]);
    assert!(
        out.messages[1][0].contains("out of memory"),
        "{:?}",
        out.messages[1]
    );
    let zeros_shapes: Vec<Vec<usize>> = specs
        .iter()
        .map(|s| s.zeros(&inputs).dims().to_vec())
        .collect();
    for e in [1, 2, 4, 5] {
        let shapes: Vec<Vec<usize>> = out.outputs[e].iter().map(|t| t.dims().to_vec()).collect();
        assert_eq!(shapes, zeros_shapes, "endpoint {e}");
        let sum: f32 = out.outputs[e][0]
            .abs()
            .unwrap()
            .sum_all()
            .map(|s| scalar(&s))
            .unwrap();
        assert_eq!(sum, 0.0, "endpoint {e} hidden state is zeros");
    }
    assert_eq!(out.codes[2], [ReturnCode::Unavailable; 4]);
    assert_eq!(out.codes[4], [ReturnCode::BadEndpoint; 4]);
    assert_eq!(out.codes[5], [ReturnCode::Unauthenticated; 4]);
    assert!(
        out.messages[5][0].contains("Request type is blacklisted"),
        "{:?}",
        out.messages[5]
    );
    // Times are per synapse, within the timeout; the dummy endpoint never called.
    assert!(out.times[0].iter().all(|&t| t > 0.0 && t < 5.0));
    assert_eq!(out.times[4], [0.0; 4]);
    // The axons counted what they answered.
    assert_eq!(a.stats.snapshot().code(ReturnCode::Success), 4);
    assert_eq!(
        failing.stats.snapshot().code(ReturnCode::UnknownException),
        4
    );
    assert_eq!(refusing.stats.snapshot().unauthenticated, 1);

    // The single-synapse helpers and metrics, to the same mixed set.
    let lm = d
        .text_causal_lm(endpoints.clone(), inputs.clone(), Some(4), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        lm.codes.iter().map(|c| c[0]).collect::<Vec<_>>(),
        [
            ReturnCode::Success,
            ReturnCode::UnknownException,
            ReturnCode::Unavailable,
            ReturnCode::Success,
            ReturnCode::BadEndpoint,
            ReturnCode::Unauthenticated,
        ]
    );
    let compact = d
        .text_causal_lm_topk(endpoints.clone(), inputs.clone(), Some(4), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(compact.outputs[0][0].dims(), [2, 3, 8]);
    assert_eq!(compact.outputs[1][0].dims(), [2, 3, 8]);
    // The compact form expands to exactly what text_causal_lm returned.
    let expanded = SynapseSpec::causal_lm(4)
        .expand_log_probs(&compact.outputs[3][0])
        .unwrap();
    let diff = (expanded - &lm.outputs[3][0])
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap();
    assert_eq!(scalar(&diff), 0.0);
    // Top id of position (0, 0) (token 5) is 6, as a float after the 4 probabilities.
    assert_eq!(scalar(&compact.outputs[0][0].i((0, 0, 4)).unwrap()), 6.0);
    assert_eq!(CausalLmForm::default(), CausalLmForm::LogProbs);

    let masked = d
        .text_last_hidden_state(
            endpoints[..1].to_vec(),
            inputs.clone(),
            Mask::One(-1),
            TIMEOUT,
        )
        .await
        .unwrap();
    let h = &masked.outputs[0][0];
    assert_eq!(h.dims(), [2, 3, NETWORK_DIM]);
    assert_eq!(scalar(&h.i((1, 2, 0)).unwrap()), 10.0);
    assert_eq!(
        scalar(&h.i((1, 1, 0)).unwrap()),
        0.0,
        "unmasked positions are zeros"
    );

    let next = d
        .text_causal_lm_next(endpoints[..2].to_vec(), inputs.clone(), Some(3), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(next.codes[0], [ReturnCode::Success]);
    assert_eq!(
        next.outputs[1][0].dims(),
        [2, 4, 2],
        "zeros of the decoded phrase form"
    );

    let generated = d
        .generate(
            endpoints[..2].to_vec(),
            "hello world",
            Some(Seq2SeqArgs {
                num_to_generate: 4,
                ..Seq2SeqArgs::default()
            }),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(generated.codes, ["Success", "UnknownException"]);
    // The model reverses the tokens: " world" then "hello".
    assert_eq!(generated.texts[0], " worldhello");
    assert_eq!(generated.texts[1], "");

    let text = d.metrics().encode_text();
    assert!(
        text.contains("dendrite_codes_total{code=\"BadEndpoint\"}"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_over_remote_outputs_sends_gradients_to_every_rust_axon() {
    let (a, mut rx_a) = start_models().await;
    let (b, mut rx_b) = model_service_as(ferdie_b(), agrpc::Config::new());
    let b = start(b).await;
    let failing = failing_axon().await;
    let endpoints = vec![
        endpoint(&a, 0),
        endpoint(&b, 1),
        endpoint(&failing, 2),
        dead_endpoint(),
    ];
    let d = TextDendrite::new(bob(), Config::new().with_backward(BackwardMode::Await));
    let inputs = tokens(&[&[3, 4, 5]]);
    let specs = [
        SynapseSpec::last_hidden_state(),
        SynapseSpec::causal_lm(2),
        SynapseSpec::causal_lm_next(2),
        SynapseSpec::seq2seq(Seq2SeqArgs {
            num_to_generate: 2,
            ..Seq2SeqArgs::default()
        }),
    ];
    let (out, handle) = d
        .forward_autograd(endpoints, &specs, inputs, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.codes[0], [ReturnCode::Success; 4]);
    assert_eq!(out.codes[1], [ReturnCode::Success; 4]);
    assert_eq!(out.codes[2], [ReturnCode::UnknownException; 4]);
    assert_eq!(out.codes[3], [ReturnCode::Unavailable; 4]);

    // loss = 2·Σ hidden(a) + 3·Σ hidden(b) + Σ probs column of phrases(a).
    let hidden = |e: usize| handle.var(e, 0).unwrap().as_tensor().clone();
    let phrases = handle.var(0, 2).unwrap().as_tensor().clone();
    let loss = ((hidden(0) * 2.0).unwrap().sum_all().unwrap()
        + (hidden(1) * 3.0).unwrap().sum_all().unwrap())
    .unwrap();
    let loss = (loss + phrases.narrow(2, 0, 1).unwrap().sum_all().unwrap()).unwrap();
    let grads = loss.backward().unwrap();
    let result = handle.backward_from(&grads).await.unwrap();
    assert_eq!(result.codes[0], [ReturnCode::Success; 4]);
    assert_eq!(result.codes[1], [ReturnCode::Success; 4]);
    assert_ne!(result.codes[2][0], ReturnCode::Success);
    assert_eq!(result.codes[3], [ReturnCode::Unavailable; 4]);
    assert_eq!(result.input_grads.len(), 4);
    assert_eq!(result.input_grads[0].dims(), [1, 3]);

    // What each axon's backward callback saw: (synapse, inputs shape, grad shape, grad sum).
    let mut seen_a = Vec::new();
    while let Ok(s) = rx_a.try_recv() {
        seen_a.push(s);
    }
    let mut seen_b = Vec::new();
    while let Ok(s) = rx_b.try_recv() {
        seen_b.push(s);
    }
    let d_hidden = 3.0 * NETWORK_DIM as f32;
    let find = |seen: &[Seen], name: &str| seen.iter().find(|s| s.0 == name).cloned().unwrap();
    let h_a = find(&seen_a, "TextLastHiddenState");
    assert_eq!(
        (h_a.1.as_slice(), h_a.2.as_slice()),
        (&[1, 3][..], &[1, 3, NETWORK_DIM][..])
    );
    assert_eq!(h_a.3, 2.0 * d_hidden);
    assert_eq!(find(&seen_b, "TextLastHiddenState").3, 3.0 * d_hidden);
    // The LM output was not used by the loss: its gradient is zeros of [B, S, V].
    let lm_a = find(&seen_a, "TextCausalLM");
    assert_eq!((lm_a.2.as_slice(), lm_a.3), (&[1, 3, VOCAB_SIZE][..], 0.0));
    // Phrases: only column 0 travels; topk + 1 = 3 rows of gradient 1.
    let p_a = find(&seen_a, "TextCausalLMNext");
    assert_eq!(p_a.3, 3.0);
    assert_eq!(find(&seen_b, "TextCausalLMNext").3, 0.0);
    // Generated ids learn nothing: an empty gradient.
    assert_eq!(find(&seen_a, "TextSeq2Seq").2, [0]);
    assert_eq!(a.stats.snapshot().backward, 1);
    assert_eq!(failing.stats.snapshot().backward, 1);
}

/// `[B, S, D'] → [B, S, 1024]`: every output element of (b, s) is Σ_j x[b, s, j].
fn sum_model(x: &Tensor) -> Result<Tensor, String> {
    let (b, s) = (x.dim(0).unwrap(), x.dim(1).unwrap());
    let flat = x.flatten_from(2).unwrap().sum_keepdim(2).unwrap();
    Ok(flat
        .broadcast_as((b, s, NETWORK_DIM))
        .unwrap()
        .contiguous()
        .unwrap())
}

/// A model axon (as //Ferdie//m) that also serves the TENSOR and IMAGE modalities and
/// returns the true input gradient of `sum_model` from its modality backward.
async fn modality_axon() -> (
    Node,
    tokio::sync::mpsc::Receiver<(Modality, Vec<usize>, f32)>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let kp = neuron_wallet::Keypair::from_uri("//Ferdie//m").unwrap();
    let (svc, _seen) = model_service_as(kp, agrpc::Config::new());
    let svc = svc
        .with_modality_callback(Modality::Tensor, |_c, x, _m| async move { sum_model(&x) })
        .with_blocking_modality_callback(Modality::Image, |_c, x, _m| sum_model(&x))
        .with_modality_backward(move |_c, x, g, m| {
            let tx = tx.clone();
            async move {
                let total = g.sum_all().and_then(|t| t.to_scalar::<f32>()).unwrap();
                tx.send((m, g.dims().to_vec(), total)).await.unwrap();
                // d out[b, s, d] / d x[b, s, j] = 1: the input gradient is Σ_d g[b, s, d].
                let per_row = g.sum_keepdim(2).map_err(|e| e.to_string())?;
                let grad = per_row
                    .broadcast_as(x.dims())
                    .and_then(|t| t.contiguous())
                    .map_err(|e| e.to_string())?;
                Ok(Some(grad))
            }
        });
    (start(svc).await, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_tensor_and_image_to_rust_axons() {
    let (m, _rx) = modality_axon().await;
    let (plain, _rx_p) = start_models().await; // synapse callbacks only
    let endpoints = vec![endpoint(&m, 0), endpoint(&plain, 1), dead_endpoint()];
    let d = TextDendrite::new(bob(), Config::new());

    let x = Tensor::arange(0f32, 6.0, &candle_core::Device::Cpu)
        .unwrap()
        .reshape((1, 2, 3))
        .unwrap();
    let out = d
        .forward_tensor(endpoints.clone(), x.clone(), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        out.codes,
        [
            [ReturnCode::Success],
            [ReturnCode::NotImplemented],
            [ReturnCode::Unavailable]
        ]
    );
    assert_eq!(
        out.messages[1][0],
        "Remote Server Failure: Modality not implemented"
    );
    let h = &out.outputs[0][0];
    assert_eq!(h.dims(), [1, 2, NETWORK_DIM]);
    assert_eq!(scalar(&h.i((0, 0, 5)).unwrap()), 3.0);
    assert_eq!(scalar(&h.i((0, 1, 1023)).unwrap()), 12.0);
    for e in [1, 2] {
        assert_eq!(out.outputs[e][0].dims(), [1, 2, NETWORK_DIM]);
        assert_eq!(
            scalar(&out.outputs[e][0].abs().unwrap().sum_all().unwrap()),
            0.0
        );
    }

    let images = Tensor::ones((2, 1, 3, 2, 2), DType::F32, &candle_core::Device::Cpu).unwrap();
    let out = d
        .forward_image(endpoints[..2].to_vec(), images, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        out.codes,
        [[ReturnCode::Success], [ReturnCode::NotImplemented]]
    );
    assert_eq!(scalar(&out.outputs[0][0].i((1, 0, 9)).unwrap()), 12.0);

    // TEXT goes to the hidden-state synapse callback when no TEXT modality callback exists.
    let ids = tokens(&[&[4, 5]]);
    let out = d
        .forward_modality(endpoints[..2].to_vec(), Modality::Text, ids, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.codes, [[ReturnCode::Success], [ReturnCode::Success]]);
    assert_eq!(scalar(&out.outputs[1][0].i((0, 1, 0)).unwrap()), 5.0);

    // Caller-side checks: an image of the wrong rank is never sent.
    let flat = Tensor::ones((2, 3), DType::F32, &candle_core::Device::Cpu).unwrap();
    let out = d
        .forward_image(endpoints[..1].to_vec(), flat, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.codes, [[ReturnCode::RequestShapeException]]);
    assert_eq!(
        m.stats.snapshot().forward,
        3,
        "the refused image made no RPC"
    );
    // Input lists must match the endpoints.
    let two = vec![x.clone(), x.clone()];
    assert!(
        d.forward_tensor(endpoints.clone(), two, TIMEOUT)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tensor_modality_backward_returns_the_remote_input_gradients() {
    let (m, mut seen) = modality_axon().await;
    let (plain, _rx_p) = start_models().await;
    let endpoints = vec![endpoint(&m, 0), endpoint(&plain, 1)];
    let d = TextDendrite::new(bob(), Config::new().with_backward(BackwardMode::Await));
    let x = Tensor::ones((1, 2, 3), DType::F32, &candle_core::Device::Cpu).unwrap();
    let (out, handle) = d
        .forward_modality_autograd(endpoints, Modality::Tensor, x, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        out.codes,
        [[ReturnCode::Success], [ReturnCode::NotImplemented]]
    );
    // loss = 0.5 · Σ out(0) + Σ out(1): d loss / d out(0) = 0.5 everywhere.
    let o0 = handle.var(0, 0).unwrap().as_tensor().clone();
    let o1 = handle.var(1, 0).unwrap().as_tensor().clone();
    let loss = ((o0 * 0.5).unwrap().sum_all().unwrap() + o1.sum_all().unwrap()).unwrap();
    let result = handle
        .backward_from(&loss.backward().unwrap())
        .await
        .unwrap();
    // The axon saw the output gradient...
    let (modality, dims, total) = seen.recv().await.unwrap();
    assert_eq!(
        (modality, dims.as_slice()),
        (Modality::Tensor, &[1, 2, NETWORK_DIM][..])
    );
    assert_eq!(total, 0.5 * 2.0 * NETWORK_DIM as f32);
    // ...and its input gradient came back: Σ_d 0.5 = 512 for every input element.
    assert_eq!(result.codes[0], [ReturnCode::Success]);
    let g = &result.input_grads[0];
    assert_eq!(g.dims(), [1, 2, 3]);
    assert_eq!(
        g.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        [512.0; 6]
    );
    // The plain axon has no modality backward: NotImplemented, zeros.
    assert_eq!(result.codes[1], [ReturnCode::NotImplemented]);
    assert_eq!(scalar(&result.input_grads[1].sum_all().unwrap()), 0.0);
}

/// Presigned signatures (made on the low-priority thread after each call) are accepted by a
/// real axon, used by the next call, and never make an axon see a nonce go back, also when
/// calls of one receptor overlap and when presigning is off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_signatures_are_used_and_accepted() {
    use neuron_dendrite::grpc::{Receptor, ReceptorConfig, presigned};
    use std::sync::Arc;
    let node = start(
        agrpc::Service::new(alice(), agrpc::Config::new())
            .with_callback(SynapseType::TextCausalLm, |_c, i, _s| async move {
                lm_model(&i)
            }),
    )
    .await;
    let inputs = Tensor::new(&[[1i64, 2, 3]], &candle_core::Device::Cpu).unwrap();
    let specs = [SynapseSpec::causal_lm(4)];
    let timeout = Duration::from_secs(5);
    for presign in [true, false] {
        let receptor = Arc::new(
            Receptor::new(
                endpoint(&node, 0),
                Arc::new(bob()),
                ReceptorConfig::new().with_presign(presign),
            )
            .unwrap(),
        );
        // one call at a time: from the second call on, each uses the presigned header
        for round in 0..4u64 {
            let out = receptor.forward(&specs, &inputs, timeout).await;
            assert_eq!(out.codes, [ReturnCode::Success], "{:?}", out.messages);
            presigned().await;
            assert_eq!(receptor.is_presigned(), presign);
            assert_eq!(receptor.stats().presigned, if presign { round } else { 0 });
        }
        // overlapping calls: one takes the presigned header, the others sign inline with
        // larger nonces; reordering on the way may refuse some with "Nonce is too small"
        // (as without presigning), but the next call after they settle always succeeds
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let (r, inputs) = (Arc::clone(&receptor), inputs.clone());
                tokio::spawn(async move {
                    r.forward(&[SynapseSpec::causal_lm(4)], &inputs, timeout)
                        .await
                        .codes[0]
                })
            })
            .collect();
        for c in calls {
            let code = c.await.unwrap();
            assert!(
                matches!(code, ReturnCode::Success | ReturnCode::Unauthenticated),
                "{code:?}"
            );
        }
        presigned().await;
        for _ in 0..3 {
            let out = receptor.forward(&specs, &inputs, timeout).await;
            assert_eq!(out.codes, [ReturnCode::Success], "{:?}", out.messages);
        }
    }
}
