//! The service's Prometheus metrics after real calls.

use neuron_axon::grpc::{ReturnCode, SynapseSpec};
use prometheus_client::registry::Registry;

use crate::common::*;

/// The value of the exposition line that starts with `series ` (exactly).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn exposition_counts_calls_codes_bytes_and_latency() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    let inputs = tokens(&[&[1, 2]]);
    // Two forwards: 2 + 1 synapses, one of them NotImplemented (a null synapse).
    let mut message = forward_message(
        &signer,
        &inputs,
        &[SynapseSpec::causal_lm(2), SynapseSpec::last_hidden_state()],
    );
    message.synapses[1] = null_synapse();
    forward(&node, &signer, message).await.unwrap();
    let message = forward_message(&signer, &inputs, &[SynapseSpec::causal_lm(2)]);
    forward(&node, &signer, message).await.unwrap();
    // One refused call (Eve is blacklisted).
    let eve = Signer::new(eve());
    let message = forward_message(&eve, &inputs, &[SynapseSpec::causal_lm(2)]);
    assert!(forward(&node, &eve, message).await.is_err());

    let mut registry = Registry::default();
    node.stats
        .register(registry.sub_registry_with_prefix("neuron_grpc"));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();

    assert_eq!(
        value(&text, "neuron_grpc_axon_calls_total{rpc=\"forward\"}"),
        2.0
    );
    assert_eq!(value(&text, "neuron_grpc_axon_unauthenticated_total"), 1.0);
    assert_eq!(
        value(&text, "neuron_grpc_axon_codes_total{code=\"Success\"}"),
        2.0
    );
    assert_eq!(
        value(
            &text,
            "neuron_grpc_axon_codes_total{code=\"NotImplemented\"}"
        ),
        1.0
    );
    assert!(
        !text.contains("code=\"Timeout\""),
        "unseen codes are not listed"
    );
    assert_eq!(value(&text, "neuron_grpc_axon_failures_total"), 1.0);
    assert_eq!(
        value(
            &text,
            "neuron_grpc_axon_latency_seconds_count{rpc=\"forward\"}"
        ),
        2.0
    );
    assert!(
        value(
            &text,
            "neuron_grpc_axon_latency_seconds_sum{rpc=\"forward\"}"
        ) > 0.0
    );
    assert_eq!(
        value(
            &text,
            "neuron_grpc_axon_latency_seconds_bucket{le=\"12.0\",rpc=\"forward\"}"
        ),
        2.0
    );
    let snapshot = node.stats.snapshot();
    assert_eq!(
        value(&text, "neuron_grpc_axon_bytes_in_total"),
        snapshot.bytes_in as f64
    );
    assert!(snapshot.bytes_out > 0);
    assert_eq!(
        value(&text, "neuron_grpc_axon_bytes_out_total"),
        snapshot.bytes_out as f64
    );
    assert_eq!(snapshot.code(ReturnCode::Success), 2);
    assert_eq!(snapshot.synapses, 3);
    // The stand-alone exposition has the same families, unprefixed.
    assert!(
        node.stats
            .encode_text()
            .contains("axon_calls_total{rpc=\"forward\"} 2")
    );
}
