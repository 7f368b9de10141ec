//! `text_causal_lm` fanned out to many loopback axons in one process; prints the p50
//! (and p90) of the time until every axon has answered.
//!
//! `cargo bench -p neuron-dendrite --bench grpc_fanout [-- AXONS ROUNDS]` (defaults 256, 30).
//!
//! The axons are minimal in-process tonic `Bittensor` services (no authentication, a
//! fixed top-k answer), so the figure is the client side's cost: signing, encoding 256
//! requests, HTTP/2 over loopback and decoding 256 `[B, S, 2k]` replies into `[B, S, V]`
//! log-probabilities.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use neuron_dendrite::grpc::{Config, Endpoint, TextDendrite};
use neuron_protocol::legacy::{ReturnCode, Synapse, TensorMessage};
use neuron_tensor::legacy::{Serializer, from_candle};
use neuron_transport::legacy_grpc::bittensor_server::{Bittensor, BittensorServer};
use neuron_transport::server::{Config as ServerConfig, Server};
use neuron_wallet::Keypair;

const TOPK: usize = 8;

#[derive(Clone)]
struct FixedAxon;

#[tonic::async_trait]
impl Bittensor for FixedAxon {
    async fn forward(
        &self,
        request: tonic::Request<TensorMessage>,
    ) -> Result<tonic::Response<TensorMessage>, tonic::Status> {
        let req = request.into_inner();
        let mut reply = TensorMessage {
            version: 370,
            return_code: ReturnCode::Success as i32,
            ..Default::default()
        };
        for (t, s) in req.tensors.iter().zip(&req.synapses) {
            let (b, sl) = (
                t.shape.first().copied().unwrap_or(1) as usize,
                t.shape.get(1).copied().unwrap_or(1) as usize,
            );
            let mut row = vec![0.5f32.powi(1); TOPK];
            row.iter_mut()
                .enumerate()
                .for_each(|(k, v)| *v = 0.5f32.powi(k as i32 + 1));
            row.extend((0..TOPK).map(|k| k as f32 + 100.0));
            let data: Vec<f32> = std::iter::repeat_n(row, b * sl).flatten().collect();
            let out = Tensor::from_vec(data, (b, sl, 2 * TOPK), &Device::Cpu).unwrap();
            reply.tensors.push(
                from_candle(&out, Serializer::Msgpack)
                    .map_err(|e| tonic::Status::internal(e.to_string()))?,
            );
            reply.synapses.push(Synapse {
                return_code: ReturnCode::Success as i32,
                ..s.clone()
            });
        }
        Ok(tonic::Response::new(reply))
    }

    async fn backward(
        &self,
        request: tonic::Request<TensorMessage>,
    ) -> Result<tonic::Response<TensorMessage>, tonic::Status> {
        let _ = request;
        Ok(tonic::Response::new(TensorMessage {
            version: 370,
            return_code: ReturnCode::Success as i32,
            ..Default::default()
        }))
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let axons: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(256);
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut servers = Vec::new();
        let mut endpoints = Vec::new();
        for i in 0..axons {
            let listener = Server::bind(([127, 0, 0, 1], 0).into()).await.unwrap();
            let router = neuron_transport::grpc::add_service(axum::Router::new(), BittensorServer::new(FixedAxon));
            let handle = Server::serve(listener, router, ServerConfig::new());
            let kp = Keypair::from_uri(&format!("//Axon{i}")).unwrap();
            endpoints.push(Endpoint::new(i as u64, kp.ss58(), "127.0.0.1", handle.local_addr().port()));
            servers.push(handle);
        }
        let dendrite = TextDendrite::new(Keypair::from_uri("//Bob").unwrap(), Config::new());
        let inputs = Tensor::from_vec((0..32i64).collect::<Vec<_>>(), (2, 16), &Device::Cpu).unwrap();
        let mut samples = Vec::with_capacity(rounds);
        for round in 0..=rounds {
            let start = Instant::now();
            let out = dendrite
                .text_causal_lm(endpoints.clone(), inputs.clone(), Some(TOPK as u32), Some(Duration::from_secs(30)))
                .await
                .unwrap();
            let elapsed = start.elapsed();
            let ok = out.codes.iter().filter(|c| c[0] == ReturnCode::Success).count();
            assert_eq!(ok, axons, "round {round}: {:?}", out.messages.iter().find(|m| m[0] != "Success"));
            if round > 0 {
                samples.push(elapsed); // round 0 warms the connections up
            }
        }
        samples.sort();
        let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
        println!(
            "grpc_fanout: text_causal_lm to {axons} loopback axons, inputs [2, 16], topk {TOPK}: p50 {:?}, p90 {:?} over {rounds} rounds",
            pct(0.5),
            pct(0.9)
        );
        drop(servers);
    });
}
