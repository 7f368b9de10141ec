//! Forward: every synapse type, the envelope rules and the per-synapse codes of §6.

use std::time::Duration;

use candle_core::{DType, IndexOp, Tensor};
use neuron_axon::grpc::{self, ReturnCode, Service, SynapseSpec};
use neuron_legacy::{NETWORK_DIM, Seq2SeqArgs, Serializer, VOCAB_SIZE};
use neuron_protocol::legacy::{Synapse, Tensor as WireTensor};

use crate::common::*;

const OK: i32 = ReturnCode::Success as i32;

fn specs() -> Vec<SynapseSpec> {
    vec![
        SynapseSpec::last_hidden_state(),
        SynapseSpec::last_hidden_state_masked(vec![-1]),
        SynapseSpec::causal_lm(4),
        SynapseSpec::causal_lm_next(3),
        SynapseSpec::seq2seq(Seq2SeqArgs {
            num_to_generate: 2,
            ..Seq2SeqArgs::default()
        }),
    ]
}

#[tokio::test]
async fn every_synapse_type_succeeds_in_one_message() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    let inputs = tokens(&[&[10, 11, 12], &[20, 21, 22]]);
    let specs = specs();
    let reply = forward(&node, &signer, forward_message(&signer, &inputs, &specs))
        .await
        .unwrap();

    assert_eq!(reply.return_code, OK, "{reply:?}");
    assert_eq!(
        (reply.version, reply.hotkey.as_str(), reply.requires_grad),
        (370, node.hotkey.as_str(), true)
    );
    assert_eq!(codes(&reply), [OK; 5]);
    assert!(reply.synapses.iter().all(|s| s.message == "Success"));
    assert_eq!(reply.tensors.len(), 5);
    // The synapses are echoed freshly serialized (same type and args).
    for (s, spec) in reply.synapses.iter().zip(&specs) {
        assert_eq!(SynapseSpec::from_wire(s).unwrap(), *spec);
    }

    let hidden = decode(&specs[0], &inputs, &reply.tensors[0]);
    assert_eq!(hidden.dims(), [2, 3, NETWORK_DIM]);
    assert_eq!(
        hidden.i((1, 2, 5)).unwrap().to_scalar::<f32>().unwrap(),
        22.0
    );

    assert_eq!(reply.tensors[1].shape, [2, NETWORK_DIM as i64]);
    let masked = decode(&specs[1], &inputs, &reply.tensors[1]);
    assert_eq!(masked.dims(), [2, 3, NETWORK_DIM]);
    assert_eq!(
        masked.i((0, 2, 0)).unwrap().to_scalar::<f32>().unwrap(),
        12.0
    );
    assert_eq!(
        masked.i((0, 1, 0)).unwrap().to_scalar::<f32>().unwrap(),
        0.0
    );

    assert_eq!(reply.tensors[2].shape, [2, 3, 8]);
    let logp = decode(&specs[2], &inputs, &reply.tensors[2]);
    assert_eq!(logp.dims(), [2, 3, VOCAB_SIZE]);
    let row = logp.i((1, 0)).unwrap().to_vec1::<f32>().unwrap();
    let best = (0..row.len())
        .max_by(|&a, &b| row[a].total_cmp(&row[b]))
        .unwrap();
    assert_eq!(best, 21);

    assert_eq!(reply.tensors[3].shape.len(), 1);
    let phrases = decode(&specs[3], &inputs, &reply.tensors[3]);
    assert_eq!(phrases.dims(), [2, 4, 3]);
    assert_eq!(
        phrases.i((1, 1)).unwrap().to_vec1::<f32>().unwrap(),
        [0.8 / 3.0, 23.0, 7.0]
    );
    assert_eq!(
        phrases.i((1, 3, 1)).unwrap().to_scalar::<f32>().unwrap(),
        -100.0
    );

    let generated = decode(&specs[4], &inputs, &reply.tensors[4]);
    assert_eq!(generated.to_vec2::<i64>().unwrap(), [[12, 11], [22, 21]]);

    let stats = node.stats.snapshot();
    assert_eq!((stats.forward, stats.code(ReturnCode::Success)), (1, 5));
    assert!(stats.bytes_in > 0 && stats.bytes_out > stats.bytes_in);
}

