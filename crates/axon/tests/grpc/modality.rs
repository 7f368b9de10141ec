//! The 2.x modality calls (no synapses, one tensor whose modality picks the model) and
//! their bad inputs: one code for the whole call, no panic, the axon keeps serving.

use candle_core::{DType, Device, Tensor};
use neuron_axon::grpc::{self, Modality, ReturnCode};
use neuron_legacy::{NETWORK_DIM, modality};
use neuron_protocol::legacy::{Tensor as WireTensor, TensorMessage};

use crate::common::*;

/// `[B, S, …] → [B, S, 1024]` of ones; the TENSOR callback fails for a first element 13
/// and answers a wrong shape for 14.
fn ones_model(x: &Tensor) -> Result<Tensor, String> {
    let first = x
        .flatten_all()
        .unwrap()
        .get(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    if first == 13.0 {
        return Err("model exploded".into());
    }
    let s = if first == 14.0 { 7 } else { x.dim(1).unwrap() };
    Ok(Tensor::ones(
        (x.dim(0).unwrap(), s, NETWORK_DIM),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap())
}

async fn start_modalities() -> Node {
    let (svc, _rx) = model_service(grpc::Config::new());
    let svc = svc
        .with_modality_callback(Modality::Tensor, |_c, x, _m| async move { ones_model(&x) })
        .with_modality_backward(|_c, x, _g, _m| async move {
            let first = x
                .flatten_all()
                .unwrap()
                .get(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            if first == 14.0 {
                // A gradient of the wrong shape.
                return Ok(Some(Tensor::ones(3, DType::F32, &Device::Cpu).unwrap()));
            }
            Ok(Some(x.ones_like().unwrap()))
        });
    start(svc).await
}

fn message(signer: &Signer, tensors: Vec<WireTensor>) -> TensorMessage {
    TensorMessage {
        version: 370,
        hotkey: signer.keypair.ss58().to_owned(),
        tensors,
        requires_grad: true,
        ..TensorMessage::default()
    }
}

fn floats(shape: &[usize], first: f32) -> Tensor {
    let n: usize = shape.iter().product();
    let mut v = vec![1f32; n];
    if let Some(x) = v.first_mut() {
        *x = first;
    }
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn request(m: Modality, x: &Tensor) -> WireTensor {
    modality::encode_request(m, x).unwrap()
}

fn top(reply: &TensorMessage) -> (i32, &str) {
    (reply.return_code, reply.message.as_str())
}

#[tokio::test]
async fn forward_tensor_answers_one_hidden_state() {
    let node = start_modalities().await;
    let signer = Signer::new(bob());
    let x = floats(&[2, 3, 5], 1.0);
    let reply = forward(
        &node,
        &signer,
        message(&signer, vec![request(Modality::Tensor, &x)]),
    )
    .await
    .unwrap();
    assert_eq!(top(&reply), (ReturnCode::Success as i32, "Success"));
    assert!(reply.synapses.is_empty());
    assert_eq!(reply.tensors.len(), 1);
    assert_eq!(reply.tensors[0].modality, Modality::Tensor as i32);
    let h = modality::decode_response(Modality::Tensor, &x, &reply.tensors[0], &Default::default())
        .unwrap();
    assert_eq!(h.dims(), [2, 3, NETWORK_DIM]);
    // The call is counted with its one code.
    assert_eq!(node.stats.snapshot().code(ReturnCode::Success), 1);
}

#[tokio::test]
async fn bad_modality_requests_get_their_code() {
    let node = start_modalities().await;
    let signer = Signer::new(bob());
    let good = floats(&[1, 2, 4], 1.0);
    let mut cases: Vec<(&str, WireTensor, ReturnCode)> = Vec::new();
    // A TENSOR of rank 2, an IMAGE of rank 3 (no image model either way).
    let flat = floats(&[2, 4], 1.0);
    let mut t = request(Modality::Tensor, &good);
    t.shape = vec![2, 4];
    cases.push(("rank 2 tensor", t, ReturnCode::RequestShapeException));
    let mut t = request(Modality::Tensor, &good);
    t.modality = Modality::Image as i32;
    cases.push(("rank 3 image", t, ReturnCode::RequestShapeException));
    // Undefined modality and serializer values, an undefined dtype.
    let mut t = request(Modality::Tensor, &good);
    t.modality = 9;
    cases.push(("modality 9", t, ReturnCode::RequestDeserializationException));
    let mut t = request(Modality::Tensor, &good);
    t.serializer = 5;
    cases.push((
        "serializer 5",
        t,
        ReturnCode::RequestDeserializationException,
    ));
    let mut t = request(Modality::Tensor, &good);
    t.dtype = 0;
    cases.push((
        "dtype UNKNOWN",
        t,
        ReturnCode::RequestDeserializationException,
    ));
    // Float "token ids", and int64 features.
    let mut t = request(Modality::Tensor, &flat.unsqueeze(0).unwrap());
    t.modality = Modality::Text as i32;
    t.shape = vec![2, 4];
    cases.push(("float text", t, ReturnCode::RequestDeserializationException));
    let mut t = modality::encode_request(Modality::Text, &tokens(&[&[1, 2]])).unwrap();
    t.modality = Modality::Tensor as i32;
    t.shape = vec![1, 1, 2];
    cases.push(("int tensor", t, ReturnCode::RequestDeserializationException));
    // msgpack object array (a pickle upstream) as text.
    let mut t = crate::forward::object_array_tensor();
    t.modality = Modality::Text as i32;
    cases.push((
        "object array",
        t,
        ReturnCode::RequestDeserializationException,
    ));
    // Truncated payload, and a shape whose element count is not the payload's.
    let mut t = request(Modality::Tensor, &good);
    t.buffer = t.buffer.slice(..t.buffer.len() - 3);
    cases.push(("truncated", t, ReturnCode::RequestDeserializationException));
    let mut t = request(Modality::Tensor, &good);
    t.shape = vec![1, 2, 5];
    cases.push((
        "count mismatch",
        t,
        ReturnCode::RequestDeserializationException,
    ));
    let mut t = request(Modality::Tensor, &good);
    t.shape = vec![1 << 40, 1 << 40, 1 << 40];
    cases.push(("huge shape", t, ReturnCode::RequestDeserializationException));
    // An empty batch.
    let empty = Tensor::zeros((0, 2, 4), DType::F32, &Device::Cpu).unwrap();
    let t = neuron_tensor::legacy::from_candle(&empty, neuron_legacy::Serializer::Msgpack);
    let mut t = t.unwrap();
    t.modality = Modality::Tensor as i32;
    cases.push(("empty batch", t, ReturnCode::EmptyRequest));
    // The model fails, answers a wrong shape; no IMAGE model.
    cases.push((
        "callback error",
        request(Modality::Tensor, &floats(&[1, 2, 4], 13.0)),
        ReturnCode::UnknownException,
    ));
    cases.push((
        "wrong output shape",
        request(Modality::Tensor, &floats(&[1, 2, 4], 14.0)),
        ReturnCode::ResponseShapeException,
    ));
    cases.push((
        "no image model",
        request(Modality::Image, &floats(&[1, 1, 3, 2, 2], 1.0)),
        ReturnCode::NotImplemented,
    ));
    for (what, t, code) in cases {
        let reply = forward(&node, &signer, message(&signer, vec![t]))
            .await
            .unwrap_or_else(|s| panic!("{what}: {s:?}"));
        assert_eq!(reply.return_code, code as i32, "{what}: {}", reply.message);
        assert!(
            reply.tensors.is_empty() && reply.synapses.is_empty(),
            "{what}"
        );
        assert!(!reply.message.is_empty(), "{what}");
    }
    // Still serving.
    let reply = forward(
        &node,
        &signer,
        message(&signer, vec![request(Modality::Tensor, &good)]),
    )
    .await
    .unwrap();
    assert_eq!(reply.return_code, ReturnCode::Success as i32);
    // Two tensors without synapses is not a modality Forward (v3 count rule).
    let t = request(Modality::Tensor, &good);
    let reply = forward(&node, &signer, message(&signer, vec![t.clone(), t]))
        .await
        .unwrap();
    assert_eq!(reply.return_code, ReturnCode::RequestShapeException as i32);
}

#[tokio::test]
async fn modality_backward_returns_the_input_gradient() {
    let node = start_modalities().await;
    let signer = Signer::new(bob());
    let x = floats(&[1, 2, 4], 1.0);
    let g = floats(&[1, 2, NETWORK_DIM], 1.0);
    let grad = modality::encode_grad(Modality::Tensor, &x, &g).unwrap();
    let reply = backward(
        &node,
        &signer,
        message(&signer, vec![request(Modality::Tensor, &x), grad.clone()]),
    )
    .await
    .unwrap();
    assert_eq!(top(&reply), (ReturnCode::Success as i32, "Success"));
    let back = modality::decode_input_grad(&x, &reply.tensors[0], &Default::default()).unwrap();
    assert_eq!(back.dims(), [1, 2, 4]);

    // A gradient of the wrong shape, of the wrong kind; a wrong input gradient back.
    let mut bad_grad = grad.clone();
    bad_grad.shape = vec![2, NETWORK_DIM as i64];
    let mut int_grad = modality::encode_request(Modality::Text, &tokens(&[&[1, 2]])).unwrap();
    int_grad.shape = vec![1, 1, 2];
    let x14 = floats(&[1, 2, 4], 14.0);
    let cases = [
        (
            "grad shape",
            request(Modality::Tensor, &x),
            bad_grad,
            ReturnCode::RequestShapeException,
        ),
        (
            "int grad",
            request(Modality::Tensor, &x),
            int_grad,
            ReturnCode::RequestDeserializationException,
        ),
        (
            "wrong input gradient",
            request(Modality::Tensor, &x14),
            modality::encode_grad(Modality::Tensor, &x14, &g).unwrap(),
            ReturnCode::ResponseShapeException,
        ),
    ];
    for (what, inputs, grad, code) in cases {
        let reply = backward(&node, &signer, message(&signer, vec![inputs, grad]))
            .await
            .unwrap();
        assert_eq!(reply.return_code, code as i32, "{what}: {}", reply.message);
        assert!(reply.tensors.is_empty(), "{what}");
    }
}

#[tokio::test]
async fn without_modality_callbacks() {
    // The test axon has synapse callbacks only: TENSOR is NotImplemented, TEXT goes to the
    // hidden-state callback, Backward has no modality backward.
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    let x = floats(&[1, 2, 4], 1.0);
    let reply = forward(
        &node,
        &signer,
        message(&signer, vec![request(Modality::Tensor, &x)]),
    )
    .await
    .unwrap();
    assert_eq!(
        top(&reply),
        (
            ReturnCode::NotImplemented as i32,
            "Modality not implemented"
        )
    );
    let ids = tokens(&[&[7, 8]]);
    let reply = forward(
        &node,
        &signer,
        message(&signer, vec![request(Modality::Text, &ids)]),
    )
    .await
    .unwrap();
    assert_eq!(reply.return_code, ReturnCode::Success as i32);
    let h = modality::decode_response(Modality::Text, &ids, &reply.tensors[0], &Default::default())
        .unwrap();
    assert_eq!(
        h.flatten_all().unwrap().to_vec1::<f32>().unwrap()[NETWORK_DIM],
        8.0
    );
    let g = floats(&[1, 2, NETWORK_DIM], 1.0);
    let grad = modality::encode_grad(Modality::Text, &ids, &g).unwrap();
    let reply = backward(
        &node,
        &signer,
        message(&signer, vec![request(Modality::Text, &ids), grad]),
    )
    .await
    .unwrap();
    assert_eq!(reply.return_code, ReturnCode::NotImplemented as i32);
}
