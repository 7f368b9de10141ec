//! Queueing, priorities, blocking handlers and hostile clients.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use neuron_axon::Axon;
use neuron_examples::Dummy;
use neuron_protocol::synapse::Synapse;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use crate::common::*;

/// Test-only synapse: the handler logs `tag`; tag 0 waits for a gate first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Order {
    tag: i64,
}

impl Synapse for Order {
    const NAME: &'static str = "Order";
    const REQUIRED_FIELDS: &'static [(&'static str, &'static str)] = &[("tag", "0")];
}

struct Gate {
    started: Notify,
    release: Notify,
    log: Mutex<Vec<i64>>,
}

fn attach_order(axon: &mut Axon, gate: Arc<Gate>) {
    let _ = axon
        .attach::<Order, _, _>(move |_caller, order: Order| {
            let gate = gate.clone();
            async move {
                if order.tag == 0 {
                    gate.started.notify_one();
                    gate.release.notified().await;
                }
                gate.log.lock().unwrap().push(order.tag);
                Ok(order)
            }
        })
        .priority(|_caller, order| order.tag as f64);
}

fn gate() -> Arc<Gate> {
    Arc::new(Gate {
        started: Notify::new(),
        release: Notify::new(),
        log: Mutex::new(Vec::new()),
    })
}

async fn wait_queued(axon: &neuron_axon::Running, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while axon.queued() < n {
        assert!(Instant::now() < deadline, "requests never queued");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_queue_orders_waiting_work() {
    let g = gate();
    let g2 = g.clone();
    let axon = start(config().with_workers(1), move |a| attach_order(a, g2)).await;
    let addr = axon.local_addr();
    let hotkey = axon.hotkey().to_owned();
    let blocker = {
        let req = Req::signed(&bob(), &hotkey, &Order { tag: 0 });
        tokio::spawn(async move { send(addr, &req).await.status })
    };
    g.started.notified().await;
    let mut waiting = Vec::new();
    for (i, tag) in [1, 9, 5].into_iter().enumerate() {
        let req = Req::signed(&bob(), &hotkey, &Order { tag });
        waiting.push(tokio::spawn(async move { send(addr, &req).await.status }));
        wait_queued(&axon, i + 1).await;
    }
    g.release.notify_one();
    assert_eq!(blocker.await.unwrap(), 200);
    for w in waiting {
        assert_eq!(w.await.unwrap(), 200);
    }
    assert_eq!(*g.log.lock().unwrap(), [0, 9, 5, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_sheds_load_with_503() {
    let g = gate();
    let g2 = g.clone();
    let axon = start(config().with_workers(1).with_queue_capacity(1), move |a| {
        attach_order(a, g2)
    })
    .await;
    let addr = axon.local_addr();
    let hotkey = axon.hotkey().to_owned();
    let req = Req::signed(&bob(), &hotkey, &Order { tag: 0 });
    let blocker = tokio::spawn(async move { send(addr, &req).await.status });
    g.started.notified().await;
    let req = Req::signed(&bob(), &hotkey, &Order { tag: 1 });
    let queued = tokio::spawn(async move { send(addr, &req).await.status });
    wait_queued(&axon, 1).await;
    let resp = send(addr, &Req::signed(&bob(), &hotkey, &Order { tag: 2 })).await;
    assert_eq!(resp.status, 503);
    assert_eq!(resp.header("bt_header_axon_status_code"), Some("503"));
    g.release.notify_one();
    assert_eq!(blocker.await.unwrap(), 200);
    assert_eq!(queued.await.unwrap(), 200);
    assert_eq!(axon.counters().shed, 1);
}

/// Test-only synapse for a blocking handler that sleeps the thread.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Spin {
    ms: i64,
}

impl Synapse for Spin {
    const NAME: &'static str = "Spin";
    const REQUIRED_FIELDS: &'static [(&'static str, &'static str)] = &[("ms", "0")];
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_handlers_do_not_stall_async_ones() {
    let axon = start(config(), |a| {
        attach_examples(a);
        let _ = a.attach_blocking::<Spin, _>(|_caller, s: Spin| {
            std::thread::sleep(Duration::from_millis(u64::try_from(s.ms).unwrap_or(0)));
            Ok(s)
        });
    })
    .await;
    let addr = axon.local_addr();
    let hotkey = axon.hotkey().to_owned();
    let mut spinners = Vec::new();
    for _ in 0..4 {
        let req = Req::signed(&bob(), &hotkey, &Spin { ms: 2000 });
        spinners.push(tokio::spawn(async move { send(addr, &req).await.status }));
    }
    // Give the spinners a head start so they occupy the blocking pool.
    while axon.running() < 4 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let started = Instant::now();
    let resp = send(addr, &Req::signed(&bob(), &hotkey, &Dummy::new(2))).await;
    assert_eq!(resp.status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    for s in spinners {
        assert_eq!(s.await.unwrap(), 200);
    }
}

/// Request head bytes of a signed Dummy request with the given content-length.
fn raw_head(req: &Req, content_length: usize) -> Vec<u8> {
    let mut head = format!("{} {} HTTP/1.1\r\nhost: x\r\n", req.method, req.path);
    for (k, v) in &req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {content_length}\r\n\r\n"));
    head.into_bytes()
}

#[tokio::test]
async fn slow_body_dribble_is_cut_off() {
    let axon = start(
        config().with_body_read_timeout(Duration::from_millis(300)),
        attach_examples,
    )
    .await;
    let req = Req::signed(&bob(), axon.hotkey(), &Dummy::new(1));
    let mut stream = tokio::net::TcpStream::connect(axon.local_addr())
        .await
        .unwrap();
    stream
        .write_all(&raw_head(&req, req.body.len() + 100))
        .await
        .unwrap();
    stream.write_all(&req.body[..5]).await.unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_flood_does_not_stop_service() {
    let config = config()
        .with_max_connections(32)
        .with_header_read_timeout(Duration::from_millis(500));
    let axon = start(config, attach_examples).await;
    let addr = axon.local_addr();
    // 32 connections that start a request head and never finish it.
    let mut idle = Vec::new();
    for _ in 0..32 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /Dummy HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        idle.push(s);
    }
    let started = Instant::now();
    let req = Req::signed(&bob(), axon.hotkey(), &Dummy::new(3));
    let resp = tokio::time::timeout(Duration::from_secs(10), send(addr, &req))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let config = config().with_max_connections_per_ip(Some(4));
    let axon = start(config, attach_examples).await;
    let addr = axon.local_addr();
    // Four idle connections from 127.0.0.1 fill that address's share.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    while axon.open_connections() < 4 {
        tokio::task::yield_now().await;
    }
    // A fifth from the same address is closed on accept without an answer.
    let mut fifth = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = fifth
        .write_all(b"POST /Dummy HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        .await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), fifth.read_to_end(&mut buf))
        .await
        .unwrap();
    assert!(buf.is_empty(), "{}", String::from_utf8_lossy(&buf));
    assert_eq!(axon.refused_connections(), 1);
    // Once one closes, a signed request from that address is served again.
    drop(idle.pop());
    while axon.open_connections() > 3 {
        tokio::task::yield_now().await;
    }
    let req = Req::signed(&bob(), axon.hotkey(), &Dummy::new(3));
    let resp = tokio::time::timeout(Duration::from_secs(10), send(addr, &req))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    drop(idle);
}
