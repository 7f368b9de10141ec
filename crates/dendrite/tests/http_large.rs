//! The HTTP dialect with a large body, end to end: the axon builds the reply JSON and the reply body
//! hash on two threads from 256 KiB of request body on; the answer must be the same.
#![allow(clippy::unwrap_used, missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use neuron_axon::{Axon, Config, HandlerError};
use neuron_dendrite::{AxonInfo, Dendrite};
use neuron_examples::TensorEcho;
use neuron_tensor::bt::BtTensor;
use neuron_tensor::{Dtype, Limits, WireTensor};
use neuron_wallet::Keypair;

fn echo_request(elements: usize) -> (TensorEcho, Vec<f32>) {
    let values: Vec<f32> = (0..elements).map(|i| i as f32 * 0.25).collect();
    let wire = WireTensor {
        dtype: Dtype::F32,
        shape: vec![elements],
        data: values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
            .into(),
    };
    let request = TensorEcho {
        tensor: Some(BtTensor::from_wire(&wire).unwrap()),
        scale: 2.0,
    };
    (request, values)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_and_large_tensor_echoes_answer_the_same_way() {
    let alice = Keypair::from_uri("//Alice").unwrap();
    let config = Config::new()
        .with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .with_port(0);
    let mut axon = Axon::new(alice, config);
    let _ = axon.attach_blocking::<TensorEcho, _>(|_caller, s| {
        neuron_examples::tensor_echo(s).map_err(|e| HandlerError::new(e.to_string()))
    });
    let running = axon.serve().await.unwrap();
    let target = AxonInfo::at(running.local_addr(), running.hotkey());
    let dendrite = Dendrite::new(
        Keypair::from_uri("//Bob").unwrap(),
        neuron_dendrite::Config::new(),
    );
    // 16 elements (tiny body) and 256 Ki elements (1 MiB, ~1.4 MB of base64 JSON).
    for elements in [16, 256 * 1024] {
        let (request, values) = echo_request(elements);
        let r = dendrite
            .call(&target, request, Duration::from_secs(30))
            .await;
        assert!(r.is_success(), "{elements}: {:?}", r.status_message());
        let wire = r
            .fields()
            .tensor
            .as_ref()
            .unwrap()
            .to_wire(&Limits::default())
            .unwrap();
        assert_eq!(wire.shape, vec![elements]);
        let doubled: Vec<f32> = wire
            .data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert!(doubled.iter().zip(&values).all(|(d, v)| *d == v * 2.0));
        assert_eq!(r.synapse.axon.status_code, Some(200));
    }
    assert_eq!(running.counters().ok, 2);
    running.shutdown(Duration::from_secs(1)).await;
}
