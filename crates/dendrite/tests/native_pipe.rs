//! `NativeDendrite` over the pipelined path (`Pipe`): many calls on one stream matched by
//! id, per-call deadlines, a dying axon, the in-flight bounds, and the unary fallback.
#![allow(clippy::unwrap_used, missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use neuron_axon::{Axon, Running, native as axon_native};
use neuron_dendrite::native::{Config as NativeConfig, NativeDendrite};
use neuron_dendrite::{AxonInfo, Config, Dendrite};
use neuron_examples::Dummy;
use neuron_wallet::Keypair;
use tokio::sync::mpsc;

fn key(uri: &str) -> Keypair {
    Keypair::from_uri(uri).unwrap()
}

/// An axon as //Alice serving Dummy (output = 2 × input) and the tensor route `Slow`: it
/// reports its start on `started`, sleeps the milliseconds its body names (`ms:tag`) and
/// answers the body.
async fn start(config: axon_native::Config, started: Option<mpsc::Sender<()>>) -> Running {
    let alice = key("//Alice");
    let axon_config = neuron_axon::Config::new()
        .with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .with_port(0);
    let mut axon = Axon::new(alice.clone(), axon_config);
    let _ = axon.attach::<Dummy, _, _>(|_caller, mut d| async move {
        d.dummy_output = Some(d.dummy_input * 2);
        Ok(d)
    });
    let svc = axon_native::Service::new(&axon, alice, config)
        .unwrap()
        .with_tensor_route("Slow", move |_caller, call: axon_native::TensorCall| {
            let started = started.clone();
            async move {
                if let Some(s) = started {
                    let _ = s.try_send(());
                }
                let ms: u64 = std::str::from_utf8(&call.body)
                    .ok()
                    .and_then(|s| s.split(':').next()?.parse().ok())
                    .unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(axon_native::TensorReply {
                    body: call.body,
                    tensors: Vec::new(),
                })
            }
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

fn client(config: NativeConfig) -> NativeDendrite {
    NativeDendrite::new(Dendrite::new(key("//Bob"), Config::new()), config)
}

async fn slow(
    d: &NativeDendrite,
    info: &AxonInfo,
    ms: u64,
    tag: u64,
    timeout: Duration,
) -> (u16, Bytes) {
    let r = d
        .call_tensors(
            info,
            "Slow",
            Bytes::from(format!("{ms}:{tag}")),
            Vec::new(),
            timeout,
        )
        .await;
    (r.status_code, r.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_on_one_pipe_get_their_own_answers() {
    let running = start(axon_native::Config::default(), None).await;
    let d = client(NativeConfig::default());
    let info = native_info(&running);
    let calls = (0..1000i64).map(|i| {
        let (d, info) = (d.clone(), info.clone());
        async move {
            (
                i,
                d.call(&info, Dummy::new(i), Duration::from_secs(30)).await,
            )
        }
    });
    let results: Vec<_> = futures::stream::iter(calls)
        .buffer_unordered(1000)
        .collect()
        .await;
    assert_eq!(results.len(), 1000);
    for (i, r) in results {
        assert!(
            r.is_success(),
            "{i}: {:?} {:?}",
            r.status_message(),
            r.failure
        );
        assert_eq!(r.fields().dummy_output, Some(2 * i));
        assert!(r.axon_process_time().is_some());
    }
    // Tensor-route calls share the same pipe; distinct bodies come back to their callers.
    let calls = (0..200u64).map(|i| {
        let (d, info) = (d.clone(), info.clone());
        async move { (i, slow(&d, &info, i % 7, i, Duration::from_secs(30)).await) }
    });
    let results: Vec<_> = futures::stream::iter(calls)
        .buffer_unordered(200)
        .collect()
        .await;
    for (i, (code, body)) in results {
        assert_eq!(code, 200);
        assert_eq!(body, Bytes::from(format!("{}:{i}", i % 7)));
    }
    assert_eq!(d.connections(), 1);
    assert_eq!(d.pipes(), 1);
    assert_eq!(running.open_connections(), 1);
    assert_eq!(running.counters().ok, 1200);
}

#[tokio::test]
async fn a_slow_call_times_out_while_the_pipe_serves_others() {
    let running = start(axon_native::Config::default(), None).await;
    let d = client(NativeConfig::default());
    let info = native_info(&running);
    let slow_call = {
        let (d, info) = (d.clone(), info.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            let r = d
                .call_tensors(
                    &info,
                    "Slow",
                    Bytes::from_static(b"10000:0"),
                    Vec::new(),
                    Duration::from_millis(300),
                )
                .await;
            (r, start.elapsed())
        })
    };
    let calls = (0..100i64).map(|i| {
        let (d, info) = (d.clone(), info.clone());
        async move {
            (
                i,
                d.call(&info, Dummy::new(i), Duration::from_secs(10)).await,
            )
        }
    });
    let results: Vec<_> = futures::stream::iter(calls)
        .buffer_unordered(20)
        .collect()
        .await;
    for (i, r) in results {
        assert!(r.is_success(), "{i}: {:?}", r.failure);
        assert_eq!(r.fields().dummy_output, Some(2 * i));
    }
    let (r, took) = slow_call.await.unwrap();
    assert_eq!(r.status_code, 408, "{}", r.status_message);
    assert!(r.failure.is_some() || r.status_message.contains("timed out"));
    assert!(took < Duration::from_secs(2), "{took:?}");
    // Same for a synapse call: the 408 of the timed-out call, the pipe still open.
    let r = d.call(&info, Dummy::new(4), Duration::from_secs(5)).await;
    assert_eq!(r.fields().dummy_output, Some(8));
    assert_eq!(d.pipes(), 1);
}

/// Runs an axon on its own runtime; dropping that runtime kills it as a process exit would
/// (its sockets close, nothing answers).
fn start_killable(
    started: mpsc::Sender<()>,
) -> (
    AxonInfo,
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let (info_tx, info_rx) = std::sync::mpsc::channel();
    let (kill, killed) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let running = start(axon_native::Config::default(), Some(started)).await;
            info_tx.send(native_info(&running)).unwrap();
            let _ = killed.await;
        });
        drop(rt);
    });
    (info_rx.recv().unwrap(), kill, thread)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dying_axon_fails_pending_calls_promptly_and_a_new_one_works() {
    let (started_tx, mut started) = mpsc::channel(16);
    let (info, kill, thread) = start_killable(started_tx);
    let d = client(NativeConfig::default());
    let pending: Vec<_> = (0..5)
        .map(|i| {
            let (d, info) = (d.clone(), info.clone());
            tokio::spawn(async move {
                let r = d
                    .call_tensors(
                        &info,
                        "Slow",
                        Bytes::from(format!("20000:{i}")),
                        Vec::new(),
                        Duration::from_secs(30),
                    )
                    .await;
                (r.status_code, r.failure.is_some())
            })
        })
        .collect();
    for _ in 0..5 {
        started.recv().await.unwrap();
    }
    assert_eq!(d.pipes(), 1);
    kill.send(()).unwrap();
    let killed_at = Instant::now();
    for p in pending {
        let (code, failed) = p.await.unwrap();
        assert_eq!((code, failed), (503, true));
    }
    assert!(
        killed_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        killed_at.elapsed()
    );
    tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap();
    assert_eq!(d.pipes(), 0, "the broken pipe is not reused");

    // The dead axon fails (503 when the reconnect is refused at once, 408 when the
    // channel's reconnect outlasts the deadline, as on unary calls); a new axon (new
    // session, new pipe) works.
    let r = d.call(&info, Dummy::new(1), Duration::from_secs(2)).await;
    assert!(!r.is_success());
    assert!(
        matches!(r.status_code(), Some(503 | 408)),
        "{:?}",
        r.status_code()
    );
    assert!(r.failure.is_some());
    let running = start(axon_native::Config::default(), None).await;
    let fresh = native_info(&running);
    let r = d.call(&fresh, Dummy::new(3), Duration::from_secs(5)).await;
    assert!(r.is_success(), "{:?}", r.failure);
    assert_eq!(r.fields().dummy_output, Some(6));
    assert_eq!(d.pipes(), 1);
}

#[tokio::test]
async fn an_axon_without_pipes_is_called_with_unary_calls() {
    let config = axon_native::Config {
        serve_pipe: false,
        ..axon_native::Config::default()
    };
    let running = start(config, None).await;
    let d = client(NativeConfig::default());
    let info = native_info(&running);
    let calls = (0..50i64).map(|i| {
        let (d, info) = (d.clone(), info.clone());
        async move {
            (
                i,
                d.call(&info, Dummy::new(i), Duration::from_secs(10)).await,
            )
        }
    });
    let results: Vec<_> = futures::stream::iter(calls)
        .buffer_unordered(50)
        .collect()
        .await;
    for (i, r) in results {
        assert!(r.is_success(), "{i}: {:?}", r.failure);
        assert_eq!(r.fields().dummy_output, Some(2 * i));
    }
    assert_eq!(d.pipes(), 0);
    assert_eq!(running.counters().ok, 50);
}

#[tokio::test]
async fn the_unary_path_stays_available() {
    let running = start(axon_native::Config::default(), None).await;
    let d = client(NativeConfig {
        pipeline: false,
        ..NativeConfig::default()
    });
    let info = native_info(&running);
    let r = d.call(&info, Dummy::new(21), Duration::from_secs(5)).await;
    assert_eq!(r.fields().dummy_output, Some(42));
    let (code, body) = slow(&d, &info, 1, 9, Duration::from_secs(5)).await;
    assert_eq!((code, &body[..]), (200, &b"1:9"[..]));
    assert_eq!(d.pipes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_calls_than_both_bounds_all_complete() {
    let axon_config = axon_native::Config {
        max_pipe_calls: 4,
        pipe_reply_buffer: 1,
        ..axon_native::Config::default()
    };
    let running = start(axon_config, None).await;
    let d = client(NativeConfig {
        max_pipe_calls: 8,
        ..NativeConfig::default()
    });
    let info = native_info(&running);
    let calls = (0..300u64).map(|i| {
        let (d, info) = (d.clone(), info.clone());
        async move { (i, slow(&d, &info, 2, i, Duration::from_secs(30)).await) }
    });
    let results: Vec<_> = futures::stream::iter(calls)
        .buffer_unordered(300)
        .collect()
        .await;
    assert_eq!(results.len(), 300);
    for (i, (code, body)) in results {
        assert_eq!(code, 200);
        assert_eq!(body, Bytes::from(format!("2:{i}")));
    }
    assert_eq!(d.pipes(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_go_on_across_session_expiry() {
    let axon_config = axon_native::Config {
        session_ttl: Duration::from_millis(300),
        ..axon_native::Config::default()
    };
    let running = start(axon_config, None).await;
    // No renewal margin: the axon ends the pipe with its session, and the calls caught by
    // that handshake again on a new pipe.
    let d = client(NativeConfig {
        renew_margin: Duration::ZERO,
        ..NativeConfig::default()
    });
    let info = native_info(&running);
    let until = Instant::now() + Duration::from_millis(1000);
    let mut n = 0i64;
    while Instant::now() < until {
        let calls = (0..16i64).map(|i| {
            let (d, info) = (d.clone(), info.clone());
            async move {
                (
                    n + i,
                    d.call(&info, Dummy::new(n + i), Duration::from_secs(5))
                        .await,
                )
            }
        });
        let results: Vec<_> = futures::stream::iter(calls)
            .buffer_unordered(16)
            .collect()
            .await;
        for (i, r) in results {
            assert!(r.is_success(), "{i}: {:?}", r.failure);
            assert_eq!(r.fields().dummy_output, Some(2 * i));
        }
        n += 16;
    }
    assert!(n >= 16);
    assert_eq!(d.pipes(), 1);
}
