//! The native dialect's server side, driven by the raw generated client: handshake, calls,
//! replay and forgery refusals, session checks, blacklist on the session's hotkey.
#![allow(clippy::unwrap_used, missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use neuron_axon::native::proto::native_client::NativeClient;
use neuron_axon::native::proto::{CallRequest, HandshakeRequest, HandshakeResponse, Tensor};
use neuron_axon::native::{self, TensorCall, TensorReply, hello_message, welcome_message};
use neuron_axon::{Axon, Config, Running};
use neuron_examples::Dummy;
use neuron_protocol::synapse::SynapseMessage;
use neuron_tensor::{Dtype, Limits, WireTensor, frame};
use neuron_wallet::{Keypair, PublicKey, Signature};
use tonic::transport::Channel;

fn key(uri: &str) -> Keypair {
    Keypair::from_uri(uri).unwrap()
}

fn now_ns() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap()
}

/// An axon as //Alice serving Dummy (output = 2 × input) with //Eve blacklisted, on
/// 127.0.0.1:0, with the native service mounted next to the HTTP dialect.
async fn start() -> Running {
    start_with(native::Config::default()).await.0
}

/// [`start`] with a native configuration, plus two tensor routes: `Echo` (async, answers
/// the received tensors and body as they are) and `Scale` (blocking, float32 × 2).
async fn start_with(native_config: native::Config) -> (Running, native::Service) {
    let alice = key("//Alice");
    let eve = key("//Eve").ss58().to_owned();
    let config = Config::new()
        .with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .with_port(0);
    let mut axon = Axon::new(alice.clone(), config);
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
    let svc = native::Service::new(&axon, alice, native_config)
        .unwrap()
        .with_tensor_route("Echo", |_caller, call: TensorCall| async move {
            Ok(TensorReply {
                body: call.body,
                tensors: call.tensors,
            })
        })
        .unwrap()
        .with_blocking_tensor_route("Scale", |_caller, call: TensorCall| {
            let tensors = call
                .tensors
                .into_iter()
                .map(|t| {
                    let data: Vec<u8> = t
                        .data
                        .chunks_exact(4)
                        .flat_map(|c| {
                            (f32::from_le_bytes([c[0], c[1], c[2], c[3]]) * 2.0).to_le_bytes()
                        })
                        .collect();
                    WireTensor {
                        dtype: t.dtype,
                        shape: t.shape,
                        data: data.into(),
                    }
                })
                .collect();
            Ok(TensorReply {
                body: Bytes::new(),
                tensors,
            })
        })
        .unwrap();
    let router = neuron_transport::grpc::add_service(axon.router(), svc.clone().into_tonic());
    (axon.serve_router(router).await.unwrap(), svc)
}

async fn client(running: &Running) -> NativeClient<Channel> {
    let url = format!("http://{}", running.local_addr());
    NativeClient::connect(url).await.unwrap()
}

fn hello(client: &Keypair, axon: &str, signer: &Keypair) -> HandshakeRequest {
    let nonce: [u8; 32] = rand_bytes();
    let ts = now_ns();
    let msg = hello_message(client.ss58(), axon, ts, &nonce, "uuid-1");
    HandshakeRequest {
        client_hotkey: client.ss58().to_owned(),
        axon_hotkey: axon.to_owned(),
        client_nonce: Bytes::copy_from_slice(&nonce),
        timestamp_ns: ts,
        client_uuid: "uuid-1".to_owned(),
        signature: Bytes::copy_from_slice(&signer.sign(msg.as_bytes()).0),
    }
}

fn rand_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    let id = uuid::Uuid::new_v4();
    out[..16].copy_from_slice(id.as_bytes());
    out[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    out
}

fn dummy_call(session: &Bytes, input: i64) -> CallRequest {
    let body = SynapseMessage::new(Dummy::new(input))
        .to_json_vec()
        .unwrap();
    CallRequest {
        session_id: session.clone(),
        synapse: "Dummy".to_owned(),
        timeout: 5.0,
        body: Bytes::from(body),
        tensors: Vec::new(),
        call_id: 0,
    }
}

/// A float32 vector as a split native frame.
fn f32_frame(values: &[f32]) -> Tensor {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let (header, data) = frame::encode_parts(Dtype::F32, &[values.len()], data.into()).unwrap();
    Tensor { header, data }
}

fn tensor_call(session: &Bytes, route: &str, tensors: Vec<Tensor>) -> CallRequest {
    CallRequest {
        session_id: session.clone(),
        synapse: route.to_owned(),
        timeout: 5.0,
        body: Bytes::from_static(b"{\"k\":1}"),
        tensors,
        call_id: 0,
    }
}

