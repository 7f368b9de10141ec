//! Message size, hostile bytes, the priority queue.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut};
use neuron_axon::grpc::{self, ReturnCode, SynapseSpec, SynapseType};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::common::*;

#[tokio::test]
async fn oversized_messages_are_refused() {
    let (svc, _rx) = model_service(grpc::Config::new().with_max_message_size(64 * 1024));
    let node = start(svc).await;
    let signer = Signer::new(bob());
    let row: Vec<i64> = (0..10_000).collect();
    let inputs = tokens(&[&row]);
    let message = forward_message(&signer, &inputs, &[SynapseSpec::causal_lm(2)]);
    let status = forward(&node, &signer, message).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    // Still serving.
    let small = tokens(&[&[1, 2]]);
    let ok = forward(
        &node,
        &signer,
        forward_message(&signer, &small, &[SynapseSpec::causal_lm(2)]),
    )
    .await
    .unwrap();
    assert_eq!(codes(&ok), [1]);
}

/// Sends raw bytes as the message.
#[derive(Clone, Default)]
struct Raw;
impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}
impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}
impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

#[tokio::test]
async fn garbage_protobuf_is_an_error_not_a_panic() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", node.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    // A fixed xorshift sequence of byte strings, plus a few hand-made ones.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut cases: Vec<Vec<u8>> = vec![
        vec![0xff; 16],
        vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f],
        vec![0x2a, 0x05, 0x12],
    ];
    for len in 1..40 {
        cases.push(
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect(),
        );
    }
    for bytes in cases {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.unwrap();
        let req = request_raw(
            bytes.clone(),
            signer.metadata(Format::V2, &node.hotkey, "1"),
        );
        let path = http::uri::PathAndQuery::from_static("/Bittensor/Forward");
        match grpc.unary(req, path, Raw).await {
            Ok(reply) => assert!(!reply.into_inner().is_empty() || bytes.is_empty()),
            Err(status) => assert_eq!(status.code(), Code::Internal, "{bytes:02x?}: {status:?}"),
        }
    }
    let ok = forward(
        &node,
        &signer,
        forward_message(&signer, &tokens(&[&[1]]), &[SynapseSpec::causal_lm(1)]),
    )
    .await
    .unwrap();
    assert_eq!(codes(&ok), [1]);
}

fn request_raw(bytes: Vec<u8>, metadata: Vec<(&'static str, String)>) -> tonic::Request<Vec<u8>> {
    let mut req = tonic::Request::new(bytes);
    for (k, v) in metadata {
        req.metadata_mut().insert(k, v.parse().unwrap());
    }
    req
}

#[tokio::test]
async fn the_queue_orders_waiting_calls_by_priority() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let order = Arc::new(Mutex::new(Vec::new()));
    let (g, o) = (gate.clone(), order.clone());
    let svc = grpc::Service::new(
        alice(),
        grpc::Config::new()
            .with_workers(1)
            .with_queue_capacity(8)
            .with_timeout(Duration::from_secs(30)),
    )
    .with_callback(SynapseType::TextLastHiddenState, move |_c, inputs, _s| {
        let (g, o) = (g.clone(), o.clone());
        async move {
            let first = inputs.flatten_all().unwrap().to_vec1::<i64>().unwrap()[0];
            if first == 0 {
                g.notified().await;
            }
            o.lock().unwrap().push(first);
            hidden_model(&inputs)
        }
    })
    .with_priority(|_caller, inputs, _kind| {
        inputs[0].flatten_all().unwrap().to_vec1::<i64>().unwrap()[0] as f64
    });
    let node = Arc::new(start(svc).await);
    let signer = Arc::new(Signer::new(bob()));
    let spawn = |token: i64| {
        let (node, signer) = (node.clone(), signer.clone());
        tokio::spawn(async move {
            let message = forward_message(
                &signer,
                &tokens(&[&[token]]),
                &[SynapseSpec::last_hidden_state()],
            );
            codes(&forward(&node, &signer, message).await.unwrap())
        })
    };
    let blocker = spawn(0);
    while node.queue.running() < 1 {
        tokio::task::yield_now().await;
    }
    let mut waiting = Vec::new();
    for (i, token) in [3, 9, 1, 5].into_iter().enumerate() {
        waiting.push(spawn(token));
        while node.queue.waiting() < i + 1 {
            tokio::task::yield_now().await;
        }
    }
    gate.notify_one();
    for task in waiting.into_iter().chain([blocker]) {
        assert_eq!(task.await.unwrap(), [1]);
    }
    assert_eq!(*order.lock().unwrap(), [0, 9, 5, 3, 1]);
}

#[tokio::test]
async fn a_full_queue_answers_every_synapse() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let g = gate.clone();
    let svc = grpc::Service::new(
        alice(),
        grpc::Config::new().with_workers(1).with_queue_capacity(0),
    )
    .with_callback(SynapseType::TextCausalLm, move |_c, inputs, _s| {
        let g = g.clone();
        async move {
            g.notified().await;
            lm_model(&inputs)
        }
    });
    let node = Arc::new(start(svc).await);
    let signer = Arc::new(Signer::new(bob()));
    let (n, s) = (node.clone(), signer.clone());
    let blocker = tokio::spawn(async move {
        let message = forward_message(&s, &tokens(&[&[1]]), &[SynapseSpec::causal_lm(1)]);
        codes(&forward(&n, &s, message).await.unwrap())
    });
    while node.queue.running() < 1 {
        tokio::task::yield_now().await;
    }
    let specs = [SynapseSpec::causal_lm(1), SynapseSpec::causal_lm(1)];
    let reply = forward(
        &node,
        &signer,
        forward_message(&signer, &tokens(&[&[2]]), &specs),
    )
    .await
    .unwrap();
    let u = ReturnCode::UnknownException as i32;
    assert_eq!((reply.return_code, codes(&reply)), (u, vec![u, u]));
    assert!(reply.synapses[0].message.contains("queue full"));
    gate.notify_one();
    assert_eq!(blocker.await.unwrap(), [1]);
}
