//! The native dialect end to end: `NativeDendrite` against a real axon on 127.0.0.1:0.
#![allow(clippy::unwrap_used, missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use neuron_axon::{Axon, Running, native as axon_native};
use neuron_dendrite::native::{Config as NativeConfig, NativeDendrite};
use neuron_dendrite::{AxonInfo, Config, Dendrite};
use neuron_examples::{Dummy, Hashed};
use neuron_tensor::{Dtype, WireTensor};
use neuron_wallet::Keypair;

fn key(uri: &str) -> Keypair {
    Keypair::from_uri(uri).unwrap()
}

async fn start() -> Running {
    let alice = key("//Alice");
    let config = neuron_axon::Config::new()
        .with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .with_port(0);
    let mut axon = Axon::new(alice.clone(), config);
    let _ = axon.attach::<Dummy, _, _>(|_caller, mut d| async move {
        d.dummy_output = Some(d.dummy_input * 2);
        Ok(d)
    });
    let _ = axon.attach::<Hashed, _, _>(|_caller, mut h| async move {
        h.output = Some(h.text.clone());
        Ok(h)
    });
    let svc = axon_native::Service::new(&axon, alice, axon_native::Config::default())
        .unwrap()
        .with_tensor_route("Echo", |caller, call: axon_native::TensorCall| async move {
            // The body answers with the session's hotkey, the tensors come back as sent.
            Ok(axon_native::TensorReply {
                body: Bytes::from(caller.hotkey),
                tensors: call.tensors,
            })
        })
        .unwrap();
    let router = neuron_transport::grpc::add_service(axon.router(), svc.into_tonic());
    axon.serve_router(router).await.unwrap()
}

fn native_info(running: &Running) -> AxonInfo {
    let mut info = AxonInfo::at(running.local_addr(), running.hotkey());
    info.protocols = Some(vec!["native".to_owned()]);
    info
}

fn client() -> NativeDendrite {
    NativeDendrite::new(
        Dendrite::new(key("//Bob"), Config::new()),
        NativeConfig::default(),
    )
}

#[tokio::test]
async fn dummy_call_over_native_then_http_fallback() {
    let running = start().await;
    let d = client();
    let info = native_info(&running);
    let r = d.call(&info, Dummy::new(21), Duration::from_secs(5)).await;
    assert!(r.is_success(), "{:?} {:?}", r.status_message(), r.failure);
    assert_eq!(r.fields().dummy_output, Some(42));
    assert_eq!(
        r.synapse.dendrite.hotkey.as_deref(),
        Some(d.dendrite().hotkey())
    );
    assert!(r.axon_process_time().is_some());
    assert_eq!(d.connections(), 1);

    // Without "native" in its protocols, the same axon is called over HTTP.
    let http = AxonInfo::at(running.local_addr(), running.hotkey());
    let r = d.call(&http, Dummy::new(5), Duration::from_secs(5)).await;
    assert!(r.is_success(), "{:?}", r.status_message());
    assert_eq!(r.fields().dummy_output, Some(10));
    assert_eq!(d.connections(), 1);
    assert_eq!(running.counters().ok, 2);
}

#[tokio::test]
async fn two_hundred_concurrent_calls_share_one_connection() {
    let running = start().await;
    let d = client();
    let info = native_info(&running);
    let calls = (0..200i64).map(|i| {
        let d = d.clone();
        let info = info.clone();
        async move {
            (
                i,
                d.call(&info, Dummy::new(i), Duration::from_secs(10)).await,
            )
        }
    });
    let results: Vec<_> = futures::stream::iter(calls)
        .buffer_unordered(200)
        .collect()
        .await;
    assert_eq!(results.len(), 200);
    for (i, r) in results {
        assert!(
            r.is_success(),
            "{i}: {:?} {:?}",
            r.status_message(),
            r.failure
        );
        assert_eq!(r.fields().dummy_output, Some(i * 2));
    }
    assert_eq!(d.connections(), 1);
    assert_eq!(running.open_connections(), 1);
    assert_eq!(running.counters().ok, 200);
}

#[tokio::test]
async fn an_axon_with_another_hotkey_is_not_trusted() {
    let running = start().await;
    let d = client();
    // We believe the axon is //Charlie: the axon refuses a handshake addressed elsewhere.
    let mut info = native_info(&running);
    info.hotkey = key("//Charlie").ss58().to_owned();
    let r = d.call(&info, Dummy::new(1), Duration::from_secs(5)).await;
    assert!(!r.is_success());
    assert_eq!(r.status_code(), Some(503));
    assert!(r.failure.is_some());
    assert_eq!(running.counters().requests, 0);
}

