//! Backward: inputs then gradients in, decoded gradients to the callback, no tensors out.

use candle_core::{DType, Device, Tensor};
use neuron_axon::grpc::{self, ReturnCode, Service, SynapseSpec};
use neuron_legacy::{NETWORK_DIM, VOCAB_SIZE};

use crate::common::*;

fn backward_message(
    signer: &Signer,
    inputs: &Tensor,
    specs: &[SynapseSpec],
    grads: &[Tensor],
) -> neuron_protocol::legacy::TensorMessage {
    let mut message = forward_message(signer, inputs, specs);
    for (spec, grad) in specs.iter().zip(grads) {
        message
            .tensors
            .push(spec.encode_grad(inputs, grad).unwrap());
    }
    message
}

#[tokio::test]
async fn gradients_reach_the_callback() {
    let (node, mut rx) = start_models().await;
    let signer = Signer::new(bob());
    let inputs = tokens(&[&[1, 2, 3], &[4, 5, 6]]);
    let specs = [SynapseSpec::last_hidden_state(), SynapseSpec::causal_lm(2)];
    let hidden_grad = Tensor::ones((2, 3, NETWORK_DIM), DType::F32, &Device::Cpu).unwrap();
    let mut lm = vec![0f32; 2 * 3 * VOCAB_SIZE];
    lm[7] = 0.5;
    lm[9] = 0.25;
    let lm_grad = Tensor::from_vec(lm, (2, 3, VOCAB_SIZE), &Device::Cpu).unwrap();
    let message = backward_message(&signer, &inputs, &specs, &[hidden_grad, lm_grad]);
    let reply = backward(&node, &signer, message).await.unwrap();
    assert_eq!(reply.return_code, ReturnCode::Success as i32);
    assert!(reply.tensors.is_empty());
    assert_eq!(codes(&reply), [1, 1]);

    let (name, shape_in, shape_grad, sum) = rx.recv().await.unwrap();
    assert_eq!(
        (name.as_str(), shape_in, shape_grad),
        ("TextLastHiddenState", vec![2, 3], vec![2, 3, NETWORK_DIM])
    );
    assert_eq!(sum, (2 * 3 * NETWORK_DIM) as f32);
    let (name, _, shape_grad, sum) = rx.recv().await.unwrap();
    assert_eq!(
        (name.as_str(), shape_grad),
        ("TextCausalLM", vec![2, 3, VOCAB_SIZE])
    );
    assert_eq!(sum, 0.75);
    assert_eq!(node.stats.snapshot().backward, 1);
}

#[tokio::test]
async fn backward_envelope_rules() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    let inputs = tokens(&[&[1, 2]]);
    let specs = [SynapseSpec::last_hidden_state()];
    let mut message = forward_message(&signer, &inputs, &specs);

    let one = backward(&node, &signer, message.clone()).await.unwrap();
    let i = ReturnCode::InvalidRequest as i32;
    assert_eq!((one.return_code, codes(&one)), (i, vec![i]));
    assert_eq!(
        one.synapses[0].message,
        "Backward request contains 1 tensors, expected atleast 2 tensor in the backward call"
    );

    message.tensors.clear();
    let none = backward(&node, &signer, message.clone()).await.unwrap();
    assert_eq!(none.return_code, ReturnCode::EmptyRequest as i32);
    assert_eq!(none.synapses[0].message, "Empty Request");

    let three = forward_message(
        &signer,
        &inputs,
        &[specs[0].clone(), specs[0].clone(), specs[0].clone()],
    );
    let mut two_synapses = three.clone();
    two_synapses.synapses.pop();
    let reply = backward(&node, &signer, two_synapses).await.unwrap();
    assert_eq!(reply.return_code, ReturnCode::RequestShapeException as i32);

    // A gradient of the wrong shape.
    let mut bad = forward_message(&signer, &inputs, &specs);
    let wrong = Tensor::ones((1, 5), DType::F32, &Device::Cpu).unwrap();
    bad.tensors.push(
        neuron_tensor::legacy::from_candle(&wrong, neuron_legacy::Serializer::Msgpack).unwrap(),
    );
    let reply = backward(&node, &signer, bad).await.unwrap();
    assert_eq!(codes(&reply), [ReturnCode::RequestShapeException as i32]);
    assert!(
        reply.synapses[0]
            .message
            .starts_with("Input shape exception with error:")
    );
}

#[tokio::test]
async fn no_backward_callback_is_not_implemented() {
    let node = start(Service::new(alice(), grpc::Config::new())).await;
    let signer = Signer::new(bob());
    let inputs = tokens(&[&[1, 2]]);
    let spec = SynapseSpec::last_hidden_state();
    let grad = Tensor::ones((1, 2, NETWORK_DIM), DType::F32, &Device::Cpu).unwrap();
    let message = backward_message(&signer, &inputs, &[spec], &[grad]);
    let reply = backward(&node, &signer, message).await.unwrap();
    assert_eq!(codes(&reply), [ReturnCode::NotImplemented as i32]);
    assert_eq!(reply.synapses[0].message, "No Backward Function Attached");
}