#[tokio::test]
async fn cmppack_response_serializer() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    let inputs = tokens(&[&[3, 4]]);
    let spec =
        SynapseSpec::last_hidden_state().with_forward_response_serializer(Serializer::Cmppack);
    let reply = forward(
        &node,
        &signer,
        forward_message(&signer, &inputs, std::slice::from_ref(&spec)),
    )
    .await
    .unwrap();
    assert_eq!(codes(&reply), [OK]);
    assert_eq!(
        (reply.tensors[0].serializer, reply.tensors[0].dtype),
        (1, 1)
    );
    let hidden = decode(&spec, &inputs, &reply.tensors[0]);
    assert_eq!(
        hidden.i((0, 1, 0)).unwrap().to_scalar::<f32>().unwrap(),
        4.0
    );
}

/// The msgpack-numpy object array (`kind` 'O', a pickle upstream) of int64 [[1, 2, 3]].
pub fn object_array_tensor() -> WireTensor {
    let buffer = hex::decode(
        "85c4026e64c3c40474797065a33c6938c4046b696e64c4014fc4057368617065920103c40464617461c418010000000000000002000000000000000300000000000000",
    )
    .unwrap();
    WireTensor {
        version: 370,
        buffer: buffer.into(),
        shape: vec![1, 3],
        dtype: 4,
        ..WireTensor::default()
    }
}

#[tokio::test]
async fn bad_synapses_fail_alone() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    let inputs = tokens(&[&[1, 2, 3]]);
    let lhs = SynapseSpec::last_hidden_state();
    let mut message = forward_message(
        &signer,
        &inputs,
        &[
            lhs.clone(),
            lhs.clone(),
            lhs.clone(),
            lhs.clone(),
            lhs.clone(),
            lhs.clone(),
        ],
    );
    message.tensors[1] = object_array_tensor();
    message.synapses[2] = null_synapse();
    message.tensors[3] = lhs.encode_request(&inputs).unwrap();
    message.tensors[3].shape = vec![3]; // rank 1
    // A float32 tensor of token ids, and an undefined DataType.
    message.tensors[4] = neuron_tensor::legacy::from_candle(
        &inputs.to_dtype(DType::F32).unwrap(),
        Serializer::Msgpack,
    )
    .unwrap();
    message.tensors[5].dtype = 0;
    let reply = forward(&node, &signer, message).await.unwrap();

    let d = ReturnCode::RequestDeserializationException as i32;
    assert_eq!(reply.return_code, OK);
    assert_eq!(
        codes(&reply),
        [
            OK,
            d,
            ReturnCode::NotImplemented as i32,
            ReturnCode::RequestShapeException as i32,
            d,
            d
        ]
    );
    assert!(
        reply.synapses[1]
            .message
            .starts_with("Input deserialization exception with error:"),
        "{:?}",
        reply.synapses[1]
    );
    assert!(reply.synapses[1].message.contains("pickle"));
    assert_eq!(reply.synapses[2].message, "Not Implemented");
    assert!(
        reply.synapses[3]
            .message
            .starts_with("Input shape exception with error:")
    );
    assert_eq!(reply.tensors.len(), 6);
    assert!(reply.tensors[1..].iter().all(|t| *t == WireTensor::empty()));
    assert_eq!(
        decode(&lhs, &inputs, &reply.tensors[0]).dims(),
        [1, 3, NETWORK_DIM]
    );
}

#[tokio::test]
async fn bad_synapse_arguments() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    let inputs = tokens(&[&[1, 2]]);
    let lm = SynapseSpec::causal_lm(2);
    let mut message = forward_message(&signer, &inputs, &[lm.clone(), lm.clone(), lm.clone()]);
    // forward_request_serializer_type = 7; topk = -1; garbage bytes.
    message.synapses[0].synapse_data = vec![0x10, 0x02, 0x18, 0x07].into();
    message.synapses[1].synapse_data = vec![
        0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ]
    .into();
    message.synapses[2].synapse_data = vec![0xff, 0xff].into();
    let original = message.synapses.clone();
    let reply = forward(&node, &signer, message).await.unwrap();
    let d = ReturnCode::RequestDeserializationException as i32;
    assert_eq!(codes(&reply), [d, ReturnCode::InvalidRequest as i32, d]);
    // All failed: first code on top, no tensors, the request's own synapses echoed.
    assert_eq!(reply.return_code, d);
    assert!(reply.tensors.is_empty());
    for (got, sent) in reply.synapses.iter().zip(&original) {
        assert_eq!(got.synapse_data, sent.synapse_data);
    }
}