fn check_welcome(req: &HandshakeRequest, reply: &HandshakeResponse) {
    let msg = welcome_message(
        &reply.axon_hotkey,
        &req.client_hotkey,
        &req.client_nonce,
        &reply.axon_nonce,
        &reply.session_id,
    );
    let public = PublicKey::from_ss58(&reply.axon_hotkey).unwrap();
    let sig = Signature(reply.signature.as_ref().try_into().unwrap());
    assert!(public.verify(msg.as_bytes(), &sig));
}

#[tokio::test]
async fn handshake_then_dummy_call() {
    let running = start().await;
    let mut c = client(&running).await;
    let bob = key("//Bob");
    let req = hello(&bob, running.hotkey(), &bob);
    let reply = c.handshake(req.clone()).await.unwrap().into_inner();
    assert_eq!(reply.axon_hotkey, running.hotkey());
    assert_eq!(reply.session_id.len(), 32);
    check_welcome(&req, &reply);

    let out = c
        .call(dummy_call(&reply.session_id, 21))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.status_code, 200, "{}", out.status_message);
    let msg: SynapseMessage<Dummy> = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(msg.fields.dummy_output, Some(42));
    assert_eq!(msg.dendrite.hotkey.as_deref(), Some(bob.ss58()));
    assert_eq!(msg.axon.hotkey.as_deref(), Some(running.hotkey()));
    assert!(out.process_time >= 0.0);

    // The session id may also travel as hex metadata.
    let mut call = tonic::Request::new(dummy_call(&Bytes::new(), 5));
    let hexid: String = reply
        .session_id
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    call.metadata_mut()
        .insert(native::SESSION_METADATA, hexid.parse().unwrap());
    let out = c.call(call).await.unwrap().into_inner();
    assert_eq!(out.status_code, 200);

    // Unknown synapse → 404 in the reply; frames sent to a synapse route → 400.
    let mut unknown = dummy_call(&reply.session_id, 1);
    unknown.synapse = "Nope".to_owned();
    assert_eq!(c.call(unknown).await.unwrap().into_inner().status_code, 404);
    let mut bad = dummy_call(&reply.session_id, 1);
    bad.tensors = vec![f32_frame(&[1.0, 2.0])];
    let out = c.call(bad).await.unwrap().into_inner();
    assert_eq!(out.status_code, 400, "{}", out.status_message);
    running.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test]
async fn handshake_replay_is_rejected() {
    let running = start().await;
    let mut c = client(&running).await;
    let bob = key("//Bob");
    let req = hello(&bob, running.hotkey(), &bob);
    c.handshake(req.clone()).await.unwrap();
    let err = c.handshake(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(err.message().contains("replayed"), "{}", err.message());
}

#[tokio::test]
async fn forged_or_misaddressed_handshakes_are_rejected() {
    let running = start().await;
    let mut c = client(&running).await;
    let bob = key("//Bob");
    let mallory = key("//Mallory");

    // Claims //Bob, signed by //Mallory.
    let forged = hello(&bob, running.hotkey(), &mallory);
    let err = c.handshake(forged).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(err.message().contains("signature"), "{}", err.message());

    // A valid signature with one byte flipped.
    let mut flipped = hello(&bob, running.hotkey(), &bob);
    let mut sig = flipped.signature.to_vec();
    sig[10] ^= 1;
    flipped.signature = Bytes::from(sig);
    let err = c.handshake(flipped).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);

    // Addressed to another axon.
    let other = key("//Charlie");
    let wrong = hello(&bob, other.ss58(), &bob);
    let err = c.handshake(wrong).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(err.message().contains("another axon"));

    // Too old (signed correctly).
    let mut stale = hello(&bob, running.hotkey(), &bob);
    stale.timestamp_ns -= 120 * 1_000_000_000;
    let msg = hello_message(
        bob.ss58(),
        running.hotkey(),
        stale.timestamp_ns,
        &stale.client_nonce,
        "uuid-1",
    );
    stale.signature = Bytes::copy_from_slice(&bob.sign(msg.as_bytes()).0);
    let err = c.handshake(stale).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(err.message().contains("window"));

    // Malformed nonce.
    let mut short = hello(&bob, running.hotkey(), &bob);
    short.client_nonce = Bytes::from_static(b"short");
    let err = c.handshake(short).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(running.counters().ok, 0);
}