#[tokio::test]
async fn unreachable_axon_fails_within_the_deadline() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let d = client();
    let mut info = AxonInfo::at(addr, key("//Alice").ss58());
    info.protocols = Some(vec!["native".to_owned()]);
    let r = d.call(&info, Dummy::new(1), Duration::from_secs(2)).await;
    assert!(!r.is_success());
    assert!(r.failure.is_some());
    assert!(r.timings.total < Duration::from_secs(3));
}

/// 1 KB echo, 64 in flight, native versus HTTP against the same axon (printed, not
/// asserted: a figure for the report, measured as a ratio in the same run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_one_kilobyte_echo() {
    let running = start().await;
    let d = client();
    let native = native_info(&running);
    let http = AxonInfo::at(running.local_addr(), running.hotkey());
    let text = "x".repeat(1024);
    let total = 2000usize;
    let mut rates = Vec::new();
    for info in [&native, &http] {
        // Warm up (handshake, connections).
        let _ = d.call(info, hashed(&text), Duration::from_secs(5)).await;
        let t0 = Instant::now();
        let calls = (0..total).map(|_| {
            let d = d.clone();
            let info = info.clone();
            let h = hashed(&text);
            async move { d.call(&info, h, Duration::from_secs(10)).await }
        });
        let ok = futures::stream::iter(calls)
            .buffer_unordered(64)
            .filter(|r| {
                futures::future::ready(
                    r.is_success() && r.fields().output.as_ref().is_some_and(|o| o.len() == 1024),
                )
            })
            .count()
            .await;
        assert_eq!(ok, total);
        rates.push(total as f64 / t0.elapsed().as_secs_f64());
    }
    println!(
        "1 KB echo, 64 in flight: native {:.0} calls/s, HTTP {:.0} calls/s, ratio {:.2}",
        rates[0],
        rates[1],
        rates[0] / rates[1]
    );
}

fn hashed(text: &str) -> Hashed {
    Hashed {
        text: text.to_owned(),
        numbers: vec![1, 2, 3],
        ratio: 0.5,
        flag: true,
        meta: serde_json::Map::new(),
        output: None,
    }
}

#[tokio::test]
async fn tensor_route_round_trip_with_many_streams_on_one_connection() {
    let running = start().await;
    let d = client();
    let info = native_info(&running);
    let tensor = |i: usize| {
        let data: Vec<u8> = (0..1024 * (i + 1)).map(|b| (b + i) as u8).collect();
        WireTensor {
            dtype: Dtype::U8,
            shape: vec![i + 1, 1024],
            data: data.into(),
        }
    };
    let calls = (0..64usize).map(|i| {
        let d = d.clone();
        let info = info.clone();
        async move {
            let sent = vec![tensor(i), tensor(0)];
            let r = d
                .call_tensors(
                    &info,
                    "Echo",
                    Bytes::new(),
                    sent.clone(),
                    Duration::from_secs(10),
                )
                .await;
            (sent, r)
        }
    });
    let results: Vec<_> = futures::stream::iter(calls)
        .buffer_unordered(64)
        .collect()
        .await;
    for (sent, r) in results {
        assert!(r.is_success(), "{} {:?}", r.status_message, r.failure);
        assert_eq!(r.tensors, sent);
        assert_eq!(&r.body[..], d.dendrite().hotkey().as_bytes());
        assert!(r.timings.is_monotone());
    }
    assert_eq!(d.connections(), 1);
    assert_eq!(running.open_connections(), 1);

    // An unknown route is the axon's 404; an unreachable axon a local 503 in time.
    let r = d
        .call_tensors(
            &info,
            "Nope",
            Bytes::new(),
            Vec::new(),
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(r.status_code, 404);
    assert!(r.failure.is_none());
    running.shutdown(Duration::from_secs(1)).await;
    let start = Instant::now();
    let r = client()
        .call_tensors(
            &info,
            "Echo",
            Bytes::new(),
            vec![tensor(1)],
            Duration::from_secs(2),
        )
        .await;
    assert!(!r.is_success());
    assert!(r.failure.is_some());
    assert!(start.elapsed() < Duration::from_secs(3));
}