#[tokio::test]
async fn envelope_level_refusals() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    let inputs = tokens(&[&[1, 2]]);
    let specs = [SynapseSpec::last_hidden_state(), SynapseSpec::causal_lm(2)];

    let mut empty = forward_message(&signer, &inputs, &specs);
    empty.tensors.clear();
    let reply = forward(&node, &signer, empty).await.unwrap();
    let e = ReturnCode::EmptyRequest as i32;
    assert_eq!((reply.return_code, codes(&reply)), (e, vec![e, e]));
    assert!(
        reply.synapses[0]
            .message
            .starts_with("Forward request contains 0 tensors")
    );

    let mut short = forward_message(&signer, &inputs, &specs);
    short.tensors.pop();
    let reply = forward(&node, &signer, short).await.unwrap();
    let r = ReturnCode::RequestShapeException as i32;
    assert_eq!((reply.return_code, codes(&reply)), (r, vec![r, r]));
    assert_eq!(
        reply.synapses[1].message,
        "Request length doesn't match synape length."
    );
    assert!(reply.tensors.is_empty());
}

#[tokio::test]
async fn a_caller_over_the_rate_limit_gets_backoff() {
    let (svc, _rx) = model_service(grpc::Config::new().with_timeout(Duration::from_secs(2)));
    let node = start(svc.with_rate_limit(neuron_axon::RateLimit::new(0.001, 1))).await;
    let bob = Signer::new(bob());
    let inputs = tokens(&[&[1, 2]]);
    let specs = [SynapseSpec::last_hidden_state(), SynapseSpec::causal_lm(2)];
    let reply = forward(&node, &bob, forward_message(&bob, &inputs, &specs))
        .await
        .unwrap();
    assert_eq!(codes(&reply), [OK, OK]);
    // the next Forward is over the limit: Backoff for the call and every synapse
    let reply = forward(&node, &bob, forward_message(&bob, &inputs, &specs))
        .await
        .unwrap();
    let b = ReturnCode::Backoff as i32;
    assert_eq!((reply.return_code, codes(&reply)), (b, vec![b, b]));
    assert_eq!(reply.synapses[0].message, "Rate limit exceeded");
    assert!(reply.tensors.is_empty());
    // Backward spends from the same bucket
    let reply = backward(&node, &bob, forward_message(&bob, &inputs, &specs))
        .await
        .unwrap();
    assert_eq!(reply.return_code, b);
    // another hotkey is not affected
    let dave = Signer::new(dave());
    let reply = forward(&node, &dave, forward_message(&dave, &inputs, &specs))
        .await
        .unwrap();
    assert_eq!(codes(&reply), [OK, OK]);
}

#[tokio::test]
async fn callback_failures_map_to_codes() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    let lhs = SynapseSpec::last_hidden_state();
    let lm = SynapseSpec::causal_lm(2);
    for (token, code, message) in [
        (FAIL_TOKEN, ReturnCode::UnknownException, "model exploded"),
        (
            BAD_SHAPE_TOKEN,
            ReturnCode::ResponseShapeException,
            "Synapse response shape exception with error: forward_response_tensor.shape must be in [1, 2, 1024]",
        ),
        (
            EMPTY_TOKEN,
            ReturnCode::EmptyResponse,
            "Synapse response shape exception with error: Empty Response",
        ),
    ] {
        let inputs = tokens(&[&[token, 5]]);
        let reply = forward(
            &node,
            &signer,
            forward_message(&signer, &inputs, &[lhs.clone(), lm.clone()]),
        )
        .await
        .unwrap();
        assert_eq!(codes(&reply), [code as i32, OK], "{token}");
        assert!(
            reply.synapses[0].message.starts_with(message),
            "{:?}",
            reply.synapses[0].message
        );
        assert_eq!(reply.return_code, OK);
        assert_eq!(reply.tensors[0], WireTensor::empty());
    }
}

