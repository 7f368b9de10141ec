//! The native dialect's `Pipe`, driven by the raw generated client: the session check at
//! open, per-call checks on the pipe, answers matched by `call_id`, the in-flight bound,
//! session expiry, closing, and an axon that does not serve pipes.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use neuron_axon::native::proto::native_client::NativeClient;
use neuron_axon::native::proto::{CallRequest, CallResponse, HandshakeRequest};
use neuron_axon::native::{self, TensorCall, TensorReply, hello_message};
use neuron_axon::{Axon, Config, Running};
use neuron_examples::Dummy;
use neuron_protocol::synapse::SynapseMessage;
use neuron_wallet::Keypair;
use tokio::sync::mpsc;
use tonic::transport::Channel;

fn key(uri: &str) -> Keypair {
    Keypair::from_uri(uri).unwrap()
}

/// Calls of the `Slow` route running now, and the most seen at once.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

/// An axon as //Alice serving Dummy (output = 2 × input, //Eve blacklisted) and the tensor
/// route `Slow` (sleeps the milliseconds its body names, answers the body), on 127.0.0.1:0.
async fn start(config: native::Config) -> (Running, native::Service, Arc<Gauge>) {
    let alice = key("//Alice");
    let eve = key("//Eve").ss58().to_owned();
    let axon_config = Config::new()
        .with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .with_port(0);
    let mut axon = Axon::new(alice.clone(), axon_config);
    let _ = axon
        .attach::<Dummy, _, _>(|_caller, mut d| async move {
            d.dummy_output = Some(d.dummy_input * 2);
            Ok(d)
        })
        .blacklist(move |caller| {
            if caller.hotkey == eve {
                Err("eve".to_owned())
            } else {
                Ok(())
            }
        });
    let gauge = Arc::new(Gauge::default());
    let g = gauge.clone();
    let svc = native::Service::new(&axon, alice, config)
        .unwrap()
        .with_tensor_route("Slow", move |_caller, call: TensorCall| {
            let g = g.clone();
            async move {
                let now = g.now.fetch_add(1, Ordering::SeqCst) + 1;
                g.max.fetch_max(now, Ordering::SeqCst);
                let ms: u64 = std::str::from_utf8(&call.body)
                    .ok()
                    .and_then(|s| s.split(':').next()?.parse().ok())
                    .unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                g.now.fetch_sub(1, Ordering::SeqCst);
                Ok(TensorReply {
                    body: call.body,
                    tensors: Vec::new(),
                })
            }
        })
        .unwrap();
    let router = neuron_transport::grpc::add_service(axon.router(), svc.clone().into_tonic());
    (axon.serve_router(router).await.unwrap(), svc, gauge)
}

async fn client(running: &Running) -> NativeClient<Channel> {
    NativeClient::connect(format!("http://{}", running.local_addr()))
        .await
        .unwrap()
}

async fn session(c: &mut NativeClient<Channel>, running: &Running, who: &Keypair) -> Bytes {
    let nonce: [u8; 32] = rand::random();
    let ts = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap();
    let hello = hello_message(who.ss58(), running.hotkey(), ts, &nonce, "uuid-pipe");
    let req = HandshakeRequest {
        client_hotkey: who.ss58().to_owned(),
        axon_hotkey: running.hotkey().to_owned(),
        client_nonce: Bytes::copy_from_slice(&nonce),
        timestamp_ns: ts,
        client_uuid: "uuid-pipe".to_owned(),
        signature: Bytes::copy_from_slice(&who.sign(hello.as_bytes()).0),
    };
    c.handshake(req).await.unwrap().into_inner().session_id
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn dummy(call_id: u64, input: i64) -> CallRequest {
    CallRequest {
        session_id: Bytes::new(),
        synapse: "Dummy".to_owned(),
        timeout: 5.0,
        body: Bytes::from(
            SynapseMessage::new(Dummy::new(input))
                .to_json_vec()
                .unwrap(),
        ),
        tensors: Vec::new(),
        call_id,
    }
}

fn slow(call_id: u64, ms: u64, timeout: f64) -> CallRequest {
    CallRequest {
        session_id: Bytes::new(),
        synapse: "Slow".to_owned(),
        timeout,
        body: Bytes::from(format!("{ms}:{call_id}")),
        tensors: Vec::new(),
        call_id,
    }
}

/// A pipe opened with the session in the metadata: the request sender and the answers.
async fn open(
    c: &mut NativeClient<Channel>,
    session: Option<&Bytes>,
) -> Result<(mpsc::Sender<CallRequest>, tonic::Streaming<CallResponse>), tonic::Status> {
    let (tx, rx) = mpsc::channel(16);
    let mut request = tonic::Request::new(outgoing(rx));
    if let Some(s) = session {
        request
            .metadata_mut()
            .insert(native::SESSION_METADATA, hex(s).parse().unwrap());
    }
    let replies = c.pipe(request).await?.into_inner();
    Ok((tx, replies))
}

/// The requests of a pipe, as the client sends them.
fn outgoing(
    rx: mpsc::Receiver<CallRequest>,
) -> impl futures::Stream<Item = CallRequest> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) })
}