#[tokio::test]
async fn calls_without_a_valid_session_are_refused() {
    let running = start().await;
    let mut c = client(&running).await;
    let err = c.call(dummy_call(&Bytes::new(), 1)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let unknown = Bytes::copy_from_slice(&rand_bytes());
    let err = c.call(dummy_call(&unknown, 1)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let err = c
        .call(dummy_call(&Bytes::from_static(b"xyz"), 1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(running.counters().requests, 0);
}

#[tokio::test]
async fn blacklist_applies_to_the_session_hotkey() {
    let running = start().await;
    let mut c = client(&running).await;
    let eve = key("//Eve");
    let reply = c
        .handshake(hello(&eve, running.hotkey(), &eve))
        .await
        .unwrap()
        .into_inner();
    let out = c
        .call(dummy_call(&reply.session_id, 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.status_code, 403);
    assert!(
        out.status_message.contains("blacklisted"),
        "{}",
        out.status_message
    );
    assert!(out.body.is_empty());
    assert_eq!(running.counters().blacklisted, 1);
}

#[tokio::test]
async fn the_per_hotkey_rate_limit_covers_synapse_and_tensor_routes() {
    let alice = key("//Alice");
    let config = Config::new()
        .with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .with_port(0)
        .with_rate_limit(Some(neuron_axon::RateLimit::new(0.001, 2)));
    let mut axon = Axon::new(alice.clone(), config);
    let _ = axon.attach::<Dummy, _, _>(|_caller, d| async move { Ok(d) });
    let svc = native::Service::new(&axon, alice, native::Config::default())
        .unwrap()
        .with_tensor_route("Echo", |_caller, call: TensorCall| async move {
            Ok(TensorReply {
                body: call.body,
                tensors: call.tensors,
            })
        })
        .unwrap();
    let router = neuron_transport::grpc::add_service(axon.router(), svc.into_tonic());
    let running = axon.serve_router(router).await.unwrap();
    let mut c = client(&running).await;
    let session = |k: &Keypair| hello(k, running.hotkey(), k);
    let bob = key("//Bob");
    let bob_session = c
        .handshake(session(&bob))
        .await
        .unwrap()
        .into_inner()
        .session_id;
    let mut statuses = Vec::new();
    for i in 0..2 {
        let out = c
            .call(dummy_call(&bob_session, i))
            .await
            .unwrap()
            .into_inner();
        statuses.push(out.status_code);
    }
    let out = c
        .call(tensor_call(&bob_session, "Echo", vec![f32_frame(&[1.0])]))
        .await
        .unwrap()
        .into_inner();
    statuses.push(out.status_code);
    assert_eq!(out.status_message, "Rate limit exceeded");
    let out = c
        .call(dummy_call(&bob_session, 9))
        .await
        .unwrap()
        .into_inner();
    statuses.push(out.status_code);
    assert_eq!(statuses, [200, 200, 429, 429]);
    // Dave has his own budget, on either kind of route
    let dave = key("//Dave");
    let dave_session = c
        .handshake(session(&dave))
        .await
        .unwrap()
        .into_inner()
        .session_id;
    let out = c
        .call(tensor_call(&dave_session, "Echo", vec![f32_frame(&[1.0])]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.status_code, 200, "{}", out.status_message);
    assert_eq!(running.counters().rate_limited, 2);
}

#[tokio::test]
async fn tensor_routes_get_raw_frames_and_answer_frames() {
    let (running, _svc) = start_with(native::Config::default()).await;
    let mut c = client(&running).await;
    let bob = key("//Bob");
    let session = c
        .handshake(hello(&bob, running.hotkey(), &bob))
        .await
        .unwrap()
        .into_inner()
        .session_id;

    // 1 MiB of float32 through the blocking route: every element doubled.
    let values: Vec<f32> = (0..262_144).map(|i| i as f32 * 0.001).collect();
    let out = c
        .call(tensor_call(
            &session,
            "Scale",
            vec![f32_frame(&values), f32_frame(&[1.5])],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.status_code, 200, "{}", out.status_message);
    assert_eq!(out.tensors.len(), 2);
    let limits = Limits::default();
    let t =
        frame::decode_parts(&out.tensors[0].header, out.tensors[0].data.clone(), &limits).unwrap();
    assert_eq!(t.shape, vec![262_144]);
    let doubled: Vec<f32> = t
        .data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert!(doubled.iter().zip(&values).all(|(d, v)| *d == v * 2.0));
    let small =
        frame::decode_parts(&out.tensors[1].header, out.tensors[1].data.clone(), &limits).unwrap();
    assert_eq!(&small.data[..], &3.0f32.to_le_bytes());

    // The async route answers body and tensors as received.
    let sent = vec![f32_frame(&[1.0, 2.0, 3.0])];
    let out = c
        .call(tensor_call(&session, "Echo", sent.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.status_code, 200, "{}", out.status_message);
    assert_eq!(&out.body[..], b"{\"k\":1}");
    assert_eq!(out.tensors, sent);

    // Malformed frames: 400 before the handler runs.
    let good = f32_frame(&[1.0, 2.0]);
    let short = Tensor {
        header: good.header.clone(),
        data: good.data.slice(..7),
    };
    let junk = Tensor {
        header: Bytes::from_static(b"NTSRjunk"),
        data: Bytes::new(),
    };
    for bad in [short, junk] {
        let out = c
            .call(tensor_call(&session, "Echo", vec![bad]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(out.status_code, 400, "{}", out.status_message);
    }
    // More frames than allowed.
    let many = vec![good; native::Config::default().max_tensors + 1];
    let out = c
        .call(tensor_call(&session, "Echo", many))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.status_code, 400);
    // Without a session, a tensor route is as closed as any other.
    let err = c
        .call(tensor_call(&Bytes::new(), "Echo", Vec::new()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(running.counters().ok, 2);
}

#[tokio::test]
async fn tensor_routes_cannot_shadow_synapses_or_be_added_late() {
    let alice = key("//Alice");
    let mut axon = Axon::new(alice.clone(), Config::new());
    let _ = axon.attach::<Dummy, _, _>(|_c, d| async move { Ok(d) });
    let svc = native::Service::new(&axon, alice, native::Config::default()).unwrap();
    let echo = |_c, call: TensorCall| async move {
        Ok(TensorReply {
            body: call.body,
            tensors: call.tensors,
        })
    };
    let err = svc.clone().with_tensor_route("Dummy", echo).unwrap_err();
    assert!(matches!(err, native::Error::Shared), "{err}");
    let svc = svc.with_tensor_route("Echo", echo).unwrap();
    let err = svc.with_tensor_route("Echo", echo).unwrap_err();
    assert!(matches!(err, native::Error::DuplicateRoute(_)), "{err}");
}

#[tokio::test]
async fn sessions_are_bounded_per_hotkey() {
    let config = native::Config {
        max_sessions_per_hotkey: 3,
        ..native::Config::default()
    };
    let (running, svc) = start_with(config).await;
    let mut c = client(&running).await;
    let bob = key("//Bob");
    let mut ids = Vec::new();
    for _ in 0..5 {
        let reply = c
            .handshake(hello(&bob, running.hotkey(), &bob))
            .await
            .unwrap()
            .into_inner();
        ids.push(reply.session_id);
    }
    assert_eq!(svc.sessions_of(bob.ss58()), 3);
    assert_eq!(svc.sessions(), 3);
    // The two oldest sessions were replaced; the three newest work.
    for (i, id) in ids.iter().enumerate() {
        let result = c.call(dummy_call(id, 1)).await;
        if i < 2 {
            assert_eq!(
                result.unwrap_err().code(),
                tonic::Code::Unauthenticated,
                "session {i}"
            );
        } else {
            assert_eq!(result.unwrap().into_inner().status_code, 200, "session {i}");
        }
    }
    // Another hotkey is not affected by Bob's churn.
    let charlie = key("//Charlie");
    let reply = c
        .handshake(hello(&charlie, running.hotkey(), &charlie))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(svc.sessions_of(charlie.ss58()), 1);
    let out = c
        .call(dummy_call(&reply.session_id, 2))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.status_code, 200);
    assert_eq!(svc.sessions(), 4);
}

/// Waits (bounded) until the axon's open connection count is `n`.
async fn open_connections_reach(running: &Running, n: usize, within: std::time::Duration) -> bool {
    let until = std::time::Instant::now() + within;
    while std::time::Instant::now() < until {
        if running.open_connections() == n {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    running.open_connections() == n
}

#[tokio::test]
async fn a_connection_that_never_authenticates_is_closed_after_the_deadline() {
    let config = native::Config {
        connection_auth_deadline: std::time::Duration::from_millis(300),
        ..native::Config::default()
    };
    let (running, _svc) = start_with(config).await;

    // A client that only sends calls without a session: refused, then cut off.
    let started = std::time::Instant::now();
    let mut idle = client(&running).await;
    let err = idle.call(dummy_call(&Bytes::new(), 1)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(running.open_connections(), 1);
    assert!(open_connections_reach(&running, 0, std::time::Duration::from_secs(5)).await);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));

    // A client that handshakes keeps its connection past the deadline.
    let mut good = client(&running).await;
    let bob = key("//Bob");
    let session = good
        .handshake(hello(&bob, running.hotkey(), &bob))
        .await
        .unwrap()
        .into_inner()
        .session_id;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(running.open_connections(), 1);
    let out = good
        .call(dummy_call(&session, 4))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.status_code, 200);
}