#[tokio::test]
async fn unpackable_outputs_are_serialization_failures() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    let inputs = tokens(&[&[1, 2]]);
    // The model has V logits; a topk above V cannot be packed.
    let specs = [
        SynapseSpec::causal_lm(VOCAB_SIZE as u32 + 1),
        SynapseSpec::causal_lm(2),
    ];
    let reply = forward(&node, &signer, forward_message(&signer, &inputs, &specs))
        .await
        .unwrap();
    assert_eq!(
        codes(&reply),
        [ReturnCode::ResponseSerializationException as i32, OK]
    );
    assert!(
        reply.synapses[0]
            .message
            .starts_with("Synapse response serialization exception with error: ")
    );
}

#[tokio::test]
async fn slow_callbacks_time_out_every_synapse() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    let inputs = tokens(&[&[HANG_TOKEN, 1]]);
    let specs = [SynapseSpec::causal_lm(2), SynapseSpec::last_hidden_state()];
    let reply = forward(&node, &signer, forward_message(&signer, &inputs, &specs))
        .await
        .unwrap();
    let t = ReturnCode::Timeout as i32;
    assert_eq!((reply.return_code, codes(&reply)), (t, vec![t, t]));
    assert!(
        reply
            .synapses
            .iter()
            .all(|s| s.message == "Request reached timeout")
    );
    // The worker was released: the next call runs.
    let inputs = tokens(&[&[1, 1]]);
    let reply = forward(&node, &signer, forward_message(&signer, &inputs, &specs))
        .await
        .unwrap();
    assert_eq!(codes(&reply), [OK, OK]);
}

#[tokio::test]
async fn unattached_types_are_not_implemented() {
    let node = start(Service::new(alice(), grpc::Config::new())).await;
    let signer = Signer::new(bob());
    let inputs = tokens(&[&[1, 2]]);
    let reply = forward(&node, &signer, forward_message(&signer, &inputs, &specs()))
        .await
        .unwrap();
    let n = ReturnCode::NotImplemented as i32;
    assert_eq!((reply.return_code, codes(&reply)), (n, vec![n; 5]));
    assert!(
        reply
            .synapses
            .iter()
            .all(|s| s.message == "Not Implemented")
    );
}

#[tokio::test]
async fn message_hotkey_must_be_the_signer() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    let inputs = tokens(&[&[1, 2]]);
    let mut message = forward_message(&signer, &inputs, &[SynapseSpec::last_hidden_state()]);
    message.hotkey = alice().ss58().to_owned();
    let reply = forward(&node, &signer, message).await.unwrap();
    assert_eq!(codes(&reply), [ReturnCode::UnknownException as i32]);
    assert_eq!(reply.synapses[0].message, "Synapse Check Failed");
}

#[tokio::test]
async fn owner_synapse_check() {
    let svc = model_service(grpc::Config::new())
        .0
        .with_synapse_check(|_c, _s, inputs| inputs.dims()[1] <= 2);
    let node = start(svc).await;
    let signer = Signer::new(bob());
    let spec = [SynapseSpec::last_hidden_state()];
    let short = tokens(&[&[1, 2]]);
    let long = tokens(&[&[1, 2, 3]]);
    assert_eq!(
        codes(
            &forward(&node, &signer, forward_message(&signer, &short, &spec))
                .await
                .unwrap()
        ),
        [OK]
    );
    let reply = forward(&node, &signer, forward_message(&signer, &long, &spec))
        .await
        .unwrap();
    assert_eq!(reply.synapses[0].message, "Synapse Check Failed");
}

#[tokio::test]
async fn unknown_synapse_type_next_to_a_good_one() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    let inputs = tokens(&[&[1, 2]]);
    let mut message = forward_message(
        &signer,
        &inputs,
        &[SynapseSpec::causal_lm(2), SynapseSpec::causal_lm(2)],
    );
    message.synapses[1] = Synapse {
        synapse_type: 42,
        ..Synapse::default()
    };
    let reply = forward(&node, &signer, message).await.unwrap();
    assert_eq!(codes(&reply), [OK, ReturnCode::NotImplemented as i32]);
    assert_eq!(reply.synapses[1].synapse_type, 42);
    let _ = Tensor::zeros(1, DType::F32, &cpu()).unwrap();
}