fn dummy_output(reply: &CallResponse) -> Option<i64> {
    let m: SynapseMessage<Dummy> = serde_json::from_slice(&reply.body).ok()?;
    m.fields.dummy_output
}

#[tokio::test]
async fn calls_on_one_pipe_are_answered_by_call_id() {
    let (running, _svc, _) = start(native::Config::default()).await;
    let mut c = client(&running).await;
    let s = session(&mut c, &running, &key("//Bob")).await;
    let (tx, mut replies) = open(&mut c, Some(&s)).await.unwrap();
    // Slow calls first, fast ones after: the fast ones are answered before the slow ones.
    tx.send(slow(1000, 200, 5.0)).await.unwrap();
    let sender = tokio::spawn(async move {
        for i in 1..=300u64 {
            tx.send(dummy(i, i64::try_from(i).unwrap())).await.unwrap();
        }
        tx // kept open until the answers are read
    });
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    while seen.len() < 301 {
        let r = replies.message().await.unwrap().unwrap();
        assert_eq!(r.status_code, 200, "{}", r.status_message);
        if r.call_id == 1000 {
            assert_eq!(&r.body[..], b"200:1000");
        } else {
            assert_eq!(
                dummy_output(&r),
                Some(2 * i64::try_from(r.call_id).unwrap())
            );
        }
        assert!(seen.insert(r.call_id), "answered twice: {}", r.call_id);
        order.push(r.call_id);
    }
    assert_ne!(order[0], 1000, "answers are not held behind a slow call");
    // The client closing its side ends the pipe cleanly.
    drop(sender.await.unwrap());
    assert!(replies.message().await.unwrap().is_none());
    assert_eq!(running.counters().ok, 301);
}

