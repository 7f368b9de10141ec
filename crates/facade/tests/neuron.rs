//! Two whole neurons on loopback: discovery by gossip, calls in the native and HTTP
//! dialects, and the `/metrics` endpoint.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use neuron::examples::{Dummy, dummy};
use neuron::wallet::Keypair;
use neuron::{Neuron, NeuronConfig, protocols};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(bootstrap: Option<std::net::SocketAddr>) -> NeuronConfig {
    let mut c = NeuronConfig::new();
    c.set("axon.port", "0").unwrap();
    c.set("metrics.port", "0").unwrap();
    c.set("metagraph.interval_ms", "30").unwrap();
    c.set("metagraph.ttl_secs", "30").unwrap();
    if let Some(b) = bootstrap {
        c.set("metagraph.bootstrap", &b.to_string()).unwrap();
    }
    c
}

async fn get_metrics(addr: std::net::SocketAddr) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_neurons_find_and_call_each_other() {
    let mut a = Neuron::builder(Keypair::from_uri("//Alice").unwrap(), config(None));
    let _ = a
        .axon()
        .attach::<Dummy, _, _>(|_caller, s| async move { Ok(dummy(s)) });
    let alice = a.start().await.unwrap();
    assert!(alice.protocols().iter().any(|p| p == protocols::NATIVE));

    let bob = Neuron::builder(
        Keypair::from_uri("//Bob").unwrap(),
        config(Some(alice.local_addr())),
    )
    .start()
    .await
    .unwrap();

    // Bob learns of Alice from the bootstrap peer, Alice of Bob from Bob's exchange.
    let start = Instant::now();
    while (bob.peers(8).is_empty() || alice.peers(8).is_empty())
        && start.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let peers = bob.peers(8);
    assert_eq!(peers.len(), 1, "bob knows {peers:?}");
    assert_eq!(peers[0].axon.hotkey, alice.hotkey());
    assert!(peers[0].speaks(protocols::NATIVE) && peers[0].speaks(protocols::HTTP));
    assert_eq!(alice.peers(8)[0].axon.hotkey, bob.hotkey());

    let native = bob
        .call(
            &peers[0].axon,
            Dummy {
                dummy_input: 21,
                dummy_output: None,
            },
            None,
        )
        .await;
    assert!(native.is_success(), "{:?}", native.failure);
    assert_eq!(native.fields().dummy_output, Some(42));
    let http = bob
        .call_http(
            &peers[0].axon,
            Dummy {
                dummy_input: 5,
                dummy_output: None,
            },
            None,
        )
        .await;
    assert_eq!(http.fields().dummy_output, Some(10));
    assert_eq!(alice.counters().ok, 2);

    let text = get_metrics(bob.metrics_addr().unwrap()).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains(
            r#"neuron_dendrite_calls_total{dialect="native",synapse="Dummy",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"neuron_dendrite_calls_total{dialect="http",synapse="Dummy",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("neuron_gossip_known_records 2"), "{text}");
    let text = alice.metrics().encode_text();
    assert!(
        text.contains(r#"neuron_axon_requests_total{outcome="ok"} 2"#),
        "{text}"
    );
    assert!(text.contains("neuron_axon_received_total 2"), "{text}");

    let bob_metrics = bob.metrics_addr().unwrap();
    bob.shutdown(Duration::from_secs(1)).await;
    alice.shutdown(Duration::from_secs(1)).await;
    // The metrics endpoint is gone with the neuron.
    assert!(tokio::net::TcpStream::connect(bob_metrics).await.is_err());
}

#[tokio::test]
async fn missing_keyfile_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = NeuronConfig::new();
    c.set("wallet.path", dir.path().to_str().unwrap()).unwrap();
    c.set("wallet.name", "nobody").unwrap();
    let e = Neuron::from_config(c).unwrap_err().to_string();
    assert!(
        e.contains("nobody") && e.contains("neuron wallet create"),
        "{e}"
    );
}

#[test]
fn the_per_hotkey_rate_limit_comes_from_the_configuration() {
    let mut c = NeuronConfig::new();
    assert_eq!(neuron::axon_config(&c).rate_limit, None);
    c.set("axon.rate_limit", "2.5").unwrap();
    let limit = neuron::axon_config(&c).rate_limit.unwrap();
    assert_eq!((limit.per_second, limit.burst), (2.5, 3));
    c.set("axon.rate_burst", "10").unwrap();
    assert_eq!(neuron::axon_config(&c).rate_limit.unwrap().burst, 10);
    c.set("axon.rate_limit", "0").unwrap();
    assert_eq!(neuron::axon_config(&c).rate_limit, None);
    for (key, bad) in [
        ("axon.rate_limit", "-1"),
        ("axon.rate_limit", "inf"),
        ("axon.rate_limit", "fast"),
        ("axon.rate_burst", "0"),
    ] {
        assert!(c.set(key, bad).is_err(), "{key}={bad}");
    }
}

#[test]
fn the_per_address_connection_limit_comes_from_the_configuration() {
    let mut c = NeuronConfig::new();
    assert_eq!(neuron::axon_config(&c).max_connections_per_ip, Some(1024));
    c.set("axon.max_connections_per_ip", "3").unwrap();
    assert_eq!(neuron::axon_config(&c).max_connections_per_ip, Some(3));
    c.set("axon.max_connections_per_ip", "0").unwrap();
    assert_eq!(neuron::axon_config(&c).max_connections_per_ip, None);
    assert!(c.set("axon.max_connections_per_ip", "many").is_err());
}
