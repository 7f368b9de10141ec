//! Hostile tensors next to a good synapse in one message: each bad synapse gets its
//! documented code, the good one is still answered, nothing panics.

use candle_core::{DType, Device, Tensor};
use neuron_axon::grpc::{ReturnCode, SynapseSpec};
use neuron_legacy::{NETWORK_DIM, VOCAB_SIZE};
use neuron_protocol::legacy::Tensor as WireTensor;

use crate::common::*;

const OK: i32 = ReturnCode::Success as i32;
const DESER: i32 = ReturnCode::RequestDeserializationException as i32;
const SHAPE: i32 = ReturnCode::RequestShapeException as i32;

/// Request tensors (and, for some, synapses) that must fail alone, with their code.
fn bad_requests(good: &WireTensor) -> Vec<(&'static str, WireTensor, Option<SynapseSpec>, i32)> {
    let with = |f: &dyn Fn(&mut WireTensor)| {
        let mut t = good.clone();
        f(&mut t);
        t
    };
    let three_d = Tensor::ones((1, 2, 2), DType::I64, &Device::Cpu).unwrap();
    let empty_rows = Tensor::zeros((0, 2), DType::I64, &Device::Cpu).unwrap();
    let msgpack = |t: &Tensor| {
        neuron_tensor::legacy::from_candle(t, neuron_legacy::Serializer::Msgpack).unwrap()
    };
    vec![
        ("serializer 5", with(&|t| t.serializer = 5), None, DESER),
        ("dtype UTF8", with(&|t| t.dtype = 5), None, DESER),
        ("dtype 99", with(&|t| t.dtype = 99), None, DESER),
        (
            "shape [2, 2] for 2 elements",
            with(&|t| t.shape = vec![2, 2]),
            None,
            DESER,
        ),
        (
            "negative dimension",
            with(&|t| t.shape = vec![-1, -2]),
            None,
            DESER,
        ),
        (
            "huge shape",
            with(&|t| t.shape = vec![1 << 31, 1 << 31]),
            None,
            DESER,
        ),
        (
            "truncated buffer",
            with(&|t| t.buffer = t.buffer.slice(..t.buffer.len() / 2)),
            None,
            DESER,
        ),
        ("placeholder", WireTensor::empty(), None, DESER),
        ("rank 3 tokens", msgpack(&three_d), None, SHAPE),
        ("empty batch", msgpack(&empty_rows), None, SHAPE),
        (
            "mask out of range",
            good.clone(),
            Some(SynapseSpec::last_hidden_state_masked(vec![5])),
            SHAPE,
        ),
        (
            "mask repeats a position",
            good.clone(),
            Some(SynapseSpec::last_hidden_state_masked(vec![1, -1])),
            SHAPE,
        ),
    ]
}

#[tokio::test]
async fn every_bad_tensor_fails_alone() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    let inputs = tokens(&[&[1, 2]]);
    let spec = SynapseSpec::causal_lm(2);
    let good = spec.encode_request(&inputs).unwrap();
    let cases = bad_requests(&good);
    let specs = vec![spec.clone(); cases.len() + 2];
    let mut message = forward_message(&signer, &inputs, &specs);
    for (i, case) in cases.iter().enumerate() {
        message.tensors[i + 1] = case.1.clone();
        if let Some(other) = &case.2 {
            message.synapses[i + 1] = other.to_wire();
        }
    }
    let reply = forward(&node, &signer, message).await.unwrap();

    let mut want = vec![OK];
    want.extend(cases.iter().map(|c| c.3));
    want.push(OK);
    let got = codes(&reply);
    for (i, case) in cases.iter().enumerate() {
        assert_eq!(
            got[i + 1],
            case.3,
            "{}: {:?}",
            case.0,
            reply.synapses[i + 1].message
        );
    }
    assert_eq!(got, want);
    assert_eq!(reply.return_code, OK);
    // The good synapses (first and last) are answered; the others get the placeholder.
    assert_eq!(reply.tensors.len(), specs.len());
    for i in [0, specs.len() - 1] {
        assert_eq!(
            decode(&spec, &inputs, &reply.tensors[i]).dims(),
            [1, 2, VOCAB_SIZE]
        );
    }
    assert!(
        reply.tensors[1..specs.len() - 1]
            .iter()
            .all(|t| *t == WireTensor::empty())
    );
}

#[tokio::test]
async fn bad_gradients_fail_alone_and_the_good_one_reaches_the_callback() {
    let (node, mut rx) = start_models().await;
    let signer = Signer::new(bob());
    let inputs = tokens(&[&[1, 2]]);
    let hidden = SynapseSpec::last_hidden_state();
    let lm = SynapseSpec::causal_lm(2);
    let specs = [hidden.clone(), lm.clone(), hidden.clone(), lm.clone()];
    let mut message = forward_message(&signer, &inputs, &specs);
    let good = Tensor::ones((1, 2, NETWORK_DIM), DType::F32, &Device::Cpu).unwrap();
    message
        .tensors
        .push(hidden.encode_grad(&inputs, &good).unwrap());
    // A top-k gradient whose "id" is not a token of the vocabulary.
    let ids = Tensor::from_vec(
        vec![0.5f32, 0.25, 1e9, 3.0, 0.5, 0.25, 1.0, 2.0],
        (1, 2, 4),
        &Device::Cpu,
    )
    .unwrap();
    message.tensors.push(
        neuron_tensor::legacy::from_candle(&ids, neuron_legacy::Serializer::Msgpack).unwrap(),
    );
    // A hidden-state gradient of the wrong shape, and an undefined serializer value.
    let wrong = Tensor::ones((1, 3, NETWORK_DIM), DType::F32, &Device::Cpu).unwrap();
    message.tensors.push(
        neuron_tensor::legacy::from_candle(&wrong, neuron_legacy::Serializer::Msgpack).unwrap(),
    );
    let mut bad_ser = lm
        .encode_grad(
            &inputs,
            &Tensor::ones((1, 2, VOCAB_SIZE), DType::F32, &Device::Cpu).unwrap(),
        )
        .unwrap();
    bad_ser.serializer = 3;
    message.tensors.push(bad_ser);

    let reply = backward(&node, &signer, message).await.unwrap();
    assert_eq!(reply.return_code, OK);
    assert_eq!(codes(&reply), [OK, DESER, SHAPE, DESER]);
    let (name, _, shape, sum) = rx.recv().await.unwrap();
    assert_eq!(
        (name.as_str(), shape.as_slice()),
        ("TextLastHiddenState", &[1, 2, NETWORK_DIM][..])
    );
    assert_eq!(sum, (2 * NETWORK_DIM) as f32);
    assert!(
        rx.try_recv().is_err(),
        "only the good synapse reached the callback"
    );
}