#[tokio::test]
async fn a_pipe_without_a_valid_session_is_refused() {
    let (running, _svc, _) = start(native::Config::default()).await;
    let mut c = client(&running).await;
    // No session anywhere: the first message names none.
    let (tx, rx) = mpsc::channel(1);
    tx.send(dummy(1, 1)).await.unwrap();
    let err = c.pipe(outgoing(rx)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    // An unknown session in the metadata.
    let err = open(&mut c, Some(&Bytes::from(vec![7u8; 32])))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    // An unknown session in the first message.
    let (tx, rx) = mpsc::channel(1);
    let mut first = dummy(1, 1);
    first.session_id = Bytes::from(vec![9u8; 32]);
    tx.send(first).await.unwrap();
    let err = c.pipe(outgoing(rx)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(running.counters().requests, 0);

    // A valid session in the first message opens the pipe; that message is a call.
    let s = session(&mut c, &running, &key("//Bob")).await;
    let (tx, rx) = mpsc::channel(4);
    let mut first = dummy(1, 4);
    first.session_id = s.clone();
    tx.send(first).await.unwrap();
    let mut replies = c.pipe(outgoing(rx)).await.unwrap().into_inner();
    let r = replies.message().await.unwrap().unwrap();
    assert_eq!(
        (r.call_id, r.status_code, dummy_output(&r)),
        (1, 200, Some(8))
    );
    // A later message naming another session is refused alone; the pipe goes on.
    let mut foreign = dummy(2, 5);
    foreign.session_id = Bytes::from(vec![1u8; 32]);
    tx.send(foreign).await.unwrap();
    let r = replies.message().await.unwrap().unwrap();
    assert_eq!((r.call_id, r.status_code), (2, 401));
    let mut same = dummy(3, 6);
    same.session_id = s;
    tx.send(same).await.unwrap();
    let r = replies.message().await.unwrap().unwrap();
    assert_eq!(
        (r.call_id, r.status_code, dummy_output(&r)),
        (3, 200, Some(12))
    );
}

#[tokio::test]
async fn the_blacklist_applies_to_every_call_on_the_pipe() {
    let (running, _svc, _) = start(native::Config::default()).await;
    let mut c = client(&running).await;
    let eve = session(&mut c, &running, &key("//Eve")).await;
    let (tx, mut replies) = open(&mut c, Some(&eve)).await.unwrap();
    for i in 1..=3 {
        tx.send(dummy(i, 1)).await.unwrap();
    }
    for _ in 0..3 {
        let r = replies.message().await.unwrap().unwrap();
        assert_eq!(r.status_code, 403, "{}", r.status_message);
        assert!(r.body.is_empty());
    }
    assert_eq!(running.counters().blacklisted, 3);
    // The same axon serves Bob's pipe.
    let bob = session(&mut c, &running, &key("//Bob")).await;
    let (tx, mut replies) = open(&mut c, Some(&bob)).await.unwrap();
    tx.send(dummy(9, 3)).await.unwrap();
    let r = replies.message().await.unwrap().unwrap();
    assert_eq!(
        (r.call_id, r.status_code, dummy_output(&r)),
        (9, 200, Some(6))
    );
}

#[tokio::test]
async fn a_slow_call_times_out_while_the_others_go_on() {
    let (running, _svc, _) = start(native::Config::default()).await;
    let mut c = client(&running).await;
    let s = session(&mut c, &running, &key("//Bob")).await;
    let (tx, mut replies) = open(&mut c, Some(&s)).await.unwrap();
    tx.send(slow(1, 10_000, 0.3)).await.unwrap();
    for i in 2..=51 {
        tx.send(dummy(i, 1)).await.unwrap();
    }
    let mut timed_out = false;
    for n in 0..51 {
        let r = replies.message().await.unwrap().unwrap();
        if r.call_id == 1 {
            assert_eq!(r.status_code, 408, "{}", r.status_message);
            assert_eq!(n, 50, "the slow call is answered last");
            timed_out = true;
        } else {
            assert_eq!(r.status_code, 200);
        }
    }
    assert!(timed_out);
    assert_eq!(running.counters().timeouts, 1);
}

#[tokio::test]
async fn the_in_flight_bound_holds_and_every_call_completes() {
    let config = native::Config {
        max_pipe_calls: 4,
        pipe_reply_buffer: 2,
        ..native::Config::default()
    };
    let (running, _svc, gauge) = start(config).await;
    let mut c = client(&running).await;
    let s = session(&mut c, &running, &key("//Bob")).await;
    let (tx, mut replies) = open(&mut c, Some(&s)).await.unwrap();
    let sender = tokio::spawn(async move {
        for i in 1..=100 {
            tx.send(slow(i, 5, 10.0)).await.unwrap();
        }
        tx
    });
    let mut seen = HashSet::new();
    while seen.len() < 100 {
        let r = replies.message().await.unwrap().unwrap();
        assert_eq!(r.status_code, 200, "{}", r.status_message);
        assert_eq!(r.body, Bytes::from(format!("5:{}", r.call_id)));
        assert!(seen.insert(r.call_id));
    }
    drop(sender.await.unwrap());
    let max = gauge.max.load(Ordering::SeqCst);
    assert!(
        (2..=4).contains(&max),
        "at most 4 calls ran at once, saw {max}"
    );
}

#[tokio::test]
async fn the_pipe_ends_with_its_session() {
    let config = native::Config {
        session_ttl: Duration::from_millis(400),
        ..native::Config::default()
    };
    let (running, _svc, _) = start(config).await;
    let mut c = client(&running).await;
    let s = session(&mut c, &running, &key("//Bob")).await;
    let (tx, mut replies) = open(&mut c, Some(&s)).await.unwrap();
    tx.send(dummy(1, 1)).await.unwrap();
    assert_eq!(replies.message().await.unwrap().unwrap().status_code, 200);
    let started = std::time::Instant::now();
    let err = replies.message().await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn closing_pipes_answers_running_calls_then_ends() {
    let (running, svc, _) = start(native::Config::default()).await;
    let mut c = client(&running).await;
    let s = session(&mut c, &running, &key("//Bob")).await;
    let (tx, mut replies) = open(&mut c, Some(&s)).await.unwrap();
    tx.send(slow(1, 300, 5.0)).await.unwrap();
    // Wait until the call runs, then close.
    while running.running() == 0 {
        tokio::task::yield_now().await;
    }
    svc.close_pipes();
    let r = replies.message().await.unwrap().unwrap();
    assert_eq!((r.call_id, r.status_code), (1, 200));
    assert!(replies.message().await.unwrap().is_none());
    // New pipes are refused; unary calls still work.
    assert_eq!(
        open(&mut c, Some(&s)).await.unwrap_err().code(),
        tonic::Code::Unavailable
    );
    let mut unary = dummy(0, 2);
    unary.session_id = s;
    let r = c.call(unary).await.unwrap().into_inner();
    assert_eq!(
        (r.status_code, r.call_id, dummy_output(&r)),
        (200, 0, Some(4))
    );
    drop(tx);
    running.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn an_axon_can_decline_pipes() {
    let config = native::Config {
        serve_pipe: false,
        ..native::Config::default()
    };
    let (running, _svc, _) = start(config).await;
    let mut c = client(&running).await;
    let s = session(&mut c, &running, &key("//Bob")).await;
    let err = open(&mut c, Some(&s)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
}

#[tokio::test]
async fn shutdown_ends_open_pipes_after_their_running_calls() {
    let (running, _svc, _) = start(native::Config::default()).await;
    let mut c = client(&running).await;
    let s = session(&mut c, &running, &key("//Bob")).await;
    let (tx, mut replies) = open(&mut c, Some(&s)).await.unwrap();
    tx.send(slow(1, 300, 5.0)).await.unwrap();
    while running.running() == 0 {
        tokio::task::yield_now().await;
    }
    // The pipe stays open on the client side (`tx` is alive): shutdown must end it itself
    // instead of waiting the whole grace period for the stream.
    let grace = Duration::from_secs(10);
    let started = std::time::Instant::now();
    let shutdown = tokio::spawn(running.shutdown(grace));
    let r = replies.message().await.unwrap().unwrap();
    assert_eq!((r.call_id, r.status_code), (1, 200));
    // A call sent after the shutdown began is not answered: the pipe ends.
    let _ = tx.send(dummy(2, 3)).await;
    assert!(replies.message().await.map_or(true, |m| m.is_none()));
    shutdown.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown waited {:?} for an open pipe",
        started.elapsed()
    );
}

/// Two callers meeting inside a handler: each blocks its thread until both are in, or
/// gives up after five seconds.
#[derive(Default)]
struct Meeting {
    inside: std::sync::Mutex<usize>,
    arrived: std::sync::Condvar,
}

impl Meeting {
    fn meet(&self) -> bool {
        let mut inside = self.inside.lock().unwrap();
        *inside += 1;
        self.arrived.notify_all();
        let (inside, timeout) = self
            .arrived
            .wait_timeout_while(inside, Duration::from_secs(5), |n| *n < 2)
            .unwrap();
        drop(inside);
        !timeout.timed_out()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_of_one_pipe_run_at_the_same_time_on_different_threads() {
    // An async handler that holds its thread (as one that computes would): the two calls
    // can only meet if the pipe runs them on two threads at once.
    let alice = key("//Alice");
    let axon_config = Config::new()
        .with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .with_port(0);
    let axon = Axon::new(alice.clone(), axon_config);
    let meeting = Arc::new(Meeting::default());
    let m = meeting.clone();
    let svc = native::Service::new(&axon, alice, native::Config::default())
        .unwrap()
        .with_tensor_route("Meet", move |_caller, call: TensorCall| {
            let met = m.meet();
            async move {
                Ok(TensorReply {
                    body: if met { call.body } else { "alone".into() },
                    tensors: Vec::new(),
                })
            }
        })
        .unwrap();
    let router = neuron_transport::grpc::add_service(axon.router(), svc.into_tonic());
    let running = axon.serve_router(router).await.unwrap();
    let mut c = client(&running).await;
    let s = session(&mut c, &running, &key("//Bob")).await;
    let (tx, mut replies) = open(&mut c, Some(&s)).await.unwrap();
    for id in [1, 2] {
        let mut call = slow(id, 0, 10.0);
        call.synapse = "Meet".to_owned();
        call.body = Bytes::from(format!("met {id}"));
        tx.send(call).await.unwrap();
    }
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let r = replies.message().await.unwrap().unwrap();
        assert_eq!(r.status_code, 200, "{}", r.status_message);
        bodies.push(String::from_utf8_lossy(&r.body).into_owned());
    }
    bodies.sort();
    assert_eq!(bodies, ["met 1", "met 2"]);
    drop(tx);
    running.shutdown(Duration::from_secs(1)).await;
}
